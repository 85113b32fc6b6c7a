/*
 * limits.c -- the limits check: RDMA registration pins memory, so RLIMIT_MEMLOCK must be
 * large (EFA's documentation asks for unlimited).
 */
#include "checks/limits.h"
#include "core/strutil.h"
#include "checks/check.h"
#include "core/config.h"
#include "core/supervise.h"
#include "core/report.h"

#include <sys/resource.h>

static void format_bytes(char *buf, size_t size, unsigned long long v)
{
	if (v >= (1ULL << 30))
		snprintf(buf, size, "%llu GiB", v >> 30);
	else if (v >= (1ULL << 20))
		snprintf(buf, size, "%llu MiB", v >> 20);
	else
		snprintf(buf, size, "%llu KiB", v >> 10);
}

void limits_check(long long min_bytes, struct check_result *c)
{
	struct rlimit rl;
	char cur[32], want[32];

	check_init(c, "limits", NULL);
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
		check_fail(c, "getrlimit(RLIMIT_MEMLOCK) failed");
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY) {
		check_detail(c, "memlock unlimited");
		return;
	}
	format_bytes(cur, sizeof(cur), rl.rlim_cur);
	if (min_bytes < 0)
		snprintf(want, sizeof(want), "unlimited");
	else
		format_bytes(want, sizeof(want), (unsigned long long)min_bytes);
	if (min_bytes < 0 || rl.rlim_cur < (unsigned long long)min_bytes) {
		check_fail(c, "memlock limit %s < %s", cur, want);
		check_detail(c, "memlock limit %s is below %s: RDMA registration will fail; "
			     "set 'ulimit -l unlimited' (slurmd: LimitMEMLOCK=infinity, "
			     "PropagateResourceLimitsExcept=MEMLOCK)", cur, want);
		return;
	}
	check_detail(c, "memlock %s", cur);
}

static void limits_run(struct check_ctx *ctx)
{
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("limits", NULL);
	limits_check(ctx->cfg->min_memlock_bytes, &c);
	check_finish(&c, t0);
}

const struct local_check check_limits = { "limits", limits_run, .light = true };
