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

int local_run(const struct engine_opts *o, int timeout_ms, struct report *r)
{
	struct supervise_result res;
	int64_t t0 = now_ms();

	if (timeout_ms <= 0)
		timeout_ms = o->cfg->timeout_s * 1000;
	str_copy(r->provider, sizeof(r->provider), o->cfg->provider);
	supervise_run(timeout_ms, worker, (void *)o, r, &res);
	r->duration_ms = (long)(now_ms() - t0);
	report_finalize(r);
	if (res.timed_out || res.crashed)
		return EXIT_INTERNAL;
	return report_ok(r) ? EXIT_HEALTHY : EXIT_UNHEALTHY;
}
