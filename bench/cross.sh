#!/bin/sh
# bench/cross.sh -- `efa-check cross` on the Slurm test cluster on the multi-host fabric
# (tests/cluster/cluster.sh --fabric, 6 nodes, each in its own network namespace, tcp over its
# data0 link): wall time of `srun ... efa-check cross` for 2..6 nodes (median of RUNS); the
# number of rounds the scheduler gives for N = 2 .. 4096 (`efa-check cross --print-schedule N`);
# blame accuracy over the fault scenarios (real network faults from `cluster.sh net`, a hung
# rank and the NCCL double's faults per node: bad nodes found, healthy nodes wrongly blamed);
# with the NCCL double on every node: wall time for 3..6 nodes, slow nodes named by the NCCL
# pair phase on healthy runs (must be none) and whether a slow rank is named.
# Prints a Markdown table and one JSON line ({"bench":"cross",...}). Needs `make test-support`.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
EFA=$TOP/prolog/efa-check
CLUSTER=$TOP/tests/cluster/cluster.sh
DOUBLE=$TOP/build/tests/doubles/libnccl-double.so
RUNS=${RUNS:-5}
T=$(mktemp -d /tmp/efa-bench-cross.XXXXXX)
C=$T/cluster
trap 'sh "$CLUSTER" stop "$C" >/dev/null 2>&1; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

sh "$CLUSTER" start "$C" --nodes 6 --fabric >/dev/null 2>&1 || { echo "bench/cross.sh: cluster did not start" >&2; exit 1; }
. "$C/env"
printf 'Provider=tcp\nDomains=data0\nTimeout=20\nOnFail=log\nNcclLibrary=%s\nCudaLibrary=%s\nNcclBytes=1048576\n' \
	"$DOUBLE" "$DOUBLE" > "$C/etc/efa-check.conf"
chmod 600 "$C/etc/efa-check.conf"
mkdir -p "$T/nccl"

ms() { date +%s%3N; }
. "$TOP/bench/lib.sh"

run_cross() { # nodelist [env...] -> JSON in $T/out.json, wall ms in $WALL
	nl=$1; shift
	t0=$(ms)
	env "$@" EFA_TEST_NCCL_DIR="$T/nccl" timeout 90 srun -w "$nl" --ntasks-per-node=1 --mpi=pmix \
		"$C/bin/efa-check" cross --json > "$T/out.json" 2>/dev/null
	WALL=$(( $(ms) - t0 ))
}

# ---- wall time ------------------------------------------------------------------------
walls=""
# every healthy run also counts false positives of the slow rule (MinLinkFraction, default)
healthy_runs=0 fp_nodes=0 fp_links=0 min_ratio=""
count_slow() {
	set -- $(python3 -c 'import json,sys
j=json.load(open(sys.argv[1])); g=sorted(l["gbps"] for l in j["links"] if l["ok"])
med=g[len(g)//2] if g else 0
print(len(j.get("slow_nodes",[])), sum(1 for l in j["links"] if l.get("slow")), "%.2f" % (g[0]/med if med else 1))' "$T/out.json" 2>/dev/null || echo 0 0 1)
	healthy_runs=$((healthy_runs + 1)); fp_nodes=$((fp_nodes + $1)); fp_links=$((fp_links + $2))
	echo "$3" >> "$T/ratios"
}
: > "$T/ratios"
for n in 2 3 4 5 6; do
	: > "$T/w$n"
	for _ in $(seq "$RUNS"); do run_cross "n[1-$n]"; echo "$WALL" >> "$T/w$n"; count_slow; done
	eval "wall_$n=$(bench_median "$T/w$n" %d)"
done

# ---- the NCCL pair phase on healthy runs (the NCCL double, 2 GPUs a node) ------------------
# false positives of the slow rule over the NCCL pairs' GB/s (nccl.h, the pair phase), and the
# wall time the phase costs; then one slow rank (the double's EFA_TEST_NCCL_SLOW_MS on n3)
nccl_runs=0 nccl_fp=0
for n in 3 4 5 6; do
	: > "$T/nw$n"
	for _ in $(seq "$RUNS"); do
		run_cross "n[1-$n]" EFA_TEST_GPUS=2
		echo "$WALL" >> "$T/nw$n"
		nccl_runs=$((nccl_runs + 1))
		nccl_fp=$((nccl_fp + $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("slow_nodes", [])))' "$T/out.json" 2>/dev/null || echo 0)))
	done
	eval "nwall_$n=$(bench_median "$T/nw$n" %d)"
done
sh "$CLUSTER" fault "$C" n3 "EFA_TEST_NCCL_SLOW_MS=100"
run_cross "n[1-6]" EFA_TEST_GPUS=2
nccl_slow_named=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1])).get("slow_nodes", [])) or "-")' "$T/out.json" 2>/dev/null || echo "?")
nccl_slow_wall=$WALL
sh "$CLUSTER" clear-fault "$C" n3

