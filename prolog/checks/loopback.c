/*
 * loopback.c -- the libfabric loopback test for one domain (see loopback.h).
 *
 * Two RDM endpoints in this process, a "server" and a "client", on one domain. Each has its
 * own AV (FI_AV_TABLE), TX and RX CQ and registered buffer, and inserts the other's fi_getname
 * address, exactly as two fabtests processes would. We chose two endpoints over one endpoint
 * addressing itself because (a) self-addressing takes special paths in some providers (rxm's
 * self connection, efa's self-AH), which would test less of what a real job uses, (b) the
 * target of an RMA is then a different endpoint's MR with its own key, so a key or
 * addressing bug (FI_MR_PROV_KEY, FI_MR_VIRT_ADDR) fails here rather than passing by accident,
 * and (c) for efa, with FI_EFA_ENABLE_SHM_TRANSFER=0, both endpoints' traffic crosses the NIC.
 * Everything runs in one thread: every wait polls all four CQs so both sides make progress
 * (FI_PROGRESS_MANUAL providers), the way fabtests counts tx/rx completions.
 *
 * Each side's buffer holds four regions of max_bytes: SEND (source), RECV (message target),
 * RMA (remote write target, remote read source) and READ (read-back target).
 */
#include "checks/loopback.h"
#include "checks/check.h"
#include "core/config.h"
#include "core/supervise.h"

#include <pthread.h>
#include <sys/mman.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "checks/devices.h"
#include "fabric/fabric.h"
#include "core/report.h"
#include "core/strutil.h"

#define LB_MIN_SIZE        64
#define LB_BW_SIZE         (1L << 20)
#define LB_WINDOW          64          /* outstanding RMA writes, as fabtests' bw tests */
#define LB_WARMUP          10
#define LB_COMP_TIMEOUT_MS 5000        /* cap on every single completion wait */
#define LB_CQ_BATCH        16
#define LB_ADDR_MAX        256

enum lb_region { R_SEND, R_RECV, R_RMA, R_READ, R_COUNT };
enum lb_role { SERVER, CLIENT };

struct lb_side {
	struct fid_ep *ep;
	struct fid_av *av;
	struct fid_cq *txcq, *rxcq;
	struct fid_mr *mr;
	void *desc;                 /* fi_mr_desc when FI_MR_LOCAL, else NULL */
	uint64_t key;               /* fi_mr_key of this side's buffer, used by the peer */
	char *buf;
	fi_addr_t peer;             /* the other side in this side's AV */
	uint64_t tx_posted, tx_done, rx_posted, rx_done;
	struct fi_context2 txctx[LB_WINDOW], rxctx[LB_WINDOW];
};

struct lb {
	const struct loopback_opts *o;
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct lb_side side[2];
	size_t region;              /* bytes per buffer region */
	size_t max_size;            /* largest verified message */
	size_t msg_max;             /* largest send/recv: the fabric's MSG limit (fabric.h) */
	char msg_why[48];           /* where msg_max comes from */
	char *pattern;              /* the test pattern, max_size + LB_PATTERN_PERIOD bytes */
	size_t bw_size;
	size_t window;
	char err[CHECK_REASON_MAX];     /* "<call>: <error>", reason without the domain */
	char err_detail[CHECK_DETAIL_MAX];
};

__attribute__((format(printf, 2, 3)))
static int lb_fail(struct lb *lb, const char *fmt, ...)
{
	va_list ap;

	if (lb->err[0])         /* keep the first, most specific error */
		return -1;
	va_start(ap, fmt);
	vsnprintf(lb->err, sizeof(lb->err), fmt, ap);
	va_end(ap);
	return -1;
}

static int lb_fail_call(struct lb *lb, const char *call, long ret)
{
	return lb_fail(lb, "%s: %s", call, fi_strerror((int)(ret < 0 ? -ret : ret)));
}

/* ---- buffers and patterns -------------------------------------------------------- */

static char *region(const struct lb *lb, const struct lb_side *s, enum lb_region r)
{
	return s->buf + (size_t)r * lb->region;
}

