/*
 * nccl_double.c -- TEST DOUBLE, not NCCL: a CPU stand-in for the few NCCL and CUDA runtime
 * entry points prolog/cross/nccl.c uses (EFA_NCCL_FUNCS and EFA_NCCL_CUDART_FUNCS in prolog/cross/nccl.h),
 * with their real ABI, doing a real all-reduce (sum of float32) across processes through
 * files in a rendezvous directory whose path travels inside the ncclUniqueId.
 * "GPU memory" is host memory. Controls are environment variables read only by this double
 * (tests/doubles/README.md, section nccl-double).
 */
#include "cross/nccl.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Declare every entry point from the product's list: a definition below that does not match
 * the product's prototype is a compile error. */
#define X(ret, name, params) ret name params;
EFA_NCCL_FUNCS(X)
EFA_NCCL_CUDART_FUNCS(X)
#undef X

#define ID_MAGIC "NCCLDOUBLE:"
#define WAIT_MAX_MS (600 * 1000)

enum { nccl_ok = 0, nccl_system_error = 2, nccl_internal_error = 3, nccl_invalid_argument = 4,
       nccl_invalid_usage = 5 };
enum { cuda_ok = 0, cuda_invalid_value = 1, cuda_memory_allocation = 2, cuda_no_device = 100,
       cuda_invalid_device = 101 };

struct dcomm {
	char dir[EFA_NCCL_ID_BYTES];
	int nranks, rank;
	long seq;
	long *send_seq, *recv_seq;   /* per peer: point-to-point messages so far */
	bool connected;              /* runtime connect done (first collective) */
	struct dcomm *next_pending;
};

struct dop {
	struct dcomm *comm;
	int peer;                    /* -1: an all-reduce; else an ncclRecv from this rank */
	long seq;
	float *recv;
	size_t count;
	struct dop *next;
};

struct dstream {
	struct dop *head, *tail;
};

static __thread int cur_device;
static __thread int group_depth;
static __thread struct dcomm *pending_init;
static __thread struct dcomm *pending_connect[64];
static __thread int npending_connect;

/* ---- controls ------------------------------------------------------------------------ */

static int env_int(const char *name, int dflt)
{
	const char *s = getenv(name);

	return s && *s ? atoi(s) : dflt;
}

static bool hang_at(const char *where)
{
	const char *h = getenv("EFA_TEST_NCCL_HANG");

	return h && !strcmp(h, where);
}

