/*
 * supervise.c -- the deadline: a worker process runs the checks, this parent watches it.
 *
 * Protocol on the pipe, one JSON object per line (each line < PIPE_BUF is not required:
 * the worker serialises writes with a mutex):
 *   {"ev":"begin","name":"loopback","target":"lo"}
 *   {"ev":"result","check":{...check_to_json...}}
 *   {"ev":"done","results":N,"status":S}  last, after every result (N = results sent, S =
 *                                          the worker function's return value)
 * A run is a verdict only with the done record, exit status S and all N results received
 * (local_run also requires S = 0; cross's worker returns its verdict there).
 */
#include "core/supervise.h"
#include "core/report.h"
#include "core/strutil.h"

#include <json-c/json.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES 65536
#define MAX_RUNNING 256
#define WORKER_FSIZE_MAX (64UL << 20)   /* the worker writes no files; a runaway is cut off */

static int progress_fd = -1;
static int results_sent;
static int keep_fd = -1;   /* supervise_keep_fd() */

void supervise_keep_fd(int fd)
{
	keep_fd = fd;
}
static pthread_mutex_t progress_lock = PTHREAD_MUTEX_INITIALIZER;

static void progress_write(json_object *o)
{
	const char *s;
	size_t len, off = 0;

	if (progress_fd < 0) {
		json_object_put(o);
		return;
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	len = strlen(s);
	pthread_mutex_lock(&progress_lock);
	while (off < len + 1) {
		const char *p = off < len ? s + off : "\n";
		size_t n = off < len ? len - off : 1;
		ssize_t w = write(progress_fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	pthread_mutex_unlock(&progress_lock);
	json_object_put(o);
}

/* {"ev": ev, k1: v1, k2: v2} */
static void progress_event(const char *ev, const char *k1, const char *v1, const char *k2,
			   const char *v2)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ev", json_object_new_string(ev));
	json_object_object_add(o, k1, json_object_new_string(v1 ? v1 : ""));
	json_object_object_add(o, k2, json_object_new_string(v2 ? v2 : ""));
	progress_write(o);
}

void progress_begin(const char *name, const char *target)
{
	progress_event("begin", "name", name, "target", target);
}

void progress_result(const struct check_result *c)
{
	json_object *o = json_object_new_object();

	pthread_mutex_lock(&progress_lock);
	results_sent++;
	pthread_mutex_unlock(&progress_lock);

	json_object_object_add(o, "ev", json_object_new_string("result"));
	json_object_object_add(o, "check", check_to_json(c));
	progress_write(o);
}

void progress_ran(const char *name)
{
	progress_event("ran", "name", name, "target", "");
}

void progress_meta(const char *key, const char *value)
{
	progress_event("meta", "key", key, "value", value);
}

/* ---- parent side -------------------------------------------------------- */

struct running {
	char name[CHECK_NAME_MAX];
	char target[CHECK_TARGET_MAX];
	int64_t started_ms;
};

struct watch {
	struct report *r;
	struct running run[MAX_RUNNING];
	int nrun;
	char line[LINE_MAX_BYTES];
	size_t len;
	bool overflow;
	bool done;            /* the worker's "done" record arrived */
	int done_results;     /* results it says it sent */
	int done_status;      /* the exit status it announces (fn's return value) */
	int nresults;         /* results received */
	struct supervise_result *res;
};

static void running_remove(struct watch *w, const char *name, const char *target)
{
	for (int i = 0; i < w->nrun; i++) {
		if (!strcmp(w->run[i].name, name) && !strcmp(w->run[i].target, target)) {
			w->run[i] = w->run[--w->nrun];
			return;
		}
	}
}

static void handle_line(struct watch *w, const char *line)
{
	json_object *o = json_tokener_parse(line), *ev, *v;
	const char *kind;

	if (!o)
		return;
	if (!json_object_object_get_ex(o, "ev", &ev) || !(kind = json_object_get_string(ev)))
		goto out;
	if (!strcmp(kind, "begin") && w->nrun < MAX_RUNNING) {
		struct running *r = &w->run[w->nrun++];

		str_copy(r->name, sizeof(r->name),
			 json_object_object_get_ex(o, "name", &v) ? json_object_get_string(v) : "?");
		str_copy(r->target, sizeof(r->target),
			 json_object_object_get_ex(o, "target", &v) ? json_object_get_string(v) : "");
		r->started_ms = now_ms();
	} else if (!strcmp(kind, "meta") && json_object_object_get_ex(o, "key", &v)) {
		const char *key = json_object_get_string(v);

		const char *val = json_object_object_get_ex(o, "value", &v) ?
				  json_object_get_string(v) : NULL;

		if (key && val && !strcmp(key, "libfabric"))
			str_copy(w->r->libfabric, sizeof(w->r->libfabric), val);
		else if (key && val && !strcmp(key, "libfabric_path"))
			str_copy(w->r->libfabric_path, sizeof(w->r->libfabric_path), val);
		else if (key && val && !strcmp(key, "fabric"))
			str_copy(w->r->fabric, sizeof(w->r->fabric), val);
	} else if (!strcmp(kind, "result") && json_object_object_get_ex(o, "check", &v)) {
		struct check_result c;

		if (check_from_json(v, &c) == 0) {
			running_remove(w, c.name, c.target);
			report_add(w->r, &c);
			w->nresults++;
		}
	} else if (!strcmp(kind, "ran") && json_object_object_get_ex(o, "name", &v)) {
		if (w->res->nran < SUPERVISE_MAX_RAN)
			str_copy(w->res->ran[w->res->nran++], sizeof(w->res->ran[0]),
				 json_object_get_string(v));
	} else if (!strcmp(kind, "done") && json_object_object_get_ex(o, "results", &v)) {
		w->done = true;
		w->done_results = json_object_get_int(v);
		w->done_status = json_object_object_get_ex(o, "status", &v) ? json_object_get_int(v) : 0;
	}
out:
	json_object_put(o);
}

static void consume(struct watch *w, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			if (!w->overflow) {
				w->line[w->len] = '\0';
				handle_line(w, w->line);
			}
			w->len = 0;
			w->overflow = false;
		} else if (w->len + 1 < sizeof(w->line)) {
			w->line[w->len++] = buf[i];
		} else {
			w->overflow = true;
		}
	}
}

