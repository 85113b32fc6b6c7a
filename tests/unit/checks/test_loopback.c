/*
 * test_loopback.c -- provider discovery (prolog/fabric/fabric.c) and the libfabric loopback test
 * (prolog/checks/loopback.c) against the real libfabric, with tcp (domain lo) and shm standing in
 * for efa (DESIGN §3).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdma/fabric.h>

#include "fabric/fabric.h"
#include "checks/loopback.h"
#include "core/report.h"
#include "core/strutil.h"

static const struct check_metric *metric(const struct check_result *c, const char *name)
{
	for (int i = 0; i < c->nmetrics; i++)
		if (!strcmp(c->metrics[i].name, name))
			return &c->metrics[i];
	return NULL;
}

static void run_loopback(const char *provider, const char *domain, double min_gbps,
			 struct check_result *c, int *rc, int64_t *ms)
{
	struct loopback_opts o = { .provider = provider, .domain = domain, .max_bytes = 1L << 20,
				   .iterations = 100, .min_gbps = min_gbps };
	int64_t t0 = now_ms();

	*rc = loopback_run(&o, c);
	*ms = now_ms() - t0;
}

static void assert_loopback_passes(const char *provider, const char *domain)
{
	struct check_result c;
	int64_t ms;
	int rc;

	run_loopback(provider, domain, 0, &c, &rc, &ms);
	if (rc)
		fprintf(stderr, "loopback %s/%s: %s\n", provider, domain, c.detail);
	assert_int_equal(rc, 0);
	assert_int_equal(c.status, CHECK_PASS);
	assert_string_equal(c.name, "loopback");
	assert_string_equal(c.target, domain);
	assert_non_null(metric(&c, "write_gbps"));
	assert_non_null(metric(&c, "latency_us"));
	assert_true(metric(&c, "write_gbps")->value > 0);
	assert_true(metric(&c, "latency_us")->value > 0);
	assert_non_null(strstr(c.detail, "verified 64 B..1 MiB"));
	/* no wall-clock bound here: run time is measured by bench/, not by a timed unit test
	 * (on the shared 2-core test machine this took 2.7-6.5 s at load 9) */
	(void)ms;
}

static void test_loopback_tcp_lo(void **state)
{
	assert_loopback_passes("tcp", "lo");
}

static void test_loopback_shm(void **state)
{
	assert_loopback_passes("shm", "shm");
}

static void test_loopback_min_gbps_enforced(void **state)
{
	struct check_result c;
	int64_t ms;
	int rc;

	run_loopback("shm", "shm", 1e9, &c, &rc, &ms);
	assert_int_equal(rc, -1);
	assert_int_equal(c.status, CHECK_FAIL);
	assert_non_null(strstr(c.reason, "shm: RMA write "));
	assert_non_null(strstr(c.reason, "Gb/s < MinLoopbackGbps 1e+09"));
	assert_true(metric(&c, "write_gbps")->value > 0);   /* measured value still reported */
}

static void test_loopback_unknown_domain(void **state)
{
	struct check_result c;
	int64_t ms;
	int rc;

	run_loopback("tcp", "nosuch0", 0, &c, &rc, &ms);
	assert_int_equal(rc, -1);
	assert_string_equal(c.reason, "nosuch0: fi_getinfo: domain not found");
}

static void test_provider_tcp_found(void **state)
{
	struct fabric_domains d = { 0 };
	struct check_result c;
	bool has_lo = false;

	assert_int_equal(fabric_provider_check("tcp", NULL, 0, &d, &c), 0);
	assert_int_equal(c.status, CHECK_PASS);
	assert_true(d.n >= 1);
	for (size_t i = 0; i < d.n; i++)
		has_lo |= !strcmp(d.name[i], "lo");
	assert_true(has_lo);
	/* the libfabric of the platform the test is built on (1.17 on Debian 12, 2.1 on 13) */
	char want[32];
	snprintf(want, sizeof(want), "libfabric %d.%d", FI_MAJOR_VERSION, FI_MINOR_VERSION);
	if (!strstr(c.detail, want))
		fail_msg("detail '%s' does not name %s", c.detail, want);
	fabric_domains_free(&d);
	assert_null(d.name);
}

/* lo is loopback-only whatever the provider calls it; eth0/data0-style interfaces are not. */
static void test_provider_marks_loopback_domains(void **state)
{
	struct fabric_domains d = { 0 };
	struct check_result c;
	int seen = 0;

	assert_int_equal(fabric_provider_check("tcp", NULL, 0, &d, &c), 0);
	for (size_t i = 0; i < d.n; i++) {
		assert_int_equal(fabric_domain_loopback_only(&d, i), !strcmp(d.name[i], "lo"));
		seen += !strcmp(d.name[i], "lo");
	}
	assert_int_equal(seen, 1);
	assert_false(fabric_domain_loopback_only(&d, d.n));
	assert_false(fabric_domain_loopback_only(NULL, 0));
	fabric_domains_free(&d);
	assert_true(fabric_ifname_loopback("lo"));
	assert_false(fabric_ifname_loopback("nosuch0"));
	assert_false(fabric_ifname_loopback(NULL));
}

