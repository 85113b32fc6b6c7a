/*
 * nccl_phase.c -- the NCCL all-reduce across the ranks of a cross run: rank 0's unique id
 * travels with its address blob; every rank with GPUs joins (cross/nccl.h runs it). Rank 0
 * reports its NCCL check after the verdict, which names the node to blame first.
 */
#include "cross/run.h"
#include "cross/blame.h"
#include "cross/schedule.h"
#include "core/config.h"
#include "core/strutil.h"
#include "core/supervise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xrun_setup_nccl(struct xrun *x)
{
	char err[XDETAIL] = "";

	nccl_prepare_env(x->cfg->provider);
	x->gpus = nccl_load(x->cfg, &x->nccl, err, sizeof(err));
	if (x->gpus < 0)
		snprintf(x->nccl_skip, sizeof(x->nccl_skip), "%s", err);
	else if (x->gpus == 0)
		snprintf(x->nccl_skip, sizeof(x->nccl_skip), "no GPUs");
	if (x->me == 0 && x->gpus > 0 &&
	    nccl_unique_id_hex(x->nccl, x->nccl_id, sizeof(x->nccl_id), err, sizeof(err)))
		str_appendf(x->nccl_skip, sizeof(x->nccl_skip), "ncclGetUniqueId: %s", err);
}

/* The pair phase (nccl.h): with 3 or more nodes and the slow rule on, this node's peer in each
 * step of the link schedule's pairs, one at a time (schedule_pair_steps). */
static void set_pair_steps(struct xrun *x)
{
	int steps[NCCL_MAX_PAIR_STEPS];
	int ns = 0;

	if (x->n >= 3 && x->cfg->min_link_fraction > 0)
		ns = schedule_pair_steps(x->n, x->rounds, x->me, steps, NCCL_MAX_PAIR_STEPS);
	nccl_set_pairs(x->nccl, steps, ns > 0 ? ns : 0);
}

/* "; pairs: 3 peers, 0.0406-0.0521 GB/s" -- what this node's pair phase measured. */
static void pairs_detail(const struct xrun *x, struct check_result *c)
{
	double lo = 0, hi = 0;

	for (int i = 0; i < x->nres.npairs; i++) {
		double g = x->nres.pairs[i].gbs;

		if (i == 0 || g < lo)
			lo = g;
		if (i == 0 || g > hi)
			hi = g;
	}
	if (x->nres.npairs)
		str_appendf(c->detail, sizeof(c->detail), "; pairs: %d peer%s, %.3g-%.3g GB/s%s",
			    x->nres.npairs, x->nres.npairs > 1 ? "s" : "", lo, hi,
			    x->nres.pairs_done ? "" : " (unfinished at the deadline)");
}

void xrun_nccl_blob(const struct xrun *x, json_object *n)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < x->nres.npairs; i++) {
		json_object *p = json_object_new_array();

		json_object_array_add(p, json_object_new_int(x->nres.pairs[i].peer));
		json_object_array_add(p, json_object_new_double(x->nres.pairs[i].gbs));
		json_object_array_add(a, p);
	}
	json_object_object_add(n, "pairs", a);
}

/* One side's figure of pair (a, b): the lower of the sides that reported it counts. */
static void add_pair(struct slow_link *l, size_t *nl, size_t cap, int a, int b, double gbs)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	for (size_t i = 0; i < *nl; i++) {
		if (l[i].a == lo && l[i].b == hi) {
			if (gbs < l[i].gbps)
				l[i].gbps = gbs;
			return;
		}
	}
	if (*nl < cap)
		l[(*nl)++] = (struct slow_link){ lo, hi, true, gbs };
}

