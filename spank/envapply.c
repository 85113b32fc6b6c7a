/*
 * envapply.c -- the EFA/NCCL environment of a step (remote context, init_post_opt, root).
 *
 * Source of the set: the env cache StateDir/env.<node> that `efa-check env` writes, StateDir
 * read from the configuration the plugin is given (config=, efa-check's own parser: one
 * setting, one source). It is used without exec'ing when it is fresh: a regular file, not a
 * symlink, owned by root or us, not writable by group or others, younger than env_ttl, newer
 * than the efa_check= binary (ctime), computed with the same config file and the same inputs
 * key (configuration text and instance profile table, core/cachekey.h). Else
 * `efa-check env --format spank` is exec'd under a deadline (which also refreshes the cache
 * when run as root).
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
#include "core/cachekey.h"
#include "core/config.h"
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

/* The env cache's place and key come from the configuration the plugin was given, read with
 * efa-check's own parser: StateDir= has one source, so the plugin and `efa-check env` cannot
 * disagree about where the cache is, and a changed configuration (or instance profile table)
 * changes the key, so an older set is never applied. */
static int cache_location(const struct plugin_context *ctx, char *dir, size_t dirlen, char *key,
			  size_t keylen, char *cfgpath, size_t cfglen, char *why, size_t whylen)
{
	struct efa_config *cfg = calloc(1, sizeof(*cfg));
	char err[CONFIG_ERR_MAX];
	int rc = -1;

	if (!cfg) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (config_load(cfg, ctx->args.config, ctx->node, ctx->args.config_given, err, sizeof(err)) < 0) {
		snprintf(why, whylen, "%s", err);
		goto out;
	}
	if (!str_copy(dir, dirlen, cfg->state_dir) || !str_copy(cfgpath, cfglen, cfg->path) ||
	    cache_key_inputs(cfg, key, keylen) < 0) {
		snprintf(why, whylen, "StateDir or key too long");
		goto out;
	}
	rc = 0;
out:
	config_free(cfg);
	free(cfg);
	return rc;
}

static int read_cache(const struct plugin_context *ctx, struct env_set *s, char *why, size_t whylen)
{
	char dir[CONFIG_PATH_MAX], path[CONFIG_PATH_MAX + 300], cfg[CONFIG_PATH_MAX], err[256];
	char key[CACHE_KEY_MAX];
	char *text = NULL;
	struct stat st, bin;
	time_t now = time(NULL);
	ssize_t n;
	int fd, rc = -1;

	if (ctx->args.env_ttl_s == 0) {
		snprintf(why, whylen, "env_ttl=0");
		return -1;
	}
	if (cache_location(ctx, dir, sizeof(dir), key, sizeof(key), cfg, sizeof(cfg), why, whylen) < 0)
		return -1;
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
	if (st.st_mtime > now + 5 || now - st.st_mtime > ctx->args.env_ttl_s) {
		snprintf(why, whylen, "%s: stale", path);
		goto out;
	}
	/* Written by the binary installed now: a binary replaced since (its ctime, which an
	 * install cannot set back like the mtime) may compute another set. */
	if (stat(ctx->args.efa_check, &bin) < 0 || st.st_mtime < bin.st_ctime) {
		snprintf(why, whylen, "%s: older than %s", path, ctx->args.efa_check);
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
	if (strcmp(s->config, cfg) || strcmp(s->key, key)) {
		snprintf(why, whylen, "%s: computed with config '%s' (key %s), not '%s' (key %s)", path,
			 s->config, s->key[0] ? s->key : "none", cfg, key);
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
	else if (r.unkillable)   /* goes on without the environment */
		slurm_error("%s: %s env unkillable after %d s: abandoned, no EFA environment for this step",
			    PLUGIN_PREFIX, ctx->args.efa_check, ENV_EXEC_TIMEOUT_MS / 1000);
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
	char why[3 * CONFIG_PATH_MAX];   /* messages naming paths and keys */
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
