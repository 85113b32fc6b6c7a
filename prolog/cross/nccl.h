/*
 * nccl.h -- the NCCL check of `efa-check cross`: libcudart and libnccl loaded with dlopen
 * (CudaLibrary=, NcclLibrary=), one communicator over every GPU of every node (each task
 * drives its node's GPUs in one ncclGroupStart/End), and all-reduces (sum, float) of NcclBytes
 * per GPU timed as nccl-tests times them (NVIDIA/nccl-tests src/common.cu: warm-up
 * iterations first, then `iters` collectives back to back, time = elapsed / iters;
 * src/all_reduce.cu AllReduceGetBw: busbw = algbw * 2(n-1)/n, n = total GPUs).
 *
 * Warm-up: NCCL >= 2.22 connects lazily (NCCL_RUNTIME_CONNECT=1 by default): the first
 * collective on a communicator sets up its connections, so it measures connection setup, not
 * the network. It is timed on its own (connect_ms), followed by one more warm-up, then
 * NCCL_TIMED_ITERS timed iterations. The counts are fixed so that every rank issues the same
 * collectives (a rank that stopped early would leave the others hanging).
 *
 * Verification is O(elements) per GPU: rank g contributes a(i) + b(g) at element i, with
 * a(i) = i mod 251 and b(g) = g mod 5 + 1, so the sum over n GPUs is n*a(i) + B with
 * B = sum_g b(g), computed once. Every value is an integer below 2^24 for n <= 65536, so float
 * sums are exact in any order; the expected values repeat every 251 elements, so the check is
 * a memcmp against one table. Measured (bench/nccl_verify.sh, 64 ranks, 128 MiB per GPU, CPU
 * time on the shared build machine): before, summing all n contributions per element,
 * O(elements x n): 1.55 s per GPU, 12.4 s per 8-GPU node; after: 0.011 s per GPU, 0.09 s
 * per node (140x).
 *
 * Budget (Timeout=30 s default; the NCCL phase ends at 78% of it, after the link phase, so
 * it has at least 16% = 4.5 s and whatever the links left): load + ncclCommInitRank + the
 * first all-reduce (connect) + (NCCL_WARMUP_ITERS - 1 + NCCL_TIMED_ITERS) all-reduces + the
 * verification. At 64 p5 nodes (512 GPUs, 128 MiB) one all-reduce is ~0.9 ms (289 GB/s
 * busbw: 6 x 0.9 ms), the verification 0.09 s per node plus the device-to-host copies
 * (8 x 128 MiB), so init and connect keep ~4 s; before, the verification alone (12.4 s per
 * node) overran the phase on every node. The detail and metrics report each cost (init_ms,
 * connect_ms, the per-iteration time, verify_ms), so the budget can be checked on a real
 * cluster.
 *
 * Net plugin: NCCL loads NCCL_NET_PLUGIN as given, then "libnccl-net-<value>.so", or without
 * it "libnccl-net.so" (NVIDIA/nccl src/plugin/net.cc netPluginLib / older initPlugin).
 * aws-ofi-nccl builds libnccl-net-ofi.so from v1.15 (src/Makefile.am), with libnccl-net.so as
 * a symlink to it unless configured --disable-nccl-net-symlink (configure.ac v1.15.0; later a
 * copy, same option idea): where that name is missing (containers with several plugins),
 * only NCCL_NET_PLUGIN=ofi finds it, and without a plugin NCCL uses its own transports. After init the check names the plugin library actually loaded in the
 * process (nccl_net_plugin_loaded), or says that none was.
 *
 * Every NCCL/CUDA call runs in a helper thread the caller waits for with a deadline, so a hang
 * in init, enqueue or completion is a timeout that says where it stopped, never a hang of the
 * tool (the thread is abandoned; the process exits soon after).
 *
 * NCCL falls back to its socket transport silently when the network plugin fails to load;
 * with the efa provider, nccl_prepare_env sets NCCL_NET="AWS Libfabric" (aws-ofi-nccl's
 * network name) unless the user set NCCL_NET, so a missing plugin fails init loudly.
 */
#ifndef EFA_CHECK_NCCL_H
#define EFA_CHECK_NCCL_H

#include <stdbool.h>
#include <stddef.h>

struct efa_config;
struct nccl_lib;

#define NCCL_ID_HEX_MAX 260     /* 128-byte ncclUniqueId as hex + NUL */
#define NCCL_WARMUP_ITERS 2     /* the first one connects (runtime connect) */
#define NCCL_TIMED_ITERS 5
#define NCCL_MAX_TOTAL_GPUS 65536  /* closed-form values stay exact in float */
#define CHECK_DETAIL_MAX_NCCL 320

