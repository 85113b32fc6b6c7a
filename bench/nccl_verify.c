/*
 * nccl_verify.c -- bench/nccl_verify.sh's program: the NCCL check's result verification at
 * 64 ranks (GPUs), before and after issue 9 point 5, on one 128 MiB float buffer (one GPU's
 * all-reduce result; a p5 node verifies 8 of them).
 *
 *   before: the expected value of each element summed every rank's contribution (what
 *           prolog/cross/nccl.c did until then; reproduced here as the baseline):
 *           O(elements x ranks)
 *   after:  nccl_verify (prolog/cross/nccl.c), the closed form n*a(i) + B: O(elements)
 *
 * Usage: nccl_verify before|after RANKS MIB [FRACTION]   prints CPU seconds for the whole buffer
 * (with FRACTION < 1 only that part is checked and the time is scaled up: the baseline at
 * 64 ranks takes seconds per buffer). Linked against build/libefacheck.a.
 */
#include "cross/nccl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the contribution and expected value of nccl.c before the change */
static float old_element(int grank, size_t i)
{
	return (float)((grank + (int)(i % 251)) % 8 + 1);
}

static float old_expected(int total, size_t i)
{
	float s = 0;

	for (int g = 0; g < total; g++)
		s += old_element(g, i);
	return s;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);   /* CPU time: the machine is shared */
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int ranks = argc > 2 ? atoi(argv[2]) : 64;
	size_t count = (size_t)(argc > 3 ? atol(argv[3]) : 128) * 1024 * 1024 / sizeof(float);
	double fraction = argc > 4 ? atof(argv[4]) : 1.0, t0, t;
	size_t n = (size_t)((double)count * fraction);
	float *buf = malloc(count * sizeof(float)), got, want;
	long bad = 0;

	if (argc < 2 || !buf || ranks < 1 || fraction <= 0 || fraction > 1)
		return 2;
	if (!strcmp(argv[1], "before")) {
		for (size_t i = 0; i < n; i++)
			buf[i] = old_expected(ranks, i);   /* a correct result */
		t0 = now_s();
		for (size_t i = 0; i < n; i++)
			if (buf[i] != old_expected(ranks, i))
				bad++;
		t = now_s() - t0;
	} else {
		float *sum = calloc(count, sizeof(float));

		if (!sum)
			return 2;
		for (int g = 0; g < ranks; g++) {      /* a correct result, built as NCCL would */
			nccl_fill(buf, n, g);
			for (size_t i = 0; i < n; i++)
				sum[i] += buf[i];
		}
		memcpy(buf, sum, n * sizeof(float));
		free(sum);
		t0 = now_s();
		bad = nccl_verify(buf, n, ranks, &got, &want) >= 0;
		t = now_s() - t0;
	}
	if (bad)
		return 1;
	printf("%.6f\n", t / fraction);
	free(buf);
	return 0;
}
