/*
 * engine.c -- the node-local checks and the supervised run around them.
 */
#include "engine.h"
#include "cli.h"
#include "config.h"
#include "devices.h"
#include "fabric.h"
#include "gpu.h"
#include "rlimits.h"
#include "loopback.h"
#include "profiles.h"
#include "report.h"
#include "strutil.h"
#include "supervise.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void finish(struct check_result *c, int64_t started_ms)
{
	c->duration_ms = (long)(now_ms() - started_ms);
	progress_result(c);
}

static void run_limits(const struct engine_opts *o)
{
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("limits", NULL);
	limits_check(o->cfg->min_memlock_bytes, &c);
	finish(&c, t0);
}

static void run_devices(const struct engine_opts *o)
{
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("devices", NULL);
	devices_check(o->cfg, o->sysfs_root, &c);
	finish(&c, t0);
}

static int run_provider(const struct engine_opts *o, struct fabric_domains *d)
{
	struct check_result c;
	int64_t t0 = now_ms();
	int rc;

	/* The provider check is named after its provider: begin and result must agree. */
	progress_begin("provider", o->cfg->provider);
	check_init(&c, "provider", o->cfg->provider);
	rc = fabric_provider_check(o->cfg->provider, o->cfg->domains, o->cfg->ndomains, d, &c);
	str_copy(c.target, sizeof(c.target), o->cfg->provider);
	finish(&c, t0);
	return rc;
}

struct loopback_job {
	const struct engine_opts *o;
	const char *domain;
	pthread_t thread;
	bool started;
};

static void *loopback_thread(void *arg)
{
	struct loopback_job *j = arg;
	const struct efa_config *cfg = j->o->cfg;
	struct loopback_opts lo = {
		.provider = cfg->provider,
		.domain = j->domain,
		.max_bytes = cfg->loopback_max_bytes,
		.iterations = cfg->loopback_iterations,
		.min_gbps = cfg->min_loopback_gbps,
		.sysfs_root = j->o->sysfs_root,
	};
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("loopback", j->domain);
	check_init(&c, "loopback", j->domain);
	loopback_run(&lo, &c);
	finish(&c, t0);
	return NULL;
}

/* One thread per domain: on a p5 the 32 devices are tested at once, so the run takes as
 * long as the slowest device, not the sum. */
static void run_loopbacks(const struct engine_opts *o, const struct fabric_domains *d)
{
	struct loopback_job *jobs = calloc(d->n, sizeof(*jobs));

	if (!jobs)
		return;
	for (size_t i = 0; i < d->n; i++) {
		jobs[i].o = o;
		jobs[i].domain = d->name[i];
		jobs[i].started = pthread_create(&jobs[i].thread, NULL, loopback_thread, &jobs[i]) == 0;
		if (!jobs[i].started)
			loopback_thread(&jobs[i]);
	}
	for (size_t i = 0; i < d->n; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].thread, NULL);
	free(jobs);
}

static int expected_gpus(const struct engine_opts *o)
{
	struct profile_table t = { 0 };
	struct instance_profile p;
	char type[64] = "", err[256];
	int n = -1;

	if (o->cfg->expected_gpus >= 0)
		return o->cfg->expected_gpus;
	if (o->cfg->instance_type[0])
		str_copy(type, sizeof(type), o->cfg->instance_type);
	else if (instance_type_read(o->sysfs_root, type, sizeof(type)) < 0)
		return -1;
	if (profiles_load(&t, o->cfg->instance_profiles, err, sizeof(err)) == 0 &&
	    profiles_lookup(&t, type, &p) == 0)
		n = p.gpus;
	profiles_free(&t);
	return n;
}

static void run_gpu(const struct engine_opts *o, const struct fabric_domains *d)
{
	struct gpu_opts g = {
		.cfg = o->cfg,
		.provider = o->cfg->provider,
		.domains = d->name,
		.ndomains = d->n,
		.expected_gpus = expected_gpus(o),
	};
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("gpu", NULL);
	check_init(&c, "gpu", NULL);
	gpu_check(&g, &c);
	finish(&c, t0);
}

static void report_libfabric_version(void)
{
	char version[32];

	if (fabric_load_error())
		return;
	fabric_version(version, sizeof(version));
	progress_meta("libfabric", version);
}

int engine_local_checks(const struct engine_opts *o)
{
	struct fabric_domains d = { 0 };

	run_limits(o);
	run_devices(o);
	fabric_prepare_env(o->cfg->provider);
	report_libfabric_version();
	run_provider(o, &d);
	if (d.n)
		run_loopbacks(o, &d);
	run_gpu(o, &d);
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
