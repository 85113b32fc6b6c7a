#!/bin/sh
# bench/local.sh -- `efa-check local` on a healthy node against libfabric's own start-up, and
# its peak memory per domain (issue 11 point 4 figures).
#
#   sh bench/local.sh [RUNS]       (default 15; needs `make all` and libfabric-bin)
#
# Interleaved in one run, per provider (tcp on domain lo, shm):
#   - wall time of `efa-check local` (the full node-local check, loopback included) against
#     `fi_info -p PROV -t FI_EP_RDM` (loading libfabric and its providers: the floor of any
#     check); ratio pair by pair (goal <= 1.5x, aim 1.25x);
#   - peak RSS (GNU time %M, the largest of the process and its worker) of `efa-check local`
#     with one domain, and for tcp with two (lo,eth0 when eth0 exists): the difference is what
#     one more domain costs (on a 32-device node the loopback runs 32 domains at once);
#     anchors: fi_info and fi_pingpong (server + client at 1 MiB, the larger of the two).
# Prints a Markdown table and one JSON line.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
EFA_CHECK=${EFA_CHECK:-$TOP/prolog/efa-check}
RUNS=${1:-15}
W=$(mktemp -d /tmp/efa-bench-local.XXXXXX)
trap 'rm -rf "$W"' EXIT
trap 'rm -rf "$W"; exit 1' INT TERM
. "$TOP/bench/lib.sh"

for tool in fi_info fi_pingpong /usr/bin/time; do
	command -v $tool >/dev/null || { echo "bench/local.sh: $tool not found" >&2; exit 1; }
done
[ -x "$EFA_CHECK" ] || { echo "bench/local.sh: $EFA_CHECK not built (make)" >&2; exit 1; }
ulimit -l unlimited 2>/dev/null
memlock=$(ulimit -l)
minmem=64M
[ "$memlock" != unlimited ] && [ "$memlock" -lt 65536 ] && minmem=${memlock}K

conf() { # name provider [domains]
	{ echo "Provider=$2"; [ -n "${3:-}" ] && echo "Domains=$3"; echo "MinMemlock=$minmem"; } > "$W/$1.conf"
	chmod 0644 "$W/$1.conf"
}
conf tcp tcp lo
conf shm shm
two=""
if fi_info -p tcp -t FI_EP_RDM 2>/dev/null | grep -q 'domain: eth0$'; then conf tcp2 tcp lo,eth0; two=yes; fi

now_ns() { date +%s%N; }
time_ms() { # OUT CMD...: wall time in ms appended to OUT; the command must succeed
	_out=$1; shift
	_t0=$(now_ns)
	"$@" >/dev/null 2>&1 || { echo "bench/local.sh: failed: $*" >&2; exit 1; }
	echo "$_t0 $(now_ns)" | awk '{ printf "%.2f\n", ($2 - $1) / 1e6 }' >> "$_out"
}
rss_kib() { # OUT CMD...: peak RSS (KiB) appended to OUT
	_out=$1; shift
	/usr/bin/time -f '%M' -o "$W/rss.tmp" "$@" >/dev/null 2>&1
	tail -1 "$W/rss.tmp" >> "$_out"
}
pingpong_rss() { # provider -> the larger peak RSS of server and client at 1 MiB
	port=$((42000 + $$ % 10000))
	/usr/bin/time -f '%M' -o "$W/pps" timeout 60 fi_pingpong -p "$1" -e rdm -S 1048576 -I 100 -B "$port" >/dev/null 2>&1 &
	srv=$!
	sleep 0.3
	/usr/bin/time -f '%M' -o "$W/ppc" timeout 60 fi_pingpong -p "$1" -e rdm -S 1048576 -I 100 -P "$port" 127.0.0.1 >/dev/null 2>&1
	wait "$srv" 2>/dev/null
	awk 'NR == FNR { a = $1; next } { b = $1 } END { print (a > b ? a : b) }' "$W/pps" "$W/ppc"
}

for p in tcp shm; do : > "$W/$p.local"; : > "$W/$p.fi_info"; done
i=0
while [ "$i" -lt "$RUNS" ]; do
	for p in tcp shm; do
		time_ms "$W/$p.fi_info" fi_info -p "$p" -t FI_EP_RDM
		time_ms "$W/$p.local" "$EFA_CHECK" local --config "$W/$p.conf"
	done
	i=$((i + 1))
