#!/bin/sh
# make bench: every benchmark in one run; each prints a Markdown table and one JSON line.
# The JSON lines are collected in build/bench/results.jsonl. See bench/README.md.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/build/bench
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
for b in local loopback prolog plugin_overhead cross sweep nccl_verify; do
	script=$TOP/bench/$b.sh
	[ -f "$script" ] || continue
	echo
	echo "# bench/$b.sh"
	sh "$script" | tee "$OUT/$b.txt"
	grep -E '^\{"bench"' "$OUT/$b.txt" >> "$OUT/results.jsonl"
done
echo
# The three speed figures of issue 11, side by side with their anchors, from this run.
python3 - "$OUT/results.jsonl" <<'PY' || true
import json, sys
r = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    r[j["bench"]] = j
print("## Speed figures (this run)")
print()
print("| figure | efa-check | anchor | ratio | goal |")
print("| --- | --- | --- | --- | --- |")
l = r.get("local")
if l:
    m = l["median_ms"]
    print("| `efa-check local` tcp (lo), wall | %s ms | fi_info -p tcp -t FI_EP_RDM %s ms | %sx | <= 1.5x (aim 1.25x) |" % (m["tcp"], m["fi_info_tcp"], l["ratio"]["tcp"]))
lb = r.get("loopback")
if lb:
    for p in ("tcp", "shm"):
        if p in lb:
            x = lb[p]
            print("| loopback bandwidth at 1 MiB, %s | %s GB/s | fi_pingpong %s GB/s | %s | >= 1.0 |" % (p, x["efa_check_gbs"], x["fi_pingpong_gbs"], x["ratio"]))
if l:
    k = l["rss_kib"]
    mib = lambda v: "nan" if v in (None, "nan") else "%.1f MiB" % (float(v) / 1024)
    print("| peak RSS of `efa-check local`, tcp | %s (1 domain), %s per extra domain | fi_info %s, fi_pingpong %s | | what the test needs |" % (mib(k["tcp_1_domain"]), mib(k["tcp_per_domain"]), mib(k["fi_info"]), mib(k["fi_pingpong_tcp"])))
    print("| peak RSS of `efa-check local`, shm | %s | fi_pingpong %s | | |" % (mib(k["shm"]), mib(k["fi_pingpong_shm"])))
PY
echo
echo "JSON results: $OUT/results.jsonl"
