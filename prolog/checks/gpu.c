/*
 * gpu.c -- the GPU check (see gpu.h).
 *
 * libcudart is loaded with dlopen and only the entry points of gpu_cudart.h are resolved, so
 * efa-check builds without CUDA and runs on nodes without GPUs. The GPUDirect RDMA path is
 * tested the way NCCL's OFI plugin uses it: a cudaMalloc'ed buffer registered with
 * fi_mr_regattr(iface FI_HMEM_CUDA) on a domain opened with FI_HMEM -- through dma-buf
 * (FI_MR_DMABUF, gpu_dmabuf.c) where aws-ofi-nccl 1.14+ would register it that way, else by
 * address -- and an RMA write into that registration, read back.
 *
 * Which GPU is registered on which domain: every GPU and every domain is covered once, in
 * pairs (k % ngpus, k % ndomains) for k < max(ngpus, ndomains). Registering every GPU on every
 * domain costs ngpus * ndomains registrations (256 on p5: 32 domains x 8 GPUs, each pinning
 * GPU memory through the kernel) for little extra signal: GPUDirect failures are per node
 * (peermem/dma-buf missing, ACS, IOMMU) or per GPU or per NIC, and each of those shows up in
 * the pairing. GPU 0 only would miss a GPU whose BAR cannot be mapped.
 */
#include "checks/gpu.h"
#include "checks/gpu_cudart.h"
#include "checks/cudart.h"
#include "checks/gpu_dmabuf.h"
#include "checks/check.h"
#include "core/supervise.h"
#include "env/profiles.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "checks/devices.h"

#include "core/config.h"
#include "fabric/fabric.h"
#include "core/report.h"
#include "core/strutil.h"

#define GPU_BUF_BYTES (2UL << 20)     /* one 2 MiB GPU page per GPU */

/* fi_setopt option of libfabric >= 1.18 (include/rdma/fi_endpoint.h v1.18.0+: 10); the
 * value is ABI, the 1.17 headers lack the name. */
#define EFA_FI_OPT_CUDA_API_PERMITTED 10
#define GPU_RMA_BYTES   4096          /* the verified RMA write into GPU memory */
#define GPU_RMA_WAIT_MS 3000


/* ---- GPU buffers -------------------------------------------------------------- */

struct gpu_bufs {
	const struct cudart *rt;
	void *ptr[GPU_MAX];
	int n;
};

static void gpu_bufs_free(struct gpu_bufs *b)
{
	for (int g = 0; g < b->n; g++) {
		if (!b->ptr[g])
			continue;
		b->rt->cudaSetDevice(g);
		b->rt->cudaFree(b->ptr[g]);
		b->ptr[g] = NULL;
	}
	b->n = 0;
}

/* Allocate GPU_BUF_BYTES on each of n GPUs. On failure c fails naming the GPU and call. */
static int gpu_bufs_alloc(struct gpu_bufs *b, int n, struct check_result *c)
{
	const struct cudart *rt = b->rt;
	int e;

	for (b->n = 0; b->n < n; b->n++) {
		int g = b->n;

		b->ptr[g] = NULL;
		if ((e = rt->cudaSetDevice(g)) != EFA_CUDA_SUCCESS) {
			check_fail(c, "GPU %d: cudaSetDevice: %s", g, cuda_strerror(rt, e));
			goto fail;
		}
		if ((e = rt->cudaMalloc(&b->ptr[g], GPU_BUF_BYTES)) != EFA_CUDA_SUCCESS || !b->ptr[g]) {
			b->ptr[g] = NULL;
			check_fail(c, "GPU %d: cudaMalloc: %s", g,
				   e ? cuda_strerror(rt, e) : "returned NULL");
			goto fail;
		}
	}
	return 0;
fail:
	gpu_bufs_free(b);
	return -1;
}

/* ---- libfabric: FI_HMEM domains and registration ----------------------------- */

static bool provider_is_efa(const char *provider)
{
	return provider && !strcmp(provider, "efa");
}

static const struct fi_info *find_domain(const struct fi_info *list, const char *domain, bool hmem)
{
	for (const struct fi_info *i = list; i; i = i->next)
		if (i->domain_attr && i->domain_attr->name && !strcmp(i->domain_attr->name, domain) &&
		    (!hmem || (i->caps & FI_HMEM)))
			return i;
	return NULL;
}

/* fi_getinfo for every domain of provider, with FI_HMEM when hmem. Returns 0 with *list set
 * (NULL when nothing matches), or -1 on another error (err filled). One call for all domains:
 * fi_getinfo walks every provider, which is slow with 32 EFA devices. */
