/*
 * test_gpu.c -- the GPU check against the CPU test double of libcudart
 * (build/tests/doubles/libcudart-double.so, tests/doubles/README.md) and the real libfabric
 * tcp and shm providers. Run from the repository root, after
 *   make build/tests/doubles/libcudart-double.so
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "checks/gpu.h"
#include "checks/gpu_dmabuf.h"
#include "core/report.h"

#define DOUBLE "build/tests/doubles/libcudart-double.so"

static struct efa_config cfg;
static void *double_handle;
static int (*live_allocs)(void);
static long (*total_allocs)(void);

/* Keep our own handle on the double: its allocation counters then survive gpu_check's
 * dlopen/dlclose, and tests can ask it whether every buffer was freed. */
static int group_setup(void **state)
{
	double_handle = dlopen(DOUBLE, RTLD_NOW | RTLD_LOCAL);
	if (!double_handle) {
		fprintf(stderr, "test_gpu: %s (build it: make %s)\n", dlerror(), DOUBLE);
		return -1;
	}
	*(void **)&live_allocs = dlsym(double_handle, "efa_test_cudart_live_allocs");
	*(void **)&total_allocs = dlsym(double_handle, "efa_test_cudart_total_allocs");
	return live_allocs && total_allocs ? 0 : -1;
}

static int group_teardown(void **state)
{
	if (double_handle)
		dlclose(double_handle);
	return 0;
}

static int setup(void **state)
{
	config_defaults(&cfg);
	snprintf(cfg.cuda_library, sizeof(cfg.cuda_library), "%s", DOUBLE);
	unsetenv("EFA_TEST_GPUS");
	unsetenv("EFA_TEST_GPU_FAIL");
	unsetenv("EFA_TEST_CUDA_DRIVER_VERSION");
	return 0;
}

static int teardown(void **state)
{
	config_free(&cfg);
	unsetenv("EFA_TEST_GPUS");
	unsetenv("EFA_TEST_GPU_FAIL");
	return 0;
}

static double metric(const struct check_result *c, const char *name)
{
	for (int i = 0; i < c->nmetrics; i++)
		if (!strcmp(c->metrics[i].name, name))
			return c->metrics[i].value;
	return -1;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* /proc/self/cgroup as the check reads it (NULL = the real one). */
static const char *cgroup_file;

/* Run the check with provider/domain (NULL = no domains) and the given expectation. */
static int run(const char *provider, const char *domain, int expected, struct check_result *c)
{
	char *domains[1] = { (char *)domain };
	struct gpu_opts o = {
		.cfg = &cfg,
		.provider = provider ? provider : "tcp",
		.domains = domain ? domains : NULL,
		.ndomains = domain ? 1 : 0,
		.expected_gpus = expected,
		.cgroup_file = cgroup_file,
	};
	int rc;

	check_init(c, "gpu", NULL);
	rc = gpu_check(&o, c);
	assert_int_equal(live_allocs(), 0);   /* every GPU buffer freed, on every path */
	return rc;
}

/* ---- GPU count ---- */

static void no_gpus_auto_is_skipped(void **state)
{
	struct check_result c;

	assert_int_equal(run(NULL, NULL, -1, &c), 0);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_string_equal(c.detail, "no GPUs (cudaGetDeviceCount: no CUDA-capable device is detected)");
	assert_string_equal(c.reason, "");
}

static void eight_of_eight_pass(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "8", 1);
	setenv("EFA_TEST_CUDA_DRIVER_VERSION", "12040", 1);
	assert_int_equal(run(NULL, NULL, 8, &c), 0);
	assert_int_equal(c.status, CHECK_PASS);
	assert_string_equal(c.detail, "8/8 GPUs (CUDA driver 12.4, runtime 13.0), "
				      "no domains to register GPU memory on");
	assert_true(metric(&c, "gpus") == 8);
}

static void any_count_passes_without_expectation(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "3", 1);
	assert_int_equal(run(NULL, NULL, -1, &c), 0);
	assert_int_equal(c.status, CHECK_PASS);
	assert_contains(c.detail, "3 GPUs");
	assert_true(metric(&c, "gpus") == 3);
}

static void seven_of_eight_fail(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "7", 1);
	assert_int_equal(run(NULL, NULL, 8, &c), -1);
	assert_int_equal(c.status, CHECK_FAIL);
	assert_string_equal(c.reason, "7/8 GPUs");
	assert_true(metric(&c, "gpus") == 7);
}

