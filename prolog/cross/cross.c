/*
 * cross.c -- cross-node link tests, PMIx exchange and blame (see cross.h).
 *
 * Endpoint setup and completion handling follow fabtests (common/shared.c): fi_getinfo with
 * the shared RDM hints, fabric, domain, CQ (FI_CQ_FORMAT_CONTEXT), AV (FI_AV_TABLE), RDM
 * endpoint bound to both, one registered region (send/recv/RMA) whose key and address the
 * peers use, completions read with fi_cq_read and errors with fi_cq_readerr. Every op carries
 * a struct fi_context2 (FI_CONTEXT/FI_CONTEXT2 modes) inside our own op record.
 *
 * Per link, each side actively tests its peer: a message whose payload the peer verifies,
 * an RMA write of a pattern into the peer's slot read back and compared, the latency of small
 * RMA reads, and the bandwidth of a window of RMA writes. A side that finished sends DONE; a
 * round ends when our tests are done and every round peer's DONE arrived, or at the round's
 * deadline, which makes a silent peer a failed link that names it.
 */
#include "cross/cross.h"
#include "core/config.h"
#include "fabric/fabric.h"
#include "cross/nccl.h"
#include "cross/pmix_coord.h"
#include "core/report.h"
#include "cross/schedule.h"
#include "core/strutil.h"
#include "core/supervise.h"

#include <json-c/json.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

/* ======================================================================================
 * blame (pure)
 * ====================================================================================== */

/* passes[i]: links of i that passed, counting only peers not bad. */
static void count_passes(int n, const bool *bad, const struct blame_link *l, size_t nl, int *passes)
{
	memset(passes, 0, (size_t)n * sizeof(*passes));
	for (size_t i = 0; i < nl; i++) {
		if (!l[i].ok || bad[l[i].a] || bad[l[i].b])
			continue;
		passes[l[i].a]++;
		passes[l[i].b]++;
	}
}

/* suspect[i]: failed links of i whose peer passes with someone else. */
static void count_suspect(int n, const bool *bad, const struct blame_link *l, size_t nl,
			  const int *passes, int *suspect)
{
	memset(suspect, 0, (size_t)n * sizeof(*suspect));
	for (size_t i = 0; i < nl; i++) {
		if (l[i].ok || bad[l[i].a] || bad[l[i].b])
			continue;
		if (passes[l[i].b] > 0)
			suspect[l[i].a]++;
		if (passes[l[i].a] > 0)
			suspect[l[i].b]++;
	}
}

static bool links_valid(int n, const struct blame_link *l, size_t nl)
{
	for (size_t i = 0; i < nl; i++)
		if (l[i].a < 0 || l[i].a >= n || l[i].b < 0 || l[i].b >= n || l[i].a == l[i].b)
			return false;
	return true;
}

int cross_blame(int n, const bool *local_bad, const struct blame_link *links, size_t nlinks,
		bool *bad)
{
	int *passes, *suspect, nbad = 0;

	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		nbad += (bad[i] = local_bad ? local_bad[i] : false);
	passes = calloc((size_t)n, sizeof(*passes));
	suspect = calloc((size_t)n, sizeof(*suspect));
	if (!passes || !suspect || !links_valid(n, links, nlinks))
		goto out;
	for (;;) {
		int best = -1;

		count_passes(n, bad, links, nlinks, passes);
		count_suspect(n, bad, links, nlinks, passes, suspect);
		for (int i = 0; i < n; i++)
			if (!bad[i] && suspect[i] >= BLAME_MIN_PEERS && (best < 0 || suspect[i] > suspect[best]))
				best = i;
		if (best < 0)
			break;
		bad[best] = true;
		nbad++;
	}
out:
	free(passes);
	free(suspect);
	return nbad;
}

/* ======================================================================================
 * link engine: one RDM endpoint per domain
 * ====================================================================================== */

#define XMSG_SIZE     4096
#define XMSG_PAYLOAD  1024
#define XNRECV        32
#define XWINDOW       16
#define XLAT_ITERS    50
#define XBW_ITERS     32
#define XMAGIC        0x45464358u   /* "EFCX" */
#define XDETAIL       200

enum xop_kind { XOP_SEND, XOP_WRITE, XOP_READ, XOP_BW, XOP_RECV };
enum xmsg_type { XMSG_TEST = 1, XMSG_DONE = 2 };

