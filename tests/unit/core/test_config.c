/*
 * test_config.c -- efa-check.conf parser (prolog/core/config.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"

/* libslurm 22.05's hostlist_create leaks a strdup'd copy of the range when it rejects a
 * hostlist (inside libslurm, not ours). Used only by the ASan+UBSan build. */
const char *__lsan_default_suppressions(void);
__attribute__((used)) const char *__lsan_default_suppressions(void)
{
	return "leak:libslurm.so\n";
}

static char err[CONFIG_ERR_MAX];
static char tmpdir[] = "/tmp/test_config.XXXXXX";

static int parse(struct efa_config *c, const char *text, const char *node)
{
	config_defaults(c);
	return config_parse_text(c, text, "t.conf", node, err, sizeof(err));
}

/* Parse must fail with exactly this message. */
#define EXPECT_ERR(text, node, msg) do {                                 \
		struct efa_config c_;                                       \
		assert_int_equal(parse(&c_, (text), (node)), -1);           \
		assert_string_equal(err, (msg));                            \
		assert_null(c_.domains);                                    \
		assert_null(c_.env);                                        \
		config_free(&c_);                                           \
	} while (0)

/* Parse must fail with a message starting with this prefix. */
#define EXPECT_ERR_PREFIX(text, node, prefix) do {                       \
		struct efa_config c_;                                       \
		assert_int_equal(parse(&c_, (text), (node)), -1);           \
		if (strncmp(err, (prefix), strlen(prefix)))                 \
			fail_msg("error '%s' lacks prefix '%s'", err, (prefix)); \
		config_free(&c_);                                           \
	} while (0)

static void test_defaults(void **state)
{
	struct efa_config c;

	config_defaults(&c);
	assert_string_equal(c.provider, "efa");
	assert_null(c.domains);
	assert_int_equal(c.ndomains, 0);
	assert_int_equal(c.expected_devices, -1);
	assert_int_equal(c.expected_gpus, -1);
	assert_true(c.min_loopback_gbps == 0 && c.min_link_gbps == 0 && c.min_busbw_gbps == 0);
	assert_int_equal(c.timeout_s, 30);
	assert_int_equal(c.cache_ttl_s, 300);
	assert_int_equal(c.on_fail, ON_FAIL_DRAIN_REQUEUE);
	assert_false(c.drain_on_internal);
	assert_true(c.resume);
	assert_true(c.retry_transient);
	assert_string_equal(c.state_dir, "/run/efa-check");
	assert_string_equal(c.metrics_file, "");
	assert_string_equal(c.instance_profiles, "");
	assert_string_equal(c.instance_type, "");
	assert_int_equal(c.loopback_max_bytes, 1048576);
	assert_int_equal(c.loopback_iterations, 100);
	assert_string_equal(c.cuda_library, "");
	assert_string_equal(c.nccl_library, "");
	assert_string_equal(c.libfabric_path, "");
	assert_int_equal(c.nccl_bytes, 128L << 20);
	assert_int_equal(c.cross_peers, 0);
	assert_int_equal(c.nenv, 0);
	assert_string_equal(c.path, "");
	assert_string_equal(on_fail_name(ON_FAIL_DRAIN_REQUEUE), "drain-requeue");
	assert_string_equal(on_fail_name(ON_FAIL_DRAIN), "drain");
	assert_string_equal(on_fail_name(ON_FAIL_LOG), "log");
	config_free(&c);
	config_free(&c);    /* idempotent */
}

static void test_empty_text(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "", "n1"), 0);
	assert_int_equal(c.timeout_s, 30);
	assert_string_equal(c.path, "t.conf");
	config_free(&c);
}

