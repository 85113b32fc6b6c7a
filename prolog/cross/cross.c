/*
 * cross.c -- the `efa-check cross` worker (see cross.h): PMIx init, the phases' deadlines, one
 * endpoint per domain, the link phase, and teardown. The other phases live beside it (run.h).
 */
#include "cross/run.h"
#include "cross/schedule.h"
#include "core/config.h"
#include "core/strutil.h"
#include "core/supervise.h"
#include "fabric/fabric.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int xrun_left_ms(int64_t end)
{
	int64_t l = end - now_ms();

	return l < 0 ? 0 : (int)l;
}

static void set_deadlines(struct xrun *x)
{
	int64_t d = x->o->timeout_ms;
	int64_t margin = d / 10 < 2000 ? d / 10 : 2000;

	d -= margin;
	x->t0 = now_ms();
	x->fence_a_end = x->t0 + d * 30 / 100;
	x->addr_end = x->t0 + d * 40 / 100;
	x->links_end = x->t0 + d * 62 / 100;
	x->nccl_end = x->t0 + d * 78 / 100;
	x->fence_b_end = x->t0 + d * 86 / 100;
	x->res_end = x->t0 + d * 95 / 100;
	x->verdict_end = x->t0 + d;
}

void xrun_fail(struct xrun *x, const char *fmt, ...)
{
	va_list ap;

	if (!x->local_ok)
		return;
	x->local_ok = false;
	va_start(ap, fmt);
	vsnprintf(x->local_err, sizeof(x->local_err), fmt, ap);
	va_end(ap);
}

void xrun_emit(struct check_result *c, int64_t t0)
{
	c->duration_ms = (long)(now_ms() - t0);
	progress_result(c);
}

/* A loopback-only domain (the tcp provider's `lo`: an interface with IFF_LOOPBACK, whatever
 * the provider) can never carry a cross-node link: with every node's `lo` in the run,
 * every such link fails ("lo: send: Resource temporarily unavailable"). Leave them out, say so
 * in a skipped check, and fail this node only if nothing else is left. */
static void leave_out_loopback(struct xrun *x, const struct fabric_domains *fd)
{
	size_t kept = 0;
	char names[128] = "";

	for (size_t i = 0; i < fd->n; i++) {
		struct check_result c;

		if (!fabric_domain_loopback_only(fd, i)) {
			kept++;
			continue;
		}
		str_appendf(names, sizeof(names), "%s%s", names[0] ? "," : "", fd->name[i]);
		check_init(&c, "endpoint", fd->name[i]);
		check_skip(&c, "%s: loopback-only, cannot carry a cross-node link: left out of cross mode",
			   fd->name[i]);
		xrun_emit(&c, now_ms());
	}
	if (!kept && fd->n)
		xrun_fail(x, "no domain for cross-node links (%s: loopback-only)", names);
}

static void setup_domains(struct xrun *x)
{
	struct fabric_domains fd = { 0 };
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("provider", x->cfg->provider);
	fabric_prepare_env(x->cfg->provider);
	fabric_provider_check(x->cfg->provider, x->cfg->domains, x->cfg->ndomains, &fd, &c);
	if (fd.fabric[0])
		progress_meta("fabric", fd.fabric);
	xrun_emit(&c, t0);
	if (c.status == CHECK_FAIL)
		xrun_fail(x, "%s", c.reason);
	else
		leave_out_loopback(x, &fd);
	x->dom = calloc(fd.n ? fd.n : 1, sizeof(*x->dom));
	if (!x->dom)
		goto out;
	for (size_t i = 0; i < fd.n; i++) {
		struct xdom *d = &x->dom[x->ndom];

		if (fabric_domain_loopback_only(&fd, i))
			continue;
		x->ndom++;

		t0 = now_ms();
		progress_begin("endpoint", fd.name[i]);
		str_copy(d->name, sizeof(d->name), fd.name[i]);
		d->me = x->me;
		d->nranks = x->n;
		d->rounds = x->rounds;
		d->cfg = x->cfg;
		d->nodes = (const char *const *)x->nodes;
		d->nslots = x->nslots;
		d->peer = calloc(x->nslots ? (size_t)x->nslots : 1, sizeof(*d->peer));
		check_init(&c, "endpoint", d->name);
		if (!d->peer)
			str_copy(d->err, sizeof(d->err), "out of memory");
		if (!d->peer || xdom_open(d, x->cfg->provider, fd.n)) {
			check_fail(&c, "cross: endpoint %s: %s", d->name, d->err);
			xrun_fail(x, "endpoint %s: %s", d->name, d->err);
		} else {
			check_detail(&c, "RDM endpoint on %s (%s), %zu-byte address, %d peer slots of %zu KiB",
				     d->name, d->info->fabric_attr->prov_name, d->addrlen, d->nslots,
				     d->tsize >> 10);
			for (int s = 0; s < x->nslots; s++)
				d->peer[s].rank = x->peers[s];
		}
		xrun_emit(&c, t0);
	}
out:
	fabric_domains_free(&fd);
}

