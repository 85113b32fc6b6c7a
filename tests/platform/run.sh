#!/bin/sh
# Run efa-check's whole test suite on another platform: tests/platform/run.sh PLATFORM
#
# PLATFORM (e.g. trixie, tests/platform/trixie.conf) is a Debian root filesystem that
# tests/platform/rootfs.sh builds once with debootstrap and caches outside the repository.
# Each run:
#   - mounts a private copy-on-write view of the cached tree (overlayfs: the cache is never
#     written), in a mount, PID and network namespace of its own (unshare): every daemon the
#     tests leave behind dies with the namespace, no mount is visible on the host, and the
#     test clusters' ports, bridges and firewall tables cannot meet the host's;
#   - mounts /proc (of that PID namespace), /sys and /dev (bound), a fresh /dev/shm and /run,
#     and the host's CUDA headers/libraries read-only at /usr/local/cuda when present (the
#     ABI checks compile against them; they are not Debian packages);
#   - copies the source tree (git's tracked and untracked-not-ignored files) into it,
#   - and runs `make -j2 check PLATFORM=host` inside with chroot: a build from scratch with
#     that platform's compiler and libraries (-Werror), every unit suite, every
#     tests/integration/*.sh on that platform's Slurm;
#   - unmounts every mount by name and removes the copy on exit, also on failure or a signal.
# Output: the inner run's lines prefixed with "[PLATFORM] ", the last one being
# "[PLATFORM] N passed, N failed". A tree that cannot be built (no debootstrap, no right to
# mount or chroot, no archive) is reported as a failure, never as a skip. Logs land in
# build/test-logs/PLATFORM/. EFA_PLATFORM_TIMEOUT (seconds, default 3600) bounds the run;
# FUZZ_SECONDS (default 5, as on the host) is passed on. EFA_PLATFORM_CMD replaces the
# command run inside (default: make -j2 check PLATFORM=host), e.g. to run one suite while
# working on it: EFA_PLATFORM_CMD='make -s -j2 test-support && sh tests/run-tests.sh integration'.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# ---- inside the namespaces (run.sh --inner ...) --------------------------------------------
if [ "${1:-}" = --inner ]; then
	root=$2 W=$3 pf=$4 M=$3/merged
	mounted=""
	umount_all() { # by name, innermost first
		for m in $mounted; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ||
			echo "run.sh: cannot unmount $m" >&2; done
		mounted=""
	}
	mnt() { # TARGET ARGS...: mount and remember TARGET
		t=$1; shift
		mount "$@" "$t" || { echo "run.sh: mount $* $t failed" >&2; umount_all; exit 97; }
		mounted="$t $mounted"
	}
	trap 'umount_all' EXIT
	trap 'exit 1' INT TERM HUP
	mount --make-rprivate / 2>/dev/null
	# A network namespace of its own: no port shared with the host's tests, and the bridges,
	# veths and nftables tables a test makes go away with the namespace. Besides lo it gets
	# eth0 (a veth pair, 192.0.2.1/24, TEST-NET-1) like a host's NIC: with only loopback
	# addresses glibc's getaddrinfo(AI_ADDRCONFIG) for AF_INET fails, and slurmctld
	# (src/common/util-net.c, AI_ADDRCONFIG|AI_PASSIVE) cannot open its port.
	{ ip link set lo up && ip link add eth0 type veth peer name eth0-peer &&
	  ip addr add 192.0.2.1/24 dev eth0 && ip link set eth0 up && ip link set eth0-peer up; } ||
		{ echo "run.sh: cannot set up the network namespace (lo, eth0)" >&2; exit 97; }
	mkdir -p "$W/upper" "$W/work" "$M"
	mnt "$M" -t overlay overlay -o "lowerdir=$root,upperdir=$W/upper,workdir=$W/work"
	mnt "$M/proc" -t proc proc
	mnt "$M/sys" --rbind /sys
	mount --make-rslave "$M/sys"
	mnt "$M/dev" --rbind /dev
	mount --make-rslave "$M/dev"
	mkdir -p "$M/dev/shm" 2>/dev/null
	mnt "$M/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev shm
	mnt "$M/run" -t tmpfs -o mode=0755,nosuid,nodev run
	if [ -d /usr/local/cuda/include ]; then
		mkdir -p "$M/usr/local/cuda"
		mnt "$M/usr/local/cuda" --bind -o ro "$(readlink -f /usr/local/cuda)"
		mount -o remount,bind,ro "$M/usr/local/cuda" 2>/dev/null
	fi
	# the source tree: what git tracks plus untracked files it does not ignore
	mkdir -p "$M/src/efa-check"
	if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$REPO" ls-files -z --cached --others --exclude-standard |
			(cd "$REPO" && xargs -0 cp -P --parents -t "$M/src/efa-check" 2>/dev/null)
	else
		(cd "$REPO" && tar --exclude=./build -cf - .) | (cd "$M/src/efa-check" && tar -xf -)
	fi
	rm -rf "$M/src/efa-check/build"
	# slurmctld resolves the submitting host's name (this machine's hostname): without it in
	# /etc/hosts every job completion stalls ~10 s in getaddrinfo retries and steps fail
	cp /etc/hosts "$M/etc/hosts"
	# RDMA registration needs locked memory (as on the host; see tests/lib.sh)
	ulimit -l unlimited 2>/dev/null
	chroot "$M" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb EFA_PLATFORM_NAME="$pf" \
		FUZZ_SECONDS="${FUZZ_SECONDS:-5}" EFA_TEST_JOBS="${EFA_TEST_JOBS:-2}" \
		sh -c "cd /src/efa-check && ${EFA_PLATFORM_CMD:-make -j2 --no-print-directory check PLATFORM=host}" 2>&1
	rc=$?
	mkdir -p "$REPO/build/test-logs/$pf"
	cp -r "$M/src/efa-check/build/test-logs/." "$REPO/build/test-logs/$pf/" 2>/dev/null
	umount_all
	exit "$rc"
