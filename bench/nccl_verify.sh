#!/bin/sh
# bench/nccl_verify.sh -- the NCCL check's result verification at 64 ranks, before and after
# the closed form (issue 9 point 5), per 128 MiB buffer (one GPU's result; x8 for a p5 node).
#
#   sh bench/nccl_verify.sh [REPEATS] [RANKS] [MIB]    (defaults 5, 64, 128; needs `make all`)
#
# before: O(elements x ranks), every element's expected value summed over the ranks (the old
# nccl.c, reproduced in bench/nccl_verify.c; measured on 1/16 of the buffer and scaled, it
# takes seconds); after: nccl_verify's closed form, O(elements), on the whole buffer.
# CPU time of the verification loop (the machine may be shared). Interleaved; medians, and the median of the per-pair ratios. Markdown table + one JSON line.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-5} RANKS=${2:-64} MIB=${3:-128}
W=$(mktemp -d /tmp/efa-bench-nccl.XXXXXX)
trap 'rm -rf "$W"' EXIT INT TERM
. "$TOP/bench/lib.sh"

[ -f "$TOP/build/libefacheck.a" ] || { echo "bench/nccl_verify.sh: build/libefacheck.a missing (make all)" >&2; exit 1; }
cc -std=gnu11 -O2 -I"$TOP/prolog" -o "$W/nccl_verify" "$TOP/bench/nccl_verify.c" \
	"$TOP/build/libefacheck.a" -ldl -lpthread -lm || exit 1

: > "$W/before"; : > "$W/after"
i=0
while [ "$i" -lt "$N" ]; do
	"$W/nccl_verify" before "$RANKS" "$MIB" 0.0625 >> "$W/before" || exit 1
	"$W/nccl_verify" after "$RANKS" "$MIB" >> "$W/after" || exit 1
	i=$((i + 1))
done
before=$(bench_median "$W/before" %.3f)
after=$(bench_median "$W/after" %.4f)
ratio=$(bench_pair_ratio "$W/before" "$W/after")
node8_before=$(awk -v v="$before" 'BEGIN { printf "%.2f", v * 8 }')
node8_after=$(awk -v v="$after" 'BEGIN { printf "%.3f", v * 8 }')

echo "| verification of one ${MIB} MiB all-reduce result, ${RANKS} ranks | before (O(elements x ranks)) | after (closed form, O(elements)) | before / after |"
echo "| --- | --- | --- | --- |"
echo "| per GPU buffer, CPU s, median of $N | $before | $after | ${ratio}x |"
echo "| per p5 node (8 GPUs), CPU s | $node8_before | $node8_after | |"
printf '{"bench": "nccl_verify", "ranks": %s, "mib": %s, "runs": %s, "before_s": %s, "after_s": %s, "ratio": %s}\n' \
	"$RANKS" "$MIB" "$N" "$before" "$after" "$ratio"
