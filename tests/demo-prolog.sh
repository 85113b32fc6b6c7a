#!/bin/sh
# Demo part (called by tests/demo.sh, or on its own): the automatic prolog drains a faulty node
# with a precise reason and the health check resumes it once the fault is gone.
#   tests/demo-prolog.sh CLUSTER_DIR [NODE]
# CLUSTER_DIR: a running test cluster (tests/cluster/cluster.sh start DIR --prolog --healthcheck).
# NODE (default n2) is made faulty below the product (RMA data corruption in its libfabric,
# through the cluster's fault library) unless it already has a fault.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER=$TOP/tests/cluster/cluster.sh
D=$(cd "${1:?usage: demo-prolog.sh CLUSTER_DIR [NODE]}" && pwd) || exit 1
NODE=${2:-n2}
. "$D/env"

run() { printf '$ %s\n' "$*"; "$@"; echo "(exit $?)"; }
reason_of() { timeout 10 sinfo -R -h -N -n "$NODE" -o '%E' 2>/dev/null; }
state_of() { timeout 10 sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null; }
wait_until() { # SECS CMD...
	end=$(( $(date +%s) + $1 )); shift
	until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 1; done
}
drained_by_efa_check() { reason_of | grep -q '^efa-check:'; }
back_in_service() { state_of | grep -qE '^(idle|mixed|allocated|completing)$'; }

if [ ! -f "$D/faults/$NODE" ]; then
	run sh "$CLUSTER" fault "$D" "$NODE" "EFA_FAULT=rma_corrupt"
fi
echo "# $NODE's efa-check runs with: $(tr '\n' ' ' < "$D/faults/$NODE")"
echo "# its cached healthy result expires (CacheTTL), so the next prolog checks for real"
rm -f "$D/state/$NODE/last-report.json"

jid=$(timeout 30 sbatch --parsable -w "$NODE" -o /dev/null --wrap hostname)
echo "# submitted job $jid to $NODE"
if wait_until 60 drained_by_efa_check; then
	run timeout 10 sinfo -R
	run timeout 10 sinfo -R -o '%60E %N'
else
	echo "# $NODE was not drained within 60 s (state $(state_of), reason '$(reason_of)')"
fi
timeout 10 scontrol show job "$jid" 2>/dev/null | grep -oE '(JobState|Reason|Restarts)=[^ ]*' | tr '\n' ' '
echo "  <- the job was requeued, not run on the bad node"
timeout 10 scancel "$jid" 2>/dev/null
echo "# the prolog's exit code as slurmd saw it (efa-check logs its decisions to syslog, ident efa-check):"
tail -n 4 "$D/log/prolog-$NODE.log" 2>/dev/null | sed 's/^/    /'
echo "# the last report in StateDir: $D/state/$NODE/last-report.json"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("    ok=%s reason=%r note=%r runs=%s" % (j["ok"], j.get("reason"), j.get("note"), j.get("runs")))' \
	"$D/state/$NODE/last-report.json" 2>/dev/null

run sh "$CLUSTER" clear-fault "$D" "$NODE"
interval=$(sed -n 's/^HealthCheckInterval=//p' "$D/etc/slurm.conf")
echo "# the fault is gone; waiting for the periodic health check (every ${interval:-?} s) to resume $NODE"
if wait_until 90 back_in_service; then
	echo "# $NODE resumed by efa-check health:"
else
	echo "# $NODE not resumed within 90 s (state $(state_of), reason '$(reason_of)')"
fi
run timeout 10 sinfo -N -n "$NODE"
run timeout 10 sinfo -R
