/*
 * policy.c -- result sharing, retry, drain and resume for prolog and health (see policy.h).
 */
#include "slurm/policy.h"
#include "cli/cli.h"
#include "cli/watchdog.h"
#include "core/config.h"
#include "slurm/drain.h"
#include "slurm/flap.h"
#include "slurm/state.h"
#include "checks/counters.h"
#include "checks/engine.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/report.h"
#include "core/strutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RPC_BUDGET_MIN_MS 1000
#define RPC_BUDGET_MAX_MS 10000
#define CHECK_BUDGET_MIN_MS 1000
/* the job table lookup's share of the deadline (as the health check's node lookup) */
#define JOBS_RPC_MAX_MS 5000
/* Process start (loading libfabric and its providers' libraries takes ~200 ms on Debian) and
 * exit happen outside our clock: keep this much of the total for them. */
#define START_EXIT_MARGIN_MS 300

int policy_main(int argc, char **argv, const char *mode,
		int (*run)(const struct cli_opts *o, const struct efa_config *cfg))
{
	struct cli_opts o;
	struct efa_config cfg;
	int rc;

	rc = cli_parse(argc, argv, NULL, &o);
	if (rc)
		return rc < 0 ? EXIT_HEALTHY : rc;
	log_open(mode, o.verbose);
	rc = cli_load_config(&o, &cfg);
	if (rc)
		log_msg(LOG_ERR, "node %s: configuration error: %s fails (exit %d)", o.node, mode, rc);
	else
		rc = run(&o, &cfg);
	config_free(&cfg);
	log_close();
	return rc;
}

void policy_init(struct policy *p, const struct cli_opts *o, const struct efa_config *cfg,
		 const char *mode, int total_ms)
{
	int rpc = total_ms / 5;

	if (rpc < RPC_BUDGET_MIN_MS)
		rpc = RPC_BUDGET_MIN_MS;
	if (rpc > RPC_BUDGET_MAX_MS)
		rpc = RPC_BUDGET_MAX_MS;
	memset(p, 0, sizeof(*p));
	p->o = o;
	p->cfg = cfg;
	p->mode = mode;
	p->t0_ms = watchdog_start_ms();   /* process start: reading the config is inside it */
	watchdog_set_total(total_ms);
	if (total_ms > 4 * START_EXIT_MARGIN_MS)
		total_ms -= START_EXIT_MARGIN_MS;
	p->deadline_ms = p->t0_ms + total_ms;
	p->rpc_budget_ms = rpc;
	p->started_at = unix_now();
	if (cache_key_full(cfg, o->sysfs_root, p->key, sizeof(p->key)) < 0)
		p->key[0] = '\0';   /* no key: nothing stored matches, every run is real */
	p->flapping = -1;
}

int policy_left_ms(const struct policy *p)
{
	int64_t left = p->deadline_ms - now_ms();

	return left > 0 ? (int)left : 0;
}

/* Time the checks may use: what is left minus the RPC reserve (at least a little). */
static int check_budget_ms(const struct policy *p)
{
	int left = policy_left_ms(p) - p->rpc_budget_ms;

	return left > CHECK_BUDGET_MIN_MS ? left : CHECK_BUDGET_MIN_MS;
}

const char *result_source_name(enum result_source s)
{
	switch (s) {
	case RESULT_RAN: return "ran";
	case RESULT_CACHED: return "cached";
	case RESULT_SHARED: return "shared";
	case RESULT_NONE: return "none";
	}
	return "?";
}

/* ---- running the checks ------------------------------------------------------ */

static bool check_may_be_transient(const struct check_result *c)
{
	if (c->status != CHECK_FAIL)
		return true;
	/* hung: the deadline is used; internal: local_run has retried already */
	if (strstr(c->reason, "hung, killed") || !strcmp(c->name, "internal"))
		return false;
	return c->transient || !strcmp(c->name, "loopback") || !strcmp(c->name, "provider");
}

bool failure_is_transient(const struct report *r)
{
	size_t failed = 0;

	for (size_t i = 0; i < r->nchecks; i++) {
		if (!check_may_be_transient(&r->checks[i]))
			return false;
		failed += r->checks[i].status == CHECK_FAIL;
	}
	return failed > 0;
}

static int run_once(const struct policy *p, struct report *r, int budget_ms)
{
	struct engine_opts eo = { .cfg = p->cfg, .sysfs_root = p->o->sysfs_root,
				  .light_only = p->light_only, .unjudged = p->unjudged };
	int rc;

	report_init(r, p->mode, p->o->node);
	watchdog_phase("running the checks");
	r->flapping = p->flapping;
	rc = local_run(&eo, budget_ms, r);
	if (p->light_only)
		snprintf(r->note, sizeof(r->note), "light checks only (limits, devices, counters): %s",
			 p->light_only);
	else if (p->unjudged)
		snprintf(r->note, sizeof(r->note), POLICY_UNJUDGED_NOTE "%s", p->unjudged);
	return rc;
}

