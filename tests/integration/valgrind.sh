#!/bin/sh
# efa-check under valgrind memcheck (issue 6, hardening): `efa-check local --json` on tcp/lo,
# `efa-check env` and configuration error paths must be clean: no memcheck error and no
# "definitely lost" block in any process, the supervised worker included (a fork without exec
# is followed by valgrind; --child-silent-after-fork=no keeps its report). The exit code is
# efa-check's own: the worker's exit code is not efa-check's, so every process's log is read
# as well. Suppressions (tests/valgrind.supp) cover third-party library frames only.
. "$(dirname "$0")/../lib.sh"

if ! command -v valgrind >/dev/null 2>&1; then
	not_ok "valgrind is installed (tests/deps.sh installs it)"; done_testing; exit
fi
conf=$T_TMP/vg.conf
printf 'Provider=tcp\nDomains=lo\nTimeout=60\nMinMemlock=4M\nLoopbackIterations=5\nLoopbackMaxSize=1M\n' > "$conf"
chmod 0644 "$conf"
printf 'Provider=tcp\nLoopbackIterations=0\n' > "$T_TMP/bad.conf"
chmod 0644 "$T_TMP/bad.conf"
cp "$conf" "$T_TMP/ww.conf"
chmod 0666 "$T_TMP/ww.conf"
mkdir -p "$T_TMP/state"
chmod 0755 "$T_TMP/state"

# vg NAME WANT_RC ARGS...: efa-check ARGS under memcheck, one log per process
vg() {
	name=$1 want=$2
	shift 2
	label="$name (efa-check $1)"
	rm -f "$T_TMP/vg-$name".*.log
	run_capture "$name" timeout -s KILL 120 valgrind --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --track-fds=no --trace-children=no \
		--child-silent-after-fork=no --num-callers=30 \
		--suppressions="$TOP/tests/valgrind.supp" \
		--log-file="$T_TMP/vg-$name.%p.log" "$EFA_CHECK" "$@"
	expect_rc "valgrind $label: exit is efa-check's own" "$want" "$name"
	nlogs=$(ls "$T_TMP/vg-$name".*.log 2>/dev/null | wc -l)
	bad=$(grep -lE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$T_TMP/vg-$name".*.log 2>/dev/null)
	if [ -z "$bad" ] && [ "$nlogs" -gt 0 ]; then
		ok "valgrind $label: no memcheck error, nothing definitely lost ($nlogs processes)"
	else
		not_ok "valgrind $label: memcheck errors or definite leaks ($nlogs processes)"
		for f in $bad; do
			# the error and definite-leak records, with their stacks
			awk '/definitely lost in loss record|^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and dest)/ {p=1}
			     p {print} /^==[0-9]+== $/ {p=0}
			     /ERROR SUMMARY|definitely lost:/ {print}' "$f" | head -40 | diag
		done
	fi
}

start=$(date +%s)
vg local 0 local --config "$conf" --json
check "local under valgrind: JSON report says ok" test "$(json_get "$T_TMP/local.out" "j['ok']")" = True
n=$(ls "$T_TMP"/vg-local.*.log 2>/dev/null | wc -l)
check "local under valgrind: the supervised worker was checked too ($n processes)" test "$n" -ge 2
vg local_fail 1 local --config "$conf" --provider shm --json
vg env 0 env --config "$conf" --node n1 --state-dir "$T_TMP/state" --verbose
vg env_json 0 env --config "$conf" --node n1 --format json --lint --no-cache
vg config_error 2 local --config "$T_TMP/bad.conf" --json
vg config_unsafe 2 local --config "$T_TMP/ww.conf"
vg usage_error 2 local --node "$(printf 'n\001')"
echo "# valgrind suite: $(( $(date +%s) - start )) s"
done_testing
