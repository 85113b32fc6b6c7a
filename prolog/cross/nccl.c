/*
 * nccl.c -- the NCCL all-reduce check (see nccl.h). libcudart and libnccl are dlopen'ed;
 * every call into them runs in a helper thread that nccl_run waits for with a deadline.
 */
#include "cross/nccl.h"
#include "core/config.h"
#include "core/strutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NCCL_MAX_GPUS 64

struct nccl_lib {
	void *cudart, *nccl;
	int step_peer[NCCL_MAX_PAIR_STEPS], nsteps;   /* the pair phase (nccl.h) */
#define X(ret, name, params) ret(*name) params;
	EFA_NCCL_FUNCS(X)
	EFA_NCCL_CUDART_FUNCS(X)
#undef X
};

static const char *const cudart_names[] = {
	"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0",
};

const char *nccl_stage_name(int stage)
{
	switch (stage) {
	case NCCL_ST_LOAD: return "setup";
	case NCCL_ST_INIT: return "ncclCommInitRank";
	case NCCL_ST_FIRST: return "first ncclAllReduce";
	case NCCL_ST_CONNECT: return "first all-reduce (connection setup)";
	case NCCL_ST_ENQUEUE: return "ncclAllReduce";
	case NCCL_ST_SYNC: return "all-reduce completion";
	case NCCL_ST_VERIFY: return "result check";
	case NCCL_ST_DONE: return "done";
	}
	return "?";
}

double nccl_busbw(double algbw, int nranks)
{
	return nranks > 0 ? algbw * 2.0 * (nranks - 1) / nranks : 0.0;
}

void nccl_prepare_env(const char *provider)
{
	/* aws-ofi-nccl registers its network as "AWS Libfabric"; naming it makes NCCL fail at
	 * init instead of silently using its socket transport when the plugin cannot load. */
	if (provider && !strcmp(provider, "efa"))
		setenv("NCCL_NET", "AWS Libfabric", 0);
}

