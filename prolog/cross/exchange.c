/*
 * exchange.c -- what ranks tell each other through PMIx: each rank's endpoint addresses
 * (put, commit, fence with data collection; a fence that times out is replaced by per-rank
 * gets with a deadline, so a hung peer is named instead of hanging everyone), then each
 * rank's link results for rank 0.
 */
#include "cross/run.h"
#include "cross/schedule.h"
#include "core/strutil.h"
#include "core/supervise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hex --------------------------------------------------------------------------- */

static void to_hex(const void *src, size_t len, char *dst, size_t size)
{
	const uint8_t *p = src;

	dst[0] = '\0';
	for (size_t i = 0; i < len && 2 * i + 2 < size; i++)
		snprintf(dst + 2 * i, 3, "%02x", p[i]);
}

static size_t from_hex(const char *s, void *dst, size_t size)
{
	uint8_t *p = dst;
	size_t n = 0;

	while (s[0] && s[1] && n < size) {
		unsigned v;

		if (sscanf(s, "%2x", &v) != 1)
			break;
		p[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static char *addr_blob(struct xrun *x)
{
	json_object *o = json_object_new_object(), *doms = json_object_new_array();
	char *s;

	json_object_object_add(o, "node", json_object_new_string(x->o->node));
	json_object_object_add(o, "ok", json_object_new_boolean(x->local_ok));
	json_object_object_add(o, "err", json_object_new_string(x->local_err));
	json_object_object_add(o, "gpus", json_object_new_int(x->gpus));
	if (x->nccl_id[0])
		json_object_object_add(o, "nccl_id", json_object_new_string(x->nccl_id));
	for (size_t i = 0; i < x->ndom; i++) {
		struct xdom *d = &x->dom[i];
		json_object *j = json_object_new_object();
		char hex[2 * sizeof(d->addr) + 1];

		json_object_object_add(j, "name", json_object_new_string(d->name));
		json_object_object_add(j, "ok", json_object_new_boolean(d->ok));
		if (d->ok) {
			to_hex(d->addr, d->addrlen, hex, sizeof(hex));
			json_object_object_add(j, "addr", json_object_new_string(hex));
			json_object_object_add(j, "key", json_object_new_int64((int64_t)fi_mr_key(d->mr)));
			json_object_object_add(j, "base", json_object_new_int64((int64_t)xdom_base(d)));
			json_object_object_add(j, "toff", json_object_new_int64((int64_t)d->target_off));
			json_object_object_add(j, "tsize", json_object_new_int64((int64_t)d->tsize));
		}
		json_object_array_add(doms, j);
	}
	json_object_object_add(o, "doms", doms);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* ---- address exchange ----------------------------------------------------------------- */

/* Where our slot is in peer p's target area of one domain. */
static int connect_peer_dom(struct xrun *x, struct xdom *d, struct xpeer *p, json_object *jd)
{
	int *pp = calloc((size_t)x->nslots + 2 * (size_t)x->rounds + 2, sizeof(int));
	int np, myslot = -1;
	char addr[256];
	size_t alen;
	const char *hex = jstr(jd, "addr");

	if (!pp)
		return -1;
	np = schedule_peers(x->n, x->rounds, p->rank, pp, 2 * x->rounds + 2);
	for (int i = 0; i < np; i++)
		if (pp[i] == x->me)
			myslot = i;
	free(pp);
	if (myslot < 0 || !hex || !(alen = from_hex(hex, addr, sizeof(addr))))
		return -1;
	if (fi_av_insert(d->av, addr, 1, &p->fiaddr, 0, NULL) != 1)
		return -1;
	p->rkey = (uint64_t)jint(jd, "key", 0);
	p->raddr = (uint64_t)jint(jd, "base", 0) + (uint64_t)jint(jd, "toff", 0) +
		   (uint64_t)myslot * (uint64_t)jint(jd, "tsize", 0);
	if ((size_t)jint(jd, "tsize", 0) < d->tsize)
		return -1;
	p->usable = true;
	return 0;
}

static json_object *find_dom(json_object *blob, const char *name)
{
	json_object *doms;

	if (!blob || !json_object_object_get_ex(blob, "doms", &doms))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(doms); i++) {
		json_object *j = json_object_array_get_idx(doms, i);
		const char *nm = jstr(j, "name");

		if (nm && !strcmp(nm, name))
			return j;
	}
	return NULL;
}

void xrun_connect_peers(struct xrun *x, json_object **blobs)
{
	for (size_t i = 0; i < x->ndom; i++) {
		struct xdom *d = &x->dom[i];

		for (int s = 0; d->ok && s < x->nslots; s++) {
			struct xpeer *p = &d->peer[s];
			json_object *b = blobs[p->rank], *jd = find_dom(b, d->name);

			p->ok = false;
			if (!b)
				snprintf(p->detail, sizeof(p->detail), "no address from %s (hung or dead)",
					 x->nodes[p->rank]);
			else if (!jd)
				snprintf(p->detail, sizeof(p->detail), "%s has no domain %s",
					 x->nodes[p->rank], d->name);
			else if (!jbool(jd, "ok"))
				snprintf(p->detail, sizeof(p->detail), "%s could not open %s",
					 x->nodes[p->rank], d->name);
			else if (connect_peer_dom(x, d, p, jd))
				snprintf(p->detail, sizeof(p->detail), "fi_av_insert/address of %s failed",
					 x->nodes[p->rank]);
		}
	}
}

/*
 * After the inserts, before any RMA: a PMIx fence. On efa-direct (and on efa with
 * FI_OPT_EFA_HOMOGENEOUS_PEERS) the target of an RMA must have inserted the initiator's address
 * into its AV before the operation starts, a device limitation (ofiwg/libfabric man/fi_efa.7,
 * "RMA operations"). Without a barrier a rank that is quick to insert starts its round-0 RMA
 * at a peer still inserting, and a healthy link fails. Every rank reaches the fence only after
 * all of its fi_av_insert calls returned, so after it every peer knows every initiator.
 * Bounded: a quarter of what is left for the links (at least 2 s). A rank that misses it breaks
 * the fence for the rest of the run (pmixc fence_broken: later exchanges fall back to gets),
 * and the links are tested anyway: a link that then fails is reported as before.
 * With data collection: under Slurm 22.05's mpi/pmix a fence without PMIX_COLLECT_DATA was
 * measured here to return at once on the early ranks (0-8 ms while a peer still spent 6 s in
 * its inserts), so it is no barrier; the collecting fence (as for the addresses) is.
 */
void xrun_fence_inserts(struct xrun *x)
{
	int left = xrun_left_ms(x->links_end), budget = left / 4;
	int64_t t0 = now_ms();

	if (x->pc.fence_broken || left <= 0)
		return;
	if (budget < 2000)
		budget = left < 2000 ? left : 2000;
	x->inserts_fenced = true;
	if (pmixc_fence(&x->pc, true, budget) == 0)
		x->inserts_fenced_ms = (int)(now_ms() - t0);
	else
		x->inserts_fenced_ms = -1;
}

static void learn_names(struct xrun *x, json_object **blobs)
{
	for (int r = 0; r < x->n; r++) {
		const char *nm = blobs[r] ? jstr(blobs[r], "node") : NULL;
		char *h = NULL;

		if (nm && *nm) {
			free(x->nodes[r]);
			x->nodes[r] = strdup(nm);
		} else if (!x->nodes[r] && (h = pmixc_hostname(&x->pc, r, 500))) {
			x->nodes[r] = h;
		}
		if (!x->nodes[r] && asprintf(&x->nodes[r], "rank%d", r) < 0)
			x->nodes[r] = NULL;
	}
}

/* Publish our address, fence, read everyone's. Returns blobs (parsed, NULL when missing). */
json_object **xrun_exchange_addresses(struct xrun *x)
{
	json_object **blobs = calloc((size_t)x->n, sizeof(*blobs));
	char **raw = calloc((size_t)x->n, sizeof(*raw));
	char *mine = addr_blob(x);
	struct check_result c;
	int64_t t0 = now_ms();
	int got, frc = -1;
	char missing[CHECK_DETAIL_MAX] = "";

	progress_begin("pmix", "addresses");
	check_init(&c, "pmix", "addresses");
	if (!blobs || !raw || !mine) {
		check_fail(&c, "cross: out of memory");
		goto out;
	}
	if (pmixc_put_str(&x->pc, KEY_ADDR, mine) || pmixc_commit(&x->pc)) {
		check_fail(&c, "cross: PMIx put/commit failed");
		xrun_fail(x, "PMIx put/commit failed");
	}
	frc = pmixc_fence(&x->pc, true, xrun_left_ms(x->fence_a_end));
	got = pmixc_get_all_str(&x->pc, KEY_ADDR, xrun_left_ms(x->addr_end), raw);
	for (int r = 0; r < x->n; r++)
		if (raw[r] && !(blobs[r] = json_tokener_parse(raw[r])))
			got--;
	learn_names(x, blobs);
	for (int r = 0; r < x->n; r++)
		if (!blobs[r])
			str_appendf(missing, sizeof(missing), "%s%s", missing[0] ? "," : "", x->nodes[r]);
	if (frc == 0 && got == x->n)
		check_detail(&c, "%d ranks published their addresses (fence with data collection)", x->n);
	else
		check_detail(&c, "fence %s; %d/%d ranks published addresses; missing: %s",
			     frc == -2 ? "timed out" : frc ? "failed" : "ok", got, x->n,
			     missing[0] ? missing : "none");
	/* A missing peer is the peer's failure, named by blame; ours only if we are missing. */
	if (!blobs[x->me])
		xrun_fail(x, "own address not visible through PMIx");
out:
	xrun_emit(&c, t0);
	for (int r = 0; raw && r < x->n; r++)
		free(raw[r]);
	free(raw);
	free(mine);
	return blobs;
}

json_object **xrun_gather_results(struct xrun *x, bool fenced)
{
	json_object **res = calloc((size_t)x->n, sizeof(*res));
	char **raw = calloc((size_t)x->n, sizeof(*raw));

	if (!res || !raw)
		goto out;
	pmixc_get_all_str(&x->pc, KEY_RESULT, fenced ? 2000 : xrun_left_ms(x->res_end), raw);
	for (int r = 0; r < x->n; r++)
		if (raw[r])
			res[r] = json_tokener_parse(raw[r]);
out:
	for (int r = 0; raw && r < x->n; r++)
		free(raw[r]);
	free(raw);
	return res;
}

void xrun_free_blobs(json_object **b, int n)
{
	for (int i = 0; b && i < n; i++)
		json_object_put(b[i]);
	free(b);
}
