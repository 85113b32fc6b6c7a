/*
 * main.c -- efa-check: find nodes with broken EFA before jobs start.
 * Dispatches to the subcommand; each lives in cmd_<name>.c.
 *
 * Slurm runs Prolog= and HealthCheckProgram= without arguments, so the same binary also
 * answers to the names efa-check-prolog and efa-check-health (symlinks installed by
 * `make install`): no shell wrapper is needed.
 */
#include "cli/cli.h"
#include "cli/watchdog.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* efa-check-prolog -> prolog, efa-check-health -> health; NULL for any other name. */
static const char *command_from_program_name(const char *argv0)
{
	const char *name = base_name(argv0);

	if (!strcmp(name, "efa-check-prolog"))
		return "prolog";
	if (!strcmp(name, "efa-check-health"))
		return "health";
	return NULL;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	bool watched;   /* runs under the whole-run watchdog (cli/watchdog.h) */
} commands[] = {
	{ "local", cmd_local, true },
	{ "prolog", cmd_prolog, true },
	{ "health", cmd_health, true },
	{ "cross", cmd_cross, false },   /* bounded step by step, under srun's PMIx */
	{ "env", cmd_env, false },       /* quick; the plugin bounds it */
	{ "sweep", cmd_sweep, false },
};

int main(int argc, char **argv)
{
	const char *implied;

	watchdog_mark_start();   /* the deadline counts from here, before the config is read */
	implied = argc > 0 ? command_from_program_name(argv[0]) : NULL;
	if (implied) {
		argv[0] = (char *)implied;
		return watchdog_run(implied, implied[0] == 'p' ? cmd_prolog : cmd_health, argc, argv);
	}
	if (argc < 2) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		cli_usage(stdout);
		return EXIT_HEALTHY;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("efa-check %s\n", EFA_CHECK_VERSION);
		return EXIT_HEALTHY;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		if (commands[i].watched)
			return watchdog_run(commands[i].name, commands[i].run, argc - 1, argv + 1);
		return commands[i].run(argc - 1, argv + 1);
	}
	cli_error("unknown command '%s' (local, prolog, health, cross, env, sweep; see --help)", argv[1]);
	return EXIT_USAGE;
}
