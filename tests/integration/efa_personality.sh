#!/bin/sh
# efa-check local against libfabric 2.x's efa provider as it presents itself, played by the EFA
# personality layer over the real tcp provider (tests/efa-personality/README.md): efa-direct
# before efa, the efa-direct MSG limit (MTU), the < 2.2.0 domain-open race, a transient crash
# below the product, which libfabric was loaded (issue 9 points 1, 3, 8; point 4: gpu, with
# registration through dma-buf).
. "$(dirname "$0")/../lib.sh"

PERSONALITY=$TOP/build/tests/libefa-personality.so
CUDART=$TOP/build/tests/doubles/libcudart-double.so
conf=$T_TMP/efa.conf
printf 'Provider=efa\nExpectedDevices=0\nExpectedGPUs=0\nTimeout=60\nMinMemlock=8M\nLoopbackIterations=20\n' > "$conf"
chmod 0644 "$conf"
cd "$T_TMP" || exit 1     # a crashing worker may leave a backtrace file in the cwd

efa() { # name [env...] -- efa-check args: run under the personality layer
	name=$1; shift
	run_capture "$name" env LD_PRELOAD="$PERSONALITY" "$@"
}
check_field() { # desc file python-expr expected
	got=$(json_get "$2" "$3" 2>&1)
	if [ "$got" = "$4" ]; then ok "$1"; else not_ok "$1 (got '$got', want '$4')"; head -30 "$2" | diag; fi
}
lb() { echo "[c for c in j['checks'] if c['name']=='loopback']"; }

# --- point 1: efa-direct first, its MSG limit, the fabric named ---------------------------
efa direct "$EFA_CHECK" local --config "$conf" --json
expect_rc "efa-direct listed first (libfabric 2.x): healthy" 0 direct
check_field "JSON names the fabric under test: efa-direct" "$T_TMP/direct.out" "j.get('fabric')" efa-direct
check_field "both rdmapXsY-rdm domains tested" "$T_TMP/direct.out" "sorted(c['target'] for c in $(lb))" \
	"['rdmap16s27-rdm', 'rdmap32s27-rdm']"
check_field "send/recv stays within the efa-direct MSG limit (FI_OPT_MAX_MSG_SIZE)" "$T_TMP/direct.out" \
	"all('send/recv verified 64 B..8 KiB (MSG limit 8192 B, FI_OPT_MAX_MSG_SIZE)' in c['detail'] for c in $(lb))" True
check_field "RMA still verified up to 1 MiB" "$T_TMP/direct.out" \
	"all('RMA write/read 64 B..1 MiB' in c['detail'] and 'fabric efa-direct' in c['detail'] for c in $(lb))" True
check "no send above the MTU reached the fabric" sh -c "! grep -q 'exceeds the device MTU' '$T_TMP/direct.err'"

efa mtu4k EFA_PERSONALITY_DEVICES=rdmap16s27 EFA_PERSONALITY_MTU=4096 "$EFA_CHECK" local --config "$conf" --json
expect_rc "a 4 KiB MTU: healthy" 0 mtu4k
check_field "send/recv verified up to the 4 KiB limit" "$T_TMP/mtu4k.out" \
	"all('64 B..4 KiB (MSG limit 4096 B' in c['detail'] for c in $(lb))" True

efa rdmonly EFA_PERSONALITY_DEVICES=rdmap16s27 EFA_PERSONALITY_FABRICS=efa "$EFA_CHECK" local --config "$conf"
expect_rc "libfabric 1.x (efa fabric only): healthy" 0 rdmonly
expect_grep "human report names fabric efa" 'provider efa, fabric efa,' "$T_TMP/rdmonly.out"
expect_grep "efa fabric: send/recv verified to 1 MiB (no MSG limit)" 'send/recv and RMA write/read verified 64 B..1 MiB' "$T_TMP/rdmonly.out"

# --- point 3: fabric/domain open and close serialised; a crash is run again ------------------
efa race EFA_PERSONALITY_DEVICES=rdmap16s27,rdmap32s27,rdmap48s27,rdmap64s27 \
	EFA_PERSONALITY_OPEN_MS=100 "$EFA_CHECK" local --config "$conf" --json
expect_rc "4 domains with slow opens: healthy" 0 race
check "no concurrent fi_domain open/close (libfabric < 2.2.0 race)" \
	sh -c "! grep -q 'concurrent' '$T_TMP/race.err'"
check_field "4 loopbacks passed" "$T_TMP/race.out" "sum(c['ok'] for c in $(lb))" 4

efa crash EFA_PERSONALITY_DEVICES=rdmap16s27 EFA_PERSONALITY_CRASH_ONCE="$T_TMP/crashed" "$EFA_CHECK" local --config "$conf" --json
expect_rc "a worker that crashed once is run again: healthy" 0 crash
check "the crash did happen" test -e "$T_TMP/crashed"
expect_grep "report says the checks ran twice" 'checks ran twice: the first worker crashed' "$T_TMP/crash.out"

