/*
 * personality_ep.c -- TEST DOUBLE (see personality.c): the EFA personality layer's endpoints,
 * CQs, AVs and keys: who has inserted whom, RMA refused before the peer knows us, the
 * efa-direct MSG limit, the endpoint options.
 */
#include "personality.h"

/* ---- who has inserted whom (the target must know the initiator before RMA) ------- */

struct marker { struct marker *next; char key[2 * P_ADDR_MAX * 2 + 2]; };
static struct marker *markers;

static void hex(const void *addr, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *a = addr;

	for (size_t i = 0; i < len && i < P_ADDR_MAX; i++) {
		out[2 * i] = digits[a[i] >> 4];
		out[2 * i + 1] = digits[a[i] & 15];
	}
	out[2 * (len < P_ADDR_MAX ? len : P_ADDR_MAX)] = '\0';
}

static void marker_key(const void *target, size_t tlen, const void *initiator, size_t ilen,
		       char *key)
{
	char t[2 * P_ADDR_MAX + 1], i[2 * P_ADDR_MAX + 1];

	hex(target, tlen, t);
	hex(initiator, ilen, i);
	snprintf(key, 2 * P_ADDR_MAX * 2 + 2, "%s-%s", t, i);
}

static void marker_set(const char *key)
{
	const char *dir = getenv("EFA_PERSONALITY_STATE");
	struct marker *m;

	if (dir && *dir) {
		char path[4096];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, key);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		return;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return;
	snprintf(m->key, sizeof(m->key), "%s", key);
	pthread_mutex_lock(&lock);
	m->next = markers;
	markers = m;
	pthread_mutex_unlock(&lock);
}

static bool marker_exists(const char *key)
{
	const char *dir = getenv("EFA_PERSONALITY_STATE");
	bool found = false;

	if (dir && *dir) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, key);
		return stat(path, &st) == 0;
	}
	pthread_mutex_lock(&lock);
	for (struct marker *m = markers; m && !found; m = m->next)
		found = !strcmp(m->key, key);
	pthread_mutex_unlock(&lock);
	return found;
}

/* ---- CQ: error completions we inject -------------------------------------------------- */

static ssize_t w_cq_read(struct fid_cq *cq, void *buf, size_t count)
{
	struct cq_wrap *w = container_of(cq->ops, struct cq_wrap, ops);
	unsigned n;

	pthread_mutex_lock(&w->lock);
	n = w->nerr;
	pthread_mutex_unlock(&w->lock);
	if (n)
		return -FI_EAVAIL;
	return w->orig->read(cq, buf, count);
}

static ssize_t w_cq_readerr(struct fid_cq *cq, struct fi_cq_err_entry *buf, uint64_t flags)
{
	struct cq_wrap *w = container_of(cq->ops, struct cq_wrap, ops);
	void *ctx;

	pthread_mutex_lock(&w->lock);
	if (!w->nerr) {
		pthread_mutex_unlock(&w->lock);
		w->last_ours = false;
		return w->orig->readerr(cq, buf, flags);
	}
	ctx = w->err_ctx[0];
	memmove(w->err_ctx, w->err_ctx + 1, (--w->nerr) * sizeof(void *));
	pthread_mutex_unlock(&w->lock);
	memset(buf, 0, sizeof(*buf));
	buf->op_context = ctx;
	buf->flags = FI_RMA;
	buf->err = FI_EIO;
	buf->prov_errno = FI_EIO;
	w->last_ours = true;
	return 1;
}

static const char *w_cq_strerror(struct fid_cq *cq, int prov_errno, const void *err_data,
				 char *buf, size_t len)
{
	struct cq_wrap *w = container_of(cq->ops, struct cq_wrap, ops);
	static const char msg[] = "efa-personality: RMA target has not inserted the initiator "
				  "into its AV";

	if (!w->last_ours)
		return w->orig->strerror(cq, prov_errno, err_data, buf, len);
	if (buf && len) {
		snprintf(buf, len, "%s", msg);
		return buf;
	}
	return msg;
}

static void cq_push_error(struct cq_wrap *w, void *ctx)
{
	pthread_mutex_lock(&w->lock);
	if (w->nerr < P_ERR_MAX)
		w->err_ctx[w->nerr++] = ctx;
	pthread_mutex_unlock(&w->lock);
}

