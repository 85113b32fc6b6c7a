/*
 * drain.c -- drain/resume rules and the bounded libslurm RPC (see drain.h).
 */
#include "slurm/drain.h"
#include "slurm/flap.h"
#include "core/strutil.h"

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

/* From Slurm 23.02 slurmctld appends its own reasons to a node's reason instead of replacing
 * it: set_node_reason() does `xstrfmtcat(node_ptr->reason, " : %s", message)` when the node
 * has one (SchedMD/slurm src/slurmctld/node_mgr.c, slurm-23-02-0-1; set_node_down_ptr passes
 * "Not responding"). 22.05 did so only for reboot reasons. So one of our drains can read
 * "efa-check: X : Not responding": the prefix still says it is ours (resumed when healthy and
 * no longer DOWN), and an admin's reason with ours appended after it does not. */
bool reason_is_ours(const char *reason)
{
	return reason && !strncmp(reason, EFA_REASON_PREFIX, sizeof(EFA_REASON_PREFIX) - 1);
}

/* reason is want, possibly followed by notes slurmctld appended (" : Not responding"). */
static bool same_reason(const char *reason, const char *want)
{
	size_t n = strlen(want);

	return !strncmp(reason, want, n) && (!reason[n] || !strncmp(reason + n, " : ", 3));
}

bool node_is_down(uint32_t state)
{
	return (state & NODE_STATE_BASE) == NODE_STATE_DOWN;
}

bool node_is_drained(uint32_t state)
{
	return (state & NODE_STATE_DRAIN) != 0;
}

/* slurm.h enum node_states (22.05..25.05): slurmctld packs ALLOCATED for a node with any
 * allocated CPU, and libslurm's slurm_load_node_single turns it into MIXED when only some are
 * (src/api/node_info.c _set_node_mixed, SELECT_NODEDATA_SUBCNT); NODE_STATE_COMPLETING is set
 * while jobs' epilogs run. */
