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

#endif
