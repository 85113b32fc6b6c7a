/*
 * personality.h -- TEST DOUBLE: what the EFA personality layer's files share (see personality.c).
 */
#ifndef EFA_PERSONALITY_H
#define EFA_PERSONALITY_H

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
	struct fi_ops fid_ops;          /* close takes it off dom->cqs */
	struct fi_ops *orig_fid;
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
	uint32_t api;               /* the API version the application asked for */
	struct cq_wrap *cqs;        /* this domain's CQs (progressed while an insert is delayed) */
	struct domain_wrap *next_open; /* open_domains */
};

struct fabric_wrap {
	struct fi_ops_fabric ops;
	struct fi_ops_fabric *orig;
	bool direct;
	uint32_t api;
};

/* keys: see personality_ep.c */
#define P_KEY_SHIFT 12
static inline uint64_t real_key(uint64_t shown) { return shown >> P_KEY_SHIFT; }
static inline uint64_t real_addr(uint64_t addr, uint64_t shown) { return addr - shown; }

extern pthread_mutex_t lock;
extern struct fi_info *tmpl;
extern struct domain_wrap *open_domains;   /* every open efa domain of this process */

long env_long(const char *name, long dflt);
const char *env_str(const char *name, const char *dflt);
bool p2p_ok(void);
bool cuda_ok(void);
size_t mtu(void);
void sleep_ms(long ms);
void *real_symbol(const char *name);
void *wrap_alloc(size_t size);
void show_key(struct fid_mr *mr, uint64_t base);
void wrap_ep(struct fid_ep *ep, bool direct, bool hmem);
int w_cq_open(struct fid_domain *domain, struct fi_cq_attr *attr, struct fid_cq **cq, void *context);
int w_av_open(struct fid_domain *domain, struct fi_av_attr *attr, struct fid_av **av, void *context);

#endif
