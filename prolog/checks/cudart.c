/*
 * cudart.c -- libcudart loaded with dlopen (see cudart.h).
 */
#include "checks/cudart.h"
#include "core/strutil.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>


static const char *const cudart_sonames[] = {
	"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so",
};



static bool cudart_resolve(struct cudart *rt, char *err, size_t errlen)
{
	void *sym;

#define X(ret, fn, params) sym = dlsym(rt->handle, #fn); memcpy(&rt->fn, &sym, sizeof(sym));
	EFA_CUDART_FUNCS(X)
#undef X
	/* cudaDriverGetVersion and cudaRuntimeGetVersion are optional (detail only). */
	const char *missing = !rt->cudaGetDeviceCount ? "cudaGetDeviceCount" :
			      !rt->cudaSetDevice ? "cudaSetDevice" :
			      !rt->cudaMalloc ? "cudaMalloc" :
			      !rt->cudaFree ? "cudaFree" :
			      !rt->cudaGetErrorString ? "cudaGetErrorString" : NULL;

	if (missing)
		str_printf(err, errlen, "%s: no symbol %s", rt->name, missing);
	return !missing;
}

void cudart_close(struct cudart *rt)
{
	if (rt->handle)
		dlclose(rt->handle);
	memset(rt, 0, sizeof(*rt));
}

static bool dlerror_is_not_found(const char *e)
{
	return !e || strstr(e, "No such file or directory");
}

/* Open one candidate. Returns 0, or -1 with a reason in err when it exists but is unusable
 * (or when it was configured explicitly). */
static int cudart_try(struct cudart *rt, const char *name, bool explicit, char *err, size_t errlen)
{
	const char *e;

	dlerror();
	rt->handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!rt->handle) {
		e = dlerror();
		if (explicit || !dlerror_is_not_found(e))
			str_printf(err, errlen, "%s", e ? e : name);
		return -1;
	}
	str_copy(rt->name, sizeof(rt->name), name);
	if (cudart_resolve(rt, err, errlen))
		return 0;
	dlclose(rt->handle);
	rt->handle = NULL;
	return -1;
}

/* Does this runtime need a newer driver than the node has? Then an older runtime found later
 * in the search (libcudart.so.12 beside a CUDA 13 toolkit on a 12.x driver) may work. */
static bool cudart_driver_too_old(const struct cudart *rt)
{
	int n = 0;

	return rt->cudaGetDeviceCount(&n) == EFA_CUDA_ERROR_INSUFFICIENT_DRIVER;
}

/* Search the known sonames. A runtime too new for the driver is kept only as a fallback (its
 * error is then reported) while older ones are tried. */
static int cudart_search(struct cudart *rt, char *err, size_t errlen)
{
	struct cudart fallback = { 0 };
	char why[GPU_ERR_MAX] = "";

	for (size_t i = 0; i < sizeof(cudart_sonames) / sizeof(cudart_sonames[0]); i++) {
		char e[GPU_ERR_MAX] = "";

		if (cudart_try(rt, cudart_sonames[i], false, e, sizeof(e))) {
			if (e[0] && !why[0])
				str_copy(why, sizeof(why), e);
			continue;
		}
		if (!cudart_driver_too_old(rt)) {
			cudart_close(&fallback);
			return 0;
		}
		if (fallback.handle)
			cudart_close(rt);
		else
			fallback = *rt;
		memset(rt, 0, sizeof(*rt));
	}
	if (fallback.handle) {
		*rt = fallback;
		return 0;
	}
	str_printf(err, errlen, "tried libcudart.so.13, libcudart.so.12, libcudart.so.11.0, libcudart.so%s%s",
		why[0] ? "; " : "", why);
	return -1;
}

/* Load libcudart: the configured library, else the known sonames in order. On failure err
 * says what was tried and, when a library was found but unusable, why. */
int cudart_open(const char *configured, struct cudart *rt, char *err, size_t errlen)
{
	char why[GPU_ERR_MAX] = "";

	memset(rt, 0, sizeof(*rt));
	if (!configured || !*configured)
		return cudart_search(rt, err, errlen);
	if (cudart_try(rt, configured, true, why, sizeof(why)) == 0)
		return 0;
	str_printf(err, errlen, "CudaLibrary=%s: %s", configured, why);
	return -1;
}

const char *cuda_strerror(const struct cudart *rt, int e)
{
	const char *s = rt->cudaGetErrorString(e);

	return s ? s : "unknown CUDA error";
}

/* " (CUDA driver 12.4, runtime 13.0)" when the versions can be read, else "". */
void cuda_versions(const struct cudart *rt, char *buf, size_t size)
{
	int drv = 0, run = 0;

	buf[0] = '\0';
	if (!rt->cudaDriverGetVersion || !rt->cudaRuntimeGetVersion ||
	    rt->cudaDriverGetVersion(&drv) != EFA_CUDA_SUCCESS ||
	    rt->cudaRuntimeGetVersion(&run) != EFA_CUDA_SUCCESS)
		return;
	snprintf(buf, size, " (CUDA driver %d.%d, runtime %d.%d)",
		 drv / 1000, drv % 1000 / 10, run / 1000, run % 1000 / 10);
}
