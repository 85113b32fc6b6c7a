/*
 * cmd_env.c -- `efa-check env`: the EFA/NCCL environment this node's job steps get, with the
 * reason for each variable, and a lint of the current environment.
 *
 *   efa-check env [--format shell|json|spank] [--lint] [--no-cache] [--ofi-nccl PATH|none]
 *
 * Facts (no fi_getinfo, nothing that can hang): libfabric's runtime version (fi_version),
 * the kernel release (uname), EFA devices in sysfs, the instance type (InstanceType= or DMI)
 * and its profile, and the aws-ofi-nccl plugin library (its version read from the library's
 * "aws-ofi-nccl X.Y.Z" banner string when present). The rules are envrules.c.
 *
 * The computed set is also written, in the spank form, to StateDir/env.<node> (atomically,
 * O_NOFOLLOW, directory vetted by state.c) so the SPANK plugin can apply it without exec'ing
 * this binary for every step. Writing the cache is best effort (not root: skipped).
 */
#include "cli/cli.h"
#include "core/config.h"
#include "checks/devices.h"
#include "core/cachekey.h"
#include "env/envrules.h"
#include "fabric/fabric.h"
#include "env/profiles.h"
#include "slurm/state.h"
#include "core/strutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

enum env_format { FMT_SHELL, FMT_JSON, FMT_SPANK };

struct env_opts {
	enum env_format format;
	bool lint;
	bool no_cache;
	const char *ofi_nccl;   /* NULL = search, "none" = absent, else the library path */
};

enum {
	OPT_FORMAT = 0x200,
	OPT_LINT,
	OPT_NO_CACHE,
	OPT_OFI_NCCL,
};

static const struct option env_longopts[] = {
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "lint", no_argument, NULL, OPT_LINT },
	{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
	{ "ofi-nccl", required_argument, NULL, OPT_OFI_NCCL },
	{ NULL, 0, NULL, 0 },
};

static int env_handle(int opt, const char *arg, void *ctx)
{
	struct env_opts *eo = ctx;

	switch (opt) {
	case OPT_FORMAT:
		if (!strcmp(arg, "shell"))
			eo->format = FMT_SHELL;
		else if (!strcmp(arg, "json"))
			eo->format = FMT_JSON;
		else if (!strcmp(arg, "spank"))
			eo->format = FMT_SPANK;
		else {
			cli_error("env: --format: expected shell, json or spank, got '%s'", arg);
			return -1;
		}
		return 0;
	case OPT_LINT: eo->lint = true; return 0;
	case OPT_NO_CACHE: eo->no_cache = true; return 0;
	case OPT_OFI_NCCL:
		if (strcmp(arg, "none") && arg[0] != '/') {
			cli_error("env: --ofi-nccl: expected an absolute path or 'none', got '%s'", arg);
			return -1;
		}
		eo->ofi_nccl = arg;
		return 0;
	}
	return -1;
}

/* ---- facts ----------------------------------------------------------------------------- */

/* Where the AWS EFA installer and distributions put aws-ofi-nccl. */
static const char *const ofi_dirs[] = {
	"/opt/amazon/ofi-nccl/lib", "/opt/amazon/ofi-nccl/lib64", "/opt/aws-ofi-nccl/lib",
	"/opt/aws-ofi-nccl/lib64", "/usr/local/lib", "/usr/local/lib64", "/usr/lib64",
	"/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
};
static const char *const ofi_names[] = { "libnccl-net-ofi.so", "libnccl-net.so", "libnccl-net-aws-ofi.so" };

