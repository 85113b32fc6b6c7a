/*
 * test_config_values.c -- the value grammar of efa-check.conf keys (prolog/core/config_keys.c,
 * prolog/core/config_values.c): Env=/EnvForce=, Domains=, sizes with units, numbers with
 * ranges, enumerations, paths and library names, each error naming file:line and the key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "core/config_test.h"

static void test_env(void **state)
{
	static const char text[] =
		"Env=A=1 Env=B=x=y EnvForce=C=3\n"
		"Env=A=2\n"
		"NodeName=n1 EnvForce=A=node Env=D=\n"
		"Env=A=3\n";
	struct efa_config c;

	assert_int_equal(parse(&c, text, "n2"), 0);
	assert_int_equal(c.nenv, 3);
	assert_string_equal(c.env[0].name, "A");
	assert_string_equal(c.env[0].value, "3");
	assert_false(c.env[0].force);
	assert_string_equal(c.env[1].value, "x=y");
	assert_true(c.env[2].force);
	config_free(&c);

	assert_int_equal(parse(&c, text, "n1"), 0);
	assert_int_equal(c.nenv, 4);
	assert_string_equal(c.env[0].name, "A");
	assert_string_equal(c.env[0].value, "node");   /* node line beats later global */
	assert_true(c.env[0].force);
	assert_string_equal(c.env[3].name, "D");
	assert_string_equal(c.env[3].value, "");
	config_free(&c);
}

/* Limits count per line for NodeName lines that do not match, per file for applied lines. */
static void test_env_limit(void **state)
{
	char *text = malloc(300 * 40 + 1);
	struct efa_config c;
	size_t n = 0;

	assert_non_null(text);
	for (int i = 0; i < 300; i++)
		n += (size_t)sprintf(text + n, "NodeName=other Env=V%d=1\n", i);
	assert_int_equal(parse(&c, text, "n1"), 0);
	assert_int_equal(c.nenv, 0);
	config_free(&c);
	EXPECT_ERR(text, "other", "t.conf:257: Env: more than 256 variables");
	free(text);
}

static void test_env_errors(void **state)
{
	EXPECT_ERR("Env=1A=2\n", NULL, "t.conf:1: Env: bad variable name '1A' (expected "
		   "[A-Za-z_][A-Za-z0-9_]*, at most 127 characters)");
	EXPECT_ERR_PREFIX("EnvForce=A-B=2\n", NULL, "t.conf:1: EnvForce: bad variable name 'A-B'");
	EXPECT_ERR_PREFIX("Env==2\n", NULL, "t.conf:1: Env: bad variable name ''");
	EXPECT_ERR("Env=NOVALUE\n", NULL, "t.conf:1: Env=NOVALUE: expected NAME=VALUE");
	EXPECT_ERR("Env=A=caf\xc3\xa9\n", NULL,
		   "t.conf:1: Env: value of A must be printable ASCII without spaces");
}

static void test_domains(void **state)
{
	EXPECT_ERR("Domains=a,b,a\n", NULL, "t.conf:1: Domains: duplicate domain 'a'");
	EXPECT_ERR("Domains=a,,b\n", NULL, "t.conf:1: Domains: empty domain name in the list");
	EXPECT_ERR("Domains=a,\n", NULL, "t.conf:1: Domains: empty domain name in the list");
	EXPECT_ERR_PREFIX("Domains=a/b\n", NULL, "t.conf:1: Domains: bad domain name 'a/b'");
}

static void test_bytes(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "LoopbackMaxSize=1048576 NcclBytes=16G", NULL), 0);
	assert_int_equal(c.loopback_max_bytes, 1048576);
	assert_int_equal(c.nccl_bytes, 16L << 30);
	config_free(&c);
	assert_int_equal(parse(&c, "LoopbackMaxSize=1g NcclBytes=512k", NULL), 0);
	assert_int_equal(c.loopback_max_bytes, 1L << 30);
	assert_int_equal(c.nccl_bytes, 512L << 10);
	config_free(&c);
	assert_int_equal(parse(&c, "LoopbackMaxSize=2048K NcclBytes=1", NULL), 0);
	assert_int_equal(c.loopback_max_bytes, 2L << 20);
	assert_int_equal(c.nccl_bytes, 1);
	config_free(&c);
	EXPECT_ERR("LoopbackMaxSize=512K\n", NULL,
		   "t.conf:1: LoopbackMaxSize=512K: out of range (expected 1M..1G)");
	EXPECT_ERR("LoopbackMaxSize=2G\n", NULL,
		   "t.conf:1: LoopbackMaxSize=2G: out of range (expected 1M..1G)");
	EXPECT_ERR("NcclBytes=17G\n", NULL, "t.conf:1: NcclBytes=17G: out of range (expected 1..16G)");
	EXPECT_ERR("NcclBytes=0\n", NULL, "t.conf:1: NcclBytes=0: out of range (expected 1..16G)");
	EXPECT_ERR("NcclBytes=1T\n", NULL, "t.conf:1: NcclBytes=1T: not a size (expected bytes "
		   "with optional K/M/G suffix, 1..16G)");
	EXPECT_ERR_PREFIX("NcclBytes=-1M\n", NULL, "t.conf:1: NcclBytes=-1M: not a size");
	EXPECT_ERR_PREFIX("NcclBytes=M\n", NULL, "t.conf:1: NcclBytes=M: not a size");
	EXPECT_ERR_PREFIX("NcclBytes=99999999999999999999G\n", NULL,
			  "t.conf:1: NcclBytes=99999999999999999999G: not a size");
	EXPECT_ERR_PREFIX("NcclBytes=9000000000000G\n", NULL, "t.conf:1: NcclBytes=9000000000000G: "
			  "not a size");
}

