#!/bin/sh
# Integration: the SPANK plugin spank_efa_check.so on a real Slurm test cluster
# (tests/cluster/cluster.sh --fabric, 4 slurmd each in its own network namespace, efa-check
# with Provider=tcp Domains=data0: cross-node links need a real inter-node link, not `lo`).
# --efa-check in srun/sbatch/salloc, the step environment, the once-per-node local check,
# faults injected below the product (libefa-fault.so preloaded into one node's efa-check by
# the cluster's wrapper), plugin argument errors. TAP output; every srun is bounded.
. "$(dirname "$0")/../lib.sh"
CLUSTER=$TOP/tests/cluster/cluster.sh
PLUGIN=$TOP/spank/spank_efa_check.so
D=$T_TMP/cluster
T=20   # seconds for one srun/sbatch/salloc

if [ ! -x "$EFA_CHECK" ] || [ ! -f "$PLUGIN" ] || [ ! -f "$FAULT_LIB" ] || [ ! -f "$CLUSTER" ]; then
	not_ok "spank tests need prolog/efa-check, $PLUGIN, $FAULT_LIB and $CLUSTER (make all test-support)"
	done_testing; exit
fi
# slurmd, slurmstepd and efa-check inherit it (RDMA memory registration needs >= 64 MiB).
ulimit -l unlimited 2>/dev/null
MEMLOCK=$(ulimit -l)
MEMLOCK_OK=no
# The tcp loopback registers at most a few MiB: MinMemlock=4M below keeps efa-check's limits
# check meaningful on machines whose memlock limit cannot be raised (containers).
if [ "$MEMLOCK" = unlimited ] || [ "$MEMLOCK" -ge 4096 ]; then MEMLOCK_OK=yes; fi
echo "# memlock limit: $MEMLOCK KiB (enough for MinMemlock=4M: $MEMLOCK_OK)"
# When the memlock limit cannot be raised here, efa-check's limits check fails on every node,
# so the "healthy nodes" expectations cannot hold: they are reported as skipped, with why.
skip() { _t_n=$((_t_n + 1)); echo "ok $_t_n - $1 # SKIP memlock limit $MEMLOCK KiB < 4 MiB cannot be raised here: every node fails efa-check's limits check"; }
healthy_check() { # DESC CMD...: a check that needs healthy nodes
	if [ "$MEMLOCK_OK" = yes ]; then check "$@"; else skip "$1"; fi
}

