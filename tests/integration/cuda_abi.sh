#!/bin/sh
# cuda_abi.sh -- efa-check's libcudart declarations (prolog/checks/gpu_cudart.h) and the CPU test
# double (tests/doubles/cudart-double) against the real CUDA headers, via
# tests/cuda-abi-check.sh. Skipped (counted ok) when the CUDA headers are absent.
. "$(dirname "$0")/../lib.sh"

CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
ABI=$TOP/tests/cuda-abi-check.sh

if [ ! -f "$CUDA_HOME/include/cuda_runtime_api.h" ]; then
	ok "CUDA ABI check # skipped: no CUDA headers"
	done_testing
	exit
fi

run_capture list sh "$ABI" list
expect_rc "gpu_cudart.h entry points and error codes match cuda_runtime_api.h" 0 list

run_capture double sh "$ABI" double
expect_rc "cudart-double definitions match cuda_runtime_api.h" 0 double

# The check must have teeth: a wrong parameter type in a copy of the list is caught.
mkdir -p "$T_TMP/prolog/checks" "$T_TMP/double"
sed 's/(void \*\*devPtr, size_t size)/(void **devPtr, int size)/' \
	"$TOP/prolog/checks/gpu_cudart.h" >"$T_TMP/prolog/checks/gpu_cudart.h"
if cmp -s "$TOP/prolog/checks/gpu_cudart.h" "$T_TMP/prolog/checks/gpu_cudart.h"; then
	not_ok "test setup: could not make a wrong copy of gpu_cudart.h"
else
	run_capture bad_list env ABI_PROLOG_DIR="$T_TMP/prolog" sh "$ABI" list
	expect_rc "a wrong cudaMalloc prototype in the list is rejected" 1 bad_list
	expect_grep "the rejection names cudaMalloc" "cudaMalloc" "$T_TMP/bad_list.err"
fi

# ... and a double whose definition differs from the real runtime is caught too.
cp "$TOP"/tests/doubles/cudart-double/*.h "$T_TMP/double/"
sed 's/^EFA_CUDA_ERR cudaFree(void \*devPtr)/EFA_CUDA_ERR cudaFree(const void *devPtr)/' \
	"$TOP/tests/doubles/cudart-double/cudart_double.c" >"$T_TMP/double/cudart_double.c"
cp "$TOP/prolog/checks/gpu_cudart.h" "$T_TMP/prolog/checks/gpu_cudart.h"
run_capture bad_double env ABI_PROLOG_DIR="$T_TMP/prolog" ABI_DOUBLE_DIR="$T_TMP/double" sh "$ABI" double
expect_rc "a double definition differing from cuda_runtime_api.h is rejected" 1 bad_double
expect_grep "the rejection is a conflicting cudaFree" "conflicting types for .cudaFree" "$T_TMP/bad_double.err"

# Without CUDA headers the check skips (exit 77) instead of failing.
run_capture nocuda env CUDA_HOME="$T_TMP/no-cuda" sh "$ABI"
expect_rc "no CUDA headers: the check reports a skip" 77 nocuda

done_testing
