/*
 * remote.c -- slurmstepd (remote context): the step's environment, and the once-per-node
 * local check for --efa-check (model: pyxis_slurmstepd.c).
 *
 * init_post_opt runs once per node per step, as root, before slurmstepd forks the tasks.
 * The check runs there and its result stays in the context; every task's
 * task_init_privileged (a forked child) returns -1 on a failing node, which on Slurm 22.05
 * is what fails an srun step (a user_init failure does not reach srun before 23.11).
 * Batch and extern steps are never checked (and get no environment: see envapply.c).
 *
 * `optional` plugins: Slurm ignores their failures (SchedMD/slurm src/common/plugstack.c,
 * _do_call_stack, 22.05; src/common/spank.c from 23.11 to 25.05: a non-zero rc only counts
 * "if (rc && sp->required)", else it is reset to SLURM_SUCCESS), so the -1 of
 * task_init_privileged does not stop the task there. Whichever the admin chose, a user who
 * asked for --efa-check must not have the command run on a failing node: task_init, the last
 * hook in the task's child before execve (src/slurmd/slurmstepd/task.c, exec_task, calls
 * spank_user_task and _exit(1)s on its failure, 22.05..25.05), exits the child with status 1
 * itself. Under `required` it is never reached on a failing node: mgr.c's
 * _pre_task_child_privileged fails on the -1 of task_init_privileged and the child _exit(1)s
 * first. Without --efa-check neither hook does anything.
 */
#include "exec.h"
#include "plugin.h"
#include "core/config.h"
#include "core/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <slurm/slurm.h>
#include <slurm/spank.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* `srun --efa-check` (local mode) is the user's to repeat: at most this many root efa-check
 * runs per node at once (issue 15 point 3: 40 loops of overlapping steps gave 80 root
 * processes, ~3 GB). Beyond it a step waits for a slot within its deadline; the runs that do
 * start share one check under StateDir's lock (efa-check local --shared-since: a result that
 * finished after the step started is reused), so waiting steps mostly reuse a result. */
#define STEP_CHECK_SLOTS 2
#define SLOT_POLL_MS 50

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

/* StateDir of the plugin's configuration for this node, opened without following a final
 * symlink and vetted (root-owned, not writable by others); efa-check vets its parents on every
 * run. -1 when there is none yet (efa-check creates it on its first run) or it is unusable. */
static int open_state_dir(const struct plugin_context *ctx)
{
	struct efa_config *cfg = calloc(1, sizeof(*cfg));
	char err[CONFIG_ERR_MAX];
	struct stat st;
	int fd = -1;

	if (!cfg)
		return -1;
	if (config_load(cfg, ctx->args.config, ctx->node, ctx->args.config_given, err, sizeof(err)) == 0)
		fd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022))) {
		close(fd);
		fd = -1;
	}
	config_free(cfg);
	free(cfg);
	return fd;
}

/* One of STEP_CHECK_SLOTS flock()ed files in StateDir (step-slot.N), waiting at most until
 * deadline_ms. Returns the fd (closing it frees the slot; close-on-exec, and exec.c closes
 * every other fd in the child), -2 when every slot stayed taken, -1 when there is no usable
 * StateDir (then the run goes without a slot: efa-check's own lock still serialises it). */
static int take_slot(const struct plugin_context *ctx, int64_t deadline_ms)
{
	int dirfd = open_state_dir(ctx), fd = -1;

	if (dirfd < 0)
		return -1;
	for (;;) {
		for (int i = 0; i < STEP_CHECK_SLOTS && fd < 0; i++) {
			char name[32];

			snprintf(name, sizeof(name), "step-slot.%d", i);
			fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
			if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
				close(fd);
				fd = -1;
			}
		}
		if (fd >= 0 || now_ms() >= deadline_ms)
			break;
		usleep(SLOT_POLL_MS * 1000);
	}
	close(dirfd);
	return fd >= 0 ? fd : -2;
}

/* "efa-check: note: ..." on a passing check's stderr (what it did not judge, and why). */
static void note_from_stderr(struct plugin_context *ctx, const char *err)
{
	static const char prefix[] = PLUGIN_PREFIX ": note: ";
	const char *p = err ? strstr(err, prefix) : NULL;
	char q[sizeof(ctx->note)];
	size_t n;

	if (!p)
		return;
	p += sizeof(prefix) - 1;
	n = strcspn(p, "\n");
	if (n >= sizeof(q))
		n = sizeof(q) - 1;
	memcpy(q, p, n);
	q[n] = '\0';
	str_printable(ctx->note, sizeof(ctx->note), q);
}

/* The check asks slurmctld which other jobs run on the node (efa-check local): libslurm needs
 * slurm.conf. slurmstepd's own environment has SLURM_CONF: slurmd sets it for itself (Slurm
 * 22.05..25.05 src/slurmd/slurmd/slurmd.c: setenv("SLURM_CONF", conf->conffile, 1), also the
 * configless cache) and execs slurmstepd with it; the job's environment (spank_getenv) is
 * the user's and is not read here. */
static void step_env(char **envp, char *confenv, size_t size)
{
	const char *conf = getenv("SLURM_CONF");
	size_t e = 0;

	envp[e++] = (char *)EXEC_CLEAN_PATH;
	if (conf && conf[0] == '/' && !strchr(conf, '\n') &&
	    snprintf(confenv, size, "SLURM_CONF=%s", conf) < (int)size)
		envp[e++] = confenv;
	envp[e] = NULL;
}

