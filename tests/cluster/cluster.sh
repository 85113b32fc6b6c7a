#!/bin/sh
# A real Slurm test cluster on one machine (munged, slurmctld, N x `slurmd -N nX`), all from
# the Debian packages, in a scratch directory, on 127.0.0.1. Test infrastructure, not product.
#
#   cluster.sh start DIR [--nodes N] [--plugin "ARGS"] [--plugin-optional] [--prolog] [--healthcheck]
#                        [--healthcheck-interval SECS] [--efa-conf FILE | --efa-conf-verbatim FILE]
#                        [--conf-extra "LINE"]... [--no-wait-idle] [--timeout SECS] [--fabric]
#   cluster.sh stop DIR               stop exactly what `start` started (idempotent)
#   cluster.sh logs DIR [LINES]       tail of every log in DIR/log
#   cluster.sh status DIR             sinfo of the cluster
#   cluster.sh wait-idle DIR [SECS]   wait until every node is idle
#   cluster.sh fault DIR NODE "NAME=VALUE ..."   inject faults into NODE's efa-check
#   cluster.sh clear-fault DIR NODE              remove them
#   cluster.sh pids DIR               pids that belong to the cluster (daemons + descendants)
#   cluster.sh net DIR ACTION ARGS    fabric faults (--fabric clusters): down|up NODE,
#                                     throttle NODE RATE, throttle-link A B RATE, sg-block,
#                                     isolate NODE, drop A B, clear, addr NODE, ns NODE, show,
#                                     leftovers
#
# Tests use it with `. DIR/env` (exports SLURM_CONF and EFA_CLUSTER_*). See README.md.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PROG=cluster.sh
SBIN=/usr/sbin

die() { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

. "$HERE/fabric.sh"

absdir() { # DIR -> absolute path (created)
	mkdir -p "$1" || die "cannot create $1"
	(cd "$1" && pwd)
}

# ---- ports -------------------------------------------------------------------

# Ports in use (any state) on this machine, decimal, one a line.
used_ports() {
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk 'NR>1 { split($2, a, ":"); print a[2] }' |
		while read -r hex; do [ -n "$hex" ] && printf '%d\n' "0x$hex"; done | sort -un
}

# pick_ports COUNT: COUNT free consecutive-ish ports below the kernel's ephemeral range,
# starting at a random offset so that two clusters (or a leftover) do not collide.
pick_ports() {
	count=$1
	used=$(used_ports)
	lo=20000 hi=32000
	seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	p=$((lo + seed % (hi - lo - 200)))
	got=""
	n=0 tries=0
	while [ "$n" -lt "$count" ]; do
		tries=$((tries + 1))
		[ "$tries" -gt 2000 ] && die "no free ports found"
		[ "$p" -ge "$hi" ] && p=$lo
		if ! printf '%s\n' "$used" | grep -qx "$p"; then
			got="$got $p"
			n=$((n + 1))
		fi
		p=$((p + 1))
	done
	echo $got
}

# ---- processes -----------------------------------------------------------------

# All processes of the cluster in DIR: those started with the marker variable
# EFA_CLUSTER_DAEMON_DIR=DIR in their environment (munged, slurmctld, slurmd and the
# slurmstepds slurmd execs), the pids recorded at start, everything in their sessions, and
# all their descendants (prologs, health checks, job tasks).
cluster_pids() {
	D=$1
	self=$$
	marked=" $(grep -lzxF "EFA_CLUSTER_DAEMON_DIR=$D" /proc/[0-9]*/environ 2>/dev/null |
		sed 's|^/proc/||; s|/environ$||' | tr '\n' ' ') "
	for s in /proc/[0-9]*/stat; do
		p=${s#/proc/}; p=${p%/stat}
		[ "$p" = "$self" ] && continue
		line=""
		{ read -r line < "$s"; } 2>/dev/null || [ -n "$line" ] || continue
		comm=${line#*(}; comm=${comm%)*}
		rest=${line##*) }
		# shellcheck disable=SC2086
		set -- $rest
		state=$1 ppid=$2 sid=$4
		[ "$state" = Z ] && continue
		m=0
		case $marked in *" $p "*) m=1 ;; esac
		if [ "$m" = 0 ] && [ "$comm" = slurmstepd ]; then
			# slurmd execs slurmstepd with an empty environment in a session of its
			# own, reparented to init; it keeps slurmd's log file (DIR/log/) open.
			for fd in "/proc/$p/fd/"*; do
				case $(readlink "$fd" 2>/dev/null) in "$D"/log/*|"$D"/spool/*) m=1; break ;; esac
			done
		fi
		echo "$p $ppid $sid $m"
	done | awk -v recorded="$(recorded_pids "$D" | tr '\n' ' ')" '
		BEGIN { n = split(recorded, r, " "); for (i = 1; i <= n; i++) root[r[i]] = 1 }
		{ pid[NR] = $1; par[$1] = $2; sid[$1] = $3; if ($4 == 1) root[$1] = 1 }
		END {
			for (i = 1; i <= NR; i++) { p = pid[i]; if (sid[p] in root) mine[p] = 1; if (p in root) mine[p] = 1 }
			changed = 1
			while (changed) {
				changed = 0
				for (i = 1; i <= NR; i++) { p = pid[i]; if (!(p in mine) && (par[p] in mine)) { mine[p] = 1; changed = 1 } }
			}
			for (p in mine) if (p in par) print p
		}' | sort -n
}

# Recorded daemon pids that still run and still carry the marker (a reused pid does not).
recorded_pids() {
	D=$1
	[ -f "$D/run/pids" ] || return 0
	while read -r _name p; do
		[ -n "$p" ] || continue
		grep -qzxF "EFA_CLUSTER_DAEMON_DIR=$D" "/proc/$p/environ" 2>/dev/null && echo "$p"
	done < "$D/run/pids"
	return 0
}

# ---- start ---------------------------------------------------------------------

usage() {
	sed -n '2,21s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

write_wrappers() {
	D=$1
	mkdir -p "$D/bin"
	# efa-check wrapper: decides what to inject from the node name only.
	cat > "$D/bin/efa-check" <<EOF
#!/bin/sh
# Test wrapper generated by tests/cluster/cluster.sh (test infrastructure, not product).
# Runs the real efa-check for one node of the test cluster in $D:
#   node    = --node NAME argument, else \$SLURMD_NODENAME, else the node of the slurmd
#             or slurmstepd this process descends from
#   always  --node NODE --config $D/etc/efa-check.conf
#   if that file sets no StateDir= (a test rewrote it) and the cluster was not started with
#   --efa-conf-verbatim: --state-dir $D/state/NODE (the N nodes share one host)
#   if $D/sysfs/NODE/ exists:  --sysfs-root $D/sysfs/NODE
#   if $D/faults/NODE exists:  LD_PRELOAD=<fault library> plus its NAME=VALUE lines
# Nothing else from the caller's environment decides what is injected.
D='$D'
REAL='$REPO/prolog/efa-check'
FAULTLIB='$REPO/build/tests/libefa-fault.so'
STATE_FALLBACK='${state_fallback:-1}'
EOF
	cat >> "$D/bin/efa-check" <<'EOF'
node=""
dashdash=0
for a do
	shift
	if [ "$dashdash" = 0 ]; then
		case $a in
		--node) node=NEXT; continue ;;
		--node=*) node=${a#--node=}; continue ;;
		--) dashdash=1 ;;
		esac
		if [ "$node" = NEXT ]; then node=$a; continue; fi
	fi
	set -- "$@" "$a"
done
[ "$node" = NEXT ] && { echo "efa-check wrapper: --node needs a value" >&2; exit 2; }
if [ -z "$node" ]; then node=${SLURMD_NODENAME:-}; fi
if [ -z "$node" ]; then
	# the marker slurmd was started with, found on an ancestor
	p=$$
	while [ -n "$p" ] && [ "$p" -gt 1 ]; do
		v=$(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | sed -n 's/^EFA_CLUSTER_DAEMON_NODE=//p')
		if [ -n "$v" ]; then node=$v; break; fi
		# slurmstepd has an empty environment but keeps its slurmd's log open
		if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = slurmstepd ]; then
			for fd in "/proc/$p/fd/"*; do
				case $(readlink "$fd" 2>/dev/null) in
				"$D"/log/slurmd-*.log) v=$(readlink "$fd"); v=${v##*/slurmd-}; node=${v%.log}; break ;;
				esac
			done
			[ -n "$node" ] && break
		fi
		l=$(cat "/proc/$p/stat" 2>/dev/null) || break
		l=${l##*) }; l=${l#* }
		p=${l%% *}
	done
fi
case $node in
"" ) echo "efa-check wrapper: cannot tell the node (no --node, no SLURMD_NODENAME)" >&2; exit 2 ;;
*[!A-Za-z0-9_.-]*) echo "efa-check wrapper: bad node name '$node'" >&2; exit 2 ;;
esac
mkdir -p "$D/state/$node"
faults=""
sub=""
case ${1:-} in -*|"") ;; *) sub=$1; shift ;; esac
# Subcommand first (when there is one), then the injected options, then the caller's.
if [ -d "$D/sysfs/$node" ]; then set -- --sysfs-root "$D/sysfs/$node" "$@"; fi
if [ "$STATE_FALLBACK" = 1 ] && ! grep -Eiq '^[^#]*(^|[[:space:]])StateDir=' "$D/etc/efa-check.conf" 2>/dev/null; then
	set -- --state-dir "$D/state/$node" "$@"
