/*
 * sweep_io.h -- the I/O of `efa-check sweep`: what slurmctld says (libslurm), and one set's
 * cross check run through Slurm (srun). Every call is bounded by a deadline.
 */
#ifndef EFA_CHECK_SWEEP_IO_H
#define EFA_CHECK_SWEEP_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slurm/sweep.h"

/* ---- slurmctld -------------------------------------------------------------------------- */

struct sweep_ctl_node {
	char name[SWEEP_NAME_MAX];
	uint32_t state;
	char reason[SWEEP_REASON_MAX];
};

struct sweep_snapshot {
	char partition[SWEEP_NAME_MAX];  /* the partition asked for, or the default one */
	bool partition_up;
	char *partition_nodes;           /* its node hostlist expression */
	struct sweep_ctl_node *nodes;    /* every node slurmctld knows */
	size_t nnodes;
	bool no_partition;               /* (on error) the partition is unknown / no default */
	long jobs_waiting;               /* pending jobs waiting for resources in the partition or
	                                    one sharing nodes with it (not the sweep's own),
	                                    -1 = not asked */
};

/* Ask slurmctld, in a child process killed at timeout_ms, for the partition (NULL/"" = the
 * default partition), its nodes' states, and (with_jobs) the jobs waiting in it.
 * Returns 0, -2 when the partition is unknown (or there is no default one), or -1 with a
 * message in err ("slurmctld did not answer within 10 s",
 * "slurm_load_partitions: Unable to contact slurm controller (connect failure)", ...). */
int sweep_snapshot(const char *partition, bool with_jobs, int timeout_ms,
		   struct sweep_snapshot *s, char *err, size_t errlen);
void sweep_snapshot_free(struct sweep_snapshot *s);
const struct sweep_ctl_node *sweep_snapshot_node(const struct sweep_snapshot *s, const char *name);

/* Cancel every pending or running job named job_name (the sweep's own, after its srun had to
 * be killed), in a child process killed at timeout_ms. Returns the number cancelled or -1. */
int sweep_cancel_jobs(const char *job_name, int timeout_ms, char *err, size_t errlen);

/* ---- one set through srun ---------------------------------------------------------------- */

struct sweep_srun_args {
	const char *srun;           /* absolute path of srun */
	const char *command;        /* absolute path of efa-check on the nodes */
	const char *nodelist;       /* the set, as a hostlist expression */
	int nnodes;
	const char *partition, *qos, *reservation, *account;   /* NULL/"" = not given */
	const char *job_name;
	int nice;
	int immediate_s;            /* srun --immediate: give up if the nodes are not free */
	int time_limit_s;           /* the job's --time */
	int cross_timeout_s;        /* efa-check cross --timeout */
};

struct sweep_srun_result {
	int exit_code;              /* srun's exit code, 128+signal when killed, -1 not run */
	bool timed_out;             /* the deadline killed srun */
	char *out;                  /* srun's stdout (rank 0's report), malloc'ed */
	char err_tail[2048];        /* the end of srun's stderr */
	long duration_ms;
};

/* Build srun's argv (NULL-terminated, malloc'ed strings; free with sweep_argv_free). */
char **sweep_srun_argv(const struct sweep_srun_args *a);
void sweep_argv_free(char **argv);

/* Run srun with a clean environment (PATH and SLURM_CONF only) until it exits or deadline_ms
 * (now_ms clock): then SIGTERM (srun cancels its step and releases its allocation), SIGKILL
 * after a grace period. Returns 0 when srun ran to its end, -1 otherwise (r says why). */
int sweep_srun(const struct sweep_srun_args *a, int64_t deadline_ms, struct sweep_srun_result *r);
void sweep_srun_result_free(struct sweep_srun_result *r);

/* srun's stderr says the nodes could not be allocated at once (--immediate), or the set was
 * preempted by a job: they are busy. Returns the start of the line that says so, or NULL. */
const char *sweep_srun_busy(const char *err_tail);

#endif
