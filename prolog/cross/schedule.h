/*
 * schedule.h -- the round schedule of `efa-check cross` (pure, no I/O).
 *
 * N ranks, R = ceil(log2 N) rounds (fewer with CrossPeers=K: ceil(K/2), at least 1).
 * Round r uses the offset s = 2^r: rank i is paired with (i + s) mod N and (i - s) mod N,
 * so every rank has at most two links in a round and every round runs all its links at once.
 * A pair already met in an earlier round, or met twice in one round (2s = N), is tested
 * once. Round 0 is a ring, so for N >= 3 every rank has at least two distinct peers, which is
 * what blame needs; after R rounds each rank has up to 2R peers (N = 4096: 12 rounds, 24).
 * Both sides of a pair compute the same schedule, so no coordination is needed.
 */
#ifndef EFA_CHECK_SCHEDULE_H
#define EFA_CHECK_SCHEDULE_H

#define SCHEDULE_MAX_PER_ROUND 2

/* Number of rounds for n ranks; cross_peers 0 = the full log2 schedule. n < 2: 0. */
int schedule_rounds(int n, int cross_peers);

/* Peers of rank in round r (0 <= r < rounds), at most SCHEDULE_MAX_PER_ROUND, written to
 * out in increasing order. Returns the count. */
int schedule_round_peers(int n, int r, int rank, int out[SCHEDULE_MAX_PER_ROUND]);

/* Every distinct peer of rank over rounds 0..rounds-1, in the order they are first met
 * (a peer's index in this list is its slot). Returns the count (<= max). */
int schedule_peers(int n, int rounds, int rank, int *out, int max);

/* The same links as a sequence of steps in which every rank has at most one peer (a
 * matching), for tests that must run one link at a time per rank (the NCCL pair phase: one
 * pair's time is that pair's alone). Greedy and deterministic, so every rank gets the same
 * steps without talking. step_peer[s] = rank's peer in step s, or -1. Returns the number of
 * steps (0 for n < 2), or -1 when more than max would be needed or on no memory. */
int schedule_pair_steps(int n, int rounds, int rank, int *step_peer, int max);

/* Total distinct links (unordered pairs) of the whole schedule. */
long schedule_links(int n, int rounds);

#endif
