/*
 * libefa-personality.so -- TEST DOUBLE: makes the real tcp provider look like libfabric 2.x's
 * efa provider (LD_PRELOAD, below efa-check). Not EFA. See tests/efa-personality/README.md.
 *
 * What it presents, and the upstream code each piece follows (ofiwg/libfabric, v2.1.0+):
 *  - fi_getinfo for prov_name "efa" (or no provider): per device an "efa-direct" entry and then an
 *    "efa" entry, efa-direct first (prov/efa/src/efa_prov.c, efa_util_prov_initialize), domain
 *    "<dev>-rdm" for both; efa-direct needs FI_CONTEXT2 and FI_MR_LOCAL and has no FI_TAGGED
 *    (man/fi_efa.7.md); ep_attr->max_msg_size is max(MTU, max RDMA size) for efa-direct and
 *    UINT64_MAX for efa (efa_prov_info.c, efa_prov_info_set_ep_attr / alloc_for_rdm).
 *  - the MSG size limit of efa-direct: fi_getopt(FI_OPT_MAX_MSG_SIZE) answers the MTU
 *    (efa_ep.c, efa_ep_getopt); a larger send fails (efa_msg.c only asserts the length; the
 *    device rejects the work request). Here the post fails with -FI_EINVAL.
 *  - RMA to a peer that has not inserted the initiator into its AV fails (fi_efa.7, "RMA
 *    operations"): the error comes back as an error completion on the initiator's TX CQ.
 *  - FI_HMEM: with API >= 1.18 the efa fabric claims it whenever "CUDA initialises", p2p or not;
 *    below 1.18 only with p2p and FI_EFA_USE_DEVICE_RDMA=1 (efa_user_info.c,
 *    efa_user_info_should_support_hmem); efa-direct only with p2p
 *    (efa_prov_info_direct_set_hmem_flags). fi_setopt(FI_OPT_CUDA_API_PERMITTED, false) answers
 *    -FI_EOPNOTSUPP without p2p on efa (rdm/efa_rdm_ep_fiops.c,
 *    efa_rdm_ep_set_cuda_api_permitted) and is a no-op on efa-direct (efa_ep.c).
 *    CUDA registrations are turned into host registrations (the CPU cudart double's "GPU
 *    memory" is host memory).
 *  - concurrent fi_domain open/close: libfabric < 2.2.0 raced on g_efa_domain_list (commits
 *    2186aad5b, 2015b6c6c); two opens/closes that overlap abort the process loudly.
 *  - fi_version() answers EFA_PERSONALITY_VERSION (default 2.1).
 *
 * Controls (environment; only this library reads them):
 *   EFA_PERSONALITY_DEVICES   comma list of device names, default "rdmap16s27,rdmap32s27"
 *   EFA_PERSONALITY_FABRICS   fabrics in order, default "efa-direct,efa" (1.x: "efa")
 *   EFA_PERSONALITY_MTU       efa-direct MSG limit, default 8192
 *   EFA_PERSONALITY_P2P       1 (default): GPUDirect p2p works; 0: it does not
 *   EFA_PERSONALITY_CUDA      1 (default): libfabric's CUDA support initialised; 0: it did not
 *   EFA_PERSONALITY_VERSION   "major.minor" for fi_version(), default 2.1
 *   EFA_PERSONALITY_STATE     directory shared by processes for "who inserted whom" (cross
 *                             tests); unset: kept in this process only
 *   EFA_PERSONALITY_AV_DELAY_MS  sleep before every fi_av_insert (a slow peer)
 *   EFA_PERSONALITY_OPEN_MS   how long a domain open/close holds the race window, default 30
 *   EFA_PERSONALITY_HMEM_ANY_API=1  apply the API >= 1.18 FI_HMEM rule whatever API is asked
 *                             (a product built against 1.17 headers asks 1.17)
 *   EFA_PERSONALITY_CRASH_ONCE=<file>  the first fi_domain of all processes aborts (creating
 *                             <file>); later ones work: a transient crash below the product
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* FI_OPT_ENDPOINT option names of libfabric >= 1.18/1.20 (include/rdma/fi_endpoint.h, v2.1.0);
 * the 1.17 headers this is built against stop at FI_OPT_XPU_TRIGGER (9). */
#define P_OPT_CUDA_API_PERMITTED      10
#define P_OPT_SHARED_MEMORY_PERMITTED 11
#define P_OPT_MAX_MSG_SIZE            12
#define P_OPT_MAX_RMA_SIZE            14

