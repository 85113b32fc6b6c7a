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
 * No verdict (r.internal): never resumes, drains only with OnInternal=drain, exit 3.
 * Exit code: 0 healthy, 1 unhealthy, 2 configuration error, 3 no verdict.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "slurm/drain.h"
#include "core/logging.h"
#include "slurm/policy.h"
#include "core/report.h"

#include <stdio.h>

#define HEALTH_TOTAL_MAX_MS 50000
#define HEALTH_CACHE_MAX_S 30

struct health_node {
	bool known;        /* lookup answered and found the node */
	bool efa_drained;  /* drained with an efa-check reason */
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
	h.efa_drained = node_is_drained(res.node.state) && reason_is_ours(res.node.reason);
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
	int rc = EXIT_HEALTHY;

	policy_init(&p, o, cfg, "health", total);
	h = look_up_node(&p);
	policy_obtain(&p, health_cache_ttl(cfg), !h.known || h.efa_drained, &r);
	if (r.internal) {
		/* No verdict: never resume; drain only with OnInternal=drain. */
		rc = EXIT_INTERNAL;
		if (h.known || !cfg->drain_on_internal)
			policy_internal(&p, &r);
		else
			log_msg(LOG_ERR, "node %s: no verdict, node unknown to slurmctld: %s", o->node,
				r.reason);
	} else if (report_ok(&r)) {
		if (cfg->resume && h.efa_drained)
			policy_resume(&p);
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
