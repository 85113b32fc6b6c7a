/*
 * libefa-fault.so -- libfabric faults injected below efa-check (LD_PRELOAD).
 * See tests/faultlib/README.md. Controlled only by EFA_FAULT, EFA_FAULT_DOMAIN and
 * EFA_FAULT_SLOW_GBPS, which the product never reads.
 *
 * fi_getinfo and fi_fabric are real exported functions: we interpose them and reach the
 * real ones with dlsym(RTLD_NEXT). Everything else (fi_domain, fi_mr_reg, fi_cq_read,
 * fi_write ...) is a static inline through an ops table, so after the real fi_fabric we give
 * the fabric our own copy of its ops table whose domain() wraps the domain's ops, and so on
 * down to the CQ and endpoint RMA ops. Each copy sits first in a struct that also holds the
 * original table, so a wrapper finds it from the fid (container_of).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

enum fault {
	F_GETINFO_FAIL     = 1 << 0,
	F_GETINFO_HANG     = 1 << 1,
	F_MR_REG_FAIL      = 1 << 2,
	F_RMA_CORRUPT      = 1 << 3,
	F_RMA_READ_CORRUPT = 1 << 4,
	F_RMA_HANG         = 1 << 5,
	F_CQ_ERROR         = 1 << 6,
	F_FORK_FAIL        = 1 << 7,
	F_VERSION_EXIT     = 1 << 8,
	F_VERSION_CRASH    = 1 << 9,
	F_RMA_SLOW         = 1 << 10,
};
#define F_WRAP_DOMAIN (F_MR_REG_FAIL | F_RMA_CORRUPT | F_RMA_READ_CORRUPT | F_RMA_HANG | F_CQ_ERROR | \
		       F_RMA_SLOW)
#define F_TRACK_OPS (F_RMA_CORRUPT | F_RMA_READ_CORRUPT | F_RMA_SLOW)

static const struct { const char *name; unsigned bit; } fault_names[] = {
	{ "getinfo_fail", F_GETINFO_FAIL },   { "getinfo_hang", F_GETINFO_HANG },
	{ "mr_reg_fail", F_MR_REG_FAIL },     { "rma_corrupt", F_RMA_CORRUPT },
	{ "rma_read_corrupt", F_RMA_READ_CORRUPT }, { "rma_hang", F_RMA_HANG },
	{ "cq_error", F_CQ_ERROR },           { "fork_fail", F_FORK_FAIL },
	{ "version_exit", F_VERSION_EXIT },   { "version_crash", F_VERSION_CRASH },
	{ "rma_slow", F_RMA_SLOW },
};

static unsigned active_faults;
static pthread_once_t faults_once = PTHREAD_ONCE_INIT;

static void parse_faults(void)
{
	const char *env = getenv("EFA_FAULT");
	char *copy, *save = NULL;

	if (!env || !(copy = strdup(env)))
		return;
	for (char *w = strtok_r(copy, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
		bool known = false;

		for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
			if (!strcmp(w, fault_names[i].name)) {
				active_faults |= fault_names[i].bit;
				known = true;
			}
		if (!known)
			fprintf(stderr, "efa-fault: unknown fault '%s' ignored\n", w);
	}
	free(copy);
}

static bool fault_on(unsigned bits)
{
	pthread_once(&faults_once, parse_faults);
	return (active_faults & bits) != 0;
}

/* EFA_FAULT_DOMAIN unset: every domain; set: only that one. name NULL: not domain-specific. */
static bool domain_selected(const char *name)
{
	const char *want = getenv("EFA_FAULT_DOMAIN");

	return !want || !*want || (name && !strcmp(name, want));
}

static void *real_symbol(const char *name)
{
	void *sym = dlsym(RTLD_NEXT, name);

	if (!sym) {
		fprintf(stderr, "efa-fault: %s not found: %s\n", name, dlerror());
		abort();
	}
	return sym;
}

/* ---- wrapper bookkeeping: every wrap is freed at unload ----------------------------- */

struct wrap_node {
	struct wrap_node *next;
};

