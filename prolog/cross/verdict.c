/*
 * verdict.c -- after the links and NCCL: each rank publishes its results; rank 0 merges both
 * sides' views of every link, blames (cross/blame.h), reports the verdict and writes the
 * outcome its parent reads (cross_outcome_read, the parent side, is here too).
 */
#include "cross/run.h"
#include "cross/blame.h"
#include "cross/schedule.h"
#include "core/config.h"
#include "core/strutil.h"
#include "core/supervise.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void slot_view(struct xrun *x, int s, bool *ok, double *gbps, double *lat, char *detail, size_t size)
{
	*ok = x->ndom > 0;
	*gbps = 0;
	*lat = 0;
	detail[0] = '\0';
	if (!x->ndom)
		snprintf(detail, size, "no domains");
	for (size_t i = 0; i < x->ndom; i++) {
		struct xdom *d = &x->dom[i];
		struct xpeer *p = &d->peer[s];
		bool pok = d->ok && p->usable && p->tested && p->ok;

		if (!pok && *ok) {
			*ok = false;
			str_appendf(detail, size, "%s%s%s", x->ndom > 1 ? d->name : "", x->ndom > 1 ? ": " : "",
				 !d->ok ? "own endpoint failed" : p->detail[0] ? p->detail : "not tested");
		}
		*gbps += p->gbps;
		if (p->lat_us > *lat)
			*lat = p->lat_us;
	}
}

static char *result_blob(struct xrun *x)
{
	json_object *o = json_object_new_object(), *links = json_object_new_array();
	char *s;

	json_object_object_add(o, "node", json_object_new_string(x->o->node));
	json_object_object_add(o, "ok", json_object_new_boolean(x->local_ok));
	json_object_object_add(o, "err", json_object_new_string(x->local_err));
	for (int sl = 0; sl < x->nslots; sl++) {
		json_object *j = json_object_new_object();
		char detail[XDETAIL];
		double gbps, lat;
		bool ok;

		slot_view(x, sl, &ok, &gbps, &lat, detail, sizeof(detail));
		json_object_object_add(j, "peer", json_object_new_int(x->peers[sl]));
		json_object_object_add(j, "ok", json_object_new_boolean(ok));
		json_object_object_add(j, "gbps", json_object_new_double(gbps));
		json_object_object_add(j, "lat", json_object_new_double(lat));
		json_object_object_add(j, "detail", json_object_new_string(detail));
		json_object_array_add(links, j);
	}
	json_object_object_add(o, "links", links);
	if (x->nccl_ran) {
		json_object *n = json_object_new_object();

		json_object_object_add(n, "ok", json_object_new_boolean(x->nres.ok));
		json_object_object_add(n, "stage", json_object_new_int(x->nres.stage));
		json_object_object_add(n, "busbw", json_object_new_double(x->nres.busbw_gbs));
		json_object_object_add(n, "detail", json_object_new_string(x->nres.detail));
		xrun_nccl_blob(x, n);
		json_object_object_add(o, "nccl", n);
	}
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* One side's view of a link, normalised a < b. */
struct lview {
	int a, b;
	bool ok;
	double gbps, lat;
	char detail[XDETAIL];
};

static int lview_cmp(const void *pa, const void *pb)
{
	const struct lview *a = pa, *b = pb;

	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return (int)b->ok - (int)a->ok;   /* failures last: the merge keeps the last detail */
}

struct verdict {
	struct lview *links;         /* merged */
	size_t nlinks;
	bool *bad;
	char **why;                  /* per rank, for bad ranks */
	bool nccl_failed;
	char nccl_detail[XDETAIL];
	int missing;                 /* ranks whose results rank 0 could not read */
	bool *slow;                  /* per rank: judged slow (cross_slow) */
	char **slow_why;             /* per rank, for slow ranks: "cross: slow: ..." */
	bool *link_slow;             /* per merged link: a slow link between nodes not slow */
	int nslow, nslow_links;
	double median;               /* the allocation's median link, Gb/s */
	int nccl_nslow;              /* slow by the NCCL pair phase (nccl.h) */
	double nccl_median;          /* the allocation's median NCCL pair, GB/s */
};

static int add_view(struct lview **v, size_t *n, size_t *cap, int self, int peer, bool ok,
		    double gbps, double lat, const char *who, const char *detail)
{
	struct lview *l;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct lview *g = realloc(*v, nc * sizeof(*g));

		if (!g)
			return -1;
		*v = g;
		*cap = nc;
	}
	l = &(*v)[(*n)++];
	memset(l, 0, sizeof(*l));
	l->a = self < peer ? self : peer;
	l->b = self < peer ? peer : self;
	l->ok = ok;
	l->gbps = gbps;
	l->lat = lat;
	if (!ok)
		snprintf(l->detail, sizeof(l->detail), "%s: %s", who, detail ? detail : "failed");
	return 0;
}

