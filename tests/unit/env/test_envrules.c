/*
 * test_envrules.c -- the EFA/NCCL environment rules (prolog/env/envrules.c): every combination
 * that matters (libfabric 1.17 / 1.18+ / 2.x, kernel 5.10 / 6.x, p4d / c5n / trn1 / unknown
 * instance, aws-ofi-nccl absent / old / new / unknown version), the admin's Env= and
 * EnvForce=, the lint of a user's environment, and the spank text form round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "env/envrules.h"

enum inst { P4D, C5N, TRN1, UNKNOWN_TYPE, P5 };

static void facts(struct env_facts *f, const char *lf, const char *kernel, enum inst inst)
{
	env_facts_init(f);
	assert_int_equal(env_version_parse(lf, &f->libfabric), 0);
	assert_int_equal(env_version_parse(kernel, &f->kernel), 0);
	f->ofi = ENV_OFI_ABSENT;
	switch (inst) {
	case P4D:
		strcpy(f->instance_type, "p4d.24xlarge");
		f->have_profile = true, f->rdma_read = true, f->gpus = 8, f->efa_devices = 4;
		f->efa_device_id = 0xefa1;
		break;
	case P5:
		strcpy(f->instance_type, "p5.48xlarge");
		f->have_profile = true, f->rdma_read = true, f->gpus = 8, f->efa_devices = 32;
		f->efa_device_id = 0xefa2;
		break;
	case C5N:
		strcpy(f->instance_type, "c5n.18xlarge");
		f->have_profile = true, f->rdma_read = false, f->gpus = 0, f->efa_devices = 1;
		f->efa_device_id = 0xefa0;
		break;
	case TRN1:
		strcpy(f->instance_type, "trn1.32xlarge");
		f->have_profile = true, f->rdma_read = true, f->gpus = 0, f->efa_devices = 8;
		f->efa_device_id = 0xefa2;
		break;
	case UNKNOWN_TYPE:
		strcpy(f->instance_type, "x9z.huge");
		f->efa_devices = 2;
		break;
	}
}

static struct env_set S;

static void compute(const struct env_facts *f)
{
	char err[256] = "";

	assert_int_equal(envrules_compute(f, NULL, 0, &S, err, sizeof(err)), 0);
}

static const char *val(const char *name)
{
	const struct env_entry *e = env_set_find(&S, name);

	return e ? e->value : NULL;
}

static bool has_note(const char *needle)
{
	for (size_t i = 0; i < S.nnotes; i++)
		if (strstr(S.notes[i], needle))
			return true;
	return false;
}

/* ---- versions ---- */

static void test_version_parse(void **state)
{
	struct env_version v;

	assert_int_equal(env_version_parse("1.17.0", &v), 0);
	assert_int_equal(v.major, 1); assert_int_equal(v.minor, 17); assert_int_equal(v.patch, 0);
	assert_int_equal(env_version_parse("2.1.0amzn3.0", &v), 0);
	assert_int_equal(v.major, 2); assert_int_equal(v.minor, 1);
	assert_int_equal(env_version_parse("6.1.0-18-amd64", &v), 0);
	assert_int_equal(v.major, 6); assert_int_equal(v.minor, 1);
	assert_int_equal(env_version_parse("5.10", &v), 0);
	assert_int_equal(v.major, 5); assert_int_equal(v.minor, 10); assert_int_equal(v.patch, 0);
	assert_int_equal(env_version_parse("v1.2", &v), -1);
	assert_false(env_version_known(&v));
	assert_int_equal(env_version_parse("", &v), -1);
	env_version_parse("1.18.0", &v);
	assert_true(env_version_cmp(&v, 1, 18, 0) == 0);
	assert_true(env_version_cmp(&v, 1, 17, 9) > 0);
	assert_true(env_version_cmp(&v, 1, 20, 0) < 0);
	assert_true(env_version_cmp(&v, 2, 0, 0) < 0);
}

/* ---- FI_EFA_USE_DEVICE_RDMA: libfabric x instance ---- */

static void test_rdma_p4d_lf117(void **state)
{
	struct env_facts f;

	facts(&f, "1.17.0", "6.1.0", P4D);
	compute(&f);
	assert_string_equal(val("FI_EFA_USE_DEVICE_RDMA"), "1");
	assert_non_null(strstr(env_set_find(&S, "FI_EFA_USE_DEVICE_RDMA")->why, "1.17.0 < 1.18"));
	assert_int_equal(env_set_find(&S, "FI_EFA_USE_DEVICE_RDMA")->mode, ENV_DEFAULT);
}

