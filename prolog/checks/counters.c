/*
 * counters.c -- the "counters" check: rates of the EFA port counters that mean trouble.
 *
 * What the driver gives (amzn-drivers kernel/linux/efa/src/efa_verbs.c, checked at master
 * 2026-05): EFA_DEFINE_PORT_STATS lists the files under ports/1/hw_counters/, and
 * efa_fill_port_stats fills them from EFA_ADMIN_GET_STATS_SCOPE_ALL queries: they count the
 * whole device, every process and job on it, not one test. retrans_timeout_events,
 * unresponsive_remote_events and impaired_remote_conn_events (the NETWORK stats) exist from
 * driver r2.17.0 ("Add Network HW statistics counters", RELEASENOTES.md); with an older
 * driver the files are absent and skipped. efa_query_port reports every port ACTIVE
 * unconditionally, so these counters, not the port state, are where trouble shows.
 *
 * So a counter that grows is not a failure; a counter that grows fast, sustained over the
 * interval between two runs (HealthCheckInterval, prologs), is. The previous sample is kept
 * in StateDir/counters.json; the first run records it and says so. Per device and counter,
 * the rate per minute is compared with CounterMaxRate= (defaults in config.c): rx_drops and
 * retrans_timeout_events fail above their limit; impaired_remote_conn_events and
 * unresponsive_remote_events describe the remote end of a connection, so by default they
 * are reported (detail, metrics) and never drain this node. A counter that went down (driver
 * reloaded) starts a new baseline.
 *
 * The check only reads sysfs and one small file: it cannot disturb running jobs.
 */
#include "checks/counters.h"
#include "checks/check.h"
#include "checks/devices.h"
#include "core/config.h"
#include "core/report.h"
#include "core/strutil.h"
#include "core/supervise.h"
#include "slurm/state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNTERS_FILE "counters.json"
#define COUNTERS_FILE_MAX (256 * 1024)
#define MIN_INTERVAL_S 10.0          /* a shorter interval keeps the older sample */

static const char *const rate_names[EFA_RATE_COUNTERS] = EFA_RATE_COUNTER_NAMES;

struct dev_sample {
	char name[EFA_DEV_NAME_MAX];
	long long v[EFA_RATE_COUNTERS];  /* -1 = the file is absent */
};

struct sample {
	double time;
	char root[256];                  /* the sysfs root it was read from ("/sys") */
	struct dev_sample *dev;
	size_t n;
};

static void sample_free(struct sample *s)
{
	free(s->dev);
	s->dev = NULL;
	s->n = 0;
}

static int take_sample(const char *sysfs_root, struct sample *s, char *err, size_t errlen)
{
	struct efa_device_list l = { 0 };

	memset(s, 0, sizeof(*s));
	if (devices_scan(sysfs_root, &l, err, errlen))
		return -1;
	s->time = unix_now();
	str_copy(s->root, sizeof(s->root), sysfs_root && *sysfs_root ? sysfs_root : "/sys");
	s->dev = calloc(l.n ? l.n : 1, sizeof(*s->dev));
	if (!s->dev) {
		devices_free(&l);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct efa_counter c[EFA_COUNTERS_MAX];
		int n = devices_read_counters(sysfs_root, l.dev[i].name, c, EFA_COUNTERS_MAX);
		struct dev_sample *d = &s->dev[s->n++];

		str_copy(d->name, sizeof(d->name), l.dev[i].name);
		for (int k = 0; k < EFA_RATE_COUNTERS; k++) {
			d->v[k] = -1;
			for (int j = 0; j < n; j++)
				if (!strcmp(c[j].name, rate_names[k]) && c[j].value <= (uint64_t)LLONG_MAX)
					d->v[k] = (long long)c[j].value;
		}
	}
	devices_free(&l);
	return 0;
}

/* ---- the stored sample: {"time": 1764480000.5, "sysfs": "/sys", "devices": {"rdmap16s27": {"rx_drops": 0, ...}}} */