bool node_has_jobs(uint32_t state)
{
	uint32_t base = state & NODE_STATE_BASE;

	return base == NODE_STATE_ALLOCATED || base == NODE_STATE_MIXED || (state & NODE_STATE_COMPLETING);
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
	if (node_is_drained(n->state) && same_reason(n->reason, new_reason))
		return DRAIN_NOTHING;
	/* Held as flapping: only an admin's resume ends that (flap.h); another failure's reason
	 * must not replace it. */
	if (node_is_drained(n->state) && flap_reason_is_hold(n->reason) && !flap_reason_is_hold(new_reason))
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
	if (flap_reason_is_hold(n->reason))
		return DRAIN_NOTHING;    /* held as flapping until an admin resumes it */
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

/* slurmd runs HealthCheckProgram with an empty environment, so SLURM_CONF is missing when
 * slurmd was started with a non-default configuration (slurmd -f FILE, or SLURM_CONF in its
 * environment). Then we use slurmd's own: the nearest ancestor named "slurmd". Without one,
 * libslurm's defaults apply (/etc/slurm/slurm.conf, configless /run/slurm/conf). */
#define ANCESTOR_DEPTH_MAX 8
#define PROC_FILE_MAX 65536

static long read_proc_file(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	long total = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	while ((size_t)total < size - 1 && (n = read(fd, buf + total, size - 1 - (size_t)total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return total;
}

static pid_t parent_of(pid_t pid, char *comm, size_t commsize)
{
	char stat[512], *open_paren, *close_paren;
	long ppid;

	if (read_proc_file(pid, "stat", stat, sizeof(stat)) <= 0)
		return -1;
	open_paren = strchr(stat, '(');
	close_paren = strrchr(stat, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return -1;
	*close_paren = '\0';
	str_copy(comm, commsize, open_paren + 1);
	if (sscanf(close_paren + 2, "%*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/* In a NUL-separated list, the value after "-f" / "--conf-file", or of "SLURM_CONF=". */
static bool nul_list_find(const char *buf, long len, bool args, char *out, size_t size)
{
	for (const char *p = buf; p < buf + len; p += strlen(p) + 1) {
		const char *next = p + strlen(p) + 1;

		if (args && (!strcmp(p, "-f") || !strcmp(p, "--conf-file")) && next < buf + len)
			return str_copy(out, size, next);
		if (!args && !strncmp(p, "SLURM_CONF=", 11))
			return str_copy(out, size, p + 11);
	}
	return false;
}

static bool slurmd_conf(pid_t pid, char *out, size_t size)
{
	static char buf[PROC_FILE_MAX];
	long n;

	n = read_proc_file(pid, "cmdline", buf, sizeof(buf));
	if (n > 0 && nul_list_find(buf, n, true, out, size) && out[0] == '/')
		return true;
	n = read_proc_file(pid, "environ", buf, sizeof(buf));
	return n > 0 && nul_list_find(buf, n, false, out, size) && out[0] == '/';
}

static void use_slurmd_conf(void)
{
	char comm[64], conf[4096];
	pid_t pid = getppid();

	if (getenv("SLURM_CONF"))
		return;
	for (int depth = 0; pid > 1 && depth < ANCESTOR_DEPTH_MAX; depth++) {
		pid_t parent = parent_of(pid, comm, sizeof(comm));

		if (!strcmp(comm, "slurmd")) {
			if (slurmd_conf(pid, conf, sizeof(conf)) && access(conf, R_OK) == 0)
				setenv("SLURM_CONF", conf, 1);
			return;
		}
		pid = parent;
	}
}

static int lookup_node(const char *node, struct node_rpc_result *out)
{
	node_info_msg_t *msg = NULL;

	if (slurm_load_node_single(&msg, (char *)node, SHOW_ALL) != SLURM_SUCCESS) {
		/* libslurm sets errno; slurm_get_errno() (which returned errno) was removed in
		 * 24.11 (SchedMD/slurm commit c728b40c6f "Remove slurm_get_errno()"). */
		snprintf(out->error, sizeof(out->error), "node lookup failed: %s",
			 slurm_strerror(errno));
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
			 act == NODE_ACT_DRAIN ? "drain" : "resume", slurm_strerror(errno));
}

/* ---- the node's other jobs ------------------------------------------------------------ */

/* job_info_t (slurm.h, 22.05..25.05: job_id, het_job_id, job_state, nodes unchanged) as
 * slurm_load_jobs returns it. job_state is a base state (JOB_STATE_BASE) plus flags; a job
 * whose epilog runs keeps its base state with JOB_COMPLETING set. The hostlist handle changed
 * type in 23.11 (hostlist_t to hostlist_t *, SchedMD/slurm slurm-23-11-0-1): its type is
 * whatever slurm_hostlist_create returns (as config.c). */
static bool job_on_node(const job_info_t *j, const char *node)
{
	__typeof__(slurm_hostlist_create("")) h;
	bool found;

	if (!j->nodes || !j->nodes[0])
		return false;
	h = slurm_hostlist_create(j->nodes);
	if (!h)
		return true;   /* cannot tell: counted, so nothing is judged on it */
	found = slurm_hostlist_find(h, node) >= 0;
	slurm_hostlist_destroy(h);
	return found;
}

static bool job_may_run(uint32_t state)
{
	uint32_t base = state & JOB_STATE_BASE;

	return base == JOB_RUNNING || base == JOB_SUSPENDED || (state & JOB_COMPLETING);
}

int node_other_jobs(const struct job_info *jobs, uint32_t n, const char *node, uint32_t own_job,
		    uint32_t *ids, int max)
{
	uint32_t own_het = 0;
	int count = 0;

	/* the other components of our own heterogeneous job have their own job ids */
	for (uint32_t i = 0; i < n; i++)
		if (jobs[i].job_id == own_job && jobs[i].het_job_id && jobs[i].het_job_id != NO_VAL)
			own_het = jobs[i].het_job_id;
	for (uint32_t i = 0; i < n; i++) {
		const job_info_t *j = &jobs[i];

		if (j->job_id == own_job || (own_het && j->het_job_id == own_het))
			continue;
		if (!job_may_run(j->job_state) || !job_on_node(j, node))
			continue;
		if (count < max)
			ids[count] = j->job_id;
		count++;
	}
	return count;
}

/* slurm_load_jobs as root: slurmctld's PrivateData=jobs hides other users' jobs from users,
 * not from root (SchedMD/slurm src/slurmctld/proc_req.c _slurm_rpc_dump_jobs, 22.05..25.05).
 * There is no server-side filter by node: the whole table comes back and is filtered here,
 * as squeue -w does. */
static void load_jobs(const char *node, uint32_t own_job, struct node_rpc_result *out)
{
	job_info_msg_t *msg = NULL;

	if (slurm_load_jobs(0, &msg, SHOW_ALL) != SLURM_SUCCESS || !msg) {
		snprintf(out->error, sizeof(out->error), "slurm_load_jobs: %s", slurm_strerror(errno));
		return;
	}
	out->jobs_ok = true;
	out->other_jobs = node_other_jobs(msg->job_array, msg->record_count, node, own_job,
					  out->other_ids, NODE_JOB_IDS_MAX);
	slurm_free_job_info_msg(msg);
}

struct rpc_req {
	const char *node;
	enum node_action act;
	const char *reason;
	uint32_t own_job;
};

static void rpc_child(const struct rpc_req *q, struct node_rpc_result *out)
{
	use_slurmd_conf();
	slurm_init(NULL);
	if (q->act == NODE_ACT_JOBS) {
		load_jobs(q->node, q->own_job, out);
		return;
	}
	if (lookup_node(q->node, out) < 0)
		return;
	if (q->act == NODE_ACT_LOOKUP)
		return;
	out->verdict = q->act == NODE_ACT_DRAIN ? drain_decide(&out->node, q->reason)
						: resume_decide(&out->node);
	if (out->verdict == DRAIN_APPLY)
		update_node(q->node, q->act, q->reason, out);
}

static void child_main(int fd, const struct rpc_req *q)
{
	struct node_rpc_result res;
	const char *p = (const char *)&res;
	size_t left = sizeof(res);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&res, 0, sizeof(res));
	rpc_child(q, &res);
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

static int rpc_run(const struct rpc_req *q, int timeout_ms, struct node_rpc_result *out)
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
		child_main(fds[1], q);
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

int node_rpc(const char *node, enum node_action act, const char *reason, int timeout_ms,
	     struct node_rpc_result *out)
{
	struct rpc_req q = { .node = node, .act = act, .reason = reason };

	return rpc_run(&q, timeout_ms, out);
}

int node_jobs_rpc(const char *node, uint32_t own_job, int timeout_ms, struct node_rpc_result *out)
{
	struct rpc_req q = { .node = node, .act = NODE_ACT_JOBS, .own_job = own_job };

	return rpc_run(&q, timeout_ms, out);
}
