/*
 * flap.c -- flapping held (see flap.h).
 */
#include "slurm/flap.h"
#include "slurm/state.h"
#include "core/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FLAP_FILE_MAX 8192

static const char *const kind_name[] = { "drain", "resume", "hold", "clear" };

static int parse_line(const char *line, size_t len, struct flap_event *e)
{
	char word[16], tail;
	long long t;
	char copy[64];

	if (len == 0 || len >= sizeof(copy))
		return -1;
	memcpy(copy, line, len);
	copy[len] = '\0';
	if (sscanf(copy, "%lld %15[a-z]%c", &t, word, &tail) != 2 || t < 0)
		return -1;
	for (size_t k = 0; k < sizeof(kind_name) / sizeof(kind_name[0]); k++)
		if (!strcmp(word, kind_name[k])) {
			e->t = (double)t;
			e->kind = (enum flap_kind)k;
			return 0;
		}
	return -1;
}

int flap_parse(const char *text, struct flap_history *h)
{
	const char *p = text;

	h->n = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		struct flap_event e;

		if (parse_line(p, len, &e)) {
			h->n = 0;
			return -1;
		}
		flap_add(h, e.kind, e.t);
		p += len + (nl ? 1 : 0);
	}
	return 0;
}

size_t flap_format(const struct flap_history *h, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < h->n; i++)
		str_appendf(buf, size, "%lld %s\n", (long long)h->ev[i].t, kind_name[h->ev[i].kind]);
	return strlen(buf);
}

void flap_add(struct flap_history *h, enum flap_kind k, double t)
{
	if (h->n == FLAP_MAX_EVENTS) {
		memmove(&h->ev[0], &h->ev[1], (FLAP_MAX_EVENTS - 1) * sizeof(h->ev[0]));
		h->n--;
	}
	h->ev[h->n++] = (struct flap_event){ .t = t, .kind = k };
}

int flap_resumes(const struct flap_history *h, double now, int window_s)
{
	int n = 0;

	for (size_t i = 0; i < h->n; i++) {
		if (h->ev[i].kind == FLAP_CLEAR)
			n = 0;
		else if (h->ev[i].kind == FLAP_RESUME && h->ev[i].t >= now - window_s && h->ev[i].t <= now)
			n++;
	}
	return n;
}

bool flap_held(const struct flap_history *h)
{
	return h->n && h->ev[h->n - 1].kind == FLAP_HOLD;
}

bool flap_should_hold(const struct flap_history *h, double now, int count, int window_s)
{
	return count > 0 && flap_resumes(h, now, window_s) >= count;
}

void flap_reason(char *buf, size_t size, int times, int window_s)
{
	if (window_s % 3600 == 0)
		snprintf(buf, size, FLAP_REASON_WORD ": drained and resumed %d times in %dh", times,
			 window_s / 3600);
	else
		snprintf(buf, size, FLAP_REASON_WORD ": drained and resumed %d times in %ds", times,
			 window_s);
}

bool flap_reason_is_hold(const char *reason)
{
	return reason && !strncmp(reason, FLAP_REASON_WORD, strlen(FLAP_REASON_WORD));
}

int flap_load(int dirfd, struct flap_history *h)
{
	char buf[FLAP_FILE_MAX + 1];
	struct stat st;
	size_t off = 0;
	int fd = openat(dirfd, FLAP_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	h->n = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > FLAP_FILE_MAX) {
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	buf[off] = '\0';
	return flap_parse(buf, h);
}

int flap_save(int dirfd, const struct flap_history *h)
{
	char buf[FLAP_FILE_MAX];
	size_t len = flap_format(h, buf, sizeof(buf));

	return state_write_atomic(dirfd, FLAP_FILE, buf, len, 0644);
}
