#!/bin/sh
# Run efa-check's test suites and print one closing line: "N passed, N failed".
#   run-tests.sh [unit|unit-san|integration]...   (default: all three)
# cmocka suites are counted from their "[  PASSED  ]"/"[  FAILED  ]" lines, integration
# suites (tests/integration/*.sh) from TAP-style "ok"/"not ok" lines. A suite that dies
# without reporting counts as one failure. Logs: build/test-logs/.
set -u
cd "$(dirname "$0")/.."
B=build
LOGS=$B/test-logs
mkdir -p "$LOGS"
passed=0
failed=0
suites=${*:-unit unit-san integration}

count_cmocka() { # log -> "pass fail"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$1" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$1" | tail -1)
	echo "${p:-0} ${f:-0}"
}

run_cmocka() { # label bin
	label=$1 bin=$2
	log=$LOGS/$label.log
	"$bin" >"$log" 2>&1
	rc=$?
	set -- $(count_cmocka "$log")
	p=$1 f=$2
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		echo "FAIL $label: $p passed, $f failed (log: $log)"
		grep -E '^\[  (FAILED|ERROR) |ERROR: AddressSanitizer|runtime error' "$log" | head -20
	else
		echo "ok   $label: $p passed"
	fi
}

run_unit() { # dir label-prefix
	for bin in "$1"/test_*; do
		[ -x "$bin" ] || continue
		run_cmocka "$2$(basename "$bin")" "$bin"
	done
}

run_integration() {
	for t in tests/integration/*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		log=$LOGS/integration-$name.log
		start=$(date +%s)
		sh "$t" >"$log" 2>&1
		rc=$?
		p=$(grep -c '^ok ' "$log")
		f=$(grep -c '^not ok ' "$log")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		passed=$((passed + p)); failed=$((failed + f))
		secs=$(( $(date +%s) - start ))
		if [ "$f" -ne 0 ]; then
			echo "FAIL integration/$name: $p passed, $f failed, ${secs}s (log: $log)"
			grep -E '^not ok |^#' "$log" | head -40
		else
			echo "ok   integration/$name: $p passed, ${secs}s"
		fi
	done
}

for s in $suites; do
	case $s in
	unit) run_unit $B/tests "" ;;
	unit-san)
		export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp"
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
		export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
		run_unit $B/san/tests "san-"
		unset LSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS ;;
	integration) run_integration ;;
	*) echo "run-tests.sh: unknown suite '$s' (unit, unit-san, integration)" >&2; exit 2 ;;
	esac
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
