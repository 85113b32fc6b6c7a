/*
 * cmd_cross.c -- `efa-check cross`: one task per node under `srun --mpi=pmix`; cross-node
 * RDMA link tests, the NCCL all-reduce check, blame, and drains of the bad nodes (rank 0).
 *
 * Process model: this task's process never touches PMIx, libfabric, CUDA or NCCL. The
 * supervised worker (supervise.h) owns all of them, the PMIx client included: every exchange
 * happens between endpoint setup and the link tests, so the worker is the only process that
 * can hold both, and a wedged library call then costs only the worker, which the parent kills
 * at the deadline and reports. The worker hands links and bad nodes back through a memfd.
 * Only rank 0 prints the report and drains; every rank exits 1 when it knows something is bad.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "slurm/state.h"
#include "core/metrics.h"
#include "cross/cross.h"
#include "slurm/drain.h"
#include "fabric/fabric.h"
#include "core/report.h"
#include "cross/schedule.h"
#include "core/strutil.h"
#include "core/supervise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define OPT_PRINT_SCHEDULE 0x200
#define DRAIN_TIMEOUT_MS   5000

struct cross_cli {
	long print_schedule;   /* N, 0 = not asked */
};

static const struct option cross_longopts[] = {
	{ "print-schedule", required_argument, NULL, OPT_PRINT_SCHEDULE },
	{ NULL, 0, NULL, 0 },
};

static int cross_handle(int opt, const char *arg, void *ctx)
{
	struct cross_cli *cc = ctx;

	if (opt != OPT_PRINT_SCHEDULE)
		return -1;
	if (parse_long(arg, 2, 1L << 20, &cc->print_schedule)) {
		cli_error("cross: --print-schedule: expected a node count in 2..1048576, got '%s'", arg);
		return -1;
	}
	return 0;
}

static int print_schedule(long n, int cross_peers, bool json)
{
	int rounds = schedule_rounds((int)n, cross_peers);
	int *peers = calloc(2 * (size_t)rounds + 2, sizeof(int));
	int np;
	long links;

	if (!peers)
		return EXIT_INTERNAL;
	np = schedule_peers((int)n, rounds, 0, peers, 2 * rounds + 2);
	links = schedule_links((int)n, rounds);
	if (json)
		printf("{\"nodes\": %ld, \"rounds\": %d, \"peers_per_node\": %d, \"links\": %ld}\n", n,
		       rounds, np, links);
	else
		printf("nodes %ld rounds %d peers_per_node %d links %ld\n", n, rounds, np, links);
	free(peers);
	return EXIT_HEALTHY;
}

static int env_rank(void)
{
	const char *s = getenv("PMIX_RANK");

	if (!s)
		s = getenv("SLURM_PROCID");
	return s ? atoi(s) : 0;
}

/* Rank 0, with privilege and OnFail != log: drain every bad node with its reason. */
static void drain_bad(const struct efa_config *cfg, const struct cross_outcome *out,
		      const struct report *r, const struct cli_opts *o, char *note, size_t size)
{
	if (!out->nbad)
		return;
	if (cfg->on_fail == ON_FAIL_LOG) {
		str_appendf(note, size, "OnFail=log: bad nodes not drained");
		return;
	}
	if (geteuid() != 0) {
		str_appendf(note, size, "not root: bad nodes not drained");
		return;
	}
	for (size_t i = 0; i < out->nbad && i < r->nbad_nodes; i++) {
		struct node_rpc_result res;
		char reason[CHECK_REASON_MAX + 16];

		snprintf(reason, sizeof(reason), "efa-check: %s", out->bad_reason[i]);
		reason_sanitize(reason);
		if (node_rpc(r->bad_nodes[i], NODE_ACT_DRAIN, reason, DRAIN_TIMEOUT_MS, &res) == 0 &&
		    res.updated)
			str_appendf(note, size, "%sdrained %s", note[0] ? "; " : "", r->bad_nodes[i]);
		else
			str_appendf(note, size, "%sdrain %s: %s", note[0] ? "; " : "", r->bad_nodes[i],
				    res.error[0] ? res.error : drain_verdict_name(res.verdict));
		cli_verbose(o, "cross: drain %s: %s", r->bad_nodes[i], reason);
	}
}

/* Domains= naming only loopback interfaces ("lo") cannot test a single cross-node link: a
 * configuration error on every node alike (exit 2, nobody drained), said before PMIx starts.
 * With Domains=auto such domains are left out by the worker instead (cross.c). */
