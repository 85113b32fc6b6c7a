/*
 * check.h -- the contract every node-local check follows (as LBNL NHC's check functions, and
 * fabtests' functional/ tests over common/): one unit, one entry point, the same context.
 *
 * A check announces itself with progress_begin(name, target), fills a struct check_result per
 * target and hands it to check_finish(), which stamps the duration and sends it to the
 * supervising parent (core/supervise.h). Checks run in the order of the list in checks.c,
 * inside the supervised worker: a check that hangs is killed with the worker and named by the
 * parent. Adding a check is one new file here plus one line in checks.c.
 */
#ifndef EFA_CHECK_CHECK_H
#define EFA_CHECK_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct efa_config;
struct check_result;
struct fabric_domains;

/* What the checks of one run share. */
struct check_ctx {
	const struct efa_config *cfg;
	const char *sysfs_root;            /* NULL = /sys */
	struct fabric_domains *domains;    /* filled by the provider check, used by later ones */
	/* non-NULL: other jobs may use the devices (a user-triggered check next to them): what
	 * they disturb -- bandwidth floors, device-wide error counters -- is measured and
	 * reported, never judged; why ("2 other job(s) on this node"). The rest is judged. */
	const char *unjudged;
};

struct local_check {
	const char *name;
	void (*run)(struct check_ctx *ctx);
	/* true only for a check that cannot disturb running jobs: it reads sysfs, limits or
	 * small files, and opens no device, no GPU context, no libfabric domain. On a node with
	 * running jobs the health check runs only these (slurm/policy.c). Unset = heavy. */
	bool light;
};

/* The checks, in the order they run (checks.c). */
extern const struct local_check *const local_checks[];
extern const size_t local_checks_count;

/* Every check's entry (one per module). */
extern const struct local_check check_limits;
extern const struct local_check check_devices;
extern const struct local_check check_counters;
extern const struct local_check check_provider;
extern const struct local_check check_loopback;
extern const struct local_check check_gpu;

/* Stamp c's duration (from started_ms, now_ms() clock) and report it to the parent. */
void check_finish(struct check_result *c, int64_t started_ms);

#endif