static int provider_getinfo(const char *provider, bool hmem, struct fi_info **list,
			    char *err, size_t errlen)
{
	struct fi_info *hints = fabric_rdm_hints(provider, NULL);
	int ret;

	*list = NULL;
	if (!hints) {
		str_printf(err, errlen, "%s: fi_getinfo: out of memory", provider);
		return -1;
	}
	if (hmem) {
		hints->caps |= FI_HMEM;
		hints->domain_attr->mr_mode |= FI_MR_HMEM;
	}
	ret = fi_getinfo(gpu_api_version(), NULL, NULL, 0, hints, list);
	fi_freeinfo(hints);
	if (ret == -FI_ENODATA) {
		*list = NULL;
		return 0;
	}
	if (ret) {
		*list = NULL;
		str_printf(err, errlen, "%s: fi_getinfo with FI_HMEM: %s", provider, fi_strerror(-ret));
		return -1;
	}
	return 0;
}

/* True when a registration error means "this libfabric cannot register CUDA memory at all"
 * (built without CUDA, hmem iface not initialised) rather than a broken GPUDirect path. */
static bool hmem_unsupported(int ret)
{
	return ret == -FI_ENOSYS || ret == -FI_EOPNOTSUPP;
}

struct hmem_run {
	const struct gpu_opts *o;
	struct gpu_bufs *bufs;
	struct fi_info *hmem;         /* fi_getinfo with FI_HMEM, every domain */
	struct fi_info *plain;        /* without FI_HMEM, only when a domain lacks it */
	bool plain_done;
	size_t ndom;                  /* domains offering FI_HMEM */
	int registered_domains;
	int gdr_verified;             /* domains with a verified RMA write into GPU memory */
	struct gpu_dmabuf dmabuf;     /* registration through dma-buf (aws-ofi-nccl 1.14+) */
	bool dmabuf_domain;           /* the domain being registered used dma-buf */
	bool p2p_noted;
	char note[CHECK_DETAIL_MAX];  /* non-fatal findings for the detail */
};

#define GPU_MR_ACCESS (FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE)

/* Register GPU gpu's buffer on an open domain the way aws-ofi-nccl would: through dma-buf
 * where it would use dma-buf (gpu_dmabuf.h), else by address (FI_HMEM_CUDA). Returns 0 with
 * *mr set, -1 when the dma-buf path failed (err says which call: the plugin has no fallback,
 * so NCCL fails too), or -fi_errno of the registration by address. */
static int gpu_mr_reg(struct hmem_run *h, struct fid_domain *dom, const struct fi_info *info,
		      int gpu, uint64_t key, bool *dmabuf, struct fid_mr **mr, char *err,
		      size_t errlen)
{
	struct gpu_dmabuf *d = &h->dmabuf;
	void *buf = h->bufs->ptr[gpu];
	struct iovec iov = { .iov_base = buf, .iov_len = GPU_BUF_BYTES };
	struct gpu_mr_attr ma = { .a = { .mr_iov = &iov, .iov_count = 1, .access = GPU_MR_ACCESS,
					 .iface = FI_HMEM_CUDA } };

	*mr = NULL;
	if (!(info->domain_attr->mr_mode & FI_MR_PROV_KEY))
		ma.a.requested_key = key;
	*dmabuf = gpu < GPU_MAX && d->usable[gpu];
	if (*dmabuf && h->bufs->rt->cudaSetDevice(gpu) != EFA_CUDA_SUCCESS) {
		str_printf(err, errlen, "cudaSetDevice failed");
		return -1;
	}
	if (*dmabuf)
		return gpu_dmabuf_reg(d, dom, buf, GPU_BUF_BYTES, gpu, GPU_MR_ACCESS,
				      ma.a.requested_key, mr, err, errlen);
	ma.a.device.cuda = gpu;
	return fi_mr_regattr(dom, &ma.a, 0, mr);
}

/* The dma-buf path failed where aws-ofi-nccl would take it. The plugin cannot fall back once
 * it told NCCL it supports dma-buf, so the failure is fatal to NCCL ("If dmabuf registrations
 * fail ... it is fatal", include/nccl_ofi_param.h, OFI_NCCL_DISABLE_DMABUF, v1.14.0-v1.17.0;
 * nccl_ofi_rdma.cpp reg_mr returns fi_mr_regattr's error): a real fault, not a test artefact. */
static void dmabuf_fail(struct check_result *c, const char *domain, int gpu, const char *err)
{
	check_fail(c, "%s: GPU %d: %s", domain, gpu, err);
	str_appendf(c->detail, sizeof(c->detail), " (NCCL registers GPU memory this way through "
		    "aws-ofi-nccl and fails with it; OFI_NCCL_DISABLE_DMABUF=1 in jobs avoids "
		    "dma-buf)");
}

/* Register the GPUs paired with domain di on the open domain. Returns 0 (a non-efa provider
 * that cannot register CUDA memory at all is a note), or -1 with c failed. */
