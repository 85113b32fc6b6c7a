/*
 * test_profiles.c -- instance profile table (etc/instance-profiles.conf) and DMI instance type.
 * Run from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env/profiles.h"

#define FIX "tests/fixtures/sysfs/"

static void expect_profile(const struct profile_table *t, const char *type, int devices, int gpus,
			   bool rdma_read)
{
	struct instance_profile p;

	assert_int_equal(profiles_lookup(t, type, &p), 0);
	assert_int_equal(p.devices, devices);
	assert_int_equal(p.gpus, gpus);
	assert_int_equal(p.rdma_read, rdma_read);
}

static void builtin_table_has_the_gpu_and_trainium_types(void **state)
{
	struct profile_table t;
	char err[256] = "";

	assert_int_equal(profiles_load(&t, NULL, err, sizeof(err)), 0);
	expect_profile(&t, "p4d.24xlarge", 4, 8, true);
	expect_profile(&t, "p4de.24xlarge", 4, 8, true);
	expect_profile(&t, "p5.48xlarge", 32, 8, true);
	expect_profile(&t, "p5e.48xlarge", 32, 8, true);
	expect_profile(&t, "p5en.48xlarge", 16, 8, true);
	expect_profile(&t, "p6-b200.48xlarge", 8, 8, true);
	expect_profile(&t, "trn1.32xlarge", 8, 0, true);
	expect_profile(&t, "trn1n.32xlarge", 16, 0, true);
	expect_profile(&t, "trn2.48xlarge", 16, 0, true);
	expect_profile(&t, "g5.48xlarge", 1, 8, false);
	expect_profile(&t, "c5n.18xlarge", 1, 0, false);
	expect_profile(&t, "p3dn.24xlarge", 1, 8, false);
	expect_profile(&t, "hpc6a.48xlarge", 1, 0, false);
	expect_profile(&t, "c6gn.16xlarge", 1, 0, false);
	assert_int_equal(profiles_lookup(&t, "m7i.large", NULL), -1);
	assert_int_equal(profiles_lookup(&t, "", NULL), -1);
	profiles_free(&t);
	assert_null(t.p);
	/* "" means the built-in table too */
	assert_int_equal(profiles_load(&t, "", err, sizeof(err)), 0);
	assert_true(t.n > 10);
	profiles_free(&t);
}

static void glob_matches_and_exact_wins(void **state)
{
	struct profile_table t;
	struct instance_profile p;
	char err[256] = "";
	const char *text =
		"# comment line\n"
		"\n"
		"hpc7g.*        devices=1 gpus=0 rdma_read=no   # every size\n"
		"p5*            devices=32 gpus=8 rdma_read=yes\n"
		"p5en.48xlarge  devices=16 gpus=8 rdma_read=yes\n"
		"p*             devices=99 gpus=1 rdma_read=no\n";

	assert_int_equal(profiles_parse(&t, text, "t.conf", err, sizeof(err)), 0);
	assert_int_equal(t.n, 4);
	expect_profile(&t, "hpc7g.16xlarge", 1, 0, false);
	expect_profile(&t, "hpc7g.4xlarge", 1, 0, false);
	/* exact entry later in the file wins over an earlier glob */
	expect_profile(&t, "p5en.48xlarge", 16, 8, true);
	assert_int_equal(profiles_lookup(&t, "p5en.48xlarge", &p), 0);
	assert_string_equal(p.type, "p5en.48xlarge");
	/* first matching glob wins among globs */
	assert_int_equal(profiles_lookup(&t, "p5e.48xlarge", &p), 0);
	assert_string_equal(p.type, "p5*");
	expect_profile(&t, "p4d.24xlarge", 99, 1, false);
	assert_int_equal(profiles_lookup(&t, "hpc7a.96xlarge", NULL), -1);
	profiles_free(&t);

	/* builtin: hpc7g is a glob */
	assert_int_equal(profiles_load(&t, NULL, err, sizeof(err)), 0);
	expect_profile(&t, "hpc7g.8xlarge", 1, 0, false);
	profiles_free(&t);
}

static void expect_parse_error(const char *text, const char *message)
{
	struct profile_table t;
	char err[256] = "";

	assert_int_equal(profiles_parse(&t, text, "bad.conf", err, sizeof(err)), -1);
	if (!strstr(err, message))
		fail_msg("error '%s' does not contain '%s'", err, message);
	assert_null(t.p);
	assert_int_equal(t.n, 0);
}

