/*
 * cmd_cross.c -- `efa-check cross`: placeholder until its issue lands; fails loudly.
 */
#include "cli.h"

int cmd_cross(int argc, char **argv)
{
	cli_error("cross: not available in this build yet");
	return EXIT_INTERNAL;
}