static int hmem_register_pairs(struct hmem_run *h, size_t di, struct fid_domain *dom,
			       const struct fi_info *info, struct check_result *c)
{
	const char *name = info->domain_attr->name;
	size_t ngpus = (size_t)h->bufs->n;
	size_t pairs = h->ndom > ngpus ? h->ndom : ngpus;
	char err[GPU_ERR_MAX];
	struct fid_mr *mr;
	bool dmabuf;
	int ret;

	h->dmabuf_domain = false;
	for (size_t k = di; k < pairs; k += h->ndom) {
		int g = (int)(k % ngpus);

		ret = gpu_mr_reg(h, dom, info, g, k + 1, &dmabuf, &mr, err, sizeof(err));
		if (ret == -1 && dmabuf) {
			dmabuf_fail(c, name, g, err);
			return -1;
		}
		h->dmabuf_domain |= dmabuf;
		if (mr)
			fi_close(&mr->fid);
		if (ret && hmem_unsupported(ret) && !provider_is_efa(h->o->provider)) {
			str_appendf(h->note, sizeof(h->note),
				    "; %s: FI_HMEM offered but CUDA memory registration unsupported "
				    "(%s), GPUDirect RDMA not tested", name, fi_strerror(-ret));
			return 0;
		}
		if (ret) {
			check_fail(c, "%s: GPU %d memory registration failed: %s", name, g,
				   fi_strerror(-ret));
			return -1;
		}
	}
	h->registered_domains++;
	h->dmabuf.domains += h->dmabuf_domain;
	return 0;
}


/* ---- GPUDirect as aws-ofi-nccl needs it ------------------------------------------------ */

/* aws-ofi-nccl (src/nccl_ofi_ofiutils.cpp, nccl_ofi_ofiutils_ep_create) sets
 * FI_OPT_CUDA_API_PERMITTED=false on every endpoint when it uses the 1.18+ API with GPUs; on
 * efa that fails with -FI_EOPNOTSUPP when the device has no p2p path to the GPU
 * (prov/efa/src/rdm/efa_rdm_ep_fiops.c, efa_rdm_ep_set_cuda_api_permitted), and the plugin then
 * runs without GPUDirect or aborts. efa-direct answers 0 (efa_ep.c): it never calls CUDA and is
 * only offered with FI_HMEM when p2p works. A registration proves nothing here: without p2p efa
 * registers GPU memory with a proprietary key instead of ibv_reg_mr (efa_mr.c). */
static int cuda_api_forbid(struct fid_ep *ep)
{
	bool no = false;

	return fi_setopt(&ep->fid, FI_OPT_ENDPOINT, EFA_FI_OPT_CUDA_API_PERMITTED, &no, sizeof(no));
}

struct gdr_ep {
	struct fid_cq *cq;
	struct fid_av *av;
	struct fid_ep *ep;
	struct fid_mr *src_mr;
	char *src;
	fi_addr_t self;
};

static void gdr_ep_close(struct gdr_ep *g)
{
	if (g->ep)
		fi_close(&g->ep->fid);
	if (g->src_mr)
		fi_close(&g->src_mr->fid);
	if (g->av)
		fi_close(&g->av->fid);
	if (g->cq)
		fi_close(&g->cq->fid);
	free(g->src);
	memset(g, 0, sizeof(*g));
}

/* An endpoint on the FI_HMEM domain, bound and enabled, with CUDA calls forbidden before
 * fi_enable (as the plugin does). Returns 0, or -1 with c failed naming the call. */
static int gdr_ep_open(struct fid_domain *dom, const struct fi_info *info, struct gdr_ep *g,
		       bool efa, struct check_result *c)
{
	const char *name = info->domain_attr->name;
	struct fi_cq_attr cq_attr = { .format = FI_CQ_FORMAT_CONTEXT, .wait_obj = FI_WAIT_NONE,
				      .size = 16 };
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE, .count = 1 };
	char addr[256];
	size_t alen = sizeof(addr);
	const char *call;
	int ret;

	if ((ret = fi_cq_open(dom, &cq_attr, &g->cq, NULL))) { call = "fi_cq_open"; goto fail; }
	if ((ret = fi_av_open(dom, &av_attr, &g->av, NULL))) { call = "fi_av_open"; goto fail; }
	if ((ret = fi_endpoint(dom, (struct fi_info *)info, &g->ep, NULL))) {
		call = "fi_endpoint";
		goto fail;
	}
	/* aws-ofi-nccl's order: bind CQ and AV, then the option, then fi_enable */
	if ((ret = fi_ep_bind(g->ep, &g->cq->fid, FI_TRANSMIT | FI_RECV)) ||
	    (ret = fi_ep_bind(g->ep, &g->av->fid, 0))) { call = "fi_ep_bind"; goto fail; }
	ret = cuda_api_forbid(g->ep);
	if (ret && efa) {
		check_fail(c, "%s: GPUDirect RDMA unavailable: FI_OPT_CUDA_API_PERMITTED=false: %s "
			   "(no p2p between GPU and EFA)", name, fi_strerror(-ret));
		return -1;
	}
	if ((ret = fi_enable(g->ep))) { call = "fi_enable"; goto fail; }
	if ((ret = fi_getname(&g->ep->fid, addr, &alen))) { call = "fi_getname"; goto fail; }
	if (fi_av_insert(g->av, addr, 1, &g->self, 0, NULL) != 1) {
		ret = -FI_EINVAL;
		call = "fi_av_insert";
		goto fail;
	}
	return 0;