fi
set -- --node "$node" --config "$D/etc/efa-check.conf" "$@"
if [ -n "$sub" ]; then set -- "$sub" "$@"; fi
if [ -f "$D/faults/$node" ]; then
	if [ ! -f "$FAULTLIB" ]; then
		echo "efa-check wrapper: $D/faults/$node exists but $FAULTLIB is not built (make test-support)" >&2
		exit 2
	fi
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		''|'#'*) continue ;;
		[A-Za-z_]*=*) ;;
		*) echo "efa-check wrapper: bad line in $D/faults/$node: $line" >&2; exit 2 ;;
		esac
		name=${line%%=*}
		case $name in *[!A-Za-z0-9_]*) echo "efa-check wrapper: bad name '$name'" >&2; exit 2 ;; esac
		# shellcheck disable=SC2163 # exports NAME=VALUE from the line
		export "$line"
	done < "$D/faults/$node"
	faults="[faults: $(tr '\n' ' ' < "$D/faults/$node")]"
fi
echo "$(date '+%H:%M:%S') $node: efa-check $* ${faults:-}" >> "$D/log/efa-check-calls.log" 2>/dev/null
# the fault library goes into efa-check only, not into the commands above
# (and no caller's LD_PRELOAD decides anything: only the node's fault file does)
# EFA_TEST_PRELOAD=<library beside the fault library> in the fault file goes first (the EFA
# personality layer, tests/efa-personality/README.md), the fault library after it.
if [ -n "${faults:-}" ]; then
	case ${EFA_TEST_PRELOAD:-} in
	"") export LD_PRELOAD="$FAULTLIB" ;;
	"${FAULTLIB%/*}"/*.so) export LD_PRELOAD="$EFA_TEST_PRELOAD:$FAULTLIB" ;;
	*) echo "efa-check wrapper: EFA_TEST_PRELOAD must be a library in ${FAULTLIB%/*}" >&2; exit 2 ;;
	esac
else
	unset LD_PRELOAD
fi
exec "$REAL" "$@"
EOF
	for w in prolog:prolog healthcheck:health; do
		name=${w%%:*} sub=${w#*:}
		cat > "$D/bin/$name" <<EOF
#!/bin/sh
# Slurm $name for the test cluster in $D (generated by tests/cluster/cluster.sh).
# slurmd sets SLURMD_NODENAME; output goes to $D/log/$name-<node>.log.
"$D/bin/efa-check" $sub >> "$D/log/$name-\${SLURMD_NODENAME:-unknown}.log" 2>&1
rc=\$?
echo "\$(date '+%H:%M:%S') $name \${SLURMD_NODENAME:-?} job=\${SLURM_JOB_ID:-} exit=\$rc" >> "$D/log/$name-\${SLURMD_NODENAME:-unknown}.log"
exit \$rc
EOF
	done
	chmod 0755 "$D/bin/efa-check" "$D/bin/prolog" "$D/bin/healthcheck"
}

dead_daemons() { # D -> names of recorded daemons that are no longer running
	while read -r _n _p; do
		[ -n "$_p" ] || continue
		_st=$(cat "/proc/$_p/stat" 2>/dev/null) || { printf ' %s' "$_n"; continue; }
		_st=${_st##*) }
		case $_st in Z*|X*) printf ' %s' "$_n" ;; esac
	done < "$1/run/pids"
}

sinfo_states() { # D -> "node state" lines
	SLURM_CONF=$1/etc/slurm.conf timeout 10 sinfo -h -N -o '%N %T' 2>/dev/null
}

wait_idle() { # D NODES SECS MODE(idle|registered)
	D=$1 want=$2 secs=$3 mode=$4
	end=$(( $(date +%s) + secs ))
	while :; do
		st=$(sinfo_states "$D")
		if [ "$mode" = idle ]; then
			n=$(printf '%s\n' "$st" | awk '$2 == "idle"' | wc -l)
		else
			n=$(printf '%s\n' "$st" | awk 'NF == 2 && $2 !~ /\*|down|unknown|future|not_responding/' | wc -l)
		fi
		[ "$n" -ge "$want" ] && return 0
		dead=$(dead_daemons "$D")
		[ -n "$dead" ] && { echo "$PROG: exited:$dead" >&2; return 1; }
		[ "$(date +%s)" -ge "$end" ] && { printf '%s\n' "$st" | sed 's/^/  /' >&2; return 1; }
		sleep 0.2
	done
}

start_daemon() { # D NAME NODE CMD... : start in its own session, record pid
	D=$1 name=$2 node=$3; shift 3
	# like slurmd.service's LimitMEMLOCK=infinity: RDMA registration needs it (prologs, steps)
	(
		ulimit -l "$memlock" 2>/dev/null
		exec env EFA_CLUSTER_DAEMON_DIR="$D" EFA_CLUSTER_DAEMON_NODE="$node" \
			SLURM_CONF="$D/etc/slurm.conf" setsid "$@" < /dev/null >> "$D/log/$name.out" 2>&1
	) &
	echo "$name $!" >> "$D/run/pids"
}

cmd_start() {
	[ $# -ge 1 ] || usage
	case $1 in *[!A-Za-z0-9_./+-]*) die "DIR must be a plain path (slurm.conf does not take spaces or quotes): '$1'" ;; esac
	D=$(absdir "$1"); shift
	nodes=4 plugin="" plugin_set=0 plugin_mode=required verbatim=0 prolog=0 hc=0 hc_interval=5 efa_conf="" extra="" waitmode=idle
	tmo=30 fabric=0
	while [ $# -gt 0 ]; do
		case $1 in
		--nodes) nodes=${2:?}; shift ;;
		--plugin) plugin=${2-}; plugin_set=1; shift ;;
		--plugin-optional) plugin_mode=optional ;;
		--prolog) prolog=1 ;;
		--healthcheck) hc=1 ;;
		--healthcheck-interval) hc_interval=${2:?}; shift ;;
		--efa-conf) efa_conf=${2:?}; shift ;;
		--efa-conf-verbatim) efa_conf=${2:?}; verbatim=1; shift ;;
		--conf-extra) extra="$extra${2:?}
"; shift ;;
		--no-wait-idle) waitmode=registered ;;
		--timeout) tmo=${2:?}; shift ;;
		--fabric) fabric=1 ;;
		-h|--help) usage ;;
		*) die "unknown option $1" ;;
		esac
		shift
	done
	case $nodes in [0-9]|[0-9][0-9]) ;; *) die "--nodes wants a number" ;; esac
	if [ "$nodes" -lt 1 ] || [ "$nodes" -gt 16 ]; then die "--nodes: 1..16"; fi
	if [ -n "$(recorded_pids "$D")" ]; then
		die "a cluster is already running in $D (cluster.sh stop $D first)"
	fi
	t0=$(date +%s)

	# faults/ and sysfs/ are the test's and may be prepared before start (the health
	# check runs when slurmd starts): keep them. The rest is regenerated.
	rm -rf "$D/run" "$D/spool" "$D/tmp" "$D/state" "$D/log"
	mkdir -p "$D/etc" "$D/log" "$D/spool" "$D/state/slurmctld" "$D/tmp" "$D/run" "$D/bin" \
		"$D/faults" "$D/sysfs" || die "cannot create directories in $D"
	chmod 0755 "$D" "$D/etc" "$D/log" "$D/run" "$D/state"
	: > "$D/run/pids"
	if [ "$fabric" = 1 ]; then
		# our own subshell: a failure here must remove what was made before exiting
		(fabric_up "$D" "$nodes") || { fabric_down "$D"; die "fabric setup failed"; }
	fi

	i=1
	while [ "$i" -le "$nodes" ]; do
		mkdir -p "$D/spool/n$i" "$D/tmp/n$i" "$D/state/n$i"
		i=$((i + 1))
	done

	memlock=unlimited
	(ulimit -l unlimited) 2>/dev/null || memlock=$(ulimit -Hl)
	# munge
	key=$D/etc/munge.key
	rm -f "$key"
	dd if=/dev/urandom of="$key" bs=1024 count=1 2>/dev/null || die "cannot write $key"
	chmod 0400 "$key"
	sock=$D/run/munge.socket
	start_daemon "$D" munged - $SBIN/munged --foreground --force --socket="$sock" \
		--key-file="$key" --pid-file="$D/run/munged.pid" --log-file="$D/log/munged.log" \
		--seed-file="$D/state/munged.seed" --num-threads=4
	end=$(( $(date +%s) + 10 ))
	until munge -S "$sock" -n 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$end" ]; then
			cat "$D/log/munged.out" "$D/log/munged.log" >&2 2>/dev/null
			cmd_stop "$D"; die "munged did not come up"
		fi
		sleep 0.1
	done

	# efa-check config, plugstack, wrappers
	if [ -n "$efa_conf" ]; then
		cp "$efa_conf" "$D/etc/efa-check.conf" || die "cannot copy $efa_conf"
	else
		printf '# efa-check.conf of the test cluster in %s\nProvider=tcp\n' "$D" > "$D/etc/efa-check.conf"
	fi
	# N nodes share this host: each gets its own StateDir= through the one setting that the
	# binary and the plugin both read (unless the test wants the file exactly as given).
	state_fallback=$((1 - verbatim))
	if [ "$verbatim" = 0 ] && ! grep -Eiq '^[^#]*(^|[[:space:]])StateDir=' "$D/etc/efa-check.conf"; then
		i=1
		{ echo "# test cluster (tests/cluster/cluster.sh): one state directory per node"
		  while [ "$i" -le "$nodes" ]; do echo "NodeName=n$i StateDir=$D/state/n$i"; i=$((i + 1)); done
		} >> "$D/etc/efa-check.conf"
	fi
	if [ "$plugin_set" = 1 ]; then
		args=$(printf '%s' "$plugin" | sed "s|@DIR@|$D|g")
		printf '%s %s/spank/spank_efa_check.so %s\n' "$plugin_mode" "$REPO" "$args" > "$D/etc/plugstack.conf"
	else
		: > "$D/etc/plugstack.conf"
	fi
	write_wrappers "$D"

	# slurm.conf
	# shellcheck disable=SC2046
	set -- $(pick_ports $((nodes + 1)))
	ctlport=$1; shift
	# the machine's topology as slurmd -C reports it (every node gets it; config_overrides)
	hw=$($SBIN/slurmd -C 2>/dev/null | sed -n '1s/^NodeName=[^ ]* \(CPUs=.*\) RealMemory=.*/\1/p')
	[ -n "$hw" ] || hw="CPUs=$(nproc 2>/dev/null || echo 1)"
	cname=efa$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	conf=$D/etc/slurm.conf
	ctlhost=localhost
	# on the fabric slurmd reaches slurmctld on the management bridge's address
	fabric_on "$D" && ctlhost="localhost(198.18.$(fabric_get "$D" subnet).1)"
	cat > "$conf" <<EOF
