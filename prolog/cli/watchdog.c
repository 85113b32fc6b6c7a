/*
 * watchdog.c -- the whole-run deadline (see watchdog.h).
 *
 * Child -> parent protocol on a pipe, one line each: "total <ms>" and "phase <text>".
 * The parent waits on a pidfd (or polls waitpid when pidfd_open is missing) so that it does not
 * depend on the pipe's EOF: the checking worker, a grandchild, inherits the pipe.
 */
#include "cli/watchdog.h"
#include "cli/cli.h"
#include "core/logging.h"
#include "core/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define WATCHDOG_DEFAULT_TIMEOUT_S 30   /* config_defaults' Timeout */

static int64_t start_ms;
static int report_fd = -1;

void watchdog_mark_start(void)
{
	start_ms = now_ms();
}

int64_t watchdog_start_ms(void)
{
	if (!start_ms)
		start_ms = now_ms();
	return start_ms;
}

int watchdog_elapsed_ms(void)
{
	return (int)(now_ms() - watchdog_start_ms());
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	if (report_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(report_fd, line, (size_t)n) < 0)
		return;   /* the parent is gone: nothing to tell */
}

void watchdog_set_total(int total_ms)
{
	say("total %d", total_ms);
}

void watchdog_phase(const char *what)
{
	say("phase %s", what);
}

/* --timeout/-t N on the command line, else the default Timeout, in ms. */
static int initial_total_ms(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		long s;

		if ((!strcmp(argv[i], "--timeout") || !strcmp(argv[i], "-t")) && i + 1 < argc)
			v = argv[i + 1];
		else if (!strncmp(argv[i], "--timeout=", 10))
			v = argv[i] + 10;
		if (v && parse_long(v, 1, 3600, &s) == 0)
			return (int)s * 1000;
	}
	return WATCHDOG_DEFAULT_TIMEOUT_S * 1000;
}

struct watch_state {
	int total_ms;
	char phase[160];
	char buf[512];
	size_t len;
};

static void read_reports(int fd, struct watch_state *ws)
{
	ssize_t n = read(fd, ws->buf + ws->len, sizeof(ws->buf) - 1 - ws->len);
	char *nl;

	if (n <= 0)
		return;
	ws->len += (size_t)n;
	ws->buf[ws->len] = '\0';
	while ((nl = strchr(ws->buf, '\n'))) {
		long v;

		*nl = '\0';
		if (!strncmp(ws->buf, "total ", 6) && parse_long(ws->buf + 6, 1, 3600 * 1000, &v) == 0)
			ws->total_ms = (int)v;
		else if (!strncmp(ws->buf, "phase ", 6))
			str_copy(ws->phase, sizeof(ws->phase), ws->buf + 6);
		ws->len -= (size_t)(nl + 1 - ws->buf);
		memmove(ws->buf, nl + 1, ws->len + 1);
	}
	if (ws->len == sizeof(ws->buf) - 1)
		ws->len = 0;   /* an overlong line: drop it */
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return EXIT_INTERNAL;
}

/* Reap pid within wait_ms. Returns 0 with *status, or -1. */
static int reap_bounded(pid_t pid, int wait_ms, int *status)
{
	int64_t until = now_ms() + wait_ms;

	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return 0;
		if (now_ms() >= until)
			return -1;
		usleep(5000);
	}
}

static int watch(const char *mode, pid_t pid, int rfd, int total_ms)
{
	struct watch_state ws = { .total_ms = total_ms, .phase = "starting" };
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int status = 0;

	for (;;) {
		int64_t left = watchdog_start_ms() + ws.total_ms + WATCHDOG_GRACE_MS - now_ms();
		struct pollfd p[2] = { { .fd = rfd, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
		pid_t w;

		w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno == ECHILD))
			break;
		if (left <= 0)
			goto overrun;
		if (poll(p, pidfd >= 0 ? 2 : 1, (int)(pidfd >= 0 ? left : (left < 20 ? left : 20))) > 0 &&
		    (p[0].revents & POLLIN))
			read_reports(rfd, &ws);
		if (p[0].revents & (POLLHUP | POLLERR))
			rfd = -1;   /* poll ignores negative fds */
	}
	if (pidfd >= 0)
		close(pidfd);
	return exit_code_of(status);
overrun:
	if (pidfd >= 0)
		close(pidfd);
	kill(pid, SIGKILL);
	log_open(mode, false);
	if (reap_bounded(pid, WATCHDOG_KILL_WAIT_MS, &status) == 0) {
		cli_error("%s: deadline of %d s exceeded in %s: killed", mode, (ws.total_ms + 999) / 1000,
			  ws.phase);
		log_msg(LOG_ERR, "%s: deadline of %d s exceeded in %s: killed", mode,
			(ws.total_ms + 999) / 1000, ws.phase);
	} else {
		cli_error("%s: unkillable in %s after the deadline of %d s: abandoned", mode, ws.phase,
			  (ws.total_ms + 999) / 1000);
		log_msg(LOG_ERR, "%s: unkillable in %s after the deadline of %d s: abandoned", mode,
			ws.phase, (ws.total_ms + 999) / 1000);
	}
	log_close();
	return EXIT_INTERNAL;
}

int watchdog_run(const char *mode, int (*run)(int, char **), int argc, char **argv)
{
	int fds[2];
	pid_t pid;
	int rc;

	watchdog_start_ms();
	if (pipe2(fds, O_CLOEXEC) < 0)
		return run(argc, argv);   /* unwatched rather than not at all */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		/* fork failing (a fork bomb): the run goes on unwatched; its worker's own fork
		 * failing then makes it a no-verdict result. */
		close(fds[0]);
		close(fds[1]);
		return run(argc, argv);
	}
	if (pid == 0) {
		close(fds[0]);
		report_fd = fds[1];
		rc = run(argc, argv);
		fflush(NULL);
		_exit(rc);
	}
	close(fds[1]);
	rc = watch(mode, pid, fds[0], initial_total_ms(argc, argv));
	close(fds[0]);
	return rc;
}
