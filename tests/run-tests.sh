#!/bin/sh
# Run efa-check's test suites and print one closing line: "N passed, N failed".
#   run-tests.sh [unit|unit-san|integration|platform:NAME]...
# Without arguments: every platform in $EFA_PLATFORMS (default "host"; make check passes its PLATFORM): on "host" (this
# machine) unit, unit-san and integration; on any other NAME the whole suite inside that
# platform's root filesystem (tests/platform/run.sh NAME, which prints "[NAME] ..." lines).
# The closing line sums every platform; a "platform NAME: ..." line gives each one's count and
# time. cmocka suites are counted from their "[  PASSED  ]"/"[  FAILED  ]" lines, integration
# suites (tests/integration/*.sh) from TAP-style "ok"/"not ok" lines. A suite that dies
# without reporting counts as one failure, and so does a platform that could not run.
# Logs: build/test-logs/ (build/test-logs/NAME/ for another platform).
set -u
cd "$(dirname "$0")/.."
B=build
LOGS=$B/test-logs
mkdir -p "$LOGS"
passed=0
failed=0
if [ $# -eq 0 ]; then
	suites="" others=""
	for pf in ${EFA_PLATFORMS:-host}; do
		case $pf in
		host) suites="unit unit-san integration" ;;
		*) others="$others platform:$pf" ;;
		esac
	done
	suites="$suites$others"     # this machine first, then the others
else
	suites=$*
fi
case " $suites " in *" unit "*|*" unit-san "*|*" integration "*) host_start=$(date +%s) ;; *) host_start="" ;; esac

count_cmocka() { # log -> "pass fail"
	# cmocka 1.1 (Debian 12) "[  FAILED  ] 3 test(s)", 1.1.7 (Debian 13) "[  FAILED  ] tests: 3 test(s)"
	p=$(sed -n 's/^\[  PASSED  \] \(tests: \)\{0,1\}\([0-9]*\) test.*/\2/p' "$1" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \(tests: \)\{0,1\}\([0-9]*\) test.*/\2/p' "$1" | tail -1)
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

# run_platform NAME: the whole suite in NAME's root filesystem; add its closing line
run_platform() {
	out=$LOGS/platform-$1.log
	sh tests/platform/run.sh "$1" 2>&1 | tee "$out"
	line=$(sed -n "s/^\[$1\] \([0-9]* passed, [0-9]* failed\)$/\1/p" "$out" | tail -1)
	if [ -z "$line" ]; then
		echo "FAIL platform/$1: no result (log: $out)"
		line="0 passed, 1 failed"
	fi
	set -- $line
	passed=$((passed + $1)); failed=$((failed + $3))
}

host_summary() {
	[ -n "$host_start" ] || return 0
	# inside another platform's tree tests/platform/run.sh names it in EFA_PLATFORM_NAME
	echo "platform ${EFA_PLATFORM_NAME:-host}: $passed passed, $failed failed in $(( $(date +%s) - host_start )) s"
	host_start=""
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
	platform:*)
		host_summary
		run_platform "${s#platform:}" ;;
	*) echo "run-tests.sh: unknown suite '$s' (unit, unit-san, integration, platform:NAME)" >&2; exit 2 ;;
	esac
done
host_summary
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
