/*
 * sweep.h -- `efa-check sweep`: test the links between idle nodes before a job needs them.
 *
 * The sweeping node asks slurmctld (libslurm, in a child process killed at its deadline) which
 * nodes of a partition are idle and healthy, orders them least recently swept first, groups
 * them into sets, and runs `efa-check cross` on each set through Slurm itself (srun --mpi=pmix
 * --immediate, see sweep_run.c), so PMIx, the cross check, blame and the drain rules are those
 * of every cross run. It records when each node was last swept, and with what result, in
 * StateDir/sweep.json (state.h rules: root-owned directory, O_NOFOLLOW, atomic temp+rename).
 *
 * This header has the pure parts (unit-tested: tests/unit/slurm/test_sweep.c) and the
 * interfaces of the I/O parts.
 */
#ifndef EFA_CHECK_SWEEP_H
#define EFA_CHECK_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SWEEP_STATE_FILE  "sweep.json"
#define SWEEP_LOCK_FILE   "sweep.lock"
#define SWEEP_NAME_MAX    64
#define SWEEP_REASON_MAX  256
#define SWEEP_MIN_SET     4       /* what blame needs to tell a bad node from a bad link */
#define SWEEP_NODES_MAX   65536

/* ---- node availability ------------------------------------------------------------------ */

enum sweep_avail {
	AVAIL_IDLE = 0,      /* idle, no flag that keeps jobs off it: can be swept */
	AVAIL_BUSY,          /* running or about to run a job (allocated, mixed, completing,
	                        planned for a pending job, reserved): never touched */
	AVAIL_UNAVAILABLE,   /* down, drained, failing, not responding, powered down, rebooting,
	                        in maintenance: not ours to test */
};

/* Classify a node_state (slurm.h: base state | flags). reservation: the sweep runs in a
 * reservation (SweepReservation=), so the RESERVED flag does not make a node busy. */
enum sweep_avail sweep_node_avail(uint32_t state, bool reservation);
/* Short lower-case name of the state for reports ("idle", "allocated", "drained", ...). */
const char *sweep_state_name(uint32_t state);

/* ---- results ----------------------------------------------------------------------------- */

enum sweep_result {
	RESULT_NONE = 0,     /* not part of this sweep */
	RESULT_OK,           /* every link of the node passed */
	RESULT_BAD,          /* blamed by the cross check (drained when OnFail says so) */
	RESULT_SLOW,         /* named slow by the cross check (slow_nodes) */
	RESULT_LINK,         /* one of its links failed, but it was not blamed */
	RESULT_ERROR,        /* its set produced no verdict (srun failed, deadline) */
	RESULT_BUSY,         /* skipped: busy (in a job, or taken while the sweep ran) */
	RESULT_UNAVAILABLE,  /* skipped: down/drained/... */
	RESULT_NOT_REACHED,  /* skipped: the sweep's deadline, --max-nodes, no partner, or jobs
	                        waiting for nodes */
};
const char *sweep_result_name(enum sweep_result r);
/* Parse a name written by sweep_result_name. Returns RESULT_NONE for an unknown name. */
enum sweep_result sweep_result_parse(const char *s);
/* A result that means the node was tested (its links ran). */
bool sweep_result_tested(enum sweep_result r);

/* ---- history: StateDir/sweep.json ------------------------------------------------------ */

struct sweep_hist_entry {
	char name[SWEEP_NAME_MAX];
	double swept_at;                 /* Unix time of the last set it took part in, 0 = never */
	enum sweep_result result;        /* its result then */
	char reason[SWEEP_REASON_MAX];
};

struct sweep_history {
	struct sweep_hist_entry *e;
	size_t n, cap;
};

void sweep_history_free(struct sweep_history *h);
/* Find a node's entry, NULL when it has none. */
const struct sweep_hist_entry *sweep_history_find(const struct sweep_history *h, const char *name);
/* Set (add or replace) a node's entry. Returns 0 or -1 (out of memory, bad name, too many). */
int sweep_history_set(struct sweep_history *h, const char *name, double swept_at,
		      enum sweep_result result, const char *reason);
