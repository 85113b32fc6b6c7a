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

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A worker that gave no verdict is retried once when at least this much time is left. */
#define LOCAL_RETRY_MIN_MS 1000
#define LOCAL_RETRY_PAUSE_MS 100

void check_finish(struct check_result *c, int64_t started_ms)
{
	c->duration_ms = (long)(now_ms() - started_ms);
	progress_result(c);
}

/* A heavy check on a busy node: reported, not run. */
static void skip_heavy(const char *name, const char *why)
{
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin(name, NULL);
	check_init(&c, name, NULL);
	check_skip(&c, "not run: %s", why);
	check_finish(&c, t0);
}

int engine_local_checks(const struct engine_opts *o)
{
	struct fabric_domains d = { 0 };

	fabric_set_library(o->cfg->libfabric_path);
	struct check_ctx ctx = { .cfg = o->cfg, .sysfs_root = o->sysfs_root, .domains = &d,
				 .unjudged = o->unjudged };

	for (size_t i = 0; i < local_checks_count; i++) {
		if (o->light_only && !local_checks[i]->light) {
			skip_heavy(local_checks[i]->name, o->light_only);
		} else {
			local_checks[i]->run(&ctx);
		}
		progress_ran(local_checks[i]->name);
	}
	fabric_domains_free(&d);
	return 0;
}

static int worker(void *arg)
{
	return engine_local_checks(arg);
}

/* The first of local_checks that the worker did not say it ran to its end, or NULL. */
static const char *missing_check(const struct supervise_result *res)
{
	for (size_t i = 0; i < local_checks_count; i++) {
		bool seen = false;

		for (int j = 0; j < res->nran && !seen; j++)
			seen = !strcmp(res->ran[j], local_checks[i]->name);
		if (!seen)
			return local_checks[i]->name;
	}
	return NULL;
}

/* One supervised attempt into a fresh r. Returns true when it gave a verdict (hung checks
 * killed at the deadline included); false with why set when not. */
static bool attempt(const struct engine_opts *o, int timeout_ms, struct report *r,
		    struct supervise_result *res)
{
	const char *missing;

	supervise_run(timeout_ms, worker, (void *)o, r, res);
	if (res->timed_out && !res->crashed)
		return true;
	if (!res->verdict)
		return false;
	if (res->exit_code != 0) {
		snprintf(res->why, sizeof(res->why), "worker finished with status %d", res->exit_code);
		return false;
	}
	missing = missing_check(res);
	if (missing) {
		snprintf(res->why, sizeof(res->why), "check %s did not run to its end", missing);
		return false;
	}
	return true;
}

/* Reset r for another attempt, keeping what the caller set (mode, node, provider). */
static void report_reset(struct report *r)
{
	char mode[sizeof(r->mode)], node[sizeof(r->node)], provider[sizeof(r->provider)];

	str_copy(mode, sizeof(mode), r->mode);
	str_copy(node, sizeof(node), r->node);
	str_copy(provider, sizeof(provider), r->provider);
	report_free(r);
	report_init(r, mode, node);
	str_copy(r->provider, sizeof(r->provider), provider);
}

int local_run(const struct engine_opts *o, int timeout_ms, struct report *r)
{
	struct supervise_result res;
	char first[sizeof(res.why)];
	int64_t t0 = now_ms();
	bool ok;

	if (timeout_ms <= 0)
		timeout_ms = o->cfg->timeout_s * 1000;
	str_copy(r->provider, sizeof(r->provider), o->cfg->provider);
	ok = attempt(o, timeout_ms, r, &res);
	/* No verdict (the worker could not start, crashed, exited early) says nothing about the
	 * node yet: libfabric, a provider or efa-check itself may be at fault (libfabric < 2.2.0
	 * crashed when threads opened efa domains at once, see fabric_open_lock; a fork bomb makes
	 * fork fail). Retry once in a fresh worker if it was not the deadline (that used the
	 * time) or an unkillable worker, and time is left; then it is an internal result. */
	if (!ok && !res.timed_out && !res.unkillable &&
	    timeout_ms - (now_ms() - t0) >= LOCAL_RETRY_MIN_MS) {
		str_copy(first, sizeof(first), res.why);
		report_reset(r);
		usleep(LOCAL_RETRY_PAUSE_MS * 1000);
		log_msg(LOG_NOTICE, "worker gave no verdict, running the checks once more: %s", first);
		ok = attempt(o, (int)(timeout_ms - (now_ms() - t0)), r, &res);
		if (ok)
			snprintf(r->note, sizeof(r->note), "checks ran twice: the first worker crashed (%.200s)",
				 first);
	}
	if (!ok) {
		report_reset(r);
		report_set_internal(r, "%s", res.why);
	}
	r->duration_ms = (long)(now_ms() - t0);
	report_finalize(r);
	if (!ok || res.timed_out)
		return EXIT_INTERNAL;
	return report_ok(r) ? EXIT_HEALTHY : EXIT_UNHEALTHY;
}