struct xop {
	struct fi_context2 ctx;     /* first: fi_cq_entry.op_context points here */
	enum xop_kind kind;
	int slot;                   /* peer slot, or receive buffer index */
	bool done;
	int err;                    /* positive fi_errno from the completion */
};

struct xmsg {
	uint32_t magic;
	uint32_t type;
	uint32_t src;
	uint32_t len;
	uint8_t payload[];
};

struct xpeer {
	int rank;
	bool usable;                /* we have its address and it set up this domain */
	fi_addr_t fiaddr;
	uint64_t raddr, rkey;       /* our slot in its target area */
	bool dead;                  /* an op to it timed out: its ops may still be in flight */
	bool got_test, test_ok, got_done;
	int bw_done, bw_err;
	struct xop send, done_send, write, read, bw[XWINDOW];
	/* our view of the link */
	bool tested, ok;
	double gbps, lat_us;
	char detail[XDETAIL];
};

struct xdom {
	char name[64];
	int me, nranks, rounds;
	const struct efa_config *cfg;
	const char *const *nodes;   /* rank -> node name, for messages */
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_cq *cq;
	struct fid_av *av;
	struct fid_ep *ep;
	struct fid_mr *mr;
	void *desc;
	char *buf;
	size_t buflen, tsize, send_off, target_off, local_off;
	int nslots;
	struct xpeer *peer;         /* by slot: schedule_peers order */
	struct xop recv[XNRECV];
	char addr[256];
	size_t addrlen;
	bool ok;                    /* set up */
	char err[XDETAIL];
	int64_t links_end_ms;
};

static void fill_pattern(void *dst, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	uint8_t *p = dst;

	for (size_t i = 0; i < len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, len - i < 8 ? len - i : 8);
	}
}

static uint64_t msg_seed(int src, int dst)
{
	return (uint64_t)src * 7919u + (uint64_t)dst * 104729u + 17u;
}

static const char *peer_name(const struct xdom *d, int rank)
{
	return d->nodes && d->nodes[rank] ? d->nodes[rank] : "?";
}

static char *recv_buf(struct xdom *d, int i) { return d->buf + (size_t)i * XMSG_SIZE; }
static char *send_buf(struct xdom *d, int slot, int which)
{
	return d->buf + d->send_off + ((size_t)slot * 2 + (size_t)which) * XMSG_SIZE;
}
static char *local_buf(struct xdom *d, int slot, int which)
{
	return d->buf + d->local_off + ((size_t)slot * 2 + (size_t)which) * d->tsize;
}

static int slot_of(const struct xdom *d, int rank)
{
	for (int s = 0; s < d->nslots; s++)
		if (d->peer[s].rank == rank)
			return s;
	return -1;
}

/* ---- completions ----------------------------------------------------------------- */

static int post_recv(struct xdom *d, int i)
{
	struct xop *op = &d->recv[i];

	op->kind = XOP_RECV;
	op->slot = i;
	op->done = false;
	op->err = 0;
	return (int)fi_recv(d->ep, recv_buf(d, i), XMSG_SIZE, d->desc, FI_ADDR_UNSPEC, &op->ctx);
}

static void handle_msg(struct xdom *d, int i)
{
	const struct xmsg *m = (const void *)recv_buf(d, i);
	char expect[XMSG_PAYLOAD];
	int s;

	if (m->magic != XMAGIC || m->src >= (uint32_t)d->nranks || (s = slot_of(d, (int)m->src)) < 0)
		return;
	if (m->type == XMSG_DONE) {
		d->peer[s].got_done = true;
		return;
	}
	if (m->type != XMSG_TEST)
		return;
	fill_pattern(expect, sizeof(expect), msg_seed((int)m->src, d->me));
	d->peer[s].got_test = true;
	d->peer[s].test_ok = m->len == sizeof(expect) && !memcmp(m->payload, expect, sizeof(expect));
}

static void op_done(struct xdom *d, struct xop *op, int err)
{
	if (!op)
		return;
	op->done = true;
	op->err = err;
	if (op->kind == XOP_RECV) {
		if (!err)
			handle_msg(d, op->slot);
		if (err != FI_ECANCELED)
			post_recv(d, op->slot);
	} else if (op->kind == XOP_BW && op->slot >= 0 && op->slot < d->nslots) {
		d->peer[op->slot].bw_done++;
		if (err)
			d->peer[op->slot].bw_err = err;
	}
}

