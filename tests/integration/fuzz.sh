#!/bin/sh
# libFuzzer targets (tests/fuzz/): each runs for a bounded time (FUZZ_SECONDS, default 5: make
# check runs it on two platforms at once within its time budget; FUZZ_SECONDS=600 for a campaign) over
# a copy of its committed seed corpus, under ASan and UBSan. A crash, leak or sanitizer report
# fails the suite; the crashing input is kept in build/fuzz/artifacts/.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
secs=${FUZZ_SECONDS:-5}
export LSAN_OPTIONS="suppressions=$TOP/tests/lsan.supp"

if ! command -v clang >/dev/null 2>&1; then
	not_ok "clang is installed (tests/deps.sh installs it)"; done_testing; exit
fi
run_capture build make -s fuzz
expect_rc "fuzz targets build with clang -fsanitize=fuzzer,address,undefined" 0 build
mkdir -p build/fuzz/artifacts
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	t=${name#fuzz_}
	corpus=$T_TMP/corpus-$t
	mkdir -p "$corpus"
	cp tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null
	"build/fuzz/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=build/fuzz/artifacts/"$t"- "$corpus" >"$T_TMP/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$T_TMP/$t.log" | tail -1)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		ok "fuzz $t: ${runs} executions in ${secs}s, no crash"
	else
		not_ok "fuzz $t: exit $rc"
		grep -E 'ERROR|SUMMARY|artifact' "$T_TMP/$t.log" | head -10 | diag
	fi
done
rm -rf /tmp/efa-fuzz-sysfs.*
done_testing
