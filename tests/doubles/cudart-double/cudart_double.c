/*
 * cudart_double.c -- TEST DOUBLE of the CUDA runtime: a CPU stand-in for the few libcudart
 * entry points efa-check uses. See cudart_double.h for the ABI and the EFA_TEST_* controls.
 */
#include "cudart_double.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- controls ------------------------------------------------------------------ */

static int env_int(const char *name, int dflt, int min, int max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return dflt;
	return (int)v;
}

static int ngpus(void)
{
	return env_int("EFA_TEST_GPUS", 0, 0, CUDART_DOUBLE_MAX_GPUS);
}

/* Is fault "what" (or "what:<device>") listed in EFA_TEST_GPU_FAIL for this device?
 * device < 0 matches only the unqualified form. */
static bool fault(const char *what, int device)
{
	const char *s = getenv("EFA_TEST_GPU_FAIL");
	size_t len = strlen(what);

	while (s && *s) {
		size_t n = strcspn(s, ",");

		if (n >= len && !strncmp(s, what, len)) {
			if (n == len)
				return true;
			if (s[len] == ':' && device >= 0 && atoi(s + len + 1) == device)
				return true;
		}
		s += n;
		if (*s == ',')
			s++;
	}
	return false;
}

static bool no_driver(void)
{
	return fault("driver", -1);
}

/* ---- devices and allocations --------------------------------------------------- */

static __thread int current_device;

struct alloc {
	void *ptr;
	struct alloc *next;
};

static pthread_mutex_t allocs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct alloc *allocs;
static int live_allocs;
static long total_allocs;

static int track(void *p)
{
	struct alloc *a = malloc(sizeof(*a));

	if (!a)
		return -1;
	a->ptr = p;
	pthread_mutex_lock(&allocs_lock);
	a->next = allocs;
	allocs = a;
	live_allocs++;
	total_allocs++;
	pthread_mutex_unlock(&allocs_lock);
	return 0;
}

static bool untrack(void *p)
{
	struct alloc **pp, *a = NULL;

	pthread_mutex_lock(&allocs_lock);
	for (pp = &allocs; *pp; pp = &(*pp)->next) {
		if ((*pp)->ptr == p) {
			a = *pp;
			*pp = a->next;
			live_allocs--;
			break;
		}
	}
	pthread_mutex_unlock(&allocs_lock);
	free(a);
	return a != NULL;
}

/* ---- the CUDA runtime entry points ------------------------------------------ */

EFA_CUDA_ERR cudaGetDeviceCount(int *count)
{
	if (no_driver())
		return EFA_CUDA_ERROR_INSUFFICIENT_DRIVER;   /* real runtime leaves *count alone */
	if (!count)
		return EFA_CUDA_ERROR_INVALID_VALUE;
	*count = ngpus();
	return *count ? EFA_CUDA_SUCCESS : EFA_CUDA_ERROR_NO_DEVICE;
}

EFA_CUDA_ERR cudaSetDevice(int device)
{
	if (no_driver())
		return EFA_CUDA_ERROR_INSUFFICIENT_DRIVER;
	if (!ngpus())
		return EFA_CUDA_ERROR_NO_DEVICE;
	if (device < 0 || device >= ngpus() || fault("setdevice", device))
		return EFA_CUDA_ERROR_INVALID_DEVICE;
	current_device = device;
	return EFA_CUDA_SUCCESS;
}

EFA_CUDA_ERR cudaMalloc(void **devPtr, size_t size)
{
	void *p = NULL;

	if (no_driver())
		return EFA_CUDA_ERROR_INSUFFICIENT_DRIVER;
	if (!ngpus())
		return EFA_CUDA_ERROR_NO_DEVICE;
	if (!devPtr)
		return EFA_CUDA_ERROR_INVALID_VALUE;
	*devPtr = NULL;
	if (current_device >= ngpus())
		return EFA_CUDA_ERROR_INVALID_DEVICE;
	if (fault("malloc", current_device))
		return EFA_CUDA_ERROR_MEMORY_ALLOCATION;
	if (size == 0)
		return EFA_CUDA_SUCCESS;
	if (posix_memalign(&p, 4096, size))
		return EFA_CUDA_ERROR_MEMORY_ALLOCATION;
	if (track(p)) {
		free(p);
		return EFA_CUDA_ERROR_MEMORY_ALLOCATION;
	}
	*devPtr = p;
	return EFA_CUDA_SUCCESS;
}

