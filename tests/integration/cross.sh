#!/bin/sh
# `efa-check cross` on the real Slurm test cluster on the multi-host fabric (tests/cluster/
# cluster.sh --fabric, 6 nodes, each in its own network namespace, tcp over its data0 link):
# healthy passes; a node whose data link drops every packet is blamed alone (and drained with
# an efa-check reason); one dead link is a link, not a node; a rank hung below the product is
# named by the others within the deadline; the NCCL test double across nodes passes, and names
# the node with a wrong result or a hung all-reduce. Network faults are real (nftables on the
# data bridge, `cluster.sh net`); the hung rank comes from libefa-fault.so
# (tests/faultlib/cross_sockets.c) and the NCCL faults from the double's controls, per node via
# `cluster.sh fault`. Needs `make test-support`.
. "$(dirname "$0")/../lib.sh"

CLUSTER=$TOP/tests/cluster/cluster.sh
C=$T_TMP/cluster
DOUBLE=$TOP/build/tests/doubles/libnccl-double.so

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
	{ printf 'Provider=tcp\nDomains=data0\nTimeout=20\nOnFail=log\nNcclLibrary=%s\nCudaLibrary=%s\nNcclBytes=1048576\n' \
		"$DOUBLE" "$DOUBLE"; for l in "$@"; do echo "$l"; done; } > "$C/etc/efa-check.conf"
	chmod 600 "$C/etc/efa-check.conf"
}

clear_faults() {
	for n in n1 n2 n3 n4 n5 n6; do sh "$CLUSTER" clear-fault "$C" "$n"; done
	sh "$CLUSTER" net "$C" clear
}

# cross NAME NODELIST [env...]: srun the cross check (bounded), JSON report in $T_TMP/NAME.out
cross() {
	name=$1 nodes=$2; shift 2
	t0=$(date +%s)
	run_capture "$name" env "$@" EFA_TEST_NCCL_DIR="$T_TMP/nccl" timeout 90 \
		srun -w "$nodes" --ntasks-per-node=1 --mpi=pmix "$C/bin/efa-check" cross --json
	SECS=$(( $(date +%s) - t0 ))
}

jq_() { json_get "$T_TMP/$1.out" "$2" 2>/dev/null; }

mkdir -p "$T_TMP/nccl"
run_capture start sh "$CLUSTER" start "$C" --nodes 6 --fabric
expect_rc "cluster starts" 0 start
if [ "$RC" -ne 0 ]; then done_testing; exit 1; fi
. "$C/env"
conf

# ---- healthy ------------------------------------------------------------------------
cross healthy6 "n[1-6]"
expect_rc "6 healthy nodes pass (${SECS}s)" 0 healthy6
check "report has 12 links, all ok" [ "$(jq_ healthy6 'sum(1 for l in j["links"] if l["ok"])')" = 12 ]
check "no bad nodes" [ "$(jq_ healthy6 'j["bad_nodes"]')" = "[]" ]
check "every link measured bandwidth" [ "$(jq_ healthy6 'all(l["gbps"] > 0 for l in j["links"])')" = True ]
check "nccl skipped without GPUs" [ "$(jq_ healthy6 '[c.get("skipped") for c in j["checks"] if c["name"]=="nccl"]')" = "[True]" ]

cross healthy2 "n[5-6]"
expect_rc "2 healthy nodes pass" 0 healthy2
check "2 nodes: one link" [ "$(jq_ healthy2 'len(j["links"])')" = 1 ]

# ---- one node whose data link drops everything ------------------------------------------
sh "$CLUSTER" net "$C" isolate n3
cross isolate "n[1-4]"
expect_rc "isolated n3: cross fails (${SECS}s)" 1 isolate
check "n3 blamed alone" [ "$(jq_ isolate 'j["bad_nodes"]')" = "['n3']" ]
check "its 3 links failed, the other 3 passed" \
	[ "$(jq_ isolate 'sorted((l["a"]+"-"+l["b"], l["ok"]) for l in j["links"] if not l["ok"])')" = \
	  "[('n1-n3', False), ('n2-n3', False), ('n3-n4', False)]" ]
check "reason names n3" grep -q '"reason": *"efa-check: n3: cross: ' "$T_TMP/isolate.out"