done
: > "$W/rss.tcp"; : > "$W/rss.tcp2"; : > "$W/rss.shm"; : > "$W/rss.fi_info"; : > "$W/rss.pp_tcp"; : > "$W/rss.pp_shm"
for _ in 1 2 3; do
	rss_kib "$W/rss.tcp" "$EFA_CHECK" local --config "$W/tcp.conf"
	[ -n "$two" ] && rss_kib "$W/rss.tcp2" "$EFA_CHECK" local --config "$W/tcp2.conf"
	rss_kib "$W/rss.shm" "$EFA_CHECK" local --config "$W/shm.conf"
	rss_kib "$W/rss.fi_info" fi_info -p tcp -t FI_EP_RDM
	pingpong_rss tcp >> "$W/rss.pp_tcp"
	pingpong_rss shm >> "$W/rss.pp_shm"
done

mib() { awk -v k="$1" 'BEGIN { if (k == "nan" || k == "") print "nan"; else printf "%.1f", k / 1024 }'; }
t_tcp=$(bench_median "$W/tcp.local" %.1f) f_tcp=$(bench_median "$W/tcp.fi_info" %.1f)
t_shm=$(bench_median "$W/shm.local" %.1f) f_shm=$(bench_median "$W/shm.fi_info" %.1f)
x_tcp=$(bench_pair_ratio "$W/tcp.local" "$W/tcp.fi_info")
x_shm=$(bench_pair_ratio "$W/shm.local" "$W/shm.fi_info")
goal=$(echo "$x_tcp" | awk '{ print ($1 != "nan" && $1 + 0 > 0 && $1 + 0 <= 1.5) ? "met" : "missed" }')
r_tcp=$(bench_median "$W/rss.tcp" %.0f) r_shm=$(bench_median "$W/rss.shm" %.0f)
r_fi=$(bench_median "$W/rss.fi_info" %.0f)
r_pp_tcp=$(bench_median "$W/rss.pp_tcp" %.0f) r_pp_shm=$(bench_median "$W/rss.pp_shm" %.0f)
if [ -n "$two" ]; then r_tcp2=$(bench_median "$W/rss.tcp2" %.0f); per=$((r_tcp2 - r_tcp)); else r_tcp2=nan; per=nan; fi

echo "## efa-check local on a healthy node (medians of $RUNS interleaved runs; RSS medians of 3)"
echo
echo "| provider | efa-check local (ms) | fi_info -p PROV -t FI_EP_RDM (ms) | ratio | goal |"
echo "| --- | --- | --- | --- | --- |"
echo "| tcp (lo) | $t_tcp | $f_tcp | ${x_tcp}x | <= 1.5x (aim 1.25x): $goal |"
echo "| shm | $t_shm | $f_shm | ${x_shm}x | |"
echo
echo "| peak RSS (MiB) | efa-check local | per extra domain | fi_info | fi_pingpong -S 1M |"
echo "| --- | --- | --- | --- | --- |"
echo "| tcp | $(mib "$r_tcp") (1 domain), $(mib "$r_tcp2") (2 domains) | $(mib "$per") | $(mib "$r_fi") | $(mib "$r_pp_tcp") |"
echo "| shm | $(mib "$r_shm") (1 domain) | | | $(mib "$r_pp_shm") |"
echo
printf '{"bench":"local","runs":%d,"median_ms":{"tcp":%s,"fi_info_tcp":%s,"shm":%s,"fi_info_shm":%s},"ratio":{"tcp":%s,"shm":%s},"goal_met":%s,"rss_kib":{"tcp_1_domain":%s,"tcp_2_domains":%s,"tcp_per_domain":%s,"shm":%s,"fi_info":%s,"fi_pingpong_tcp":%s,"fi_pingpong_shm":%s}}\n' \
	"$RUNS" "$t_tcp" "$f_tcp" "$t_shm" "$f_shm" "$x_tcp" "$x_shm" "$([ "$goal" = met ] && echo true || echo false)" \
	"$r_tcp" "$r_tcp2" "$per" "$r_shm" "$r_fi" "$r_pp_tcp" "$r_pp_shm" | sed 's/:nan\([,}]\)/:null\1/g'
