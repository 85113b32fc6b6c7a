/*
 * supervise.c -- the deadline: a worker process runs the checks, this parent watches it.
 *
 * Protocol on the pipe, one JSON object per line (each line < PIPE_BUF is not required:
 * the worker serialises writes with a mutex):
 *   {"ev":"begin","name":"loopback","target":"lo"}
 *   {"ev":"result","check":{...check_to_json...}}
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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES 65536
#define MAX_RUNNING 256

static int progress_fd = -1;
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

	json_object_object_add(o, "ev", json_object_new_string("result"));
	json_object_object_add(o, "check", check_to_json(c));
	progress_write(o);
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
		}
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
	if (w->nrun == 0) {
		struct check_result c;

		check_init(&c, "deadline", NULL);
		check_fail(&c, "deadline of %d s exceeded", (timeout_ms + 999) / 1000);
		report_add(w->r, &c);
		return;
	}
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

static void add_crashed_checks(struct watch *w, const struct supervise_result *res)
{
	char how[64];

	if (res->signal)
		snprintf(how, sizeof(how), "killed by signal %d (%s)", res->signal, strsignal(res->signal));
	else
		snprintf(how, sizeof(how), "worker exited with status %d", res->exit_code);
	if (w->nrun == 0) {
		struct check_result c;

		check_init(&c, "internal", NULL);
		check_fail(&c, "internal error: %s", how);
		report_add(w->r, &c);
		return;
	}
	for (int i = 0; i < w->nrun; i++) {
		struct check_result c;

		check_init(&c, w->run[i].name, w->run[i].target);
		if (c.target[0])
			check_fail(&c, "%s: crashed, %s", c.target, how);
		else
			check_fail(&c, "%s crashed, %s", c.name, how);
		report_add(w->r, &c);
	}
}

static void worker_main(int fd, worker_fn fn, void *arg)
{
	int rc;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	progress_fd = fd;
	rc = fn(arg);
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

static void reap(pid_t pid, struct supervise_result *res)
{
	int status = 0;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
		res->crashed = !res->timed_out;
	} else if (WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
	}
}

int supervise_run(int timeout_ms, worker_fn fn, void *arg, struct report *r,
		  struct supervise_result *res)
{
	struct watch *w = NULL;
	int fds[2];
	pid_t pid;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (pipe2(fds, O_CLOEXEC) < 0) {
		res->crashed = true;
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		res->crashed = true;
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
		reap(pid, res);
		res->crashed = true;
		return -1;
	}
	w->r = r;
	if (watch_pipe(w, fds[0], now_ms() + timeout_ms) < 0) {
		res->timed_out = true;
		kill_worker(pid);
	}
	close(fds[0]);
	reap(pid, res);
	if (res->timed_out) {
		add_hung_checks(w, timeout_ms);
	} else if (res->crashed || w->nrun) {
		res->crashed = true;
		add_crashed_checks(w, res);
	} else {
		rc = 0;
	}
	free(w);
	return rc;
}
