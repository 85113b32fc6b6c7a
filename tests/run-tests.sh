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

# Integration suites run EFA_TEST_JOBS at a time (default 2): each starts its own test
# cluster on its own ports, scratch directory and fabric names (tests/cluster), so they do
# not meet; most of a suite's time is spent waiting on Slurm, not computing. The longest
# suites start first (their last time, from build/test-logs, else a built-in guess) so
# that the lanes end together. Counts are summed and failures shown in name order.
suite_order() {
	for t in tests/integration/*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		case $name in   # first run: the suites known to be long
		fuzz|sweep|cross) secs=100 ;;
		fabric|prolog|spank|gray|faults|flap|hostile) secs=60 ;;
		*) secs=0 ;;
		esac
		[ -f "$LOGS/integration-$name.result" ] && set -- $(cat "$LOGS/integration-$name.result") && secs=${3:-0}
		echo "$secs $name"
	done | sort -k1,1nr -k2,2 | awk '{ print $2 }'
}

run_integration() {
	order=$(suite_order)
	for name in $order; do rm -f "$LOGS/integration-$name.result"; done
	printf '%s\n' $order | xargs -P "${EFA_TEST_JOBS:-2}" -n 1 sh tests/run-suite.sh "$LOGS"
	for name in $(printf '%s\n' $order | sort); do
		res=$LOGS/integration-$name.result
		if [ -f "$res" ]; then set -- $(cat "$res"); else set -- 0 1 0; fi
		passed=$((passed + $1)); failed=$((failed + $2))
		if [ "$2" -ne 0 ]; then
			echo "--- integration/$name: $1 passed, $2 failed (log: $LOGS/integration-$name.log)"
			grep -E '^not ok |^#' "$LOGS/integration-$name.log" 2>/dev/null | head -40
		fi
	done
}

# Other platforms run at the same time as this machine's suites, each in its own namespaces
# (tests/platform/run.sh): their lines stream prefixed "[NAME] " as they come.
# start_platform NAME: in the background; finish_platform NAME: after it, add its closing line.
start_platform() {
	sh tests/platform/run.sh "$1" > "$LOGS/platform-$1.log" 2>&1 &
	platform_pids="$platform_pids $!"
	tail -n +1 -F --pid=$! "$LOGS/platform-$1.log" 2>/dev/null &
}

finish_platform() {
	out=$LOGS/platform-$1.log
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

platform_pids="" platforms=""
for s in $suites; do
	case $s in
	platform:*) platforms="$platforms ${s#platform:}"; start_platform "${s#platform:}" ;;
	esac
done
# make check hands over this machine's build (EFA_HOST_BUILD) so that it runs while the
# other platforms start; a failed build is one failure and its suites are not run.
if [ -n "${EFA_HOST_BUILD:-}" ] && [ -n "$host_start" ]; then
	if ! $EFA_HOST_BUILD; then
		echo "FAIL build: $EFA_HOST_BUILD"
		failed=$((failed + 1))
		suites=$(printf '%s\n' $suites | grep '^platform:' | tr '\n' ' ')
	fi
fi
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
	platform:*) ;;
	*) echo "run-tests.sh: unknown suite '$s' (unit, unit-san, integration, platform:NAME)" >&2; exit 2 ;;
	esac
done
host_summary
[ -n "$platform_pids" ] && wait $platform_pids
sleep 1   # the last streamed lines
for pf in $platforms; do finish_platform "$pf"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
