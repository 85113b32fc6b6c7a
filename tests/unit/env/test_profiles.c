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
#include "env/baseline.h"
#include "core/config.h"

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

/* The bandwidth figures of the built-in table: the published ones, and none where nothing was
 * published (no floor: never a drain from an invented number). */
static void builtin_table_bandwidth_figures(void **state)
{
	static const struct { const char *type; double loopback, busbw; } want[] = {
		{ "p4d.24xlarge", 20, 300 },   { "p5.48xlarge", 20, 800 },
		{ "p5e.48xlarge", 20, 800 },   { "p5en.48xlarge", 20, 800 },
		{ "p6-b200.48xlarge", 20, 900 }, { "p4de.24xlarge", 0, 0 },
		{ "trn1.32xlarge", 0, 0 },     { "c5n.18xlarge", 0, 0 },
	};
	struct profile_table t;
	struct instance_profile p;
	char err[256] = "";

	(void)state;
	assert_int_equal(profiles_load(&t, NULL, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(profiles_lookup(&t, want[i].type, &p), 0);
		assert_true(p.loopback_gbps == want[i].loopback);
		assert_true(p.busbw_gbytes == want[i].busbw);
		assert_true(p.link_gbps == 0);    /* no public per-link figure */
	}
	profiles_free(&t);
}

static void parse_bandwidth_figures(void **state)
{
	struct profile_table t;
	struct instance_profile p;
	char err[256] = "";

	(void)state;
	assert_int_equal(profiles_parse(&t, "x.large devices=2 gpus=0 rdma_read=no loopback_gbps=12.5 "
					"link_gbps=40 busbw_GBps=96\ny.large devices=1 gpus=0 rdma_read=no\n",
					"t.conf", err, sizeof(err)), 0);
	assert_int_equal(profiles_lookup(&t, "x.large", &p), 0);
	assert_true(p.loopback_gbps == 12.5 && p.link_gbps == 40 && p.busbw_gbytes == 96);
	assert_int_equal(profiles_lookup(&t, "y.large", &p), 0);
	assert_true(p.loopback_gbps == 0 && p.link_gbps == 0 && p.busbw_gbytes == 0);
	profiles_free(&t);
	expect_parse_error("x devices=1 gpus=0 rdma_read=no loopback_gbps=0\n",
			   "bad.conf:1: loopback_gbps=0: expected a number above 0");
	expect_parse_error("x devices=1 gpus=0 rdma_read=no link_gbps=fast\n", "bad.conf:1: link_gbps=fast");
	expect_parse_error("x devices=1 gpus=0 rdma_read=no busbw_GBps=-3\n", "bad.conf:1: busbw_GBps=-3");
	expect_parse_error("x devices=1 gpus=0 rdma_read=no busbw_GBps=1e9\n", "bad.conf:1: busbw_GBps=1e9");
	expect_parse_error("x devices=1 gpus=0 rdma_read=no link_gbps=1 link_gbps=2\n",
			   "bad.conf:1: x: 'link_gbps' given twice");
	expect_parse_error("x devices=1 gpus=0 rdma_read=no busbw_gbps=1\n", "unknown key 'busbw_gbps'");
}

static void config_text(struct efa_config *c, const char *text)
{
	char err[CONFIG_ERR_MAX] = "";

	config_defaults(c);
	if (config_parse_text(c, text, "t.conf", "n1", err, sizeof(err)))
		fail_msg("config: %s", err);
}

/* Pure resolution: auto takes the profile's figure; no profile or no figure: no floor (0),
 * with a note saying why; absolute values stay; the busbw figure only ever advises. */
static void baseline_apply_rules(void **state)
{
	struct instance_profile p5 = { .type = "p5.48xlarge", .devices = 32, .gpus = 8,
				       .loopback_gbps = 20, .busbw_gbytes = 800 };
	struct efa_config c;

	(void)state;
	config_text(&c, "MinLoopbackGbps=auto MinLinkGbps=auto MinBusBwGBps=auto\n");
	assert_true(c.min_loopback_gbps == CONFIG_AUTO && c.min_link_gbps == CONFIG_AUTO &&
		    c.min_busbw_gbps == CONFIG_AUTO);
	assert_true(baseline_wanted(&c));
	baseline_apply(&c, &p5, NULL);
	assert_true(c.min_loopback_gbps == 20);
	assert_string_equal(c.loopback_floor_note, "auto: p5.48xlarge profile");
	assert_true(c.min_link_gbps == 0);          /* p5 publishes no link figure */
	assert_string_equal(c.link_floor_note, "auto: no floor, p5.48xlarge publishes none");
	assert_true(c.min_busbw_gbps == 0);         /* advisory: never enforced */
	assert_true(c.advisory_busbw_gbps == 800);
	assert_false(baseline_wanted(&c));
	config_free(&c);

	config_text(&c, "MinLoopbackGbps=AUTO MinBusBwGBps=auto\n");
	baseline_apply(&c, NULL, "t3.micro has no instance profile");
	assert_true(c.min_loopback_gbps == 0 && c.min_busbw_gbps == 0 && c.advisory_busbw_gbps == 0);
	assert_string_equal(c.loopback_floor_note, "auto: no floor, t3.micro has no instance profile");
	assert_string_equal(c.link_floor_note, "");  /* not auto: untouched */
	config_free(&c);

	/* absolute thresholds stay available and are not touched by the profile */
	config_text(&c, "MinLoopbackGbps=12.5 MinLinkGbps=3 MinBusBwGBps=50\n");
	assert_false(baseline_wanted(&c));
	baseline_apply(&c, &p5, NULL);
	assert_true(c.min_loopback_gbps == 12.5 && c.min_link_gbps == 3 && c.min_busbw_gbps == 50);
	assert_true(c.advisory_busbw_gbps == 0);
	assert_string_equal(c.loopback_floor_note, "");
	config_free(&c);

	/* the default is no floor at all */
	config_text(&c, "");
	assert_true(c.min_loopback_gbps == 0 && c.min_link_gbps == 0 && c.min_busbw_gbps == 0);
	assert_true(c.min_device_fraction == 0.25);
	config_free(&c);
}

static void expect_config_error(const char *text, const char *message)
{
	struct efa_config c;
	char err[CONFIG_ERR_MAX] = "";

	config_defaults(&c);
	assert_int_equal(config_parse_text(&c, text, "t.conf", "n1", err, sizeof(err)), -1);
	if (!strstr(err, message))
		fail_msg("error '%s' does not contain '%s'", err, message);
	config_free(&c);
}

static void baseline_config_errors(void **state)
{
	(void)state;
	expect_config_error("MinLoopbackGbps=-1\n", "t.conf:1: MinLoopbackGbps=-1: expected auto or a number 0..100000");
	expect_config_error("MinLinkGbps=automatic\n", "MinLinkGbps=automatic: expected auto or a number");
	expect_config_error("MinBusBwGBps=1e9\n", "MinBusBwGBps=1e9");
	expect_config_error("MinDeviceFraction=1.5\n", "MinDeviceFraction=1.5: out of range");
}

/* From the instance type: InstanceType= or DMI; unknown type or no profile: no floor. */
static void baseline_resolve_from_type(void **state)
{
	struct efa_config c;

	(void)state;
	config_text(&c, "InstanceType=p6-b200.48xlarge MinLoopbackGbps=auto MinBusBwGBps=auto\n");
	baseline_resolve(&c, "/nonexistent");
	assert_true(c.min_loopback_gbps == 20 && c.advisory_busbw_gbps == 900 && c.min_busbw_gbps == 0);
	config_free(&c);

	config_text(&c, "InstanceType=m7i.large MinLoopbackGbps=auto\n");
	baseline_resolve(&c, "/nonexistent");
	assert_true(c.min_loopback_gbps == 0);
	assert_string_equal(c.loopback_floor_note, "auto: no floor, m7i.large has no instance profile");
	config_free(&c);

	config_text(&c, "MinLoopbackGbps=auto\n");
	baseline_resolve(&c, "/nonexistent");     /* no DMI product_name */
	assert_true(c.min_loopback_gbps == 0);
	assert_string_equal(c.loopback_floor_note, "auto: no floor, instance type unknown");
	config_free(&c);

	config_text(&c, "MinLoopbackGbps=auto InstanceProfiles=/nonexistent/profiles.conf InstanceType=p5.48xlarge\n");
	baseline_resolve(&c, NULL);
	assert_true(c.min_loopback_gbps == 0);
	assert_non_null(strstr(c.loopback_floor_note, "auto: no floor, instance profiles unreadable"));
	config_free(&c);
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
		cmocka_unit_test(builtin_table_bandwidth_figures),
		cmocka_unit_test(parse_bandwidth_figures),
		cmocka_unit_test(baseline_apply_rules),
		cmocka_unit_test(baseline_config_errors),
		cmocka_unit_test(baseline_resolve_from_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
