#!/bin/sh
# Integration: `efa-check prolog` and `efa-check health` on a real Slurm test cluster
# (tests/cluster/cluster.sh): Prolog= with PrologFlags=Alloc and HealthCheckProgram=.
# Faults are injected below the product (libefa-fault.so preloaded by the cluster's per-node
# wrapper). TAP output; every wait is bounded.
. "$(dirname "$0")/../lib.sh"
CLUSTER=$TOP/tests/cluster/cluster.sh
D=$T_TMP/cluster
TIMEOUT_S=10

if [ ! -x "$EFA_CHECK" ] || [ ! -f "$FAULT_LIB" ] || [ ! -f "$CLUSTER" ]; then
	not_ok "prolog tests need prolog/efa-check, $FAULT_LIB and $CLUSTER (make test-support)"
	done_testing; exit
fi
# slurmd and its prologs inherit the memlock limit (RDMA memory registration); a container
# that cannot raise it gets a MinMemlock matching what it has.
ulimit -l unlimited 2>/dev/null
memlock=$(ulimit -l)
minmem=64M
[ "$memlock" != unlimited ] && [ "$memlock" -lt 65536 ] && minmem=${memlock}K

cleanup() { sh "$CLUSTER" stop "$D" >/dev/null 2>&1; rm -rf "$T_TMP"; }
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM HUP

# ---- helpers -----------------------------------------------------------------------

