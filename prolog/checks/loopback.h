/*
 * loopback.h -- the libfabric loopback test for one domain: RDM endpoints on this node, our
 * own address in the AV, send/recv and RMA write + read back with data verification at every
 * size from 64 B up to max_bytes (powers of two), latency (small message round trip) and
 * windowed RMA write bandwidth. Modelled on fabtests (ft_* setup, completion handling).
 * Thread-safe: the engine runs one loopback per domain in parallel.
 */
#ifndef EFA_CHECK_LOOPBACK_H
#define EFA_CHECK_LOOPBACK_H

#include <stdbool.h>
#include <stddef.h>

struct check_result;

struct loopback_opts {
	const char *provider;      /* "efa", "tcp", "shm" ... */
	const char *domain;        /* domain name from fabric_provider_check */
	long max_bytes;            /* largest verified message, >= 1 MiB */
	int iterations;            /* bandwidth/latency iterations */
	double min_gbps;           /* 0 = not enforced */
	const char *floor_note;    /* where min_gbps came from with auto ("auto: p5.48xlarge
				    * profile", "auto: no floor, ..."); NULL or "" = given */
	const char *unjudged;      /* non-NULL: min_gbps measured against, not judged, and why */
	const char *sysfs_root;    /* NULL = /sys (the device counters moved to counters.c) */
};

/* Run the test; fills c (name "loopback", target = domain) with metrics
 * "write_gbps" (windowed 1 MiB RMA writes, Gbit/s) and "latency_us" (median 64 B send/recv
 * round trip, µs). Every completion wait is capped at 5 s ("timeout waiting for completion
 * of RMA write"). Failure reasons read "<domain>: <what>", e.g. "lo: RMA write data mismatch
 * at 65536 B", "lo: fi_domain: No such device". The device's hardware counters are not
 * looked at here: they count the whole device (the counters check rates them).
 * Returns 0 when the check passed. */
int loopback_run(const struct loopback_opts *o, struct check_result *c);

#endif
