/*
 * envrules.c -- the EFA/NCCL environment rules (DESIGN §3 table) and the lint of a user's
 * environment. Pure functions of the facts; libc and strutil only (the plugin links this).
 *
 * Sources of the rules: aws-samples/awsome-distributed-training efa-cheatsheet.md and the
 * aws-ofi-nccl documentation (DESIGN §3), checked against the code they describe:
 *   ofiwg/libfabric (v2.x, main): prov/efa/src/rdm/efa_rdm_util.c efa_rdm_get_use_device_rdma
 *     (the FI_EFA_USE_DEVICE_RDMA default depends on the API version the application asks
 *     for), prov/efa/src/efa_fork_support.c efa_fork_support_request_initialize (FI_EFA_FORK_SAFE
 *     turns huge pages off; with FI_EFA_USE_HUGE_PAGE=1 as well the process aborts) and
 *     efa_atfork_callback_warn_and_abort ("Linux Kernel 5.13+ with rdma-core v35.0+" needs no
 *     fork support), prov/efa/src/efa_user_info.c efa_user_info_should_support_hmem
 *     (FI_HMEM_P2P_DISABLED / FI_EFA_USE_DEVICE_RDMA=0 drop FI_HMEM for API < 1.18),
 *     prov/efa/src/efa_env.c ("iface": FI_EFA_IFACE restricts the eligible NICs);
 *   aws/aws-ofi-nccl (master): src/platform-aws.cpp PlatformAWS::init (with FI_PROVIDER unset
 *     the plugin filters for efa itself; it sets FI_EFA_FORK_SAFE=1 on libfabric >= 1.13 in
 *     CUDA builds).
 */
#include "env/envrules.h"
#include "core/config.h"
#include "core/strutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- versions ---------------------------------------------------------------------- */

static int parse_component(const char **p)
{
	long v = 0;

	if (!isdigit((unsigned char)**p))
		return -1;
	while (isdigit((unsigned char)**p)) {
		if (v < 100000)
			v = v * 10 + (**p - '0');
		(*p)++;
	}
	return (int)v;
}

int env_version_parse(const char *s, struct env_version *v)
{
	const char *p = s;
	int *parts[3] = { &v->major, &v->minor, &v->patch };

	v->major = -1;
	v->minor = v->patch = 0;
	if (!s)
		return -1;
	for (int i = 0; i < 3; i++) {
		int c = parse_component(&p);

		if (c < 0) {
			if (i == 0)
				return -1;
			break;
		}
		*parts[i] = c;
		if (*p != '.')
			break;
		p++;
	}
	return 0;
}

bool env_version_known(const struct env_version *v)
{
	return v->major >= 0;
}

int env_version_cmp(const struct env_version *a, int major, int minor, int patch)
{
	if (!env_version_known(a))
		return 0;
	if (a->major != major)
		return a->major < major ? -1 : 1;
	if (a->minor != minor)
		return a->minor < minor ? -1 : 1;
	if (a->patch != patch)
		return a->patch < patch ? -1 : 1;
	return 0;
}

static void version_str(const struct env_version *v, char *buf, size_t size)
{
	if (env_version_known(v))
		snprintf(buf, size, "%d.%d.%d", v->major, v->minor, v->patch);
	else
		str_copy(buf, size, "unknown");
}

/* ---- facts ----------------------------------------------------------------------------- */

void env_facts_init(struct env_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->libfabric.major = f->kernel.major = f->ofi_version.major = -1;
	f->efa_devices = -1;
	f->efa_device_id = -1;
	f->gpus = -1;
	f->ofi = ENV_OFI_UNKNOWN;
	str_copy(f->provider, sizeof(f->provider), "efa");
}

bool env_is_efa_node(const struct env_facts *f)
{
	if (strcmp(f->provider, "efa"))
		return false;
	if (f->efa_devices >= 0)
		return f->efa_devices > 0;
	return f->have_profile;
}

static bool word_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s))
			return false;
	return true;
}

