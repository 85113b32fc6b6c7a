/*
 * pmix_coord.h -- a thin PMIx client for `efa-check cross`: init, put, commit, fence and get,
 * every blocking step bounded.
 *
 * PMIx_Fence and PMIx_Get can wait forever for a peer that never arrives. Each is issued
 * non-blocking (PMIx_Fence_nb / PMIx_Get_nb, also passing PMIX_TIMEOUT to servers that honour
 * it) and waited for on a condition variable with our own deadline. A call that timed out is
 * abandoned: its callback data stays allocated and its late callback only frees it. After a
 * fence timed out the collective state is unknown, so the caller must not fence again
 * (pmixc.fence_broken) and falls back to per-rank gets, which Slurm's mpi/pmix serves by
 * direct modex from the peer's node.
 */
#ifndef EFA_CHECK_PMIX_COORD_H
#define EFA_CHECK_PMIX_COORD_H

#include <stdbool.h>
#include <stddef.h>

#define PMIXC_NSPACE_MAX 256

struct pmixc {
	bool initialized;
	bool fence_broken;        /* a fence timed out or failed: do not fence again */
	int rank;
	int size;
	char nspace[PMIXC_NSPACE_MAX];
};

/* PMIx_Init; fills rank and size (PMIX_JOB_SIZE). Returns 0, or -1 with err filled
 * (e.g. "not started by srun --mpi=pmix"). */
int pmixc_init(struct pmixc *c, char *err, size_t errlen);
/* PMIx_Finalize, only when the client is in a clean state (never after a timeout). */
void pmixc_finalize(struct pmixc *c);

/* PMIx_Put(PMIX_GLOBAL, key, string value) / PMIx_Commit. 0 or -1. */
int pmixc_put_str(struct pmixc *c, const char *key, const char *value);
int pmixc_commit(struct pmixc *c);

/* Fence over every rank of our namespace, with PMIX_COLLECT_DATA when collect. Waits at
 * most timeout_ms. Returns 0, -2 on timeout (fence_broken set), -1 on error. */
int pmixc_fence(struct pmixc *c, bool collect, int timeout_ms);

/* Get the string value of key published by every rank (out[rank], malloc'd, NULL when
 * missing), all requests in flight at once, waiting at most timeout_ms in total. out[c->rank]
 * is fetched too. Returns the number of ranks that answered. */
int pmixc_get_all_str(struct pmixc *c, const char *key, int timeout_ms, char **out);

/* Get one rank's string value; NULL when missing or timed out. Caller frees. */
char *pmixc_get_str(struct pmixc *c, int rank, const char *key, int timeout_ms);

/* PMIX_HOSTNAME of rank (job-level data registered by the launcher), or NULL. Caller frees. */
char *pmixc_hostname(struct pmixc *c, int rank, int timeout_ms);

#endif
