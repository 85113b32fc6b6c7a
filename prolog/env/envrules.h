/*
 * envrules.h -- the EFA/NCCL environment a node's job steps should get (DESIGN §3 table),
 * as a pure function of facts about the node, plus a lint of a given environment.
 *
 * Pure C, libc and strutil only: the SPANK plugin links this module. The facts are gathered
 * by `efa-check env` (libfabric runtime version, kernel release, instance profile, EFA
 * devices, aws-ofi-nccl) and travel to the plugin in the "spank" text form defined here
 * (envrules_format_spank / envrules_parse_spank), which is also the node's env cache file.
 *
 * Spank form, one record per line, fields separated by one space, values last:
 *     efa-check-env 1                       header (format version)
 *     config PATH                           the efa-check.conf it was computed with ("" none)
 *     key KEY                               what it was computed from (core/cachekey.h inputs key)
 *     facts <key=value> ...                 the facts the set was computed from
 *     set NAME VALUE                        a default: the user's own value wins
 *     force NAME VALUE                      the admin forces this value (EnvForce=)
 *     why NAME TEXT                         the reason for the previous set/force of NAME
 *     note TEXT                             something about the node worth saying once
 *     end                                   the record is complete (a truncated file is invalid)
 * VALUE may contain spaces (it runs to the end of the line); names are [A-Za-z_][A-Za-z0-9_]*,
 * values and texts are printable ASCII without newlines.
 */
#ifndef EFA_CHECK_ENVRULES_H
#define EFA_CHECK_ENVRULES_H

#include <stdbool.h>
#include <stddef.h>

struct config_env;

#define ENV_NAME_MAX  64
#define ENV_VALUE_MAX 256
#define ENV_WHY_MAX   200
#define ENV_MAX_ENTRIES 64
#define ENV_MAX_NOTES 8
#define ENV_SPANK_HEADER "efa-check-env 1"

/* A version "major.minor.patch"; major < 0 means unknown. */
struct env_version {
	int major, minor, patch;
};

enum env_ofi {
	ENV_OFI_UNKNOWN = 0,   /* not looked for */
	ENV_OFI_ABSENT,        /* no aws-ofi-nccl plugin library found */
	ENV_OFI_PRESENT,       /* found; version in ofi_version when knowable */
};

struct env_facts {
	struct env_version libfabric;   /* runtime libfabric */
	struct env_version kernel;      /* uname release */
	char provider[32];              /* Provider= of the config ("efa", "tcp" ...) */
	int efa_devices;                /* EFA devices found in sysfs; -1 unknown */
	int efa_device_id;              /* PCI device id of the EFA devices (0xefa1 ...); -1 unknown */
	char instance_type[64];         /* "" unknown */
	bool have_profile;              /* instance type found in the profile table */
	bool rdma_read;                 /* profile: EFA devices support RDMA read */
	int gpus;                       /* profile GPUs; -1 unknown */
	enum env_ofi ofi;
	struct env_version ofi_version; /* aws-ofi-nccl version, major < 0 if unknown */
	char ofi_path[256];             /* where it was found */
};

enum env_mode {
	ENV_DEFAULT = 0,   /* set unless the user has it (spank_setenv overwrite=0) */
	ENV_FORCE,         /* set over the user's value (admin EnvForce=) */
};

struct env_entry {
	char name[ENV_NAME_MAX];
	char value[ENV_VALUE_MAX];
	char why[ENV_WHY_MAX];
	enum env_mode mode;
};

struct env_set {
	struct env_entry e[ENV_MAX_ENTRIES];
	size_t n;
	char notes[ENV_MAX_NOTES][ENV_WHY_MAX];
	size_t nnotes;
	struct env_facts facts;         /* what the set was computed from */
	bool have_facts;
	char config[256];               /* the configuration file it was computed with, "" none */
	char key[96];                   /* cache_key_inputs of that configuration, "" unknown */
};

struct env_warning {
	char name[ENV_NAME_MAX];
	char text[ENV_WHY_MAX + ENV_VALUE_MAX];
};

/* Parse "1.17.0", "2.1.0amzn3.0", "6.1.0-18-amd64", "5.10" into v; missing parts are 0.
 * Returns 0, or -1 (v->major = -1) when s does not start with a number. */
int env_version_parse(const char *s, struct env_version *v);
/* Compare a with major.minor.patch: <0, 0, >0. An unknown a compares as 0 (callers check). */
int env_version_cmp(const struct env_version *a, int major, int minor, int patch);
bool env_version_known(const struct env_version *v);

/* Facts with everything unknown. */
void env_facts_init(struct env_facts *f);

/* True when the node is an EFA node: the provider is efa and EFA devices were found, or
 * (devices unknown) the instance profile has EFA devices. */
bool env_is_efa_node(const struct env_facts *f);

/* Valid environment variable name / value for the set (printable ASCII, no newline). */
bool env_name_valid(const char *name);
bool env_value_valid(const char *value);

/* Compute the set for the facts, then merge the admin's entries (may be NULL/0): Env=
 * replaces a rule's value as a default, EnvForce= replaces it and forces it; an admin entry
 * with an empty value removes the variable from the set. Returns 0, or -1 if an admin entry
 * is invalid or the set is full (err says which). */
int envrules_compute(const struct env_facts *f, const struct config_env *admin, size_t nadmin,
		     struct env_set *out, char *err, size_t errlen);

/* Find an entry by name; NULL if not in the set. */
const struct env_entry *env_set_find(const struct env_set *s, const char *name);

/* Lint an environment (NAME=VALUE strings, NULL-terminated; may be NULL) against the facts:
 * variables that make jobs abort or run slowly on this node. Variables the set forces are
 * skipped (the forced value replaces the user's). Fills up to max warnings, returns how many. */
size_t envrules_lint(const struct env_set *s, char *const *envp, struct env_warning *w, size_t max);

/* The spank form (see above). format returns the length written, or -1 if it did not fit.
 * parse returns 0, or -1 with err set (the whole text is rejected on any error). */
long envrules_format_spank(const struct env_set *s, char *buf, size_t size);
int envrules_parse_spank(const char *text, struct env_set *s, char *err, size_t errlen);

/* Facts as "key=value" words (the "facts" record) and back. */
void env_facts_format(const struct env_facts *f, char *buf, size_t size);
int env_facts_parse(const char *words, struct env_facts *f);

#endif
