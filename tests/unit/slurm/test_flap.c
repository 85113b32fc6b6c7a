/* test_flap.c -- flapping held: history parsing, counting in the window, hold decisions, and
 * the drain rules that keep a flapping hold in place. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "slurm/drain.h"
#include "slurm/flap.h"

#define NODE_STATE_IDLE_ 2u
#define NODE_STATE_DRAIN_ 0x0200u

static void test_parse_format_round_trip(void **state)
{
	struct flap_history h = { 0 }, g;
	char buf[1024];

	(void)state;
	flap_add(&h, FLAP_DRAIN, 100);
	flap_add(&h, FLAP_RESUME, 200);
	flap_add(&h, FLAP_HOLD, 300);
	flap_add(&h, FLAP_CLEAR, 400);
	flap_format(&h, buf, sizeof(buf));
	assert_string_equal(buf, "100 drain\n200 resume\n300 hold\n400 clear\n");
	assert_int_equal(flap_parse(buf, &g), 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.ev[2].kind, FLAP_HOLD);
	assert_int_equal(flap_parse("", &g), 0);
	assert_int_equal(g.n, 0);
}

static void test_parse_is_strict(void **state)
{
	struct flap_history h;
	const char *bad[] = { "100 drained\n", "x drain\n", "100 drain extra\n", "-5 drain\n",
			      "100\n", " drain\n", "100 drain\n\n" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(flap_parse(bad[i], &h), -1);
		assert_int_equal(h.n, 0);
	}
}

static void test_oldest_dropped_when_full(void **state)
{
	struct flap_history h = { 0 };

	(void)state;
	for (int i = 0; i < FLAP_MAX_EVENTS + 10; i++)
		flap_add(&h, FLAP_RESUME, i);
	assert_int_equal(h.n, FLAP_MAX_EVENTS);
	assert_true(h.ev[0].t == 10);
}

static void test_counting_and_hold(void **state)
{
	struct flap_history h = { 0 };
	double now = 100000;

	(void)state;
	/* two cycles long ago, three in the last hour */
	flap_add(&h, FLAP_DRAIN, now - 90000);
	flap_add(&h, FLAP_RESUME, now - 89000);
	for (int i = 3; i >= 1; i--) {
		flap_add(&h, FLAP_DRAIN, now - i * 600 - 60);
		flap_add(&h, FLAP_RESUME, now - i * 600);
	}
	flap_add(&h, FLAP_DRAIN, now - 10);
	assert_int_equal(flap_resumes(&h, now, 3600), 3);
	assert_int_equal(flap_resumes(&h, now, 86400 * 2), 4);
	assert_true(flap_should_hold(&h, now, 3, 3600));
	assert_false(flap_should_hold(&h, now, 4, 3600));
	assert_false(flap_should_hold(&h, now, 0, 3600));   /* FlapCount=0: off */
	assert_false(flap_held(&h));
	flap_add(&h, FLAP_HOLD, now);
	assert_true(flap_held(&h));
	/* an admin resumed it: the count starts again */
	flap_add(&h, FLAP_CLEAR, now + 5);
	assert_int_equal(flap_resumes(&h, now + 10, 3600), 0);
	assert_false(flap_should_hold(&h, now + 10, 3, 3600));
}

static void test_reason(void **state)
{
	char buf[128];

	(void)state;
	flap_reason(buf, sizeof(buf), 3, 86400);
	assert_string_equal(buf, "efa-check: flapping: drained and resumed 3 times in 24h");
	assert_true(strlen(buf) < 80);
	assert_true(flap_reason_is_hold(buf));
	assert_true(reason_is_ours(buf));
	flap_reason(buf, sizeof(buf), 2, 90);
	assert_string_equal(buf, "efa-check: flapping: drained and resumed 2 times in 90s");
	assert_false(flap_reason_is_hold("efa-check: loopback lo: timeout"));
	assert_false(flap_reason_is_hold(NULL));
}

/* A node held as flapping keeps that reason, and efa-check never resumes it. */
static void test_drain_rules_keep_the_hold(void **state)
{
	struct node_view n = { .found = true, .state = NODE_STATE_IDLE_ | NODE_STATE_DRAIN_ };

	(void)state;
	snprintf(n.reason, sizeof(n.reason), "efa-check: flapping: drained and resumed 3 times in 24h");
	assert_int_equal(drain_decide(&n, "efa-check: loopback lo: timeout"), DRAIN_NOTHING);
	assert_int_equal(resume_decide(&n), DRAIN_NOTHING);
	snprintf(n.reason, sizeof(n.reason), "efa-check: loopback lo: timeout");
	assert_int_equal(drain_decide(&n, "efa-check: flapping: drained and resumed 3 times in 24h"),
			 DRAIN_APPLY);
	assert_int_equal(resume_decide(&n), DRAIN_APPLY);
}

static void test_load_save(void **state)
{
	char dir[] = "/tmp/efa-flap-test.XXXXXX";
	struct flap_history h = { 0 }, g;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(flap_load(fd, &g), 0);          /* missing: empty */
	assert_int_equal(g.n, 0);
	flap_add(&h, FLAP_DRAIN, 1);
	flap_add(&h, FLAP_RESUME, 2);
	assert_int_equal(flap_save(fd, &h), 0);
	assert_int_equal(flap_load(fd, &g), 0);
	assert_int_equal(g.n, 2);
	/* a symlink in its place is refused (O_NOFOLLOW) */
	assert_int_equal(unlinkat(fd, FLAP_FILE, 0), 0);
	assert_int_equal(symlinkat("/etc/passwd", fd, FLAP_FILE), 0);
	assert_int_equal(flap_load(fd, &g), -1);
	assert_int_equal(g.n, 0);
	unlinkat(fd, FLAP_FILE, 0);
	close(fd);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format_round_trip),
		cmocka_unit_test(test_parse_is_strict),
		cmocka_unit_test(test_oldest_dropped_when_full),
		cmocka_unit_test(test_counting_and_hold),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_drain_rules_keep_the_hold),
		cmocka_unit_test(test_load_save),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