static struct wrap_node *wraps;
static pthread_mutex_t wraps_lock = PTHREAD_MUTEX_INITIALIZER;

/* Allocate a zeroed wrap of size bytes (after a list header) and remember it. */
static void *wrap_alloc(size_t size)
{
	struct wrap_node *n = calloc(1, sizeof(*n) + size);

	if (!n)
		return NULL;
	pthread_mutex_lock(&wraps_lock);
	n->next = wraps;
	wraps = n;
	pthread_mutex_unlock(&wraps_lock);
	return n + 1;
}

__attribute__((destructor)) static void wraps_free(void)
{
	pthread_mutex_lock(&wraps_lock);
	while (wraps) {
		struct wrap_node *n = wraps;

		wraps = n->next;
		free(n);
	}
	pthread_mutex_unlock(&wraps_lock);
}

/* ---- per-domain state: MRs (to find a write's target) and RMA ops in flight ------ */

#define MAX_MRS     64
#define MAX_PENDING 512

struct mr_rec { struct fid_mr *mr; uint64_t key; char *base; size_t len; };
struct op_rec { void *ctx; bool is_read; char *local; uint64_t addr, key; size_t len; };

struct domain_wrap {
	struct fi_ops_domain ops;       /* first: domain->ops points here */
	struct fi_ops_mr mr;
	struct fi_ops_domain *orig_ops;
	struct fi_ops_mr *orig_mr;
	uint64_t mr_mode;
	pthread_mutex_t lock;
	struct mr_rec mrs[MAX_MRS];
	struct op_rec ops_in_flight[MAX_PENDING];
};

struct fabric_wrap { struct fi_ops_fabric ops; struct fi_ops_fabric *orig; };
struct cq_wrap {
	struct fi_ops_cq ops;
	struct fi_ops_cq *orig;
	struct domain_wrap *dw;
	size_t entry_size;
	bool have_err;
	struct fi_cq_err_entry err;
};
struct ep_wrap { struct fi_ops_rma rma; struct fi_ops_rma *orig; struct domain_wrap *dw; };

static void record_mr(struct domain_wrap *dw, struct fid_mr *mr, const void *buf, size_t len)
{
	pthread_mutex_lock(&dw->lock);
	for (int i = 0; i < MAX_MRS; i++) {
		if (!dw->mrs[i].mr || dw->mrs[i].mr == mr) {
			dw->mrs[i] = (struct mr_rec){ mr, mr->key, (char *)buf, len };
			break;
		}
	}
	pthread_mutex_unlock(&dw->lock);
}

static void record_op(struct domain_wrap *dw, const struct op_rec *op)
{
	pthread_mutex_lock(&dw->lock);
	for (int i = 0; i < MAX_PENDING; i++) {
		if (!dw->ops_in_flight[i].ctx) {
			dw->ops_in_flight[i] = *op;
			break;
		}
	}
	pthread_mutex_unlock(&dw->lock);
}

static bool take_op(struct domain_wrap *dw, void *ctx, struct op_rec *out)
{
	bool found = false;

	pthread_mutex_lock(&dw->lock);
	for (int i = 0; i < MAX_PENDING && !found; i++) {
		if (ctx && dw->ops_in_flight[i].ctx == ctx) {
			*out = dw->ops_in_flight[i];
			dw->ops_in_flight[i].ctx = NULL;
			found = true;
		}
	}
	pthread_mutex_unlock(&dw->lock);
	return found;
}

/* Where a write landed in this process: a virtual address or an offset into the MR. */
static char *write_target(struct domain_wrap *dw, const struct op_rec *op)
{
	char *target = NULL;

	pthread_mutex_lock(&dw->lock);
	for (int i = 0; i < MAX_MRS && !target; i++) {
		const struct mr_rec *m = &dw->mrs[i];

		if (!m->mr || m->key != op->key)
			continue;
		target = (dw->mr_mode & FI_MR_VIRT_ADDR) ? (char *)(uintptr_t)op->addr : m->base + op->addr;
	}
	pthread_mutex_unlock(&dw->lock);
	return target;
}