# --- point 8: which libfabric --------------------------------------------------------------
check_field "JSON reports the libfabric version" "$T_TMP/direct.out" "j.get('libfabric')" 2.1.0
path=$(json_get "$T_TMP/direct.out" "j.get('libfabric_path')")
check "JSON reports the libfabric file that was loaded ($path)" test -f "$path"
printf 'LibfabricPath=%s\n' "$path" >> "$conf"
efa explicit EFA_PERSONALITY_DEVICES=rdmap16s27 "$EFA_CHECK" local --config "$conf"
expect_rc "LibfabricPath= the same file: healthy" 0 explicit
expect_grep "human report names the libfabric file" "libfabric 2.1.0 at $path" "$T_TMP/explicit.out"
printf 'Provider=efa\nExpectedDevices=0\nExpectedGPUs=0\nMinMemlock=8M\nLibfabricPath=/nonexistent/libfabric.so.1\n' > "$T_TMP/bad.conf"
run_capture badpath "$EFA_CHECK" local --config "$T_TMP/bad.conf" --json
expect_rc "LibfabricPath= a missing file: unhealthy, no other libfabric tried" 1 badpath
expect_grep "the detail names LibfabricPath and the file" 'LibfabricPath=/nonexistent/libfabric.so.1' "$T_TMP/badpath.out"

# --- point 4: GPUDirect as aws-ofi-nccl needs it (CPU cudart double for the GPUs) ------------
printf 'Provider=efa\nExpectedDevices=0\nExpectedGPUs=2\nTimeout=60\nMinMemlock=8M\nLoopbackIterations=10\nCudaLibrary=%s\n' \
	"$CUDART" > "$T_TMP/gpu.conf"
gpu_of() { echo "[c for c in j['checks'] if c['name']=='gpu'][0]"; }
# The API the gpu check asks the personality's 2.1 runtime for: the headers' version when it is
# 1.20 or later (Debian 13: 2.1), else 1.20 (Debian 12's 1.17 headers; gpu_dmabuf.c).
hdr_api=$(awk '/^#define FI_MAJOR_VERSION/ { M = $3 } /^#define FI_MINOR_VERSION/ { m = $3 }
	END { print M "." m }' /usr/include/rdma/fabric.h)
case $hdr_api in 1.1[0-9]|1.[0-9]) gpu_api=1.20 ;; *) gpu_api=$hdr_api ;; esac
efa gdr EFA_TEST_GPUS=2 "$EFA_CHECK" local --config "$T_TMP/gpu.conf" --json
expect_rc "GPUDirect with p2p: healthy" 0 gdr
check_field "an RMA write into GPU memory verified on both domains" "$T_TMP/gdr.out" \
	"$(gpu_of)['metrics']['gdr_write_domains']" 2.0
check_field "the requested libfabric API version is named ($gpu_api)" "$T_TMP/gdr.out" \
	"'(libfabric API $gpu_api)' in $(gpu_of)['detail']" True

efa nop2p EFA_PERSONALITY_DEVICES=rdmap16s27 EFA_TEST_GPUS=2 EFA_PERSONALITY_P2P=0 EFA_PERSONALITY_HMEM_ANY_API=1 \
	"$EFA_CHECK" local --config "$T_TMP/gpu.conf" --json
expect_rc "FI_HMEM claimed without p2p (API >= 1.18 rule): unhealthy" 1 nop2p
check_field "named: FI_OPT_CUDA_API_PERMITTED=false is refused" "$T_TMP/nop2p.out" \
	"'FI_OPT_CUDA_API_PERMITTED=false: Operation not supported' in $(gpu_of)['reason']" True

efa api117 EFA_PERSONALITY_VERSION=1.17 EFA_PERSONALITY_DEVICES=rdmap16s27 EFA_TEST_GPUS=2 EFA_PERSONALITY_P2P=0 \
	"$EFA_CHECK" local --config "$T_TMP/gpu.conf" --json
expect_rc "no FI_HMEM because API 1.17 was requested: not drained" 0 api117
check_field "the detail says why GPUDirect was not tested" "$T_TMP/api117.out" \
	"'efa offers FI_HMEM below 1.18 only with FI_EFA_USE_DEVICE_RDMA=1' in $(gpu_of)['detail']" True

# --- point 4: registration through dma-buf (FI_MR_DMABUF), as aws-ofi-nccl 1.14+ does ----------
# libcuda.so.1 is found the way the real one is: by the dynamic loader, here a link to the CPU
# double of the CUDA driver API (tests/doubles/cuda-double) on LD_LIBRARY_PATH.
mkdir -p "$T_TMP/cudalib"
ln -sf "$TOP/build/tests/doubles/libcuda-double.so" "$T_TMP/cudalib/libcuda.so.1"
dma() { # name [env...]: the gpu check with libcuda found
	name=$1; shift
	efa "$name" LD_LIBRARY_PATH="$T_TMP/cudalib" EFA_TEST_GPUS=2 "$@" \
		"$EFA_CHECK" local --config "$T_TMP/gpu.conf" --json
}
dma dmabuf
expect_rc "dma-buf offered (API 1.20, DMA_BUF_SUPPORTED, kernel >= 5.12): healthy" 0 dmabuf
check_field "GPU memory registered through dma-buf on both domains" "$T_TMP/dmabuf.out" \
	"$(gpu_of)['metrics']['dmabuf_domains']" 2.0
