/*
 * sweep.c -- the pure parts of `efa-check sweep` (see sweep.h): node availability, history,
 * order, sets, the cross report's verdict per node, counts, metrics.
 */
#include "slurm/sweep.h"
#include "core/strutil.h"
#include "cli/cli.h"

#include <json-c/json.h>
#include <slurm/slurm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- availability -------------------------------------------------------------------------- */

/* Flags that keep the scheduler off a node (slurm.h, Slurm 22.05 node_states flags; the same
 * ones sinfo folds into "drain", "down*", "maint", "boot", "powered_down"...). */
#define UNAVAILABLE_FLAGS (NODE_STATE_DRAIN | NODE_STATE_FAIL | NODE_STATE_NO_RESPOND |       \
			   NODE_STATE_MAINT | NODE_STATE_REBOOT_REQUESTED |                    \
			   NODE_STATE_REBOOT_ISSUED | NODE_STATE_POWERED_DOWN |                \
			   NODE_STATE_POWERING_DOWN | NODE_STATE_POWERING_UP |                 \
			   NODE_STATE_POWER_DOWN | NODE_STATE_POWER_DRAIN |                    \
			   NODE_STATE_INVALID_REG)
/* A node that finishes a job (COMPLETING) or that the scheduler set aside for a pending job
 * (PLANNED, 22.05+): a job has it, or is about to. */
#define BUSY_FLAGS (NODE_STATE_COMPLETING | NODE_STATE_PLANNED)

enum sweep_avail sweep_node_avail(uint32_t state, bool reservation)
{
	uint32_t base = state & NODE_STATE_BASE;

	if (base == NODE_STATE_DOWN || base == NODE_STATE_UNKNOWN || base == NODE_STATE_FUTURE ||
	    base == NODE_STATE_ERROR || (state & UNAVAILABLE_FLAGS))
		return AVAIL_UNAVAILABLE;
	if (base != NODE_STATE_IDLE || (state & BUSY_FLAGS))
		return AVAIL_BUSY;
	if ((state & NODE_STATE_RES) && !reservation)
		return AVAIL_BUSY;
	return AVAIL_IDLE;
}

const char *sweep_state_name(uint32_t state)
{
	uint32_t base = state & NODE_STATE_BASE;

	if (state & NODE_STATE_DRAIN)
		return base == NODE_STATE_IDLE || base == NODE_STATE_DOWN ? "drained" : "draining";
	if (state & NODE_STATE_NO_RESPOND)
		return "not_responding";
	if (state & NODE_STATE_FAIL)
		return "fail";
	if (state & NODE_STATE_MAINT)
		return "maint";
	if (state & (NODE_STATE_REBOOT_REQUESTED | NODE_STATE_REBOOT_ISSUED))
		return "reboot";
	if (state & (NODE_STATE_POWERED_DOWN | NODE_STATE_POWERING_DOWN | NODE_STATE_POWERING_UP |
		     NODE_STATE_POWER_DOWN | NODE_STATE_POWER_DRAIN))
		return "power_save";
	if (state & NODE_STATE_COMPLETING)
		return "completing";
	if (state & NODE_STATE_PLANNED)
		return "planned";
	switch (base) {
	case NODE_STATE_DOWN: return "down";
	case NODE_STATE_IDLE: return state & NODE_STATE_RES ? "reserved" : "idle";
	case NODE_STATE_ALLOCATED: return "allocated";
	case NODE_STATE_MIXED: return "mixed";
	case NODE_STATE_FUTURE: return "future";
	case NODE_STATE_ERROR: return "error";
	default: return "unknown";
	}
}

/* ---- results --------------------------------------------------------------------------------- */

