#!/bin/sh
# make rpm: rpmbuild builds the package, and it holds exactly the files admins expect.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1

if ! command -v rpmbuild >/dev/null 2>&1; then
	not_ok "rpmbuild is installed (tests/deps.sh installs the rpm package)"
	done_testing; exit
fi
run_capture rpm make -s rpm
expect_rc "make rpm" 0 rpm
pkg=$(grep -E '/efa-check-[0-9].*\.rpm$' "$T_TMP/rpm.out" | head -1)
check "make rpm prints the path of the .rpm it built ($pkg)" test -f "$pkg"
[ -f "$pkg" ] || { done_testing; exit; }

rpm -qlp "$pkg" 2>/dev/null | sort > "$T_TMP/files"
for f in /usr/sbin/efa-check /usr/sbin/efa-check-prolog /usr/sbin/efa-check-health /usr/lib64/slurm/spank_efa_check.so /etc/slurm/efa-check.conf \
	/etc/slurm/plugstack.conf.d/efa-check.conf /usr/share/efa-check/instance-profiles.conf \
	/usr/share/man/man8/efa-check.8 /usr/share/man/man8/spank_efa_check.8 \
	/usr/share/doc/efa-check/efa-check-sweep.service /usr/share/doc/efa-check/efa-check-sweep.timer \
	/usr/share/doc/efa-check/efa-check-sweep.scrontab; do
	expect_grep "package contains $f" "^$f(\\.gz)?\$" "$T_TMP/files"
done
rpm -qp --configfiles "$pkg" 2>/dev/null > "$T_TMP/config"
expect_grep "efa-check.conf is a config file" '^/etc/slurm/efa-check.conf$' "$T_TMP/config"
expect_grep "plugstack snippet is a config file" '^/etc/slurm/plugstack.conf.d/efa-check.conf$' "$T_TMP/config"
rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$pkg" 2>/dev/null > "$T_TMP/flags"
expect_grep "efa-check.conf is %config(noreplace)" '^/etc/slurm/efa-check.conf c?n' "$T_TMP/flags"
rel=$(rpm -qp --qf '%{RELEASE}' "$pkg" 2>/dev/null)
hex=$(sed -n 's/^#define SLURM_VERSION_NUMBER 0x\([0-9a-fA-F]*\).*/\1/p' /usr/include/slurm/slurm_version.h)
slurm=$(printf '%d.%02d' "0x$(echo "$hex" | cut -c1-2)" "0x$(echo "$hex" | cut -c3-4)")
case $rel in
	*slurm"$slurm"*) ok "Release names the Slurm version built against ($rel)" ;;
	*) not_ok "Release names the Slurm version built against ($rel, want slurm$slurm)" ;;
esac
check "no build-tree files leak into the package" sh -c "! grep -q '/build/' '$T_TMP/files'"
done_testing
