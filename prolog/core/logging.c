/*
 * logging.c -- bounded syslog client (see logging.h).
 */
#include "core/logging.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024
#define SYSLOG_PATH "/dev/log"

static int log_fd = -1;
static bool log_mirror;
static char log_mode[16] = "";

static int connect_dev_log(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memcpy(sa.sun_path, SYSLOG_PATH, sizeof(SYSLOG_PATH));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void log_open(const char *mode, bool mirror_stderr)
{
	snprintf(log_mode, sizeof(log_mode), "%s", mode ? mode : "");
	log_mirror = mirror_stderr;
	if (log_fd < 0)
		log_fd = connect_dev_log();
}

void log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

int log_format(char *buf, int size, int prio, const char *mode, long pid, const char *msg)
{
	char stamp[32] = "";
	time_t now = time(NULL);
	struct tm tm;

	if (localtime_r(&now, &tm))
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	return snprintf(buf, (size_t)size, "<%d>%s efa-check[%ld]: %s%s%s", LOG_DAEMON | (prio & 7),
			stamp, pid, mode && *mode ? mode : "", mode && *mode ? ": " : "", msg);
}

static void send_line(const char *line)
{
	size_t len = strlen(line);

	if (log_fd < 0)
		log_fd = connect_dev_log();
	if (log_fd < 0)
		return;
	if (send(log_fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
		/* syslog daemon restarted: reconnect once, never wait */
		close(log_fd);
		log_fd = connect_dev_log();
		if (log_fd >= 0)
			(void)send(log_fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

void log_msg(int prio, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	log_format(line, sizeof(line), prio, log_mode, (long)getpid(), msg);
	send_line(line);
	if (log_mirror)
		fprintf(stderr, "efa-check: %s%s%s\n", log_mode[0] ? log_mode : "", log_mode[0] ? ": " : "",
			msg);
}
