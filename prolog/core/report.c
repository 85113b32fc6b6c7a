/*
 * report.c -- check results and the efa-check report, human and JSON (DESIGN §2).
 */
#include "core/report.h"
#include "core/strutil.h"

#include <json-c/json.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_JSON_VERSION 1

const char *check_status_name(enum check_status s)
{
	switch (s) {
	case CHECK_PASS: return "PASS";
	case CHECK_FAIL: return "FAIL";
	case CHECK_SKIP: return "SKIP";
	}
	return "????";
}

void report_init(struct report *r, const char *mode, const char *node)
{
	memset(r, 0, sizeof(*r));
	r->flapping = -1;
	str_copy(r->mode, sizeof(r->mode), mode ? mode : "");
	str_copy(r->node, sizeof(r->node), node ? node : "");
}

void report_free(struct report *r)
{
	free(r->checks);
	free(r->links);
	for (size_t i = 0; i < r->nbad_nodes; i++)
		free(r->bad_nodes[i]);
	free(r->bad_nodes);
	for (size_t i = 0; i < r->nslow_nodes; i++)
		free(r->slow_nodes[i]);
	free(r->slow_nodes);
	r->checks = NULL;
	r->links = NULL;
	r->bad_nodes = NULL;
	r->slow_nodes = NULL;
	r->nchecks = r->checks_cap = r->nlinks = r->links_cap = r->nbad_nodes = r->nslow_nodes = 0;
}

void check_init(struct check_result *c, const char *name, const char *target)
{
	memset(c, 0, sizeof(*c));
	str_copy(c->name, sizeof(c->name), name ? name : "");
	str_copy(c->target, sizeof(c->target), target ? target : "");
	c->status = CHECK_PASS;
}

__attribute__((format(printf, 3, 0)))
static void vformat(char *dst, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(dst, size, fmt, ap);

	if (n < 0)
		dst[0] = '\0';
}

void check_detail(struct check_result *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

void check_fail(struct check_result *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	reason_sanitize(c->reason);
	c->status = CHECK_FAIL;
	if (!c->detail[0])
		str_copy(c->detail, sizeof(c->detail), c->reason);
}

void check_skip(struct check_result *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	c->status = CHECK_SKIP;
	c->reason[0] = '\0';
}

void check_metric(struct check_result *c, const char *name, double value)
{
	for (int i = 0; i < c->nmetrics; i++) {
		if (!strcmp(c->metrics[i].name, name)) {
			c->metrics[i].value = value;
			return;
		}
	}
	if (c->nmetrics >= CHECK_METRICS_MAX)
		return;
	str_copy(c->metrics[c->nmetrics].name, sizeof(c->metrics[0].name), name);
	c->metrics[c->nmetrics].value = value;
	c->nmetrics++;
}

static int grow(void **array, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*array, ncap * elem);
	if (!p)
		return -1;
	*array = p;
	*cap = ncap;
	return 0;
}

int report_add(struct report *r, const struct check_result *c)
{
	if (grow((void **)&r->checks, &r->checks_cap, r->nchecks + 1, sizeof(*c)))
		return -1;
	r->checks[r->nchecks++] = *c;
	return 0;
}

int report_add_link(struct report *r, const struct report_link *l)
{
	if (grow((void **)&r->links, &r->links_cap, r->nlinks + 1, sizeof(*l)))
		return -1;
	r->links[r->nlinks++] = *l;
	return 0;
}

static int add_name(char ***list, size_t *n, const char *node)
{
	char **p = realloc(*list, (*n + 1) * sizeof(*p));
	char *copy = strdup(node);

	if (!p || !copy) {
		free(copy);
		if (p)
			*list = p;
		return -1;
	}
	*list = p;
	p[(*n)++] = copy;
	return 0;
}

int report_add_bad_node(struct report *r, const char *node)
{
	return add_name(&r->bad_nodes, &r->nbad_nodes, node);
}

int report_add_slow_node(struct report *r, const char *node)
{
	return add_name(&r->slow_nodes, &r->nslow_nodes, node);
}

bool report_ok(const struct report *r)
{
	for (size_t i = 0; i < r->nchecks; i++)
		if (r->checks[i].status == CHECK_FAIL)
			return false;
	for (size_t i = 0; i < r->nlinks; i++)
		if (!r->links[i].ok)
			return false;
	return r->nbad_nodes == 0;
}

