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

struct fabric_domains {
	char **name;       /* domain names as fi_getinfo returns them ("lo", "rdmap16s27-rdm") */
	size_t n;
};

/* NULL when libfabric loads (fabric_dl.c loads it on first use, never at start-up), else
 * why it does not ("libfabric.so.1: cannot open shared object file ..."). */
const char *fabric_load_error(void);

/* Runtime libfabric version "1.17.0" (fi_version()); loads libfabric. */
void fabric_version(char *buf, size_t size);

/* The provider check: fi_getinfo(provider, FI_EP_RDM, FI_MSG|FI_RMA). Fills domains with
 * the unique domain names returned. On failure c names the provider and lists the providers
 * that are available. If want (may be NULL/0) lists domains, each must be present: a missing
 * one fails the check naming it, and domains becomes exactly the wanted list that exists.
 * Returns 0 if the check passed. */
int fabric_provider_check(const char *provider, char *const *want, size_t nwant,
			  struct fabric_domains *domains, struct check_result *c);
void fabric_domains_free(struct fabric_domains *d);

/* Environment libfabric needs for a node-local test of provider (for efa:
 * FI_EFA_ENABLE_SHM_TRANSFER=0 so traffic crosses the NIC). Call before fi_getinfo. */
void fabric_prepare_env(const char *provider);

/* The API version we ask fi_getinfo for: the headers' version, capped at the runtime
 * library's (a binary built against 2.x headers still runs on a 1.17 runtime). */
uint32_t fabric_api_version(void);

/* fi_getinfo hints used by every check: provider (NULL = any), domain (NULL = any),
 * FI_EP_RDM, FI_MSG|FI_RMA, fabtests' mode bits and mr_mode. Free with fi_freeinfo.
 * Returns NULL on allocation failure. */
struct fi_info *fabric_rdm_hints(const char *provider, const char *domain);

#endif
