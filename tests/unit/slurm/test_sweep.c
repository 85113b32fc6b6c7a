/*
 * test_sweep.c -- the pure parts of `efa-check sweep`: which nodes may be swept, the sets
 * (sizes blame needs, the remainder spread), least recently swept first, the history file,
 * a set's cross report turned into per-node results, exit codes, metrics, srun's command
 * line, and the Sweep...= configuration keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/slurm.h>

#include "cli/cli.h"
#include "core/config.h"
#include "slurm/sweep.h"
#include "slurm/sweep_io.h"

/* ---- availability ------------------------------------------------------------------------ */

static void test_avail(void **s)
{
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE, false), AVAIL_IDLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_CLOUD, false), AVAIL_IDLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_ALLOCATED, false), AVAIL_BUSY);
	assert_int_equal(sweep_node_avail(NODE_STATE_MIXED, false), AVAIL_BUSY);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_COMPLETING, false), AVAIL_BUSY);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_PLANNED, false), AVAIL_BUSY);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_RES, false), AVAIL_BUSY);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_RES, true), AVAIL_IDLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_DRAIN, false), AVAIL_UNAVAILABLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_ALLOCATED | NODE_STATE_DRAIN, false),
			 AVAIL_UNAVAILABLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_DOWN, false), AVAIL_UNAVAILABLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_NO_RESPOND, false),
			 AVAIL_UNAVAILABLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_POWERED_DOWN, false),
			 AVAIL_UNAVAILABLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_MAINT, false), AVAIL_UNAVAILABLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_IDLE | NODE_STATE_REBOOT_REQUESTED, false),
			 AVAIL_UNAVAILABLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_UNKNOWN, false), AVAIL_UNAVAILABLE);
	assert_int_equal(sweep_node_avail(NODE_STATE_FUTURE, false), AVAIL_UNAVAILABLE);
	assert_string_equal(sweep_state_name(NODE_STATE_IDLE), "idle");
	assert_string_equal(sweep_state_name(NODE_STATE_IDLE | NODE_STATE_DRAIN), "drained");
	assert_string_equal(sweep_state_name(NODE_STATE_ALLOCATED | NODE_STATE_DRAIN), "draining");
	assert_string_equal(sweep_state_name(NODE_STATE_MIXED), "mixed");
	assert_string_equal(sweep_state_name(NODE_STATE_DOWN | NODE_STATE_NO_RESPOND), "not_responding");
}

static void test_result_names(void **s)
{
	for (int r = RESULT_NONE; r <= RESULT_NOT_REACHED; r++)
		assert_int_equal(sweep_result_parse(sweep_result_name(r)), r);
	assert_int_equal(sweep_result_parse("nonsense"), RESULT_NONE);
	assert_true(sweep_result_tested(RESULT_OK));
	assert_true(sweep_result_tested(RESULT_BAD));
	assert_true(sweep_result_tested(RESULT_LINK));
	assert_false(sweep_result_tested(RESULT_ERROR));
	assert_false(sweep_result_tested(RESULT_BUSY));
	assert_false(sweep_result_tested(RESULT_NOT_REACHED));
}

/* ---- sets ----------------------------------------------------------------------------------- */

static size_t group(size_t n, size_t set_size, char *out, size_t outlen)
{
	size_t sizes[64], k = sweep_group(n, set_size, sizes, 64), sum = 0;

	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		snprintf(out + strlen(out), outlen - strlen(out), "%s%zu", i ? "+" : "", sizes[i]);
		sum += sizes[i];
	}
	if (k)
		assert_int_equal(sum, n);
	return k;
}