/* ---- keys: efa's FI_MR_VIRT_ADDR | FI_MR_PROV_KEY over tcp's offsets and caller keys ------
 * A registration of a buffer at base B is made on tcp with requested key B >> 12 and shown to
 * the application with key B. An RMA (addr, key K) becomes (addr - K, K >> 12): no state is
 * needed, so it works across processes. Registered buffers are page aligned (efa-check
 * allocates them so), hence distinct bases give distinct keys. */

struct mr_wrap { struct fi_ops fid_ops; struct fi_ops *orig; uint64_t key; };

static int w_mr_close(struct fid *fid)
{
	struct fid_mr *mr = container_of(fid, struct fid_mr, fid);
	struct mr_wrap *w = container_of(fid->ops, struct mr_wrap, fid_ops);

	mr->key = w->key;       /* tcp removes it from its map by its own key */
	return w->orig->close(fid);
}

void show_key(struct fid_mr *mr, uint64_t base)
{
	struct mr_wrap *w = wrap_alloc(sizeof(*w));

	w->key = mr->key;
	w->orig = mr->fid.ops;
	w->fid_ops = *mr->fid.ops;
	w->fid_ops.close = w_mr_close;
	mr->fid.ops = &w->fid_ops;
	mr->key = base;
}

/* ---- endpoint ------------------------------------------------------------------------ */

static int ep_name(struct fid_ep *ep, void *addr, size_t *len)
{
	return fi_getname(&ep->fid, addr, len);
}

/* The target side publishes "I (this endpoint) know initiator X" for everything in its AV. */
static void publish_inserted(struct ep_wrap *e)
{
	unsigned char self[P_ADDR_MAX];
	size_t slen = sizeof(self);
	char key[2 * P_ADDR_MAX * 2 + 2];

	if (!e->av || ep_name(e->ep, self, &slen))
		return;
	for (size_t i = 0; i < e->av->n; i++) {
		marker_key(self, slen, e->av->addr[i].a, e->av->addr[i].len, key);
		marker_set(key);
	}
}

/* May e start an RMA to dest? Only if dest has inserted e's address. */
static bool peer_knows_us(struct ep_wrap *e, fi_addr_t dest)
{
	unsigned char self[P_ADDR_MAX];
	size_t slen = sizeof(self);
	char key[2 * P_ADDR_MAX * 2 + 2];

	if (!e->av || dest >= e->av->n || ep_name(e->ep, self, &slen))
		return true;    /* not ours to judge */
	marker_key(e->av->addr[dest].a, e->av->addr[dest].len, self, slen, key);
	return marker_exists(key);
}

static ssize_t rma_refused(struct ep_wrap *e, void *ctx)
{
	fprintf(stderr, "%s: RMA to a peer that has not inserted this endpoint into its AV: "
		"completes with an error (fi_efa.7)\n", PREFIX);
	if (!e->txcq)
		return -FI_EIO;
	cq_push_error(e->txcq, ctx);
	return 0;
}

static ssize_t rma_msg(struct ep_wrap *e, const struct fi_msg_rma *msg, uint64_t flags,
		       bool write)
{
	struct fi_rma_iov iov[4];
	struct fi_msg_rma m = *msg;

	if (msg->rma_iov_count > 4)
		return -FI_EINVAL;
	for (size_t i = 0; i < msg->rma_iov_count; i++) {
		iov[i] = msg->rma_iov[i];
		iov[i].addr = real_addr(iov[i].addr, iov[i].key);
		iov[i].key = real_key(iov[i].key);
	}
	m.rma_iov = iov;
	return write ? e->orig_rma->writemsg(e->ep, &m, flags) : e->orig_rma->readmsg(e->ep, &m, flags);
}

static ssize_t w_read(struct fid_ep *ep, void *buf, size_t len, void *desc, fi_addr_t src,
		      uint64_t addr, uint64_t key, void *ctx)
{
	struct ep_wrap *e = container_of(ep->rma, struct ep_wrap, rma);

	if (!peer_knows_us(e, src))
		return rma_refused(e, ctx);
	return e->orig_rma->read(ep, buf, len, desc, src, real_addr(addr, key), real_key(key), ctx);
}

static ssize_t w_readmsg(struct fid_ep *ep, const struct fi_msg_rma *msg, uint64_t flags)
{
	struct ep_wrap *e = container_of(ep->rma, struct ep_wrap, rma);

	if (!peer_knows_us(e, msg->addr))
		return rma_refused(e, msg->context);
	return rma_msg(e, msg, flags, false);
}