static void run_with_retry(const struct policy *p, struct report *r)
{
	char first[sizeof(r->reason)], partial[sizeof(r->note)];
	int64_t t0 = now_ms();
	long first_ms;
	int rc = run_once(p, r, check_budget_ms(p));

	if (rc == EXIT_HEALTHY || !p->cfg->retry_transient || !failure_is_transient(r))
		return;
	first_ms = (long)(now_ms() - t0);
	if (check_budget_ms(p) < first_ms + 1000) {
		log_msg(LOG_WARNING, "node %s: transient failure, no time left to retry: %s",
			p->o->node, r->reason);
		return;
	}
	str_copy(first, sizeof(first), r->reason);
	log_msg(LOG_NOTICE, "node %s: retrying once after a transient failure: %s", p->o->node, first);
	report_free(r);
	run_once(p, r, check_budget_ms(p));
	r->duration_ms = (long)(now_ms() - t0);
	/* a light or unjudged run keeps saying so; otherwise the note is the retry's alone */
	str_copy(partial, sizeof(partial), p->light_only || p->unjudged ? r->note : "");
	str_copy(r->note, sizeof(r->note), partial);
	str_appendf(r->note, sizeof(r->note), "%sretried once: %s", partial[0] ? "; " : "",
		    reason_is_ours(first) ? first + sizeof(EFA_REASON_PREFIX) : first);
}

/* ---- sharing the result --------------------------------------------------------- */

/* The key this run's result is saved under: p->key, with POLICY_UNJUDGED_SUFFIX for an
 * unjudged run. */
static void save_key(const struct policy *p, char *out, size_t size)
{
	if (!p->key[0] || snprintf(out, size, "%s%s", p->key, p->unjudged ? POLICY_UNJUDGED_SUFFIX : "")
			  >= (int)size)
		out[0] = '\0';
}

/* A stored result computed from the same inputs, and judged as much as this run would be:
 * a full one stands for an unjudged run, never the other way round; and a full one that
 * failed never does, because what failed it may be exactly what an unjudged run leaves
 * unjudged (a bandwidth floor next to another job's traffic). Without that, a health check
 * next to a job, or a prolog checking again unjudged, took the concurrent prolog's first,
 * judged failure and drained the node under the other job. */
static bool key_stands(const struct policy *p, const char *stored, bool ok)
{
	char own[CACHE_KEY_MAX];

	if (!p->key[0])
		return false;
	save_key(p, own, sizeof(own));
	if (own[0] && !strcmp(stored, own))
		return true;
	return !strcmp(stored, p->key) && (ok || !p->unjudged);
}

/* Use the stored result if it can stand for this run. m returns what was stored (zeroed when
 * nothing readable was), so that a run saving after it needs not read the file again. */
static bool take_stored(const struct policy *p, int dirfd, int ttl_s, bool bypass,
			struct report *r, enum result_source *src, struct state_meta *m_out)
{
	struct state_meta m;
	enum cache_verdict v;
	double now = unix_now();
	int loaded = state_load_result(dirfd, r, &m);

	if (m_out)
		*m_out = m;
	if (loaded < 0)
		return false;
	/* Internal errors are never trusted; a result computed from another configuration,
	 * profile table or binary never stands for this run, not even one that finished while we
	 * waited. */
	if (r->internal || !key_stands(p, m.key, report_ok(r))) {
		report_free(r);
		return false;
	}
	v = cache_verdict(&m, report_ok(r), now, p->started_at, ttl_s, bypass);
	if (v == CACHE_MISS || strcmp(r->node, p->o->node)) {
		report_free(r);
		return false;
	}
	if (v == CACHE_FRESH) {
		*src = RESULT_CACHED;
		snprintf(r->note, sizeof(r->note), "cached result from %.0f s ago (run %ld)",
			 now - m.finished_at, m.runs);
	} else {
		char note[sizeof(r->note)];

		/* an unjudged result keeps saying what it did not judge */
		str_copy(note, sizeof(note), strncmp(r->note, POLICY_UNJUDGED_NOTE,
						     sizeof(POLICY_UNJUDGED_NOTE) - 1) ? "" : r->note);
		*src = RESULT_SHARED;
		snprintf(r->note, sizeof(r->note), "result of a concurrent run (run %ld)", m.runs);
		if (note[0])
			str_appendf(r->note, sizeof(r->note), "; %s", note);
	}
	return true;
}