/* All sides' views, with a failed view for every scheduled link of a rank without results. */
static struct lview *collect_views(struct xrun *x, json_object **res, size_t *nv)
{
	struct lview *v = NULL;
	size_t n = 0, cap = 0;
	int *pp = calloc(2 * (size_t)x->rounds + 2, sizeof(int));

	for (int r = 0; pp && r < x->n; r++) {
		json_object *links;

		if (!res[r] || !json_object_object_get_ex(res[r], "links", &links)) {
			int np = schedule_peers(x->n, x->rounds, r, pp, 2 * x->rounds + 2);

			for (int i = 0; i < np; i++)
				add_view(&v, &n, &cap, r, pp[i], false, 0, 0, x->nodes[r],
					 "no results (hung or dead)");
			continue;
		}
		for (size_t i = 0; i < json_object_array_length(links); i++) {
			json_object *j = json_object_array_get_idx(links, i);
			int peer = (int)jint(j, "peer", -1);

			if (peer < 0 || peer >= x->n || peer == r)
				continue;
			add_view(&v, &n, &cap, r, peer, jbool(j, "ok"), jdbl(j, "gbps"), jdbl(j, "lat"),
				 x->nodes[r], jstr(j, "detail"));
		}
	}
	free(pp);
	*nv = n;
	return v;
}

static struct lview *merge_views(struct lview *v, size_t nv, size_t *nout)
{
	size_t k = 0;

	qsort(v, nv, sizeof(*v), lview_cmp);
	for (size_t i = 0; i < nv; i++) {
		if (k && v[k - 1].a == v[i].a && v[k - 1].b == v[i].b) {
			struct lview *m = &v[k - 1];

			if (!v[i].ok && m->ok)
				memcpy(m->detail, v[i].detail, sizeof(m->detail));
			m->ok = m->ok && v[i].ok;
			if (v[i].gbps > 0 && (m->gbps <= 0 || v[i].gbps < m->gbps))
				m->gbps = v[i].gbps;
			if (v[i].lat > m->lat)
				m->lat = v[i].lat;
			continue;
		}
		v[k++] = v[i];
	}
	*nout = k;
	return v;
}

/* NCCL blame: a rank that failed while another rank got further is bad on its own. */
static void nccl_blame(struct xrun *x, json_object **res, bool *local_bad, char **why, struct verdict *vd)
{
	int best = -1;
	bool any = false;

	for (int r = 0; r < x->n; r++) {
		json_object *n;

		if (res[r] && json_object_object_get_ex(res[r], "nccl", &n)) {
			int st = jbool(n, "ok") ? NCCL_ST_DONE + 1 : (int)jint(n, "stage", 0);

			any = true;
			if (st > best)
				best = st;
			if (!jbool(n, "ok") && !vd->nccl_failed) {
				vd->nccl_failed = true;
				snprintf(vd->nccl_detail, sizeof(vd->nccl_detail), "%s: %s", x->nodes[r],
					 jstr(n, "detail") ? jstr(n, "detail") : "failed");
			}
		}
	}
	for (int r = 0; any && r < x->n; r++) {
		json_object *n;

		if (!res[r] || !json_object_object_get_ex(res[r], "nccl", &n) || jbool(n, "ok"))
			continue;
		if ((int)jint(n, "stage", 0) < best && !local_bad[r]) {
			local_bad[r] = true;
			if (asprintf(&why[r], "cross: nccl: %s", jstr(n, "detail") ? jstr(n, "detail") : "failed") < 0)
				why[r] = NULL;
		}
	}
}