cleanup() {
	if [ "$_t_failed" -ne 0 ] && [ -d "$D/log" ]; then
		sh "$CLUSTER" logs "$D" 20 2>/dev/null | diag
	fi
	sh "$CLUSTER" stop "$D" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap cleanup EXIT

conf=$T_TMP/efa-check.conf
cat > "$conf" <<'EOF'
Provider=tcp
Domains=data0
Timeout=20
MinMemlock=4M
Env=EFA_TEST_DEFAULT=admin-default
EnvForce=EFA_TEST_FORCED=admin-forced
EOF
chmod 0644 "$conf"

# A prolog that records what the job's prolog sees from the plugin (SPANK_EFA_CHECK).
prolog=$T_TMP/prolog.sh
cat > "$prolog" <<EOF
#!/bin/sh
echo "\${SPANK_EFA_CHECK:-unset}" > "$T_TMP/prolog.\$SLURM_JOB_ID.\$SLURMD_NODENAME"
exit 0
EOF
chmod 0755 "$prolog"

# No state_dir=: the plugin reads StateDir= from the config (per node here: the cluster adds
# NodeName=nX StateDir=DIR/state/nX lines), the one place efa-check writes its env cache.
ARGS="efa_check=@DIR@/bin/efa-check config=@DIR@/etc/efa-check.conf timeout=40"
start_cluster() { # plugin-args
	sh "$CLUSTER" stop "$D" >/dev/null 2>&1
	sh "$CLUSTER" start "$D" --nodes 4 --fabric --plugin "$1" --efa-conf "$conf" \
		--conf-extra "Prolog=$prolog" --conf-extra "PrologFlags=Alloc" >"$T_TMP/start.log" 2>&1
}

if ! start_cluster "$ARGS"; then
	not_ok "test cluster starts with the plugin"; diag < "$T_TMP/start.log"
	done_testing; exit
fi
ok "test cluster starts with the plugin (required in plugstack.conf)"
. "$D/env"
cd "$T_TMP" || exit 1

last_job_id() { timeout 10 squeue -h -t all -o '%i' 2>/dev/null | sort -n | tail -1; }

# ---- the option --------------------------------------------------------------------
for cmd in srun sbatch salloc; do
	run_capture help_$cmd timeout $T $cmd --help
	expect_grep "$cmd --help shows --efa-check[=local|cross]" '--efa-check(=\[local\|cross\]|\[=local\|cross\])' "$T_TMP/help_$cmd.out"
done

before=$(timeout $T srun -N1 sh -c 'echo $SLURM_JOB_ID')
run_capture badval timeout $T srun -N1 --efa-check=bogus true
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then ok "srun --efa-check=bogus exits non-zero ($RC)"; else
	not_ok "srun --efa-check=bogus exits non-zero (got $RC)"; diag < "$T_TMP/badval.err"; fi
expect_grep "the error names the allowed values" "allowed values are local, cross" "$T_TMP/badval.err"
after=$(timeout $T srun -N1 sh -c 'echo $SLURM_JOB_ID')
check "no job was allocated for the bad value (job ids $before -> $after)" \
	test "$after" -eq $((before + 1))
for cmd in sbatch salloc; do
	if [ $cmd = sbatch ]; then run_capture badval_$cmd timeout $T sbatch -N1 --efa-check=cross2 --wrap=true
	else run_capture badval_$cmd timeout $T salloc -N1 --efa-check=cross2 true; fi
	expect_grep "$cmd names the allowed values" "allowed values are local, cross" "$T_TMP/badval_$cmd.err"
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then ok "$cmd --efa-check=cross2 exits non-zero ($RC)"; else
		not_ok "$cmd --efa-check=cross2 exits non-zero (got $RC)"; diag < "$T_TMP/badval_$cmd.err"; fi
done

# The value never reaches a shell: metacharacters are just an invalid value.
rm -f "$T_TMP/pwned" "$T_TMP/pwned2"
run_capture meta timeout $T srun -N2 "--efa-check=local;touch $T_TMP/pwned" true
check "--efa-check='local;touch FILE' is rejected" test "$RC" -ne 0 -a "$RC" -ne 124
run_capture meta2 timeout $T srun -N2 "--efa-check=\$(touch $T_TMP/pwned2)" true
check "--efa-check='\$(touch FILE)' is rejected" test "$RC" -ne 0 -a "$RC" -ne 124
sleep 0.5
check "no shell ran the value (no file created)" test ! -e "$T_TMP/pwned" -a ! -e "$T_TMP/pwned2"

# Issue 15.6: _SLURM_SPANK_OPTION_efa_check_efa_check set by hand skips srun's validation and
# reaches slurmstepd raw. The step must still fail, and no raw byte may reach slurmd's log
# (Slurm logs the value when a remote option callback fails: the callback accepts it now and
# the tasks fail in task_init_privileged with a printable copy).
run_capture rawopt timeout $T env "_SLURM_SPANK_OPTION_efa_check_efa_check=$(printf 'x\033[2J\nINJECTED-LINE')" \
	srun -N1 sh -c 'echo user-command-ran'
check "raw remote --efa-check value: the step fails (exit $RC)" test "$RC" -ne 0 -a "$RC" -ne 124
check "raw remote value: the user's command did not run" sh -c "! grep -q user-command-ran '$T_TMP/rawopt.out'"
expect_grep "raw remote value: the user is told, printable" "invalid --efa-check value" "$T_TMP/rawopt.err"
check "raw remote value: no escape sequence in slurmd's logs" sh -c "! cat '$D'/log/slurmd-*.log | grep -q \"$(printf '\033')\\[2J\""
check "raw remote value: no log line starts with the injected text" sh -c "! cat '$D'/log/slurmd-*.log | grep -q '^INJECTED-LINE'"

# ---- the environment of every step -------------------------------------------------
run_capture env4 timeout $T srun -N4 -l sh -c 'echo "$SLURMD_NODENAME FI_PROVIDER=$FI_PROVIDER D=$EFA_TEST_DEFAULT F=$EFA_TEST_FORCED"'
expect_rc "srun -N4 runs with the plugin loaded" 0 env4
check "every node's tasks got FI_PROVIDER=tcp (the node's set)" \
	test "$(grep -c 'FI_PROVIDER=tcp ' "$T_TMP/env4.out")" -eq 4
check "every node's tasks got the admin's Env= default" \
	test "$(grep -c 'D=admin-default ' "$T_TMP/env4.out")" -eq 4
check "tasks ran on n1..n4" test "$(sed 's/^[0-9]*: //' "$T_TMP/env4.out" | cut -d' ' -f1 | sort | tr '\n' ' ')" = "n1 n2 n3 n4 "

run_capture envuser timeout $T env FI_PROVIDER=sockets EFA_TEST_DEFAULT=mine EFA_TEST_FORCED=mine \
	srun -N4 sh -c 'echo "FI_PROVIDER=$FI_PROVIDER D=$EFA_TEST_DEFAULT F=$EFA_TEST_FORCED"'
check "the user's own FI_PROVIDER wins over the node's default" \
	test "$(grep -c 'FI_PROVIDER=sockets ' "$T_TMP/envuser.out")" -eq 4
check "the user's own value wins over an admin Env= default" \
	test "$(grep -c 'D=mine ' "$T_TMP/envuser.out")" -eq 4
check "an admin EnvForce= key overrides the user's value" \
	test "$(grep -c 'F=admin-forced$' "$T_TMP/envuser.out")" -eq 4
expect_grep "the kept user value is logged on the node" "keeping the user's EFA_TEST_DEFAULT" "$D/log/slurmd-n1.log"

run_capture lint timeout $T env FI_EFA_MTU_SIZE=8192 RDMAV_FORK_SAFE=1 srun -N4 true
expect_rc "a step with harmful variables still runs" 0 lint
expect_grep "the user is warned about FI_EFA_MTU_SIZE" "efa-check: warning: FI_EFA_MTU_SIZE=8192" "$T_TMP/lint.err"
expect_grep "the user is warned about RDMAV_FORK_SAFE" "efa-check: warning: RDMAV_FORK_SAFE=1" "$T_TMP/lint.err"
check "warnings are printed once per step, not once per node" \
	test "$(grep -c 'warning: FI_EFA_MTU_SIZE' "$T_TMP/lint.err")" -eq 1

check "efa-check env wrote the node's env cache" test -s "$D/state/n2/env.n2"
calls_before=$(grep -c ' env ' "$D/log/efa-check-calls.log")
timeout $T srun -N4 true >/dev/null 2>&1
calls_after=$(grep -c ' env ' "$D/log/efa-check-calls.log")
check "a fresh env cache is used without exec'ing efa-check ($calls_before -> $calls_after calls)" \
	test "$calls_before" -eq "$calls_after"
# A changed configuration is never answered from the older cached set (no waiting for env_ttl).
sed -i 's/^Env=EFA_TEST_DEFAULT=admin-default$/Env=EFA_TEST_DEFAULT=admin-changed/' "$D/etc/efa-check.conf"
run_capture envchanged timeout $T srun -N4 sh -c 'echo "D=$EFA_TEST_DEFAULT"'
check "after a config change every node applies the new set at once" \
	test "$(grep -c '^D=admin-changed$' "$T_TMP/envchanged.out")" -eq 4
calls_before=$(grep -c ' env ' "$D/log/efa-check-calls.log")
timeout $T srun -N4 true >/dev/null 2>&1
calls_after=$(grep -c ' env ' "$D/log/efa-check-calls.log")
check "and caches it again ($calls_before -> $calls_after env calls)" test "$calls_before" -eq "$calls_after"
sed -i 's/^Env=EFA_TEST_DEFAULT=admin-changed$/Env=EFA_TEST_DEFAULT=admin-default/' "$D/etc/efa-check.conf"

cat > "$T_TMP/batch.sh" <<EOF
#!/bin/sh
echo "batch FI_PROVIDER=\${FI_PROVIDER:-unset}"
srun -N2 sh -c 'echo "step FI_PROVIDER=\$FI_PROVIDER"'
EOF
run_capture sbatch timeout $T sbatch -N2 -W -o "$T_TMP/batch.out" "$T_TMP/batch.sh"
expect_rc "sbatch -W job with a step runs" 0 sbatch
expect_grep "the batch step gets no environment (documented)" "^batch FI_PROVIDER=unset" "$T_TMP/batch.out"
check "the srun steps inside the job get it" test "$(grep -c '^step FI_PROVIDER=tcp' "$T_TMP/batch.out")" -eq 2

# ---- sbatch/salloc --efa-check reaches the prolog ------------------------------------
run_capture sbatchopt timeout $T sbatch -N2 -W --efa-check --wrap=true
jid=$(sed -n 's/^Submitted batch job //p' "$T_TMP/sbatchopt.out")
check "sbatch --efa-check: the prolog sees SPANK_EFA_CHECK=local on every node" \
	test "$(cat "$T_TMP"/prolog."$jid".* 2>/dev/null | sort -u)" = "local"
run_capture sallocopt timeout $T salloc -N1 --efa-check=cross sh -c 'echo JOB=$SLURM_JOB_ID'
jid=$(sed -n 's/^JOB=//p' "$T_TMP/sallocopt.out")
check "salloc --efa-check=cross: the prolog sees SPANK_EFA_CHECK=cross" \
	test "$(cat "$T_TMP"/prolog."$jid".* 2>/dev/null | sort -u)" = "cross"
run_capture noopt timeout $T sbatch -N1 -W --wrap=true
jid=$(sed -n 's/^Submitted batch job //p' "$T_TMP/noopt.out")
check "without the option the prolog sees no SPANK_EFA_CHECK" \
	test "$(cat "$T_TMP"/prolog."$jid".* 2>/dev/null)" = "unset"

# ---- srun --efa-check: healthy nodes ------------------------------------------------
mkdir -p "$T_TMP/ran"
run_capture healthy timeout 60 srun -N4 --efa-check sh -c "touch $T_TMP/ran/healthy.\$SLURMD_NODENAME"
if [ "$MEMLOCK_OK" = yes ]; then expect_rc "srun -N4 --efa-check on healthy nodes passes" 0 healthy
else skip "srun -N4 --efa-check on healthy nodes passes"; fi
healthy_check "the command ran on all 4 nodes" test "$(ls "$T_TMP/ran" | grep -c '^healthy\.')" -eq 4
check "each node ran its check once for the step" \
	test "$(grep -c ' local ' "$D/log/efa-check-calls.log")" -eq 4
run_capture healthy8 timeout 60 srun -N4 -n8 --efa-check=local true
if [ "$MEMLOCK_OK" = yes ]; then expect_rc "srun -N4 -n8 --efa-check=local (2 tasks per node) passes" 0 healthy8
else skip "srun -N4 -n8 --efa-check=local (2 tasks per node) passes"; fi
check "still one check per node per step (8 calls after two steps)" \
	test "$(grep -c ' local ' "$D/log/efa-check-calls.log")" -eq 8

# ---- one node faulty below the product ------------------------------------------------
sh "$CLUSTER" fault "$D" n3 "EFA_FAULT=getinfo_fail" >/dev/null
rm -f "$T_TMP/ran/"*
run_capture faulty timeout 60 srun -N4 --efa-check sh -c "touch $T_TMP/ran/faulty.\$SLURMD_NODENAME"
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then ok "a faulty n3 fails the step (exit $RC)"; else
	not_ok "a faulty n3 fails the step (exit $RC)"; diag < "$T_TMP/faulty.err"; fi
expect_grep "srun's stderr names n3" "^efa-check: n3: " "$T_TMP/faulty.err"
if [ "$MEMLOCK_OK" = yes ]; then
	expect_grep "the reason names the failed check" "^efa-check: n3: .*(provider|getinfo)" "$T_TMP/faulty.err"
else
	expect_grep "n3's reason counts the injected failure on top of the memlock one" "^efa-check: n3: .*\(\+1 more\)" "$T_TMP/faulty.err"
fi
check "the user's command did not run on n3" test ! -e "$T_TMP/ran/faulty.n3"
healthy_check "no healthy node is blamed" sh -c "! grep -qE '^efa-check: n[124]: ' '$T_TMP/faulty.err'"
healthy_check "the command ran on the healthy nodes" test -e "$T_TMP/ran/faulty.n1" -a -e "$T_TMP/ran/faulty.n4"
run_capture faulty_noopt timeout $T srun -N4 true
expect_rc "without --efa-check the faulty node is not checked" 0 faulty_noopt
sh "$CLUSTER" clear-fault "$D" n3

# ---- --efa-check=cross: a nested srun --mpi=pmix of `efa-check cross` before launch --------
rm -f "$T_TMP/ran/"*
run_capture cross timeout 90 srun -N4 --efa-check=cross sh -c "touch $T_TMP/ran/cross.\$SLURMD_NODENAME"
expect_rc "srun -N4 --efa-check=cross passes on healthy nodes" 0 cross
check "the command ran on all 4 nodes after the cross check" test "$(ls "$T_TMP/ran" | grep -c '^cross\.')" -eq 4
check "efa-check cross ran once on each node" test "$(grep -c ' cross ' "$D/log/efa-check-calls.log")" -eq 4
sh "$CLUSTER" fault "$D" n2 "EFA_FAULT=getinfo_fail" >/dev/null
rm -f "$T_TMP/ran/"*
run_capture crossbad timeout 90 srun -N4 --efa-check=cross sh -c "touch $T_TMP/ran/crossbad.\$SLURMD_NODENAME"
check "a faulty n2 fails the cross check and the step" test "$RC" -ne 0 -a "$RC" -ne 124
expect_grep "srun names n2" "efa-check: cross-node check failed.*n2" "$T_TMP/crossbad.err"
check "the user's command ran nowhere" test -z "$(ls "$T_TMP/ran")"
sh "$CLUSTER" clear-fault "$D" n2

# ---- an `optional` plugin: Slurm ignores its failures, --efa-check must still protect -------
start_cluster_optional() { # plugin-args
	sh "$CLUSTER" stop "$D" >/dev/null 2>&1
	sh "$CLUSTER" start "$D" --nodes 4 --fabric --plugin "$1" --plugin-optional --efa-conf "$conf" \
		--conf-extra "Prolog=$prolog" --conf-extra "PrologFlags=Alloc" >"$T_TMP/start.log" 2>&1
}
if start_cluster_optional "$ARGS"; then
	. "$D/env"
	check "plugstack.conf marks the plugin optional" grep -q '^optional ' "$D/etc/plugstack.conf"
	sh "$CLUSTER" fault "$D" n3 "EFA_FAULT=getinfo_fail" >/dev/null
	rm -f "$T_TMP/ran/"*
	run_capture opt_faulty timeout 60 srun -N4 --efa-check sh -c "touch $T_TMP/ran/opt.\$SLURMD_NODENAME"
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then ok "optional: a faulty n3 fails the step (exit $RC)"; else
		not_ok "optional: a faulty n3 fails the step (exit $RC)"; diag < "$T_TMP/opt_faulty.err"; fi
	check "optional: the user's command did not run on n3" test ! -e "$T_TMP/ran/opt.n3"
	expect_grep "optional: srun's stderr names n3" "efa-check: n3: " "$T_TMP/opt_faulty.err"
	healthy_check "optional: the command ran on the healthy nodes" test -e "$T_TMP/ran/opt.n1" -a -e "$T_TMP/ran/opt.n4"
	rm -f "$T_TMP/ran/"*
	run_capture opt_noopt timeout $T srun -N4 sh -c "touch $T_TMP/ran/noopt.\$SLURMD_NODENAME"
	expect_rc "optional: without --efa-check the step runs (the plugin stays harmless)" 0 opt_noopt
	check "optional: without --efa-check the command ran on all 4 nodes" test "$(ls "$T_TMP/ran" | grep -c '^noopt\.')" -eq 4
	sh "$CLUSTER" clear-fault "$D" n3
	sh "$CLUSTER" fault "$D" n2 "EFA_FAULT=getinfo_fail" >/dev/null
	rm -f "$T_TMP/ran/"*
	run_capture opt_cross timeout 90 srun -N4 --efa-check=cross sh -c "touch $T_TMP/ran/optx.\$SLURMD_NODENAME"
	check "optional: a faulty n2 fails the cross step (exit $RC)" test "$RC" -ne 0 -a "$RC" -ne 124
	expect_grep "optional: srun names n2" "efa-check: cross-node check failed.*n2" "$T_TMP/opt_cross.err"
	check "optional: after a failed cross check the command ran nowhere" test -z "$(ls "$T_TMP/ran")"
	sh "$CLUSTER" clear-fault "$D" n2
	# efa-check cross drained n2 (its own "efa-check:" reason): back in service for the next step
	timeout 10 scontrol update nodename=n2 state=resume >/dev/null 2>&1
	rm -f "$T_TMP/ran/"*
	run_capture opt_crossok timeout 90 srun -N4 --efa-check=cross sh -c "env > $T_TMP/ran/optok.\$SLURMD_NODENAME"
	if [ "$MEMLOCK_OK" = yes ]; then expect_rc "optional: srun -N4 --efa-check=cross passes on healthy nodes" 0 opt_crossok
	else skip "optional: srun -N4 --efa-check=cross passes on healthy nodes"; fi
	healthy_check "optional: a passing cross check runs the command on all 4 nodes" \
		test "$(ls "$T_TMP/ran" | grep -c '^optok\.')" -eq 4
	check "optional: the cross verdict is not in the user's environment" \
		sh -c "! cat '$T_TMP'/ran/optok.* 2>/dev/null | grep -q EFA_CHECK_CROSS_RESULT"
else
	not_ok "test cluster starts with the plugin optional"; diag < "$T_TMP/start.log"
fi
if start_cluster_optional "$ARGS bogus_arg=1"; then
	. "$D/env"
	rm -f "$T_TMP/ran/"*
	run_capture opt_badarg timeout $T srun -N2 sh -c "touch $T_TMP/ran/badarg.\$SLURMD_NODENAME"
	expect_rc "optional, bad plugin argument: a step without --efa-check still runs" 0 opt_badarg
	run_capture opt_badarg_opt timeout $T srun -N2 --efa-check sh -c "touch $T_TMP/ran/badargopt.\$SLURMD_NODENAME"
	check "optional, bad plugin argument: srun --efa-check fails (exit $RC)" test "$RC" -ne 0 -a "$RC" -ne 124
	check "optional, bad plugin argument: the command ran on no unchecked node" \
		test "$(ls "$T_TMP/ran" | grep -c '^badargopt\.')" -eq 0
else
	not_ok "test cluster starts with a bad argument to an optional plugin"; diag < "$T_TMP/start.log"
fi

# ---- plugin arguments ----------------------------------------------------------------
if start_cluster "$ARGS bogus_arg=1"; then
	run_capture badarg timeout $T srun -N1 true
	check "an unknown plugin argument fails srun (required plugin)" test "$RC" -ne 0 -a "$RC" -ne 124
	expect_grep "the error names the argument" "unknown argument 'bogus_arg'" "$T_TMP/badarg.err"
else
	not_ok "cluster starts with a bad plugin argument (for srun to report it)"; diag < "$T_TMP/start.log"
fi
if start_cluster "efa_check=relative/efa-check"; then
	run_capture badpath timeout $T srun -N1 true
	check "a relative efa_check= path fails srun" test "$RC" -ne 0 -a "$RC" -ne 124
	expect_grep "the error names efa_check=" "efa_check=relative/efa-check: expected an absolute path" "$T_TMP/badpath.err"
fi
if start_cluster "$ARGS env=off"; then
	run_capture envoff timeout $T srun -N2 sh -c 'echo "D=${EFA_TEST_DEFAULT:-unset}"'
	check "env=off leaves the environment alone" test "$(grep -c 'D=unset' "$T_TMP/envoff.out")" -eq 2
fi

done_testing