/* Read completions once (fabtests ft_get_cq_comp without the blocking wait). */
static void xdom_poll(struct xdom *d)
{
	struct fi_cq_entry e[16];
	ssize_t n = fi_cq_read(d->cq, e, 16);

	if (n > 0) {
		for (ssize_t i = 0; i < n; i++)
			op_done(d, e[i].op_context, 0);
	} else if (n == -FI_EAVAIL) {
		struct fi_cq_err_entry err = { 0 };

		if (fi_cq_readerr(d->cq, &err, 0) > 0)
			op_done(d, err.op_context, err.err ? err.err : FI_EIO);
	} else {
		sched_yield();
	}
}

/* Wait for op until deadline; 0, -FI_ETIMEDOUT, or -(completion error). */
static int op_wait(struct xdom *d, struct xop *op, int64_t deadline)
{
	while (!op->done) {
		if (now_ms() > deadline)
			return -FI_ETIMEDOUT;
		xdom_poll(d);
	}
	return op->err ? -op->err : 0;
}

/* Post with fabtests' -FI_EAGAIN retry, driving progress in between, until deadline. */
#define XPOST(d, deadline, call)                                                  \
	({                                                                        \
		ssize_t _r;                                                       \
		while ((_r = (call)) == -FI_EAGAIN && now_ms() <= (deadline))     \
			xdom_poll(d);                                             \
		_r;                                                               \
	})

static void op_arm(struct xop *op, enum xop_kind kind, int slot)
{
	op->kind = kind;
	op->slot = slot;
	op->done = false;
	op->err = 0;
}

/* ---- setup (fabtests ft_open_fabric_res / ft_alloc_ep_res / ft_enable_ep) ------------ */

static size_t pick_tsize(int nslots, size_t ndom)
{
	size_t budget = (size_t)64 << 20, t = (size_t)1 << 20;
	size_t per = ndom * (size_t)(nslots ? nslots : 1) * 3;

	while (t > ((size_t)64 << 10) && t * per > budget)
		t >>= 1;
	return t;
}

static int xdom_alloc_buf(struct xdom *d, size_t ndom)
{
	d->tsize = pick_tsize(d->nslots, ndom);
	d->send_off = (size_t)XNRECV * XMSG_SIZE;
	d->target_off = d->send_off + (size_t)d->nslots * 2 * XMSG_SIZE;
	d->local_off = d->target_off + (size_t)d->nslots * d->tsize;
	d->buflen = d->local_off + (size_t)d->nslots * 2 * d->tsize;
	if (posix_memalign((void **)&d->buf, 4096, d->buflen))
		return -FI_ENOMEM;
	memset(d->buf, 0, d->buflen);
	return 0;
}

#define XCALL(d, what, call)                                                                 \
	do {                                                                                 \
		int _ret = (int)(call);                                                      \
		if (_ret) {                                                                  \
			snprintf((d)->err, sizeof((d)->err), "%s: %s", what, fi_strerror(-_ret)); \
			goto fail;                                                           \
		}                                                                            \
	} while (0)

/* Keep only the entry for our domain: some providers (tcp in 1.17) ignore the domain hint. */
static int pick_domain(struct fi_info **list, const char *name)
{
	struct fi_info *cur, *one;

	for (cur = *list; cur; cur = cur->next)
		if (cur->domain_attr->name && !strcmp(cur->domain_attr->name, name))
			break;
	if (!cur)
		return -FI_ENODATA;
	one = fi_dupinfo(cur);
	if (!one)
		return -FI_ENOMEM;
	fi_freeinfo(*list);
	*list = one;
	return 0;
}