static void zero_of_eight_fail_names_cuda_error(void **state)
{
	struct check_result c;

	assert_int_equal(run(NULL, NULL, 8, &c), -1);
	assert_int_equal(c.status, CHECK_FAIL);
	assert_string_equal(c.reason,
			    "0/8 GPUs (cudaGetDeviceCount: no CUDA-capable device is detected)");
}

static void no_driver_auto_is_skipped(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "8", 1);
	setenv("EFA_TEST_GPU_FAIL", "driver", 1);
	assert_int_equal(run(NULL, NULL, -1, &c), 0);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_string_equal(c.detail, "no GPUs (cudaGetDeviceCount: CUDA driver version is "
				      "insufficient for CUDA runtime version)");
}

static void no_driver_expected_fails(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "8", 1);
	setenv("EFA_TEST_GPU_FAIL", "driver", 1);
	assert_int_equal(run(NULL, NULL, 8, &c), -1);
	assert_string_equal(c.reason, "0/8 GPUs (cudaGetDeviceCount: CUDA driver version is "
				      "insufficient for CUDA runtime version)");
}

static void expected_zero_is_skipped(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "8", 1);
	assert_int_equal(run(NULL, NULL, 0, &c), 0);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_contains(c.detail, "no GPUs expected");
}

/* ---- libcudart missing or unusable ---- */

static void missing_library_auto_is_skipped(void **state)
{
	struct check_result c;

	snprintf(cfg.cuda_library, sizeof(cfg.cuda_library), "/nonexistent/libcudart.so.13");
	assert_int_equal(run(NULL, NULL, -1, &c), 0);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_contains(c.detail, "libcudart not found (CudaLibrary=/nonexistent/libcudart.so.13: ");
	assert_contains(c.detail, "No such file or directory");
	assert_contains(c.detail, "): no GPU check");
}

static void missing_library_with_expected_gpus_fails(void **state)
{
	struct check_result c;

	snprintf(cfg.cuda_library, sizeof(cfg.cuda_library), "/nonexistent/libcudart.so.13");
	assert_int_equal(run(NULL, NULL, 8, &c), -1);
	assert_int_equal(c.status, CHECK_FAIL);
	assert_string_equal(c.reason, "libcudart not found, expected 8 GPUs");
	assert_contains(c.detail, "/nonexistent/libcudart.so.13");
}

static void library_without_cuda_symbols_is_named(void **state)
{
	struct check_result c;

	/* A real shared object that is not libcudart. */
	snprintf(cfg.cuda_library, sizeof(cfg.cuda_library), "libm.so.6");
	assert_int_equal(run(NULL, NULL, 8, &c), -1);
	assert_string_equal(c.reason, "libcudart not found, expected 8 GPUs");
	assert_contains(c.detail, "libm.so.6: no symbol cudaGetDeviceCount");
}

/* ---- GPUDirect RDMA path ---- */

/* libfabric 1.17's tcp (tcp;ofi_rxm) does not offer FI_HMEM: a note, not a failure. */
static void tcp_without_hmem_passes_with_note(void **state)
{
	struct check_result c;
	long before = total_allocs();

	setenv("EFA_TEST_GPUS", "8", 1);
	assert_int_equal(run("tcp", "lo", 8, &c), 0);
	print_message("tcp: %s\n", c.detail);
	assert_int_equal(c.status, CHECK_PASS);
	assert_string_equal(c.detail, "8/8 GPUs (CUDA driver 13.0, runtime 13.0); "
				      "tcp: no FI_HMEM support (lo), GPUDirect RDMA not tested");
	assert_int_equal(total_allocs(), before);   /* nothing to register on: no GPU memory used */
	assert_true(metric(&c, "hmem_domains") == 0);
}

/* libfabric 1.17's shm offers FI_HMEM (mr_mode FI_MR_HMEM), but Debian's build has no CUDA
 * support: registering FI_HMEM_CUDA memory is refused as unsupported. For a provider other
 * than efa that is a note; the GPU buffers were allocated on each GPU and freed again. */
