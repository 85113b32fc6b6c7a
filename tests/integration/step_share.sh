#!/bin/sh
# Integration (issue 15 point 3): user-triggered checks share one run per node. 20 concurrent
# `srun --overlap --efa-check true` steps of one job on one node: every step succeeds on a
# healthy node, at most 2 root `efa-check local` runs exist at once (the plugin's slots in
# StateDir), and the checks that ran are counted by StateDir's run counter (last-report.json
# "runs"): steps that started before a result finished reuse it instead of starting another.
# Then (issue 15 point 3, other jobs): with MinLoopbackGbps=100000, which no loopback reaches,
# `srun --efa-check` fails while the user's job is alone on the node, and passes with a
# "not judged: 1 other job(s) on this node" note while another user's job shares the node
# (2 cores, CR_Core: one for each job); alone again, it fails again.
. "$(dirname "$0")/../lib.sh"
CLUSTER=$TOP/tests/cluster/cluster.sh
PLUGIN=$TOP/spank/spank_efa_check.so
D=$T_TMP/cluster
STEPS=20
CAP=2

if [ ! -x "$EFA_CHECK" ] || [ ! -f "$PLUGIN" ] || [ ! -f "$FAULT_LIB" ]; then
	not_ok "step_share needs prolog/efa-check, $PLUGIN and $FAULT_LIB (make all test-support)"
	done_testing; exit
fi
cleanup() { sh "$CLUSTER" stop "$D" >/dev/null 2>&1; rm -rf "$T_TMP"; }
trap cleanup EXIT

cat > "$T_TMP/efa-check.conf" <<'EOF'
Provider=tcp
Domains=lo
Timeout=40
MinMemlock=4M
LoopbackIterations=5
EOF
chmod 0644 "$T_TMP/efa-check.conf"
if ! timeout 180 sh "$CLUSTER" start "$D" --nodes 1 --efa-conf "$T_TMP/efa-check.conf" \
	--plugin "efa_check=@DIR@/bin/efa-check config=@DIR@/etc/efa-check.conf timeout=60" \
	>"$T_TMP/start.log" 2>&1; then
	not_ok "test cluster starts with the plugin"; diag < "$T_TMP/start.log"
	done_testing; exit
fi
ok "test cluster (1 node, plugin) is up"
. "$D/env"
cd "$T_TMP" || exit 1
runs() { f=$D/state/n1/last-report.json; [ -f "$f" ] && json_get "$f" 'j.get("runs", 0)' || echo 0; }

# The most top-level root efa-check check runs of this cluster (the binary run with its
# --config and --shared-since, as the plugin runs a user-triggered check; not its forked
# workers, and not the plugin's `efa-check env`, which checks nothing) seen at once.
sampler() {
python3 - "$T_TMP/maxconc" 300 "$EFA_CHECK" "$D/etc/efa-check.conf" <<'EOF' &
import os, sys, time
out, end, exe = sys.argv[1], time.time() + float(sys.argv[2]), os.path.realpath(sys.argv[3])
conf = sys.argv[4].encode()   # this cluster's runs only (other clusters may run on the host)
best = seen = 0
def is_efa(p):
    try:
        argv = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        return (os.readlink("/proc/%s/exe" % p) == exe and os.stat("/proc/" + p).st_uid == 0 and
                conf in argv and b"--shared-since" in argv)
    except OSError:
        return False
while time.time() < end and not os.path.exists(out + ".stop"):
    n = 0
    for p in os.listdir("/proc"):
        if p.isdigit() and is_efa(p):
            try:
                ppid = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            # a run the plugin started: its parent is slurmstepd (a supervised worker
            # outliving its parent by a moment is reparented, and not a run of its own)
            try:
                pcomm = open("/proc/%s/comm" % ppid).read().strip()
            except OSError:
                continue
            n += pcomm.startswith("slurmstepd")
            seen += 1
    best = max(best, n)
    time.sleep(0.01)
open(out, "w").write("%d %d\n" % (best, seen))
EOF
sampler_pid=$!
}
# steps NAME: $STEPS concurrent `srun --overlap --efa-check true` in one allocation on n1;
# sets FAILED (steps that failed), MAXC and SAMPLES (sampler), RUNS (real runs, run counter)
steps() {
	rm -f "$T_TMP/maxconc" "$T_TMP/maxconc.stop"
	sampler
	_before=$(runs)
	run_capture "$1" timeout 280 salloc -N1 -w n1 sh -c "
	i=0 pids=
	while [ \$i -lt $STEPS ]; do
		timeout 240 srun --overlap -N1 -n1 --efa-check true > '$T_TMP/$1.'\$i.out 2>&1 &
		pids=\"\$pids \$!\"
		i=\$((i + 1))
	done
	fail=0
	for j in \$pids; do wait \$j || fail=\$((fail + 1)); done
	echo failed=\$fail"
	: > "$T_TMP/maxconc.stop"
	wait "$sampler_pid"
	RUNS=$(( $(runs) - _before ))
	FAILED=$(sed -n 's/^failed=//p' "$T_TMP/$1.out")
	read -r MAXC SAMPLES < "$T_TMP/maxconc" || MAXC=x
}
cap_check() { # DESC
	if [ "${SAMPLES:-0}" -gt 0 ]; then
		check "$1: at most $CAP root efa-check runs at once (most seen: $MAXC, in $SAMPLES process samples)" \
			test "$MAXC" -le "$CAP"
	else
		ok "$1: at most $CAP root efa-check runs at once # SKIP no efa-check process was caught running"
	fi
}

