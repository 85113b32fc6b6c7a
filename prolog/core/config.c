/*
 * config.c -- /etc/slurm/efa-check.conf parser (DESIGN §2, contract in config.h).
 *
 * Format: whitespace-separated Key=Value words, several per line; "#" starts a comment
 * anywhere on a line (values cannot contain "#"); keys are case-insensitive, values are
 * case-sensitive except the enumerations (auto, OnFail, yes/no). Quotes are not supported
 * and are rejected. A line is at most CONFIG_LINE_MAX characters, a file at most
 * CONFIG_FILE_MAX bytes; control characters other than tab are an error anywhere.
 *
 * NodeName=<hostlist> as the first word of a line scopes the line's other keys to those nodes.
 * The hostlist is matched with libslurm's slurm_hostlist_find (never expanded into names).
 * NodeName=ALL (any case) matches every node (but not a NULL node name).
 *
 * Two passes: pass 1 applies global lines in file order and validates every NodeName line
 * (into a scratch config), pass 2 applies the matching NodeName lines in file order. So a
 * global line below a NodeName line never overrides it, and a typo on any NodeName line is
 * an error on every node.
 */
#include "core/config.h"
#include "core/strutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <slurm/slurm.h>

#define CONFIG_LINE_MAX   4096
#define CONFIG_FILE_MAX   (1024 * 1024)
#define CONFIG_DOMAINS_MAX 1024
#define CONFIG_DOMAIN_LEN  63
#define CONFIG_ENV_MAX     256
#define CONFIG_ENV_NAME_MAX 127
#define QUOTE_MAX          64      /* bytes of an offending word echoed in an error */

#define CFG_LONG_MAX __LONG_MAX__
#define CFG_LONG_MIN (-__LONG_MAX__ - 1L)

#define KIB 1024L
#define MIB (1024L * 1024L)
#define GIB (1024L * 1024L * 1024L)

struct pctx {
	const char *name;        /* file name for messages */
	unsigned line;           /* 1-based line number, 0 = whole file */
	char *err;
	size_t errlen;
	unsigned *matched;       /* pass 1: the NodeName lines that match this node, in order */
	size_t nmatched, cap;
	size_t next;             /* pass 2: the next of them */
};

