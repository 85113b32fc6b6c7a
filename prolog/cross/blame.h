/*
 * blame.h -- which nodes of a cross-node run are bad, from the links' results (pure: no I/O).
 */
#ifndef EFA_CHECK_CROSS_BLAME_H
#define EFA_CHECK_CROSS_BLAME_H

#include <stdbool.h>
#include <stddef.h>

struct blame_link {
	int a, b;                /* ranks, a != b */
	bool ok;
};

/*
 * Decide the bad nodes of n ranks. local_bad[i]: rank i failed on its own (no endpoint, no
 * address, no results, a local NCCL failure). Then, repeatedly, among ranks not yet bad and
 * counting only links between ranks not yet bad: a rank is a suspect when at least
 * BLAME_MIN_PEERS of its failed links go to distinct peers that pass with someone else; the
 * suspect with the most such peers (lowest rank on a tie) is marked bad, and the count is
 * redone without it. A single bad link between two good nodes blames neither; when nothing
 * passes anywhere nobody can be told apart and nobody is blamed (the links are reported).
 * Fills bad[0..n) and returns the number of bad ranks.
 */
#define BLAME_MIN_PEERS 2
int cross_blame(int n, const bool *local_bad, const struct blame_link *links, size_t nlinks,
		bool *bad);

/*
 * Slow nodes, judged against the allocation they run in (links that passed, between ranks not
 * bad, with a bandwidth figure). The allocation's median is the median over ranks of each
 * rank's median link: robust when one slow rank's links are a large share of all links (3
 * nodes: 2 of 3 links). A link is low when below fraction * median. A rank is slow when at
 * least BLAME_MIN_PEERS distinct peers have a low link with it and are fast elsewhere (have a
 * link that is not low with someone else); the rank with the most such peers is marked first,
 * and the count is redone without it. A low link between two ranks that are not slow is a
 * slow link (link_slow[i]), not a slow node. fraction <= 0 judges nothing. Fills slow[0..n)
 * and link_slow[0..nlinks) (may be NULL), *median (Gb/s, 0 when unknown); returns the number
 * of slow ranks.
 */
struct slow_link {
	int a, b;                /* ranks, a != b */
	bool ok;
	double gbps;
};
int cross_slow(int n, const bool *bad, const struct slow_link *links, size_t nlinks,
	       double fraction, bool *slow, bool *link_slow, double *median);

/* Median link bandwidth of rank r over usable links (0 when it has none). */
double cross_rank_median(int r, const bool *bad, const struct slow_link *links, size_t nlinks);

#endif
