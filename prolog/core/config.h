/*
 * config.h -- /etc/slurm/efa-check.conf (DESIGN §2).
 *
 * Slurm-style "Key=Value" words, several per line allowed, "#" starts a comment, keys are
 * case-insensitive. A line whose first word is NodeName=<hostlist> applies the other keys of
 * that line only to the nodes of the hostlist (expanded with libslurm's hostlist API).
 * Precedence: built-in defaults < global lines (file order) < matching NodeName lines (file
 * order). Every error is reported as "file:line: message" and config_load returns -1, which
 * callers turn into exit code 2.
 */
#ifndef EFA_CHECK_CONFIG_H
#define EFA_CHECK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EFA_CHECK_DEFAULT_CONFIG EFA_CHECK_SYSCONFDIR "/slurm/efa-check.conf"
#define CONFIG_PATH_MAX 4096
#define CONFIG_ERR_MAX  512
/* MinLoopbackGbps / MinLinkGbps / MinBusBwGBps = auto: the node's instance profile figure,
 * resolved once after loading (env/baseline.h); until then and where none is published, the
 * consumers' "> 0" test leaves it unenforced. */
#define CONFIG_AUTO (-1.0)

enum on_fail {
	ON_FAIL_DRAIN_REQUEUE = 0,  /* drain, exit non-zero: Slurm requeues the job (default) */
	ON_FAIL_DRAIN,              /* drain, exit 0: the job starts elsewhere next time */
	ON_FAIL_LOG,                /* only log (e.g. AWS ParallelCluster replaces drained nodes) */
};

enum on_slow {
	ON_SLOW_LOG = 0,            /* name slow nodes in the report and log only (default) */
	ON_SLOW_DRAIN,              /* a slow node is a bad node: drained like one (per OnFail) */
};

struct config_env {             /* Env=NAME=VALUE and EnvForce=NAME=VALUE */
	char *name;
	char *value;
	bool force;                 /* admin forces this value over the user's */
};

/* The EFA port counters that mean trouble (checks/counters.c), in this order; CounterMaxRate=
 * sets a per-minute limit for each. */
#define EFA_RATE_COUNTERS 4
#define EFA_RATE_COUNTER_NAMES                                                               \
	{ "rx_drops", "retrans_timeout_events", "impaired_remote_conn_events",               \
	  "unresponsive_remote_events" }

