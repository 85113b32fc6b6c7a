# Shared helpers for integration tests (sourced). Output is TAP-like: "ok N - what" and
# "not ok N - what" lines are counted by tests/run-tests.sh; "# ..." lines are diagnostics.
TOP=$(cd "$(dirname "$0")/../.." && pwd)
EFA_CHECK=$TOP/prolog/efa-check
FAULT_LIB=$TOP/build/tests/libefa-fault.so
# RDMA registration needs locked memory: production nodes run slurmd with
# LimitMEMLOCK=infinity, and so do the tests (the limits check has its own test).
ulimit -l unlimited 2>/dev/null || true
_t_n=0
_t_failed=0
T_TMP=$(mktemp -d /tmp/efa-check-test.XXXXXX)
trap 'rm -rf "$T_TMP"' EXIT

ok() { _t_n=$((_t_n + 1)); echo "ok $_t_n - $*"; }
not_ok() { _t_n=$((_t_n + 1)); _t_failed=$((_t_failed + 1)); echo "not ok $_t_n - $*"; }
diag() { sed 's/^/# /'; }

# check DESC CONDITION...: ok if the command succeeds
check() {
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# run_capture NAME CMD...: run CMD, stdout to $T_TMP/NAME.out, stderr to $T_TMP/NAME.err,
# exit code in $RC
run_capture() {
	name=$1; shift
	"$@" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err"
	RC=$?
}

# expect_rc DESC WANT NAME: check $RC from the last run_capture, show its output when wrong
expect_rc() {
	if [ "$RC" -eq "$2" ]; then ok "$1 (exit $RC)"; else
		not_ok "$1 (exit $RC, want $2)"
		{ cat "$T_TMP/$3.out"; cat "$T_TMP/$3.err"; } | head -40 | diag
	fi
}

# expect_grep DESC PATTERN FILE
expect_grep() {
	if grep -qE -- "$2" "$3"; then ok "$1"; else
		not_ok "$1 (no /$2/ in $(basename "$3"))"; head -40 "$3" | diag
	fi
}

# json_get FILE EXPR: evaluate a python expression on the JSON report j
json_get() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

done_testing() { echo "1..$_t_n"; [ "$_t_failed" -eq 0 ]; }