/* libfabric >= 1.18: the default follows the API version the application requests
 * (efa_rdm_util.c efa_rdm_get_use_device_rdma): older-API applications get it off on
 * efa0/efa1 (p4d), on for efa2+ (p5) -- so p4d still gets the variable, p5 does not. */
static void test_rdma_lf118_api_version(void **state)
{
	const char *versions[] = { "1.18.0", "1.22.0amzn1.0", "2.1.0amzn3.0" };
	struct env_facts f;

	for (size_t i = 0; i < 3; i++) {
		facts(&f, versions[i], "6.1.0", P4D);
		compute(&f);
		assert_string_equal(val("FI_EFA_USE_DEVICE_RDMA"), "1");
		assert_non_null(strstr(env_set_find(&S, "FI_EFA_USE_DEVICE_RDMA")->why, "API >= 1.18"));
		assert_non_null(strstr(env_set_find(&S, "FI_EFA_USE_DEVICE_RDMA")->why, "0xefa1"));
		facts(&f, versions[i], "6.1.0", P5);
		compute(&f);
		assert_null(val("FI_EFA_USE_DEVICE_RDMA"));
		assert_true(has_note("FI_EFA_USE_DEVICE_RDMA not needed"));
		/* device id unknown, RDMA read known: setting 1 is harmless, so set it */
		f.efa_device_id = -1;
		compute(&f);
		assert_string_equal(val("FI_EFA_USE_DEVICE_RDMA"), "1");
	}
}

static void test_rdma_trn1(void **state)
{
	struct env_facts f;

	facts(&f, "1.17.1", "5.10.210", TRN1);
	compute(&f);
	assert_string_equal(val("FI_EFA_USE_DEVICE_RDMA"), "1");
	facts(&f, "1.19.0", "5.10.210", TRN1);
	compute(&f);
	assert_null(val("FI_EFA_USE_DEVICE_RDMA"));
}

static void test_rdma_c5n_never(void **state)
{
	const char *versions[] = { "1.17.0", "1.18.0", "2.0.0" };
	struct env_facts f;

	for (size_t i = 0; i < 3; i++) {
		facts(&f, versions[i], "5.10.0", C5N);
		compute(&f);
		assert_null(val("FI_EFA_USE_DEVICE_RDMA"));
		assert_true(has_note("no RDMA read"));
		/* still an EFA node */
		assert_string_equal(val("FI_PROVIDER"), "efa");
	}
}

static void test_rdma_unknown_instance(void **state)
{
	struct env_facts f;

	facts(&f, "1.17.0", "6.1.0", UNKNOWN_TYPE);
	compute(&f);
	assert_null(val("FI_EFA_USE_DEVICE_RDMA"));
	assert_true(has_note("not in the profile table"));
	assert_string_equal(val("FI_PROVIDER"), "efa");  /* EFA devices were found */
	/* GPUs unknown and no OFI plugin: no NCCL variables */
	assert_null(val("NCCL_SOCKET_IFNAME"));
}

static void test_rdma_unknown_libfabric(void **state)
{
	struct env_facts f;

	facts(&f, "1.17.0", "6.1.0", P4D);
	f.libfabric.major = -1;
	compute(&f);
	assert_null(val("FI_EFA_USE_DEVICE_RDMA"));
	assert_true(has_note("libfabric version unknown"));
}

/* ---- FI_EFA_FORK_SAFE: kernel ---- */

/* efa_fork_support.c: "Linux Kernel 5.13+ with rdma-core v35.0+" needs no fork support */
static void test_fork_safe_kernel(void **state)
{
	struct env_facts f;

	facts(&f, "1.18.0", "5.10.215-203.850.amzn2.x86_64", P4D);
	compute(&f);
	assert_string_equal(val("FI_EFA_FORK_SAFE"), "1");
	assert_non_null(strstr(env_set_find(&S, "FI_EFA_FORK_SAFE")->why, "< 5.13"));
	assert_non_null(strstr(env_set_find(&S, "FI_EFA_FORK_SAFE")->why, "aborts"));
	facts(&f, "1.18.0", "5.12.19", P4D);
	compute(&f);
	assert_string_equal(val("FI_EFA_FORK_SAFE"), "1");
	facts(&f, "1.18.0", "5.13.0", P4D);
	compute(&f);
	assert_null(val("FI_EFA_FORK_SAFE"));
	facts(&f, "1.18.0", "5.15.0-1051-aws", P4D);
	compute(&f);
	assert_null(val("FI_EFA_FORK_SAFE"));
	facts(&f, "1.18.0", "6.8.0-1009-aws", P4D);
	compute(&f);
	assert_null(val("FI_EFA_FORK_SAFE"));
	f.kernel.major = -1;
	compute(&f);
	assert_null(val("FI_EFA_FORK_SAFE"));
	assert_true(has_note("kernel version unknown"));
}

