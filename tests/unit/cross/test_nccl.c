/*
 * test_nccl.c -- the NCCL check's library part (prolog/cross/nccl.c) against the CPU NCCL double
 * (tests/doubles/nccl-double), loaded through the product's own dlopen path: the closed-form
 * verification, warm-up and timed iterations with runtime connect (the first collective is
 * slow and is not part of busbw), a wrong result named by element, and the net plugin report
 * (none loaded / the library NCCL_NET_PLUGIN named).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "cross/nccl.h"
#include "cross/schedule.h"

#include <sys/wait.h>

#define DOUBLE "build/tests/doubles/libnccl-double.so"
#define NET_DOUBLE "build/tests/doubles/libnccl-net-double.so"

static struct efa_config cfg;
static char dir[64];

static int setup(void **state)
{
	config_defaults(&cfg);
	if (access(DOUBLE, R_OK)) {
		fprintf(stderr, "test_nccl: %s: cannot open shared object file (make test-support)\n", DOUBLE);
		return -1;
	}
	strcpy(cfg.nccl_library, DOUBLE);
	strcpy(cfg.cuda_library, DOUBLE);
	strcpy(dir, "/tmp/efa-check-nccl-XXXXXX");
	assert_non_null(mkdtemp(dir));
	setenv("EFA_TEST_NCCL_DIR", dir, 1);
	setenv("EFA_TEST_GPUS", "4", 1);
	unsetenv("NCCL_NET_PLUGIN");
	unsetenv("EFA_TEST_NCCL_CONNECT_MS");
	unsetenv("EFA_TEST_NCCL_WRONG");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	config_free(&cfg);
	return 0;
}

/* One node with 4 GPUs through the double. */
static void run(struct nccl_run_result *res, long bytes)
{
	struct nccl_lib *l = NULL;
	char err[256] = "", id[NCCL_ID_HEX_MAX];

	assert_int_equal(nccl_load(&cfg, &l, err, sizeof(err)), 4);
	assert_int_equal(nccl_unique_id_hex(l, id, sizeof(id), err, sizeof(err)), 0);
	nccl_run(l, id, 1, 0, 4, bytes, 0, 60000, res);
	nccl_unload(l);
}

/* n*a(i) + B equals the sum of every contribution, at 64 and 512 GPUs, exactly. */
static void closed_form_equals_the_sum(void **state)
{
	const int totals[] = { 1, 2, 64, 512 };
	const size_t count = 1000;
	float *sum = calloc(count, sizeof(float)), *buf = malloc(count * sizeof(float)), got, want;

	for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
		memset(sum, 0, count * sizeof(float));
		for (int g = 0; g < totals[t]; g++) {
			nccl_fill(buf, count, g);
			for (size_t i = 0; i < count; i++) {
				assert_true(buf[i] == nccl_contribution(g, i));
				sum[i] += buf[i];
			}
		}
		assert_int_equal(nccl_verify(sum, count, totals[t], &got, &want), -1);
		sum[777] += 1.0f;
		assert_int_equal(nccl_verify(sum, count, totals[t], &got, &want), 777);
		assert_true(got == want + 1.0f);
	}
	/* a missing rank and a rank counted twice are both wrong everywhere */
	memset(sum, 0, count * sizeof(float));
	for (int g = 0; g < 63; g++) {
		nccl_fill(buf, count, g);
		for (size_t i = 0; i < count; i++)
			sum[i] += buf[i];
	}
	assert_int_equal(nccl_verify(sum, count, 64, &got, &want), 0);
	free(sum);
	free(buf);
}

static void warmup_then_timed_iterations(void **state)
{
	struct nccl_run_result res;

	run(&res, 64 * 1024);
	assert_true(res.ok);
	assert_int_equal(res.stage, NCCL_ST_DONE);
	assert_int_equal(res.iters, NCCL_TIMED_ITERS);
	assert_true(res.busbw_gbs > 0);
	assert_non_null(strstr(res.detail, "after 2 warm-up"));
	assert_non_null(strstr(res.detail, "first all-reduce (connect)"));
	assert_non_null(strstr(res.detail, "no net plugin loaded"));
	assert_string_equal(res.plugin, "");
}

/* NCCL >= 2.22: the first collective sets up the connections. It is timed on its own; the
 * bandwidth comes from the iterations after it. */
static void runtime_connect_not_in_busbw(void **state)
{
	struct nccl_run_result res;

	setenv("EFA_TEST_NCCL_CONNECT_MS", "700", 1);
	run(&res, 64 * 1024);
	assert_true(res.ok);
	assert_true(res.connect_ms >= 700);
	assert_true(res.ms < res.connect_ms);
	assert_true(res.init_ms >= 0 && res.verify_ms >= 0);
}

static void wrong_result_named(void **state)
{
	struct nccl_run_result res;

	setenv("EFA_TEST_NCCL_WRONG", "1", 1);
	run(&res, 4096);
	assert_false(res.ok);
	assert_int_equal(res.stage, NCCL_ST_VERIFY);
	assert_non_null(strstr(res.detail, "all-reduce result wrong on GPU 0 at element 512"));
}

