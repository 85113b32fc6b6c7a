/*
 * logging.h -- syslog for the prolog and the health check (their stdout/stderr is seen by
 * nobody): ident "efa-check", LOG_PID, facility LOG_DAEMON.
 *
 * Messages go to /dev/log over a non-blocking datagram socket, so a hung or flooded syslog
 * daemon can never stall a prolog (glibc's syslog() blocks when the socket queue is full).
 * A message that cannot be sent at once is dropped. With mirroring on (--verbose, tests),
 * every message is also printed to stderr.
 */
#ifndef EFA_CHECK_LOGGING_H
#define EFA_CHECK_LOGGING_H

#include <stdbool.h>
#include <syslog.h>

/* Open the log for subcommand mode ("prolog", "health"); mirror to stderr when asked. */
void log_open(const char *mode, bool mirror_stderr);
void log_close(void);

/* Log one decision at a syslog priority (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO). */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Format the RFC 3164 line sent to /dev/log into buf (exposed for tests). */
int log_format(char *buf, int size, int prio, const char *mode, long pid, const char *msg);

#endif