# ---- rounds from the scheduler ------------------------------------------------------
rounds_json=""
rounds_md=""
for n in 2 3 4 6 8 16 32 64 128 256 512 1024 2048 4096; do
	set -- $("$EFA" cross --print-schedule "$n")
	# nodes N rounds R peers_per_node P links L
	rounds_json="$rounds_json${rounds_json:+, }\"$n\": $4"
	rounds_md="$rounds_md| $n | $4 | $6 | $8 |
"
done

# ---- blame accuracy -------------------------------------------------------------------
# scenario: name, nodelist, truly bad nodes, env, fault lines per node (node:"K=V ...")
found=0 wrong=0 expected=0 scen=0 detail=""
# a fault is "NODE:K=V ..." (the node's fault file) or "net:ACTION ARGS" (cluster.sh net)
scenario() { # name nodelist bad env faults...
	name=$1 nl=$2 bad=$3 envs=$4; shift 4
	for f in "$@"; do
		# shellcheck disable=SC2086 # net actions are words
		case $f in net:*) sh "$CLUSTER" net "$C" ${f#net:} ;; *) sh "$CLUSTER" fault "$C" "${f%%:*}" "${f#*:}" ;; esac
	done
	# shellcheck disable=SC2086
	run_cross "$nl" $envs
	got=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1])).get("bad_nodes", [])))' "$T/out.json" 2>/dev/null)
	for f in "$@"; do case $f in net:*) ;; *) sh "$CLUSTER" clear-fault "$C" "${f%%:*}" ;; esac; done
	sh "$CLUSTER" net "$C" clear
	scen=$((scen + 1))
	for b in $bad; do expected=$((expected + 1)); case " $got " in *" $b "*) found=$((found + 1)) ;; esac; done
	for g in $got; do case " $bad " in *" $g "*) ;; *) wrong=$((wrong + 1)) ;; esac; done
	detail="$detail| $name | ${bad:--} | ${got:--} | $WALL |
"
}
scenario healthy "n[1-6]" "" "X=1"
scenario "isolated node" "n[1-6]" "n4" "X=1" "net:isolate n4"
scenario "two isolated nodes" "n[1-6]" "n2 n5" "X=1" "net:isolate n2" "net:isolate n5"
scenario "data link down" "n[1-6]" "n3" "X=1" "net:down n3"
scenario "bad link n1-n2 (one-way drop)" "n[1-4]" "" "X=1" "net:drop n1 n2"
scenario "hung rank" "n[1-4]" "n3" "X=1" "n3:EFA_FAULT_CROSS=hang"
scenario "nccl wrong result" "n[1-4]" "n2" "EFA_TEST_GPUS=2" "n2:EFA_TEST_NCCL_WRONG=1"
scenario "nccl hung rank" "n[1-4]" "n4" "EFA_TEST_GPUS=2" "n4:EFA_TEST_NCCL_HANG=allreduce"

echo "## efa-check cross on the test fabric (tcp over each node's data0 link, Timeout=20, median of $RUNS)"
echo
echo "| nodes | wall time (ms) |"
echo "| --- | --- |"
for n in 2 3 4 5 6; do eval "echo \"| $n | \$wall_$n |\""; done
echo
echo "With the NCCL double (2 GPUs a node; the all-reduce, then the pair phase for 3+ nodes):"
echo
echo "| nodes | wall time (ms) |"
echo "| --- | --- |"
for n in 3 4 5 6; do eval "echo \"| $n | \$nwall_$n |\""; done
echo
echo "nccl pair phase on healthy runs: $nccl_fp slow nodes named over $nccl_runs runs; n3 a slow rank (EFA_TEST_NCCL_SLOW_MS=100) of 6: named $nccl_slow_named (${nccl_slow_wall} ms)"
echo
echo "| N | rounds | peers per node | links |"
echo "| --- | --- | --- | --- |"
printf '%s' "$rounds_md"
echo
echo "| scenario | truly bad | blamed | wall (ms) |"
echo "| --- | --- | --- | --- |"
printf '%s' "$detail"
echo
echo "blame: $found/$expected bad nodes found, $wrong healthy nodes wrongly blamed, $scen scenarios"
min_ratio=$(sort -n "$T/ratios" | head -1)
echo "slow rule on healthy runs: $fp_nodes slow nodes and $fp_links slow links named over $healthy_runs runs (lowest link/median ratio seen $min_ratio; MinLinkFraction default 0.25)"
echo "{\"bench\": \"cross\", \"wall_ms\": {\"2\": $wall_2, \"3\": $wall_3, \"4\": $wall_4, \"5\": $wall_5, \"6\": $wall_6}, \"rounds\": {$rounds_json}, \"blame\": {\"scenarios\": $scen, \"bad_expected\": $expected, \"bad_found\": $found, \"healthy_blamed\": $wrong}, \"slow_false_positives\": {\"runs\": $healthy_runs, \"slow_nodes\": $fp_nodes, \"slow_links\": $fp_links, \"lowest_ratio\": ${min_ratio:-1}}, \"nccl_pairs\": {\"wall_ms\": {\"3\": $nwall_3, \"4\": $nwall_4, \"5\": $nwall_5, \"6\": $nwall_6}, \"healthy_runs\": $nccl_runs, \"slow_nodes\": $nccl_fp, \"slow_rank_named\": \"$nccl_slow_named\"}}"
