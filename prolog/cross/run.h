/*
 * run.h -- the state of one `efa-check cross` worker, shared by the parts of cross/ (private to
 * the folder; the public contract is cross.h):
 *   cross.c       the worker: PMIx init, deadlines, endpoints, link phase, teardown
 *   exchange.c    PMIx exchange of addresses and results (put, commit, fence, direct gets)
 *   nccl_phase.c  the NCCL all-reduce across the ranks (cross/nccl.h does the library work)
 *   verdict.c     results, rank 0's blame (cross/blame.h) and verdict, the outcome for the parent
 *   links.c       the link engine (cross/links.h)
 */
#ifndef EFA_CHECK_CROSS_RUN_H
#define EFA_CHECK_CROSS_RUN_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/report.h"
#include "cross/cross.h"
#include "cross/links.h"
#include "cross/nccl.h"
#include "cross/pmix_coord.h"

#define KEY_ADDR    "efa-check.cross.addr"
#define KEY_RESULT  "efa-check.cross.result"

struct verdict;

struct xrun {
	const struct cross_opts *o;
	const struct efa_config *cfg;
	struct pmixc pc;
	int n, me, rounds;
	char **nodes;                /* rank -> node name (malloc'd) */
	struct xdom *dom;
	size_t ndom;
	int *peers;                  /* schedule_peers of me: slot -> rank */
	int nslots;
	bool local_ok;
	char local_err[XDETAIL];
	int64_t links_t0, links_ms;
	struct check_result nccl_check;  /* rank 0 reports it after the verdict */
	int64_t t0, fence_a_end, addr_end, links_end, nccl_end, fence_b_end, res_end, verdict_end;
	int inserts_fenced_ms;       /* fence after the AV inserts: its time, -1 missed */
	bool inserts_fenced;         /* that fence ran */
	/* NCCL */
	struct nccl_lib *nccl;
	int gpus;                    /* -1 = no libraries */
	char nccl_skip[XDETAIL];
	char nccl_id[NCCL_ID_HEX_MAX];
	struct nccl_run_result nres;
	bool nccl_ran;
	/* rank 0 */
	int verdict;
};

/* Milliseconds left until end (0 when past). */
int xrun_left_ms(int64_t end);
/* This rank failed on its own (first reason kept). */
void xrun_fail(struct xrun *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stamp c's duration from t0 and report it to the parent. */
void xrun_emit(struct check_result *c, int64_t t0);

/* exchange.c */
json_object **xrun_exchange_addresses(struct xrun *x);
void xrun_connect_peers(struct xrun *x, json_object **blobs);
/* Fence after every rank's AV inserts, before any RMA (fi_efa.7; see exchange.c). */
void xrun_fence_inserts(struct xrun *x);
json_object **xrun_gather_results(struct xrun *x, bool fenced);
void xrun_free_blobs(json_object **b, int n);

/* nccl_phase.c */
void xrun_setup_nccl(struct xrun *x);
void xrun_run_nccl(struct xrun *x, json_object **blobs);
/* The pair phase's figures into this rank's "nccl" result object. */
void xrun_nccl_blob(const struct xrun *x, json_object *n);
/* Rank 0: slow ranks from every rank's pair figures (cross_slow, MinLinkFraction), GB/s:
 * slow[r], each slow rank's median pair figure, the allocation's median. Returns the count. */
int xrun_nccl_slow(struct xrun *x, json_object **res, const bool *bad, bool *slow,
		   double *rank_gbs, double *median);

/* verdict.c */
int xrun_finish(struct xrun *x);
void xrun_write_outcome(struct xrun *x, struct verdict *vd, int verdict);

/* Small json-c accessors for the blobs ranks exchange (missing key: NULL, dflt, 0, false). */
static inline const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static inline int64_t jint(json_object *o, const char *key, int64_t dflt)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : dflt;
}

static inline double jdbl(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0.0;
}

static inline bool jbool(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

#endif