EFA_CUDA_ERR cudaFree(void *devPtr)
{
	if (no_driver())
		return EFA_CUDA_ERROR_INSUFFICIENT_DRIVER;
	if (!devPtr)
		return EFA_CUDA_SUCCESS;
	if (!untrack(devPtr))
		return EFA_CUDA_ERROR_INVALID_VALUE;
	free(devPtr);
	return EFA_CUDA_SUCCESS;
}

/* GPU memory is host memory here: a plain copy, both directions. Unknown device pointers
 * (not from cudaMalloc) are cudaErrorInvalidValue, as the runtime answers for bad pointers. */
EFA_CUDA_ERR cudaMemcpy(void *dst, const void *src, size_t count, EFA_CUDA_MEMCPY_KIND kind)
{
	if (no_driver())
		return EFA_CUDA_ERROR_INSUFFICIENT_DRIVER;
	if (!dst || !src || (kind != EFA_CUDA_MEMCPY_HOST_TO_DEVICE &&
			     kind != EFA_CUDA_MEMCPY_DEVICE_TO_HOST))
		return EFA_CUDA_ERROR_INVALID_VALUE;
	if (count)
		memmove(dst, src, count);
	return EFA_CUDA_SUCCESS;
}

const char *cudaGetErrorString(EFA_CUDA_ERR error)
{
	switch ((int)error) {
	case EFA_CUDA_SUCCESS: return "no error";
	case EFA_CUDA_ERROR_INVALID_VALUE: return "invalid argument";
	case EFA_CUDA_ERROR_MEMORY_ALLOCATION: return "out of memory";
	case EFA_CUDA_ERROR_INITIALIZATION: return "initialization error";
	case EFA_CUDA_ERROR_INVALID_DEVICE_PTR: return "invalid device pointer";
	case EFA_CUDA_ERROR_INSUFFICIENT_DRIVER:
		return "CUDA driver version is insufficient for CUDA runtime version";
	case EFA_CUDA_ERROR_NO_DEVICE: return "no CUDA-capable device is detected";
	case EFA_CUDA_ERROR_INVALID_DEVICE: return "invalid device ordinal";
	}
	return "unrecognized error code";
}

EFA_CUDA_ERR cudaDriverGetVersion(int *driverVersion)
{
	if (!driverVersion)
		return EFA_CUDA_ERROR_INVALID_VALUE;
	*driverVersion = no_driver() ? 0 : env_int("EFA_TEST_CUDA_DRIVER_VERSION", 13000, 0, 1000000);
	return EFA_CUDA_SUCCESS;
}

EFA_CUDA_ERR cudaRuntimeGetVersion(int *runtimeVersion)
{
	if (!runtimeVersion)
		return EFA_CUDA_ERROR_INVALID_VALUE;
	*runtimeVersion = CUDART_DOUBLE_VERSION;
	return EFA_CUDA_SUCCESS;
}

/* ---- test hooks ---------------------------------------------------------------- */

int efa_test_cudart_live_allocs(void)
{
	int n;

	pthread_mutex_lock(&allocs_lock);
	n = live_allocs;
	pthread_mutex_unlock(&allocs_lock);
	return n;
}

long efa_test_cudart_total_allocs(void)
{
	long n;

	pthread_mutex_lock(&allocs_lock);
	n = total_allocs;
	pthread_mutex_unlock(&allocs_lock);
	return n;
}

/* Every definition above must have exactly the type of the ABI list. */
#define X(ret, fn, params) \
	static ret (*const abi_check_##fn) params __attribute__((unused)) = fn;
EFA_CUDART_FUNCS(X)
#undef X
