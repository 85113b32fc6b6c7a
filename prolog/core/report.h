/*
 * report.h -- results of efa-check's checks, and the report in human and JSON form.
 *
 * A report is a list of checks; each check has a name ("devices", "provider",
 * "loopback", "gpu", "limits", ...), an optional target (a domain or device), a status,
 * a human detail, a short reason used for drains, a duration and named metrics.
 * The JSON form is fixed by DESIGN §2 (version 1).
 */
#ifndef EFA_CHECK_REPORT_H
#define EFA_CHECK_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct json_object;

enum check_status {
	CHECK_PASS = 0,
	CHECK_FAIL = 1,
	CHECK_SKIP = 2,
};

#define CHECK_NAME_MAX   32
#define CHECK_TARGET_MAX 64
#define CHECK_DETAIL_MAX 512
#define CHECK_REASON_MAX 200
#define CHECK_METRICS_MAX 8

struct check_metric {
	char name[CHECK_NAME_MAX];  /* e.g. "write_gbps", "latency_us" */
	double value;
};

struct check_result {
	char name[CHECK_NAME_MAX];
	char target[CHECK_TARGET_MAX];   /* "" when the check is node-wide */
	enum check_status status;
	char detail[CHECK_DETAIL_MAX];   /* for humans, any length up to the buffer */
	char reason[CHECK_REASON_MAX];   /* short, for drains, without the "efa-check: " prefix;
	                                    empty unless status == CHECK_FAIL */
	long duration_ms;
	struct check_metric metrics[CHECK_METRICS_MAX];
	int nmetrics;
	bool transient;                  /* failure may be transient (retry once) */
	bool slow;                       /* loopback: far below the node's other devices
	                                    (MinDeviceFraction); failed only with OnSlow=drain.
	                                    JSON "slow": true, and the report's "slow_devices" */
};

struct report_link {
	char a[CHECK_TARGET_MAX];
	char b[CHECK_TARGET_MAX];
	bool ok;
	double gbps;
	double latency_us;
	bool slow;              /* cross: below MinLinkFraction of the median, neither end slow */
	char detail[CHECK_DETAIL_MAX];
};

struct report {
	char mode[16];          /* local, prolog, health, cross, env */
	char node[CHECK_TARGET_MAX];
	char provider[32];
	char libfabric[32];     /* runtime libfabric version, "" if unknown */
	char libfabric_path[256]; /* the libfabric file that was loaded, "" if unknown */
	char fabric[64];        /* the fabric tested (efa-direct, efa, ...), "" if unknown */
	long duration_ms;
	struct check_result *checks;
	size_t nchecks, checks_cap;
	struct report_link *links;   /* cross mode only */
	size_t nlinks, links_cap;
	char **bad_nodes;            /* cross mode only */
	size_t nbad_nodes;
	char **slow_nodes;           /* cross mode only: judged slow against the allocation */
	size_t nslow_nodes;
	int flapping;                /* health: 1 held drained as flapping, 0 not, -1 unknown */
	char reason[CHECK_REASON_MAX + 16];  /* "efa-check: ..." when not ok, else "" */
	char note[256];              /* e.g. "cached result from 12 s ago", "retried once" */
	bool internal;               /* no verdict (exit 3): the run did not complete (worker
	                                crashed, could not start, unkillable, no lock...). Never
	                                healthy, never cached, never resumes a node; drains only
	                                with OnInternal=drain. JSON "internal": true. */
};

/* Initialise an empty report. */
void report_init(struct report *r, const char *mode, const char *node);
void report_free(struct report *r);

/* Start a check result (zeroed, named, timed from now by the caller). */
void check_init(struct check_result *c, const char *name, const char *target);
/* printf-style setters; they truncate safely. check_fail sets status and reason and, when
 * the detail is still empty, uses the reason as detail. */
void check_detail(struct check_result *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void check_fail(struct check_result *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void check_skip(struct check_result *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void check_metric(struct check_result *c, const char *name, double value);

/* Append a copy of c. Returns 0, or -1 on allocation failure. */
int report_add(struct report *r, const struct check_result *c);
int report_add_link(struct report *r, const struct report_link *l);
int report_add_bad_node(struct report *r, const char *node);
int report_add_slow_node(struct report *r, const char *node);

/* Mark r as "no verdict": adds a failed check "internal" whose reason is "no verdict: <why>"
 * and sets r->internal. */
void report_set_internal(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* true when no check failed (an internal result has a failed "internal" check). */
bool report_ok(const struct report *r);

/* Compute r->reason from the failed checks: "efa-check: " + the first failure's reason,
 * + " (+N more)" when several failed; printable ASCII only, bounded length. */
void report_finalize(struct report *r);

/* Sanitize s in place for a drain reason: printable ASCII, no newlines. */
void reason_sanitize(char *s);

/* JSON (DESIGN §2). Caller owns the returned object (json_object_put). */
struct json_object *report_to_json(const struct report *r);
struct json_object *check_to_json(const struct check_result *c);
/* Parse a check object produced by check_to_json. Returns 0 or -1 if malformed. */
int check_from_json(struct json_object *o, struct check_result *c);
/* Parse a whole report produced by report_to_json. Returns 0 or -1 if malformed. */
int report_from_json(struct json_object *o, struct report *r);

/* Write the JSON report (one line) or the human report to f. */
int report_write_json(const struct report *r, FILE *f);
void report_write_human(const struct report *r, FILE *f);

const char *check_status_name(enum check_status s);

#endif
