/*
 * state.h -- efa-check's state directory (StateDir=, default /run/efa-check): the shared
 * result of the last real check run, the lock that makes concurrent prologs run the check
 * once, and atomic file writes.
 *
 * Security (efa-check runs as root): the directory is created 0755 if missing, must be a real
 * directory (not a symlink), owned by the effective user and not writable by group or others;
 * every file in it is opened relative to the directory fd with O_NOFOLLOW|O_CLOEXEC.
 *
 * Files:
 *   last-report.json   the last real run's JSON report (DESIGN §2) plus "started_at",
 *                      "finished_at" (Unix time, s), "runs" (real check runs so far) and
 *                      "key" (what it was computed from, core/cachekey.h: a result whose key
 *                      differs from the current run's is never used)
 *   lock               flock()ed while a real check runs
 */
#ifndef EFA_CHECK_STATE_H
#define EFA_CHECK_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/cachekey.h"

struct report;

#define STATE_REPORT_FILE "last-report.json"
#define STATE_LOCK_FILE   "lock"

struct state_meta {
	double started_at;    /* Unix time the run started, 0 = unknown */
	double finished_at;   /* Unix time the run finished, 0 = no result */
	long runs;            /* real check runs recorded in this state dir */
	char key[CACHE_KEY_MAX]; /* cache_key_full of the run ("" = unknown: never matches) */
};

/* Open (creating it 0755 with its parents if missing) and vet the state directory.
 * Returns a directory fd, or -1 with a message in err. */
int state_dir_open(const char *path, char *err, size_t errlen);

/* Open directory path walking from / with openat(O_NOFOLLOW|O_DIRECTORY), one component at a
 * time (create: mkdirat missing ones 0755). Every directory on the way must be owned by root
 * (or the effective user) and not writable by group or others unless sticky (/tmp: then its
 * entries cannot be replaced by others, and the next one is vetted in turn). A symlink
 * anywhere is refused. what names the setting in messages ("StateDir"). Returns an fd or -1
 * with "what /a/b: why" in err. */
int secure_dir_open(const char *path, bool create, const char *what, char *err, size_t errlen);

/* Take the exclusive lock, waiting at most until deadline_ms (now_ms() clock).
 * Returns the lock fd (close it to unlock), or -1 (errno ETIMEDOUT when the wait ran out). */
int state_lock(int dirfd, int64_t deadline_ms);
/* The same for another lock file in the directory (e.g. the sweep's, sweep.h). */
int state_lock_file(int dirfd, const char *name, int64_t deadline_ms);
void state_unlock(int lockfd);

/* Write data to dirfd/name atomically: temp file in the same directory, fsync, rename. */
int state_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode);
/* Same for an absolute path (its directory must exist, reached by secure_dir_open), e.g. the
 * Prometheus textfile. A symlink at path itself is replaced, its target untouched.
 * Returns 0, or -1 with a message in err. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err,
		      size_t errlen);

/* Read dirfd/name (a regular file, not a symlink, at most 4 MiB) into a malloc'ed
 * NUL-terminated string; NULL when absent or unreadable. */
char *state_read_file(int dirfd, const char *name);

/* Load last-report.json into r (report_init'ed by it) and m. Returns 0, or -1 if there is
 * none or it is unreadable (m zeroed, r empty). */
int state_load_result(int dirfd, struct report *r, struct state_meta *m);
/* Save r with m as last-report.json, atomically. */
int state_save_result(int dirfd, const struct report *r, const struct state_meta *m);

/* Whether a stored result can stand for a run starting at my_start (Unix time, s). */
enum cache_verdict {
	CACHE_MISS = 0,     /* run the check */
	CACHE_FRESH,        /* an ok result younger than ttl_s, and the caller may use the cache */
	CACHE_CONCURRENT,   /* finished after my_start: a run we waited for; always usable */
};
enum cache_verdict cache_verdict(const struct state_meta *m, bool ok, double now, double my_start,
				 int ttl_s, bool bypass);
const char *cache_verdict_name(enum cache_verdict v);

/* Wall-clock time in seconds (CLOCK_REALTIME). */
double unix_now(void);

#endif