static void run_links(struct xrun *x)
{
	pthread_t *th = calloc(x->ndom ? x->ndom : 1, sizeof(*th));
	bool *started = calloc(x->ndom ? x->ndom : 1, sizeof(*started));

	progress_begin("links", NULL);
	x->links_t0 = now_ms();
	for (size_t i = 0; th && started && i < x->ndom; i++) {
		x->dom[i].links_end_ms = x->links_end;
		if (x->dom[i].ok)
			started[i] = pthread_create(&th[i], NULL, xdom_links_thread, &x->dom[i]) == 0;
	}
	for (size_t i = 0; th && started && i < x->ndom; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	x->links_ms = now_ms() - x->links_t0;
	free(th);
	free(started);
}

static int run_init(struct xrun *x)
{
	struct check_result c;
	int64_t t0 = now_ms();
	char err[256];

	progress_begin("pmix", "init");
	check_init(&c, "pmix", "init");
	if (pmixc_init(&x->pc, err, sizeof(err))) {
		check_fail(&c, "cross: %s", err);
		xrun_emit(&c, t0);
		return -1;
	}
	x->n = x->pc.size;
	x->me = x->pc.rank;
	x->rounds = schedule_rounds(x->n, x->cfg->cross_peers);
	x->nodes = calloc((size_t)x->n, sizeof(char *));
	x->peers = calloc(2 * (size_t)x->rounds + 2, sizeof(int));
	if (!x->nodes || !x->peers) {
		check_fail(&c, "cross: out of memory");
		xrun_emit(&c, t0);
		return -1;
	}
	x->nslots = schedule_peers(x->n, x->rounds, x->me, x->peers, 2 * x->rounds + 2);
	check_detail(&c, "rank %d of %d (%s), %d rounds, %d peers", x->me, x->n, x->pc.nspace,
		     x->rounds, x->nslots);
	xrun_emit(&c, t0);
	return 0;
}

int cross_worker(void *arg)
{
	struct xrun x = { .o = arg, .cfg = ((const struct cross_opts *)arg)->cfg, .local_ok = true,
			  .gpus = -1 };
	json_object **blobs = NULL;
	int verdict = 1;

	set_deadlines(&x);
	/* the libfabric jobs load (issue 9 point 8): LibfabricPath=, else the EFA installer's */
	fabric_set_library(x.cfg->libfabric_path);
	if (!fabric_load_error()) {
		char version[32];

		fabric_version(version, sizeof(version));
		progress_meta("libfabric", version);
		progress_meta("libfabric_path", fabric_library_path());
	}
	if (run_init(&x)) {
		x.me = -1;   /* no PMIx: not started as a PMIx task (usage) */
		xrun_write_outcome(&x, NULL, 2);
		return 1;
	}
	if (x.n < 2) {
		/* Not an error to ask, but nothing to test across. */
		struct check_result c;

		check_init(&c, "links", NULL);
		check_skip(&c, "cross: only one task; run one task per node on 2 or more nodes");
		progress_result(&c);
	}
	setup_domains(&x);
	xrun_setup_nccl(&x);
	blobs = xrun_exchange_addresses(&x);
	if (blobs && x.n >= 2) {
		xrun_connect_peers(&x, blobs);
		xrun_fence_inserts(&x);
		run_links(&x);
	}
	if (blobs && x.n >= 2)
		xrun_run_nccl(&x, blobs);
	verdict = xrun_finish(&x);
	/* Endpoints are not closed: fi_close on an RDM endpoint with a connection to a wedged peer
	 * can block (rxm tears connections down), and this worker process exits right after. */
	if (x.local_ok && !x.pc.fence_broken)
		for (size_t i = 0; i < x.ndom; i++)
			xdom_close(&x.dom[i]);
	free(x.dom);
	xrun_free_blobs(blobs, x.n);
	if (x.nccl && !x.nres.timed_out && !x.nres.abandoned)
		nccl_unload(x.nccl);
	pmixc_finalize(&x.pc);
	for (int r = 0; x.nodes && r < x.n; r++)
		free(x.nodes[r]);
	free(x.nodes);
	free(x.peers);
	return verdict;
}
