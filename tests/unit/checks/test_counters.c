/*
 * test_counters.c -- the counters check (prolog/checks/counters.c) on the sysfs fixtures: rates
 * per minute between the sample in StateDir and now, CounterMaxRate= limits, the counters
 * that are only reported, a driver without the network counters (< r2.17.0), a counter that
 * went down, a sample too recent, and the first run that only records a sample.
 * The earlier sample is written here with a time 5 minutes back: no test waits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checks/counters.h"
#include "core/config.h"
#include "core/report.h"

#define FIX "tests/fixtures/sysfs/"

static struct efa_config cfg;
static char dir[64];

static int setup(void **state)
{
	config_defaults(&cfg);
	strcpy(dir, "/tmp/efa-check-counters-XXXXXX");
	assert_non_null(mkdtemp(dir));
	strcpy(cfg.state_dir, dir);
	return 0;
}

static int teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/counters.json", dir);
	unlink(path);
	rmdir(dir);
	config_free(&cfg);
	return 0;
}

/* The sample an earlier run left: every device of the layout with the same value. */
static void earlier_sample(const char *layout, double seconds_ago, long value, bool network)
{
	static const char *const devs[] = { "rdmap16s27", "rdmap32s27", "rdmap144s27", "rdmap160s27" };
	char path[128];
	struct timespec now;
	FILE *f;

	snprintf(path, sizeof(path), "%s/counters.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	clock_gettime(CLOCK_REALTIME, &now);
	fprintf(f, "{\"time\": %.3f, \"sysfs\": \"%s%s\", \"devices\": {",
		(double)now.tv_sec + now.tv_nsec / 1e9 - seconds_ago, FIX, layout);
	for (int i = 0; i < 4; i++) {
		fprintf(f, "%s\"%s\": {\"rx_drops\": %ld", i ? ", " : "", devs[i], value);
		if (network)
			fprintf(f, ", \"retrans_timeout_events\": %ld, \"impaired_remote_conn_events\": %ld, "
				"\"unresponsive_remote_events\": %ld", value, value, value);
		fprintf(f, "}");
	}
	fprintf(f, "}}\n");
	fclose(f);
}

static double metric(const struct check_result *c, const char *name)
{
	for (int i = 0; i < c->nmetrics; i++)
		if (!strcmp(c->metrics[i].name, name))
			return c->metrics[i].value;
	return -1;
}

static void first_run_records_a_sample(void **state)
{
	struct check_result c;
	char path[128];

	counters_check(&cfg, FIX "p4d", &c);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_non_null(strstr(c.detail, "first sample of 4 EFA devices recorded"));
	snprintf(path, sizeof(path), "%s/counters.json", dir);
	assert_int_equal(access(path, F_OK), 0);
	/* the next run, immediately after: too recent for a rate, the sample is kept */
	counters_check(&cfg, FIX "p4d", &c);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_non_null(strstr(c.detail, "too recent"));
}

/* rx_drops 0 -> 6000 in 5 min = 1200/min > 600: fails naming device, counter and rate;
 * impaired_remote_conn_events 0 -> 500 = 100/min is the remote's trouble: reported only. */
static void rate_over_limit_fails(void **state)
{
	struct check_result c;

	earlier_sample("p4d-counters", 300, 0, true);
	counters_check(&cfg, FIX "p4d-counters", &c);
	assert_int_equal(c.status, CHECK_FAIL);
	assert_string_equal(c.reason, "rdmap32s27 rx_drops 1200/min > 600");
	assert_non_null(strstr(c.detail, "over 300 s"));
	assert_non_null(strstr(c.detail, "impaired_remote_conn_events max "));
	assert_non_null(strstr(c.detail, " on rdmap32s27 (reported only, limit 0)"));
	assert_non_null(strstr(c.detail, "retrans_timeout_events max 2.0 on rdmap32s27 (limit 60)") || strstr(c.detail, "retrans_timeout_events max 1.9"));
	assert_true(metric(&c, "rx_drops") > 1199 && metric(&c, "rx_drops") < 1201);
	assert_false(c.transient);
}

/* The same growth is fine where the admin allows it, and any growth below the limit passes:
 * device-wide counters grow with other jobs' traffic. */
static void rate_under_limit_passes(void **state)
{
	struct check_result c;
	char err[256];

	assert_int_equal(config_parse_text(&cfg, "CounterMaxRate=rx_drops:2000,impaired_remote_conn_events:150\n",
					   "t.conf", NULL, err, sizeof(err)), 0);
	strcpy(cfg.state_dir, dir);                   /* parsing started from the defaults */
	earlier_sample("p4d-counters", 300, 0, true);
	counters_check(&cfg, FIX "p4d-counters", &c);
	assert_int_equal(c.status, CHECK_PASS);
	assert_non_null(strstr(c.detail, "rx_drops max 1"));
	assert_non_null(strstr(c.detail, " on rdmap32s27 (limit 2000)"));
	/* and the sample was replaced by this run's: the next rate starts from here */
	earlier_sample("p4d-counters", 300, 5999, true);
	assert_int_equal(config_parse_text(&cfg, "CounterMaxRate=impaired_remote_conn_events:50\n",
					   "t.conf", NULL, err, sizeof(err)), 0);
	strcpy(cfg.state_dir, dir);
	counters_check(&cfg, FIX "p4d-counters", &c);
	assert_int_equal(c.status, CHECK_SKIP);       /* impaired and retrans went down: new baseline */
}

/* Driver < r2.17.0: only rx_drops exists; the others are skipped and the detail says so. */
static void old_driver_counters_skipped(void **state)
{
	struct check_result c;

	earlier_sample("p4d-driver-2.15", 120, 0, false);
	counters_check(&cfg, FIX "p4d-driver-2.15", &c);
	assert_int_equal(c.status, CHECK_PASS);
	assert_non_null(strstr(c.detail, "absent (efa driver < r2.17.0?), skipped: retrans_timeout_events, "
				 "impaired_remote_conn_events, unresponsive_remote_events"));
	assert_true(metric(&c, "retrans_timeout_events") == -1);
}

static void counter_went_down_is_a_new_baseline(void **state)
{
	struct check_result c;

	earlier_sample("p4d", 300, 1000000, true);     /* the fixture's counters are 0 */
	counters_check(&cfg, FIX "p4d", &c);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_non_null(strstr(c.detail, "went down"));
}

static void sample_of_another_root_is_not_used(void **state)
{
	struct check_result c;

	earlier_sample("p4d", 300, 0, true);
	counters_check(&cfg, FIX "p4d-counters", &c);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_non_null(strstr(c.detail, "first sample"));
}

static void no_devices_or_other_provider_skipped(void **state)
{
	struct check_result c;

	counters_check(&cfg, FIX "no-efa", &c);
	assert_int_equal(c.status, CHECK_SKIP);
	strcpy(cfg.provider, "tcp");
	counters_check(&cfg, FIX "p4d", &c);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_non_null(strstr(c.detail, "provider tcp"));
}

static void config_counter_max_rate(void **state)
{
	char err[256] = "";

	assert_true(cfg.counter_max_rate[0] == 600 && cfg.counter_max_rate[1] == 60);
	assert_true(cfg.counter_max_rate[2] == 0 && cfg.counter_max_rate[3] == 0);
	assert_int_equal(config_parse_text(&cfg, "CounterMaxRate=unresponsive_remote_events:5\n", "t.conf",
					   NULL, err, sizeof(err)), 0);
	assert_true(cfg.counter_max_rate[3] == 5);
	assert_int_equal(config_parse_text(&cfg, "CounterMaxRate=tx_bytes:5\n", "t.conf", NULL, err,
					   sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:1"));
	assert_non_null(strstr(err, "unknown counter 'tx_bytes'"));
	assert_int_equal(config_parse_text(&cfg, "CounterMaxRate=rx_drops\n", "t.conf", NULL, err,
					   sizeof(err)), -1);
	assert_int_equal(config_parse_text(&cfg, "CounterMaxRate=rx_drops:-1\n", "t.conf", NULL, err,
					   sizeof(err)), -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(first_run_records_a_sample),
		T(rate_over_limit_fails),
		T(rate_under_limit_passes),
		T(old_driver_counters_skipped),
		T(counter_went_down_is_a_new_baseline),
		T(sample_of_another_root_is_not_used),
		T(no_devices_or_other_provider_skipped),
		T(config_counter_max_rate),
	};

	return cmocka_run_group_tests_name("counters", tests, NULL, NULL);
}
