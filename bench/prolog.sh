#!/bin/sh
# bench/prolog.sh -- wall time of `efa-check prolog` on a healthy node (tcp provider, domain lo),
# cold (no cached result) and cached, medians over repeated runs, against in the same run:
#   - `fi_info -p tcp -t FI_EP_RDM` (libfabric's start-up: the floor for a cold check);
#   - a shell prolog doing what the aws-samples GPU health-check prolog does for the network:
#     fi_info, then fi_pingpong server and client on loopback.
# Goals: cold <= 1.5 x fi_info, cached <= 20 ms. No Slurm is needed: a healthy node makes no RPC.
# Prints a Markdown table and one JSON line.
#   bench/prolog.sh [RUNS]     (default 15; cached runs: 3 x RUNS)
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
EFA_CHECK=${EFA_CHECK:-$TOP/prolog/efa-check}
RUNS=${1:-15}
W=$(mktemp -d /tmp/efa-bench-prolog.XXXXXX)
trap 'rm -rf "$W"' EXIT
trap 'rm -rf "$W"; exit 1' INT TERM

for tool in fi_info fi_pingpong; do
	command -v $tool >/dev/null || { echo "bench/prolog.sh: $tool not found (libfabric-bin)" >&2; exit 1; }
done
[ -x "$EFA_CHECK" ] || { echo "bench/prolog.sh: $EFA_CHECK not built (make)" >&2; exit 1; }

ulimit -l unlimited 2>/dev/null
memlock=$(ulimit -l)
minmem=64M
[ "$memlock" != unlimited ] && [ "$memlock" -lt 65536 ] && minmem=${memlock}K
printf 'Provider=tcp\nDomains=lo\nMinMemlock=%s\nCacheTTL=3600\nTimeout=30\n' "$minmem" > "$W/efa-check.conf"
chmod 0644 "$W/efa-check.conf"
STATE=$W/state

# The network part of the aws-samples GPU health-check prolog, on tcp instead of efa.
cat > "$W/shell-prolog.sh" <<'EOF'
#!/bin/sh
fi_info -p tcp -t FI_EP_RDM >/dev/null || exit 1
fi_pingpong -p tcp -e rdm -I 100 -S 4096 >/dev/null 2>&1 &
server=$!
sleep 0.2
timeout 20 fi_pingpong -p tcp -e rdm -I 100 -S 4096 127.0.0.1 >/dev/null 2>&1
rc=$?
wait $server
exit $rc
EOF

now_ns() { date +%s%N; }
# time_ms CMD...: run CMD, print its wall time in ms (fractional); fail if CMD fails
time_ms() {
	t0=$(now_ns)
	"$@" >/dev/null 2>&1 || { echo "bench/prolog.sh: failed: $*" >&2; "$@" >&2; exit 1; }
	t1=$(now_ns)
	echo "$t0 $t1" | awk '{ printf "%.2f\n", ($2 - $1) / 1e6 }'
}
. "$TOP/bench/lib.sh"

prolog() { "$EFA_CHECK" prolog --node bench --config "$W/efa-check.conf" --state-dir "$STATE"; }
cold() { rm -f "$STATE/last-report.json"; prolog; }

: > "$W/fi_info"; : > "$W/cold"; : > "$W/cached"; : > "$W/shell"; : > "$W/start"
# interleave so that machine noise hits every candidate alike
i=0
while [ "$i" -lt "$RUNS" ]; do
	time_ms fi_info -p tcp -t FI_EP_RDM >> "$W/fi_info"
	time_ms cold >> "$W/cold"
	time_ms prolog >> "$W/cached"
	time_ms prolog >> "$W/cached"
	time_ms prolog >> "$W/cached"
	time_ms sh "$W/shell-prolog.sh" >> "$W/shell"
	time_ms "$EFA_CHECK" --version >> "$W/start"
	i=$((i + 1))
done
fi_info_ms=$(bench_median "$W/fi_info" %.2f)
cold_ms=$(bench_median "$W/cold" %.2f)
cached_ms=$(bench_median "$W/cached" %.2f)
shell_ms=$(bench_median "$W/shell" %.2f)
start_ms=$(bench_median "$W/start" %.2f)
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }
# pair by pair: cold run i against fi_info run i (measured back to back), median of the ratios
cold_x=$(bench_pair_ratio "$W/cold" "$W/fi_info")
shell_x=$(bench_pair_ratio "$W/shell" "$W/cold")
shell_cached_x=$(ratio "$shell_ms" "$cached_ms")
cold_goal=$(echo "$cold_x" | awk '{ print ($1 <= 1.5) ? "met" : "missed" }')
cached_goal=$(echo "$cached_ms" | awk '{ print ($1 <= 20) ? "met" : "missed" }')
loop=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(" ".join("%s=%.0f ms" % (c["name"], c["duration_ms"]) for c in j["checks"]))' "$STATE/last-report.json" 2>/dev/null)

echo "### efa-check prolog wall time (tcp provider, domain lo; medians of $RUNS runs, cached $((RUNS * 3)))"
echo
echo "| what | median ms | vs | goal |"
echo "| --- | ---: | --- | --- |"
echo "| fi_info -p tcp -t FI_EP_RDM | $fi_info_ms | floor | |"
echo "| efa-check prolog, cold (full check) | $cold_ms | ${cold_x}x fi_info | <= 1.5x: $cold_goal |"
echo "| efa-check prolog, cached | $cached_ms | | <= 20 ms: $cached_goal |"
echo "| efa-check --version (process start: loading the linked libraries) | $start_ms | part of every row above | |"
echo "| shell prolog: fi_info + fi_pingpong server/client | $shell_ms | ${shell_x}x efa-check cold, ${shell_cached_x}x cached | |"
echo
echo "Cold run checks: $loop"
printf '{"bench":"prolog","provider":"tcp","runs":%s,"fi_info_ms":%s,"cold_ms":%s,"cached_ms":%s,"shell_prolog_ms":%s,"cold_vs_fi_info":%s,"shell_vs_cold":%s,"shell_vs_cached":%s,"cold_goal":"%s","cached_goal":"%s","process_start_ms":%s}\n' \
	"$RUNS" "$fi_info_ms" "$cold_ms" "$cached_ms" "$shell_ms" "$cold_x" "$shell_x" "$shell_cached_x" "$cold_goal" "$cached_goal" "$start_ms"
