#!/bin/sh
# Build check of prolog/cross/nccl.c's NCCL/CUDA ABI against the real headers: the entry-point lists
# (EFA_NCCL_FUNCS, EFA_NCCL_CUDART_FUNCS in prolog/cross/nccl.h) are declared again with the real
# types and must agree with nccl.h / cuda_runtime_api.h under -Werror; the enum values and the
# size of ncclUniqueId nccl.c relies on are asserted; and nccl.c itself compiles.
# Exit 0 ok, 1 mismatch, 77 headers absent (skip).
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
CC=${CC:-cc}
if [ ! -f "$CUDA_HOME/include/nccl.h" ] || [ ! -f "$CUDA_HOME/include/cuda_runtime_api.h" ]; then
	echo "no nccl.h/cuda_runtime_api.h under $CUDA_HOME/include"
	exit 77
fi
T=$(mktemp -d /tmp/nccl-build-check.XXXXXX)
trap 'rm -rf "$T"' EXIT
cat > "$T/abi.c" <<'C'
#include <cuda_runtime_api.h>
#include <nccl.h>
#define EFA_NCCL_RESULT      ncclResult_t
#define EFA_NCCL_COMM        ncclComm_t
#define EFA_NCCL_UID         ncclUniqueId
#define EFA_NCCL_DTYPE       ncclDataType_t
#define EFA_NCCL_REDOP       ncclRedOp_t
#define EFA_NCCL_CUDA_ERR    cudaError_t
#define EFA_NCCL_STREAM      cudaStream_t
#define EFA_NCCL_MEMCPY_KIND enum cudaMemcpyKind
#include "prolog/cross/nccl.h"
/* Redeclaring each function with the product's parameter list must agree with the header. */
#define X(ret, name, params) ret name params;
EFA_NCCL_FUNCS(X)
EFA_NCCL_CUDART_FUNCS(X)
#undef X
_Static_assert(sizeof(ncclUniqueId) == sizeof(struct efa_nccl_unique_id), "ncclUniqueId size");
_Static_assert(NCCL_UNIQUE_ID_BYTES == EFA_NCCL_ID_BYTES, "NCCL_UNIQUE_ID_BYTES");
_Static_assert(ncclSuccess == EFA_NCCL_SUCCESS, "ncclSuccess");
_Static_assert(ncclFloat32 == EFA_NCCL_FLOAT32, "ncclFloat32");
_Static_assert(ncclSum == EFA_NCCL_SUM, "ncclSum");
_Static_assert(cudaMemcpyHostToDevice == EFA_CUDA_MEMCPY_H2D, "cudaMemcpyHostToDevice");
_Static_assert(cudaMemcpyDeviceToHost == EFA_CUDA_MEMCPY_D2H, "cudaMemcpyDeviceToHost");
_Static_assert(sizeof(ncclResult_t) == sizeof(int), "ncclResult_t is int-sized");
_Static_assert(sizeof(cudaError_t) == sizeof(int), "cudaError_t is int-sized");
_Static_assert(sizeof(ncclComm_t) == sizeof(void *), "ncclComm_t is a pointer");
_Static_assert(sizeof(cudaStream_t) == sizeof(void *), "cudaStream_t is a pointer");
C
"$CC" -std=gnu11 -Wall -Wextra -Werror -I"$CUDA_HOME/include" -I"$TOP" -c -o "$T/abi.o" "$T/abi.c" || exit 1
# nccl.c as the product builds it (no CUDA headers), to be sure the file under test compiles.
"$CC" -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -I"$TOP/prolog" \
	-DEFA_CHECK_SYSCONFDIR='"/etc"' -c -o "$T/nccl.o" "$TOP/prolog/cross/nccl.c" || exit 1
echo "nccl.c ABI matches $CUDA_HOME/include/nccl.h"
