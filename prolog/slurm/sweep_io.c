/*
 * sweep_io.c -- libslurm queries and srun runs for `efa-check sweep` (see sweep_io.h).
 *
 * libslurm's RPCs block while slurmctld is down or hung (they retry the connection for up to
 * MessageTimeout per attempt), so, as in drain.c, every RPC runs in a forked child that the
 * parent kills at its deadline; the child hands its answer back as one JSON object on a pipe.
 *
 * Why srun and not slurm_submit_batch_job: srun --mpi=pmix is the launch every cross check
 * uses, and srun hands rank 0's JSON report back on its stdout (a batch job's output would
 * land in a file on the batch node, not here); srun --immediate gives up at once when the
 * nodes were taken since we looked, instead of queueing a job that would hold them later;
 * srun's exit status and its own cleanup (SIGTERM: it cancels the step and releases the
 * allocation it created) give a bounded wait without polling slurmctld. It is exec'ed
 * directly (no shell), with an environment of PATH and SLURM_CONF only, so a sweep run from
 * inside a job (scrontab) makes its own allocation, and nothing of the caller's environment
 * (SLURM_*, SBATCH_*, LD_*) reaches srun or the tasks.
 */
#include "slurm/sweep_io.h"
#include "core/strutil.h"

#include <json-c/json.h>
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define RPC_OUT_MAX   (64 << 20)
#define SRUN_OUT_MAX  (4 << 20)
#define SRUN_GRACE_MS 5000
#define JOB_NAME_PREFIX "efa-check-sweep"

/* ---- a bounded child that answers with text --------------------------------------------- */

/* Append what fd has to *buf (grown as needed up to max). Returns bytes read, 0 at EOF, -1
 * on error or overflow. */
static long read_some(int fd, char **buf, size_t *len, size_t *cap, size_t max)
{
	ssize_t n;

	if (*len + 4096 + 1 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 65536;
		char *g;

		if (ncap > max + 1)
			ncap = max + 1;
		if (ncap <= *len + 1)
			return -1;
		g = realloc(*buf, ncap);
		if (!g)
			return -1;
		*buf = g;
		*cap = ncap;
	}
	do
		n = read(fd, *buf + *len, *cap - *len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	return n;
}

typedef void (*rpc_fn)(void *arg, json_object *answer);

/* Run fn in a child; its answer object comes back as text in *out. Returns 0, -1 killed at
 * the deadline (err says so), -2 the child died without answering. */
static int bounded_rpc(rpc_fn fn, void *arg, int timeout_ms, char **out)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0, cap = 0;
	int fds[2], status, rc = -2;
	pid_t pid;

	*out = NULL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -2;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -2;
	}
	if (pid == 0) {
		json_object *answer = json_object_new_object();
		const char *s;

		close(fds[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fn(arg, answer);
		s = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN);
		_exit(fd_write_all(fds[1], s, strlen(s)) < 0 ? 1 : 0);
	}
	close(fds[1]);
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		long n;

		if (left <= 0) {
			rc = -1;
			break;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read_some(fds[0], out, &len, &cap, RPC_OUT_MAX);
		if (n < 0)
			break;
		if (n == 0) {
			rc = len ? 0 : -2;
			break;
		}
	}
	close(fds[0]);
	if (rc < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = -2;
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static void answer_error(json_object *a, const char *call)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", call, slurm_strerror(errno));
	json_object_object_add(a, "error", json_object_new_string(msg));
}

/* ---- snapshot ----------------------------------------------------------------------------- */

struct snap_arg {
	const char *partition;
	bool with_jobs;
};

static bool job_in_partition(const char *list, const char *part)
{
	size_t len = strlen(part);

	for (const char *p = list; p && *p; ) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == len && !strncmp(p, part, len))
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Whether two partitions share a node: node_inx holds index ranges into the node table
 * (start, end, start, end, ..., -1; slurm.h partition_info_t). */
static bool partitions_overlap(const partition_info_t *a, const partition_info_t *b)
{
	if (!a->node_inx || !b->node_inx)
		return false;
	for (const int32_t *x = a->node_inx; x[0] >= 0 && x[1] >= 0; x += 2)
		for (const int32_t *y = b->node_inx; y[0] >= 0 && y[1] >= 0; y += 2)
			if (x[0] <= y[1] && y[0] <= x[1])
				return true;
	return false;
}

/* The job waits in one of the partitions that share nodes with ours (a job in another
 * partition over the same nodes, e.g. when the sweep has a partition of its own, waits for
 * the very nodes the sweep would take). */
static bool job_wants_our_nodes(const char *job_parts, const partition_info_msg_t *pm,
				const partition_info_t *ours)
{
	for (uint32_t i = 0; i < pm->record_count; i++) {
		const partition_info_t *p = &pm->partition_array[i];

		if (p->name && (p == ours || partitions_overlap(p, ours)) &&
		    job_in_partition(job_parts, p->name))
			return true;
	}
	return false;
}

static long jobs_waiting(const partition_info_msg_t *pm, const partition_info_t *part,
			 json_object *a)
{
	job_info_msg_t *jm = NULL;
	long n = 0;

	if (slurm_load_jobs(0, &jm, SHOW_ALL) != SLURM_SUCCESS) {
		answer_error(a, "slurm_load_jobs");
		return -1;
	}
	for (uint32_t i = 0; i < jm->record_count; i++) {
		job_info_t *j = &jm->job_array[i];

		if ((j->job_state & JOB_STATE_BASE) != JOB_PENDING)
			continue;
		if (j->name && !strncmp(j->name, JOB_NAME_PREFIX, sizeof(JOB_NAME_PREFIX) - 1))
			continue;
		if (j->state_reason != WAIT_RESOURCES && j->state_reason != WAIT_PRIORITY &&
		    j->state_reason != WAIT_NODE_NOT_AVAIL)
			continue;
		if (job_wants_our_nodes(j->partition, pm, part))
			n++;
	}
	slurm_free_job_info_msg(jm);
	return n;
}

static void add_nodes(json_object *a, node_info_msg_t *nm)
{
	json_object *arr = json_object_new_array();

	for (uint32_t i = 0; i < nm->record_count; i++) {
		node_info_t *ni = &nm->node_array[i];
		json_object *o;

		if (!ni->name)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(ni->name));
		json_object_object_add(o, "state", json_object_new_int64(ni->node_state));
		json_object_object_add(o, "reason", json_object_new_string(ni->reason ? ni->reason : ""));
		json_object_array_add(arr, o);
	}
	json_object_object_add(a, "nodes", arr);
}