void env_facts_format(const struct env_facts *f, char *buf, size_t size)
{
	char lf[32], k[32], ov[32], id[16] = "unknown";

	version_str(&f->libfabric, lf, sizeof(lf));
	version_str(&f->kernel, k, sizeof(k));
	version_str(&f->ofi_version, ov, sizeof(ov));
	if (f->efa_device_id >= 0)
		snprintf(id, sizeof(id), "0x%04x", (unsigned)f->efa_device_id);
	snprintf(buf, size, "libfabric=%s kernel=%s provider=%s efa_devices=%d efa_device_id=%s "
		 "instance_type=%s profile=%s rdma_read=%s gpus=%d ofi_nccl=%s ofi_nccl_version=%s",
		 lf, k, word_ok(f->provider) ? f->provider : "unknown", f->efa_devices, id,
		 word_ok(f->instance_type) ? f->instance_type : "unknown",
		 f->have_profile ? "yes" : "no", f->rdma_read ? "yes" : "no", f->gpus,
		 f->ofi == ENV_OFI_PRESENT ? "yes" : f->ofi == ENV_OFI_ABSENT ? "no" : "unknown", ov);
}

static int fact_set(struct env_facts *f, const char *key, const char *val)
{
	long n;

	if (!strcmp(key, "libfabric")) {
		if (strcmp(val, "unknown") && env_version_parse(val, &f->libfabric))
			return -1;
	} else if (!strcmp(key, "kernel")) {
		if (strcmp(val, "unknown") && env_version_parse(val, &f->kernel))
			return -1;
	} else if (!strcmp(key, "ofi_nccl_version")) {
		if (strcmp(val, "unknown") && env_version_parse(val, &f->ofi_version))
			return -1;
	} else if (!strcmp(key, "provider")) {
		if (!str_copy(f->provider, sizeof(f->provider), val))
			return -1;
	} else if (!strcmp(key, "instance_type")) {
		if (!str_copy(f->instance_type, sizeof(f->instance_type), strcmp(val, "unknown") ? val : ""))
			return -1;
	} else if (!strcmp(key, "efa_devices")) {
		if (parse_long(val, -1, 4096, &n))
			return -1;
		f->efa_devices = (int)n;
	} else if (!strcmp(key, "efa_device_id")) {
		char *end;
		unsigned long v;

		if (!strcmp(val, "unknown")) {
			f->efa_device_id = -1;
			return 0;
		}
		if (strncmp(val, "0x", 2) || !isxdigit((unsigned char)val[2]))
			return -1;
		v = strtoul(val + 2, &end, 16);
		if (*end || v > 0xffff)
			return -1;
		f->efa_device_id = (int)v;
	} else if (!strcmp(key, "gpus")) {
		if (parse_long(val, -1, 4096, &n))
			return -1;
		f->gpus = (int)n;
	} else if (!strcmp(key, "profile")) {
		return parse_bool(val, &f->have_profile);
	} else if (!strcmp(key, "rdma_read")) {
		return parse_bool(val, &f->rdma_read);
	} else if (!strcmp(key, "ofi_nccl")) {
		if (!strcmp(val, "yes"))
			f->ofi = ENV_OFI_PRESENT;
		else if (!strcmp(val, "no"))
			f->ofi = ENV_OFI_ABSENT;
		else if (!strcmp(val, "unknown"))
			f->ofi = ENV_OFI_UNKNOWN;
		else
			return -1;
	}
	/* unknown keys are ignored: a newer binary may add facts */
	return 0;
}

int env_facts_parse(const char *words, struct env_facts *f)
{
	char buf[1024], *save = NULL, *w;

	env_facts_init(f);
	if (!str_copy(buf, sizeof(buf), words))
		return -1;
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '=');

		if (!eq || eq == w)
			return -1;
		*eq = '\0';
		if (fact_set(f, w, eq + 1))
			return -1;
	}
	return 0;
}

/* ---- the set ----------------------------------------------------------------------------- */

bool env_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (!len || len >= ENV_NAME_MAX || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
		return false;
	for (const char *p = name; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return false;
	return true;
}

bool env_value_valid(const char *value)
{
	if (strlen(value) >= ENV_VALUE_MAX)
		return false;
	for (const char *p = value; *p; p++)
		if (!isprint((unsigned char)*p))
			return false;
	return true;
}

const struct env_entry *env_set_find(const struct env_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->e[i].name, name))
			return &s->e[i];
	return NULL;
}

static void sanitize_text(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			*s = '?';
}

