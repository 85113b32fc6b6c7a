/*
 * exec.c -- fork/execve under a deadline, output captured (model: pyxis's enroot exec).
 */
#include "exec.h"
#include "core/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXEC_OUT_MAX (256 * 1024)
#define EXEC_KILL_WAIT_MS 1000

static void close_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned int)lowfd, ~0U, 0) == 0)
		return;
#endif
	for (long fd = lowfd, max = sysconf(_SC_OPEN_MAX); fd < (max > 0 ? max : 65536); fd++)
		close((int)fd);
}

/* In the child: never returns. Reports an execve failure over errfd (close-on-exec). */
static void child(char *const argv[], char *const envp[], int outfd, int errfd, int statusfd)
{
	static char *const clean_env[] = { EXEC_CLEAN_PATH, NULL };
	sigset_t all;
	int devnull, e;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	setsid();
	devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(outfd, STDOUT_FILENO) < 0 ||
	    dup2(errfd, STDERR_FILENO) < 0)
		_exit(127);
	if (statusfd != 3) {
		if (dup2(statusfd, 3) < 0)
			_exit(127);
	}
	close_from(4);
	fcntl(3, F_SETFD, FD_CLOEXEC);
	execve(argv[0], argv, envp ? envp : clean_env);
	e = errno;
	if (write(3, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static int append(char **buf, size_t *len, int fd)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	if (*len + (size_t)n > EXEC_OUT_MAX)
		n = (ssize_t)(EXEC_OUT_MAX - *len);   /* keep reading, drop the excess */
	if (n > 0) {
		memcpy(*buf + *len, tmp, (size_t)n);
		*len += (size_t)n;
		(*buf)[*len] = '\0';
	}
	return 1;
}

int exec_run(char *const argv[], char *const envp[], int timeout_ms, struct exec_result *r)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, statp[2] = { -1, -1 };
	int64_t deadline = now_ms() + timeout_ms;
	struct pollfd pfd[2];
	int wstatus = 0, rc = -1;
	pid_t pid;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	r->out = calloc(1, EXEC_OUT_MAX + 1);
	r->err = calloc(1, EXEC_OUT_MAX + 1);
	if (!r->out || !r->err)
		goto fail;
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(statp, O_CLOEXEC) < 0)
		goto fail;
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0)
		child(argv, envp, outp[1], errp[1], statp[1]);
	close(outp[1]);
	close(errp[1]);
	close(statp[1]);
	outp[1] = errp[1] = statp[1] = -1;

	pfd[0] = (struct pollfd){ .fd = outp[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		int64_t left = deadline - now_ms();
		int pr;

		if (left <= 0) {
			r->timed_out = true;
			break;
		}
		pr = poll(pfd, 2, (int)(left > 1000 ? 1000 : left));
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		if (pfd[0].fd >= 0 && pfd[0].revents && !append(&r->out, &r->out_len, pfd[0].fd))
			pfd[0].fd = -1;
		if (pfd[1].fd >= 0 && pfd[1].revents && !append(&r->err, &r->err_len, pfd[1].fd))
			pfd[1].fd = -1;
	}
	if (r->timed_out) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	/* Output closed: the program is exiting; wait for it within the deadline, then at most
	 * EXEC_KILL_WAIT_MS after SIGKILL: a program stuck in the kernel (a read of a hung
	 * filesystem) is abandoned, never waited for past the deadline -- slurmstepd must not
	 * hang with it. */
	for (int64_t killed_at = r->timed_out ? now_ms() : 0;;) {
		pid_t w = waitpid(pid, &wstatus, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			wstatus = -1;
			break;
		}
		if (!r->timed_out && now_ms() >= deadline) {
			r->timed_out = true;
			killed_at = now_ms();
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
		}
		if (r->timed_out && now_ms() - killed_at >= EXEC_KILL_WAIT_MS) {
			r->unkillable = true;
			wstatus = -1;
			break;
		}
		usleep(2000);
	}
	/* Descendants that kept running after the program exited are killed too. */
	kill(-pid, SIGKILL);
	n = read(statp[0], &r->exec_errno, sizeof(r->exec_errno));
	if (n != (ssize_t)sizeof(r->exec_errno))
		r->exec_errno = 0;
	if (wstatus == -1)
		r->status = -1;
	else if (WIFEXITED(wstatus))
		r->status = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus))
		r->status = 128 + WTERMSIG(wstatus);
	rc = 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (statp[i] >= 0)
			close(statp[i]);
	}
	if (rc)
		exec_free(r);
	return rc;
}

void exec_free(struct exec_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}
