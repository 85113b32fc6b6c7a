/*
 * blame.c -- which nodes are bad (see blame.h).
 */
#include "cross/blame.h"

#include <stdlib.h>
#include <string.h>

/* passes[i]: links of i that passed, counting only peers not bad. */
static void count_passes(int n, const bool *bad, const struct blame_link *l, size_t nl, int *passes)
{
	memset(passes, 0, (size_t)n * sizeof(*passes));
	for (size_t i = 0; i < nl; i++) {
		if (!l[i].ok || bad[l[i].a] || bad[l[i].b])
			continue;
		passes[l[i].a]++;
		passes[l[i].b]++;
	}
}

/* suspect[i]: failed links of i whose peer passes with someone else. */
static void count_suspect(int n, const bool *bad, const struct blame_link *l, size_t nl,
			  const int *passes, int *suspect)
{
	memset(suspect, 0, (size_t)n * sizeof(*suspect));
	for (size_t i = 0; i < nl; i++) {
		if (l[i].ok || bad[l[i].a] || bad[l[i].b])
			continue;
		if (passes[l[i].b] > 0)
			suspect[l[i].a]++;
		if (passes[l[i].a] > 0)
			suspect[l[i].b]++;
	}
}

static bool links_valid(int n, const struct blame_link *l, size_t nl)
{
	for (size_t i = 0; i < nl; i++)
		if (l[i].a < 0 || l[i].a >= n || l[i].b < 0 || l[i].b >= n || l[i].a == l[i].b)
			return false;
	return true;
}

int cross_blame(int n, const bool *local_bad, const struct blame_link *links, size_t nlinks,
		bool *bad)
{
	int *passes, *suspect, nbad = 0;

	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		nbad += (bad[i] = local_bad ? local_bad[i] : false);
	passes = calloc((size_t)n, sizeof(*passes));
	suspect = calloc((size_t)n, sizeof(*suspect));
	if (!passes || !suspect || !links_valid(n, links, nlinks))
		goto out;
	for (;;) {
		int best = -1;

		count_passes(n, bad, links, nlinks, passes);
		count_suspect(n, bad, links, nlinks, passes, suspect);
		for (int i = 0; i < n; i++)
			if (!bad[i] && suspect[i] >= BLAME_MIN_PEERS && (best < 0 || suspect[i] > suspect[best]))
				best = i;
		if (best < 0)
			break;
		bad[best] = true;
		nbad++;
	}
out:
	free(passes);
	free(suspect);
	return nbad;
}
