/*
 * limits.h -- the limits check: RLIMIT_MEMLOCK must allow registering RDMA buffers.
 */
#ifndef EFA_CHECK_LIMITS_H
#define EFA_CHECK_LIMITS_H

#include <stdint.h>

struct check_result;

/* Minimum locked-memory limit we require (bytes); unlimited always passes. */
#define LIMITS_MIN_MEMLOCK (64ULL << 20)

void limits_check(struct check_result *c);

#endif
