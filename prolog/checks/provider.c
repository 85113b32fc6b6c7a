/*
 * provider.c -- the provider check: libfabric loads, the configured provider offers RDM
 * endpoints with FI_MSG and FI_RMA, and every configured domain is among them. It fills the
 * run's domain list (fabric/fabric.h) for the checks after it.
 */
#include "checks/check.h"
#include "core/config.h"
#include "core/report.h"
#include "core/strutil.h"
#include "core/supervise.h"
#include "fabric/fabric.h"

/* Which libfabric was loaded and its version go to the report (issue 9 point 8). */
static void report_libfabric_version(void)
{
	char version[32];

	if (fabric_load_error())
		return;
	fabric_version(version, sizeof(version));
	progress_meta("libfabric", version);
	progress_meta("libfabric_path", fabric_library_path());
}

static void provider_run(struct check_ctx *ctx)
{
	const struct efa_config *cfg = ctx->cfg;
	struct check_result c;
	int64_t t0;

	fabric_set_library(cfg->libfabric_path);
	fabric_prepare_env(cfg->provider);
	report_libfabric_version();
	t0 = now_ms();
	/* The provider check is named after its provider: begin and result must agree. */
	progress_begin("provider", cfg->provider);
	check_init(&c, "provider", cfg->provider);
	fabric_provider_check(cfg->provider, cfg->domains, cfg->ndomains, ctx->domains, &c);
	str_copy(c.target, sizeof(c.target), cfg->provider);
	if (ctx->domains->fabric[0])
		progress_meta("fabric", ctx->domains->fabric);
	check_finish(&c, t0);
}

const struct local_check check_provider = { "provider", provider_run, .light = false };
