/*
 * test_config.c -- efa-check.conf parser (prolog/core/config.c): defaults, line syntax
 * (comments, case, several keys per line, later lines win), limits and errors, the sample
 * etc/efa-check.conf, and loading the file (ownership, mode, type, size). NodeName scoping:
 * test_config_nodename.c; value grammar of the keys: test_config_values.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config_test.h"

static char tmpdir[] = "/tmp/test_config.XXXXXX";

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
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_file_too_large_text),
		cmocka_unit_test(test_err_buffer_bounded),
		cmocka_unit_test(test_error_resets),
		cmocka_unit_test(test_sample_conf),
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_load_group_writable),
		cmocka_unit_test(test_load_not_root_owned),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_load_not_regular),
		cmocka_unit_test(test_load_errors_name_file),
		cmocka_unit_test(test_load_too_large),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
