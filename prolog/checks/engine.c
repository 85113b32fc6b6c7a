/*
 * engine.c -- runs the node-local checks (checks.c) in the worker, and the supervised run around them.
 */
#include "checks/engine.h"
#include "checks/check.h"
#include "cli/cli.h"
#include "core/config.h"
#include "fabric/fabric.h"
#include "core/report.h"
#include "core/strutil.h"
#include "core/supervise.h"
#include "core/logging.h"
#include "slurm/drain.h"

#include <stdlib.h>
#include <string.h>

void check_finish(struct check_result *c, int64_t started_ms)
{
	c->duration_ms = (long)(now_ms() - started_ms);
	progress_result(c);
}

int engine_local_checks(const struct engine_opts *o)
{
	struct fabric_domains d = { 0 };

	fabric_set_library(o->cfg->libfabric_path);
	struct check_ctx ctx = { .cfg = o->cfg, .sysfs_root = o->sysfs_root, .domains = &d };

	for (size_t i = 0; i < local_checks_count; i++)
		local_checks[i]->run(&ctx);
	fabric_domains_free(&d);
	return 0;
}

static int worker(void *arg)
{
	return engine_local_checks(arg);
}

/* Start r over for a second run, keeping who and what it is about. */
static void report_restart(struct report *r)
{
	char mode[sizeof(r->mode)], node[sizeof(r->node)];

	str_copy(mode, sizeof(mode), r->mode);
	str_copy(node, sizeof(node), r->node);
	report_free(r);
	report_init(r, mode, node);
}

/*
 * A worker that crashed (a signal, or an exit before it finished) says nothing about the node
 * yet: libfabric, a provider or efa-check itself may be at fault (libfabric < 2.2.0 crashed
 * when threads opened efa domains at once, see fabric_open_lock). So a crash is run again once,
 * in a fresh worker, when the deadline leaves time for it; only a second crash is reported
 * (as an internal error, exit 3). A deadline overrun is not retried: it already used the time.
 */
static void run_supervised(const struct engine_opts *o, int timeout_ms, struct report *r,
			   struct supervise_result *res)
{
	int64_t t0 = now_ms();
	char first[sizeof(r->reason)];
	int left;

	supervise_run(timeout_ms, worker, (void *)o, r, res);
	if (!res->crashed || res->timed_out)
		return;
	left = timeout_ms - (int)(now_ms() - t0);
	report_finalize(r);
	str_copy(first, sizeof(first), r->reason);
	if (left < 1000) {
		log_msg(LOG_WARNING, "worker crashed, no time left to run it again: %s", first);
		return;
	}
	log_msg(LOG_NOTICE, "worker crashed, running the checks once more: %s", first);
	report_restart(r);
	str_copy(r->provider, sizeof(r->provider), o->cfg->provider);
	supervise_run(left, worker, (void *)o, r, res);
	str_copy(r->note, sizeof(r->note), "checks ran twice: the first worker crashed (");
	str_appendf(r->note, sizeof(r->note), "%s)",
		    reason_is_ours(first) ? first + sizeof(EFA_REASON_PREFIX) : first);
}

int local_run(const struct engine_opts *o, int timeout_ms, struct report *r)
{
	struct supervise_result res;
	int64_t t0 = now_ms();

	if (timeout_ms <= 0)
		timeout_ms = o->cfg->timeout_s * 1000;
	str_copy(r->provider, sizeof(r->provider), o->cfg->provider);
	run_supervised(o, timeout_ms, r, &res);
	r->duration_ms = (long)(now_ms() - t0);
	report_finalize(r);
	if (res.timed_out || res.crashed)
		return EXIT_INTERNAL;
	return report_ok(r) ? EXIT_HEALTHY : EXIT_UNHEALTHY;
}
