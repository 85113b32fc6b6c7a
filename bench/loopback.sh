#!/bin/sh
# bench/loopback.sh -- loopback bandwidth of efa-check against fi_pingpong, per provider, at 1 MiB.
#
#   sh bench/loopback.sh [REPEATS]     (default 5; needs `make all`)
#
# For tcp (domain lo) and shm, interleaved in one run: efa-check local's RMA write bandwidth
# at steady state (metric write_gbps: 1 MiB x LoopbackIterations through a sliding window of
# 64, timed after the first quarter of the writes) with the loopback check's duration, and
# fi_pingpong's
# send/recv ping-pong bandwidth (-e rdm -S 1048576, server and client on 127.0.0.1). Medians and
# the ratio efa-check / fi_pingpong per provider. They measure different things (windowed
# one-sided writes vs a two-sided ping-pong); the table says how close efa-check's figure is
# to what an admin gets from the usual tool. Prints a Markdown table and one JSON line.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
EFA_CHECK=${EFA_CHECK:-$TOP/prolog/efa-check}
N=${1:-5}
W=$(mktemp -d /tmp/efa-bench-loopback.XXXXXX)
trap 'rm -rf "$W"' EXIT INT TERM
ulimit -l unlimited 2>/dev/null

. "$TOP/bench/lib.sh"

# efa-check's write bandwidth in GB/s (decimal, like fi_pingpong's MB/sec / 1000)
efa_check_gbs() { # provider conf -> "GB/s loopback_check_ms"
	"$EFA_CHECK" local --config "$2" --json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
c = [c for c in j["checks"] if c["name"] == "loopback" and "metrics" in c]
print("%.3f %d" % (c[0]["metrics"]["write_gbps"] / 8, c[0]["duration_ms"]) if c else "nan nan")'
}

pingpong_gbs() { # provider
	port=$((40000 + $$ % 10000))
	timeout 60 fi_pingpong -p "$1" -e rdm -S 1048576 -I 200 -B "$port" >/dev/null 2>&1 &
	srv=$!
	# the server may not listen yet on a busy machine: retry the client while it runs
	out="" tries=0
	while [ -z "$out" ] && [ "$tries" -lt 10 ] && kill -0 "$srv" 2>/dev/null; do
		sleep 0.3
		out=$(timeout 60 fi_pingpong -p "$1" -e rdm -S 1048576 -I 200 -P "$port" 127.0.0.1 2>/dev/null | tail -1)
		tries=$((tries + 1))
	done
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	echo "$out" | awk '{ if ($6 + 0 > 0) printf "%.3f\n", $6 / 1000; else print "nan" }'
}

for p in tcp shm; do
	conf=$W/$p.conf
	if [ "$p" = tcp ]; then printf 'Provider=tcp\nDomains=lo\nMinMemlock=4M\n' > "$conf"
	else printf 'Provider=shm\nMinMemlock=4M\n' > "$conf"; fi
	chmod 0644 "$conf"
	: > "$W/$p.efa"; : > "$W/$p.pp"; : > "$W/$p.ms"
	i=0
	while [ "$i" -lt "$N" ]; do
		set -- $(efa_check_gbs "$p" "$conf")
		echo "$1" >> "$W/$p.efa"; echo "$2" >> "$W/$p.ms"
		pingpong_gbs "$p" >> "$W/$p.pp"
		i=$((i + 1))
	done
done

echo "## Loopback bandwidth at 1 MiB, GB/s (medians of $N)"
echo
echo "| provider | efa-check local (RMA write, steady state) | fi_pingpong -e rdm -S 1M | ratio | goal | loopback check (ms) |"
echo "| --- | --- | --- | --- | --- | --- |"
json=""
for p in tcp shm; do
	e=$(bench_median "$W/$p.efa" %.3f); f=$(bench_median "$W/$p.pp" %.3f)
	r=$(bench_pair_ratio "$W/$p.efa" "$W/$p.pp")
	ms=$(bench_median "$W/$p.ms" %.0f)
	met=$(echo "$r" | awk '{ print ($1 != "nan" && $1 + 0 >= 1.0) ? "met" : "missed" }')
	echo "| $p | $e | $f | $r | >= 1.0: $met | $ms |"
	json="$json${json:+,}\"$p\":{\"efa_check_gbs\":$e,\"fi_pingpong_gbs\":$f,\"ratio\":$r,\"goal_met\":$([ "$met" = met ] && echo true || echo false),\"loopback_check_ms\":$ms}"
done
echo
printf '{"bench":"loopback","repeats":%d,"size_bytes":1048576,%s}\n' "$N" "$json" | sed 's/:nan\([,}]\)/:null\1/g'