/* Read until EOF or the deadline. Returns 0 on EOF, -1 on deadline. */
static int watch_pipe(struct watch *w, int fd, int64_t deadline_ms)
{
	char buf[4096];

	for (;;) {
		int64_t left = deadline_ms - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int rc;

		if (left <= 0)
			return -1;
		rc = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		consume(w, buf, (size_t)n);
	}
}

static void add_hung_checks(struct watch *w, int timeout_ms)
{
	for (int i = 0; i < w->nrun; i++) {
		struct check_result c;

		check_init(&c, w->run[i].name, w->run[i].target);
		c.duration_ms = (long)(now_ms() - w->run[i].started_ms);
		if (c.target[0])
			check_fail(&c, "%s: hung, killed after %d s", c.target, (timeout_ms + 999) / 1000);
		else
			check_fail(&c, "%s hung, killed after %d s", c.name, (timeout_ms + 999) / 1000);
		report_add(w->r, &c);
	}
}

/* "loopback lo" / "provider": what the worker was doing, for messages; "no check" if idle. */
static void running_what(const struct watch *w, char *buf, size_t size)
{
	buf[0] = '\0';
	for (int i = 0; i < w->nrun; i++)
		str_appendf(buf, size, "%s%s%s%s", i ? ", " : "", w->run[i].name,
			    w->run[i].target[0] ? " " : "", w->run[i].target);
	if (!buf[0])
		str_copy(buf, size, "the worker outside any check");
}

/* Why a finished worker gave no verdict, or "" when it did. */
static void judge_finished(const struct watch *w, const struct supervise_result *res, char *why,
			   size_t size)
{
	char what[256];

	why[0] = '\0';
	running_what(w, what, sizeof(what));
	if (res->signal)
		snprintf(why, size, "worker killed by signal %d (%s) in %s", res->signal,
			 strsignal(res->signal), what);
	else if (!w->done)
		snprintf(why, size, "worker exited with status %d without finishing, in %s",
			 res->exit_code, what);
	else if (res->exit_code != w->done_status)
		snprintf(why, size, "worker finished with status %d but exited with %d", w->done_status,
			 res->exit_code);
	else if (w->nresults != w->done_results || w->nrun)
		snprintf(why, size, "worker sent %d of %d results", w->nresults, w->done_results);
}

/* Worker side of the isolation: a private /dev/shm (a user cannot squat the names a provider
 * creates there, and nothing the checks leave behind outlives the worker) and bounded
 * resources. Best effort: without privileges (a user's `efa-check local`) it runs as is. */
static void isolate_worker(void)
{
	struct rlimit core = { 0, 0 }, fsize = { WORKER_FSIZE_MAX, WORKER_FSIZE_MAX };
	struct rlimit cur;

	setrlimit(RLIMIT_CORE, &core);
	if (getrlimit(RLIMIT_FSIZE, &cur) == 0 && cur.rlim_max > WORKER_FSIZE_MAX)
		setrlimit(RLIMIT_FSIZE, &fsize);
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0)
		return;
	/* Private first: the tmpfs must not propagate back into the host's /dev/shm. The kernel
	 * ignores source and type for a propagation change (mount(2)); "none" rather than NULL
	 * keeps memory checkers from reading address 0 as a string. */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return;
	mount("efa-check-shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777");
}

/* Close every inherited fd from lo to hi (inclusive). */
static void close_fds(unsigned int lo, unsigned int hi)
{
	if (lo > hi)
		return;
#ifdef SYS_close_range
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return;
#endif
	for (long f = lo, max = sysconf(_SC_OPEN_MAX); f <= (long)hi && f < (max > 0 ? max : 65536); f++)
		close((int)f);
}

