/*
 * fabric_dl.c -- libfabric is loaded at run time, in the process that uses it.
 *
 * Linking libfabric into efa-check would run its providers' library constructors at every
 * start: with Debian's libfabric, libinfinipath's constructor alone sleeps ~200 ms. The prolog's
 * cached path, the health check's bookkeeping and the SPANK plugin's exec's must not pay that,
 * and the supervising parent must never run libfabric code at all. So efa-check defines the six
 * exported libfabric functions it calls (everything else in the libfabric API is a static
 * inline through the ops tables) as trampolines that dlopen libfabric on first use, in the
 * worker, and forward to the next definition in the symbol search order: a preloaded library
 * (the test fault library) if there is one, else libfabric itself.
 */
#include "fabric/fabric.h"
#include "core/strutil.h"

#include <dlfcn.h>
#include <pthread.h>
#include <rdma/fabric.h>
#include <rdma/fi_errno.h>
#include <string.h>

#ifndef EFA_LIBFABRIC_PATH
#define EFA_LIBFABRIC_PATH ""
#endif

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *lib;
static char load_error[256];

struct fabric_syms {
	int (*getinfo)(uint32_t, const char *, const char *, uint64_t, const struct fi_info *,
		       struct fi_info **);
	void (*freeinfo)(struct fi_info *);
	struct fi_info *(*dupinfo)(const struct fi_info *);
	int (*fabric)(struct fi_fabric_attr *, struct fid_fabric **, void *);
	const char *(*strerror)(int);
	uint32_t (*version)(void);
};
static struct fabric_syms syms;

/* RTLD_NEXT from this object: the preloaded fault library in tests, else libfabric (opened
 * RTLD_GLOBAL so that it is in the search order). */
static void *next_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	return p ? p : dlsym(lib, name);
}

static void load(void)
{
	static const char *const candidates[] = { EFA_LIBFABRIC_PATH, "libfabric.so.1" };

	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]) && !lib; i++) {
		if (!candidates[i][0])
			continue;
		lib = dlopen(candidates[i], RTLD_NOW | RTLD_GLOBAL);
		if (!lib)
			str_copy(load_error, sizeof(load_error), dlerror());
	}
	if (!lib)
		return;
	syms.getinfo = next_symbol("fi_getinfo");
	syms.freeinfo = next_symbol("fi_freeinfo");
	syms.dupinfo = next_symbol("fi_dupinfo");
	syms.fabric = next_symbol("fi_fabric");
	syms.strerror = next_symbol("fi_strerror");
	syms.version = next_symbol("fi_version");
	if (!syms.getinfo || !syms.freeinfo || !syms.dupinfo || !syms.fabric || !syms.strerror ||
	    !syms.version) {
		str_copy(load_error, sizeof(load_error), "libfabric.so.1 lacks fi_getinfo/fi_fabric/...");
		memset(&syms, 0, sizeof(syms));
	}
}

static bool loaded(void)
{
	pthread_once(&load_once, load);
	return syms.getinfo != NULL;
}

const char *fabric_load_error(void)
{
	return loaded() ? NULL : load_error;
}

int fi_getinfo(uint32_t version, const char *node, const char *service, uint64_t flags,
	       const struct fi_info *hints, struct fi_info **info)
{
	if (!loaded())
		return -FI_ENOSYS;
	return syms.getinfo(version, node, service, flags, hints, info);
}

void fi_freeinfo(struct fi_info *info)
{
	if (info && loaded())
		syms.freeinfo(info);
}

struct fi_info *fi_dupinfo(const struct fi_info *info)
{
	return loaded() ? syms.dupinfo(info) : NULL;
}

int fi_fabric(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context)
{
	if (!loaded())
		return -FI_ENOSYS;
	return syms.fabric(attr, fabric, context);
}

const char *fi_strerror(int errnum)
{
	if (!loaded())
		return strerror(errnum < 0 ? -errnum : errnum);
	return syms.strerror(errnum);
}

uint32_t fi_version(void)
{
	return loaded() ? syms.version() : 0;
}