static void test_group(void **s)
{
	char buf[256];

	assert_int_equal(group(0, 8, buf, sizeof(buf)), 0);
	assert_int_equal(group(1, 8, buf, sizeof(buf)), 0);      /* no partner */
	group(2, 8, buf, sizeof(buf));
	assert_string_equal(buf, "2");                           /* a link, no blame */
	group(3, 8, buf, sizeof(buf));
	assert_string_equal(buf, "3");
	group(4, 8, buf, sizeof(buf));
	assert_string_equal(buf, "4");
	group(6, 8, buf, sizeof(buf));
	assert_string_equal(buf, "6");
	group(8, 8, buf, sizeof(buf));
	assert_string_equal(buf, "8");
	group(9, 8, buf, sizeof(buf));
	assert_string_equal(buf, "5+4");                         /* not 8+1 */
	group(10, 8, buf, sizeof(buf));
	assert_string_equal(buf, "5+5");                         /* not 8+2 */
	group(17, 8, buf, sizeof(buf));
	assert_string_equal(buf, "6+6+5");
	group(6, 4, buf, sizeof(buf));
	assert_string_equal(buf, "6");                           /* 3+3 would be too small */
	group(7, 4, buf, sizeof(buf));
	assert_string_equal(buf, "7");
	group(9, 4, buf, sizeof(buf));
	assert_string_equal(buf, "5+4");
	group(5, 2, buf, sizeof(buf));                           /* set size below 4 is raised */
	assert_string_equal(buf, "5");
	/* every set of a large fleet has at least SWEEP_MIN_SET nodes and at most 2x set size */
	for (size_t n = 4; n < 300; n++) {
		size_t sizes[128], k = sweep_group(n, 8, sizes, 128);

		for (size_t i = 0; i < k; i++) {
			assert_true(sizes[i] >= SWEEP_MIN_SET);
			assert_true(sizes[i] <= 16);
			assert_true(sizes[0] - sizes[i] <= 1);
		}
	}
}

static void test_order(void **s)
{
	struct sweep_node n[5];
	const char *names[] = { "n10", "n2", "n1", "n3", "n4" };
	const double when[] = { 0, 0, 200, 100, 100 };

	memset(n, 0, sizeof(n));
	for (int i = 0; i < 5; i++) {
		strcpy(n[i].name, names[i]);
		n[i].last_swept = when[i];
	}
	sweep_order(n, 5);
	/* never swept first (natural order: n2 before n10), then oldest, ties by name */
	assert_string_equal(n[0].name, "n2");
	assert_string_equal(n[1].name, "n10");
	assert_string_equal(n[2].name, "n3");
	assert_string_equal(n[3].name, "n4");
	assert_string_equal(n[4].name, "n1");
}

/* ---- history -------------------------------------------------------------------------------- */

