/*
 * fabric.c -- libfabric discovery (see fabric.h).
 *
 * Hints are built the way fabtests (common/shared.c) builds them for RDM tests:
 * FI_EP_RDM, the capabilities we use, the FI_CONTEXT/FI_CONTEXT2 modes we honour, and the
 * "basic map" mr_mode bits we know how to handle, so providers that need them (efa) match.
 */
#include "fabric/fabric.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include "core/report.h"
#include "core/strutil.h"

#define FABRIC_MIN_API FI_VERSION(1, 9)

/* FI_OPT_ENDPOINT option names added after the 1.17 headers (include/rdma/fi_endpoint.h of
 * libfabric v2.0.0+: FI_OPT_MAX_MSG_SIZE 12, FI_OPT_MAX_RMA_SIZE 14). The values are ABI. */
#define EFA_FI_OPT_MAX_MSG_SIZE 12
#define EFA_FI_OPT_MAX_RMA_SIZE 14
#define EFA_DIRECT_MSG_FALLBACK 4096

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

void fabric_open_lock(void)
{
	pthread_mutex_lock(&open_lock);
}

void fabric_open_unlock(void)
{
	pthread_mutex_unlock(&open_lock);
}

static bool is_efa_direct(const struct fi_info *info)
{
	return info->fabric_attr && info->fabric_attr->name &&
	       !strcmp(info->fabric_attr->name, "efa-direct");
}

static int getopt_size(struct fid_ep *ep, int name, size_t *v)
{
	size_t len = sizeof(*v);

	if (!ep || FI_MAJOR(fi_version()) < 2)
		return -FI_ENOPROTOOPT;
	return fi_getopt(&ep->fid, FI_OPT_ENDPOINT, name, v, &len);
}

size_t fabric_msg_limit(struct fid_ep *ep, const struct fi_info *info, char *why, size_t size)
{
	size_t ep_max = info->ep_attr->max_msg_size, opt = 0;

	if (getopt_size(ep, EFA_FI_OPT_MAX_MSG_SIZE, &opt) == 0 && opt) {
		snprintf(why, size, "FI_OPT_MAX_MSG_SIZE");
		return ep_max && ep_max < opt ? ep_max : opt;
	}
	if (is_efa_direct(info)) {
		snprintf(why, size, "efa-direct MTU, assumed");
		return EFA_DIRECT_MSG_FALLBACK;
	}
	snprintf(why, size, "max_msg_size");
	return ep_max;
}

size_t fabric_rma_limit(struct fid_ep *ep, const struct fi_info *info)
{
	size_t ep_max = info->ep_attr->max_msg_size, opt = 0;

	if (getopt_size(ep, EFA_FI_OPT_MAX_RMA_SIZE, &opt) == 0 && opt)
		return ep_max && ep_max < opt ? ep_max : opt;
	return ep_max;
}

void fabric_version(char *buf, size_t size)
{
	uint32_t v = fi_version();
	/* fi_version() carries major.minor only; the revision is the header's when the
	 * runtime is the library we were built against. */
	unsigned rev = FI_MAJOR(v) == FI_MAJOR_VERSION && FI_MINOR(v) == FI_MINOR_VERSION ?
		       (unsigned)FI_REVISION_VERSION : 0u;

	snprintf(buf, size, "%u.%u.%u", FI_MAJOR(v), FI_MINOR(v), rev);
}

uint32_t fabric_api_version(void)
{
	uint32_t header = FI_VERSION(FI_MAJOR_VERSION, FI_MINOR_VERSION);
	uint32_t runtime = fi_version();
	uint32_t v = header < runtime ? header : runtime;

	return v < FABRIC_MIN_API ? FABRIC_MIN_API : v;
}

struct fi_info *fabric_rdm_hints(const char *provider, const char *domain)
{
	struct fi_info *hints = fi_allocinfo();

