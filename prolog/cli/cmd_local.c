/*
 * cmd_local.c -- `efa-check local`: the node-local checks, reported, nothing changed.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "checks/engine.h"
#include "core/report.h"

#include <stdio.h>

int cmd_local(int argc, char **argv)
{
	struct cli_opts o;
	struct efa_config cfg;
	struct engine_opts eo;
	struct report r;
	int rc;

	rc = cli_start(argc, argv, NULL, &o, &cfg);
	if (rc)
		return rc;
	eo = (struct engine_opts){ .cfg = &cfg, .sysfs_root = o.sysfs_root };
	report_init(&r, "local", o.node);
	rc = local_run(&eo, 0, &r);
	cli_write_report(&o, &r, stdout);
	if (rc != EXIT_HEALTHY)
		cli_error_reason(&r, "check failed");
	report_free(&r);
	config_free(&cfg);
	return rc;
}