static void snap_child(void *varg, json_object *a)
{
	const struct snap_arg *arg = varg;
	partition_info_msg_t *pm = NULL;
	node_info_msg_t *nm = NULL;
	partition_info_t *part = NULL;

	slurm_init(NULL);
	if (slurm_load_partitions(0, &pm, SHOW_ALL) != SLURM_SUCCESS) {
		answer_error(a, "slurm_load_partitions");
		return;
	}
	for (uint32_t i = 0; i < pm->record_count; i++) {
		partition_info_t *p = &pm->partition_array[i];

		if (!p->name)
			continue;
		if (arg->partition ? !strcmp(p->name, arg->partition) : (p->flags & PART_FLAG_DEFAULT))
			part = p;
	}
	if (part) {
		json_object_object_add(a, "partition", json_object_new_string(part->name));
		json_object_object_add(a, "partition_nodes",
				       json_object_new_string(part->nodes ? part->nodes : ""));
		json_object_object_add(a, "partition_up",
				       json_object_new_boolean((part->state_up & PARTITION_UP) ==
							       PARTITION_UP));
	}
	if (slurm_load_node(0, &nm, SHOW_ALL) != SLURM_SUCCESS) {
		answer_error(a, "slurm_load_node");
		goto out;
	}
	add_nodes(a, nm);
	if (arg->with_jobs && part)
		json_object_object_add(a, "jobs_waiting",
				       json_object_new_int64(jobs_waiting(pm, part, a)));
out:
	slurm_free_node_info_msg(nm);
	slurm_free_partition_info_msg(pm);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int snap_parse(json_object *a, const char *asked, struct sweep_snapshot *s, char *err,
		      size_t errlen)
{
	json_object *arr, *v;
	const char *e = jstr(a, "error"), *part = jstr(a, "partition");
	size_t n;

	if (e) {
		snprintf(err, errlen, "%s", e);
		return -1;
	}
	if (!part) {
		s->no_partition = true;
		if (asked)
			snprintf(err, errlen, "partition %s: unknown to slurmctld", asked);
		else
			snprintf(err, errlen, "no default partition: name one (--partition or SweepPartition=)");
		return -1;
	}
	str_copy(s->partition, sizeof(s->partition), part);
	s->partition_nodes = strdup(jstr(a, "partition_nodes") ? jstr(a, "partition_nodes") : "");
	s->partition_up = json_object_object_get_ex(a, "partition_up", &v) && json_object_get_boolean(v);
	s->jobs_waiting = json_object_object_get_ex(a, "jobs_waiting", &v) ? json_object_get_int64(v) : -1;
	if (!json_object_object_get_ex(a, "nodes", &arr) || !json_object_is_type(arr, json_type_array)) {
		snprintf(err, errlen, "slurmctld sent no node list");
		return -1;
	}
	n = json_object_array_length(arr);
	s->nodes = calloc(n + 1, sizeof(*s->nodes));
	if (!s->nodes || !s->partition_nodes) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *st;
		const char *name = jstr(o, "name"), *reason = jstr(o, "reason");

		if (!name || !node_name_valid(name) || strlen(name) >= SWEEP_NAME_MAX ||
		    !json_object_object_get_ex(o, "state", &st))
			continue;   /* a name we could not use as a drain target or file name */
		str_copy(s->nodes[s->nnodes].name, SWEEP_NAME_MAX, name);
		s->nodes[s->nnodes].state = (uint32_t)json_object_get_int64(st);
		str_copy(s->nodes[s->nnodes].reason, SWEEP_REASON_MAX, reason ? reason : "");
		s->nnodes++;
	}
	return 0;
}