	if (!hints)
		return NULL;
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG | FI_RMA;
	hints->mode = FI_CONTEXT | FI_CONTEXT2;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	if (provider && *provider && !(hints->fabric_attr->prov_name = strdup(provider)))
		goto fail;
	if (domain && *domain && !(hints->domain_attr->name = strdup(domain)))
		goto fail;
	return hints;
fail:
	fi_freeinfo(hints);
	return NULL;
}

void fabric_prepare_env(const char *provider)
{
	if (provider && !strcmp(provider, "efa"))
		setenv("FI_EFA_ENABLE_SHM_TRANSFER", "0", 1);
	/* rxm (the RDM layer over tcp and verbs) preposts a shared receive queue of 4096 eager
	 * buffers of 16 KiB on every endpoint, whatever rx_attr->size the hints ask for: the
	 * core's rx size comes only from FI_OFI_RXM_MSG_RX_SIZE (ofiwg/libfabric
	 * prov/rxm/src/rxm_init.c rxm_info_to_core, RXM_MSG_SRX_SIZE in rxm.h; v1.17.0 to v2.6).
	 * That is 64 MiB per endpoint, 128 MiB of the tcp loopback's 198 MiB peak; a test never
	 * has more than its window outstanding. Size it to FABRIC_TEST_QUEUE unless the admin
	 * set it. Read once, at provider init: call before the first fi_getinfo. */
	if (provider && (strstr(provider, "tcp") || strstr(provider, "verbs") || strstr(provider, "rxm"))) {
		setenv("FI_OFI_RXM_MSG_RX_SIZE", FABRIC_TEST_QUEUE_STR, 0);
		/* rxm's tx and rx buffer pools grow by chunks of 1024 buffers of buffer_size
		 * (rxm_ep_create_pools, chunk_cnt 1024), memset when they grow, whatever the queue
		 * sizes: 2 pools x 16 MiB per endpoint at the default 16 KiB, half of the check's
		 * CPU time on tcp, and the first message of each protocol grows another pool.
		 * 1 KiB buffers make that 2 MiB (fi_enable 16 -> 8 ms per endpoint, the first
		 * rendezvous 17 -> 7 ms on the build machine); rxm accepts any size that holds its
		 * rendezvous and atomic headers (rxm_init.c rxm_init_info, v1.17.0 to v2.1.0), and
		 * every message size is still verified through each of rxm's protocols (eager up
		 * to 1 KiB, segmented, then rendezvous up to LoopbackMaxSize). efa has no rxm
		 * layer: no effect there. */
		setenv("FI_OFI_RXM_BUFFER_SIZE", FABRIC_TEST_RXM_BUFFER_STR, 0);
		/* rxm drives connection management only every cm_progress_interval us of CQ
		 * polling (default 10000; rxm_init.c, v1.17.0 to v2.1.0): a loopback connection
		 * took ~2 intervals before its first message. 1 ms is what a test needs. */
		setenv("FI_OFI_RXM_CM_PROGRESS_INTERVAL", FABRIC_TEST_RXM_CM_INTERVAL_STR, 0);
	}
}

/* ---- unique name lists ---------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool names_contain(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static int names_add_unique(struct fabric_domains *d, const char *name)
{
	char **grown;

	if (!name || names_contain(d->name, d->n, name))
		return 0;
	grown = realloc(d->name, (d->n + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	d->name = grown;
	if (!(d->name[d->n] = strdup(name)))
		return -1;
	d->n++;
	return 0;
}

void fabric_domains_free(struct fabric_domains *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->name[i]);
	free(d->name);
	free(d->loopback);
	d->name = NULL;
	d->loopback = NULL;
	d->n = 0;
}

/* ---- loopback-only domains ------------------------------------------------------------ */

bool fabric_ifname_loopback(const char *name)
{
	struct ifaddrs *ifa = NULL;
	bool lo = false;

	if (!name || getifaddrs(&ifa))
		return false;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
		if (i->ifa_name && !strcmp(i->ifa_name, name) && (i->ifa_flags & IFF_LOOPBACK))
			lo = true;
	freeifaddrs(ifa);
	return lo;
}