static void test_history_roundtrip(void **s)
{
	struct sweep_history h = { 0 }, back;
	const struct sweep_hist_entry *e;
	char *text;

	assert_int_equal(sweep_history_set(&h, "n1", 100.5, RESULT_OK, ""), 0);
	assert_int_equal(sweep_history_set(&h, "n2", 200, RESULT_BAD, "cross: 3/3 links failed"), 0);
	assert_int_equal(sweep_history_set(&h, "n1", 300, RESULT_LINK, "cross: link n1<->n2 failed"), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(sweep_history_set(&h, "bad/name", 1, RESULT_OK, ""), -1);
	assert_int_equal(sweep_history_set(&h, "", 1, RESULT_OK, ""), -1);
	text = sweep_history_format(&h);
	assert_non_null(text);
	assert_int_equal(sweep_history_parse(text, &back), 0);
	assert_int_equal(back.n, 2);
	e = sweep_history_find(&back, "n1");
	assert_non_null(e);
	assert_true(e->swept_at == 300);
	assert_int_equal(e->result, RESULT_LINK);
	assert_string_equal(e->reason, "cross: link n1<->n2 failed");
	e = sweep_history_find(&back, "n2");
	assert_int_equal(e->result, RESULT_BAD);
	assert_null(sweep_history_find(&back, "n3"));
	free(text);
	sweep_history_free(&h);
	sweep_history_free(&back);
}

static void test_history_strict(void **s)
{
	struct sweep_history h;

	assert_int_equal(sweep_history_parse("", &h), -1);
	assert_int_equal(sweep_history_parse("[]", &h), -1);
	assert_int_equal(sweep_history_parse("{\"version\": 2, \"nodes\": {}}", &h), -1);
	assert_int_equal(sweep_history_parse("{\"version\": 1}", &h), -1);
	assert_int_equal(sweep_history_parse("{\"version\": 1, \"nodes\": {\"n1\": 5}}", &h), -1);
	assert_int_equal(sweep_history_parse("{\"version\": 1, \"nodes\": {\"n1\": "
					     "{\"swept_at\": \"x\", \"result\": \"ok\"}}}", &h), -1);
	assert_int_equal(sweep_history_parse("{\"version\": 1, \"nodes\": {\"../x\": "
					     "{\"swept_at\": 1, \"result\": \"ok\"}}}", &h), -1);
	assert_int_equal(sweep_history_parse("{\"version\": 1, \"nodes\": {}}", &h), 0);
	assert_int_equal(h.n, 0);
	sweep_history_free(&h);
	assert_int_equal(sweep_history_parse("{\"version\": 1, \"nodes\": {\"n1\": "
					     "{\"swept_at\": 7, \"result\": \"ok\", \"x\": 1}}}", &h), 0);
	assert_int_equal(h.n, 1);
	sweep_history_free(&h);
}

/* ---- a set's cross report ------------------------------------------------------------------- */

static const char report_bad[] =
	"some srun noise\n"
	"{\"version\": 1, \"tool\": \"efa-check\", \"mode\": \"cross\", \"node\": \"n1\", \"ok\": false,"
	" \"links\": [{\"a\": \"n1\", \"b\": \"n2\", \"ok\": true}, {\"a\": \"n1\", \"b\": \"n3\", \"ok\": false},"
	" {\"a\": \"n2\", \"b\": \"n3\", \"ok\": false}, {\"a\": \"n3\", \"b\": \"n4\", \"ok\": false},"
	" {\"a\": \"n4\", \"b\": \"n5\", \"ok\": false}, {\"a\": \"n1\", \"b\": \"n4\", \"ok\": true}],"
	" \"bad_nodes\": [\"n3\"], \"slow_nodes\": [\"n6\"],"
	" \"reason\": \"efa-check: n3: cross: 3/3 links failed (n1,n2,n4)\"}\n";

static void test_parse_cross(void **s)
{
	struct sweep_set_outcome o;
	char why[SWEEP_REASON_MAX];

	assert_int_equal(sweep_parse_cross(report_bad, &o), 0);
	assert_true(o.have_report);
	assert_false(o.report_ok);
	assert_int_equal(o.nbad, 1);
	assert_int_equal(o.nslow, 1);
	assert_int_equal(o.nlinks, 6);
	assert_int_equal(o.nlinks_failed, 4);
	assert_int_equal(sweep_node_result(&o, "n3", why, sizeof(why)), RESULT_BAD);
	assert_string_equal(why, "cross: 3/3 links failed (n1,n2,n4)");
	assert_int_equal(sweep_node_result(&o, "n6", why, sizeof(why)), RESULT_SLOW);
	/* a failed link to the bad node is the bad node's */
	assert_int_equal(sweep_node_result(&o, "n1", why, sizeof(why)), RESULT_OK);
	assert_int_equal(sweep_node_result(&o, "n2", why, sizeof(why)), RESULT_OK);
	/* a failed link between two good nodes is a link */
	assert_int_equal(sweep_node_result(&o, "n5", why, sizeof(why)), RESULT_LINK);
	assert_string_equal(why, "cross: link n4<->n5 failed");
	assert_int_equal(sweep_node_result(&o, "n4", why, sizeof(why)), RESULT_LINK);
	sweep_outcome_free(&o);
}

static void test_parse_cross_none(void **s)
{
	struct sweep_set_outcome o;
	char why[SWEEP_REASON_MAX];

	assert_int_equal(sweep_parse_cross("", &o), -1);
	assert_int_equal(sweep_parse_cross("srun: error: whatever\n", &o), -1);
	assert_int_equal(sweep_parse_cross("{\"mode\": \"local\", \"ok\": true}\n", &o), -1);
	assert_int_equal(sweep_parse_cross("{\"mode\": \"cross\", \"ok\": true, \"bad_nodes\": 3}", &o), -1);
	assert_int_equal(sweep_parse_cross("{\"mode\": \"cross\", \"ok\": true, \"links\": [],"
					   " \"bad_nodes\": []}", &o), 0);
	assert_int_equal(sweep_node_result(&o, "n1", why, sizeof(why)), RESULT_OK);
	sweep_outcome_free(&o);
	/* failed, naming no node or link: no verdict for its nodes */
	assert_int_equal(sweep_parse_cross("{\"mode\": \"cross\", \"ok\": false, \"links\": [],"
					   " \"bad_nodes\": [], \"reason\": \"efa-check: cross: nccl\"}",
					   &o), 0);
	assert_int_equal(sweep_node_result(&o, "n1", why, sizeof(why)), RESULT_ERROR);
	sweep_outcome_free(&o);
	memset(&o, 0, sizeof(o));
	assert_int_equal(sweep_node_result(&o, "n1", why, sizeof(why)), RESULT_ERROR);
}

/* ---- summary -------------------------------------------------------------------------------- */

static void test_exit_code(void **s)
{
	struct sweep_counts c = { .tested = 4, .ok = 4, .busy = 2, .not_reached = 1 };

	assert_int_equal(sweep_exit_code(&c, false), EXIT_HEALTHY);
	assert_int_equal(sweep_exit_code(&c, true), EXIT_INTERNAL);
	c.error = 1;
	assert_int_equal(sweep_exit_code(&c, false), EXIT_INTERNAL);
	c.bad = 1;
	assert_int_equal(sweep_exit_code(&c, true), EXIT_UNHEALTHY);
	c.bad = 0;
	c.link = 2;
	assert_int_equal(sweep_exit_code(&c, false), EXIT_UNHEALTHY);
}

static void test_count(void **s)
{
	struct sweep_node n[6];
	struct sweep_counts c;
	const enum sweep_result r[] = { RESULT_OK, RESULT_BAD, RESULT_LINK, RESULT_BUSY,
					RESULT_UNAVAILABLE, RESULT_NOT_REACHED };

	memset(n, 0, sizeof(n));
	for (int i = 0; i < 6; i++)
		n[i].result = r[i];
	sweep_count(n, 6, &c);
	assert_int_equal(c.tested, 3);
	assert_int_equal(c.ok, 1);
	assert_int_equal(c.bad, 1);
	assert_int_equal(c.link, 1);
	assert_int_equal(c.busy, 1);
	assert_int_equal(c.unavailable, 1);
	assert_int_equal(c.not_reached, 1);
}

static void test_metrics(void **s)
{
	struct sweep_history h = { 0 };
	struct sweep_counts c = { .tested = 2, .ok = 1, .bad = 1 };
	char buf[4096], tiny[64];

	sweep_history_set(&h, "n1", 1000.25, RESULT_OK, "");
	sweep_history_set(&h, "n2", 1000.25, RESULT_BAD, "cross: x");
	assert_true(sweep_metrics_format(&h, &c, 2000, 3.5, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "efa_check_sweep_node_last_swept_timestamp_seconds{node=\"n1\"} 1000.250\n"));
	assert_non_null(strstr(buf, "efa_check_sweep_node_ok{node=\"n1\"} 1\n"));
	assert_non_null(strstr(buf, "efa_check_sweep_node_ok{node=\"n2\"} 0\n"));
	assert_non_null(strstr(buf, "efa_check_sweep_node_result{node=\"n2\",result=\"bad\"} 1\n"));
	assert_non_null(strstr(buf, "efa_check_sweep_nodes{outcome=\"tested\"} 2\n"));
	assert_non_null(strstr(buf, "efa_check_sweep_duration_seconds 3.500\n"));
	assert_non_null(strstr(buf, "# TYPE efa_check_sweep_node_ok gauge\n"));
	assert_int_equal(sweep_metrics_format(&h, &c, 2000, 3.5, tiny, sizeof(tiny)), -1);
	sweep_history_free(&h);
}

/* ---- srun ----------------------------------------------------------------------------------- */

static bool has_arg(char **argv, const char *want)
{
	for (size_t i = 0; argv[i]; i++)
		if (!strcmp(argv[i], want))
			return true;
	return false;
}

static void test_srun_argv(void **s)
{
	struct sweep_srun_args a = {
		.srun = "/usr/bin/srun", .command = "/usr/sbin/efa-check", .nodelist = "n[1-4]",
		.nnodes = 4, .partition = "gpu", .qos = "scavenger", .reservation = "",
		.account = NULL, .job_name = "efa-check-sweep-1-1", .nice = 10000,
		.immediate_s = 5, .time_limit_s = 55, .cross_timeout_s = 30,
	};
	char **argv = sweep_srun_argv(&a);
	size_t n = 0;

	assert_non_null(argv);
	assert_string_equal(argv[0], "/usr/bin/srun");
	assert_true(has_arg(argv, "--nodelist=n[1-4]"));
	assert_true(has_arg(argv, "--nodes=4"));
	assert_true(has_arg(argv, "--ntasks-per-node=1"));
	assert_true(has_arg(argv, "--mpi=pmix"));
	assert_true(has_arg(argv, "--immediate=5"));
	assert_true(has_arg(argv, "--exclusive"));
	assert_true(has_arg(argv, "--nice=10000"));
	assert_true(has_arg(argv, "--time=1:00"));          /* at least a minute */
	assert_true(has_arg(argv, "--partition=gpu"));
	assert_true(has_arg(argv, "--qos=scavenger"));
	assert_false(has_arg(argv, "--reservation="));
	assert_true(has_arg(argv, "--job-name=efa-check-sweep-1-1"));
	while (argv[n])
		n++;
	assert_string_equal(argv[n - 4], "/usr/sbin/efa-check");
	assert_string_equal(argv[n - 3], "cross");
	assert_string_equal(argv[n - 2], "--json");
	assert_string_equal(argv[n - 1], "--timeout=30");
	sweep_argv_free(argv);
	a.time_limit_s = 125;
	argv = sweep_srun_argv(&a);
	assert_true(has_arg(argv, "--time=2:05"));
	sweep_argv_free(argv);
}

static void test_srun_busy(void **s)
{
	const char *tail = "srun: Job step aborted\nslurmstepd: error: *** STEP 3.0 ON n1 CANCELLED AT x "
			   "DUE TO PREEMPTION ***\nsrun: error: n4: task 3: Terminated\n";

	assert_non_null(sweep_srun_busy("srun: error: Unable to allocate resources: Requested nodes are busy\n"));
	assert_ptr_equal(sweep_srun_busy(tail), strstr(tail, "slurmstepd:"));
	assert_false(sweep_srun_busy("srun: error: Unable to allocate resources: Invalid qos specification\n"));
	assert_non_null(sweep_srun_busy("slurmstepd: error: *** STEP 12.0 ON n1 CANCELLED AT 2026-11-30T06:00:00 DUE TO PREEMPTION ***\n"));
	assert_false(sweep_srun_busy(""));
}

/* ---- configuration -------------------------------------------------------------------------- */

static void test_config(void **s)
{
	struct efa_config c;
	char err[CONFIG_ERR_MAX];

	assert_int_equal(config_parse_text(&c, "", "t", "n1", err, sizeof(err)), 0);
	assert_int_equal(c.sweep_set_size, 8);
	assert_int_equal(c.sweep_nice, 10000);
	assert_int_equal(c.sweep_timeout_s, 900);
	assert_true(c.sweep_yield);
	assert_string_equal(c.sweep_srun, "/usr/bin/srun");
	assert_int_equal(config_parse_text(&c,
		"SweepPartition=gpu SweepQOS=scavenger SweepReservation=maint.1 SweepAccount=ops\n"
		"SweepSetSize=16 SweepMaxNodes=64 SweepNice=500 SweepImmediate=2 SweepTimeout=300\n"
		"SweepYield=no SweepCommand=/opt/efa-check SweepSrun=/opt/slurm/bin/srun\n"
		"SweepMetricsFile=/var/lib/node_exporter/sweep.prom\n", "t", "n1", err, sizeof(err)), 0);
	assert_string_equal(c.sweep_partition, "gpu");
	assert_string_equal(c.sweep_qos, "scavenger");
	assert_string_equal(c.sweep_reservation, "maint.1");
	assert_string_equal(c.sweep_account, "ops");
	assert_int_equal(c.sweep_set_size, 16);
	assert_int_equal(c.sweep_max_nodes, 64);
	assert_int_equal(c.sweep_nice, 500);
	assert_int_equal(c.sweep_immediate_s, 2);
	assert_int_equal(c.sweep_timeout_s, 300);
	assert_false(c.sweep_yield);
	assert_string_equal(c.sweep_command, "/opt/efa-check");
	assert_string_equal(c.sweep_srun, "/opt/slurm/bin/srun");
	config_free(&c);
	assert_int_equal(config_parse_text(&c, "SweepSetSize=3\n", "t", "n1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t:1: SweepSetSize=3: out of range"));
	assert_int_equal(config_parse_text(&c, "SweepPartition=-x\n", "t", "n1", err, sizeof(err)), -1);
	assert_int_equal(config_parse_text(&c, "SweepQOS=a;b\n", "t", "n1", err, sizeof(err)), -1);
	assert_int_equal(config_parse_text(&c, "SweepCommand=efa-check\n", "t", "n1", err, sizeof(err)), -1);
	assert_int_equal(config_parse_text(&c, "SweepTimeout=5\n", "t", "n1", err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_avail),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_history_roundtrip),
		cmocka_unit_test(test_history_strict),
		cmocka_unit_test(test_parse_cross),
		cmocka_unit_test(test_parse_cross_none),
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_srun_argv),
		cmocka_unit_test(test_srun_busy),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