node_state() { timeout 10 sinfo -h -N -n "$1" -o '%T' 2>/dev/null | head -1; }
node_reason() { timeout 10 sinfo -R -h -N -n "$1" -o '%E' 2>/dev/null | head -1; }
state_json() { echo "$D/state/$1/last-report.json"; }
runs_of() { # NODE -> real check runs recorded in its state dir (0 when none)
	f=$(state_json "$1")
	[ -f "$f" ] && json_get "$f" 'j.get("runs", 0)' || echo 0
}
# wait_for SECS CMD...: poll CMD every 0.5 s until it succeeds
wait_for() {
	_end=$(( $(date +%s) + $1 )); shift
	until "$@"; do
		[ "$(date +%s)" -ge "$_end" ] && return 1
		sleep 0.5
	done
}
reason_matches() { node_reason "$1" | grep -qE -- "$2"; }
state_matches() { node_state "$1" | grep -qE -- "$2"; }
job_state() { timeout 10 squeue -h -j "$1" -o '%T' 2>/dev/null; }
job_done() {
	s=$(timeout 10 scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
	case $s in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|"") return 0 ;; esac
	return 1
}
job_field() { timeout 10 scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
# run_node NAME NODE SUBCOMMAND [ENV...]: the cluster's wrapper for NODE, bounded, timed
run_node() {
	_name=$1 _node=$2 _sub=$3; shift 3
	_t0=$(date +%s%N)
	env "$@" timeout 120 "$D/bin/efa-check" "$_sub" --node "$_node" --json --verbose \
		>"$T_TMP/$_name.out" 2>"$T_TMP/$_name.err"
	RC=$?
	ELAPSED_MS=$(( ($(date +%s%N) - _t0) / 1000000 ))
}
show_logs() { sh "$CLUSTER" logs "$D" 15 2>&1 | diag; }

# ---- cluster -----------------------------------------------------------------------

mkdir -p "$D/metrics"
cat > "$T_TMP/efa-check.conf" <<EOF
Provider=tcp
Domains=lo
Timeout=$TIMEOUT_S
MinMemlock=$minmem
CacheTTL=300
OnFail=drain-requeue
Resume=yes
NodeName=n1 MetricsFile=$D/metrics/n1.prom
EOF
chmod 0644 "$T_TMP/efa-check.conf"
if ! timeout 120 sh "$CLUSTER" start "$D" --nodes 4 --prolog --healthcheck \
	--healthcheck-interval 5 --efa-conf "$T_TMP/efa-check.conf" \
	--plugin "efa_check=@DIR@/bin/efa-check config=@DIR@/etc/efa-check.conf" \
	--conf-extra "PartitionName=shared Nodes=n1 OverSubscribe=FORCE:16 Default=NO State=UP" \
	>"$T_TMP/start.log" 2>&1; then
	not_ok "test cluster starts"; diag < "$T_TMP/start.log"
	done_testing; exit
fi
ok "test cluster with Prolog=efa-check prolog and HealthCheckProgram=efa-check health is up"
. "$D/env"

# ---- 1. a healthy job runs with the prolog ---------------------------------------------

run_capture srun1 timeout 60 srun -w n1 -N1 -n1 hostname
expect_rc "a job on a healthy node runs with the prolog" 0 srun1
check "the prolog recorded a healthy report in StateDir" \
	test "$(json_get "$(state_json n1)" 'j["ok"]')" = True
expect_grep "MetricsFile is written with efa_check_ok 1" '^efa_check_ok 1$' "$D/metrics/n1.prom"
expect_grep "MetricsFile has the loopback bandwidth per domain" \
	'^efa_check_loopback_write_bytes_per_second\{domain="lo"\} [0-9.e+]+$' "$D/metrics/n1.prom"
check "no temp file is left next to the MetricsFile" \
	test "$(ls -A "$D/metrics" | grep -vc '^n1.prom$')" -eq 0

# ---- 2. cached result: a second job does not re-run the check -----------------------------

# The periodic health check (every 5 s) reuses a full result for only min(CacheTTL, 30 s): on
# a loaded machine it may run a real check of its own meanwhile. Then the last report is the
# health check's; a run by the prolog would leave a prolog report.
before=$(runs_of n1)
run_capture srun2 timeout 60 srun -w n1 -N1 -n1 true
expect_rc "a second job on n1 runs" 0 srun2
after=$(runs_of n1)
last_mode=$(json_get "$(state_json n1)" 'j.get("mode", "")')
check "its prolog reused the cached result (runs $before -> $after, last run by: $last_mode)" \
	test "$after" -eq "$before" -o "$last_mode" = health

# ---- 3. the job asked (--efa-check): the cache is bypassed ----------------------------------

before=$(runs_of n1)
run_node bypass n1 prolog SPANK_EFA_CHECK=local
check "prolog with SPANK_EFA_CHECK set runs the check (runs $before -> $(runs_of n1))" \
	test "$RC" -eq 0 -a "$(runs_of n1)" -eq $((before + 1))
check "the SPANK plugin is loaded: sbatch --help shows --efa-check" \
	sh -c 'timeout 10 sbatch --help 2>&1 | grep -q -- --efa-check'
before=$(runs_of n1)
jid=$(timeout 30 sbatch --parsable --efa-check -w n1 -o /dev/null --wrap true)
wait_for 60 job_done "$jid"
check "sbatch --efa-check bypasses the cache (runs $before -> $(runs_of n1))" \
	test "$(runs_of n1)" -gt "$before"
before=$(runs_of n1)
jid=$(timeout 30 sbatch --parsable -w n1 -o /dev/null --wrap true)
wait_for 60 job_done "$jid"
check "sbatch without --efa-check reuses the cache (runs $before -> $(runs_of n1))" \
	test "$(runs_of n1)" -eq "$before"

# ---- 3b. a changed configuration is never answered from the older cached result -------------

# n1 holds a fresh healthy result (CacheTTL=300). A configuration under which n1 must fail:
cp "$D/etc/efa-check.conf" "$T_TMP/efa-check.conf.orig"
echo "NodeName=n1 Domains=nosuchdomain0" >> "$D/etc/efa-check.conf"
before=$(runs_of n1)
run_node changed n1 prolog
check "after a config change the next prolog runs the check (runs $before -> $(runs_of n1)) and fails (exit $RC)" \
	test "$RC" -ne 0 -a "$(runs_of n1)" -gt "$before"
expect_grep "it names the domain the new configuration asks for" "nosuchdomain0" "$T_TMP/changed.err"
cp "$T_TMP/efa-check.conf.orig" "$D/etc/efa-check.conf"
run_node reverted n1 health
check "back to the old configuration the failed result is not reused either: health passes (exit $RC)" \
	test "$RC" -eq 0
if wait_for 30 state_matches n1 '^(idle|mixed|allocated)$'; then ok "n1 is back in service"; else
	not_ok "n1 back in service (state $(node_state n1), reason '$(node_reason n1)')"; fi

# ---- 4. 12+ concurrent jobs on one node run the check once and all start ---------------------

rm -f "$(state_json n1)"      # as if the cache had expired
# The periodic health check (HealthCheckInterval=5) also runs a real check while there is no
# result; on a loaded machine it may do so in this window. Its runs are counted apart.
hc_n1() { _n=$(grep -c 'healthcheck n1 job=' "$D/log/healthcheck-n1.log" 2>/dev/null); echo "${_n:-0}"; }
hc_before=$(hc_n1)
jobs=""
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do
	jobs="$jobs $(timeout 30 sbatch --parsable -p shared -w n1 -n1 -o /dev/null --wrap 'sleep 3' 2>>"$T_TMP/sbatch.err")"
done
njobs=$(echo $jobs | wc -w)
check "14 jobs submitted to n1 ($njobs)" test "$njobs" -eq 14
[ "$njobs" -eq 14 ] || diag < "$T_TMP/sbatch.err"
all_started() {
	for j in $jobs; do
		s=$(timeout 10 scontrol show job "$j" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
		case $s in RUNNING|COMPLETED|COMPLETING) ;; *) return 1 ;; esac
	done
}
if wait_for 60 all_started; then ok "14 concurrent jobs on n1 all start"; else
	not_ok "14 concurrent jobs on n1 all start"; timeout 10 squeue | diag; show_logs
