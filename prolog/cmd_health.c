/*
 * cmd_health.c -- `efa-check health`: placeholder until its issue lands; fails loudly.
 */
#include "cli.h"

int cmd_health(int argc, char **argv)
{
	cli_error("health: not available in this build yet");
	return EXIT_INTERNAL;
}
