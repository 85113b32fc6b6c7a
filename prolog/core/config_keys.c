/*
 * config_keys.c -- one handler per efa-check.conf key, and the table of keys (config_parse.h).
 * A new key is a handler here, a line in keys[], a field in config.h with its default in
 * config_defaults(), and a line in etc/efa-check.conf.
 */
#include "core/config_parse.h"
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

/* ---- key handlers -------------------------------------------------------- */

static int k_provider(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	if (strlen(v) >= sizeof(c->provider) || !cfg_chars_in(v, "_;-", false))
		return cfg_perr(p, "%s=%.*s: expected a provider name of at most %zu characters "
			    "[A-Za-z0-9_;-] (e.g. efa, tcp;ofi_rxm)", key, QUOTE_MAX, v,
			    sizeof(c->provider) - 1);
	str_copy(c->provider, sizeof(c->provider), v);
	return 0;
}

void cfg_free_domains(struct efa_config *c)
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
		return cfg_perr(p, "%s: empty domain name in the list", key);
	if (strlen(d) > CONFIG_DOMAIN_LEN || !cfg_chars_in(d, "_.:-", false))
		return cfg_perr(p, "%s: bad domain name '%.*s' (at most %d characters [A-Za-z0-9_.:-])",
			    key, QUOTE_MAX, d, CONFIG_DOMAIN_LEN);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], d))
			return cfg_perr(p, "%s: duplicate domain '%s'", key, d);
	if (n >= CONFIG_DOMAINS_MAX)
		return cfg_perr(p, "%s: more than %d domains", key, CONFIG_DOMAINS_MAX);
	return 0;
}

