/*
 * supervise.h -- run the checks in a worker process under a deadline.
 *
 * libfabric, CUDA and NCCL calls can block forever. The parent forks a worker (its own
 * process group), never touches those libraries itself, and reads the worker's progress
 * over a pipe: "check X on target T began", "check X finished with this result". At the
 * deadline it kills the worker's process group and turns every check still running into a
 * failed check that says it hung ("loopback lo: hung, killed after 30 s").
 */
#ifndef EFA_CHECK_SUPERVISE_H
#define EFA_CHECK_SUPERVISE_H

#include <stdbool.h>

struct report;
struct check_result;

struct supervise_result {
	bool timed_out;       /* the deadline killed the worker */
	bool crashed;         /* the worker died by a signal or exited without finishing */
	int signal;           /* the signal that ended it, when crashed */
	int exit_code;        /* the worker's own exit code when it finished */
};

/* Body of the worker: run checks, report each with progress_begin/progress_result.
 * Its return value is the worker's exit code. */
typedef int (*worker_fn)(void *arg);

/* Fork fn(arg) and collect its checks into r until it exits or timeout_ms passes.
 * Returns 0 when the worker finished by itself, -1 otherwise (res says why). */
int supervise_run(int timeout_ms, worker_fn fn, void *arg, struct report *r,
		  struct supervise_result *res);

/* In the worker: announce a check and report its result. Thread-safe. Outside a supervised
 * worker they do nothing. */
void progress_begin(const char *name, const char *target);
void progress_result(const struct check_result *c);
/* In the worker: report a fact about the run for the report header. Keys: "libfabric"
 * (runtime version; the parent never loads libfabric itself). */
void progress_meta(const char *key, const char *value);

#endif
