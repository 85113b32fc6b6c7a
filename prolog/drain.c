/*
 * drain.c -- drain/resume rules and the bounded libslurm RPC (see drain.h).
 */
#include "drain.h"
#include "strutil.h"

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

bool reason_is_ours(const char *reason)
{
	return reason && !strncmp(reason, EFA_REASON_PREFIX, sizeof(EFA_REASON_PREFIX) - 1);
}

bool node_is_down(uint32_t state)
{
	return (state & NODE_STATE_BASE) == NODE_STATE_DOWN;
}

bool node_is_drained(uint32_t state)
{
	return (state & NODE_STATE_DRAIN) != 0;
}

enum drain_verdict drain_decide(const struct node_view *n, const char *new_reason)
{
	if (!n->found)
		return DRAIN_SKIP_UNKNOWN;
	if (node_is_down(n->state))
		return DRAIN_SKIP_DOWN;
	if (n->reason[0] && !reason_is_ours(n->reason))
		return DRAIN_SKIP_ADMIN;
	if (node_is_drained(n->state) && !n->reason[0])
		return DRAIN_SKIP_ADMIN;
	if (node_is_drained(n->state) && !strcmp(n->reason, new_reason))
		return DRAIN_NOTHING;
	return DRAIN_APPLY;
}

enum drain_verdict resume_decide(const struct node_view *n)
{
	if (!n->found)
		return DRAIN_SKIP_UNKNOWN;
	if (node_is_down(n->state))
		return DRAIN_SKIP_DOWN;
	if (!node_is_drained(n->state))
		return DRAIN_NOTHING;
	if (!reason_is_ours(n->reason))
		return DRAIN_SKIP_ADMIN;
	return DRAIN_APPLY;
}

const char *drain_verdict_name(enum drain_verdict v)
{
	switch (v) {
	case DRAIN_APPLY: return "apply";
	case DRAIN_NOTHING: return "nothing to do";
	case DRAIN_SKIP_ADMIN: return "skipped, reason is not efa-check's";
	case DRAIN_SKIP_DOWN: return "skipped, node is DOWN";
	case DRAIN_SKIP_UNKNOWN: return "skipped, node unknown to slurmctld";
	}
	return "?";
}

/* ---- the child: libslurm calls --------------------------------------------- */

static int lookup_node(const char *node, struct node_rpc_result *out)
{
	node_info_msg_t *msg = NULL;

	if (slurm_load_node_single(&msg, (char *)node, SHOW_ALL) != SLURM_SUCCESS) {
		snprintf(out->error, sizeof(out->error), "node lookup failed: %s",
			 slurm_strerror(slurm_get_errno()));
		return -1;
	}
	out->lookup_ok = true;
	for (uint32_t i = 0; msg && i < msg->record_count; i++) {
		node_info_t *ni = &msg->node_array[i];

		if (!ni->name || strcmp(ni->name, node))
			continue;
		out->node.found = true;
		out->node.state = ni->node_state;
		str_copy(out->node.reason, sizeof(out->node.reason), ni->reason ? ni->reason : "");
	}
	if (!out->node.found)
		snprintf(out->error, sizeof(out->error), "node %s unknown to slurmctld", node);
	slurm_free_node_info_msg(msg);
	return 0;
}

static void update_node(const char *node, enum node_action act, const char *reason,
			struct node_rpc_result *out)
{
	update_node_msg_t m;

	slurm_init_update_node_msg(&m);
	m.node_names = (char *)node;
	if (act == NODE_ACT_DRAIN) {
		m.node_state = NODE_STATE_DRAIN;
		m.reason = (char *)reason;
	} else {
		m.node_state = NODE_RESUME;
	}
	if (slurm_update_node(&m) == SLURM_SUCCESS)
		out->updated = true;
	else
		snprintf(out->error, sizeof(out->error), "%s failed: %s",
			 act == NODE_ACT_DRAIN ? "drain" : "resume", slurm_strerror(slurm_get_errno()));
}

static void rpc_child(const char *node, enum node_action act, const char *reason,
		      struct node_rpc_result *out)
{
	slurm_init(NULL);
	if (lookup_node(node, out) < 0)
		return;
	if (act == NODE_ACT_LOOKUP)
		return;
	out->verdict = act == NODE_ACT_DRAIN ? drain_decide(&out->node, reason)
					     : resume_decide(&out->node);
	if (out->verdict == DRAIN_APPLY)
		update_node(node, act, reason, out);
}

static void child_main(int fd, const char *node, enum node_action act, const char *reason)
{
	struct node_rpc_result res;
	const char *p = (const char *)&res;
	size_t left = sizeof(res);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&res, 0, sizeof(res));
	rpc_child(node, act, reason, &res);
	res.completed = true;
	while (left) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		left -= (size_t)n;
	}
	_exit(0);
}

/* ---- the parent: bounded wait ------------------------------------------------ */

static int read_result(int fd, int64_t deadline_ms, struct node_rpc_result *out)
{
	char *p = (char *)out;
	size_t got = 0;

	while (got < sizeof(*out)) {
		int64_t left = deadline_ms - now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int rc;

		if (left <= 0)
			return -1;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc <= 0)
			continue;
		n = read(fd, p + got, sizeof(*out) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -2;  /* the child died without answering */
		got += (size_t)n;
	}
	return 0;
}

int node_rpc(const char *node, enum node_action act, const char *reason, int timeout_ms,
	     struct node_rpc_result *out)
{
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int fds[2], status;
	pid_t pid;
	int rc;

	memset(out, 0, sizeof(*out));
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(out->error, sizeof(out->error), "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(out->error, sizeof(out->error), "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], node, act, reason);
	}
	close(fds[1]);
	rc = read_result(fds[0], deadline, out);
	close(fds[0]);
	if (rc < 0) {
		memset(out, 0, sizeof(*out));
		if (rc == -2)
			snprintf(out->error, sizeof(out->error), "libslurm call failed (RPC process died)");
		else
			snprintf(out->error, sizeof(out->error),
				 "slurmctld did not answer within %d ms (RPC killed)", timeout_ms);
		kill(pid, SIGKILL);
		rc = -1;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return rc;
}