/* FI_PROVIDER stays, with the reason that is true for current aws-ofi-nccl */
static void test_provider_reason(void **state)
{
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P5);
	f.ofi = ENV_OFI_PRESENT;
	env_version_parse("1.15.0", &f.ofi_version);
	compute(&f);
	assert_string_equal(val("FI_PROVIDER"), "efa");
	assert_non_null(strstr(env_set_find(&S, "FI_PROVIDER")->why, "MPI"));
	assert_non_null(strstr(env_set_find(&S, "FI_PROVIDER")->why, "picks efa by itself"));
}

/* FI_EFA_USE_HUGE_PAGE=0 is the admin's choice for nodes whose jobs fork, not a default */
static void test_huge_page_not_default(void **state)
{
	struct config_env admin[] = { { .name = "FI_EFA_USE_HUGE_PAGE", .value = "0", .force = false } };
	struct env_facts f;
	char err[64];

	facts(&f, "1.22.0", "6.1.0", P5);
	compute(&f);
	assert_null(val("FI_EFA_USE_HUGE_PAGE"));
	assert_true(has_note("Env=FI_EFA_USE_HUGE_PAGE=0"));
	assert_int_equal(envrules_compute(&f, admin, 1, &S, err, sizeof(err)), 0);
	assert_string_equal(val("FI_EFA_USE_HUGE_PAGE"), "0");
}

/* ---- common variables ---- */

static void test_common_efa(void **state)
{
	struct env_facts f;

	facts(&f, "1.18.0", "6.1.0", P5);
	compute(&f);
	assert_string_equal(val("FI_PROVIDER"), "efa");
	assert_null(val("FI_EFA_USE_HUGE_PAGE"));
	assert_string_equal(val("NCCL_SOCKET_IFNAME"), "^docker,lo,veth");  /* GPUs */
	assert_null(val("NCCL_PROTO"));
	assert_null(val("FI_EFA_SET_CUDA_SYNC_MEMOPS"));
	assert_true(has_note("no aws-ofi-nccl plugin found"));
	for (size_t i = 0; i < S.n; i++) {
		assert_true(S.e[i].why[0] != '\0');
		assert_int_equal(S.e[i].mode, ENV_DEFAULT);
	}
}

static void test_trn1_no_gpu_no_nccl_vars(void **state)
{
	struct env_facts f;

	facts(&f, "1.18.0", "6.1.0", TRN1);
	compute(&f);
	assert_null(val("NCCL_SOCKET_IFNAME"));
	assert_false(has_note("NCCL will fall back"));
}

/* ---- aws-ofi-nccl ---- */

static void test_ofi_old(void **state)
{
	struct env_facts f;

	facts(&f, "1.17.0", "5.10.0", P4D);
	f.ofi = ENV_OFI_PRESENT;
	env_version_parse("1.5.0", &f.ofi_version);
	compute(&f);
	assert_string_equal(val("NCCL_PROTO"), "simple");
	assert_non_null(strstr(env_set_find(&S, "FI_PROVIDER")->why, "aws-ofi-nccl 1.5.0"));
	assert_string_equal(val("NCCL_SOCKET_IFNAME"), "^docker,lo,veth");
	/* everything for an old p4d stack */
	assert_string_equal(val("FI_EFA_USE_DEVICE_RDMA"), "1");
	assert_string_equal(val("FI_EFA_FORK_SAFE"), "1");
}

static void test_ofi_new(void **state)
{
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P4D);
	f.ofi = ENV_OFI_PRESENT;
	env_version_parse("1.7.4", &f.ofi_version);
	compute(&f);
	assert_null(val("NCCL_PROTO"));
	assert_string_equal(val("NCCL_SOCKET_IFNAME"), "^docker,lo,veth");
	assert_false(has_note("NCCL will fall back"));
}