static int xdom_open(struct xdom *d, const char *provider, size_t ndom)
{
	struct fi_info *hints = fabric_rdm_hints(provider, d->name);
	struct fi_cq_attr cq_attr = { .format = FI_CQ_FORMAT_CONTEXT, .wait_obj = FI_WAIT_NONE,
				      .size = 1024 };
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE, .count = (size_t)d->nranks };

	if (!hints) {
		str_copy(d->err, sizeof(d->err), "out of memory");
		return -1;
	}
	XCALL(d, "fi_getinfo", fi_getinfo(fabric_api_version(), NULL, NULL, 0, hints, &d->info));
	XCALL(d, "domain lookup", pick_domain(&d->info, d->name));
	XCALL(d, "fi_fabric", fi_fabric(d->info->fabric_attr, &d->fabric, NULL));
	XCALL(d, "fi_domain", fi_domain(d->fabric, d->info, &d->domain, NULL));
	XCALL(d, "fi_cq_open", fi_cq_open(d->domain, &cq_attr, &d->cq, NULL));
	XCALL(d, "fi_av_open", fi_av_open(d->domain, &av_attr, &d->av, NULL));
	XCALL(d, "fi_endpoint", fi_endpoint(d->domain, d->info, &d->ep, NULL));
	XCALL(d, "fi_ep_bind(cq)", fi_ep_bind(d->ep, &d->cq->fid, FI_TRANSMIT | FI_RECV));
	XCALL(d, "fi_ep_bind(av)", fi_ep_bind(d->ep, &d->av->fid, 0));
	XCALL(d, "fi_enable", fi_enable(d->ep));
	XCALL(d, "buffer", xdom_alloc_buf(d, ndom));
	XCALL(d, "fi_mr_reg", fi_mr_reg(d->domain, d->buf, d->buflen,
					FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ |
					FI_REMOTE_WRITE, 0, 0, 0, &d->mr, NULL));
	d->desc = fi_mr_desc(d->mr);
	d->addrlen = sizeof(d->addr);
	XCALL(d, "fi_getname", fi_getname(&d->ep->fid, d->addr, &d->addrlen));
	for (int i = 0; i < XNRECV; i++)
		XCALL(d, "fi_recv", post_recv(d, i));
	fi_freeinfo(hints);
	d->ok = true;
	return 0;
fail:
	fi_freeinfo(hints);
	return -1;
}

static void xdom_close(struct xdom *d)
{
	if (d->ep)
		fi_close(&d->ep->fid);
	if (d->mr)
		fi_close(&d->mr->fid);
	if (d->av)
		fi_close(&d->av->fid);
	if (d->cq)
		fi_close(&d->cq->fid);
	if (d->domain)
		fi_close(&d->domain->fid);
	if (d->fabric)
		fi_close(&d->fabric->fid);
	fi_freeinfo(d->info);
	free(d->buf);
	free(d->peer);
	memset(d, 0, sizeof(*d));
}

/* Remote address of the base of our MR as a peer computes it (FI_MR_VIRT_ADDR or offsets). */
static uint64_t xdom_base(const struct xdom *d)
{
	return d->info->domain_attr->mr_mode & FI_MR_VIRT_ADDR ? (uint64_t)(uintptr_t)d->buf : 0;
}

/* ---- one active test: message, RMA write + read back, latency, bandwidth --------------- */

__attribute__((format(printf, 3, 4)))
static void peer_fail(struct xdom *d, struct xpeer *p, const char *fmt, ...)
{
	va_list ap;
	char what[XDETAIL];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (p->ok || !p->detail[0])
		snprintf(p->detail, sizeof(p->detail), "%s", what);
	p->ok = false;
}

static const char *err_name(int ret)
{
	return ret == -FI_ETIMEDOUT ? "timed out" : fi_strerror(-ret);
}

static int test_message(struct xdom *d, struct xpeer *p, int slot, int64_t dl)
{
	struct xmsg *m = (void *)send_buf(d, slot, 0);
	ssize_t ret;

	m->magic = XMAGIC;
	m->type = XMSG_TEST;
	m->src = (uint32_t)d->me;
	m->len = XMSG_PAYLOAD;
	fill_pattern(m->payload, XMSG_PAYLOAD, msg_seed(d->me, p->rank));
	op_arm(&p->send, XOP_SEND, slot);
	ret = XPOST(d, dl, fi_send(d->ep, m, sizeof(*m) + XMSG_PAYLOAD, d->desc, p->fiaddr, &p->send.ctx));
	if (!ret)
		ret = op_wait(d, &p->send, dl);
	if (ret)
		peer_fail(d, p, "send: %s", err_name((int)ret));
	return (int)ret;
}

static int rma_once(struct xdom *d, struct xpeer *p, struct xop *op, int slot, bool write, void *buf,
		    size_t len, int64_t dl)
{
	ssize_t ret;

	op_arm(op, write ? XOP_WRITE : XOP_READ, slot);
	if (write)
		ret = XPOST(d, dl, fi_write(d->ep, buf, len, d->desc, p->fiaddr, p->raddr, p->rkey, &op->ctx));
	else
		ret = XPOST(d, dl, fi_read(d->ep, buf, len, d->desc, p->fiaddr, p->raddr, p->rkey, &op->ctx));
	if (!ret)
		ret = op_wait(d, op, dl);
	return (int)ret;
}

