/*
 * metrics.c -- Prometheus text exposition format 0.0.4 (see metrics.h).
 */
#include "core/metrics.h"
#include "core/strutil.h"
#include "core/report.h"
#include "slurm/state.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX (1 << 20)

/* Label values escape backslash, double quote and newline. */
static void label_escape(const char *s, char *dst, size_t size)
{
	size_t j = 0;

	for (; *s && j + 3 < size; s++) {
		if (*s == '\\' || *s == '"') {
			dst[j++] = '\\';
			dst[j++] = *s;
		} else if (*s == '\n') {
			dst[j++] = '\\';
			dst[j++] = 'n';
		} else {
			dst[j++] = *s;
		}
	}
	dst[j] = '\0';
}

static void header(struct strbuf *o, const char *name, const char *type, const char *help)
{
	strbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void check_labels(const struct check_result *c, char *buf, size_t size)
{
	char name[2 * CHECK_NAME_MAX + 1], target[2 * CHECK_TARGET_MAX + 1];

	label_escape(c->name, name, sizeof(name));
	label_escape(c->target, target, sizeof(target));
	snprintf(buf, size, "check=\"%s\",target=\"%s\"", name, target);
}

static bool metric_value(const struct check_result *c, const char *name, double *v)
{
	for (int i = 0; i < c->nmetrics; i++) {
		if (!strcmp(c->metrics[i].name, name)) {
			*v = c->metrics[i].value;
			return true;
		}
	}
	return false;
}

typedef void (*check_emit_fn)(struct strbuf *o, const struct check_result *c, const char *labels);

static void emit_ok(struct strbuf *o, const struct check_result *c, const char *labels)
{
	strbuf_printf(o, "efa_check_check_ok{%s} %d\n", labels, c->status != CHECK_FAIL);
}

static void emit_skipped(struct strbuf *o, const struct check_result *c, const char *labels)
{
	strbuf_printf(o, "efa_check_check_skipped{%s} %d\n", labels, c->status == CHECK_SKIP);
}

static void emit_duration(struct strbuf *o, const struct check_result *c, const char *labels)
{
	strbuf_printf(o, "efa_check_check_duration_seconds{%s} %.3f\n", labels, c->duration_ms / 1000.0);
}

static void per_check(struct strbuf *o, const struct report *r, check_emit_fn fn)
{
	char labels[4 * (CHECK_NAME_MAX + CHECK_TARGET_MAX)];

	for (size_t i = 0; i < r->nchecks; i++) {
		check_labels(&r->checks[i], labels, sizeof(labels));
		fn(o, &r->checks[i], labels);
	}
}

/* Loopback figures per domain in base units (Prometheus naming: bytes per second, seconds). */
static void per_loopback_base(struct strbuf *o, const struct report *r)
{
	static const struct { const char *metric, *name, *help; double scale; } m[] = {
		{ "write_gbps", "efa_check_loopback_write_bytes_per_second",
		  "Loopback RMA write bandwidth per libfabric domain (device).", 1e9 / 8 },
		{ "latency_us", "efa_check_loopback_latency_seconds",
		  "Loopback small-message latency per libfabric domain (device).", 1e-6 },
	};
	char domain[2 * CHECK_TARGET_MAX + 1];
	double v;

	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		bool any = false;

		for (size_t i = 0; i < r->nchecks; i++) {
			const struct check_result *c = &r->checks[i];

			if (strcmp(c->name, "loopback") || !metric_value(c, m[k].metric, &v))
				continue;
			if (!any)
				header(o, m[k].name, "gauge", m[k].help);
			any = true;
			label_escape(c->target, domain, sizeof(domain));
			strbuf_printf(o, "%s{domain=\"%s\"} %g\n", m[k].name, domain, v * m[k].scale);
		}
	}
}

/* Every measured loopback domain's slow state (MinDeviceFraction against its siblings). */
static void per_device_slow(struct strbuf *o, const struct report *r)
{
	char domain[2 * CHECK_TARGET_MAX + 1];
	bool any = false;
	double v;

	for (size_t i = 0; i < r->nchecks; i++) {
		const struct check_result *c = &r->checks[i];

		if (strcmp(c->name, "loopback") || !metric_value(c, "write_gbps", &v))
			continue;
		if (!any)
			header(o, "efa_check_device_slow", "gauge",
			       "1 if the domain's loopback ran below MinDeviceFraction of the node's median.");
		any = true;
		label_escape(c->target, domain, sizeof(domain));
		strbuf_printf(o, "efa_check_device_slow{domain=\"%s\"} %d\n", domain, c->slow ? 1 : 0);
	}
}

