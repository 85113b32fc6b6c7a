/*
 * baseline.h -- bandwidth floors that need no tuning: MinLoopbackGbps=auto, MinLinkGbps=auto
 * and MinBusBwGBps=auto take the figures of the node's instance profile (etc/instance-profiles.conf:
 * loopback_gbps=, link_gbps=, busbw_GBps=; sources cited there).
 *
 * Resolved once, after the configuration is loaded (cli.c), so every consumer keeps reading a
 * plain number: after baseline_resolve a key is either an absolute floor (> 0) or 0 (not
 * enforced), never CONFIG_AUTO. Rules (first rule: no false drains):
 *   - a node whose instance type is unknown, or has no profile, or whose profile publishes no
 *     figure for the key, gets no floor (0), and baseline_note says why;
 *   - the busbw figure is advisory (its own source only warns below it, and it was measured
 *     with nccl-tests' sizes and GPU counts, not efa-check's): auto never fails the NCCL check,
 *     it sets advisory_busbw_gbps, which the NCCL check reports beside its measurement;
 *   - absolute values (MinLoopbackGbps=12.5) stay as given.
 */
#ifndef EFA_CHECK_BASELINE_H
#define EFA_CHECK_BASELINE_H

#include <stdbool.h>

struct efa_config;
struct instance_profile;

/* Pure: resolve c's auto keys from profile p (NULL: none for this node); why_none says why
 * there is no profile ("instance type unknown", "t3.micro has no profile"). */
void baseline_apply(struct efa_config *c, const struct instance_profile *p, const char *why_none);

/* true when any of the three keys is auto (only then is the instance type looked up). */
bool baseline_wanted(const struct efa_config *c);

/* Look up this node's profile (InstanceType=, else DMI under sysfs_root, NULL = /sys) and apply
 * it. Never fails: a table that does not parse means no floor, said in baseline_note. */
void baseline_resolve(struct efa_config *c, const char *sysfs_root);

#endif
