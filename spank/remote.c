/*
 * remote.c -- slurmstepd (remote context): the step's environment, and the once-per-node
 * local check for --efa-check (model: pyxis_slurmstepd.c).
 *
 * init_post_opt runs once per node per step, as root, before slurmstepd forks the tasks.
 * The check runs there and its result stays in the context; every task's
 * task_init_privileged (a forked child) returns -1 on a failing node, which on Slurm 22.05
 * is what fails an srun step (a user_init failure does not reach srun before 23.11).
 * Batch and extern steps are never checked (and get no environment: see envapply.c).
 */
#include "exec.h"
#include "plugin.h"
#include "core/strutil.h"

#include <errno.h>
#include <stdarg.h>
#include <slurm/slurm.h>
#include <slurm/spank.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* slurmstepd's own SLURMD_NODENAME (set by slurmstepd for itself, not the job's copy the user
 * could influence), else the short host name. */
static void node_name(struct plugin_context *ctx)
{
	const char *env = getenv("SLURMD_NODENAME");
	char *dot;

	if (env && node_name_valid(env) && str_copy(ctx->node, sizeof(ctx->node), env))
		return;
	if (gethostname(ctx->node, sizeof(ctx->node) - 1) < 0)
		ctx->node[0] = '\0';
	ctx->node[sizeof(ctx->node) - 1] = '\0';
	dot = strchr(ctx->node, '.');
	if (dot)
		*dot = '\0';
	if (!node_name_valid(ctx->node))
		ctx->node[0] = '\0';
}

static void fail(struct plugin_context *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct plugin_context *ctx, const char *fmt, ...)
{
	va_list ap;

	ctx->check_failed = true;
	va_start(ap, fmt);
	vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
	va_end(ap);
}

static bool checked_step(uint32_t step_id)
{
	return step_id != SLURM_BATCH_SCRIPT && step_id != SLURM_EXTERN_CONT;
}

static void run_local_check(struct plugin_context *ctx)
{
	char *argv[16];
	struct exec_result r;
	int64_t t0 = now_ms();

	ctx->check_done = true;
	if (efa_check_argv(ctx, "local", NULL, 0, argv, 16) < 0 ||
	    exec_run(argv, NULL, ctx->args.timeout_s * 1000, &r) < 0) {
		fail(ctx, "cannot run %s: %s", ctx->args.efa_check,
			 strerror(errno));
		return;
	}
	if (r.exec_errno) {
		fail(ctx, "cannot run %s: %s", ctx->args.efa_check,
			 strerror(r.exec_errno));
	} else if (r.timed_out) {
		fail(ctx, "node check did not finish within %d s "
			 "(killed)", ctx->args.timeout_s);
	} else if (r.status != 0) {
		char why[PLUGIN_REASON_MAX];

		ctx->check_failed = true;
		reason_from_stderr(r.err, why, sizeof(why));
		if (r.status == 1)
			fail(ctx, "%s", why[0] ? why : "node check failed");
		else if (r.status == 2)
			fail(ctx, "configuration error: %s",
				 why[0] ? why : "efa-check exit 2");
		else
			fail(ctx, "check could not complete (exit %d)%s%s",
				 r.status, why[0] ? ": " : "", why);
	}
	slurm_info("%s: job %u step %u node %s: local check %s in %lld ms%s%s", PLUGIN_PREFIX,
		   ctx->job_id, ctx->step_id, ctx->node, ctx->check_failed ? "FAILED" : "passed",
		   (long long)(now_ms() - t0), ctx->check_failed ? ": " : "", ctx->check_failed ? ctx->reason : "");
	exec_free(&r);
}

int remote_init_post_opt(spank_t sp, struct plugin_context *ctx)
{
	if (spank_get_item(sp, S_JOB_ID, &ctx->job_id) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_STEPID, &ctx->step_id) != ESPANK_SUCCESS) {
		slurm_error("%s: cannot get the job and step id", PLUGIN_PREFIX);
		return 0;   /* the environment is best effort; a check below fails closed */
	}
	if (spank_get_item(sp, S_JOB_NODEID, &ctx->node_id) != ESPANK_SUCCESS)
		ctx->node_id = 0;
	node_name(ctx);

	if (checked_step(ctx->step_id) && ctx->args.env == ENV_AUTO)
		env_apply(sp, ctx);

	if (!checked_step(ctx->step_id) || ctx->mode == MODE_NONE)
		return 0;
	if (ctx->mode == MODE_INVALID) {
		fail(ctx, "invalid --efa-check value '%s'", ctx->mode_arg);
		return 0;
	}
	if (ctx->mode == MODE_CROSS)
		return 0;   /* checked by srun before launch (local.c) */
	if (!ctx->node[0]) {
		fail(ctx, "cannot tell this node's name");
		return 0;
	}
	run_local_check(ctx);
	return 0;
}

int remote_task_init_privileged(spank_t sp, struct plugin_context *ctx)
{
	int task_id = 0;
	bool first = spank_get_item(sp, S_TASK_ID, &task_id) != ESPANK_SUCCESS || task_id == 0;

	/* This runs in the task's child process, whose stderr reaches srun: print here what
	 * the user must see, once per node (first task). */
	if (first)
		for (int i = 0; i < ctx->nwarnings; i++)
			slurm_spank_log("%s: warning: %s", PLUGIN_PREFIX, ctx->warnings[i]);
	if (!ctx->check_failed)
		return 0;
	/* Every task of a failing node fails: the user's command never runs here. */
	if (first)
		slurm_spank_log("%s: %s: %s", PLUGIN_PREFIX, ctx->node[0] ? ctx->node : "?", ctx->reason);
	return -1;
}
