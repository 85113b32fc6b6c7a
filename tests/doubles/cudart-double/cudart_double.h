/*
 * cudart_double.h -- TEST DOUBLE of the CUDA runtime (libcudart), CPU only. Not CUDA.
 *
 * Built as build/tests/doubles/libcudart-double.so and loaded by efa-check through its normal
 * dlopen path (CudaLibrary=<path of the double>). It lets the GPU check run on machines without
 * a GPU. Nothing in the product reads the EFA_TEST_* variables below; only this double does.
 *
 * ABI: exactly the entry points of prolog/checks/gpu_cudart.h (EFA_CUDART_FUNCS), with the real
 * CUDA runtime ABI: cudaError_t is an int-sized enum and the error codes are the real ones
 * (driver_types.h), so the same code paths run against the double and the real libcudart.
 * tests/cuda-abi-check.sh compiles that list against the real cuda_runtime_api.h.
 *
 *   cudaGetDeviceCount(int *count)            EFA_TEST_GPUS devices; 0 -> cudaErrorNoDevice
 *   cudaSetDevice(int device)                 per-thread current device; bad -> InvalidDevice
 *   cudaMalloc(void **p, size_t size)         host memory (page aligned), tracked
 *   cudaFree(void *p)                         NULL ok; unknown/double free -> InvalidValue
 *   cudaGetErrorString(cudaError_t e)         the real runtime's strings
 *   cudaMemcpy(dst, src, n, kind)             a host copy; HostToDevice/DeviceToHost only
 *   cudaDriverGetVersion(int *v)              EFA_TEST_CUDA_DRIVER_VERSION, default 13000
 *   cudaRuntimeGetVersion(int *v)             13000
 *
 * Controls (environment, read on every call, so a test can change them between calls):
 *   EFA_TEST_GPUS=<n>            number of devices (0..64), default 0
 *   EFA_TEST_GPU_FAIL=<list>     comma separated faults:
 *       driver        every call fails like a node without the NVIDIA driver:
 *                     cudaErrorInsufficientDriver (35), count left untouched, driver version 0
 *       malloc        cudaMalloc fails with cudaErrorMemoryAllocation on every device
 *       malloc:<n>    ... only on device n
 *       setdevice:<n> cudaSetDevice(n) fails with cudaErrorInvalidDevice
 *   EFA_TEST_CUDA_DRIVER_VERSION=<v>   value of cudaDriverGetVersion (e.g. 12040)
 *
 * Test hooks (not CUDA symbols; tests find them with dlsym on the same handle):
 *   efa_test_cudart_live_allocs()     allocations not freed yet
 *   efa_test_cudart_total_allocs()    successful cudaMalloc calls since load
 *
 * Extending: a new entry point goes into the list of the product module that uses it (for
 * gpu.c: prolog/checks/gpu_cudart.h) and gets a definition here with the real error codes; the
 * compile-time check at the end of cudart_double.c keeps each definition equal to the list.
 */
#ifndef EFA_TEST_CUDART_DOUBLE_H
#define EFA_TEST_CUDART_DOUBLE_H

#include "checks/gpu_cudart.h"

#define CUDART_DOUBLE_MAX_GPUS   64
#define CUDART_DOUBLE_VERSION    13000   /* reported runtime version: CUDA 13.0 */

/* The CUDA runtime entry points, declared with exported visibility. */
#define X(ret, fn, params) __attribute__((visibility("default"))) ret fn params;
EFA_CUDART_FUNCS(X)
#undef X

__attribute__((visibility("default"))) int efa_test_cudart_live_allocs(void);
__attribute__((visibility("default"))) long efa_test_cudart_total_allocs(void);

#endif