static ssize_t w_write(struct fid_ep *ep, const void *buf, size_t len, void *desc,
		       fi_addr_t dest, uint64_t addr, uint64_t key, void *ctx)
{
	struct ep_wrap *e = container_of(ep->rma, struct ep_wrap, rma);

	if (!peer_knows_us(e, dest))
		return rma_refused(e, ctx);
	return e->orig_rma->write(ep, buf, len, desc, dest, real_addr(addr, key), real_key(key),
				  ctx);
}

static ssize_t w_writemsg(struct fid_ep *ep, const struct fi_msg_rma *msg, uint64_t flags)
{
	struct ep_wrap *e = container_of(ep->rma, struct ep_wrap, rma);

	if (!peer_knows_us(e, msg->addr))
		return rma_refused(e, msg->context);
	return rma_msg(e, msg, flags, true);
}

static ssize_t w_writedata(struct fid_ep *ep, const void *buf, size_t len, void *desc,
			   uint64_t data, fi_addr_t dest, uint64_t addr, uint64_t key, void *ctx)
{
	struct ep_wrap *e = container_of(ep->rma, struct ep_wrap, rma);

	if (!peer_knows_us(e, dest))
		return rma_refused(e, ctx);
	return e->orig_rma->writedata(ep, buf, len, desc, data, dest, real_addr(addr, key),
				      real_key(key), ctx);
}

static bool msg_too_big(struct ep_wrap *e, size_t len)
{
	if (!e->direct || len <= mtu())
		return false;
	fprintf(stderr, "%s: efa-direct send of %zu B exceeds the device MTU %zu B\n", PREFIX,
		len, mtu());
	return true;
}