/* The address the peer uses for region r of side s: a virtual address with FI_MR_VIRT_ADDR,
 * an offset into the MR otherwise. */
static uint64_t remote_addr(const struct lb *lb, const struct lb_side *s, enum lb_region r)
{
	uint64_t base = (lb->info->domain_attr->mr_mode & FI_MR_VIRT_ADDR) ? (uintptr_t)s->buf : 0;

	return base + (uint64_t)r * lb->region;
}

/* The test pattern of seed s at byte i is ((i + 31 s) mod 251) + 1: a period (251, prime) that
 * no power-of-two message size divides, so a misplaced or repeated chunk never matches, and
 * never 0 (what the target is cleared to). lb->pattern holds it once for offset 0 and
 * max_size + LB_PATTERN_PERIOD bytes: filling and checking a message is a memcpy/memcmp
 * from offset 31 s mod 251 rather than a computation per byte (each of the three operations
 * fills and checks 2 MiB over the size ladder). */
#define LB_PATTERN_PERIOD 251u

static int build_pattern(struct lb *lb)
{
	size_t len = lb->max_size + LB_PATTERN_PERIOD;

	lb->pattern = malloc(len);
	if (!lb->pattern)
		return lb_fail(lb, "out of memory for the %zu B test pattern", len);
	for (size_t i = 0; i < len; i++)
		lb->pattern[i] = (char)(i % LB_PATTERN_PERIOD + 1u);
	return 0;
}

static const char *pattern_at(const struct lb *lb, unsigned seed)
{
	return lb->pattern + (seed * 31u) % LB_PATTERN_PERIOD;
}

static void fill_pattern(const struct lb *lb, char *p, size_t len, unsigned seed)
{
	memcpy(p, pattern_at(lb, seed), len);
}

static bool pattern_ok(const struct lb *lb, const char *p, size_t len, unsigned seed)
{
	return memcmp(p, pattern_at(lb, seed), len) == 0;
}

/* ---- completions and progress (fabtests' ft_get_cq_comp, bounded) ----------------- */

static int cq_report_error(struct lb *lb, struct fid_cq *cq, const char *what)
{
	struct fi_cq_err_entry e = { 0 };
	char prov[128] = "";
	ssize_t ret = fi_cq_readerr(cq, &e, 0);

	if (ret < 0)
		return lb_fail_call(lb, "fi_cq_readerr", ret);
	fi_cq_strerror(cq, e.prov_errno, e.err_data, prov, sizeof(prov));
	if (!lb->err[0])
		snprintf(lb->err_detail, sizeof(lb->err_detail), "%s completion error: %s (%s)", what,
			 fi_strerror(e.err), prov);
	return lb_fail(lb, "%s completion error: %s", what, fi_strerror(e.err));
}

static int cq_poll(struct lb *lb, struct fid_cq *cq, uint64_t *done, const char *what)
{
	struct fi_cq_entry comp[LB_CQ_BATCH];
	ssize_t ret = fi_cq_read(cq, comp, LB_CQ_BATCH);

	if (ret > 0) {
		*done += (uint64_t)ret;
		return 0;
	}
	if (ret == -FI_EAGAIN)
		return 0;
	if (ret == -FI_EAVAIL)
		return cq_report_error(lb, cq, what);
	return lb_fail_call(lb, "fi_cq_read", ret);
}

/* Poll every CQ once: both endpoints make progress whatever we are waiting for. */
static int progress(struct lb *lb, const char *what)
{
	for (int i = 0; i < 2; i++) {
		struct lb_side *s = &lb->side[i];

		if (cq_poll(lb, s->txcq, &s->tx_done, what) || cq_poll(lb, s->rxcq, &s->rx_done, what))
			return -1;
	}
	return 0;
}

static int wait_count(struct lb *lb, const uint64_t *done, uint64_t target, const char *what)
{
	int64_t deadline = now_ms() + LB_COMP_TIMEOUT_MS;

	while (*done < target) {
		if (progress(lb, what))
			return -1;
		if (*done < target && now_ms() > deadline)
			return lb_fail(lb, "timeout waiting for completion of %s", what);
	}
	return 0;
}