static void node_reason(struct xrun *x, struct verdict *vd, int r)
{
	int failed = 0, total = 0;
	char peers[128] = "";

	if (vd->why[r])
		return;
	for (size_t i = 0; i < vd->nlinks; i++) {
		struct lview *l = &vd->links[i];
		int other = l->a == r ? l->b : l->b == r ? l->a : -1;

		if (other < 0)
			continue;
		total++;
		if (!l->ok) {
			failed++;
			str_appendf(peers, sizeof(peers), "%s%s", failed > 1 ? "," : "", x->nodes[other]);
		}
	}
	if (asprintf(&vd->why[r], "cross: %d/%d links failed (%s)", failed, total, peers) < 0)
		vd->why[r] = NULL;
}

/* Slow nodes against this allocation's own median (blame.h cross_slow). With OnSlow=drain a
 * slow node is a bad node (drained like one, per OnFail); with OnSlow=log (the default) it is
 * named in the report and on stderr only. */
/* A node slow in the NCCL pair phase (nccl.h): the same rule over the pairs' GB/s; a node the
 * links already named keeps the links' reason. */
static void judge_nccl_slow(struct xrun *x, json_object **res, struct verdict *vd)
{
	bool *slow = calloc((size_t)x->n, sizeof(bool));
	double *gbs = calloc((size_t)x->n, sizeof(double));

	if (!slow || !gbs)
		goto out;
	vd->nccl_nslow = xrun_nccl_slow(x, res, vd->bad, slow, gbs, &vd->nccl_median);
	for (int r = 0; r < x->n; r++) {
		if (!slow[r] || vd->slow[r])
			continue;
		vd->slow[r] = true;
		vd->nslow++;
		if (asprintf(&vd->slow_why[r], "cross: nccl slow: %.3g GB/s vs median %.3g GB/s",
			     gbs[r], vd->nccl_median) < 0)
			vd->slow_why[r] = NULL;
		if (x->cfg->on_slow == ON_SLOW_DRAIN && !vd->bad[r]) {
			vd->bad[r] = true;
			free(vd->why[r]);
			vd->why[r] = vd->slow_why[r] ? strdup(vd->slow_why[r]) : NULL;
		}
	}
out:
	free(slow);
	free(gbs);
}

static void judge_slow(struct xrun *x, json_object **res, struct verdict *vd)
{
	struct slow_link *sl = calloc(vd->nlinks ? vd->nlinks : 1, sizeof(*sl));

	vd->slow = calloc((size_t)x->n, sizeof(bool));
	vd->slow_why = calloc((size_t)x->n, sizeof(char *));
	vd->link_slow = calloc(vd->nlinks ? vd->nlinks : 1, sizeof(bool));
	if (!sl || !vd->slow || !vd->slow_why || !vd->link_slow)
		goto out;
	for (size_t i = 0; i < vd->nlinks; i++)
		sl[i] = (struct slow_link){ vd->links[i].a, vd->links[i].b, vd->links[i].ok,
					    vd->links[i].gbps };
	vd->nslow = cross_slow(x->n, vd->bad, sl, vd->nlinks, x->cfg->min_link_fraction, vd->slow,
			       vd->link_slow, &vd->median);
	for (size_t i = 0; i < vd->nlinks; i++)
		vd->nslow_links += vd->link_slow[i];
	for (int r = 0; r < x->n; r++) {
		if (!vd->slow[r])
			continue;
		if (asprintf(&vd->slow_why[r], "cross: slow: %.2f Gb/s vs median %.2f Gb/s",
			     cross_rank_median(r, vd->bad, sl, vd->nlinks), vd->median) < 0)
			vd->slow_why[r] = NULL;
		if (x->cfg->on_slow == ON_SLOW_DRAIN && !vd->bad[r]) {
			vd->bad[r] = true;
			free(vd->why[r]);
			vd->why[r] = vd->slow_why[r] ? strdup(vd->slow_why[r]) : NULL;
		}
	}
	judge_nccl_slow(x, res, vd);
out:
	free(sl);
}