int sweep_snapshot(const char *partition, bool with_jobs, int timeout_ms,
		   struct sweep_snapshot *s, char *err, size_t errlen)
{
	struct snap_arg arg = { .partition = partition && *partition ? partition : NULL,
				.with_jobs = with_jobs };
	json_object *a;
	char *text;
	int rc;

	memset(s, 0, sizeof(*s));
	s->jobs_waiting = -1;
	rc = bounded_rpc(snap_child, &arg, timeout_ms, &text);
	if (rc == -1) {
		snprintf(err, errlen, "slurmctld did not answer within %.0f s (is it running? "
			 "libslurm call killed)", timeout_ms / 1000.0);
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "libslurm query failed (its process died without answering)");
		return -1;
	}
	a = json_tokener_parse(text);
	free(text);
	if (!a) {
		snprintf(err, errlen, "libslurm query: unreadable answer");
		return -1;
	}
	rc = snap_parse(a, arg.partition, s, err, errlen);
	json_object_put(a);
	if (rc < 0) {
		bool unknown = s->no_partition;

		sweep_snapshot_free(s);
		return unknown ? -2 : -1;
	}
	return rc;
}

void sweep_snapshot_free(struct sweep_snapshot *s)
{
	free(s->partition_nodes);
	free(s->nodes);
	memset(s, 0, sizeof(*s));
	s->jobs_waiting = -1;
}

const struct sweep_ctl_node *sweep_snapshot_node(const struct sweep_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->nnodes; i++)
		if (!strcmp(s->nodes[i].name, name))
			return &s->nodes[i];
	return NULL;
}

/* ---- cancel ------------------------------------------------------------------------------------ */

static void cancel_child(void *varg, json_object *a)
{
	const char *name = varg;
	job_info_msg_t *jm = NULL;
	long n = 0;

	slurm_init(NULL);
	if (slurm_load_jobs(0, &jm, SHOW_ALL) != SLURM_SUCCESS) {
		answer_error(a, "slurm_load_jobs");
		return;
	}
	for (uint32_t i = 0; i < jm->record_count; i++) {
		job_info_t *j = &jm->job_array[i];
		uint32_t st = j->job_state & JOB_STATE_BASE;

		if (!j->name || strcmp(j->name, name) || (st != JOB_PENDING && st != JOB_RUNNING))
			continue;
		if (slurm_kill_job(j->job_id, SIGKILL, 0) == SLURM_SUCCESS)
			n++;
	}
	slurm_free_job_info_msg(jm);
	json_object_object_add(a, "cancelled", json_object_new_int64(n));
}