static int wait_tx(struct lb *lb, struct lb_side *s, const char *what)
{
	return wait_count(lb, &s->tx_done, s->tx_posted, what);
}

static int wait_rx(struct lb *lb, struct lb_side *s, const char *what)
{
	return wait_count(lb, &s->rx_done, s->rx_posted, what);
}

/* fabtests' FT_POST: retry -FI_EAGAIN while driving progress, bounded. */
#define LB_POST(lb, what, call_name, call)                                                    \
	do {                                                                                  \
		int64_t dl_ = now_ms() + LB_COMP_TIMEOUT_MS;                                  \
		ssize_t r_;                                                                   \
		while ((r_ = (call)) == -FI_EAGAIN) {                                         \
			if (progress(lb, what))                                               \
				return -1;                                                    \
			if (now_ms() > dl_)                                                   \
				return lb_fail(lb, "timeout posting %s", what);               \
		}                                                                             \
		if (r_)                                                                       \
			return lb_fail_call(lb, call_name, r_);                               \
	} while (0)

static void *next_ctx(struct fi_context2 *ring, uint64_t n)
{
	return &ring[n % LB_WINDOW];
}

static int post_recv(struct lb *lb, struct lb_side *s, size_t len)
{
	LB_POST(lb, "send/recv", "fi_recv",
		fi_recv(s->ep, region(lb, s, R_RECV), len, s->desc, FI_ADDR_UNSPEC,
			next_ctx(s->rxctx, s->rx_posted)));
	s->rx_posted++;
	return 0;
}

static int post_send(struct lb *lb, struct lb_side *s, size_t len)
{
	LB_POST(lb, "send/recv", "fi_send",
		fi_send(s->ep, region(lb, s, R_SEND), len, s->desc, s->peer,
			next_ctx(s->txctx, s->tx_posted)));
	s->tx_posted++;
	return 0;
}

/* RMA write from s's SEND region into the peer's RMA region. Verification writes ask for
 * FI_DELIVERY_COMPLETE: only then is the data guaranteed visible in the target buffer when
 * the completion arrives. Bandwidth writes use the default completion (as fabtests). */
static int post_write(struct lb *lb, struct lb_side *s, const struct lb_side *peer, size_t len,
		      bool delivery_complete)
{
	void *ctx = next_ctx(s->txctx, s->tx_posted);
	void *desc = s->desc;
	struct iovec iov = { .iov_base = region(lb, s, R_SEND), .iov_len = len };
	struct fi_rma_iov rma = { .addr = remote_addr(lb, peer, R_RMA), .len = len, .key = peer->key };
	struct fi_msg_rma msg = { .msg_iov = &iov, .desc = &desc, .iov_count = 1, .addr = s->peer,
				  .rma_iov = &rma, .rma_iov_count = 1, .context = ctx };

	if (delivery_complete)
		LB_POST(lb, "RMA write", "fi_writemsg",
			fi_writemsg(s->ep, &msg, FI_COMPLETION | FI_DELIVERY_COMPLETE));
	else
		LB_POST(lb, "RMA write", "fi_write",
			fi_write(s->ep, iov.iov_base, len, desc, s->peer, rma.addr, rma.key, ctx));
	s->tx_posted++;
	return 0;
}

/* RMA read of the peer's RMA region into s's READ region. */
static int post_read(struct lb *lb, struct lb_side *s, const struct lb_side *peer, size_t len)
{
	LB_POST(lb, "RMA read", "fi_read",
		fi_read(s->ep, region(lb, s, R_READ), len, s->desc, s->peer,
			remote_addr(lb, peer, R_RMA), peer->key, next_ctx(s->txctx, s->tx_posted)));
	s->tx_posted++;
	return 0;
}

/* ---- setup (ft_getinfo, ft_open_fabric_res, ft_alloc_ep_res, ft_enable_ep) -------- */

/* The first entry of the domain. Some providers (1.17 tcp, shm) ignore the domain name in
 * the hints, so the list is filtered here rather than trusting its first entry. */