static void hang(void)
{
	for (;;)
		pause();
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* EFA_TEST_NCCL_SLOW_MS: this process is a slow rank (a node whose network is slow): every
 * message it sends -- its all-reduce contribution, each ncclSend -- leaves that much later.
 * As with real NCCL, everyone's all-reduce waits for it; a pair exchange is slow only when
 * it is one of the two. */
static void slow_rank_delay(void)
{
	long ms = env_int("EFA_TEST_NCCL_SLOW_MS", 0);

	if (ms > 0)
		sleep_ms(ms);
}

/* ---- files ------------------------------------------------------------------------------ */

static int write_file(const char *path, const void *buf, size_t len)
{
	char tmp[512];
	int fd;
	ssize_t w = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	for (size_t off = 0; off < len; off += (size_t)w) {
		w = write(fd, (const char *)buf + off, len - off);
		if (w <= 0) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	return rename(tmp, path);
}

static bool wait_file(const char *path)
{
	for (long t = 0; t < WAIT_MAX_MS; t++) {
		if (access(path, F_OK) == 0)
			return true;
		sleep_ms(1);
	}
	return false;
}

static int read_floats(const char *path, float *out, size_t count)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t want = count * sizeof(float), got = 0;

	if (fd < 0)
		return -1;
	while (got < want) {
		ssize_t r = read(fd, (char *)out + got, want - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return got == want ? 0 : -1;
}

/* ---- CUDA runtime ---------------------------------------------------------------------- */

int cudaGetDeviceCount(int *count)
{
	int n = env_int("EFA_TEST_GPUS", 0);

	*count = n < 0 ? 0 : n;
	return n > 0 ? cuda_ok : cuda_no_device;
}

int cudaSetDevice(int device)
{
	if (device < 0 || device >= env_int("EFA_TEST_GPUS", 0))
		return cuda_invalid_device;
	cur_device = device;
	return cuda_ok;
}

int cudaMalloc(void **p, size_t size)
{
	if (posix_memalign(p, 4096, size ? size : 1))
		return cuda_memory_allocation;
	return cuda_ok;
}

int cudaFree(void *p)
{
	free(p);
	return cuda_ok;
}

int cudaMemcpy(void *dst, const void *src, size_t count, int kind)
{
	(void)kind;
	memcpy(dst, src, count);
	return cuda_ok;
}

static void stream_push(struct dstream *s, struct dop *d)
{
	if (s->tail)
		s->tail->next = d;
	else
		s->head = d;
	s->tail = d;
}

int cudaStreamCreate(void **stream)
{
	*stream = calloc(1, sizeof(struct dstream));
	return *stream ? cuda_ok : cuda_memory_allocation;
}

/* An ncclRecv: the peer's message file, into the receive buffer. */
static int complete_recv(struct dop *op)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/p2p.%d.%d.%ld", op->comm->dir, op->peer, op->comm->rank,
		 op->seq);
	if (!wait_file(path) || read_floats(path, op->recv, op->count))
		return cuda_invalid_value;
	return cuda_ok;
}

static int complete_op(struct dop *op)
{
	struct dcomm *c = op->comm;
	float *tmp;
	char path[512];

	if (op->peer >= 0)
		return complete_recv(op);
	tmp = malloc(op->count * sizeof(float));
	if (!tmp)
		return cuda_memory_allocation;
	memset(op->recv, 0, op->count * sizeof(float));
	for (int r = 0; r < c->nranks; r++) {
		snprintf(path, sizeof(path), "%s/op%ld.rank%d", c->dir, op->seq, r);
		if (!wait_file(path) || read_floats(path, tmp, op->count)) {
			free(tmp);
			return cuda_invalid_value;
		}
		for (size_t i = 0; i < op->count; i++)
			op->recv[i] += tmp[i];
	}
	free(tmp);
	if (getenv("EFA_TEST_NCCL_WRONG") && op->count)
		op->recv[op->count / 2] += 1.0f;
	return cuda_ok;
}

int cudaStreamSynchronize(void *stream)
{
	struct dstream *s = stream;
	int rc = cuda_ok;

	if (hang_at("sync"))
		hang();
	if (env_int("EFA_TEST_NCCL_DELAY_MS", 0) > 0)
		sleep_ms(env_int("EFA_TEST_NCCL_DELAY_MS", 0));
	while (s && s->head) {
		struct dop *op = s->head;

		s->head = op->next;
		if (rc == cuda_ok)
			rc = complete_op(op);
		free(op);
	}
	if (s)
		s->tail = NULL;
	return rc;
}

int cudaStreamDestroy(void *stream)
{
	struct dstream *s = stream;

	while (s && s->head) {
		struct dop *op = s->head;

		s->head = op->next;
		free(op);
	}
	free(s);
	return cuda_ok;
}

const char *cudaGetErrorString(int error)
{
	switch (error) {
	case cuda_ok: return "no error";
	case cuda_invalid_value: return "invalid argument";
	case cuda_memory_allocation: return "out of memory";
	case cuda_no_device: return "no CUDA-capable device is detected";
	case cuda_invalid_device: return "invalid device ordinal";
	}
	return "unrecognized error code";
}

/* ---- NCCL ------------------------------------------------------------------------------ */

/* NCCL's net plugin lookup (NVIDIA/nccl src/plugin/net.cc): NCCL_NET_PLUGIN as given, then
 * "libnccl-net-<value>.so"; without it "libnccl-net.so". Kept loaded, RTLD_LOCAL like NCCL
 * (each init opens it again: a reference more); a missing plugin is not an error (NCCL then uses its own transports). */
static void load_net_plugin(void)
{
	const char *v = getenv("NCCL_NET_PLUGIN");
	char name[512];

	if (v && *v) {
		if (dlopen(v, RTLD_NOW | RTLD_LOCAL))
			return;
		snprintf(name, sizeof(name), "libnccl-net-%s.so", v);
		dlopen(name, RTLD_NOW | RTLD_LOCAL);
	} else {
		dlopen("libnccl-net.so", RTLD_NOW | RTLD_LOCAL);
	}
}

/* Runtime connect (NCCL >= 2.22, NCCL_RUNTIME_CONNECT=1): the first collective on a
 * communicator sets up the connections to its peers: it waits for every rank to get there
 * (conn.<rank> files) and takes EFA_TEST_NCCL_CONNECT_MS longer. Inside a group the wait is
 * at the outermost ncclGroupEnd (one process drives several ranks). */
static int connect_announce(struct dcomm *c)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/conn.%d", c->dir, c->rank);
	return write_file(path, "1", 1) ? nccl_system_error : nccl_ok;
}

