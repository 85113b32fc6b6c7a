#!/bin/sh
# Install the Debian packages efa-check needs to build and test, when missing.
# Used by `make check`, `make demo` and `make bench`. Runs apt-get only as root and only
# when something is missing, so a second run costs a dpkg query.
#   deps.sh              install what is missing (EFA_PLATFORMS other than host: also debootstrap,
#                        which tests/platform/rootfs.sh needs to build the other platforms' trees)
#   deps.sh --list       print the build/test package list (the platform trees install it too)
# The names are the same on Debian 12 and 13 (libclang-rt-dev is the default clang's runtime).
set -eu

PKGS="build-essential pkg-config libfabric-dev libfabric-bin libpmix-dev libpmix-bin
libjson-c-dev libcmocka-dev libslurm-dev slurmctld slurmd slurm-client
slurm-wlm-basic-plugins munge clang libclang-rt-dev valgrind rpm file procps
python3 iproute2 nftables prometheus"

if [ "${1:-}" = --list ]; then echo $PKGS; exit 0; fi
for pf in ${EFA_PLATFORMS:-host}; do
	[ "$pf" = host ] || PKGS="$PKGS debootstrap"
done

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "efa-check: missing packages:$missing" >&2
	echo "efa-check: run 'make deps' as root, or: apt-get install$missing" >&2
	exit 1
fi
echo "efa-check: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# The Debian slurm/munge packages start their daemons from postinst; the test cluster
# runs its own, so keep package scripts from starting services.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy" && made_policy=1
fi
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >/dev/null
[ "$made_policy" = 1 ] && rm -f "$policy"
exit 0