static void run_local_check(struct plugin_context *ctx)
{
	char *argv[16], since[32], job[16], *envp[3], confenv[PLUGIN_PATH_MAX + 16];
	const char *extra[4] = { "--shared-since", since, "--own-job", job };
	struct exec_result r;
	struct timeval tv;
	int64_t t0 = now_ms(), deadline = t0 + (int64_t)ctx->args.timeout_s * 1000;
	int slot, left_ms;

	ctx->check_done = true;
	gettimeofday(&tv, NULL);
	snprintf(since, sizeof(since), "%lld.%06ld", (long long)tv.tv_sec, (long)tv.tv_usec);
	snprintf(job, sizeof(job), "%u", ctx->job_id);
	step_env(envp, confenv, sizeof(confenv));
	slot = take_slot(ctx, deadline - 1000);
	if (slot == -2) {
		fail(ctx, "busy: %d checks already running on this node, no verdict within %d s "
			 "(not a node fault)", STEP_CHECK_SLOTS, ctx->args.timeout_s);
		return;
	}
	left_ms = (int)(deadline - now_ms());
	if (efa_check_argv(ctx, "local", extra, 4, argv, 16) < 0 ||
	    exec_run(argv, envp, left_ms > 1000 ? left_ms : 1000, &r) < 0) {
		fail(ctx, "cannot run %s: %s", ctx->args.efa_check,
			 strerror(errno));
		if (slot >= 0)
			close(slot);
		return;
	}
	if (slot >= 0)
		close(slot);
	if (r.exec_errno) {
		fail(ctx, "cannot run %s: %s", ctx->args.efa_check,
			 strerror(r.exec_errno));
	} else if (r.unkillable) {
		fail(ctx, "node check unkillable in %s local after %d s (abandoned)",
			 ctx->args.efa_check, ctx->args.timeout_s);
	} else if (r.timed_out) {
		fail(ctx, "node check did not finish within %d s "
			 "(killed)", ctx->args.timeout_s);
	} else if (r.status == 0) {
		note_from_stderr(ctx, r.err);
	} else {
		char why[PLUGIN_REASON_MAX];

		ctx->check_failed = true;
		reason_from_stderr(r.err, why, sizeof(why));
		if (r.status == 1)
			fail(ctx, "%s", why[0] ? why : "node check failed");
		else if (r.status == 2)
			fail(ctx, "configuration error: %s",
				 why[0] ? why : "efa-check exit 2");
		else if (r.status == 3)
			fail(ctx, "no verdict (not a node fault)%s%s", why[0] ? ": " : "", why);
		else
			fail(ctx, "check could not complete (exit %d)%s%s",
				 r.status, why[0] ? ": " : "", why);
	}
	slurm_info("%s: job %u step %u node %s: local check %s in %lld ms%s%s", PLUGIN_PREFIX,
		   ctx->job_id, ctx->step_id, ctx->node, ctx->check_failed ? "FAILED" : "passed",
		   (long long)(now_ms() - t0), ctx->check_failed || ctx->note[0] ? ": " : "",
		   ctx->check_failed ? ctx->reason : ctx->note);
	exec_free(&r);
}

/* srun ran the cross check before launch and left its verdict for this step in the step's
 * environment (local.c). Anything but "ok" for this very step fails the node's tasks: under
 * `optional` srun launches the step even when the check failed. */
static void cross_verdict(spank_t sp, struct plugin_context *ctx)
{
	char want[64], got[128];

	snprintf(want, sizeof(want), "%u.%u:ok", ctx->job_id, ctx->step_id);
	if (spank_getenv(sp, CROSS_RESULT_ENV, got, sizeof(got)) != ESPANK_SUCCESS)
		fail(ctx, "no cross-node check result for this step");
	else if (strcmp(got, want))
		fail(ctx, "the cross-node check failed");
	spank_unsetenv(sp, CROSS_RESULT_ENV);
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
	if (ctx->args.state_dir_ignored && ctx->node_id == 0)
		slurm_info("%s: plugstack.conf: state_dir= is ignored: the env cache is read from "
			   "StateDir= of %s", PLUGIN_PREFIX, ctx->args.config);

	if (checked_step(ctx->step_id) && ctx->args.env == ENV_AUTO)
		env_apply(sp, ctx);

	if (!checked_step(ctx->step_id) || ctx->mode == MODE_NONE)
		return 0;
	if (ctx->mode == MODE_INVALID) {
		fail(ctx, "invalid --efa-check value '%s'", ctx->mode_arg);
		return 0;
	}
	if (ctx->mode == MODE_CROSS) {
		cross_verdict(sp, ctx);   /* checked by srun before launch (local.c) */
		return 0;
	}
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
	if (first && ctx->note[0] && !ctx->check_failed)
		slurm_spank_log("%s: %s: note: %s", PLUGIN_PREFIX, ctx->node, ctx->note);
	if (!ctx->check_failed)
		return 0;
	/* Every task of a failing node fails: the user's command never runs here. */
	if (first)
		slurm_spank_log("%s: %s: %s", PLUGIN_PREFIX, ctx->node[0] ? ctx->node : "?", ctx->reason);
	return -1;
}

int remote_task_init(spank_t sp, struct plugin_context *ctx)
{
	if (!ctx->check_failed)
		return 0;
	/* Reached only when Slurm ignored task_init_privileged's -1 (an `optional` plugin): the
	 * user's command must not run on this node. This is the task's child, just before
	 * execve: exit it as Slurm does when a required plugin fails here. */
	_exit(1);
}

int remote_args_failed(spank_t sp, struct plugin_context *ctx)
{
	if (ctx->mode == MODE_NONE)
		return 0;
	if (!ctx->node[0])
		node_name(ctx);
	fail(ctx, "the plugin's plugstack.conf arguments were rejected (see the slurmd log): "
		 "--efa-check cannot run");
	return remote_task_init_privileged(sp, ctx);
}