/* How far a rank got; blame compares ranks by it. */
enum nccl_stage {
	NCCL_ST_LOAD = 0,   /* loading the libraries / selecting devices */
	NCCL_ST_INIT,       /* ncclCommInitRank */
	NCCL_ST_FIRST,      /* the first ncclAllReduce calls (enqueue) */
	NCCL_ST_CONNECT,    /* the first all-reduce's group end and completion: runtime
	                     * connection setup (NCCL >= 2.22), waits for every peer */
	NCCL_ST_ENQUEUE,    /* ncclAllReduce (an enqueue: must not block) */
	NCCL_ST_SYNC,       /* waiting for the all-reduce to complete */
	NCCL_ST_VERIFY,     /* checking the result */
	NCCL_ST_DONE,
};

/* The pair phase (after the verified all-reduce, on the same communicators): in each step of
 * cross/schedule.h's schedule_pair_steps this node exchanges NcclBytes per GPU with one peer,
 * GPU g with the peer's GPU g, ncclSend + ncclRecv in one group (NVIDIA/nccl src/nccl.h.in,
 * since 2.7: "Rank peer needs to call ncclRecv with the same datatype and the same count"),
 * one untimed exchange (p2p connections are set up at first use), then NCCL_PAIR_ITERS timed.
 * An all-reduce cannot say which rank is slow -- every rank waits for the slowest, so every
 * rank measures the same time -- but one pair's exchange involves only the two: a slow node's
 * pairs are slow, its peers' other pairs are not, and cross/blame.h's cross_slow tells a slow
 * node from a slow pair as it does for the libfabric links. The phase never fails the NCCL
 * check: a pair that does not finish in time has no figure (pairs_done false). */
#define NCCL_MAX_PAIR_STEPS 64
#define NCCL_PAIR_ITERS 2
struct nccl_pair {
	int peer;                /* node rank */
	double gbs;              /* GB/s per GPU, one direction (bytes / time of one exchange) */
};

struct nccl_run_result {
	bool ok;
	bool timed_out;
	int stage;               /* enum nccl_stage reached (where it stopped when !ok) */
	double busbw_gbs;        /* GB/s, from the timed iterations */
	double algbw_gbs;
	double ms;               /* one timed iteration (average) */
	double init_ms, connect_ms, verify_ms;
	int iters;               /* timed iterations */
	char plugin[128];        /* net plugin library loaded ("" none) */
	char detail[CHECK_DETAIL_MAX_NCCL];
	struct nccl_pair pairs[NCCL_MAX_PAIR_STEPS];   /* the pair phase's figures */
	int npairs;
	bool pairs_done;         /* every step of the pair phase finished */
	bool abandoned;          /* the pair phase was still running at the deadline: its thread
				  * is in the library, which must stay loaded (no nccl_unload) */
};

/* This node's peer per pair step (schedule_pair_steps), for the runs that follow; nsteps 0
 * (the default) = no pair phase. */
void nccl_set_pairs(struct nccl_lib *l, const int *step_peer, int nsteps);

/* Set the environment NCCL needs before it is loaded (see above). */
void nccl_prepare_env(const char *provider);

/* Load libcudart and libnccl and count GPUs. Returns the GPU count (0 = none), or -1 when
 * the libraries are not there (err says which). *out is set when the count is >= 0. */
int nccl_load(const struct efa_config *cfg, struct nccl_lib **out, char *err, size_t errlen);

/* Rank 0: a fresh ncclUniqueId as hex. 0 or -1 (err filled). */
int nccl_unique_id_hex(struct nccl_lib *l, char *hex, size_t size, char *err, size_t errlen);

/* Run the all-reduce over nnodes x gpus GPUs; this task is node_rank and drives its gpus
 * GPUs. Bounded by timeout_ms. */
void nccl_run(struct nccl_lib *l, const char *id_hex, int nnodes, int node_rank, int gpus,
	      long bytes, double min_busbw_gbs, int timeout_ms, struct nccl_run_result *res);

/* Release what nccl_load took. Not after a result with timed_out or abandoned: a call is still
 * in the library then. */
void nccl_unload(struct nccl_lib *l);

const char *nccl_stage_name(int stage);

/* busbw from nccl-tests: algbw * 2(n-1)/n. */
double nccl_busbw(double algbw, int nranks);

/* The closed form: what GPU grank contributes at element i, the sum over total GPUs, and the
 * check of a result buffer against it. nccl_verify returns the first wrong index, or -1. */
float nccl_contribution(int grank, size_t i);
double nccl_contribution_sum_b(int total);          /* B = sum over g of b(g) */
void nccl_fill(float *buf, size_t count, int grank);
long nccl_verify(const float *buf, size_t count, int total, float *got, float *want);

/* The net plugin library loaded in this process (basename "libnccl-net*"), its path into
 * out. Returns 1 when one is loaded, 0 when none. */
int nccl_net_plugin_loaded(char *out, size_t size);