fail:
	check_fail(c, "%s: GPUDirect endpoint: %s: %s", name, call, fi_strerror(-ret));
	return -1;
}

static int gdr_wait(struct gdr_ep *g, int64_t deadline, char *err, size_t errlen)
{
	struct fi_cq_entry e;

	for (;;) {
		ssize_t n = fi_cq_read(g->cq, &e, 1);

		if (n > 0)
			return 0;
		if (n == -FI_EAVAIL) {
			union gpu_cq_err ee = { 0 };

			fi_cq_readerr(g->cq, &ee.e, 0);
			str_printf(err, errlen, "completion error: %s",
				fi_strerror(ee.e.err ? ee.e.err : FI_EIO));
			return -1;
		}
		if (n != -FI_EAGAIN) {
			str_printf(err, errlen, "fi_cq_read: %s", fi_strerror((int)-n));
			return -1;
		}
		if (now_ms() > deadline) {
			str_printf(err, errlen, "no completion within %d ms", GPU_RMA_WAIT_MS);
			return -1;
		}
	}
}

/* An RMA write of a host pattern into GPU gpu's registered buffer (to ourselves, through the
 * NIC), read back with cudaMemcpy and compared: the data path NCCL's RDMA protocol uses
 * (writes into GPU memory). Returns 0, 1 when it could not run (said in note), -1 failed. */
static int gdr_write_verify(struct hmem_run *h, struct fid_domain *dom, const struct fi_info *info,
			    struct gdr_ep *g, struct fid_mr *gpu_mr, void *gpu_buf, int gpu,
			    struct check_result *c)
{
	const struct cudart *rt = h->bufs->rt;
	const char *name = info->domain_attr->name;
	uint64_t mr_mode = info->domain_attr->mr_mode;
	uint64_t raddr = (mr_mode & FI_MR_VIRT_ADDR) ? (uintptr_t)gpu_buf : 0;
	char err[GPU_ERR_MAX], *back = NULL;
	struct fi_context2 ctx;
	int ret, rc = -1;

	if (!rt->cudaMemcpy || !(info->caps & FI_RMA))
		return 1;
	if (posix_memalign((void **)&g->src, 4096, 2 * GPU_RMA_BYTES)) {
		check_fail(c, "%s: out of memory", name);
		return -1;
	}
	back = g->src + GPU_RMA_BYTES;
	for (size_t i = 0; i < GPU_RMA_BYTES; i++)
		g->src[i] = (char)(((i * 7u) + (unsigned)gpu * 13u) % 251u + 1u);
	memset(back, 0, GPU_RMA_BYTES);
	if ((ret = fi_mr_reg(dom, g->src, GPU_RMA_BYTES, FI_WRITE | FI_SEND, 0, 99, 0, &g->src_mr,
			     NULL))) {
		check_fail(c, "%s: fi_mr_reg (host source): %s", name, fi_strerror(-ret));
		return -1;
	}
	if (rt->cudaMemcpy(gpu_buf, back, GPU_RMA_BYTES, EFA_CUDA_MEMCPY_HOST_TO_DEVICE)) {
		check_fail(c, "GPU %d: cudaMemcpy to device failed", gpu);
		return -1;
	}
	{
		void *desc = (mr_mode & FI_MR_LOCAL) ? fi_mr_desc(g->src_mr) : NULL;
		struct iovec iov = { .iov_base = g->src, .iov_len = GPU_RMA_BYTES };
		struct fi_rma_iov rma = { .addr = raddr, .len = GPU_RMA_BYTES, .key = fi_mr_key(gpu_mr) };
		struct fi_msg_rma msg = { .msg_iov = &iov, .desc = &desc, .iov_count = 1,
					  .addr = g->self, .rma_iov = &rma, .rma_iov_count = 1,
					  .context = &ctx };
		int64_t deadline = now_ms() + GPU_RMA_WAIT_MS;

		do
			ret = (int)fi_writemsg(g->ep, &msg, FI_COMPLETION | FI_DELIVERY_COMPLETE);
		while (ret == -FI_EAGAIN && now_ms() < deadline && fi_cq_read(g->cq, NULL, 0) <= 0);
		if (ret) {
			check_fail(c, "%s: RMA write into GPU %d memory: fi_writemsg: %s", name, gpu,
				   fi_strerror(-ret));
			return -1;
		}
		if (gdr_wait(g, deadline, err, sizeof(err))) {
			check_fail(c, "%s: RMA write into GPU %d memory: %s", name, gpu, err);
			return -1;
		}
	}
	if (rt->cudaMemcpy(back, gpu_buf, GPU_RMA_BYTES, EFA_CUDA_MEMCPY_DEVICE_TO_HOST)) {
		check_fail(c, "GPU %d: cudaMemcpy from device failed", gpu);
		return -1;
	}
	if (memcmp(back, g->src, GPU_RMA_BYTES))
		check_fail(c, "%s: RMA write into GPU %d memory: data mismatch", name, gpu);
	else
		rc = 0;
	return rc;
}