static void test_ofi_unknown_version(void **state)
{
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", TRN1);
	f.ofi = ENV_OFI_PRESENT;
	strcpy(f.ofi_path, "/opt/amazon/ofi-nccl/lib/libnccl-net.so");
	compute(&f);
	assert_null(val("NCCL_PROTO"));
	assert_string_equal(val("NCCL_SOCKET_IFNAME"), "^docker,lo,veth");  /* plugin present */
	assert_true(has_note("version unknown"));
}

/* ---- non-EFA nodes ---- */

static void test_no_efa_devices(void **state)
{
	struct env_facts f;

	facts(&f, "1.17.0", "6.1.0", UNKNOWN_TYPE);
	f.efa_devices = 0;
	compute(&f);
	assert_int_equal(S.n, 0);
	assert_true(has_note("no EFA devices"));
	/* p4d profile but devices missing: still not an EFA node for the environment */
	facts(&f, "1.17.0", "6.1.0", P4D);
	f.efa_devices = 0;
	compute(&f);
	assert_int_equal(S.n, 0);
	/* devices unknown: the profile decides */
	f.efa_devices = -1;
	assert_true(env_is_efa_node(&f));
}

static void test_other_provider(void **state)
{
	struct env_facts f;

	facts(&f, "1.17.0", "6.1.0", UNKNOWN_TYPE);
	strcpy(f.provider, "tcp");
	f.efa_devices = 0;
	compute(&f);
	assert_int_equal(S.n, 1);
	assert_string_equal(val("FI_PROVIDER"), "tcp");
	assert_non_null(strstr(S.e[0].why, "Provider=tcp"));
	/* even on a p4d with devices: the admin chose the provider */
	facts(&f, "1.17.0", "6.1.0", P4D);
	strcpy(f.provider, "shm");
	compute(&f);
	assert_int_equal(S.n, 1);
	assert_string_equal(val("FI_PROVIDER"), "shm");
}

/* ---- admin Env= / EnvForce= ---- */

static void test_admin_merge(void **state)
{
	struct config_env admin[] = {
		{ .name = "FI_EFA_USE_HUGE_PAGE", .value = "1", .force = false },
		{ .name = "NCCL_DEBUG", .value = "WARN", .force = false },
		{ .name = "FI_PROVIDER", .value = "efa", .force = true },
		{ .name = "NCCL_SOCKET_IFNAME", .value = "", .force = false },
	};
	struct env_facts f;
	char err[256];

	facts(&f, "1.17.0", "6.1.0", P4D);
	assert_int_equal(envrules_compute(&f, admin, 4, &S, err, sizeof(err)), 0);
	assert_string_equal(val("FI_EFA_USE_HUGE_PAGE"), "1");
	assert_int_equal(env_set_find(&S, "FI_EFA_USE_HUGE_PAGE")->mode, ENV_DEFAULT);
	assert_non_null(strstr(env_set_find(&S, "FI_EFA_USE_HUGE_PAGE")->why, "Env (admin default)"));
	assert_string_equal(val("NCCL_DEBUG"), "WARN");
	assert_int_equal(env_set_find(&S, "FI_PROVIDER")->mode, ENV_FORCE);
	assert_null(val("NCCL_SOCKET_IFNAME"));       /* empty value removes */
	assert_true(has_note("NCCL_SOCKET_IFNAME not set"));
	assert_string_equal(val("FI_EFA_USE_DEVICE_RDMA"), "1");
}

static void test_admin_invalid(void **state)
{
	struct config_env bad_name[] = { { .name = "BAD-NAME", .value = "1" } };
	struct config_env bad_value[] = { { .name = "OK", .value = "a\nb" } };
	struct env_facts f;
	char err[256] = "";

	facts(&f, "1.17.0", "6.1.0", P4D);
	assert_int_equal(envrules_compute(&f, bad_name, 1, &S, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "BAD-NAME"));
	assert_int_equal(envrules_compute(&f, bad_value, 1, &S, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "OK"));
}

/* ---- lint ---- */

static struct env_warning W[32];

static size_t lint(char *const *envp)
{
	return envrules_lint(&S, envp, W, 32);
}

static bool warned(size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(W[i].name, name))
			return true;
	return false;
}