void report_set_internal(struct report *r, const char *fmt, ...)
{
	struct check_result c;
	char why[CHECK_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	check_init(&c, "internal", NULL);
	check_fail(&c, "no verdict: %s", why);
	report_add(r, &c);
	r->internal = true;
}

void reason_sanitize(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s) || (unsigned char)*s > 126)
			*s = ' ';
}

/* "lo: data mismatch" from check "loopback" becomes "loopback lo: data mismatch"; a reason
 * that already reads on its own ("3/4 EFA devices ...") is used as it is. */
static void check_reason_text(const struct check_result *c, char *buf, size_t size)
{
	size_t tlen = strlen(c->target);

	buf[0] = '\0';
	if (tlen && !strncmp(c->reason, c->target, tlen))
		str_appendf(buf, size, "%s %s", c->name, c->reason);
	else
		str_appendf(buf, size, "%s", c->reason[0] ? c->reason : c->name);
}

void report_finalize(struct report *r)
{
	char first[CHECK_REASON_MAX + CHECK_NAME_MAX + 2] = "";
	size_t failed = 0;

	for (size_t i = 0; i < r->nchecks; i++) {
		if (r->checks[i].status != CHECK_FAIL)
			continue;
		if (failed++ == 0)
			check_reason_text(&r->checks[i], first, sizeof(first));
	}
	r->reason[0] = '\0';
	if (failed == 0 && report_ok(r))
		return;
	if (failed == 0)
		str_copy(first, sizeof(first), "cross-node test failed");
	str_appendf(r->reason, sizeof(r->reason), "efa-check: %s", first);
	if (failed > 1) {
		char more[32];
		size_t room = sizeof(r->reason) - 1;

		snprintf(more, sizeof(more), " (+%zu more)", failed - 1);
		if (strlen(r->reason) + strlen(more) > room)
			r->reason[room - strlen(more)] = '\0';
		str_appendf(r->reason, sizeof(r->reason), "%s", more);
	}
	reason_sanitize(r->reason);
}

/* ---- JSON ------------------------------------------------------------------ */

static void json_add_string(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value));
}

json_object *check_to_json(const struct check_result *c)
{
	json_object *o = json_object_new_object();

	json_add_string(o, "name", c->name);
	if (c->target[0])
		json_add_string(o, "target", c->target);
	json_object_object_add(o, "ok", json_object_new_boolean(c->status != CHECK_FAIL));
	if (c->status == CHECK_SKIP)
		json_object_object_add(o, "skipped", json_object_new_boolean(1));
	json_add_string(o, "detail", c->detail);
	if (c->status == CHECK_FAIL)
		json_add_string(o, "reason", c->reason);
	if (c->transient)
		json_object_object_add(o, "transient", json_object_new_boolean(1));
	if (c->slow)
		json_object_object_add(o, "slow", json_object_new_boolean(1));
	json_object_object_add(o, "duration_ms", json_object_new_int64(c->duration_ms));
	if (c->nmetrics) {
		json_object *m = json_object_new_object();

		for (int i = 0; i < c->nmetrics; i++)
			json_object_object_add(m, c->metrics[i].name,
					       json_object_new_double(c->metrics[i].value));
		json_object_object_add(o, "metrics", m);
	}
	return o;
}

static int json_get_string(json_object *o, const char *key, char *dst, size_t size, bool required)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v)) {
		if (!required) {
			dst[0] = '\0';
			return 0;
		}
		return -1;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	str_copy(dst, size, json_object_get_string(v));
	return 0;
}

static bool json_get_bool(json_object *o, const char *key, bool dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
		return dflt;
	return json_object_get_boolean(v);
}

static void parse_metrics(json_object *m, struct check_result *c)
{
	json_object_object_foreach(m, key, val) {
		if (json_object_is_type(val, json_type_double) || json_object_is_type(val, json_type_int))
			check_metric(c, key, json_object_get_double(val));
	}
}

int check_from_json(json_object *o, struct check_result *c)
{
	json_object *v;
	char name[CHECK_NAME_MAX];

	if (!o || !json_object_is_type(o, json_type_object))
		return -1;
	if (json_get_string(o, "name", name, sizeof(name), true))
		return -1;
	check_init(c, name, NULL);
	if (json_get_string(o, "target", c->target, sizeof(c->target), false) ||
	    json_get_string(o, "detail", c->detail, sizeof(c->detail), false) ||
	    json_get_string(o, "reason", c->reason, sizeof(c->reason), false))
		return -1;
	if (!json_get_bool(o, "ok", true))
		c->status = CHECK_FAIL;
	else if (json_get_bool(o, "skipped", false))
		c->status = CHECK_SKIP;
	c->transient = json_get_bool(o, "transient", false);
	c->slow = json_get_bool(o, "slow", false);
	if (json_object_object_get_ex(o, "duration_ms", &v))
		c->duration_ms = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "metrics", &v) && json_object_is_type(v, json_type_object))
		parse_metrics(v, c);
	reason_sanitize(c->reason);
	return 0;
}