#define P_MAX_RDMA_SIZE (1UL << 30)   /* efa device max_rdma_size (p5: 1 GiB) */
#define P_NAME_MAX      64
#define P_ADDR_MAX      64
#define P_AV_MAX        64
#define P_ERR_MAX       16

static const char PREFIX[] = "efa-personality";

/* ---- controls ------------------------------------------------------------------ */

static long env_long(const char *name, long dflt)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return dflt;
	v = strtol(s, &end, 10);
	return *end ? dflt : v;
}

static const char *env_str(const char *name, const char *dflt)
{
	const char *s = getenv(name);

	return s && *s ? s : dflt;
}

static bool p2p_ok(void) { return env_long("EFA_PERSONALITY_P2P", 1) != 0; }
static bool cuda_ok(void) { return env_long("EFA_PERSONALITY_CUDA", 1) != 0; }
static size_t mtu(void) { return (size_t)env_long("EFA_PERSONALITY_MTU", 8192); }

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *real_symbol(const char *name)
{
	void *sym = dlsym(RTLD_NEXT, name);

	if (!sym) {
		fprintf(stderr, "%s: %s not found: %s\n", PREFIX, name, dlerror());
		abort();
	}
	return sym;
}

/* Calls from inside libfabric (rxm opening its core provider) pass straight through. */
static bool called_from_libfabric(const void *ret_addr)
{
	static const void *base;
	Dl_info self;

	if (!base) {
		Dl_info fi;

		if (dladdr(real_symbol("fi_getinfo"), &fi))
			base = fi.dli_fbase;
	}
	return dladdr(ret_addr, &self) && self.dli_fbase == base;
}

/* ---- wrap bookkeeping (freed at unload) ------------------------------------------ */

struct wrap_node { struct wrap_node *next; };
static struct wrap_node *wraps;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *wrap_alloc(size_t size)
{
	struct wrap_node *n = calloc(1, sizeof(*n) + size);

	if (!n) {
		fprintf(stderr, "%s: out of memory\n", PREFIX);
		abort();
	}
	pthread_mutex_lock(&lock);
	n->next = wraps;
	wraps = n;
	pthread_mutex_unlock(&lock);
	return n + 1;
}

__attribute__((destructor)) static void wraps_free(void)
{
	while (wraps) {
		struct wrap_node *n = wraps;

		wraps = n->next;
		free(n);
	}
}

/* ---- the real tcp entry everything runs on -------------------------------------- */

static struct fi_info *tmpl;      /* dup of the real "lo" entry (tcp;ofi_rxm) */

static int remember_template(const struct fi_info *list)
{
	pthread_mutex_lock(&lock);
	for (const struct fi_info *i = list; i && !tmpl; i = i->next)
		if (i->domain_attr->name && !strcmp(i->domain_attr->name, "lo") &&
		    i->addr_format == FI_SOCKADDR_IN)
			tmpl = fi_dupinfo(i);
	pthread_mutex_unlock(&lock);
	return tmpl ? 0 : -FI_ENODATA;
}

/* An fi_info of ours turned back into the real one, keeping queue sizes. */
static struct fi_info *to_real(const struct fi_info *ours)
{
	struct fi_info *r = fi_dupinfo(tmpl);

	if (!r)
		return NULL;
	if (ours->tx_attr && ours->tx_attr->size)
		r->tx_attr->size = ours->tx_attr->size;
	if (ours->rx_attr && ours->rx_attr->size)
		r->rx_attr->size = ours->rx_attr->size;
	/* The real domain keeps tcp's addressing (offsets, keys chosen by the caller); the
	 * application sees efa's (FI_MR_VIRT_ADDR, FI_MR_PROV_KEY): see "keys" below. */
	return r;
}

static bool is_ours(const struct fi_info *i)
{
	return i && i->fabric_attr && i->fabric_attr->prov_name &&
	       !strcmp(i->fabric_attr->prov_name, "efa");
}

static bool is_direct_name(const char *fabric)
{
	return fabric && !strcmp(fabric, "efa-direct");
}

/* ---- fi_getinfo ------------------------------------------------------------------ */

static bool list_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && !strncmp(p, word, n))
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Does this fabric offer FI_HMEM to this API version (efa_user_info.c, efa_prov_info.c)? */
static bool hmem_offered(bool direct, uint32_t version)
{
	if (!cuda_ok())
		return false;
	if (direct)
		return p2p_ok();
	if (FI_VERSION_GE(version, FI_VERSION(1, 18)) || env_long("EFA_PERSONALITY_HMEM_ANY_API", 0))
		return true;    /* claimed whenever CUDA initialises, p2p or not */
	return p2p_ok() && env_long("FI_EFA_USE_DEVICE_RDMA", 0) == 1;
}