static int perr(const struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int remember_match(struct pctx *p)
{
	if (p->nmatched == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		unsigned *m = realloc(p->matched, cap * sizeof(*m));

		if (!m)
			return perr(p, "out of memory");
		p->matched = m;
		p->cap = cap;
	}
	p->matched[p->nmatched++] = p->line;
	return 0;
}

static int perr(const struct pctx *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || p->errlen == 0)
		return -1;
	/* The file name is cut so that the message always fits after it. */
	if (p->line)
		n = snprintf(p->err, p->errlen, "%.*s:%u: ", (int)(p->errlen / 2), p->name, p->line);
	else
		n = snprintf(p->err, p->errlen, "%.*s: ", (int)(p->errlen / 2), p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- value parsers ------------------------------------------------------- */

static int val_long(const struct pctx *p, const char *key, const char *v, long min, long max,
		    long *out)
{
	long x = 0;

	if (parse_long(v, CFG_LONG_MIN, CFG_LONG_MAX, &x) < 0)
		return perr(p, "%s=%.*s: not an integer (expected %ld..%ld)", key, QUOTE_MAX, v,
			    min, max);
	if (x < min || x > max)
		return perr(p, "%s=%.*s: out of range (expected %ld..%ld)", key, QUOTE_MAX, v,
			    min, max);
	*out = x;
	return 0;
}

static int val_int(const struct pctx *p, const char *key, const char *v, long min, long max,
		   int *out)
{
	long x = 0;

	if (val_long(p, key, v, min, max, &x) < 0)
		return -1;
	*out = (int)x;
	return 0;
}

/* N or "auto" (-1). */
static int val_int_auto(const struct pctx *p, const char *key, const char *v, long max, int *out)
{
	long x = 0;

	if (!strcasecmp(v, "auto")) {
		*out = -1;
		return 0;
	}
	if (parse_long(v, CFG_LONG_MIN, CFG_LONG_MAX, &x) < 0)
		return perr(p, "%s=%.*s: expected auto or an integer 0..%ld", key, QUOTE_MAX, v, max);
	if (x < 0 || x > max)
		return perr(p, "%s=%.*s: out of range (expected auto or 0..%ld)", key, QUOTE_MAX, v,
			    max);
	*out = (int)x;
	return 0;
}

static int val_double(const struct pctx *p, const char *key, const char *v, double min,
		      double max, double *out)
{
	double x = 0;

	if (parse_double(v, -DBL_MAX, DBL_MAX, &x) < 0)
		return perr(p, "%s=%.*s: not a number (expected %g..%g)", key, QUOTE_MAX, v, min, max);
	if (x < min || x > max)
		return perr(p, "%s=%.*s: out of range (expected %g..%g)", key, QUOTE_MAX, v, min, max);
	*out = x;
	return 0;
}

/* Bytes: decimal integer with an optional K, M or G suffix (powers of 1024, any case). */
static int parse_bytes(const char *v, long *out)
{
	char num[32];
	size_t len = strlen(v);
	long mult = 1, x = 0;

	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, v, len + 1);
	switch (toupper((unsigned char)num[len - 1])) {
	case 'K': mult = KIB; break;
	case 'M': mult = MIB; break;
	case 'G': mult = GIB; break;
	default: break;
	}
	if (mult != 1)
		num[len - 1] = '\0';
	if (!isdigit((unsigned char)num[0]) || parse_long(num, 0, CFG_LONG_MAX, &x) < 0)
		return -1;
	if (x > CFG_LONG_MAX / mult)
		return -1;
	*out = x * mult;
	return 0;
}

static int val_bytes(const struct pctx *p, const char *key, const char *v, long min, long max,
		     const char *range, long *out)
{
	long x = 0;

	if (parse_bytes(v, &x) < 0)
		return perr(p, "%s=%.*s: not a size (expected bytes with optional K/M/G suffix, %s)",
			    key, QUOTE_MAX, v, range);
	if (x < min || x > max)
		return perr(p, "%s=%.*s: out of range (expected %s)", key, QUOTE_MAX, v, range);
	*out = x;
	return 0;
}

static int val_bool(const struct pctx *p, const char *key, const char *v, bool *out)
{
	if (parse_bool(v, out) < 0)
		return perr(p, "%s=%.*s: expected yes or no", key, QUOTE_MAX, v);
	return 0;
}

static bool chars_in(const char *s, const char *extra, bool lower_only)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isdigit(ch) || (lower_only ? islower(ch) : isalpha(ch)))
			continue;
		if (!strchr(extra, ch))
			return false;
	}
	return true;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static bool has_dotdot(const char *path)
{
	const char *s = path;

	while ((s = strstr(s, "..")) != NULL) {
		if ((s == path || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return true;
		s += 2;
	}
	return false;
}

static int val_abspath(const struct pctx *p, const char *key, const char *v, char *dst,
		       size_t size)
{
	if (v[0] != '/')
		return perr(p, "%s=%.*s: expected an absolute path", key, QUOTE_MAX, v);
	if (!printable_ascii(v))
		return perr(p, "%s: path must be printable ASCII", key);
	if (has_dotdot(v))
		return perr(p, "%s=%.*s: \"..\" is not allowed in the path", key, QUOTE_MAX, v);
	if (!str_copy(dst, size, v))
		return perr(p, "%s: path longer than %zu characters", key, size - 1);
	return 0;
}

/* A library: an absolute path, or a bare soname "lib<name>.so[.N...]" that dlopen searches
 * for in the standard places (ld.so.cache, default directories). */
static bool is_soname(const char *v)
{
	const char *so;

	if (strncmp(v, "lib", 3) != 0 || !chars_in(v, "_+.-", false))
		return false;
	so = strstr(v + 3, ".so");
	if (!so || so == v + 3)
		return false;
	for (const char *s = so + 3; *s; ) {
		if (*s != '.' || !isdigit((unsigned char)s[1]))
			return false;
		s++;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return true;
}

static int val_library(const struct pctx *p, const char *key, const char *v, char *dst,
		       size_t size)
{
	if (v[0] == '/')
		return val_abspath(p, key, v, dst, size);
	if (!is_soname(v))
		return perr(p, "%s=%.*s: expected an absolute path or a soname like libname.so.12",
			    key, QUOTE_MAX, v);
	if (!str_copy(dst, size, v))
		return perr(p, "%s: name longer than %zu characters", key, size - 1);
	return 0;
}

/* ---- key handlers -------------------------------------------------------- */

typedef int (*key_fn)(struct efa_config *c, const struct pctx *p, const char *key,
		      const char *v);

static int k_provider(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	if (strlen(v) >= sizeof(c->provider) || !chars_in(v, "_;-", false))
		return perr(p, "%s=%.*s: expected a provider name of at most %zu characters "
			    "[A-Za-z0-9_;-] (e.g. efa, tcp;ofi_rxm)", key, QUOTE_MAX, v,
			    sizeof(c->provider) - 1);
	str_copy(c->provider, sizeof(c->provider), v);
	return 0;
}

static void free_domains(struct efa_config *c)
{
	for (size_t i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	c->domains = NULL;
	c->ndomains = 0;
}

static int check_domain(const struct pctx *p, const char *key, const char *d, char **list,
			size_t n)
{
	if (!*d)
		return perr(p, "%s: empty domain name in the list", key);
	if (strlen(d) > CONFIG_DOMAIN_LEN || !chars_in(d, "_.:-", false))
		return perr(p, "%s: bad domain name '%.*s' (at most %d characters [A-Za-z0-9_.:-])",
			    key, QUOTE_MAX, d, CONFIG_DOMAIN_LEN);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], d))
			return perr(p, "%s: duplicate domain '%s'", key, d);
	if (n >= CONFIG_DOMAINS_MAX)
		return perr(p, "%s: more than %d domains", key, CONFIG_DOMAINS_MAX);
	return 0;
}

/* Domains=a,b,c or Domains=auto (every domain of the provider). */
static int k_domains(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	char **list = NULL;
	size_t n = 0;
	char *copy = NULL, *s, *comma;

	if (!strcasecmp(v, "auto")) {
		free_domains(c);
		return 0;
	}
	copy = strdup(v);
	if (!copy)
		goto oom;
	for (s = copy; s; s = comma ? comma + 1 : NULL) {
		char **grown;

		comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		if (check_domain(p, key, s, list, n) < 0)
			goto fail;
		grown = realloc(list, (n + 1) * sizeof(*list));
		if (!grown)
			goto oom;
		list = grown;
		list[n] = strdup(s);
		if (!list[n])
			goto oom;
		n++;
	}
	free(copy);
	free_domains(c);
	c->domains = list;
	c->ndomains = n;
	return 0;
oom:
	perr(p, "%s: out of memory", key);
fail:
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
	free(copy);
	return -1;
}

static int k_expected_devices(struct efa_config *c, const struct pctx *p, const char *key,
			      const char *v)
{
	return val_int_auto(p, key, v, 1024, &c->expected_devices);
}

static int k_expected_gpus(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return val_int_auto(p, key, v, 64, &c->expected_gpus);
}

static int k_min_loopback(struct efa_config *c, const struct pctx *p, const char *key,
			  const char *v)
{
	return val_double(p, key, v, 0, 100000, &c->min_loopback_gbps);
}

static int k_min_memlock(struct efa_config *c, const struct pctx *p, const char *key,
			 const char *v)
{
	long bytes;

	if (!strcasecmp(v, "unlimited")) {
		c->min_memlock_bytes = -1;
		return 0;
	}
	if (val_bytes(p, key, v, 0, 1024 * GIB, "0..1024G or unlimited", &bytes))
		return -1;
	c->min_memlock_bytes = bytes;
	return 0;
}

static int k_min_link(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_double(p, key, v, 0, 100000, &c->min_link_gbps);
}

static int k_min_busbw(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_double(p, key, v, 0, 100000, &c->min_busbw_gbps);
}

static int k_min_link_fraction(struct efa_config *c, const struct pctx *p, const char *key,
			       const char *v)
{
	return val_double(p, key, v, 0, 1, &c->min_link_fraction);
}

static int k_on_slow(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	if (!strcasecmp(v, "log"))
		c->on_slow = ON_SLOW_LOG;
	else if (!strcasecmp(v, "drain"))
		c->on_slow = ON_SLOW_DRAIN;
	else
		return perr(p, "%s=%.*s: expected log or drain", key, QUOTE_MAX, v);
	return 0;
}

static int k_flap_count(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_int(p, key, v, 0, 1000, &c->flap_count);
}

static int k_flap_window(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_int(p, key, v, 10, 30 * 86400, &c->flap_window_s);
}

static int k_timeout(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_int(p, key, v, 1, 3600, &c->timeout_s);
}

static int k_cache_ttl(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_int(p, key, v, 0, 86400, &c->cache_ttl_s);
}

static int k_on_fail(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	if (!strcasecmp(v, "drain-requeue"))
		c->on_fail = ON_FAIL_DRAIN_REQUEUE;
	else if (!strcasecmp(v, "drain"))
		c->on_fail = ON_FAIL_DRAIN;
	else if (!strcasecmp(v, "log"))
		c->on_fail = ON_FAIL_LOG;
	else
		return perr(p, "%s=%.*s: expected drain, drain-requeue or log", key, QUOTE_MAX, v);
	return 0;
}

static int k_on_internal(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	if (!strcasecmp(v, "log"))
		c->drain_on_internal = false;
	else if (!strcasecmp(v, "drain"))
		c->drain_on_internal = true;
	else
		return perr(p, "%s=%.*s: expected log or drain", key, QUOTE_MAX, v);
	return 0;
}

static int k_resume(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_bool(p, key, v, &c->resume);
}

static int k_retry(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_bool(p, key, v, &c->retry_transient);
}

static int k_state_dir(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_abspath(p, key, v, c->state_dir, sizeof(c->state_dir));
}

static int k_metrics(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_abspath(p, key, v, c->metrics_file, sizeof(c->metrics_file));
}

static int k_profiles(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_abspath(p, key, v, c->instance_profiles, sizeof(c->instance_profiles));
}

static int k_instance_type(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	if (strlen(v) >= sizeof(c->instance_type) || !chars_in(v, ".-", true))
		return perr(p, "%s=%.*s: expected an instance type of at most %zu characters "
			    "[a-z0-9.-] (e.g. p5.48xlarge)", key, QUOTE_MAX, v,
			    sizeof(c->instance_type) - 1);
	str_copy(c->instance_type, sizeof(c->instance_type), v);
	return 0;
}

static int k_loopback_max(struct efa_config *c, const struct pctx *p, const char *key,
			  const char *v)
{
	return val_bytes(p, key, v, MIB, GIB, "1M..1G", &c->loopback_max_bytes);
}

static int k_loopback_iter(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return val_int(p, key, v, 1, 100000, &c->loopback_iterations);
}

static int k_cuda_lib(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_library(p, key, v, c->cuda_library, sizeof(c->cuda_library));
}

static int k_nccl_lib(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_library(p, key, v, c->nccl_library, sizeof(c->nccl_library));
}

static int k_libfabric(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_library(p, key, v, c->libfabric_path, sizeof(c->libfabric_path));
}

static int k_nccl_bytes(struct efa_config *c, const struct pctx *p, const char *key,
			const char *v)
{
	return val_bytes(p, key, v, 1, 16 * GIB, "1..16G", &c->nccl_bytes);
}

static int k_cross_peers(struct efa_config *c, const struct pctx *p, const char *key,
			 const char *v)
{
	return val_int(p, key, v, 0, 4096, &c->cross_peers);
}

/* Slurm names (partition, QOS, reservation, account): they go on srun's command line. */
static int val_slurm_name(const struct pctx *p, const char *key, const char *v, char *dst,
			  size_t size)
{
	if (strlen(v) >= size || v[0] == '-' || !chars_in(v, "_.-", false))
		return perr(p, "%s=%.*s: expected a Slurm name of at most %zu characters "
			    "[A-Za-z0-9_.-]", key, QUOTE_MAX, v, size - 1);
	str_copy(dst, size, v);
	return 0;
}

static int k_sweep_partition(struct efa_config *c, const struct pctx *p, const char *key,
			     const char *v)
{
	return val_slurm_name(p, key, v, c->sweep_partition, sizeof(c->sweep_partition));
}

static int k_sweep_qos(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_slurm_name(p, key, v, c->sweep_qos, sizeof(c->sweep_qos));
}

static int k_sweep_resv(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_slurm_name(p, key, v, c->sweep_reservation, sizeof(c->sweep_reservation));
}

static int k_sweep_account(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return val_slurm_name(p, key, v, c->sweep_account, sizeof(c->sweep_account));
}

static int k_sweep_set_size(struct efa_config *c, const struct pctx *p, const char *key,
			    const char *v)
{
	return val_int(p, key, v, 4, 4096, &c->sweep_set_size);
}

static int k_sweep_max_nodes(struct efa_config *c, const struct pctx *p, const char *key,
			     const char *v)
{
	return val_int(p, key, v, 0, 65536, &c->sweep_max_nodes);
}

static int k_sweep_nice(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_int(p, key, v, 0, 2147483645, &c->sweep_nice);
}

static int k_sweep_immediate(struct efa_config *c, const struct pctx *p, const char *key,
			     const char *v)
{
	return val_int(p, key, v, 1, 300, &c->sweep_immediate_s);
}

static int k_sweep_timeout(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return val_int(p, key, v, 10, 86400, &c->sweep_timeout_s);
}

static int k_sweep_yield(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_bool(p, key, v, &c->sweep_yield);
}

static int k_sweep_command(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return val_abspath(p, key, v, c->sweep_command, sizeof(c->sweep_command));
}

static int k_sweep_srun(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return val_abspath(p, key, v, c->sweep_srun, sizeof(c->sweep_srun));
}

static int k_sweep_metrics(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return val_abspath(p, key, v, c->sweep_metrics_file, sizeof(c->sweep_metrics_file));
}

static bool env_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > CONFIG_ENV_NAME_MAX)
		return false;
	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static int env_set(struct efa_config *c, const struct pctx *p, const char *key, const char *name,
		   size_t nlen, const char *value, bool force)
{
	struct config_env *grown, *e = NULL;
	char *val = strdup(value), *nm = NULL;

	if (!val)
		goto oom;
	for (size_t i = 0; i < c->nenv; i++)
		if (strlen(c->env[i].name) == nlen && !strncmp(c->env[i].name, name, nlen))
			e = &c->env[i];
	if (!e) {
		if (c->nenv >= CONFIG_ENV_MAX) {
			free(val);
			return perr(p, "%s: more than %d variables", key, CONFIG_ENV_MAX);
		}
		nm = strndup(name, nlen);
		grown = nm ? realloc(c->env, (c->nenv + 1) * sizeof(*c->env)) : NULL;
		if (!grown)
			goto oom;
		c->env = grown;
		e = &c->env[c->nenv++];
		e->name = nm;
		e->value = NULL;
	}
	free(e->value);
	e->value = val;
	e->force = force;
	return 0;
oom:
	free(val);
	free(nm);
	return perr(p, "%s: out of memory", key);
}