static int first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (a[i] != b[i])
			return (int)i;
	return -1;
}

static int test_rma_verify(struct xdom *d, struct xpeer *p, int slot, int64_t dl)
{
	uint8_t *w = (uint8_t *)local_buf(d, slot, 0), *r = (uint8_t *)local_buf(d, slot, 1);
	int ret, diff;

	fill_pattern(w, d->tsize, msg_seed(d->me, p->rank) ^ 0xA5A5u);
	memset(r, 0, d->tsize);
	ret = rma_once(d, p, &p->write, slot, true, w, d->tsize, dl);
	if (ret) {
		peer_fail(d, p, "RMA write: %s", err_name(ret));
		return ret;
	}
	ret = rma_once(d, p, &p->read, slot, false, r, d->tsize, dl);
	if (ret) {
		peer_fail(d, p, "RMA read: %s", err_name(ret));
		return ret;
	}
	diff = first_diff(w, r, d->tsize);
	if (diff >= 0) {
		peer_fail(d, p, "RMA data mismatch at byte %d of %zu", diff, d->tsize);
		return -FI_EIO;
	}
	return 0;
}

static int test_latency(struct xdom *d, struct xpeer *p, int slot, int64_t dl)
{
	int64_t t0 = now_us();
	int ret = 0;

	for (int i = 0; i < XLAT_ITERS && !ret; i++)
		ret = rma_once(d, p, &p->read, slot, false, local_buf(d, slot, 1), 8, dl);
	if (ret) {
		peer_fail(d, p, "RMA read (latency): %s", err_name(ret));
		return ret;
	}
	p->lat_us = (double)(now_us() - t0) / XLAT_ITERS;
	return 0;
}

static struct xop *free_bw_op(struct xpeer *p)
{
	for (int i = 0; i < XWINDOW; i++)
		if (p->bw[i].done)
			return &p->bw[i];
	return NULL;
}

static int test_bandwidth(struct xdom *d, struct xpeer *p, int slot, int64_t dl)
{
	char *src = local_buf(d, slot, 0);
	int posted = 0, ret = 0;
	int64_t t0 = now_us(), us;

	for (int i = 0; i < XWINDOW; i++)
		p->bw[i].done = true;
	p->bw_done = p->bw_err = 0;
	while (p->bw_done < XBW_ITERS && !p->bw_err) {
		struct xop *op;

		if (now_ms() > dl) {
			ret = -FI_ETIMEDOUT;
			break;
		}
		while (posted < XBW_ITERS && (op = free_bw_op(p))) {
			op_arm(op, XOP_BW, slot);
			ret = (int)XPOST(d, dl, fi_write(d->ep, src, d->tsize, d->desc, p->fiaddr,
							 p->raddr, p->rkey, &op->ctx));
			if (ret) {
				op->done = true;
				break;
			}
			posted++;
		}
		if (ret)
			break;
		xdom_poll(d);
	}
	if (!ret && p->bw_err)
		ret = -p->bw_err;
	if (ret) {
		peer_fail(d, p, "RMA write (bandwidth): %s", err_name(ret));
		return ret;
	}
	us = now_us() - t0;
	p->gbps = us > 0 ? (double)d->tsize * XBW_ITERS * 8.0 / ((double)us * 1000.0) : 0.0;
	if (d->cfg->min_link_gbps > 0 && p->gbps < d->cfg->min_link_gbps)
		peer_fail(d, p, "%.2f Gb/s below MinLinkGbps=%g", p->gbps, d->cfg->min_link_gbps);
	return 0;
}

static void send_done(struct xdom *d, struct xpeer *p, int slot, int64_t dl)
{
	struct xmsg *m = (void *)send_buf(d, slot, 1);

	m->magic = XMAGIC;
	m->type = XMSG_DONE;
	m->src = (uint32_t)d->me;
	m->len = 0;
	op_arm(&p->done_send, XOP_SEND, slot);
	if (XPOST(d, dl, fi_send(d->ep, m, sizeof(*m), d->desc, p->fiaddr, &p->done_send.ctx)))
		p->done_send.done = true;
}

/* Completion waits are capped per operation, so one dead peer cannot eat the whole round. */
#define XOP_CAP_MS 3000

