/* test_schedule.c -- the cross round schedule: log2 rounds, symmetry, coverage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cross/schedule.h"

static int ceil_log2(int n)
{
	int r = 0;

	while ((1 << r) < n)
		r++;
	return r;
}

static void test_rounds_grow_as_log2(void **state)
{
	(void)state;
	assert_int_equal(schedule_rounds(1, 0), 0);
	assert_int_equal(schedule_rounds(2, 0), 1);
	assert_int_equal(schedule_rounds(4, 0), 2);
	assert_int_equal(schedule_rounds(4096, 0), 12);
	for (int n = 2; n <= 4096; n++)
		assert_true(schedule_rounds(n, 0) <= ceil_log2(n));
}

static void test_cross_peers_caps_rounds(void **state)
{
	(void)state;
	assert_int_equal(schedule_rounds(4096, 2), 1);
	assert_int_equal(schedule_rounds(4096, 4), 2);
	assert_int_equal(schedule_rounds(4096, 5), 3);
	assert_int_equal(schedule_rounds(4, 100), 2);
}

/* Every pair appears for both ranks in the same round, at most two peers a round, no self. */
static void check_symmetric(int n, int rounds)
{
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++) {
			int p[SCHEDULE_MAX_PER_ROUND], np = schedule_round_peers(n, r, i, p);

			assert_true(np <= SCHEDULE_MAX_PER_ROUND);
			for (int k = 0; k < np; k++) {
				int q[SCHEDULE_MAX_PER_ROUND], nq = schedule_round_peers(n, r, p[k], q), found = 0;

				assert_int_not_equal(p[k], i);
				for (int m = 0; m < nq; m++)
					found += q[m] == i;
				assert_int_equal(found, 1);
			}
		}
}

static void test_symmetric(void **state)
{
	(void)state;
	for (int n = 2; n <= 70; n++)
		check_symmetric(n, schedule_rounds(n, 0));
	check_symmetric(1000, schedule_rounds(1000, 0));
}

/* Each pair once over the whole schedule; N >= 3 gives every rank >= 2 distinct peers. */
static void test_distinct_peers(void **state)
{
	(void)state;
	for (int n = 2; n <= 200; n++) {
		int rounds = schedule_rounds(n, 0), peers[64];
		long sum = 0;

		for (int i = 0; i < n; i++) {
			int np = schedule_peers(n, rounds, i, peers, 64);

			assert_true(np >= (n >= 3 ? 2 : 1));
			for (int a = 0; a < np; a++)
				for (int b = a + 1; b < np; b++)
					assert_int_not_equal(peers[a], peers[b]);
			sum += np;
		}
		assert_int_equal(sum, 2 * schedule_links(n, rounds));
	}
}

static void test_small_is_complete(void **state)
{
	(void)state;
	/* Up to 4 nodes the schedule tests every pair. */
	assert_int_equal(schedule_links(2, schedule_rounds(2, 0)), 1);
	assert_int_equal(schedule_links(3, schedule_rounds(3, 0)), 3);
	assert_int_equal(schedule_links(4, schedule_rounds(4, 0)), 6);
	assert_int_equal(schedule_links(4096, schedule_rounds(4096, 0)), 47104);
}

static void test_bad_arguments(void **state)
{
	int p[SCHEDULE_MAX_PER_ROUND];

	(void)state;
	assert_int_equal(schedule_round_peers(4, 5, 0, p), 0);
	assert_int_equal(schedule_round_peers(4, 0, 4, p), 0);
	assert_int_equal(schedule_round_peers(1, 0, 0, p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rounds_grow_as_log2),
		cmocka_unit_test(test_cross_peers_caps_rounds),
		cmocka_unit_test(test_symmetric),
		cmocka_unit_test(test_distinct_peers),
		cmocka_unit_test(test_small_is_complete),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
