/*
 * schedule.c -- round schedule for cross-node link tests (see schedule.h).
 */
#include "cross/schedule.h"

#include <stdlib.h>

int schedule_rounds(int n, int cross_peers)
{
	int r = 0;

	if (n < 2)
		return 0;
	while ((1L << r) < n)
		r++;
	if (cross_peers > 0) {
		int want = (cross_peers + 1) / 2;

		if (want < r)
			r = want;
	}
	/* The schedule is circulant: a round is empty for every rank iff it is for rank 0. */
	while (r > 1) {
		int p[SCHEDULE_MAX_PER_ROUND];

		if (schedule_round_peers(n, r - 1, 0, p) > 0)
			break;
		r--;
	}
	return r < 1 ? 1 : r;
}

static int mod(long a, int n)
{
	long m = a % n;

	return (int)(m < 0 ? m + n : m);
}

/* Did rank and peer meet in a round before r? They met in round q iff peer = rank +- 2^q. */
static int met_before(int n, int r, int rank, int peer)
{
	for (int q = 0; q < r; q++) {
		long s = 1L << q;

		if (mod(rank + s, n) == peer || mod(rank - s, n) == peer)
			return 1;
	}
	return 0;
}

int schedule_round_peers(int n, int r, int rank, int out[SCHEDULE_MAX_PER_ROUND])
{
	long s;
	int cand[2], k = 0;

	if (n < 2 || r < 0 || r > 30 || rank < 0 || rank >= n || (1L << r) >= n)
		return 0;
	s = 1L << r;
	cand[0] = mod(rank + s, n);
	cand[1] = mod(rank - s, n);
	for (int i = 0; i < 2; i++) {
		if (cand[i] == rank || (i == 1 && cand[1] == cand[0]))
			continue;
		if (met_before(n, r, rank, cand[i]))
			continue;
		out[k++] = cand[i];
	}
	if (k == 2 && out[0] > out[1]) {
		int t = out[0];

		out[0] = out[1];
		out[1] = t;
	}
	return k;
}

int schedule_peers(int n, int rounds, int rank, int *out, int max)
{
	int k = 0;

	for (int r = 0; r < rounds; r++) {
		int p[SCHEDULE_MAX_PER_ROUND];
		int np = schedule_round_peers(n, r, rank, p);

		for (int i = 0; i < np && k < max; i++)
			out[k++] = p[i];
	}
	return k;
}

long schedule_links(int n, int rounds)
{
	long total = 0;

	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++) {
			int p[SCHEDULE_MAX_PER_ROUND];
			int np = schedule_round_peers(n, r, i, p);

			for (int j = 0; j < np; j++)
				total += p[j] > i;
		}
	return total;
}

/* The schedule's links as steps that are matchings, greedy in link order (a ascending, then
 * b): the first step where neither end is busy. Every rank computes the same steps. */
int schedule_pair_steps(int n, int rounds, int rank, int *step_peer, int max)
{
	int *peers = NULL, nsteps = 0;
	unsigned char *busy = NULL;         /* busy[s * n + r] */

	for (int s = 0; s < max; s++)
		step_peer[s] = -1;
	if (n < 2 || rounds < 1 || max < 1)
		return 0;
	peers = calloc(2 * (size_t)rounds + 2, sizeof(*peers));
	busy = calloc((size_t)max * (size_t)n, 1);
	if (!peers || !busy) {
		nsteps = -1;
		goto out;
	}
	for (int a = 0; a < n && nsteps >= 0; a++) {
		int np = schedule_peers(n, rounds, a, peers, 2 * rounds + 2);

		for (int i = 0; i < np; i++) {
			int b = peers[i], s = 0;

			if (b <= a)
				continue;
			while (s < max && (busy[(size_t)s * n + a] || busy[(size_t)s * n + b]))
				s++;
			if (s == max) {
				nsteps = -1;
				break;
			}
			busy[(size_t)s * n + a] = busy[(size_t)s * n + b] = 1;
			if (a == rank)
				step_peer[s] = b;
			else if (b == rank)
				step_peer[s] = a;
			if (s + 1 > nsteps)
				nsteps = s + 1;
		}
	}
out:
	free(peers);
	free(busy);
	return nsteps;
}