static int connect_wait(struct dcomm *c)
{
	char path[512];

	for (int r = 0; r < c->nranks; r++) {
		snprintf(path, sizeof(path), "%s/conn.%d", c->dir, r);
		if (!wait_file(path))
			return nccl_system_error;
	}
	c->connected = true;
	return nccl_ok;
}

static void connect_delay(void)
{
	long ms = env_int("EFA_TEST_NCCL_CONNECT_MS", 0);

	if (ms > 0)
		sleep_ms(ms);
}

int ncclGetUniqueId(struct efa_nccl_unique_id *id)
{
	const char *base = getenv("EFA_TEST_NCCL_DIR");
	char dir[EFA_NCCL_ID_BYTES];

	if (!base || !*base)
		base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if (snprintf(dir, sizeof(dir), "%s/nccl-double.XXXXXX", base) >= (int)sizeof(dir) - (int)sizeof(ID_MAGIC))
		return nccl_invalid_usage;
	if (!mkdtemp(dir))
		return nccl_system_error;
	memset(id, 0, sizeof(*id));
	memcpy(id->internal, ID_MAGIC, strlen(ID_MAGIC));
	memcpy(id->internal + strlen(ID_MAGIC), dir, strlen(dir));
	return nccl_ok;
}

static int wait_ready(struct dcomm *c)
{
	char path[512];

	for (int r = 0; r < c->nranks; r++) {
		snprintf(path, sizeof(path), "%s/ready.%d", c->dir, r);
		if (!wait_file(path))
			return nccl_system_error;
	}
	return nccl_ok;
}

int ncclCommInitRank(void **comm, int nranks, struct efa_nccl_unique_id id, int rank)
{
	struct dcomm *c;
	char path[512];

	if (hang_at("init"))
		hang();
	if (strncmp(id.internal, ID_MAGIC, strlen(ID_MAGIC)) || nranks < 1 || rank < 0 || rank >= nranks)
		return nccl_invalid_argument;
	load_net_plugin();
	c = calloc(1, sizeof(*c));
	if (!c)
		return nccl_system_error;
	snprintf(c->dir, sizeof(c->dir), "%.*s", (int)(sizeof(id.internal) - strlen(ID_MAGIC)),
		 id.internal + strlen(ID_MAGIC));
	c->nranks = nranks;
	c->rank = rank;
	c->send_seq = calloc((size_t)nranks, sizeof(long));
	c->recv_seq = calloc((size_t)nranks, sizeof(long));
	if (!c->send_seq || !c->recv_seq) {
		free(c->send_seq);
		free(c->recv_seq);
		free(c);
		return nccl_system_error;
	}
	snprintf(path, sizeof(path), "%s/ready.%d", c->dir, rank);
	if (write_file(path, "1", 1)) {
		free(c);
		return nccl_system_error;
	}
	*comm = c;
	if (group_depth > 0) {
		c->next_pending = pending_init;
		pending_init = c;
		return nccl_ok;
	}
	return wait_ready(c);
}

int ncclGroupStart(void)
{
	group_depth++;
	return nccl_ok;
}

