/*
 * test_drain.c -- the drain/resume rules: efa-check only touches its own drains, never an
 * admin's reason, never a DOWN node.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <slurm/slurm.h>
#include <string.h>

#include "slurm/drain.h"
#include "core/strutil.h"

static struct node_view node(uint32_t state, const char *reason)
{
	struct node_view n = { .found = true, .state = state };

	str_copy(n.reason, sizeof(n.reason), reason);
	return n;
}

static void test_reason_is_ours(void **s)
{
	assert_true(reason_is_ours("efa-check: loopback lo: hung"));
	assert_true(reason_is_ours("efa-check:x"));
	assert_false(reason_is_ours("efa-check loopback"));
	assert_false(reason_is_ours("NHC: efa-check: x"));
	assert_false(reason_is_ours("Prolog error"));
	assert_false(reason_is_ours(""));
	assert_false(reason_is_ours(NULL));
	assert_false(reason_is_ours("EFA-CHECK: upper case is someone else"));
}

static void test_drain_idle_node(void **s)
{
	struct node_view n = node(NODE_STATE_IDLE, "");

	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_APPLY);
	n = node(NODE_STATE_ALLOCATED, "");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_APPLY);
	n = node(NODE_STATE_MIXED, "");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_APPLY);
}

static void test_drain_keeps_admin_reason(void **s)
{
	struct node_view n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "maintenance by admin");

	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_SKIP_ADMIN);
	n = node(NODE_STATE_ALLOCATED | NODE_STATE_DRAIN, "Prolog error");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_SKIP_ADMIN);
	n = node(NODE_STATE_IDLE | NODE_STATE_FAIL, "NHC: gpu");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_SKIP_ADMIN);
	/* a reason without the DRAIN flag is someone's too */
	n = node(NODE_STATE_IDLE, "admin note");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_SKIP_ADMIN);
	/* drained without any reason: not ours */
	n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_SKIP_ADMIN);
}

static void test_drain_never_touches_down(void **s)
{
	struct node_view n = node(NODE_STATE_DOWN, "Not responding");

	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_SKIP_DOWN);
	n = node(NODE_STATE_DOWN | NODE_STATE_DRAIN, "efa-check: old");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_SKIP_DOWN);
	n = node(NODE_STATE_DOWN, "");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_SKIP_DOWN);
}

static void test_drain_own_reason(void **s)
{
	struct node_view n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "efa-check: a");

	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_NOTHING);
	/* a new failure updates our own reason */
	assert_int_equal(drain_decide(&n, "efa-check: b"), DRAIN_APPLY);
	/* Slurm 23.02+ appends its own reasons: " : Not responding" after ours is the same drain */
	n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "efa-check: a : Not responding");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_NOTHING);
	assert_int_equal(drain_decide(&n, "efa-check: b"), DRAIN_APPLY);
	/* ... but a longer reason of ours is not the same one */
	n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "efa-check: ab");
	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_APPLY);
}

static void test_drain_unknown_node(void **s)
{
	struct node_view n = { .found = false };

	assert_int_equal(drain_decide(&n, "efa-check: a"), DRAIN_SKIP_UNKNOWN);
	assert_int_equal(resume_decide(&n), DRAIN_SKIP_UNKNOWN);
}

static void test_resume_only_own(void **s)
{
	struct node_view n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "efa-check: loopback lo: x");

	assert_int_equal(resume_decide(&n), DRAIN_APPLY);
	n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "admin: bad DIMM");
	assert_int_equal(resume_decide(&n), DRAIN_SKIP_ADMIN);
	n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "Prolog error");
	assert_int_equal(resume_decide(&n), DRAIN_SKIP_ADMIN);
	n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "");
	assert_int_equal(resume_decide(&n), DRAIN_SKIP_ADMIN);
	n = node(NODE_STATE_IDLE, "");
	assert_int_equal(resume_decide(&n), DRAIN_NOTHING);
	n = node(NODE_STATE_DOWN | NODE_STATE_DRAIN, "efa-check: x");
	assert_int_equal(resume_decide(&n), DRAIN_SKIP_DOWN);
	/* Slurm 23.02+: slurmctld appended " : Not responding" to our drain; back up, it is ours */
	n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "efa-check: loopback lo: x : Not responding");
	assert_int_equal(resume_decide(&n), DRAIN_APPLY);
	n = node(NODE_STATE_DOWN | NODE_STATE_DRAIN, "efa-check: loopback lo: x : Not responding");
	assert_int_equal(resume_decide(&n), DRAIN_SKIP_DOWN);
	/* an admin's reason with a note appended stays the admin's */
	n = node(NODE_STATE_IDLE | NODE_STATE_DRAIN, "admin: bad DIMM : Not responding");
	assert_int_equal(resume_decide(&n), DRAIN_SKIP_ADMIN);
}

