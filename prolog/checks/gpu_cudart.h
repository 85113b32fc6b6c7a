/*
 * gpu_cudart.h -- the few CUDA runtime entry points efa-check uses, declared without the CUDA
 * headers (the build must work without CUDA; libcudart is loaded with dlopen at run time).
 *
 * One list, three users:
 *   prolog/checks/gpu.c                       function-pointer table resolved with dlsym
 *   tests/doubles/cudart-double/       the CPU test double defines exactly these symbols
 *   tests/cuda-abi-check.sh            compiles the list against the real cuda_runtime_api.h
 *                                      under -Werror (EFA_CUDA_ERR = cudaError_t there), so a
 *                                      mismatch with the real prototypes breaks the check
 *
 * EFA_CUDART_FUNCS(X) expands X(return type, name, (parameters)) once per entry point.
 * cudaError_t is an enum of int size in the real ABI; here it is plain int (EFA_CUDA_ERR),
 * which is passed and returned in the same registers.
 */
#ifndef EFA_CHECK_GPU_CUDART_H
#define EFA_CHECK_GPU_CUDART_H

#include <stddef.h>

#ifndef EFA_CUDA_ERR
#define EFA_CUDA_ERR int
#endif
/* enum cudaMemcpyKind, an int-sized enum in the real ABI (the ABI check asserts it). */
#ifndef EFA_CUDA_MEMCPY_KIND
#define EFA_CUDA_MEMCPY_KIND int
#endif

#define EFA_CUDART_FUNCS(X)                                                        \
	X(EFA_CUDA_ERR, cudaGetDeviceCount, (int *count))                          \
	X(EFA_CUDA_ERR, cudaSetDevice, (int device))                               \
	X(EFA_CUDA_ERR, cudaMalloc, (void **devPtr, size_t size))                  \
	X(EFA_CUDA_ERR, cudaFree, (void *devPtr))                                  \
	X(const char *, cudaGetErrorString, (EFA_CUDA_ERR error))                  \
	X(EFA_CUDA_ERR, cudaDriverGetVersion, (int *driverVersion))                \
	X(EFA_CUDA_ERR, cudaRuntimeGetVersion, (int *runtimeVersion))                \
	X(EFA_CUDA_ERR, cudaMemcpy, (void *dst, const void *src, size_t count,     \
				     EFA_CUDA_MEMCPY_KIND kind))

/* cudaError values (driver_types.h); the ABI check asserts they match. */
#define EFA_CUDA_SUCCESS                     0   /* cudaSuccess */
#define EFA_CUDA_ERROR_INVALID_VALUE         1   /* cudaErrorInvalidValue */
#define EFA_CUDA_ERROR_MEMORY_ALLOCATION     2   /* cudaErrorMemoryAllocation */
#define EFA_CUDA_ERROR_INITIALIZATION        3   /* cudaErrorInitializationError */
#define EFA_CUDA_ERROR_INVALID_DEVICE_PTR    17  /* cudaErrorInvalidDevicePointer */
#define EFA_CUDA_ERROR_INSUFFICIENT_DRIVER   35  /* cudaErrorInsufficientDriver */
#define EFA_CUDA_ERROR_NO_DEVICE             100 /* cudaErrorNoDevice */
#define EFA_CUDA_ERROR_INVALID_DEVICE        101 /* cudaErrorInvalidDevice */
#define EFA_CUDA_MEMCPY_HOST_TO_DEVICE       1   /* cudaMemcpyHostToDevice */
#define EFA_CUDA_MEMCPY_DEVICE_TO_HOST       2   /* cudaMemcpyDeviceToHost */

#endif
