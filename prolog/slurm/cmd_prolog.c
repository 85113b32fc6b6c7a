/*
 * cmd_prolog.c -- `efa-check prolog`: the Slurm Prolog (Prolog=, with PrologFlags=Alloc).
 *
 * Runs the local checks within Timeout (the drain RPC included), reusing a fresh ok result
 * (CacheTTL) unless the job asked for --efa-check (SPANK_EFA_CHECK in the environment);
 * concurrent prologs share one run (policy.h). On failure, per OnFail:
 *   drain-requeue  drain with "efa-check: <reason>", exit 1: Slurm requeues the job, and the
 *                  node keeps the precise reason (slurmctld only sets "Prolog error" on a node
 *                  that is not already drained);
 *   drain          drain, exit 0 (the job runs; the node takes no new jobs);
 *   log            only log.
 * When the drain could not be done (slurmctld down or hung, node unknown), the prolog exits 1
 * in every mode but log, so that Slurm itself takes the node out ("Prolog error").
 * No verdict (the checks could not run to the end: the worker could not start or crashed
 * twice, was unkillable, another run held the lock past the deadline): logged, never cached,
 * and the job starts (exit 0) -- unless OnInternal=drain, which treats it like a failure.
 * Other jobs on the node (a shared node, or `sbatch --efa-check` next to running jobs): when
 * the checks fail, what failed may be those jobs' doing -- a bandwidth floor, the slow-device
 * rule, the device-wide counters (issue 15 point 3). So before acting on a failure the prolog
 * asks slurmctld for the node's other jobs (policy_other_jobs; this job's own SLURM_JOB_ID
 * excepted) -- only then, so a passing prolog sends no RPC (SchedMD's advice: prologs should
 * not call into slurmctld) -- and when there are any, or slurmctld cannot say, it runs the
 * checks again without judging those (policy.h "unjudged"): only a failure of that run
 * drains. With no time left for it the failure is not judged and the job starts.
 * Every decision goes to syslog; --json prints the report, --verbose mirrors the log.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "slurm/drain.h"
#include "core/logging.h"
#include "slurm/policy.h"
#include "core/report.h"
#include "core/strutil.h"

#include <stdio.h>
#include <stdlib.h>

static bool job_asked_for_check(void)
{
	const char *v = getenv("SPANK_EFA_CHECK");

	return v && *v;
}

static const char *job_id(void)
{
	const char *v = getenv("SLURM_JOB_ID");

	return v && *v ? v : "-";
}

static int act_on_failure(const struct policy *p, const struct report *r)
{
	enum on_fail f = p->cfg->on_fail;
	bool out_of_service;

	if (f == ON_FAIL_LOG) {
		log_msg(LOG_WARNING, "node %s: job %s: unhealthy, OnFail=log: not draining: %s",
			p->o->node, job_id(), r->reason);
		return EXIT_HEALTHY;
	}
	out_of_service = policy_drain(p, r->reason);
	if (f == ON_FAIL_DRAIN_REQUEUE) {
		log_msg(LOG_NOTICE, "node %s: job %s: prolog fails so Slurm requeues the job",
			p->o->node, job_id());
		return EXIT_UNHEALTHY;
	}
	if (!out_of_service) {
		log_msg(LOG_ERR, "node %s: job %s: drain not done: prolog fails so Slurm drains the node",
			p->o->node, job_id());
		return EXIT_UNHEALTHY;
	}
	return EXIT_HEALTHY;
}

/* No verdict: never "healthy", but no drain either unless the site asked (OnInternal=drain):
 * a prolog exit status other than 0 makes Slurm drain the node ("Prolog error"). */
static int act_on_internal(const struct policy *p, const struct report *r)
{
	if (!p->cfg->drain_on_internal) {
		policy_internal(p, r);
		log_msg(LOG_ERR, "node %s: job %s: no check result, letting the job start", p->o->node,
			job_id());
		return EXIT_HEALTHY;
	}
	log_msg(LOG_ERR, "node %s: job %s: no verdict, draining (OnInternal=drain): %s", p->o->node,
		job_id(), r->reason);
	return act_on_failure(p, r);
}

/* This job's id from the prolog's environment (slurmd sets it), 0 when absent. */
static uint32_t own_job_id(void)
{
	long v;

	return parse_long(job_id(), 1, 0xfffffffdL, &v) ? 0 : (uint32_t)v;
}

/* The checks failed and other jobs may use the devices (p->unjudged set): run them again
 * without judging what such jobs move, into r. Returns -1 when that run failed too (the
 * caller acts on r), else the exit code. */
static int rejudge(struct policy *p, struct report *r)
{
	char first[sizeof(r->reason)];
	long first_ms = r->duration_ms;

	str_copy(first, sizeof(first), r->reason);
	if (policy_left_ms(p) - p->rpc_budget_ms < first_ms + 1000) {
		log_msg(LOG_WARNING, "node %s: job %s: failed, but %s and no time is left to check "
			"again without judging them: not draining: %s", p->o->node, job_id(),
			p->unjudged, first);
		return EXIT_HEALTHY;
	}
	log_msg(LOG_NOTICE, "node %s: job %s: failed (%s) with %s: checking again without judging "
		"bandwidth floors and device-wide counters", p->o->node, job_id(), first, p->unjudged);
	report_free(r);
	p->started_at = unix_now();   /* only a run from now on stands for this one */
	policy_obtain(p, 0, true, r);
	if (r->internal)
		return act_on_internal(p, r);
	if (report_ok(r)) {
		log_msg(LOG_NOTICE, "node %s: job %s: passes without judging them: not draining (first "
			"run: %s)", p->o->node, job_id(), first);
		return EXIT_HEALTHY;
	}
	return -1;
}

static int prolog_run(const struct cli_opts *o, const struct efa_config *cfg)
{
	struct policy p;
	struct report r;
	bool bypass = job_asked_for_check();
	char why[256];
	int rc;

	policy_init(&p, o, cfg, "prolog", cfg->timeout_s * 1000);
	log_msg(LOG_DEBUG, "node %s: job %s: prolog starts%s", o->node, job_id(),
		bypass ? " (job asked for --efa-check: cache bypassed)" : "");
	policy_obtain(&p, cfg->cache_ttl_s, bypass, &r);
	if (r.internal) {
		rc = act_on_internal(&p, &r);
	} else if (report_ok(&r)) {
		rc = EXIT_HEALTHY;
	} else {
		rc = -1;
		if (policy_other_jobs(&p, own_job_id(), why, sizeof(why)))
			rc = rejudge(&p, &r);
		if (rc < 0)
			rc = act_on_failure(&p, &r);
	}
	if (o->json)
		report_write_json(&r, stdout);
	report_free(&r);
	return rc;
}

int cmd_prolog(int argc, char **argv)
{
	return policy_main(argc, argv, "prolog", prolog_run);
}