static void test_lint_clean(void **state)
{
	char *envp[] = { "PATH=/usr/bin", "FI_PROVIDER=efa", "NCCL_PROTO=LL128", NULL };
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P4D);
	compute(&f);
	assert_int_equal(lint(envp), 0);
	assert_int_equal(lint(NULL), 0);
}

static void test_lint_abort_vars(void **state)
{
	char *envp[] = { "FI_EFA_MTU_SIZE=8192", "FI_EFA_TX_IOV_LIMIT=1", "FI_EFA_RX_IOV_LIMIT=2",
			 "RDMAV_FORK_SAFE=1", "RDMAV_HUGEPAGES_SAFE=1", NULL };
	struct env_facts f;
	size_t n;

	facts(&f, "1.22.0", "6.1.0", P4D);
	compute(&f);
	n = lint(envp);
	assert_int_equal(n, 5);
	assert_true(warned(n, "FI_EFA_MTU_SIZE"));
	assert_true(warned(n, "FI_EFA_TX_IOV_LIMIT"));
	assert_true(warned(n, "FI_EFA_RX_IOV_LIMIT"));
	assert_true(warned(n, "RDMAV_FORK_SAFE"));
	assert_true(warned(n, "RDMAV_HUGEPAGES_SAFE"));
	assert_non_null(strstr(W[0].text, "aborts"));
}

static void test_lint_nccl_proto(void **state)
{
	char *envp[] = { "NCCL_PROTO=Simple", NULL };
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P4D);
	f.ofi = ENV_OFI_PRESENT;
	env_version_parse("1.9.1", &f.ofi_version);
	compute(&f);
	assert_true(warned(lint(envp), "NCCL_PROTO"));
	env_version_parse("1.5.0", &f.ofi_version);
	compute(&f);
	assert_false(warned(lint(envp), "NCCL_PROTO"));
	f.ofi = ENV_OFI_ABSENT;
	compute(&f);
	assert_false(warned(lint(envp), "NCCL_PROTO"));
}

static void test_lint_fork_safe(void **state)
{
	char *envp[] = { "FI_EFA_FORK_SAFE=1", NULL };
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P4D);
	compute(&f);
	assert_true(warned(lint(envp), "FI_EFA_FORK_SAFE"));
	facts(&f, "1.22.0", "5.10.0", P4D);
	compute(&f);
	assert_false(warned(lint(envp), "FI_EFA_FORK_SAFE"));
}

static void test_lint_device_rdma(void **state)
{
	char *on[] = { "FI_EFA_USE_DEVICE_RDMA=1", NULL };
	char *off[] = { "FI_EFA_USE_DEVICE_RDMA=0", NULL };
	struct env_facts f;

	facts(&f, "1.17.0", "6.1.0", C5N);
	compute(&f);
	assert_true(warned(lint(on), "FI_EFA_USE_DEVICE_RDMA"));
	assert_non_null(strstr(W[0].text, "abort"));
	assert_false(warned(lint(off), "FI_EFA_USE_DEVICE_RDMA"));
	facts(&f, "1.17.0", "6.1.0", P4D);
	compute(&f);
	assert_false(warned(lint(on), "FI_EFA_USE_DEVICE_RDMA"));
	facts(&f, "1.17.0", "6.1.0", UNKNOWN_TYPE);
	compute(&f);
	assert_false(warned(lint(on), "FI_EFA_USE_DEVICE_RDMA"));
}

static void test_lint_cuda_sync_memops(void **state)
{
	char *envp[] = { "FI_EFA_SET_CUDA_SYNC_MEMOPS=0", NULL };
	struct env_facts f;

	facts(&f, "1.20.0", "6.1.0", P5);
	compute(&f);
	assert_true(warned(lint(envp), "FI_EFA_SET_CUDA_SYNC_MEMOPS"));
	facts(&f, "2.0.0", "6.1.0", P5);
	compute(&f);
	assert_true(warned(lint(envp), "FI_EFA_SET_CUDA_SYNC_MEMOPS"));
	facts(&f, "1.19.0", "6.1.0", P5);
	compute(&f);
	assert_false(warned(lint(envp), "FI_EFA_SET_CUDA_SYNC_MEMOPS"));
	facts(&f, "1.17.0", "6.1.0", P5);
	compute(&f);
	assert_false(warned(lint(envp), "FI_EFA_SET_CUDA_SYNC_MEMOPS"));
}

