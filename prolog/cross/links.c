/*
 * links.c -- the cross-node link engine (see links.h).
 */
#include "cross/links.h"
#include "cross/schedule.h"
#include "core/config.h"
#include "core/strutil.h"
#include "fabric/fabric.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int xdom_open(struct xdom *d, const char *provider, size_t ndom)
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

void xdom_close(struct xdom *d)
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

uint64_t xdom_base(const struct xdom *d)
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

	int i;

	for (i = 0; i < XLAT_ITERS && !ret; i++)
		ret = rma_once(d, p, &p->read, slot, false, local_buf(d, slot, 1), 8, dl);
	/* Round trips that completed before the deadline measure a slow link, not a dead one. */
	if (ret == -FI_ETIMEDOUT && i > 1) {
		p->lat_us = (double)(now_us() - t0) / (i - 1);
		return 0;
	}
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
	/* A link that moved data but not all of it by its deadline is slow, not dead: measure it
	 * on what completed (the slow-node judgement needs its figure; a dead link completes
	 * nothing). */
	if (ret == -FI_ETIMEDOUT && !p->bw_err && p->bw_done > 0)
		ret = 0;
	if (ret) {
		peer_fail(d, p, "RMA write (bandwidth): %s", err_name(ret));
		return ret;
	}
	us = now_us() - t0;
	p->gbps = us > 0 ? (double)d->tsize * p->bw_done * 8.0 / ((double)us * 1000.0) : 0.0;
	if (d->cfg->min_link_gbps > 0 && p->gbps < d->cfg->min_link_gbps)
		peer_fail(d, p, "%.2f Gb/s below MinLinkGbps=%g%s%s%s", p->gbps, d->cfg->min_link_gbps,
			  d->cfg->link_floor_note[0] ? " (" : "", d->cfg->link_floor_note,
			  d->cfg->link_floor_note[0] ? ")" : "");
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

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* share_dl: this link's fair share of the round (run_round). A dead peer costs at most that
 * (first contact is capped by it); a live one gets the usual per-operation cap for the
 * functional tests, and its bandwidth is measured within the share (on what completed). */
static void link_test(struct xdom *d, int slot, int64_t share_dl, int64_t round_dl)
{
	struct xpeer *p = &d->peer[slot];
	int64_t dl = min64(now_ms() + XOP_CAP_MS, round_dl);
	int ret;

	p->tested = true;
	p->ok = true;
	ret = test_message(d, p, slot, min64(dl, share_dl));
	if (!ret)
		ret = test_rma_verify(d, p, slot, dl);
	if (!ret)
		ret = test_latency(d, p, slot, dl);
	if (!ret)
		ret = test_bandwidth(d, p, slot, min64(round_dl, share_dl > now_ms() + 300 ? share_dl
										 : now_ms() + 300));
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
		/* A peer whose test message arrived but whose own tests did not finish in time is
		 * alive and slow (e.g. its bandwidth to a throttled node): our own tests judge the
		 * link; a peer that hangs afterwards has no results and is judged by that. */
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
	/* The links of a round are tested one after the other: each gets a fair share of what is
	 * left of the round, so a dead peer (whose waits run to their deadline) cannot starve the
	 * healthy links tested after it into false timeouts. */
	for (int i = 0, left = 0; i < n; i++, left = 0) {
		for (int k = i; k < n; k++)
			left += d->peer[slots[k]].usable;
		if (d->peer[slots[i]].usable) {
			int64_t t = now_ms();

			link_test(d, slots[i], t + (dl > t ? (dl - t) / left : 0), dl);
		}
	}
	while (!round_complete(d, slots, n) && now_ms() <= dl)
		xdom_poll(d);
	round_finish(d, slots, n);
}

void *xdom_links_thread(void *arg)
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