/* MetricsFile (if set) and the log line of a real run; runs = 0 when it is not counted. */
static void publish_run(const struct policy *p, const struct report *r, double finished_at, long runs)
{
	char err[512];

	if (p->cfg->metrics_file[0] &&
	    metrics_write(p->cfg->metrics_file, r, finished_at, runs, err, sizeof(err)) < 0)
		log_msg(LOG_ERR, "node %s: cannot write MetricsFile: %s", p->o->node, err);
	log_msg(report_ok(r) ? LOG_INFO : LOG_WARNING, "node %s: ran checks (run %ld) in %ld ms: %s%s%s",
		p->o->node, runs, r->duration_ms, report_ok(r) ? "healthy" : r->reason,
		r->note[0] ? "; " : "", r->note);
}

/* Save a run as last-report.json; prev is what the state dir held before it. */
static void save_result(const struct policy *p, int dirfd, const struct report *r,
			const struct state_meta *prev)
{
	struct state_meta m = { .started_at = p->started_at, .finished_at = unix_now(),
				.runs = prev->runs + 1 };

	save_key(p, m.key, sizeof(m.key));
	if (state_save_result(dirfd, r, &m) < 0)
		log_msg(LOG_ERR, "node %s: cannot save %s/%s: %s", p->o->node, p->cfg->state_dir,
			STATE_REPORT_FILE, strerror(errno));
	publish_run(p, r, m.finished_at, m.runs);
}

static enum result_source run_unshared(const struct policy *p, const char *why, struct report *r)
{
	log_msg(LOG_ERR, "node %s: %s; running the checks without cache or lock", p->o->node, why);
	run_with_retry(p, r);
	publish_run(p, r, unix_now(), 0);
	return RESULT_RAN;
}

enum result_source policy_obtain(const struct policy *p, int cache_ttl_s, bool bypass,
				 struct report *r)
{
	enum result_source src = RESULT_RAN;
	struct state_meta stored;
	char err[512];
	int dirfd, lockfd;

	watchdog_phase("opening StateDir");
	dirfd = state_dir_open(p->cfg->state_dir, err, sizeof(err));
	if (dirfd < 0)
		return run_unshared(p, err, r);
	if (take_stored(p, dirfd, cache_ttl_s, bypass, r, &src, NULL))
		goto out;
	if (p->light_only) {
		/* no lock, nothing saved: a light result must not stand for a full one */
		run_with_retry(p, r);
		publish_run(p, r, unix_now(), 0);
		close(dirfd);
		return RESULT_RAN;
	}
	watchdog_phase("waiting for the lock");
	lockfd = state_lock(dirfd, p->deadline_ms - p->rpc_budget_ms);
	if (lockfd < 0 && errno != ETIMEDOUT) {
		/* ENOSPC, EROFS, EIO...: a broken StateDir must not skip the check (issue 15.5). */
		snprintf(err, sizeof(err), "cannot lock %.300s/%s: %s", p->cfg->state_dir,
			 STATE_LOCK_FILE, strerror(errno));
		close(dirfd);
		return run_unshared(p, err, r);
	}
	if (lockfd < 0) {
		report_init(r, p->mode, p->o->node);
		str_copy(r->provider, sizeof(r->provider), p->cfg->provider);
		report_set_internal(r, "no result within the deadline while another run held %s",
				    STATE_LOCK_FILE);
		report_finalize(r);
		src = RESULT_NONE;
		log_msg(LOG_ERR, "node %s: no result within the deadline while waiting for %s/%s",
			p->o->node, p->cfg->state_dir, STATE_LOCK_FILE);
		goto out;
	}
	if (!take_stored(p, dirfd, cache_ttl_s, bypass, r, &src, &stored)) {
		run_with_retry(p, r);
		if (r->internal)   /* no verdict: never cached, never shared */
			publish_run(p, r, unix_now(), 0);
		else
			save_result(p, dirfd, r, &stored);
		src = RESULT_RAN;
	}
	state_unlock(lockfd);
out:
	if (src == RESULT_CACHED || src == RESULT_SHARED)
		log_msg(LOG_INFO, "node %s: %s: %s", p->o->node, r->note,
			report_ok(r) ? "healthy" : r->reason);
	close(dirfd);
	return src;
}

/* ---- other jobs on the node ------------------------------------------------------ */

static bool others_could_fail(const struct efa_config *cfg)
{
	return cfg->min_loopback_gbps > 0 || counters_may_fail(cfg) ||
	       (cfg->min_device_fraction > 0 && cfg->on_slow == ON_SLOW_DRAIN);
}