static void test_lint_provider(void **state)
{
	char *tcp[] = { "FI_PROVIDER=tcp", NULL };
	char *not_efa[] = { "FI_PROVIDER=^efa", NULL };
	char *efa_shm[] = { "FI_PROVIDER=efa,shm", NULL };
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P4D);
	compute(&f);
	assert_true(warned(lint(tcp), "FI_PROVIDER"));
	assert_true(warned(lint(not_efa), "FI_PROVIDER"));
	assert_false(warned(lint(efa_shm), "FI_PROVIDER"));
	/* not an EFA node: nothing to say */
	f.efa_devices = 0;
	compute(&f);
	assert_false(warned(lint(tcp), "FI_PROVIDER"));
}

/* efa_fork_support.c aborts on FI_EFA_USE_HUGE_PAGE=1 with fork support on, and aws-ofi-nccl
 * turns fork support on in every NCCL process (platform-aws.cpp) */
static void test_lint_huge_page(void **state)
{
	char *on[] = { "FI_EFA_USE_HUGE_PAGE=1", NULL };
	char *on_fork[] = { "FI_EFA_USE_HUGE_PAGE=yes", "FI_EFA_FORK_SAFE=1", NULL };
	char *off[] = { "FI_EFA_USE_HUGE_PAGE=0", NULL };
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P5);             /* GPUs: NCCL runs here */
	compute(&f);
	assert_true(warned(lint(on), "FI_EFA_USE_HUGE_PAGE"));
	assert_non_null(strstr(W[0].text, "aborts"));
	assert_false(warned(lint(off), "FI_EFA_USE_HUGE_PAGE"));
	facts(&f, "1.22.0", "6.1.0", C5N);            /* no GPUs, no plugin: no fork support */
	compute(&f);
	assert_false(warned(lint(on), "FI_EFA_USE_HUGE_PAGE"));
	assert_true(warned(lint(on_fork), "FI_EFA_USE_HUGE_PAGE"));
	facts(&f, "1.22.0", "5.10.0", C5N);           /* the set turns fork support on */
	compute(&f);
	assert_true(warned(lint(on), "FI_EFA_USE_HUGE_PAGE"));
}

/* efa_user_info.c: use_device_rdma=0 or FI_HMEM_P2P_DISABLED=1 take GPUDirect away */
static void test_lint_gpudirect_off(void **state)
{
	char *rdma0[] = { "FI_EFA_USE_DEVICE_RDMA=0", NULL };
	char *rdma_no[] = { "FI_EFA_USE_DEVICE_RDMA=no", NULL };
	char *p2p[] = { "FI_HMEM_P2P_DISABLED=1", NULL };
	char *p2p0[] = { "FI_HMEM_P2P_DISABLED=0", NULL };
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P5);
	compute(&f);
	assert_true(warned(lint(rdma0), "FI_EFA_USE_DEVICE_RDMA"));
	assert_non_null(strstr(W[0].text, "GPUDirect"));
	assert_true(warned(lint(rdma_no), "FI_EFA_USE_DEVICE_RDMA"));
	assert_true(warned(lint(p2p), "FI_HMEM_P2P_DISABLED"));
	assert_false(warned(lint(p2p0), "FI_HMEM_P2P_DISABLED"));
	facts(&f, "1.22.0", "6.1.0", TRN1);           /* no GPUs: not a GPUDirect instance */
	compute(&f);
	assert_false(warned(lint(rdma0), "FI_EFA_USE_DEVICE_RDMA"));
	assert_false(warned(lint(p2p), "FI_HMEM_P2P_DISABLED"));
	facts(&f, "1.22.0", "6.1.0", C5N);
	compute(&f);
	assert_false(warned(lint(rdma0), "FI_EFA_USE_DEVICE_RDMA"));
}

static void test_lint_nccl_net_socket(void **state)
{
	char *sock[] = { "NCCL_NET=Socket", NULL };
	char *ofi[] = { "NCCL_NET=AWS Libfabric", NULL };
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P5);
	compute(&f);
	assert_true(warned(lint(sock), "NCCL_NET"));
	assert_non_null(strstr(W[0].text, "sockets"));
	assert_false(warned(lint(ofi), "NCCL_NET"));
	f.efa_devices = 0;                              /* not an EFA node */
	compute(&f);
	assert_false(warned(lint(sock), "NCCL_NET"));
}

