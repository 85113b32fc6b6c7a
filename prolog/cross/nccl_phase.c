/*
 * nccl_phase.c -- the NCCL all-reduce across the ranks of a cross run: rank 0's unique id
 * travels with its address blob; every rank with GPUs joins (cross/nccl.h runs it). Rank 0
 * reports its NCCL check after the verdict, which names the node to blame first.
 */
#include "cross/run.h"
#include "core/config.h"
#include "core/strutil.h"
#include "core/supervise.h"

#include <stdio.h>
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
		nccl_run(x->nccl, id, x->n, x->me, x->gpus, x->cfg->nccl_bytes, x->cfg->min_busbw_gbps,
			 xrun_left_ms(x->nccl_end), &x->nres);
		check_detail(&c, "%s", x->nres.detail);
		check_metric(&c, "busbw_gbs", x->nres.busbw_gbs);
		check_metric(&c, "algbw_gbs", x->nres.algbw_gbs);
		check_metric(&c, "init_ms", x->nres.init_ms);
		check_metric(&c, "connect_ms", x->nres.connect_ms);
		check_metric(&c, "verify_ms", x->nres.verify_ms);
		advisory_busbw(x, &c);
		if (!x->nres.ok)
			check_fail(&c, "cross: nccl: %s", x->nres.detail);
	}
	c.duration_ms = (long)(now_ms() - t0);
	if (x->me == 0)
		x->nccl_check = c;   /* after the verdict, which names the node to blame first */
	else
		progress_result(&c);
}