static bool fabric_matches(bool direct, const struct fi_info *hints, uint32_t version)
{
	if (!hints)
		return true;
	if (hints->fabric_attr && hints->fabric_attr->name &&
	    strcmp(hints->fabric_attr->name, direct ? "efa-direct" : "efa"))
		return false;
	if ((hints->caps & FI_HMEM) && !hmem_offered(direct, version))
		return false;
	if (!direct)
		return true;
	/* efa-direct: FI_MSG/FI_RMA only, the application must take FI_CONTEXT2 and FI_MR_LOCAL */
	if (hints->caps & (FI_TAGGED | FI_ATOMIC))
		return false;
	if (!(hints->mode & FI_CONTEXT2))
		return false;
	return hints->domain_attr && (hints->domain_attr->mr_mode & FI_MR_LOCAL);
}

static struct fi_info *make_entry(const char *dev, bool direct, const struct fi_info *hints,
				  uint32_t version)
{
	struct fi_info *i = fi_dupinfo(tmpl);
	char dom[P_NAME_MAX];
	uint64_t want_mr = hints && hints->domain_attr ? hints->domain_attr->mr_mode : 0;

	if (!i)
		return NULL;
	snprintf(dom, sizeof(dom), "%s-rdm", dev);
	free(i->fabric_attr->prov_name);
	free(i->fabric_attr->name);
	free(i->domain_attr->name);
	i->fabric_attr->prov_name = strdup("efa");
	i->fabric_attr->name = strdup(direct ? "efa-direct" : "efa");
	i->domain_attr->name = strdup(dom);
	i->fabric_attr->prov_version = FI_VERSION(2, 1);
	i->caps = (FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_SEND | FI_RECV | FI_REMOTE_READ |
		   FI_REMOTE_WRITE | FI_LOCAL_COMM | FI_REMOTE_COMM) |
		  (direct ? 0 : (i->caps & FI_TAGGED));
	if (hints && (hints->caps & FI_HMEM))
		i->caps |= FI_HMEM;
	i->mode = direct ? FI_CONTEXT2 : 0;
	i->domain_attr->mr_mode = (direct ? FI_MR_LOCAL : (want_mr & FI_MR_LOCAL)) |
				  FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY |
				  ((i->caps & FI_HMEM) ? FI_MR_HMEM : 0);
	i->ep_attr->max_msg_size = direct ? (mtu() > P_MAX_RDMA_SIZE ? mtu() : P_MAX_RDMA_SIZE) :
					    UINT64_MAX;
	(void)version;
	return i;
}

static struct fi_info *real_hints_from(const struct fi_info *hints)
{
	struct fi_info *h = hints ? fi_dupinfo(hints) : fi_allocinfo();

	if (!h)
		return NULL;
	free(h->fabric_attr->prov_name);
	free(h->fabric_attr->name);
	free(h->domain_attr->name);
	h->fabric_attr->prov_name = strdup("tcp");
	h->fabric_attr->name = NULL;
	h->domain_attr->name = NULL;
	h->caps &= ~(uint64_t)FI_HMEM;
	h->domain_attr->mr_mode &= ~(uint64_t)FI_MR_HMEM;
	if (!h->ep_attr->type)
		h->ep_attr->type = FI_EP_RDM;
	return h;
}

static bool domain_wanted(const struct fi_info *hints, const char *dev)
{
	char dom[P_NAME_MAX];

	if (!hints || !hints->domain_attr || !hints->domain_attr->name)
		return true;
	snprintf(dom, sizeof(dom), "%s-rdm", dev);
	return !strcmp(hints->domain_attr->name, dom);
}

/* Entries for every device and fabric, in libfabric 2.x's order: all efa-direct, then efa. */
static struct fi_info *efa_entries(const struct fi_info *hints, uint32_t version)
{
	const char *fabrics = env_str("EFA_PERSONALITY_FABRICS", "efa-direct,efa");
	char *devs = strdup(env_str("EFA_PERSONALITY_DEVICES", "rdmap16s27,rdmap32s27"));
	struct fi_info *head = NULL, **tail = &head;

