/*
 * fabric.h -- libfabric discovery: provider presence, domains, runtime version.
 * Public libfabric API only, provider chosen by name, so the same code runs against
 * Debian's libfabric 1.17 (tcp, shm ...) and the AWS EFA installer's (efa).
 */
#ifndef EFA_CHECK_FABRIC_H
#define EFA_CHECK_FABRIC_H

#include <stddef.h>
#include <stdint.h>

struct check_result;
struct fi_info;

#include <stdbool.h>

struct fabric_domains {
	char **name;       /* domain names as fi_getinfo returns them ("lo", "rdmap16s27-rdm") */
	bool *loopback;    /* per name: loopback-only (fabric_domain_loopback_only); may be NULL */
	size_t n;
	char fabric[64];   /* fabric of the first entry: the one jobs get (efa-direct, efa) */
};

struct fid_ep;

/* NULL when libfabric loads (fabric_dl.c loads it on first use, never at start-up), else
 * why it does not ("libfabric.so.1: cannot open shared object file ..."). */
const char *fabric_load_error(void);

/* LibfabricPath= (config): call before the first libfabric use; "" = the default search. */
void fabric_set_library(const char *path);

/* The libfabric file that was loaded (absolute when the dynamic linker knows it), or NULL
 * when none loads. Loads libfabric. */
const char *fabric_library_path(void);

/* The libfabric files fabric_dl.c tries, in order, for a LibfabricPath= value (NULL/"" =
 * none): that path alone, else /opt/amazon/efa/lib64, /opt/amazon/efa/lib, the build-time
 * path, libfabric.so.1. Fills out (max entries) and returns the count. */
size_t fabric_library_candidates(const char *config_path, const char **out, size_t max);

/* Runtime libfabric version "1.17.0" (fi_version()); loads libfabric. */
void fabric_version(char *buf, size_t size);

/* The provider check: fi_getinfo(provider, FI_EP_RDM, FI_MSG|FI_RMA). Fills domains with
 * the unique domain names returned and the fabric of the first entry (the fabric that
 * aws-ofi-nccl picks for the same capabilities: it keeps the first fi_getinfo entry and the
 * entries that match it, nccl_ofi_ofiutils.cpp nccl_ofi_ofiutils_get_providers /
 * prov_filter_by_match). On failure c names the provider and lists the providers
 * that are available. If want (may be NULL/0) lists domains, each must be present: a missing
 * one fails the check naming it, and domains becomes exactly the wanted list that exists.
 * Returns 0 if the check passed. */
int fabric_provider_check(const char *provider, char *const *want, size_t nwant,
			  struct fabric_domains *domains, struct check_result *c);
void fabric_domains_free(struct fabric_domains *d);

/* Queue depth a test needs: twice the loopback's window of outstanding operations. */
#define FABRIC_TEST_QUEUE 128
#define FABRIC_TEST_QUEUE_STR "128"
/* rxm eager buffer size for a test (see fabric_prepare_env). */
#define FABRIC_TEST_RXM_BUFFER_STR "1024"
/* rxm connection-management progress interval for a test, microseconds (fabric_prepare_env). */
#define FABRIC_TEST_RXM_CM_INTERVAL_STR "1000"

/* Is this name a network interface with IFF_LOOPBACK ("lo")? */
bool fabric_ifname_loopback(const char *name);

/* Is domain i of d bound to loopback only, so that it can never carry a cross-node link?
 * True when its name is an interface with IFF_LOOPBACK (the tcp/udp/sockets providers name
 * a domain after its interface), whatever the provider. Filled by fabric_provider_check. */
bool fabric_domain_loopback_only(const struct fabric_domains *d, size_t i);

/* Environment libfabric needs for a node-local test of provider (for efa:
 * FI_EFA_ENABLE_SHM_TRANSFER=0 so traffic crosses the NIC; for rxm-based providers the
 * receive queue sized to FABRIC_TEST_QUEUE). Call before fi_getinfo. */
void fabric_prepare_env(const char *provider);

/* The API version we ask fi_getinfo for: the headers' version, capped at the runtime
 * library's (a binary built against 2.x headers still runs on a 1.17 runtime). */
uint32_t fabric_api_version(void);

/* fi_getinfo hints used by every check: provider (NULL = any), domain (NULL = any),
 * FI_EP_RDM, FI_MSG|FI_RMA, fabtests' mode bits and mr_mode. Free with fi_freeinfo.
 * Returns NULL on allocation failure. */
struct fi_info *fabric_rdm_hints(const char *provider, const char *domain);

/* Fabric and domain open/close are serialised process-wide: the efa provider raced on its
 * domain list when threads opened or closed domains at once, until libfabric v2.2.0
 * (ofiwg/libfabric commits 2186aad5b "prov/efa: Add lock around g_efa_domain_list" and
 * 2015b6c6c "Use Mutex when removing from g_efa_domain_list"). Hold it around fi_fabric,
 * fi_domain, the resources opened on the domain and their close; data transfers run without it. */
void fabric_open_lock(void);
void fabric_open_unlock(void);

/* The largest MSG (send/recv) size an enabled endpoint of info accepts, and why, in words.
 * efa-direct limits MSG operations to the device MTU (~8 KiB, fi_efa.7) while
 * ep_attr->max_msg_size reports the RMA limit (efa_prov_info.c); libfabric >= 2.0 tells the
 * real MSG limit through fi_getopt(FI_OPT_MAX_MSG_SIZE) (efa_ep.c efa_ep_getopt). Without that
 * option, ep_attr->max_msg_size, and for efa-direct the conservative 4 KiB. */
size_t fabric_msg_limit(struct fid_ep *ep, const struct fi_info *info, char *why, size_t size);

/* The same for RMA operations (FI_OPT_MAX_RMA_SIZE, else ep_attr->max_msg_size). */
size_t fabric_rma_limit(struct fid_ep *ep, const struct fi_info *info);

#endif