fi
# Slurm shows a job RUNNING while its prolog still runs: wait for what the assertion is about,
# the prolog of every one of the 14 jobs having finished (the wrapper logs "job=J exit=RC").
prologs_done() {
	for j in $jobs; do grep -q "prolog n1 job=$j exit=" "$D/log/prolog-n1.log" 2>/dev/null || return 1; done
}
wait_for 60 prologs_done || not_ok "the prologs of the 14 jobs finish"
prologs=$(grep -c 'prolog n1 job=' "$D/log/prolog-n1.log" 2>/dev/null)
runs=$(runs_of n1)
# health runs that ended in the window, plus one that may have been running when it began
hc_window=$(( $(hc_n1) - hc_before + 1 ))
check "the check ran once for all of them (runs=$runs, at most 1 + $hc_window by health checks; $prologs prolog runs on n1 so far)" \
	test "$runs" -ge 1 -a "$runs" -le $((1 + hc_window))
all_done() { for j in $jobs; do job_done "$j" || return 1; done; }
wait_for 60 all_done || { not_ok "the 14 jobs finish"; timeout 10 squeue | diag; }

# ---- 5. a faulty node is drained with an efa-check reason; what Slurm does with the job -----
# After a non-zero prolog exit slurmd asks slurmctld to requeue the job (SchedMD/slurm
# src/slurmd/slurmd/req.c _launch_job_fail). 22.05 asks for JOB_REQUEUE_HOLD|JOB_LAUNCH_FAILED
# itself; 23.02+ sends JOB_LAUNCH_FAILED and slurmctld holds the job (src/slurmctld/job_mgr.c
# _job_requeue_op, until MaxBatchRequeue). On every release a batch job is requeued AND HELD
# (Priority 0, "launch failed requeued held") unless SchedulerParameters=nohold_on_prolog_fail,
# which this cluster does not set. Interactive jobs are killed instead (section 6b).
slurm_version=$(timeout 10 sinfo --version 2>/dev/null | sed -n 's/^slurm[^ ]* \([0-9.]*\).*/\1/p')
echo "# Slurm $slurm_version"
sh "$CLUSTER" fault "$D" n2 "EFA_FAULT=rma_corrupt"
# The cache expires: wait for an efa-check of n2 started before the fault to finish (it holds
# the lock while it runs and saves), then drop its result.
sleep 2
timeout 30 flock -w 25 "$D/state/n2/lock" rm -f "$(state_json n2)"
jid=$(timeout 30 sbatch --parsable -w n2 -o /dev/null --wrap true)
if wait_for 60 reason_matches n2 '^efa-check: loopback lo'; then
	ok "a node with corrupted RMA below the product is drained: $(node_reason n2)"