static void link_test(struct xdom *d, int slot, int64_t round_dl)
{
	struct xpeer *p = &d->peer[slot];
	int64_t dl = now_ms() + XOP_CAP_MS < round_dl ? now_ms() + XOP_CAP_MS : round_dl;
	int ret;

	p->tested = true;
	p->ok = true;
	ret = test_message(d, p, slot, dl);
	if (!ret)
		ret = test_rma_verify(d, p, slot, dl);
	if (!ret)
		ret = test_latency(d, p, slot, dl);
	if (!ret)
		ret = test_bandwidth(d, p, slot, round_dl);
	if (ret == -FI_ETIMEDOUT)
		p->dead = true;
	send_done(d, p, slot, now_ms() + 200 < round_dl ? now_ms() + 200 : round_dl);
}

static bool round_complete(struct xdom *d, const int *slots, int n)
{
	for (int i = 0; i < n; i++) {
		struct xpeer *p = &d->peer[slots[i]];

		/* A link our own test already failed needs no answer from the peer. */
		if (p->usable && p->ok && !(p->got_done && p->got_test))
			return false;
	}
	return true;
}

static void round_finish(struct xdom *d, const int *slots, int n)
{
	for (int i = 0; i < n; i++) {
		struct xpeer *p = &d->peer[slots[i]];

		if (!p->usable)
			continue;
		if (!p->got_test)
			peer_fail(d, p, "no message from %s (peer silent)", peer_name(d, p->rank));
		else if (!p->test_ok)
			peer_fail(d, p, "message data mismatch");
		else if (!p->got_done)
			peer_fail(d, p, "%s did not finish its tests", peer_name(d, p->rank));
	}
}

static void run_round(struct xdom *d, int r)
{
	int peers[SCHEDULE_MAX_PER_ROUND], slots[SCHEDULE_MAX_PER_ROUND];
	int np = schedule_round_peers(d->nranks, r, d->me, peers), n = 0;
	int64_t now = now_ms();
	int64_t dl = now + (d->links_end_ms - now) / (d->rounds - r);

	for (int i = 0; i < np; i++) {
		int s = slot_of(d, peers[i]);

		if (s >= 0)
			slots[n++] = s;
	}
	for (int i = 0; i < n; i++)
		if (d->peer[slots[i]].usable)
			link_test(d, slots[i], dl);
	while (!round_complete(d, slots, n) && now_ms() <= dl)
		xdom_poll(d);
	round_finish(d, slots, n);
}

static void *xdom_links_thread(void *arg)
{
	struct xdom *d = arg;

	for (int r = 0; r < d->rounds; r++)
		run_round(d, r);
	/* Let our last DONE messages leave before the endpoint closes. */
	for (int s = 0; s < d->nslots; s++)
		if (d->peer[s].usable && !d->peer[s].dead)
			op_wait(d, &d->peer[s].done_send, now_ms() + 200);
	return NULL;
}

/* ======================================================================================
 * the run: PMIx exchange, link phase, NCCL, results, blame
 * ====================================================================================== */

#define KEY_ADDR    "efa-check.cross.addr"
#define KEY_RESULT  "efa-check.cross.result"

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

static int left_ms(int64_t end)
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

static void local_fail(struct xrun *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void local_fail(struct xrun *x, const char *fmt, ...)
{
	va_list ap;

	if (!x->local_ok)
		return;
	x->local_ok = false;
	va_start(ap, fmt);
	vsnprintf(x->local_err, sizeof(x->local_err), fmt, ap);
	va_end(ap);
}

static void emit(struct check_result *c, int64_t t0)
{
	c->duration_ms = (long)(now_ms() - t0);
	progress_result(c);
}

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

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int64_t jint(json_object *o, const char *key, int64_t dflt)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : dflt;
}

static double jdbl(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0.0;
}

static bool jbool(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* ---- setup --------------------------------------------------------------------------- */

static void setup_domains(struct xrun *x)
{
	struct fabric_domains fd = { 0 };
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("provider", x->cfg->provider);
	fabric_prepare_env(x->cfg->provider);
	fabric_provider_check(x->cfg->provider, x->cfg->domains, x->cfg->ndomains, &fd, &c);
	emit(&c, t0);
	if (c.status == CHECK_FAIL)
		local_fail(x, "%s", c.reason);
	x->dom = calloc(fd.n ? fd.n : 1, sizeof(*x->dom));
	if (!x->dom)
		goto out;
	x->ndom = fd.n;
	for (size_t i = 0; i < fd.n; i++) {
		struct xdom *d = &x->dom[i];

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
			local_fail(x, "endpoint %s: %s", d->name, d->err);
		} else {
			check_detail(&c, "RDM endpoint on %s (%s), %zu-byte address, %d peer slots of %zu KiB",
				     d->name, d->info->fabric_attr->prov_name, d->addrlen, d->nslots,
				     d->tsize >> 10);
			for (int s = 0; s < x->nslots; s++)
				d->peer[s].rank = x->peers[s];
		}
		emit(&c, t0);
	}
out:
	fabric_domains_free(&fd);
}