# Test cluster generated by tests/cluster/cluster.sh in $D. Do not edit: regenerated on start.
ClusterName=$cname
# slurmctld accepts "localhost" as its own name whatever the machine's hostname is.
SlurmctldHost=$ctlhost
SlurmctldPort=$ctlport
SlurmUser=root
SlurmdUser=root
# Our own munged: every munge user (auth and job credentials) talks to its socket.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$D/state/slurmctld
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmctldDebug=info
# One slurmd per node on one machine (slurmd -N nX): everything per node is keyed by %n.
SlurmdSpoolDir=$D/spool/%n
SlurmdPidFile=$D/run/slurmd-%n.pid
SlurmdLogFile=$D/log/slurmd-%n.log
SlurmdDebug=info
# Without a per-node TmpFS mpi/pmix's per-node directories of one job collide.
TmpFS=$D/tmp/%n
PlugStackConfig=$D/etc/plugstack.conf
# A container without systemd or cgroups.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
# As recommended for RDMA: tasks get slurmd's unlimited memlock, not srun's (often 8 MiB).
PropagateResourceLimitsExcept=MEMLOCK
# Tests ask for --mpi=pmix explicitly.
MpiDefault=none
# 2: a DOWN node (e.g. not responding across a restart) returns when it registers with a
# valid configuration; DRAIN (efa-check's action) is left alone.
ReturnToService=2
# Nodes here have whatever the machine has; do not drain for "low" CPUs/memory.
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
# (no sched_min_interval=0: sched/builtin reads any "interval=" in SchedulerParameters)
SchedulerParameters=default_queue_depth=100
MessageTimeout=10
SlurmdTimeout=60
SlurmctldTimeout=60
InactiveLimit=0
KillWait=2
MinJobAge=300
Waittime=0
UnkillableStepTimeout=30
MailProg=/bin/true
EOF
	if [ "$prolog" = 1 ]; then
		cat >> "$conf" <<EOF