static const char *const result_names[] = {
	[RESULT_NONE] = "none",
	[RESULT_OK] = "ok",
	[RESULT_BAD] = "bad",
	[RESULT_SLOW] = "slow",
	[RESULT_LINK] = "link",
	[RESULT_ERROR] = "error",
	[RESULT_BUSY] = "busy",
	[RESULT_UNAVAILABLE] = "unavailable",
	[RESULT_NOT_REACHED] = "not_reached",
};
#define NRESULTS (sizeof(result_names) / sizeof(result_names[0]))

const char *sweep_result_name(enum sweep_result r)
{
	return (size_t)r < NRESULTS ? result_names[r] : "none";
}

enum sweep_result sweep_result_parse(const char *s)
{
	for (size_t i = 0; s && i < NRESULTS; i++)
		if (!strcmp(s, result_names[i]))
			return (enum sweep_result)i;
	return RESULT_NONE;
}

bool sweep_result_tested(enum sweep_result r)
{
	return r == RESULT_OK || r == RESULT_BAD || r == RESULT_SLOW || r == RESULT_LINK;
}

/* ---- history ------------------------------------------------------------------------------------ */

void sweep_history_free(struct sweep_history *h)
{
	free(h->e);
	memset(h, 0, sizeof(*h));
}

const struct sweep_hist_entry *sweep_history_find(const struct sweep_history *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->e[i].name, name))
			return &h->e[i];
	return NULL;
}

int sweep_history_set(struct sweep_history *h, const char *name, double swept_at,
		      enum sweep_result result, const char *reason)
{
	struct sweep_hist_entry *e = (struct sweep_hist_entry *)sweep_history_find(h, name);

	if (!node_name_valid(name) || strlen(name) >= SWEEP_NAME_MAX)
		return -1;
	if (!e) {
		if (h->n >= SWEEP_NODES_MAX)
			return -1;
		if (h->n == h->cap) {
			size_t cap = h->cap ? h->cap * 2 : 16;
			struct sweep_hist_entry *g = realloc(h->e, cap * sizeof(*g));

			if (!g)
				return -1;
			h->e = g;
			h->cap = cap;
		}
		e = &h->e[h->n++];
		memset(e, 0, sizeof(*e));
		str_copy(e->name, sizeof(e->name), name);
	}
	e->swept_at = swept_at;
	e->result = result;
	str_copy(e->reason, sizeof(e->reason), reason ? reason : "");
	return 0;
}

static int parse_entry(struct sweep_history *h, const char *name, json_object *v)
{
	json_object *t, *r, *why;

	if (!json_object_is_type(v, json_type_object) ||
	    !json_object_object_get_ex(v, "swept_at", &t) ||
	    !(json_object_is_type(t, json_type_double) || json_object_is_type(t, json_type_int)) ||
	    !json_object_object_get_ex(v, "result", &r) || !json_object_is_type(r, json_type_string))
		return -1;
	if (json_object_object_get_ex(v, "reason", &why) && !json_object_is_type(why, json_type_string))
		return -1;
	return sweep_history_set(h, name, json_object_get_double(t),
				 sweep_result_parse(json_object_get_string(r)),
				 why ? json_object_get_string(why) : "");
}

