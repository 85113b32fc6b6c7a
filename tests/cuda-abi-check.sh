#!/bin/sh
# cuda-abi-check.sh -- check efa-check's CUDA runtime declarations against the real headers.
#
#   tests/cuda-abi-check.sh [list|double|all]      (default all; run from anywhere)
#
# prolog/checks/gpu.c declares the libcudart entry points it resolves with dlsym itself
# (prolog/checks/gpu_cudart.h, EFA_CUDART_FUNCS), so the product builds without CUDA. This script
# compiles, with -Werror and CUDA_HOME/include (default /usr/local/cuda):
#   list    each real function assigned to a pointer of our declared type, the error codes
#           we use compared with driver_types.h, sizeof(cudaError_t) == sizeof(int)
#   double  the CPU test double (tests/doubles/cudart-double) with the real header included
#           first: any definition that differs from the real prototype is a conflicting-types
#           error
# Exit 0 ok, 1 mismatch, 77 no CUDA headers (skip).
# ABI_PROLOG_DIR / ABI_DOUBLE_DIR point at other copies (the integration test feeds a
# deliberately wrong copy to prove a mismatch is caught).
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
INC=$CUDA_HOME/include
CC=${CC:-cc}
CFLAGS="-std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -D_GNU_SOURCE"
what=${1:-all}
PROLOG_DIR=${ABI_PROLOG_DIR:-$TOP/prolog}
DOUBLE_DIR=${ABI_DOUBLE_DIR:-$TOP/tests/doubles/cudart-double}

if [ ! -f "$INC/cuda_runtime_api.h" ]; then
	echo "cuda-abi-check: no $INC/cuda_runtime_api.h: skipped"
	exit 77
fi
TMP=$(mktemp -d /tmp/efa-cuda-abi.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

check_list() {
	cat >"$TMP/abi.c" <<'EOC'
#include <cuda_runtime_api.h>
#define EFA_CUDA_ERR cudaError_t
#define EFA_CUDA_MEMCPY_KIND enum cudaMemcpyKind
#include "checks/gpu_cudart.h"

_Static_assert(sizeof(enum cudaMemcpyKind) == sizeof(int), "cudaMemcpyKind is not int-sized");
_Static_assert(EFA_CUDA_MEMCPY_HOST_TO_DEVICE == cudaMemcpyHostToDevice, "cudaMemcpyHostToDevice");
_Static_assert(EFA_CUDA_MEMCPY_DEVICE_TO_HOST == cudaMemcpyDeviceToHost, "cudaMemcpyDeviceToHost");

_Static_assert(sizeof(cudaError_t) == sizeof(int), "cudaError_t is not int-sized");
_Static_assert(EFA_CUDA_SUCCESS == cudaSuccess, "cudaSuccess");
_Static_assert(EFA_CUDA_ERROR_INVALID_VALUE == cudaErrorInvalidValue, "cudaErrorInvalidValue");
_Static_assert(EFA_CUDA_ERROR_MEMORY_ALLOCATION == cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation");
_Static_assert(EFA_CUDA_ERROR_INITIALIZATION == cudaErrorInitializationError, "cudaErrorInitializationError");
_Static_assert(EFA_CUDA_ERROR_INVALID_DEVICE_PTR == cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer");
_Static_assert(EFA_CUDA_ERROR_INSUFFICIENT_DRIVER == cudaErrorInsufficientDriver, "cudaErrorInsufficientDriver");
_Static_assert(EFA_CUDA_ERROR_NO_DEVICE == cudaErrorNoDevice, "cudaErrorNoDevice");
_Static_assert(EFA_CUDA_ERROR_INVALID_DEVICE == cudaErrorInvalidDevice, "cudaErrorInvalidDevice");

/* Assigning the real function to a pointer of our declared type fails to compile
 * (incompatible pointer types, -Werror) when a parameter or return type differs. */
#define X(ret, fn, params) ret (*abi_##fn) params = fn;
EFA_CUDART_FUNCS(X)
#undef X
EOC
	# shellcheck disable=SC2086
	$CC $CFLAGS -Werror=incompatible-pointer-types -I"$INC" -I"$PROLOG_DIR" -c -o "$TMP/abi.o" "$TMP/abi.c"
}

check_double() {
	# shellcheck disable=SC2086
	$CC $CFLAGS -I"$INC" -I"$PROLOG_DIR" -include cuda_runtime_api.h -DEFA_CUDA_ERR=cudaError_t \
		-DEFA_CUDA_MEMCPY_KIND='enum cudaMemcpyKind' \
		-c -o "$TMP/double.o" "$DOUBLE_DIR"/*.c
}

# The CUDA driver API entry points of the dma-buf path (prolog/checks/gpu_cudadrv.h) against
# cuda.h, and the CUDA driver double (tests/doubles/cuda-double) with cuda.h included first.
check_driver() {
	if [ ! -f "$INC/cuda.h" ]; then
		echo "cuda-abi-check: no $INC/cuda.h: driver list not checked"
		return 0
	fi
	cat >"$TMP/drv.c" <<'EOC'
#include <cuda.h>
#define EFA_CU_RESULT CUresult
#define EFA_CU_DEVICE CUdevice
#define EFA_CU_DEVICE_ATTR CUdevice_attribute
#define EFA_CU_RANGE_HANDLE_TYPE CUmemRangeHandleType
#define EFA_CU_DEVICEPTR CUdeviceptr
#include "checks/gpu_cudadrv.h"

_Static_assert(sizeof(CUresult) == sizeof(int), "CUresult is not int-sized");
_Static_assert(sizeof(CUdevice) == sizeof(int), "CUdevice is not int-sized");
_Static_assert(sizeof(CUdeviceptr) == sizeof(unsigned long long), "CUdeviceptr");
_Static_assert(EFA_CU_SUCCESS == CUDA_SUCCESS, "CUDA_SUCCESS");
_Static_assert(EFA_CU_ERROR_INVALID_VALUE == CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE");
_Static_assert(EFA_CU_ERROR_NOT_SUPPORTED == CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED");
_Static_assert(EFA_CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED == CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED,
	       "CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED");
_Static_assert(EFA_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD == CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD,
	       "CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD");
#ifdef CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE
_Static_assert(EFA_CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE ==
	       CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE, "CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE");
#endif

#define X(ret, fn, params) ret (*abi_##fn) params = fn;
EFA_CUDADRV_FUNCS(X)
#undef X
EOC
	# shellcheck disable=SC2086
	$CC $CFLAGS -Werror=incompatible-pointer-types -I"$INC" -I"$PROLOG_DIR" -c -o "$TMP/drv.o" "$TMP/drv.c" &&
	$CC $CFLAGS -I"$INC" -I"$PROLOG_DIR" -include cuda.h -DEFA_CU_RESULT=CUresult \
		-DEFA_CU_DEVICE=CUdevice -DEFA_CU_DEVICE_ATTR=CUdevice_attribute \
		-DEFA_CU_RANGE_HANDLE_TYPE=CUmemRangeHandleType -DEFA_CU_DEVICEPTR=CUdeviceptr \
		-c -o "$TMP/drvdouble.o" "$TOP"/tests/doubles/cuda-double/*.c
}

rc=0
case $what in
list) check_list || rc=1 ;;
double) check_double || rc=1 ;;
all) check_list || rc=1; check_double || rc=1; check_driver || rc=1 ;;
*) echo "usage: cuda-abi-check.sh [list|double|all]" >&2; exit 2 ;;
esac
[ $rc -eq 0 ] && echo "cuda-abi-check: $what matches $INC/cuda_runtime_api.h"
exit $rc