fi

# ---- on the host ---------------------------------------------------------------------------
pf=${1:?usage: run.sh PLATFORM}
start=$(date +%s)
say() { echo "[$pf] $*"; }
fail_loudly() { # the platform could not run at all: one failure, never a skip
	say "FAIL platform/$pf: $*"
	say "0 passed, 1 failed"
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	fail_loudly "needs root to build and enter the $pf root filesystem (debootstrap, mount, chroot): NOT TESTED"
fi
rootlog=$(mktemp /tmp/efa-check-rootfs.XXXXXX)
root=$(sh "$HERE/rootfs.sh" "$pf" 2>"$rootlog")
rc=$?
sed "s/^/[$pf] /" "$rootlog"
rm -f "$rootlog"
if [ "$rc" -ne 0 ] || [ ! -d "$root" ]; then
	fail_loudly "cannot build the $pf root filesystem (see above): the $pf platform is NOT TESTED"
fi
say "root filesystem: $root ($(( $(date +%s) - start )) s)"

W=$(mktemp -d /var/tmp/efa-check-platform.XXXXXX) || fail_loudly "mktemp failed"
child=""
cleanup() {
	[ -n "$child" ] && kill -KILL "$child" 2>/dev/null && wait "$child" 2>/dev/null
	# never remove the copy while anything is mounted below it (it would reach /dev, /sys)
	if grep -q " $W" /proc/self/mountinfo; then
		say "run.sh: mounts left below $W, not removing it:"
		grep " $W" /proc/self/mountinfo | sed "s/^/[$pf]   /"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

log=$W/run.log
limit=${EFA_PLATFORM_TIMEOUT:-3600}
# unshare is the child: killing it (--kill-child) kills the namespace's first process, and
# with it every process of the PID namespace; the mount namespace goes with them.
unshare --mount --pid --net --fork --kill-child --propagation private \
	sh "$HERE/run.sh" --inner "$root" "$W" "$pf" > "$log" 2>&1 &
child=$!
# stream the output while it runs (prefixed); enforce the deadline
shown=0 timed_out=0
show_new() {
	n=$(wc -l < "$log")
	if [ "$n" -gt "$shown" ]; then
		sed -n "$((shown + 1)),${n}p" "$log" | sed "s/^/[$pf] /"
		shown=$n
	fi
}
while kill -0 "$child" 2>/dev/null; do
	sleep 2
	show_new
	if [ $(( $(date +%s) - start )) -ge "$limit" ]; then
		timed_out=1
		kill -KILL "$child" 2>/dev/null
	fi
done
wait "$child"
rc=$?
child=""
show_new
secs=$(( $(date +%s) - start ))
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
if [ -z "$summary" ]; then
	case $rc in
	97) why="could not mount the platform's tree" ;;
	*) why="exit $rc" ;;
	esac
	[ "$timed_out" = 1 ] && why="killed at the EFA_PLATFORM_TIMEOUT of $limit s"
	fail_loudly "the run inside the $pf tree ended before the test runner reported ($why, ${secs} s)"
fi
say "platform $pf: $summary in ${secs} s with the root filesystem and the build (logs: build/test-logs/$pf/)"
say "$summary"
[ "$rc" -eq 0 ]
