/*
 * metrics.h -- the Prometheus textfile (MetricsFile=) for node_exporter's textfile
 * collector, written atomically (temp file + rename in the same directory; the temp name
 * does not end in .prom, so the collector never reads a half-written file):
 *
 *   efa_check_ok                                   1 if the last run passed every check
 *   efa_check_check_ok{check,target}               1 passed or skipped, 0 failed
 *   efa_check_check_skipped{check,target}          1 if the check could not run
 *   efa_check_check_duration_seconds{check,target}
 *   efa_check_loopback_write_gbps{domain}          loopback RMA write bandwidth (Gb/s)
 *   efa_check_loopback_latency_us{domain}
 *   efa_check_duration_seconds                     the whole run
 *   efa_check_last_run_timestamp_seconds           Unix time the run finished
 *   efa_check_runs_total                           real check runs recorded in StateDir
 */
#ifndef EFA_CHECK_METRICS_H
#define EFA_CHECK_METRICS_H

#include <stddef.h>

struct report;

/* Format the metrics text into buf. Returns its length, or -1 if buf is too small. */
long metrics_format(const struct report *r, double finished_at, long runs, char *buf, size_t size);

/* Format and write the textfile at path atomically; its directory is reached from / without
 * following symlinks (slurm/state.h secure_dir_open). Returns 0, or -1 with a message in err. */
int metrics_write(const char *path, const struct report *r, double finished_at, long runs,
		  char *err, size_t errlen);

#endif