static void setup_nccl(struct xrun *x)
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

static void connect_peers(struct xrun *x, json_object **blobs)
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
static json_object **exchange_addresses(struct xrun *x)
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
		local_fail(x, "PMIx put/commit failed");
	}
	frc = pmixc_fence(&x->pc, true, left_ms(x->fence_a_end));
	got = pmixc_get_all_str(&x->pc, KEY_ADDR, left_ms(x->addr_end), raw);
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
		local_fail(x, "own address not visible through PMIx");
out:
	emit(&c, t0);
	for (int r = 0; raw && r < x->n; r++)
		free(raw[r]);
	free(raw);
	free(mine);
	return blobs;
}

/* ---- link phase ----------------------------------------------------------------------- */

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

/* Our view of the link to slot s, merged over domains. */
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

/* ---- NCCL ----------------------------------------------------------------------------- */

static void run_nccl(struct xrun *x, json_object **blobs)
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
			 left_ms(x->nccl_end), &x->nres);
		check_detail(&c, "%s", x->nres.detail);
		check_metric(&c, "busbw_gbs", x->nres.busbw_gbs);
		check_metric(&c, "algbw_gbs", x->nres.algbw_gbs);
		if (!x->nres.ok)
			check_fail(&c, "cross: nccl: %s", x->nres.detail);
	}
	c.duration_ms = (long)(now_ms() - t0);
	if (x->me == 0)
		x->nccl_check = c;   /* after the verdict, which names the node to blame first */
	else
		progress_result(&c);
}

/* ---- results -------------------------------------------------------------------------- */

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
out:
	free(local_bad);
	free(bl);
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
	if (nbad == 1)
		check_fail(&c, "%s: %s", x->nodes[first_bad], vd->why[first_bad] ? vd->why[first_bad] : "cross: bad");
	else if (nbad > 1)
		check_fail(&c, "cross: %zu bad nodes: %s", nbad, bad);
	else if (nfail == 1)
		check_fail(&c, "cross: link %s<->%s failed: %s", x->nodes[vd->links[first_link].a],
			   x->nodes[vd->links[first_link].b], vd->links[first_link].detail);
	else if (nfail > 1)
		check_fail(&c, "cross: %zu links failed, no single node to blame", nfail);
	else if (vd->nccl_failed)
		check_fail(&c, "cross: nccl: %s", vd->nccl_detail);
	x->verdict = c.status == CHECK_FAIL;
	progress_result(&c);
}

/* The parent's copy: links, bad nodes and their reasons. */
static void write_outcome(struct xrun *x, struct verdict *vd, int verdict)
{
	json_object *o = json_object_new_object(), *links = json_object_new_array(),
		    *bad = json_object_new_array();
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
		json_object_array_add(links, j);
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
	check_metric(&c, "min_gbps", minbw);
	c.duration_ms = (long)x->links_ms;
	if (failed && !in_verdict)
		check_fail(&c, "cross: %d/%d links failed (%s)", failed, x->nslots, first);
	progress_result(&c);
	return failed;
}

static json_object **gather_results(struct xrun *x, bool fenced)
{
	json_object **res = calloc((size_t)x->n, sizeof(*res));
	char **raw = calloc((size_t)x->n, sizeof(*raw));

	if (!res || !raw)
		goto out;
	pmixc_get_all_str(&x->pc, KEY_RESULT, fenced ? 2000 : left_ms(x->res_end), raw);
	for (int r = 0; r < x->n; r++)
		if (raw[r])
			res[r] = json_tokener_parse(raw[r]);
out:
	for (int r = 0; raw && r < x->n; r++)
		free(raw[r]);
	free(raw);
	return res;
}

static void free_blobs(json_object **b, int n)
{
	for (int i = 0; b && i < n; i++)
		json_object_put(b[i]);
	free(b);
}