int ncclGroupEnd(void)
{
	int rc = nccl_ok;

	if (group_depth <= 0)
		return nccl_invalid_usage;
	if (--group_depth > 0)
		return nccl_ok;
	while (pending_init) {
		struct dcomm *c = pending_init;

		pending_init = c->next_pending;
		c->next_pending = NULL;
		if (rc == nccl_ok)
			rc = wait_ready(c);
	}
	for (int i = 0; i < npending_connect; i++)
		if (rc == nccl_ok && !pending_connect[i]->connected)
			rc = connect_wait(pending_connect[i]);
	if (npending_connect && rc == nccl_ok)
		connect_delay();
	npending_connect = 0;
	return rc;
}

int ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, int datatype, int op,
		  void *comm, void *stream)
{
	struct dcomm *c = comm;
	struct dstream *s = stream;
	struct dop *d;
	char path[512];

	if (hang_at("allreduce"))
		hang();
	if (!c || !s || datatype != EFA_NCCL_FLOAT32 || op != EFA_NCCL_SUM)
		return nccl_invalid_argument;
	if (!c->connected) {
		if (connect_announce(c) != nccl_ok)
			return nccl_system_error;
		if (group_depth > 0 && npending_connect < 64) {
			pending_connect[npending_connect++] = c;
		} else {
			if (connect_wait(c) != nccl_ok)
				return nccl_system_error;
			connect_delay();
		}
	}
	slow_rank_delay();
	snprintf(path, sizeof(path), "%s/op%ld.rank%d", c->dir, c->seq, c->rank);
	if (write_file(path, sendbuff, count * sizeof(float)))
		return nccl_system_error;
	d = calloc(1, sizeof(*d));
	if (!d)
		return nccl_system_error;
	*d = (struct dop){ .comm = c, .peer = -1, .seq = c->seq++, .recv = recvbuff, .count = count };
	stream_push(s, d);
	return nccl_ok;
}

/* Point to point: ncclSend writes the message file p2p.<from>.<to>.<n> (after the slow
 * rank's delay), ncclRecv queues a receive that cudaStreamSynchronize completes from it. */
int ncclSend(const void *sendbuff, size_t count, int datatype, int peer, void *comm, void *stream)
{
	struct dcomm *c = comm;
	char path[512];

	if (!c || !stream || datatype != EFA_NCCL_FLOAT32 || peer < 0 || peer >= c->nranks ||
	    peer == c->rank)
		return nccl_invalid_argument;
	slow_rank_delay();
	snprintf(path, sizeof(path), "%s/p2p.%d.%d.%ld", c->dir, c->rank, peer, c->send_seq[peer]++);
	return write_file(path, sendbuff, count * sizeof(float)) ? nccl_system_error : nccl_ok;
}

int ncclRecv(void *recvbuff, size_t count, int datatype, int peer, void *comm, void *stream)
{
	struct dcomm *c = comm;
	struct dop *d;

	if (!c || !stream || datatype != EFA_NCCL_FLOAT32 || peer < 0 || peer >= c->nranks ||
	    peer == c->rank)
		return nccl_invalid_argument;
	d = calloc(1, sizeof(*d));
	if (!d)
		return nccl_system_error;
	*d = (struct dop){ .comm = c, .peer = peer, .seq = c->recv_seq[peer]++, .recv = recvbuff,
			   .count = count };
	stream_push(stream, d);
	return nccl_ok;
}

static void comm_free(struct dcomm *c)
{
	if (!c)
		return;
	free(c->send_seq);
	free(c->recv_seq);
	free(c);
}

int ncclCommDestroy(void *comm)
{
	comm_free(comm);
	return nccl_ok;
}

int ncclCommAbort(void *comm)
{
	comm_free(comm);
	return nccl_ok;
}

const char *ncclGetErrorString(int result)
{
	switch (result) {
	case nccl_ok: return "no error";
	case nccl_system_error: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
	case nccl_internal_error: return "internal error - please report this issue to the NCCL developers";
	case nccl_invalid_argument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
	case nccl_invalid_usage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
	}
	return "unknown result code";
}
