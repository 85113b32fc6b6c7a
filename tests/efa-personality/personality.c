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
 *  - FI_MR_DMABUF registrations (API >= 1.20, efa_mr.c efa_mr_regattr): see w_mr_regattr.
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
 *   EFA_PERSONALITY_AV_DELAY_MS  every fi_av_insert publishes its addresses this late, after
 *                             the real insert, progressing all CQs meanwhile (a slow peer)
 *   EFA_PERSONALITY_OPEN_MS   how long a domain open/close holds the race window, default 30
 *   EFA_PERSONALITY_HMEM_ANY_API=1  apply the API >= 1.18 FI_HMEM rule whatever API is asked
 *                             (a product built against 1.17 headers asks 1.17)
 *   EFA_PERSONALITY_DMABUF_FAIL=1  fi_mr_regattr(FI_MR_DMABUF) fails as ibv_reg_dmabuf_mr would
 *   EFA_PERSONALITY_CRASH_ONCE=<file>  the first fi_domain of all processes aborts (creating
 *                             <file>); later ones work: a transient crash below the product
 */
#include "personality.h"

/* ---- controls ------------------------------------------------------------------ */

long env_long(const char *name, long dflt)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return dflt;
	v = strtol(s, &end, 10);
	return *end ? dflt : v;
}

const char *env_str(const char *name, const char *dflt)
{
	const char *s = getenv(name);

	return s && *s ? s : dflt;
}

bool p2p_ok(void) { return env_long("EFA_PERSONALITY_P2P", 1) != 0; }
bool cuda_ok(void) { return env_long("EFA_PERSONALITY_CUDA", 1) != 0; }
size_t mtu(void) { return (size_t)env_long("EFA_PERSONALITY_MTU", 8192); }

void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void *real_symbol(const char *name)
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
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void *wrap_alloc(size_t size)
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

struct fi_info *tmpl;      /* dup of the real "lo" entry (tcp;ofi_rxm) */
struct domain_wrap *open_domains;

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
	i->fabric_attr->api_version = version;
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
	uint32_t (*real_version)(void) = real_symbol("fi_version");
	const char *prov = hints && hints->fabric_attr ? hints->fabric_attr->prov_name : NULL;
	struct fi_info *rh, *list = NULL, *ours;
	uint32_t asked = version;
	int ret;

	/* The application may ask for the API of the libfabric we play (up to 2.1); the real one
	 * underneath refuses a version newer than itself (src/fabric.c, fi_getinfo_). */
	if (version > real_version())
		version = real_version();

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
	ours = efa_entries(hints, asked);
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

/* ---- domain ---------------------------------------------------------------------------- */

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

/* FI_MR_DMABUF (libfabric >= 1.20): efa_mr_regattr accepts the flag only when the fabric was
 * opened for API >= 1.20 (-FI_EBADFLAGS otherwise) and registers the dma-buf with
 * ibv_reg_dmabuf_mr, whose failure comes back as -errno; without p2p it skips the device for
 * CUDA memory altogether (proprietary key) (prov/efa/src/efa_mr.c v2.1.0, efa_mr_regattr,
 * efa_mr_reg_impl, efa_mr_reg_ibv_mr). struct fi_mr_dmabuf is fi_domain.h v1.20.0's. Here the
 * fd (the CUDA double's memfd) must be open and cover offset + len, and the region
 * base_addr + offset is registered as host memory (the cudart double's "GPU memory").
 * EFA_PERSONALITY_DMABUF_FAIL=1 makes ibv_reg_dmabuf_mr fail (EFAULT, as when the NIC cannot
 * import the GPU's dma-buf). */
#define P_MR_DMABUF (1ULL << 40)
struct p_mr_dmabuf { int fd; uint64_t offset; size_t len; void *base_addr; };

static int dmabuf_to_iov(const struct domain_wrap *d, const struct fi_mr_attr *attr,
			 struct iovec *iov)
{
	const struct p_mr_dmabuf *db = (const void *)attr->mr_iov;
	struct stat st;

	if (d->api < FI_VERSION(1, 20)) {
		fprintf(stderr, "%s: FI_MR_DMABUF with API %u.%u: -FI_EBADFLAGS\n", PREFIX,
			FI_MAJOR(d->api), FI_MINOR(d->api));
		return -FI_EBADFLAGS;
	}
	if (!d->hmem || !db || fstat(db->fd, &st) || (uint64_t)st.st_size < db->offset + db->len)
		return -FI_EINVAL;
	if (attr->iface == FI_HMEM_CUDA && p2p_ok() && env_long("EFA_PERSONALITY_DMABUF_FAIL", 0)) {
		fprintf(stderr, "%s: ibv_reg_dmabuf_mr(fd %d, %zu B) failed "
			"(EFA_PERSONALITY_DMABUF_FAIL)\n", PREFIX, db->fd, db->len);
		return -FI_EFAULT;
	}
	fprintf(stderr, "%s: FI_MR_DMABUF registration of %zu B (fd %d)\n", PREFIX, db->len,
		db->fd);
	iov->iov_base = (char *)db->base_addr + db->offset;
	iov->iov_len = db->len;
	return 0;
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
	struct iovec iov;
	uint64_t base;
	int ret;

	if (flags & P_MR_DMABUF) {
		if ((ret = dmabuf_to_iov(d, attr, &iov)))
			return ret;
		a.mr_iov = &iov;
		a.iov_count = 1;
		flags &= ~P_MR_DMABUF;
	}
	base = a.iov_count ? (uintptr_t)a.mr_iov[0].iov_base : 0;
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

	pthread_mutex_lock(&lock);
	for (struct domain_wrap **p = &open_domains; *p; p = &(*p)->next_open)
		if (*p == d) {
			*p = d->next_open;
			break;
		}
	pthread_mutex_unlock(&lock);
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
	d->api = f->api;
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
	pthread_mutex_lock(&lock);
	d->next_open = open_domains;
	open_domains = d;
	pthread_mutex_unlock(&lock);
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
	w->api = attr->api_version;
	w->orig = (*fabric)->ops;
	w->ops = *(*fabric)->ops;
	w->ops.domain = w_domain;
	(*fabric)->ops = &w->ops;
	return 0;
}