/* ---- the ABI nccl.c uses, declared without the CUDA/NCCL headers ----------------------
 * One list, three users: nccl.c (dlsym table), tests/doubles/nccl-double/ (defines exactly
 * these symbols) and tests/nccl-build-check.sh (compiles the list against the real nccl.h
 * and cuda_runtime_api.h with the EFA_NCCL_* macros set to the real types, -Werror). */
#ifndef EFA_NCCL_RESULT
#define EFA_NCCL_RESULT      int                        /* ncclResult_t (int-sized enum) */
#define EFA_NCCL_COMM        void *                     /* ncclComm_t */
#define EFA_NCCL_UID         struct efa_nccl_unique_id  /* ncclUniqueId */
#define EFA_NCCL_DTYPE       int                        /* ncclDataType_t */
#define EFA_NCCL_REDOP       int                        /* ncclRedOp_t */
#define EFA_NCCL_CUDA_ERR    int                        /* cudaError_t */
#define EFA_NCCL_STREAM      void *                     /* cudaStream_t */
#define EFA_NCCL_MEMCPY_KIND int                        /* enum cudaMemcpyKind */
#endif

#define EFA_NCCL_ID_BYTES 128                           /* NCCL_UNIQUE_ID_BYTES */
struct efa_nccl_unique_id {
	char internal[EFA_NCCL_ID_BYTES];
};

#define EFA_NCCL_FUNCS(X)                                                                   \
	X(EFA_NCCL_RESULT, ncclGetUniqueId, (EFA_NCCL_UID * uniqueId))                      \
	X(EFA_NCCL_RESULT, ncclCommInitRank, (EFA_NCCL_COMM * comm, int nranks,             \
					      EFA_NCCL_UID commId, int rank))               \
	X(EFA_NCCL_RESULT, ncclAllReduce, (const void *sendbuff, void *recvbuff, size_t count, \
					   EFA_NCCL_DTYPE datatype, EFA_NCCL_REDOP op,      \
					   EFA_NCCL_COMM comm, EFA_NCCL_STREAM stream))     \
	X(EFA_NCCL_RESULT, ncclSend, (const void *sendbuff, size_t count,                   \
				      EFA_NCCL_DTYPE datatype, int peer, EFA_NCCL_COMM comm,  \
				      EFA_NCCL_STREAM stream))                                \
	X(EFA_NCCL_RESULT, ncclRecv, (void *recvbuff, size_t count, EFA_NCCL_DTYPE datatype, \
				      int peer, EFA_NCCL_COMM comm, EFA_NCCL_STREAM stream))  \
	X(EFA_NCCL_RESULT, ncclGroupStart, (void))                                          \
	X(EFA_NCCL_RESULT, ncclGroupEnd, (void))                                            \
	X(EFA_NCCL_RESULT, ncclCommDestroy, (EFA_NCCL_COMM comm))                           \
	X(EFA_NCCL_RESULT, ncclCommAbort, (EFA_NCCL_COMM comm))                             \
	X(const char *, ncclGetErrorString, (EFA_NCCL_RESULT result))

#define EFA_NCCL_CUDART_FUNCS(X)                                                            \
	X(EFA_NCCL_CUDA_ERR, cudaGetDeviceCount, (int *count))                              \
	X(EFA_NCCL_CUDA_ERR, cudaSetDevice, (int device))                                   \
	X(EFA_NCCL_CUDA_ERR, cudaMalloc, (void **devPtr, size_t size))                      \
	X(EFA_NCCL_CUDA_ERR, cudaFree, (void *devPtr))                                      \
	X(EFA_NCCL_CUDA_ERR, cudaMemcpy, (void *dst, const void *src, size_t count,         \
					  EFA_NCCL_MEMCPY_KIND kind))                       \
	X(EFA_NCCL_CUDA_ERR, cudaStreamCreate, (EFA_NCCL_STREAM * pStream))                 \
	X(EFA_NCCL_CUDA_ERR, cudaStreamSynchronize, (EFA_NCCL_STREAM stream))               \
	X(EFA_NCCL_CUDA_ERR, cudaStreamDestroy, (EFA_NCCL_STREAM stream))                   \
	X(const char *, cudaGetErrorString, (EFA_NCCL_CUDA_ERR error))

/* Enum values used (nccl.h / driver_types.h); the build check asserts they match. */
#define EFA_NCCL_SUCCESS        0   /* ncclSuccess */
#define EFA_NCCL_FLOAT32        7   /* ncclFloat32 */
#define EFA_NCCL_SUM            0   /* ncclSum */
#define EFA_CUDA_MEMCPY_H2D     1   /* cudaMemcpyHostToDevice */
#define EFA_CUDA_MEMCPY_D2H     2   /* cudaMemcpyDeviceToHost */

#endif