static struct fi_info *pick_domain(const struct fi_info *list, const char *domain)
{
	for (const struct fi_info *cur = list; cur; cur = cur->next)
		if (cur->domain_attr->name && !strcmp(cur->domain_attr->name, domain))
			return fi_dupinfo(cur);
	return NULL;
}

/* The test never has more than a window of operations outstanding: ask for queues of twice
 * that, not the provider's default (rxm: 1024 entries of preposted, touched buffers per
 * endpoint; efa: bounce buffers). Smaller queues make fi_enable measurably cheaper. */
static void limit_queue_sizes(struct fi_info *info)
{
	const size_t want = 2 * LB_WINDOW;

	if (info->tx_attr && (info->tx_attr->size == 0 || info->tx_attr->size > want))
		info->tx_attr->size = want;
	if (info->rx_attr && (info->rx_attr->size == 0 || info->rx_attr->size > want))
		info->rx_attr->size = want;
}

static int lb_getinfo(struct lb *lb)
{
	struct fi_info *hints = fabric_rdm_hints(lb->o->provider, lb->o->domain);
	struct fi_info *list = NULL;
	int ret;

	if (!hints)
		return lb_fail(lb, "out of memory");
	ret = fi_getinfo(fabric_api_version(), NULL, NULL, 0, hints, &list);
	fi_freeinfo(hints);
	if (ret && ret != -FI_ENODATA)
		return lb_fail_call(lb, "fi_getinfo", ret);
	lb->info = ret ? NULL : pick_domain(list, lb->o->domain);
	fi_freeinfo(list);
	if (!lb->info)
		return lb_fail(lb, "fi_getinfo: domain not found");
	limit_queue_sizes(lb->info);
	return 0;
}

static int open_fabric_res(struct lb *lb)
{
	int ret = fi_fabric(lb->info->fabric_attr, &lb->fabric, NULL);

	if (ret)
		return lb_fail_call(lb, "fi_fabric", ret);
	ret = fi_domain(lb->fabric, lb->info, &lb->domain, NULL);
	if (ret)
		return lb_fail_call(lb, "fi_domain", ret);
	return 0;
}

static int open_cq(struct lb *lb, struct fid_cq **cq)
{
	struct fi_cq_attr attr = { .format = FI_CQ_FORMAT_CONTEXT, .wait_obj = FI_WAIT_NONE,
				   .size = LB_WINDOW * 2 };
	int ret = fi_cq_open(lb->domain, &attr, cq, NULL);

	return ret ? lb_fail_call(lb, "fi_cq_open", ret) : 0;
}

static int alloc_ep_res(struct lb *lb, struct lb_side *s)
{
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE, .count = 2 };
	int ret;

	if (open_cq(lb, &s->txcq) || open_cq(lb, &s->rxcq))
		return -1;
	ret = fi_av_open(lb->domain, &av_attr, &s->av, NULL);
	if (ret)
		return lb_fail_call(lb, "fi_av_open", ret);
	ret = fi_endpoint(lb->domain, lb->info, &s->ep, NULL);
	if (ret)
		return lb_fail_call(lb, "fi_endpoint", ret);
	return 0;
}

static int enable_ep(struct lb *lb, struct lb_side *s)
{
	int ret = fi_ep_bind(s->ep, &s->av->fid, 0);

	if (!ret)
		ret = fi_ep_bind(s->ep, &s->txcq->fid, FI_TRANSMIT);
	if (!ret)
		ret = fi_ep_bind(s->ep, &s->rxcq->fid, FI_RECV);
	if (ret)
		return lb_fail_call(lb, "fi_ep_bind", ret);
	ret = fi_enable(s->ep);
	return ret ? lb_fail_call(lb, "fi_enable", ret) : 0;
}

/* Register the side's buffer honouring mr_mode: FI_MR_PROV_KEY (key from fi_mr_key, our
 * requested key otherwise), FI_MR_LOCAL (pass fi_mr_desc), FI_MR_ENDPOINT (bind + enable). */