int sweep_cancel_jobs(const char *job_name, int timeout_ms, char *err, size_t errlen)
{
	json_object *a, *v;
	char *text;
	int rc = bounded_rpc(cancel_child, (void *)job_name, timeout_ms, &text);

	if (rc < 0) {
		snprintf(err, errlen, rc == -1 ? "slurmctld did not answer within the deadline"
					       : "libslurm query failed");
		return -1;
	}
	a = json_tokener_parse(text);
	free(text);
	rc = -1;
	if (a && jstr(a, "error"))
		snprintf(err, errlen, "%s", jstr(a, "error"));
	else if (a && json_object_object_get_ex(a, "cancelled", &v))
		rc = json_object_get_int(v);
	json_object_put(a);
	return rc;
}

/* ---- srun ---------------------------------------------------------------------------------------- */

static int push(char ***argv, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int push(char ***argv, size_t *n, const char *fmt, ...)
{
	char **g = realloc(*argv, (*n + 2) * sizeof(char *));
	va_list ap;
	int rc;

	if (!g)
		return -1;
	*argv = g;
	va_start(ap, fmt);
	rc = vasprintf(&g[*n], fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	g[++*n] = NULL;
	return 0;
}

void sweep_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static bool given(const char *s)
{
	return s && *s;
}

char **sweep_srun_argv(const struct sweep_srun_args *a)
{
	char **argv = NULL;
	size_t n = 0;
	int t = a->time_limit_s > 60 ? a->time_limit_s : 60;
	int rc = 0;

	/* --immediate: fail instead of waiting when the nodes are no longer free;
	 * --exclusive: nothing else lands on the nodes while their links are measured (the set
	 *   holds them for at most --time, derived from Timeout);
	 * --nice: lowest priority among pending jobs, should it ever wait;
	 * --kill-on-bad-exit=0: a rank that knows something is bad exits 1 early; rank 0 must
	 *   still write the report. */
	rc |= push(&argv, &n, "%s", a->srun);
	rc |= push(&argv, &n, "--job-name=%s", a->job_name);
	rc |= push(&argv, &n, "--nodes=%d", a->nnodes);
	rc |= push(&argv, &n, "--ntasks=%d", a->nnodes);
	rc |= push(&argv, &n, "--ntasks-per-node=1");
	rc |= push(&argv, &n, "--nodelist=%s", a->nodelist);
	rc |= push(&argv, &n, "--exclusive");
	rc |= push(&argv, &n, "--immediate=%d", a->immediate_s);
	rc |= push(&argv, &n, "--time=%d:%02d", t / 60, t % 60);
	rc |= push(&argv, &n, "--nice=%d", a->nice);
	rc |= push(&argv, &n, "--kill-on-bad-exit=0");
	rc |= push(&argv, &n, "--mpi=pmix");
	if (given(a->partition))
		rc |= push(&argv, &n, "--partition=%s", a->partition);
	if (given(a->qos))
		rc |= push(&argv, &n, "--qos=%s", a->qos);
	if (given(a->reservation))
		rc |= push(&argv, &n, "--reservation=%s", a->reservation);
	if (given(a->account))
		rc |= push(&argv, &n, "--account=%s", a->account);
	rc |= push(&argv, &n, "%s", a->command);
	rc |= push(&argv, &n, "cross");
	rc |= push(&argv, &n, "--json");
	rc |= push(&argv, &n, "--timeout=%d", a->cross_timeout_s);
	if (rc) {
		sweep_argv_free(argv);
		return NULL;
	}
	return argv;
}

static void srun_child(char **argv, int outfd, int errfd)
{
	const char *conf = getenv("SLURM_CONF");
	char confvar[4200];
	char *envp[3] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL, NULL };
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (conf && conf[0] == '/' && snprintf(confvar, sizeof(confvar), "SLURM_CONF=%s", conf) <
	    (int)sizeof(confvar))
		envp[1] = confvar;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setpgid(0, 0);
	if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(outfd, 1) < 0 || dup2(errfd, 2) < 0)
		_exit(127);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	signal(SIGPIPE, SIG_DFL);
	execve(argv[0], argv, envp);
	dprintf(2, "efa-check sweep: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void keep_tail(char *tail, size_t size, const char *buf, size_t len)
{
	size_t have = strlen(tail);

	if (len >= size - 1) {
		memcpy(tail, buf + len - (size - 1), size - 1);
		tail[size - 1] = '\0';
		return;
	}
	if (have + len >= size) {
		size_t drop = have + len - (size - 1);

		memmove(tail, tail + drop, have - drop + 1);
		have -= drop;
	}
	memcpy(tail + have, buf, len);
	tail[have + len] = '\0';
}

/* Read srun's stdout and stderr until both close; signal srun at the deadline. */
static void srun_collect(pid_t pid, int outfd, int errfd, int64_t deadline,
			 struct sweep_srun_result *r)
{
	size_t olen = 0, ocap = 0;
	int64_t killed_at = 0;
	bool termed = false;
	struct pollfd p[2] = { { .fd = outfd, .events = POLLIN }, { .fd = errfd, .events = POLLIN } };

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int64_t now = now_ms(), wait = deadline - now;

		if (!termed && wait <= 0) {
			kill(pid, SIGTERM);   /* srun: cancel the step, release the allocation */
			termed = true;
			r->timed_out = true;
			killed_at = now + SRUN_GRACE_MS;
		}
		if (termed) {
			wait = killed_at - now;
			if (wait <= 0) {
				kill(-pid, SIGKILL);
				kill(pid, SIGKILL);
				break;
			}
		}
		if (poll(p, 2, (int)(wait > 1000 ? 1000 : wait)) <= 0)
			continue;
		if (p[0].fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			long n = read_some(outfd, &r->out, &olen, &ocap, SRUN_OUT_MAX);

			if (n <= 0)
				p[0].fd = -1;
		}
		if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[4096];
			ssize_t n = read(errfd, buf, sizeof(buf));

			if (n > 0)
				keep_tail(r->err_tail, sizeof(r->err_tail), buf, (size_t)n);
			else if (n == 0 || errno != EINTR)
				p[1].fd = -1;
		}
	}
}

