/*
 * cmd_sweep.c -- `efa-check sweep [--partition P] [--nodes HOSTLIST] [--max-nodes N] [--json]`:
 * test the links between idle nodes before a job needs them (sweep.h, sweep_io.h).
 *
 *   1. take StateDir/sweep.lock (one sweep at a time on this host), read StateDir/sweep.json;
 *   2. ask slurmctld for the partition, its nodes and the jobs waiting in it;
 *   3. keep the idle nodes (never a node in a job, about to get one, or drained/down), least
 *      recently swept first, at most --max-nodes, and group them into sets (sweep_group);
 *   4. per set: unless jobs now wait in the partition (they get the nodes: the sweep stops),
 *      srun --immediate ... efa-check cross --json on the set's still idle nodes; the cross
 *      check blames and drains exactly as any cross run; record each node's result;
 *   5. read the nodes' states once more (drain reasons), print the summary or JSON, write the
 *      Prometheus textfile, exit 0 / 1 (a node bad, slow or on a failed link) / 2 / 3.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/strutil.h"
#include "slurm/state.h"
#include "slurm/sweep.h"
#include "slurm/sweep_io.h"

#include <json-c/json.h>
#include <slurm/slurm.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OPT_PARTITION 0x200
#define OPT_NODES     0x201
#define OPT_MAX_NODES 0x202

#define RPC_TIMEOUT_MS    15000   /* one libslurm query (slurmctld answers in ms when up) */
#define SET_SLACK_S       20      /* allocation, launch and teardown of a set's job */
#define METRICS_MAX       (4 << 20)

/* hostlist_t is a pointer typedef up to Slurm 23.02 and an incomplete struct (the API takes
 * hostlist_t *) from 23.11: take the type from what slurm_hostlist_create returns (config.c). */
typedef __typeof__(slurm_hostlist_create("")) sweep_hostlist;

struct sweep_cli {
	const char *partition;
	const char *nodes;
	long max_nodes;           /* -1 = not given */
};

struct set_info {
	size_t first, count;      /* nodes[first .. first+count) */
	char *hostlist;
	int exit_code;
	bool timed_out, ran;
	long duration_ms;
	char result[16];          /* ok, bad, busy, error, skipped */
	char reason[SWEEP_REASON_MAX];
};

struct sweep {
	const struct cli_opts *o;
	const struct efa_config *cfg;
	int64_t t0, deadline;
	double started_at;
	char partition[SWEEP_NAME_MAX];
	struct sweep_node *nodes;
	size_t n, nidle;
	struct set_info *sets;
	size_t nsets;
	struct sweep_history hist;
	int dirfd;
	bool internal_error;
	char note[512];
};

/* ---- options -------------------------------------------------------------------------------- */

static const struct option sweep_longopts[] = {
	{ "partition", required_argument, NULL, OPT_PARTITION },
	{ "nodes", required_argument, NULL, OPT_NODES },
	{ "max-nodes", required_argument, NULL, OPT_MAX_NODES },
	{ NULL, 0, NULL, 0 },
};

static bool hostlist_chars_ok(const char *s)
{
	if (!*s || strlen(s) > 65536)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.,[]", *s))
			return false;
	return true;
}