static void shm_hmem_without_cuda_support_passes_with_note(void **state)
{
	struct check_result c;
	long before = total_allocs();

	setenv("EFA_TEST_GPUS", "2", 1);
	assert_int_equal(run("shm", "shm", 2, &c), 0);
	print_message("shm: %s\n", c.detail);
	assert_int_equal(c.status, CHECK_PASS);
	assert_contains(c.detail, "2/2 GPUs (CUDA driver 13.0, runtime 13.0); shm: FI_HMEM offered "
				  "but CUDA memory registration unsupported (");
	assert_contains(c.detail, "GPUDirect RDMA not tested");
	assert_int_equal(total_allocs() - before, 2);
}

static void cuda_malloc_failure_names_gpu(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "2", 1);
	setenv("EFA_TEST_GPU_FAIL", "malloc:1", 1);
	assert_int_equal(run("shm", "shm", 2, &c), -1);
	assert_string_equal(c.reason, "GPU 1: cudaMalloc: out of memory");
}

static void cuda_set_device_failure_names_gpu(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "4", 1);
	setenv("EFA_TEST_GPU_FAIL", "setdevice:0", 1);
	assert_int_equal(run("shm", "shm", 4, &c), -1);
	assert_string_equal(c.reason, "GPU 0: cudaSetDevice: invalid device ordinal");
}

static void unknown_domain_is_named(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "8", 1);
	assert_int_equal(run("tcp", "nosuchdomain0", 8, &c), -1);
	assert_string_equal(c.reason, "nosuchdomain0: no such tcp domain");
}

/* The efa provider is not in Debian's libfabric: a listed efa domain cannot be found. */
static void efa_domain_missing_fails(void **state)
{
	struct check_result c;

	setenv("EFA_TEST_GPUS", "8", 1);
	assert_int_equal(run("efa", "rdmap16s27-rdm", 8, &c), -1);
	assert_int_equal(c.status, CHECK_FAIL);
	assert_string_equal(c.reason, "rdmap16s27-rdm: no such efa domain");
}

/* ---- the real CUDA runtime, when installed ---- */

/* The default search finds the real libcudart on machines that have CUDA; our entry-point
 * table must be callable against it. Without a GPU (as here) cudaGetDeviceCount fails and
 * the check is skipped naming the error; with GPUs it passes. */
static void real_runtime_is_callable(void **state)
{
	struct check_result c;
	void *h = dlopen("libcudart.so.13", RTLD_NOW | RTLD_LOCAL);

	if (!h)
		h = dlopen("libcudart.so.12", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		skip();
	dlclose(h);
	cfg.cuda_library[0] = '\0';
	assert_int_equal(run(NULL, NULL, -1, &c), 0);
	if (c.status == CHECK_SKIP)
		assert_contains(c.detail, "no GPUs (cudaGetDeviceCount: ");
	else
		assert_int_equal(c.status, CHECK_PASS);
}


/* ---- inside a job's cgroup (srun --efa-check, RunInJob prologs) ---- */

/* Write a /proc/self/cgroup fixture and point the check at it. */
static void cgroup_fixture(char *path, const char *text)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cgroup_file = path;
}

static void fewer_gpus_inside_job_cgroup_are_not_judged(void **state)
{
	char path[] = "/tmp/efa-cgroup-XXXXXX";
	struct check_result c;

	cgroup_fixture(path, "0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0\n");
	setenv("EFA_TEST_GPUS", "2", 1);
	assert_int_equal(run(NULL, NULL, 8, &c), 0);
	assert_int_equal(c.status, CHECK_PASS);
	assert_contains(c.detail, "2 GPUs");
	assert_contains(c.detail, "2/8 GPUs visible inside job 42's cgroup: count not judged here");
	unlink(path);
	cgroup_file = NULL;
}

static void no_gpus_inside_job_cgroup_v1_is_skipped(void **state)
{
	char path[] = "/tmp/efa-cgroup-XXXXXX";
	struct check_result c;

	cgroup_fixture(path, "13:devices:/slurm/uid_0/job_7/step_extern\n1:name=systemd:/\n");
	assert_int_equal(run(NULL, NULL, 8, &c), 0);
	assert_int_equal(c.status, CHECK_SKIP);
	assert_contains(c.detail, "no GPUs visible inside job 7's cgroup (expected 8 on the node)");
	unlink(path);
	cgroup_file = NULL;
}