static bool name_in(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

/* Cross mode: every link's bandwidth, latency, state, and every node's slow state. */
static void per_link(struct strbuf *o, const struct report *r)
{
	static const char *const names[] = { "efa_check_link_bytes_per_second",
					     "efa_check_link_latency_seconds", "efa_check_link_ok",
					     "efa_check_link_slow" };
	static const char *const help[] = {
		"Cross-node RDMA write bandwidth per link (the slower direction).",
		"Cross-node RDMA read round-trip latency per link.",
		"1 if the link passed its cross-node tests.",
		"1 if the link ran below MinLinkFraction of the allocation's median, neither end slow.",
	};
	char a[2 * CHECK_TARGET_MAX + 1], b[2 * CHECK_TARGET_MAX + 1];

	if (!r->nlinks)
		return;
	for (size_t k = 0; k < 4; k++) {
		header(o, names[k], "gauge", help[k]);
		for (size_t i = 0; i < r->nlinks; i++) {
			const struct report_link *l = &r->links[i];
			double v = k == 0 ? l->gbps * 1e9 / 8 : k == 1 ? l->latency_us * 1e-6 : k == 2 ? l->ok : l->slow;

			label_escape(l->a, a, sizeof(a));
			label_escape(l->b, b, sizeof(b));
			strbuf_printf(o, "%s{a=\"%s\",b=\"%s\"} %g\n", names[k], a, b, v);
		}
	}
	header(o, "efa_check_node_slow", "gauge",
	       "1 if the node's links ran below MinLinkFraction of the allocation's median (cross).");
	for (size_t i = 0; i < r->nlinks; i++)
		for (int e = 0; e < 2; e++) {
			const char *n = e ? r->links[i].b : r->links[i].a;
			bool seen = false;

			for (size_t j = 0; j < i && !seen; j++)
				seen = !strcmp(r->links[j].a, n) || !strcmp(r->links[j].b, n);
			if (seen || (e && !strcmp(r->links[i].a, n)))
				continue;
			label_escape(n, a, sizeof(a));
			strbuf_printf(o, "efa_check_node_slow{node=\"%s\"} %d\n", a,
			     name_in(r->slow_nodes, r->nslow_nodes, n));
		}
}

long metrics_format(const struct report *r, double finished_at, long runs, char *buf, size_t size)
{
	struct strbuf o = { .buf = buf, .size = size };

	if (!size)
		return -1;
	buf[0] = '\0';
	header(&o, "efa_check_ok", "gauge", "1 if the last efa-check run passed every check.");
	strbuf_printf(&o, "efa_check_ok %d\n", report_ok(r));
	header(&o, "efa_check_check_ok", "gauge", "1 if the check passed or was skipped, 0 if it failed.");
	per_check(&o, r, emit_ok);
	header(&o, "efa_check_check_skipped", "gauge", "1 if the check could not run on this node.");
	per_check(&o, r, emit_skipped);
	header(&o, "efa_check_check_duration_seconds", "gauge", "Duration of each check.");
	per_check(&o, r, emit_duration);
	per_loopback_base(&o, r);
	per_device_slow(&o, r);
	per_link(&o, r);
	if (r->flapping >= 0) {
		header(&o, "efa_check_flapping", "gauge",
		       "1 if the node is held drained as flapping (until an admin resumes it).");
		strbuf_printf(&o, "efa_check_flapping %d\n", r->flapping);
	}
	header(&o, "efa_check_duration_seconds", "gauge", "Duration of the whole efa-check run.");
	strbuf_printf(&o, "efa_check_duration_seconds %.3f\n", r->duration_ms / 1000.0);
	header(&o, "efa_check_last_run_timestamp_seconds", "gauge",
	       "Unix time the last real efa-check run finished.");
	strbuf_printf(&o, "efa_check_last_run_timestamp_seconds %.3f\n", finished_at);
	header(&o, "efa_check_runs_total", "counter", "Real efa-check runs recorded in StateDir.");
	strbuf_printf(&o, "efa_check_runs_total %ld\n", runs);
	return o.overflow ? -1 : (long)o.len;
}

int metrics_write(const char *path, const struct report *r, double finished_at, long runs,
		  char *err, size_t errlen)
{
	char *buf = malloc(METRICS_MAX);
	long n;
	int rc = -1;

	if (!buf) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = metrics_format(r, finished_at, runs, buf, METRICS_MAX);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(EOVERFLOW));
		goto out;
	}
	rc = write_file_atomic(path, buf, (size_t)n, 0644, err, errlen);
out:
	free(buf);
	return rc;
}