/* {"version": 1, "nodes": {"n1": {"swept_at": ..., "result": "ok", "reason": ""}, ...}}.
 * Parse is strict about types and names; unknown keys are ignored. Returns 0 or -1. */
int sweep_history_parse(const char *text, struct sweep_history *h);
/* Returns a malloc'ed string, or NULL. */
char *sweep_history_format(const struct sweep_history *h);

/* ---- planning ----------------------------------------------------------------------------- */

struct sweep_node {
	char name[SWEEP_NAME_MAX];
	uint32_t state;                  /* as slurmctld said at the start */
	char state_reason[SWEEP_REASON_MAX];   /* slurmctld's reason, "" if none */
	enum sweep_avail avail;
	double last_swept;               /* from the history, 0 = never */
	enum sweep_result result;        /* this sweep's result */
	char reason[SWEEP_REASON_MAX];   /* why (for bad/slow/link/error/skipped) */
	double tested_at;                /* when its set finished, 0 = not tested now */
	int set;                         /* index of its set, -1 = none */
	char state_after[24];            /* slurmctld's state once the sweep ended, "" unknown */
	char reason_after[SWEEP_REASON_MAX];   /* and its reason (the drain reason), "" none */
};

/* Sort nodes[0..n) least recently swept first (never swept first), ties by name in natural
 * order (n2 before n10). Stable for equal keys. */
void sweep_order(struct sweep_node *nodes, size_t n);

/*
 * Split n nodes into sets for blame: as many sets as n / set_size (rounded up), then fewer
 * while a set would have fewer than SWEEP_MIN_SET nodes; the nodes are spread evenly, so set
 * sizes differ by at most one and the remainder is never a small set of its own (10 nodes at
 * set_size 8: 5+5, not 8+2). Below SWEEP_MIN_SET nodes: one set of 3 or 2 (3 still tells a
 * bad node from a bad link; 2 only finds the link, and blames nobody); 1 node: no set (it has
 * no partner; reported "not reached"). Writes up to max sizes and returns the number of sets.
 */
size_t sweep_group(size_t n, size_t set_size, size_t *sizes, size_t max);

/* ---- one set's verdict, from the cross JSON report ------------------------------------- */

struct sweep_set_outcome {
	bool have_report;                /* a cross report was parsed */
	bool report_ok;
	char **bad, **slow;              /* node names from bad_nodes / slow_nodes */
	size_t nbad, nslow;
	char (*link_a)[SWEEP_NAME_MAX], (*link_b)[SWEEP_NAME_MAX];   /* failed links */
	size_t nlinks_failed;
	size_t nlinks;
	char reason[SWEEP_REASON_MAX];   /* the report's reason */
};

/* Parse rank 0's cross report (the last line of text that is a JSON object with
 * "mode": "cross"). Returns 0, or -1 when there is none. */
int sweep_parse_cross(const char *text, struct sweep_set_outcome *o);
void sweep_outcome_free(struct sweep_set_outcome *o);

/* The result of one node of a set whose report is o (o->have_report), with its reason. */
enum sweep_result sweep_node_result(const struct sweep_set_outcome *o, const char *node,
				    char *reason, size_t size);

/* ---- summary ----------------------------------------------------------------------------- */

struct sweep_counts {
	size_t tested, ok, bad, slow, link, error, busy, unavailable, not_reached;
};
void sweep_count(const struct sweep_node *nodes, size_t n, struct sweep_counts *c);
/* Exit code of the sweep (cli.h): 1 when a node was found bad, slow or on a failed link (a
 * finding), else 3 when a set gave no verdict or the deadline cut the sweep (internal),
 * else 0. Nodes skipped because they were busy or not reached are not failures. */
int sweep_exit_code(const struct sweep_counts *c, bool internal_error);

/* Prometheus textfile text for every node in the history plus the run's figures.
 * Returns its length, or -1 when buf is too small. */
long sweep_metrics_format(const struct sweep_history *h, const struct sweep_counts *c,
			  double finished_at, double duration_s, char *buf, size_t size);

#endif
