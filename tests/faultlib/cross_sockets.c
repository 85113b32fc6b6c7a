/*
 * cross_sockets.c -- fault modes for the cross-node tests (test infrastructure, not product).
 *
 * Part of libefa-fault.so, preloaded by the test cluster's wrapper into one node's efa-check.
 * These modes act one layer below libfabric's tcp provider, on the libc socket calls it
 * makes, so they break a node or a link the way a dead NIC or a security group would. They
 * touch only AF_INET/AF_INET6 sockets: PMIx talks to slurmstepd over a unix socket and is
 * left alone. This file interposes only connect, accept, accept4, send and sendmsg; other
 * fault modes of the library live in their own files and interpose other functions.
 * Only calls made from inside libfabric are affected (PMIx's own TCP connection to the
 * PMIx server, and everything else in the process, pass through).
 *
 *   EFA_FAULT_CROSS=isolate       every TCP connect fails (ECONNREFUSED) and every accepted
 *                                 TCP connection is closed: the node reaches nobody
 *   EFA_FAULT_CROSS=block_ports   TCP connects to a port in EFA_FAULT_CROSS_PORTS=LO-HI fail:
 *                                 with the peer's endpoint pinned to that range
 *                                 (FI_TCP_PORT_LOW_RANGE/HIGH_RANGE in the peer's fault file)
 *                                 and the reverse rule on the peer, one link is dead
 *   EFA_FAULT_CROSS=hang          the first TCP connect/send/sendmsg blocks forever: a rank
 *                                 hung below the product
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

static int cross_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}

static bool cross_port_blocked(int port)
{
	const char *r = getenv("EFA_FAULT_CROSS_PORTS");
	int lo, hi;

	if (!r || sscanf(r, "%d-%d", &lo, &hi) != 2)
		return false;
	return port >= lo && port <= hi;
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
	if (addr && cross_inet_family(addr->sa_family) && cross_from_libfabric(__builtin_return_address(0))) {
		if (cross_is("hang"))
			cross_hang();
		if (cross_is("isolate") || (cross_is("block_ports") && cross_port_blocked(cross_port(addr)))) {
			errno = ECONNREFUSED;
			return -1;
		}
	}
	return real(fd, addr, len);
}

static int cross_filter_accepted(int fd)
{
	if (fd >= 0 && cross_is("isolate") && cross_fd_is_inet(fd)) {
		close(fd);
		errno = EAGAIN;
		return -1;
	}
	return fd;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	static int (*real)(int, struct sockaddr *, socklen_t *);

	if (!real)
		*(void **)&real = cross_real("accept");
	int r = real(fd, addr, len);

	return cross_from_libfabric(__builtin_return_address(0)) ? cross_filter_accepted(r) : r;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	static int (*real)(int, struct sockaddr *, socklen_t *, int);

	if (!real)
		*(void **)&real = cross_real("accept4");
	int r = real(fd, addr, len, flags);

	return cross_from_libfabric(__builtin_return_address(0)) ? cross_filter_accepted(r) : r;
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