else
	not_ok "n2 drained with an efa-check loopback reason (state $(node_state n2), reason '$(node_reason n2)')"
	show_logs
fi
check "sinfo -R shows n2 drained" state_matches n2 'drain'
# requeued and held by the failed prolog -- or, when the periodic health check drained n2
# first, never started there; either way it must not have run on the bad node.
requeued() { [ "$(job_field "$jid" Restarts)" -ge 1 ] 2>/dev/null || job_field "$jid" Reason | grep -qi requeue; }
held() {
	[ "$(job_field "$jid" JobState)" = PENDING ] &&
		[ "$(job_field "$jid" Reason)" = launch_failed_requeued_held ] &&
		[ "$(job_field "$jid" Priority)" = 0 ]
}
kept_off() { [ "$(job_field "$jid" JobState)" = PENDING ] && job_field "$jid" Reason | grep -q ReqNodeNotAvail; }
if wait_for 30 requeued; then
	if held; then
		ok "Slurm $slurm_version requeued the batch job and held it (Reason=$(job_field "$jid" Reason), Priority=0): no nohold_on_prolog_fail"
	else
		not_ok "Slurm $slurm_version: the requeued batch job is held (JobState=$(job_field "$jid" JobState) Reason=$(job_field "$jid" Reason) Priority=$(job_field "$jid" Priority))"
		timeout 10 scontrol show job "$jid" | diag
	fi
elif kept_off; then ok "the job did not start on n2: the health check drained it first ($(job_field "$jid" Reason))"
else
	not_ok "job $jid on n2 requeued"; timeout 10 scontrol show job "$jid" | diag
fi
timeout 10 scancel "$jid" 2>/dev/null
check "the report says the transient failure was retried once" \
	grep -q '"note":"retried once: ' "$(state_json n2)"

# ---- 6. the health check resumes it once the fault is gone ----------------------------------

sh "$CLUSTER" clear-fault "$D" n2
if wait_for 60 state_matches n2 '^(idle|mixed|allocated)$'; then
	ok "the health check resumed n2 after its fault was removed"
else
	not_ok "n2 resumed (state $(node_state n2), reason '$(node_reason n2)')"; show_logs
fi

# ---- 6b. an srun job whose prolog fails is killed, not requeued ----------------------------
# _launch_job_fail's requeue request is refused for a job without a batch script
# (ESLURM_BATCH_ONLY, job_mgr.c _job_requeue_op) and slurmd kills the job, on every release.
sh "$CLUSTER" fault "$D" n2 "EFA_FAULT=rma_corrupt"
sleep 2
timeout 30 flock -w 25 "$D/state/n2/lock" rm -f "$(state_json n2)"
sname=efa-srun-$$
run_capture srun_bad timeout 60 srun -J "$sname" -w n2 -N1 -n1 --immediate=20 true
sjid=$(timeout 10 squeue -h -t all -n "$sname" -o %i 2>/dev/null | head -1)
if [ -z "$sjid" ] && grep -qiE 'immediate|not available|unavailable' "$T_TMP/srun_bad.err"; then
	ok "srun was refused: the health check drained n2 first (exit $RC)"
