/*
 * policy.h -- what `efa-check prolog` and `efa-check health` share: getting a result (cached,
 * shared with concurrent runs, or a real run with one retry of transient failures), and
 * acting on it (drain per OnFail, resume own drains), all inside one deadline.
 *
 * Result sharing (StateDir): only a result computed from the same configuration text, instance
 * profile table and efa-check binary (its key, core/cachekey.h) is ever reused; a fresh ok result (younger than the TTL) is reused without a
 * lock. Otherwise the run takes the lock with a bounded wait; the holder re-reads the state
 * after acquiring it and uses any result that finished after this run started (it waited for
 * a concurrent run: 12 prologs at once run the check once, also when it failed) or a fresh ok
 * one; else it runs the checks, saves last-report.json (and MetricsFile) and unlocks.
 *
 * Light runs (p->light_only): the health check on a node with running jobs runs only the checks
 * that cannot disturb them (check.h "light"); it may reuse a fresh full result, but its own result
 * is not saved for others: the prolog's cache holds full runs only.
 *
 * Unjudged runs (p->unjudged): a user-triggered check next to other jobs runs every check but
 * judges no bandwidth floor and no device-wide counter; its result is shared under a key of
 * its own (see struct policy).
 *
 * Transient failures: a run is retried once (RetryTransient=yes, the default) when every failed
 * check is a "loopback" or "provider" check, or was marked transient by its module, and there is
 * time left for a second run as long as the first. Device, GPU, limits and hung checks are not
 * transient (a hung check has used the deadline). The report's note then says
 * "retried once: <first reason>" whether the second run passed or not.
 */
#ifndef EFA_CHECK_POLICY_H
#define EFA_CHECK_POLICY_H

#include "slurm/state.h"

#include <stdbool.h>
#include <stdint.h>

struct cli_opts;
struct efa_config;
struct report;

struct policy {
	const struct cli_opts *o;
	const struct efa_config *cfg;
	const char *mode;         /* "prolog" or "health" */
	int64_t t0_ms;            /* start, now_ms() clock */
	int64_t deadline_ms;      /* the whole run, RPCs included */
	int rpc_budget_ms;        /* kept free for the drain/resume RPC */
	double started_at;        /* start, Unix time */
	char key[CACHE_KEY_MAX];  /* what this run's result is computed from (cache_key_full) */
	/* non-NULL: only the light checks run (jobs run on the node), and why; such a result is
	 * never saved as last-report.json (a prolog must not reuse it) and never resumes a node */
	const char *light_only;
	/* non-NULL: a user-triggered run while other jobs may use the devices (cmd_local.c):
	 * bandwidth floors and device-wide counters are measured, not judged (check.h), and why.
	 * Its result is saved under the key with POLICY_UNJUDGED_SUFFIX: concurrent user-triggered
	 * runs share it, a prolog or health check never takes it for a full one. A full result
	 * that finished after this run started stands for it. */
	const char *unjudged;
	int flapping;             /* held drained as flapping at the start: 1, 0, -1 unknown */
};

#define POLICY_UNJUDGED_SUFFIX "+unjudged"
/* The start of an unjudged result's note, kept when another run shares it. */
#define POLICY_UNJUDGED_NOTE "bandwidth floors and device-wide counters not judged: "

/* How the result was obtained. */
enum result_source {
	RESULT_RAN = 0,           /* real run, saved */
	RESULT_CACHED,            /* fresh ok result reused */
	RESULT_SHARED,            /* result of a concurrent run we waited for */
	RESULT_NONE,              /* no result (lock wait ran out): r is an internal result */
};

/* Set up the deadline: total_ms for the whole run, with an RPC reserve carved out of it. */
/* main() of `efa-check prolog` and `health`: parse, open the log, load the configuration (a
 * configuration error is logged too: nobody reads a prolog's stderr) and run(), all cleaned up. */
int policy_main(int argc, char **argv, const char *mode,
		int (*run)(const struct cli_opts *o, const struct efa_config *cfg));

void policy_init(struct policy *p, const struct cli_opts *o, const struct efa_config *cfg,
		 const char *mode, int total_ms);

/* Remaining time to the deadline (>= 0). */
int policy_left_ms(const struct policy *p);

/* Obtain a result into r (report_init'ed here). cache_ttl_s: how old a reusable ok result may
 * be (0 = never reuse); bypass: ignore fresh results (the job asked). Returns the source. */
enum result_source policy_obtain(const struct policy *p, int cache_ttl_s, bool bypass,
				 struct report *r);

/* true when every failed check of r may be transient (see above). */
bool failure_is_transient(const struct report *r);

/* Drain the node per the drain rules, logging every decision. Returns true when the node
 * is now out of service (drained by this call, already drained, or DOWN). */
bool policy_drain(const struct policy *p, const char *reason);

/* A result with no verdict (r->internal): logged; drained only with OnInternal=drain.
 * Never resumes, never cached (policy_obtain does not save it). Returns true when the node
 * is now out of service. */
bool policy_internal(const struct policy *p, const struct report *r);

/* Resume the node if it is drained with an efa-check reason. Logs every decision. Returns
 * true when it was resumed by this call. */
bool policy_resume(const struct policy *p);

/* The health check passed on a node efa-check drained: resume it -- unless it was drained and
 * resumed FlapCount times within FlapWindow, then hold it drained as flapping (flap.h). */
void policy_resume_or_hold(const struct policy *p);

/* The node is in service (not drained) while the flap history says it was held: an admin
 * resumed it; the count starts again. */
void policy_flap_admin_check(const struct policy *p, bool drained);

const char *result_source_name(enum result_source s);

/* Whether jobs other than own_job (0 = none is ours) may be using this node's devices, asked
 * only when the configuration has something such jobs could make fail (MinLoopbackGbps, EFA
 * counters with a CounterMaxRate, MinDeviceFraction with OnSlow=drain; with OnSlow=log that
 * rule only names devices, so it costs no query alone): slurmctld's job table
 * (node_jobs_rpc, bounded). When there are any, or slurmctld cannot say, p->unjudged is set
 * to why (written into why[size]) and true returned. */
bool policy_other_jobs(struct policy *p, uint32_t own_job, char *why, size_t size);

#endif
