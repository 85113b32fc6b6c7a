/*
 * cli.h -- the efa-check command line: subcommands, common options, exit codes (DESIGN §2).
 *
 *   efa-check <local|prolog|health|cross|env|sweep> [options]
 *
 * Each subcommand lives in its own cmd_<name>.c and parses its argv with cli_parse(), which
 * handles the common options and hands the subcommand's own options to its handler.
 */
#ifndef EFA_CHECK_CLI_H
#define EFA_CHECK_CLI_H

#include <getopt.h>
#include <stdio.h>
#include <stdbool.h>

struct efa_config;
struct report;

enum efa_exit {
	EXIT_HEALTHY = 0,    /* every check passed */
	EXIT_UNHEALTHY = 1,  /* a check failed */
	EXIT_USAGE = 2,      /* usage or configuration error */
	EXIT_INTERNAL = 3,   /* internal error or deadline exceeded */
};

struct cli_opts {
	const char *cmd;          /* "local", "prolog", ... */
	const char *config_path;  /* --config; NULL = default path, which may be absent */
	bool json;                /* --json */
	const char *provider;     /* --provider, overrides Provider= */
	int timeout_s;            /* --timeout, overrides Timeout=; 0 = not given */
	bool verbose;             /* --verbose */
	const char *sysfs_root;   /* --sysfs-root, stands for /sys (fixtures) */
	const char *state_dir;    /* --state-dir, overrides StateDir= */
	char node[256];           /* --node, else $SLURMD_NODENAME, else the short hostname */
};

/* A subcommand's own options: longopts (terminated by a zero entry; use values >= 0x200
 * to stay clear of the common options), the handler that stores them (returns 0, or -1
 * after printing an error), and a usage text listing them. */
struct cli_extra {
	const struct option *longopts;
	int (*handle)(int opt, const char *arg, void *ctx);
	void *ctx;
	const char *usage;
};

/* Parse argv (argv[0] is the subcommand name). Returns 0, EXIT_USAGE after printing the
 * error, or -1 when --help was printed (the caller exits 0). */
int cli_parse(int argc, char **argv, const struct cli_extra *extra, struct cli_opts *o);

/* Load the configuration for o->node and apply command-line overrides.
 * Returns 0 or EXIT_USAGE after printing "file:line: message". */
int cli_load_config(const struct cli_opts *o, struct efa_config *cfg);

/* The prelude of a subcommand: cli_parse, then cli_load_config. Returns 0 with o and cfg ready
 * (the caller config_free()s cfg), else the exit code to return at once: 0 after --help or
 * --version, EXIT_USAGE after a printed usage or configuration error (cfg then holds nothing). */
int cli_start(int argc, char **argv, const struct cli_extra *extra, struct cli_opts *o,
	      struct efa_config *cfg);

/* Print r on f: one JSON object with --json, else the human report. */
void cli_write_report(const struct cli_opts *o, const struct report *r, FILE *f);
/* "efa-check: <reason>" on stderr for a failed report (fallback when it has no reason). */
void cli_error_reason(const struct report *r, const char *fallback);

/* Print a message prefixed with "efa-check: " to stderr (and nothing else). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like cli_error, only with --verbose. */
void cli_verbose(const struct cli_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void cli_usage(FILE *f);

/* Subcommands. Each returns an enum efa_exit value. */
int cmd_local(int argc, char **argv);
int cmd_prolog(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_cross(int argc, char **argv);
int cmd_env(int argc, char **argv);
int cmd_sweep(int argc, char **argv);

#endif