static int add_entry(struct env_set *s, const char *name, const char *value, enum env_mode mode,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Add or replace NAME. */
static int add_entry(struct env_set *s, const char *name, const char *value, enum env_mode mode,
		     const char *fmt, ...)
{
	struct env_entry *e = (struct env_entry *)env_set_find(s, name);
	va_list ap;

	if (!e) {
		if (s->n >= ENV_MAX_ENTRIES)
			return -1;
		e = &s->e[s->n++];
	}
	memset(e, 0, sizeof(*e));
	str_copy(e->name, sizeof(e->name), name);
	str_copy(e->value, sizeof(e->value), value);
	e->mode = mode;
	va_start(ap, fmt);
	vsnprintf(e->why, sizeof(e->why), fmt, ap);
	va_end(ap);
	sanitize_text(e->why);
	return 0;
}

static void remove_entry(struct env_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->e[i].name, name))
			continue;
		memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
		s->n--;
		return;
	}
}

static void add_note(struct env_set *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_note(struct env_set *s, const char *fmt, ...)
{
	va_list ap;

	if (s->nnotes >= ENV_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(s->notes[s->nnotes], sizeof(s->notes[0]), fmt, ap);
	va_end(ap);
	sanitize_text(s->notes[s->nnotes]);
	s->nnotes++;
}

/* aws-ofi-nccl <= 1.5 (i.e. < 1.6.0) needs NCCL_PROTO=simple and FI_PROVIDER=efa. */
static bool ofi_old(const struct env_facts *f)
{
	return f->ofi == ENV_OFI_PRESENT && env_version_known(&f->ofi_version) &&
	       env_version_cmp(&f->ofi_version, 1, 6, 0) < 0;
}

static bool ofi_new(const struct env_facts *f)
{
	return f->ofi == ENV_OFI_PRESENT && env_version_known(&f->ofi_version) &&
	       env_version_cmp(&f->ofi_version, 1, 6, 0) >= 0;
}

static const char *type_name(const struct env_facts *f)
{
	return f->instance_type[0] ? f->instance_type : "this instance type";
}

/* A GPU instance whose EFA has RDMA read: GPUDirect RDMA is what NCCL uses there. */
static bool gpudirect_instance(const struct env_facts *f)
{
	return env_is_efa_node(f) && f->have_profile && f->rdma_read && f->gpus > 0;
}

/*
 * FI_EFA_USE_DEVICE_RDMA (libfabric efa_rdm_util.c efa_rdm_get_use_device_rdma): for an
 * application that requests API >= 1.18 the default is "the device has RDMA read"; for an
 * older API version it is off on device ids 0xefa0/0xefa1 (p4d/p4de: efa1) and on for the
 * later ones. aws-ofi-nccl's sendrecv protocol asks for FI_VERSION(1, 6) when 1.18 is not
 * offered (nccl_ofi_sendrecv.cpp), and MPI libraries ask for older versions too. So the
 * variable matters on libfabric < 1.18 and, for older-API applications, on efa0/efa1 devices;
 * setting it to 1 on a device with RDMA read is harmless, setting it on one without aborts.
 */
static int device_rdma_rule(const struct env_facts *f, struct env_set *s, const char *lf)
{
	if (!env_version_known(&f->libfabric)) {
		add_note(s, "libfabric version unknown: FI_EFA_USE_DEVICE_RDMA left to libfabric");
		return 0;
	}
	if (!f->have_profile) {
		add_note(s, "instance type %s not in the profile table: RDMA read unknown, "
			 "FI_EFA_USE_DEVICE_RDMA left to libfabric", f->instance_type[0] ? f->instance_type : "unknown");
		return 0;
	}
	if (!f->rdma_read) {
		add_note(s, "%s EFA has no RDMA read: FI_EFA_USE_DEVICE_RDMA must not be 1 (aborts)",
			 type_name(f));
		return 0;
	}
	if (env_version_cmp(&f->libfabric, 1, 18, 0) < 0)
		return add_entry(s, "FI_EFA_USE_DEVICE_RDMA", "1", ENV_DEFAULT,
				 "libfabric %s < 1.18 does not use RDMA read by default; %s EFA supports it",
				 lf, type_name(f));
	if (f->efa_device_id == 0xefa0 || f->efa_device_id == 0xefa1 || f->efa_device_id < 0)
		return add_entry(s, "FI_EFA_USE_DEVICE_RDMA", "1", ENV_DEFAULT,
				 "libfabric %s turns RDMA read on by default only for applications that "
				 "request API >= 1.18; on %s EFA (device %s) older-API applications "
				 "(MPI, aws-ofi-nccl's sendrecv protocol) would run without it",
				 lf, type_name(f), f->efa_device_id < 0 ? "id unknown" :
				 f->efa_device_id == 0xefa0 ? "0xefa0" : "0xefa1");
	add_note(s, "libfabric %s uses RDMA read on %s (device 0x%04x) for every API version: "
		 "FI_EFA_USE_DEVICE_RDMA not needed", lf, type_name(f), (unsigned)f->efa_device_id);
	return 0;
}

static int efa_rules(const struct env_facts *f, struct env_set *s)
{
	char lf[32], kv[32], ov[32];
	int rc = 0;

	version_str(&f->libfabric, lf, sizeof(lf));
	version_str(&f->kernel, kv, sizeof(kv));
	version_str(&f->ofi_version, ov, sizeof(ov));

	/* aws-ofi-nccl >= 1.6 filters for efa itself when FI_PROVIDER is unset (platform-aws.cpp
	 * PlatformAWS::init): NCCL does not need the variable. Other libfabric users (MPI,
	 * fabtests) take the first provider fi_getinfo returns and would run over tcp/sockets
	 * when EFA is broken; with FI_PROVIDER=efa they fail instead. */
	if (ofi_old(f))
		rc |= add_entry(s, "FI_PROVIDER", "efa", ENV_DEFAULT,
				"aws-ofi-nccl %s (<= 1.5) requires it; it also makes MPI and other "
				"libfabric users fail instead of silently running over tcp/sockets", ov);
	else
		rc |= add_entry(s, "FI_PROVIDER", "efa", ENV_DEFAULT,
				"MPI and other libfabric users fail instead of silently running over "
				"tcp/sockets when EFA is broken (aws-ofi-nccl >= 1.6 picks efa by itself)");

	rc |= device_rdma_rule(f, s, lf);

	/* efa_fork_support.c: without fork support the provider aborts a process that forks
	 * unless the kernel copies pinned pages on fork (5.13+, with rdma-core 35+). */
	if (env_version_known(&f->kernel) && env_version_cmp(&f->kernel, 5, 13, 0) < 0)
		rc |= add_entry(s, "FI_EFA_FORK_SAFE", "1", ENV_DEFAULT,
				"kernel %s < 5.13 has no copy-on-fork for pinned memory: libfabric's efa "
				"provider aborts a process that calls fork() unless fork support is on "
				"(aws-ofi-nccl turns it on itself; MPI jobs need this)", kv);
	else if (!env_version_known(&f->kernel))
		add_note(s, "kernel version unknown: FI_EFA_FORK_SAFE not set");

	/* FI_EFA_USE_HUGE_PAGE=0 only where fork() runs out of huge pages: the admin knows which
	 * jobs fork (Env= on those nodes). NCCL processes get huge pages off anyway, because
	 * aws-ofi-nccl sets FI_EFA_FORK_SAFE=1 and fork support disables them. */
	add_note(s, "FI_EFA_USE_HUGE_PAGE not set: if fork() fails with ENOMEM in jobs (e.g. "
		 "PyTorch data loaders), set Env=FI_EFA_USE_HUGE_PAGE=0 in efa-check.conf");

	if (f->gpus > 0 || f->ofi == ENV_OFI_PRESENT)
		rc |= add_entry(s, "NCCL_SOCKET_IFNAME", "^docker,lo,veth", ENV_DEFAULT,
				"NCCL bootstrap over the host network, never docker, loopback or veth "
				"interfaces");

	if (ofi_old(f))
		rc |= add_entry(s, "NCCL_PROTO", "simple", ENV_DEFAULT,
				"aws-ofi-nccl %s (<= 1.5) needs the Simple protocol for correctness", ov);
	else if (f->ofi == ENV_OFI_PRESENT && !env_version_known(&f->ofi_version))
		add_note(s, "aws-ofi-nccl found (%s), version unknown: NCCL_PROTO not set",
			 f->ofi_path[0] ? f->ofi_path : "?");

	if (f->gpus > 0 && f->ofi == ENV_OFI_ABSENT)
		add_note(s, "%d GPUs but no aws-ofi-nccl plugin found: NCCL will fall back to "
			 "sockets (~1 GB/s)", f->gpus);
	return rc ? -1 : 0;
}

int envrules_compute(const struct env_facts *f, const struct config_env *admin, size_t nadmin,
		     struct env_set *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->facts = *f;
	out->have_facts = true;

	if (env_is_efa_node(f)) {
		if (efa_rules(f, out)) {
			str_printf(err, errlen, "environment set is full");
			return -1;
		}
	} else if (strcmp(f->provider, "efa")) {
		if (word_ok(f->provider) && env_value_valid(f->provider))
			add_entry(out, "FI_PROVIDER", f->provider, ENV_DEFAULT,
				  "Provider=%s in efa-check.conf: the fabric this node is checked on",
				  f->provider);
	} else {
		add_note(out, "no EFA devices on this node: no EFA/NCCL environment");
	}

	for (size_t i = 0; i < nadmin; i++) {
		const struct config_env *a = &admin[i];

		if (!a->name || !env_name_valid(a->name)) {
			str_printf(err, errlen, "Env%s: invalid variable name '%s'", a->force ? "Force" : "",
				a->name ? a->name : "");
			return -1;
		}
		if (!a->value || !env_value_valid(a->value)) {
			str_printf(err, errlen, "Env%s=%s: invalid value (printable ASCII, < %d chars)",
				a->force ? "Force" : "", a->name, ENV_VALUE_MAX);
			return -1;
		}
		if (!a->value[0]) {
			remove_entry(out, a->name);
			add_note(out, "%s not set: Env%s=%s= in efa-check.conf", a->name,
				 a->force ? "Force" : "", a->name);
			continue;
		}
		if (add_entry(out, a->name, a->value, a->force ? ENV_FORCE : ENV_DEFAULT,
			      "%s in efa-check.conf", a->force ? "EnvForce (admin, overrides the user)" :
			      "Env (admin default)")) {
			str_printf(err, errlen, "environment set is full (%d variables)", ENV_MAX_ENTRIES);
			return -1;
		}
	}
	return 0;
}

/* ---- lint ------------------------------------------------------------------------------ */

static const char *env_lookup(char *const *envp, const char *name, size_t *idx)
{
	size_t len = strlen(name);

	for (size_t i = *idx; envp && envp[i]; i++) {
		if (!strncmp(envp[i], name, len) && envp[i][len] == '=') {
			*idx = i + 1;
			return envp[i] + len + 1;
		}
	}
	return NULL;
}

static const char *getv(char *const *envp, const char *name)
{
	size_t idx = 0;

	return env_lookup(envp, name, &idx);
}

static size_t warn(struct env_warning *w, size_t n, size_t max, const char *name,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static size_t warn(struct env_warning *w, size_t n, size_t max, const char *name,
		   const char *fmt, ...)
{
	va_list ap;

	if (n >= max)
		return n;
	str_copy(w[n].name, sizeof(w[n].name), name);
	va_start(ap, fmt);
	vsnprintf(w[n].text, sizeof(w[n].text), fmt, ap);
	va_end(ap);
	sanitize_text(w[n].text);
	return n + 1;
}

static bool truthy(const char *v)
{
	bool b;

	return parse_bool(v, &b) == 0 ? b : (v[0] && strcmp(v, "0"));
}

/* FI_PROVIDER value that includes efa as a provider ("efa", "efa,shm", not "^efa"). */
static bool provider_has_efa(const char *v)
{
	char buf[256], *save = NULL, *t;

	if (v[0] == '^' || !str_copy(buf, sizeof(buf), v))
		return false;
	for (t = strtok_r(buf, ",;", &save); t; t = strtok_r(NULL, ",;", &save))
		if (!strcmp(str_trim(t), "efa"))
			return true;
	return false;
}

static bool forced(const struct env_set *s, const char *name)
{
	const struct env_entry *e = env_set_find(s, name);

	return e && e->mode == ENV_FORCE;
}

/* A boolean variable libfabric reads with fi_param_get_bool: 0/no/false/off are false. */
static bool falsy(const char *v)
{
	bool b;

	return parse_bool(v, &b) == 0 ? !b : !strcmp(v, "0");
}

/* FI_EFA_IFACE (efa_env.c "iface"): a comma list of device names, "all" = every NIC.
 * Returns how many names it lists, 0 for "all" or empty. */
static int iface_names(const char *v)
{
	int n = 0;

	if (!v[0] || !strncmp(v, "all", 3))
		return 0;
	for (const char *p = v; *p; p++)
		if (*p == ',')
			n++;
	return n + 1;
}

/* The rules that concern variables which break or slow EFA/NCCL on an EFA node. */
static size_t lint_efa_node(const struct env_set *s, char *const *envp, struct env_warning *w,
			    size_t n, size_t max)
{
	const struct env_facts *f = &s->facts;
	const struct env_entry *fs = env_set_find(s, "FI_EFA_FORK_SAFE");
	const char *v, *fork_env = getv(envp, "FI_EFA_FORK_SAFE");
	bool nccl = f->gpus > 0 || f->ofi == ENV_OFI_PRESENT;
	int names;

	/* efa_fork_support.c: fork support on + FI_EFA_USE_HUGE_PAGE=1 -> abort(). aws-ofi-nccl
	 * (platform-aws.cpp) sets FI_EFA_FORK_SAFE=1 in every NCCL process. */
	if (!forced(s, "FI_EFA_USE_HUGE_PAGE") && (v = getv(envp, "FI_EFA_USE_HUGE_PAGE")) && truthy(v) &&
	    (nccl || (fork_env && truthy(fork_env)) || (fs && truthy(fs->value))))
		n = warn(w, n, max, "FI_EFA_USE_HUGE_PAGE", "FI_EFA_USE_HUGE_PAGE=%s: libfabric aborts "
			 "when fork support is on as well (FI_EFA_FORK_SAFE=1, which aws-ofi-nccl sets "
			 "for every NCCL process); unset it", v);

	/* efa_user_info.c: for API < 1.18 FI_HMEM needs use_device_rdma and p2p; for >= 1.18
	 * GPU memory then goes through CUDA copies instead of GPUDirect RDMA. */
	if (gpudirect_instance(f)) {
		if (!forced(s, "FI_EFA_USE_DEVICE_RDMA") && (v = getv(envp, "FI_EFA_USE_DEVICE_RDMA")) && falsy(v))
			n = warn(w, n, max, "FI_EFA_USE_DEVICE_RDMA", "FI_EFA_USE_DEVICE_RDMA=%s on %s "
				 "turns GPUDirect RDMA off: NCCL traffic is copied through host memory "
				 "or FI_HMEM is refused; unset it", v, type_name(f));
		if (!forced(s, "FI_HMEM_P2P_DISABLED") && (v = getv(envp, "FI_HMEM_P2P_DISABLED")) && truthy(v))
			n = warn(w, n, max, "FI_HMEM_P2P_DISABLED", "FI_HMEM_P2P_DISABLED=%s on %s "
				 "turns GPUDirect RDMA off: the efa provider drops FI_HMEM or copies "
				 "GPU buffers through the CUDA API; unset it", v, type_name(f));
	}

	if (!forced(s, "NCCL_NET") && (v = getv(envp, "NCCL_NET")) && !strcasecmp(v, "Socket"))
		n = warn(w, n, max, "NCCL_NET", "NCCL_NET=%s: NCCL uses TCP sockets (~1 GB/s) "
			 "instead of EFA through aws-ofi-nccl; unset it", v);

	if (!forced(s, "FI_EFA_IFACE") && (v = getv(envp, "FI_EFA_IFACE")) &&
	    (names = iface_names(v)) > 0 && (f->efa_devices < 0 || names < f->efa_devices)) {
		if (f->efa_devices > 0)
			n = warn(w, n, max, "FI_EFA_IFACE", "FI_EFA_IFACE=%s limits libfabric to %d of "
				 "the %d EFA devices of this node; unset it (or FI_EFA_IFACE=all)", v,
				 names, f->efa_devices);
		else
			n = warn(w, n, max, "FI_EFA_IFACE", "FI_EFA_IFACE=%s limits libfabric to %d "
				 "EFA device%s; unset it (or FI_EFA_IFACE=all)", v, names, names == 1 ? "" : "s");
	}
	return n;
}

size_t envrules_lint(const struct env_set *s, char *const *envp, struct env_warning *w, size_t max)
{
	static const char *const abort_vars[] = { "FI_EFA_MTU_SIZE", "FI_EFA_TX_IOV_LIMIT",
						  "FI_EFA_RX_IOV_LIMIT" };
	const struct env_facts *f = &s->facts;
	bool efa = env_is_efa_node(f);
	char lf[32], kv[32], ov[32];
	const char *v;
	size_t n = 0;

	version_str(&f->libfabric, lf, sizeof(lf));
	version_str(&f->kernel, kv, sizeof(kv));
	version_str(&f->ofi_version, ov, sizeof(ov));

	for (size_t i = 0; i < sizeof(abort_vars) / sizeof(abort_vars[0]); i++) {
		if (forced(s, abort_vars[i]) || !(v = getv(envp, abort_vars[i])))
			continue;
		n = warn(w, n, max, abort_vars[i], "%s=%s is set: recent libfabric aborts "
			 "with it (this node: libfabric %s); unset it", abort_vars[i], v, lf);
	}

	for (size_t i = 0; envp && envp[i]; i++) {
		char name[ENV_NAME_MAX];
		const char *eq;

		if (strncmp(envp[i], "RDMAV_", 6) || !(eq = strchr(envp[i], '=')))
			continue;
		if ((size_t)(eq - envp[i]) >= sizeof(name))
			continue;
		memcpy(name, envp[i], (size_t)(eq - envp[i]));
		name[eq - envp[i]] = '\0';
		if (forced(s, name))
			continue;
		n = warn(w, n, max, name, "%s=%s is set: do not use RDMAV_* variables with EFA "
			 "(libfabric handles fork safety itself); unset it", name, eq + 1);
	}

	if (!forced(s, "NCCL_PROTO") && (v = getv(envp, "NCCL_PROTO")) && !strcasecmp(v, "simple") &&
	    ofi_new(f))
		n = warn(w, n, max, "NCCL_PROTO", "NCCL_PROTO=%s costs performance with aws-ofi-nccl "
			 "%s (> 1.5, which does not need it); unset it", v, ov);

	if (!forced(s, "FI_EFA_FORK_SAFE") && (v = getv(envp, "FI_EFA_FORK_SAFE")) &&
	    env_version_known(&f->kernel) && env_version_cmp(&f->kernel, 5, 13, 0) >= 0)
		n = warn(w, n, max, "FI_EFA_FORK_SAFE", "FI_EFA_FORK_SAFE=%s is not needed on kernel "
			 "%s (>= 5.13 copies pinned memory on fork; aws-ofi-nccl sets it for NCCL "
			 "itself); it turns huge pages off and slows memory registration; unset it", v, kv);

	if (!forced(s, "FI_EFA_USE_DEVICE_RDMA") && (v = getv(envp, "FI_EFA_USE_DEVICE_RDMA")) &&
	    truthy(v) && efa && f->have_profile && !f->rdma_read)
		n = warn(w, n, max, "FI_EFA_USE_DEVICE_RDMA", "FI_EFA_USE_DEVICE_RDMA=%s on %s, "
			 "whose EFA has no RDMA read: applications abort; unset it", v, type_name(f));

	if (!forced(s, "FI_EFA_SET_CUDA_SYNC_MEMOPS") && (v = getv(envp, "FI_EFA_SET_CUDA_SYNC_MEMOPS")) &&
	    env_version_known(&f->libfabric) && env_version_cmp(&f->libfabric, 1, 20, 0) >= 0)
		n = warn(w, n, max, "FI_EFA_SET_CUDA_SYNC_MEMOPS", "FI_EFA_SET_CUDA_SYNC_MEMOPS=%s "
			 "was removed in libfabric 1.20 (this node: %s): it has no effect; unset it", v, lf);

	if (!forced(s, "FI_PROVIDER") && (v = getv(envp, "FI_PROVIDER")) && efa && !provider_has_efa(v))
		n = warn(w, n, max, "FI_PROVIDER", "FI_PROVIDER=%s on an EFA node: libfabric will "
			 "not use EFA (tcp/sockets are ~10x slower); use FI_PROVIDER=efa", v);
	if (efa)
		n = lint_efa_node(s, envp, w, n, max);
	return n;
}

/* ---- spank form ------------------------------------------------------------------------ */

long envrules_format_spank(const struct env_set *s, char *buf, size_t size)
{
	char facts[768];

	if (!size)
		return -1;
	buf[0] = '\0';
	env_facts_format(&s->facts, facts, sizeof(facts));
	if (!str_appendf(buf, size, "%s\n", ENV_SPANK_HEADER))
		return -1;
	if (s->config[0] && env_value_valid(s->config) && !str_appendf(buf, size, "config %s\n", s->config))
		return -1;
	if (s->key[0] && env_value_valid(s->key) && !str_appendf(buf, size, "key %s\n", s->key))
		return -1;
	if (!str_appendf(buf, size, "facts %s\n", facts))
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		const struct env_entry *e = &s->e[i];

		if (!str_appendf(buf, size, "%s %s %s\nwhy %s %s\n",
				 e->mode == ENV_FORCE ? "force" : "set", e->name, e->value, e->name, e->why))
			return -1;
	}
	for (size_t i = 0; i < s->nnotes; i++)
		if (!str_appendf(buf, size, "note %s\n", s->notes[i]))
			return -1;
	if (!str_appendf(buf, size, "end\n"))
		return -1;
	return (long)strlen(buf);
}

static int parse_set_line(struct env_set *s, char *rest, enum env_mode mode, int line,
			  char *err, size_t errlen)
{
	char *sp = strchr(rest, ' ');
	const char *value = "";

	if (sp) {
		*sp = '\0';
		value = sp + 1;
	}
	if (!env_name_valid(rest) || !env_value_valid(value) || !value[0]) {
		str_printf(err, errlen, "line %d: bad variable", line);
		return -1;
	}
	if (s->n >= ENV_MAX_ENTRIES) {
		str_printf(err, errlen, "line %d: too many variables", line);
		return -1;
	}
	if (env_set_find(s, rest)) {
		str_printf(err, errlen, "line %d: %s given twice", line, rest);
		return -1;
	}
	memset(&s->e[s->n], 0, sizeof(s->e[0]));
	str_copy(s->e[s->n].name, ENV_NAME_MAX, rest);
	str_copy(s->e[s->n].value, ENV_VALUE_MAX, value);
	s->e[s->n].mode = mode;
	s->n++;
	return 0;
}

int envrules_parse_spank(const char *text, struct env_set *s, char *err, size_t errlen)
{
	const char *p = text;
	bool ended = false;
	int line = 0;

	memset(s, 0, sizeof(*s));
	env_facts_init(&s->facts);
	while (*p) {
		char buf[1024], *rest;
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		line++;
		if (!nl) {
			str_printf(err, errlen, "line %d: truncated", line);
			return -1;
		}
		if (len >= sizeof(buf)) {
			str_printf(err, errlen, "line %d: too long", line);
			return -1;
		}
		memcpy(buf, p, len);
		buf[len] = '\0';
		p = nl + 1;
		if (ended) {
			str_printf(err, errlen, "line %d: data after end", line);
			return -1;
		}
		for (size_t i = 0; i < len; i++) {
			if (!isprint((unsigned char)buf[i])) {
				str_printf(err, errlen, "line %d: control character", line);
				return -1;
			}
		}
		if (line == 1) {
			if (strcmp(buf, ENV_SPANK_HEADER)) {
				str_printf(err, errlen, "line 1: not an efa-check env record");
				return -1;
			}
			continue;
		}
		rest = strchr(buf, ' ');
		if (rest)
			*rest++ = '\0';
		else
			rest = buf + len;
		if (!strcmp(buf, "set") || !strcmp(buf, "force")) {
			if (parse_set_line(s, rest, !strcmp(buf, "force") ? ENV_FORCE : ENV_DEFAULT, line,
					   err, errlen))
				return -1;
		} else if (!strcmp(buf, "why")) {
			char *sp = strchr(rest, ' ');
			struct env_entry *e;

			if (sp)
				*sp++ = '\0';
			e = (struct env_entry *)env_set_find(s, rest);
			if (!e) {
				str_printf(err, errlen, "line %d: why for an unknown variable", line);
				return -1;
			}
			str_copy(e->why, sizeof(e->why), sp ? sp : "");
		} else if (!strcmp(buf, "facts")) {
			if (env_facts_parse(rest, &s->facts)) {
				str_printf(err, errlen, "line %d: bad facts", line);
				return -1;
			}
			s->have_facts = true;
		} else if (!strcmp(buf, "config")) {
			if (!str_copy(s->config, sizeof(s->config), rest)) {
				str_printf(err, errlen, "line %d: config path too long", line);
				return -1;
			}
		} else if (!strcmp(buf, "key")) {
			if (!str_copy(s->key, sizeof(s->key), rest)) {
				str_printf(err, errlen, "line %d: key too long", line);
				return -1;
			}
		} else if (!strcmp(buf, "note")) {
			if (s->nnotes < ENV_MAX_NOTES)
				str_copy(s->notes[s->nnotes++], sizeof(s->notes[0]), rest);
		} else if (!strcmp(buf, "end") && !*rest) {
			ended = true;
		} else {
			str_printf(err, errlen, "line %d: unknown record '%s'", line, buf);
			return -1;
		}
	}
	if (!ended) {
		str_printf(err, errlen, line ? "missing end record" : "empty");
		return -1;
	}
	return 0;
}
