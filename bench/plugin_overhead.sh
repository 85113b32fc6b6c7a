#!/bin/sh
# bench/plugin_overhead.sh -- what the SPANK plugin costs a step (issue 3 figures).
#
#   sh bench/plugin_overhead.sh [ITERATIONS]      (default 20; needs `make all test-support`)
#
# Three test clusters (tests/cluster/cluster.sh, 4 slurmd each) run side by side, interleaved
# in one run so drift hits all alike:
#   S  the shipped samples as they are: etc/efa-check.conf verbatim (StateDir default
#      /run/efa-check, shared by the 4 "nodes" of this host) and the plugin line of
#      etc/plugstack.conf.d/efa-check.conf with only efa_check= and config= pointed at the
#      cluster's wrapper and config copy
#   N  a non-default StateDir: Provider=tcp Domains=lo and one StateDir= per node (the cluster
#      adds NodeName=nX StateDir=DIR/state/nX), the same plugin arguments
#   B  no plugin
# Measured:
#   1. `srun -N4 true` on S and on N (plugin loaded, no option) vs on B (no plugin): ratios
#      pair by pair (goal <= 1.05 each). The plugin reads StateDir= from the config it is
#      given, so the env cache that `efa-check env` wrote is found: no exec per step.
#   2. `srun -N4 --efa-check true` vs `srun -N4 true` on N: the median time --efa-check adds
#      (goal <= 0.5 s). The exit status of the checked steps is reported: where the memlock
#      limit is below 64 MiB every node fails efa-check's limits check, but the check still
#      runs to the end, so the time is still the check's cost.
# Prints a Markdown table and one JSON line.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER=$TOP/tests/cluster/cluster.sh
N=${1:-20}
W=$(mktemp -d /tmp/efa-bench-spank.XXXXXX)
S=$W/shipped A=$W/statedir B=$W/without
cleanup() { for c in "$S" "$A" "$B"; do sh "$CLUSTER" stop "$c" >/dev/null 2>&1; done; rm -rf "$W"; }
trap cleanup EXIT INT TERM
ulimit -l unlimited 2>/dev/null

# The shipped plugin line, with only the two paths pointed at the cluster's.
shipped_args=$(grep -E '^(required|optional)[[:space:]]' "$TOP/etc/plugstack.conf.d/efa-check.conf" | tail -1 |
	awk '{ for (i = 3; i <= NF; i++) printf "%s%s", (i > 3 ? " " : ""), $i }' |
	sed -e 's|efa_check=[^ ]*|efa_check=@DIR@/bin/efa-check|' -e 's|config=[^ ]*|config=@DIR@/etc/efa-check.conf|')
cp "$TOP/etc/efa-check.conf" "$W/shipped.conf"
chmod 0644 "$W/shipped.conf"
printf "Provider=tcp\nDomains=lo\nTimeout=20\nLoopbackIterations=${EFA_BENCH_LOOPBACK_ITERATIONS:-10}\nMinMemlock=4M\n" > "$W/efa-check.conf"
chmod 0644 "$W/efa-check.conf"
sh "$CLUSTER" start "$S" --efa-conf-verbatim "$W/shipped.conf" --plugin "$shipped_args" \
	>"$W/s.log" 2>&1 || { cat "$W/s.log" >&2; exit 1; }
sh "$CLUSTER" start "$A" --efa-conf "$W/efa-check.conf" --plugin "$shipped_args" \
	>"$W/a.log" 2>&1 || { cat "$W/a.log" >&2; exit 1; }
sh "$CLUSTER" start "$B" --efa-conf "$W/efa-check.conf" >"$W/b.log" 2>&1 || { cat "$W/b.log" >&2; exit 1; }
CONF_S=$S/etc/slurm.conf CONF_A=$A/etc/slurm.conf CONF_B=$B/etc/slurm.conf
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

# warm up (the first step on each node pays for the env cache)
for _ in 1 2; do timed "$CONF_S" /dev/null -N4 true; timed "$CONF_A" /dev/null -N4 true; timed "$CONF_B" /dev/null -N4 true; done
envcalls_s=$(grep -c ' env ' "$S/log/efa-check-calls.log" 2>/dev/null)
envcalls_a=$(grep -c ' env ' "$A/log/efa-check-calls.log" 2>/dev/null)

