/* test_blame.c -- cross_blame: bad nodes vs bad links, on real schedules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cross/blame.h"
#include "cross/cross.h"
#include "cross/schedule.h"

#define MAXL 4096

struct world {
	int n;
	struct blame_link l[MAXL];
	size_t nl;
	bool local_bad[256], bad[256];
};

/* All links of the full schedule for n nodes, all passing. */
static void world_init(struct world *w, int n)
{
	int rounds = schedule_rounds(n, 0);

	memset(w, 0, sizeof(*w));
	w->n = n;
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++) {
			int p[SCHEDULE_MAX_PER_ROUND], np = schedule_round_peers(n, r, i, p);

			for (int k = 0; k < np; k++)
				if (p[k] > i)
					w->l[w->nl++] = (struct blame_link){ i, p[k], true };
		}
}

static void fail_node(struct world *w, int x)
{
	for (size_t i = 0; i < w->nl; i++)
		if (w->l[i].a == x || w->l[i].b == x)
			w->l[i].ok = false;
}

static bool fail_link(struct world *w, int a, int b)
{
	for (size_t i = 0; i < w->nl; i++)
		if ((w->l[i].a == a && w->l[i].b == b) || (w->l[i].a == b && w->l[i].b == a)) {
			w->l[i].ok = false;
			return true;
		}
	return false;
}

static int blame(struct world *w)
{
	return cross_blame(w->n, w->local_bad, w->l, w->nl, w->bad);
}

static void test_all_healthy(void **state)
{
	struct world w;

	(void)state;
	for (int n = 2; n <= 64; n++) {
		world_init(&w, n);
		assert_int_equal(blame(&w), 0);
	}
}

static void test_one_bad_node_blamed_alone(void **state)
{
	struct world w;

	(void)state;
	for (int n = 3; n <= 64; n++)
		for (int x = 0; x < n; x += (n > 8 ? 7 : 1)) {
			world_init(&w, n);
			fail_node(&w, x);
			assert_int_equal(blame(&w), 1);
			assert_true(w.bad[x]);
		}
}

static void test_one_bad_link_blames_neither(void **state)
{
	struct world w;

	(void)state;
	for (int n = 2; n <= 64; n++) {
		world_init(&w, n);
		assert_true(fail_link(&w, 0, 1));
		assert_int_equal(blame(&w), 0);
	}
}

static void test_two_node_failure_is_a_link(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 2);
	fail_node(&w, 1);
	assert_int_equal(blame(&w), 0);
}

static void test_local_failure_is_bad(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 6);
	w.local_bad[4] = true;
	fail_node(&w, 4);
	assert_int_equal(blame(&w), 1);
	assert_true(w.bad[4]);
	/* local failure with 2 nodes: still bad, the other is not */
	world_init(&w, 2);
	w.local_bad[1] = true;
	fail_node(&w, 1);
	assert_int_equal(blame(&w), 1);
	assert_true(w.bad[1]);
	assert_false(w.bad[0]);
}

static void test_two_bad_nodes(void **state)
{
	struct world w;

	(void)state;
	for (int n = 6; n <= 64; n++) {
		world_init(&w, n);
		fail_node(&w, 1);
		fail_node(&w, n / 2);
		assert_int_equal(blame(&w), 2);
		assert_true(w.bad[1]);
		assert_true(w.bad[n / 2]);
	}
}

static void test_bad_node_and_bad_link(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 16);
	fail_node(&w, 5);
	assert_true(fail_link(&w, 0, 1));
	assert_int_equal(blame(&w), 1);
	assert_true(w.bad[5]);
}

static void test_everything_broken_blames_nobody(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 8);
	for (size_t i = 0; i < w.nl; i++)
		w.l[i].ok = false;
	assert_int_equal(blame(&w), 0);
}

static void test_bad_input(void **state)
{
	struct blame_link l[1] = { { 0, 9, false } };
	bool bad[2];

	(void)state;
	assert_int_equal(cross_blame(2, NULL, l, 1, bad), 0);
	assert_int_equal(cross_blame(0, NULL, NULL, 0, bad), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_healthy),
		cmocka_unit_test(test_one_bad_node_blamed_alone),
		cmocka_unit_test(test_one_bad_link_blames_neither),
		cmocka_unit_test(test_two_node_failure_is_a_link),
		cmocka_unit_test(test_local_failure_is_bad),
		cmocka_unit_test(test_two_bad_nodes),
		cmocka_unit_test(test_bad_node_and_bad_link),
		cmocka_unit_test(test_everything_broken_blames_nobody),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
