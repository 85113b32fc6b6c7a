/*
 * gpu_dmabuf.c -- GPU memory registered through dma-buf (see gpu_dmabuf.h).
 *
 * Sources: aws/aws-ofi-nccl v1.14.0-v1.17.0 src/nccl_ofi_dmabuf.cpp (nccl_ofi_dmabuf_viable,
 * nccl_ofi_dmabuf_viable_and_supported), src/nccl_ofi_cuda.cpp
 * (nccl_net_ofi_cuda_have_dma_buf_attr, nccl_net_ofi_cuda_get_dma_buf_fd), include/nccl_ofi_mr.h
 * (nccl_ofi_mr_ckey_fill_mr_attrs: FI_MR_DMABUF, attr.dmabuf), include/nccl_ofi_param.h
 * (OFI_NCCL_DISABLE_DMABUF: "If dmabuf registrations fail ... it is fatal"); ofiwg/libfabric
 * v1.20.0 include/rdma/fi_domain.h (struct fi_mr_dmabuf, the fi_mr_attr union), man/fi_mr.3.md
 * (v2.1.0: "FI_MR_DMABUF"), prov/efa/src/efa_mr.c (v2.1.0: efa_mr_regattr accepts FI_MR_DMABUF
 * only for API >= 1.20 and registers it with ibv_reg_dmabuf_mr).
 */
#include "checks/gpu_dmabuf.h"
#include "core/strutil.h"
#include "fabric/fabric.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <unistd.h>

/* FI_MR_DMABUF and struct fi_mr_dmabuf as libfabric 1.20 defines them (include/rdma/fabric.h
 * v1.20.0: FI_MR_DMABUF (1ULL << 40); fi_domain.h v2.1.0 moved it there), for builds against
 * older headers: the ABI of the library that runs is what counts. */
#ifdef FI_MR_DMABUF
#define GPU_FI_MR_DMABUF FI_MR_DMABUF
typedef struct fi_mr_dmabuf gpu_fi_mr_dmabuf;
#else
#define GPU_FI_MR_DMABUF (1ULL << 40)
typedef struct {
	int fd;
	uint64_t offset;
	size_t len;
	void *base_addr;
} gpu_fi_mr_dmabuf;
#endif

#define DMABUF_MIN_API FI_VERSION(1, 20)

uint32_t gpu_api_version(void)
{
	uint32_t v = fabric_api_version(), lib = fi_version();

	if (v >= DMABUF_MIN_API)
		return v;
	if (lib >= DMABUF_MIN_API)
		return DMABUF_MIN_API;
	return lib > v ? lib : v;
}

int gpu_ofi_nccl_bool(const char *v)
{
	char *end;
	long n;

	if (!strcasecmp(v, "true"))
		return 1;
	if (!strcasecmp(v, "false"))
		return 0;
	n = strtol(v, &end, 10);
	if (end == v || *end)
		return -1;
	return n != 0;
}

static const char *cu_strerror(const struct gpu_dmabuf *d, int e)
{
	const char *s = NULL;

	if (d->cuGetErrorString && d->cuGetErrorString(e, &s) != EFA_CU_SUCCESS)
		s = NULL;
	return s ? s : "unknown CUDA driver error";
}

/* OFI_NCCL_DISABLE_DMABUF as jobs will see it: the config's Env=/EnvForce= (efa-check sets it
 * in every job), else this process's environment. Fills src with where it came from. */
static bool dmabuf_disabled(const struct efa_config *cfg, char *src, size_t size)
{
	const char *v = NULL;

	for (size_t i = 0; cfg && i < cfg->nenv; i++) {
		if (strcmp(cfg->env[i].name, "OFI_NCCL_DISABLE_DMABUF"))
			continue;
		v = cfg->env[i].value;
		str_copy(src, size, cfg->env[i].force ? "EnvForce=" : "Env=");
		if (cfg->env[i].force)
			break;          /* the admin's value wins over the user's */
	}
	if (!v && (v = getenv("OFI_NCCL_DISABLE_DMABUF")))
		str_copy(src, size, "environment");
	return v && gpu_ofi_nccl_bool(v) == 1;
}

/* Linux >= 5.12 has the RDMA dma-buf import (torvalds/linux bfe0cc6); the plugin checks it
 * (kernel_version_rdma_dmabuf_ioctl_ok) because neither NCCL nor libfabric does. */
static bool kernel_ok(char *rel, size_t size)
{
	struct utsname u;
	int maj = 0, min = 0;

	if (uname(&u) != 0)
		return false;
	str_copy(rel, size, u.release);
	if (sscanf(u.release, "%d.%d", &maj, &min) != 2)
		return false;
	return (maj == 5 && min >= 12) || maj > 5;
}

static int cudadrv_open(struct gpu_dmabuf *d, char *err, size_t errlen)
{
	const char *e;
	void *sym;

	dlerror();
	d->handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!d->handle) {
		e = dlerror();
		str_printf(err, errlen, "%s", e ? e : "libcuda.so.1 cannot be loaded");
		return -1;
	}
#define X(ret, fn, params) sym = dlsym(d->handle, #fn); memcpy(&d->fn, &sym, sizeof(sym));
	EFA_CUDADRV_FUNCS(X)