/* rma_slow: an RMA completion is held back as long as its bytes take at EFA_FAULT_SLOW_GBPS
 * (default 0.5 Gbit/s): the domain's RMA bandwidth is capped there, as on a device that
 * negotiated down or is throttled; small messages (latency) barely change. */
static void slow_completion(size_t len)
{
	const char *env = getenv("EFA_FAULT_SLOW_GBPS");
	double gbps = env ? strtod(env, NULL) : 0.5;
	double us;

	if (!(gbps > 0))
		gbps = 0.5;
	us = (double)len * 8.0 / (gbps * 1e3);
	if (us > 1e6)
		us = 1e6;
	usleep((useconds_t)us);
}

/* A completion arrived for ctx: corrupt what it delivered, or hold it back, if those faults
 * are on. */
static void corrupt_on_completion(struct domain_wrap *dw, void *ctx)
{
	struct op_rec op;
	char *p = NULL;

	if (!take_op(dw, ctx, &op) || !op.len)
		return;
	if (fault_on(F_RMA_SLOW))
		slow_completion(op.len);
	if (op.is_read && fault_on(F_RMA_READ_CORRUPT))
		p = op.local;
	else if (!op.is_read && fault_on(F_RMA_CORRUPT))
		p = write_target(dw, &op);
	if (p)
		p[op.len / 2] ^= (char)0x5a;
}

/* ---- CQ: corrupt on completion, or turn completions into errors ----------------- */

/* Only read, readerr and strerror are wrapped. Not readfrom: util providers (rxm) implement
 * read as fi_cq_readfrom through the same ops table, so wrapping both would recurse. */

static size_t cq_entry_size(enum fi_cq_format f)
{
	switch (f) {
	case FI_CQ_FORMAT_MSG: return sizeof(struct fi_cq_msg_entry);
	case FI_CQ_FORMAT_DATA: return sizeof(struct fi_cq_data_entry);
	case FI_CQ_FORMAT_TAGGED: return sizeof(struct fi_cq_tagged_entry);
	default: return sizeof(struct fi_cq_entry);
	}
}

static ssize_t w_cq_read(struct fid_cq *cq, void *buf, size_t count)
{
	struct cq_wrap *w = container_of(cq->ops, struct cq_wrap, ops);
	ssize_t ret;

	if (w->have_err)
		return -FI_EAVAIL;
	ret = w->orig->read(cq, buf, fault_on(F_CQ_ERROR) ? 1 : count);
	if (ret <= 0)
		return ret;
	if (fault_on(F_CQ_ERROR)) {
		memset(&w->err, 0, sizeof(w->err));
		w->err.op_context = ((struct fi_cq_entry *)buf)->op_context;
		w->err.err = FI_EIO;
		w->err.prov_errno = FI_EIO;
		w->have_err = true;
		return -FI_EAVAIL;
	}
	for (ssize_t i = 0; i < ret; i++)
		corrupt_on_completion(w->dw, ((struct fi_cq_entry *)((char *)buf + (size_t)i * w->entry_size))->op_context);
	return ret;
}

static ssize_t w_cq_readerr(struct fid_cq *cq, struct fi_cq_err_entry *buf, uint64_t flags)
{
	struct cq_wrap *w = container_of(cq->ops, struct cq_wrap, ops);

	if (!w->have_err)
		return w->orig->readerr(cq, buf, flags);
	buf->op_context = w->err.op_context;
	buf->flags = 0;
	buf->len = 0;
	buf->buf = NULL;
	buf->data = 0;
	buf->tag = 0;
	buf->olen = 0;
	buf->err = w->err.err;
	buf->prov_errno = w->err.prov_errno;
	buf->err_data_size = 0;
	w->have_err = false;
	return 1;
}

static const char *w_cq_strerror(struct fid_cq *cq, int prov_errno, const void *err_data,
				 char *buf, size_t len)
{
	struct cq_wrap *w = container_of(cq->ops, struct cq_wrap, ops);
	static const char msg[] = "efa-fault: injected completion error";

	if (!fault_on(F_CQ_ERROR))
		return w->orig->strerror(cq, prov_errno, err_data, buf, len);
	if (buf && len) {
		snprintf(buf, len, "%s", msg);
		return buf;
	}
	return msg;
}