static bool only_loopback_domains(const struct efa_config *cfg)
{
	if (!cfg->ndomains)
		return false;
	for (size_t i = 0; i < cfg->ndomains; i++)
		if (!fabric_ifname_loopback(cfg->domains[i]))
			return false;
	cli_error("cross: Domains=%s: loopback-only, cannot carry a cross-node link; list the "
		  "domains of the inter-node fabric (or Domains=auto)", cfg->domains[0]);
	return true;
}

/* Rank 0 writes the allocation's links and slow nodes beside the node's MetricsFile:
 * "efa-check.prom" -> "efa-check-cross.prom" (the prolog/health file is not touched). */
static void write_cross_metrics(const struct efa_config *cfg, const struct report *r)
{
	char path[CONFIG_PATH_MAX + 16], err[512];
	size_t n = strlen(cfg->metrics_file);

	if (n > 5 && !strcmp(cfg->metrics_file + n - 5, ".prom"))
		snprintf(path, sizeof(path), "%.*s-cross.prom", (int)(n - 5), cfg->metrics_file);
	else
		snprintf(path, sizeof(path), "%s-cross", cfg->metrics_file);
	if (metrics_write(path, r, unix_now(), 1, err, sizeof(err)) < 0)
		cli_error("cross: cannot write metrics: %s", err);
}

static int run(const struct cli_opts *o, const struct efa_config *cfg)
{
	struct cross_opts co = { .cfg = cfg, .node = o->node, .timeout_ms = cfg->timeout_s * 1000,
				 .verbose = o->verbose };
	struct supervise_result res;
	struct cross_outcome out = { .rank = -1, .verdict = -1 };
	struct report r;
	int64_t t0 = now_ms();
	int rank, rc;

	co.out_fd = memfd_create("efa-check-cross", MFD_CLOEXEC);
	if (co.out_fd < 0) {
		cli_error("cross: memfd_create failed");
		return EXIT_INTERNAL;
	}
	supervise_keep_fd(co.out_fd);   /* the worker writes its outcome there */
	report_init(&r, "cross", o->node);
	str_copy(r.provider, sizeof(r.provider), cfg->provider);
	supervise_run(co.timeout_ms, cross_worker, &co, &r, &res);
	cross_outcome_read(co.out_fd, &out, &r);
	close(co.out_fd);
	rank = out.rank >= 0 ? out.rank : env_rank();
	r.duration_ms = (long)(now_ms() - t0);
	if (rank == 0)
		drain_bad(cfg, &out, &r, o, r.note, sizeof(r.note));
	if (rank == 0 && cfg->metrics_file[0])
		write_cross_metrics(cfg, &r);
	if (rank == 0 && cfg->on_slow == ON_SLOW_LOG)
		for (size_t i = 0; i < out.nslow && i < r.nslow_nodes; i++)
			fprintf(stderr, "efa-check: %s: %s (OnSlow=log: not drained)\n", r.slow_nodes[i],
				out.slow_reason[i] ? out.slow_reason[i] : "cross: slow");
	report_finalize(&r);
	rc = report_ok(&r) ? EXIT_HEALTHY : EXIT_UNHEALTHY;
	if (out.verdict > 0)
		rc = EXIT_UNHEALTHY;
	if (out.rank < 0 && out.verdict == 2)
		rc = EXIT_USAGE;     /* no PMIx server: not started with srun --mpi=pmix */
	if (res.timed_out || res.crashed)
		rc = EXIT_INTERNAL;
	if (rank == 0 || o->verbose)
		cli_write_report(o, &r, rank == 0 ? stdout : stderr);
	if (rc != EXIT_HEALTHY && (rank == 0 || res.timed_out || res.crashed))
		cli_error_reason(&r, "cross check failed");
	cross_outcome_free(&out);
	report_free(&r);
	return rc;
}

int cmd_cross(int argc, char **argv)
{
	struct cross_cli cc = { 0 };
	const struct cli_extra extra = {
		.longopts = cross_longopts,
		.handle = cross_handle,
		.ctx = &cc,
		.usage = "      --print-schedule N  print the round schedule for N nodes (rounds, peers per\n"
			 "                          node, links) and exit; honours CrossPeers=\n"
			 "  Run as one task per node: srun --mpi=pmix --ntasks-per-node=1 efa-check cross\n",
	};
	struct cli_opts o;
	struct efa_config cfg;
	int rc;

	rc = cli_start(argc, argv, &extra, &o, &cfg);
	if (rc)
		return rc;
	if (cc.print_schedule)
		rc = print_schedule(cc.print_schedule, cfg.cross_peers, o.json);
	else if (only_loopback_domains(&cfg))
		rc = EXIT_USAGE;
	else
		rc = run(&o, &cfg);
	config_free(&cfg);
	return rc;
}
