/*
 * test_cachekey.c -- the prolog's result cache key (core/cachekey.h): every override of a run
 * that can change its verdict is part of it (issue 15: --provider; then --timeout,
 * --state-dir, --sysfs-root and the FI_*, LD_LIBRARY_PATH and LD_PRELOAD environment), and
 * nothing that cannot or must not (the configuration file's path, the order of the
 * environment, CUDA_VISIBLE_DEVICES that slurmd gives each prolog).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/cachekey.h"
#include "core/config.h"
#include "core/strutil.h"

static const char conf_text[] = "Provider=tcp\nDomains=lo\nTimeout=30\nStateDir=/run/efa-check\n";

static void load(struct efa_config *c)
{
	char err[256];

	assert_int_equal(config_parse_text(c, conf_text, "/etc/slurm/efa-check.conf", "n1", err,
					   sizeof(err)), 0);
}

/* The full key of c with sysfs_root into out. */
static void key(const struct efa_config *c, const char *sysfs_root, char *out)
{
	assert_int_equal(cache_key_full(c, sysfs_root, out, CACHE_KEY_MAX), 0);
}

static void clear_env(void)
{
	unsetenv("FI_EFA_USE_DEVICE_RDMA");
	unsetenv("FI_PROVIDER");
	unsetenv("CUDA_VISIBLE_DEVICES");
	unsetenv("LD_LIBRARY_PATH");
	unsetenv("LD_PRELOAD");
}

static int setup(void **s)
{
	clear_env();
	return 0;
}

/* The same inputs give the same key; /sys and no --sysfs-root are the same run. */
static void test_same_run_same_key(void **s)
{
	struct efa_config a, b;
	char ka[CACHE_KEY_MAX], kb[CACHE_KEY_MAX];
	char err[256];

	load(&a);
	assert_int_equal(config_parse_text(&b, conf_text, "/elsewhere/copy.conf", "n1", err,
					   sizeof(err)), 0);
	key(&a, NULL, ka);
	key(&b, NULL, kb);
	assert_string_equal(ka, kb);
	key(&b, "", kb);
	assert_string_equal(ka, kb);
	key(&b, "/sys", kb);
	assert_string_equal(ka, kb);
	config_free(&a);
	config_free(&b);
}

/* --timeout: a run allowed 600 s may pass where the configured 30 s finds a hang. */
static void test_timeout_override(void **s)
{
	struct efa_config c;
	char k0[CACHE_KEY_MAX], k1[CACHE_KEY_MAX];

	load(&c);
	key(&c, NULL, k0);
	c.timeout_s = 600;   /* what cli_load_config does with --timeout 600 */
	key(&c, NULL, k1);
	assert_string_not_equal(k0, k1);
	c.timeout_s = 30;
	key(&c, NULL, k1);
	assert_string_equal(k0, k1);
	config_free(&c);
}

/* --state-dir: the counters check's baseline is another directory's. */
static void test_state_dir_override(void **s)
{
	struct efa_config c;
	char k0[CACHE_KEY_MAX], k1[CACHE_KEY_MAX];

	load(&c);
	key(&c, NULL, k0);
	str_copy(c.state_dir, sizeof(c.state_dir), "/tmp/other-state");
	key(&c, NULL, k1);
	assert_string_not_equal(k0, k1);
	config_free(&c);
}

/* --sysfs-root: a fixture tree is not this node's /sys. */
static void test_sysfs_root_override(void **s)
{
	struct efa_config c;
	char k0[CACHE_KEY_MAX], k1[CACHE_KEY_MAX], k2[CACHE_KEY_MAX];

	load(&c);
	key(&c, NULL, k0);
	key(&c, "/tmp/fixtures/p5", k1);
	key(&c, "/tmp/fixtures/p4d", k2);
	assert_string_not_equal(k0, k1);
	assert_string_not_equal(k1, k2);
	config_free(&c);
}

/* --provider (the issue 15 fix this extends) still counts. */
static void test_provider_override(void **s)
{
	struct efa_config c;
	char k0[CACHE_KEY_MAX], k1[CACHE_KEY_MAX];

	load(&c);
	key(&c, NULL, k0);
	str_copy(c.provider, sizeof(c.provider), "nosuchprov");
	key(&c, NULL, k1);
	assert_string_not_equal(k0, k1);
	config_free(&c);
}

/* The environment libfabric and the loader read changes the key, in any order; other
 * variables (CUDA_VISIBLE_DEVICES among them) do not. */
static void test_environment(void **s)
{
	struct efa_config c;
	char k0[CACHE_KEY_MAX], k1[CACHE_KEY_MAX], k2[CACHE_KEY_MAX];

	load(&c);
	key(&c, NULL, k0);
	setenv("EFA_CHECK_TEST_UNRELATED", "1", 1);
	setenv("HOME", "/elsewhere", 1);
	/* the job's GPUs are in every prolog's environment: jobs must still share a run */
	setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7", 1);
	key(&c, NULL, k1);
	assert_string_equal(k0, k1);
	static const char *const vars[][2] = {
		{ "FI_EFA_USE_DEVICE_RDMA", "0" },
		{ "FI_PROVIDER", "^efa" },
		{ "LD_LIBRARY_PATH", "/opt/cuda/lib64" },
		{ "LD_PRELOAD", "/tmp/x.so" },
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		setenv(vars[i][0], vars[i][1], 1);
		key(&c, NULL, k1);
		assert_string_not_equal(k0, k1);
		unsetenv(vars[i][0]);
		key(&c, NULL, k1);
		assert_string_equal(k0, k1);
	}
	/* two variables set in either order: one key */
	setenv("FI_PROVIDER", "efa", 1);
	setenv("FI_EFA_USE_DEVICE_RDMA", "1", 1);
	key(&c, NULL, k1);
	clear_env();
	setenv("FI_EFA_USE_DEVICE_RDMA", "1", 1);
	setenv("FI_PROVIDER", "efa", 1);
	key(&c, NULL, k2);
	assert_string_equal(k1, k2);
	/* set to the empty string is not unset */
	clear_env();
	setenv("FI_PROVIDER", "", 1);
	key(&c, NULL, k1);
	assert_string_not_equal(k0, k1);
	clear_env();
	unsetenv("EFA_CHECK_TEST_UNRELATED");
	config_free(&c);
}

/* The key still fits the state file's field, with room for "+unjudged" (policy.h). */
static void test_key_size(void **s)
{
	struct efa_config c;
	char k[CACHE_KEY_MAX];

	load(&c);
	key(&c, "/a/very/long/sysfs/root/that/is/hashed/not/copied", k);
	assert_true(strlen(k) + sizeof("+unjudged") <= CACHE_KEY_MAX);
	assert_int_equal(cache_key_full(&c, NULL, k, 20), -1);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_same_run_same_key, setup),
		cmocka_unit_test_setup(test_timeout_override, setup),
		cmocka_unit_test_setup(test_state_dir_override, setup),
		cmocka_unit_test_setup(test_sysfs_root_override, setup),
		cmocka_unit_test_setup(test_provider_override, setup),
		cmocka_unit_test_setup(test_environment, setup),
		cmocka_unit_test_setup(test_key_size, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