Prolog=$D/bin/prolog
PrologFlags=Alloc
EOF
	fi
	if [ "$hc" = 1 ]; then
		cat >> "$conf" <<EOF
HealthCheckProgram=$D/bin/healthcheck
HealthCheckInterval=$hc_interval
HealthCheckNodeState=ANY
EOF
	fi
	i=1
	for port in "$@"; do
		addr=127.0.0.1
		fabric_on "$D" && addr=$(fabric_mgmt_addr "$D" "$i")
		echo "NodeName=n$i NodeAddr=$addr NodeHostname=localhost Port=$port $hw RealMemory=1000 State=UNKNOWN" >> "$conf"
		i=$((i + 1))
	done
	echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP" >> "$conf"
	[ -n "$extra" ] && printf '%s' "$extra" >> "$conf"

	cat > "$D/env" <<EOF
# Source this to use the test cluster in $D (generated by tests/cluster/cluster.sh).
export SLURM_CONF='$conf'
export EFA_CLUSTER_DIR='$D'
export EFA_CLUSTER_NODES='$(i=1; s=""; while [ $i -le "$nodes" ]; do s="$s${s:+ }n$i"; i=$((i + 1)); done; echo "$s")'
export EFA_CLUSTER_NODELIST='n[1-$nodes]'
export EFA_CLUSTER_FABRIC=$fabric
# Job variables of an enclosing allocation would confuse srun/sbatch.
unset SLURM_JOB_ID SLURM_JOBID SLURM_NODELIST SLURM_JOB_NODELIST SLURM_STEP_ID SLURM_NNODES SLURM_NTASKS SLURM_PARTITION
EOF

	# slurmd.service has LimitMEMLOCK=infinity; without CAP_SYS_RESOURCE (some containers)
	# the best we can do is the hard limit.
	if [ "$memlock" != unlimited ]; then
		note "memlock limit cannot be raised above ${memlock} KiB here (no CAP_SYS_RESOURCE): slurmd, prologs and steps run with it"
	fi
	start_daemon "$D" slurmctld - $SBIN/slurmctld -D -c -f "$conf"
	i=1
	while [ "$i" -le "$nodes" ]; do
		if fabric_on "$D"; then
			# in the node's namespace; not `ip netns exec`, which remounts /sys (slurmd
			# then fails to start)
			start_daemon "$D" "slurmd-n$i" "n$i" $F_NSENTER --net="$(fabric_nspath "$D" "$i")" \
				$SBIN/slurmd -D -N "n$i" -f "$conf"
		else
			start_daemon "$D" "slurmd-n$i" "n$i" $SBIN/slurmd -D -N "n$i" -f "$conf"
		fi
		i=$((i + 1))
	done
	if ! wait_idle "$D" "$nodes" "$tmo" "$waitmode"; then
		note "cluster did not come up (nodes $waitmode within ${tmo}s)"
		cmd_logs "$D" 30 >&2
		cmd_stop "$D"
		exit 1
	fi
	note "cluster $cname up in $D: $nodes nodes$(fabric_on "$D" && echo " on fabric $(fabric_get "$D" id) (198.18/19.$(fabric_get "$D" subnet).0/24)"), ctld port $ctlport, $(( $(date +%s) - t0 ))s"
}