static size_t iov_len(const struct iovec *iov, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

static ssize_t w_send(struct fid_ep *ep, const void *buf, size_t len, void *desc,
		      fi_addr_t dest, void *ctx)
{
	struct ep_wrap *e = container_of(ep->msg, struct ep_wrap, msg);

	if (msg_too_big(e, len))
		return -FI_EINVAL;
	return e->orig_msg->send(ep, buf, len, desc, dest, ctx);
}

static ssize_t w_sendv(struct fid_ep *ep, const struct iovec *iov, void **desc, size_t count,
		       fi_addr_t dest, void *ctx)
{
	struct ep_wrap *e = container_of(ep->msg, struct ep_wrap, msg);

	if (msg_too_big(e, iov_len(iov, count)))
		return -FI_EINVAL;
	return e->orig_msg->sendv(ep, iov, desc, count, dest, ctx);
}

static ssize_t w_sendmsg(struct fid_ep *ep, const struct fi_msg *msg, uint64_t flags)
{
	struct ep_wrap *e = container_of(ep->msg, struct ep_wrap, msg);

	if (msg_too_big(e, iov_len(msg->msg_iov, msg->iov_count)))
		return -FI_EINVAL;
	return e->orig_msg->sendmsg(ep, msg, flags);
}

static ssize_t w_senddata(struct fid_ep *ep, const void *buf, size_t len, void *desc,
			  uint64_t data, fi_addr_t dest, void *ctx)
{
	struct ep_wrap *e = container_of(ep->msg, struct ep_wrap, msg);

	if (msg_too_big(e, len))
		return -FI_EINVAL;
	return e->orig_msg->senddata(ep, buf, len, desc, data, dest, ctx);
}

static int put_size(void *optval, size_t *optlen, size_t v)
{
	if (*optlen < sizeof(size_t))
		return -FI_ETOOSMALL;
	*(size_t *)optval = v;
	*optlen = sizeof(size_t);
	return 0;
}

static int w_getopt(fid_t fid, int level, int name, void *optval, size_t *optlen)
{
	struct fid_ep *ep = container_of(fid, struct fid_ep, fid);
	struct ep_wrap *e = container_of(ep->ops, struct ep_wrap, ep_ops);

	if (level == FI_OPT_ENDPOINT && name == P_OPT_MAX_MSG_SIZE)
		return put_size(optval, optlen, e->direct ? mtu() : SIZE_MAX);
	if (level == FI_OPT_ENDPOINT && name == P_OPT_MAX_RMA_SIZE)
		return put_size(optval, optlen, e->direct ? P_MAX_RDMA_SIZE : SIZE_MAX);
	return e->orig_ep->getopt(fid, level, name, optval, optlen);
}

static int w_setopt(fid_t fid, int level, int name, const void *optval, size_t optlen)
{
	struct fid_ep *ep = container_of(fid, struct fid_ep, fid);
	struct ep_wrap *e = container_of(ep->ops, struct ep_wrap, ep_ops);

	if (level != FI_OPT_ENDPOINT)
		return e->orig_ep->setopt(fid, level, name, optval, optlen);
	switch (name) {
	case P_OPT_CUDA_API_PERMITTED:
		if (optlen != sizeof(bool))
			return -FI_EINVAL;
		if (e->direct)
			return 0;               /* efa_ep.c: no-op, efa-direct never calls CUDA */
		if (!cuda_ok())
			return -FI_EINVAL;      /* CUDA library or device not available */
		if (!*(const bool *)optval && !p2p_ok())
			return -FI_EOPNOTSUPP;
		return 0;
	case P_OPT_SHARED_MEMORY_PERMITTED:
		return optlen == sizeof(bool) ? 0 : -FI_EINVAL;
	case P_OPT_MAX_MSG_SIZE:
		if (optlen != sizeof(size_t))
			return -FI_EINVAL;
		return *(const size_t *)optval <= (e->direct ? mtu() : SIZE_MAX) ? 0 : -FI_EINVAL;
	default:
		return e->orig_ep->setopt(fid, level, name, optval, optlen);
	}
}

static int w_ep_bind(struct fid *fid, struct fid *bfid, uint64_t flags)
{
	struct fid_ep *ep = container_of(fid, struct fid_ep, fid);
	struct ep_wrap *e = container_of(fid->ops, struct ep_wrap, fid_ops);
	int ret = e->orig_fid->bind(fid, bfid, flags);

	(void)ep;
	if (ret)
		return ret;
	if (bfid->fclass == FI_CLASS_AV) {
		struct fid_av *av = container_of(bfid, struct fid_av, fid);

		e->av = container_of(av->ops, struct av_wrap, ops);
		pthread_mutex_lock(&lock);
		e->next_on_av = e->av->eps;
		e->av->eps = e;
		pthread_mutex_unlock(&lock);
	} else if (bfid->fclass == FI_CLASS_CQ && (flags & FI_TRANSMIT)) {
		struct fid_cq *cq = container_of(bfid, struct fid_cq, fid);

		e->txcq = container_of(cq->ops, struct cq_wrap, ops);
	}
	return 0;
}

static int w_ep_control(struct fid *fid, int command, void *arg)
{
	struct ep_wrap *e = container_of(fid->ops, struct ep_wrap, fid_ops);
	int ret = e->orig_fid->control(fid, command, arg);

	if (!ret && command == FI_ENABLE)
		publish_inserted(e);
	return ret;
}

static int w_ep_close(struct fid *fid)
{
	struct ep_wrap *e = container_of(fid->ops, struct ep_wrap, fid_ops);

	if (e->av) {
		pthread_mutex_lock(&lock);
		for (struct ep_wrap **p = &e->av->eps; *p; p = &(*p)->next_on_av)
			if (*p == e) {
				*p = e->next_on_av;
				break;
			}
		pthread_mutex_unlock(&lock);
	}
	return e->orig_fid->close(fid);
}

void wrap_ep(struct fid_ep *ep, bool direct, bool hmem)
{
	struct ep_wrap *e = wrap_alloc(sizeof(*e));

	e->ep = ep;
	e->direct = direct;
	e->hmem = hmem;
	e->orig_fid = ep->fid.ops;
	e->fid_ops = *ep->fid.ops;
	e->fid_ops.bind = w_ep_bind;
	e->fid_ops.control = w_ep_control;
	e->fid_ops.close = w_ep_close;
	ep->fid.ops = &e->fid_ops;
	e->orig_ep = ep->ops;
	e->ep_ops = *ep->ops;
	e->ep_ops.getopt = w_getopt;
	e->ep_ops.setopt = w_setopt;
	ep->ops = &e->ep_ops;
	e->orig_msg = ep->msg;
	e->msg = *ep->msg;
	e->msg.send = w_send;
	e->msg.sendv = w_sendv;
	e->msg.sendmsg = w_sendmsg;
	e->msg.senddata = w_senddata;
	ep->msg = &e->msg;
	e->orig_rma = ep->rma;
	e->rma = *ep->rma;
	e->rma.read = w_read;
	e->rma.readmsg = w_readmsg;
	e->rma.write = w_write;
	e->rma.writemsg = w_writemsg;
	e->rma.writedata = w_writedata;
	ep->rma = &e->rma;
}

/* ---- AV -------------------------------------------------------------------------------- */

/* A slow insert (EFA_PERSONALITY_AV_DELAY_MS) on a node whose endpoints keep working. On efa a
 * send needs no connection: a peer's message (and its send completion) does not wait for this
 * node's inserts, only its RMA does (fi_efa.7). On tcp a send needs rxm's connection, which
 * this node must accept. So the real (tcp) insert happens first and every open domain's CQs
 * are progressed during the delay (fi_cq_read of 0 entries: progress without taking the
 * application's completions): peers connect and their messages arrive, while the efa-visible
 * insert -- what an RMA from the peer checks (the markers) -- is published only after the
 * delay. Code that issues RMA right after its own fi_av_insert, without waiting for the
 * peers' inserts, then fails here as on efa. Only the inserting thread runs these CQs then
 * (cross mode inserts before its link threads start). */
static void delay_with_progress(long ms)
{
	struct fi_cq_entry dummy;

	for (long t = 0; t < ms; t += 5) {
		sleep_ms(5);
		pthread_mutex_lock(&lock);
		for (struct domain_wrap *d = open_domains; d; d = d->next_open)
			for (struct cq_wrap *c = d->cqs; c; c = c->next_in_dom)
				c->orig->read(c->cq, &dummy, 0);
		pthread_mutex_unlock(&lock);
	}
}

static int w_av_insert(struct fid_av *av, const void *addr, size_t count, fi_addr_t *fi_addr,
		       uint64_t flags, void *context)
{
	struct av_wrap *w = container_of(av->ops, struct av_wrap, ops);
	size_t alen = tmpl && tmpl->dest_addrlen ? tmpl->dest_addrlen :
		      (tmpl ? tmpl->src_addrlen : 0);
	int ret;

	long delay = env_long("EFA_PERSONALITY_AV_DELAY_MS", 0);

	ret = w->orig->insert(av, addr, count, fi_addr, flags, context);
	if (ret > 0 && delay > 0) {
		fprintf(stderr, "%s: fi_av_insert of %zu address(es) delayed %ld ms\n", PREFIX, count,
			delay);
		delay_with_progress(delay);
	}
	if (ret <= 0 || !alen || alen > P_ADDR_MAX)
		return ret;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < count && w->n < P_AV_MAX; i++) {
		memcpy(w->addr[w->n].a, (const char *)addr + i * alen, alen);
		w->addr[w->n].len = alen;
		w->n++;
	}
	pthread_mutex_unlock(&lock);
	for (struct ep_wrap *e = w->eps; e; e = e->next_on_av)
		publish_inserted(e);
	return ret;
}