static int env_common(struct efa_config *c, const struct pctx *p, const char *key, const char *v,
		      bool force)
{
	const char *eq = strchr(v, '=');

	if (!eq)
		return perr(p, "%s=%.*s: expected NAME=VALUE", key, QUOTE_MAX, v);
	if (!env_name_ok(v, (size_t)(eq - v)))
		return perr(p, "%s: bad variable name '%.*s' (expected [A-Za-z_][A-Za-z0-9_]*, "
			    "at most %d characters)", key, (int)(eq - v) < QUOTE_MAX ?
			    (int)(eq - v) : QUOTE_MAX, v, CONFIG_ENV_NAME_MAX);
	if (!printable_ascii(eq + 1))
		return perr(p, "%s: value of %.*s must be printable ASCII without spaces", key,
			    (int)(eq - v), v);
	return env_set(c, p, key, v, (size_t)(eq - v), eq + 1, force);
}

static int k_env(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return env_common(c, p, key, v, false);
}

static int k_env_force(struct efa_config *c, const struct pctx *p, const char *key,
		       const char *v)
{
	return env_common(c, p, key, v, true);
}

/* CounterMaxRate=rx_drops:600,retrans_timeout_events:60 -- per minute, 0 = report only. */
static int k_counter_rate(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	static const char *const names[EFA_RATE_COUNTERS] = EFA_RATE_COUNTER_NAMES;
	char buf[512], *save = NULL, *item;

	if (!str_copy(buf, sizeof(buf), v))
		return perr(p, "%s: value too long", key);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':');
		size_t i;

		if (!colon)
			return perr(p, "%s=%.*s: expected COUNTER:PER_MINUTE[,...]", key, QUOTE_MAX, v);
		*colon = '\0';
		for (i = 0; i < EFA_RATE_COUNTERS && strcmp(item, names[i]); i++)
			;
		if (i == EFA_RATE_COUNTERS)
			return perr(p, "%s: unknown counter '%.*s' (rx_drops, retrans_timeout_events, "
				    "impaired_remote_conn_events, unresponsive_remote_events)", key,
				    QUOTE_MAX, item);
		if (val_double(p, key, colon + 1, 0, 1e12, &c->counter_max_rate[i]))
			return -1;
	}
	return 0;
}