static void test_every_key(void **state)
{
	static const char text[] =
		"Provider=tcp;ofi_rxm\n"
		"Domains=rdmap16s27-rdm,lo\n"
		"ExpectedDevices=32\n"
		"ExpectedGPUs=8\n"
		"MinLoopbackGbps=12.5\n"
		"MinLinkGbps=50\n"
		"MinBusBwGBps=250.75\n"
		"Timeout=45\n"
		"CacheTTL=0\n"
		"OnFail=log\n"
		"OnInternal=drain\n"
		"Resume=no\n"
		"RetryTransient=no\n"
		"StateDir=/var/lib/efa-check\n"
		"MetricsFile=/var/lib/node_exporter/efa.prom\n"
		"InstanceProfiles=/etc/slurm/efa-profiles.conf\n"
		"InstanceType=p5.48xlarge\n"
		"LoopbackMaxSize=8M\n"
		"LoopbackIterations=500\n"
		"CudaLibrary=libcudart.so.12\n"
		"NcclLibrary=/opt/nccl/lib/libnccl.so.2\n"
		"NcclBytes=1G\n"
		"CrossPeers=4\n"
		"Env=FI_EFA_USE_HUGE_PAGE=0\n"
		"EnvForce=NCCL_SOCKET_IFNAME=^docker,lo,veth\n";
	struct efa_config c;

	assert_int_equal(parse(&c, text, "n1"), 0);
	assert_string_equal(c.provider, "tcp;ofi_rxm");
	assert_int_equal(c.ndomains, 2);
	assert_string_equal(c.domains[0], "rdmap16s27-rdm");
	assert_string_equal(c.domains[1], "lo");
	assert_int_equal(c.expected_devices, 32);
	assert_int_equal(c.expected_gpus, 8);
	assert_true(c.min_loopback_gbps == 12.5);
	assert_true(c.min_link_gbps == 50);
	assert_true(c.min_busbw_gbps == 250.75);
	assert_int_equal(c.timeout_s, 45);
	assert_int_equal(c.cache_ttl_s, 0);
	assert_int_equal(c.on_fail, ON_FAIL_LOG);
	assert_true(c.drain_on_internal);
	assert_false(c.resume);
	assert_false(c.retry_transient);
	assert_string_equal(c.state_dir, "/var/lib/efa-check");
	assert_string_equal(c.metrics_file, "/var/lib/node_exporter/efa.prom");
	assert_string_equal(c.instance_profiles, "/etc/slurm/efa-profiles.conf");
	assert_string_equal(c.instance_type, "p5.48xlarge");
	assert_int_equal(c.loopback_max_bytes, 8L << 20);
	assert_int_equal(c.loopback_iterations, 500);
	assert_string_equal(c.cuda_library, "libcudart.so.12");
	assert_string_equal(c.nccl_library, "/opt/nccl/lib/libnccl.so.2");
	assert_int_equal(c.nccl_bytes, 1L << 30);
	assert_int_equal(c.cross_peers, 4);
	assert_int_equal(c.nenv, 2);
	assert_string_equal(c.env[0].name, "FI_EFA_USE_HUGE_PAGE");
	assert_string_equal(c.env[0].value, "0");
	assert_false(c.env[0].force);
	assert_string_equal(c.env[1].name, "NCCL_SOCKET_IFNAME");
	assert_string_equal(c.env[1].value, "^docker,lo,veth");
	assert_true(c.env[1].force);
	config_free(&c);
	assert_null(c.domains);
	assert_null(c.env);
}

static void test_comments_blank_lines(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "# header\n\n   \n\t\nTimeout=5 # five seconds\n"
			       "#Timeout=6\n  Provider=shm\t# indented\n# last, no newline", NULL), 0);
	assert_int_equal(c.timeout_s, 5);
	assert_string_equal(c.provider, "shm");
	config_free(&c);
	/* a comment glued to a value ends it */
	assert_int_equal(parse(&c, "Timeout=7#comment", NULL), 0);
	assert_int_equal(c.timeout_s, 7);
	config_free(&c);
}

static void test_case_insensitive_keys(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "timeout=5 PROVIDER=Efa onfail=DRAIN resume=NO "
			       "expecteddevices=AUTO EXPECTEDGPUS=Auto", "n1"), 0);
	assert_int_equal(c.timeout_s, 5);
	assert_string_equal(c.provider, "Efa");   /* values keep their case */
	assert_int_equal(c.on_fail, ON_FAIL_DRAIN);
	assert_false(c.resume);
	assert_int_equal(c.expected_devices, -1);
	assert_int_equal(c.expected_gpus, -1);
	config_free(&c);
	assert_int_equal(parse(&c, "NODENAME=n1 CacheTTL=9", "n1"), 0);
	assert_int_equal(c.cache_ttl_s, 9);
	config_free(&c);
}