static void fewer_gpus_outside_a_job_still_fail(void **state)
{
	char path[] = "/tmp/efa-cgroup-XXXXXX";
	struct check_result c;

	/* slurmd's own cgroup, and a name that only looks like a job's */
	cgroup_fixture(path, "0::/system.slice/slurmd.service/job_x1/step_0\n");
	setenv("EFA_TEST_GPUS", "7", 1);
	assert_int_equal(run(NULL, NULL, 8, &c), -1);
	assert_int_equal(c.status, CHECK_FAIL);
	assert_string_equal(c.reason, "7/8 GPUs");
	unlink(path);
	cgroup_file = NULL;
}

/* OFI_NCCL_DISABLE_DMABUF is read as aws-ofi-nccl reads a bool (nccl_ofi_param_impl.h) */
static void ofi_nccl_bool_parses_like_the_plugin(void **state)
{
	(void)state;
	assert_int_equal(gpu_ofi_nccl_bool("1"), 1);
	assert_int_equal(gpu_ofi_nccl_bool("TRUE"), 1);
	assert_int_equal(gpu_ofi_nccl_bool("true"), 1);
	assert_int_equal(gpu_ofi_nccl_bool("2"), 1);
	assert_int_equal(gpu_ofi_nccl_bool("0"), 0);
	assert_int_equal(gpu_ofi_nccl_bool("False"), 0);
	assert_int_equal(gpu_ofi_nccl_bool("yes"), -1);
	assert_int_equal(gpu_ofi_nccl_bool(""), -1);
	assert_int_equal(gpu_ofi_nccl_bool("1x"), -1);
}

/* dma-buf is decided before libcuda is loaded: below API 1.20, and when Env= gives jobs
 * OFI_NCCL_DISABLE_DMABUF, it is not used and the reason says so. */
static void dmabuf_not_used_names_why(void **state)
{
	struct efa_config c;
	struct config_env env = { .name = "OFI_NCCL_DISABLE_DMABUF", .value = "1", .force = true };
	struct gpu_dmabuf d;

	(void)state;
	config_defaults(&c);
	gpu_dmabuf_init(&d, &c, FI_VERSION(1, 17), 2);
	assert_false(d.any);
	assert_string_equal(d.why, "libfabric API 1.17 (FI_MR_DMABUF needs 1.20)");
	gpu_dmabuf_close(&d);
	c.env = &env;
	c.nenv = 1;
	gpu_dmabuf_init(&d, &c, FI_VERSION(1, 20), 2);
	assert_false(d.any);
	assert_string_equal(d.why, "OFI_NCCL_DISABLE_DMABUF is set (EnvForce=)");
	gpu_dmabuf_close(&d);
	env.value = "false";
	unsetenv("OFI_NCCL_DISABLE_DMABUF");
	gpu_dmabuf_init(&d, &c, FI_VERSION(1, 20), 2);
	assert_null(strstr(d.why, "OFI_NCCL_DISABLE_DMABUF"));
	gpu_dmabuf_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_gpus_auto_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(eight_of_eight_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(any_count_passes_without_expectation, setup, teardown),
		cmocka_unit_test_setup_teardown(seven_of_eight_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(zero_of_eight_fail_names_cuda_error, setup, teardown),
		cmocka_unit_test_setup_teardown(no_driver_auto_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(no_driver_expected_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(expected_zero_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_library_auto_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_library_with_expected_gpus_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(library_without_cuda_symbols_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(tcp_without_hmem_passes_with_note, setup, teardown),
		cmocka_unit_test_setup_teardown(shm_hmem_without_cuda_support_passes_with_note, setup, teardown),
		cmocka_unit_test_setup_teardown(cuda_malloc_failure_names_gpu, setup, teardown),
		cmocka_unit_test_setup_teardown(cuda_set_device_failure_names_gpu, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_domain_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(efa_domain_missing_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(real_runtime_is_callable, setup, teardown),
		cmocka_unit_test_setup_teardown(fewer_gpus_inside_job_cgroup_are_not_judged, setup, teardown),
		cmocka_unit_test_setup_teardown(no_gpus_inside_job_cgroup_v1_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(fewer_gpus_outside_a_job_still_fail, setup, teardown),
		cmocka_unit_test(ofi_nccl_bool_parses_like_the_plugin),
		cmocka_unit_test(dmabuf_not_used_names_why),
	};

	return cmocka_run_group_tests_name("gpu", tests, group_setup, group_teardown);
}
