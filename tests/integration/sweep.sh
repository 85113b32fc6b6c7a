#!/bin/sh
# `efa-check sweep` on the real Slurm test cluster on the multi-host fabric (tests/cluster/
# cluster.sh --fabric, 6 nodes, tcp over each node's data0 link): healthy nodes pass and stay
# idle; one node whose data link drops every packet (nftables, `cluster.sh net isolate`) is
# drained alone with an efa-check reason; a node
# busy in a running job is never touched; repeated sweeps with --max-nodes cover the least
# recently swept nodes first; a job waiting for nodes gets them (the sweep stands back); a
# second sweep on the same host is refused; an srun that never returns is killed at the set's
# deadline; a sweep while slurmctld is stopped or hung fails with a clear message within its
# deadline; on a second cluster, Slurm preemption (partition PriorityTier) gives a running
# set's nodes to a job at once and nothing is judged. Needs `make test-support`.
. "$(dirname "$0")/../lib.sh"

CLUSTER=$TOP/tests/cluster/cluster.sh
C=$T_TMP/cluster
ST=$T_TMP/sweepstate
PROM=$T_TMP/prom/sweep.prom
JOBS=""

cleanup() {
	[ -n "$JOBS" ] && scancel $JOBS >/dev/null 2>&1
	[ -n "${STOPPED_CTLD:-}" ] && kill -CONT "$STOPPED_CTLD" 2>/dev/null
	if [ "$_t_failed" -ne 0 ] && [ -d "$C/log" ]; then
		sh "$CLUSTER" logs "$C" 20 2>&1 | diag
	fi
	sh "$CLUSTER" stop "$C" >/dev/null 2>&1
	sh "$CLUSTER" stop "$T_TMP/preempt" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

conf() { # extra lines...
	{ printf 'Provider=tcp\nDomains=data0\nTimeout=45\nOnFail=drain\nMinMemlock=8M\n'
	  printf 'SweepCommand=%s/bin/efa-check\nSweepMetricsFile=%s\nSweepImmediate=2\n' "$C" "$PROM"
	  for l in "$@"; do echo "$l"; done; } > "$C/etc/efa-check.conf"
	chmod 600 "$C/etc/efa-check.conf"
}

# sweep NAME [args...]: run the sweep (bounded), output in $T_TMP/NAME.out, seconds in SECS
sweep() {
	name=$1; shift
	t0=$(date +%s)
	run_capture "$name" timeout 120 "$EFA_CHECK" sweep --config "$C/etc/efa-check.conf" \
		--state-dir "$ST" "$@"
	SECS=$(( $(date +%s) - t0 ))
}

jq_() { json_get "$T_TMP/$1.out" "$2" 2>/dev/null; }
states() { sinfo -h -N -o '%N %T %E' | sort; }
calls() { grep -c " $1: efa-check cross" "$C/log/efa-check-calls.log" 2>/dev/null || echo 0; }

mkdir -p "$T_TMP/prom"
run_capture start sh "$CLUSTER" start "$C" --nodes 6 --fabric
expect_rc "cluster starts" 0 start
if [ "$RC" -ne 0 ]; then done_testing; exit 1; fi
. "$C/env"
conf

# ---- healthy -----------------------------------------------------------------------------
sweep healthy
expect_rc "6 idle healthy nodes: sweep passes (${SECS}s)" 0 healthy
expect_grep "summary: 6 tested, none bad" '^sweep: tested 6 \(ok 6, bad 0, slow 0, link 0\), error 0, skipped 0 ' "$T_TMP/healthy.out"
expect_grep "one set of 6 (blame needs >= 4)" 'set 1/1 n\[1-6\]: ok' "$T_TMP/healthy.out"
check "every node still idle" [ "$(states | awk '$2 == "idle"' | wc -l)" -eq 6 ]
check "history in StateDir/sweep.json (root-owned dir, 6 nodes ok)" \
	[ "$(json_get "$ST/sweep.json" 'sorted(k for k,v in j["nodes"].items() if v["result"]=="ok")' 2>/dev/null)" = "['n1', 'n2', 'n3', 'n4', 'n5', 'n6']" ]
expect_grep "Prometheus textfile: per-node last sweep time" '^efa_check_sweep_node_last_swept_timestamp_seconds\{node="n6"\} [0-9]' "$PROM"

# ---- one node faulty below the product ------------------------------------------------------
sh "$CLUSTER" net "$C" isolate n3
sweep faulty
expect_rc "isolated n3: sweep finds it (${SECS}s)" 1 faulty
sed 's/^/# /' "$T_TMP/faulty.out"
expect_grep "n3 is bad, with the cross reason" '^  bad +n3: cross: ' "$T_TMP/faulty.out"
states > "$T_TMP/after.out"
expect_grep "n3 drained with an efa-check: cross: reason" '^n3 drained efa-check: cross: ' "$T_TMP/after.out"
check "the other five idle, not drained" [ "$(grep -v '^n3 ' "$T_TMP/after.out" | awk '$2 == "idle" && $3 == "none"' | wc -l)" -eq 5 ]
expect_grep "metrics: n3 not ok" '^efa_check_sweep_node_ok\{node="n3"\} 0$' "$PROM"
sh "$CLUSTER" net "$C" clear
sweep drained --json
expect_rc "next sweep: the drained node is skipped, the rest pass" 0 drained
check "n3 unavailable (drained), 5 tested" [ "$(jq_ drained '(j["summary"]["tested"], [n["result"] for n in j["nodes"] if n["name"]=="n3"])')" = "(5, ['unavailable'])" ]
scontrol update nodename=n3 state=resume >/dev/null 2>&1
sh "$CLUSTER" wait-idle "$C" 30 >/dev/null 2>&1

# ---- a node busy in a running job ------------------------------------------------------------
JOB=$(sbatch --parsable -w n2 -N1 -o /dev/null --wrap 'sleep 300' 2>/dev/null)
JOBS="$JOBS $JOB"
i=0; while [ "$i" -lt 50 ] && [ "$(squeue -h -j "$JOB" -o %T 2>/dev/null)" != RUNNING ]; do sleep 0.2; i=$((i + 1)); done
before=$(calls n2)
sweep busy --json
expect_rc "n2 busy: the others pass (${SECS}s)" 0 busy
check "n2 skipped as busy, the other five tested" [ "$(jq_ busy '([n["name"] for n in j["nodes"] if n["result"]=="busy"], j["summary"]["tested"])')" = "(['n2'], 5)" ]
check "no efa-check ran on n2" [ "$(calls n2)" -eq "$before" ]
check "n2's job still runs" [ "$(squeue -h -j "$JOB" -o %T 2>/dev/null)" = RUNNING ]
check "--json: tested when, result, reason per node" [ "$(jq_ busy 'all(("tested_at" in n and "result" in n and "reason" in n) for n in j["nodes"])')" = True ]

# ---- a job waiting for nodes gets them: the sweep stands back -------------------------------------
WAITING=$(sbatch --parsable -N6 --exclusive -o /dev/null --wrap 'true' 2>/dev/null)
JOBS="$JOBS $WAITING"
i=0; while [ "$i" -lt 50 ] && [ "$(squeue -h -j "$WAITING" -o %r 2>/dev/null)" != Resources ]; do sleep 0.2; i=$((i + 1)); done
before=$(cat "$C/log/efa-check-calls.log" | wc -l)
sweep yield
expect_rc "a 6-node job waits: sweep tests nothing and says why" 0 yield
expect_grep "it names the waiting job" 'job waiting for nodes of partition debug' "$T_TMP/yield.out"
check "no efa-check ran anywhere" [ "$(wc -l < "$C/log/efa-check-calls.log")" -eq "$before" ]
scancel "$JOB" "$WAITING" >/dev/null 2>&1
sh "$CLUSTER" wait-idle "$C" 30 >/dev/null 2>&1

# ---- least recently swept first ------------------------------------------------------------------
rm -f "$ST/sweep.json"
sweep lru1 --json --max-nodes 3
expect_rc "fresh history, --max-nodes 3: passes" 0 lru1
check "first sweep tests n1-n3" [ "$(jq_ lru1 'sorted(n["name"] for n in j["nodes"] if n["tested"])')" = "['n1', 'n2', 'n3']" ]
sweep lru2 --json --max-nodes 3
check "second sweep tests the three never swept: n4-n6" [ "$(jq_ lru2 'sorted(n["name"] for n in j["nodes"] if n["tested"])')" = "['n4', 'n5', 'n6']" ]
sweep lru3 --json --nodes 'n[2-6]' --max-nodes 2
check "third (--nodes n[2-6]): the least recently swept there, n2 and n3" [ "$(jq_ lru3 'sorted(n["name"] for n in j["nodes"] if n["tested"])')" = "['n2', 'n3']" ]
check "n1 outside --nodes is not even listed" [ "$(jq_ lru3 '[n["name"] for n in j["nodes"] if n["name"]=="n1"]')" = "[]" ]

# ---- usage -----------------------------------------------------------------------------------------
sweep part --partition nope
expect_rc "unknown partition: usage error" 2 part
expect_grep "it names the partition" 'partition nope: unknown to slurmctld' "$T_TMP/part.err"
sweep unknown --nodes 'n[1,9]'
expect_rc "unknown node in --nodes: usage error" 2 unknown
expect_grep "it names the node" 'n9 is unknown to slurmctld' "$T_TMP/unknown.err"
sweep maxzero --max-nodes 0
expect_rc "--max-nodes 0: usage error" 2 maxzero

# ---- one sweep at a time -----------------------------------------------------------------------------
if command -v flock >/dev/null 2>&1; then
	flock "$ST/sweep.lock" sleep 3 &
	holder=$!
	sleep 0.5
	sweep locked
	expect_rc "a second sweep on this host is refused" 3 locked
	expect_grep "it says why" 'another sweep is running' "$T_TMP/locked.err"
	wait "$holder" 2>/dev/null   # (its sleep holds the lock until it ends)
else
	ok "# SKIP no flock(1)"
fi

# ---- srun that never returns: killed at the set's deadline -----------------------------------------
# A stand-in for srun (test infrastructure) that ignores SIGTERM and never exits: the sweep
# must kill it (and its process group) at Timeout + SweepImmediate + 20 s and say so.
printf '#!/bin/sh\ntrap "" TERM\nsleep 377\n' > "$T_TMP/stuck-srun"
chmod 755 "$T_TMP/stuck-srun"
conf Timeout=5 SweepImmediate=1 "SweepSrun=$T_TMP/stuck-srun"
sweep stuck --nodes 'n[1-4]'
conf
expect_rc "srun never returns: internal error" 3 stuck
check "killed at the set deadline 26 s + 5 s grace (${SECS}s <= 40)" [ "$SECS" -le 40 ]
expect_grep "it says so" 'deadline: srun killed after' "$T_TMP/stuck.out"
check "nothing of the stand-in is left" [ "$(ps -eo args | grep -c -e "^/bin/sh $T_TMP/stuck-srun" -e '^sleep 377$')" -eq 0 ]

# ---- slurmctld hung, then stopped ----------------------------------------------------------------------
CTLD=$(awk '$1 == "slurmctld" { print $2 }' "$C/run/pids")
kill -STOP "$CTLD" && STOPPED_CTLD=$CTLD
sweep hung
kill -CONT "$CTLD"; STOPPED_CTLD=""
expect_rc "slurmctld hung: internal error" 3 hung
check "within its deadline (${SECS}s <= 20)" [ "$SECS" -le 20 ]
expect_grep "clear message" 'cannot ask slurmctld which nodes are idle: .*(did not answer within|timed out)' "$T_TMP/hung.err"
kill -TERM "$CTLD"
i=0; while [ "$i" -lt 50 ] && kill -0 "$CTLD" 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
sweep down
expect_rc "slurmctld stopped: internal error" 3 down
check "within its deadline (${SECS}s <= 20)" [ "$SECS" -le 20 ]
expect_grep "clear message" 'cannot ask slurmctld which nodes are idle: .*(Unable to contact slurm controller|did not answer)' "$T_TMP/down.err"

# ---- Slurm preemption gives a running set's nodes to a job at once ----------------------------------
# A second cluster: the sweep runs in partition "sweep" (PriorityTier=0), jobs in "debug"
# (PriorityTier 1) preempt it (PreemptType=preempt/partition_prio, PreemptMode=CANCEL); the
# same holds with a preemptable SweepQOS and preempt/qos where accounting exists. n2 hangs
# below the product, so the set runs until Timeout unless it is preempted.
sh "$CLUSTER" stop "$C" >/dev/null 2>&1
P=$T_TMP/preempt
run_capture pstart sh "$CLUSTER" start "$P" --nodes 4 --fabric --conf-extra "PreemptType=preempt/partition_prio" \
	--conf-extra "PreemptMode=CANCEL" \
	--conf-extra "PartitionName=sweep Nodes=ALL PriorityTier=0 PreemptMode=CANCEL MaxTime=INFINITE State=UP"
expect_rc "preemption cluster starts" 0 pstart
. "$P/env"
C=$P
conf Timeout=40
sh "$CLUSTER" fault "$P" n2 "EFA_FAULT_CROSS=hang"
t0=$(date +%s)
"$EFA_CHECK" sweep --config "$P/etc/efa-check.conf" --state-dir "$T_TMP/pstate" --partition sweep \
	> "$T_TMP/preempted.out" 2> "$T_TMP/preempted.err" &
swp=$!
i=0; while [ "$i" -lt 100 ] && ! squeue -h -p sweep -t R -o %j 2>/dev/null | grep -q '^efa-check-sweep-'; do sleep 0.2; i=$((i + 1)); done
PJOB=$(sbatch --parsable -p debug -N4 --exclusive -o /dev/null --wrap 'sleep 2' 2>/dev/null)
JOBS="$JOBS $PJOB"
wait "$swp"; RC=$?
SECS=$(( $(date +%s) - t0 ))
sh "$CLUSTER" clear-fault "$P" n2
sed 's/^/# /' "$T_TMP/preempted.out"
expect_rc "a job in a higher tier preempts the set: the sweep ends at once (${SECS}s < 40)" 0 preempted
expect_grep "the set's nodes are reported busy, preempted" '^  busy +n\[1-4\]: a job took the nodes \(.*DUE TO PREEMPTION' "$T_TMP/preempted.out"
check "nothing drained (n2's hang was never judged)" [ "$(sinfo -h -N -p debug -o '%N %E' | awk '$2 == "none"' | wc -l)" -eq 4 ]
i=0; while [ "$i" -lt 50 ]; do
	pst=$(squeue -h -j "$PJOB" -t all -o %T 2>/dev/null)
	case $pst in RUNNING|COMPLETING|COMPLETED) break ;; esac
	sleep 0.2; i=$((i + 1))
done
check "the job got the nodes ($pst)" [ "$pst" = RUNNING -o "$pst" = COMPLETING -o "$pst" = COMPLETED ]
# a job waiting in debug waits for the sweep partition's nodes too: the sweep stands back
sh "$CLUSTER" wait-idle "$P" 30 >/dev/null 2>&1
HOLD=$(sbatch --parsable -p debug -w n1 -N1 -o /dev/null --wrap 'sleep 300' 2>/dev/null)
WAIT2=$(sbatch --parsable -p debug -N4 --exclusive -o /dev/null --wrap 'true' 2>/dev/null)
JOBS="$JOBS $HOLD $WAIT2"
i=0; while [ "$i" -lt 50 ] && [ "$(squeue -h -j "$WAIT2" -o %r 2>/dev/null)" != Resources ]; do sleep 0.2; i=$((i + 1)); done
run_capture overlap "$EFA_CHECK" sweep --config "$P/etc/efa-check.conf" --state-dir "$T_TMP/pstate" --partition sweep
expect_rc "a job waiting in another partition over the same nodes: the sweep stands back" 0 overlap
expect_grep "it says so" '1 job waiting for nodes of partition sweep' "$T_TMP/overlap.out"

done_testing
