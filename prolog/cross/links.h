/*
 * links.h -- the cross-node link engine: one RDM endpoint per domain, and the rounds of link
 * tests between this rank and its schedule peers (cross/schedule.h).
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
 *
 * The caller (cross.c) fills the identity fields of a struct xdom (name, me, nranks, rounds,
 * cfg, nodes, nslots, peer[].rank), opens it with xdom_open, publishes xdom_addr/key/base and
 * target_off/tsize through the exchange, fills each usable peer's fiaddr/raddr/rkey, then runs
 * xdom_links_thread (one thread per domain) and reads each peer's view (ok, gbps, lat_us,
 * detail).
 */
#ifndef EFA_CHECK_CROSS_LINKS_H
#define EFA_CHECK_CROSS_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

struct efa_config;

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

/* Open the endpoint of d->name (d->err says why not). ndom: domains of this run (buffer budget). */
int xdom_open(struct xdom *d, const char *provider, size_t ndom);
void xdom_close(struct xdom *d);
/* Remote address of the base of our MR as a peer computes it (FI_MR_VIRT_ADDR or offsets). */
uint64_t xdom_base(const struct xdom *d);
/* Thread body: every round of d's schedule, until d->links_end_ms. */
void *xdom_links_thread(void *arg);

#endif
