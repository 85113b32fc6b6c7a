/*
 * test_report.c -- check results, reasons and the JSON report (DESIGN §2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/report.h"
#include "core/relative.h"

static void add_pass(struct report *r, const char *name, const char *target)
{
	struct check_result c;

	check_init(&c, name, target);
	check_detail(&c, "%s fine", name);
	c.duration_ms = 3;
	assert_int_equal(report_add(r, &c), 0);
}

static void add_fail(struct report *r, const char *name, const char *target, const char *reason)
{
	struct check_result c;

	check_init(&c, name, target);
	check_fail(&c, "%s", reason);
	assert_int_equal(report_add(r, &c), 0);
}

static void healthy_report_has_no_reason(void **state)
{
	struct report r;

	report_init(&r, "local", "n1");
	add_pass(&r, "devices", NULL);
	add_pass(&r, "loopback", "lo");
	report_finalize(&r);
	assert_true(report_ok(&r));
	assert_string_equal(r.reason, "");
	report_free(&r);
}

static void skipped_check_is_not_a_failure(void **state)
{
	struct report r;
	struct check_result c;

	report_init(&r, "local", "n1");
	check_init(&c, "gpu", NULL);
	check_skip(&c, "libcudart not found: no GPU check");
	report_add(&r, &c);
	report_finalize(&r);
	assert_true(report_ok(&r));
	report_free(&r);
}

static void reason_is_prefixed_and_names_target(void **state)
{
	struct report r;

	report_init(&r, "local", "n1");
	add_pass(&r, "devices", NULL);
	add_fail(&r, "loopback", "rdmap16s27-rdm", "rdmap16s27-rdm: RMA write data mismatch at 65536 B");
	report_finalize(&r);
	assert_false(report_ok(&r));
	assert_string_equal(r.reason, "efa-check: loopback rdmap16s27-rdm: RMA write data mismatch at 65536 B");
	report_free(&r);
}

static void standalone_reason_is_used_verbatim(void **state)
{
	struct report r;

	report_init(&r, "local", "n1");
	add_fail(&r, "devices", NULL, "3/4 EFA devices (rdmap144s27 missing)");
	report_finalize(&r);
	assert_string_equal(r.reason, "efa-check: 3/4 EFA devices (rdmap144s27 missing)");
	report_free(&r);
}

static void several_failures_are_counted(void **state)
{
	struct report r;

	report_init(&r, "local", "n1");
	add_fail(&r, "devices", NULL, "rdmap16s27 port DOWN");
	add_fail(&r, "loopback", "a", "a: timeout");
	add_fail(&r, "loopback", "b", "b: timeout");
	report_finalize(&r);
	assert_string_equal(r.reason, "efa-check: rdmap16s27 port DOWN (+2 more)");
	report_free(&r);
}

static void reason_is_printable_and_bounded(void **state)
{
	struct report r;
	char longreason[1000];

	memset(longreason, 'x', sizeof(longreason) - 1);
	longreason[sizeof(longreason) - 1] = '\0';
	longreason[5] = '\n';
	longreason[6] = '\t';
	longreason[7] = (char)0xc3;
	report_init(&r, "local", "n1");
	add_fail(&r, "limits", NULL, longreason);
	add_fail(&r, "gpu", NULL, "7/8 GPUs");
	report_finalize(&r);
	assert_true(strlen(r.reason) < sizeof(r.reason));
	for (const char *p = r.reason; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	assert_non_null(strstr(r.reason, "(+1 more)"));
	report_free(&r);
}

static void json_has_design_fields(void **state)
{
	struct report r;
	struct check_result c;
	json_object *o, *v, *checks, *c0;

	report_init(&r, "local", "n7");
	strcpy(r.provider, "tcp");
	strcpy(r.libfabric, "1.17.0");
	r.duration_ms = 212;
	check_init(&c, "loopback", "lo");
	check_detail(&c, "ok");
	check_metric(&c, "write_gbps", 9.5);
	check_metric(&c, "latency_us", 21.0);
	report_add(&r, &c);
	check_init(&c, "gpu", NULL);
	check_skip(&c, "no GPUs");
	report_add(&r, &c);
	report_finalize(&r);
	o = report_to_json(&r);
	assert_true(json_object_object_get_ex(o, "version", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(o, "tool", &v));
	assert_string_equal(json_object_get_string(v), "efa-check");
	assert_true(json_object_object_get_ex(o, "mode", &v));
	assert_string_equal(json_object_get_string(v), "local");
	assert_true(json_object_object_get_ex(o, "node", &v));
	assert_string_equal(json_object_get_string(v), "n7");
	assert_true(json_object_object_get_ex(o, "ok", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(o, "libfabric", &v));
	assert_string_equal(json_object_get_string(v), "1.17.0");
	assert_false(json_object_object_get_ex(o, "reason", &v));
	assert_false(json_object_object_get_ex(o, "links", &v));
	assert_true(json_object_object_get_ex(o, "checks", &checks));
	assert_int_equal(json_object_array_length(checks), 2);
	c0 = json_object_array_get_idx(checks, 0);
	assert_true(json_object_object_get_ex(c0, "target", &v));
	assert_string_equal(json_object_get_string(v), "lo");
	assert_true(json_object_object_get_ex(c0, "metrics", &v));
	assert_true(json_object_object_get_ex(v, "write_gbps", &v));
	assert_true(json_object_get_double(v) > 9.4);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(checks, 1), "skipped", &v));
	assert_true(json_object_get_boolean(v));
	json_object_put(o);
	report_free(&r);
}

static void json_round_trip_keeps_everything(void **state)
{
	struct report r, back;
	struct report_link l = { .a = "n1", .b = "n2", .ok = false, .gbps = 1.5, .latency_us = 30 };
	json_object *o;

	report_init(&r, "cross", "n1");
	add_fail(&r, "loopback", "lo", "lo: RMA read data mismatch at 64 B");
	report_add_link(&r, &l);
	report_add_bad_node(&r, "n2");
	strcpy(r.note, "retried once");
	report_finalize(&r);
	o = report_to_json(&r);
	assert_int_equal(report_from_json(o, &back), 0);
	assert_string_equal(back.mode, "cross");
	assert_int_equal(back.nchecks, 1);
	assert_int_equal(back.checks[0].status, CHECK_FAIL);
	assert_string_equal(back.checks[0].reason, "lo: RMA read data mismatch at 64 B");
	assert_int_equal(back.nlinks, 1);
	assert_false(back.links[0].ok);
	assert_int_equal(back.nbad_nodes, 1);
	assert_string_equal(back.bad_nodes[0], "n2");
	assert_string_equal(back.reason, r.reason);
	assert_string_equal(back.note, "retried once");
	assert_false(report_ok(&back));
	json_object_put(o);
	report_free(&back);
	report_free(&r);
}

static void malformed_json_is_rejected(void **state)
{
	static const char *const bad[] = {
		"[]", "{}", "{\"version\":2,\"mode\":\"local\",\"node\":\"n\",\"checks\":[]}",
		"{\"version\":1,\"mode\":\"local\",\"node\":\"n\"}",
		"{\"version\":1,\"mode\":\"local\",\"node\":\"n\",\"checks\":[{\"ok\":true}]}",
		"{\"version\":1,\"mode\":5,\"node\":\"n\",\"checks\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object *o = json_tokener_parse(bad[i]);
		struct report r;

		assert_int_not_equal(report_from_json(o, &r), 0);
		json_object_put(o);
	}
}

static void metrics_are_bounded_and_updated(void **state)
{
	struct check_result c;

	check_init(&c, "loopback", "lo");
	for (int i = 0; i < 20; i++) {
		char name[16];

		snprintf(name, sizeof(name), "m%d", i);
		check_metric(&c, name, i);
	}
	assert_int_equal(c.nmetrics, CHECK_METRICS_MAX);
	check_metric(&c, "m0", 42);
	assert_true(c.metrics[0].value == 42);
}

static void human_report_names_failures(void **state)
{
	struct report r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	report_init(&r, "local", "n3");
	add_pass(&r, "limits", NULL);
	add_fail(&r, "provider", NULL, "provider efa not found (available: tcp, shm)");
	report_finalize(&r);
	report_write_human(&r, f);
	fclose(f);
	assert_non_null(strstr(buf, "UNHEALTHY"));
	assert_non_null(strstr(buf, "FAIL  provider"));
	assert_non_null(strstr(buf, "reason: efa-check: provider efa not found"));
	free(buf);
	report_free(&r);
}

/* The relative rule (core/relative.h): one member far below the median of its siblings. */
static void relative_rule_names_only_the_far_slow_one(void **state)
{
	bool slow[8];
	double med;

	(void)state;
	/* 4 devices, one at a tenth of the others: named; the median is of all measured */
	double four[] = { 9.8, 1.0, 10.1, 9.9 };
	assert_int_equal(relative_slow(four, 4, 0.25, RELATIVE_MIN_MEMBERS, slow, &med), 1);
	assert_true(slow[1] && !slow[0] && !slow[2] && !slow[3]);
	assert_true(med > 9.8 && med < 9.9);
	/* noisy but healthy (the spread seen on the loaded 2-core test host: 0.6x the median) */
	double noisy[] = { 0.92, 1.36, 1.69, 5.47 };
	assert_int_equal(relative_slow(noisy, 4, 0.25, RELATIVE_MIN_MEMBERS, slow, &med), 0);
	/* just at the fraction is not below it */
	double edge[] = { 2.5, 10, 10 };
	assert_int_equal(relative_slow(edge, 3, 0.25, RELATIVE_MIN_MEMBERS, slow, &med), 0);
	double under[] = { 2.49, 10, 10 };
	assert_int_equal(relative_slow(under, 3, 0.25, RELATIVE_MIN_MEMBERS, slow, &med), 1);
	/* unmeasured members (-1: failed, skipped) are neither judged nor counted */
	double holes[] = { -1, 10, 1, -1, 10 };
	assert_int_equal(relative_slow(holes, 5, 0.25, RELATIVE_MIN_MEMBERS, slow, &med), 1);
	assert_true(slow[2] && !slow[0] && !slow[3]);
	/* fewer than 3 measured: not judged (two cannot tell which one is slow) */
	double two[] = { 10, 1, -1 };
	assert_int_equal(relative_slow(two, 3, 0.25, RELATIVE_MIN_MEMBERS, slow, &med), -1);
	assert_false(slow[1]);
	assert_true(med == 0);
	/* a caller's larger minimum is kept; a smaller one is raised to 3 */
	assert_int_equal(relative_slow(four, 4, 0.25, 5, slow, &med), -1);
	assert_int_equal(relative_slow(edge, 3, 0.25, 1, slow, &med), 0);
	/* off, and nothing measured above 0 */
	assert_int_equal(relative_slow(four, 4, 0, RELATIVE_MIN_MEMBERS, slow, &med), -1);
	double zeros[] = { 0, 0, 0 };
	assert_int_equal(relative_slow(zeros, 3, 0.25, RELATIVE_MIN_MEMBERS, slow, &med), 0);
	/* two slow of five: both named (the median is still a healthy one's) */
	double five[] = { 1, 10, 1.5, 11, 9 };
	assert_int_equal(relative_slow(five, 5, 0.25, RELATIVE_MIN_MEMBERS, slow, &med), 2);
	assert_true(slow[0] && slow[2]);
	/* uniformly slow: nobody is named (that is the absolute floors' business) */
	double uniform[] = { 1, 1.1, 0.9, 1 };
	assert_int_equal(relative_slow(uniform, 4, 0.25, RELATIVE_MIN_MEMBERS, slow, &med), 0);
}