#undef X
	e = !d->cuInit ? "cuInit" : !d->cuDeviceGet ? "cuDeviceGet" :
	    !d->cuDeviceGetAttribute ? "cuDeviceGetAttribute" :
	    !d->cuMemGetHandleForAddressRange ? "cuMemGetHandleForAddressRange" : NULL;
	if (e) {
		str_printf(err, errlen, "libcuda.so.1 has no %s (driver older than CUDA 11.7)", e);
		return -1;
	}
	return 0;
}

/* CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED of every GPU: usable[] set, why filled for those
 * without it. */
static void dmabuf_attrs(struct gpu_dmabuf *d, int ngpus)
{
	char off[GPU_ERR_MAX / 2] = "";
	int e;

	if ((e = d->cuInit(0)) != EFA_CU_SUCCESS) {
		str_printf(d->why, sizeof(d->why), "cuInit: %s", cu_strerror(d, e));
		return;
	}
	for (int g = 0; g < ngpus && g < GPU_MAX; g++) {
		int dev = 0, v = 0;

		if ((e = d->cuDeviceGet(&dev, g)) == EFA_CU_SUCCESS)
			e = d->cuDeviceGetAttribute(&v, EFA_CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED, dev);
		d->usable[g] = e == EFA_CU_SUCCESS && v;
		d->any |= d->usable[g];
		if (!d->usable[g])
			str_appendf(off, sizeof(off), "%s%d", off[0] ? "," : "", g);
	}
	if (off[0])
		str_printf(d->why, sizeof(d->why), "CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED is 0 on GPU %s",
			off);
}

void gpu_dmabuf_init(struct gpu_dmabuf *d, const struct efa_config *cfg, uint32_t api, int ngpus)
{
	char src[16] = "", rel[65] = "";

	memset(d, 0, sizeof(*d));
	if (api < DMABUF_MIN_API) {
		str_printf(d->why, sizeof(d->why), "libfabric API %u.%u (FI_MR_DMABUF needs 1.20)",
			FI_MAJOR(api), FI_MINOR(api));
		return;
	}
	if (dmabuf_disabled(cfg, src, sizeof(src))) {
		str_printf(d->why, sizeof(d->why), "OFI_NCCL_DISABLE_DMABUF is set (%s)", src);
		return;
	}
	if (!kernel_ok(rel, sizeof(rel))) {
		str_printf(d->why, sizeof(d->why), "kernel %s (RDMA dma-buf import needs 5.12)",
			rel[0] ? rel : "version unknown");
		return;
	}
	if (cudadrv_open(d, d->why, sizeof(d->why)))
		return;
	dmabuf_attrs(d, ngpus);
}

void gpu_dmabuf_close(struct gpu_dmabuf *d)
{
	if (d->handle)
		dlclose(d->handle);
	d->handle = NULL;
}

/* The dma-buf fd of [buf, buf + len), widened to pages (the range must be page aligned), with
 * the PCIe mapping first and without flags where the driver refuses it, as aws-ofi-nccl does. */
static int export_fd(struct gpu_dmabuf *d, void *buf, size_t len, gpu_fi_mr_dmabuf *db,
		     char *err, size_t errlen)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), p = (uintptr_t)buf;
	uintptr_t base = p & ~(page - 1);
	size_t size = ((p + len + page - 1) & ~(page - 1)) - base;
	int fd = -1, e;

	e = d->cuMemGetHandleForAddressRange(&fd, (unsigned long long)base, size,
					     EFA_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD,
					     EFA_CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE);
	if (e == EFA_CU_ERROR_INVALID_VALUE || e == EFA_CU_ERROR_NOT_SUPPORTED)
		e = d->cuMemGetHandleForAddressRange(&fd, (unsigned long long)base, size,
						     EFA_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0);
	if (e != EFA_CU_SUCCESS || fd < 0) {
		str_printf(err, errlen, "cuMemGetHandleForAddressRange(DMA_BUF_FD): %s",
			e ? cu_strerror(d, e) : "no file descriptor");
		return -1;
	}
	db->fd = fd;
	db->offset = p - base;
	db->len = len;
	db->base_addr = (void *)base;
	return 0;
}

int gpu_dmabuf_reg(struct gpu_dmabuf *d, struct fid_domain *dom, void *buf, size_t len, int gpu,
		   uint64_t access, uint64_t key, struct fid_mr **mr, char *err, size_t errlen)
{
	gpu_fi_mr_dmabuf db;
	struct gpu_mr_attr ma = { .a = { .iov_count = 1, .access = access, .requested_key = key,
					 .iface = FI_HMEM_CUDA } };
	int ret;

	if (export_fd(d, buf, len, &db, err, errlen))
		return -1;
	/* fi_mr_attr's first member is a union of mr_iov and dmabuf from 1.20 on (fi_domain.h) */
	ma.a.mr_iov = (const struct iovec *)(const void *)&db;
	ma.a.device.cuda = gpu;
	ret = fi_mr_regattr(dom, &ma.a, GPU_FI_MR_DMABUF, mr);
	close(db.fd);
	if (ret) {
		*mr = NULL;
		str_printf(err, errlen, "fi_mr_regattr(FI_MR_DMABUF): %s", fi_strerror(-ret));
		return -1;
	}
	return 0;
}