/* Domains=a,b,c or Domains=auto (every domain of the provider). */
static int k_domains(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	char **list = NULL;
	size_t n = 0;
	char *copy = NULL, *s, *comma;

	if (!strcasecmp(v, "auto")) {
		cfg_free_domains(c);
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
	cfg_free_domains(c);
	c->domains = list;
	c->ndomains = n;
	return 0;
oom:
	cfg_perr(p, "%s: out of memory", key);
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
	return cfg_val_int_auto(p, key, v, 1024, &c->expected_devices);
}

static int k_expected_gpus(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return cfg_val_int_auto(p, key, v, 64, &c->expected_gpus);
}

static int k_min_loopback(struct efa_config *c, const struct pctx *p, const char *key,
			  const char *v)
{
	return cfg_val_double_auto(p, key, v, 100000, &c->min_loopback_gbps);
}

static int k_min_memlock(struct efa_config *c, const struct pctx *p, const char *key,
			 const char *v)
{
	long bytes;

	if (!strcasecmp(v, "unlimited")) {
		c->min_memlock_bytes = -1;
		return 0;
	}
	if (cfg_val_bytes(p, key, v, 0, 1024 * GIB, "0..1024G or unlimited", &bytes))
		return -1;
	c->min_memlock_bytes = bytes;
	return 0;
}

static int k_min_link(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_double_auto(p, key, v, 100000, &c->min_link_gbps);
}

static int k_min_busbw(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_double_auto(p, key, v, 100000, &c->min_busbw_gbps);
}

static int k_min_link_fraction(struct efa_config *c, const struct pctx *p, const char *key,
			       const char *v)
{
	return cfg_val_double(p, key, v, 0, 1, &c->min_link_fraction);
}

static int k_min_device_fraction(struct efa_config *c, const struct pctx *p, const char *key,
				 const char *v)
{
	return cfg_val_double(p, key, v, 0, 1, &c->min_device_fraction);
}

static int k_on_slow(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	if (!strcasecmp(v, "log"))
		c->on_slow = ON_SLOW_LOG;
	else if (!strcasecmp(v, "drain"))
		c->on_slow = ON_SLOW_DRAIN;
	else
		return cfg_perr(p, "%s=%.*s: expected log or drain", key, QUOTE_MAX, v);
	return 0;
}

static int k_flap_count(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_int(p, key, v, 0, 1000, &c->flap_count);
}

static int k_flap_window(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_int(p, key, v, 10, 30 * 86400, &c->flap_window_s);
}

static int k_timeout(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_int(p, key, v, 1, 3600, &c->timeout_s);
}

static int k_cache_ttl(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_int(p, key, v, 0, 86400, &c->cache_ttl_s);
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
		return cfg_perr(p, "%s=%.*s: expected drain, drain-requeue or log", key, QUOTE_MAX, v);
	return 0;
}

static int k_on_internal(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	if (!strcasecmp(v, "log"))
		c->drain_on_internal = false;
	else if (!strcasecmp(v, "drain"))
		c->drain_on_internal = true;
	else
		return cfg_perr(p, "%s=%.*s: expected log or drain", key, QUOTE_MAX, v);
	return 0;
}

static int k_resume(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_bool(p, key, v, &c->resume);
}

static int k_retry(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_bool(p, key, v, &c->retry_transient);
}

static int k_state_dir(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_abspath(p, key, v, c->state_dir, sizeof(c->state_dir));
}

static int k_metrics(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_abspath(p, key, v, c->metrics_file, sizeof(c->metrics_file));
}

static int k_profiles(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_abspath(p, key, v, c->instance_profiles, sizeof(c->instance_profiles));
}

static int k_instance_type(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	if (strlen(v) >= sizeof(c->instance_type) || !cfg_chars_in(v, ".-", true))
		return cfg_perr(p, "%s=%.*s: expected an instance type of at most %zu characters "
			    "[a-z0-9.-] (e.g. p5.48xlarge)", key, QUOTE_MAX, v,
			    sizeof(c->instance_type) - 1);
	str_copy(c->instance_type, sizeof(c->instance_type), v);
	return 0;
}

static int k_loopback_max(struct efa_config *c, const struct pctx *p, const char *key,
			  const char *v)
{
	return cfg_val_bytes(p, key, v, MIB, GIB, "1M..1G", &c->loopback_max_bytes);
}

static int k_loopback_iter(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return cfg_val_int(p, key, v, 1, 100000, &c->loopback_iterations);
}

static int k_cuda_lib(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_library(p, key, v, c->cuda_library, sizeof(c->cuda_library));
}

static int k_nccl_lib(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_library(p, key, v, c->nccl_library, sizeof(c->nccl_library));
}

static int k_libfabric(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_library(p, key, v, c->libfabric_path, sizeof(c->libfabric_path));
}

static int k_nccl_bytes(struct efa_config *c, const struct pctx *p, const char *key,
			const char *v)
{
	return cfg_val_bytes(p, key, v, 1, 16 * GIB, "1..16G", &c->nccl_bytes);
}

static int k_cross_peers(struct efa_config *c, const struct pctx *p, const char *key,
			 const char *v)
{
	return cfg_val_int(p, key, v, 0, 4096, &c->cross_peers);
}

/* Slurm names (partition, QOS, reservation, account): they go on srun's command line. */
static int val_slurm_name(const struct pctx *p, const char *key, const char *v, char *dst,
			  size_t size)
{
	if (strlen(v) >= size || v[0] == '-' || !cfg_chars_in(v, "_.-", false))
		return cfg_perr(p, "%s=%.*s: expected a Slurm name of at most %zu characters "
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
	return cfg_val_int(p, key, v, 4, 4096, &c->sweep_set_size);
}

static int k_sweep_max_nodes(struct efa_config *c, const struct pctx *p, const char *key,
			     const char *v)
{
	return cfg_val_int(p, key, v, 0, 65536, &c->sweep_max_nodes);
}

static int k_sweep_nice(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_int(p, key, v, 0, 2147483645, &c->sweep_nice);
}

static int k_sweep_immediate(struct efa_config *c, const struct pctx *p, const char *key,
			     const char *v)
{
	return cfg_val_int(p, key, v, 1, 300, &c->sweep_immediate_s);
}

static int k_sweep_timeout(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return cfg_val_int(p, key, v, 10, 86400, &c->sweep_timeout_s);
}

static int k_sweep_yield(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_bool(p, key, v, &c->sweep_yield);
}

static int k_sweep_command(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return cfg_val_abspath(p, key, v, c->sweep_command, sizeof(c->sweep_command));
}

static int k_sweep_srun(struct efa_config *c, const struct pctx *p, const char *key, const char *v)
{
	return cfg_val_abspath(p, key, v, c->sweep_srun, sizeof(c->sweep_srun));
}

static int k_sweep_metrics(struct efa_config *c, const struct pctx *p, const char *key,
			   const char *v)
{
	return cfg_val_abspath(p, key, v, c->sweep_metrics_file, sizeof(c->sweep_metrics_file));
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
			return cfg_perr(p, "%s: more than %d variables", key, CONFIG_ENV_MAX);
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
	return cfg_perr(p, "%s: out of memory", key);
}

static int env_common(struct efa_config *c, const struct pctx *p, const char *key, const char *v,
		      bool force)
{
	const char *eq = strchr(v, '=');

	if (!eq)
		return cfg_perr(p, "%s=%.*s: expected NAME=VALUE", key, QUOTE_MAX, v);
	if (!env_name_ok(v, (size_t)(eq - v)))
		return cfg_perr(p, "%s: bad variable name '%.*s' (expected [A-Za-z_][A-Za-z0-9_]*, "
			    "at most %d characters)", key, (int)(eq - v) < QUOTE_MAX ?
			    (int)(eq - v) : QUOTE_MAX, v, CONFIG_ENV_NAME_MAX);
	if (!cfg_printable_ascii(eq + 1))
		return cfg_perr(p, "%s: value of %.*s must be printable ASCII without spaces", key,
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
		return cfg_perr(p, "%s: value too long", key);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':');
		size_t i;

		if (!colon)
			return cfg_perr(p, "%s=%.*s: expected COUNTER:PER_MINUTE[,...]", key, QUOTE_MAX, v);
		*colon = '\0';
		for (i = 0; i < EFA_RATE_COUNTERS && strcmp(item, names[i]); i++)
			;
		if (i == EFA_RATE_COUNTERS)
			return cfg_perr(p, "%s: unknown counter '%.*s' (rx_drops, retrans_timeout_events, "
				    "impaired_remote_conn_events, unresponsive_remote_events)", key,
				    QUOTE_MAX, item);
		if (cfg_val_double(p, key, colon + 1, 0, 1e12, &c->counter_max_rate[i]))
			return -1;
	}
	return 0;
}

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
	{ "MinDeviceFraction", k_min_device_fraction, false },
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
_Static_assert(NKEYS <= CONFIG_KEYS_MAX, "seen-key bitmask is 64 bits");

const struct key_def *cfg_find_key(const char *name, size_t len, size_t *idx)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strlen(keys[i].name) == len && !strncasecmp(keys[i].name, name, len)) {
			*idx = i;
			return &keys[i];
		}
	}
	return NULL;
}