static void wrap_cq(struct fid_cq *cq, struct domain_wrap *dw, const struct fi_cq_attr *attr)
{
	struct cq_wrap *w = wrap_alloc(sizeof(*w));

	if (!w)
		return;
	w->orig = cq->ops;
	w->ops = *cq->ops;
	w->dw = dw;
	w->entry_size = cq_entry_size(attr ? attr->format : FI_CQ_FORMAT_CONTEXT);
	w->ops.read = w_cq_read;
	w->ops.readerr = w_cq_readerr;
	w->ops.strerror = w_cq_strerror;
	cq->ops = &w->ops;
}

/* ---- endpoint RMA: swallow (hang) or track (corrupt) ------------------------------ */

static ssize_t track(struct ep_wrap *w, ssize_t ret, const struct op_rec *op)
{
	if (ret == 0 && fault_on(F_TRACK_OPS))
		record_op(w->dw, op);
	return ret;
}

static ssize_t w_write(struct fid_ep *ep, const void *buf, size_t len, void *desc,
		       fi_addr_t dest, uint64_t addr, uint64_t key, void *ctx)
{
	struct ep_wrap *w = container_of(ep->rma, struct ep_wrap, rma);
	struct op_rec op = { ctx, false, (char *)buf, addr, key, len };

	if (fault_on(F_RMA_HANG))
		return 0;       /* accepted, never performed: its completion never arrives */
	return track(w, w->orig->write(ep, buf, len, desc, dest, addr, key, ctx), &op);
}

static ssize_t w_writemsg(struct fid_ep *ep, const struct fi_msg_rma *msg, uint64_t flags)
{
	struct ep_wrap *w = container_of(ep->rma, struct ep_wrap, rma);
	struct op_rec op = { msg->context, false, msg->iov_count ? msg->msg_iov[0].iov_base : NULL,
			     msg->rma_iov_count ? msg->rma_iov[0].addr : 0,
			     msg->rma_iov_count ? msg->rma_iov[0].key : 0,
			     msg->rma_iov_count ? msg->rma_iov[0].len : 0 };

	if (fault_on(F_RMA_HANG))
		return 0;
	return track(w, w->orig->writemsg(ep, msg, flags), &op);
}

static ssize_t w_read(struct fid_ep *ep, void *buf, size_t len, void *desc, fi_addr_t src,
		      uint64_t addr, uint64_t key, void *ctx)
{
	struct ep_wrap *w = container_of(ep->rma, struct ep_wrap, rma);
	struct op_rec op = { ctx, true, buf, addr, key, len };

	if (fault_on(F_RMA_HANG))
		return 0;
	return track(w, w->orig->read(ep, buf, len, desc, src, addr, key, ctx), &op);
}

static ssize_t w_readmsg(struct fid_ep *ep, const struct fi_msg_rma *msg, uint64_t flags)
{
	struct ep_wrap *w = container_of(ep->rma, struct ep_wrap, rma);
	struct op_rec op = { msg->context, true, msg->iov_count ? msg->msg_iov[0].iov_base : NULL,
			     msg->rma_iov_count ? msg->rma_iov[0].addr : 0,
			     msg->rma_iov_count ? msg->rma_iov[0].key : 0,
			     msg->iov_count ? msg->msg_iov[0].iov_len : 0 };

	if (fault_on(F_RMA_HANG))
		return 0;
	return track(w, w->orig->readmsg(ep, msg, flags), &op);
}

static void wrap_ep(struct fid_ep *ep, struct domain_wrap *dw)
{
	struct ep_wrap *w;

	if (!ep->rma || !(w = wrap_alloc(sizeof(*w))))
		return;
	w->orig = ep->rma;
	w->rma = *ep->rma;
	w->dw = dw;
	w->rma.write = w_write;
	w->rma.writemsg = w_writemsg;
	w->rma.read = w_read;
	w->rma.readmsg = w_readmsg;
	ep->rma = &w->rma;
}

