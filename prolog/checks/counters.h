/*
 * counters.h -- the "counters" check (counters.c): per-minute rates of the EFA port counters
 * that mean trouble, between this run and the sample the previous run left in StateDir.
 */
#ifndef EFA_CHECK_COUNTERS_H
#define EFA_CHECK_COUNTERS_H

#include <stdbool.h>

struct efa_config;
struct check_result;

/* Initialises c as check "counters". Skipped (with the reason) when there is no earlier
 * sample yet; fails when a counter's rate is above its CounterMaxRate= limit. */
void counters_check(const struct efa_config *cfg, const char *sysfs_root, struct check_result *c);

/* Whether counters_check may fail with cfg (it reads EFA counters and some CounterMaxRate is
 * set): only then does a run next to other jobs have counters to leave unjudged. */
bool counters_may_fail(const struct efa_config *cfg);

#endif