/* FI_HMEM missing on an efa domain: a fault, or a fact of this environment? */
static bool hmem_absence_explained(const struct hmem_run *h, char *why, size_t size)
{
	uint32_t api = gpu_api_version();
	void *lib;

	/* efa offers FI_HMEM to API < 1.18 only with p2p and FI_EFA_USE_DEVICE_RDMA=1, whose
	 * default depends on the API version (efa_user_info.c efa_user_info_should_support_hmem,
	 * efa_rdm_util.c): asking for 1.17 says nothing about the node. */
	if (api < FI_VERSION(1, 18)) {
		str_printf(why, size, "libfabric API %u.%u requested (the highest this build and library "
			"share): efa offers FI_HMEM below 1.18 only with FI_EFA_USE_DEVICE_RDMA=1",
			FI_MAJOR(api), FI_MINOR(api));
		return true;
	}
	/* libfabric's CUDA support dlopens "libcudart.so" without a version (src/hmem_cuda.c);
	 * where that name does not resolve in this environment, CUDA never initialises in
	 * libfabric, though jobs with their own LD_LIBRARY_PATH may be fine. */
	lib = dlopen("libcudart.so", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char *e = dlerror();

		str_printf(why, size, "libfabric's dlopen(\"libcudart.so\") fails here (%s)",
			e ? e : "not found");
		return true;
	}
	dlclose(lib);
	(void)h;
	return false;
}

/* /sys/class/infiniband/<dev>/device/p2p: the efa driver's p2p provider ("NVIDIA",
 * "NVIDIA peermem"; empty when none: amzn-drivers kernel/linux/efa/src/efa_sysfs.c p2p_show,
 * efa_p2p.c efa_p2p_provider_string). Noted, never judged alone: dma-buf registration works
 * without a p2p provider. */
static void note_p2p(struct hmem_run *h, const char *domain)
{
	char dev[EFA_DEV_NAME_MAX], path[CONFIG_PATH_MAX + 128], val[64] = "";
	FILE *f;

	if (!provider_is_efa(h->o->provider) || h->p2p_noted)
		return;
	domain_to_device(domain, dev, sizeof(dev));
	snprintf(path, sizeof(path), "%s/class/infiniband/%s/device/p2p",
		 h->o->sysfs_root ? h->o->sysfs_root : "/sys", dev);
	h->p2p_noted = true;
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(val, sizeof(val), f))
		val[strcspn(val, "\n")] = '\0';
	fclose(f);
	str_appendf(h->note, sizeof(h->note), "; %s p2p: %s", dev, val[0] ? val : "none");
}


/* On a domain whose GPU registration passed: an endpoint with CUDA calls forbidden, and an RMA
 * write into the GPU's memory verified. Returns 0 (passed, or could not run: noted), or -1. */
