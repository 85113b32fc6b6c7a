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
#include <link.h>
#include <pthread.h>
#include <rdma/fabric.h>
#include <rdma/fi_errno.h>
#include <stdio.h>
#include <string.h>

#ifndef EFA_LIBFABRIC_PATH
#define EFA_LIBFABRIC_PATH ""
#endif

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *lib;
static char load_error[512];
static char configured[4096];   /* LibfabricPath=, set before the first use */
static char loaded_path[4096];  /* the file the dynamic linker opened */

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

static bool loaded(void);

/* RTLD_NEXT from this object: the preloaded fault library in tests, else libfabric (opened
 * RTLD_GLOBAL so that it is in the search order). */
static void *next_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	return p ? p : dlsym(lib, name);
}

/*
 * Which libfabric (issue 9 point 8). Jobs on EFA nodes load the AWS EFA installer's libfabric
 * (aws-ofi-nccl is linked against it; the installer puts it in /opt/amazon/efa/lib64 on Amazon
 * Linux/RHEL and /opt/amazon/efa/lib on Ubuntu). A distro libfabric beside it has no CUDA hmem
 * and may lack efa-direct, so testing it would test something jobs never use. Order:
 * LibfabricPath= (only that one: an admin's choice that fails is reported, not replaced),
 * the installer's lib64 then lib, the build-time pkg-config path, then libfabric.so.1.
 */
size_t fabric_library_candidates(const char *config_path, const char **out, size_t max)
{
	static const char *const defaults[] = {
		"/opt/amazon/efa/lib64/libfabric.so.1",
		"/opt/amazon/efa/lib/libfabric.so.1",
		EFA_LIBFABRIC_PATH,
		"libfabric.so.1",
	};
	size_t n = 0;

	if (config_path && *config_path) {
		if (max)
			out[n++] = config_path;
		return n;
	}
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]) && n < max; i++) {
		bool dup = !defaults[i][0];

		for (size_t j = 0; j < n && !dup; j++)
			dup = !strcmp(out[j], defaults[i]);
		if (!dup)
			out[n++] = defaults[i];
	}
	return n;
}

void fabric_set_library(const char *path)
{
	str_copy(configured, sizeof(configured), path ? path : "");
}

static void remember_path(const char *name)
{
	struct link_map *map = NULL;

	if (dlinfo(lib, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && map->l_name[0])
		str_copy(loaded_path, sizeof(loaded_path), map->l_name);
	else
		str_copy(loaded_path, sizeof(loaded_path), name);
}

static void load(void)
{
	const char *cand[8];
	size_t n = fabric_library_candidates(configured, cand, 8);
	bool have_real_error = false;

	for (size_t i = 0; i < n && !lib; i++) {
		const char *e;
		bool real;

		lib = dlopen(cand[i], RTLD_NOW | RTLD_GLOBAL);
		if (lib) {
			remember_path(cand[i]);
			break;
		}
		e = dlerror();
		/* Report a library that exists but does not load over one that is absent. */
		real = e && !strstr(e, "No such file");
		if (have_real_error && !real)
			continue;
		str_copy(load_error, sizeof(load_error), configured[0] ? "LibfabricPath=" : "");
		str_appendf(load_error, sizeof(load_error), "%s", e ? e : cand[i]);
		have_real_error = real;
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
		str_copy(load_error, sizeof(load_error), loaded_path);
		str_appendf(load_error, sizeof(load_error), " lacks fi_getinfo/fi_fabric/...");
		memset(&syms, 0, sizeof(syms));
	}
}

const char *fabric_library_path(void)
{
	return loaded() ? loaded_path : NULL;
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
