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

/* ---- slow nodes ------------------------------------------------------------------------ */

static bool usable(const struct slow_link *l, const bool *bad)
{
	return l->ok && l->gbps > 0 && !(bad && (bad[l->a] || bad[l->b]));
}

static int dbl_cmp(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return a < b ? -1 : a > b;
}

static double median_of(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double cross_rank_median(int r, const bool *bad, const struct slow_link *links, size_t nlinks)
{
	double *v = calloc(nlinks ? nlinks : 1, sizeof(*v)), m;
	size_t k = 0;

	if (!v)
		return 0;
	for (size_t i = 0; i < nlinks; i++)
		if (usable(&links[i], bad) && (links[i].a == r || links[i].b == r))
			v[k++] = links[i].gbps;
	m = median_of(v, k);
	free(v);
	return m;
}

static double alloc_median(int n, const bool *bad, const struct slow_link *links, size_t nlinks)
{
	double *v = calloc((size_t)n, sizeof(*v)), m;
	size_t k = 0;

	if (!v)
		return 0;
	for (int r = 0; r < n; r++) {
		double rm = bad && bad[r] ? 0 : cross_rank_median(r, bad, links, nlinks);

		if (rm > 0)
			v[k++] = rm;
	}
	m = median_of(v, k);
	free(v);
	return m;
}

/* fast_elsewhere[p]: p has a link that is not low with a rank other than `except`. */
static bool fast_elsewhere(int p, int except, const bool *bad, const bool *slow,
			   const struct slow_link *l, size_t nl, double thr)
{
	for (size_t i = 0; i < nl; i++) {
		int other = l[i].a == p ? l[i].b : l[i].b == p ? l[i].a : -1;

		if (other < 0 || other == except || slow[other] || !usable(&l[i], bad))
			continue;
		if (l[i].gbps >= thr)
			return true;
	}
	return false;
}

static int low_peers(int r, const bool *bad, const bool *slow, const struct slow_link *l, size_t nl,
		     double thr)
{
	int k = 0;

	for (size_t i = 0; i < nl; i++) {
		int other = l[i].a == r ? l[i].b : l[i].b == r ? l[i].a : -1;

		if (other < 0 || slow[other] || !usable(&l[i], bad) || l[i].gbps >= thr)
			continue;
		k += fast_elsewhere(other, r, bad, slow, l, nl, thr);
	}
	return k;
}

int cross_slow(int n, const bool *bad, const struct slow_link *links, size_t nlinks,
	       double fraction, bool *slow, bool *link_slow, double *median)
{
	double m, thr;
	int nslow = 0;

	*median = 0;
	if (n <= 0)
		return 0;
	memset(slow, 0, (size_t)n * sizeof(*slow));
	if (link_slow)
		memset(link_slow, 0, nlinks * sizeof(*link_slow));
	for (size_t i = 0; i < nlinks; i++)
		if (links[i].a < 0 || links[i].a >= n || links[i].b < 0 || links[i].b >= n ||
		    links[i].a == links[i].b)
			return 0;
	m = alloc_median(n, bad, links, nlinks);
	*median = m;
	if (fraction <= 0 || m <= 0)
		return 0;
	thr = fraction * m;
	for (;;) {
		int best = -1, bestk = 0;

		for (int r = 0; r < n; r++) {
			int k;

			if ((bad && bad[r]) || slow[r])
				continue;
			k = low_peers(r, bad, slow, links, nlinks, thr);
			if (k >= BLAME_MIN_PEERS && k > bestk) {
				best = r;
				bestk = k;
			}
		}
		if (best < 0)
			break;
		slow[best] = true;
		nslow++;
	}
	for (size_t i = 0; link_slow && i < nlinks; i++)
		link_slow[i] = usable(&links[i], bad) && links[i].gbps < thr && !slow[links[i].a] &&
			       !slow[links[i].b];
	return nslow;
}