static void *open_lib(const char *path, const char *const *dflt, size_t ndflt, char *err, size_t errlen)
{
	void *h = NULL;

	if (path && *path) {
		if (!(h = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
			snprintf(err, errlen, "%s", dlerror());
		return h;
	}
	for (size_t i = 0; i < ndflt && !h; i++)
		h = dlopen(dflt[i], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		snprintf(err, errlen, "%s not found", dflt[0]);
	return h;
}

static int resolve(struct nccl_lib *l, char *err, size_t errlen)
{
#define X(ret, name, params)                                                 \
	if (!(*(void **)&l->name = dlsym(l->nccl, #name))) {                 \
		snprintf(err, errlen, "libnccl: no symbol %s", #name);       \
		return -1;                                                   \
	}
	EFA_NCCL_FUNCS(X)
#undef X
#define X(ret, name, params)                                                 \
	if (!(*(void **)&l->name = dlsym(l->cudart, #name))) {               \
		snprintf(err, errlen, "libcudart: no symbol %s", #name);     \
		return -1;                                                   \
	}
	EFA_NCCL_CUDART_FUNCS(X)
#undef X
	return 0;
}

void nccl_unload(struct nccl_lib *l)
{
	if (!l)
		return;
	if (l->nccl)
		dlclose(l->nccl);
	if (l->cudart)
		dlclose(l->cudart);
	free(l);
}

int nccl_load(const struct efa_config *cfg, struct nccl_lib **out, char *err, size_t errlen)
{
	struct nccl_lib *l = calloc(1, sizeof(*l));
	static const char *const nccl_names[] = { "libnccl.so.2", "libnccl.so" };
	char e[256] = "";
	int count = 0;

	*out = NULL;
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->cudart = open_lib(cfg->cuda_library, cudart_names, 4, e, sizeof(e));
	if (!l->cudart) {
		snprintf(err, errlen, "libcudart: %s", e);
		goto fail;
	}
	l->nccl = open_lib(cfg->nccl_library, nccl_names, 2, e, sizeof(e));
	if (!l->nccl) {
		snprintf(err, errlen, "libnccl: %s", e);
		goto fail;
	}
	if (resolve(l, err, errlen))
		goto fail;
	if (l->cudaGetDeviceCount(&count) != 0 || count < 0)
		count = 0;
	*out = l;
	return count > NCCL_MAX_GPUS ? NCCL_MAX_GPUS : count;
fail:
	nccl_unload(l);
	return -1;
}

int nccl_unique_id_hex(struct nccl_lib *l, char *hex, size_t size, char *err, size_t errlen)
{
	struct efa_nccl_unique_id id;
	int rc;

	memset(&id, 0, sizeof(id));
	rc = l->ncclGetUniqueId(&id);
	if (rc != EFA_NCCL_SUCCESS || size < 2 * sizeof(id) + 1) {
		snprintf(err, errlen, "%s", rc ? l->ncclGetErrorString(rc) : "buffer too small");
		return -1;
	}
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)id.internal[i]);
	return 0;
}

/* ---- the run, in a helper thread -------------------------------------------------- */

struct job {
	struct nccl_lib *l;
	struct efa_nccl_unique_id id;
	int nnodes, node_rank, gpus;
	size_t count;
	atomic_int stage;
	/* outputs, valid when done */
	bool done, ok;
	double seconds;              /* one timed iteration (average) */
	double init_s, connect_s, verify_s;
	char plugin[128];
	char detail[200];
	int refs;
	bool ar_done;                /* the all-reduce is verified: the result stands */
	bool pairs_complete;         /* every pair step finished */
	struct nccl_pair pairs[NCCL_MAX_PAIR_STEPS];  /* written under job_lock */
	int npairs;
	void *comm[NCCL_MAX_GPUS];
	void *stream[NCCL_MAX_GPUS];
	float *send[NCCL_MAX_GPUS], *recv[NCCL_MAX_GPUS];
	float *host;
};

static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cond = PTHREAD_COND_INITIALIZER;

/* ---- the closed form (nccl.h) ------------------------------------------------------- */

#define A_PERIOD 251u

static double grank_b(int g)
{
	return (double)(g % 5 + 1);
}

float nccl_contribution(int grank, size_t i)
{
	return (float)(i % A_PERIOD) + (float)(grank % 5 + 1);
}

double nccl_contribution_sum_b(int total)
{
	double b = 0;

	for (int g = 0; g < total; g++)
		b += grank_b(g);
	return b;
}

void nccl_fill(float *buf, size_t count, int grank)
{
	float b = (float)(grank % 5 + 1);
	unsigned a = 0;

	for (size_t i = 0; i < count; i++) {
		buf[i] = (float)a + b;
		if (++a == A_PERIOD)
			a = 0;
	}
}

/* The expected values repeat with period 251: one table, then memcmp per period (bit-equal
 * is float-equal here: exact integers, no -0, and a NaN never matches). */
long nccl_verify(const float *buf, size_t count, int total, float *got, float *want)
{
	float n = (float)total, bsum = (float)nccl_contribution_sum_b(total), tab[A_PERIOD];

	for (unsigned a = 0; a < A_PERIOD; a++)
		tab[a] = n * (float)a + bsum;
	for (size_t i = 0; i < count; i += A_PERIOD) {
		size_t len = count - i < A_PERIOD ? count - i : A_PERIOD;

		if (!memcmp(buf + i, tab, len * sizeof(float)))
			continue;
		for (size_t k = 0; k < len; k++) {
			if (memcmp(&buf[i + k], &tab[k], sizeof(float))) {
				*got = buf[i + k];
				*want = tab[k];
				return (long)(i + k);
			}
		}
	}
	return -1;
}

/* ---- which net plugin NCCL loaded --------------------------------------------------- */

struct plugin_find {
	char *out;
	size_t size;
	int found;
};

static int plugin_cb(struct dl_phdr_info *info, size_t sz, void *arg)
{
	struct plugin_find *f = arg;
	const char *base;

	(void)sz;
	if (!info->dlpi_name || !info->dlpi_name[0])
		return 0;
	base = strrchr(info->dlpi_name, '/');
	base = base ? base + 1 : info->dlpi_name;
	if (strncmp(base, "libnccl-net", 11))
		return 0;
	snprintf(f->out, f->size, "%s", info->dlpi_name);
	f->found = 1;
	return 1;
}

int nccl_net_plugin_loaded(char *out, size_t size)
{
	struct plugin_find f = { out, size, 0 };

	out[0] = '\0';
	dl_iterate_phdr(plugin_cb, &f);
	return f.found;
}

#define NCALL(j, what, call)                                                                \
	do {                                                                                \
		int _r = (call);                                                            \
		if (_r != 0) {                                                              \
			snprintf((j)->detail, sizeof((j)->detail), "%s: %s", what,          \
				 (j)->l->ncclGetErrorString(_r));                           \
			return -1;                                                          \
		}                                                                           \
	} while (0)

#define CCALL(j, what, call)                                                                \
	do {                                                                                \
		int _r = (call);                                                            \
		if (_r != 0) {                                                              \
			snprintf((j)->detail, sizeof((j)->detail), "%s: %s", what,          \
				 (j)->l->cudaGetErrorString(_r));                           \
			return -1;                                                          \
		}                                                                           \
	} while (0)

static int job_buffers(struct job *j)
{
	size_t bytes = j->count * sizeof(float);

	j->host = malloc(bytes);
	if (!j->host) {
		snprintf(j->detail, sizeof(j->detail), "out of host memory for %zu bytes", bytes);
		return -1;
	}
	for (int g = 0; g < j->gpus; g++) {
		int grank = j->node_rank * j->gpus + g;

		CCALL(j, "cudaSetDevice", j->l->cudaSetDevice(g));
		CCALL(j, "cudaMalloc", j->l->cudaMalloc((void **)&j->send[g], bytes));
		CCALL(j, "cudaMalloc", j->l->cudaMalloc((void **)&j->recv[g], bytes));
		nccl_fill(j->host, j->count, grank);
		CCALL(j, "cudaMemcpy", j->l->cudaMemcpy(j->send[g], j->host, bytes, EFA_CUDA_MEMCPY_H2D));
		CCALL(j, "cudaStreamCreate", j->l->cudaStreamCreate(&j->stream[g]));
	}
	return 0;
}

static int job_verify(struct job *j, int total)
{
	size_t bytes = j->count * sizeof(float);

	for (int g = 0; g < j->gpus; g++) {
		float got, want;
		long bad;

		CCALL(j, "cudaSetDevice", j->l->cudaSetDevice(g));
		CCALL(j, "cudaMemcpy", j->l->cudaMemcpy(j->host, j->recv[g], bytes, EFA_CUDA_MEMCPY_D2H));
		bad = nccl_verify(j->host, j->count, total, &got, &want);
		if (bad >= 0) {
			snprintf(j->detail, sizeof(j->detail),
				 "all-reduce result wrong on GPU %d at element %ld: %g, expected %g",
				 g, bad, (double)got, (double)want);
			return -1;
		}
	}
	return 0;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* One all-reduce on every local GPU, in one group (enqueue only). The stage moves to
 * group_stage (when >= 0) once this rank's calls are in: a rank stuck in ncclAllReduce is then
 * behind the ranks that wait in ncclGroupEnd for it (blame). */
static int enqueue_all_reduce(struct job *j, int group_stage)
{
	NCALL(j, "ncclGroupStart", j->l->ncclGroupStart());
	for (int g = 0; g < j->gpus; g++)
		NCALL(j, "ncclAllReduce", j->l->ncclAllReduce(j->send[g], j->recv[g], j->count, EFA_NCCL_FLOAT32,
							   EFA_NCCL_SUM, j->comm[g], j->stream[g]));
	if (group_stage >= 0)
		atomic_store(&j->stage, group_stage);
	NCALL(j, "ncclGroupEnd (all-reduce)", j->l->ncclGroupEnd());
	return 0;
}

static int sync_all(struct job *j)
{
	for (int g = 0; g < j->gpus; g++) {
		CCALL(j, "cudaSetDevice", j->l->cudaSetDevice(g));
		CCALL(j, "cudaStreamSynchronize", j->l->cudaStreamSynchronize(j->stream[g]));
	}
	return 0;
}

/* One exchange with node peer: every GPU g sends to and receives from the peer's GPU g. */
static int pair_exchange(struct job *j, int peer)
{
	NCALL(j, "ncclGroupStart (pair)", j->l->ncclGroupStart());
	for (int g = 0; g < j->gpus; g++) {
		int pg = peer * j->gpus + g;

		NCALL(j, "ncclSend", j->l->ncclSend(j->send[g], j->count, EFA_NCCL_FLOAT32, pg,
						    j->comm[g], j->stream[g]));
		NCALL(j, "ncclRecv", j->l->ncclRecv(j->recv[g], j->count, EFA_NCCL_FLOAT32, pg,
						    j->comm[g], j->stream[g]));
	}
	NCALL(j, "ncclGroupEnd (pair)", j->l->ncclGroupEnd());
	return sync_all(j);
}

/* The pair phase (nccl.h): after the all-reduce stands, one peer per step. */
static void job_pairs(struct job *j)
{
	for (int s = 0; s < j->l->nsteps; s++) {
		int peer = j->l->step_peer[s];
		struct timespec t0;
		double secs;

		if (peer < 0 || peer >= j->nnodes || peer == j->node_rank)
			continue;
		if (pair_exchange(j, peer))                     /* untimed: connects the pair */
			return;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int it = 0; it < NCCL_PAIR_ITERS; it++)
			if (pair_exchange(j, peer))
				return;
		secs = seconds_since(&t0) / NCCL_PAIR_ITERS;
		pthread_mutex_lock(&job_lock);
		if (j->npairs < NCCL_MAX_PAIR_STEPS)
			j->pairs[j->npairs++] = (struct nccl_pair){
				peer, secs > 0 ? (double)j->count * sizeof(float) / secs / 1e9 : 0 };
		pthread_mutex_unlock(&job_lock);
	}
	pthread_mutex_lock(&job_lock);
	j->pairs_complete = true;
	pthread_mutex_unlock(&job_lock);
}

static int job_body(struct job *j)
{
	int total = j->nnodes * j->gpus;
	struct timespec t0;

	if (job_buffers(j))
		return -1;
	atomic_store(&j->stage, NCCL_ST_INIT);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	NCALL(j, "ncclGroupStart", j->l->ncclGroupStart());
	for (int g = 0; g < j->gpus; g++) {
		CCALL(j, "cudaSetDevice", j->l->cudaSetDevice(g));
		NCALL(j, "ncclCommInitRank",
		      j->l->ncclCommInitRank(&j->comm[g], total, j->id, j->node_rank * j->gpus + g));
	}
	NCALL(j, "ncclGroupEnd (init)", j->l->ncclGroupEnd());
	j->init_s = seconds_since(&t0);
	nccl_net_plugin_loaded(j->plugin, sizeof(j->plugin));

	/* warm-up: the first collective connects (NCCL_RUNTIME_CONNECT), timed on its own */
	atomic_store(&j->stage, NCCL_ST_FIRST);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (enqueue_all_reduce(j, NCCL_ST_CONNECT) || sync_all(j))
		return -1;
	j->connect_s = seconds_since(&t0);
	atomic_store(&j->stage, NCCL_ST_ENQUEUE);
	for (int w = 1; w < NCCL_WARMUP_ITERS; w++)
		if (enqueue_all_reduce(j, -1) || sync_all(j))
			return -1;

	/* timed: NCCL_TIMED_ITERS back to back, one synchronisation (nccl-tests) */
	atomic_store(&j->stage, NCCL_ST_ENQUEUE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int it = 0; it < NCCL_TIMED_ITERS; it++)
		if (enqueue_all_reduce(j, -1))
			return -1;
	atomic_store(&j->stage, NCCL_ST_SYNC);
	if (sync_all(j))
		return -1;
	j->seconds = seconds_since(&t0) / NCCL_TIMED_ITERS;

	atomic_store(&j->stage, NCCL_ST_VERIFY);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (job_verify(j, total)) {
		/* the communicator works, only the sum was wrong: the pairs still run, or every
		 * peer of this node would wait for it until the phase's deadline; the reason
		 * stays the wrong sum */
		char why[sizeof(j->detail)];

		memcpy(why, j->detail, sizeof(why));
		job_pairs(j);
		memcpy(j->detail, why, sizeof(why));
		return -1;
	}
	j->verify_s = seconds_since(&t0);
	atomic_store(&j->stage, NCCL_ST_DONE);
	pthread_mutex_lock(&job_lock);
	j->ar_done = true;
	pthread_cond_broadcast(&job_cond);
	pthread_mutex_unlock(&job_lock);
	job_pairs(j);
	return 0;
}

static void job_cleanup(struct job *j)
{
	for (int g = 0; g < j->gpus; g++) {
		if (j->comm[g])
			j->l->ncclCommDestroy(j->comm[g]);
		if (j->stream[g])
			j->l->cudaStreamDestroy(j->stream[g]);
		if (j->send[g])
			j->l->cudaFree(j->send[g]);
		if (j->recv[g])
			j->l->cudaFree(j->recv[g]);
	}
	free(j->host);
	j->host = NULL;
}

static void job_unref_locked(struct job *j)
{
	if (--j->refs == 0)
		free(j);
}

static void *job_thread(void *arg)
{
	struct job *j = arg;
	bool ok = job_body(j) == 0;

	job_cleanup(j);
	pthread_mutex_lock(&job_lock);
	j->ok = ok;
	j->done = true;
	pthread_cond_broadcast(&job_cond);
	job_unref_locked(j);
	pthread_mutex_unlock(&job_lock);
	return NULL;
}

static bool job_wait(struct job *j, int timeout_ms)
{
	struct timespec ts;
	bool done;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&job_lock);
	while (!j->done && pthread_cond_timedwait(&job_cond, &job_lock, &ts) != ETIMEDOUT)
		;
	done = j->done || j->ar_done;    /* a pair phase still running has no say in the result */
	pthread_mutex_unlock(&job_lock);
	return done;
}

static void fill_result(struct job *j, long bytes, double min_busbw, struct nccl_run_result *res)
{
	int total = j->nnodes * j->gpus;
	char plugin[160];

	pthread_mutex_lock(&job_lock);
	res->ok = j->done ? j->ok : j->ar_done;
	res->pairs_done = j->done && j->ok && j->pairs_complete;
	res->abandoned = !j->done;       /* the pair phase is still in the library */
	res->npairs = j->npairs;
	memcpy(res->pairs, j->pairs, sizeof(res->pairs));
	pthread_mutex_unlock(&job_lock);
	res->stage = atomic_load(&j->stage);
	res->ms = j->seconds * 1000.0;
	res->init_ms = j->init_s * 1000.0;
	res->connect_ms = j->connect_s * 1000.0;
	res->verify_ms = j->verify_s * 1000.0;
	res->iters = NCCL_TIMED_ITERS;
	snprintf(res->plugin, sizeof(res->plugin), "%s", j->plugin);
	if (!res->ok) {
		snprintf(res->detail, sizeof(res->detail), "%s", j->detail[0] ? j->detail : "failed");
		return;
	}
	if (j->plugin[0])
		snprintf(plugin, sizeof(plugin), "net plugin %s", j->plugin);
	else
		snprintf(plugin, sizeof(plugin), "no net plugin loaded (NCCL's own transport)");
	res->algbw_gbs = j->seconds > 0 ? (double)bytes / 1e9 / j->seconds : 0.0;
	res->busbw_gbs = nccl_busbw(res->algbw_gbs, total);
	snprintf(res->detail, sizeof(res->detail),
		 "all-reduce of %ld bytes over %d GPUs on %d nodes verified: busbw %.2f GB/s (algbw %.2f GB/s, "
		 "%.2f ms avg of %d after %d warm-up); init %.0f ms, first all-reduce (connect) %.0f ms, "
		 "verify %.0f ms; ",
		 bytes, total, j->nnodes, res->busbw_gbs, res->algbw_gbs, res->ms, NCCL_TIMED_ITERS,
		 NCCL_WARMUP_ITERS, res->init_ms, res->connect_ms, res->verify_ms);
	str_appendf(res->detail, sizeof(res->detail), "%s", plugin);
	if (min_busbw > 0 && res->busbw_gbs < min_busbw) {
		res->ok = false;
		snprintf(res->detail, sizeof(res->detail), "busbw %.2f GB/s below MinBusBwGBps=%g (%d GPUs, %ld bytes; ",
			 res->busbw_gbs, min_busbw, total, bytes);
		str_appendf(res->detail, sizeof(res->detail), "%s)", plugin);
	}
}

void nccl_set_pairs(struct nccl_lib *l, const int *step_peer, int nsteps)
{
	if (!l)
		return;
	l->nsteps = nsteps > 0 && nsteps <= NCCL_MAX_PAIR_STEPS ? nsteps : 0;
	for (int s = 0; s < l->nsteps; s++)
		l->step_peer[s] = step_peer[s];
}

void nccl_run(struct nccl_lib *l, const char *id_hex, int nnodes, int node_rank, int gpus,
	      long bytes, double min_busbw_gbs, int timeout_ms, struct nccl_run_result *res)
{
	struct job *j = calloc(1, sizeof(*j));
	pthread_t th;

	memset(res, 0, sizeof(*res));
	if (!j || gpus < 1 || gpus > NCCL_MAX_GPUS || bytes < (long)sizeof(float) || nnodes < 1 ||
	    (long)nnodes * gpus > NCCL_MAX_TOTAL_GPUS) {
		snprintf(res->detail, sizeof(res->detail), "bad NCCL parameters (%d GPUs, %ld bytes)", gpus, bytes);
		free(j);
		return;
	}
	j->l = l;
	j->nnodes = nnodes;
	j->node_rank = node_rank;
	j->gpus = gpus;
	j->count = (size_t)bytes / sizeof(float);
	j->refs = 2;
	atomic_init(&j->stage, NCCL_ST_LOAD);
	for (size_t i = 0; i < sizeof(j->id.internal) && id_hex[2 * i] && id_hex[2 * i + 1]; i++) {
		unsigned v;

		if (sscanf(id_hex + 2 * i, "%2x", &v) == 1)
			j->id.internal[i] = (char)v;
	}
	if (pthread_create(&th, NULL, job_thread, j)) {
		snprintf(res->detail, sizeof(res->detail), "cannot start the NCCL thread");
		free(j);
		return;
	}
	pthread_detach(th);
	if (job_wait(j, timeout_ms)) {
		fill_result(j, bytes, min_busbw_gbs, res);
	} else {
		res->timed_out = true;
		res->stage = atomic_load(&j->stage);
		snprintf(res->detail, sizeof(res->detail), "hung in %s, gave up after %.1f s",
			 nccl_stage_name(res->stage), timeout_ms / 1000.0);
	}
	pthread_mutex_lock(&job_lock);
	job_unref_locked(j);
	pthread_mutex_unlock(&job_lock);
}