static int register_buffer(struct lb *lb, struct lb_side *s, uint64_t requested_key)
{
	uint64_t mr_mode = lb->info->domain_attr->mr_mode;
	uint64_t access = FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
	int ret = fi_mr_reg(lb->domain, s->buf, lb->region * R_COUNT, access, 0, requested_key, 0,
			    &s->mr, NULL);

	if (ret)
		return lb_fail_call(lb, "fi_mr_reg", ret);
	if (mr_mode & FI_MR_ENDPOINT) {
		ret = fi_mr_bind(s->mr, &s->ep->fid, 0);
		if (!ret)
			ret = fi_mr_enable(s->mr);
		if (ret)
			return lb_fail_call(lb, "fi_mr_bind", ret);
	}
	s->desc = (mr_mode & FI_MR_LOCAL) ? fi_mr_desc(s->mr) : NULL;
	s->key = fi_mr_key(s->mr);
	if (s->key == FI_KEY_NOTAVAIL)
		return lb_fail(lb, "fi_mr_key: key not available");
	return 0;
}

/* The buffers are aligned to, and asked for as, transparent huge pages where they span
 * one: first touching 4 MiB in 4 KiB pages cost 13 ms per side on the build machine (a VM),
 * in 2 MiB pages under 2 ms. Registration is unaffected (the efa provider and verbs register
 * any user memory; fi_efa.7's FI_EFA_USE_HUGE_PAGE is about the provider's own bounce
 * buffers). madvise failing (THP "never") only leaves small pages. */
#define LB_HUGE_PAGE (2UL << 20)

static int alloc_buffer(struct lb *lb, struct lb_side *s)
{
	size_t len = lb->region * R_COUNT;
	size_t align = len >= LB_HUGE_PAGE ? LB_HUGE_PAGE : (size_t)sysconf(_SC_PAGESIZE);

	if (posix_memalign((void **)&s->buf, align, len))
		return lb_fail(lb, "out of memory for %zu B buffers", len);
	if (align == LB_HUGE_PAGE)
		(void)madvise(s->buf, len & ~(LB_HUGE_PAGE - 1), MADV_HUGEPAGE);
	memset(s->buf, 0, len);
	return 0;
}

/* fi_getname of one side, fi_av_insert into the other (ft_init_av without the OOB step). */
static int insert_peer(struct lb *lb, struct lb_side *from, struct lb_side *into)
{
	char addr[LB_ADDR_MAX];
	size_t len = sizeof(addr);
	int ret = fi_getname(&from->ep->fid, addr, &len);

	if (ret)
		return lb_fail_call(lb, "fi_getname", ret);
	ret = fi_av_insert(into->av, addr, 1, &into->peer, 0, NULL);
	if (ret != 1)
		return ret < 0 ? lb_fail_call(lb, "fi_av_insert", ret) :
				 lb_fail(lb, "fi_av_insert: address not inserted");
	return 0;
}

static void size_limits(struct lb *lb)
{
	size_t max = lb->o->max_bytes > 0 ? (size_t)lb->o->max_bytes : (size_t)LB_BW_SIZE;
	size_t ep_max = lb->info->ep_attr->max_msg_size;
	size_t tx_size = lb->info->tx_attr->size;

	if (ep_max && max > ep_max)
		max = ep_max;
	if (max < LB_MIN_SIZE)
		max = LB_MIN_SIZE;
	lb->max_size = max;
	lb->region = (max + 4095) & ~(size_t)4095;
	lb->bw_size = max < (size_t)LB_BW_SIZE ? max : (size_t)LB_BW_SIZE;
	lb->window = tx_size && tx_size < LB_WINDOW ? tx_size : LB_WINDOW;
}