bool policy_other_jobs(struct policy *p, uint32_t own_job, char *why, size_t size)
{
	struct node_rpc_result res;
	int budget = p->rpc_budget_ms < JOBS_RPC_MAX_MS ? p->rpc_budget_ms : JOBS_RPC_MAX_MS;
	char ids[64] = "";

	if (!others_could_fail(p->cfg))
		return false;
	watchdog_phase("asking slurmctld for the node's jobs");
	if (node_jobs_rpc(p->o->node, own_job, budget, &res) < 0 || !res.jobs_ok) {
		snprintf(why, size, "other jobs on this node unknown (%.150s)", res.error);
		p->unjudged = why;
		log_msg(LOG_WARNING, "node %s: %s: %s", p->o->node, p->mode, why);
		return true;
	}
	if (res.other_jobs == 0)
		return false;
	for (int i = 0; i < res.other_jobs && i < NODE_JOB_IDS_MAX; i++)
		str_appendf(ids, sizeof(ids), "%s%u", i ? "," : "", res.other_ids[i]);
	snprintf(why, size, "%d other job(s) on this node", res.other_jobs);
	p->unjudged = why;
	log_msg(LOG_INFO, "node %s: %s for job %u: %s (%s%s): bandwidth floors and device-wide "
		"counters not judged", p->o->node, p->mode, own_job, why, ids,
		res.other_jobs > NODE_JOB_IDS_MAX ? ",..." : "");
	return true;
}

/* ---- acting on it --------------------------------------------------------------- */

bool policy_internal(const struct policy *p, const struct report *r)
{
	if (!p->cfg->drain_on_internal) {
		log_msg(LOG_ERR, "node %s: %s: no verdict, not draining (OnInternal=log): %s",
			p->o->node, p->mode, r->reason);
		return false;
	}
	log_msg(LOG_ERR, "node %s: %s: no verdict, draining (OnInternal=drain): %s", p->o->node,
		p->mode, r->reason);
	return policy_drain(p, r->reason);
}

static int rpc_budget_now(const struct policy *p)
{
	int left = policy_left_ms(p);

	return left > 0 ? left : 1;
}

/* ---- flap history (flap.h) ------------------------------------------------------------ */

#define FLAP_LOCK_MS 2000

struct flap_ctx {
	int dirfd, lockfd;
	struct flap_history h;
};

/* Open StateDir, take its lock briefly, load the history. Returns -1 (logged) when it cannot:
 * the caller then acts without the history (resumes, as before flap tracking). */
static int flap_begin(const struct policy *p, struct flap_ctx *f)
{
	char err[512];
	int left = policy_left_ms(p);

	f->lockfd = -1;
	f->dirfd = state_dir_open(p->cfg->state_dir, err, sizeof(err));
	if (f->dirfd < 0) {
		log_msg(LOG_ERR, "node %s: flap history: %s", p->o->node, err);
		return -1;
	}
	f->lockfd = state_lock(f->dirfd, now_ms() + (left < FLAP_LOCK_MS ? left : FLAP_LOCK_MS));
	if (f->lockfd < 0) {
		log_msg(LOG_ERR, "node %s: flap history: cannot lock %s/%s: %s", p->o->node,
			p->cfg->state_dir, STATE_LOCK_FILE, strerror(errno));
		close(f->dirfd);
		return -1;
	}
	if (flap_load(f->dirfd, &f->h) < 0)
		log_msg(LOG_ERR, "node %s: flap history %s/%s unreadable or malformed: starting a new one",
			p->o->node, p->cfg->state_dir, FLAP_FILE);
	return 0;
}

static void flap_end(const struct policy *p, struct flap_ctx *f, bool save)
{
	if (save && flap_save(f->dirfd, &f->h) < 0)
		log_msg(LOG_ERR, "node %s: cannot save %s/%s: %s", p->o->node, p->cfg->state_dir,
			FLAP_FILE, strerror(errno));
	state_unlock(f->lockfd);
	close(f->dirfd);
}

static void flap_record(const struct policy *p, enum flap_kind k)
{
	struct flap_ctx f;

	if (p->cfg->flap_count <= 0 || flap_begin(p, &f) < 0)
		return;
	flap_add(&f.h, k, unix_now());
	flap_end(p, &f, true);
}

static bool drain_rpc(const struct policy *p, const char *reason, bool *applied);

bool policy_drain(const struct policy *p, const char *reason)
{
	bool applied = false, out = drain_rpc(p, reason, &applied);

	if (applied)
		flap_record(p, FLAP_DRAIN);
	return out;
}