/*
 * The tcp provider (libfabric 1.17 prov/util/src/util_getinfo.c, util_getinfo_ifs and
 * util_set_netif_names) gives one fi_info per usable interface address, the domain named after
 * the interface and src_addr its address: `lo` is one of them, and on a real node it can only
 * ever reach the node itself.
 */
static bool domain_loopback(const char *name, const struct fi_info *info)
{
	(void)info;
	/* By the interface's own flag, not by its addresses: a test double that presents efa
	 * domains over the tcp provider's lo entry (tests/efa-personality) has 127.0.0.1 addresses
	 * on domains that stand for real devices; on real EFA the address format is FI_ADDR_EFA. */
	return fabric_ifname_loopback(name);
}

static int mark_loopback(struct fabric_domains *d, const struct fi_info *info)
{
	free(d->loopback);
	d->loopback = calloc(d->n ? d->n : 1, sizeof(*d->loopback));
	if (!d->loopback)
		return -1;
	for (size_t i = 0; i < d->n; i++)
		d->loopback[i] = domain_loopback(d->name[i], info);
	return 0;
}

bool fabric_domain_loopback_only(const struct fabric_domains *d, size_t i)
{
	return d && d->loopback && i < d->n && d->loopback[i];
}

static void names_join(const struct fabric_domains *d, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < d->n; i++)
		str_appendf(buf, size, "%s%s", i ? ", " : "", d->name[i]);
}

/* ---- fi_getinfo queries ----------------------------------------------------------- */

static int getinfo_rdm(const char *provider, struct fi_info **info)
{
	struct fi_info *hints = fabric_rdm_hints(provider, NULL);
	int ret;

	*info = NULL;
	if (!hints)
		return -FI_ENOMEM;
	ret = fi_getinfo(fabric_api_version(), NULL, NULL, 0, hints, info);
	fi_freeinfo(hints);
	if (!ret && !*info)
		ret = -FI_ENODATA;
	return ret;
}

/* The providers fi_getinfo offers for RDM with FI_MSG|FI_RMA, e.g. "shm, tcp;ofi_rxm". */
static void available_providers(char *buf, size_t size)
{
	struct fabric_domains provs = { 0 };
	struct fi_info *info = NULL;

	if (getinfo_rdm(NULL, &info)) {
		str_copy(buf, size, "none");
		return;
	}
	for (struct fi_info *cur = info; cur; cur = cur->next)
		if (names_add_unique(&provs, cur->fabric_attr->prov_name))
			break;
	fi_freeinfo(info);
	qsort(provs.name, provs.n, sizeof(*provs.name), name_cmp);
	names_join(&provs, buf, size);
	fabric_domains_free(&provs);
}

static void fail_provider_missing(const char *provider, int ret, struct check_result *c)
{
	char avail[256];
	const char *restrict_env = getenv("FI_PROVIDER");

	available_providers(avail, sizeof(avail));
	if (ret == -FI_ENODATA)
		check_detail(c, "provider %s not found for FI_EP_RDM with FI_MSG|FI_RMA; available: %s%s%s",
			     provider, avail, restrict_env ? "; FI_PROVIDER=" : "",
			     restrict_env ? restrict_env : "");
	else
		check_detail(c, "provider %s: fi_getinfo: %s; available: %s", provider,
			     fi_strerror(-ret), avail);
	if (ret == -FI_ENODATA)
		check_fail(c, "provider %s not found", provider);
	else
		check_fail(c, "provider %s: fi_getinfo: %s", provider, fi_strerror(-ret));
}

static int collect_domains(const struct fi_info *info, struct fabric_domains *all, char *layered,
			   size_t size)
{
	layered[0] = '\0';
	for (const struct fi_info *cur = info; cur; cur = cur->next) {
		if (!layered[0] && cur->fabric_attr->prov_name)
			str_copy(layered, size, cur->fabric_attr->prov_name);
		if (names_add_unique(all, cur->domain_attr->name))
			return -1;
	}
	qsort(all->name, all->n, sizeof(*all->name), name_cmp);
	return 0;
}