int xrun_nccl_slow(struct xrun *x, json_object **res, const bool *bad, bool *slow,
		   double *rank_gbs, double *median)
{
	size_t cap = (size_t)x->n * NCCL_MAX_PAIR_STEPS, nl = 0;
	struct slow_link *l = calloc(cap ? cap : 1, sizeof(*l));
	int nslow = 0;

	memset(slow, 0, (size_t)x->n * sizeof(*slow));
	*median = 0;
	if (!l)
		return 0;
	for (int r = 0; r < x->n; r++) {
		json_object *n, *pairs;

		if (!res[r] || !json_object_object_get_ex(res[r], "nccl", &n) ||
		    !json_object_object_get_ex(n, "pairs", &pairs) ||
		    !json_object_is_type(pairs, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(pairs); i++) {
			json_object *p = json_object_array_get_idx(pairs, i);
			int peer;

			if (!json_object_is_type(p, json_type_array) || json_object_array_length(p) != 2)
				continue;
			peer = json_object_get_int(json_object_array_get_idx(p, 0));
			if (peer >= 0 && peer < x->n && peer != r)
				add_pair(l, &nl, cap, r, peer,
					 json_object_get_double(json_object_array_get_idx(p, 1)));
		}
	}
	if (nl)
		nslow = cross_slow(x->n, bad, l, nl, x->cfg->min_link_fraction, slow, NULL, median);
	for (int r = 0; r < x->n; r++)
		rank_gbs[r] = slow[r] ? cross_rank_median(r, bad, l, nl) : 0;
	free(l);
	return nslow;
}

/* MinBusBwGBps=auto: the instance profile's published busbw beside the measurement. Advisory
 * (env/baseline.h): below it is said, never failed. */
static void advisory_busbw(const struct xrun *x, struct check_result *c)
{
	double want = x->cfg->advisory_busbw_gbps;

	if (want > 0) {
		check_metric(c, "advisory_busbw_gbs", want);
		if (x->nres.ok && x->nres.busbw_gbs < want)
			str_appendf(c->detail, sizeof(c->detail), "; below the published %g GB/s (%s; "
				    "advisory, not failed)", want, x->cfg->busbw_floor_note);
	} else if (x->cfg->busbw_floor_note[0]) {
		str_appendf(c->detail, sizeof(c->detail), "; MinBusBwGBps %s", x->cfg->busbw_floor_note);
	}
}

void xrun_run_nccl(struct xrun *x, json_object **blobs)
{
	struct check_result c;
	int64_t t0 = now_ms();
	const char *id = blobs[0] ? jstr(blobs[0], "nccl_id") : NULL;
	int gpus_min = x->gpus;
	char nogpu[CHECK_DETAIL_MAX] = "";

	progress_begin("nccl", NULL);
	check_init(&c, "nccl", NULL);
	for (int r = 0; r < x->n; r++) {
		int g = blobs[r] ? (int)jint(blobs[r], "gpus", -1) : -1;

		if (g < gpus_min)
			gpus_min = g;
		if (g <= 0)
			str_appendf(nogpu, sizeof(nogpu), "%s%s", nogpu[0] ? "," : "", x->nodes[r]);
	}
	if (x->nccl_skip[0] && x->gpus <= 0) {
		check_skip(&c, "nccl: %s", x->nccl_skip);
	} else if (gpus_min <= 0 || !id) {
		check_skip(&c, "nccl: not every node has GPUs and NCCL (without: %s)",
			   nogpu[0] ? nogpu : "rank 0 id");
	} else if (gpus_min != x->gpus) {
		check_skip(&c, "nccl: GPU counts differ between nodes (%d here, %d min)", x->gpus, gpus_min);
	} else {
		x->nccl_ran = true;
		set_pair_steps(x);
		nccl_run(x->nccl, id, x->n, x->me, x->gpus, x->cfg->nccl_bytes, x->cfg->min_busbw_gbps,
			 xrun_left_ms(x->nccl_end), &x->nres);
		check_detail(&c, "%s", x->nres.detail);
		check_metric(&c, "busbw_gbs", x->nres.busbw_gbs);
		check_metric(&c, "algbw_gbs", x->nres.algbw_gbs);
		check_metric(&c, "init_ms", x->nres.init_ms);
		check_metric(&c, "connect_ms", x->nres.connect_ms);
		check_metric(&c, "verify_ms", x->nres.verify_ms);
		advisory_busbw(x, &c);
		pairs_detail(x, &c);
		if (!x->nres.ok)
			check_fail(&c, "cross: nccl: %s", x->nres.detail);
	}
	c.duration_ms = (long)(now_ms() - t0);
	if (x->me == 0)
		x->nccl_check = c;   /* after the verdict, which names the node to blame first */
	else
		progress_result(&c);
}
