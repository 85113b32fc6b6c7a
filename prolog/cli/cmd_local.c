/*
 * cmd_local.c -- `efa-check local`: the node-local checks, reported, nothing changed.
 */
#include "cli/cli.h"
#include "cli/watchdog.h"
#include "core/config.h"
#include "checks/engine.h"
#include "core/report.h"

#include <stdio.h>

#define LOCAL_MIN_MS 1000

int cmd_local(int argc, char **argv)
{
	struct cli_opts o;
	struct efa_config cfg;
	struct engine_opts eo;
	struct report r;
	int rc, timeout_ms;

	rc = cli_start(argc, argv, NULL, &o, &cfg);
	if (rc)
		return rc;
	eo = (struct engine_opts){ .cfg = &cfg, .sysfs_root = o.sysfs_root };
	report_init(&r, "local", o.node);
	/* The deadline runs from process start: what reading the configuration took is spent. */
	timeout_ms = cfg.timeout_s * 1000 - watchdog_elapsed_ms();
	watchdog_phase("running the checks");
	rc = local_run(&eo, timeout_ms > LOCAL_MIN_MS ? timeout_ms : LOCAL_MIN_MS, &r);
	cli_write_report(&o, &r, stdout);
	if (rc != EXIT_HEALTHY)
		cli_error_reason(&r, "check failed");
	report_free(&r);
	config_free(&cfg);
	return rc;
}
