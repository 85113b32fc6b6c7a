/*
 * cachekey.h -- what a cached result was computed from (the prolog's last-report.json, the
 * env cache StateDir/env.<node>). A cached result stands only for a run whose key is equal:
 * a changed configuration, instance profile table or efa-check binary is never answered from
 * an older result, whatever its age.
 *
 *   inputs key  "c<16 hex>p<16 hex>": FNV-1a 64 of the configuration text exactly as parsed
 *               (efa_config.text_hash; no file and an empty file give the same key: both
 *               mean the defaults), and of the InstanceProfiles= file's content ("builtin"
 *               when unset: the table compiled into the binary, covered by the binary key)
 *   binary key  "v<version>-<16 hex>": EFA_CHECK_VERSION and the identity of the running
 *               executable (/proc/self/exe: device, inode, size, mtime, ctime), so a rebuilt
 *               or reinstalled binary of the same version does not reuse results either;
 *               and every override of the run that can change its verdict: the effective
 *               provider (--provider), deadline (--timeout), StateDir (--state-dir: the
 *               counters' baseline lives there), sysfs root (--sysfs-root: devices, counters,
 *               instance type), and the environment that changes what libfabric does or
 *               which libraries load (FI_*, LD_LIBRARY_PATH, LD_PRELOAD: an admin's shell
 *               with FI_EFA_USE_DEVICE_RDMA=0 changes what passes). Not CUDA_* (cachekey.c).
 *
 * Pure C and libc (the SPANK plugin computes the inputs key to vet the env cache).
 */
#ifndef EFA_CHECK_CACHEKEY_H
#define EFA_CHECK_CACHEKEY_H

#include <stddef.h>

struct efa_config;

#define CACHE_KEY_MAX 96

/* The inputs key of cfg into out. Returns 0, or -1 if it did not fit. */
int cache_key_inputs(const struct efa_config *cfg, char *out, size_t size);

/* The inputs key, "-", the binary and overrides key: the prolog's result cache. sysfs_root:
 * --sysfs-root (NULL or "" = /sys). */
int cache_key_full(const struct efa_config *cfg, const char *sysfs_root, char *out, size_t size);

#endif
