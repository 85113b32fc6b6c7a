/*
 * cachekey.c -- keys of cached results (see cachekey.h).
 */
#include "core/cachekey.h"
#include "core/config.h"
#include "core/strutil.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROFILES_MAX (1 << 20)

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

int cache_key_full(const struct efa_config *cfg, char *out, size_t size)
{
	struct stat st;
	uint64_t b = STR_HASH64_INIT;
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
	b = str_hash64(b, cfg->provider, strlen(cfg->provider));
	len = strlen(out);
	n = snprintf(out + len, size - len, "-v%s-%016" PRIx64, EFA_CHECK_VERSION, b);
	return n < 0 || (size_t)n >= size - len ? -1 : 0;
}