elif [ -n "$sjid" ]; then
	st=$(job_field "$sjid" JobState)
	check "Slurm $slurm_version: srun whose prolog failed exits non-zero (exit $RC)" test "$RC" -ne 0
	check "... its job is ended ($st), not requeued (Restarts=$(job_field "$sjid" Restarts))" \
		sh -c "[ '$st' != PENDING ] && [ '$st' != RUNNING ] && [ '$(job_field "$sjid" Restarts)' = 0 ]"
else
	not_ok "srun on the faulty n2 (exit $RC, no job named $sname)"; diag < "$T_TMP/srun_bad.err"
fi
sh "$CLUSTER" clear-fault "$D" n2
wait_for 60 state_matches n2 '^(idle|mixed|allocated)$' ||
	not_ok "n2 resumed after the srun test (state $(node_state n2), reason '$(node_reason n2)')"

# ---- 7. an admin's drain reason is kept, and never resumed by efa-check ---------------------

timeout 10 scontrol update nodename=n3 state=drain reason="admin: bad DIMM"
sh "$CLUSTER" fault "$D" n3 "EFA_FAULT=getinfo_fail"
run_node admin_prolog n3 prolog SPANK_EFA_CHECK=1
check "prolog on an admin-drained faulty node fails (exit $RC)" test "$RC" -ne 0
check "the admin's reason is kept by the prolog: '$(node_reason n3)'" reason_matches n3 '^admin: bad DIMM$'
expect_grep "the prolog logs that it kept the admin's reason" "not draining, keeping the reason" "$T_TMP/admin_prolog.err"
sh "$CLUSTER" clear-fault "$D" n3
run_node admin_health n3 health
check "health on the healthy, admin-drained node exits 0 (exit $RC)" test "$RC" -eq 0
# at least one periodic health check too: wait for one to finish (the wrapper logs "exit=")
hc_runs() { _n=$(grep -c 'healthcheck n3 job=' "$D/log/healthcheck-n3.log" 2>/dev/null); echo "${_n:-0}"; }
hc_before=$(hc_runs)
hc_after() { [ "$(hc_runs)" -gt "$hc_before" ]; }
wait_for 20 hc_after || not_ok "a periodic health check ran on n3 (HealthCheckInterval=5)"
check "the admin-drained node is not resumed: '$(node_reason n3)'" reason_matches n3 '^admin: bad DIMM$'
check "and stays drained ($(node_state n3))" state_matches n3 'drain'
timeout 10 scontrol update nodename=n3 state=resume

# ---- 8. a hung check is killed at the deadline; the node is drained saying so ----------------

sh "$CLUSTER" fault "$D" n4 "EFA_FAULT=getinfo_hang"
run_node hang n4 prolog SPANK_EFA_CHECK=1
check "prolog with fi_getinfo hung returns within Timeout=${TIMEOUT_S}s (${ELAPSED_MS} ms, exit $RC)" \
	test "$ELAPSED_MS" -le $(( TIMEOUT_S * 1000 + 1000 )) -a "$RC" -ne 0
if wait_for 10 reason_matches n4 '^efa-check: .*hung'; then
	ok "n4 drained with a reason saying the check hung: $(node_reason n4)"
else
	not_ok "n4 reason says hung ('$(node_reason n4)')"; head -20 "$T_TMP/hang.err" | diag
fi

# ---- 9. slurmctld stopped: bounded return, non-zero exit ---------------------------------------