struct key_def {
	const char *name;
	key_fn fn;
	bool repeatable;        /* may appear more than once on a line */
};

static const struct key_def keys[] = {
	{ "Provider", k_provider, false },
	{ "Domains", k_domains, false },
	{ "ExpectedDevices", k_expected_devices, false },
	{ "ExpectedGPUs", k_expected_gpus, false },
	{ "MinLoopbackGbps", k_min_loopback, false },
	{ "MinLinkGbps", k_min_link, false },
	{ "MinMemlock", k_min_memlock, false },
	{ "MinBusBwGBps", k_min_busbw, false },
	{ "MinLinkFraction", k_min_link_fraction, false },
	{ "OnSlow", k_on_slow, false },
	{ "FlapCount", k_flap_count, false },
	{ "FlapWindow", k_flap_window, false },
	{ "Timeout", k_timeout, false },
	{ "CacheTTL", k_cache_ttl, false },
	{ "OnFail", k_on_fail, false },
	{ "OnInternal", k_on_internal, false },
	{ "Resume", k_resume, false },
	{ "RetryTransient", k_retry, false },
	{ "StateDir", k_state_dir, false },
	{ "MetricsFile", k_metrics, false },
	{ "InstanceProfiles", k_profiles, false },
	{ "InstanceType", k_instance_type, false },
	{ "LoopbackMaxSize", k_loopback_max, false },
	{ "LoopbackIterations", k_loopback_iter, false },
	{ "CudaLibrary", k_cuda_lib, false },
	{ "NcclLibrary", k_nccl_lib, false },
	{ "LibfabricPath", k_libfabric, false },
	{ "NcclBytes", k_nccl_bytes, false },
	{ "CrossPeers", k_cross_peers, false },
	{ "SweepPartition", k_sweep_partition, false },
	{ "SweepQOS", k_sweep_qos, false },
	{ "SweepReservation", k_sweep_resv, false },
	{ "SweepAccount", k_sweep_account, false },
	{ "SweepSetSize", k_sweep_set_size, false },
	{ "SweepMaxNodes", k_sweep_max_nodes, false },
	{ "SweepNice", k_sweep_nice, false },
	{ "SweepImmediate", k_sweep_immediate, false },
	{ "SweepTimeout", k_sweep_timeout, false },
	{ "SweepYield", k_sweep_yield, false },
	{ "SweepCommand", k_sweep_command, false },
	{ "SweepSrun", k_sweep_srun, false },
	{ "SweepMetricsFile", k_sweep_metrics, false },
	{ "CounterMaxRate", k_counter_rate, false },
	{ "Env", k_env, true },
	{ "EnvForce", k_env_force, true },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= 64, "seen-key bitmask is 64 bits");

