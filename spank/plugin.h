/*
 * plugin.h -- the per-context halves of the plugin (model: pyxis_slurmd.c/pyxis_slurmstepd.c/
 * pyxis_srun.c behind pyxis_dispatch.c). spank_efa_check.c owns the context and calls these.
 */
#ifndef SPANK_EFA_CHECK_PLUGIN_H
#define SPANK_EFA_CHECK_PLUGIN_H

#include "context.h"

#include <stddef.h>

#include <slurm/spank.h>

#define PLUGIN_PREFIX "efa-check"

/* local.c: srun (local) and sbatch/salloc (allocator) */
int local_init_post_opt(spank_t sp, struct plugin_context *ctx);
int local_user_init(spank_t sp, struct plugin_context *ctx);

/* remote.c: slurmstepd */
int remote_init_post_opt(spank_t sp, struct plugin_context *ctx);
int remote_task_init_privileged(spank_t sp, struct plugin_context *ctx);
int remote_task_init(spank_t sp, struct plugin_context *ctx);
/* task_init_privileged when plugstack.conf's arguments were rejected: --efa-check fails. */
int remote_args_failed(spank_t sp, struct plugin_context *ctx);

/* The cross check's verdict, from srun (local_user_init) to every node of the step through
 * the step's environment: "<job>.<step>:ok" or "<job>.<step>:failed". */
#define CROSS_RESULT_ENV "EFA_CHECK_CROSS_RESULT"

/* envapply.c: the EFA/NCCL environment of a step (remote) */
void env_apply(spank_t sp, struct plugin_context *ctx);

/* Build "efa_check SUB --node N [--config C] extra..." in argv (static storage in ctx-free
 * buffers owned by the caller); returns argc. */
int efa_check_argv(const struct plugin_context *ctx, const char *sub, const char **extra, size_t nextra,
		   char **argv, size_t max);

/* The last "efa-check: ..." line of a program's stderr, without the prefix, sanitized. */
void reason_from_stderr(const char *err, char *out, size_t size);

#endif
