/*
 * relative.c -- the relative rule (relative.h).
 */
#include "core/relative.h"

#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int relative_slow(const double *v, size_t n, double fraction, size_t min_n, bool *slow,
		  double *median)
{
	double *m, med;
	size_t k = 0;
	int nslow = 0;

	if (slow)
		memset(slow, 0, n * sizeof(*slow));
	if (median)
		*median = 0;
	if (min_n < RELATIVE_MIN_MEMBERS)
		min_n = RELATIVE_MIN_MEMBERS;
	if (!v || !slow || n < min_n || !(fraction > 0))
		return -1;
	m = malloc(n * sizeof(*m));
	if (!m)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (v[i] >= 0)
			m[k++] = v[i];
	if (k < min_n) {
		free(m);
		return -1;
	}
	qsort(m, k, sizeof(*m), cmp_double);
	med = k % 2 ? m[k / 2] : (m[k / 2 - 1] + m[k / 2]) / 2;
	free(m);
	if (median)
		*median = med;
	if (!(med > 0))
		return 0;
	for (size_t i = 0; i < n; i++) {
		slow[i] = v[i] >= 0 && v[i] < fraction * med;
		nslow += slow[i];
	}
	return nslow;
}
