/*
 * libFuzzer target: the SPANK plugin's argument parser (spank/args.c, plugstack.conf words)
 * and the --efa-check option-value validator (option_cb in spank/spank_efa_check.c).
 *
 * The plugin's sources are compiled into this target (#include below), so the Makefile's
 * fuzz rule needs no spank rule; the few SPANK entry points they call from slurmstepd/srun
 * (spank_context, spank_option_register, ...) are stubbed here. slurm_error is stubbed too
 * (it would otherwise log every rejected input through libslurm).
 *
 * Input: the bytes before the first NUL are the option value (as srun passes optarg), the
 * rest, split on spaces/tabs/newlines, are the plugstack.conf argument words. Both halves
 * are used for every input. The rest is also read, whole, as the other text the plugin
 * parses: the env cache StateDir/env.<node> (envrules_parse_spank, round-tripped through
 * envrules_format_spank) and efa-check's stderr (reason_from_stderr, spank/common.c).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/spank.h>

#include "../../spank/args.c"
#include "../../spank/spank_efa_check.c"
#include "../../spank/common.c"
#include "env/envrules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- stubs for the SPANK host (srun/slurmstepd) ------------------------------------ */

static spank_context_t stub_ctx = S_CTX_LOCAL;
static struct spank_option *registered;

spank_context_t spank_context(void)
{
	return stub_ctx;
}

spank_err_t spank_option_register(spank_t sp, struct spank_option *opt)
{
	registered = opt;
	return ESPANK_SUCCESS;
}

const char *spank_strerror(spank_err_t err)
{
	return "stub";
}

void slurm_error(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);  /* exercise the format with its arguments */
	va_end(ap);
}

int local_init_post_opt(spank_t sp, struct plugin_context *ctx) { return 0; }
int local_user_init(spank_t sp, struct plugin_context *ctx) { return 0; }
int remote_init_post_opt(spank_t sp, struct plugin_context *ctx) { return 0; }
int remote_task_init_privileged(spank_t sp, struct plugin_context *ctx) { return 0; }
int remote_task_init(spank_t sp, struct plugin_context *ctx) { return 0; }
int remote_args_failed(spank_t sp, struct plugin_context *ctx) { return 0; }

/* ---- invariants ----------------------------------------------------------------------- */

static void check_path(const char *p)
{
	if (p[0] != '/' || strlen(p) >= PLUGIN_PATH_MAX)
		abort();
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			abort();
}

static void check_args(const struct plugin_args *a)
{
	check_path(a->efa_check);
	check_path(a->config);
	check_path(a->srun);
	if (a->env != ENV_AUTO && a->env != ENV_OFF)
		abort();
	if (a->env_ttl_s < 0 || a->env_ttl_s > 3600 || a->timeout_s < 1 || a->timeout_s > 3600)
		abort();
}

/* The option callback: srun's side (remote == 0) rejects anything but local/cross; the node's
 * side (remote == 1) accepts every value and records it as invalid (the step then fails in
 * task_init_privileged), so that nothing raw reaches Slurm's log. */
static void check_option(const char *v, int rc, bool remote)
{
	const char *m = context.mode_arg;
	bool local = !*v || !strcmp(v, "local"), cross = !strcmp(v, "cross");
	enum check_mode want = local ? MODE_LOCAL : cross ? MODE_CROSS : MODE_INVALID;

	if (strlen(m) >= sizeof(context.mode_arg))
		abort();
	for (; *m; m++)                 /* echoed in srun's error message: printable only */
		if (!isprint((unsigned char)*m))
			abort();
	if (context.mode != want)
		abort();
	if (remote ? rc != 0 : (rc == 0) != (want != MODE_INVALID))
		abort();
}

#define MAX_WORDS 64

static void check_texts(const char *text)
{
	static struct env_set s, s2;
	static char out[ENV_MAX_ENTRIES * 1024];
	char err[256], reason[PLUGIN_REASON_MAX];
	long len;

	if (envrules_parse_spank(text, &s, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < s.n; i++)
			if (!env_name_valid(s.e[i].name) || !env_value_valid(s.e[i].value))
				abort();
		len = envrules_format_spank(&s, out, sizeof(out));
		if (len >= 0) {  /* what the plugin accepted, written back, reads back the same */
			if (envrules_parse_spank(out, &s2, err, sizeof(err)) < 0 || s2.n != s.n)
				abort();
			for (size_t i = 0; i < s.n; i++)
				if (strcmp(s.e[i].name, s2.e[i].name) || strcmp(s.e[i].value, s2.e[i].value) ||
				    s.e[i].mode != s2.e[i].mode)
					abort();
		}
	}
	reason_from_stderr(text, reason, sizeof(reason));
	for (const char *r = reason; *r; r++)  /* becomes the user's error line: printable */
		if (!isprint((unsigned char)*r))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *value, *rest, *argv[MAX_WORDS + 1];
	const uint8_t *nul = memchr(data, '\0', size);
	size_t vlen = nul ? (size_t)(nul - data) : size;
	struct plugin_args a;
	char err[512];
	int argc = 0, rc;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	value = buf;
	value[vlen] = '\0';
	rest = nul ? buf + vlen + 1 : buf + size;
	check_texts(rest);

	for (char *w = strtok(rest, " \t\n"); w && argc < MAX_WORDS; w = strtok(NULL, " \t\n"))
		argv[argc++] = w;
	argv[argc] = NULL;

	/* the parser on its own */
	err[0] = '\0';
	rc = plugin_args_parse(&a, argc, argv, err, sizeof(err));
	if (rc == 0)
		check_args(&a);
	else if (rc != -1 || !err[0] || strnlen(err, sizeof(err)) >= sizeof(err))
		abort();

	/* the plugin's entry point in each context, then the registered option callback */
	for (int c = 0; c < 3; c++) {
		stub_ctx = c == 0 ? S_CTX_LOCAL : c == 1 ? S_CTX_ALLOCATOR : S_CTX_REMOTE;
		registered = NULL;
		rc = slurm_spank_init(NULL, argc, argv);
		if ((rc == 0) != context.args_ok || (rc == 0 && !registered))
			abort();
		if (rc == 0)
			check_args(&context.args);
		if (registered) {
			rc = registered->cb(registered->val, value, c == 2);
			check_option(value, rc, c == 2);
		}
		slurm_spank_exit(NULL, argc, argv);
	}
	/* optarg NULL: "--efa-check" alone means local */
	if (option_cb(0, NULL, 0) != 0 || context.mode != MODE_LOCAL)
		abort();
	memset(&context, 0, sizeof(context));
	free(buf);
	return 0;
}