static void test_several_keys_per_line(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "Timeout=10 CacheTTL=20\tCrossPeers=3   OnFail=drain\n", NULL),
			 0);
	assert_int_equal(c.timeout_s, 10);
	assert_int_equal(c.cache_ttl_s, 20);
	assert_int_equal(c.cross_peers, 3);
	assert_int_equal(c.on_fail, ON_FAIL_DRAIN);
	config_free(&c);
}

static void test_later_global_line_wins(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "Timeout=10\nDomains=a,b\nTimeout=11\nDomains=c\n", NULL), 0);
	assert_int_equal(c.timeout_s, 11);
	assert_int_equal(c.ndomains, 1);
	assert_string_equal(c.domains[0], "c");
	config_free(&c);
	assert_int_equal(parse(&c, "Domains=a,b\nDomains=auto\n", NULL), 0);
	assert_null(c.domains);
	assert_int_equal(c.ndomains, 0);
	config_free(&c);
}

static const char node_text[] =
	"ExpectedDevices=4\n"
	"NodeName=p5-[001-002] ExpectedDevices=32 Timeout=60\n"
	"NodeName=p5-002 ExpectedDevices=16\n"
	"ExpectedDevices=8 Timeout=20\n";

static void test_nodename_match(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, node_text, "p5-001"), 0);
	assert_int_equal(c.expected_devices, 32);   /* global after node line doesn't override */
	assert_int_equal(c.timeout_s, 60);
	config_free(&c);
}

static void test_nodename_later_node_line_wins(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, node_text, "p5-002"), 0);
	assert_int_equal(c.expected_devices, 16);
	assert_int_equal(c.timeout_s, 60);
	config_free(&c);
}

static void test_nodename_no_match(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, node_text, "p4-001"), 0);
	assert_int_equal(c.expected_devices, 8);
	assert_int_equal(c.timeout_s, 20);
	config_free(&c);
	/* NULL node: NodeName lines never match (but are still validated) */
	assert_int_equal(parse(&c, node_text, NULL), 0);
	assert_int_equal(c.expected_devices, 8);
	config_free(&c);
	assert_int_equal(parse(&c, node_text, ""), 0);
	assert_int_equal(c.expected_devices, 8);
	config_free(&c);
}

static void test_nodename_ranges(void **state)
{
	static const char text[] = "NodeName=n[1-4,7],gpu[01-02] CrossPeers=9\n";
	static const char *const yes[] = { "n1", "n3", "n4", "n7", "gpu01", "gpu02" };
	static const char *const no[] = { "n0", "n5", "n6", "n8", "n10", "gpu1", "gpu03", "n",
					  "xn1" };
	struct efa_config c;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_int_equal(parse(&c, text, yes[i]), 0);
		if (c.cross_peers != 9)
			fail_msg("%s should match", yes[i]);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(parse(&c, text, no[i]), 0);
		if (c.cross_peers != 0)
			fail_msg("%s should not match", no[i]);
		config_free(&c);
	}
}

static void test_nodename_all(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "NodeName=ALL Timeout=9\nTimeout=8\n", "anything"), 0);
	assert_int_equal(c.timeout_s, 9);
	config_free(&c);
	assert_int_equal(parse(&c, "NodeName=all Timeout=9\nTimeout=8\n", "n1"), 0);
	assert_int_equal(c.timeout_s, 9);
	config_free(&c);
	assert_int_equal(parse(&c, "NodeName=ALL Timeout=9\nTimeout=8\n", NULL), 0);
	assert_int_equal(c.timeout_s, 8);
	config_free(&c);
	assert_int_equal(parse(&c, "NodeName=ALL Timeout=9\nTimeout=8\n", ""), 0);
	assert_int_equal(c.timeout_s, 8);
	config_free(&c);
}

static void test_nodename_validated_when_not_matching(void **state)
{
	EXPECT_ERR("Timeout=5\nNodeName=other Timout=5\n", "n1", "t.conf:2: unknown key 'Timout'");
	EXPECT_ERR("NodeName=other Timeout=0\n", "n1",
		   "t.conf:1: Timeout=0: out of range (expected 1..3600)");
	EXPECT_ERR("NodeName=other Timeout=5\nNodeName=n[1-2 Timeout=5\n", NULL,
		   "t.conf:2: NodeName=n[1-2: unbalanced brackets in hostlist");
}