int sweep_history_parse(const char *text, struct sweep_history *h)
{
	json_object *o = json_tokener_parse(text), *ver, *nodes;
	int rc = -1;

	memset(h, 0, sizeof(*h));
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "version", &ver) || json_object_get_int(ver) != 1 ||
	    !json_object_object_get_ex(o, "nodes", &nodes) ||
	    !json_object_is_type(nodes, json_type_object))
		goto out;
	json_object_object_foreach(nodes, name, v) {
		if (parse_entry(h, name, v) < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		sweep_history_free(h);
	json_object_put(o);
	return rc;
}

char *sweep_history_format(const struct sweep_history *h)
{
	json_object *o = json_object_new_object(), *nodes = json_object_new_object();
	char *s;

	json_object_object_add(o, "version", json_object_new_int(1));
	for (size_t i = 0; i < h->n; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "swept_at", json_object_new_double(h->e[i].swept_at));
		json_object_object_add(e, "result",
				       json_object_new_string(sweep_result_name(h->e[i].result)));
		json_object_object_add(e, "reason", json_object_new_string(h->e[i].reason));
		json_object_object_add(nodes, h->e[i].name, e);
	}
	json_object_object_add(o, "nodes", nodes);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* ---- order and sets ------------------------------------------------------------------------------- */

static int by_last_swept(const void *pa, const void *pb)
{
	const struct sweep_node *a = pa, *b = pb;

	if (a->last_swept != b->last_swept)
		return a->last_swept < b->last_swept ? -1 : 1;
	return strverscmp(a->name, b->name);
}

void sweep_order(struct sweep_node *nodes, size_t n)
{
	/* names are unique, so the order is total and qsort's instability does not matter */
	if (n > 1)
		qsort(nodes, n, sizeof(*nodes), by_last_swept);
}

size_t sweep_group(size_t n, size_t set_size, size_t *sizes, size_t max)
{
	size_t k, i;

	if (n < 2 || max == 0)
		return 0;
	if (set_size < SWEEP_MIN_SET)
		set_size = SWEEP_MIN_SET;
	if (n < SWEEP_MIN_SET) {
		sizes[0] = n;
		return 1;
	}
	k = (n + set_size - 1) / set_size;
	if (n / k < SWEEP_MIN_SET)
		k = n / SWEEP_MIN_SET;
	if (k > max)
		k = max;
	for (i = 0; i < k; i++)
		sizes[i] = n / k + (i < n % k);
	return k;
}

/* ---- the cross report ------------------------------------------------------------------------------ */

void sweep_outcome_free(struct sweep_set_outcome *o)
{
	for (size_t i = 0; i < o->nbad; i++)
		free(o->bad[i]);
	for (size_t i = 0; i < o->nslow; i++)
		free(o->slow[i]);
	free(o->bad);
	free(o->slow);
	free(o->link_a);
	free(o->link_b);
	memset(o, 0, sizeof(*o));
}

static int name_list(json_object *rep, const char *key, char ***out, size_t *n)
{
	json_object *arr;
	size_t len;

	*out = NULL;
	*n = 0;
	if (!json_object_object_get_ex(rep, key, &arr))
		return 0;   /* slow_nodes is newer than bad_nodes: absent is fine */
	if (!json_object_is_type(arr, json_type_array))
		return -1;
	len = json_object_array_length(arr);
	*out = calloc(len + 1, sizeof(char *));
	if (!*out)
		return -1;
	for (size_t i = 0; i < len; i++) {
		json_object *s = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(s, json_type_string))
			return -1;
		(*out)[i] = strdup(json_object_get_string(s));
		if (!(*out)[i])
			return -1;
		(*n)++;
	}
	return 0;
}

static int failed_links(json_object *rep, struct sweep_set_outcome *o)
{
	json_object *arr, *l, *a, *b, *ok;
	size_t len;

	if (!json_object_object_get_ex(rep, "links", &arr))
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return -1;
	len = json_object_array_length(arr);
	o->nlinks = len;
	o->link_a = calloc(len + 1, sizeof(*o->link_a));
	o->link_b = calloc(len + 1, sizeof(*o->link_b));
	if (!o->link_a || !o->link_b)
		return -1;
	for (size_t i = 0; i < len; i++) {
		l = json_object_array_get_idx(arr, i);
		if (!json_object_object_get_ex(l, "a", &a) || !json_object_object_get_ex(l, "b", &b) ||
		    !json_object_object_get_ex(l, "ok", &ok))
			return -1;
		if (json_object_get_boolean(ok))
			continue;
		str_copy(o->link_a[o->nlinks_failed], SWEEP_NAME_MAX, json_object_get_string(a));
		str_copy(o->link_b[o->nlinks_failed], SWEEP_NAME_MAX, json_object_get_string(b));
		o->nlinks_failed++;
	}
	return 0;
}