static void test_provider_wanted_domain_selected(void **state)
{
	char *want[] = { "lo" };
	struct fabric_domains d = { 0 };
	struct check_result c;

	assert_int_equal(fabric_provider_check("tcp", want, 1, &d, &c), 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.name[0], "lo");
	assert_non_null(strstr(c.detail, "tcp: 1 domain (lo), fabric 127.0.0.1/32, libfabric "));
	/* the fabric of the first entry for the tested domain (tcp names fabrics by subnet) */
	assert_string_equal(d.fabric, "127.0.0.1/32");
	fabric_domains_free(&d);
}

static void test_provider_wanted_domain_missing(void **state)
{
	char *want[] = { "lo", "rdmap16s27-rdm" };
	struct fabric_domains d = { 0 };
	struct check_result c;

	assert_int_equal(fabric_provider_check("tcp", want, 2, &d, &c), -1);
	assert_int_equal(c.status, CHECK_FAIL);
	assert_string_equal(c.reason, "domain rdmap16s27-rdm missing");
	assert_non_null(strstr(c.detail, "offered: "));
	assert_int_equal(d.n, 1);      /* the wanted domain that exists */
	assert_string_equal(d.name[0], "lo");
	fabric_domains_free(&d);
}

static void test_provider_efa_missing_lists_available(void **state)
{
	struct fabric_domains d = { 0 };
	struct check_result c;

	assert_int_equal(fabric_provider_check("efa", NULL, 0, &d, &c), -1);
	assert_int_equal(c.status, CHECK_FAIL);
	assert_string_equal(c.reason, "provider efa not found");
	assert_non_null(strstr(c.detail, "available: "));
	assert_non_null(strstr(c.detail, "tcp;ofi_rxm"));
	assert_non_null(strstr(c.detail, "shm"));
	assert_int_equal(d.n, 0);
	fabric_domains_free(&d);
}

static void test_prepare_env_efa(void **state)
{
	unsetenv("FI_EFA_ENABLE_SHM_TRANSFER");
	fabric_prepare_env("tcp");
	assert_null(getenv("FI_EFA_ENABLE_SHM_TRANSFER"));
	setenv("FI_EFA_ENABLE_SHM_TRANSFER", "1", 1);
	fabric_prepare_env("efa");
	assert_string_equal(getenv("FI_EFA_ENABLE_SHM_TRANSFER"), "0");
	unsetenv("FI_EFA_ENABLE_SHM_TRANSFER");
}

/* Issue 9 point 8: the EFA installer's libfabric first (lib64, then lib), then the build-time
 * one, then the soname; LibfabricPath= alone when set. */
static void test_library_candidates(void **state)
{
	const char *c[8];
	size_t n = fabric_library_candidates(NULL, c, 8);

	assert_true(n >= 3);
	assert_string_equal(c[0], "/opt/amazon/efa/lib64/libfabric.so.1");
	assert_string_equal(c[1], "/opt/amazon/efa/lib/libfabric.so.1");
	assert_string_equal(c[n - 1], "libfabric.so.1");
	for (size_t i = 0; i < n; i++)
		assert_true(c[i][0] != '\0');
	assert_int_equal(fabric_library_candidates("", c, 8), n);
	assert_int_equal(fabric_library_candidates("/x/libfabric.so.1", c, 8), 1);
	assert_string_equal(c[0], "/x/libfabric.so.1");
	assert_int_equal(fabric_library_candidates(NULL, c, 2), 2);
}

static void test_library_path_reported(void **state)
{
	const char *path = fabric_library_path();

	assert_non_null(path);
	assert_true(path[0] == '/');
	assert_non_null(strstr(path, "libfabric.so"));
}

static void test_version_string(void **state)
{
	char v[32];
	unsigned a, b, r;

	fabric_version(v, sizeof(v));
	assert_int_equal(sscanf(v, "%u.%u.%u", &a, &b, &r), 3);
	assert_true(a >= 1);
	assert_true(fabric_api_version() >= FI_VERSION(1, 9));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_string),
		cmocka_unit_test(test_library_candidates),
		cmocka_unit_test(test_library_path_reported),
		cmocka_unit_test(test_prepare_env_efa),
		cmocka_unit_test(test_provider_tcp_found),
		cmocka_unit_test(test_provider_marks_loopback_domains),
		cmocka_unit_test(test_provider_wanted_domain_selected),
		cmocka_unit_test(test_provider_wanted_domain_missing),
		cmocka_unit_test(test_provider_efa_missing_lists_available),
		cmocka_unit_test(test_loopback_tcp_lo),
		cmocka_unit_test(test_loopback_shm),
		cmocka_unit_test(test_loopback_min_gbps_enforced),
		cmocka_unit_test(test_loopback_unknown_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
