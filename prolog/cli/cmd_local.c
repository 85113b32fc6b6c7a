/*
 * cmd_local.c -- `efa-check local`: the node-local checks, reported, nothing changed.
 *
 * --shared-since EPOCH (the SPANK plugin, for `srun --efa-check`, issue 15 point 3): the run
 * goes through the prolog's one-run-per-node sharing (policy.h): under StateDir's lock, a
 * result that finished at or after EPOCH (the step's start, taken by slurmstepd) and was
 * computed from this configuration is reused instead of starting another run; else the checks
 * run once and the result is stored for the others (and the prolog's cache). No drain, no
 * resume. Exit 3 (no verdict) when another run held the lock past the deadline.
 *
 * Other jobs on the node (issue 15 point 3): the user's own step makes the node ALLOCATED, so
 * its state says nothing; slurmctld's job table does (node_jobs_rpc: running, suspended or
 * completing jobs on this node other than --own-job, the step's job). When there are any, or
 * slurmctld cannot say, the bandwidth floors and device-wide counters are measured and not
 * judged (policy.h "unjudged"): the report's note and the counters check say "not judged: N
 * other job(s) on this node", stderr says it as a note, and every other check is judged as
 * always (policy_other_jobs: asked only when the configuration has something other jobs
 * could make fail).
 */
#include "cli/cli.h"
#include "cli/watchdog.h"
#include "core/config.h"
#include "checks/engine.h"
#include "core/logging.h"
#include "core/report.h"
#include "core/strutil.h"
#include "slurm/policy.h"
#include "slurm/state.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_MIN_MS 1000
#define OPT_SHARED_SINCE 0x200
#define OPT_OWN_JOB 0x201
/* slurmstepd's clock and ours are the same host's: allow only a little skew into the future */
#define SINCE_FUTURE_MAX_S 5.0

static const struct option local_longopts[] = {
	{ "shared-since", required_argument, NULL, OPT_SHARED_SINCE },
	{ "own-job", required_argument, NULL, OPT_OWN_JOB },
	{ NULL, 0, NULL, 0 },
};

struct local_args {
	double since;        /* --shared-since, 0 = not given */
	uint32_t own_job;    /* --own-job, 0 = none */
};

static int local_opt(int opt, const char *arg, void *vctx)
{
	struct local_args *a = vctx;
	char *end;
	double v;
	long job;

	if (opt == OPT_OWN_JOB) {
		/* Slurm job ids are 32-bit, below NO_VAL (0xfffffffe) */
		if (parse_long(arg, 1, 0xfffffffdL, &job)) {
			cli_error("--own-job: not a Slurm job id: '%.40s'", arg);
			return -1;
		}
		a->own_job = (uint32_t)job;
		return 0;
	}
	if (opt != OPT_SHARED_SINCE)
		return -1;
	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v <= 0 || v > unix_now() + SINCE_FUTURE_MAX_S) {
		cli_error("--shared-since: not a Unix time up to now: '%.40s'", arg);
		return -1;
	}
	a->since = v;
	return 0;
}

/* A run shared with concurrent prologs and user-triggered checks (policy_obtain). */
static int local_shared(const struct cli_opts *o, const struct efa_config *cfg,
			const struct local_args *a)
{
	struct policy p;
	struct report r;
	enum result_source src;
	char why[256];
	int rc;

	log_open("local", o->verbose);
	policy_init(&p, o, cfg, "local", cfg->timeout_s * 1000);
	if (a->since < p.started_at)
		p.started_at = a->since;   /* a result finished after the step started stands for it */
	policy_other_jobs(&p, a->own_job, why, sizeof(why));
	src = policy_obtain(&p, 0, true, &r);
	rc = r.internal ? EXIT_INTERNAL : report_ok(&r) ? EXIT_HEALTHY : EXIT_UNHEALTHY;
	log_msg(LOG_INFO, "node %s: user-triggered check: %s result: %s", o->node,
		result_source_name(src), rc == EXIT_HEALTHY ? "healthy" : r.reason);
	cli_write_report(o, &r, stdout);
	if (rc != EXIT_HEALTHY)
		cli_error_reason(&r, rc == EXIT_INTERNAL ? "no verdict" : "check failed");
	else if (strstr(r.note, POLICY_UNJUDGED_NOTE))
		cli_error("note: %s", strstr(r.note, POLICY_UNJUDGED_NOTE));   /* the plugin shows it */
	report_free(&r);
	log_close();
	return rc;
}

int cmd_local(int argc, char **argv)
{
	struct cli_opts o;
	struct efa_config cfg;
	struct engine_opts eo;
	struct report r;
	int rc, timeout_ms;
	struct local_args a = { 0 };
	const struct cli_extra extra = {
		.longopts = local_longopts, .handle = local_opt, .ctx = &a,
		.usage = "  --shared-since EPOCH  share one run per node with concurrent prologs and\n"
			 "                        checks: reuse a result finished at or after EPOCH;\n"
			 "                        with other jobs on the node (slurmctld), bandwidth\n"
			 "                        floors and device-wide counters are not judged\n"
			 "  --own-job JOBID       with --shared-since: the job this check runs for\n"
			 "                        (not counted as another job)\n",
	};

	rc = cli_start(argc, argv, &extra, &o, &cfg);
	if (rc)
		return rc;
	if (a.since > 0) {
		rc = local_shared(&o, &cfg, &a);
		config_free(&cfg);
		return rc;
	}
	eo = (struct engine_opts){ .cfg = &cfg, .sysfs_root = o.sysfs_root };
	report_init(&r, "local", o.node);
	/* The deadline runs from process start: what reading the configuration took is spent. */
	timeout_ms = cfg.timeout_s * 1000 - watchdog_elapsed_ms();
	watchdog_phase("running the checks");
	rc = local_run(&eo, timeout_ms > LOCAL_MIN_MS ? timeout_ms : LOCAL_MIN_MS, &r);
	cli_write_report(&o, &r, stdout);
	if (rc != EXIT_HEALTHY)
		cli_error_reason(&r, "check failed");
	report_free(&r);
	config_free(&cfg);
	return rc;
}