: > "$W/s" ; : > "$W/a" ; : > "$W/b" ; : > "$W/bs" ; : > "$W/plain" ; : > "$W/checked" ; : > "$W/plain1" ; : > "$W/checked1"
check_fail=0
i=0
while [ "$i" -lt "$N" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		timed "$CONF_S" "$W/s" -N4 true; timed "$CONF_B" "$W/bs" -N4 true
		timed "$CONF_A" "$W/a" -N4 true; timed "$CONF_B" "$W/b" -N4 true
		timed "$CONF_A" "$W/plain" -N4 true; timed "$CONF_A" "$W/checked" -N4 --efa-check true || check_fail=$((check_fail + 1))
	else
		timed "$CONF_B" "$W/bs" -N4 true; timed "$CONF_S" "$W/s" -N4 true
		timed "$CONF_B" "$W/b" -N4 true; timed "$CONF_A" "$W/a" -N4 true
		timed "$CONF_A" "$W/checked" -N4 --efa-check true || check_fail=$((check_fail + 1)); timed "$CONF_A" "$W/plain" -N4 true
	fi
	# One node: what --efa-check costs a node that has its CPUs to itself (on this machine the
	# 4 "nodes" above share 2 cores, so their 4 checks run 2 at a time).
	timed "$CONF_A" "$W/plain1" -N1 true
	timed "$CONF_A" "$W/checked1" -N1 --efa-check true || check_fail=$((check_fail + 1))
	i=$((i + 1))
done
# efa-check env runs during the measured steps (0 = every step found the env cache)
envexec_s=$(( $(grep -c ' env ' "$S/log/efa-check-calls.log" 2>/dev/null) - envcalls_s ))
envexec_a=$(( $(grep -c ' env ' "$A/log/efa-check-calls.log" 2>/dev/null) - envcalls_a ))

. "$TOP/bench/lib.sh"
ms=$(bench_median "$W/s" %.6f) ma=$(bench_median "$W/a" %.6f) mb=$(bench_median "$W/b" %.6f)
mp=$(bench_median "$W/plain" %.6f) mc=$(bench_median "$W/checked" %.6f)
# pair by pair: run i with the plugin against run i without it, then the median of the ratios
ratio_s=$(bench_pair_ratio "$W/s" "$W/bs")
ratio=$(bench_pair_ratio "$W/a" "$W/b")
added=$(bench_pair_diff "$W/checked" "$W/plain")
added1=$(bench_pair_diff "$W/checked1" "$W/plain1")
ok0=$(awk -v r="$ratio_s" 'BEGIN { print (r <= 1.05) ? "yes" : "no" }')
ok1=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.05) ? "yes" : "no" }')
ok2=$(awk -v d="$added" 'BEGIN { print (d <= 0.5) ? "yes" : "no" }')

echo "## SPANK plugin overhead ($N interleaved runs each, 4 nodes)"
echo
echo "| measurement | median (s) | figure | goal | met |"
echo "| --- | --- | --- | --- | --- |"
printf '| `srun -N4 true`, plugin loaded, no option, shipped etc/ samples as they are | %.3f | ratio %s | <= 1.05 | %s |\n' "$ms" "$ratio_s" "$ok0"
printf '| `srun -N4 true`, plugin loaded, no option, non-default StateDir (per node) | %.3f | ratio %s | <= 1.05 | %s |\n' "$ma" "$ratio" "$ok1"
printf '| `srun -N4 true`, no plugin | %.3f | | | |\n' "$mb"
printf '| `srun -N4 --efa-check true` (tcp) | %.3f | +%s s | <= 0.5 s | %s |\n' "$mc" "$added" "$ok2"
printf '| `srun -N4 true` (same cluster, interleaved) | %.3f | | | |\n' "$mp"
printf '| `srun -N1 --efa-check true` vs `srun -N1 true` | %.3f | +%s s | (per node) | |\n' "$(bench_median "$W/checked1" %.6f)" "$added1"
echo
echo "efa-check env exec'd by the plugin during the measured steps: shipped $envexec_s, non-default StateDir $envexec_a (0 = the env cache was found every time)"
[ "$check_fail" -gt 0 ] && echo "note: $check_fail/$N checked steps failed the check (memlock limit here: $(ulimit -l) KiB)"
printf '{"bench":"plugin_overhead","iterations":%d,"nodes":4,"median_s":{"plugin_shipped":%s,"plugin_no_option":%s,"no_plugin":%s,"plain":%s,"efa_check":%s},"ratio_shipped":%s,"ratio":%s,"env_execs":{"shipped":%d,"statedir":%d},"efa_check_added_s":%s,"efa_check_added_one_node_s":%s,"checked_steps_failed":%d,"goals_met":{"ratio_shipped":%s,"ratio":%s,"added":%s}}\n' \
	"$N" "$ms" "$ma" "$mb" "$mp" "$mc" "$ratio_s" "$ratio" "$envexec_s" "$envexec_a" "$added" "$added1" "$check_fail" \
	"$([ "$ok0" = yes ] && echo true || echo false)" "$([ "$ok1" = yes ] && echo true || echo false)" "$([ "$ok2" = yes ] && echo true || echo false)"