# ---- stop, logs, faults ------------------------------------------------------

cmd_stop() {
	D=$(cd "${1:?}" 2>/dev/null && pwd) || return 0
	pids=$(cluster_pids "$D")
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null
		# slurmstepd ignores SIGTERM: it gets SIGKILL after the grace time.
		end=$(( $(date +%s) + ${CLUSTER_STOP_GRACE:-4} ))
		while :; do
			sleep 0.2
			pids=$(cluster_pids "$D")
			[ -z "$pids" ] && break
			if [ "$(date +%s)" -ge "$end" ]; then
				note "SIGKILL to $(echo $pids)"
				# shellcheck disable=SC2086
				kill -KILL $pids 2>/dev/null
				sleep 0.2
				pids=$(cluster_pids "$D")
				[ -n "$pids" ] && { note "still running: $(echo $pids)"; fabric_down "$D"; return 1; }
				break
			fi
			# slurmstepd ignores SIGTERM: once only slurmstepds are left, kill them now
			only_stepd=1
			for p in $pids; do
				[ "$(cat "/proc/$p/comm" 2>/dev/null)" = slurmstepd ] || { only_stepd=0; break; }
			done
			if [ "$only_stepd" = 1 ]; then
				# shellcheck disable=SC2086
				kill -KILL $pids 2>/dev/null
				continue
			fi
			# new descendants may have appeared since the first signal
			# shellcheck disable=SC2086
			kill -TERM $pids 2>/dev/null
		done
	fi
	# namespaces, links and the nft table, by name (also those of a killed earlier run)
	fabric_down "$D"
	return 0
}

