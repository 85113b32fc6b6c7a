#!/bin/sh
# `efa-check cross` on the Slurm test cluster with every node's efa-check under the EFA
# personality layer (tests/efa-personality/README.md): provider efa, fabric efa-direct, and an
# RMA to a peer that has not yet inserted the initiator into its AV fails, as fi_efa.7 says it
# does on efa-direct: each node records its inserts in a shared state directory
# (EFA_PERSONALITY_STATE) and an RMA to a peer without a record of us completes with an error.
# n2 inserts slowly (EFA_PERSONALITY_AV_DELAY_MS): its real (tcp) inserts happen at once and its
# endpoints keep progressing, so peers connect and their messages arrive as on efa, where a
# send needs no connection; only its efa-visible inserts come late. Code that issues RMA right
# after its own fi_av_insert then fails on n2's links; the fence after the inserts must wait for
# n2, and every link must pass (issue 9 point 2). With cross.c's fence removed, the
# "all links ok" check below fails. Needs `make test-support`.
. "$(dirname "$0")/../lib.sh"

CLUSTER=$TOP/tests/cluster/cluster.sh
C=$T_TMP/cluster
PERSONALITY=$TOP/build/tests/libefa-personality.so
STATE=$T_TMP/personality

cleanup() {
	if [ "$_t_failed" -ne 0 ] && [ -d "$C/log" ]; then
		sh "$CLUSTER" logs "$C" 20 2>&1 | diag
	fi
	sh "$CLUSTER" stop "$C" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

personality() { # node [NAME=VALUE...]: that node's efa-check runs under the personality layer
	node=$1; shift
	sh "$CLUSTER" fault "$C" "$node" "EFA_TEST_PRELOAD=$PERSONALITY" "EFA_PERSONALITY_STATE=$STATE" \
		EFA_PERSONALITY_OPEN_MS=0 "$@"
}

cross() { # NAME NODELIST
	name=$1 nodes=$2
	t0=$(date +%s)
	run_capture "$name" timeout 120 \
		srun -w "$nodes" --ntasks-per-node=1 --mpi=pmix "$C/bin/efa-check" cross --json
	SECS=$(( $(date +%s) - t0 ))
}
jq_() { json_get "$T_TMP/$1.out" "$2" 2>/dev/null; }

mkdir -p "$STATE"
run_capture start sh "$CLUSTER" start "$C" --nodes 3
expect_rc "cluster starts" 0 start
if [ "$RC" -ne 0 ]; then done_testing; exit 1; fi
. "$C/env"
printf 'Provider=efa\nTimeout=60\nOnFail=log\nExpectedGPUs=0\nMinMemlock=8M\n' > "$C/etc/efa-check.conf"
chmod 600 "$C/etc/efa-check.conf"

personality n1
personality n2
personality n3
cross healthy3 "n[1-3]"
expect_rc "3 healthy nodes under the personality layer: pass (${SECS}s)" 0 healthy3

personality n2 EFA_PERSONALITY_AV_DELAY_MS=300
cross slow2 "n[1-3]"
expect_rc "3 healthy nodes, n2 slow to insert its peers: pass (${SECS}s)" 0 slow2
check "all links ok (no RMA before the peer inserted us)" \
	[ "$(jq_ slow2 'all(l["ok"] for l in j["links"]) and len(j["links"]) > 0')" = True ]
check "no bad nodes" [ "$(jq_ slow2 'j["bad_nodes"]')" = "[]" ]
check "fabric efa-direct named in the cross report" [ "$(jq_ slow2 'j.get("fabric")')" = efa-direct ]
check "the libfabric file is named in the cross report" [ -f "$(jq_ slow2 'j.get("libfabric_path")')" ]
expect_grep "links detail says RMA waited for every peer's inserts" "RMA after every peer's AV inserts" "$T_TMP/slow2.out"
check "the fence waited for n2's slow inserts (4 x 300 ms)" \
	[ "$(jq_ slow2 'int([c["detail"] for c in j["checks"] if c["name"]=="links"][0].split("(fence ")[1].split(" ms")[0]) >= 600')" = True ]

# The layer really refuses an early RMA: with every node's inserts published nowhere (each
# node its own state directory), every RMA fails and the links are reported, not passed.
for n in n1 n2 n3; do
	mkdir -p "$STATE/$n"
	sh "$CLUSTER" fault "$C" "$n" "EFA_TEST_PRELOAD=$PERSONALITY" "EFA_PERSONALITY_STATE=$STATE/$n" EFA_PERSONALITY_OPEN_MS=0
done
cross unknown "n[1-3]"
check "RMA to peers that never inserted us fails (exit $RC)" [ "$RC" -ne 0 ]
expect_grep "the failure is the RMA" 'RMA' "$T_TMP/unknown.out"

done_testing
