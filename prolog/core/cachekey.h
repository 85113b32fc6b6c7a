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
 *               or reinstalled binary of the same version does not reuse results either
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

/* The inputs key, "-", the binary and effective-provider key: the prolog's result cache. */
int cache_key_full(const struct efa_config *cfg, char *out, size_t size);

#endif
