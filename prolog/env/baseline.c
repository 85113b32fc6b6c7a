/*
 * baseline.c -- MinLoopbackGbps/MinLinkGbps/MinBusBwGBps = auto from the instance profile
 * (see baseline.h).
 */
#include "env/baseline.h"
#include "env/profiles.h"
#include "core/config.h"
#include "core/strutil.h"

#include <stdio.h>
#include <string.h>

static bool is_auto(double v)
{
	return v < 0;
}

bool baseline_wanted(const struct efa_config *c)
{
	return is_auto(c->min_loopback_gbps) || is_auto(c->min_link_gbps) || is_auto(c->min_busbw_gbps);
}

/* One key: auto takes the figure (0 = none published); note says where from or why none. */
static void resolve_one(double *key, char *note, size_t notelen, double figure,
			const struct instance_profile *p, const char *why_none)
{
	if (!is_auto(*key))
		return;
	*key = p ? figure : 0;
	if (!p)
		snprintf(note, notelen, "auto: no floor, %s", why_none);
	else if (figure > 0)
		snprintf(note, notelen, "auto: %s profile", p->type);
	else
		snprintf(note, notelen, "auto: no floor, %s publishes none", p->type);
}

void baseline_apply(struct efa_config *c, const struct instance_profile *p, const char *why_none)
{
	bool busbw_auto = is_auto(c->min_busbw_gbps);

	if (!why_none)
		why_none = "no instance profile";
	resolve_one(&c->min_loopback_gbps, c->loopback_floor_note, sizeof(c->loopback_floor_note),
		    p ? p->loopback_gbps : 0, p, why_none);
	resolve_one(&c->min_link_gbps, c->link_floor_note, sizeof(c->link_floor_note),
		    p ? p->link_gbps : 0, p, why_none);
	resolve_one(&c->min_busbw_gbps, c->busbw_floor_note, sizeof(c->busbw_floor_note),
		    p ? p->busbw_gbytes : 0, p, why_none);
	/* The published busbw is advisory: it is reported, never enforced (baseline.h). */
	if (busbw_auto) {
		c->advisory_busbw_gbps = c->min_busbw_gbps;
		c->min_busbw_gbps = 0;
	}
}

void baseline_resolve(struct efa_config *c, const char *sysfs_root)
{
	struct profile_table t = { 0 };
	struct instance_profile p;
	char type[64] = "", err[256] = "", why[160];

	if (!baseline_wanted(c))
		return;
	if (c->instance_type[0])
		str_copy(type, sizeof(type), c->instance_type);
	else if (instance_type_read(sysfs_root, type, sizeof(type)) < 0) {
		baseline_apply(c, NULL, "instance type unknown");
		return;
	}
	if (profiles_load(&t, c->instance_profiles, err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "instance profiles unreadable: %.60s", err);
		baseline_apply(c, NULL, why);
		return;
	}
	if (profiles_lookup(&t, type, &p) == 0) {
		baseline_apply(c, &p, NULL);
	} else {
		snprintf(why, sizeof(why), "%.40s has no instance profile", type);
		baseline_apply(c, NULL, why);
	}
	profiles_free(&t);
}
