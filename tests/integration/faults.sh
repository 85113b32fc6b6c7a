#!/bin/sh
# Faults and hostile users (issue 15): no verdict is never "healthy", deadlines hold, the state
# directory fails safe. Faults live below the product: a full filesystem (tmpfs with
# nr_inodes=1), planted symlinks, the preloaded fault library (tests/faultlib), squatted
# /dev/shm names and a FUSE file whose read never returns (tests/faultlib/hangfs.c).
# Needs root for mounts; every run is bounded by `timeout`.
. "$(dirname "$0")/../lib.sh"

H=$T_TMP/f
mkdir -p "$H"
chmod 0755 "$H"
MOUNTS=
HANGFS_PID=
cleanup_mounts() {
	# hangfs first: its exit aborts the FUSE connection and ends every hung read
	[ -n "$HANGFS_PID" ] && kill "$HANGFS_PID" 2>/dev/null && sleep 0.3
	for m in $MOUNTS; do umount -l "$m" 2>/dev/null; done
}
CLUSTER=$TOP/tests/cluster/cluster.sh
PLUGIN=$TOP/spank/spank_efa_check.so
CD=$T_TMP/cluster
# hung reads end first (hangfs gone), then the test cluster of section 2b stops
trap 'cleanup_mounts; [ -d "$CD" ] && sh "$CLUSTER" stop "$CD" >/dev/null 2>&1; rm -rf "$T_TMP"' EXIT

# conf NAME TEXT: $H/NAME.conf (printf format), mode 0644
conf() {
	printf "$2" > "$H/$1.conf"
	chmod 0644 "$H/$1.conf"
}
bounded() {
	name=$1 secs=$2
	shift 2
	run_capture "$name" timeout -s KILL "$secs" "$@"
}
is_root() { [ "$(id -u)" -eq 0 ]; }

BASE='Provider=tcp\nDomains=lo\nTimeout=20\nMinMemlock=4M\nLoopbackIterations=5\nOnFail=log\n'

# --- 5. StateDir's filesystem out of inodes: the lock fails, the checks still run ----------
if is_root; then
	mkdir -p "$H/full"
	if mount -t tmpfs -o size=1m,nr_inodes=1,mode=0755 tmpfs "$H/full" 2>/dev/null; then
		MOUNTS="$MOUNTS $H/full"
		conf full "${BASE}Domains=nosuchdomain0\nStateDir=$H/full\n"
		bounded full 60 env SLURM_JOB_ID=1 "$EFA_CHECK" prolog --config "$H/full.conf" --node n1 --json --verbose
		no_lock_ran=$(json_get "$T_TMP/full.out" "j['ok']" 2>/dev/null)
		check "full StateDir (ENOSPC on the lock): the checks ran and failed (ok=$no_lock_ran)" \
			test "$no_lock_ran" = False
		expect_grep "full StateDir: logged 'without cache or lock', naming the error" \
			'cannot lock .*No space left on device; running the checks without cache or lock' "$T_TMP/full.err"
		expect_grep "full StateDir: the failure is the config's missing domain" \
			'domain nosuchdomain0 missing' "$T_TMP/full.err"
	else
		not_ok "cannot mount a tmpfs for the full-filesystem test"
	fi
else
	ok "# SKIP full StateDir needs root for a tmpfs mount"
fi

# --- 7. a user's symlink among StateDir's parents ---------------------------------------
mkdir -p "$H/open" "$H/etc"
chmod 0777 "$H/open"
chmod 0755 "$H/etc"
ln -s "$H/etc" "$H/open/sub"
conf victim "${BASE}StateDir=$H/open/sub/efa-victim-dir\n"
bounded victim 60 env SLURM_JOB_ID=1 "$EFA_CHECK" prolog --config "$H/victim.conf" --node n1 --verbose
check "symlinked StateDir parent: nothing created where the link points" test ! -e "$H/etc/efa-victim-dir"
expect_grep "symlinked StateDir parent: refused, naming the component" \
	"StateDir $H/open(/sub)?: (is a symlink|writable by group or others)" "$T_TMP/victim.err"
chmod 01777 "$H/open"
bounded victim2 60 env SLURM_JOB_ID=1 "$EFA_CHECK" prolog --config "$H/victim.conf" --node n1 --verbose
check "symlink in a sticky world-writable parent: nothing created where it points" \
	test ! -e "$H/etc/efa-victim-dir"
expect_grep "symlink in a sticky parent: refused as a symlink" \
	"StateDir $H/open/sub: is a symlink" "$T_TMP/victim2.err"
