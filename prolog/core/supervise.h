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

/* After SIGKILL, how long the parent waits for the worker to go before abandoning it. */
#define SUPERVISE_KILL_WAIT_MS 1000
#define SUPERVISE_MAX_RAN 32

struct supervise_result {
	bool verdict;         /* the worker finished: "done" record, the exit status it announced
	                         (exit_code, fn's return value), every result */
	bool timed_out;       /* the deadline killed the worker */
	bool crashed;         /* no verdict (why says why): could not start, died by a signal,
	                         exited without its done record or non-zero, lost results,
	                         deadline with no check running, unkillable */
	bool unkillable;      /* still there after SIGKILL + SUPERVISE_KILL_WAIT_MS: abandoned */
	int signal;           /* the signal that ended it */
	int exit_code;        /* the worker's own exit code when it exited */
	char why[320];        /* no verdict: why, e.g. "worker killed by signal 11 (...) in gpu" */
	char ran[SUPERVISE_MAX_RAN][32];  /* progress_ran() names received, in order */
	int nran;
};

/* Body of the worker: run checks, report each with progress_begin/progress_result.
 * Its return value is the worker's exit code. */
typedef int (*worker_fn)(void *arg);

/* Fork fn(arg) and collect its checks into r until it exits or timeout_ms passes.
 * The worker runs with a private /dev/shm (own mount namespace, when root) and bounded
 * resources (no core files, RLIMIT_FSIZE). Returns 0 when it gave a verdict; else -1 and res
 * says why: timed_out with the checks that were running added to r as hung (a verdict about
 * those checks), or crashed (no verdict, res->why; nothing added to r). A worker that
 * SIGKILL cannot end within SUPERVISE_KILL_WAIT_MS is abandoned (unkillable). */
int supervise_run(int timeout_ms, worker_fn fn, void *arg, struct report *r,
		  struct supervise_result *res);

/* The worker closes every fd of the parent but stdio and its pipe (StateDir's lock above
 * all); this one fd (e.g. a memfd the worker writes its outcome to) is kept. -1 = none. */
void supervise_keep_fd(int fd);

/* In the worker: announce a check and report its result. Thread-safe. Outside a supervised
 * worker they do nothing. */
void progress_begin(const char *name, const char *target);
void progress_result(const struct check_result *c);
/* In the worker: say that the unit name (a check module) ran to its end, whether or not it
 * had anything to report (a loopback with no domain sends no result). The parent lists these
 * in supervise_result.ran so that its caller can require every unit. */
void progress_ran(const char *name);
/* In the worker: report a fact about the run for the report header. Keys: "libfabric"
 * (runtime version; the parent never loads libfabric itself). */
void progress_meta(const char *key, const char *value);

#endif
