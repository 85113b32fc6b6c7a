#!/bin/sh
# Build the efa-check RPMs: rpm/build.sh VERSION. Prints the paths of the .rpm files built.
# On Debian, rpmbuild cannot see dpkg-installed build dependencies, so the dependency check
# is skipped (--nodeps); on RPM distributions it is kept.
set -eu
cd "$(dirname "$0")/.."
version=${1:?usage: rpm/build.sh VERSION}
top=$(pwd)/build/rpm
rm -rf "$top"
mkdir -p "$top/SOURCES" "$top/SPECS" "$top/BUILD" "$top/RPMS" "$top/SRPMS"

# The Makefile passes the slurm_version.h it compiles against (SLURM_HOME, pkg-config slurm or
# the system's); SLURM_HOME is handed on to the package build.
version_h=${SLURM_VERSION_H:-${SLURM_INCLUDE:-/usr/include}/slurm/slurm_version.h}
slurm_hex=$(sed -n 's/^#define SLURM_VERSION_NUMBER 0x\([0-9a-fA-F]*\).*/\1/p' "$version_h")
[ -n "$slurm_hex" ] || { echo "efa-check: rpm: cannot read SLURM_VERSION_NUMBER from slurm/slurm_version.h" >&2; exit 1; }
slurm_version=$(printf '%d.%02d.%d' "0x$(echo "$slurm_hex" | cut -c1-2)" \
	"0x$(echo "$slurm_hex" | cut -c3-4)" "0x$(echo "$slurm_hex" | cut -c5-6)")

# The source tarball: the tracked files of the work tree (or everything but build output).
stage=$top/efa-check-$version
mkdir -p "$stage"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp -P --parents {} "$stage"/ 2>/dev/null || true
else
	tar --exclude=./build --exclude=./.git -cf - . | (cd "$stage" && tar -xf -)
fi
tar -C "$top" -czf "$top/SOURCES/efa-check-$version.tar.gz" "efa-check-$version"
rm -rf "$stage"

nodeps=""
command -v dpkg >/dev/null 2>&1 && nodeps="--nodeps"
rpmbuild -bb $nodeps --quiet \
	--define "_topdir $top" \
	--define "slurm_version $slurm_version" \
	--define "slurm_home ${SLURM_HOME:-%{nil}}" \
	--define "version_override $version" \
	rpm/efa-check.spec >"$top/rpmbuild.log" 2>&1 || {
	echo "efa-check: rpmbuild failed; log: $top/rpmbuild.log" >&2
	tail -30 "$top/rpmbuild.log" >&2
	exit 1
}
find "$top/RPMS" -name '*.rpm' -print
