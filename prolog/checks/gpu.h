/*
 * gpu.h -- the GPU check: libcudart loaded with dlopen (never linked), device count against
 * ExpectedGPUs (or the instance profile), and registration of GPU memory (FI_HMEM_CUDA) on each
 * domain: the GPUDirect RDMA path. Without libcudart or without GPUs the check is skipped and
 * says why, unless GPUs are expected.
 *
 * libcudart: cfg->cuda_library (CudaLibrary=, a path or a soname) when set, else the first of
 * libcudart.so.13, .so.12, .so.11.0, .so that loads and whose cudaGetDeviceCount does not
 * say cudaErrorInsufficientDriver (a CUDA 13 runtime beside a 12.x driver falls back to
 * libcudart.so.12; when none fits, the first one's error is reported).
 * Entry points: prolog/checks/gpu_cudart.h.
 *
 * Results (check "gpu", metric "gpus", and "hmem_domains" when GPUs were found):
 *   expected 0                          skipped "no GPUs expected"
 *   no libcudart                        skipped, or failed "libcudart not found, expected 8 GPUs"
 *   cudaGetDeviceCount error / 0 GPUs   skipped "no GPUs (...)", or failed "0/8 GPUs (...)"
 *   count != expected                   failed "7/8 GPUs"
 *   domain without FI_HMEM              efa: failed "<domain>: no FI_HMEM: GPUDirect RDMA
 *                                       unavailable"; other providers: a note in the detail
 *   cudaSetDevice/cudaMalloc failure    failed "GPU 3: cudaMalloc: out of memory"
 *   fi_mr_regattr failure               failed "<domain>: GPU 0 memory registration failed: ..."
 *                                       (-FI_ENOSYS/-FI_EOPNOTSUPP on a non-efa provider, i.e.
 *                                       libfabric without CUDA support, is a note)
 *   efa, FI_OPT_CUDA_API_PERMITTED=false refused (no p2p; aws-ofi-nccl sets it on every endpoint)
 *                                       failed "<domain>: GPUDirect RDMA unavailable: ..."
 *   RMA write into GPU memory wrong     failed "<domain>: RMA write into GPU 0 memory: ..."
 *   efa without FI_HMEM, API < 1.18 or libfabric cannot dlopen libcudart.so: a note, not a failure
 *   otherwise                           passed "8/8 GPUs (CUDA driver 12.4, runtime 12.4),
 *                                       GPU memory registered on 4 domains, RMA write into GPU
 *                                       memory verified on 4 domains (libfabric API 2.1)"
 * Every GPU and every domain is covered: GPU k % ngpus on domain k % ndomains for
 * k < max(ngpus, ndomains), one 2 MiB buffer per GPU. All memory, registrations, domains and
 * the library handle are released on every path.
 */
#ifndef EFA_CHECK_GPU_H
#define EFA_CHECK_GPU_H

#include <stddef.h>

struct check_result;
struct efa_config;

struct gpu_opts {
	const struct efa_config *cfg;
	const char *provider;     /* required when ndomains > 0 */
	char *const *domains;     /* domains to register GPU memory on (may be 0) */
	size_t ndomains;
	int expected_gpus;        /* resolved: -1 = no expectation */
	const char *sysfs_root;   /* NULL = /sys (the efa driver's device/p2p file) */
	const char *cgroup_file;  /* NULL = /proc/self/cgroup (are we inside a job's cgroup?) */
};

/* Returns 0 when passed or skipped. */
int gpu_check(const struct gpu_opts *o, struct check_result *c);

#endif