/* NCCL_NET_PLUGIN names the library NCCL loads; the report names the one actually loaded. */
static void net_plugin_reported(void **state)
{
	struct nccl_run_result res;
	char path[PATH_MAX];

	assert_non_null(realpath(NET_DOUBLE, path));
	setenv("NCCL_NET_PLUGIN", path, 1);
	run(&res, 4096);
	assert_true(res.ok);
	assert_non_null(strstr(res.plugin, "libnccl-net-double.so"));
	assert_non_null(strstr(res.detail, "net plugin "));
	assert_non_null(strstr(res.detail, "libnccl-net-double.so"));
}

/* The pair phase (nccl.h) across 4 processes, one node each, 2 GPUs: every node exchanges with
 * each of its schedule peers once, one peer per step; the node made slow in the double
 * (EFA_TEST_NCCL_SLOW_MS: its messages leave late) has slow pairs, and so have its peers with
 * it, but their pairs with the others are fast: what cross_slow needs to name it. The all-reduce
 * itself is slow for everybody, as with real NCCL. */
static void pair_phase_finds_the_slow_node(void **state)
{
	enum { N = 4, SLOW = 2 };
	struct nccl_lib *l = NULL;
	char err[256] = "", id[NCCL_ID_HEX_MAX], path[128];
	int rounds = schedule_rounds(N, 0);
	pid_t pid[N];
	double gbs[N][N] = { { 0 } };

	(void)state;
	setenv("EFA_TEST_GPUS", "2", 1);
	assert_int_equal(nccl_load(&cfg, &l, err, sizeof(err)), 2);
	assert_int_equal(nccl_unique_id_hex(l, id, sizeof(id), err, sizeof(err)), 0);
	nccl_unload(l);
	for (int r = 0; r < N; r++) {
		pid[r] = fork();
		assert_true(pid[r] >= 0);
		if (pid[r] == 0) {
			struct nccl_run_result res;
			int steps[NCCL_MAX_PAIR_STEPS], ns;
			FILE *f;

			if (r == SLOW)
				setenv("EFA_TEST_NCCL_SLOW_MS", "60", 1);
			if (nccl_load(&cfg, &l, err, sizeof(err)) != 2)
				_exit(2);
			ns = schedule_pair_steps(N, rounds, r, steps, NCCL_MAX_PAIR_STEPS);
			nccl_set_pairs(l, steps, ns);
			nccl_run(l, id, N, r, 2, 65536, 0, 60000, &res);
			snprintf(path, sizeof(path), "%s/pairs.%d", dir, r);
			f = fopen(path, "w");
			if (!f)
				_exit(3);
			fprintf(f, "%d %d\n", res.ok, res.pairs_done);
			for (int i = 0; i < res.npairs; i++)
				fprintf(f, "%d %.9f\n", res.pairs[i].peer, res.pairs[i].gbs);
			fclose(f);
			_exit(0);
		}
	}
	for (int r = 0; r < N; r++) {
		int st = 0, ok = 0, done = 0, peer, n = 0;
		double g;
		FILE *f;

		assert_int_equal(waitpid(pid[r], &st, 0), pid[r]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		snprintf(path, sizeof(path), "%s/pairs.%d", dir, r);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_int_equal(fscanf(f, "%d %d", &ok, &done), 2);
		assert_true(ok && done);
		while (fscanf(f, "%d %lf", &peer, &g) == 2) {
			assert_true(peer >= 0 && peer < N && peer != r && g > 0);
			gbs[r][peer] = g;
			n++;
		}
		fclose(f);
		assert_int_equal(n, N - 1);           /* 4 nodes, 2 rounds: everyone meets everyone */
	}
	/* every pair with the slow node is slower than every pair without it, seen from both ends */
	for (int a = 0; a < N; a++)
		for (int b = 0; b < N; b++)
			for (int c = 0; c < N; c++)
				for (int d = 0; d < N; d++) {
					bool ab_slow = a == SLOW || b == SLOW, cd_slow = c == SLOW || d == SLOW;

					if (a == b || c == d || !ab_slow || cd_slow)
						continue;
					if (!(gbs[a][b] < gbs[c][d]))
						fail_msg("pair %d-%d %.4f GB/s not below %d-%d %.4f GB/s", a, b,
							 gbs[a][b], c, d, gbs[c][d]);
				}
	setenv("EFA_TEST_GPUS", "4", 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(closed_form_equals_the_sum),
		T(warmup_then_timed_iterations),
		T(runtime_connect_not_in_busbw),
		T(wrong_result_named),
		T(pair_phase_finds_the_slow_node),
		T(net_plugin_reported),     /* last: the plugin stays loaded in this process */
	};

	return cmocka_run_group_tests_name("nccl", tests, NULL, NULL);
}
