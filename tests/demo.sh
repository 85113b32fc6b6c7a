#!/bin/sh
# make demo: efa-check on this machine, then on a local Slurm test cluster (4 slurmd, each in
# its own network namespace on the test fabric, tcp over its data0 link standing in for efa): srun --efa-check on healthy nodes, one node made
# faulty below the product (a preloaded fault library), the step failing with that node named,
# the prolog draining it with a precise reason in sinfo -R, the health check resuming it, and
# the cross-node test naming a node whose data link drops everything (nftables on the fabric).
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER=$TOP/tests/cluster/cluster.sh
EFA_CHECK=$TOP/prolog/efa-check
D=$(mktemp -d /tmp/efa-check-demo.XXXXXX)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; echo "(exit $?)"; }
cleanup() { sh "$CLUSTER" stop "$D/c" >/dev/null 2>&1; rm -rf "$D"; }
trap cleanup EXIT INT TERM

# RDMA registration pins memory. Raise the limit when we may; a container that cannot gets
# a MinMemlock matching what it has, so the demo shows the network checks.
ulimit -l unlimited 2>/dev/null || true
memlock=$(ulimit -l)
minmem=64M
[ "$memlock" != unlimited ] && [ "$memlock" -lt 65536 ] && minmem=${memlock}K

conf=$D/efa-check.conf
printf 'Provider=tcp\nDomains=lo\nTimeout=20\nMinMemlock=%s\nCacheTTL=60\nOnFail=drain-requeue\nResume=yes\n' \
	"$minmem" > "$conf"
chmod 0644 "$conf"

say "1. efa-check local on this machine, tcp provider (domain lo) standing in for efa"
run "$EFA_CHECK" local --config "$conf"
say "   the same with the shm provider, as JSON"
printf 'Provider=shm\nTimeout=20\nMinMemlock=%s\n' "$minmem" > "$D/shm.conf"; chmod 0644 "$D/shm.conf"
run "$EFA_CHECK" local --config "$D/shm.conf" --json
say "   a p4d node's sysfs with one EFA device missing (fixture), provider efa (absent in Debian's libfabric)"
printf 'Provider=efa\nTimeout=20\nMinMemlock=%s\nExpectedGPUs=0\n' "$minmem" > "$D/efa.conf"; chmod 0644 "$D/efa.conf"
run "$EFA_CHECK" local --config "$D/efa.conf" --sysfs-root "$TOP/tests/fixtures/sysfs/p4d-missing-one"

say "2. boot a local Slurm cluster: munge, slurmctld, 4 slurmd each in its own network namespace, the plugin, Prolog and HealthCheckProgram"
sed 's/^Domains=lo$/Domains=data0/' "$conf" > "$D/cluster.conf"; chmod 0644 "$D/cluster.conf"
sh "$CLUSTER" start "$D/c" --nodes 4 --fabric --efa-conf "$D/cluster.conf" --prolog --healthcheck --healthcheck-interval 5 \
	--plugin "efa_check=@DIR@/bin/efa-check config=@DIR@/etc/efa-check.conf" || exit 1
. "$D/c/env"
run sinfo

say "3. srun -N4 --efa-check: every node checks itself before the user's command runs"
run timeout 60 srun -N4 --efa-check hostname
say "   the EFA/NCCL environment every step gets (node n1)"
timeout 30 srun -N1 -w n1 env | grep -E '^(FI_|NCCL_)' | sort
say "   efa-check env: what steps get on n1 and why (on a real p4d it sets FI_EFA_USE_DEVICE_RDMA etc.)"
run timeout 30 srun -N1 -w n1 "$D/c/bin/efa-check" env
say "   the same rules for a p4d.24xlarge node with EFA devices (sysfs fixture), libfabric 1.17"
printf 'Provider=efa\nInstanceType=p4d.24xlarge\n' > "$D/p4d.conf"; chmod 0644 "$D/p4d.conf"
run "$EFA_CHECK" env --config "$D/p4d.conf" --sysfs-root "$TOP/tests/fixtures/sysfs/p4d" --no-cache

say "4. make n3 faulty below the product: its efa-check gets a preloaded fault library (RMA data corruption)"
run sh "$CLUSTER" fault "$D/c" n3 "EFA_FAULT=rma_corrupt"
run timeout 60 srun -N4 --efa-check hostname

if [ -f "$TOP/tests/demo-prolog.sh" ]; then
	say "5. the automatic prolog drains the faulty node with a precise reason; the health check resumes it"
	sh "$TOP/tests/demo-prolog.sh" "$D/c" n3
else
	sh "$CLUSTER" clear-fault "$D/c" n3
fi

say "6. srun --efa-check=cross: cross-node RDMA over PMIx, rank 0 blames nodes, not links"
sh "$CLUSTER" clear-fault "$D/c" n3 >/dev/null 2>&1
sh "$CLUSTER" wait-idle "$D/c" 30 >/dev/null 2>&1
run timeout 90 srun -N4 --efa-check=cross hostname
say "   n2 can reach no peer (nftables drops every packet of its data link): only n2 is blamed"
run sh "$CLUSTER" net "$D/c" isolate n2
say "   srun --efa-check=cross: the user's command runs nowhere, n2 is named and drained"
run timeout 90 srun -N4 --efa-check=cross hostname
run timeout 10 sinfo -R -o "%60E %N"
say "   the fault is gone: the health check resumes n2 (it only ever resumes efa-check's own drains)"
sh "$CLUSTER" net "$D/c" clear
sh "$CLUSTER" wait-idle "$D/c" 60 >/dev/null 2>&1
run timeout 10 sinfo

say "done: the cluster is stopped and its directory removed"
