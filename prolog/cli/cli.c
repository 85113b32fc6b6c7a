/*
 * cli.c -- common options, configuration loading and messages for every subcommand.
 */
#include "cli/cli.h"
#include "cli/watchdog.h"
#include "core/config.h"
#include "env/baseline.h"
#include "core/report.h"
#include "core/strutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_CONFIG = 'c',
	OPT_JSON = 'j',
	OPT_PROVIDER = 'p',
	OPT_TIMEOUT = 't',
	OPT_VERBOSE = 'v',
	OPT_HELP = 'h',
	OPT_VERSION = 0x100,
	OPT_SYSFS_ROOT,
	OPT_NODE,
	OPT_STATE_DIR,
};

static const struct option common_longopts[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "provider", required_argument, NULL, OPT_PROVIDER },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },
	{ "node", required_argument, NULL, OPT_NODE },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
};
#define NCOMMON (sizeof(common_longopts) / sizeof(common_longopts[0]))

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("efa-check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_verbose(const struct cli_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (!o->verbose)
		return;
	fputs("efa-check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_usage(FILE *f)
{
	fputs("usage: efa-check <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  local    node-local checks on this node (devices, provider, loopback RDMA, GPU, limits)\n"
	      "  prolog   the Slurm Prolog entry: local checks with cache, policy and drain\n"
	      "  health   the HealthCheckProgram entry: drain on failure, resume own drains on success\n"
	      "  cross    one task per node under 'srun --mpi=pmix': cross-node RDMA and NCCL tests\n"
	      "  env      print the EFA/NCCL environment this node should have, and lint the current one\n"
	      "  sweep    run the cross check on idle nodes through Slurm, least recently tested first\n"
	      "\n"
	      "common options:\n"
	      "  -c, --config FILE      configuration file (default " EFA_CHECK_DEFAULT_CONFIG ")\n"
	      "  -j, --json             print the report as one JSON object\n"
	      "  -p, --provider NAME    libfabric provider to test (overrides Provider=)\n"
	      "  -t, --timeout SECONDS  deadline for the whole run (overrides Timeout=)\n"
	      "  -v, --verbose          say more on stderr\n"
	      "      --sysfs-root DIR   read sysfs from DIR instead of /sys\n"
	      "      --node NAME        this node's Slurm name (default $SLURMD_NODENAME, else hostname)\n"
	      "      --state-dir DIR    state directory (overrides StateDir=)\n"
	      "  -h, --help             this help;  --version  print the version\n"
	      "\n"
	      "exit codes: 0 healthy, 1 a check failed, 2 usage or configuration error,\n"
	      "            3 internal error or deadline exceeded\n", f);
}

/* $SLURMD_NODENAME, else the short host name. Returns -1 if SLURMD_NODENAME is set but is no
 * node name: it becomes a file name and a drain target, so it is never trusted blindly. */
static int default_node(struct cli_opts *o)
{
	const char *env = getenv("SLURMD_NODENAME");
	char *dot, q[80];

	if (env && *env) {
		if (!node_name_valid(env)) {
			cli_error("SLURMD_NODENAME='%s' is not a valid node name",
				  str_printable(q, sizeof(q), env));
			return -1;
		}
		str_copy(o->node, sizeof(o->node), env);
		return 0;
	}
	if (gethostname(o->node, sizeof(o->node) - 1) < 0)
		str_copy(o->node, sizeof(o->node), "localhost");
	o->node[sizeof(o->node) - 1] = '\0';
	dot = strchr(o->node, '.');
	if (dot)
		*dot = '\0';
	return 0;
}

static struct option *merge_longopts(const struct cli_extra *extra)
{
	size_t nextra = 0;
	struct option *all;

	while (extra && extra->longopts && extra->longopts[nextra].name)
		nextra++;
	all = calloc(NCOMMON + nextra + 1, sizeof(*all));
	if (!all)
		return NULL;
	memcpy(all, common_longopts, sizeof(common_longopts));
	if (nextra)
		memcpy(all + NCOMMON, extra->longopts, nextra * sizeof(*all));
	return all;
}

static int handle_common(int opt, const char *arg, struct cli_opts *o)
{
	char q[80];
	long v;

	switch (opt) {
	case OPT_CONFIG: o->config_path = arg; break;
	case OPT_JSON: o->json = true; break;
	case OPT_PROVIDER:
		if (!*arg || strlen(arg) >= 32) {
			cli_error("--provider: expected a libfabric provider name, got '%s'",
				  str_printable(q, sizeof(q), arg));
			return EXIT_USAGE;
		}
		o->provider = arg;
		break;
	case OPT_TIMEOUT:
		if (parse_long(arg, 1, 3600, &v)) {
			cli_error("--timeout: expected seconds in 1..3600, got '%s'",
				  str_printable(q, sizeof(q), arg));
			return EXIT_USAGE;
		}
		o->timeout_s = (int)v;
		break;
	case OPT_VERBOSE: o->verbose = true; break;
	case OPT_SYSFS_ROOT: o->sysfs_root = arg; break;
	case OPT_STATE_DIR:
		if (arg[0] != '/') {
			cli_error("--state-dir: expected an absolute path, got '%s'",
				  str_printable(q, sizeof(q), arg));
			return EXIT_USAGE;
		}
		o->state_dir = arg;
		break;
	case OPT_NODE:
		if (!node_name_valid(arg)) {
			cli_error("--node: invalid node name '%s'", str_printable(q, sizeof(q), arg));
			return EXIT_USAGE;
		}
		str_copy(o->node, sizeof(o->node), arg);
		break;
	default:
		return -2;  /* not a common option */
	}
	return 0;
}

int cli_parse(int argc, char **argv, const struct cli_extra *extra, struct cli_opts *o)
{
	struct option *longopts = merge_longopts(extra);
	char q[80];
	int opt, rc = 0;

	memset(o, 0, sizeof(*o));
	o->cmd = argv[0];
	if (!longopts)
		return EXIT_INTERNAL;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+c:jp:t:vh", longopts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			cli_usage(stdout);
			if (extra && extra->usage)
				printf("\n%s options:\n%s", o->cmd, extra->usage);
			rc = -1;
			goto out;
		}
		if (opt == OPT_VERSION) {
			printf("efa-check %s\n", EFA_CHECK_VERSION);
			rc = -1;
			goto out;
		}
		if (opt == '?' || opt == ':') {
			if (optopt && optopt < 0x100)
				cli_error("%s: invalid option '-%c' (see --help)", o->cmd, optopt);
			else
				cli_error("%s: invalid option or missing argument '%s' (see --help)", o->cmd,
					  str_printable(q, sizeof(q), argv[optind - 1]));
			rc = EXIT_USAGE;
			goto out;
		}
		rc = handle_common(opt, optarg, o);
		if (rc == -2)
			rc = extra && extra->handle && extra->handle(opt, optarg, extra->ctx) == 0 ? 0 : EXIT_USAGE;
		if (rc)
			goto out;
	}
	if (optind < argc) {
		cli_error("%s: unexpected argument '%s' (see --help)", o->cmd,
			  str_printable(q, sizeof(q), argv[optind]));
		rc = EXIT_USAGE;
	}
	/* --node wins; otherwise SLURMD_NODENAME or the host name, checked the same way. */
	if (!rc && !o->node[0] && default_node(o) < 0)
		rc = EXIT_USAGE;
out:
	free(longopts);
	return rc;
}