static char *sample_to_json(const struct sample *s)
{
	json_object *o = json_object_new_object(), *devs = json_object_new_object();
	char *text;

	json_object_object_add(o, "time", json_object_new_double(s->time));
	json_object_object_add(o, "sysfs", json_object_new_string(s->root));
	for (size_t i = 0; i < s->n; i++) {
		json_object *d = json_object_new_object();

		for (int k = 0; k < EFA_RATE_COUNTERS; k++)
			if (s->dev[i].v[k] >= 0)
				json_object_object_add(d, rate_names[k], json_object_new_int64(s->dev[i].v[k]));
		json_object_object_add(devs, s->dev[i].name, d);
	}
	json_object_object_add(o, "devices", devs);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

static int sample_from_json(const char *text, struct sample *s)
{
	json_object *o = json_tokener_parse(text), *t, *devs, *root;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (!o || !json_object_object_get_ex(o, "time", &t) || !json_object_object_get_ex(o, "devices", &devs) ||
	    !json_object_is_type(devs, json_type_object))
		goto out;
	s->time = json_object_get_double(t);
	if (json_object_object_get_ex(o, "sysfs", &root) && json_object_is_type(root, json_type_string))
		str_copy(s->root, sizeof(s->root), json_object_get_string(root));
	s->dev = calloc((size_t)json_object_object_length(devs) + 1, sizeof(*s->dev));
	if (!s->dev)
		goto out;
	json_object_object_foreach(devs, name, d) {
		struct dev_sample *ds = &s->dev[s->n];

		if (!json_object_is_type(d, json_type_object) || !str_copy(ds->name, sizeof(ds->name), name))
			continue;
		for (int k = 0; k < EFA_RATE_COUNTERS; k++) {
			json_object *v;

			ds->v[k] = json_object_object_get_ex(d, rate_names[k], &v) &&
				   json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
		}
		s->n++;
	}
	rc = 0;
out:
	if (o)
		json_object_put(o);
	if (rc)
		sample_free(s);
	return rc;
}

static int load_sample(int dirfd, struct sample *s)
{
	char *buf = malloc(COUNTERS_FILE_MAX);
	ssize_t got = 0, r;
	int fd, rc = -1;

	memset(s, 0, sizeof(*s));
	if (!buf)
		return -1;
	fd = openat(dirfd, COUNTERS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		while (got < COUNTERS_FILE_MAX - 1 && (r = read(fd, buf + got, COUNTERS_FILE_MAX - 1 - got)) > 0)
			got += r;
		close(fd);
		buf[got] = '\0';
		rc = got > 0 ? sample_from_json(buf, s) : -1;
	}
	free(buf);
	return rc;
}

static void save_sample(int dirfd, const struct sample *s)
{
	char *text = sample_to_json(s);

	if (text)
		state_write_atomic(dirfd, COUNTERS_FILE, text, strlen(text), 0644);
	free(text);
}

/* ---- rates ---------------------------------------------------------------------------- */

static const struct dev_sample *find_dev(const struct sample *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->dev[i].name, name))
			return &s->dev[i];
	return NULL;
}

struct rates {
	double max_rate[EFA_RATE_COUNTERS];     /* per minute, over devices */
	char max_dev[EFA_RATE_COUNTERS][EFA_DEV_NAME_MAX];
	bool seen[EFA_RATE_COUNTERS];           /* some device has the file */
	bool reset;                             /* a counter went down: new baseline */
	char over[CHECK_REASON_MAX];            /* "rdmap16s27 rx_drops 1200/min > 600" */
	int nover;
};

static void add_over(struct rates *r, const char *dev, int k, double rate, double limit)
{
	char item[160];

	snprintf(item, sizeof(item), "%s %s %.0f/min > %g", dev, rate_names[k], rate, limit);
	if (r->nover == 0)
		str_copy(r->over, sizeof(r->over), item);
	else if (r->nover == 1 || strlen(r->over) + strlen(item) + 2 < 110)
		str_appendf(r->over, sizeof(r->over), ", %s", item);
	r->nover++;
}

static void compute_rates(const struct efa_config *cfg, const struct sample *prev, const struct sample *now,
			  struct rates *r)
{
	double minutes = (now->time - prev->time) / 60.0;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < now->n; i++) {
		const struct dev_sample *d = &now->dev[i], *p = find_dev(prev, d->name);

		for (int k = 0; k < EFA_RATE_COUNTERS; k++) {
			double rate;

			if (d->v[k] < 0)
				continue;
			r->seen[k] = true;
			if (!p || p->v[k] < 0)
				continue;
			if (d->v[k] < p->v[k]) {
				r->reset = true;
				continue;
			}
			rate = (double)(d->v[k] - p->v[k]) / minutes;
			if (rate > r->max_rate[k] || !r->max_dev[k][0]) {
				r->max_rate[k] = rate;
				str_copy(r->max_dev[k], sizeof(r->max_dev[k]), d->name);
			}
			if (cfg->counter_max_rate[k] > 0 && rate > cfg->counter_max_rate[k])
				add_over(r, d->name, k, rate, cfg->counter_max_rate[k]);
		}
	}
}

