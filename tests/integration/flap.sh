#!/bin/sh
# Flapping held, on a real Slurm test cluster (tests/cluster/cluster.sh, loopback, 2 nodes): a
# node made to fail and recover repeatedly (a fault below the product, toggled) is drained and
# resumed by `efa-check health` FlapCount times, then held drained with a `flapping` reason
# that neither a healthy check nor another failure replaces; an admin resume clears it and
# the count starts again. Needs `make test-support`.
. "$(dirname "$0")/../lib.sh"

CLUSTER=$TOP/tests/cluster/cluster.sh
D=$T_TMP/cluster

cleanup() {
	if [ "$_t_failed" -ne 0 ] && [ -d "$D/log" ]; then
		sh "$CLUSTER" logs "$D" 20 2>&1 | diag
		diag < "$D/state/n2/flap-history" 2>/dev/null
	fi
	sh "$CLUSTER" stop "$D" >/dev/null 2>&1
	rm -rf "$T_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$T_TMP/metrics"
printf 'Provider=tcp\nDomains=lo\nTimeout=20\nMinMemlock=4M\nLoopbackIterations=5\nCacheTTL=0\nOnFail=drain\nResume=yes\nFlapCount=2\nFlapWindow=3600\nMetricsFile=%s\n' \
	"$T_TMP/metrics/efa-check.prom" > "$T_TMP/efa-check.conf"
chmod 0644 "$T_TMP/efa-check.conf"
run_capture start sh "$CLUSTER" start "$D" --nodes 2 --efa-conf "$T_TMP/efa-check.conf"
expect_rc "cluster starts" 0 start
if [ "$RC" -ne 0 ]; then done_testing; exit 1; fi
. "$D/env"

health() { run_capture "$1" timeout 60 "$D/bin/efa-check" health --node n2; }
reason() { sinfo -h -N -n n2 -o '%E' 2>/dev/null; }
state() { sinfo -h -N -n n2 -o '%T' 2>/dev/null | tr -d '*'; }   # '*': not responding (a loaded machine)
fail() { sh "$CLUSTER" fault "$D" n2 "EFA_FAULT=getinfo_fail"; }
heal() { sh "$CLUSTER" clear-fault "$D" n2; }

for i in 1 2; do
	fail; health fail$i
	check "cycle $i: the failing node is drained ($(state): $(reason))" \
		sh -c "[ '$RC' -eq 1 ] && echo '$(reason)' | grep -q '^efa-check: ' && ! echo '$(reason)' | grep -q flapping"
	heal; health ok$i
	check "cycle $i: healthy again, resumed ($(state))" [ "$RC" -eq 0 -a "$(state)" = idle ]
done
fail; health fail3
heal; health ok3
check "after 2 drains and resumes: held drained ($(state))" sh -c "state=\$(sinfo -h -N -n n2 -o '%T'); case \$state in drain*) exit 0 ;; esac; exit 1"
check "with a flapping reason ($(reason))" sh -c "echo '$(reason)' | grep -q '^efa-check: flapping: drained and resumed 2 times in 1h'"
health ok4
check "a healthy check keeps the hold ($(reason))" sh -c "echo '$(reason)' | grep -q '^efa-check: flapping'"
expect_grep "the metrics say it is held as flapping" '^efa_check_flapping 1$' "$T_TMP/metrics/efa-check.prom"
if command -v promtool >/dev/null 2>&1; then
	run_capture promtool sh -c "promtool check metrics < '$T_TMP/metrics/efa-check.prom'"
	expect_rc "promtool check metrics passes on the MetricsFile" 0 promtool
else
	ok "# SKIP promtool not installed (Debian package prometheus)"
fi
fail; health fail4
check "another failure does not replace the flapping reason ($(reason))" sh -c "echo '$(reason)' | grep -q '^efa-check: flapping'"
heal
check "the history is in StateDir, 0644, root's" \
	sh -c "[ \"\$(stat -c '%a %U' '$D/state/n2/flap-history')\" = '644 root' ] && grep -q ' hold$' '$D/state/n2/flap-history'"

scontrol update nodename=n2 state=resume >/dev/null 2>&1
health ok5
check "an admin resume clears it: in service after a healthy check ($(state))" [ "$(state)" = idle ]
expect_grep "the metrics say it is not flapping" '^efa_check_flapping 0$' "$T_TMP/metrics/efa-check.prom"
check "the history records the admin's resume" sh -c "tail -1 '$D/state/n2/flap-history' | grep -q ' clear$'"
fail; health fail5
check "the count starts again: the next failure is an ordinary drain ($(reason))" \
	sh -c "echo '$(reason)' | grep -q '^efa-check: ' && ! echo '$(reason)' | grep -q flapping"
heal; health ok6
check "and the node is resumed ($(state))" [ "$(state)" = idle ]

done_testing