static int hmem_gdr_probe(struct hmem_run *h, size_t di, struct fid_domain *dom,
			  const struct fi_info *info, struct check_result *c)
{
	int gpu = (int)(di % (size_t)h->bufs->n);
	void *buf = h->bufs->ptr[gpu];
	bool efa = provider_is_efa(h->o->provider), dmabuf;
	struct gdr_ep g = { 0 };
	struct fid_mr *mr = NULL;
	char err[GPU_ERR_MAX];
	int ret, rc = -1;

	note_p2p(h, info->domain_attr->name);
	if (gdr_ep_open(dom, info, &g, efa, c))
		goto out;
	ret = gpu_mr_reg(h, dom, info, gpu, 1000 + di, &dmabuf, &mr, err, sizeof(err));
	if (ret == -1 && dmabuf) {
		dmabuf_fail(c, info->domain_attr->name, gpu, err);
		goto out;
	}
	if (ret) {
		check_fail(c, "%s: GPU %d memory registration failed: %s", info->domain_attr->name,
			   gpu, fi_strerror(-ret));
		goto out;
	}
	if (info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
		if ((ret = fi_mr_bind(mr, &g.ep->fid, 0)) || (ret = fi_mr_enable(mr))) {
			check_fail(c, "%s: fi_mr_bind: %s", info->domain_attr->name, fi_strerror(-ret));
			goto out;
		}
	}
	/* The RMA lands in the registration NCCL would use: the dma-buf one where it uses dma-buf */
	ret = gdr_write_verify(h, dom, info, &g, mr, buf, gpu, c);
	if (ret < 0)
		goto out;
	h->gdr_verified += ret == 0;
	rc = 0;
out:
	if (g.ep) {
		fi_close(&g.ep->fid);
		g.ep = NULL;
	}
	if (mr)
		fi_close(&mr->fid);
	gdr_ep_close(&g);
	return rc;
}

/* Open domain di (info), register its GPUs, close it. Returns 0, or -1 with c failed. */
static int hmem_domain(struct hmem_run *h, size_t di, const struct fi_info *info,
		       struct check_result *c)
{
	const char *name = info->domain_attr->name;
	struct fid_fabric *fab = NULL;
	struct fid_domain *dom = NULL;
	int ret, rc = -1, registered;

	if ((ret = fi_fabric(info->fabric_attr, &fab, NULL))) {
		check_fail(c, "%s: fi_fabric: %s", name, fi_strerror(-ret));
		goto out;
	}
	if ((ret = fi_domain(fab, (struct fi_info *)info, &dom, NULL))) {
		check_fail(c, "%s: fi_domain: %s", name, fi_strerror(-ret));
		goto out;
	}
	registered = h->registered_domains;
	rc = hmem_register_pairs(h, di, dom, info, c);
	if (!rc && h->registered_domains > registered)
		rc = hmem_gdr_probe(h, di, dom, info, c);
out:
	if (dom)
		fi_close(&dom->fid);
	if (fab)
		fi_close(&fab->fid);
	return rc;
}

/* Is domain name listed without FI_HMEM? Asks fi_getinfo (once) only when needed. */
static int domain_exists(struct hmem_run *h, const char *name, char *err, size_t errlen)
{
	if (!h->plain_done) {
		if (provider_getinfo(h->o->provider, false, &h->plain, err, errlen))
			return -1;
		h->plain_done = true;
	}
	return find_domain(h->plain, name, false) != NULL;
}

/* Find the domains that offer FI_HMEM (infos[] filled with a copy of each). A domain without
 * it fails the check for efa and is a note otherwise. Returns the number found, or -1 with c
 * failed. */
static int hmem_probe(struct hmem_run *h, struct fi_info **infos, struct check_result *c)
{
	const struct gpu_opts *o = h->o;
	char err[GPU_ERR_MAX], missing[CHECK_DETAIL_MAX / 2] = "";
	const struct fi_info *match;
	int n = 0, exists;

	if (provider_getinfo(o->provider, true, &h->hmem, err, sizeof(err)))
		goto fail;
	for (size_t i = 0; i < o->ndomains; i++) {
		const char *name = o->domains[i];

		if ((match = find_domain(h->hmem, name, true))) {
			if (!(infos[n++] = fi_dupinfo(match))) {
				str_printf(err, sizeof(err), "%s: fi_dupinfo: out of memory", name);
				goto fail;
			}
			continue;
		}
		if ((exists = domain_exists(h, name, err, sizeof(err))) < 0)
			goto fail;
		if (!exists) {
			str_printf(err, sizeof(err), "%s: no such %s domain", name, o->provider);
			goto fail;
		}
		if (provider_is_efa(o->provider)) {
			char why[GPU_ERR_MAX];

			if (hmem_absence_explained(h, why, sizeof(why))) {
				str_appendf(h->note, sizeof(h->note), "; %s: no FI_HMEM (%s): GPUDirect "
					    "RDMA not tested", name, why);
				continue;
			}
			str_printf(err, sizeof(err), "%s: no FI_HMEM: GPUDirect RDMA unavailable", name);
			goto fail;
		}
		str_appendf(missing, sizeof(missing), "%s%s", missing[0] ? ", " : "", name);
	}
	if (missing[0])
		str_appendf(h->note, sizeof(h->note),
			    "; %s: no FI_HMEM support (%s), GPUDirect RDMA not tested",
			    o->provider, missing);
	return n;
fail:
	check_fail(c, "%s", err);
	return -1;
}

static void free_infos(struct fi_info **infos, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (infos[i])
			fi_freeinfo(infos[i]);
	free(infos);
}

