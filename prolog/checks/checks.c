/*
 * checks.c -- the node-local checks, in the order they run. The provider check comes before
 * the checks that use its domains (loopback, gpu); the cheap checks that need no libfabric
 * come first, so a node without a usable provider still reports its devices and limits.
 */
#include "checks/check.h"

const struct local_check *const local_checks[] = {
	&check_limits,
	&check_devices,
	&check_counters,
	&check_provider,
	&check_loopback,
	&check_gpu,
};

const size_t local_checks_count = sizeof(local_checks) / sizeof(local_checks[0]);
