/*
 * state.c -- the state directory: result cache, lock, atomic writes (see state.h).
 */
#include "slurm/state.h"
#include "core/report.h"
#include "core/strutil.h"

#include <json-c/json.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_FILE_MAX (4 << 20)

double unix_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the directory ------------------------------------------------------- */

/* A directory we walk through or into: owned by root (or by us), and not writable by group
 * or others -- unless it has the sticky bit (/tmp): there nobody can rename or replace an
 * entry they do not own, and the next component is vetted as owned by root or us. */
static int vet_parent(int fd, const char *shown, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", shown, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %u, not by root", shown, (unsigned)st.st_uid);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		snprintf(err, errlen, "%s: writable by group or others (mode %04o)", shown,
			 (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int secure_dir_open(const char *path, bool create, const char *what, char *err, size_t errlen)
{
	char buf[PATH_MAX], shown[PATH_MAX + 64];
	char *save = NULL, *name;
	int fd, next;

	if (!path || path[0] != '/') {
		snprintf(err, errlen, "%s '%s': not an absolute path", what, path ? path : "");
		return -1;
	}
	if (!str_copy(buf, sizeof(buf), path)) {
		snprintf(err, errlen, "%s: path too long", what);
		return -1;
	}
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || vet_parent(fd, "/", err, errlen) < 0)
		goto fail;
	for (name = strtok_r(buf + 1, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		size_t done = (size_t)(name - buf) + strlen(name);

		snprintf(shown, sizeof(shown), "%s %.*s", what, (int)done, path);
		if (!strcmp(name, ".") || !strcmp(name, "..")) {
			snprintf(err, errlen, "%s '%s': '.' or '..' in the path", what, path);
			goto fail;
		}
		next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST) {
				snprintf(err, errlen, "%s: cannot create: %s", shown, strerror(errno));
				goto fail;
			}
			next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			snprintf(err, errlen, "%s: %s", shown,
				 errno == ELOOP || errno == ENOTDIR ? "is a symlink or not a directory"
								    : strerror(errno));
			goto fail;
		}
		close(fd);
		fd = next;
		if (vet_parent(fd, shown, err, errlen) < 0)
			goto fail;
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

static int vet_state_dir(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "StateDir %s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "StateDir %s: owned by uid %u, not by uid %u", path,
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "StateDir %s: writable by group or others (mode %04o)", path,
			 (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int state_dir_open(const char *path, char *err, size_t errlen)
{
	/* Walked from / one component at a time (openat O_NOFOLLOW): a symlink anywhere in the
	 * path, or a parent a user could write to, is refused -- never created through. */
	int fd = secure_dir_open(path, true, "StateDir", err, errlen);

	if (fd < 0)
		return -1;
	if (vet_state_dir(fd, path, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the lock ------------------------------------------------------------ */

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int state_lock(int dirfd, int64_t deadline_ms)
{
	return state_lock_file(dirfd, STATE_LOCK_FILE, deadline_ms);
}

int state_lock_file(int dirfd, const char *name, int64_t deadline_ms)
{
	int64_t backoff = 1;
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	for (;;) {
		int64_t left;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR)
			goto fail;
		left = deadline_ms - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		sleep_ms(backoff < left ? backoff : left);
		if (backoff < 20)
			backoff *= 2;
	}
fail:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

void state_unlock(int lockfd)
{
	if (lockfd >= 0)
		close(lockfd);
}

/* ---- atomic writes -------------------------------------------------------- */

int state_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	static unsigned counter;
	char tmp[NAME_MAX + 1];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), ".%s.%ld.%u.tmp", name, (long)getpid(), counter++) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) < 0 || fd_write_all(fd, data, len) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		goto fail;
	(void)fsync(dirfd);
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err,
		      size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int dirfd, rc, saved;

	if (!*base || !slash) {
		snprintf(err, errlen, "%s: not an absolute file path", path);
		errno = EINVAL;
		return -1;
	}
	if (slash == path)
		str_copy(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) >= sizeof(dir)) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
		errno = ENAMETOOLONG;
		return -1;
	} else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	dirfd = secure_dir_open(dir, false, "directory", err, errlen);
	if (dirfd < 0) {
		errno = EPERM;
		return -1;
	}
	rc = state_write_atomic(dirfd, base, data, len, mode);
	saved = errno;
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
	close(dirfd);
	errno = saved;
	return rc;
}

/* ---- the cached result ---------------------------------------------------- */

static char *read_state_file(int dirfd, const char *name)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_FILE_MAX)
		goto fail;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto fail;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	close(fd);
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

char *state_read_file(int dirfd, const char *name)
{
	return read_state_file(dirfd, name);
}

static double json_double(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_double(v);
}

int state_load_result(int dirfd, struct report *r, struct state_meta *m)
{
	char *text = read_state_file(dirfd, STATE_REPORT_FILE);
	json_object *o = text ? json_tokener_parse(text) : NULL, *k;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	report_init(r, "", "");
	if (!o || report_from_json(o, r) < 0)
		goto out;
	m->started_at = json_double(o, "started_at");
	m->finished_at = json_double(o, "finished_at");
	m->runs = (long)json_double(o, "runs");
	if (json_object_object_get_ex(o, "key", &k) && json_object_is_type(k, json_type_string))
		str_copy(m->key, sizeof(m->key), json_object_get_string(k));
	rc = 0;
out:
	if (rc < 0) {
		memset(m, 0, sizeof(*m));
		report_init(r, "", "");
	}
	json_object_put(o);
	free(text);
	return rc;
}

int state_save_result(int dirfd, const struct report *r, const struct state_meta *m)
{
	json_object *o = report_to_json(r);
	const char *s;
	int rc;

	json_object_object_add(o, "started_at", json_object_new_double(m->started_at));
	json_object_object_add(o, "finished_at", json_object_new_double(m->finished_at));
	json_object_object_add(o, "runs", json_object_new_int64(m->runs));
	json_object_object_add(o, "key", json_object_new_string(m->key));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = state_write_atomic(dirfd, STATE_REPORT_FILE, s, strlen(s), 0644);
	json_object_put(o);
	return rc;
}

enum cache_verdict cache_verdict(const struct state_meta *m, bool ok, double now, double my_start,
				 int ttl_s, bool bypass)
{
	double age;

	if (m->finished_at <= 0)
		return CACHE_MISS;
	if (m->finished_at >= my_start)
		return CACHE_CONCURRENT;
	if (bypass || !ok || ttl_s <= 0)
		return CACHE_MISS;
	age = now - m->finished_at;
	if (age < 0 || age >= ttl_s)
		return CACHE_MISS;
	return CACHE_FRESH;
}

const char *cache_verdict_name(enum cache_verdict v)
{
	switch (v) {
	case CACHE_MISS: return "miss";
	case CACHE_FRESH: return "fresh";
	case CACHE_CONCURRENT: return "concurrent";
	}
	return "?";
}
