#!/bin/sh
# The local Slurm test cluster itself (tests/cluster/cluster.sh): 4 slurmd nodes come up idle,
# srun/sbatch work, srun --mpi=pmix works across the nodes, and stop leaves nothing behind.
# Needs `make test-support` (build/tests/helpers/pmix_hello).
. "$(dirname "$0")/../lib.sh"

CLUSTER=$TOP/tests/cluster/cluster.sh
C=$T_TMP/cluster
PMIX_HELLO=$TOP/build/tests/helpers/pmix_hello
bg_srun=""

cleanup() {
	if [ "$_t_failed" -ne 0 ] && [ -d "$C/log" ]; then
		sh "$CLUSTER" logs "$C" 30 2>&1 | diag
	fi
	[ -n "$bg_srun" ] && kill -KILL "-$bg_srun" 2>/dev/null
	sh "$CLUSTER" stop "$C" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
run_capture start sh "$CLUSTER" start "$C" --nodes 4
expect_rc "cluster starts ($(( $(date +%s) - t0 ))s)" 0 start
if [ "$RC" -ne 0 ]; then
	_t_failed=$((_t_failed + 1))
	done_testing
	exit 1
fi
. "$C/env"

sinfo -h -N -o '%N %T' > "$T_TMP/sinfo.out" 2>&1
n=$(awk '$2 == "idle"' "$T_TMP/sinfo.out" | sort -u | wc -l)
if [ "$n" -eq 4 ]; then ok "4 nodes idle"; else not_ok "4 nodes idle (got $n)"; diag < "$T_TMP/sinfo.out"; fi

run_capture hostname timeout 30 srun -N4 hostname
expect_rc "srun -N4 hostname" 0 hostname
n=$(wc -l < "$T_TMP/hostname.out")
if [ "$n" -eq 4 ]; then ok "srun -N4 hostname: 4 lines"; else not_ok "srun -N4 hostname: $n lines, want 4"; diag < "$T_TMP/hostname.out"; fi

run_capture nodename timeout 30 srun -N4 sh -c 'echo $SLURMD_NODENAME'
n=$(sort -u "$T_TMP/nodename.out" | grep -c '^n[1-4]$')
if [ "$RC" -eq 0 ] && [ "$n" -eq 4 ]; then ok "one task on each of n1..n4"; else
	not_ok "one task on each of n1..n4 (exit $RC, $n distinct nodes)"; cat "$T_TMP/nodename.out" "$T_TMP/nodename.err" | diag
fi

if [ -x "$PMIX_HELLO" ]; then
	run_capture pmix timeout 60 srun -N4 --mpi=pmix "$PMIX_HELLO"
	expect_rc "srun -N4 --mpi=pmix pmix_hello" 0 pmix
	n=$(grep -c 'saw 4/4 peers' "$T_TMP/pmix.out")
	if [ "$n" -eq 4 ]; then ok "every rank saw all 4 peers"; else
		not_ok "every rank saw all 4 peers ($n of 4 ranks did)"; cat "$T_TMP/pmix.out" "$T_TMP/pmix.err" | diag
	fi
else
	not_ok "pmix_hello is built ($PMIX_HELLO missing: make test-support)"
fi

cat > "$T_TMP/job.sh" <<'EOF'
#!/bin/sh
echo "batch on $SLURMD_NODENAME nodes=$SLURM_JOB_NUM_NODES"
srun hostname | wc -l
EOF
run_capture sbatch timeout 60 sbatch --wait -N2 -o "$T_TMP/job.log" "$T_TMP/job.sh"
expect_rc "sbatch --wait of a 2-node script" 0 sbatch
expect_grep "batch script ran and its step reached 2 nodes" '^2$' "$T_TMP/job.log"

# stop with a step still running: slurmstepds and their tasks must go too
# in a session of its own, so that srun and its helper child can be killed as a group
setsid srun -N4 sleep 120 > "$T_TMP/bg.out" 2>&1 &
bg_srun=$!
end=$(( $(date +%s) + 15 ))
steps=0
while [ "$(date +%s)" -lt "$end" ]; do
	steps=$(for p in $(sh "$CLUSTER" pids "$C"); do cat "/proc/$p/comm" 2>/dev/null; done | grep -c '^slurmstepd$')
	[ "$steps" -ge 4 ] && break
	sleep 0.2
done
if [ "$steps" -ge 4 ]; then ok "a running step has a slurmstepd on each node"; else not_ok "running step: $steps slurmstepds, want >= 4"; fi
before=$(sh "$CLUSTER" pids "$C")
t1=$(date +%s)
run_capture stop sh "$CLUSTER" stop "$C"
expect_rc "cluster stops ($(( $(date +%s) - t1 ))s)" 0 stop
left=""
for p in $before; do
	st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
	case ${st##*) } in Z*|X*) continue ;; esac
	left="$left $p($(cat "/proc/$p/comm" 2>/dev/null))"
done
after=$(sh "$CLUSTER" pids "$C")
if [ -z "$left" ] && [ -z "$after" ]; then ok "no munged/slurmctld/slurmd/slurmstepd/task of the cluster left"; else
	not_ok "processes left after stop:$left $after"
fi
kill -KILL "-$bg_srun" 2>/dev/null
wait "$bg_srun" 2>/dev/null
bg_srun=""
run_capture stop2 sh "$CLUSTER" stop "$C"
expect_rc "stop is idempotent" 0 stop2

done_testing