check_field "the RMA write into GPU memory was verified on the dma-buf registrations" "$T_TMP/dmabuf.out" \
	"$(gpu_of)['metrics']['gdr_write_domains'] == 2 and 'registered on 2 domains through dma-buf (FI_MR_DMABUF)' in $(gpu_of)['detail']" True
check "the layer saw FI_MR_DMABUF registrations (fd from the CUDA driver double)" \
	grep -q 'FI_MR_DMABUF registration of 2097152 B' "$T_TMP/dmabuf.err"
check_field "API $gpu_api requested from the 2.1 library, named" "$T_TMP/dmabuf.out" \
	"'(libfabric API $gpu_api)' in $(gpu_of)['detail']" True

dma dmabuf_oldpcie EFA_TEST_CUDA_DRIVER_VERSION=12040
expect_rc "a driver without the PCIe mapping flag: retried without flags, healthy" 0 dmabuf_oldpcie

dma dmabuf_regfail EFA_PERSONALITY_DMABUF_FAIL=1
expect_rc "fi_mr_regattr(FI_MR_DMABUF) failing: unhealthy (aws-ofi-nccl has no fallback)" 1 dmabuf_regfail
check_field "named precisely: domain, GPU, call, error" "$T_TMP/dmabuf_regfail.out" \
	"$(gpu_of)['reason']" "rdmap16s27-rdm: GPU 0: fi_mr_regattr(FI_MR_DMABUF): Bad address"
check_field "the detail says NCCL fails the same way and how jobs avoid it" "$T_TMP/dmabuf_regfail.out" \
	"'OFI_NCCL_DISABLE_DMABUF=1' in $(gpu_of)['detail']" True

dma dmabuf_export EFA_TEST_CUDA_DMABUF_FAIL=1
expect_rc "cuMemGetHandleForAddressRange failing on a GPU that claims dma-buf: unhealthy" 1 dmabuf_export
check_field "named: the CUDA driver call and its error" "$T_TMP/dmabuf_export.out" \
	"$(gpu_of)['reason']" "rdmap16s27-rdm: GPU 0: cuMemGetHandleForAddressRange(DMA_BUF_FD): operation not supported"

dma dmabuf_disabled EFA_PERSONALITY_DMABUF_FAIL=1 OFI_NCCL_DISABLE_DMABUF=1
expect_rc "OFI_NCCL_DISABLE_DMABUF=1: the plugin would not use dma-buf, nor does the check" 0 dmabuf_disabled
check_field "said in the report" "$T_TMP/dmabuf_disabled.out" \
	"'dma-buf not used: OFI_NCCL_DISABLE_DMABUF is set (environment)' in $(gpu_of)['detail']" True
printf 'Env=OFI_NCCL_DISABLE_DMABUF=true\n' | cat "$T_TMP/gpu.conf" - > "$T_TMP/gpuenv.conf"
efa dmabuf_envkey LD_LIBRARY_PATH="$T_TMP/cudalib" EFA_TEST_GPUS=2 EFA_PERSONALITY_DMABUF_FAIL=1 \
	"$EFA_CHECK" local --config "$T_TMP/gpuenv.conf" --json
check_field "Env=OFI_NCCL_DISABLE_DMABUF=true (what jobs get) is honoured" "$T_TMP/dmabuf_envkey.out" \
	"'OFI_NCCL_DISABLE_DMABUF is set (Env=)' in $(gpu_of)['detail'] and $(gpu_of)['ok']" True

dma dmabuf_attr EFA_PERSONALITY_DMABUF_FAIL=1 EFA_TEST_CUDA_DMABUF=0
expect_rc "CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED 0: registration by address as before, healthy" 0 dmabuf_attr
check_field "said in the report" "$T_TMP/dmabuf_attr.out" \
	"'dma-buf not used: CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED is 0 on GPU 0,1' in $(gpu_of)['detail'] and $(gpu_of)['metrics']['gdr_write_domains'] == 2" True

dma dmabuf_api117 EFA_PERSONALITY_VERSION=1.17 EFA_PERSONALITY_DMABUF_FAIL=1
expect_rc "libfabric 1.17 (no FI_MR_DMABUF): not used, healthy" 0 dmabuf_api117
check_field "said in the report" "$T_TMP/dmabuf_api117.out" \
	"'dma-buf not used: libfabric API 1.17 (FI_MR_DMABUF needs 1.20)' in $(gpu_of)['detail']" True

efa dmabuf_nolib EFA_TEST_GPUS=2 "$EFA_CHECK" local --config "$T_TMP/gpu.conf" --json
expect_rc "no libcuda.so.1 to load: not used, healthy" 0 dmabuf_nolib
check_field "said in the report" "$T_TMP/dmabuf_nolib.out" \
	"'dma-buf not used: libcuda.so.1: cannot open shared object file' in $(gpu_of)['detail']" True

done_testing
