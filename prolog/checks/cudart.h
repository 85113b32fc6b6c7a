/*
 * cudart.h -- libcudart loaded with dlopen (the product builds and runs without CUDA): the
 * entry points of gpu_cudart.h resolved by name, the sonames searched in order, errors named.
 */
#ifndef EFA_CHECK_CUDART_H
#define EFA_CHECK_CUDART_H

#include <stddef.h>

#include "checks/gpu_cudart.h"
#include "core/config.h"

#define GPU_ERR_MAX 256    /* bounded messages of the gpu check and the loader */

struct cudart {
	void *handle;
	char name[CONFIG_PATH_MAX];     /* what was loaded, as given to dlopen */
#define X(ret, fn, params) ret (*fn) params;
	EFA_CUDART_FUNCS(X)
#undef X
};

/* Load configured (a path or soname; NULL/"" = search the known sonames). 0, or -1 with err. */
int cudart_open(const char *configured, struct cudart *rt, char *err, size_t errlen);
void cudart_close(struct cudart *rt);
/* The runtime's name for error e. */
const char *cuda_strerror(const struct cudart *rt, int e);
/* " (CUDA driver X.Y, runtime X.Y)" into buf. */
void cuda_versions(const struct cudart *rt, char *buf, size_t size);

#endif