/* efa_env.c "iface": a comma list restricting the eligible NICs */
static void test_lint_efa_iface(void **state)
{
	char *one[] = { "FI_EFA_IFACE=rdmap16s27", NULL };
	char *all4[] = { "FI_EFA_IFACE=rdmap16s27,rdmap32s27,rdmap144s27,rdmap160s27", NULL };
	char *all[] = { "FI_EFA_IFACE=all", NULL };
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P4D);
	compute(&f);
	assert_true(warned(lint(one), "FI_EFA_IFACE"));
	assert_non_null(strstr(W[0].text, "1 of the 4"));
	assert_false(warned(lint(all4), "FI_EFA_IFACE"));
	assert_false(warned(lint(all), "FI_EFA_IFACE"));
	f.efa_devices = -1;
	compute(&f);
	assert_true(warned(lint(all4), "FI_EFA_IFACE"));
}

static void test_lint_skips_forced(void **state)
{
	struct config_env admin[] = { { .name = "FI_PROVIDER", .value = "efa", .force = true },
				      { .name = "FI_EFA_MTU_SIZE", .value = "8000", .force = true } };
	char *envp[] = { "FI_PROVIDER=tcp", "FI_EFA_MTU_SIZE=1", NULL };
	struct env_facts f;
	char err[64];

	facts(&f, "1.22.0", "6.1.0", P4D);
	assert_int_equal(envrules_compute(&f, admin, 2, &S, err, sizeof(err)), 0);
	assert_int_equal(lint(envp), 0);
}

static void test_lint_bounded(void **state)
{
	char *envp[] = { "RDMAV_A=1", "RDMAV_B=1", "RDMAV_C=1", NULL };
	struct env_facts f;

	facts(&f, "1.22.0", "6.1.0", P4D);
	compute(&f);
	assert_int_equal(envrules_lint(&S, envp, W, 2), 2);
}

/* ---- spank form ---- */

static void test_spank_roundtrip(void **state)
{
	struct config_env admin[] = { { .name = "NCCL_DEBUG", .value = "INFO with spaces", .force = true } };
	struct env_facts f;
	struct env_set back;
	char buf[8192], err[256];
	long len;

	facts(&f, "1.17.0", "5.10.0", P4D);
	f.ofi = ENV_OFI_PRESENT;
	env_version_parse("1.5.0", &f.ofi_version);
	assert_int_equal(envrules_compute(&f, admin, 1, &S, err, sizeof(err)), 0);
	strcpy(S.config, "/etc/slurm/efa-check.conf");
	strcpy(S.key, "c0123456789abcdefp0123456789abcdef");
	len = envrules_format_spank(&S, buf, sizeof(buf));
	assert_true(len > 0);
	assert_non_null(strstr(buf, "set FI_EFA_USE_DEVICE_RDMA 1\n"));
	assert_non_null(strstr(buf, "force NCCL_DEBUG INFO with spaces\n"));
	assert_int_equal(envrules_parse_spank(buf, &back, err, sizeof(err)), 0);
	assert_int_equal(back.n, S.n);
	for (size_t i = 0; i < S.n; i++) {
		assert_string_equal(back.e[i].name, S.e[i].name);
		assert_string_equal(back.e[i].value, S.e[i].value);
		assert_string_equal(back.e[i].why, S.e[i].why);
		assert_int_equal(back.e[i].mode, S.e[i].mode);
	}
	assert_int_equal(back.nnotes, S.nnotes);
	assert_string_equal(back.config, "/etc/slurm/efa-check.conf");
	assert_string_equal(back.key, "c0123456789abcdefp0123456789abcdef");
	assert_true(back.have_facts);
	assert_int_equal(back.facts.libfabric.minor, 17);
	assert_int_equal(back.facts.kernel.minor, 10);
	assert_int_equal(back.facts.efa_devices, 4);
	assert_int_equal(back.facts.gpus, 8);
	assert_true(back.facts.rdma_read);
	assert_true(back.facts.have_profile);
	assert_int_equal(back.facts.ofi, ENV_OFI_PRESENT);
	assert_int_equal(back.facts.ofi_version.minor, 5);
	assert_string_equal(back.facts.instance_type, "p4d.24xlarge");
	/* too small a buffer fails, never truncates silently */
	assert_int_equal(envrules_format_spank(&S, buf, 64), -1);
}

