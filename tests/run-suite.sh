#!/bin/sh
# Run one integration suite (tests/integration/NAME.sh) for tests/run-tests.sh: its output goes
# to LOGDIR/integration-NAME.log, its counts to LOGDIR/integration-NAME.result ("passed failed
# seconds"), and one line to stdout when it ends. Suites are counted from their TAP-style
# "ok"/"not ok" lines; one that dies without reporting counts as one failure.
#   run-suite.sh LOGDIR NAME
set -u
logs=$1 name=$2
log=$logs/integration-$name.log
start=$(date +%s)
sh "tests/integration/$name.sh" >"$log" 2>&1
rc=$?
p=$(grep -c '^ok ' "$log")
f=$(grep -c '^not ok ' "$log")
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
secs=$(( $(date +%s) - start ))
echo "$p $f $secs" > "$logs/integration-$name.result"
if [ "$f" -ne 0 ]; then
	echo "FAIL integration/$name: $p passed, $f failed, ${secs}s (log: $log)"
else
	echo "ok   integration/$name: $p passed, ${secs}s"
fi
