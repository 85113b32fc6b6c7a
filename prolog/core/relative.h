/*
 * relative.h -- the relative rule: a member far below its siblings is slow. Used for one EFA
 * device against the node's other devices (loopback, MinDeviceFraction) and for one rank's
 * NCCL figure against the other ranks' (cross). Judging against the median of the same
 * measurement on the same node or allocation needs no per-instance-type figure, and a node
 * that is uniformly slow (every device at half speed) is not named by it: that is what the
 * absolute floors are for. Pure C.
 */
#ifndef EFA_CHECK_RELATIVE_H
#define EFA_CHECK_RELATIVE_H

#include <stdbool.h>
#include <stddef.h>

/* The smallest number of measured members the rule judges: with two, the median is their
 * mean and cannot tell which one is slow. */
#define RELATIVE_MIN_MEMBERS 3

/* v[i] >= 0 are measured values, v[i] < 0 not measured (failed, skipped). When at least
 * min_n (>= RELATIVE_MIN_MEMBERS) are measured and fraction > 0, member i is slow when
 * v[i] < fraction * median of the measured values (and the median is > 0). Fills slow[] (all
 * false otherwise) and *median (0 when not judged). Returns how many are slow, or -1 when
 * the rule could not judge (too few measured, off, or no memory). */
int relative_slow(const double *v, size_t n, double fraction, size_t min_n, bool *slow,
		  double *median);

#endif
