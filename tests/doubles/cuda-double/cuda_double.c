/*
 * cuda_double.c -- TEST DOUBLE of the CUDA driver API (libcuda.so.1), CPU only. Not CUDA.
 *
 * Built as build/tests/doubles/libcuda-double.so. efa-check loads the driver API with
 * dlopen("libcuda.so.1"), so a test puts a link named libcuda.so.1 to this file in a directory
 * on LD_LIBRARY_PATH: the dynamic loader finds it where it finds the real one. Nothing in the
 * product reads the EFA_TEST_* variables below; only this double does.
 *
 * ABI: exactly the entry points of prolog/checks/gpu_cudadrv.h (EFA_CUDADRV_FUNCS), with the
 * real driver ABI (CUresult, CUdevice and the enums int-sized, CUdeviceptr unsigned long long)
 * and the real codes (cuda.h); tests/cuda-abi-check.sh compiles the list against cuda.h.
 *
 *   cuInit(0)                               CUDA_SUCCESS; with EFA_TEST_GPU_FAIL=driver
 *                                           CUDA_ERROR_NO_DEVICE (100)
 *   cuDeviceGet(&dev, ordinal)              dev = ordinal; out of range -> CUDA_ERROR_INVALID_DEVICE
 *   cuDeviceGetAttribute(&v, attr, dev)     CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED (124): 1, or
 *                                           per EFA_TEST_CUDA_DMABUF; other attributes 0
 *   cuMemGetHandleForAddressRange(&fd, p, size, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, flags)
 *                                           a memfd of `size` bytes standing for the range (the
 *                                           cudart double's "GPU memory" is host memory: the
 *                                           EFA personality layer registers base_addr + offset);
 *                                           p and size must be page aligned (as the real driver
 *                                           wants); flags CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE
 *                                           only from driver 12080 on (EFA_TEST_CUDA_DRIVER_VERSION,
 *                                           default 13000), older: CUDA_ERROR_INVALID_VALUE
 *   cuGetErrorString(e, &s)                 the real strings of the codes above
 *
 * Controls (environment, read on every call):
 *   EFA_TEST_GPUS=<n>                 devices (same meaning as in cudart-double)
 *   EFA_TEST_CUDA_DMABUF=0            CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED is 0 on every GPU
 *   EFA_TEST_CUDA_DMABUF_OFF=<list>   ... is 0 on the GPUs listed ("0,2")
 *   EFA_TEST_CUDA_DMABUF_FAIL=1       cuMemGetHandleForAddressRange fails with
 *                                     CUDA_ERROR_NOT_SUPPORTED (801) whatever the flags
 *   EFA_TEST_GPU_FAIL=driver          cuInit fails (no driver)
 *   EFA_TEST_CUDA_DRIVER_VERSION=<v>  below 12080 the PCIe mapping flag is refused
 *
 * Test hook: int efa_test_cuda_dmabuf_exports(void), file descriptors handed out so far.
 */
#include "checks/gpu_cudadrv.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define X(ret, fn, params) ret fn params;
EFA_CUDADRV_FUNCS(X)
#undef X
int efa_test_cuda_dmabuf_exports(void);

#define CU_ERROR_INVALID_DEVICE 101   /* CUDA_ERROR_INVALID_DEVICE */
#define CU_ERROR_NO_DEVICE      100   /* CUDA_ERROR_NO_DEVICE */

static atomic_int exports;

static long env_long(const char *name, long dflt)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end ? dflt : v;
}

static bool listed(const char *list, int n)
{
	for (const char *p = list; p && *p;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end != p && v == n)
			return true;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return false;
}

static bool no_driver(void)
{
	const char *f = getenv("EFA_TEST_GPU_FAIL");

	return f && strstr(f, "driver");
}

EFA_CU_RESULT cuInit(unsigned int Flags)
{
	if (Flags != 0)
		return EFA_CU_ERROR_INVALID_VALUE;
	return no_driver() ? CU_ERROR_NO_DEVICE : EFA_CU_SUCCESS;
}