static const struct key_def *find_key(const char *name, size_t len, size_t *idx)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strlen(keys[i].name) == len && !strncasecmp(keys[i].name, name, len)) {
			*idx = i;
			return &keys[i];
		}
	}
	return NULL;
}

/* ---- lines ---------------------------------------------------------------- */

/* Sanity checks before libslurm sees the hostlist: allowed characters, balanced, un-nested,
 * non-empty brackets and no empty list entries (libslurm takes "n[1-" as a literal name).
 *
 * Host suffixes: after a ']' only '[' (another dimension), ',' or the end may follow -- the
 * grammar of Slurm 22.05, whose libslurm rejects "n[1-2]x". From 23.11 libslurm accepts a
 * shared suffix (SchedMD/slurm RELEASE_NOTES 23.11: "Allow for a shared suffix to be used with
 * the hostlist format. E.g., node[0001-0010]-int"), and src/common/hostlist.c
 * _push_range_list then expands the ranges before it into one prefix per host:
 * "n[0000-9999][000-999]-ib" cost 2.2 s and 1.15 GB in `efa-check env` against libslurm
 * 24.11. One grammar on every release, with no allocation proportional to the host count, is
 * worth more here than suffixes; names with a suffix are listed (n1-ib,n2-ib) or matched by
 * a prefix pattern (ib-n[1-2]). */