/* Keep only the wanted domains that exist; name the missing ones in c. Returns the number
 * missing, or -1 on allocation failure. */
static int select_wanted(const struct fabric_domains *all, char *const *want, size_t nwant,
			 struct fabric_domains *out, struct check_result *c)
{
	char missing[CHECK_REASON_MAX] = "";
	int nmissing = 0;

	for (size_t i = 0; i < nwant; i++) {
		if (names_contain(all->name, all->n, want[i])) {
			if (names_add_unique(out, want[i]))
				return -1;
			continue;
		}
		str_appendf(missing, sizeof(missing), "%s%s", nmissing ? ", " : "", want[i]);
		nmissing++;
	}
	if (nmissing) {
		char offered[256];

		names_join(all, offered, sizeof(offered));
		check_detail(c, "domain%s %s missing; offered: %s", nmissing > 1 ? "s" : "",
			     missing, all->n ? offered : "none");
		check_fail(c, "domain%s %s missing", nmissing > 1 ? "s" : "", missing);
	}
	return nmissing;
}

/* The fabric of the first entry for a tested domain: for efa on libfabric >= 2.1 that is
 * efa-direct when the device offers what we ask for (efa_prov.c lists efa-direct first), the
 * same entry aws-ofi-nccl's RDMA protocol takes for these capabilities. */
static void first_fabric(const struct fi_info *info, struct fabric_domains *d)
{
	for (const struct fi_info *cur = info; cur; cur = cur->next)
		if (cur->domain_attr->name && cur->fabric_attr->name &&
		    names_contain(d->name, d->n, cur->domain_attr->name)) {
			str_copy(d->fabric, sizeof(d->fabric), cur->fabric_attr->name);
			return;
		}
}

static void describe_domains(const char *provider, const char *layered,
			     const struct fabric_domains *d, struct check_result *c)
{
	char names[256], version[32];

	names_join(d, names, sizeof(names));
	fabric_version(version, sizeof(version));
	check_detail(c, "%s: %zu domain%s (%s), fabric %s, libfabric %s%s%s%s", provider, d->n,
		     d->n == 1 ? "" : "s", names, d->fabric[0] ? d->fabric : "-", version,
		     strcmp(layered, provider) ? " (" : "", strcmp(layered, provider) ? layered : "",
		     strcmp(layered, provider) ? ")" : "");
}

int fabric_provider_check(const char *provider, char *const *want, size_t nwant,
			  struct fabric_domains *domains, struct check_result *c)
{
	struct fabric_domains all = { 0 };
	struct fi_info *info = NULL;
	char layered[64];
	int64_t t0 = now_ms();
	int ret;

	check_init(c, "provider", provider);
	domains->name = NULL;
	domains->n = 0;
	domains->fabric[0] = '\0';
	if (fabric_load_error()) {
		check_detail(c, "libfabric could not be loaded: %s; install libfabric (on EFA nodes the "
			     "AWS EFA installer's, /opt/amazon/efa)", fabric_load_error());
		check_fail(c, "libfabric not loadable");
		ret = -1;
		goto out;
	}
	ret = getinfo_rdm(provider, &info);
	if (ret) {
		fail_provider_missing(provider, ret, c);
		goto out;
	}
	if (collect_domains(info, &all, layered, sizeof(layered)))
		goto nomem;
	if (!nwant) {
		*domains = all;
		all = (struct fabric_domains){ 0 };
	} else {
		ret = select_wanted(&all, want, nwant, domains, c);
		if (ret < 0)
			goto nomem;
	}
	first_fabric(info, domains);
	if (mark_loopback(domains, info))
		goto nomem;
	if (c->status != CHECK_FAIL)
		describe_domains(provider, layered, domains, c);
	ret = c->status == CHECK_FAIL ? -1 : 0;
	goto out;
nomem:
	check_fail(c, "provider %s: out of memory", provider);
	ret = -1;
out:
	fi_freeinfo(info);
	fabric_domains_free(&all);
	c->duration_ms = now_ms() - t0;
	return ret ? -1 : 0;
}