static void decide(struct xrun *x, json_object **res, struct verdict *vd)
{
	bool *local_bad = calloc((size_t)x->n, sizeof(bool));
	struct blame_link *bl;
	size_t nv = 0;
	struct lview *v = collect_views(x, res, &nv);

	vd->bad = calloc((size_t)x->n, sizeof(bool));
	vd->why = calloc((size_t)x->n, sizeof(char *));
	vd->links = merge_views(v, nv, &vd->nlinks);
	bl = calloc(vd->nlinks ? vd->nlinks : 1, sizeof(*bl));
	if (!local_bad || !vd->bad || !vd->why || !bl)
		goto out;
	for (int r = 0; r < x->n; r++)
		vd->missing += !res[r];
	/* When most ranks' results cannot be read, the fault is on rank 0's side of PMIx (or the
	 * whole machine is stalled), not in those nodes: nobody can be blamed, the run is
	 * inconclusive (a failed check, no drain). Seen on a 2-core machine at load 20: every
	 * rank finished, the fence timed out, and 5 healthy nodes were "dead". */
	if (vd->missing * 2 > x->n)
		goto out;
	for (int r = 0; r < x->n; r++) {
		if (!res[r]) {
			local_bad[r] = true;
			if (asprintf(&vd->why[r], "cross: no results (hung or dead)") < 0)
				vd->why[r] = NULL;
		} else if (!jbool(res[r], "ok")) {
			local_bad[r] = true;
			if (asprintf(&vd->why[r], "cross: %s", jstr(res[r], "err") ? jstr(res[r], "err") : "local failure") < 0)
				vd->why[r] = NULL;
		}
	}
	nccl_blame(x, res, local_bad, vd->why, vd);
	for (size_t i = 0; i < vd->nlinks; i++)
		bl[i] = (struct blame_link){ vd->links[i].a, vd->links[i].b, vd->links[i].ok };
	cross_blame(x->n, local_bad, bl, vd->nlinks, vd->bad);
	for (int r = 0; r < x->n; r++)
		if (vd->bad[r])
			node_reason(x, vd, r);
	judge_slow(x, res, vd);
out:
	free(local_bad);
	free(bl);
}

/* Slow nodes and slow links, with the allocation's median, into the blame check's detail. */
static void slow_detail(struct xrun *x, const struct verdict *vd, struct check_result *c)
{
	char buf[CHECK_DETAIL_MAX] = "";

	if (!vd->slow || (!vd->nslow && !vd->nslow_links))
		return;
	for (int r = 0; r < x->n; r++)
		if (vd->slow[r])
			str_appendf(buf, sizeof(buf), "%s%s", buf[0] ? "," : "", x->nodes[r]);
	/* appended, never printed over itself ("%s", c->detail into c->detail overlaps: with
	 * _FORTIFY_SOURCE the detail came out as only its last part) */
	str_appendf(c->detail, sizeof(c->detail), "; median link %.2f Gb/s, MinLinkFraction=%g: "
		    "slow nodes: %s (OnSlow=%s)", vd->median, x->cfg->min_link_fraction,
		    vd->nslow ? buf : "none", on_slow_name(x->cfg->on_slow));
	if (vd->nccl_nslow)
		str_appendf(c->detail, sizeof(c->detail), "; nccl pairs: median %.3g GB/s, %d slow",
			    vd->nccl_median, vd->nccl_nslow);
	for (size_t i = 0; i < vd->nlinks; i++)
		if (vd->link_slow[i])
			str_appendf(c->detail, sizeof(c->detail), "; slow link %s<->%s %.2f Gb/s",
				    x->nodes[vd->links[i].a], x->nodes[vd->links[i].b], vd->links[i].gbps);
}

