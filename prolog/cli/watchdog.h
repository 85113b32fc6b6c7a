/*
 * watchdog.h -- the deadline of a whole efa-check run, from process start to exit.
 *
 * `local`, `prolog` and `health` run their subcommand in a child process; the parent (the
 * process Slurm waits for) only watches it. The deadline starts when the process starts,
 * before the configuration is read: --timeout if given, else the default Timeout, until the
 * child has read the configuration and reports its Timeout. If the child is still running
 * WATCHDOG_GRACE_MS after the deadline (a read of the configuration or of StateDir on a hung
 * filesystem, a stuck RPC), the parent SIGKILLs it, waits at most WATCHDOG_KILL_WAIT_MS, says
 * "deadline ... exceeded in <phase>" or "unkillable in <phase>" and exits 3. The child's own
 * budgets are computed from the same start (watchdog_start_ms), so normally it ends first.
 */
#ifndef EFA_CHECK_WATCHDOG_H
#define EFA_CHECK_WATCHDOG_H

#include <stdint.h>

#define WATCHDOG_GRACE_MS 1500
#define WATCHDOG_KILL_WAIT_MS 1000

/* Record the process start (first thing in main). */
void watchdog_mark_start(void);
/* The process start on the now_ms() clock. */
int64_t watchdog_start_ms(void);
/* Milliseconds since the process started. */
int watchdog_elapsed_ms(void);

/* Run run(argc, argv) in a watched child; returns the exit code to exit with. mode names the
 * subcommand in messages and the log. */
int watchdog_run(const char *mode, int (*run)(int, char **), int argc, char **argv);

/* In the watched child (no-ops elsewhere): the run's whole deadline in ms from process start
 * (once the configuration is known), and what it is doing now, for the parent's message. */
void watchdog_set_total(int total_ms);
void watchdog_phase(const char *what);

#endif