static int hostlist_syntax(const struct pctx *p, const char *hl)
{
	bool open = false;
	char prev = ',';

	for (const char *s = hl; *s; prev = *s++) {
		if (prev == ']' && *s != '[' && *s != ',')
			return perr(p, "NodeName=%.*s: text after ']' (host suffixes like n[1-2]x are "
				    "not supported; list such names, e.g. n1-ib,n2-ib)", QUOTE_MAX, hl);
		if (!isalnum((unsigned char)*s) && !strchr("-_.,[]", *s))
			return perr(p, "NodeName=%.*s: bad character '%c' in hostlist", QUOTE_MAX, hl,
				    *s);
		if ((*s == '[' && open) || (*s == ']' && !open))
			return perr(p, "NodeName=%.*s: unbalanced brackets in hostlist", QUOTE_MAX,
				    hl);
		if (*s == '[' || *s == ']')
			open = *s == '[';
		if ((*s == ',' || *s == ']') && (prev == ',' || prev == '['))
			return perr(p, "NodeName=%.*s: empty entry in hostlist", QUOTE_MAX, hl);
		if (*s == '[' && prev == ',')
			return perr(p, "NodeName=%.*s: bracket without a name prefix", QUOTE_MAX, hl);
	}
	if (open)
		return perr(p, "NodeName=%.*s: unbalanced brackets in hostlist", QUOTE_MAX, hl);
	if (prev == ',')
		return perr(p, "NodeName=%.*s: empty entry in hostlist", QUOTE_MAX, hl);
	return 0;
}

/* Validate hl; *match says whether node is in it. */
static int hostlist_match(const struct pctx *p, const char *hl, const char *node, bool *match)
{
	/* Slurm <= 23.02: `typedef struct hostlist *hostlist_t`, 23.11+: `typedef struct hostlist
	 * hostlist_t` and the API takes `hostlist_t *` (SchedMD/slurm slurm/slurm.h,
	 * slurm-23-11-0-1). The type of what slurm_hostlist_create returns is right for both. */
	__typeof__(slurm_hostlist_create("")) h;

	*match = false;
	if (!strcasecmp(hl, "ALL")) {
		*match = node && *node;
		return 0;
	}
	if (hostlist_syntax(p, hl) < 0)
		return -1;
	h = slurm_hostlist_create(hl);
	if (!h)
		return perr(p, "NodeName=%.*s: libslurm rejects this hostlist (bad range, or a "
			    "range too large; expected e.g. n[1-4,7] or ALL)", QUOTE_MAX, hl);
	if (node && *node)
		*match = slurm_hostlist_find(h, node) >= 0;
	slurm_hostlist_destroy(h);
	return 0;
}

static int check_line_chars(const struct pctx *p, const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch == '\r')
			return perr(p, "carriage return at column %zu (DOS line endings?)", i + 1);
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return perr(p, "control character 0x%02x at column %zu", ch, i + 1);
	}
	return 0;
}

/* Apply one Key=Value word. */
static int apply_word(struct efa_config *c, const struct pctx *p, const char *word,
		      uint64_t *seen)
{
	const char *eq = strchr(word, '=');
	const struct key_def *k;
	size_t idx;

	if (!eq)
		return perr(p, "missing '=' in '%.*s' (expected Key=Value)", QUOTE_MAX, word);
	if (eq == word)
		return perr(p, "missing key before '=' in '%.*s'", QUOTE_MAX, word);
	if (!strncasecmp(word, "NodeName", (size_t)(eq - word)) && eq - word == 8)
		return perr(p, "NodeName= must be the first word of its line");
	k = find_key(word, (size_t)(eq - word), &idx);
	if (!k)
		return perr(p, "unknown key '%.*s'", (int)(eq - word) < QUOTE_MAX ?
			    (int)(eq - word) : QUOTE_MAX, word);
	if (!eq[1])
		return perr(p, "%s: empty value", k->name);
	if (!k->repeatable && (*seen & (UINT64_C(1) << idx)))
		return perr(p, "%s: duplicate key on the same line", k->name);
	*seen |= UINT64_C(1) << idx;
	return k->fn(c, p, k->name, eq + 1);
}