static void verdict_check(struct xrun *x, struct verdict *vd)
{
	struct check_result c;
	size_t nfail = 0, nbad = 0, first_link = (size_t)-1;
	int first_bad = -1;
	double minbw = 0;
	char bad[CHECK_DETAIL_MAX] = "";

	check_init(&c, "blame", NULL);
	for (size_t i = 0; i < vd->nlinks; i++) {
		if (!vd->links[i].ok && nfail++ == 0)
			first_link = i;
		if (vd->links[i].ok && (minbw == 0 || vd->links[i].gbps < minbw))
			minbw = vd->links[i].gbps;
	}
	for (int r = 0; r < x->n; r++)
		if (vd->bad && vd->bad[r]) {
			if (nbad++ == 0)
				first_bad = r;
			str_appendf(bad, sizeof(bad), "%s%s", nbad > 1 ? "," : "", x->nodes[r]);
		}
	check_detail(&c, "%d nodes, %d rounds, %zu/%zu links passed (slowest %.2f Gb/s); bad nodes: %s%s%s",
		     x->n, x->rounds, vd->nlinks - nfail, vd->nlinks, minbw, nbad ? bad : "none",
		     vd->nccl_failed ? "; nccl: " : "", vd->nccl_failed ? vd->nccl_detail : "");
	slow_detail(x, vd, &c);
	if (vd->missing * 2 > x->n)
		check_fail(&c, "cross: results of %d/%d ranks missing: inconclusive, nobody blamed",
			   vd->missing, x->n);
	else if (nbad == 1)
		check_fail(&c, "%s: %s", x->nodes[first_bad], vd->why[first_bad] ? vd->why[first_bad] : "cross: bad");
	else if (nbad > 1)
		check_fail(&c, "cross: %zu bad nodes: %s", nbad, bad);
	else if (nfail == 1)
		check_fail(&c, "cross: link %s<->%s failed: %s", x->nodes[vd->links[first_link].a],
			   x->nodes[vd->links[first_link].b], vd->links[first_link].detail);
	else if (nfail > 1 && nfail == vd->nlinks)
		/* Data dropped between every pair while Slurm and PMIx work: on AWS an EFA security
		 * group without its self-referencing rules (EFA traffic must be allowed to and
		 * from the group itself, inbound and outbound). */
		check_fail(&c, "cross: all %zu links failed: check the security group allows all "
			   "traffic to and from itself", nfail);
	else if (nfail > 1)
		check_fail(&c, "cross: %zu links failed, no single node to blame", nfail);
	else if (vd->nccl_failed)
		check_fail(&c, "cross: nccl: %s", vd->nccl_detail);
	x->verdict = c.status == CHECK_FAIL;
	progress_result(&c);
}

/* The parent's copy: links, bad nodes and their reasons. */
void xrun_write_outcome(struct xrun *x, struct verdict *vd, int verdict)
{
	json_object *o = json_object_new_object(), *links = json_object_new_array(),
		    *bad = json_object_new_array(), *slow = json_object_new_array();
	const char *s;

	json_object_object_add(o, "rank", json_object_new_int(x->me));
	json_object_object_add(o, "size", json_object_new_int(x->n));
	json_object_object_add(o, "verdict", json_object_new_int(verdict));
	for (size_t i = 0; vd && i < vd->nlinks; i++) {
		struct lview *l = &vd->links[i];
		json_object *j = json_object_new_object();

		json_object_object_add(j, "a", json_object_new_string(x->nodes[l->a]));
		json_object_object_add(j, "b", json_object_new_string(x->nodes[l->b]));
		json_object_object_add(j, "ok", json_object_new_boolean(l->ok));
		json_object_object_add(j, "gbps", json_object_new_double(l->gbps));
		json_object_object_add(j, "latency_us", json_object_new_double(l->lat));
		json_object_object_add(j, "detail", json_object_new_string(l->detail));
		if (vd->link_slow && vd->link_slow[i])
			json_object_object_add(j, "slow", json_object_new_boolean(true));
		json_object_array_add(links, j);
	}
	for (int r = 0; vd && vd->slow && r < x->n; r++) {
		json_object *j;

		if (!vd->slow[r])
			continue;
		j = json_object_new_object();
		json_object_object_add(j, "node", json_object_new_string(x->nodes[r]));
		json_object_object_add(j, "why", json_object_new_string(vd->slow_why[r] ? vd->slow_why[r] : "cross: slow"));
		json_object_array_add(slow, j);
	}
	for (int r = 0; vd && vd->bad && r < x->n; r++) {
		json_object *j;

		if (!vd->bad[r])
			continue;
		j = json_object_new_object();
		json_object_object_add(j, "node", json_object_new_string(x->nodes[r]));
		json_object_object_add(j, "why", json_object_new_string(vd->why[r] ? vd->why[r] : "cross: bad"));
		json_object_array_add(bad, j);
	}
	json_object_object_add(o, "links", links);
	json_object_object_add(o, "bad", bad);
	json_object_object_add(o, "slow", slow);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (x->o->out_fd >= 0) {
		ssize_t w = write(x->o->out_fd, s, strlen(s));

		(void)w;  /* a short outcome is reported by the parent as missing */
	}
	json_object_put(o);
}

