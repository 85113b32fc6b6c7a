/*
 * main.c -- efa-check: find nodes with broken EFA before jobs start.
 * Dispatches to the subcommand; each lives in cmd_<name>.c.
 *
 * Slurm runs Prolog= and HealthCheckProgram= without arguments, so the same binary also
 * answers to the names efa-check-prolog and efa-check-health (symlinks installed by
 * `make install`): no shell wrapper is needed.
 */
#include "cli/cli.h"

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
} commands[] = {
	{ "local", cmd_local },
	{ "prolog", cmd_prolog },
	{ "health", cmd_health },
	{ "cross", cmd_cross },
	{ "env", cmd_env },
	{ "sweep", cmd_sweep },
};

int main(int argc, char **argv)
{
	const char *implied = argc > 0 ? command_from_program_name(argv[0]) : NULL;

	if (implied) {
		argv[0] = (char *)implied;
		return implied[0] == 'p' ? cmd_prolog(argc, argv) : cmd_health(argc, argv);
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
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	cli_error("unknown command '%s' (local, prolog, health, cross, env, sweep; see --help)", argv[1]);
	return EXIT_USAGE;
}
