/*
 * gpu_dmabuf.h -- GPU memory registered through dma-buf (FI_MR_DMABUF), as aws-ofi-nccl 1.14+
 * registers it where the platform offers it: whether it would (the plugin's conditions), the
 * dma-buf fd from the CUDA driver API (libcuda.so.1, loaded with dlopen), the registration.
 */
#ifndef EFA_CHECK_GPU_DMABUF_H
#define EFA_CHECK_GPU_DMABUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_eq.h>

#include "checks/cudart.h"
#include "checks/gpu_cudadrv.h"
#include "core/config.h"

#define GPU_MAX 64                    /* sanity bound on cudaGetDeviceCount */

/* The GPU check asks libfabric for API 1.20 where the library has it (what aws-ofi-nccl asks
 * when it may use dma-buf: nccl_ofi_rdma.cpp, FI_VERSION(1, 20), else 1.18), even when built
 * against older headers. Structures the library reads or writes by API version are then passed
 * with zeroed room behind them: fi_mr_attr grew hmem_data (1.19), page_size (1.22), base_mr
 * and sub_mr_cnt (2.0), read only for an API that has them (ofiwg/libfabric
 * prov/util/src/util_mr_map.c, ofi_mr_update_attr, v2.1.0), zero being their default;
 * fi_cq_err_entry grew src_addr (1.20), written only for API >= 1.20 (include/ofi_util.h,
 * ofi_cq_err_memcpy, v2.1.0). */
struct gpu_mr_attr {
	struct fi_mr_attr a;
	uint64_t room[8];
};
union gpu_cq_err {
	struct fi_cq_err_entry e;
	char room[sizeof(struct fi_cq_err_entry) + 64];
};
uint32_t gpu_api_version(void);

struct gpu_dmabuf {
	void *handle;                 /* libcuda.so.1 */
#define X(ret, fn, params) ret (*fn) params;
	EFA_CUDADRV_FUNCS(X)
#undef X
	bool usable[GPU_MAX];         /* GPU g's memory goes through dma-buf */
	bool any;
	char why[GPU_ERR_MAX];        /* why not (all GPUs or some), for the detail */
	int domains;                  /* domains with GPU memory registered through dma-buf */
};

/* Decide as aws-ofi-nccl does whether GPU memory is registered through dma-buf
 * (nccl_ofi_dmabuf.cpp, nccl_ofi_dmabuf_viable / _viable_and_supported, v1.14-v1.17): API >= 1.20
 * requested, OFI_NCCL_DISABLE_DMABUF not set (config Env=/EnvForce= first, as jobs get it,
 * then this process's environment), CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED per GPU, kernel >=
 * 5.12. The FI_HMEM condition is the caller's: only FI_HMEM domains are registered on. */
void gpu_dmabuf_init(struct gpu_dmabuf *d, const struct efa_config *cfg, uint32_t api, int ngpus);
void gpu_dmabuf_close(struct gpu_dmabuf *d);

/* Register GPU gpu's buffer buf (len bytes) on dom through dma-buf: the fd from
 * cuMemGetHandleForAddressRange, fi_mr_regattr with FI_MR_DMABUF, the fd closed after the
 * registration (as NCCL does). Returns 0, or -1 with err saying which call failed and how. */
int gpu_dmabuf_reg(struct gpu_dmabuf *d, struct fid_domain *dom, void *buf, size_t len, int gpu,
		   uint64_t access, uint64_t key, struct fid_mr **mr, char *err, size_t errlen);

/* Parse a boolean as aws-ofi-nccl does (nccl_ofi_param_impl.h, v1.17.0): "true"/"false" in
 * any case, else an integer (non-zero true); -1 when it is neither (the plugin then keeps its
 * default). */
int gpu_ofi_nccl_bool(const char *v);

#endif