ctld=$(sed -n 's/^slurmctld //p' "$D/run/pids")
sh "$CLUSTER" fault "$D" n4 "EFA_FAULT=getinfo_fail"
if [ -n "$ctld" ] && kill -STOP "$ctld"; then
	run_node ctld_stopped n4 prolog SPANK_EFA_CHECK=1
	kill -CONT "$ctld"
	check "with slurmctld stopped the prolog returns within Timeout (${ELAPSED_MS} ms) and exits non-zero ($RC)" \
		test "$ELAPSED_MS" -le $(( TIMEOUT_S * 1000 + 1000 )) -a "$RC" -ne 0
	expect_grep "it logs that the drain could not be done" "could not drain .*did not answer" "$T_TMP/ctld_stopped.err"
else
	not_ok "stop slurmctld (pid '$ctld')"
fi
sh "$CLUSTER" clear-fault "$D" n4
if wait_for 60 state_matches n4 '^(idle|mixed|allocated)$'; then
	ok "n4 resumed by the health check after the hang fault is gone"
else
	not_ok "n4 resumed (state $(node_state n4), reason '$(node_reason n4)')"
fi

# ---- 10. health check before slurmd registered: node unknown, healthy -> exit 0 ---------------

run_node unknown n9 health
check "health for a node slurmctld does not know exits 0 when healthy (exit $RC)" test "$RC" -eq 0
expect_grep "and logs the failed lookup" "node lookup failed" "$T_TMP/unknown.err"
check "an unknown node gets only the light checks (jobs may run there)" \
	grep -q '"note":"light checks only' "$T_TMP/unknown.out"

# ---- 11. busy node: the health check runs only checks that cannot disturb the job ------------
# HealthCheckNodeState=ANY (etc/slurm.conf.snippet) runs it next to jobs. With a job running on
# n1 and a fault that fails every heavy check (fi_getinfo), health must pass on the light checks
# and say so; the periodic health check must not drain n1; once idle, the full checks run again.

run_capture busyjob timeout 20 sbatch --parsable -w n1 -N1 -n1 -o /dev/null --wrap 'sleep 40'
jid=$(cat "$T_TMP/busyjob.out")
if wait_for 40 sh -c "[ \"\$(timeout 10 squeue -h -j '$jid' -o %T 2>/dev/null)\" = RUNNING ]"; then
	ok "a job runs on n1 (job $jid, n1 $(node_state n1))"
else
	not_ok "job $jid running on n1 (state $(job_state "$jid"))"; show_logs
fi
sh "$CLUSTER" fault "$D" n1 "EFA_FAULT=getinfo_fail"
# the job's prolog left a fresh full result, which health may reuse (min(CacheTTL, 30 s)):
# without it, health must run, and run only the light checks
rm -f "$(state_json n1)"
run_node busy n1 health
grep -q '"note":"light checks only' "$T_TMP/busy.out" || { diag < "$T_TMP/busy.out"; tail -5 "$T_TMP/busy.err" | diag; }
check "health on the busy node with a heavy-check fault exits 0 (exit $RC)" test "$RC" -eq 0
check "the report says only the light checks ran, and why" \
	grep -q '"note":"light checks only (limits, devices, counters): jobs are running on this node' "$T_TMP/busy.out"
check "provider, loopback and gpu are reported not run" \
	test "$(json_get "$T_TMP/busy.out" "sorted(c['name'] for c in j['checks'] if c.get('skipped') and c['detail'].startswith('not run: jobs are running'))")" = "['gpu', 'loopback', 'provider']"
check "limits, devices and counters ran" \
	test "$(json_get "$T_TMP/busy.out" "sorted(c['name'] for c in j['checks'] if not c['detail'].startswith('not run:'))")" = "['counters', 'devices', 'limits']"
check "the device-wide counters are read but not judged next to a job" \
	test "$(json_get "$T_TMP/busy.out" "[c['detail'] for c in j['checks'] if c['name'] == 'counters'][0].startswith('not judged: jobs are running')")" = True
expect_grep "the log says light checks only" "light checks only: jobs are running" "$T_TMP/busy.err"
sleep 6   # at least one periodic health check while the job runs
check "the periodic health check did not drain the busy node ($(node_state n1), '$(node_reason n1)')" \
	test -z "$(node_reason n1)"
