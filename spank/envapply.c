/*
 * envapply.c -- the EFA/NCCL environment of a step (remote context, init_post_opt, root).
 *
 * Source of the set: the env cache StateDir/env.<node> that `efa-check env` writes (read
 * without exec'ing when it is fresh: a regular file, not a symlink, owned by root or us, not
 * writable by group or others, younger than env_ttl and than the config file, computed with
 * the same config file), else `efa-check env --format spank` exec'd under a deadline (which
 * also refreshes the cache when run as root).
 *
 * Applying it: defaults with spank_setenv(overwrite=0) -- the user's own value wins and is
 * logged; EnvForce keys with overwrite=1. Warnings about the user's environment (envrules
 * lint) go to the user's stderr once per step (first task of node 0, see remote.c) and to
 * the slurmd log per node.
 *
 * Batch and extern steps get nothing: a batch script's environment is inherited by the srun
 * steps it starts, where it would count as the user's own value on every node of the step --
 * wrong on a node that differs from the batch host (e.g. FI_EFA_USE_DEVICE_RDMA=1 from a p4d
 * batch host would abort on a c5n node). Each srun step gets its node's set instead.
 */
#include "env/envrules.h"
#include "exec.h"
#include "plugin.h"
#include "core/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <slurm/spank.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ENV_EXEC_TIMEOUT_MS 10000
#define ENV_TEXT_MAX 65536

static void expand_state_dir(const struct plugin_context *ctx, char *out, size_t size)
{
	const char *p = ctx->args.state_dir;
	size_t n = 0;

	for (; *p && n + 1 < size; p++) {
		if (p[0] == '%' && p[1] == 'n') {
			size_t l = strlen(ctx->node);

			if (n + l + 1 >= size)
				break;
			memcpy(out + n, ctx->node, l);
			n += l;
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
}

/* The config path efa-check records in the cache: the file it loaded, "" when none. */
static void expected_config(const struct plugin_context *ctx, char *out, size_t size, time_t *mtime)
{
	struct stat st;

	*mtime = 0;
	out[0] = '\0';
	if (stat(ctx->args.config, &st) == 0) {
		str_copy(out, size, ctx->args.config);
		*mtime = st.st_mtime;
	}
}

static int read_cache(const struct plugin_context *ctx, struct env_set *s, char *why, size_t whylen)
{
	char dir[PLUGIN_PATH_MAX], path[PLUGIN_PATH_MAX + 300], cfg[PLUGIN_PATH_MAX], err[256];
	char *text = NULL;
	struct stat st;
	time_t cfg_mtime, now = time(NULL);
	ssize_t n;
	int fd, rc = -1;

	if (ctx->args.env_ttl_s == 0) {
		snprintf(why, whylen, "env_ttl=0");
		return -1;
	}
	expand_state_dir(ctx, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/env.%s", dir, ctx->node);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 022) || st.st_size <= 0 || st.st_size >= ENV_TEXT_MAX) {
		snprintf(why, whylen, "%s: not a root-owned, non-writable regular file", path);
		goto out;
	}
	expected_config(ctx, cfg, sizeof(cfg), &cfg_mtime);
	if (st.st_mtime > now + 5 || now - st.st_mtime > ctx->args.env_ttl_s || st.st_mtime < cfg_mtime) {
		snprintf(why, whylen, "%s: stale", path);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text)
		goto out;
	n = read(fd, text, (size_t)st.st_size);
	if (n != st.st_size) {
		snprintf(why, whylen, "%s: short read", path);
		goto out;
	}
	text[n] = '\0';
	if (envrules_parse_spank(text, s, err, sizeof(err)) < 0) {
		snprintf(why, whylen, "%s: %s", path, err);
		goto out;
	}
	if (strcmp(s->config, cfg)) {
		snprintf(why, whylen, "%s: computed with config '%s', not '%s'", path, s->config, cfg);
		goto out;
	}
	rc = 0;
out:
	free(text);
	close(fd);
	return rc;
}

static int exec_env(const struct plugin_context *ctx, struct env_set *s)
{
	const char *extra[] = { "--format", "spank" };
	char *argv[16], err[256], why[PLUGIN_REASON_MAX];
	struct exec_result r;
	int rc = -1;

	if (efa_check_argv(ctx, "env", extra, 2, argv, 16) < 0 ||
	    exec_run(argv, NULL, ENV_EXEC_TIMEOUT_MS, &r) < 0) {
		slurm_error("%s: cannot run %s env: %s", PLUGIN_PREFIX, ctx->args.efa_check, strerror(errno));
		return -1;
	}
	reason_from_stderr(r.err, why, sizeof(why));
	if (r.exec_errno)
		slurm_error("%s: cannot run %s: %s", PLUGIN_PREFIX, ctx->args.efa_check, strerror(r.exec_errno));
	else if (r.timed_out)
		slurm_error("%s: %s env did not finish within %d s", PLUGIN_PREFIX, ctx->args.efa_check,
			    ENV_EXEC_TIMEOUT_MS / 1000);
	else if (r.status != 0 && r.status != 1)
		slurm_error("%s: %s env failed (exit %d): %s", PLUGIN_PREFIX, ctx->args.efa_check, r.status, why);
	else if (envrules_parse_spank(r.out, s, err, sizeof(err)) < 0)
		slurm_error("%s: %s env: unreadable output: %s", PLUGIN_PREFIX, ctx->args.efa_check, err);
	else
		rc = 0;
	exec_free(&r);
	return rc;
}

static void lint_user_env(spank_t sp, struct plugin_context *ctx, const struct env_set *s)
{
	struct env_warning w[16];
	char **envp = NULL;
	size_t n;

	if (!ctx->args.lint || !s->have_facts || spank_get_item(sp, S_JOB_ENV, &envp) != ESPANK_SUCCESS)
		return;
	n = envrules_lint(s, envp, w, 16);
	for (size_t i = 0; i < n; i++) {
		slurm_info("%s: %s: warning: %s", PLUGIN_PREFIX, ctx->node, w[i].text);
		if (ctx->node_id == 0 && ctx->nwarnings < PLUGIN_WARNINGS_MAX)
			str_copy(ctx->warnings[ctx->nwarnings++], sizeof(ctx->warnings[0]), w[i].text);
	}
}

void env_apply(spank_t sp, struct plugin_context *ctx)
{
	struct env_set *s = calloc(1, sizeof(*s));
	char why[4096];
	int64_t t0 = now_ms();
	const char *source = "cache";

	if (!s || !ctx->node[0])
		goto out;
	if (read_cache(ctx, s, why, sizeof(why)) < 0) {
		slurm_debug("%s: env cache not used: %s", PLUGIN_PREFIX, why);
		source = "efa-check env";
		if (exec_env(ctx, s) < 0)
			goto out;
	}
	lint_user_env(sp, ctx, s);
	for (size_t i = 0; i < s->n; i++) {
		const struct env_entry *e = &s->e[i];
		spank_err_t rc = spank_setenv(sp, e->name, e->value, e->mode == ENV_FORCE);

		if (rc == ESPANK_ENV_EXISTS)
			slurm_info("%s: %s: keeping the user's %s (efa-check would set %s: %s)", PLUGIN_PREFIX,
				   ctx->node, e->name, e->value, e->why);
		else if (rc != ESPANK_SUCCESS)
			slurm_error("%s: cannot set %s: %s", PLUGIN_PREFIX, e->name, spank_strerror(rc));
	}
	slurm_debug("%s: %s: %zu variables from %s in %lld ms", PLUGIN_PREFIX, ctx->node, s->n, source,
		    (long long)(now_ms() - t0));
out:
	free(s);
}
