#!/bin/sh
# bench/sweep.sh -- `efa-check sweep` on the Slurm test cluster (tests/cluster/cluster.sh --fabric, 6
# nodes, tcp over each node's data0 link): wall time of a sweep of 2, 4 and 6 idle nodes (--nodes n[1-N]; one set each), and
# how much of it is the sweep's own work (libslurm queries before and after the set, planning,
# the state file) rather than the set's srun + efa-check cross. Median of RUNS.
# Prints a Markdown table and one JSON line ({"bench":"sweep",...}). Needs `make test-support`.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
EFA=$TOP/prolog/efa-check
CLUSTER=$TOP/tests/cluster/cluster.sh
RUNS=${RUNS:-3}
T=$(mktemp -d /tmp/efa-bench-sweep.XXXXXX)
C=$T/cluster
trap 'sh "$CLUSTER" stop "$C" >/dev/null 2>&1; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
. "$TOP/bench/lib.sh"

sh "$CLUSTER" start "$C" --nodes 6 --fabric >/dev/null 2>&1 || { echo "bench/sweep.sh: cluster did not start" >&2; exit 1; }
. "$C/env"
# OnFail=log: a benchmark never drains anything
printf 'Provider=tcp\nDomains=data0\nTimeout=30\nOnFail=log\nMinMemlock=8M\nSweepCommand=%s/bin/efa-check\n' \
	"$C" > "$C/etc/efa-check.conf"
chmod 600 "$C/etc/efa-check.conf"

fails=0
for n in 2 4 6; do
	: > "$T/w$n"; : > "$T/o$n"
	for _ in $(seq "$RUNS"); do
		timeout 120 "$EFA" sweep --config "$C/etc/efa-check.conf" --state-dir "$T/state" \
			--nodes "n[1-$n]" --json > "$T/out.json" 2>/dev/null || fails=$((fails + 1))
		python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
sets = sum(s["duration_ms"] for s in j["sets"])
print(j["duration_ms"], j["duration_ms"] - sets)' "$T/out.json" > "$T/one" 2>/dev/null || echo "nan nan" > "$T/one"
		read -r w o < "$T/one"
		echo "$w" >> "$T/w$n"; echo "$o" >> "$T/o$n"
	done
	eval "wall_$n=$(bench_median "$T/w$n" %d)"
	eval "own_$n=$(bench_median "$T/o$n" %d)"
done

echo "## efa-check sweep on the test cluster (tcp on lo, Timeout=30, median of $RUNS)"
echo
echo "| idle nodes swept | sets | wall time (ms) | sweep's own part (ms) |"
echo "| --- | --- | --- | --- |"
echo "| 2 | 1 | $wall_2 | $own_2 |"
echo "| 4 | 1 | $wall_4 | $own_4 |"
echo "| 6 | 1 | $wall_6 | $own_6 |"
echo
echo "sweeps that did not exit 0: $fails"
echo "{\"bench\": \"sweep\", \"wall_ms\": {\"2\": $wall_2, \"4\": $wall_4, \"6\": $wall_6}, \"own_ms\": {\"2\": $own_2, \"4\": $own_4, \"6\": $own_6}, \"failed_runs\": $fails}"