/* "slow_devices": the targets of the checks judged slow against their siblings, when any. */
static void add_slow_devices(json_object *o, const struct report *r)
{
	json_object *a = NULL;

	for (size_t i = 0; i < r->nchecks; i++) {
		if (!r->checks[i].slow)
			continue;
		if (!a)
			a = json_object_new_array();
		json_object_array_add(a, json_object_new_string(r->checks[i].target));
	}
	if (a)
		json_object_object_add(o, "slow_devices", a);
}

static json_object *link_to_json(const struct report_link *l)
{
	json_object *o = json_object_new_object();

	json_add_string(o, "a", l->a);
	json_add_string(o, "b", l->b);
	json_object_object_add(o, "ok", json_object_new_boolean(l->ok));
	json_object_object_add(o, "gbps", json_object_new_double(l->gbps));
	json_object_object_add(o, "latency_us", json_object_new_double(l->latency_us));
	if (l->slow)
		json_object_object_add(o, "slow", json_object_new_boolean(true));
	if (l->detail[0])
		json_add_string(o, "detail", l->detail);
	return o;
}

json_object *report_to_json(const struct report *r)
{
	json_object *o = json_object_new_object();
	json_object *checks = json_object_new_array();
	bool ok = report_ok(r);

	json_object_object_add(o, "version", json_object_new_int(REPORT_JSON_VERSION));
	json_add_string(o, "tool", "efa-check");
	json_add_string(o, "mode", r->mode);
	json_add_string(o, "node", r->node);
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "duration_ms", json_object_new_int64(r->duration_ms));
	json_add_string(o, "provider", r->provider);
	json_add_string(o, "libfabric", r->libfabric);
	json_add_string(o, "libfabric_path", r->libfabric_path);
	json_add_string(o, "fabric", r->fabric);
	for (size_t i = 0; i < r->nchecks; i++)
		json_object_array_add(checks, check_to_json(&r->checks[i]));
	json_object_object_add(o, "checks", checks);
	add_slow_devices(o, r);
	if (!strcmp(r->mode, "cross") || r->nlinks || r->nbad_nodes) {
		json_object *links = json_object_new_array();
		json_object *bad = json_object_new_array();
		json_object *slow = json_object_new_array();

		for (size_t i = 0; i < r->nlinks; i++)
			json_object_array_add(links, link_to_json(&r->links[i]));
		for (size_t i = 0; i < r->nbad_nodes; i++)
			json_object_array_add(bad, json_object_new_string(r->bad_nodes[i]));
		for (size_t i = 0; i < r->nslow_nodes; i++)
			json_object_array_add(slow, json_object_new_string(r->slow_nodes[i]));
		json_object_object_add(o, "links", links);
		json_object_object_add(o, "bad_nodes", bad);
		json_object_object_add(o, "slow_nodes", slow);
	}
	if (!ok)
		json_add_string(o, "reason", r->reason);
	if (r->internal)
		json_object_object_add(o, "internal", json_object_new_boolean(true));
	if (r->note[0])
		json_add_string(o, "note", r->note);
	return o;
}

static int parse_links(json_object *arr, struct report *r)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *lo = json_object_array_get_idx(arr, i), *v;
		struct report_link l;

		memset(&l, 0, sizeof(l));
		if (json_get_string(lo, "a", l.a, sizeof(l.a), true) ||
		    json_get_string(lo, "b", l.b, sizeof(l.b), true) ||
		    json_get_string(lo, "detail", l.detail, sizeof(l.detail), false))
			return -1;
		l.ok = json_get_bool(lo, "ok", false);
		if (json_object_object_get_ex(lo, "gbps", &v))
			l.gbps = json_object_get_double(v);
		if (json_object_object_get_ex(lo, "latency_us", &v))
			l.latency_us = json_object_get_double(v);
		if (report_add_link(r, &l))
			return -1;
	}
	return 0;
}