static void describe(struct check_result *c, const struct efa_config *cfg, const struct rates *r,
		     size_t ndev, double seconds)
{
	char absent[200] = "";

	check_detail(c, "%zu EFA device%s, rates per minute over %.0f s (device-wide):", ndev,
		     ndev == 1 ? "" : "s", seconds);
	for (int k = 0; k < EFA_RATE_COUNTERS; k++) {
		if (!r->seen[k]) {
			str_appendf(absent, sizeof(absent), "%s%s", absent[0] ? ", " : "", rate_names[k]);
			continue;
		}
		str_appendf(c->detail, sizeof(c->detail), " %s max %.1f%s%s (%s%g)", rate_names[k],
			    r->max_rate[k], r->max_dev[k][0] ? " on " : "", r->max_dev[k],
			    cfg->counter_max_rate[k] > 0 ? "limit " : "reported only, limit ",
			    cfg->counter_max_rate[k]);
		check_metric(c, rate_names[k], r->max_rate[k]);
	}
	if (absent[0])
		str_appendf(c->detail, sizeof(c->detail), "; absent (efa driver < r2.17.0?), skipped: %s",
			    absent);
	if (r->nover) {
		str_appendf(c->detail, sizeof(c->detail), "; over the limit: %s%s", r->over,
			    r->nover > 1 ? " (and more)" : "");
		check_fail(c, "%s", r->over);
	}
}

static bool provider_is_efa(const char *provider)
{
	return !provider[0] || (!strncmp(provider, "efa", 3) && (provider[3] == '\0' || provider[3] == ';'));
}

bool counters_may_fail(const struct efa_config *cfg)
{
	if (!provider_is_efa(cfg->provider) && cfg->expected_devices < 0)
		return false;
	for (int k = 0; k < EFA_RATE_COUNTERS; k++)
		if (cfg->counter_max_rate[k] > 0)
			return true;
	return false;
}

void counters_check(const struct efa_config *cfg, const char *sysfs_root, struct check_result *c)
{
	struct sample now = { 0 }, prev = { 0 };
	struct rates r;
	char err[CONFIG_ERR_MAX] = "";
	int dirfd = -1;

	check_init(c, "counters", NULL);
	if (!provider_is_efa(cfg->provider) && cfg->expected_devices < 0) {
		check_skip(c, "provider %s: EFA counters not read", cfg->provider);
		return;
	}
	if (take_sample(sysfs_root, &now, err, sizeof(err))) {
		check_skip(c, "cannot list EFA devices: %s", err);
		return;
	}
	if (now.n == 0) {
		check_skip(c, "no EFA devices: no counters (the devices check says why)");
		goto out;
	}
	dirfd = state_dir_open(cfg->state_dir, err, sizeof(err));
	if (dirfd < 0) {
		check_skip(c, "no earlier sample to compute rates from (%s)", err);
		goto out;
	}
	if (load_sample(dirfd, &prev) < 0 || now.time <= prev.time || strcmp(prev.root, now.root)) {
		save_sample(dirfd, &now);
		check_skip(c, "first sample of %zu EFA devices recorded in %s/%s: rates from the next run",
			   now.n, cfg->state_dir, COUNTERS_FILE);
		goto out;
	}
	if (now.time - prev.time < MIN_INTERVAL_S) {
		check_skip(c, "last sample %.0f s ago: too recent for a rate (kept it)", now.time - prev.time);
		goto out;
	}
	compute_rates(cfg, &prev, &now, &r);
	save_sample(dirfd, &now);
	if (r.reset && !r.nover) {
		check_skip(c, "a counter went down (efa driver reloaded?): new baseline recorded");
		goto out;
	}
	describe(c, cfg, &r, now.n, now.time - prev.time);
out:
	if (dirfd >= 0)
		close(dirfd);
	sample_free(&prev);
	sample_free(&now);
}

static void counters_run(struct check_ctx *ctx)
{
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("counters", NULL);
	if (ctx->unjudged) {
		/* Device-wide: other jobs' traffic (or a user killing their own peer) moves them.
		 * Not sampled either: the baseline stays the one runs without other jobs left. */
		check_init(&c, "counters", NULL);
		check_skip(&c, "not judged: %s", ctx->unjudged);
	} else {
		counters_check(ctx->cfg, ctx->sysfs_root, &c);
	}
	check_finish(&c, t0);
}

const struct local_check check_counters = { "counters", counters_run, .light = true };