/* Find "aws-ofi-nccl <digits>" in the library: its PACKAGE_STRING banner. */
static void ofi_version_from_file(const char *path, struct env_version *v)
{
	static const char needle[] = "aws-ofi-nccl ";
	struct stat st;
	const char *p, *end;
	void *map;
	int fd;

	v->major = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > (256L << 20)) {
		close(fd);
		return;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	end = (const char *)map + st.st_size;
	for (p = map; p && p + sizeof(needle) < end;
	     p = memmem(p + 1, (size_t)(end - p - 1), needle, sizeof(needle) - 1)) {
		if (!memcmp(p, needle, sizeof(needle) - 1) && p + sizeof(needle) < end &&
		    isdigit((unsigned char)p[sizeof(needle) - 1])) {
			char buf[32];
			size_t n = 0;
			const char *q = p + sizeof(needle) - 1;

			while (q < end && n + 1 < sizeof(buf) && (isdigit((unsigned char)*q) || *q == '.'))
				buf[n++] = *q++;
			buf[n] = '\0';
			env_version_parse(buf, v);
			break;
		}
	}
	munmap(map, (size_t)st.st_size);
}

static void ofi_facts(const struct env_opts *eo, struct env_facts *f)
{
	if (eo->ofi_nccl && !strcmp(eo->ofi_nccl, "none")) {
		f->ofi = ENV_OFI_ABSENT;
		return;
	}
	if (eo->ofi_nccl) {
		if (access(eo->ofi_nccl, R_OK) < 0) {
			f->ofi = ENV_OFI_ABSENT;
			return;
		}
		str_copy(f->ofi_path, sizeof(f->ofi_path), eo->ofi_nccl);
	} else {
		f->ofi = ENV_OFI_ABSENT;
		for (size_t d = 0; d < sizeof(ofi_dirs) / sizeof(ofi_dirs[0]) && !f->ofi_path[0]; d++) {
			for (size_t n = 0; n < sizeof(ofi_names) / sizeof(ofi_names[0]); n++) {
				char path[512];

				snprintf(path, sizeof(path), "%s/%s", ofi_dirs[d], ofi_names[n]);
				if (access(path, R_OK) == 0) {
					str_copy(f->ofi_path, sizeof(f->ofi_path), path);
					break;
				}
			}
		}
		if (!f->ofi_path[0])
			return;
	}
	f->ofi = ENV_OFI_PRESENT;
	ofi_version_from_file(f->ofi_path, &f->ofi_version);
}

static void gather_facts(const struct cli_opts *o, const struct env_opts *eo,
			 const struct efa_config *cfg, struct env_facts *f)
{
	struct efa_device_list devs = { 0 };
	struct profile_table table = { 0 };
	struct instance_profile prof;
	struct utsname u;
	char buf[64], err[256];

	env_facts_init(f);
	str_copy(f->provider, sizeof(f->provider), cfg->provider);

	fabric_version(buf, sizeof(buf));
	env_version_parse(buf, &f->libfabric);
	if (uname(&u) == 0)
		env_version_parse(u.release, &f->kernel);

	if (devices_scan(o->sysfs_root, &devs, err, sizeof(err)) == 0) {
		f->efa_devices = (int)devs.n;
		/* one instance type has one EFA generation: the first device's PCI id stands for
		 * all (the FI_EFA_USE_DEVICE_RDMA default depends on it, envrules.c) */
		if (devs.n > 0)
			f->efa_device_id = devs.dev[0].pci_device_id;
	} else
		cli_verbose(o, "env: EFA devices: %s", err);
	devices_free(&devs);

	if (cfg->instance_type[0])
		str_copy(f->instance_type, sizeof(f->instance_type), cfg->instance_type);
	else if (instance_type_read(o->sysfs_root, f->instance_type, sizeof(f->instance_type)) < 0)
		f->instance_type[0] = '\0';
	if (f->instance_type[0]) {
		if (profiles_load(&table, cfg->instance_profiles, err, sizeof(err)) < 0) {
			cli_error("env: %s", err);
		} else if (profiles_lookup(&table, f->instance_type, &prof) == 0) {
			f->have_profile = true;
			f->rdma_read = prof.rdma_read;
			f->gpus = prof.gpus;
		}
		profiles_free(&table);
	}
	ofi_facts(eo, f);
}

/* ---- output ---------------------------------------------------------------------------- */

static bool shell_plain(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) && !strchr("_.,^/:=+-@%", *v))
			return false;
	return true;
}

