#!/bin/sh
# Gray failures on the multi-host test fabric (tests/cluster/cluster.sh --fabric, 4 nodes, tcp
# over each node's data0 link): a node throttled to a fraction of the others is named slow and
# nobody else (OnSlow=log: not drained; OnSlow=drain: drained with the slow reason); one
# throttled link between two healthy nodes is a slow link and drains neither; the
# security-group fault (data dropped between every pair, Slurm passing) drains nobody and says
# what to check; a data link down on one node blames and drains that node; healthy runs name
# no slow node; a slow rank of the NCCL all-reduce (the NCCL double's slow rank) is named slow
# by the pair phase and nobody else. Every network fault is a real network condition
# (`cluster.sh net`). Needs `make test-support`.
. "$(dirname "$0")/../lib.sh"

CLUSTER=$TOP/tests/cluster/cluster.sh
C=$T_TMP/cluster
RATE=${GRAY_RATE:-100mbit}

cleanup() {
	if [ "$_t_failed" -ne 0 ] && [ -d "$C/log" ]; then
		sh "$CLUSTER" logs "$C" 20 2>&1 | diag
	fi
	sh "$CLUSTER" stop "$C" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

conf() { # extra lines...
	{ printf 'Provider=tcp\nDomains=data0\nTimeout=30\nOnFail=drain\n'; for l in "$@"; do echo "$l"; done; } \
		> "$C/etc/efa-check.conf"
	chmod 600 "$C/etc/efa-check.conf"
}
cross() { # NAME: cross over n1..n4, JSON in NAME.out, stderr in NAME.err
	run_capture "$1" timeout 120 srun -w "n[1-4]" --ntasks-per-node=1 --mpi=pmix "$C/bin/efa-check" cross --json
}
jq_() { json_get "$T_TMP/$1.out" "$2" 2>/dev/null; }
gbps() { jq_ "$1" '" ".join("%s-%s:%.2f%s" % (l["a"], l["b"], l["gbps"], "" if l["ok"] else "!") for l in j["links"])'; }
drained() { sinfo -h -N -o '%N %E' | awk '$2 != "none" {print $1}' | sort -u | tr '\n' ' '; }
resume_all() {
	for n in n1 n2 n3 n4; do scontrol update nodename=$n state=resume >/dev/null 2>&1; done
	sh "$CLUSTER" wait-idle "$C" 30 >/dev/null 2>&1
}

run_capture start sh "$CLUSTER" start "$C" --nodes 4 --fabric
expect_rc "fabric cluster starts" 0 start
if [ "$RC" -ne 0 ]; then done_testing; exit 1; fi
. "$C/env"

# ---- healthy: nobody slow -----------------------------------------------------------------
conf
for i in 1 2 3; do
	cross healthy$i
	# A slow node would be drained (OnSlow=drain): never on a healthy run. A slow link is
	# only reported; when make check runs four suites on 2 cores, one healthy link measured
	# once at 0.25x the median (n1-n4 1.28 vs 5.07 Gb/s): allowed, and shown.
	check "healthy run $i: passes, no slow node ($(gbps healthy$i))" \
		[ "$RC" -eq 0 -a "$(jq_ healthy$i 'j["slow_nodes"]')" = "[]" ]
	[ "$(jq_ healthy$i 'any(l.get("slow") for l in j["links"])')" = False ] ||
		echo "healthy run $i: a link reported slow under this machine's load ($(gbps healthy$i))" | diag
done

# ---- a slow node ---------------------------------------------------------------------------
sh "$CLUSTER" net "$C" throttle n2 "$RATE"
mkdir -p "$C/metrics"
conf "MetricsFile=$C/metrics/efa-check.prom"
cross slowlog
expect_rc "n2 throttled to $RATE, OnSlow=log (default): the check passes" 0 slowlog
check "n2 named slow, nobody else ($(jq_ slowlog 'j["slow_nodes"]'); $(gbps slowlog))" \
	[ "$(jq_ slowlog 'j["slow_nodes"]')" = "['n2']" ]
check "no bad node" [ "$(jq_ slowlog 'j["bad_nodes"]')" = "[]" ]
expect_grep "stderr names it with figures" '^efa-check: n2: cross: slow: [0-9.]+ Gb/s vs median [0-9.]+ Gb/s \(OnSlow=log' "$T_TMP/slowlog.err"
check "nobody drained with OnSlow=log ($(drained))" [ -z "$(drained)" ]
M=$C/metrics/efa-check-cross.prom
expect_grep "rank 0 wrote the links and slow nodes beside MetricsFile" '^efa_check_node_slow\{node="n2"\} 1$' "$M"
expect_grep "per-link bandwidth in bytes per second" '^efa_check_link_bytes_per_second\{a="n1",b="n2"\} [0-9.e+]+$' "$M"
if command -v promtool >/dev/null 2>&1; then
	run_capture promtool sh -c "promtool check metrics < '$M'"
	expect_rc "promtool check metrics passes on it" 0 promtool
else
	ok "# SKIP promtool not installed (Debian package prometheus)"
fi

conf OnSlow=drain
cross slowdrain
expect_rc "OnSlow=drain: the check fails" 1 slowdrain
check "n2 slow and bad, nobody else ($(jq_ slowdrain 'j["slow_nodes"]') $(jq_ slowdrain 'j["bad_nodes"]'))" \
	[ "$(jq_ slowdrain 'j["slow_nodes"]')" = "['n2']" -a "$(jq_ slowdrain 'j["bad_nodes"]')" = "['n2']" ]
sinfo -h -N -n n2 -o '%E' > "$T_TMP/reason.out" 2>&1
expect_grep "n2 drained with the slow reason ($(cat "$T_TMP/reason.out"))" '^efa-check: cross: slow: [0-9.]+ Gb/s vs median [0-9.]+ Gb/s' "$T_TMP/reason.out"
check "only n2 drained ($(drained))" [ "$(drained)" = "n2 " ]
resume_all
sh "$CLUSTER" net "$C" clear

# ---- one slow link between two healthy nodes -------------------------------------------------
sh "$CLUSTER" net "$C" throttle-link n1 n3 "$RATE"
cross slowlink
expect_rc "throttled link n1-n3 (OnSlow=drain): the check passes" 0 slowlink
check "reported as a slow link ($(gbps slowlink))" \
	[ "$(jq_ slowlink '[l["a"]+"-"+l["b"] for l in j["links"] if l.get("slow")]')" = "['n1-n3']" ]
check "no slow node, no bad node" [ "$(jq_ slowlink 'j["slow_nodes"] + j["bad_nodes"]')" = "[]" ]
check "nobody drained ($(drained))" [ -z "$(drained)" ]
sh "$CLUSTER" net "$C" clear

# ---- a slow rank in the NCCL all-reduce ---------------------------------------------------------
# The CPU NCCL double (tests/doubles/README.md) on every node, 2 "GPUs" each; on n3 the double
# sends every message 100 ms late (EFA_TEST_NCCL_SLOW_MS): everyone's all-reduce waits for it, as
# with real NCCL, and only the pair exchanges with n3 are slow (nccl.h, the pair phase).
DBL=$TOP/build/tests/doubles/libnccl-double.so
mkdir -p "$T_TMP/nccl"
nconf() { conf "NcclLibrary=$DBL" "CudaLibrary=$DBL" "NcclBytes=1048576" "$@"; }
crossg() {
	run_capture "$1" env EFA_TEST_GPUS=2 EFA_TEST_NCCL_DIR="$T_TMP/nccl" timeout 120 \
		srun -w "n[1-4]" --ntasks-per-node=1 --mpi=pmix "$C/bin/efa-check" cross --json
}
nconf
crossg ncclok
expect_rc "NCCL on every node, healthy: passes" 0 ncclok
check "the all-reduce ran and nobody is slow ($(jq_ ncclok 'j["slow_nodes"]'))" \
	[ "$(jq_ ncclok '[c["ok"] and not c.get("skipped") for c in j["checks"] if c["name"]=="nccl"]')" = "[True]" -a \
	  "$(jq_ ncclok 'j["slow_nodes"]')" = "[]" ]
sh "$CLUSTER" fault "$C" n3 "EFA_TEST_NCCL_SLOW_MS=100"
crossg nccl_slowlog
expect_rc "n3 a slow NCCL rank, OnSlow=log: the check passes" 0 nccl_slowlog
check "n3 named slow, nobody else ($(jq_ nccl_slowlog 'j["slow_nodes"]'))" [ "$(jq_ nccl_slowlog 'j["slow_nodes"]')" = "['n3']" ]
expect_grep "stderr names it with the pairs' figures" '^efa-check: n3: cross: nccl slow: [0-9.e-]+ GB/s vs median [0-9.e-]+ GB/s \(OnSlow=log' "$T_TMP/nccl_slowlog.err"
check "nobody drained with OnSlow=log ($(drained))" [ -z "$(drained)" ]
nconf OnSlow=drain
crossg nccl_slowdrain
expect_rc "n3 a slow NCCL rank, OnSlow=drain: the check fails" 1 nccl_slowdrain
check "n3 slow and bad, nobody else ($(jq_ nccl_slowdrain 'j["slow_nodes"]') $(jq_ nccl_slowdrain 'j["bad_nodes"]'))" \
	[ "$(jq_ nccl_slowdrain 'j["slow_nodes"]')" = "['n3']" -a "$(jq_ nccl_slowdrain 'j["bad_nodes"]')" = "['n3']" ]
sinfo -h -N -n n3 -o '%E' > "$T_TMP/nreason.out" 2>&1
expect_grep "n3 drained with the NCCL slow reason ($(cat "$T_TMP/nreason.out"))" '^efa-check: cross: nccl slow: [0-9.e-]+ GB/s vs median' "$T_TMP/nreason.out"
check "only n3 drained ($(drained))" [ "$(drained)" = "n3 " ]
sh "$CLUSTER" clear-fault "$C" n3
resume_all
conf

# ---- the security-group fault ------------------------------------------------------------------
sh "$CLUSTER" net "$C" sg-block
cross sg
expect_rc "data dropped between every pair: the check fails" 1 sg
check "every link failed ($(gbps sg))" [ "$(jq_ sg 'all(not l["ok"] for l in j["links"])')" = True ]
check "nobody blamed" [ "$(jq_ sg 'j["bad_nodes"] + j["slow_nodes"]')" = "[]" ]
expect_grep "the reason says what to check" 'cross: all 6 links failed: check the security group allows all traffic to and from itself' "$T_TMP/sg.out"
check "nobody drained ($(drained))" [ -z "$(drained)" ]
sh "$CLUSTER" net "$C" clear

# ---- a data link down on one node --------------------------------------------------------------
sh "$CLUSTER" net "$C" down n3
cross down
expect_rc "n3's data link down: the check fails" 1 down
check "n3 blamed alone ($(jq_ down 'j["bad_nodes"]'))" [ "$(jq_ down 'j["bad_nodes"]')" = "['n3']" ]
check "only n3 drained ($(drained))" [ "$(drained)" = "n3 " ]
sh "$CLUSTER" net "$C" clear
resume_all

done_testing
