#!/bin/sh
# The multi-host test fabric (tests/cluster/cluster.sh start --fabric, tests/cluster/fabric.sh):
# every node's slurmd runs in its own network namespace with its own addresses, no default
# route, the host does not forward; `efa-check cross` over the data links passes; each network
# fault does what it says (measured by efa-check cross itself); stop removes every namespace,
# link and nft table by name, also after a test killed mid-way. Needs `make test-support`.
. "$(dirname "$0")/../lib.sh"

CLUSTER=$TOP/tests/cluster/cluster.sh
C=$T_TMP/cluster

cleanup() {
	if [ "$_t_failed" -ne 0 ] && [ -d "$C/log" ]; then
		sh "$CLUSTER" logs "$C" 20 2>&1 | diag
	fi
	sh "$CLUSTER" stop "$C" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cross() { # NAME: cross check over n1..n3, JSON in $T_TMP/NAME.out
	run_capture "$1" timeout 90 srun -w "n[1-3]" --ntasks-per-node=1 --mpi=pmix "$C/bin/efa-check" cross --json
}
jq_() { json_get "$T_TMP/$1.out" "$2" 2>/dev/null; }
links() { jq_ "$1" '" ".join("%s-%s:%s" % (l["a"], l["b"], "ok" if l["ok"] else "FAIL") for l in j["links"])'; }
gbps() { jq_ "$1" '" ".join("%s-%s:%.2f" % (l["a"], l["b"], l["gbps"]) for l in j["links"])'; }

t0=$(date +%s)
run_capture start sh "$CLUSTER" start "$C" --nodes 3 --fabric
expect_rc "fabric cluster starts ($(( $(date +%s) - t0 ))s)" 0 start
if [ "$RC" -ne 0 ]; then done_testing; exit 1; fi
. "$C/env"
printf 'Provider=tcp\nDomains=data0\nTimeout=20\nOnFail=log\nMinMemlock=8M\n' > "$C/etc/efa-check.conf"
chmod 600 "$C/etc/efa-check.conf"

# ---- isolation -------------------------------------------------------------------------
host_ns=$(readlink /proc/self/ns/net)
nss=""
for n in 1 2 3; do
	p=$(awk -v n="slurmd-n$n" '$1 == n {print $2}' "$C/run/pids")
	nss="$nss $(readlink "/proc/$p/ns/net")"
done
distinct=$(echo $nss | tr ' ' '\n' | sort -u | grep -vcx "$host_ns")
check "each slurmd in a network namespace of its own ($distinct distinct, none the host's)" [ "$distinct" -eq 3 ]
run_capture addrs timeout 30 srun -N3 sh -c 'echo $SLURMD_NODENAME $(ip -4 -o addr show dev data0 | awk "{print \$4}") $(ip route show default | wc -l)'
expect_rc "srun reaches the three nodes" 0 addrs
check "every node has its own data0 address and no default route" \
	[ "$(sort "$T_TMP/addrs.out" | awk '{print $2, $3}' | sort -u | grep -c ' 0$')" -eq 3 ]
check "the host does not forward" [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 0 ]
check "slurmctld stays in the host namespace" \
	[ "$(readlink "/proc/$(awk '$1 == "slurmctld" {print $2}' "$C/run/pids")/ns/net")" = "$host_ns" ]

# ---- the network as efa-check cross sees it ---------------------------------------------
cross healthy
expect_rc "cross over data0 passes" 0 healthy
diag <<EOF2
healthy links Gb/s: $(gbps healthy)
EOF2

sh "$CLUSTER" net "$C" throttle n2 100mbit
cross throttled
expect_rc "throttled n2: links still pass (no bandwidth floor set)" 0 throttled
check "n2's links run at about 0.1 Gb/s, n1-n3 well above ($(gbps throttled))" \
	[ "$(jq_ throttled 'all((l["gbps"] < 0.15) == ("n2" in (l["a"], l["b"])) for l in j["links"])')" = True ]
sh "$CLUSTER" net "$C" clear

sh "$CLUSTER" net "$C" throttle-link n1 n3 100mbit
cross tlink
check "throttle-link n1 n3: only n1-n3 slow ($(gbps tlink))" \
	[ "$(jq_ tlink 'all((l["gbps"] < 0.15) == ((l["a"], l["b"]) == ("n1", "n3")) for l in j["links"])')" = True ]
sh "$CLUSTER" net "$C" clear

sh "$CLUSTER" net "$C" sg-block
cross sg
expect_rc "sg-block: cross fails" 1 sg
check "sg-block: every data link failed ($(links sg))" [ "$(jq_ sg 'sum(1 for l in j["links"] if not l["ok"])')" = 3 ]
run_capture sg_slurm timeout 30 srun -N3 true
expect_rc "sg-block: Slurm's own traffic still passes" 0 sg_slurm
sh "$CLUSTER" net "$C" clear

sh "$CLUSTER" net "$C" isolate n2
cross isolate
check "isolate n2: n2 blamed alone ($(jq_ isolate 'j["bad_nodes"]'), $(links isolate))" \
	[ "$(jq_ isolate 'j["bad_nodes"]')" = "['n2']" ]
sh "$CLUSTER" net "$C" clear

sh "$CLUSTER" net "$C" drop n1 n2
cross oneway
check "one-way drop n1->n2: exactly n1-n2 failed ($(links oneway))" \
	[ "$(links oneway)" = "n1-n2:FAIL n1-n3:ok n2-n3:ok" ]
sh "$CLUSTER" net "$C" clear

sh "$CLUSTER" net "$C" down n3
cross down
check "data link of n3 down: n3 blamed ($(jq_ down 'j["bad_nodes"]'))" [ "$(jq_ down 'j["bad_nodes"]')" = "['n3']" ]
sh "$CLUSTER" net "$C" clear
cross cleared
expect_rc "after clear: cross passes again" 0 cleared

# ---- stop removes everything ----------------------------------------------------------
run_capture stop sh "$CLUSTER" stop "$C"
expect_rc "stop" 0 stop
run_capture left sh "$CLUSTER" net "$C" leftovers
check "no namespace, link or nft table of the cluster left" [ ! -s "$T_TMP/left.out" ]
[ -s "$T_TMP/left.out" ] && diag < "$T_TMP/left.out"

# a test killed mid-way (no stop): the next start of the same directory and stop clean up
run_capture start2 sh "$CLUSTER" start "$C" --nodes 2 --fabric
expect_rc "restart on the same directory" 0 start2
sh "$CLUSTER" net "$C" sg-block
for p in $(sh "$CLUSTER" pids "$C"); do kill -KILL "$p" 2>/dev/null; done
run_capture start3 sh "$CLUSTER" start "$C" --nodes 2 --fabric
expect_rc "start after a killed cluster (stale namespaces and table replaced)" 0 start3
no_table() { ! nft list table bridge "efa_$(sed -n 's/^id=//p' "$C/run/fabric")" >/dev/null 2>&1; }
check "the stale nft table went with it" no_table
sh "$CLUSTER" stop "$C" >/dev/null 2>&1
run_capture left2 sh "$CLUSTER" net "$C" leftovers
check "nothing left after the second stop" [ ! -s "$T_TMP/left2.out" ]

done_testing
