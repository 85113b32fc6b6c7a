/*
 * test_state.c -- the state directory: vetting, atomic writes, the cached result, cache
 * freshness, and the lock that makes concurrent runs check once (several processes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cachekey.h"
#include "core/config.h"
#include "core/report.h"
#include "slurm/state.h"
#include "core/strutil.h"

static char base[64];

static int setup(void **s)
{
	strcpy(base, "/tmp/efa-state.XXXXXX");
	assert_non_null(mkdtemp(base));
	chmod(base, 0755);
	return 0;
}

static void remove_tree(const char *path)
{
	pid_t pid = fork();

	if (pid == 0) {
		execlp("rm", "rm", "-rf", path, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

static int teardown(void **s)
{
	remove_tree(base);
	return 0;
}

static void sub(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", base, name);
}

static int open_dir(const char *name)
{
	char path[128], err[512];
	int fd;

	sub(path, sizeof(path), name);
	fd = state_dir_open(path, err, sizeof(err));
	if (fd < 0)
		fprintf(stderr, "state_dir_open: %s\n", err);
	return fd;
}

static void test_dir_created_0755(void **s)
{
	char path[128];
	struct stat st;
	int fd = open_dir("a/b/state");

	assert_true(fd >= 0);
	sub(path, sizeof(path), "a/b/state");
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 022, 0);
	close(fd);
}

static void test_dir_refuses_symlink(void **s)
{
	char target[128], link[128], err[512];

	sub(target, sizeof(target), "real");
	sub(link, sizeof(link), "link");
	assert_int_equal(mkdir(target, 0755), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(state_dir_open(link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symlink"));
}

static void test_dir_refuses_world_writable(void **s)
{
	char path[128], err[512];

	sub(path, sizeof(path), "ww");
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(state_dir_open(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable"));
	assert_int_equal(chmod(path, 0775), 0);
	assert_int_equal(state_dir_open(path, err, sizeof(err)), -1);
	assert_int_equal(state_dir_open("relative/dir", err, sizeof(err)), -1);
}

/* Issue 15.7: a user's symlink among StateDir's parents (sub -> /etc in a world-writable
 * directory) must not make root create StateDir where it points. */