timeout 10 scancel "$jid" 2>/dev/null
wait_for 30 job_done "$jid"
# Once the job is gone the periodic health check may run first and drain n1 (the fault is still
# there): that is the full checks failing too. Either way n1 must no longer be busy.
if wait_for 30 state_matches n1 '^(idle|drained)$'; then
	run_node idle_full n1 health
	check "on the idle node the full checks run and the fault fails them (exit $RC)" test "$RC" -eq 1
	check "the provider check ran this time" \
		test "$(json_get "$T_TMP/idle_full.out" "[c.get('skipped', False) for c in j['checks'] if c['name']=='provider'][0]")" = False
else
	not_ok "n1 idle or drained after the job (state $(node_state n1))"
fi
sh "$CLUSTER" clear-fault "$D" n1
if wait_for 60 state_matches n1 '^(idle|mixed|allocated)$'; then
	ok "n1 back in service after the fault is gone"
else
	not_ok "n1 resumed (state $(node_state n1), reason '$(node_reason n1)')"
fi

# ---- 12. other jobs on the node: a failing bandwidth floor is checked again, unjudged -------
# Issue 15 point 3 for the prolog: `sbatch --efa-check` (cache bypassed) on a node where
# another job runs. With MinLoopbackGbps=100000 (no loopback reaches it) on n3 only, the
# floor fails; the other job may be why, so the prolog checks again without judging it and
# the job runs. Alone on n3, the same request drains it (the floor is judged).
if wait_for 60 state_matches n3 '^idle$'; then
	other=$(timeout 30 sbatch --parsable -w n3 -n1 -o /dev/null --wrap 'sleep 300' 2>>"$T_TMP/sbatch.err")
	if wait_for 60 sh -c "[ \"\$(timeout 10 squeue -h -j '$other' -o '%T')\" = RUNNING ]"; then
		ok "another job ($other) runs on n3"
	else
		not_ok "another job runs on n3 (job '$other', state $(job_state "$other"))"
	fi
	# Slurm shows the job RUNNING while its prolog may still run: that prolog, alone on n3,
	# would judge the new floor (rightly) and drain n3. Change the configuration after it.
	wait_for 60 grep -q "prolog n3 job=$other exit=" "$D/log/prolog-n3.log" ||
		not_ok "the prolog of job $other finished"
	echo "NodeName=n3 MinLoopbackGbps=100000" >> "$D/etc/efa-check.conf"
	jid=$(timeout 30 sbatch --parsable --efa-check -w n3 -n1 -o /dev/null --wrap true)
	wait_for 90 job_done "$jid"
	check "sbatch --efa-check next to another job: the floor is not judged, the job ran ($(job_field "$jid" JobState), restarts $(job_field "$jid" Restarts))" \
		test "$(job_field "$jid" JobState)" = COMPLETED -a "$(job_field "$jid" Restarts)" = 0
	check "... and n3 is not drained ($(node_state n3), '$(node_reason n3)')" test -z "$(node_reason n3)"
	timeout 10 scancel "$other"
	wait_for 30 job_done "$other"
	jid=$(timeout 30 sbatch --parsable --efa-check -w n3 -n1 -o /dev/null --wrap true)
	if wait_for 90 reason_matches n3 'MinLoopbackGbps'; then
		ok "alone on n3, the same request fails the floor and drains n3: $(node_reason n3)"
	else
		not_ok "alone on n3: drained for MinLoopbackGbps (state $(node_state n3), reason '$(node_reason n3)')"
		show_logs
	fi
	timeout 10 scancel "$jid" 2>/dev/null
	sed -i '/^NodeName=n3 MinLoopbackGbps=100000$/d' "$D/etc/efa-check.conf"
else
	not_ok "n3 idle for the other-jobs section (state $(node_state n3))"
fi

done_testing
