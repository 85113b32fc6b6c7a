/*
 * cmd_local.c -- `efa-check local`: the node-local checks, reported, nothing changed.
 */
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "report.h"

#include <stdio.h>

int cmd_local(int argc, char **argv)
{
	struct cli_opts o;
	struct efa_config cfg;
	struct engine_opts eo;
	struct report r;
	int rc;

	rc = cli_parse(argc, argv, NULL, &o);
	if (rc)
		return rc < 0 ? EXIT_HEALTHY : rc;
	rc = cli_load_config(&o, &cfg);
	if (rc)
		goto out_cfg;
	eo = (struct engine_opts){ .cfg = &cfg, .sysfs_root = o.sysfs_root };
	report_init(&r, "local", o.node);
	rc = local_run(&eo, 0, &r);
	if (o.json)
		report_write_json(&r, stdout);
	else
		report_write_human(&r, stdout);
	if (rc != EXIT_HEALTHY)
		cli_error("%s", r.reason[0] ? r.reason + sizeof("efa-check: ") - 1 : "check failed");
	report_free(&r);
out_cfg:
	config_free(&cfg);
	return rc;
}
