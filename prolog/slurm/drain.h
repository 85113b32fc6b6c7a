/*
 * drain.h -- draining and resuming this node through libslurm, with the rules that make
 * efa-check safe to run everywhere (DESIGN §2 "Drain reasons", §3):
 *
 *   - its own drains are the ones whose reason starts with "efa-check:";
 *   - it never overwrites a reason that is not its own (an admin's) and never touches a
 *     DOWN node;
 *   - it resumes only nodes drained with its own reason;
 *   - every RPC runs in a forked child that the caller kills at its deadline, so a stopped
 *     or hung slurmctld cannot hold a prolog past its Timeout (LBNL NHC bug #134: a hung
 *     scontrol let NHC clobber an admin's reason later). The node's state is read in the
 *     same child immediately before the update.
 *
 * The decision functions are pure (unit-tested); node_rpc does the I/O.
 */
#ifndef EFA_CHECK_DRAIN_H
#define EFA_CHECK_DRAIN_H

#include <stdbool.h>
#include <stdint.h>

#define EFA_REASON_PREFIX "efa-check:"
#define NODE_REASON_MAX 256

/* What slurmctld says about the node. */
struct node_view {
	bool found;
	uint32_t state;                 /* node_state: base state | flags (slurm.h) */
	char reason[NODE_REASON_MAX];   /* "" when none */
};

enum node_action {
	NODE_ACT_LOOKUP = 0,  /* read the state only */
	NODE_ACT_DRAIN,
	NODE_ACT_RESUME,
	NODE_ACT_JOBS,        /* the node's jobs other than the caller's own (node_jobs_rpc) */
};

enum drain_verdict {
	DRAIN_APPLY = 0,      /* send the update */
	DRAIN_NOTHING,        /* already in the wanted state (same efa-check reason / not drained) */
	DRAIN_SKIP_ADMIN,     /* someone else's reason: leave it */
	DRAIN_SKIP_DOWN,      /* the node is DOWN: leave it */
	DRAIN_SKIP_UNKNOWN,   /* slurmctld does not know the node (yet) */
};

/* true when reason starts with "efa-check:". */
bool reason_is_ours(const char *reason);
/* Node state predicates on node_view.state. */
bool node_is_down(uint32_t state);
bool node_is_drained(uint32_t state);  /* DRAIN flag: draining or drained */
/* Jobs run (or finish) on the node: base state ALLOCATED or MIXED, or the COMPLETING flag. */
bool node_has_jobs(uint32_t state);

/* Should this node be drained with new_reason? */
enum drain_verdict drain_decide(const struct node_view *n, const char *new_reason);
/* Should this node be resumed (it passed)? */
enum drain_verdict resume_decide(const struct node_view *n);
const char *drain_verdict_name(enum drain_verdict v);

#define NODE_JOB_IDS_MAX 4

/* Result of node_rpc. */
struct node_rpc_result {
	bool completed;                 /* the child finished within the deadline */
	bool lookup_ok;                 /* slurm_load_node_single answered */
	struct node_view node;          /* state before any update */
	enum drain_verdict verdict;     /* what was decided (drain/resume) */
	bool updated;                   /* slurm_update_node succeeded */
	bool jobs_ok;                   /* NODE_ACT_JOBS: slurm_load_jobs answered */
	int other_jobs;                 /* NODE_ACT_JOBS: how many (see node_jobs_rpc) */
	uint32_t other_ids[NODE_JOB_IDS_MAX];   /* the first of them, for the log */
	char error[256];                /* what went wrong, "" if nothing */
};

/* Look up the node and, for DRAIN/RESUME, apply the rules above and update it -- all in a
 * child process killed after timeout_ms. Returns 0 when the child completed (see
 * out->error for a failed lookup or update), -1 when it was killed or could not run. */
int node_rpc(const char *node, enum node_action act, const char *reason, int timeout_ms,
	     struct node_rpc_result *out);

/* The jobs that may be using node's devices besides own_job: slurm_load_jobs, in a child
 * process killed after timeout_ms as above; out->jobs_ok, out->other_jobs and out->other_ids
 * are set when it answered. Returns 0 when the child completed (jobs_ok false: out->error
 * says why), -1 when it was killed or could not run. */
int node_jobs_rpc(const char *node, uint32_t own_job, int timeout_ms, struct node_rpc_result *out);

/* What node_jobs_rpc counts, on one job table (pure: unit-tested): jobs RUNNING or SUSPENDED,
 * or COMPLETING (their processes may still run), whose node list holds node, other than
 * own_job and the other components of its heterogeneous job. The first ids go to ids[max]. */
struct job_info;
int node_other_jobs(const struct job_info *jobs, uint32_t n, const char *node, uint32_t own_job,
		    uint32_t *ids, int max);

#endif
