/*
 * hangfs -- a FUSE filesystem whose file reads never return, for tests (no libfuse: the
 * kernel protocol of <linux/fuse.h> spoken directly on /dev/fuse).
 *
 *   hangfs MOUNTPOINT      (root; stays in the foreground; kill it to end every hung read)
 *
 * The mount holds one regular file, "hang" (root-owned, 0644, 4096 bytes), and every other
 * name in the root directory resolves to it too. open succeeds; read is taken off the queue
 * and never answered. Once the daemon has read a request the kernel waits for the answer
 * uninterruptibly (fs/fuse/dev.c request_wait_answer: after the killable wait, a request
 * already sent to userspace is waited for with wait_event), so the reader sits in D state and
 * SIGKILL does not end it -- what a read on a hung NFS/Lustre server or a stuck sysfs
 * attribute does to a process. When this daemon exits, /dev/fuse is closed, the connection
 * is aborted and every such read fails with ENOTCONN: the test cleans up by killing it.
 * "ready" is printed on stdout once the mount is in place.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_INO 2
#define BUF_SIZE (1 << 20) + 4096

static int dev = -1;

static void reply(uint64_t unique, int error, const void *data, size_t len)
{
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + len), .error = error,
				     .unique = unique };
	char buf[sizeof(h) + 512];

	if (len > 512)
		return;
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), data, len);
	if (write(dev, buf, sizeof(h) + len) < 0 && errno != ENOENT)
		perror("hangfs: write");
}

static void fill_attr(struct fuse_attr *a, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->nlink = 1;
	a->blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0644;
		a->size = 4096;
		a->blocks = 8;
	}
}

static void handle(const struct fuse_in_header *in, const void *arg)
{
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = arg;
		struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION,
					   .minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ?
						    ii->minor : FUSE_KERNEL_MINOR_VERSION,
					   .max_readahead = 0, .max_write = 4096,
					   .max_background = 16, .congestion_threshold = 12 };

		reply(in->unique, 0, &o, ii->minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(o));
		break;
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out e = { .nodeid = FILE_INO, .generation = 1 };

		if (in->nodeid != FUSE_ROOT_ID) {
			reply(in->unique, -ENOENT, NULL, 0);
			break;
		}
		fill_attr(&e.attr, FILE_INO);
		reply(in->unique, 0, &e, sizeof(e));
		break;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out o = { 0 };

		fill_attr(&o.attr, in->nodeid);
		reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_OPEN: {
		struct fuse_open_out o = { .fh = 1, .open_flags = FOPEN_DIRECT_IO };

		reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_READ:
		break;   /* never answered: the reader waits in D state */
	case FUSE_INTERRUPT:
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		break;   /* no reply expected (an INTERRUPT left unanswered keeps the read waiting) */
	case FUSE_RELEASE:
	case FUSE_FLUSH:
	case FUSE_ACCESS:
	case FUSE_DESTROY:
		reply(in->unique, 0, NULL, 0);
		break;
	default:
		reply(in->unique, -ENOSYS, NULL, 0);
		break;
	}
}

int main(int argc, char **argv)
{
	char opts[128], *buf;

	if (argc != 2) {
		fprintf(stderr, "usage: hangfs MOUNTPOINT\n");
		return 2;
	}
	dev = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		perror("hangfs: /dev/fuse");
		return 1;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", dev);
	if (mount("hangfs", argv[1], "fuse.hangfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		perror("hangfs: mount");
		return 1;
	}
	buf = malloc(BUF_SIZE);
	if (!buf)
		return 1;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = read(dev, buf, BUF_SIZE);

		if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
			continue;
		if (n < (ssize_t)sizeof(struct fuse_in_header)) {
			if (n < 0 && errno == ENODEV)
				return 0;   /* unmounted */
			perror("hangfs: read");
			return 1;
		}
		handle((const struct fuse_in_header *)buf, buf + sizeof(struct fuse_in_header));
	}
}