/* This rank's own view of its links (every rank reports it; rank 0 adds the verdict). */
/* This rank's view of its links. On rank 0 with a cluster verdict (in_verdict) the failures are
 * listed but do not fail the check a second time: the blame check already judged them, and a
 * bad peer must not read as "(+1 more)" in the reason. */
static int own_links_check(struct xrun *x, bool in_verdict)
{
	struct check_result c;
	int failed = 0;
	double minbw = 0;
	char first[XDETAIL] = "";

	check_init(&c, "links", NULL);
	for (int s = 0; s < x->nslots; s++) {
		char detail[XDETAIL];
		double gbps, lat;
		bool ok;

		slot_view(x, s, &ok, &gbps, &lat, detail, sizeof(detail));
		if (!ok && failed++ == 0)
			str_appendf(first, sizeof(first), "%s: %s", x->nodes[x->peers[s]], detail);
		if (ok && (minbw == 0 || gbps < minbw))
			minbw = gbps;
	}
	check_detail(&c, "%d/%d links from %s passed in %d rounds (slowest %.2f Gb/s)%s%s",
		     x->nslots - failed, x->nslots, x->o->node, x->rounds, minbw,
		     failed ? "; first failure: " : "", first);
	if (x->inserts_fenced_ms >= 0 && x->inserts_fenced)
		str_appendf(c.detail, sizeof(c.detail), "; RMA after every peer's AV inserts (fence "
			    "%d ms)", x->inserts_fenced_ms);
	else if (x->inserts_fenced_ms < 0)
		str_appendf(c.detail, sizeof(c.detail), "; fence after the AV inserts missed");
	check_metric(&c, "min_gbps", minbw);
	c.duration_ms = (long)x->links_ms;
	if (failed && !in_verdict)
		check_fail(&c, "cross: %d/%d links failed (%s)", failed, x->nslots, first);
	progress_result(&c);
	return failed;
}

static void verdict_free(struct verdict *vd, int n)
{
	free(vd->links);
	free(vd->bad);
	for (int r = 0; vd->why && r < n; r++)
		free(vd->why[r]);
	free(vd->why);
	for (int r = 0; vd->slow_why && r < n; r++)
		free(vd->slow_why[r]);
	free(vd->slow_why);
	free(vd->slow);
	free(vd->link_slow);
}

