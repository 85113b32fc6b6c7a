#!/bin/sh
# make bench: every benchmark in one run; each prints a Markdown table and one JSON line.
# The JSON lines are collected in build/bench/results.jsonl. See bench/README.md.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/build/bench
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
for b in loopback prolog plugin_overhead cross sweep; do
	script=$TOP/bench/$b.sh
	[ -f "$script" ] || continue
	echo
	echo "# bench/$b.sh"
	sh "$script" | tee "$OUT/$b.txt"
	grep -E '^\{"bench"' "$OUT/$b.txt" >> "$OUT/results.jsonl"
done
echo
echo "JSON results: $OUT/results.jsonl"
