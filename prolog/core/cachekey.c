/*
 * cachekey.c -- keys of cached results (see cachekey.h).
 */
#include "core/cachekey.h"
#include "core/config.h"
#include "core/strutil.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROFILES_MAX (1 << 20)
#define ENV_KEYS_MAX 256

extern char **environ;

/* FNV-1a 64 of a file's content; a file that cannot be read hashes as its errno, so that it
 * never matches a readable one. */
static uint64_t file_hash(const char *path)
{
	uint64_t h = STR_HASH64_INIT;
	char buf[8192];
	size_t total = 0;
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto unreadable;
	while ((n = read(fd, buf, sizeof(buf))) > 0 && total < PROFILES_MAX) {
		h = str_hash64(h, buf, (size_t)n);
		total += (size_t)n;
	}
	if (n < 0)
		goto unreadable;
	close(fd);
	return h;
unreadable:
	if (fd >= 0)
		close(fd);
	return str_hash64(STR_HASH64_INIT, "unreadable", 10) ^ 1;
}

int cache_key_inputs(const struct efa_config *cfg, char *out, size_t size)
{
	uint64_t p = cfg->instance_profiles[0] ? file_hash(cfg->instance_profiles)
					       : str_hash64(STR_HASH64_INIT, "builtin", 7);
	int n = snprintf(out, size, "c%016" PRIx64 "p%016" PRIx64, cfg->text_hash, p);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* A string and its terminating NUL, so that ("ab", "c") and ("a", "bc") differ. */
static uint64_t hash_str(uint64_t h, const char *s)
{
	return str_hash64(h, s, strlen(s) + 1);
}

/* FI_* (libfabric's own parameters), and what decides which libraries load. Not CUDA_*:
 * slurmd puts the job's GPUs into every prolog's environment (SchedMD/slurm 22.05:
 * src/slurmd/slurmd/req.c fills job_env.gres_job_env with gres_g_epilog_set_env, whose
 * gres_common_epilog_set_env sets CUDA_VISIBLE_DEVICES; src/plugins/prep/script/
 * prep_script_slurmd.c _build_env merges it), so concurrent prologs of jobs with different
 * GPUs must still share one run; the gpu check does not judge a job's share of the GPUs. */
static bool env_counts(const char *e)
{
	return !strncmp(e, "FI_", 3) || !strncmp(e, "LD_LIBRARY_PATH=", 16) ||
	       !strncmp(e, "LD_PRELOAD=", 11);
}

static int env_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The variables of env_counts in name order (the environment's own order is arbitrary). More
 * than ENV_KEYS_MAX of them hash as a marker that matches no smaller set. */
static uint64_t env_hash(uint64_t h)
{
	const char *v[ENV_KEYS_MAX];
	size_t n = 0;

	for (char **e = environ; e && *e; e++) {
		if (!env_counts(*e))
			continue;
		if (n == ENV_KEYS_MAX)
			return hash_str(h, "too many variables");
		v[n++] = *e;
	}
	qsort(v, n, sizeof(*v), env_cmp);
	for (size_t i = 0; i < n; i++)
		h = hash_str(h, v[i]);
	return hash_str(h, "");
}

int cache_key_full(const struct efa_config *cfg, const char *sysfs_root, char *out, size_t size)
{
	struct stat st;
	uint64_t b = STR_HASH64_INIT;
	char timeout[16];
	size_t len;
	int n;

	if (cache_key_inputs(cfg, out, size) < 0)
		return -1;
	if (stat("/proc/self/exe", &st) == 0) {
		uint64_t id[6] = { (uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
				   (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec,
				   (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec,
				   0 };

		b = str_hash64(b, id, sizeof(id));
	}
	/* The effective provider: --provider overrides the file, and a result computed for
	 * another provider must not stand for this run (issue 15: a health run with
	 * --provider nosuchprov reused a healthy tcp result stored by a step's check). */
	b = hash_str(b, cfg->provider);
	/* The other overrides (cachekey.h): a healthy result of `--timeout 600` must not stand for
	 * a run with the configured 30 s, nor one read from a fixture tree for the real /sys. */
	snprintf(timeout, sizeof(timeout), "%d", cfg->timeout_s);
	b = hash_str(b, timeout);
	b = hash_str(b, cfg->state_dir);
	b = hash_str(b, sysfs_root && *sysfs_root ? sysfs_root : "/sys");
	b = env_hash(b);
	len = strlen(out);
	n = snprintf(out + len, size - len, "-v%s-%016" PRIx64, EFA_CHECK_VERSION, b);
	return n < 0 || (size_t)n >= size - len ? -1 : 0;
}