static void print_shell_value(const char *v)
{
	if (shell_plain(v)) {
		fputs(v, stdout);
		return;
	}
	putchar('\'');
	for (; *v; v++) {
		if (*v == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*v);
	}
	putchar('\'');
}

static void write_shell(const struct env_set *s, const char *node)
{
	char facts[768];

	env_facts_format(&s->facts, facts, sizeof(facts));
	printf("# efa-check env for %s: %s\n", node, facts);
	for (size_t i = 0; i < s->n; i++) {
		printf("export %s=", s->e[i].name);
		print_shell_value(s->e[i].value);
		printf("  # %s%s\n", s->e[i].mode == ENV_FORCE ? "[forced] " : "", s->e[i].why);
	}
	for (size_t i = 0; i < s->nnotes; i++)
		printf("# note: %s\n", s->notes[i]);
}

static json_object *version_json(const struct env_version *v)
{
	char buf[32];

	if (!env_version_known(v))
		return NULL;
	snprintf(buf, sizeof(buf), "%d.%d.%d", v->major, v->minor, v->patch);
	return json_object_new_string(buf);
}

static json_object *facts_json(const struct env_facts *f)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "libfabric", version_json(&f->libfabric));
	json_object_object_add(o, "kernel", version_json(&f->kernel));
	json_object_object_add(o, "provider", json_object_new_string(f->provider));
	json_object_object_add(o, "efa_devices", f->efa_devices >= 0 ? json_object_new_int(f->efa_devices) : NULL);
	if (f->efa_device_id >= 0) {
		char id[16];

		snprintf(id, sizeof(id), "0x%04x", (unsigned)f->efa_device_id);
		json_object_object_add(o, "efa_device_id", json_object_new_string(id));
	} else {
		json_object_object_add(o, "efa_device_id", NULL);
	}
	json_object_object_add(o, "instance_type", f->instance_type[0] ? json_object_new_string(f->instance_type) : NULL);
	json_object_object_add(o, "profile", json_object_new_boolean(f->have_profile));
	json_object_object_add(o, "rdma_read", f->have_profile ? json_object_new_boolean(f->rdma_read) : NULL);
	json_object_object_add(o, "gpus", f->gpus >= 0 ? json_object_new_int(f->gpus) : NULL);
	json_object_object_add(o, "efa_node", json_object_new_boolean(env_is_efa_node(f)));
	json_object_object_add(o, "aws_ofi_nccl", f->ofi == ENV_OFI_PRESENT ? json_object_new_boolean(1) :
				f->ofi == ENV_OFI_ABSENT ? json_object_new_boolean(0) : NULL);
	json_object_object_add(o, "aws_ofi_nccl_version", version_json(&f->ofi_version));
	json_object_object_add(o, "aws_ofi_nccl_path", f->ofi_path[0] ? json_object_new_string(f->ofi_path) : NULL);
	return o;
}