static void parse_errors_name_file_and_line(void **state)
{
	expect_parse_error("p4d.24xlarge devices=4 gpus=8 rdma_read=yes\nx devices=1 gpus=0 nics=2 rdma_read=no\n",
			   "bad.conf:2: unknown key 'nics'");
	expect_parse_error("p4d.24xlarge devices=four gpus=8 rdma_read=yes\n",
			   "bad.conf:1: devices=four: expected a number");
	expect_parse_error("p4d.24xlarge devices=-1 gpus=8 rdma_read=yes\n", "bad.conf:1: devices=-1");
	expect_parse_error("p4d.24xlarge devices=4x gpus=8 rdma_read=yes\n", "bad.conf:1: devices=4x");
	expect_parse_error("p4d.24xlarge devices=4 gpus=99999999999999999999 rdma_read=yes\n",
			   "bad.conf:1: gpus=");
	expect_parse_error("p4d.24xlarge devices=4 gpus=8 rdma_read=maybe\n",
			   "bad.conf:1: rdma_read=maybe: expected yes or no");
	expect_parse_error("# header\np4d.24xlarge devices=4 gpus=8 rdma_read=yes\n\np4d.24xlarge devices=4 gpus=8 rdma_read=yes\n",
			   "bad.conf:4: p4d.24xlarge: duplicate profile");
	expect_parse_error("p4d.24xlarge devices=4 devices=5 gpus=8 rdma_read=yes\n",
			   "bad.conf:1: p4d.24xlarge: 'devices' given twice");
	expect_parse_error("p4d.24xlarge devices=4 rdma_read=yes\n", "bad.conf:1: p4d.24xlarge: missing gpus=");
	expect_parse_error("p4d.24xlarge devices=4 gpus rdma_read=yes\n", "bad.conf:1: 'gpus' is not key=value");
	expect_parse_error("p4d/24xlarge devices=4 gpus=8 rdma_read=yes\n", "bad.conf:1: 'p4d/24xlarge' is not an instance type");
	expect_parse_error("p4d.24xlarge devices=4 gpus=8 rdma_read=yes\x01\n", "bad.conf:1: control");
}

static void parse_accepts_tabs_crlf_and_empty(void **state)
{
	struct profile_table t;
	char err[256] = "";

	assert_int_equal(profiles_parse(&t, "p4d.24xlarge\tdevices=4\tgpus=8\trdma_read=yes\r\n", "t", err,
					sizeof(err)), 0);
	expect_profile(&t, "p4d.24xlarge", 4, 8, true);
	profiles_free(&t);
	assert_int_equal(profiles_parse(&t, "", "t", err, sizeof(err)), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(profiles_lookup(&t, "p4d.24xlarge", NULL), -1);
	profiles_free(&t);
}

static void load_from_file_and_errors_name_the_file(void **state)
{
	char path[] = "/tmp/efa-check-profiles-XXXXXX";
	struct profile_table t;
	char err[512] = "";
	int fd = mkstemp(path);
	const char *text = "m7i.48xlarge devices=1 gpus=0 rdma_read=no\nbogus\n";
	size_t first_line = (size_t)(strchr(text, '\n') - text) + 1;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(profiles_load(&t, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":2: "));

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, first_line), (ssize_t)first_line);
	close(fd);
	assert_int_equal(profiles_load(&t, path, err, sizeof(err)), 0);
	expect_profile(&t, "m7i.48xlarge", 1, 0, false);
	profiles_free(&t);
	unlink(path);

	assert_int_equal(profiles_load(&t, "/nonexistent/profiles.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/profiles.conf"));
	assert_non_null(strstr(err, "InstanceProfiles"));
}

static void load_refuses_a_symlink(void **state)
{
	char dir[] = "/tmp/efa-check-profiles-dir-XXXXXX";
	char target[128], link[128];
	struct profile_table t;
	char err[512] = "";
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(target, sizeof(target), "%s/real.conf", dir);
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	f = fopen(target, "w");
	assert_non_null(f);
	fputs("x.large devices=1 gpus=0 rdma_read=no\n", f);
	fclose(f);
	assert_int_equal(symlink("real.conf", link), 0);
	assert_int_equal(profiles_load(&t, link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, link));
	assert_int_equal(profiles_load(&t, dir, err, sizeof(err)), -1);
	unlink(link);
	unlink(target);
	rmdir(dir);
}

static void dmi_product_name_read(void **state)
{
	char type[64];

	assert_int_equal(instance_type_read(FIX "p4d", type, sizeof(type)), 0);
	assert_string_equal(type, "p4d.24xlarge");
	assert_int_equal(instance_type_read(FIX "p5en", type, sizeof(type)), 0);
	assert_string_equal(type, "p5en.48xlarge");
	assert_int_equal(instance_type_read(FIX "unknown-type", type, sizeof(type)), 0);
	assert_string_equal(type, "m7i.48xlarge");
	assert_int_equal(instance_type_read(FIX "does-not-exist", type, sizeof(type)), -1);
	assert_string_equal(type, "");
	/* too small a buffer is an error, not a truncated type */
	assert_int_equal(instance_type_read(FIX "p4d", type, 5), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builtin_table_has_the_gpu_and_trainium_types),
		cmocka_unit_test(glob_matches_and_exact_wins),
		cmocka_unit_test(parse_errors_name_file_and_line),
		cmocka_unit_test(parse_accepts_tabs_crlf_and_empty),
		cmocka_unit_test(load_from_file_and_errors_name_the_file),
		cmocka_unit_test(load_refuses_a_symlink),
		cmocka_unit_test(dmi_product_name_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