/* Runs under fabric_open_lock: one thread at a time opens (and closes) fabric resources. */
static int lb_setup_locked(struct lb *lb)
{
	if (lb_getinfo(lb) || open_fabric_res(lb))
		return -1;
	size_limits(lb);
	for (int i = 0; i < 2; i++) {
		struct lb_side *s = &lb->side[i];

		if (alloc_ep_res(lb, s) || enable_ep(lb, s) || alloc_buffer(lb, s) ||
		    register_buffer(lb, s, (uint64_t)i + 1))
			return -1;
	}
	if (insert_peer(lb, &lb->side[SERVER], &lb->side[CLIENT]) ||
	    insert_peer(lb, &lb->side[CLIENT], &lb->side[SERVER]))
		return -1;
	/* Never send more than the fabric under test accepts in one MSG (efa-direct: the MTU). */
	lb->msg_max = fabric_msg_limit(lb->side[CLIENT].ep, lb->info, lb->msg_why,
				       sizeof(lb->msg_why));
	return 0;
}

static int lb_setup(struct lb *lb)
{
	int ret;

	fabric_open_lock();
	ret = lb_setup_locked(lb);
	fabric_open_unlock();
	return ret;
}

static void close_fid(struct fid *f)
{
	if (f)
		fi_close(f);
}

static void lb_teardown(struct lb *lb)
{
	fabric_open_lock();
	for (int i = 0; i < 2; i++)
		close_fid(lb->side[i].ep ? &lb->side[i].ep->fid : NULL);
	for (int i = 0; i < 2; i++) {
		struct lb_side *s = &lb->side[i];

		close_fid(s->mr ? &s->mr->fid : NULL);
		close_fid(s->av ? &s->av->fid : NULL);
		close_fid(s->txcq ? &s->txcq->fid : NULL);
		close_fid(s->rxcq ? &s->rxcq->fid : NULL);
	}
	close_fid(lb->domain ? &lb->domain->fid : NULL);
	close_fid(lb->fabric ? &lb->fabric->fid : NULL);
	fabric_open_unlock();
	for (int i = 0; i < 2; i++)
		free(lb->side[i].buf);
	free(lb->pattern);
	fi_freeinfo(lb->info);
}

/* ---- the steps ------------------------------------------------------------------- */

static int verify_send_recv(struct lb *lb, size_t size, unsigned seed)
{
	struct lb_side *srv = &lb->side[SERVER], *cli = &lb->side[CLIENT];

	fill_pattern(lb, region(lb, cli, R_SEND), size, seed);
	memset(region(lb, srv, R_RECV), 0, size);
	if (post_recv(lb, srv, size) || post_send(lb, cli, size) ||
	    wait_tx(lb, cli, "send/recv") || wait_rx(lb, srv, "send/recv"))
		return -1;
	if (!pattern_ok(lb, region(lb, srv, R_RECV), size, seed))
		return lb_fail(lb, "send/recv data mismatch at %zu B", size);
	return 0;
}

static int verify_write_read(struct lb *lb, size_t size, unsigned seed)
{
	struct lb_side *srv = &lb->side[SERVER], *cli = &lb->side[CLIENT];

	fill_pattern(lb, region(lb, cli, R_SEND), size, seed);
	memset(region(lb, srv, R_RMA), 0, size);
	if (post_write(lb, cli, srv, size, true) || wait_tx(lb, cli, "RMA write"))
		return -1;
	if (!pattern_ok(lb, region(lb, srv, R_RMA), size, seed))
		return lb_fail(lb, "RMA write data mismatch at %zu B", size);
	memset(region(lb, cli, R_READ), 0, size);
	if (post_read(lb, cli, srv, size) || wait_tx(lb, cli, "RMA read"))
		return -1;
	if (!pattern_ok(lb, region(lb, cli, R_READ), size, seed))
		return lb_fail(lb, "RMA read data mismatch at %zu B", size);
	return 0;
}

static int verify_all_sizes(struct lb *lb)
{
	unsigned seed = 1;

	for (size_t size = LB_MIN_SIZE; size <= lb->max_size && size <= lb->msg_max; size *= 2)
		if (verify_send_recv(lb, size, seed++))
			return -1;
	for (size_t size = LB_MIN_SIZE; size <= lb->max_size; size *= 2)
		if (verify_write_read(lb, size, seed++))
			return -1;
	return 0;
}