static void write_json(const struct env_set *s, const char *node, const struct env_warning *w,
		       size_t nw, bool lint)
{
	json_object *o = json_object_new_object(), *env = json_object_new_array(),
		    *notes = json_object_new_array();

	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "tool", json_object_new_string("efa-check"));
	json_object_object_add(o, "mode", json_object_new_string("env"));
	json_object_object_add(o, "node", json_object_new_string(node));
	json_object_object_add(o, "facts", facts_json(&s->facts));
	for (size_t i = 0; i < s->n; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(s->e[i].name));
		json_object_object_add(e, "value", json_object_new_string(s->e[i].value));
		json_object_object_add(e, "why", json_object_new_string(s->e[i].why));
		json_object_object_add(e, "force", json_object_new_boolean(s->e[i].mode == ENV_FORCE));
		json_object_array_add(env, e);
	}
	json_object_object_add(o, "env", env);
	for (size_t i = 0; i < s->nnotes; i++)
		json_object_array_add(notes, json_object_new_string(s->notes[i]));
	json_object_object_add(o, "notes", notes);
	if (lint) {
		json_object *warns = json_object_new_array();

		for (size_t i = 0; i < nw; i++) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "name", json_object_new_string(w[i].name));
			json_object_object_add(e, "text", json_object_new_string(w[i].text));
			json_object_array_add(warns, e);
		}
		json_object_object_add(o, "warnings", warns);
		json_object_object_add(o, "ok", json_object_new_boolean(nw == 0));
	}
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* Best effort: StateDir/env.<node>, root's business. */
static void write_cache(const struct cli_opts *o, const struct efa_config *cfg, const char *text,
			size_t len)
{
	char err[512], name[300];
	int dirfd;

	if (geteuid() != 0 && !o->state_dir) {
		cli_verbose(o, "env: not root: env cache not written");
		return;
	}
	dirfd = state_dir_open(cfg->state_dir, err, sizeof(err));
	if (dirfd < 0) {
		cli_verbose(o, "env: cache not written: %s", err);
		return;
	}
	snprintf(name, sizeof(name), "env.%s", o->node);
	if (state_write_atomic(dirfd, name, text, len, 0644) < 0)
		cli_verbose(o, "env: cache %s/%s not written: %s", cfg->state_dir, name, strerror(errno));
	else
		cli_verbose(o, "env: cache written to %s/%s", cfg->state_dir, name);
	close(dirfd);
}

int cmd_env(int argc, char **argv)
{
	struct env_opts eo = { .format = FMT_SHELL };
	struct cli_extra extra = {
		.longopts = env_longopts, .handle = env_handle, .ctx = &eo,
		.usage = "  --format shell|json|spank  output form (default shell: export lines with reasons;\n"
			 "                             spank: the SPANK plugin's form, also the env cache)\n"
			 "  --lint                     warn about variables in the current environment that\n"
			 "                             abort or slow jobs on this node (exit 1 if any)\n"
			 "  --no-cache                 do not write StateDir/env.<node>\n"
			 "  --ofi-nccl PATH|none       the aws-ofi-nccl library (default: search the usual places)\n",
	};
	struct env_warning warns[32];
	struct env_facts facts;
	struct efa_config cfg;
	struct cli_opts o;
	struct env_set *set = NULL;
	char err[512], *text = NULL;
	size_t nw = 0;
	long len;
	int rc;

	rc = cli_start(argc, argv, &extra, &o, &cfg);
	if (rc)
		return rc;
	set = calloc(1, sizeof(*set));
	text = malloc(65536);
	if (!set || !text) {
		cli_error("env: out of memory");
		rc = EXIT_INTERNAL;
		goto out;
	}
	gather_facts(&o, &eo, &cfg, &facts);
	if (envrules_compute(&facts, cfg.env, cfg.nenv, set, err, sizeof(err)) < 0) {
		cli_error("env: %s: %s", cfg.path[0] ? cfg.path : "configuration", err);
		rc = EXIT_USAGE;
		goto out;
	}
	str_copy(set->config, sizeof(set->config), cfg.path);
	if (cache_key_inputs(&cfg, set->key, sizeof(set->key)) < 0)
		set->key[0] = '\0';   /* the plugin never uses a cache without a key */
	len = envrules_format_spank(set, text, 65536);
	if (len < 0) {
		cli_error("env: environment set too large");
		rc = EXIT_INTERNAL;
		goto out;
	}
	if (!eo.no_cache)
		write_cache(&o, &cfg, text, (size_t)len);

	if (eo.lint)
		nw = envrules_lint(set, environ, warns, sizeof(warns) / sizeof(warns[0]));

	if (eo.format == FMT_JSON || o.json)
		write_json(set, o.node, warns, nw, eo.lint);
	else if (eo.format == FMT_SPANK)
		fwrite(text, 1, (size_t)len, stdout);
	else
		write_shell(set, o.node);
	if (eo.format != FMT_JSON && !o.json)
		for (size_t i = 0; i < nw; i++)
			cli_error("warning: %s", warns[i].text);
	rc = nw ? EXIT_UNHEALTHY : EXIT_HEALTHY;
out:
	free(set);
	free(text);
	config_free(&cfg);
	return rc;
}
