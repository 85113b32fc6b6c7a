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

/* ---- slow nodes ------------------------------------------------------------------------ */

/* The full schedule for n nodes with bandwidths: base * (1 + small deterministic noise). */
struct sworld {
	int n;
	struct slow_link l[MAXL];
	size_t nl;
	bool bad[256], slow[256], link_slow[MAXL];
	double median;
};

static void sworld_init(struct sworld *w, int n, double base, double noise)
{
	struct world tmp;

	world_init(&tmp, n);
	memset(w, 0, sizeof(*w));
	w->n = n;
	w->nl = tmp.nl;
	for (size_t i = 0; i < tmp.nl; i++) {
		double f = ((double)((i * 7919 + 13) % 101) / 100.0 - 0.5) * 2 * noise;   /* +-noise */

		w->l[i] = (struct slow_link){ tmp.l[i].a, tmp.l[i].b, true, base * (1 + f) };
	}
}

static void slow_node(struct sworld *w, int x, double gbps)
{
	for (size_t i = 0; i < w->nl; i++)
		if (w->l[i].a == x || w->l[i].b == x)
			w->l[i].gbps = gbps;
}

static int slow(struct sworld *w, double fraction)
{
	return cross_slow(w->n, w->bad, w->l, w->nl, fraction, w->slow, w->link_slow, &w->median);
}

/* Healthy allocations with +-60% noise between links: nobody slow at the default 0.25. */
static void test_slow_noise_is_not_slow(void **state)
{
	struct sworld w;

	(void)state;
	for (int n = 2; n <= 64; n++) {
		sworld_init(&w, n, 3.0, 0.6);
		assert_int_equal(slow(&w, 0.25), 0);
		for (size_t i = 0; i < w.nl; i++)
			assert_false(w.link_slow[i]);
	}
}

/* One node throttled (3 nodes: 2 of the 3 links are its own) is named, nobody else. */
static void test_slow_node_named_alone(void **state)
{
	struct sworld w;

	(void)state;
	for (int n = 3; n <= 64; n++)
		for (int x = 0; x < n; x += (n > 8 ? 5 : 1)) {
			sworld_init(&w, n, 3.0, 0.3);
			slow_node(&w, x, 0.2);
			assert_int_equal(slow(&w, 0.25), 1);
			assert_true(w.slow[x]);
			assert_true(w.median > 1.0);   /* 3 nodes: the fast ones' medians mix in the slow link */
			for (size_t i = 0; i < w.nl; i++)
				assert_false(w.link_slow[i]);
		}
}

/* One slow link between two fast nodes is a link, not a node. */
static void test_slow_link_is_a_link(void **state)
{
	struct sworld w;

	(void)state;
	for (int n = 3; n <= 32; n++) {
		sworld_init(&w, n, 3.0, 0.3);
		w.l[0].gbps = 0.1;
		assert_int_equal(slow(&w, 0.25), 0);
		assert_true(w.link_slow[0]);
		for (size_t i = 1; i < w.nl; i++)
			assert_false(w.link_slow[i]);
	}
}

/* Two nodes: one link, nobody can be told apart. Bad nodes and failed links do not count. */
static void test_slow_needs_two_peers(void **state)
{
	struct sworld w;

	(void)state;
	sworld_init(&w, 2, 3.0, 0);
	w.l[0].gbps = 0.01;
	assert_int_equal(slow(&w, 0.25), 0);
	sworld_init(&w, 6, 3.0, 0.2);
	slow_node(&w, 2, 0.2);
	w.bad[2] = true;
	assert_int_equal(slow(&w, 0.25), 0);
	assert_false(w.slow[2]);
	sworld_init(&w, 6, 3.0, 0.2);
	assert_int_equal(slow(&w, 0), 0);
	for (size_t i = 0; i < w.nl; i++)
		w.l[i].ok = false;
	assert_int_equal(slow(&w, 0.25), 0);
	assert_true(w.median == 0);
}

/* Two slow nodes in 8 are both named; every node slow means nobody (no contrast). */
static void test_slow_two_and_all(void **state)
{
	struct sworld w;

	(void)state;
	sworld_init(&w, 8, 3.0, 0.2);
	slow_node(&w, 1, 0.2);
	slow_node(&w, 6, 0.3);
	assert_int_equal(slow(&w, 0.25), 2);
	assert_true(w.slow[1] && w.slow[6]);
	sworld_init(&w, 8, 0.2, 0.2);
	assert_int_equal(slow(&w, 0.25), 0);
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
		cmocka_unit_test(test_slow_noise_is_not_slow),
		cmocka_unit_test(test_slow_node_named_alone),
		cmocka_unit_test(test_slow_link_is_a_link),
		cmocka_unit_test(test_slow_needs_two_peers),
		cmocka_unit_test(test_slow_two_and_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