static void test_nodename_errors(void **state)
{
	EXPECT_ERR("NodeName=n1\n", "n1", "t.conf:1: NodeName=n1: no keys on the line");
	EXPECT_ERR("NodeName=n1   # only a comment\n", "n1",
		   "t.conf:1: NodeName=n1: no keys on the line");
	EXPECT_ERR("Timeout=5 NodeName=n1\n", "n1",
		   "t.conf:1: NodeName= must be the first word of its line");
	EXPECT_ERR("NodeName=n1 NodeName=n2 Timeout=5\n", "n1",
		   "t.conf:1: NodeName= must be the first word of its line");
	EXPECT_ERR("NodeName= Timeout=5\n", "n1", "t.conf:1: NodeName: empty hostlist");
}

static void test_bad_hostlists(void **state)
{
	EXPECT_ERR("NodeName=n[5-1] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n[5-1]: libslurm rejects this hostlist (bad range, or a "
		   "range too large; expected e.g. n[1-4,7] or ALL)");
	EXPECT_ERR_PREFIX("NodeName=n[a-b] Timeout=5\n", "n1",
			  "t.conf:1: NodeName=n[a-b]: libslurm rejects this hostlist");
	/* Host suffixes: rejected by efa-check itself with one message on every Slurm release
	 * (libslurm 22.05 rejects them, 23.11+ accepts and expands them: see hostlist_syntax) */
	EXPECT_ERR("NodeName=n[1-2]x Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n[1-2]x: text after ']' (host suffixes like n[1-2]x are not "
		   "supported; list such names, e.g. n1-ib,n2-ib)");
	EXPECT_ERR_PREFIX("NodeName=n1,n[1-2]-ib,n7 Timeout=5\n", "n1",
			  "t.conf:1: NodeName=n1,n[1-2]-ib,n7: text after ']'");
	EXPECT_ERR_PREFIX("NodeName=n[1-2].x Timeout=5\n", "n1",
			  "t.conf:1: NodeName=n[1-2].x: text after ']'");
	/* libslurm 22.05 caps one bracket range at 65536 hosts: a clear error, no allocation */
	EXPECT_ERR_PREFIX("NodeName=n[1-10000000] Timeout=5\n", "n1",
			  "t.conf:1: NodeName=n[1-10000000]: libslurm rejects this hostlist");
	EXPECT_ERR("NodeName=n1] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n1]: unbalanced brackets in hostlist");
	EXPECT_ERR("NodeName=n[[1]] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n[[1]]: unbalanced brackets in hostlist");
	EXPECT_ERR("NodeName=n1,,n2 Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n1,,n2: empty entry in hostlist");
	EXPECT_ERR("NodeName=n1, Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n1,: empty entry in hostlist");
	EXPECT_ERR("NodeName=n[] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n[]: empty entry in hostlist");
	EXPECT_ERR("NodeName=[1-2] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=[1-2]: bracket without a name prefix");
	EXPECT_ERR("NodeName=n1;n2 Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n1;n2: bad character ';' in hostlist");
}