mkdir -p "$H/metrics"
chmod 0755 "$H/metrics"
ln -s "$H/metrics" "$H/open/mlink"
conf mlink "${BASE}StateDir=$H/state-m\nMetricsFile=$H/open/mlink/efa.prom\n"
bounded mlink 60 env SLURM_JOB_ID=1 "$EFA_CHECK" prolog --config "$H/mlink.conf" --node n1 --verbose
check "MetricsFile under a symlinked directory: not written" test ! -e "$H/metrics/efa.prom"
expect_grep "MetricsFile under a symlinked directory: refused with a message" \
	"cannot write MetricsFile: directory $H/open/mlink: is a symlink" "$T_TMP/mlink.err"

# --- 1. no verdict is not "healthy" ----------------------------------------------------------
# fork() failing (EAGAIN: a fork bomb in an allocation does it to root too) and libfabric ending
# the worker outside any check (exit(1) as Debian's stack does on SIGSEGV, or the signal).
conf ok "${BASE}StateDir=$H/state1\n"
for f in fork_fail version_exit version_crash; do
	bounded "nv_$f" 60 env LD_PRELOAD="$FAULT_LIB" EFA_FAULT=$f "$EFA_CHECK" local --config "$H/ok.conf" --json
	expect_rc "$f: local is no verdict" 3 "nv_$f"
	check "$f: JSON says internal, not ok, reason 'no verdict'" test \
		"$(json_get "$T_TMP/nv_$f.out" "(j['ok'], j.get('internal'), j['reason'].startswith('efa-check: no verdict: '))")" = "(False, True, True)"
done
expect_grep "fork_fail: the reason names fork and EAGAIN" \
	'no verdict: cannot start the worker: fork: Resource temporarily unavailable' "$T_TMP/nv_fork_fail.out"
expect_grep "version_exit: the reason says the worker exited outside any check" \
	'worker exited with status 1 without finishing, in the worker outside any check' "$T_TMP/nv_version_exit.out"

# prolog: no verdict is logged, not cached, the job starts (OnInternal=log, the default), and
# the next prolog runs the checks for real instead of reusing it.
conf pro "Provider=tcp\nDomains=lo\nTimeout=20\nMinMemlock=4M\nLoopbackIterations=5\nStateDir=$H/state2\nCacheTTL=300\n"
bounded pro_fork 60 env SLURM_JOB_ID=1 LD_PRELOAD="$FAULT_LIB" EFA_FAULT=fork_fail "$EFA_CHECK" prolog --config "$H/pro.conf" --node n1 --json --verbose
expect_rc "prolog with fork failing: exit 0 (no drain, OnInternal=log)" 0 pro_fork
expect_grep "prolog with fork failing: logs no verdict, not draining" \
	'no verdict, not draining \(OnInternal=log\)' "$T_TMP/pro_fork.err"
check "prolog with fork failing: nothing cached in StateDir" test ! -e "$H/state2/last-report.json"
bounded pro_after 60 env SLURM_JOB_ID=2 "$EFA_CHECK" prolog --config "$H/pro.conf" --node n1 --json --verbose
check "the next prolog ran the checks (loopback present, not a cached empty result)" test \
	"$(json_get "$T_TMP/pro_after.out" "(j['ok'], any(c['name']=='loopback' for c in j['checks']), 'cached' in j.get('note',''))")" = "(True, True, False)"
bounded pro_exit 60 env SLURM_JOB_ID=3 SPANK_EFA_CHECK=1 LD_PRELOAD="$FAULT_LIB" EFA_FAULT=version_exit "$EFA_CHECK" prolog --config "$H/pro.conf" --node n1 --json --verbose
check "prolog with libfabric exiting: no verdict, not healthy" test \
	"$(json_get "$T_TMP/pro_exit.out" "(j['ok'], j.get('internal'))")" = "(False, True)"
conf prodrain "Provider=tcp\nDomains=lo\nTimeout=8\nMinMemlock=4M\nLoopbackIterations=5\nStateDir=$H/state3\nOnInternal=drain\n"
bounded pro_drain 60 env SLURM_JOB_ID=4 SLURM_CONF=/nonexistent LD_PRELOAD="$FAULT_LIB" EFA_FAULT=fork_fail "$EFA_CHECK" prolog --config "$H/prodrain.conf" --node n1 --verbose
expect_grep "OnInternal=drain: the prolog tries to drain with the no-verdict reason" \
	'no verdict, draining \(OnInternal=drain\)' "$T_TMP/pro_drain.err"
check "OnInternal=drain: the prolog fails (exit $RC) when the drain could not be done" test "$RC" -ne 0