steps healthy
check "$STEPS concurrent srun --overlap --efa-check steps on a healthy node all succeed (failed: ${FAILED:-?})" \
	test "${FAILED:-x}" = 0
[ "${FAILED:-x}" = 0 ] || { cat "$T_TMP"/healthy.*.out "$T_TMP/healthy.err" | sort | uniq -c | head -20 | diag; }
check "the steps shared the checks: $RUNS real runs for $STEPS steps (StateDir run counter)" \
	test "$RUNS" -ge 1 -a "$RUNS" -lt "$STEPS"
calls=$(grep -c 'efa-check local' "$D/log/efa-check-calls.log" 2>/dev/null || echo 0)
check "every step asked efa-check (the shared path), $calls calls for $STEPS steps" test "$calls" -eq "$STEPS"
cap_check healthy

# Slow checks (every RMA hangs: the loopback check waits 5 s, retried once): without the cap
# all 20 steps' efa-check processes would wait at once; with it at most 2 exist. The node is
# unhealthy now: every step fails with the check's reason (shared), none with "busy".
sh "$CLUSTER" fault "$D" n1 "EFA_FAULT=rma_hang" >/dev/null
steps slow
sh "$CLUSTER" clear-fault "$D" n1 >/dev/null
check "slow failing checks: all $STEPS steps fail (failed: ${FAILED:-?})" test "${FAILED:-x}" = "$STEPS"
check "slow failing checks: every step names the loopback failure, none says busy" \
	sh -c "[ \$(cat '$T_TMP'/slow.*.out | grep -c 'loopback lo') -ge $STEPS ] && ! cat '$T_TMP'/slow.*.out | grep -q busy"
cat "$T_TMP"/slow.*.out | sort | uniq -c | sort -rn | head -4 | diag
check "slow failing checks: shared, $RUNS real runs for $STEPS steps" test "$RUNS" -ge 1 -a "$RUNS" -lt "$STEPS"
cap_check "slow checks"

# ---- other jobs on the node: bandwidth floors and device-wide counters not judged ----------
HUSER=efahostile
if ! id -u "$HUSER" >/dev/null 2>&1; then
	# a system user without a home or a login shell; kept between runs (hostile.sh uses it too)
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$HUSER" \
		>/dev/null 2>&1 || id -u "$HUSER" >/dev/null 2>&1 || not_ok "useradd $HUSER"
fi
echo "MinLoopbackGbps=100000" >> "$D/etc/efa-check.conf"
chmod 0755 "$T_TMP"   # the other user's sbatch reads $D/etc/slurm.conf
# efa_step NAME: one `srun --efa-check` job of its own on n1 (exit in $RC)
efa_step() { run_capture "$1" timeout 120 srun -N1 -n1 -w n1 --efa-check true; }
# other_job_state: the other user's job's state ("" when gone)
other_job_state() { timeout 10 squeue -h -j "$other" -o '%T' 2>/dev/null; }

efa_step alone
expect_rc "alone on the node: srun --efa-check fails with MinLoopbackGbps=100000" 1 alone
expect_grep "... naming the bandwidth floor" 'MinLoopbackGbps 100000' "$T_TMP/alone.err"

other=$(runuser -u "$HUSER" -- env -i HOME=/tmp PATH=/usr/bin:/bin SLURM_CONF="$SLURM_CONF" \
	timeout 30 sbatch --parsable -N1 -n1 -w n1 --chdir=/ -o /dev/null -e /dev/null --wrap 'sleep 300' 2>"$T_TMP/other.err")
i=0
while [ -n "$other" ] && [ "$(other_job_state)" != RUNNING ] && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
if [ -n "$other" ] && [ "$(other_job_state)" = RUNNING ]; then
	ok "another user's job $other runs on n1"
else
	not_ok "another user's job runs on n1 (job '${other:-none}', state '$(other_job_state)')"; diag < "$T_TMP/other.err"
fi
efa_step shared
expect_rc "another job on the node: srun --efa-check passes (the floor is not judged)" 0 shared
expect_grep "... and tells the user so" 'n1: note: .*not judged: 1 other job\(s\) on this node' "$T_TMP/shared.err"
f=$D/state/n1/last-report.json
check "the JSON report's note says what was not judged ($(json_get "$f" 'j.get("note", "")' 2>/dev/null))" \
	sh -c "python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(\"not judged: 1 other job(s) on this node\" not in j.get(\"note\", \"\"))' '$f'"
check "... the loopback was measured and not judged, the counters check says not judged" \
	sh -c "python3 -c '
import json, sys
j = json.load(open(sys.argv[1])); c = {x[\"name\"]: x for x in j[\"checks\"]}
sys.exit(not (c[\"loopback\"][\"ok\"] and \"MinLoopbackGbps 100000 not judged\" in c[\"loopback\"][\"detail\"]
	and c[\"counters\"][\"detail\"].startswith(\"not judged: 1 other job(s)\")))' '$f'"
grep 'other job' "$D"/log/efa-check-*.log "$D"/log/slurmd-n1.log 2>/dev/null | tail -3 | diag
[ -n "$other" ] && timeout 10 scancel "$other"
i=0
while [ -n "$(other_job_state)" ] && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
efa_step alone_again
expect_rc "alone again: the floor is judged again and fails" 1 alone_again
done_testing