static int w_cq_close(struct fid *fid)
{
	struct cq_wrap *w = container_of(fid->ops, struct cq_wrap, fid_ops);

	pthread_mutex_lock(&lock);
	for (struct cq_wrap **p = &w->dom->cqs; *p; p = &(*p)->next_in_dom)
		if (*p == w) {
			*p = w->next_in_dom;
			break;
		}
	pthread_mutex_unlock(&lock);
	return w->orig_fid->close(fid);
}

int w_cq_open(struct fid_domain *domain, struct fi_cq_attr *attr, struct fid_cq **cq,
		     void *context)
{
	struct domain_wrap *d = container_of(domain->ops, struct domain_wrap, ops);
	int ret = d->orig_ops->cq_open(domain, attr, cq, context);
	struct cq_wrap *w;

	if (ret)
		return ret;
	w = wrap_alloc(sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	w->cq = *cq;
	w->dom = d;
	pthread_mutex_lock(&lock);
	w->next_in_dom = d->cqs;
	d->cqs = w;
	pthread_mutex_unlock(&lock);
	w->orig = (*cq)->ops;
	w->ops = *(*cq)->ops;
	w->ops.read = w_cq_read;
	w->ops.readerr = w_cq_readerr;
	w->ops.strerror = w_cq_strerror;
	(*cq)->ops = &w->ops;
	w->orig_fid = (*cq)->fid.ops;
	w->fid_ops = *(*cq)->fid.ops;
	w->fid_ops.close = w_cq_close;
	(*cq)->fid.ops = &w->fid_ops;
	return 0;
}

int w_av_open(struct fid_domain *domain, struct fi_av_attr *attr, struct fid_av **av,
		     void *context)
{
	struct domain_wrap *d = container_of(domain->ops, struct domain_wrap, ops);
	int ret = d->orig_ops->av_open(domain, attr, av, context);
	struct av_wrap *w;

	if (ret)
		return ret;
	w = wrap_alloc(sizeof(*w));
	w->dom = d;
	w->orig = (*av)->ops;
	w->ops = *(*av)->ops;
	w->ops.insert = w_av_insert;
	(*av)->ops = &w->ops;
	return 0;
}
