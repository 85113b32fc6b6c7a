/*
 * engine.h -- the node-local checks of checks/check.h, in the order of checks.c (limits,
 * devices, provider, loopback with one thread per domain, gpu). engine_local_checks runs inside
 * the supervised worker and reports each check through progress_*; local_run is the whole
 * supervised run used by the local, prolog, health and cross subcommands.
 */
#ifndef EFA_CHECK_ENGINE_H
#define EFA_CHECK_ENGINE_H

struct efa_config;
struct report;
struct supervise_result;

struct engine_opts {
	const struct efa_config *cfg;
	const char *sysfs_root;   /* NULL = /sys */
	/* non-NULL: run only the light checks (check.h: they cannot disturb running jobs); each
	 * heavy check is reported skipped with "not run: <light_only>" */
	const char *light_only;
	/* non-NULL: bandwidth floors and device-wide counters are not judged, and why (check.h
	 * struct check_ctx) */
	const char *unjudged;
};

/* Worker body: run every local check. Returns 0. */
int engine_local_checks(const struct engine_opts *o);

/* Supervised local run with the config's deadline (timeout_ms overrides when > 0).
 * Fills r (mode set by the caller through report_init) and finalizes it. A verdict needs the
 * worker's done record, exit 0 and a result from every check of checks.c; otherwise the run
 * is retried once (when it was not the deadline and time is left), then r is an internal
 * result (r->internal, report_set_internal). A check killed at the deadline is a verdict
 * (it hung). Returns an enum efa_exit value: 0 healthy, 1 unhealthy, 3 deadline or internal. */
int local_run(const struct engine_opts *o, int timeout_ms, struct report *r);

#endif