# health: no verdict never resumes (the resume path is never reached) and exits 3
conf hl "${BASE}StateDir=$H/state4\n"
bounded hl_fork 60 env LD_PRELOAD="$FAULT_LIB" EFA_FAULT=fork_fail "$EFA_CHECK" health --config "$H/hl.conf" --node n1 --verbose
expect_rc "health with fork failing: exit 3 (no verdict)" 3 hl_fork
check "health with fork failing: no resume attempted" sh -c "! grep -qi 'resum' '$T_TMP/hl_fork.err'"
check "health with fork failing: nothing cached" test ! -e "$H/state4/last-report.json"

# --- 4. squatted /dev/shm names: the worker has its own /dev/shm ----------------------------
# In a private mount and pid namespace (the host's /dev/shm is shared with other tests):
# every name the shm provider could pick for the first 400 pids is pre-created by "a user".
if is_root && command -v unshare >/dev/null; then
	cat > "$H/squat.sh" <<'SQUAT'
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=1777 squat /dev/shm
i=1; while [ $i -le 400 ]; do : > /dev/shm/$i:0:0; : > /dev/shm/$i:0:1; i=$((i+1)); done
chown 65534 /dev/shm/*
chmod 600 /dev/shm/*
"$@"
SQUAT
	conf shm 'Provider=shm\nTimeout=20\nMinMemlock=4M\nLoopbackIterations=5\n'
	bounded squat 60 unshare -m -p -f sh "$H/squat.sh" "$EFA_CHECK" local --config "$H/shm.conf" --json
	expect_rc "squatted /dev/shm names: shm loopback still healthy (private /dev/shm)" 0 squat
	check "squatted /dev/shm names: the loopback passed" test \
		"$(json_get "$T_TMP/squat.out" "[c['ok'] for c in j['checks'] if c['name']=='loopback']")" = "[True]"
	bounded squat_left 10 unshare -m -p -f sh "$H/squat.sh" ls /dev/shm
	check "the squatted names are still there outside the worker (400 pids x 2)" \
		test "$(wc -l < "$T_TMP/squat_left.out")" -eq 800
else
	ok "# SKIP squatted /dev/shm needs root and unshare"
fi

# --- 2. deadlines that hold: a read that SIGKILL cannot end ----------------------------------
# tests/helpers/hangfs: a FUSE file whose read is never answered (the reader is in D state,
# unkillable). Bind-mounted over a sysfs fixture's port state file, and used as the config.
HANGFS=$TOP/build/tests/helpers/hangfs
if is_root && [ -x "$HANGFS" ] && [ -c /dev/fuse ]; then
	mkdir -p "$H/hang"
	"$HANGFS" "$H/hang" > "$H/hangfs.out" 2>&1 &
	HANGFS_PID=$!
	i=0; while [ $i -lt 50 ] && ! grep -q ready "$H/hangfs.out"; do sleep 0.1; i=$((i + 1)); done
	MOUNTS="$H/hang $MOUNTS"
	cp -a "$TOP/tests/fixtures/sysfs/p4d" "$H/sys-hang"
	state=$(find "$H/sys-hang" -path '*rdmap16s27/ports/1/state' | head -1)
	if grep -q ready "$H/hangfs.out" && mount --bind "$H/hang/hang" "$state"; then
		MOUNTS="$state $MOUNTS"
		conf hang "Provider=tcp\nDomains=lo\nExpectedDevices=4\nTimeout=5\nMinMemlock=4M\nLoopbackIterations=5\nStateDir=$H/state-hang\n"
		start=$(date +%s%N)
		bounded hang1 40 env SLURM_JOB_ID=1 "$EFA_CHECK" prolog --config "$H/hang.conf" --node n1 --sysfs-root "$H/sys-hang" --json --verbose
		ms=$(( ($(date +%s%N) - start) / 1000000 ))
		echo "# prolog, Timeout=5, sysfs read hung in D state: ${ms} ms, exit $RC"
		check "hung sysfs read, Timeout=5: the prolog returns within 7.5 s (${ms} ms)" test "$ms" -le 7500
		check "hung sysfs read: no verdict naming where it is stuck (unkillable in devices)" test \
			"$(json_get "$T_TMP/hang1.out" "(j.get('internal'), 'unkillable in devices' in j['reason'])")" = "(True, True)"
		expect_rc "hung sysfs read: the job starts (OnInternal=log), no 'Prolog error' drain" 0 hang1
		start=$(date +%s%N)
		bounded hang2 40 env SLURM_JOB_ID=2 "$EFA_CHECK" prolog --config "$H/hang.conf" --node n1 --sysfs-root "$H/sys-hang" --json --verbose
		ms=$(( ($(date +%s%N) - start) / 1000000 ))
		cat "$T_TMP/hang2.out" "$T_TMP/hang2.err" | diag
		check "a second prolog got the lock (released by the first): it ran and hit the hang itself (${ms} ms)" \
			grep -q 'unkillable in devices' "$T_TMP/hang2.out"
		start=$(date +%s%N)
		bounded hangl 40 "$EFA_CHECK" local --config "$H/hang.conf" --sysfs-root "$H/sys-hang" --json
		ms=$(( ($(date +%s%N) - start) / 1000000 ))
		echo "# local, Timeout=5, sysfs read hung: ${ms} ms, exit $RC"
		check "hung sysfs read: local exits 3 within 8 s (${ms} ms)" test "$RC" -eq 3 -a "$ms" -le 8000
	else
		not_ok "hangfs did not come up, or the bind mount failed"; diag < "$H/hangfs.out"
	fi
	# the configuration itself on the hung filesystem: read before any check, inside the deadline
	start=$(date +%s%N)
	bounded hangc 40 env SLURM_JOB_ID=3 "$EFA_CHECK" prolog --config "$H/hang/hang" --timeout 5 --node n1 --state-dir "$H/state-hangc"
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "# prolog, --timeout 5, configuration read hung: ${ms} ms, exit $RC"
	check "hung configuration read, --timeout 5: returns within 9 s (${ms} ms), exit 3" test "$ms" -le 9000 -a "$RC" -eq 3
	expect_grep "hung configuration read: says where it is stuck" \
		'prolog: unkillable in reading the configuration after the deadline of 5 s' "$T_TMP/hangc.err"

	# --- 2b. the plugin: a child stuck in the kernel is abandoned, slurmstepd goes on ----------
	# Before: the plugin's wait for `efa-check env` never gave up (slurmstepd hung over 2
	# minutes, the job stayed completing). The plugin's efa_check= here is a program whose first
	# read never returns (D state): every step's `env` and --efa-check's `local` get stuck.
	if [ -f "$PLUGIN" ] && command -v srun >/dev/null && grep -q ready "$H/hangfs.out"; then
		printf '#!/bin/sh\n# stands for efa-check: its first read never returns\nexec /bin/cat %s\n' \
			"$H/hang/hang" > "$H/stuck-efa-check"
		chmod 0755 "$H/stuck-efa-check"
		conf plug "$BASE"
		if timeout 180 sh "$CLUSTER" start "$CD" --nodes 1 --efa-conf "$H/plug.conf" \
			--plugin "efa_check=$H/stuck-efa-check config=@DIR@/etc/efa-check.conf timeout=5" \
			> "$T_TMP/cstart.log" 2>&1; then
			start=$(date +%s%N)
			bounded plug_env 60 env SLURM_CONF="$CD/etc/slurm.conf" srun -N1 true
			ms=$(( ($(date +%s%N) - start) / 1000000 ))
			echo "# srun without --efa-check, efa-check env stuck in the kernel: ${ms} ms, exit $RC"
			check "plugin, 'efa-check env' unkillable: the step still runs, without the environment (exit $RC, ${ms} ms <= 25 s: 10 s for env, 1 s after SIGKILL)" \
				test "$RC" -eq 0 -a "$ms" -le 25000
			start=$(date +%s%N)
			bounded plug_local 60 env SLURM_CONF="$CD/etc/slurm.conf" srun -N1 --efa-check true
			ms=$(( ($(date +%s%N) - start) / 1000000 ))
			echo "# srun --efa-check, efa-check local stuck in the kernel: ${ms} ms, exit $RC"
			check "plugin, 'efa-check local' unkillable: the step fails within its deadlines (exit $RC, ${ms} ms <= 35 s: env 10+1 s, local 5+1 s)" \
				test "$RC" -ne 0 -a "$RC" -ne 137 -a "$ms" -le 35000
			expect_grep "... and says the check was abandoned, not that the node is bad" \
				'unkillable in .* local after 5 s \(abandoned\)' "$T_TMP/plug_local.err"
			i=0
			while [ -n "$(SLURM_CONF="$CD/etc/slurm.conf" timeout 10 squeue -h 2>/dev/null)" ] && [ $i -lt 40 ]; do
				sleep 0.5; i=$((i + 1))
			done
			check "... and no job is left running or completing (slurmstepd did not hang)" \
				test -z "$(SLURM_CONF="$CD/etc/slurm.conf" timeout 10 squeue -h 2>/dev/null)"
		else
			not_ok "test cluster with the stuck efa_check= starts"; diag < "$T_TMP/cstart.log"
		fi
	else
		ok "# SKIP plugin with a stuck child needs $PLUGIN, srun and hangfs"
	fi
else
	ok "# SKIP hung reads need root, /dev/fuse and build/tests/helpers/hangfs"
fi

done_testing