int report_from_json(json_object *o, struct report *r)
{
	json_object *v;
	char mode[sizeof(r->mode)], node[sizeof(r->node)];

	if (!o || !json_object_is_type(o, json_type_object))
		return -1;
	if (!json_object_object_get_ex(o, "version", &v) || json_object_get_int(v) != REPORT_JSON_VERSION)
		return -1;
	if (json_get_string(o, "mode", mode, sizeof(mode), true) ||
	    json_get_string(o, "node", node, sizeof(node), true))
		return -1;
	report_init(r, mode, node);
	if (json_get_string(o, "provider", r->provider, sizeof(r->provider), false) ||
	    json_get_string(o, "libfabric", r->libfabric, sizeof(r->libfabric), false) ||
	    json_get_string(o, "libfabric_path", r->libfabric_path, sizeof(r->libfabric_path),
			    false) ||
	    json_get_string(o, "fabric", r->fabric, sizeof(r->fabric), false) ||
	    json_get_string(o, "reason", r->reason, sizeof(r->reason), false) ||
	    json_get_string(o, "note", r->note, sizeof(r->note), false))
		goto fail;
	if (json_object_object_get_ex(o, "duration_ms", &v))
		r->duration_ms = (long)json_object_get_int64(v);
	r->internal = json_get_bool(o, "internal", false);
	if (!json_object_object_get_ex(o, "checks", &v) || !json_object_is_type(v, json_type_array))
		goto fail;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct check_result c;

		if (check_from_json(json_object_array_get_idx(v, i), &c) || report_add(r, &c))
			goto fail;
	}
	if (json_object_object_get_ex(o, "links", &v) && json_object_is_type(v, json_type_array) &&
	    parse_links(v, r))
		goto fail;
	if (json_object_object_get_ex(o, "bad_nodes", &v) && json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(v, i));

			if (!s || report_add_bad_node(r, s))
				goto fail;
		}
	}
	reason_sanitize(r->reason);
	return 0;
fail:
	report_free(r);
	return -1;
}

int report_write_json(const struct report *r, FILE *f)
{
	json_object *o = report_to_json(r);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = fprintf(f, "%s\n", s) < 0 ? -1 : 0;

	json_object_put(o);
	return rc;
}

static void write_metrics_human(const struct check_result *c, FILE *f)
{
	for (int i = 0; i < c->nmetrics; i++)
		fprintf(f, "%s%s=%.3g", i ? " " : "  [", c->metrics[i].name, c->metrics[i].value);
	if (c->nmetrics)
		fputc(']', f);
}

void report_write_human(const struct report *r, FILE *f)
{
	bool ok = report_ok(r);

	fprintf(f, "efa-check %s on %s: %s (%ld ms; provider %s%s%s, libfabric %s%s%s)\n", r->mode,
		r->node[0] ? r->node : "?", ok ? "HEALTHY" : r->internal ? "NO VERDICT" : "UNHEALTHY", r->duration_ms,
		r->provider[0] ? r->provider : "-", r->fabric[0] ? ", fabric " : "", r->fabric,
		r->libfabric[0] ? r->libfabric : "-", r->libfabric_path[0] ? " at " : "",
		r->libfabric_path);
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct check_result *c = &r->checks[i];
		char label[CHECK_NAME_MAX + CHECK_TARGET_MAX + 2];

		snprintf(label, sizeof(label), "%s%s%s", c->name, c->target[0] ? " " : "", c->target);
		fprintf(f, "  %s  %-22s %6ld ms  %s%s", check_status_name(c->status), label,
			c->duration_ms, c->slow ? "SLOW: " : "", c->detail);
		write_metrics_human(c, f);
		fputc('\n', f);
	}
	for (size_t i = 0; i < r->nlinks; i++) {
		const struct report_link *l = &r->links[i];

		fprintf(f, "  %s  link %s <-> %s  %.2f Gb/s  %.1f us%s%s%s\n", l->ok ? "PASS" : "FAIL",
			l->a, l->b, l->gbps, l->latency_us, l->slow ? "  SLOW" : "",
			l->detail[0] ? "  " : "", l->detail);
	}
	if (r->nslow_nodes) {
		fprintf(f, "  slow nodes:");
		for (size_t i = 0; i < r->nslow_nodes; i++)
			fprintf(f, " %s", r->slow_nodes[i]);
		fputc('\n', f);
	}
	if (r->nbad_nodes) {
		fprintf(f, "  bad nodes:");
		for (size_t i = 0; i < r->nbad_nodes; i++)
			fprintf(f, " %s", r->bad_nodes[i]);
		fputc('\n', f);
	}
	if (r->note[0])
		fprintf(f, "  note: %s\n", r->note);
	if (!ok)
		fprintf(f, "reason: %s\n", r->reason);
}
