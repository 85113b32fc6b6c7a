/*
 * context.h -- the plugin's state: its arguments (plugstack.conf) and what one context
 * (srun, sbatch/salloc, one slurmstepd) has learned. One static instance lives in
 * spank_efa_check.c; slurmstepd forks the tasks after user_init, so the children inherit what
 * init_post_opt computed (the once-per-node check result).
 */
#ifndef SPANK_EFA_CHECK_CONTEXT_H
#define SPANK_EFA_CHECK_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#define PLUGIN_PATH_MAX 1024
#define PLUGIN_REASON_MAX 256
#define PLUGIN_WARNINGS_MAX 8

enum check_mode {
	MODE_NONE = 0,     /* --efa-check not given */
	MODE_LOCAL,        /* --efa-check / --efa-check=local */
	MODE_CROSS,        /* --efa-check=cross */
	MODE_INVALID,      /* a value that failed validation (remote side: fail closed) */
};

enum env_policy {
	ENV_AUTO = 0,      /* apply the node's EFA/NCCL environment to every step */
	ENV_OFF,           /* leave the environment alone */
};

struct plugin_args {
	char efa_check[PLUGIN_PATH_MAX];   /* efa_check=: the efa-check binary */
	char config[PLUGIN_PATH_MAX];      /* config=: efa-check.conf */
	bool config_given;                 /* config= was in plugstack.conf */
	bool state_dir_ignored;            /* state_dir= was given: ignored (StateDir= of config) */
	char srun[PLUGIN_PATH_MAX];        /* srun=: srun for the cross check */
	enum env_policy env;               /* env=auto|off */
	int env_ttl_s;                     /* env_ttl=: max age of the env cache, 0 = always exec */
	int timeout_s;                     /* timeout=: deadline of one efa-check run */
	bool lint;                         /* lint=yes|no: warn users about harmful variables */
};

struct plugin_context {
	struct plugin_args args;
	bool args_ok;
	enum check_mode mode;
	char mode_arg[64];                 /* the option's value as given, sanitized, for messages */
	/* remote context */
	char node[256];
	uint32_t job_id, step_id, node_id;
	bool check_done;                   /* the local check ran on this node for this step */
	bool check_failed;
	char reason[PLUGIN_REASON_MAX];    /* why, for the user: "<check>: <detail>" */
	char note[PLUGIN_REASON_MAX];      /* a passing check's note (what it did not judge) */
	/* Warnings for the user's stderr, printed by the first task of node 0: slurmstepd's own
	 * stderr does not reach srun before the tasks exist. */
	char warnings[PLUGIN_WARNINGS_MAX][PLUGIN_REASON_MAX + 64];
	int nwarnings;
};

#endif
