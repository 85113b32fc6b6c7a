/*
 * cmd_prolog.c -- `efa-check prolog`: placeholder until its issue lands; fails loudly.
 */
#include "cli.h"

int cmd_prolog(int argc, char **argv)
{
	cli_error("prolog: not available in this build yet");
	return EXIT_INTERNAL;
}