static json_object *cross_report(const char *line, size_t len)
{
	json_object *o, *mode;
	char *copy;

	if (len < 2 || line[0] != '{')
		return NULL;
	copy = strndup(line, len);
	if (!copy)
		return NULL;
	o = json_tokener_parse(copy);
	free(copy);
	if (o && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "mode", &mode) &&
	    !strcmp(json_object_get_string(mode), "cross"))
		return o;
	json_object_put(o);
	return NULL;
}

int sweep_parse_cross(const char *text, struct sweep_set_outcome *o)
{
	json_object *rep = NULL, *v;
	const char *s = text, *eol;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	for (; s && *s; s = eol ? eol + 1 : NULL) {
		json_object *cand;

		eol = strchr(s, '\n');
		cand = cross_report(s, eol ? (size_t)(eol - s) : strlen(s));
		if (cand) {
			json_object_put(rep);
			rep = cand;
		}
	}
	if (!rep)
		return -1;
	if (name_list(rep, "bad_nodes", &o->bad, &o->nbad) < 0 ||
	    name_list(rep, "slow_nodes", &o->slow, &o->nslow) < 0 || failed_links(rep, o) < 0)
		goto out;
	o->report_ok = json_object_object_get_ex(rep, "ok", &v) && json_object_get_boolean(v);
	if (json_object_object_get_ex(rep, "reason", &v) && json_object_is_type(v, json_type_string))
		str_copy(o->reason, sizeof(o->reason), json_object_get_string(v));
	o->have_report = true;
	rc = 0;
out:
	if (rc < 0)
		sweep_outcome_free(o);
	json_object_put(rep);
	return rc;
}

static bool in_list(char **list, size_t n, const char *node)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], node))
			return true;
	return false;
}

/* The report's reason when it is about this node ("efa-check: n3: cross: ..."), else a
 * generic one. */
static void node_reason(const struct sweep_set_outcome *o, const char *node, const char *what,
			char *reason, size_t size)
{
	static const char prefix[] = "efa-check: ";
	const char *r = o->reason;
	size_t len = strlen(node);

	if (!strncmp(r, prefix, sizeof(prefix) - 1))
		r += sizeof(prefix) - 1;
	if (!strncmp(r, node, len) && r[len] == ':' && r[len + 1] == ' ')
		snprintf(reason, size, "%s", r + len + 2);
	else
		snprintf(reason, size, "cross: %s (see the set's report)", what);
}

enum sweep_result sweep_node_result(const struct sweep_set_outcome *o, const char *node,
				    char *reason, size_t size)
{
	reason[0] = '\0';
	if (!o->have_report) {
		snprintf(reason, size, "no cross report");
		return RESULT_ERROR;
	}
	if (in_list(o->bad, o->nbad, node)) {
		node_reason(o, node, "bad node", reason, size);
		return RESULT_BAD;
	}
	if (in_list(o->slow, o->nslow, node)) {
		node_reason(o, node, "slow node", reason, size);
		return RESULT_SLOW;
	}
	for (size_t i = 0; i < o->nlinks_failed; i++) {
		bool mine_a = !strcmp(o->link_a[i], node), mine_b = !strcmp(o->link_b[i], node);
		const char *peer = mine_a ? o->link_b[i] : o->link_a[i];

		/* a link to a node blamed bad or slow is explained by that node */
		if (in_list(o->bad, o->nbad, peer) || in_list(o->slow, o->nslow, peer))
			continue;
		if (mine_a || mine_b) {
			snprintf(reason, size, "cross: link %s<->%s failed", o->link_a[i], o->link_b[i]);
			return RESULT_LINK;
		}
	}
	if (!o->report_ok && !o->nbad && !o->nslow && !o->nlinks_failed) {
		/* failed without naming a node or link (e.g. NCCL on the whole set) */
		str_copy(reason, size, o->reason[0] ? o->reason : "cross check failed");
		return RESULT_ERROR;
	}
	return RESULT_OK;
}

