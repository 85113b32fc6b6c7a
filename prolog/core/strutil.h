/*
 * strutil.h -- small string and file helpers shared by the binary and the plugin.
 * Pure C, no libfabric/json-c/slurm dependencies (the plugin links this).
 */
#ifndef EFA_CHECK_STRUTIL_H
#define EFA_CHECK_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounded copy that always terminates; returns true if src fit. */
bool str_copy(char *dst, size_t size, const char *src);
/* Bounded printf into dst, truncating on purpose (messages are bounded): dst is "" when
 * formatting fails, nothing is written for a NULL dst or size 0. False on truncation. */
bool str_printf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Bounded append with printf semantics; never overflows; returns false on truncation. */
bool str_appendf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copy src for quoting in a message or log line: bytes outside printable ASCII become '?',
 * and a value longer than size-1 is cut with "...". Returns dst. */
const char *str_printable(char *dst, size_t size, const char *src);
/* A Slurm node name as efa-check accepts it (it becomes a file name and a drain target):
 * 1..255 characters of [A-Za-z0-9._-]. */
bool node_name_valid(const char *s);
/* Trim leading and trailing whitespace in place; returns s. */
char *str_trim(char *s);

/* Strict number parsing: the whole string must be a number in range. 0 on success, -1 on error. */
int parse_long(const char *s, long min, long max, long *out);
int parse_double(const char *s, double min, double max, double *out);
/* yes/no/true/false/1/0/on/off, case-insensitive. */
int parse_bool(const char *s, bool *out);

/* Read a small file (sysfs attribute) into buf, strip the trailing newline.
 * dirfd may be AT_FDCWD. Opens with O_NOFOLLOW|O_CLOEXEC on the last component.
 * Returns the length, or -1 with errno set. */
long read_small_file_at(int dirfd, const char *path, char *buf, size_t size);

/* Monotonic time in milliseconds / microseconds. */
int64_t now_ms(void);
int64_t now_us(void);

/* FNV-1a 64 over len bytes, continuing from h (start with STR_HASH64_INIT). Not
 * cryptographic: it tells apart the inputs of cached results, which only root can write. */
#define STR_HASH64_INIT 0xcbf29ce484222325ULL
uint64_t str_hash64(uint64_t h, const void *data, size_t len);

/* A bounded text buffer (metrics textfiles, reports): appends stop at the first one that does
 * not fit, which sets overflow; the text before it stays terminated. */
struct strbuf {
	char *buf;
	size_t size, len;
	bool overflow;
};
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* write(2) all of len bytes, retrying EINTR. Returns 0, or -1 (errno set, or 0 on a short write). */
int fd_write_all(int fd, const void *data, size_t len);

#endif
