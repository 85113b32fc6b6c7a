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
cleanup_mounts() {
	for m in $MOUNTS; do umount -l "$m" 2>/dev/null; done
}
trap 'cleanup_mounts; rm -rf "$T_TMP"' EXIT

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

done_testing
