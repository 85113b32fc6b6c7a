/*
 * cmd_env.c -- `efa-check env`: placeholder until its issue lands; fails loudly.
 */
#include "cli.h"

int cmd_env(int argc, char **argv)
{
	cli_error("env: not available in this build yet");
	return EXIT_INTERNAL;
}