EFA_CU_RESULT cuDeviceGet(EFA_CU_DEVICE *device, int ordinal)
{
	if (!device)
		return EFA_CU_ERROR_INVALID_VALUE;
	if (ordinal < 0 || ordinal >= env_long("EFA_TEST_GPUS", 0))
		return CU_ERROR_INVALID_DEVICE;
	*device = ordinal;
	return EFA_CU_SUCCESS;
}

EFA_CU_RESULT cuDeviceGetAttribute(int *pi, EFA_CU_DEVICE_ATTR attrib, EFA_CU_DEVICE dev)
{
	const char *s = getenv("EFA_TEST_CUDA_DMABUF");

	if (!pi)
		return EFA_CU_ERROR_INVALID_VALUE;
	if (dev < 0 || dev >= env_long("EFA_TEST_GPUS", 0))
		return CU_ERROR_INVALID_DEVICE;
	*pi = 0;
	if (attrib == EFA_CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED)
		*pi = (!s || strcmp(s, "0")) && !listed(getenv("EFA_TEST_CUDA_DMABUF_OFF"), dev);
	return EFA_CU_SUCCESS;
}

EFA_CU_RESULT cuMemGetHandleForAddressRange(void *handle, EFA_CU_DEVICEPTR dptr, size_t size,
					    EFA_CU_RANGE_HANDLE_TYPE handleType,
					    unsigned long long flags)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd;

	if (!handle || !dptr || !size || handleType != EFA_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD ||
	    dptr % (unsigned long long)page || size % (size_t)page)
		return EFA_CU_ERROR_INVALID_VALUE;
	if (flags & ~(unsigned long long)EFA_CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE)
		return EFA_CU_ERROR_INVALID_VALUE;
	if (flags && env_long("EFA_TEST_CUDA_DRIVER_VERSION", 13000) < 12080)
		return EFA_CU_ERROR_INVALID_VALUE;
	if (env_long("EFA_TEST_CUDA_DMABUF_FAIL", 0))
		return EFA_CU_ERROR_NOT_SUPPORTED;
	fd = memfd_create("efa-test-dmabuf", MFD_CLOEXEC);
	if (fd < 0)
		return EFA_CU_ERROR_NOT_SUPPORTED;
	if (ftruncate(fd, (off_t)size)) {
		close(fd);
		return EFA_CU_ERROR_NOT_SUPPORTED;
	}
	*(int *)handle = fd;
	atomic_fetch_add(&exports, 1);
	return EFA_CU_SUCCESS;
}

EFA_CU_RESULT cuGetErrorString(EFA_CU_RESULT error, const char **pStr)
{
	if (!pStr)
		return EFA_CU_ERROR_INVALID_VALUE;
	switch ((int)error) {
	case EFA_CU_SUCCESS:
		*pStr = "no error";
		return EFA_CU_SUCCESS;
	case EFA_CU_ERROR_INVALID_VALUE:
		*pStr = "invalid argument";
		return EFA_CU_SUCCESS;
	case CU_ERROR_NO_DEVICE:
		*pStr = "no CUDA-capable device is detected";
		return EFA_CU_SUCCESS;
	case CU_ERROR_INVALID_DEVICE:
		*pStr = "invalid device ordinal";
		return EFA_CU_SUCCESS;
	case EFA_CU_ERROR_NOT_SUPPORTED:
		*pStr = "operation not supported";
		return EFA_CU_SUCCESS;
	default:
		*pStr = NULL;
		return EFA_CU_ERROR_INVALID_VALUE;
	}
}

int efa_test_cuda_dmabuf_exports(void)
{
	return atomic_load(&exports);
}

/* Every definition above must have exactly the type of the ABI list. */
#define X(ret, fn, params) \
	static ret (*const abi_check_##fn) params __attribute__((unused)) = fn;
EFA_CUDADRV_FUNCS(X)
#undef X
