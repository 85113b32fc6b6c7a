/*
 * profiles.h -- EC2 instance profiles: how many EFA devices and GPUs an instance type has,
 * and whether its EFA devices support RDMA read. The table is etc/instance-profiles.conf,
 * compiled in (efa_builtin_profiles) and overridable with InstanceProfiles=FILE.
 * Pure C: the SPANK plugin links this module.
 *
 * File format, one profile per line, '#' comments:
 *     <instance-type-or-glob>  devices=<n>  gpus=<n>  rdma_read=yes|no
 *                              [loopback_gbps=<x>] [link_gbps=<x>] [busbw_GBps=<x>]
 * The three bandwidth figures are optional (absent = no figure published: no floor); they are
 * what MinLoopbackGbps=auto, MinLinkGbps=auto and MinBusBwGBps=auto take (env/baseline.h).
 * Exact names win over globs (fnmatch); the first matching glob wins among globs.
 */
#ifndef EFA_CHECK_PROFILES_H
#define EFA_CHECK_PROFILES_H

#include <stdbool.h>
#include <stddef.h>

extern const char efa_builtin_profiles[];

struct instance_profile {
	char type[64];     /* the table entry that matched (e.g. "p5.48xlarge" or "p5*") */
	int devices;       /* EFA devices */
	int gpus;          /* GPUs (0 for CPU instances) */
	bool rdma_read;    /* EFA RDMA read supported (p4d and later, trn1) */
	double loopback_gbps; /* per-device loopback floor, Gbit/s; 0 = none published */
	double link_gbps;     /* per-link (cross) floor, Gbit/s; 0 = none published */
	double busbw_gbytes;  /* published NCCL all-reduce busbw, GB/s (advisory); 0 = none */
};

struct profile_table {
	struct instance_profile *p;
	size_t n;
};

/* Parse a table from text; name is used in "name:line: message" errors. */
int profiles_parse(struct profile_table *t, const char *text, const char *name, char *err, size_t errlen);
/* Load from file, or the built-in table when path is NULL or "". */
int profiles_load(struct profile_table *t, const char *path, char *err, size_t errlen);
void profiles_free(struct profile_table *t);

/* Look up an instance type; 0 if found, -1 if not. */
int profiles_lookup(const struct profile_table *t, const char *type, struct instance_profile *out);

/* Read the instance type from <sysfs_root>/devices/virtual/dmi/id/product_name
 * (sysfs_root "" or NULL means "/sys"). Returns 0, or -1 if unreadable/empty. */
int instance_type_read(const char *sysfs_root, char *buf, size_t size);

#endif