	for (int pass = 0; devs && pass < 2; pass++) {
		bool direct = pass == 0;
		char *save = NULL, *copy = strdup(devs);

		if (!list_has(fabrics, direct ? "efa-direct" : "efa") ||
		    !fabric_matches(direct, hints, version)) {
			free(copy);
			continue;
		}
		for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
			if (!domain_wanted(hints, d))
				continue;
			if ((*tail = make_entry(d, direct, hints, version)))
				tail = &(*tail)->next;
		}
		free(copy);
	}
	free(devs);
	return head;
}

int fi_getinfo(uint32_t version, const char *node, const char *service, uint64_t flags,
	       const struct fi_info *hints, struct fi_info **info)
{
	int (*real)(uint32_t, const char *, const char *, uint64_t, const struct fi_info *,
		    struct fi_info **) = real_symbol("fi_getinfo");
	const char *prov = hints && hints->fabric_attr ? hints->fabric_attr->prov_name : NULL;
	struct fi_info *rh, *list = NULL, *ours;
	int ret;

	if (called_from_libfabric(__builtin_return_address(0)) || (prov && strcmp(prov, "efa")))
		return real(version, node, service, flags, hints, info);
	if (hints && hints->ep_attr && hints->ep_attr->type && hints->ep_attr->type != FI_EP_RDM)
		return real(version, node, service, flags, hints, info);
	if (!(rh = real_hints_from(hints)))
		return -FI_ENOMEM;
	ret = real(version, node, service, flags, rh, &list);
	fi_freeinfo(rh);
	if (ret || remember_template(list)) {
		fi_freeinfo(list);
		if (prov)
			return ret ? ret : -FI_ENODATA;
		return real(version, node, service, flags, hints, info);
	}
	fi_freeinfo(list);
	ours = efa_entries(hints, version);
	if (prov) {
		*info = ours;
		return ours ? 0 : -FI_ENODATA;
	}
	/* No provider named: efa first, then whatever else libfabric offers. */
	ret = real(version, node, service, flags, hints, &list);
	if (!ours) {
		*info = list;
		return ret;
	}
	*info = ours;
	if (!ret) {
		while (ours->next)
			ours = ours->next;
		ours->next = list;
	}
	return 0;
}

uint32_t fi_version(void)
{
	uint32_t (*real)(void) = real_symbol("fi_version");
	const char *v = getenv("EFA_PERSONALITY_VERSION");
	unsigned maj = 2, min = 1;

	if (called_from_libfabric(__builtin_return_address(0)))
		return real();
	if (v && sscanf(v, "%u.%u", &maj, &min) != 2)
		maj = 2, min = 1;
	return FI_VERSION(maj, min);
}

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

/* ---- objects ----------------------------------------------------------------------- */

struct av_wrap;
struct domain_wrap;
struct cq_wrap;

struct ep_wrap {
	struct fi_ops fid_ops;          /* copies: ep->fid.ops, ep->ops, ep->msg, ep->rma */
	struct fi_ops_ep ep_ops;
	struct fi_ops_msg msg;
	struct fi_ops_rma rma;
	struct fi_ops *orig_fid;
	struct fi_ops_ep *orig_ep;
	struct fi_ops_msg *orig_msg;
	struct fi_ops_rma *orig_rma;
	struct fid_ep *ep;
	bool direct;
	bool hmem;
	struct av_wrap *av;
	struct cq_wrap *txcq;
	struct ep_wrap *next_on_av;
};

struct av_wrap {
	struct fi_ops_av ops;
	struct fi_ops_av *orig;
	struct { unsigned char a[P_ADDR_MAX]; size_t len; } addr[P_AV_MAX];
	size_t n;
	struct ep_wrap *eps;
	struct domain_wrap *dom;
};

struct cq_wrap {
	struct fi_ops_cq ops;
	struct fi_ops_cq *orig;
	pthread_mutex_t lock;
	void *err_ctx[P_ERR_MAX];
	unsigned nerr;
	bool last_ours;
	struct fid_cq *cq;
	struct domain_wrap *dom;
	struct cq_wrap *next_in_dom;
};

struct domain_wrap {
	struct fi_ops_domain ops;
	struct fi_ops_mr mr;
	struct fi_ops fid_ops;
	struct fi_ops_domain *orig_ops;
	struct fi_ops_mr *orig_mr;
	struct fi_ops *orig_fid;
	bool direct;
	bool hmem;
	struct cq_wrap *cqs;        /* this domain's CQs (progressed while an insert is delayed) */
};

struct fabric_wrap { struct fi_ops_fabric ops; struct fi_ops_fabric *orig; bool direct; };

