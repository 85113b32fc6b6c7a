/*
 * args.c -- plugstack.conf arguments (model: pyxis args.c). Every word is key=value; keys:
 *
 *   efa_check=PATH     the efa-check binary (absolute), default EFA_CHECK_SBINDIR/efa-check
 *   config=PATH        efa-check.conf (absolute), passed to every efa-check run;
 *                      default: efa-check's own default (EFA_CHECK_SYSCONFDIR/slurm/efa-check.conf)
 *   env=auto|off       apply the node's EFA/NCCL environment to every step (default auto)
 *   env_ttl=SECONDS    how old the env cache (StateDir/env.<node>) may be, 0 = always exec
 *                      `efa-check env` (default 300)
 *   state_dir=PATH     no longer used, accepted so that existing plugstack.conf lines keep
 *                      loading (logged on the node): the env cache is read from StateDir= of
 *                      the configuration, the one place efa-check itself writes it
 *   timeout=SECONDS    deadline for one efa-check run from the plugin (default 60)
 *   lint=yes|no        warn users about variables that abort or slow jobs (default yes)
 *   srun=PATH          srun used for --efa-check=cross (default /usr/bin/srun)
 */
#include "args.h"
#include "core/config.h"
#include "core/strutil.h"

#include <stdio.h>
#include <string.h>

static int set_path(char *dst, size_t size, const char *key, const char *v, char *err, size_t errlen)
{
	char q[80];

	if (v[0] != '/' || strstr(v, "/../") || !str_copy(dst, size, v)) {
		snprintf(err, errlen, "%s=%s: expected an absolute path", key,
			 str_printable(q, sizeof(q), v));
		return -1;
	}
	for (const char *p = v; *p; p++) {
		if (*p <= ' ' || *p == 0x7f) {
			snprintf(err, errlen, "%s=: control character or space in path", key);
			return -1;
		}
	}
	return 0;
}

static int set_seconds(int *dst, const char *key, const char *v, long min, char *err, size_t errlen)
{
	char q[80];
	long n;

	if (parse_long(v, min, 3600, &n)) {
		snprintf(err, errlen, "%s=%s: expected seconds in %ld..3600", key,
			 str_printable(q, sizeof(q), v), min);
		return -1;
	}
	*dst = (int)n;
	return 0;
}

int plugin_args_parse(struct plugin_args *a, int argc, char **argv, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	str_copy(a->efa_check, sizeof(a->efa_check), EFA_CHECK_SBINDIR "/efa-check");
	str_copy(a->config, sizeof(a->config), EFA_CHECK_DEFAULT_CONFIG);
	str_copy(a->srun, sizeof(a->srun), "/usr/bin/srun");
	a->env = ENV_AUTO;
	a->env_ttl_s = 300;
	a->timeout_s = 60;
	a->lint = true;

	for (int i = 0; i < argc; i++) {
		const char *w = argv[i], *eq = strchr(w, '=');
		char key[32], q[80];
		const char *v;
		int rc = 0;

		if (!eq || eq == w || (size_t)(eq - w) >= sizeof(key)) {
			snprintf(err, errlen, "invalid argument '%s' (expected key=value)",
				 str_printable(q, sizeof(q), w));
			return -1;
		}
		memcpy(key, w, (size_t)(eq - w));
		key[eq - w] = '\0';
		v = eq + 1;
		if (!strcmp(key, "efa_check")) {
			rc = set_path(a->efa_check, sizeof(a->efa_check), key, v, err, errlen);
		} else if (!strcmp(key, "config")) {
			rc = set_path(a->config, sizeof(a->config), key, v, err, errlen);
			a->config_given = true;
		} else if (!strcmp(key, "state_dir")) {
			a->state_dir_ignored = true;
		} else if (!strcmp(key, "srun")) {
			rc = set_path(a->srun, sizeof(a->srun), key, v, err, errlen);
		} else if (!strcmp(key, "env")) {
			if (!strcmp(v, "auto"))
				a->env = ENV_AUTO;
			else if (!strcmp(v, "off"))
				a->env = ENV_OFF;
			else {
				snprintf(err, errlen, "env=%s: expected auto or off",
					 str_printable(q, sizeof(q), v));
				rc = -1;
			}
		} else if (!strcmp(key, "env_ttl")) {
			rc = set_seconds(&a->env_ttl_s, key, v, 0, err, errlen);
		} else if (!strcmp(key, "timeout")) {
			rc = set_seconds(&a->timeout_s, key, v, 1, err, errlen);
		} else if (!strcmp(key, "lint")) {
			if (parse_bool(v, &a->lint)) {
				snprintf(err, errlen, "lint=%s: expected yes or no",
					 str_printable(q, sizeof(q), v));
				rc = -1;
			}
		} else {
			snprintf(err, errlen, "unknown argument '%s' (known: efa_check, config, env, "
				 "env_ttl, state_dir, timeout, lint, srun)", str_printable(q, sizeof(q), key));
			rc = -1;
		}
		if (rc)
			return -1;
	}
	return 0;
}
