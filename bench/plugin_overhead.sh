#!/bin/sh
# bench/plugin_overhead.sh -- what the SPANK plugin costs a step (issue 3 figures).
#
#   sh bench/plugin_overhead.sh [ITERATIONS]      (default 20; needs `make all test-support`)
#
# Two test clusters (tests/cluster/cluster.sh, 4 slurmd each, Provider=tcp Domains=lo) run side
# by side: A with spank_efa_check.so in plugstack.conf, B without. Measured, interleaved in one
# run so drift hits both alike:
#   1. `srun -N4 true` on A (plugin loaded, no option) vs on B (no plugin): medians, ratio
#      (goal <= 1.05).
#   2. `srun -N4 --efa-check true` vs `srun -N4 true` on A: the median time --efa-check adds
#      (goal <= 0.5 s). The exit status of the checked steps is reported: where the memlock
#      limit is below 64 MiB every node fails efa-check's limits check, but the check still
#      runs to the end, so the time is still the check's cost.
# Prints a Markdown table and one JSON line.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER=$TOP/tests/cluster/cluster.sh
N=${1:-20}
W=$(mktemp -d /tmp/efa-bench-spank.XXXXXX)
A=$W/with-plugin B=$W/without
cleanup() { sh "$CLUSTER" stop "$A" >/dev/null 2>&1; sh "$CLUSTER" stop "$B" >/dev/null 2>&1; rm -rf "$W"; }
trap cleanup EXIT INT TERM
ulimit -l unlimited 2>/dev/null

printf "Provider=tcp\nDomains=lo\nTimeout=20\nLoopbackIterations=${EFA_BENCH_LOOPBACK_ITERATIONS:-10}\nMinMemlock=4M\n" > "$W/efa-check.conf"
chmod 0644 "$W/efa-check.conf"
sh "$CLUSTER" start "$A" --efa-conf "$W/efa-check.conf" \
	--plugin "efa_check=@DIR@/bin/efa-check config=@DIR@/etc/efa-check.conf state_dir=@DIR@/state/%n" \
	>"$W/a.log" 2>&1 || { cat "$W/a.log" >&2; exit 1; }
sh "$CLUSTER" start "$B" --efa-conf "$W/efa-check.conf" >"$W/b.log" 2>&1 || { cat "$W/b.log" >&2; exit 1; }
CONF_A=$A/etc/slurm.conf CONF_B=$B/etc/slurm.conf
unset SLURM_JOB_ID SLURM_JOBID SLURM_NODELIST SLURM_JOB_NODELIST SLURM_STEP_ID SLURM_NNODES SLURM_NTASKS

# timed CONF OUTFILE ARGS...: append the wall time (s) of one srun; returns srun's status
timed() {
	conf=$1 out=$2; shift 2
	t0=$(date +%s%N)
	SLURM_CONF=$conf timeout 120 srun "$@" >/dev/null 2>&1
	rc=$?
	t1=$(date +%s%N)
	echo "$(( (t1 - t0) / 1000 ))" | awk '{ printf "%.6f\n", $1 / 1e6 }' >> "$out"
	return $rc
}

# warm up both (first steps pay for caches, e.g. the env cache on A)
for _ in 1 2; do timed "$CONF_A" /dev/null -N4 true; timed "$CONF_B" /dev/null -N4 true; done

: > "$W/a" ; : > "$W/b" ; : > "$W/plain" ; : > "$W/checked" ; : > "$W/plain1" ; : > "$W/checked1"
check_fail=0
i=0
while [ "$i" -lt "$N" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		timed "$CONF_A" "$W/a" -N4 true; timed "$CONF_B" "$W/b" -N4 true
		timed "$CONF_A" "$W/plain" -N4 true; timed "$CONF_A" "$W/checked" -N4 --efa-check true || check_fail=$((check_fail + 1))
	else
		timed "$CONF_B" "$W/b" -N4 true; timed "$CONF_A" "$W/a" -N4 true
		timed "$CONF_A" "$W/checked" -N4 --efa-check true || check_fail=$((check_fail + 1)); timed "$CONF_A" "$W/plain" -N4 true
	fi
	# One node: what --efa-check costs a node that has its CPUs to itself (on this machine the
	# 4 "nodes" above share 2 cores, so their 4 checks run 2 at a time).
	timed "$CONF_A" "$W/plain1" -N1 true
	timed "$CONF_A" "$W/checked1" -N1 --efa-check true || check_fail=$((check_fail + 1))
	i=$((i + 1))
done

. "$TOP/bench/lib.sh"
ma=$(bench_median "$W/a" %.6f) mb=$(bench_median "$W/b" %.6f) mp=$(bench_median "$W/plain" %.6f) mc=$(bench_median "$W/checked" %.6f)
# pair by pair: run i with the plugin against run i without it, then the median of the ratios
ratio=$(bench_pair_ratio "$W/a" "$W/b")
added=$(bench_pair_diff "$W/checked" "$W/plain")
added1=$(bench_pair_diff "$W/checked1" "$W/plain1")
ok1=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.05) ? "yes" : "no" }')
ok2=$(awk -v d="$added" 'BEGIN { print (d <= 0.5) ? "yes" : "no" }')

echo "## SPANK plugin overhead ($N interleaved runs each, 4 nodes, tcp provider)"
echo
echo "| measurement | median (s) | figure | goal | met |"
echo "| --- | --- | --- | --- | --- |"
printf '| `srun -N4 true`, plugin loaded, no option | %.3f | ratio %s | <= 1.05 | %s |\n' "$ma" "$ratio" "$ok1"
printf '| `srun -N4 true`, no plugin | %.3f | | | |\n' "$mb"
printf '| `srun -N4 --efa-check true` | %.3f | +%s s | <= 0.5 s | %s |\n' "$mc" "$added" "$ok2"
printf '| `srun -N4 true` (same cluster, interleaved) | %.3f | | | |\n' "$mp"
printf '| `srun -N1 --efa-check true` vs `srun -N1 true` | %.3f | +%s s | (per node) | |\n' "$(bench_median "$W/checked1" %.6f)" "$added1"
echo
[ "$check_fail" -gt 0 ] && echo "note: $check_fail/$N checked steps failed the check (memlock limit here: $(ulimit -l) KiB)"
printf '{"bench":"plugin_overhead","iterations":%d,"nodes":4,"median_s":{"plugin_no_option":%s,"no_plugin":%s,"plain":%s,"efa_check":%s},"ratio":%s,"efa_check_added_s":%s,"efa_check_added_one_node_s":%s,"checked_steps_failed":%d,"goals_met":{"ratio":%s,"added":%s}}\n' \
	"$N" "$ma" "$mb" "$mp" "$mc" "$ratio" "$added" "$added1" "$check_fail" \
	"$([ "$ok1" = yes ] && echo true || echo false)" "$([ "$ok2" = yes ] && echo true || echo false)"
