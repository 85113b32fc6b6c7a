/*
 * spank_efa_check.c -- the SPANK entry points of spank_efa_check.so (model: pyxis_dispatch.c).
 *
 * Contexts (DESIGN §3):
 *   local (srun)            --efa-check[=local|cross] validated before allocation; cross runs
 *                           the cross-node check in local_user_init, before tasks launch
 *   allocator (sbatch/salloc) --efa-check validated; passed to the prolog as SPANK_EFA_CHECK
 *   remote (slurmstepd)     every step gets the node's EFA/NCCL environment; with
 *                           --efa-check the node-local check runs once per node (init_post_opt,
 *                           root), and a failure fails every task of the node in
 *                           task_init_privileged (the only hook that fails an srun step on 22.05)
 *                           and, when Slurm ignored that (an `optional` plugin), in task_init:
 *                           the task exits before the user's command is exec'd
 * The plugin never loads libfabric, CUDA or NCCL: it execs efa-check (fork/execve, clean
 * environment, deadline).
 */
#include "args.h"
#include "context.h"
#include "plugin.h"
#include "core/strutil.h"

#include <slurm/slurm_version.h>
#include <slurm/spank.h>
#include <string.h>

SPANK_PLUGIN(efa_check, 1);

#if SLURM_VERSION_NUMBER >= SLURM_VERSION_NUM(25, 5, 0)
/* Slurm 25.05+: what a failing slurm_spank_init of a `required` plugin means in slurmstepd.
 * Ours fails only on a plugstack.conf error (an unknown or bad argument). The default turns
 * that into a batch-launch failure that drains the node ("batch job complete failure"):
 * one plugstack typo would drain every node that starts a batch job. ESPANK_JOB_FAILURE
 * fails the job instead (SchedMD/slurm slurm-25-05-0-1: slurm/spank.h declares
 * slurm_spank_init_failure_mode; src/common/spank.c returns it for SPANK_INIT;
 * src/slurmd/slurmd/req.c _launch_job_fail kills the job for ESPANK_JOB_FAILURE and
 * src/slurmctld/proc_req.c does not drain for it). Slurm <= 24.11 has no such symbol. */
#include <slurm/slurm_errno.h>
int slurm_spank_init_failure_mode = ESPANK_JOB_FAILURE;
#endif

static struct plugin_context context;

static int option_cb(int val, const char *optarg, int remote);

static struct spank_option efa_check_option = {
	.name = "efa-check",
	.arginfo = "[local|cross]",
	.usage = "Check EFA on the step's nodes before the command runs: 'local' (default) runs "
		 "efa-check's node-local checks on every node, 'cross' tests RDMA between the "
		 "nodes; a failing node fails the step and is named. With sbatch/salloc: the "
		 "job's prolog checks every node.",
	.has_arg = 2,
	.val = 0,
	.cb = option_cb,
};

static int option_cb(int val, const char *optarg, int remote)
{
	const char *v = optarg && *optarg ? optarg : "local";

	str_printable(context.mode_arg, sizeof(context.mode_arg), v);
	if (!strcmp(v, "local")) {
		context.mode = MODE_LOCAL;
	} else if (!strcmp(v, "cross")) {
		context.mode = MODE_CROSS;
	} else {
		context.mode = MODE_INVALID;
		/* Remote side (slurmstepd): the value may not have been through srun's validation
		 * (_SLURM_SPANK_OPTION_efa_check_efa_check set by hand). A failing callback makes
		 * Slurm log the raw value (newlines, escapes), so accept it here, keep only its
		 * printable copy, and fail the step in task_init_privileged (remote.c). */
		if (remote)
			return 0;
		/* Local side: srun/sbatch/salloc print "Invalid --efa-check argument" and exit
		 * before allocating. */
		slurm_error("%s: invalid --efa-check value '%s': allowed values are local, cross "
			    "(--efa-check alone means local)", PLUGIN_PREFIX, context.mode_arg);
		return -1;
	}
	return 0;
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	spank_context_t sctx = spank_context();
	char err[512];
	spank_err_t rc;

	int args_rc;

	memset(&context, 0, sizeof(context));
	if (sctx != S_CTX_LOCAL && sctx != S_CTX_ALLOCATOR && sctx != S_CTX_REMOTE)
		return 0;
	args_rc = plugin_args_parse(&context.args, ac, av, err, sizeof(err));
	if (args_rc < 0)
		slurm_error("%s: plugstack.conf: %s", PLUGIN_PREFIX, err);
	context.args_ok = args_rc == 0;
	/* The spank_options symbol is ignored in allocator context: register explicitly. The
	 * option is registered even with bad arguments: under `optional` Slurm carries on, and a
	 * user who asked for --efa-check must then get a failed task, not an unchecked node. */
	rc = spank_option_register(sp, &efa_check_option);
	if (rc != ESPANK_SUCCESS) {
		slurm_error("%s: cannot register --efa-check: %s", PLUGIN_PREFIX, spank_strerror(rc));
		return -1;
	}
	return args_rc;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	if (!context.args_ok)
		return 0;
	switch (spank_context()) {
	case S_CTX_LOCAL:
	case S_CTX_ALLOCATOR:
		return local_init_post_opt(sp, &context);
	case S_CTX_REMOTE:
		return remote_init_post_opt(sp, &context);
	default:
		return 0;
	}
}

int slurm_spank_local_user_init(spank_t sp, int ac, char **av)
{
	if (!context.args_ok || spank_context() != S_CTX_LOCAL)
		return 0;
	return local_user_init(sp, &context);
}

int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	if (!context.args_ok)
		return remote_args_failed(sp, &context);
	return remote_task_init_privileged(sp, &context);
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	return remote_task_init(sp, &context);
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	memset(&context, 0, sizeof(context));
	return 0;
}