static int sweep_handle(int opt, const char *arg, void *ctx)
{
	struct sweep_cli *sc = ctx;
	char q[80];

	switch (opt) {
	case OPT_PARTITION:
		if (!*arg || strlen(arg) >= SWEEP_NAME_MAX || arg[0] == '-' || !node_name_valid(arg)) {
			cli_error("sweep: --partition: invalid partition name '%s'",
				  str_printable(q, sizeof(q), arg));
			return -1;
		}
		sc->partition = arg;
		return 0;
	case OPT_NODES:
		if (!hostlist_chars_ok(arg)) {
			cli_error("sweep: --nodes: expected a hostlist like n[1-4,7], got '%s'",
				  str_printable(q, sizeof(q), arg));
			return -1;
		}
		sc->nodes = arg;
		return 0;
	case OPT_MAX_NODES:
		if (parse_long(arg, 1, SWEEP_NODES_MAX, &sc->max_nodes)) {
			cli_error("sweep: --max-nodes: expected 1..%d, got '%s'", SWEEP_NODES_MAX,
				  str_printable(q, sizeof(q), arg));
			return -1;
		}
		return 0;
	}
	return -1;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static int64_t ms_left(const struct sweep *sw)
{
	return sw->deadline - now_ms();
}

static int rpc_timeout(const struct sweep *sw)
{
	int64_t left = ms_left(sw);

	return (int)(left < RPC_TIMEOUT_MS ? (left > 0 ? left : 1) : RPC_TIMEOUT_MS);
}

static void mark(struct sweep_node *n, enum sweep_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void mark(struct sweep_node *n, enum sweep_result r, const char *fmt, ...)
{
	va_list ap;

	n->result = r;
	va_start(ap, fmt);
	vsnprintf(n->reason, sizeof(n->reason), fmt, ap);
	va_end(ap);
}

/* slurm_hostlist_ranged_string_malloc() exists only up to 23.02 (23.11 made it internal:
 * SchedMD/slurm commit 085625daf9 "Limit visibility of hostlist_ranged_string_malloc()"), and
 * the _xmalloc variant needs Slurm's xfree. The buffer variant is in every release 22.05-25.05:
 * grow the buffer until the list fits (it returns -1 when truncated). */
#define RANGED_MAX (1 << 20)

static char *ranged(const struct sweep_node *nodes, size_t count)
{
	sweep_hostlist h = slurm_hostlist_create(NULL);
	char *buf = NULL;

	if (!h)
		return NULL;
	for (size_t i = 0; i < count; i++)
		slurm_hostlist_push_host(h, nodes[i].name);
	slurm_hostlist_uniq(h);   /* sorted, for the reader */
	for (size_t size = 4096; size <= RANGED_MAX; size *= 2) {
		char *bigger = realloc(buf, size);

		if (!bigger)
			break;
		buf = bigger;
		if (slurm_hostlist_ranged_string(h, size, buf) >= 0) {
			slurm_hostlist_destroy(h);
			return buf;
		}
	}
	slurm_hostlist_destroy(h);
	free(buf);
	return NULL;
}

/* ---- 1. state ------------------------------------------------------------------------------------- */

static int open_state(struct sweep *sw, int *lockfd)
{
	char err[512], *text;

	sw->dirfd = state_dir_open(sw->cfg->state_dir, err, sizeof(err));
	if (sw->dirfd < 0) {
		cli_error("sweep: %s", err);
		return EXIT_INTERNAL;
	}
	*lockfd = state_lock_file(sw->dirfd, SWEEP_LOCK_FILE, now_ms());
	if (*lockfd < 0) {
		cli_error("sweep: another sweep is running on this host (%s/%s is locked)",
			  sw->cfg->state_dir, SWEEP_LOCK_FILE);
		return EXIT_INTERNAL;
	}
	text = state_read_file(sw->dirfd, SWEEP_STATE_FILE);
	if (text && sweep_history_parse(text, &sw->hist) < 0)
		cli_error("sweep: %s/%s is unreadable: starting a new history", sw->cfg->state_dir,
			  SWEEP_STATE_FILE);
	free(text);
	return 0;
}

static void save_state(struct sweep *sw)
{
	char *s = sweep_history_format(&sw->hist);

	if (!s || state_write_atomic(sw->dirfd, SWEEP_STATE_FILE, s, strlen(s), 0644) < 0) {
		cli_error("sweep: cannot write %s/%s: %s", sw->cfg->state_dir, SWEEP_STATE_FILE,
			  strerror(errno));
		sw->internal_error = true;
	}
	free(s);
}

/* ---- 2./3. which nodes ------------------------------------------------------------------------------ */

static int add_node(struct sweep *sw, const struct sweep_ctl_node *c)
{
	const struct sweep_hist_entry *h = sweep_history_find(&sw->hist, c->name);
	struct sweep_node *n = &sw->nodes[sw->n++];

	memset(n, 0, sizeof(*n));
	str_copy(n->name, sizeof(n->name), c->name);
	n->state = c->state;
	str_copy(n->state_reason, sizeof(n->state_reason), c->reason);
	n->avail = sweep_node_avail(c->state, sw->cfg->sweep_reservation[0] != '\0');
	n->last_swept = h ? h->swept_at : 0;
	n->set = -1;
	return 0;
}

/* The nodes to consider: --nodes (each must be known and in the partition), else the
 * partition's nodes. */
static int pick_nodes(struct sweep *sw, const struct sweep_snapshot *s, const char *want)
{
	sweep_hostlist part = slurm_hostlist_create(s->partition_nodes);
	sweep_hostlist req = want ? slurm_hostlist_create(want) : NULL;
	int rc = EXIT_USAGE;
	char *name;

	sw->nodes = calloc(s->nnodes + 1, sizeof(*sw->nodes));
	if (!part || !sw->nodes || (want && !req)) {
		cli_error(want && !req ? "sweep: --nodes: libslurm rejects the hostlist '%s'"
				       : "sweep: out of memory%s", want && !req ? want : "");
		goto out;
	}
	if (!req) {
		for (size_t i = 0; i < s->nnodes; i++)
			if (slurm_hostlist_find(part, s->nodes[i].name) >= 0)
				add_node(sw, &s->nodes[i]);
		rc = 0;
		goto out;
	}
	slurm_hostlist_uniq(req);
	while ((name = slurm_hostlist_shift(req)) != NULL) {
		const struct sweep_ctl_node *c = sweep_snapshot_node(s, name);

		if (!c || slurm_hostlist_find(part, name) < 0) {
			cli_error("sweep: --nodes: %s is %s", name,
				  c ? "not in partition" : "unknown to slurmctld");
			if (c)
				fprintf(stderr, "  (partition %s: %s)\n", s->partition, s->partition_nodes);
			free(name);
			goto out;
		}
		free(name);
		if (sw->n < s->nnodes)
			add_node(sw, c);
	}
	rc = 0;
out:
	if (part)
		slurm_hostlist_destroy(part);
	if (req)
		slurm_hostlist_destroy(req);
	return rc;
}

static int idle_first(const void *pa, const void *pb)
{
	const struct sweep_node *a = pa, *b = pb;

	if ((a->avail == AVAIL_IDLE) != (b->avail == AVAIL_IDLE))
		return a->avail == AVAIL_IDLE ? -1 : 1;
	return strverscmp(a->name, b->name);
}

/* Skip what is not idle, order the idle ones, cut at max, make the sets. */
static int plan(struct sweep *sw, long max_nodes)
{
	size_t *sizes, ncand, first = 0;

	qsort(sw->nodes, sw->n, sizeof(*sw->nodes), idle_first);
	for (sw->nidle = 0; sw->nidle < sw->n && sw->nodes[sw->nidle].avail == AVAIL_IDLE; sw->nidle++)
		;
	for (size_t i = sw->nidle; i < sw->n; i++) {
		struct sweep_node *n = &sw->nodes[i];

		if (n->avail == AVAIL_BUSY)
			mark(n, RESULT_BUSY, "%s", sweep_state_name(n->state));
		else
			mark(n, RESULT_UNAVAILABLE, "%s%s%s", sweep_state_name(n->state),
			     n->state_reason[0] ? ": " : "", n->state_reason);
	}
	sweep_order(sw->nodes, sw->nidle);
	ncand = sw->nidle;
	if (max_nodes > 0 && (size_t)max_nodes < ncand) {
		for (size_t i = (size_t)max_nodes; i < ncand; i++)
			mark(&sw->nodes[i], RESULT_NOT_REACHED, "--max-nodes %ld (swept more recently "
			     "than the others)", max_nodes);
		ncand = (size_t)max_nodes;
	}
	if (ncand == 1)
		mark(&sw->nodes[0], RESULT_NOT_REACHED, "no partner: the only idle node");
	sizes = calloc(ncand / 2 + 1, sizeof(*sizes));
	sw->sets = calloc(ncand / 2 + 1, sizeof(*sw->sets));
	if (!sizes || !sw->sets) {
		free(sizes);
		cli_error("sweep: out of memory");
		return EXIT_INTERNAL;
	}
	sw->nsets = sweep_group(ncand, (size_t)sw->cfg->sweep_set_size, sizes, ncand / 2 + 1);
	for (size_t i = 0; i < sw->nsets; i++) {
		sw->sets[i].first = first;
		sw->sets[i].count = sizes[i];
		sw->sets[i].hostlist = ranged(sw->nodes + first, sizes[i]);
		for (size_t j = first; j < first + sizes[i]; j++)
			sw->nodes[j].set = (int)i;
		first += sizes[i];
	}
	free(sizes);
	return 0;
}

/* ---- 4. the sets --------------------------------------------------------------------------------------- */

static int set_budget_s(const struct sweep *sw)
{
	return sw->cfg->timeout_s + sw->cfg->sweep_immediate_s + SET_SLACK_S;
}

static void skip_rest(struct sweep *sw, size_t from_set, const char *why)
{
	for (size_t s = from_set; s < sw->nsets; s++) {
		struct set_info *si = &sw->sets[s];

		str_copy(si->result, sizeof(si->result), "skipped");
		str_copy(si->reason, sizeof(si->reason), why);
		for (size_t j = si->first; j < si->first + si->count; j++)
			if (sw->nodes[j].result == RESULT_NONE)
				mark(&sw->nodes[j], RESULT_NOT_REACHED, "%s", why);
	}
}

/* Before a set: jobs waiting in the partition get the nodes (the sweep stops); nodes taken
 * since the sweep began are left alone. Returns false when the sweep must stop. */
static bool still_free(struct sweep *sw, size_t s, char *why, size_t size)
{
	struct sweep_snapshot snap;
	struct set_info *si = &sw->sets[s];
	char err[512];

	if (sweep_snapshot(sw->partition, true, rpc_timeout(sw), &snap, err, sizeof(err)) < 0) {
		snprintf(why, size, "slurmctld: %.400s", err);
		sw->internal_error = true;
		return false;
	}
	if (snap.jobs_waiting > 0 && sw->cfg->sweep_yield) {
		snprintf(why, size, "%ld job%s waiting for nodes of partition %s: left to %s",
			 snap.jobs_waiting, snap.jobs_waiting == 1 ? "" : "s", sw->partition,
			 snap.jobs_waiting == 1 ? "it" : "them");
		sweep_snapshot_free(&snap);
		return false;
	}
	for (size_t j = si->first; j < si->first + si->count; j++) {
		struct sweep_node *n = &sw->nodes[j];
		const struct sweep_ctl_node *c = sweep_snapshot_node(&snap, n->name);

		if (c && sweep_node_avail(c->state, sw->cfg->sweep_reservation[0]) == AVAIL_IDLE)
			continue;
		mark(n, RESULT_BUSY, "taken since the sweep began (%s)",
		     c ? sweep_state_name(c->state) : "gone");
	}
	sweep_snapshot_free(&snap);
	why[0] = '\0';
	return true;
}

/* The set's nodes that are still to be tested, packed to the front of the set. */
static size_t set_members(struct sweep *sw, struct set_info *si, struct sweep_node *out)
{
	size_t k = 0;

	for (size_t j = si->first; j < si->first + si->count; j++)
		if (sw->nodes[j].result == RESULT_NONE)
			out[k++] = sw->nodes[j];
	return k;
}

static struct sweep_node *node_by_name(struct sweep *sw, const char *name)
{
	for (size_t i = 0; i < sw->n; i++)
		if (!strcmp(sw->nodes[i].name, name))
			return &sw->nodes[i];
	return NULL;
}

static const char *last_line(const char *text, char *buf, size_t size)
{
	const char *end = text + strlen(text), *start;

	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(buf, size, "%.*s", (int)(end - start), start);
	return buf;
}

static void record(struct sweep *sw, struct sweep_node *n, double when)
{
	n->tested_at = when;
	if (sweep_history_set(&sw->hist, n->name, when, n->result, n->reason) < 0)
		sw->internal_error = true;
}

static void set_verdict(struct sweep *sw, struct set_info *si, struct sweep_node *members,
			size_t k, const struct sweep_srun_result *res)
{
	struct sweep_set_outcome oc;
	double now = unix_now();
	char line[512];
	bool have = res->out && sweep_parse_cross(res->out, &oc) == 0;
	const char *busy_line = have ? NULL : sweep_srun_busy(res->err_tail);
	bool busy = busy_line != NULL;

	if (!have && !busy) {
		if (res->timed_out)
			snprintf(si->reason, sizeof(si->reason), "deadline: srun killed after %ld s",
				 res->duration_ms / 1000);
		else
			snprintf(si->reason, sizeof(si->reason), "srun exit %d: %.200s", res->exit_code,
				 last_line(res->err_tail, line, sizeof(line)));
		sw->internal_error = true;
	}
	str_copy(si->result, sizeof(si->result),
		 !have ? (busy ? "busy" : "error") : oc.report_ok ? "ok" :
		 oc.nbad || oc.nslow || oc.nlinks_failed ? "bad" : "error");
	if (have)
		str_copy(si->reason, sizeof(si->reason), oc.reason);
	else if (busy)
		snprintf(si->reason, sizeof(si->reason), "a job took the nodes (%.*s)",
			 (int)strcspn(busy_line, "\n"), busy_line);
	for (size_t i = 0; i < k; i++) {
		struct sweep_node *n = node_by_name(sw, members[i].name);
		char why[SWEEP_REASON_MAX];

		if (!n)
			continue;
		if (busy) {
			mark(n, RESULT_BUSY, "%s", si->reason);
			continue;
		}
		if (!have) {
			mark(n, RESULT_ERROR, "%s", si->reason);
			record(sw, n, now);
			continue;
		}
		mark(n, sweep_node_result(&oc, n->name, why, sizeof(why)), "%s", why);
		if (n->result == RESULT_ERROR)
			sw->internal_error = true;
		record(sw, n, now);
	}
	if (have)
		sweep_outcome_free(&oc);
}

static void run_set(struct sweep *sw, size_t s, const char *job_name)
{
	struct set_info *si = &sw->sets[s];
	struct sweep_node *members = calloc(si->count, sizeof(*members));
	struct sweep_srun_result res;
	struct sweep_srun_args a = {
		.srun = sw->cfg->sweep_srun, .command = sw->cfg->sweep_command,
		.partition = sw->partition, .qos = sw->cfg->sweep_qos,
		.reservation = sw->cfg->sweep_reservation, .account = sw->cfg->sweep_account,
		.job_name = job_name, .nice = sw->cfg->sweep_nice,
		.immediate_s = sw->cfg->sweep_immediate_s, .time_limit_s = set_budget_s(sw),
		.cross_timeout_s = sw->cfg->timeout_s,
	};
	char err[256];
	size_t k;

	if (!members) {
		sw->internal_error = true;
		return;
	}
	k = set_members(sw, si, members);
	if (k != si->count) {   /* some were taken since the plan */
		free(si->hostlist);
		si->hostlist = ranged(members, k);
	}
	if (k < 2 || !si->hostlist) {
		str_copy(si->result, sizeof(si->result), "skipped");
		str_copy(si->reason, sizeof(si->reason), "fewer than 2 nodes left idle");
		for (size_t i = 0; i < k; i++)
			mark(node_by_name(sw, members[i].name), RESULT_NOT_REACHED,
			     "no partner left idle in its set");
		free(members);
		return;
	}
	a.nodelist = si->hostlist;
	a.nnodes = (int)k;
	cli_verbose(sw->o, "sweep: set %zu/%zu: %s", s + 1, sw->nsets, si->hostlist);
	sweep_srun(&a, now_ms() + (int64_t)set_budget_s(sw) * 1000, &res);
	si->ran = true;
	si->exit_code = res.exit_code;
	si->timed_out = res.timed_out;
	si->duration_ms = res.duration_ms;
	if (sw->o->verbose && res.err_tail[0])
		fprintf(stderr, "%s%s", res.err_tail,
			res.err_tail[strlen(res.err_tail) - 1] == '\n' ? "" : "\n");
	set_verdict(sw, si, members, k, &res);
	/* srun had to be killed: make sure its allocation does not outlive it */
	if (res.timed_out && sweep_cancel_jobs(job_name, rpc_timeout(sw), err, sizeof(err)) < 0)
		cli_error("sweep: could not cancel job %s: %s", job_name, err);
	sweep_srun_result_free(&res);
	free(members);
	save_state(sw);
}

static void run_sets(struct sweep *sw)
{
	char why[512], job_name[96];

	for (size_t s = 0; s < sw->nsets; s++) {
		if (ms_left(sw) < (int64_t)set_budget_s(sw) * 1000) {
			snprintf(why, sizeof(why), "sweep deadline (SweepTimeout=%d s) too close for "
				 "another set", sw->cfg->sweep_timeout_s);
			skip_rest(sw, s, why);
			return;
		}
		if (!still_free(sw, s, why, sizeof(why))) {
			skip_rest(sw, s, why);
			str_copy(sw->note, sizeof(sw->note), why);
			return;
		}
		snprintf(job_name, sizeof(job_name), "efa-check-sweep-%ld-%zu", (long)getpid(), s + 1);
		run_set(sw, s, job_name);
	}
}

/* ---- 5. after --------------------------------------------------------------------------------------------- */

static void read_after(struct sweep *sw)
{
	struct sweep_snapshot snap;
	char err[512];

	if (ms_left(sw) < 1000 ||
	    sweep_snapshot(sw->partition, false, rpc_timeout(sw), &snap, err, sizeof(err)) < 0)
		return;
	for (size_t i = 0; i < sw->n; i++) {
		const struct sweep_ctl_node *c = sweep_snapshot_node(&snap, sw->nodes[i].name);

		if (!c)
			continue;
		str_copy(sw->nodes[i].state_after, sizeof(sw->nodes[i].state_after),
			 sweep_state_name(c->state));
		str_copy(sw->nodes[i].reason_after, sizeof(sw->nodes[i].reason_after), c->reason);
	}
	sweep_snapshot_free(&snap);
}

static json_object *jtime(double t)
{
	return t > 0 ? json_object_new_double(t) : NULL;
}

static void write_json(const struct sweep *sw, const struct sweep_counts *c, int rc)
{
	json_object *o = json_object_new_object(), *sets = json_object_new_array();
	json_object *nodes = json_object_new_array(), *sum = json_object_new_object();
	const struct { const char *k; size_t v; } counts[] = {
		{ "nodes", sw->n }, { "tested", c->tested }, { "ok", c->ok }, { "bad", c->bad },
		{ "slow", c->slow }, { "link", c->link }, { "error", c->error }, { "busy", c->busy },
		{ "unavailable", c->unavailable }, { "not_reached", c->not_reached },
		{ "sets", sw->nsets },
	};

	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "tool", json_object_new_string("efa-check"));
	json_object_object_add(o, "mode", json_object_new_string("sweep"));
	json_object_object_add(o, "node", json_object_new_string(sw->o->node));
	json_object_object_add(o, "partition", json_object_new_string(sw->partition));
	json_object_object_add(o, "ok", json_object_new_boolean(rc == EXIT_HEALTHY));
	json_object_object_add(o, "exit_code", json_object_new_int(rc));
	json_object_object_add(o, "started_at", json_object_new_double(sw->started_at));
	json_object_object_add(o, "duration_ms", json_object_new_int64(now_ms() - sw->t0));
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		json_object_object_add(sum, counts[i].k, json_object_new_int64((int64_t)counts[i].v));
	json_object_object_add(o, "summary", sum);
	for (size_t s = 0; s < sw->nsets; s++) {
		const struct set_info *si = &sw->sets[s];
		json_object *j = json_object_new_object();

		json_object_object_add(j, "nodes", json_object_new_string(si->hostlist ? si->hostlist : ""));
		json_object_object_add(j, "size", json_object_new_int((int)si->count));
		json_object_object_add(j, "result", json_object_new_string(si->result));
		json_object_object_add(j, "reason", json_object_new_string(si->reason));
		json_object_object_add(j, "exit_code", si->ran ? json_object_new_int(si->exit_code) : NULL);
		json_object_object_add(j, "timed_out", json_object_new_boolean(si->timed_out));
		json_object_object_add(j, "duration_ms", json_object_new_int64(si->duration_ms));
		json_object_array_add(sets, j);
	}
	json_object_object_add(o, "sets", sets);
	for (size_t i = 0; i < sw->n; i++) {
		const struct sweep_node *n = &sw->nodes[i];
		json_object *j = json_object_new_object();

		json_object_object_add(j, "name", json_object_new_string(n->name));
		json_object_object_add(j, "result", json_object_new_string(sweep_result_name(n->result)));
		json_object_object_add(j, "tested", json_object_new_boolean(sweep_result_tested(n->result)));
		json_object_object_add(j, "tested_at", jtime(n->tested_at));
		json_object_object_add(j, "previously_swept_at", jtime(n->last_swept));
		json_object_object_add(j, "reason", json_object_new_string(n->reason));
		json_object_object_add(j, "state_before", json_object_new_string(sweep_state_name(n->state)));
		json_object_object_add(j, "state_after", json_object_new_string(n->state_after));
		json_object_object_add(j, "reason_after", json_object_new_string(n->reason_after));
		json_object_array_add(nodes, j);
	}
	json_object_object_add(o, "nodes", nodes);
	if (sw->note[0])
		json_object_object_add(o, "note", json_object_new_string(sw->note));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static bool shows_after(enum sweep_result r)
{
	return r == RESULT_BAD || r == RESULT_SLOW || r == RESULT_LINK;
}

static bool same_line(const struct sweep_node *a, const struct sweep_node *b)
{
	return a->result == b->result && !strcmp(a->reason, b->reason) &&
	       (!shows_after(a->result) || (!strcmp(a->state_after, b->state_after) &&
					    !strcmp(a->reason_after, b->reason_after)));
}

/* One line per result and reason (nodes as a hostlist): bad, slow, link, error first, then the
 * skipped ones; ok nodes only with --verbose. */
static void write_node_lines(const struct sweep *sw)
{
	static const enum sweep_result order[] = { RESULT_BAD, RESULT_SLOW, RESULT_LINK, RESULT_ERROR,
						    RESULT_BUSY, RESULT_UNAVAILABLE, RESULT_NOT_REACHED,
						    RESULT_OK };
	bool *done = calloc(sw->n + 1, sizeof(bool));
	struct sweep_node *group = calloc(sw->n + 1, sizeof(*group));

	for (size_t r = 0; done && group && r < sizeof(order) / sizeof(order[0]); r++) {
		if (order[r] == RESULT_OK && !sw->o->verbose)
			break;
		for (size_t i = 0; i < sw->n; i++) {
			const struct sweep_node *n = &sw->nodes[i];
			size_t k = 0;
			char *hl;

			if (done[i] || n->result != order[r])
				continue;
			for (size_t j = i; j < sw->n; j++)
				if (!done[j] && same_line(n, &sw->nodes[j])) {
					group[k++] = sw->nodes[j];
					done[j] = true;
				}
			hl = ranged(group, k);
			printf("  %-11s %s%s%s", sweep_result_name(n->result), hl ? hl : n->name,
			       n->reason[0] ? ": " : "", n->reason);
			if (n->state_after[0] && shows_after(n->result))
				printf(" [now %s%s%s]", n->state_after, n->reason_after[0] ? ": " : "",
				       n->reason_after);
			putchar('\n');
			free(hl);
		}
	}
	free(done);
	free(group);
}

static void write_human(const struct sweep *sw, const struct sweep_counts *c)
{
	printf("efa-check sweep: partition %s: %zu node%s, %zu idle\n", sw->partition, sw->n,
	       sw->n == 1 ? "" : "s", sw->nidle);
	for (size_t s = 0; s < sw->nsets; s++) {
		const struct set_info *si = &sw->sets[s];

		printf("  set %zu/%zu %s: %s", s + 1, sw->nsets, si->hostlist ? si->hostlist : "-",
		       si->result[0] ? si->result : "-");
		if (si->ran)
			printf(", %.1f s", si->duration_ms / 1000.0);
		if (si->reason[0] && strcmp(si->result, "ok"))
			printf(" (%s)", si->reason);
		putchar('\n');
	}
	write_node_lines(sw);
	if (sw->note[0])
		printf("  note: %s\n", sw->note);
	printf("sweep: tested %zu (ok %zu, bad %zu, slow %zu, link %zu), error %zu, skipped %zu "
	       "(busy %zu, unavailable %zu, not reached %zu), %zu set%s, wall time %.1f s\n",
	       c->tested, c->ok, c->bad, c->slow, c->link, c->error,
	       c->busy + c->unavailable + c->not_reached, c->busy, c->unavailable, c->not_reached,
	       sw->nsets, sw->nsets == 1 ? "" : "s", (now_ms() - sw->t0) / 1000.0);
}

static void write_metrics(struct sweep *sw, const struct sweep_counts *c)
{
	char *buf, err[512] = "too large";
	long n;

	if (!sw->cfg->sweep_metrics_file[0])
		return;
	buf = malloc(METRICS_MAX);
	n = buf ? sweep_metrics_format(&sw->hist, c, unix_now(), (now_ms() - sw->t0) / 1000.0, buf,
				       METRICS_MAX) : -1;
	if (n < 0 || write_file_atomic(sw->cfg->sweep_metrics_file, buf, (size_t)n, 0644, err,
				       sizeof(err)) < 0) {
		cli_error("sweep: cannot write SweepMetricsFile %s: %s", sw->cfg->sweep_metrics_file,
			  err);
		sw->internal_error = true;
	}
	free(buf);
}

/* ---- main -------------------------------------------------------------------------------------------------- */

static int sweep_main(struct sweep *sw, const struct sweep_cli *sc)
{
	struct sweep_snapshot snap;
	struct sweep_counts c;
	char err[512];
	int lockfd = -1, rc;
	const char *part = sc->partition ? sc->partition : sw->cfg->sweep_partition;

	rc = open_state(sw, &lockfd);
	if (rc)
		goto out;
	rc = sweep_snapshot(part, sw->cfg->sweep_yield, rpc_timeout(sw), &snap, err, sizeof(err));
	if (rc == -2) {
		cli_error("sweep: %s", err);
		rc = EXIT_USAGE;
		goto out;
	}
	if (rc < 0) {
		cli_error("sweep: cannot ask slurmctld which nodes are idle: %s", err);
		rc = EXIT_INTERNAL;
		goto out;
	}
	str_copy(sw->partition, sizeof(sw->partition), snap.partition);
	if (!snap.partition_up) {
		cli_error("sweep: partition %s is not up: nothing to sweep", sw->partition);
		sweep_snapshot_free(&snap);
		rc = EXIT_INTERNAL;
		goto out;
	}
	rc = pick_nodes(sw, &snap, sc->nodes);
	sweep_snapshot_free(&snap);
	if (rc)
		goto out;
	if (geteuid() != 0)
		cli_error("sweep: not root: the cross check runs as this user and cannot drain "
			  "bad nodes (it reports them)");
	rc = plan(sw, sc->max_nodes >= 0 ? sc->max_nodes : sw->cfg->sweep_max_nodes);
	if (rc)
		goto out;
	run_sets(sw);
	read_after(sw);
	sweep_count(sw->nodes, sw->n, &c);
	write_metrics(sw, &c);
	rc = sweep_exit_code(&c, sw->internal_error);
	if (sw->o->json)
		write_json(sw, &c, rc);
	else
		write_human(sw, &c);
	if (rc == EXIT_INTERNAL && ms_left(sw) <= 0)
		cli_error("sweep: deadline (SweepTimeout=%d s) exceeded", sw->cfg->sweep_timeout_s);
out:
	state_unlock(lockfd);
	if (sw->dirfd >= 0)
		close(sw->dirfd);
	return rc;
}

int cmd_sweep(int argc, char **argv)
{
	struct sweep_cli sc = { .max_nodes = -1 };
	const struct cli_extra extra = {
		.longopts = sweep_longopts,
		.handle = sweep_handle,
		.ctx = &sc,
		.usage = "      --partition P      sweep partition P (default SweepPartition=, else the\n"
			 "                         default partition)\n"
			 "      --nodes HOSTLIST   consider only these nodes (each must be in the partition)\n"
			 "      --max-nodes N      test at most N nodes, least recently swept first\n"
			 "                         (default SweepMaxNodes=, 0 = all idle nodes)\n"
			 "  --timeout is the cross check's deadline per set; SweepTimeout= bounds the sweep.\n"
			 "  exit: 0 nothing wrong, 1 a node bad, slow or on a failed link, 2 usage or\n"
			 "        configuration, 3 slurmctld unreachable, a set without verdict, deadline\n",
	};
	struct cli_opts o;
	struct efa_config cfg;
	struct sweep sw;
	int rc;

	rc = cli_start(argc, argv, &extra, &o, &cfg);
	if (rc)
		return rc;
	memset(&sw, 0, sizeof(sw));
	sw.o = &o;
	sw.cfg = &cfg;
	sw.dirfd = -1;
	sw.t0 = now_ms();
	sw.started_at = unix_now();
	sw.deadline = sw.t0 + (int64_t)cfg.sweep_timeout_s * 1000;
	rc = sweep_main(&sw, &sc);
	for (size_t s = 0; s < sw.nsets; s++)
		free(sw.sets[s].hostlist);
	free(sw.sets);
	free(sw.nodes);
	sweep_history_free(&sw.hist);
	config_free(&cfg);
	return rc;
}
