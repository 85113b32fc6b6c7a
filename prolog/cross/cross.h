/*
 * cross.h -- `efa-check cross`: cross-node RDMA link tests coordinated by PMIx, the NCCL
 * all-reduce check, and blame.
 *
 * One task per node under `srun --mpi=pmix`. The task's supervised worker (supervise.h) owns
 * the PMIx client and libfabric: it opens one RDM endpoint per domain, publishes the addresses
 * (put, commit, fence with data collection), tests the links of the round schedule
 * (schedule.h), publishes its link results (put, commit, fence), and on rank 0 gathers them and
 * decides which nodes are bad (cross_blame). Every wait has its share of the deadline; a fence
 * that times out (a peer hung or dead) is replaced by per-rank gets with a deadline, so the
 * live ranks still finish and the silent one is named. The worker hands its outcome to the
 * parent through out_fd (one JSON object, see cross_outcome_parse).
 */
#ifndef EFA_CHECK_CROSS_H
#define EFA_CHECK_CROSS_H

#include <stdbool.h>
#include <stddef.h>

struct efa_config;
struct report;

struct cross_opts {
	const struct efa_config *cfg;
	const char *node;        /* this node's name */
	int timeout_ms;          /* the whole run's deadline (the supervisor's) */
	int out_fd;              /* where the worker writes its outcome */
	bool verbose;
};

/* Worker body (supervise_run): arg is a struct cross_opts. Returns 0. */
int cross_worker(void *arg);

/* What the worker hands the parent. */
struct cross_outcome {
	int rank;                /* -1 when the worker wrote nothing */
	int size;
	int verdict;             /* rank 0's verdict as known here: 0 healthy, 1 bad, -1 unknown */
	char **bad_reason;       /* parallel to report.bad_nodes: "cross: ..." */
	size_t nbad;
	char **slow_reason;      /* parallel to report.slow_nodes: "cross: slow: ..." */
	size_t nslow;
};

/* Read the outcome written to fd (rewound) into o, adding links and bad nodes to r.
 * Returns 0, or -1 when there was none. */
int cross_outcome_read(int fd, struct cross_outcome *o, struct report *r);
void cross_outcome_free(struct cross_outcome *o);

#endif
