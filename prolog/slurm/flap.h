/*
 * flap.h -- flapping held. A node that efa-check drained and resumed FlapCount times within
 * FlapWindow seconds stays drained ("efa-check: flapping: ...") until an admin resumes it:
 * resuming it again would only let the next job land on it (NHC #95/#161). The health check
 * keeps running and recording its results meanwhile; efa-check never resumes a node held as
 * flapping (drain.c resume_decide), and never replaces that reason with another failure's.
 *
 * History: StateDir/flap-history, one event a line "<unix-seconds> drain|resume|hold|clear",
 * the newest FLAP_MAX_EVENTS kept, written atomically and read with O_NOFOLLOW from the vetted
 * StateDir like last-report.json, under the state lock. "clear" is written when the node is
 * found in service while the history says it was held: an admin resumed it, the count starts
 * again.
 */
#ifndef EFA_CHECK_FLAP_H
#define EFA_CHECK_FLAP_H

#include <stdbool.h>
#include <stddef.h>

#define FLAP_FILE "flap-history"
#define FLAP_MAX_EVENTS 64
#define FLAP_REASON_WORD "efa-check: flapping"

enum flap_kind { FLAP_DRAIN = 0, FLAP_RESUME, FLAP_HOLD, FLAP_CLEAR };

struct flap_event {
	double t;               /* Unix time, seconds */
	enum flap_kind kind;
};

struct flap_history {
	struct flap_event ev[FLAP_MAX_EVENTS];
	size_t n;
};

/* Strict parse of the file's text; -1 (h emptied) on any malformed line. */
int flap_parse(const char *text, struct flap_history *h);
/* The file's text into buf; returns its length (truncated history never). */
size_t flap_format(const struct flap_history *h, char *buf, size_t size);
/* Append an event, dropping the oldest when full. */
void flap_add(struct flap_history *h, enum flap_kind k, double t);
/* Resumes within [now - window_s, now] after the last clear. */
int flap_resumes(const struct flap_history *h, double now, int window_s);
/* The last event is a hold: the node should be drained as flapping. */
bool flap_held(const struct flap_history *h);
/* Should the next resume be a hold instead? (count 0 = never) */
bool flap_should_hold(const struct flap_history *h, double now, int count, int window_s);
/* "efa-check: flapping: drained and resumed 3 times in 24h" */
void flap_reason(char *buf, size_t size, int times, int window_s);
/* Is this (drain) reason efa-check's flapping hold? */
bool flap_reason_is_hold(const char *reason);

/* Load/save StateDir/flap-history (dirfd from state_dir_open). A missing file is an empty
 * history (0); an unreadable or malformed one is -1 (h empty: the caller logs it). */
int flap_load(int dirfd, struct flap_history *h);
int flap_save(int dirfd, const struct flap_history *h);

#endif
