/*
 * cmd_health.c -- `efa-check health`: the HealthCheckProgram.
 *
 * Same checks and drain rules as the prolog, within min(Timeout, 50 s) in total -- slurmd
 * kills it after 60 s -- lookups and RPCs included. First it asks slurmctld about the node:
 *   - drained with an efa-check reason, or the lookup failed: the checks run for real, so a
 *     fixed node is seen as fixed;
 *   - otherwise an ok result younger than min(CacheTTL, 30 s) is reused (a prolog just ran).
 * Healthy: with Resume=yes, a node drained with an "efa-check:" reason is resumed; never any
 * other. Unhealthy: drained (unless OnFail=log). At slurmd start the node may not be
 * registered yet: the lookup fails, that is logged, and a healthy node exits 0.
 * Busy nodes: the shipped slurm.conf runs this every 300 s with HealthCheckNodeState=ANY, i.e.
 * also next to running jobs. slurmd gives the program only SLURMD_NODENAME (Slurm 22.05
 * src/slurmd/slurmd/slurmd.c run_script_health_check), so whether jobs run is asked from
 * slurmctld with the same lookup (slurm_load_node_single): ALLOCATED, MIXED or COMPLETING
 * (drain.c node_has_jobs). Then only the light checks run (limits, devices, counters: no
 * libfabric domain, no GPU context, no cudaMalloc, no loopback traffic), the report says so,
 * and a node drained by efa-check is not resumed on that partial evidence. When slurmctld
 * cannot be asked, jobs may be running: light checks too. The heavy checks run on idle nodes
 * and in prologs.
 * No verdict (r.internal): never resumes, drains only with OnInternal=drain, exit 3.
 * Exit code: 0 healthy, 1 unhealthy, 2 configuration error, 3 no verdict.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "slurm/drain.h"
#include "core/logging.h"
#include "slurm/policy.h"
#include "slurm/flap.h"
#include "core/report.h"

#include <stdio.h>
#include <string.h>

#define HEALTH_TOTAL_MAX_MS 50000
#define HEALTH_CACHE_MAX_S 30

struct health_node {
	bool known;        /* lookup answered and found the node */
	bool drained;      /* drained (anyone's reason) */
	bool efa_drained;  /* drained with an efa-check reason */
	bool has_jobs;     /* ALLOCATED / MIXED / COMPLETING */
	bool flapping;     /* held drained as flapping */
};

static struct health_node look_up_node(const struct policy *p)
{
	struct node_rpc_result res;
	struct health_node h = { 0 };
	int budget = p->rpc_budget_ms < 5000 ? p->rpc_budget_ms : 5000;

	if (node_rpc(p->o->node, NODE_ACT_LOOKUP, NULL, budget, &res) < 0 || !res.lookup_ok ||
	    !res.node.found) {
		log_msg(LOG_WARNING, "node %s: node lookup failed (slurmd not registered yet, or "
			"slurmctld unreachable): %s", p->o->node, res.error);
		return h;
	}
	h.known = true;
	h.drained = node_is_drained(res.node.state);
	h.efa_drained = h.drained && reason_is_ours(res.node.reason);
	h.flapping = h.drained && flap_reason_is_hold(res.node.reason);
	h.has_jobs = node_has_jobs(res.node.state);
	return h;
}

static int health_cache_ttl(const struct efa_config *cfg)
{
	return cfg->cache_ttl_s < HEALTH_CACHE_MAX_S ? cfg->cache_ttl_s : HEALTH_CACHE_MAX_S;
}

static int health_run(const struct cli_opts *o, const struct efa_config *cfg)
{
	int total = cfg->timeout_s * 1000 < HEALTH_TOTAL_MAX_MS ? cfg->timeout_s * 1000
								: HEALTH_TOTAL_MAX_MS;
	struct policy p;
	struct report r;
	struct health_node h;
	enum result_source src;
	int rc = EXIT_HEALTHY;

	policy_init(&p, o, cfg, "health", total);
	h = look_up_node(&p);
	if (h.known) {
		policy_flap_admin_check(&p, h.drained);
		p.flapping = h.flapping;
	}
	if (!h.known)
		p.light_only = "node state unknown to this check (slurmctld not reachable or node not "
			       "registered): jobs may be running; the prolog runs the full checks";
	else if (h.has_jobs)
		p.light_only = "jobs are running on this node (slurmctld); the full checks run when "
			       "it is idle and in prologs";
	/* Jobs may be running: the EFA counters are device-wide, so their traffic (or a user
	 * killing their own peer) moves them; read, never judged (issue 15). */
	p.unjudged = p.light_only;
	if (p.light_only)
		log_msg(LOG_INFO, "node %s: light checks only: %s", o->node, p.light_only);
	src = policy_obtain(&p, health_cache_ttl(cfg), !h.known || h.efa_drained, &r);
	if (r.internal) {
		/* No verdict: never resume; drain only with OnInternal=drain. */
		rc = EXIT_INTERNAL;
		if (h.known || !cfg->drain_on_internal)
			policy_internal(&p, &r);
		else
			log_msg(LOG_ERR, "node %s: no verdict, node unknown to slurmctld: %s", o->node,
				r.reason);
	} else if (report_ok(&r)) {
		if (cfg->resume && h.efa_drained && p.light_only && src == RESULT_RAN)
			log_msg(LOG_INFO, "node %s: light checks passed, but the full checks did not "
				"run: not resuming", o->node);
		else if (cfg->resume && h.efa_drained && strstr(r.note, POLICY_UNJUDGED_NOTE))
			/* a shared unjudged result (a user's step next to other jobs) left out
			 * exactly what may have drained the node */
			log_msg(LOG_INFO, "node %s: passed without judging bandwidth floors and "
				"counters: not resuming", o->node);
		else if (cfg->resume && h.efa_drained)
			policy_resume_or_hold(&p);
		else if (h.efa_drained)
			log_msg(LOG_INFO, "node %s: healthy, Resume=no: leaving it drained", o->node);
	} else {
		rc = EXIT_UNHEALTHY;
		if (cfg->on_fail == ON_FAIL_LOG)
			log_msg(LOG_WARNING, "node %s: unhealthy, OnFail=log: not draining: %s",
				o->node, r.reason);
		else if (h.known)
			policy_drain(&p, r.reason);
		else
			log_msg(LOG_ERR, "node %s: unhealthy, node unknown to slurmctld: cannot drain: %s",
				o->node, r.reason);
	}
	if (o->json)
		report_write_json(&r, stdout);
	report_free(&r);
	return rc;
}

int cmd_health(int argc, char **argv)
{
	return policy_main(argc, argv, "health", health_run);
}