/* After the links (and NCCL): publish results; rank 0 decides. Returns the exit verdict. */
int xrun_finish(struct xrun *x)
{
	char *mine = result_blob(x);
	struct verdict vd = { 0 };
	json_object **res;
	int own_failed = x->me != 0 ? own_links_check(x, false) : 0, fenced, verdict;
	int64_t t0 = now_ms();

	progress_begin("pmix", "results");
	if (!mine || pmixc_put_str(&x->pc, KEY_RESULT, mine) || pmixc_commit(&x->pc))
		xrun_fail(x, "PMIx put/commit of results failed");
	free(mine);
	fenced = !x->pc.fence_broken && pmixc_fence(&x->pc, true, xrun_left_ms(x->fence_b_end)) == 0;
	{
		struct check_result c;

		check_init(&c, "pmix", "results");
		check_detail(&c, "%s", fenced ? "results exchanged (fence with data collection)" :
			     "fence skipped or timed out: results read rank by rank");
		xrun_emit(&c, t0);
	}
	verdict = own_failed || !x->local_ok || (x->nccl_ran && !x->nres.ok);
	if (x->me != 0) {
		xrun_write_outcome(x, NULL, -1);
		/* Without the fence rank 0 reads our results from our node's PMIx server (direct
		 * modex), which needs this task alive: stay until rank 0's reading window closed. */
		while (!fenced && xrun_left_ms(x->verdict_end) > 0)
			usleep(50000);
		return verdict;
	}
	res = xrun_gather_results(x, fenced);
	if (res) {
		decide(x, res, &vd);
		verdict_check(x, &vd);
	}
	/* Rank 0's own links and NCCL come after the verdict, which already counts them. */
	own_links_check(x, res != NULL);
	if (x->nccl_check.name[0])
		progress_result(&x->nccl_check);
	verdict = x->verdict;
	xrun_write_outcome(x, &vd, verdict);
	verdict_free(&vd, x->n);
	xrun_free_blobs(res, x->n);
	return verdict;
}

/* ---- parent side ------------------------------------------------------------------------ */

int cross_outcome_read(int fd, struct cross_outcome *o, struct report *r)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_object *j = NULL, *arr;
	ssize_t n;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	o->rank = -1;
	o->verdict = -1;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	for (;;) {
		if (len + 4096 > cap) {
			char *g = realloc(buf, cap + 65536);

			if (!g)
				goto out;
			buf = g;
			cap += 65536;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (!len)
		goto out;
	buf[len] = '\0';
	if (!(j = json_tokener_parse(buf)))
		goto out;
	o->rank = (int)jint(j, "rank", -1);
	o->size = (int)jint(j, "size", 0);
	o->verdict = (int)jint(j, "verdict", -1);
	if (json_object_object_get_ex(j, "links", &arr))
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *l = json_object_array_get_idx(arr, i);
			struct report_link rl = { 0 };

			str_copy(rl.a, sizeof(rl.a), jstr(l, "a") ? jstr(l, "a") : "?");
			str_copy(rl.b, sizeof(rl.b), jstr(l, "b") ? jstr(l, "b") : "?");
			str_copy(rl.detail, sizeof(rl.detail), jstr(l, "detail") ? jstr(l, "detail") : "");
			rl.ok = jbool(l, "ok");
			rl.gbps = jdbl(l, "gbps");
			rl.latency_us = jdbl(l, "latency_us");
			rl.slow = jbool(l, "slow");
			report_add_link(r, &rl);
		}
	if (json_object_object_get_ex(j, "bad", &arr)) {
		o->bad_reason = calloc(json_object_array_length(arr) + 1, sizeof(char *));
		for (size_t i = 0; o->bad_reason && i < json_object_array_length(arr); i++) {
			json_object *b = json_object_array_get_idx(arr, i);
			const char *node = jstr(b, "node"), *why = jstr(b, "why");

			if (!node || report_add_bad_node(r, node))
				continue;
			o->bad_reason[o->nbad++] = strdup(why ? why : "cross: bad");
		}
	}
	if (json_object_object_get_ex(j, "slow", &arr)) {
		o->slow_reason = calloc(json_object_array_length(arr) + 1, sizeof(char *));
		for (size_t i = 0; o->slow_reason && i < json_object_array_length(arr); i++) {
			json_object *b = json_object_array_get_idx(arr, i);
			const char *node = jstr(b, "node"), *why = jstr(b, "why");

			if (!node || report_add_slow_node(r, node))
				continue;
			o->slow_reason[o->nslow++] = strdup(why ? why : "cross: slow");
		}
	}
	rc = 0;
out:
	json_object_put(j);
	free(buf);
	return rc;
}

void cross_outcome_free(struct cross_outcome *o)
{
	for (size_t i = 0; i < o->nbad; i++)
		free(o->bad_reason[i]);
	free(o->bad_reason);
	o->bad_reason = NULL;
	o->nbad = 0;
	for (size_t i = 0; i < o->nslow; i++)
		free(o->slow_reason[i]);
	free(o->slow_reason);
	o->slow_reason = NULL;
	o->nslow = 0;
}