static void worker_main(int fd, worker_fn fn, void *arg)
{
	int rc;

	/* Nothing of the parent's but stdio and the progress pipe: above all not StateDir's lock
	 * (flock belongs to the open file, so a worker stuck in the kernel would hold it forever). */
	if (keep_fd > fd) {
		close_fds(3, (unsigned int)fd - 1);
		close_fds((unsigned int)fd + 1, (unsigned int)keep_fd - 1);
		close_fds((unsigned int)keep_fd + 1, ~0U);
	} else if (keep_fd >= 3) {
		close_fds(3, (unsigned int)keep_fd - 1);
		close_fds((unsigned int)keep_fd + 1, (unsigned int)fd - 1);
		close_fds((unsigned int)fd + 1, ~0U);
	} else {
		close_fds(3, (unsigned int)fd - 1);
		close_fds((unsigned int)fd + 1, ~0U);
	}
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	isolate_worker();
	progress_fd = fd;
	rc = fn(arg);
	/* The verdict protocol: only this record, sent after every result when fn returned,
	 * makes a run count; the exit status must then be the one it announces. */
	{
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ev", json_object_new_string("done"));
		pthread_mutex_lock(&progress_lock);
		json_object_object_add(o, "results", json_object_new_int(results_sent));
		pthread_mutex_unlock(&progress_lock);
		json_object_object_add(o, "status", json_object_new_int(rc));
		progress_write(o);
	}
	pthread_mutex_lock(&progress_lock);
	close(fd);
	progress_fd = -1;
	pthread_mutex_unlock(&progress_lock);
	_exit(rc);
}

static void kill_worker(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

static void set_status(int status, struct supervise_result *res)
{
	if (WIFSIGNALED(status))
		res->signal = WTERMSIG(status);
	else if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
}

/* Reap the worker, waiting at most wait_ms (a worker that SIGKILL cannot end sits in an
 * uninterruptible kernel wait: a read of a hung filesystem, a stuck driver call). Returns 0
 * when reaped, -1 when it is still there and is abandoned. */
static int reap(pid_t pid, int wait_ms, struct supervise_result *res)
{
	int64_t until = now_ms() + wait_ms;
	int status = 0;

	for (;;) {
		pid_t w = waitpid(pid, &status, wait_ms < 0 ? 0 : WNOHANG);

		if (w == pid) {
			set_status(status, res);
			return 0;
		}
		if (w < 0 && errno != EINTR)
			return 0;
		if (w == 0 && now_ms() >= until)
			return -1;
		if (w == 0)
			usleep(5000);
	}
}

static void no_verdict(struct supervise_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void no_verdict(struct supervise_result *res, const char *fmt, ...)
{
	va_list ap;

	res->crashed = true;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
}

int supervise_run(int timeout_ms, worker_fn fn, void *arg, struct report *r,
		  struct supervise_result *res)
{
	struct watch *w = NULL;
	char what[256];
	int fds[2];
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (pipe2(fds, O_CLOEXEC) < 0) {
		no_verdict(res, "cannot start the worker: pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		no_verdict(res, "cannot start the worker: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		worker_main(fds[1], fn, arg);
	}
	setpgid(pid, pid);  /* also in the parent: no race with kill(-pid) */
	close(fds[1]);
	/* Allocated after the fork: the worker never owns (or leaks) the parent's buffers. */
	w = calloc(1, sizeof(*w));
	if (!w) {
		kill_worker(pid);
		close(fds[0]);
		reap(pid, SUPERVISE_KILL_WAIT_MS, res);
		no_verdict(res, "out of memory");
		return -1;
	}
	w->r = r;
	w->res = res;
	if (watch_pipe(w, fds[0], now_ms() + timeout_ms) < 0) {
		res->timed_out = true;
		kill_worker(pid);
	}
	close(fds[0]);
	/* A worker that closed its pipe is exiting: reaping it is immediate unless it is stuck
	 * in the kernel; either way the wait is bounded. */
	running_what(w, what, sizeof(what));
	if (reap(pid, SUPERVISE_KILL_WAIT_MS, res) < 0 &&
	    (res->timed_out || (kill_worker(pid), reap(pid, SUPERVISE_KILL_WAIT_MS, res) < 0))) {
		/* Stuck in the kernel (D state): abandon it rather than block past the deadline.
		 * It stays a zombie-to-be of ours; PR_SET_PDEATHSIG and init take it later. */
		res->unkillable = true;
		no_verdict(res, "unkillable in %s (abandoned %d ms after SIGKILL)", what,
			   SUPERVISE_KILL_WAIT_MS);
		goto out;
	}
	if (res->timed_out) {
		if (w->nrun)
			add_hung_checks(w, timeout_ms);   /* a verdict: that check hung */
		else
			no_verdict(res, "deadline of %d s exceeded in %s", (timeout_ms + 999) / 1000, what);
	} else {
		judge_finished(w, res, res->why, sizeof(res->why));
		if (res->why[0])
			res->crashed = true;
		else
			res->verdict = true;
	}
out:
	free(w);
	return res->verdict ? 0 : -1;
}