static void test_spank_rejects(void **state)
{
	const char *bad[] = {
		"",
		"efa-check-env 1\n",                                   /* no end */
		"efa-check-env 2\nend\n",                              /* version */
		"efa-check-env 1\nset FI_PROVIDER efa\nend",           /* truncated last line */
		"efa-check-env 1\nset BAD-NAME x\nend\n",
		"efa-check-env 1\nset X\nend\n",                       /* no value */
		"efa-check-env 1\nset X 1\nset X 2\nend\n",            /* twice */
		"efa-check-env 1\nbogus x\nend\n",
		"efa-check-env 1\nwhy NOPE because\nend\n",
		"efa-check-env 1\nset X a\tb\nend\n",                  /* control char */
		"efa-check-env 1\nend\nset X 1\n",                     /* after end */
		"efa-check-env 1\nfacts libfabric\nend\n",
	};
	struct env_set s;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(envrules_parse_spank(bad[i], &s, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(envrules_parse_spank("efa-check-env 1\nset A 1\nforce B x y\nend\n", &s,
					      err, sizeof(err)), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.e[1].value, "x y");
	assert_int_equal(s.e[1].mode, ENV_FORCE);
	assert_false(s.have_facts);
}

static void test_facts_unknown_roundtrip(void **state)
{
	struct env_facts f, g;
	char buf[1024];

	env_facts_init(&f);
	env_facts_format(&f, buf, sizeof(buf));
	assert_int_equal(env_facts_parse(buf, &g), 0);
	assert_false(env_version_known(&g.libfabric));
	assert_false(env_version_known(&g.kernel));
	assert_int_equal(g.efa_devices, -1);
	assert_int_equal(g.efa_device_id, -1);
	assert_int_equal(g.gpus, -1);
	assert_int_equal(g.ofi, ENV_OFI_UNKNOWN);
	assert_string_equal(g.instance_type, "");
	assert_int_equal(env_facts_parse("future_key=1 provider=tcp", &g), 0);
	assert_string_equal(g.provider, "tcp");
	assert_int_equal(env_facts_parse("efa_devices=lots", &g), -1);
	f.efa_device_id = 0xefa1;
	env_facts_format(&f, buf, sizeof(buf));
	assert_non_null(strstr(buf, "efa_device_id=0xefa1"));
	assert_int_equal(env_facts_parse(buf, &g), 0);
	assert_int_equal(g.efa_device_id, 0xefa1);
	assert_int_equal(env_facts_parse("efa_device_id=efa1", &g), -1);
	assert_int_equal(env_facts_parse("efa_device_id=0x1zz", &g), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_parse),
		cmocka_unit_test(test_rdma_p4d_lf117),
		cmocka_unit_test(test_rdma_lf118_api_version),
		cmocka_unit_test(test_rdma_trn1),
		cmocka_unit_test(test_rdma_c5n_never),
		cmocka_unit_test(test_rdma_unknown_instance),
		cmocka_unit_test(test_rdma_unknown_libfabric),
		cmocka_unit_test(test_fork_safe_kernel),
		cmocka_unit_test(test_provider_reason),
		cmocka_unit_test(test_huge_page_not_default),
		cmocka_unit_test(test_common_efa),
		cmocka_unit_test(test_trn1_no_gpu_no_nccl_vars),
		cmocka_unit_test(test_ofi_old),
		cmocka_unit_test(test_ofi_new),
		cmocka_unit_test(test_ofi_unknown_version),
		cmocka_unit_test(test_no_efa_devices),
		cmocka_unit_test(test_other_provider),
		cmocka_unit_test(test_admin_merge),
		cmocka_unit_test(test_admin_invalid),
		cmocka_unit_test(test_lint_clean),
		cmocka_unit_test(test_lint_abort_vars),
		cmocka_unit_test(test_lint_nccl_proto),
		cmocka_unit_test(test_lint_fork_safe),
		cmocka_unit_test(test_lint_device_rdma),
		cmocka_unit_test(test_lint_cuda_sync_memops),
		cmocka_unit_test(test_lint_provider),
		cmocka_unit_test(test_lint_huge_page),
		cmocka_unit_test(test_lint_gpudirect_off),
		cmocka_unit_test(test_lint_nccl_net_socket),
		cmocka_unit_test(test_lint_efa_iface),
		cmocka_unit_test(test_lint_skips_forced),
		cmocka_unit_test(test_lint_bounded),
		cmocka_unit_test(test_spank_roundtrip),
		cmocka_unit_test(test_spank_rejects),
		cmocka_unit_test(test_facts_unknown_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
