/*
 * rlimits.h -- the limits check: RLIMIT_MEMLOCK must allow registering RDMA buffers.
 * (Not "limits.h": with -Iprolog that name would hide the C library's <limits.h>.)
 */
#ifndef EFA_CHECK_RLIMITS_H
#define EFA_CHECK_RLIMITS_H

#include <stdint.h>

struct check_result;

/* Default minimum locked-memory limit (MinMemlock=); unlimited always passes. */
#define LIMITS_MIN_MEMLOCK (64LL << 20)

/* min_bytes: the smallest acceptable RLIMIT_MEMLOCK; -1 = only "unlimited" passes. */
void limits_check(long long min_bytes, struct check_result *c);

#endif