/* The GPUDirect RDMA path on every domain. Returns 0, or -1 with c failed. */
static int gpu_hmem_check(struct hmem_run *h, int ngpus, struct check_result *c)
{
	struct fi_info **infos;
	int n, rc = -1;

	if (!h->o->ndomains || !h->o->provider)
		return 0;
	infos = calloc(h->o->ndomains, sizeof(*infos));
	if (!infos) {
		check_fail(c, "GPU memory registration: out of memory");
		return -1;
	}
	n = hmem_probe(h, infos, c);
	if (n < 0)
		goto out;
	h->ndom = (size_t)n;
	if (n > 0 && gpu_bufs_alloc(h->bufs, ngpus, c))
		goto out;
	if (n > 0)
		gpu_dmabuf_init(&h->dmabuf, h->o->cfg, gpu_api_version(), ngpus);
	for (size_t i = 0; i < h->ndom; i++)
		if (hmem_domain(h, i, infos[i], c))
			goto out;
	rc = 0;
out:
	gpu_bufs_free(h->bufs);
	gpu_dmabuf_close(&h->dmabuf);
	free_infos(infos, h->o->ndomains);
	if (h->hmem)
		fi_freeinfo(h->hmem);
	if (h->plain)
		fi_freeinfo(h->plain);
	h->hmem = h->plain = NULL;
	return rc;
}

/* ---- the check ---------------------------------------------------------------- */

static int no_runtime(const struct gpu_opts *o, const char *err, struct check_result *c)
{
	if (o->expected_gpus > 0) {
		check_detail(c, "libcudart not found (%s), expected %d GPUs", err, o->expected_gpus);
		check_fail(c, "libcudart not found, expected %d GPUs", o->expected_gpus);
		return -1;
	}
	check_skip(c, "libcudart not found (%s): no GPU check", err);
	return 0;
}

/*
 * Inside a Slurm job's cgroup, the GPUs we see are the job's, not the node's: with
 * ConstrainDevices=yes the devices controller hides every GPU the job (or step) was not given.
 * That is where `srun --efa-check` runs (slurmstepd's step cgroup) and, from Slurm 24.05 with
 * PrologFlags=RunInJob, the prolog (the extern step's cgroup). Slurm names those cgroups
 * .../job_<id>/step_<id> (src/plugins/cgroup/v1/cgroup_v1.c: slurm/uid_%u/job_%u/step_%s;
 * v2/cgroup_v2.c: <slurmstepd scope>/job_%u/step_%s). Fills job with the id when found.
 */