static char *next_word(char **s)
{
	char *w;

	while (**s == ' ' || **s == '\t')
		(*s)++;
	if (!**s)
		return NULL;
	w = *s;
	while (**s && **s != ' ' && **s != '\t')
		(*s)++;
	if (**s)
		*(*s)++ = '\0';
	return w;
}

/*
 * Process one line (modified in place). pass 1: apply global lines to c, validate node lines
 * into scratch. pass 2: apply matching node lines to c.
 */
/* Pass 1 applies the global lines, validates every NodeName line on its own and remembers the
 * ones that match this node; pass 2 is given only those and applies them. */
static int do_line(struct efa_config *c, struct efa_config *scratch, struct pctx *p,
		   char *line, const char *node, int pass)
{
	char *hash, *cur = line, *w;
	uint64_t seen = 0;
	bool match = false;
	struct efa_config *dst = c;

	hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	if (strpbrk(line, "\"'"))
		return perr(p, "quotes are not supported");
	w = next_word(&cur);
	if (!w)
		return 0;
	if (!strncasecmp(w, "NodeName=", 9)) {
		if (pass == 1) {
			if (!w[9])
				return perr(p, "NodeName: empty hostlist");
			if (hostlist_match(p, w + 9, node, &match) < 0)
				return -1;
		}
		w = next_word(&cur);
		if (!w)
			return perr(p, "NodeName=%.*s: no keys on the line", QUOTE_MAX, line + 9);
		if (pass == 1) {
			if (match && remember_match(p) < 0)
				return -1;
			config_free(scratch);   /* validate each node line on its own */
			dst = scratch;
		}
	}
	for (; w; w = next_word(&cur))
		if (apply_word(dst, p, w, &seen) < 0)
			return -1;
	return 0;
}

static int do_pass(struct efa_config *c, struct efa_config *scratch, struct pctx *p,
		   const char *text, const char *node, int pass)
{
	char line[CONFIG_LINE_MAX + 1];
	const char *s = text, *eol;
	size_t len;

	p->next = 0;
	for (p->line = 1; *s; p->line++) {
		eol = strchr(s, '\n');
		len = eol ? (size_t)(eol - s) : strlen(s);
		if (pass == 1) {
			if (len > CONFIG_LINE_MAX)
				return perr(p, "line longer than %d characters", CONFIG_LINE_MAX);
			if (check_line_chars(p, s, len) < 0)
				return -1;
		}
		if (pass == 1 || (p->next < p->nmatched && p->matched[p->next] == p->line)) {
			p->next += pass == 2;
			memcpy(line, s, len);
			line[len] = '\0';
			if (do_line(c, scratch, p, line, node, pass) < 0)
				return -1;
		}
		if (!eol)
			break;
		s = eol + 1;
	}
	return 0;
}

/* ---- public API --------------------------------------------------------- */

void config_defaults(struct efa_config *c)
{
	memset(c, 0, sizeof(*c));
	str_copy(c->provider, sizeof(c->provider), "efa");
	c->expected_devices = -1;
	c->expected_gpus = -1;
	c->timeout_s = 30;
	c->cache_ttl_s = 300;
	c->on_fail = ON_FAIL_DRAIN_REQUEUE;
	c->drain_on_internal = false;
	c->resume = true;
	c->retry_transient = true;
	str_copy(c->state_dir, sizeof(c->state_dir), "/run/efa-check");
	c->text_hash = STR_HASH64_INIT;
	c->loopback_max_bytes = MIB;
	c->min_memlock_bytes = 64 * MIB;
	c->loopback_iterations = 100;
	c->nccl_bytes = 128 * MIB;
	c->cross_peers = 0;
	c->sweep_set_size = 8;
	c->sweep_nice = 10000;
	c->sweep_immediate_s = 5;
	c->sweep_timeout_s = 900;
	c->sweep_yield = true;
	str_copy(c->sweep_command, sizeof(c->sweep_command), EFA_CHECK_SBINDIR "/efa-check");
	str_copy(c->sweep_srun, sizeof(c->sweep_srun), "/usr/bin/srun");
	/* per minute and device, sustained over the interval between two runs (counters.c) */
	c->counter_max_rate[0] = 600;    /* rx_drops */
	c->counter_max_rate[1] = 60;     /* retrans_timeout_events */
	c->counter_max_rate[2] = 0;      /* impaired_remote_conn_events: the remote's trouble */
	c->counter_max_rate[3] = 0;      /* unresponsive_remote_events: the remote's trouble */
	c->min_link_fraction = 0.25;
	c->on_slow = ON_SLOW_LOG;
	c->flap_count = 3;
	c->flap_window_s = 86400;
}

