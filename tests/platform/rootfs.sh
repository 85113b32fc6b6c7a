#!/bin/sh
# Build (once) and print the path of a cached Debian root filesystem for a test platform.
#   rootfs.sh PLATFORM        e.g. trixie
# The root filesystem is tests/platform/PLATFORM.conf's SUITE (a debootstrap minbase from
# Debian's archive) plus the packages efa-check needs to build and test (tests/deps.sh --list)
# and the conf's EXTRA packages. It is cached outside the repository, in
# $EFA_PLATFORM_CACHE (default /var/cache/efa-check)/PLATFORM/<key>/root, where <key> is a
# hash of the suite, the mirror and the package list: a changed list builds a new one, and the
# old ones are removed. Nothing is installed on the host itself; the host needs debootstrap
# and the right to chroot and mount (root). Concurrent callers wait on a lock; a half-built
# tree is never used (it is renamed into place when complete).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
platform=${1:?usage: rootfs.sh PLATFORM}
conf=$HERE/$platform.conf
[ -f "$conf" ] || { echo "rootfs.sh: no platform '$platform' ($conf)" >&2; exit 2; }
SUITE="" MIRROR=http://deb.debian.org/debian EXTRA=""
. "$conf"

die() { echo "rootfs.sh: $platform: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot and mounts need it)"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (make deps installs it)"

pkgs=$( { sh "$REPO/tests/deps.sh" --list; echo $EXTRA; } | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')
key=$(printf 'v1 %s %s %s\n' "$SUITE" "$MIRROR" "$pkgs" | sha256sum | cut -c1-16)
cache=${EFA_PLATFORM_CACHE:-/var/cache/efa-check}/$platform
root=$cache/$key/root
mkdir -p "$cache"

# one builder at a time per platform; readers of a finished tree need no lock
exec 9>"$cache/.lock"
if [ ! -f "$root/.efa-check-complete" ]; then
	flock -w 900 9 || die "timed out waiting for another build of the root filesystem"
fi
if [ -f "$root/.efa-check-complete" ]; then touch "$cache/$key"; echo "$root"; exit 0; fi

tmp=$cache/$key.tmp.$$
log=$cache/$key.log
mnt=""
cleanup() {
	for m in $mnt; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
start=$(date +%s)
echo "rootfs.sh: building the $SUITE root filesystem in $cache/$key (log: $log)" >&2
: > "$log"
debootstrap --variant=minbase "$SUITE" "$tmp/root" "$MIRROR" >>"$log" 2>&1 ||
	{ tail -20 "$log" >&2; die "debootstrap $SUITE failed (log: $log)"; }
# no daemon starts from a package script inside the tree
printf '#!/bin/sh\nexit 101\n' > "$tmp/root/usr/sbin/policy-rc.d"
chmod 0755 "$tmp/root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$tmp/root/etc/resolv.conf" 2>/dev/null || true
for d in proc sys dev; do
	case $d in proc) mount -t proc proc "$tmp/root/proc" ;; *) mount --rbind "/$d" "$tmp/root/$d"; mount --make-rslave "$tmp/root/$d" ;; esac
	mnt="$tmp/root/$d $mnt"
done
# dpkg's --force-unsafe-io: no fsync per unpacked file (the tree is renamed into place only
# when complete, so a crash never leaves a half-written tree in use).
# shellcheck disable=SC2086
if ! chroot "$tmp/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
	sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-unsafe-io $pkgs && apt-get clean" >>"$log" 2>&1; then
	tail -20 "$log" >&2; die "installing the packages in the $SUITE tree failed (log: $log)"
fi
for m in $mnt; do umount -R "$m" 2>/dev/null || umount -l "$m"; done
mnt=""
rm -rf "$tmp/root/var/lib/apt/lists/"* "$tmp/root/var/cache/apt/"*.bin
echo "$pkgs" > "$tmp/root/.efa-check-complete"
mkdir -p "$cache/$key"
mv "$tmp/root" "$root"
# trees of other package lists (other branches may still use them) go after 3 unused days
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" ! -name '*.tmp.*' -mtime +3 \
	-exec rm -rf {} + 2>/dev/null || true
echo "rootfs.sh: $SUITE root filesystem built in $(( $(date +%s) - start )) s" >&2
echo "$root"
