/*
 * local.c -- srun (local context) and sbatch/salloc (allocator context) (model: pyxis_srun.c).
 *
 * sbatch/salloc --efa-check[=MODE]: spank_job_control_setenv("EFA_CHECK", MODE) so the job's
 * Prolog (efa-check prolog) sees SPANK_EFA_CHECK and checks every node afresh. srun inherits
 * the option inside the job like every SPANK option, so its steps are checked too.
 *
 * srun --efa-check=cross: the cross-node check runs from srun after the step's allocation
 * exists and before its tasks launch (local_user_init): a nested
 *     srun --jobid=J --overlap --mpi=pmix -N<n> --ntasks-per-node=1 efa-check cross
 * under a deadline; on failure the bad nodes are printed and srun fails before the user's
 * command starts anywhere. The verdict also goes to every node of the step in its environment
 * (CROSS_RESULT_ENV, "<job>.<step>:ok|failed"): srun merges its own environ into the step's
 * after local_user_init (SchedMD/slurm src/srun/libsrun/srun_job.c pre_launch_srun_job,
 * 22.05; src/srun/srun_job.c 23.11..25.05: env_array_merge(&job->env, environ)). Under an
 * `optional` plugin srun ignores the -1 and launches anyway; the nodes then fail every task
 * on anything but "ok" for their step (remote.c), so the command runs nowhere.
 */
#include "exec.h"
#include "plugin.h"
#include "core/strutil.h"

#include <errno.h>
#include <slurm/spank.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *mode_name(enum check_mode m)
{
	return m == MODE_CROSS ? "cross" : "local";
}

int local_init_post_opt(spank_t sp, struct plugin_context *ctx)
{
	spank_err_t rc;

	if (ctx->mode == MODE_NONE)
		return 0;
	if (ctx->mode == MODE_INVALID)
		return -1;
	if (spank_context() != S_CTX_ALLOCATOR)
		return 0;
	rc = spank_job_control_setenv(sp, "EFA_CHECK", mode_name(ctx->mode), 1);
	if (rc != ESPANK_SUCCESS) {
		slurm_error("%s: cannot pass --efa-check to the prolog: %s", PLUGIN_PREFIX, spank_strerror(rc));
		return -1;
	}
	return 0;
}

/* The cross-node check, from srun, before the tasks launch. */
static int run_cross(spank_t sp, struct plugin_context *ctx)
{
	char jobarg[64], nodesarg[64], *argv[24], why[PLUGIN_REASON_MAX];
	char *envp[8];
	const char *conf = getenv("SLURM_CONF");
	char confenv[PLUGIN_PATH_MAX + 16];
	uint32_t job_id = 0, nnodes = 0;
	struct exec_result r;
	size_t n = 0, e = 0;
	int rc = -1;

	if (spank_get_item(sp, S_JOB_ID, &job_id) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_NNODES, &nnodes) != ESPANK_SUCCESS || !nnodes) {
		slurm_error("%s: --efa-check=cross: cannot get the job id and node count", PLUGIN_PREFIX);
		return -1;
	}
	snprintf(jobarg, sizeof(jobarg), "--jobid=%u", job_id);
	snprintf(nodesarg, sizeof(nodesarg), "--nodes=%u", nnodes);
	argv[n++] = ctx->args.srun;
	argv[n++] = jobarg;
	argv[n++] = nodesarg;
	argv[n++] = (char *)"--ntasks-per-node=1";
	argv[n++] = (char *)"--overlap";
	argv[n++] = (char *)"--mpi=pmix";
	argv[n++] = (char *)"--quiet";
	argv[n++] = ctx->args.efa_check;
	argv[n++] = (char *)"cross";
	if (ctx->args.config_given) {
		argv[n++] = (char *)"--config";
		argv[n++] = ctx->args.config;
	}
	argv[n] = NULL;
	envp[e++] = (char *)EXEC_CLEAN_PATH;
	if (conf && conf[0] == '/' && snprintf(confenv, sizeof(confenv), "SLURM_CONF=%s", conf) < (int)sizeof(confenv))
		envp[e++] = confenv;
	envp[e] = NULL;

	if (exec_run(argv, envp, ctx->args.timeout_s * 1000, &r) < 0) {
		slurm_error("%s: cannot run %s: %s", PLUGIN_PREFIX, ctx->args.srun, strerror(errno));
		return -1;
	}
	reason_from_stderr(r.err, why, sizeof(why));
	if (r.exec_errno)
		slurm_error("%s: cannot run %s: %s", PLUGIN_PREFIX, ctx->args.srun, strerror(r.exec_errno));
	else if (r.timed_out)
		slurm_error("%s: cross-node check did not finish within %d s", PLUGIN_PREFIX, ctx->args.timeout_s);
	else if (r.status != 0)
		slurm_error("%s: cross-node check failed (exit %d): %s", PLUGIN_PREFIX, r.status,
			    why[0] ? why : "no reason given");
	else
		rc = 0;
	exec_free(&r);
	return rc;
}

int local_user_init(spank_t sp, struct plugin_context *ctx)
{
	uint32_t job_id = 0, step_id = 0;
	char verdict[64];
	int rc;

	if (ctx->mode != MODE_CROSS)
		return 0;
	rc = run_cross(sp, ctx);
	if (spank_get_item(sp, S_JOB_ID, &job_id) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_STEPID, &step_id) != ESPANK_SUCCESS)
		return -1;   /* no verdict for the nodes: they fail closed */
	snprintf(verdict, sizeof(verdict), "%u.%u:%s", job_id, step_id, rc == 0 ? "ok" : "failed");
	/* spank_setenv is remote-only (plugstack.c spank_env_access_check): srun's own environ
	 * is what reaches the step. */
	if (setenv(CROSS_RESULT_ENV, verdict, 1) < 0)
		return -1;
	return rc;
}