void config_free(struct efa_config *c)
{
	if (!c)
		return;
	free_domains(c);
	for (size_t i = 0; i < c->nenv; i++) {
		free(c->env[i].name);
		free(c->env[i].value);
	}
	free(c->env);
	c->env = NULL;
	c->nenv = 0;
}

const char *on_slow_name(enum on_slow s)
{
	return s == ON_SLOW_DRAIN ? "drain" : "log";
}

const char *on_fail_name(enum on_fail f)
{
	switch (f) {
	case ON_FAIL_DRAIN_REQUEUE: return "drain-requeue";
	case ON_FAIL_DRAIN: return "drain";
	case ON_FAIL_LOG: return "log";
	}
	return "unknown";
}

int config_parse_text(struct efa_config *c, const char *text, const char *name, const char *node,
		      char *err, size_t errlen)
{
	struct pctx p = { .name = name ? name : "(config)", .err = err, .errlen = errlen };
	struct efa_config *scratch = NULL;

	if (err && errlen)
		err[0] = '\0';
	config_defaults(c);
	if (strnlen(text, CONFIG_FILE_MAX + 1) > CONFIG_FILE_MAX) {
		perr(&p, "larger than %d bytes", CONFIG_FILE_MAX);
		goto fail;
	}
	scratch = calloc(1, sizeof(*scratch));
	if (!scratch) {
		perr(&p, "out of memory");
		goto fail;
	}
	config_defaults(scratch);
	if (do_pass(c, scratch, &p, text, node, 1) < 0 || do_pass(c, scratch, &p, text, node, 2) < 0)
		goto fail;
	config_free(scratch);
	free(scratch);
	free(p.matched);
	str_copy(c->path, sizeof(c->path), p.name);
	c->text_hash = str_hash64(STR_HASH64_INIT, text, strlen(text));
	return 0;
fail:
	if (scratch)
		config_free(scratch);
	free(scratch);
	free(p.matched);
	config_free(c);
	config_defaults(c);
	return -1;
}

static int check_file(const struct pctx *p, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return perr(p, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return perr(p, "not a regular file");
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return perr(p, "writable by group or others; chmod go-w");
	if (geteuid() == 0 && st.st_uid != 0)
		return perr(p, "not owned by root (uid %u); chown root", (unsigned)st.st_uid);
	if (st.st_size > CONFIG_FILE_MAX)
		return perr(p, "larger than %d bytes", CONFIG_FILE_MAX);
	return 0;
}

/* Read the whole file (at most CONFIG_FILE_MAX bytes) into a NUL-terminated buffer. */
static char *read_all(const struct pctx *p, int fd)
{
	char *buf = malloc(CONFIG_FILE_MAX + 2);
	size_t n = 0;
	ssize_t r;
	struct pctx lp = *p;
	char *nul;

	if (!buf) {
		perr(p, "out of memory");
		return NULL;
	}
	while (n <= CONFIG_FILE_MAX) {
		r = read(fd, buf + n, CONFIG_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perr(p, "read: %s", strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONFIG_FILE_MAX) {
		perr(p, "larger than %d bytes", CONFIG_FILE_MAX);
		goto fail;
	}
	buf[n] = '\0';
	nul = memchr(buf, '\0', n);
	if (nul) {
		lp.line = 1;
		for (const char *s = buf; s < nul; s++)
			lp.line += *s == '\n';
		perr(&lp, "NUL byte in the file");
		goto fail;
	}
	return buf;
fail:
	free(buf);
	return NULL;
}

/*
 * Symlinks: the last path component may be a symlink (some sites link /etc/slurm files to
 * a shared configuration tree); the checks apply to the file actually opened (fstat), which
 * must be a regular file, not writable by group/others, and owned by root when we are root.
 * O_NONBLOCK keeps a FIFO from blocking the open before it is refused.
 */
int config_load(struct efa_config *c, const char *path, const char *node, bool must_exist,
		char *err, size_t errlen)
{
	struct pctx p = { .name = path, .err = err, .errlen = errlen };
	char *text = NULL;
	int fd, rc;

	if (err && errlen)
		err[0] = '\0';
	config_defaults(c);
	if (!path || !*path) {
		p.name = "efa-check";
		return perr(&p, "no configuration file name");
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return perr(&p, "%s", strerror(errno));
	}
	if (check_file(&p, fd) < 0)
		goto fail;
	text = read_all(&p, fd);
	if (!text)
		goto fail;
	close(fd);
	rc = config_parse_text(c, text, path, node, err, errlen);
	free(text);
	return rc;
fail:
	close(fd);
	return -1;
}