int cli_load_config(const struct cli_opts *o, struct efa_config *cfg)
{
	char err[CONFIG_ERR_MAX];
	const char *path = o->config_path ? o->config_path : EFA_CHECK_DEFAULT_CONFIG;

	config_defaults(cfg);
	watchdog_phase("reading the configuration");
	if (config_load(cfg, path, o->node, o->config_path != NULL, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		return EXIT_USAGE;
	}
	if (o->provider)
		str_copy(cfg->provider, sizeof(cfg->provider), o->provider);
	if (o->timeout_s > 0)
		cfg->timeout_s = o->timeout_s;
	if (o->state_dir)
		str_copy(cfg->state_dir, sizeof(cfg->state_dir), o->state_dir);
	watchdog_set_total(cfg->timeout_s * 1000);
	if (baseline_wanted(cfg)) {    /* MinLoopbackGbps=auto etc. (env/baseline.h) */
		watchdog_phase("reading the instance type");
		baseline_resolve(cfg, o->sysfs_root);
	}
	return 0;
}

int cli_start(int argc, char **argv, const struct cli_extra *extra, struct cli_opts *o,
	      struct efa_config *cfg)
{
	int rc = cli_parse(argc, argv, extra, o);

	if (rc)
		return rc < 0 ? EXIT_HEALTHY : rc;
	rc = cli_load_config(o, cfg);
	if (rc)
		config_free(cfg);
	return rc;
}

void cli_write_report(const struct cli_opts *o, const struct report *r, FILE *f)
{
	if (o->json)
		report_write_json(r, f);
	else
		report_write_human(r, f);
}

void cli_error_reason(const struct report *r, const char *fallback)
{
	static const char prefix[] = "efa-check: ";

	if (!strncmp(r->reason, prefix, sizeof(prefix) - 1))
		cli_error("%s", r->reason + sizeof(prefix) - 1);
	else
		cli_error("%s", r->reason[0] ? r->reason : fallback);
}