/* ---- domain: MR registration, CQ and endpoint creation ---------------------------- */

static int w_mr_reg(struct fid *fid, const void *buf, size_t len, uint64_t access, uint64_t offset,
		    uint64_t requested_key, uint64_t flags, struct fid_mr **mr, void *context)
{
	struct fid_domain *domain = container_of(fid, struct fid_domain, fid);
	struct domain_wrap *dw = container_of(domain->mr, struct domain_wrap, mr);
	int ret;

	if (fault_on(F_MR_REG_FAIL))
		return -FI_ENOMEM;
	ret = dw->orig_mr->reg(fid, buf, len, access, offset, requested_key, flags, mr, context);
	if (!ret)
		record_mr(dw, *mr, buf, len);
	return ret;
}

static int w_mr_regv(struct fid *fid, const struct iovec *iov, size_t count, uint64_t access,
		     uint64_t offset, uint64_t requested_key, uint64_t flags, struct fid_mr **mr,
		     void *context)
{
	struct fid_domain *domain = container_of(fid, struct fid_domain, fid);
	struct domain_wrap *dw = container_of(domain->mr, struct domain_wrap, mr);
	int ret;

	if (fault_on(F_MR_REG_FAIL))
		return -FI_ENOMEM;
	ret = dw->orig_mr->regv(fid, iov, count, access, offset, requested_key, flags, mr, context);
	if (!ret && count == 1)
		record_mr(dw, *mr, iov[0].iov_base, iov[0].iov_len);
	return ret;
}

static int w_mr_regattr(struct fid *fid, const struct fi_mr_attr *attr, uint64_t flags,
			struct fid_mr **mr)
{
	struct fid_domain *domain = container_of(fid, struct fid_domain, fid);
	struct domain_wrap *dw = container_of(domain->mr, struct domain_wrap, mr);
	int ret;

	if (fault_on(F_MR_REG_FAIL))
		return -FI_ENOMEM;
	ret = dw->orig_mr->regattr(fid, attr, flags, mr);
	if (!ret && attr->iov_count == 1)
		record_mr(dw, *mr, attr->mr_iov[0].iov_base, attr->mr_iov[0].iov_len);
	return ret;
}

static int w_cq_open(struct fid_domain *domain, struct fi_cq_attr *attr, struct fid_cq **cq,
		     void *context)
{
	struct domain_wrap *dw = container_of(domain->ops, struct domain_wrap, ops);
	int ret = dw->orig_ops->cq_open(domain, attr, cq, context);

	if (!ret)
		wrap_cq(*cq, dw, attr);
	return ret;
}

static int w_endpoint(struct fid_domain *domain, struct fi_info *info, struct fid_ep **ep,
		      void *context)
{
	struct domain_wrap *dw = container_of(domain->ops, struct domain_wrap, ops);
	int ret = dw->orig_ops->endpoint(domain, info, ep, context);

	if (!ret)
		wrap_ep(*ep, dw);
	return ret;
}

static void wrap_domain(struct fid_domain *domain, const struct fi_info *info)
{
	struct domain_wrap *dw = wrap_alloc(sizeof(*dw));

	if (!dw)
		return;
	pthread_mutex_init(&dw->lock, NULL);
	dw->mr_mode = info->domain_attr->mr_mode;
	dw->orig_ops = domain->ops;
	dw->ops = *domain->ops;
	dw->ops.cq_open = w_cq_open;
	dw->ops.endpoint = w_endpoint;
	domain->ops = &dw->ops;
	if (domain->mr) {
		dw->orig_mr = domain->mr;
		dw->mr = *domain->mr;
		dw->mr.reg = w_mr_reg;
		dw->mr.regv = w_mr_regv;
		dw->mr.regattr = w_mr_regattr;
		domain->mr = &dw->mr;
	}
}

/* ---- fabric and the exported entry points ------------------------------------------ */

/* Layered providers (tcp;ofi_rxm) call fi_getinfo/fi_fabric themselves for their core
 * provider, through the same exported symbols. Faults apply to the application's calls only:
 * a caller inside libfabric is passed straight through. */
