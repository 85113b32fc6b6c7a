/*
 * gpu.h -- the GPU check: libcudart loaded with dlopen (never linked), device count against
 * ExpectedGPUs (or the instance profile), and registration of GPU memory (FI_HMEM_CUDA) on each
 * domain: the GPUDirect RDMA path. Without libcudart or without GPUs the check is skipped and
 * says why, unless GPUs are expected.
 */
#ifndef EFA_CHECK_GPU_H
#define EFA_CHECK_GPU_H

#include <stddef.h>

struct check_result;
struct efa_config;

struct gpu_opts {
	const struct efa_config *cfg;
	const char *provider;
	char *const *domains;
	size_t ndomains;
	int expected_gpus;        /* resolved: -1 = no expectation */
};

/* Returns 0 when passed or skipped. */
int gpu_check(const struct gpu_opts *o, struct check_result *c);

#endif
