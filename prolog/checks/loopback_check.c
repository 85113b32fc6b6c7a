/*
 * loopback_check.c -- the loopback check: one loopback_run (loopback.c) per domain, all at
 * once, then one device judged against the node's others (MinDeviceFraction).
 */
#include "checks/check.h"
#include "checks/loopback.h"
#include "core/config.h"
#include "core/relative.h"
#include "core/report.h"
#include "core/strutil.h"
#include "core/supervise.h"
#include "fabric/fabric.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- the check: one loopback per domain ---------------------------------------------------- */

struct loopback_job {
	const struct check_ctx *ctx;
	const char *domain;
	pthread_t thread;
	bool started;
	struct check_result c;      /* reported after every domain ran: the relative rule needs all */
	int64_t t0;                 /* this domain's start (its duration is its own run) */
};

static void job_opts(const struct loopback_job *j, struct loopback_opts *lo)
{
	const struct efa_config *cfg = j->ctx->cfg;

	*lo = (struct loopback_opts){
		.provider = cfg->provider,
		.domain = j->domain,
		.max_bytes = cfg->loopback_max_bytes,
		.iterations = cfg->loopback_iterations,
		.min_gbps = cfg->min_loopback_gbps,
		.floor_note = cfg->loopback_floor_note,
		.unjudged = j->ctx->unjudged,
		.sysfs_root = j->ctx->sysfs_root,
	};
}

static void *loopback_thread(void *arg)
{
	struct loopback_job *j = arg;
	struct loopback_opts lo;

	job_opts(j, &lo);
	j->t0 = now_ms();
	progress_begin("loopback", j->domain);
	check_init(&j->c, "loopback", j->domain);
	loopback_run(&lo, &j->c);
	j->c.duration_ms = (long)(now_ms() - j->t0);   /* its own run, not the wait for the others */
	return NULL;
}

/* A passed domain's write_gbps, or -1 (failed or not measured: not judged against others). */
static double measured_gbps(const struct check_result *c)
{
	if (c->status != CHECK_PASS)
		return -1;
	for (int i = 0; i < c->nmetrics; i++)
		if (!strcmp(c->metrics[i].name, "write_gbps"))
			return c->metrics[i].value;
	return -1;
}

/* A device found below the line is measured once more, alone: a device that is slow stays
 * slow; one that only lost the race for the CPUs while the others ran (the domains' phases do
 * not start together: opening them is serialised) runs at its speed when alone. Seen on the
 * loaded 2-core test host: a healthy domain at 0.31x the median of four, because two others
 * happened to run alone at 6-8 Gb/s. Returns the new figure, or -1 if it failed. */
static double measure_again(const struct loopback_job *j)
{
	struct loopback_opts lo;
	struct check_result c;

	job_opts(j, &lo);
	if (loopback_run(&lo, &c))
		return -1;
	return measured_gbps(&c);
}

/* One device far below the node's others -- under MinDeviceFraction of the median of the
 * domains measured, with at least RELATIVE_MIN_MEMBERS of them (core/relative.h), and again
 * when measured alone -- is slow: named in the report ("slow": true, "slow_devices"), and
 * failed only with OnSlow=drain, reason "<domain>: slow: 1.2 Gb/s vs median 9.6 Gb/s" (the
 * cross rule's form). Devices of one node share its CPUs, memory and PCIe root, so a healthy
 * node's devices measure alike. */
static void judge_devices(const struct check_ctx *ctx, struct loopback_job *jobs, size_t n)
{
	const struct efa_config *cfg = ctx->cfg;
	double *v = calloc(n, sizeof(*v)), median = 0;
	bool *slow = calloc(n, sizeof(*slow));
	int measured = 0;

	/* Other jobs on the devices (a user-triggered check beside them): their traffic is in
	 * the figures, so no device is judged against the others either (check.h unjudged). */
	if (cfg->min_device_fraction > 0 && ctx->unjudged)
		for (size_t i = 0; i < n; i++)
			if (measured_gbps(&jobs[i].c) >= 0)
				str_appendf(jobs[i].c.detail, sizeof(jobs[i].c.detail),
					    "; MinDeviceFraction %g not judged: %s",
					    cfg->min_device_fraction, ctx->unjudged);
	if (!v || !slow || cfg->min_device_fraction <= 0 || ctx->unjudged)
		goto out;
	for (size_t i = 0; i < n; i++) {
		v[i] = measured_gbps(&jobs[i].c);
		measured += v[i] >= 0;
	}
	if (relative_slow(v, n, cfg->min_device_fraction, RELATIVE_MIN_MEMBERS, slow, &median) <= 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct check_result *c = &jobs[i].c;
		double again;

		if (!slow[i])
			continue;
		again = measure_again(&jobs[i]);
		if (again < 0 || again >= cfg->min_device_fraction * median) {
			str_appendf(c->detail, sizeof(c->detail), "; %.2f Gb/s was below %g of the "
				    "median %.2f Gb/s of %d devices, %.2f Gb/s measured alone: not slow",
				    v[i], cfg->min_device_fraction, median, measured, again);
			continue;
		}
		v[i] = again;
		c->slow = true;
		str_appendf(c->detail, sizeof(c->detail), "; slow: %.2f Gb/s (alone) vs median %.2f "
			    "Gb/s of %d devices (MinDeviceFraction %g, OnSlow=%s)", v[i], median,
			    measured, cfg->min_device_fraction, on_slow_name(cfg->on_slow));
		if (cfg->on_slow == ON_SLOW_DRAIN)
			check_fail(c, "%s: slow: %.2f Gb/s vs median %.2f Gb/s", c->target, v[i], median);
	}
out:
	free(v);
	free(slow);
}

/* One thread per domain: on a p5 the 32 devices are tested at once, so the run takes as
 * long as the slowest device, not the sum. The results are reported once all have run. */
static void loopback_all(struct check_ctx *ctx)
{
	const struct fabric_domains *d = ctx->domains;
	struct loopback_job *jobs;

	if (!d->n)
		return;
	jobs = calloc(d->n, sizeof(*jobs));
	if (!jobs)
		return;
	for (size_t i = 0; i < d->n; i++) {
		jobs[i].ctx = ctx;
		jobs[i].domain = d->name[i];
		jobs[i].started = pthread_create(&jobs[i].thread, NULL, loopback_thread, &jobs[i]) == 0;
		if (!jobs[i].started)
			loopback_thread(&jobs[i]);
	}
	for (size_t i = 0; i < d->n; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].thread, NULL);
	judge_devices(ctx, jobs, d->n);
	for (size_t i = 0; i < d->n; i++)
		progress_result(&jobs[i].c);
	free(jobs);
}

const struct local_check check_loopback = { "loopback", loopback_all, .light = false };