static void test_state_predicates(void **s)
{
	assert_true(node_is_down(NODE_STATE_DOWN | NODE_STATE_DRAIN));
	assert_false(node_is_down(NODE_STATE_IDLE | NODE_STATE_DRAIN));
	assert_true(node_is_drained(NODE_STATE_ALLOCATED | NODE_STATE_DRAIN));
	assert_false(node_is_drained(NODE_STATE_ALLOCATED));
	assert_non_null(drain_verdict_name(DRAIN_SKIP_ADMIN));
}

static job_info_t job(uint32_t id, uint32_t state, const char *nodes, uint32_t het)
{
	job_info_t j;

	memset(&j, 0, sizeof(j));
	j.job_id = id;
	j.job_state = state;
	j.nodes = (char *)nodes;
	j.het_job_id = het;
	return j;
}

/* Other jobs on a node (issue 15 point 3): what makes a user-triggered check leave bandwidth
 * floors and device-wide counters unjudged. */
static void test_other_jobs(void **s)
{
	uint32_t ids[2] = { 0 };
	job_info_t alone[] = {
		job(10, JOB_RUNNING, "n[1-4]", 0),           /* our own */
		job(11, JOB_RUNNING, "n[2-3]", 0),           /* elsewhere */
		job(12, JOB_PENDING, NULL, 0),
		job(13, JOB_COMPLETE, "n1", 0),              /* ended: its processes are gone */
		job(14, JOB_CANCELLED, "n[1,5]", 0),
	};
	job_info_t shared[] = {
		job(10, JOB_RUNNING, "n[1-4]", 0),
		job(20, JOB_RUNNING, "n[1,7]", 0),
		job(21, JOB_SUSPENDED, "n1", 0),             /* its memory and contexts stay */
		job(22, JOB_COMPLETE | JOB_COMPLETING, "n[0-1]", 0),   /* epilog: may still run */
		job(23, JOB_RUNNING | JOB_CONFIGURING, "n1", 0),
		job(24, JOB_RUNNING, "n10", 0),              /* n10 is not n1 */
	};
	job_info_t het[] = {
		job(30, JOB_RUNNING, "n1", 30),              /* our own: leader of a hetjob */
		job(31, JOB_RUNNING, "n1", 30),              /* its other component */
		job(32, JOB_RUNNING, "n1", NO_VAL),
	};

	assert_int_equal(node_other_jobs(alone, 5, "n1", 10, ids, 2), 0);
	assert_int_equal(node_other_jobs(shared, 6, "n1", 10, ids, 2), 4);
	assert_int_equal(ids[0], 20);
	assert_int_equal(ids[1], 21);
	/* without knowing which job is ours, every running job is another's */
	assert_int_equal(node_other_jobs(alone, 5, "n1", 0, ids, 2), 1);
	assert_int_equal(node_other_jobs(het, 3, "n1", 30, ids, 2), 1);
	assert_int_equal(ids[0], 32);
	assert_int_equal(node_other_jobs(het, 3, "n1", 32, ids, 2), 2);
	assert_int_equal(node_other_jobs(shared, 0, "n1", 10, ids, 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_is_ours),
		cmocka_unit_test(test_drain_idle_node),
		cmocka_unit_test(test_drain_keeps_admin_reason),
		cmocka_unit_test(test_drain_never_touches_down),
		cmocka_unit_test(test_drain_own_reason),
		cmocka_unit_test(test_drain_unknown_node),
		cmocka_unit_test(test_resume_only_own),
		cmocka_unit_test(test_state_predicates),
		cmocka_unit_test(test_other_jobs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