/* ---- counts, exit code, metrics ---------------------------------------------------------------------- */

void sweep_count(const struct sweep_node *nodes, size_t n, struct sweep_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		switch (nodes[i].result) {
		case RESULT_OK: c->ok++; break;
		case RESULT_BAD: c->bad++; break;
		case RESULT_SLOW: c->slow++; break;
		case RESULT_LINK: c->link++; break;
		case RESULT_ERROR: c->error++; break;
		case RESULT_BUSY: c->busy++; break;
		case RESULT_UNAVAILABLE: c->unavailable++; break;
		case RESULT_NOT_REACHED: c->not_reached++; break;
		case RESULT_NONE: break;
		}
		if (sweep_result_tested(nodes[i].result))
			c->tested++;
	}
}

int sweep_exit_code(const struct sweep_counts *c, bool internal_error)
{
	if (c->bad || c->slow || c->link)
		return EXIT_UNHEALTHY;
	if (c->error || internal_error)
		return EXIT_INTERNAL;
	return EXIT_HEALTHY;
}

static void mhead(struct strbuf *o, const char *name, const char *type, const char *help)
{
	strbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Node names are validated ([A-Za-z0-9._-]) before they enter the history: no label escaping
 * is needed. */
long sweep_metrics_format(const struct sweep_history *h, const struct sweep_counts *c,
			  double finished_at, double duration_s, char *buf, size_t size)
{
	struct strbuf o = { .buf = buf, .size = size };
	const struct { const char *name; size_t v; } counts[] = {
		{ "tested", c->tested }, { "ok", c->ok }, { "bad", c->bad }, { "slow", c->slow },
		{ "link", c->link }, { "error", c->error }, { "busy", c->busy },
		{ "unavailable", c->unavailable }, { "not_reached", c->not_reached },
	};

	if (!size)
		return -1;
	buf[0] = '\0';
	mhead(&o, "efa_check_sweep_node_last_swept_timestamp_seconds", "gauge",
	      "Unix time the node's links were last tested by efa-check sweep.");
	for (size_t i = 0; i < h->n; i++)
		strbuf_printf(&o, "efa_check_sweep_node_last_swept_timestamp_seconds{node=\"%s\"} %.3f\n",
		      h->e[i].name, h->e[i].swept_at);
	mhead(&o, "efa_check_sweep_node_ok", "gauge",
	      "1 if the node's last sweep found nothing wrong, 0 otherwise.");
	for (size_t i = 0; i < h->n; i++)
		strbuf_printf(&o, "efa_check_sweep_node_ok{node=\"%s\"} %d\n", h->e[i].name,
		      h->e[i].result == RESULT_OK);
	mhead(&o, "efa_check_sweep_node_result", "gauge",
	      "1 for the node's last sweep result (ok, bad, slow, link, error).");
	for (size_t i = 0; i < h->n; i++)
		strbuf_printf(&o, "efa_check_sweep_node_result{node=\"%s\",result=\"%s\"} 1\n", h->e[i].name,
		      sweep_result_name(h->e[i].result));
	mhead(&o, "efa_check_sweep_nodes", "gauge", "Nodes of the last sweep by outcome.");
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		strbuf_printf(&o, "efa_check_sweep_nodes{outcome=\"%s\"} %zu\n", counts[i].name, counts[i].v);
	mhead(&o, "efa_check_sweep_duration_seconds", "gauge", "Wall time of the last sweep.");
	strbuf_printf(&o, "efa_check_sweep_duration_seconds %.3f\n", duration_s);
	mhead(&o, "efa_check_sweep_last_run_timestamp_seconds", "gauge",
	      "Unix time the last sweep finished.");
	strbuf_printf(&o, "efa_check_sweep_last_run_timestamp_seconds %.3f\n", finished_at);
	return o.overflow ? -1 : (long)o.len;
}