static bool in_job_cgroup(const char *path, char *job, size_t size)
{
	char buf[4096];
	const char *p;
	int fd = open(path ? path : "/proc/self/cgroup", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (p = strstr(buf, "/job_"); p; p = strstr(p + 1, "/job_")) {
		size_t len = strspn(p + 5, "0123456789");

		if (len && (p[5 + len] == '/' || p[5 + len] == '\n' || !p[5 + len])) {
			snprintf(job, size, "%.*s", (int)len, p + 5);
			return true;
		}
	}
	return false;
}

/* Count GPUs against the expectation. Returns 1 to go on with ngpus set, 0 when the check is
 * finished (skipped), -1 when it failed. Fewer GPUs than expected inside a job's cgroup is
 * the job's share, not a fault: not judged here (the health check, outside jobs, counts). */
static int gpu_count(const struct gpu_opts *o, const struct cudart *rt, int *ngpus,
		     char *note, size_t nsize, struct check_result *c)
{
	int n = 0, e = rt->cudaGetDeviceCount(&n);
	char why[GPU_ERR_MAX] = "", job[24];

	if (e != EFA_CUDA_SUCCESS) {
		snprintf(why, sizeof(why), " (cudaGetDeviceCount: %s)", cuda_strerror(rt, e));
		n = 0;
	}
	*ngpus = n;
	if (n > GPU_MAX) {
		check_fail(c, "cudaGetDeviceCount: %d GPUs, more than %d", n, GPU_MAX);
		return -1;
	}
	if (n > 0 && (o->expected_gpus < 0 || n == o->expected_gpus))
		return 1;
	if (o->expected_gpus > 0 && n < o->expected_gpus &&
	    in_job_cgroup(o->cgroup_file, job, sizeof(job))) {
		snprintf(note, nsize, "; %d/%d GPUs visible inside job %s's cgroup: count "
			 "not judged here", n, o->expected_gpus, job);
		if (n > 0)
			return 1;
		check_skip(c, "no GPUs visible inside job %s's cgroup (expected %d on the node)%s", job,
			   o->expected_gpus, why);
		return 0;
	}
	if (o->expected_gpus > 0) {
		check_fail(c, "%d/%d GPUs%s", n, o->expected_gpus, why);
		check_metric(c, "gpus", n);
		return -1;
	}
	check_skip(c, "no GPUs%s", why);
	return 0;
}

int gpu_check(const struct gpu_opts *o, struct check_result *c)
{
	struct cudart rt;
	struct gpu_bufs bufs = { .rt = &rt };
	struct hmem_run h = { .o = o, .bufs = &bufs };
	char err[GPU_ERR_MAX + CONFIG_PATH_MAX], ver[96], count_note[128] = "";
	int ngpus = 0, rc;

	if (o->expected_gpus == 0) {
		check_skip(c, "no GPUs expected (ExpectedGPUs=0)");
		return 0;
	}
	if (cudart_open(o->cfg ? o->cfg->cuda_library : NULL, &rt, err, sizeof(err)))
		return no_runtime(o, err, c);
	rc = gpu_count(o, &rt, &ngpus, count_note, sizeof(count_note), c);
	if (rc <= 0)
		goto out;
	check_metric(c, "gpus", ngpus);
	cuda_versions(&rt, ver, sizeof(ver));
	rc = gpu_hmem_check(&h, ngpus, c) ? -1 : 1;
	if (rc < 0)
		goto out;
	check_metric(c, "hmem_domains", h.registered_domains);
	check_metric(c, "gdr_write_domains", h.gdr_verified);
	if (o->expected_gpus > 0 && !count_note[0])
		check_detail(c, "%d/%d GPUs%s", ngpus, o->expected_gpus, ver);
	else
		check_detail(c, "%d GPUs%s", ngpus, ver);
	if (h.registered_domains)
		str_appendf(c->detail, sizeof(c->detail), ", GPU memory registered on %d domain%s",
			    h.registered_domains, h.registered_domains == 1 ? "" : "s");
	if (h.dmabuf.domains && h.dmabuf.domains == h.registered_domains)
		str_appendf(c->detail, sizeof(c->detail), " through dma-buf (FI_MR_DMABUF)");
	else if (h.dmabuf.domains)
		str_appendf(c->detail, sizeof(c->detail), " (through dma-buf on %d)", h.dmabuf.domains);
	if (h.gdr_verified)
		str_appendf(c->detail, sizeof(c->detail), ", RMA write into GPU memory verified on %d "
			    "domain%s", h.gdr_verified, h.gdr_verified == 1 ? "" : "s");
	if (h.registered_domains && h.dmabuf.why[0])
		str_appendf(c->detail, sizeof(c->detail), "; dma-buf %s: %s",
			    h.dmabuf.domains ? "not used on every GPU" : "not used", h.dmabuf.why);
	check_metric(c, "dmabuf_domains", h.dmabuf.domains);
	if (o->ndomains && provider_is_efa(o->provider)) {
		uint32_t api = gpu_api_version();

		str_appendf(c->detail, sizeof(c->detail), " (libfabric API %u.%u)", FI_MAJOR(api),
			    FI_MINOR(api));
	}
	else if (!o->ndomains)
		str_appendf(c->detail, sizeof(c->detail), ", no domains to register GPU memory on");
	str_appendf(c->detail, sizeof(c->detail), "%s%s", h.note, count_note);
out:
	cudart_close(&rt);
	return rc < 0 ? -1 : 0;
}

/* ---- the check ------------------------------------------------------------------------------ */

/* ExpectedGPUs=, else the instance profile's GPU count, else -1 (unknown: count not judged). */
static int expected_gpus(const struct check_ctx *ctx)
{
	struct profile_table t = { 0 };
	struct instance_profile p;
	char type[64] = "", err[256];
	int n = -1;

	if (ctx->cfg->expected_gpus >= 0)
		return ctx->cfg->expected_gpus;
	if (ctx->cfg->instance_type[0])
		str_copy(type, sizeof(type), ctx->cfg->instance_type);
	else if (instance_type_read(ctx->sysfs_root, type, sizeof(type)) < 0)
		return -1;
	if (profiles_load(&t, ctx->cfg->instance_profiles, err, sizeof(err)) == 0 &&
	    profiles_lookup(&t, type, &p) == 0)
		n = p.gpus;
	profiles_free(&t);
	return n;
}

static void gpu_run(struct check_ctx *ctx)
{
	struct gpu_opts g = {
		.cfg = ctx->cfg,
		.provider = ctx->cfg->provider,
		.domains = ctx->domains->name,
		.ndomains = ctx->domains->n,
		.expected_gpus = expected_gpus(ctx),
		.sysfs_root = ctx->sysfs_root,
	};
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("gpu", NULL);
	check_init(&c, "gpu", NULL);
	gpu_check(&g, &c);
	check_finish(&c, t0);
}

const struct local_check check_gpu = { "gpu", gpu_run, .light = false };