/* One 64 B ping-pong: client -> server -> client. */
static int round_trip(struct lb *lb)
{
	struct lb_side *srv = &lb->side[SERVER], *cli = &lb->side[CLIENT];

	if (post_recv(lb, srv, LB_MIN_SIZE) || post_recv(lb, cli, LB_MIN_SIZE) ||
	    post_send(lb, cli, LB_MIN_SIZE) || wait_rx(lb, srv, "send/recv") ||
	    post_send(lb, srv, LB_MIN_SIZE) || wait_rx(lb, cli, "send/recv") ||
	    wait_tx(lb, cli, "send/recv") || wait_tx(lb, srv, "send/recv"))
		return -1;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double now_us_precise(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int measure_latency(struct lb *lb, int iterations, double *median_us)
{
	double *rtt = calloc((size_t)iterations, sizeof(*rtt));

	if (!rtt)
		return lb_fail(lb, "out of memory");
	for (int i = 0; i < LB_WARMUP; i++)
		if (round_trip(lb))
			goto fail;
	for (int i = 0; i < iterations; i++) {
		double t0 = now_us_precise();

		if (round_trip(lb))
			goto fail;
		rtt[i] = now_us_precise() - t0;
	}
	qsort(rtt, (size_t)iterations, sizeof(*rtt), cmp_double);
	*median_us = iterations % 2 ? rtt[iterations / 2] :
				      (rtt[iterations / 2 - 1] + rtt[iterations / 2]) / 2;
	free(rtt);
	return 0;
fail:
	free(rtt);
	return -1;
}

/* Bandwidth at steady state: a sliding window of RMA writes (a new write as soon as one
 * completes, never draining the window as fabtests' bw loop does between windows), timed
 * from the completion of the first quarter of the writes (at most a window) to the last one,
 * so the pipeline's fill and the first writes' ramp-up are not part of the rate. The number
 * of writes is LoopbackIterations, as before: no more time than a drained-window loop. */
static int measure_write_bw(struct lb *lb, int iterations, double *gbps)
{
	struct lb_side *srv = &lb->side[SERVER], *cli = &lb->side[CLIENT];
	uint64_t base = cli->tx_done, warm = (uint64_t)iterations / 4, done0 = base;
	int64_t start = now_us(), t0 = start, elapsed;
	bool timing = warm == 0;

	if (warm > lb->window)
		warm = lb->window;
	for (int i = 0; i < iterations; i++) {
		if ((size_t)(cli->tx_posted - cli->tx_done) >= lb->window &&
		    wait_count(lb, &cli->tx_done, cli->tx_done + 1, "RMA write"))
			return -1;
		if (!timing && cli->tx_done - base >= warm) {
			timing = true;
			t0 = now_us();
			done0 = cli->tx_done;
		}
		if (post_write(lb, cli, srv, lb->bw_size, false))
			return -1;
	}
	if (wait_tx(lb, cli, "RMA write"))
		return -1;
	if (!timing || cli->tx_done <= done0) {   /* too few writes to leave the ramp out */
		t0 = start;
		done0 = base;
	}
	elapsed = now_us() - t0;
	*gbps = (double)lb->bw_size * (double)(cli->tx_done - done0) * 8.0 /
		(double)(elapsed > 0 ? elapsed : 1) / 1e3;
	return 0;
}

/* No hardware counters here: they are device-wide (efa_verbs.c efa_fill_port_stats, scope
 * ALL), so "a counter grew during the loopback" fails on other processes' traffic. Their rates
 * are the counters check (counters.c). */

/* ---- the check ------------------------------------------------------------------- */

static void size_name(size_t n, char *buf, size_t len)
{
	if (n >= (1u << 20) && n % (1u << 20) == 0)
		snprintf(buf, len, "%zu MiB", n >> 20);
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(buf, len, "%zu KiB", n >> 10);
	else
		snprintf(buf, len, "%zu B", n);
}

/* The largest send/recv size verified: the last power of two <= both limits. */
static size_t msg_verified(const struct lb *lb)
{
	size_t last = LB_MIN_SIZE;

	for (size_t size = LB_MIN_SIZE; size <= lb->max_size && size <= lb->msg_max; size *= 2)
		last = size;
	return last;
}

static void describe_pass(const struct lb *lb, double gbps, double lat_us, int iterations,
			  struct check_result *c)
{
	const struct fi_fabric_attr *fa = lb->info->fabric_attr;
	char maxs[32], bws[32], msgs[32];

	size_name(lb->max_size, maxs, sizeof(maxs));
	size_name(lb->bw_size, bws, sizeof(bws));
	size_name(msg_verified(lb), msgs, sizeof(msgs));
	if (lb->msg_max >= lb->max_size)
		check_detail(c, "send/recv and RMA write/read verified 64 B..%s", maxs);
	else
		check_detail(c, "send/recv verified 64 B..%s (MSG limit %zu B, %s), RMA write/read "
			     "64 B..%s", msgs, lb->msg_max, lb->msg_why, maxs);
	str_appendf(c->detail, sizeof(c->detail), "; RMA write %.1f Gb/s (%s x %d, window %zu), "
		    "64 B round trip %.1f us (%s, fabric %s)", gbps, bws, iterations, lb->window,
		    lat_us, fa->prov_name, fa->name ? fa->name : "-");
}

static int run_steps(struct lb *lb, struct check_result *c)
{
	int iterations = lb->o->iterations > 0 ? lb->o->iterations : 100;
	const char *note = lb->o->floor_note ? lb->o->floor_note : "";
	double gbps = 0, lat_us = 0;

	if (lb_setup(lb) || build_pattern(lb) || verify_all_sizes(lb) ||
	    measure_latency(lb, iterations, &lat_us) || measure_write_bw(lb, iterations, &gbps))
		return -1;
	check_metric(c, "write_gbps", gbps);
	check_metric(c, "latency_us", lat_us);
	describe_pass(lb, gbps, lat_us, iterations, c);
	if (lb->o->min_gbps > 0 && lb->o->unjudged) {
		/* other jobs share the device: its bandwidth is theirs too (issue 15 point 3) */
		str_appendf(c->detail, sizeof(c->detail), "; MinLoopbackGbps %g%s%s%s not judged: %s",
			    lb->o->min_gbps, note[0] ? " (" : "", note, note[0] ? ")" : "",
			    lb->o->unjudged);
		return 0;
	}
	if (note[0] && lb->o->min_gbps > 0)
		str_appendf(c->detail, sizeof(c->detail), "; MinLoopbackGbps %g (%s)", lb->o->min_gbps, note);
	else if (note[0])
		str_appendf(c->detail, sizeof(c->detail), "; MinLoopbackGbps %s", note);
	if (lb->o->min_gbps > 0 && gbps < lb->o->min_gbps)
		return lb_fail(lb, "RMA write %.1f Gb/s < MinLoopbackGbps %g%s%s%s", gbps,
			       lb->o->min_gbps, note[0] ? " (" : "", note, note[0] ? ")" : "");
	return 0;
}

/* reason "<domain>: <call>: <error>"; the detail keeps what was measured before it. */
static void fail_check(const struct lb *lb, struct check_result *c)
{
	const char *why = lb->err_detail[0] ? lb->err_detail : lb->err;

	if (c->detail[0])
		str_appendf(c->detail, sizeof(c->detail), "; %s", why);
	else
		check_detail(c, "%s: %s", lb->o->domain, why);
	check_fail(c, "%s: %s", lb->o->domain, lb->err);
}

int loopback_run(const struct loopback_opts *o, struct check_result *c)
{
	struct lb *lb = calloc(1, sizeof(*lb));
	int64_t t0 = now_ms();
	int ret;

	check_init(c, "loopback", o->domain);
	if (!lb) {
		check_fail(c, "%s: out of memory", o->domain);
		return -1;
	}
	lb->o = o;
	ret = run_steps(lb, c);
	lb_teardown(lb);
	if (ret)
		fail_check(lb, c);
	free(lb);
	c->duration_ms = now_ms() - t0;
	return ret ? -1 : 0;
}