static long maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* 10 million hosts (10000 ranges of 1000): matched with hostlist_find, never expanded. The
 * proof is memory, not time (which depends on the machine's load): 10M expanded names would
 * need well over 100 MB (1.15 GB with libslurm 24.11's suffix expansion); the peak RSS may
 * grow by at most 32 MiB over the three parses (measured: under 1 MiB with 22.05). */
static void test_huge_hostlist(void **state)
{
	static const char text[] = "NodeName=n[0000-9999][000-999] Timeout=77\n";
	struct efa_config c;
	long before = maxrss_kib();

	(void)before;
	assert_int_equal(parse(&c, text, "n9999999"), 0);
	assert_int_equal(c.timeout_s, 77);
	config_free(&c);
	assert_int_equal(parse(&c, text, "n0000000"), 0);
	assert_int_equal(c.timeout_s, 77);
	config_free(&c);
	assert_int_equal(parse(&c, text, "n10000000"), 0);
	assert_int_equal(c.timeout_s, 30);
	config_free(&c);
#ifndef __SANITIZE_ADDRESS__
	/* (not under ASan: its quarantine keeps libslurm's freed temporaries, ~100 MB of churn) */
	if (maxrss_kib() - before > 32 * 1024)
		fail_msg("huge hostlist: peak RSS grew by %ld KiB (expanded?)", maxrss_kib() - before);
#endif
}

/* The same 10 million hosts with a suffix: libslurm 23.11+ would expand them (2.2 s, 1.15 GB
 * with 24.11); efa-check rejects the suffix before libslurm sees the hostlist. */
static void test_huge_hostlist_suffix(void **state)
{
	struct efa_config c;

	/* the message is efa-check's own: libslurm never saw the hostlist */
	EXPECT_ERR_PREFIX("NodeName=n[0000-9999][000-999]-ib Timeout=77\n", "n0000000-ib",
			  "t.conf:1: NodeName=n[0000-9999][000-999]-ib: text after ']'");
	/* names with a suffix still match when listed, and a prefix before a range still works */
	assert_int_equal(parse(&c, "NodeName=n1-ib,n2-ib Timeout=9\n", "n2-ib"), 0);
	assert_int_equal(c.timeout_s, 9);
	config_free(&c);
	assert_int_equal(parse(&c, "NodeName=ib-n[1-2] Timeout=8\n", "ib-n2"), 0);
	assert_int_equal(c.timeout_s, 8);
	config_free(&c);
}

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

static void test_syntax_errors(void **state)
{
	EXPECT_ERR("Timeout=5\nFoo=1\n", NULL, "t.conf:2: unknown key 'Foo'");
	EXPECT_ERR("\n\nTimeout 5\n", NULL, "t.conf:3: missing '=' in 'Timeout' (expected Key=Value)");
	EXPECT_ERR("=5\n", NULL, "t.conf:1: missing key before '=' in '=5'");
	EXPECT_ERR("Timeout=\n", NULL, "t.conf:1: Timeout: empty value");
	EXPECT_ERR("Timeout= 5\n", NULL, "t.conf:1: Timeout: empty value");
	EXPECT_ERR("Timeout=5 timeout=6\n", NULL, "t.conf:1: Timeout: duplicate key on the same line");
	EXPECT_ERR("Provider=\"efa\"\n", NULL, "t.conf:1: quotes are not supported");
	EXPECT_ERR("Timeout=5\tCache\x01TTL=5\n", NULL,
		   "t.conf:1: control character 0x01 at column 16");
	EXPECT_ERR("Timeout=5\r\n", NULL, "t.conf:1: carriage return at column 10 (DOS line endings?)");
	EXPECT_ERR("# \x1b[31m\n", NULL, "t.conf:1: control character 0x1b at column 3");
	EXPECT_ERR("Timeout=5\x7f\n", NULL, "t.conf:1: control character 0x7f at column 10");
}

static void test_line_length(void **state)
{
	char *text = malloc(4096 + 16);
	struct efa_config c;

	assert_non_null(text);
	/* exactly 4096 characters: accepted */
	memset(text, ' ', 4096);
	memcpy(text, "Timeout=5 #", 11);
	memcpy(text + 4096, "\nCacheTTL=1\n", 13);
	assert_int_equal(parse(&c, text, NULL), 0);
	assert_int_equal(c.timeout_s, 5);
	config_free(&c);
	/* 4097: refused, naming the line */
	memcpy(text, "Timeout=5\n", 10);
	memset(text + 10, '#', 4097);
	memcpy(text + 10 + 4097, "\n", 2);
	EXPECT_ERR(text, NULL, "t.conf:2: line longer than 4096 characters");
	free(text);
}

static void test_file_too_large_text(void **state)
{
	size_t n = 1024 * 1024 + 1;
	char *text = malloc(n + 1);

	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		text[i] = (i % 64 == 63) ? '\n' : '#';
	text[n] = '\0';
	EXPECT_ERR(text, NULL, "t.conf: larger than 1048576 bytes");
	free(text);
}

static void test_err_buffer_bounded(void **state)
{
	struct efa_config c;
	char small[12];

	memset(small, 'x', sizeof(small));
	config_defaults(&c);
	assert_int_equal(config_parse_text(&c, "Foo=1", "a-rather-long-name.conf", NULL, small,
					   sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	config_defaults(&c);
	assert_int_equal(config_parse_text(&c, "Foo=1", "t.conf", NULL, small, sizeof(small)), -1);
	assert_string_equal(small, "t.conf:1: u");
	assert_int_equal(config_parse_text(&c, "Foo=1", "t.conf", NULL, NULL, 0), -1);
	/* long offending words are cut in the message */
	char text[300];
	memset(text, 'K', 200);
	strcpy(text + 200, "=1");
	assert_int_equal(parse(&c, text, NULL), -1);
	assert_true(strlen(err) < 100);
}

/* An error leaves c at defaults with nothing allocated (ASan checks the rest). */
static void test_error_resets(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "Domains=a,b Env=A=1 Timeout=9\nBogus=1\n", NULL), -1);
	assert_null(c.domains);
	assert_null(c.env);
	assert_int_equal(c.timeout_s, 30);
	config_free(&c);
}

/* etc/efa-check.conf parses as all defaults, and again with every "#Key=" line enabled. */
static void test_sample_conf(void **state)
{
	FILE *f = fopen("etc/efa-check.conf", "r");
	char *text, *out;
	size_t n, j = 0;
	struct efa_config c;

	if (!f) {
		skip();   /* run from the repository root */
		return;
	}
	text = calloc(1, 1 << 20);
	out = calloc(1, 1 << 20);
	assert_non_null(text);
	assert_non_null(out);
	n = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	assert_int_equal(parse(&c, text, "p5-002"), 0);
	assert_int_equal(c.timeout_s, 30);
	assert_int_equal(c.expected_devices, -1);
	config_free(&c);
	for (size_t i = 0; i < n; i++) {
		bool bol = i == 0 || text[i - 1] == '\n';

		if (bol && text[i] == '#' && i + 1 < n && text[i + 1] >= 'A' && text[i + 1] <= 'Z')
			continue;   /* "#Key=" -> "Key=" */
		out[j++] = text[i];
	}
	assert_int_equal(parse(&c, out, "p5-002"), 0);
	assert_int_equal(c.expected_devices, 32);
	assert_int_equal(c.expected_gpus, 8);
	assert_int_equal(c.nenv, 2);
	assert_string_equal(c.instance_type, "p5.48xlarge");
	config_free(&c);
	assert_int_equal(parse(&c, out, "p4d-003"), 0);
	assert_int_equal(c.expected_devices, 4);
	config_free(&c);
	free(text);
	free(out);
}

/* ---- files ------------------------------------------------------------------ */

static int setup_dir(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void tmp_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", tmpdir, name);
}

static int load(struct efa_config *c, const char *path, const char *node, bool must_exist)
{
	config_defaults(c);
	return config_load(c, path, node, must_exist, err, sizeof(err));
}

static void test_load_good(void **state)
{
	char path[256];
	struct efa_config c;
	const char *text = "Timeout=12\nNodeName=n[1-2] ExpectedDevices=32\n";

	tmp_path(path, sizeof(path), "good.conf");
	write_file(path, text, strlen(text), 0644);
	assert_int_equal(load(&c, path, "n2", true), 0);
	assert_int_equal(c.timeout_s, 12);
	assert_int_equal(c.expected_devices, 32);
	assert_string_equal(c.path, path);
	config_free(&c);
	/* a symlink to a good file is followed; the checks apply to the target */
	char link[256];
	tmp_path(link, sizeof(link), "link.conf");
	unlink(link);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(load(&c, link, "n9", true), 0);
	assert_int_equal(c.expected_devices, -1);
	config_free(&c);
}

static void test_load_group_writable(void **state)
{
	char path[256], want[512];
	struct efa_config c;

	tmp_path(path, sizeof(path), "gw.conf");
	write_file(path, "Timeout=12\n", 11, 0664);
	assert_int_equal(load(&c, path, NULL, true), -1);
	snprintf(want, sizeof(want), "%s: writable by group or others; chmod go-w", path);
	assert_string_equal(err, want);
	assert_int_equal(c.timeout_s, 30);
	assert_int_equal(chmod(path, 0602), 0);
	assert_int_equal(load(&c, path, NULL, true), -1);
	assert_string_equal(err, want);
	/* a symlink does not hide the target's mode */
	char link[256];
	tmp_path(link, sizeof(link), "gwlink.conf");
	unlink(link);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(load(&c, link, NULL, true), -1);
	assert_non_null(strstr(err, "writable by group or others"));
}

static void test_load_not_root_owned(void **state)
{
	char path[256], want[512];
	struct efa_config c;

	if (geteuid() != 0) {
		skip();
		return;
	}
	tmp_path(path, sizeof(path), "owned.conf");
	write_file(path, "Timeout=12\n", 11, 0644);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(load(&c, path, NULL, true), -1);
	snprintf(want, sizeof(want), "%s: not owned by root (uid 65534); chown root", path);
	assert_string_equal(err, want);
}

static void test_load_missing(void **state)
{
	char path[256], want[512];
	struct efa_config c;

	tmp_path(path, sizeof(path), "missing.conf");
	assert_int_equal(load(&c, path, "n1", false), 0);
	assert_int_equal(c.timeout_s, 30);
	assert_string_equal(c.path, "");
	assert_int_equal(load(&c, path, "n1", true), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
	assert_int_equal(load(&c, NULL, "n1", false), -1);
	assert_string_equal(err, "efa-check: no configuration file name");
}

static void test_load_not_regular(void **state)
{
	char path[256], want[512];
	struct efa_config c;

	/* a directory */
	assert_int_equal(load(&c, tmpdir, NULL, false), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
	assert_string_equal(err, want);
	/* a FIFO must not block the open */
	tmp_path(path, sizeof(path), "fifo");
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(load(&c, path, NULL, false), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	assert_string_equal(err, want);
	/* /dev/null is not a regular file either */
	assert_int_equal(load(&c, "/dev/null", NULL, false), -1);
	assert_string_equal(err, "/dev/null: not a regular file");
}

static void test_load_errors_name_file(void **state)
{
	char path[256], want[512];
	struct efa_config c;
	const char bad[] = "Timeout=5\n\nOnFail=sometimes\n";

	tmp_path(path, sizeof(path), "bad.conf");
	write_file(path, bad, strlen(bad), 0600);
	assert_int_equal(load(&c, path, NULL, true), -1);
	snprintf(want, sizeof(want), "%s:3: OnFail=sometimes: expected drain, drain-requeue or log",
		 path);
	assert_string_equal(err, want);
	/* an embedded NUL byte names its line */
	write_file(path, "Timeout=5\n# x\0y\n", 16, 0600);
	assert_int_equal(load(&c, path, NULL, true), -1);
	snprintf(want, sizeof(want), "%s:2: NUL byte in the file", path);
	assert_string_equal(err, want);
}

static void test_load_too_large(void **state)
{
	char path[256], want[512];
	struct efa_config c;
	size_t n = 1024 * 1024 + 10;
	char *text = malloc(n);

	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		text[i] = (i % 64 == 63) ? '\n' : '#';
	tmp_path(path, sizeof(path), "big.conf");
	write_file(path, text, n, 0644);
	free(text);
	assert_int_equal(load(&c, path, NULL, true), -1);
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
	assert_string_equal(err, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_text),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_comments_blank_lines),
		cmocka_unit_test(test_case_insensitive_keys),
		cmocka_unit_test(test_several_keys_per_line),
		cmocka_unit_test(test_later_global_line_wins),
		cmocka_unit_test(test_nodename_match),
		cmocka_unit_test(test_nodename_later_node_line_wins),
		cmocka_unit_test(test_nodename_no_match),
		cmocka_unit_test(test_nodename_ranges),
		cmocka_unit_test(test_nodename_all),
		cmocka_unit_test(test_nodename_validated_when_not_matching),
		cmocka_unit_test(test_nodename_errors),
		cmocka_unit_test(test_bad_hostlists),
		cmocka_unit_test(test_huge_hostlist),
		cmocka_unit_test(test_huge_hostlist_suffix),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_env_limit),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_library_names),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_file_too_large_text),
		cmocka_unit_test(test_err_buffer_bounded),
		cmocka_unit_test(test_error_resets),
		cmocka_unit_test(test_sample_conf),
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_load_group_writable),
		cmocka_unit_test(test_libfabric_path),
		cmocka_unit_test(test_load_not_root_owned),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_load_not_regular),
		cmocka_unit_test(test_load_errors_name_file),
		cmocka_unit_test(test_load_too_large),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