static bool called_from_libfabric(const void *ret_addr)
{
	static const void *libfabric_base;
	Dl_info self;

	if (!libfabric_base) {
		Dl_info fi;

		if (dladdr(real_symbol("fi_getinfo"), &fi))
			libfabric_base = fi.dli_fbase;
	}
	return dladdr(ret_addr, &self) && self.dli_fbase == libfabric_base;
}

static int w_domain(struct fid_fabric *fabric, struct fi_info *info, struct fid_domain **domain,
		    void *context)
{
	struct fabric_wrap *w = container_of(fabric->ops, struct fabric_wrap, ops);
	int ret = w->orig->domain(fabric, info, domain, context);

	if (!ret && domain_selected(info->domain_attr ? info->domain_attr->name : NULL))
		wrap_domain(*domain, info);
	return ret;
}

int fi_fabric(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context)
{
	int (*real)(struct fi_fabric_attr *, struct fid_fabric **, void *) = real_symbol("fi_fabric");
	int ret = real(attr, fabric, context);
	struct fabric_wrap *w;

	if (ret || !fault_on(F_WRAP_DOMAIN) || called_from_libfabric(__builtin_return_address(0)) ||
	    !(w = wrap_alloc(sizeof(*w))))
		return ret;
	w->orig = (*fabric)->ops;
	w->ops = *(*fabric)->ops;
	w->ops.domain = w_domain;
	(*fabric)->ops = &w->ops;
	return ret;
}

/* Drop the entries of the selected domain from an fi_getinfo list. */
static struct fi_info *drop_domain(struct fi_info *info, const char *name)
{
	struct fi_info *head = NULL, **tail = &head;

	while (info) {
		struct fi_info *next = info->next;

		info->next = NULL;
		if (info->domain_attr && info->domain_attr->name && !strcmp(info->domain_attr->name, name)) {
			fi_freeinfo(info);
		} else {
			*tail = info;
			tail = &info->next;
		}
		info = next;
	}
	return head;
}

int fi_getinfo(uint32_t version, const char *node, const char *service, uint64_t flags,
	       const struct fi_info *hints, struct fi_info **info)
{
	int (*real)(uint32_t, const char *, const char *, uint64_t, const struct fi_info *,
		    struct fi_info **) = real_symbol("fi_getinfo");
	const char *only = getenv("EFA_FAULT_DOMAIN");
	const char *asked = hints && hints->domain_attr ? hints->domain_attr->name : NULL;
	int ret;

	if (called_from_libfabric(__builtin_return_address(0)))
		return real(version, node, service, flags, hints, info);
	/* With EFA_FAULT_DOMAIN the hang hits only the queries for that domain. */
	if (fault_on(F_GETINFO_HANG) && (!only || !*only || (asked && !strcmp(asked, only))))
		for (;;)
			pause();
	if (fault_on(F_GETINFO_FAIL) && (!only || !*only)) {
		*info = NULL;
		return -FI_ENODATA;
	}
	ret = real(version, node, service, flags, hints, info);
	if (ret || !fault_on(F_GETINFO_FAIL))
		return ret;
	*info = drop_domain(*info, only);   /* the domain disappears from the results */
	return *info ? 0 : -FI_ENODATA;
}

/* fork_fail: fork() fails with EAGAIN, as it does for root too inside an allocation whose
 * user runs a fork bomb (the kernel's pid limit). */
pid_t fork(void)
{
	pid_t (*real)(void) = real_symbol("fork");

	if (fault_on(F_FORK_FAIL)) {
		errno = EAGAIN;
		return -1;
	}
	return real();
}

/* version_exit / version_crash: libfabric ends the process outside any check -- the first
 * libfabric call of a run is fi_version(), before the provider check begins. Debian's
 * libfabric stack turns SIGSEGV into exit(1) (version_exit); version_crash dies by the signal. */
uint32_t fi_version(void)
{
	uint32_t (*real)(void) = real_symbol("fi_version");

	if (fault_on(F_VERSION_EXIT))
		exit(1);
	if (fault_on(F_VERSION_CRASH)) {
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
	}
	return real();
}
