/*
 * limits.h -- the limits check: RLIMIT_MEMLOCK must allow registering RDMA buffers.
 */
#ifndef EFA_CHECK_LIMITS_H
#define EFA_CHECK_LIMITS_H

#include <stdint.h>

struct check_result;

/* Default minimum locked-memory limit (MinMemlock=); unlimited always passes. */
#define LIMITS_MIN_MEMLOCK (64LL << 20)

/* min_bytes: the smallest acceptable RLIMIT_MEMLOCK; -1 = only "unlimited" passes. */
void limits_check(long long min_bytes, struct check_result *c);

#endif
