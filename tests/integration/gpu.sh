#!/bin/sh
# gpu.sh -- the GPU check end to end: prolog/efa-check local with CudaLibrary pointing at the
# CPU test double of libcudart (build/tests/doubles/libcudart-double.so), on libfabric's tcp
# and shm providers. Only the "gpu" entry of the JSON report is judged here.
. "$(dirname "$0")/../lib.sh"

DOUBLE=$TOP/build/tests/doubles/libcudart-double.so

if [ ! -x "$EFA_CHECK" ] || [ ! -f "$DOUBLE" ]; then
	not_ok "prerequisites: $EFA_CHECK and $DOUBLE (make all test-support)"
	done_testing
	exit
fi

# A low memlock limit fails the limits check and would lead the drain reason.
MEMLOCK_OK=no
ulimit -l unlimited 2>/dev/null && MEMLOCK_OK=yes

# conf NAME KEY=VALUE...: write $T_TMP/NAME.conf
conf() {
	name=$1; shift
	printf '%s\n' "StateDir=$T_TMP/state" "ExpectedDevices=0" "$@" >"$T_TMP/$name.conf"
	chmod 600 "$T_TMP/$name.conf"
}

# gpu NAME FIELD: a field of the gpu check in the JSON report of run NAME
gpu() {
	json_get "$T_TMP/$1.out" "[c for c in j['checks'] if c['name'] == 'gpu'][0].get('$2', '')"
}

# run NAME ENV...: efa-check local --json with config NAME and the given environment
run() {
	name=$1; shift
	run_capture "$name" env "$@" timeout 60 "$EFA_CHECK" local --config "$T_TMP/$name.conf" --json
}

conf pass Provider=tcp Domains=lo ExpectedGPUs=8 "CudaLibrary=$DOUBLE"
run pass EFA_TEST_GPUS=8
check "8/8 GPUs on tcp: gpu check passes" [ "$(gpu pass ok)" = "True" ]
check "tcp: detail says 8/8 GPUs and that tcp has no FI_HMEM" \
	grep -q '"8/8 GPUs (CUDA driver 13.0, runtime 13.0); tcp: no FI_HMEM support (lo), GPUDirect RDMA not tested"' "$T_TMP/pass.out"
check "metric gpus = 8" [ "$(gpu pass metrics | python3 -c 'import sys,ast; print(int(ast.literal_eval(sys.stdin.read())["gpus"]))')" = 8 ]

conf seven Provider=tcp Domains=lo ExpectedGPUs=8 "CudaLibrary=$DOUBLE"
run seven EFA_TEST_GPUS=7
expect_rc "7 of 8 GPUs: efa-check reports unhealthy" 1 seven
check "7 of 8 GPUs: reason 7/8 GPUs" [ "$(gpu seven reason)" = "7/8 GPUs" ]
if [ "$MEMLOCK_OK" = yes ]; then
	check "7 of 8 GPUs: the drain reason is efa-check: 7/8 GPUs" \
		[ "$(json_get "$T_TMP/seven.out" "j['reason']")" = "efa-check: 7/8 GPUs" ]
fi

conf nogpu Provider=tcp Domains=lo "CudaLibrary=$DOUBLE"
run nogpu EFA_TEST_GPUS=0
check "no GPUs, ExpectedGPUs auto: gpu check skipped" [ "$(gpu nogpu skipped)" = "True" ]
check "no GPUs: detail names the CUDA error" \
	[ "$(gpu nogpu detail)" = "no GPUs (cudaGetDeviceCount: no CUDA-capable device is detected)" ]

conf nolib Provider=tcp Domains=lo ExpectedGPUs=8 CudaLibrary=/nonexistent/libcudart.so.13
run nolib
check "libcudart missing with 8 GPUs expected: failure" \
	[ "$(gpu nolib reason)" = "libcudart not found, expected 8 GPUs" ]

conf oom Provider=shm ExpectedGPUs=4 "CudaLibrary=$DOUBLE"
run oom EFA_TEST_GPUS=4 EFA_TEST_GPU_FAIL=malloc:2
check "shm: cudaMalloc failing on GPU 2 is named" [ "$(gpu oom reason)" = "GPU 2: cudaMalloc: out of memory" ]

conf shm Provider=shm ExpectedGPUs=4 "CudaLibrary=$DOUBLE"
run shm EFA_TEST_GPUS=4
check "shm (FI_HMEM offered, libfabric without CUDA): passes" [ "$(gpu shm ok)" = "True" ]
gpu shm detail | diag
expect_grep "shm: detail says CUDA registration is unsupported and untested" \
	'shm: FI_HMEM offered but CUDA memory registration unsupported \(.*\), GPUDirect RDMA not tested' "$T_TMP/shm.out"

# The product never reads the double's controls.
if grep -rn 'EFA_TEST_' "$TOP/prolog" "$TOP/spank" 2>/dev/null | grep -v '^Binary' >"$T_TMP/grep.out"; then
	not_ok "the product does not read EFA_TEST_* variables"; diag <"$T_TMP/grep.out"
else
	ok "the product does not read EFA_TEST_* variables"
fi

done_testing
