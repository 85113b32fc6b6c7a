/*
 * cross_sockets.c -- fault modes for the cross-node tests (test infrastructure, not product).
 *
 * Part of libefa-fault.so, preloaded by the test cluster's wrapper into one node's efa-check.
 * This mode acts one layer below libfabric's tcp provider, on the libc socket calls it
 * makes. It touches only AF_INET/AF_INET6 sockets: PMIx talks to slurmstepd over a unix
 * socket and is left alone. This file interposes only connect, send and sendmsg; other fault
 * modes of the library live in their own files and interpose other functions. Only calls
 * made from inside libfabric are affected (PMIx's own TCP connection to the PMIx server, and
 * everything else in the process, pass through).
 *
 *   EFA_FAULT_CROSS=hang          the first TCP connect/send/sendmsg blocks forever: a rank
 *                                 hung below the product
 *
 * A dead node, a dead link, a one-way drop, a security group that drops the data traffic and
 * a slow node are real network conditions on the test fabric (tests/cluster/fabric.sh,
 * `cluster.sh net`), no longer socket cuts here. A process that hangs is not something a
 * network can do (a dropped packet ends in a timeout the product sees as a dead link), so
 * this mode stays.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *cross_mode(void)
{
	const char *m = getenv("EFA_FAULT_CROSS");

	return m ? m : "";
}

static bool cross_is(const char *mode)
{
	return !strcmp(cross_mode(), mode);
}

static bool cross_inet_family(int family)
{
	return family == AF_INET || family == AF_INET6;
}

static bool cross_fd_is_inet(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && cross_inet_family(ss.ss_family);
}

static void cross_hang(void)
{
	for (;;)
		pause();
}

/* Was the interposed call made by libfabric (its providers live in libfabric.so)? */
static bool cross_from_libfabric(const void *ret)
{
	Dl_info di;

	return dladdr(ret, &di) && di.dli_fname && strstr(di.dli_fname, "libfabric");
}

static void *cross_real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f)
		abort();
	return f;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);

	if (!real)
		*(void **)&real = cross_real("connect");
	if (addr && cross_inet_family(addr->sa_family) && cross_is("hang") &&
	    cross_from_libfabric(__builtin_return_address(0)))
		cross_hang();
	return real(fd, addr, len);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	static ssize_t (*real)(int, const void *, size_t, int);

	if (!real)
		*(void **)&real = cross_real("send");
	if (cross_is("hang") && cross_fd_is_inet(fd) && cross_from_libfabric(__builtin_return_address(0)))
		cross_hang();
	return real(fd, buf, len, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);

	if (!real)
		*(void **)&real = cross_real("sendmsg");
	if (cross_is("hang") && cross_fd_is_inet(fd) && cross_from_libfabric(__builtin_return_address(0)))
		cross_hang();
	return real(fd, msg, flags);
}