void policy_resume_or_hold(const struct policy *p)
{
	struct flap_ctx f;
	char reason[160];
	double now = unix_now();
	bool applied = false;

	if (p->cfg->flap_count <= 0 || flap_begin(p, &f) < 0) {
		policy_resume(p);
		return;
	}
	if (flap_should_hold(&f.h, now, p->cfg->flap_count, p->cfg->flap_window_s)) {
		flap_reason(reason, sizeof(reason), flap_resumes(&f.h, now, p->cfg->flap_window_s),
			    p->cfg->flap_window_s);
		log_msg(LOG_WARNING, "node %s: healthy again, but flapping: holding it drained until an "
			"admin resumes it (%s)", p->o->node, reason);
		drain_rpc(p, reason, &applied);
		if (applied)
			flap_add(&f.h, FLAP_HOLD, now);
	} else if (policy_resume(p)) {
		flap_add(&f.h, FLAP_RESUME, now);
		applied = true;
	}
	flap_end(p, &f, applied);
}

void policy_flap_admin_check(const struct policy *p, bool drained)
{
	struct flap_ctx f;

	if (drained || p->cfg->flap_count <= 0 || flap_begin(p, &f) < 0)
		return;
	if (flap_held(&f.h)) {
		log_msg(LOG_NOTICE, "node %s: in service again after a flapping hold (an admin resumed "
			"it): flap count cleared", p->o->node);
		flap_add(&f.h, FLAP_CLEAR, unix_now());
		flap_end(p, &f, true);
		return;
	}
	flap_end(p, &f, false);
}

static bool drain_rpc(const struct policy *p, const char *reason, bool *applied)
{
	struct node_rpc_result res;
	const char *node = p->o->node;

	watchdog_phase("the drain RPC");
	if (node_rpc(node, NODE_ACT_DRAIN, reason, rpc_budget_now(p), &res) < 0 || !res.lookup_ok) {
		log_msg(LOG_ERR, "node %s: could not drain (%s): %s", node, res.error, reason);
		return false;
	}
	switch (res.verdict) {
	case DRAIN_APPLY:
		if (!res.updated) {
			log_msg(LOG_ERR, "node %s: %s: %s", node, res.error, reason);
			return false;
		}
		log_msg(LOG_WARNING, "node %s: drained: %s", node, reason);
		*applied = true;
		return true;
	case DRAIN_NOTHING:
		log_msg(LOG_NOTICE, "node %s: already drained by efa-check: %s%s", node, res.node.reason,
			flap_reason_is_hold(res.node.reason) ? " (held until an admin resumes it)" : "");
		return true;
	case DRAIN_SKIP_ADMIN:
		log_msg(LOG_WARNING, "node %s: not draining, keeping the reason that is not efa-check's "
			"('%s'); would have drained: %s", node, res.node.reason, reason);
		return node_is_drained(res.node.state);
	case DRAIN_SKIP_DOWN:
		log_msg(LOG_WARNING, "node %s: not draining a DOWN node: %s", node, reason);
		return true;
	case DRAIN_SKIP_UNKNOWN:
		log_msg(LOG_ERR, "node %s: not draining, %s: %s", node, res.error, reason);
		return false;
	}
	return false;
}

bool policy_resume(const struct policy *p)
{
	struct node_rpc_result res;
	const char *node = p->o->node;

	watchdog_phase("the resume RPC");
	if (node_rpc(node, NODE_ACT_RESUME, NULL, rpc_budget_now(p), &res) < 0 || !res.lookup_ok) {
		log_msg(LOG_ERR, "node %s: could not resume (%s)", node, res.error);
		return false;
	}
	switch (res.verdict) {
	case DRAIN_APPLY:
		if (res.updated) {
			log_msg(LOG_NOTICE, "node %s: resumed (was drained: %s)", node, res.node.reason);
			return true;
		}
		log_msg(LOG_ERR, "node %s: %s", node, res.error);
		break;
	case DRAIN_SKIP_ADMIN:
		log_msg(LOG_INFO, "node %s: healthy, but not resuming: drained with a reason that is "
			"not efa-check's ('%s')", node, res.node.reason);
		break;
	case DRAIN_SKIP_DOWN:
		log_msg(LOG_INFO, "node %s: healthy, but DOWN: not resuming", node);
		break;
	case DRAIN_NOTHING:
		if (flap_reason_is_hold(res.node.reason))
			log_msg(LOG_NOTICE, "node %s: healthy, held drained as flapping until an admin "
				"resumes it: %s", node, res.node.reason);
		break;
	case DRAIN_SKIP_UNKNOWN:
		break;
	}
	return false;
}
