/*
 * main.c -- efa-check: find nodes with broken EFA before jobs start.
 * Dispatches to the subcommand; each lives in cmd_<name>.c.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "local", cmd_local },
	{ "prolog", cmd_prolog },
	{ "health", cmd_health },
	{ "cross", cmd_cross },
	{ "env", cmd_env },
};

int main(int argc, char **argv)
{
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
	cli_error("unknown command '%s' (local, prolog, health, cross, env; see --help)", argv[1]);
	return EXIT_USAGE;
}