/* ---- domain open/close: the < 2.2.0 race ------------------------------------------ */

static atomic_int in_domain_list;

static void domain_list_enter(const char *what)
{
	if (atomic_fetch_add(&in_domain_list, 1) != 0) {
		fprintf(stderr, "%s: concurrent %s with another fi_domain open/close: libfabric "
			"< 2.2.0 races on the efa domain list (2186aad5b, 2015b6c6c); aborting\n",
			PREFIX, what);
		abort();
	}
	sleep_ms(env_long("EFA_PERSONALITY_OPEN_MS", 30));
}

static void crash_once(void)
{
	const char *flag = getenv("EFA_PERSONALITY_CRASH_ONCE");
	int fd;

	if (!flag || !*flag)
		return;
	fd = open(flag, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return;         /* crashed before: work now */
	close(fd);
	fprintf(stderr, "%s: EFA_PERSONALITY_CRASH_ONCE: aborting in fi_domain\n", PREFIX);
	abort();
}

static void domain_list_leave(void)
{
	atomic_fetch_sub(&in_domain_list, 1);
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
#define P_KEY_SHIFT 12

static uint64_t real_key(uint64_t shown) { return shown >> P_KEY_SHIFT; }
static uint64_t real_addr(uint64_t addr, uint64_t shown) { return addr - shown; }

struct mr_wrap { struct fi_ops fid_ops; struct fi_ops *orig; uint64_t key; };

static int w_mr_close(struct fid *fid)
{
	struct fid_mr *mr = container_of(fid, struct fid_mr, fid);
	struct mr_wrap *w = container_of(fid->ops, struct mr_wrap, fid_ops);

	mr->key = w->key;       /* tcp removes it from its map by its own key */
	return w->orig->close(fid);
}

static void show_key(struct fid_mr *mr, uint64_t base)
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

static void wrap_ep(struct fid_ep *ep, bool direct, bool hmem)
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

/* A slow insert on a device whose endpoints keep working: the domain's CQs are progressed
 * (fi_cq_read of 0 entries: progress without taking the application's completions), so peers
 * can reach this process while it has not inserted them yet -- as on efa, where a send needs
 * no connection. Only this domain's CQs: the caller's thread owns them. */
static void delay_with_progress(struct domain_wrap *d, long ms)
{
	struct fi_cq_entry dummy;

	for (long t = 0; t < ms; t += 5) {
		sleep_ms(5);
		for (struct cq_wrap *c = d ? d->cqs : NULL; c; c = c->next_in_dom)
			c->orig->read(c->cq, &dummy, 0);
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

	if (delay > 0) {
		fprintf(stderr, "%s: fi_av_insert of %zu address(es) delayed %ld ms\n", PREFIX, count,
			delay);
		delay_with_progress(w->dom, delay);
	}
	ret = w->orig->insert(av, addr, count, fi_addr, flags, context);
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

/* ---- domain ---------------------------------------------------------------------------- */

static int w_cq_open(struct fid_domain *domain, struct fi_cq_attr *attr, struct fid_cq **cq,
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
	return 0;
}

static int w_av_open(struct fid_domain *domain, struct fi_av_attr *attr, struct fid_av **av,
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

static int w_endpoint(struct fid_domain *domain, struct fi_info *info, struct fid_ep **ep,
		      void *context)
{
	struct domain_wrap *d = container_of(domain->ops, struct domain_wrap, ops);
	struct fi_info *real = is_ours(info) ? to_real(info) : NULL;
	int ret;

	if (is_ours(info) && !real)
		return -FI_ENOMEM;
	ret = d->orig_ops->endpoint(domain, real ? real : info, ep, context);
	fi_freeinfo(real);
	if (!ret)
		wrap_ep(*ep, d->direct, d->hmem);
	return ret;
}

static int w_mr_reg(struct fid *fid, const void *buf, size_t len, uint64_t access,
		    uint64_t offset, uint64_t requested_key, uint64_t flags, struct fid_mr **mr,
		    void *context)
{
	struct fid_domain *domain = container_of(fid, struct fid_domain, fid);
	struct domain_wrap *d = container_of(domain->mr, struct domain_wrap, mr);
	int ret = d->orig_mr->reg(fid, buf, len, access, offset,
				  real_key((uintptr_t)buf), flags, mr, context);

	if (!ret)
		show_key(*mr, (uintptr_t)buf);
	return ret;
}

static int w_mr_regv(struct fid *fid, const struct iovec *iov, size_t count, uint64_t access,
		     uint64_t offset, uint64_t requested_key, uint64_t flags, struct fid_mr **mr,
		     void *context)
{
	struct fid_domain *domain = container_of(fid, struct fid_domain, fid);
	struct domain_wrap *d = container_of(domain->mr, struct domain_wrap, mr);
	uint64_t base = count ? (uintptr_t)iov[0].iov_base : 0;
	int ret = d->orig_mr->regv(fid, iov, count, access, offset, real_key(base), flags, mr,
				   context);

	if (!ret)
		show_key(*mr, base);
	return ret;
}

/* GPU memory of the CPU cudart double is host memory: register it as such. Without p2p the
 * real efa provider still registers CUDA memory (with a proprietary key, efa_mr.c), so a
 * registration succeeding proves nothing about GPUDirect either way. */
static int w_mr_regattr(struct fid *fid, const struct fi_mr_attr *attr, uint64_t flags,
			struct fid_mr **mr)
{
	struct fid_domain *domain = container_of(fid, struct fid_domain, fid);
	struct domain_wrap *d = container_of(domain->mr, struct domain_wrap, mr);
	struct fi_mr_attr a = *attr;
	uint64_t base = a.iov_count ? (uintptr_t)a.mr_iov[0].iov_base : 0;
	int ret;

	if (a.iface == FI_HMEM_CUDA) {
		if (!d->hmem)
			return -FI_EOPNOTSUPP;
		a.iface = FI_HMEM_SYSTEM;
		a.device.reserved = 0;
	}
	a.requested_key = real_key(base);
	ret = d->orig_mr->regattr(fid, &a, flags, mr);
	if (!ret)
		show_key(*mr, base);
	return ret;
}

static int w_domain_close(struct fid *fid)
{
	struct fid_domain *domain = container_of(fid, struct fid_domain, fid);
	struct domain_wrap *d = container_of(domain->fid.ops, struct domain_wrap, fid_ops);
	int ret;

	domain_list_enter("fi_close(domain)");
	ret = d->orig_fid->close(fid);
	domain_list_leave();
	return ret;
}

static int w_domain(struct fid_fabric *fabric, struct fi_info *info, struct fid_domain **domain,
		    void *context)
{
	struct fabric_wrap *f = container_of(fabric->ops, struct fabric_wrap, ops);
	struct fi_info *real = to_real(info);
	struct domain_wrap *d;
	int ret;

	if (!real)
		return -FI_ENOMEM;
	crash_once();
	domain_list_enter("fi_domain");
	ret = f->orig->domain(fabric, real, domain, context);
	domain_list_leave();
	fi_freeinfo(real);
	if (ret)
		return ret;
	d = wrap_alloc(sizeof(*d));
	d->direct = is_direct_name(info->fabric_attr->name);
	d->hmem = (info->caps & FI_HMEM) != 0;
	d->orig_ops = (*domain)->ops;
	d->ops = *(*domain)->ops;
	d->ops.cq_open = w_cq_open;
	d->ops.av_open = w_av_open;
	d->ops.endpoint = w_endpoint;
	(*domain)->ops = &d->ops;
	d->orig_mr = (*domain)->mr;
	d->mr = *(*domain)->mr;
	d->mr.reg = w_mr_reg;
	d->mr.regv = w_mr_regv;
	d->mr.regattr = w_mr_regattr;
	(*domain)->mr = &d->mr;
	d->orig_fid = (*domain)->fid.ops;
	d->fid_ops = *(*domain)->fid.ops;
	d->fid_ops.close = w_domain_close;
	(*domain)->fid.ops = &d->fid_ops;
	return 0;
}

int fi_fabric(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context)
{
	int (*real)(struct fi_fabric_attr *, struct fid_fabric **, void *) = real_symbol("fi_fabric");
	struct fabric_wrap *w;
	bool direct;
	int ret;

	if (called_from_libfabric(__builtin_return_address(0)) || !attr || !attr->prov_name ||
	    strcmp(attr->prov_name, "efa") || !tmpl)
		return real(attr, fabric, context);
	direct = is_direct_name(attr->name);
	ret = real(tmpl->fabric_attr, fabric, context);
	if (ret)
		return ret;
	w = wrap_alloc(sizeof(*w));
	w->direct = direct;
	w->orig = (*fabric)->ops;
	w->ops = *(*fabric)->ops;
	w->ops.domain = w_domain;
	(*fabric)->ops = &w->ops;
	return 0;
}