struct efa_config {
	char provider[32];          /* Provider=, default "efa" */
	char **domains;             /* Domains=a,b,c; NULL/0 = every domain of the provider */
	size_t ndomains;
	int expected_devices;       /* ExpectedDevices=N; -1 = auto (instance profile) */
	int expected_gpus;          /* ExpectedGPUs=N; -1 = auto (instance profile or any) */
	double min_loopback_gbps;   /* MinLoopbackGbps=, 0 = not enforced, CONFIG_AUTO = auto */
	double min_link_gbps;       /* MinLinkGbps= (cross), 0 = not enforced, CONFIG_AUTO */
	double min_busbw_gbps;      /* MinBusBwGBps= (NCCL, GB/s), 0 = not enforced, CONFIG_AUTO */
	double advisory_busbw_gbps; /* MinBusBwGBps=auto: the instance profile's published busbw,
				     * reported beside the measurement, never fails (baseline.h) */
	/* What each auto key resolved to ("p5.48xlarge profile"), or why it set no floor
	 * ("no floor: instance type unknown"); "" for keys that were not auto (baseline.h). */
	char loopback_floor_note[96], link_floor_note[96], busbw_floor_note[96];
	double min_link_fraction;   /* MinLinkFraction= (cross slow nodes), default 0.25; 0 = off */
	double min_device_fraction; /* MinDeviceFraction= (a loopback device slow against the
				     * node's other devices, >= 3 measured), default 0.25; 0 = off */
	enum on_slow on_slow;       /* OnSlow=log|drain, default log */
	int flap_count;             /* FlapCount=, drains+resumes within FlapWindow that hold a
				     * node drained as flapping; default 3, 0 = off */
	int flap_window_s;          /* FlapWindow=, seconds, default 86400 */
	int timeout_s;              /* Timeout=, whole run deadline, default 30 */
	int cache_ttl_s;            /* CacheTTL=, prolog result reuse, default 300; 0 = off */
	enum on_fail on_fail;       /* OnFail=drain|drain-requeue|log */
	bool drain_on_internal;     /* OnInternal=log|drain: a run with no verdict (worker could
	                               not start or crashed twice, unkillable, no lock in time)
	                               drains only with drain; default log (no false drains) */
	bool resume;                /* Resume=yes|no, default yes */
	bool retry_transient;       /* RetryTransient=yes|no, default yes */
	char state_dir[CONFIG_PATH_MAX];    /* StateDir=, default /run/efa-check */
	char metrics_file[CONFIG_PATH_MAX]; /* MetricsFile=, "" = none */
	char instance_profiles[CONFIG_PATH_MAX]; /* InstanceProfiles=FILE, "" = built-in table */
	char instance_type[64];     /* InstanceType=, "" = read DMI product_name */
	long loopback_max_bytes;    /* LoopbackMaxSize=, default 1 MiB (min 1 MiB) */
	int loopback_iterations;    /* LoopbackIterations=, default 100 */
	char cuda_library[CONFIG_PATH_MAX]; /* CudaLibrary=, "" = libcudart.so.* search */
	char nccl_library[CONFIG_PATH_MAX]; /* NcclLibrary=, "" = libnccl.so.2 */
	char libfabric_path[CONFIG_PATH_MAX]; /* LibfabricPath=, "" = the EFA installer's, then the
					     * build-time one, then libfabric.so.1 (fabric_dl.c) */
	long nccl_bytes;            /* NcclBytes=, all-reduce size, default 128 MiB */
	long long min_memlock_bytes; /* MinMemlock=, default 64M; -1 = "unlimited" required */
	int cross_peers;            /* CrossPeers=, peers per node in cross mode, 0 = log2 rounds */
	/* efa-check sweep (sweep.h) */
	char sweep_partition[64];   /* SweepPartition=, "" = the default partition */
	char sweep_qos[64];         /* SweepQOS=, "" = the user's default */
	char sweep_reservation[64]; /* SweepReservation=, "" = none */
	char sweep_account[64];     /* SweepAccount=, "" = the user's default */
	int sweep_set_size;         /* SweepSetSize=, nodes per cross run, default 8 (min 4) */
	int sweep_max_nodes;        /* SweepMaxNodes=, nodes per sweep, 0 = every idle node */
	int sweep_nice;             /* SweepNice=, srun --nice, default 10000 */
	int sweep_immediate_s;      /* SweepImmediate=, srun --immediate, default 5 s */
	int sweep_timeout_s;        /* SweepTimeout=, the whole sweep's deadline, default 900 */
	bool sweep_yield;           /* SweepYield=yes|no: stop when jobs wait in the partition */
	char sweep_command[CONFIG_PATH_MAX];  /* SweepCommand=, efa-check on the nodes */
	char sweep_srun[CONFIG_PATH_MAX];     /* SweepSrun=, default /usr/bin/srun */
	char sweep_metrics_file[CONFIG_PATH_MAX]; /* SweepMetricsFile=, "" = none */
	double counter_max_rate[EFA_RATE_COUNTERS]; /* CounterMaxRate=name:N,... per minute and
	                                               device; 0 = reported, never fails */
	struct config_env *env;     /* Env= / EnvForce= */
	size_t nenv;
	char path[CONFIG_PATH_MAX]; /* file it was loaded from, "" = defaults only */
	uint64_t text_hash;         /* str_hash64 of the text parsed (no file: of ""): what cached
				     * results are keyed to (core/cachekey.h) */
};

/* Fill c with the built-in defaults. */
void config_defaults(struct efa_config *c);

/* Load path for node (may be NULL: NodeName lines then never match). A missing file is not
 * an error when must_exist is false (defaults apply). On error returns -1 and writes
 * "file:line: message" into err. The file must not be writable by group or others, and
 * when euid is 0 it must be owned by root. */
int config_load(struct efa_config *c, const char *path, const char *node, bool must_exist,
		char *err, size_t errlen);

/* Parse a config text as if read from file "name" (used by config_load, tests, fuzzers). */
int config_parse_text(struct efa_config *c, const char *text, const char *name, const char *node,
		      char *err, size_t errlen);

/* Free what config_load allocated; c can be reused after config_defaults. */
void config_free(struct efa_config *c);

const char *on_fail_name(enum on_fail f);
const char *on_slow_name(enum on_slow s);

#endif