cmd_logs() {
	D=${1:?} lines=${2:-40}
	for f in "$D"/log/*; do
		[ -f "$f" ] || continue
		[ -s "$f" ] || continue
		echo "==== $f (last $lines lines)"
		tail -n "$lines" "$f"
	done
}

cmd_fault() {
	D=${1:?} node=${2:?}; shift 2
	mkdir -p "$D/faults"
	: > "$D/faults/$node.tmp"
	set -f
	# shellcheck disable=SC2048 # "NAME=VALUE ..." is split on spaces on purpose
	for kv in $*; do
		case $kv in [A-Za-z_]*=*) echo "$kv" >> "$D/faults/$node.tmp" ;; *) die "fault: want NAME=VALUE, got '$kv'" ;; esac
	done
	set +f
	mv "$D/faults/$node.tmp" "$D/faults/$node"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
logs) cmd_logs "$@" ;;
status) SLURM_CONF=${1:?}/etc/slurm.conf sinfo -N -l ;;
wait-idle) D=$(cd "${1:?}" && pwd); n=$(grep -c '^NodeName=' "$D/etc/slurm.conf"); wait_idle "$D" "$n" "${2:-30}" idle ;;
fault) cmd_fault "$@" ;;
clear-fault) rm -f "${1:?}/faults/${2:?}" ;;
pids) cluster_pids "$(cd "${1:?}" && pwd)" ;;
net) cmd_net "$@" ;;
*) usage ;;
esac