int sweep_srun(const struct sweep_srun_args *a, int64_t deadline_ms, struct sweep_srun_result *r)
{
	char **argv = sweep_srun_argv(a);
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, status = 0;
	int64_t t0 = now_ms();
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	if (!argv || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		snprintf(r->err_tail, sizeof(r->err_tail), "cannot prepare srun: %s", strerror(errno));
		goto fail;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(r->err_tail, sizeof(r->err_tail), "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		srun_child(argv, out[1], err[1]);
	close(out[1]);
	close(err[1]);
	out[1] = err[1] = -1;
	srun_collect(pid, out[0], err[0], deadline_ms, r);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r->duration_ms = (long)(now_ms() - t0);
	close(out[0]);
	close(err[0]);
	sweep_argv_free(argv);
	return r->timed_out ? -1 : 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	sweep_argv_free(argv);
	return -1;
}

void sweep_srun_result_free(struct sweep_srun_result *r)
{
	free(r->out);
	r->out = NULL;
}

const char *sweep_srun_busy(const char *err_tail)
{
	static const char *const signs[] = { "Requested nodes are busy",
					     "Immediate execution impossible", "DUE TO PREEMPTION" };

	/* srun (src/srun/libsrun/allocate.c, 22.05) with --immediate: "Unable to allocate
	 * resources: Requested nodes are busy" or "... Immediate execution impossible ...";
	 * slurmstepd's "*** STEP ... CANCELLED AT ... DUE TO PREEMPTION ***" when a job's QOS
	 * preempted the set (SweepQOS): a job needed the nodes. */
	for (size_t i = 0; i < sizeof(signs) / sizeof(signs[0]); i++) {
		const char *hit = strstr(err_tail, signs[i]);

		if (hit) {
			while (hit > err_tail && hit[-1] != '\n')
				hit--;
			return hit;
		}
	}
	return NULL;
}