static void test_dir_refuses_symlinked_parent(void **s)
{
	char target[128], link[128], path[160], victim[192], err[512];
	struct stat st;

	sub(target, sizeof(target), "elsewhere");
	sub(link, sizeof(link), "sub");
	assert_int_equal(mkdir(target, 0755), 0);
	assert_int_equal(symlink(target, link), 0);
	snprintf(path, sizeof(path), "%s/victim-dir", link);
	assert_int_equal(state_dir_open(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symlink"));
	assert_non_null(strstr(err, "StateDir"));
	snprintf(victim, sizeof(victim), "%s/victim-dir", target);
	assert_int_equal(lstat(victim, &st), -1);   /* nothing created through the link */
}

/* A parent writable by others (no sticky bit), or a sticky parent whose next component
 * belongs to another user, is refused; a sticky /tmp-like parent with our own child is fine. */
static void test_dir_refuses_writable_parent(void **s)
{
	char ww[128], path[256], sticky[128], theirs[160], err[512];
	int fd;

	sub(ww, sizeof(ww), "open");
	assert_int_equal(mkdir(ww, 0755), 0);
	assert_int_equal(chmod(ww, 0777), 0);
	snprintf(path, sizeof(path), "%s/state", ww);
	assert_int_equal(state_dir_open(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by group or others"));
	sub(sticky, sizeof(sticky), "sticky");
	assert_int_equal(mkdir(sticky, 0755), 0);
	assert_int_equal(chmod(sticky, 01777), 0);
	snprintf(path, sizeof(path), "%s/state", sticky);
	fd = state_dir_open(path, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	if (geteuid() == 0) {
		snprintf(theirs, sizeof(theirs), "%s/theirs", sticky);
		assert_int_equal(mkdir(theirs, 0755), 0);
		assert_int_equal(chown(theirs, 65534, 65534), 0);
		snprintf(path, sizeof(path), "%s/state", theirs);
		assert_int_equal(state_dir_open(path, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "owned by uid 65534"));
	}
	assert_int_equal(state_dir_open("/tmp/../tmp/x", err, sizeof(err)), -1);
}

static void test_atomic_write_no_follow(void **s)
{
	char victim[128], buf[64];
	int fd = open_dir("st"), v;

	assert_true(fd >= 0);
	assert_int_equal(state_write_atomic(fd, "x", "hello", 5, 0644), 0);
	assert_int_equal(read_small_file_at(fd, "x", buf, sizeof(buf)), 5);
	assert_string_equal(buf, "hello");
	/* a symlink planted at the name is replaced, its target untouched */
	sub(victim, sizeof(victim), "victim");
	v = open(victim, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(v, "keep", 4), 4);
	close(v);
	assert_int_equal(symlinkat(victim, fd, "y"), 0);
	assert_int_equal(state_write_atomic(fd, "y", "new", 3, 0644), 0);
	assert_int_equal(read_small_file_at(AT_FDCWD, victim, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "keep");
	/* reading a symlinked state file is refused */
	assert_int_equal(unlinkat(fd, "y", 0), 0);
	assert_int_equal(symlinkat(victim, fd, STATE_REPORT_FILE), 0);
	{
		struct report r;
		struct state_meta m;

		assert_int_equal(state_load_result(fd, &r, &m), -1);
		report_free(&r);
	}
	close(fd);
}

static void make_report(struct report *r, bool ok)
{
	struct check_result c;

	report_init(r, "prolog", "n1");
	check_init(&c, "loopback", "lo");
	if (!ok)
		check_fail(&c, "lo: RMA write data mismatch");
	check_metric(&c, "write_gbps", 9.5);
	report_add(r, &c);
	report_finalize(r);
}

static void test_save_load_roundtrip(void **s)
{
	struct report r, back;
	struct state_meta m = { .started_at = 100.5, .finished_at = 101.25, .runs = 3,
				.key = "c0123456789abcdefp0123456789abcdef-v0.1.0-0123456789abcdef" }, mb;
	int fd = open_dir("rt");

	make_report(&r, false);
	assert_int_equal(state_load_result(fd, &back, &mb), -1);  /* nothing yet */
	report_free(&back);
	assert_int_equal(state_save_result(fd, &r, &m), 0);
	assert_int_equal(state_load_result(fd, &back, &mb), 0);
	assert_false(report_ok(&back));
	assert_string_equal(back.reason, "efa-check: loopback lo: RMA write data mismatch");
	assert_string_equal(back.node, "n1");
	assert_true(mb.finished_at == 101.25);
	assert_true(mb.started_at == 100.5);
	assert_int_equal(mb.runs, 3);
	assert_string_equal(mb.key, m.key);   /* what the result was computed from */
	report_free(&back);
	report_free(&r);
	/* a corrupt file is no result */
	assert_int_equal(state_write_atomic(fd, STATE_REPORT_FILE, "{\"version\":", 11, 0644), 0);
	assert_int_equal(state_load_result(fd, &back, &mb), -1);
	assert_true(mb.finished_at == 0);
	report_free(&back);
	close(fd);
}

static void test_cache_verdict(void **s)
{
	struct state_meta none = { 0 };
	struct state_meta m = { .started_at = 990, .finished_at = 1000, .runs = 1 };

	assert_int_equal(cache_verdict(&none, true, 1010, 1010, 300, false), CACHE_MISS);
	/* fresh ok result */
	assert_int_equal(cache_verdict(&m, true, 1010, 1010, 300, false), CACHE_FRESH);
	/* too old */
	assert_int_equal(cache_verdict(&m, true, 1300, 1300, 300, false), CACHE_MISS);
	assert_int_equal(cache_verdict(&m, true, 1299, 1299, 300, false), CACHE_FRESH);
	/* a failure is never reused from the cache */
	assert_int_equal(cache_verdict(&m, false, 1010, 1010, 300, false), CACHE_MISS);
	/* the job asked (bypass), or caching is off */
	assert_int_equal(cache_verdict(&m, true, 1010, 1010, 300, true), CACHE_MISS);
	assert_int_equal(cache_verdict(&m, true, 1010, 1010, 0, false), CACHE_MISS);
	/* clock went backwards */
	assert_int_equal(cache_verdict(&m, true, 900, 800, 300, false), CACHE_CONCURRENT);
	assert_int_equal(cache_verdict(&m, true, 999, 1001 - 0.5, 300, false), CACHE_MISS);
	/* finished after we started: a run we waited for, always usable (even failed, even bypass) */
	assert_int_equal(cache_verdict(&m, false, 1001, 999, 300, true), CACHE_CONCURRENT);
	assert_int_equal(cache_verdict(&m, true, 1001, 1000, 0, true), CACHE_CONCURRENT);
	assert_string_equal(cache_verdict_name(CACHE_FRESH), "fresh");
}

static void test_lock_timeout(void **s)
{
	int fd = open_dir("lk"), l1, l2;
	int64_t t0;

	l1 = state_lock(fd, now_ms() + 1000);
	assert_true(l1 >= 0);
	if (fork() == 0) {
		/* flock locks belong to the open file description: a new open contends */
		int64_t c0 = now_ms();
		int l = state_lock(fd, now_ms() + 150);
		int64_t waited = now_ms() - c0;

		_exit(l < 0 && errno == ETIMEDOUT && waited >= 140 && waited < 1000 ? 0 : 1);
	}
	{
		int st;

		wait(&st);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	t0 = now_ms();
	l2 = state_lock(fd, now_ms() + 100);  /* same process, second open: also contends */
	assert_int_equal(l2, -1);
	assert_true(now_ms() - t0 >= 90);
	state_unlock(l1);
	l2 = state_lock(fd, now_ms() + 100);
	assert_true(l2 >= 0);
	state_unlock(l2);
	close(fd);
}

/* What the prolog does, in N processes at once: fast path, lock, re-check, run, save. */
static int concurrent_child(int dirfd, int holders_fd)
{
	double my_start = unix_now();
	struct state_meta m;
	struct report r;
	int lock;

	if (state_load_result(dirfd, &r, &m) == 0 &&
	    cache_verdict(&m, report_ok(&r), unix_now(), my_start, 300, false) != CACHE_MISS) {
		report_free(&r);
		return 0;
	}
	report_free(&r);
	lock = state_lock(dirfd, now_ms() + 10000);
	if (lock < 0)
		return 2;
	if (state_load_result(dirfd, &r, &m) == 0 &&
	    cache_verdict(&m, report_ok(&r), unix_now(), my_start, 300, false) != CACHE_MISS) {
		report_free(&r);
		state_unlock(lock);
		return 0;
	}
	report_free(&r);
	/* the "check": nobody else may be inside */
	if (write(holders_fd, "x", 1) != 1)
		return 3;
	usleep(50000);
	make_report(&r, true);
	m = (struct state_meta){ .started_at = my_start, .finished_at = unix_now(), .runs = m.runs + 1 };
	if (state_save_result(dirfd, &r, &m) < 0)
		return 4;
	report_free(&r);
	state_unlock(lock);
	return 0;
}

static void test_concurrent_runs_once(void **s)
{
	enum { N = 16 };
	char holders[128];
	struct state_meta m;
	struct report r;
	struct stat st;
	int fd = open_dir("cc"), hfd;

	sub(holders, sizeof(holders), "holders");
	hfd = open(holders, O_WRONLY | O_CREAT | O_APPEND, 0644);
	for (int i = 0; i < N; i++)
		if (fork() == 0)
			_exit(concurrent_child(fd, hfd));
	for (int i = 0; i < N; i++) {
		int status;

		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(fstat(hfd, &st), 0);
	assert_int_equal(st.st_size, 1);  /* the check ran once */
	assert_int_equal(state_load_result(fd, &r, &m), 0);
	assert_int_equal(m.runs, 1);
	report_free(&r);
	close(hfd);
	close(fd);
}

/* Writers replace the file while readers read: a reader sees a whole report or none. */
static void test_atomic_under_contention(void **s)
{
	enum { WRITERS = 4, ROUNDS = 100 };
	int fd = open_dir("at");
	struct report r;
	struct state_meta m;
	int bad = 0;

	make_report(&r, true);
	m = (struct state_meta){ .finished_at = 1, .runs = 1 };
	assert_int_equal(state_save_result(fd, &r, &m), 0);
	report_free(&r);
	for (int w = 0; w < WRITERS; w++) {
		if (fork() == 0) {
			struct report wr;
			struct state_meta wm = { .finished_at = 2, .runs = w + 2 };

			make_report(&wr, w % 2);
			for (int i = 0; i < ROUNDS; i++)
				if (state_save_result(fd, &wr, &wm) < 0)
					_exit(1);
			_exit(0);
		}
	}
	for (int i = 0; i < ROUNDS * 2; i++) {
		struct report rr;
		struct state_meta rm;

		if (state_load_result(fd, &rr, &rm) < 0 || rr.nchecks != 1)
			bad++;
		report_free(&rr);
	}
	for (int w = 0; w < WRITERS; w++) {
		int status;

		wait(&status);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(bad, 0);
	close(fd);
}

/* The key changes with the configuration text and the profile table, not with the path. */
static void test_cache_key(void **s)
{
	struct efa_config a, b;
	char ka[CACHE_KEY_MAX], kb[CACHE_KEY_MAX], full[CACHE_KEY_MAX], err[256];
	const char *t1 = "Provider=tcp\nDomains=lo\n";
	const char *t2 = "Provider=tcp\nDomains=lo\nNodeName=n1 Domains=nosuchdomain0\n";

	assert_int_equal(config_parse_text(&a, t1, "/x/a.conf", "n1", err, sizeof(err)), 0);
	assert_int_equal(config_parse_text(&b, t1, "/y/b.conf", "n2", err, sizeof(err)), 0);
	assert_int_equal(cache_key_inputs(&a, ka, sizeof(ka)), 0);
	assert_int_equal(cache_key_inputs(&b, kb, sizeof(kb)), 0);
	assert_string_equal(ka, kb);
	config_free(&b);
	assert_int_equal(config_parse_text(&b, t2, "/x/a.conf", "n1", err, sizeof(err)), 0);
	assert_int_equal(cache_key_inputs(&b, kb, sizeof(kb)), 0);
	assert_string_not_equal(ka, kb);
	/* defaults (no file) and an empty file mean the same configuration */
	config_free(&b);
	config_defaults(&b);
	assert_int_equal(cache_key_inputs(&b, kb, sizeof(kb)), 0);
	config_free(&a);
	assert_int_equal(config_parse_text(&a, "", "/x/a.conf", "n1", err, sizeof(err)), 0);
	assert_int_equal(cache_key_inputs(&a, ka, sizeof(ka)), 0);
	assert_string_equal(ka, kb);
	/* an unreadable profile table never matches the built-in one */
	str_copy(a.instance_profiles, sizeof(a.instance_profiles), "/nonexistent/profiles.conf");
	assert_int_equal(cache_key_inputs(&a, ka, sizeof(ka)), 0);
	assert_string_not_equal(ka, kb);
	/* the full key adds the version and the binary */
	assert_int_equal(cache_key_full(&b, NULL, full, sizeof(full)), 0);
	assert_int_equal(strncmp(full, kb, strlen(kb)), 0);
	assert_non_null(strstr(full, "-v" EFA_CHECK_VERSION "-"));
	assert_int_equal(cache_key_full(&b, NULL, full, 20), -1);
	/* ... and the effective provider (--provider overrides Provider=) */
	{
		char full2[CACHE_KEY_MAX];

		str_copy(b.provider, sizeof(b.provider), "nosuchprov");
		assert_int_equal(cache_key_full(&b, NULL, full2, sizeof(full2)), 0);
		assert_string_not_equal(full, full2);
	}
	config_free(&a);
	config_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_created_0755),
		cmocka_unit_test(test_dir_refuses_symlink),
		cmocka_unit_test(test_dir_refuses_world_writable),
		cmocka_unit_test(test_dir_refuses_symlinked_parent),
		cmocka_unit_test(test_dir_refuses_writable_parent),
		cmocka_unit_test(test_atomic_write_no_follow),
		cmocka_unit_test(test_save_load_roundtrip),
		cmocka_unit_test(test_cache_verdict),
		cmocka_unit_test(test_cache_key),
		cmocka_unit_test(test_lock_timeout),
		cmocka_unit_test(test_concurrent_runs_once),
		cmocka_unit_test(test_atomic_under_contention),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