/* A check judged slow keeps "slow": true through JSON, and the report lists "slow_devices". */
static void slow_device_in_json_and_round_trip(void **state)
{
	struct report r, back;
	struct check_result c;
	json_object *o, *v;

	(void)state;
	report_init(&r, "local", "n1");
	add_pass(&r, "loopback", "dev0");
	check_init(&c, "loopback", "dev1");
	check_detail(&c, "RMA write 0.2 Gb/s; slow: 0.20 Gb/s vs median 1.30 Gb/s of 4 devices");
	c.slow = true;
	assert_int_equal(report_add(&r, &c), 0);
	report_finalize(&r);
	assert_true(report_ok(&r));      /* OnSlow=log: named, not failed */
	o = report_to_json(&r);
	assert_true(json_object_object_get_ex(o, "slow_devices", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "dev1");
	assert_int_equal(report_from_json(o, &back), 0);
	assert_false(back.checks[0].slow);
	assert_true(back.checks[1].slow);
	json_object_put(o);
	report_free(&back);
	report_free(&r);
	/* no slow device: no key */
	report_init(&r, "local", "n1");
	add_pass(&r, "loopback", "dev0");
	o = report_to_json(&r);
	assert_false(json_object_object_get_ex(o, "slow_devices", &v));
	json_object_put(o);
	report_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(healthy_report_has_no_reason),
		cmocka_unit_test(skipped_check_is_not_a_failure),
		cmocka_unit_test(reason_is_prefixed_and_names_target),
		cmocka_unit_test(standalone_reason_is_used_verbatim),
		cmocka_unit_test(several_failures_are_counted),
		cmocka_unit_test(reason_is_printable_and_bounded),
		cmocka_unit_test(json_has_design_fields),
		cmocka_unit_test(json_round_trip_keeps_everything),
		cmocka_unit_test(malformed_json_is_rejected),
		cmocka_unit_test(metrics_are_bounded_and_updated),
		cmocka_unit_test(human_report_names_failures),
		cmocka_unit_test(relative_rule_names_only_the_far_slow_one),
		cmocka_unit_test(slow_device_in_json_and_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