# drained with an efa-check reason when OnFail=drain
conf OnFail=drain
cross drain "n[1-4]"
expect_rc "OnFail=drain: cross fails" 1 drain
sinfo -h -N -n n3 -o '%E' > "$T_TMP/reason.out" 2>&1
expect_grep "n3 drained with an efa-check: cross: reason" '^efa-check: cross: ' "$T_TMP/reason.out"
sinfo -h -N -o '%N %E' | awk '$2 != "none"' | grep -v '^n3 ' > "$T_TMP/others.out"
if [ ! -s "$T_TMP/others.out" ]; then ok "no other node drained"; else not_ok "no other node drained"; diag < "$T_TMP/others.out"; fi
scontrol update nodename=n3 state=resume >/dev/null 2>&1
sh "$CLUSTER" wait-idle "$C" 30 >/dev/null 2>&1
conf
clear_faults

# ---- one bad link (n1's packets to n2 dropped: one way, as a broken route would) -----------
sh "$CLUSTER" net "$C" drop n1 n2
cross badlink "n[1-4]"
expect_rc "bad link n1-n2: cross fails (${SECS}s)" 1 badlink
check "no node blamed" [ "$(jq_ badlink 'j["bad_nodes"]')" = "[]" ]
check "exactly the link n1-n2 failed" [ "$(jq_ badlink '[l["a"]+"-"+l["b"] for l in j["links"] if not l["ok"]]')" = "['n1-n2']" ]
expect_grep "reason names the link" 'cross: link n1<->n2 failed' "$T_TMP/badlink.out"
clear_faults

# ---- a rank hung below the product ----------------------------------------------------
sh "$CLUSTER" fault "$C" n3 "EFA_FAULT_CROSS=hang"
cross hang "n[1-4]"
# srun returns the highest task exit code: the hung task's own 3 (deadline exceeded).
check "hung n3: srun fails (exit $RC: rank 0 says 1, the hung task 3)" [ "$RC" -eq 1 -o "$RC" -eq 3 ]
check "srun ends within the deadline (20 s) plus launch (${SECS}s <= 28)" [ "$SECS" -le 28 ]
check "n3 blamed alone" [ "$(jq_ hang 'j["bad_nodes"]')" = "['n3']" ]
expect_grep "srun names the hung node" 'efa-check: n3: cross: ' "$T_TMP/hang.out"
clear_faults

# ---- NCCL (test double) -----------------------------------------------------------------
cross nccl "n[1-4]" EFA_TEST_GPUS=2
expect_rc "NCCL double over 4 nodes x 2 GPUs passes (${SECS}s)" 0 nccl
check "nccl check passed with busbw" [ "$(jq_ nccl '[c["ok"] and c["metrics"]["busbw_gbs"] > 0 for c in j["checks"] if c["name"]=="nccl"]')" = "[True]" ]

sh "$CLUSTER" fault "$C" n2 "EFA_TEST_NCCL_WRONG=1"
cross nccl_wrong "n[1-4]" EFA_TEST_GPUS=2
expect_rc "NCCL wrong result on n2: fails" 1 nccl_wrong
check "n2 blamed alone" [ "$(jq_ nccl_wrong 'j["bad_nodes"]')" = "['n2']" ]
expect_grep "reason says the result was wrong" 'all-reduce result wrong' "$T_TMP/nccl_wrong.out"
clear_faults

sh "$CLUSTER" fault "$C" n4 "EFA_TEST_NCCL_HANG=allreduce"
cross nccl_hang "n[1-4]" EFA_TEST_GPUS=2
expect_rc "NCCL hang on n4: fails (${SECS}s)" 1 nccl_hang
check "srun ends within the deadline (${SECS}s <= 28)" [ "$SECS" -le 28 ]
check "n4 blamed alone" [ "$(jq_ nccl_hang 'j["bad_nodes"]')" = "['n4']" ]
expect_grep "a hang is a timeout" 'hung in' "$T_TMP/nccl_hang.out"
clear_faults

# ---- usage ------------------------------------------------------------------------------
run_capture nopmix "$EFA_CHECK" cross --provider tcp --timeout 5
expect_rc "outside srun --mpi=pmix: usage error" 2 nopmix
run_capture sched "$EFA_CHECK" cross --print-schedule 4096
expect_grep "--print-schedule 4096: 12 rounds" '^nodes 4096 rounds 12 ' "$T_TMP/sched.out"

# ---- the real nccl.h --------------------------------------------------------------------
sh "$TOP/tests/nccl-build-check.sh" > "$T_TMP/abi.out" 2>&1
rc=$?
if [ "$rc" -eq 77 ]; then ok "# SKIP nccl build check: $(tail -1 "$T_TMP/abi.out")"
elif [ "$rc" -eq 0 ]; then ok "nccl.c's ABI compiles against the real nccl.h and cuda_runtime_api.h"
else not_ok "nccl build check"; diag < "$T_TMP/abi.out"; fi

done_testing