static void test_value_errors(void **state)
{
	EXPECT_ERR("Timeout=abc\n", NULL, "t.conf:1: Timeout=abc: not an integer (expected 1..3600)");
	EXPECT_ERR("Timeout=3601\n", NULL, "t.conf:1: Timeout=3601: out of range (expected 1..3600)");
	EXPECT_ERR("Timeout=5s\n", NULL, "t.conf:1: Timeout=5s: not an integer (expected 1..3600)");
	EXPECT_ERR("CacheTTL=-1\n", NULL, "t.conf:1: CacheTTL=-1: out of range (expected 0..86400)");
	EXPECT_ERR("ExpectedDevices=1025\n", NULL,
		   "t.conf:1: ExpectedDevices=1025: out of range (expected auto or 0..1024)");
	EXPECT_ERR("ExpectedGPUs=many\n", NULL,
		   "t.conf:1: ExpectedGPUs=many: expected auto or an integer 0..64");
	EXPECT_ERR("MinLinkGbps=fast\n", NULL,
		   "t.conf:1: MinLinkGbps=fast: expected auto or a number 0..100000");
	EXPECT_ERR("MinLoopbackGbps=-1\n", NULL,
		   "t.conf:1: MinLoopbackGbps=-1: expected auto or a number 0..100000");
	EXPECT_ERR("MinBusBwGBps=nan\n", NULL,
		   "t.conf:1: MinBusBwGBps=nan: expected auto or a number 0..100000");
	EXPECT_ERR("OnFail=reboot\n", NULL,
		   "t.conf:1: OnFail=reboot: expected drain, drain-requeue or log");
	EXPECT_ERR("OnInternal=yes\n", NULL, "t.conf:1: OnInternal=yes: expected log or drain");
	EXPECT_ERR("Resume=maybe\n", NULL, "t.conf:1: Resume=maybe: expected yes or no");
	EXPECT_ERR("RetryTransient=2\n", NULL, "t.conf:1: RetryTransient=2: expected yes or no");
	EXPECT_ERR("LoopbackIterations=0\n", NULL,
		   "t.conf:1: LoopbackIterations=0: out of range (expected 1..100000)");
	EXPECT_ERR("CrossPeers=4097\n", NULL,
		   "t.conf:1: CrossPeers=4097: out of range (expected 0..4096)");
	EXPECT_ERR_PREFIX("Provider=e/fa\n", NULL, "t.conf:1: Provider=e/fa: expected a provider");
	EXPECT_ERR_PREFIX("Provider=abcdefghijabcdefghijabcdefghij12\n", NULL,
			  "t.conf:1: Provider=abcdefghijabcdefghijabcdefghij12: expected a provider");
	EXPECT_ERR_PREFIX("InstanceType=P5.48xlarge\n", NULL,
			  "t.conf:1: InstanceType=P5.48xlarge: expected an instance type");
	EXPECT_ERR("StateDir=run/efa\n", NULL, "t.conf:1: StateDir=run/efa: expected an absolute path");
	EXPECT_ERR("MetricsFile=/var/../etc/x\n", NULL,
		   "t.conf:1: MetricsFile=/var/../etc/x: \"..\" is not allowed in the path");
	EXPECT_ERR("InstanceProfiles=relative.conf\n", NULL,
		   "t.conf:1: InstanceProfiles=relative.conf: expected an absolute path");
	EXPECT_ERR("CudaLibrary=cudart\n", NULL, "t.conf:1: CudaLibrary=cudart: expected an absolute "
		   "path or a soname like libname.so.12");
	EXPECT_ERR_PREFIX("NcclLibrary=lib/libnccl.so\n", NULL,
			  "t.conf:1: NcclLibrary=lib/libnccl.so: expected an absolute path");
	EXPECT_ERR_PREFIX("NcclLibrary=libnccl.so.x\n", NULL,
			  "t.conf:1: NcclLibrary=libnccl.so.x: expected an absolute path");
}

static void test_library_names(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "CudaLibrary=libcudart.so NcclLibrary=libnccl.so.2.21.5", NULL),
			 0);
	assert_string_equal(c.cuda_library, "libcudart.so");
	assert_string_equal(c.nccl_library, "libnccl.so.2.21.5");
	config_free(&c);
}

/* LibfabricPath= (issue 9 point 8): an absolute path or a soname, like the other libraries. */
static void test_libfabric_path(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "LibfabricPath=/opt/amazon/efa/lib64/libfabric.so.1\n", NULL), 0);
	assert_string_equal(c.libfabric_path, "/opt/amazon/efa/lib64/libfabric.so.1");
	config_free(&c);
	assert_int_equal(parse(&c, "libfabricpath=libfabric.so.1\n", NULL), 0);
	assert_string_equal(c.libfabric_path, "libfabric.so.1");
	config_free(&c);
	EXPECT_ERR("LibfabricPath=fabric\n", NULL, "t.conf:1: LibfabricPath=fabric: expected an "
		   "absolute path or a soname like libname.so.12");
	EXPECT_ERR_PREFIX("LibfabricPath=/opt/../lib/libfabric.so.1\n", NULL,
			  "t.conf:1: LibfabricPath=/opt/../lib/libfabric.so.1: \"..\" is not allowed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_env_limit),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_library_names),
		cmocka_unit_test(test_libfabric_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