static void verdict_free(struct verdict *vd, int n)
{
	free(vd->links);
	free(vd->bad);
	for (int r = 0; vd->why && r < n; r++)
		free(vd->why[r]);
	free(vd->why);
}

/* After the links (and NCCL): publish results; rank 0 decides. Returns the exit verdict. */
static int finish(struct xrun *x)
{
	char *mine = result_blob(x);
	struct verdict vd = { 0 };
	json_object **res;
	int own_failed = x->me != 0 ? own_links_check(x, false) : 0, fenced, verdict;
	int64_t t0 = now_ms();

	progress_begin("pmix", "results");
	if (!mine || pmixc_put_str(&x->pc, KEY_RESULT, mine) || pmixc_commit(&x->pc))
		local_fail(x, "PMIx put/commit of results failed");
	free(mine);
	fenced = !x->pc.fence_broken && pmixc_fence(&x->pc, true, left_ms(x->fence_b_end)) == 0;
	{
		struct check_result c;

		check_init(&c, "pmix", "results");
		check_detail(&c, "%s", fenced ? "results exchanged (fence with data collection)" :
			     "fence skipped or timed out: results read rank by rank");
		emit(&c, t0);
	}
	verdict = own_failed || !x->local_ok || (x->nccl_ran && !x->nres.ok);
	if (x->me != 0) {
		write_outcome(x, NULL, -1);
		/* Without the fence rank 0 reads our results from our node's PMIx server (direct
		 * modex), which needs this task alive: stay until rank 0's reading window closed. */
		while (!fenced && left_ms(x->verdict_end) > 0)
			usleep(50000);
		return verdict;
	}
	res = gather_results(x, fenced);
	if (res) {
		decide(x, res, &vd);
		verdict_check(x, &vd);
	}
	/* Rank 0's own links and NCCL come after the verdict, which already counts them. */
	own_links_check(x, res != NULL);
	if (x->nccl_check.name[0])
		progress_result(&x->nccl_check);
	verdict = x->verdict;
	write_outcome(x, &vd, verdict);
	verdict_free(&vd, x->n);
	free_blobs(res, x->n);
	return verdict;
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
		emit(&c, t0);
		return -1;
	}
	x->n = x->pc.size;
	x->me = x->pc.rank;
	x->rounds = schedule_rounds(x->n, x->cfg->cross_peers);
	x->nodes = calloc((size_t)x->n, sizeof(char *));
	x->peers = calloc(2 * (size_t)x->rounds + 2, sizeof(int));
	if (!x->nodes || !x->peers) {
		check_fail(&c, "cross: out of memory");
		emit(&c, t0);
		return -1;
	}
	x->nslots = schedule_peers(x->n, x->rounds, x->me, x->peers, 2 * x->rounds + 2);
	check_detail(&c, "rank %d of %d (%s), %d rounds, %d peers", x->me, x->n, x->pc.nspace,
		     x->rounds, x->nslots);
	emit(&c, t0);
	return 0;
}

int cross_worker(void *arg)
{
	struct xrun x = { .o = arg, .cfg = ((const struct cross_opts *)arg)->cfg, .local_ok = true,
			  .gpus = -1 };
	json_object **blobs = NULL;
	int verdict = 1;

	set_deadlines(&x);
	if (!fabric_load_error()) {
		char version[32];

		fabric_version(version, sizeof(version));
		progress_meta("libfabric", version);
	}
	if (run_init(&x)) {
		x.me = -1;   /* no PMIx: not started as a PMIx task (usage) */
		write_outcome(&x, NULL, 2);
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
	setup_nccl(&x);
	blobs = exchange_addresses(&x);
	if (blobs && x.n >= 2) {
		connect_peers(&x, blobs);
		run_links(&x);
	}
	if (blobs && x.n >= 2)
		run_nccl(&x, blobs);
	verdict = finish(&x);
	/* Endpoints are not closed: fi_close on an RDM endpoint with a connection to a wedged peer
	 * can block (rxm tears connections down), and this worker process exits right after. */
	if (x.local_ok && !x.pc.fence_broken)
		for (size_t i = 0; i < x.ndom; i++)
			xdom_close(&x.dom[i]);
	free(x.dom);
	free_blobs(blobs, x.n);
	if (x.nccl && !x.nres.timed_out)
		nccl_unload(x.nccl);
	pmixc_finalize(&x.pc);
	for (int r = 0; x.nodes && r < x.n; r++)
		free(x.nodes[r]);
	free(x.nodes);
	free(x.peers);
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
}
