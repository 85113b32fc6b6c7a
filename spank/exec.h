/*
 * exec.h -- run a program from the plugin: fork + execve (never a shell), a clean
 * environment, stdin /dev/null, stdout and stderr captured, in its own session so that the
 * whole process group is SIGKILLed at the deadline.
 */
#ifndef SPANK_EFA_CHECK_EXEC_H
#define SPANK_EFA_CHECK_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#define EXEC_CLEAN_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

struct exec_result {
	int status;          /* exit code, or 128+signal; -1 if it could not run */
	bool timed_out;      /* killed at the deadline */
	bool unkillable;     /* still there 1 s after SIGKILL (stuck in the kernel): abandoned */
	int exec_errno;      /* errno of execve when it failed in the child, else 0 */
	char *out;           /* captured stdout (NUL-terminated, bounded), free with exec_free */
	size_t out_len;
	char *err;           /* captured stderr */
	size_t err_len;
};

/* Run argv[0] (absolute path) with envp (NULL = only EXEC_CLEAN_PATH) and a deadline.
 * Returns 0 when the program ran (see r->status), -1 when it could not be started. */
int exec_run(char *const argv[], char *const envp[], int timeout_ms, struct exec_result *r);
void exec_free(struct exec_result *r);

#endif
