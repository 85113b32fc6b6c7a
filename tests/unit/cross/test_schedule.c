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

/* The NCCL pair steps: every link of the schedule exactly once, each step a matching, the two
 * ends of a link agree on the step, and the number of steps stays small. */
static void check_pair_steps(int n, int rounds)
{
	enum { MAXS = 64 };
	int (*sp)[MAXS] = calloc((size_t)n, sizeof(*sp));
	int steps = -2, peers[64];
	long seen = 0;

	assert_non_null(sp);
	for (int r = 0; r < n; r++) {
		int k = schedule_pair_steps(n, rounds, r, sp[r], MAXS);

		assert_true(k >= 0);
		if (steps == -2)
			steps = k;
		assert_int_equal(k, steps);             /* the same on every rank */
	}
	for (int r = 0; r < n; r++) {
		for (int s = 0; s < steps; s++) {
			int p = sp[r][s];

			if (p < 0)
				continue;
			assert_true(p != r && p < n);
			assert_int_equal(sp[p][s], r);  /* both ends meet in the same step */
			seen += p > r;
		}
		/* every peer of the schedule is met in exactly one step */
		int np = schedule_peers(n, rounds, r, peers, 64);
		for (int i = 0; i < np; i++) {
			int times = 0;

			for (int s = 0; s < steps; s++)
				times += sp[r][s] == peers[i];
			assert_int_equal(times, 1);
		}
	}
	assert_int_equal(seen, schedule_links(n, rounds));
	assert_true(steps <= 4 * rounds + 1);
	free(sp);
}

static void test_pair_steps(void **state)
{
	int one[4];

	(void)state;
	for (int n = 2; n <= 70; n++)
		check_pair_steps(n, schedule_rounds(n, 0));
	check_pair_steps(512, schedule_rounds(512, 0));
	check_pair_steps(1000, schedule_rounds(1000, 4));
	assert_int_equal(schedule_pair_steps(1, 1, 0, one, 4), 0);
	assert_int_equal(one[0], -1);
	/* too few steps allowed: said, not truncated */
	assert_int_equal(schedule_pair_steps(64, schedule_rounds(64, 0), 0, one, 2), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rounds_grow_as_log2),
		cmocka_unit_test(test_pair_steps),
		cmocka_unit_test(test_cross_peers_caps_rounds),
		cmocka_unit_test(test_symmetric),
		cmocka_unit_test(test_distinct_peers),
		cmocka_unit_test(test_small_is_complete),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
