#!/bin/sh
# Hostile inputs (issue 6, hardening): very long values, control characters, a hostlist that
# would expand to millions of names, a symlinked StateDir, config files that are writable by
# others, FIFOs or directories, a symlinked sysfs port state file, and names with quotes,
# backslashes and control characters in the JSON report; and (issue 15) the refused attacks of
# an unprivileged user on the real test cluster (environment, option values, drain/resume,
# MetricsFile symlink). Every call is bounded by `timeout`: a hang is exit 124, a crash is
# exit >= 128; both fail the test that expected 2 (or 0/1).
. "$(dirname "$0")/../lib.sh"

H=$T_TMP/h
mkdir -p "$H"
chmod 0755 "$H"
fixtures=$TOP/tests/fixtures/sysfs

# conf NAME TEXT: write $H/NAME.conf (printf format), mode 0644, owned by us (root in CI)
conf() {
	printf "$2" > "$H/$1.conf"
	chmod 0644 "$H/$1.conf"
}

# bounded NAME SECS CMD...: run_capture under timeout
bounded() {
	name=$1 secs=$2
	shift 2
	run_capture "$name" timeout -s KILL "$secs" "$@"
}

# no_crash NAME: the last run neither hung (timeout: 124/137) nor died of a signal
no_crash() {
	if [ "$RC" -lt 124 ]; then ok "$1: no crash or hang"; else
		not_ok "$1: exit $RC (hang or crash)"; head -20 "$T_TMP/$1.err" | diag
	fi
}

# valid_json NAME: stdout of the last run is one JSON object
valid_json() {
	if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T_TMP/$1.out" 2>"$T_TMP/$1.jerr"; then
		ok "$1: --json output is valid JSON"
	else
		not_ok "$1: --json output is not valid JSON"; cat "$T_TMP/$1.jerr" "$T_TMP/$1.out" | head -20 | diag
	fi
}

conf ok 'Provider=tcp\nDomains=lo\nTimeout=20\nMinMemlock=4M\nLoopbackIterations=5\n'

# --- very long values ------------------------------------------------------------
python3 -c "print('Provider=' + 'a' * 100000)" > "$H/longline.conf"; chmod 0644 "$H/longline.conf"
bounded longline 10 "$EFA_CHECK" env --config "$H/longline.conf"
expect_rc "100 KB config line is a config error" 2 longline
expect_grep "100 KB line: file:line: message" 'longline\.conf:1: line longer than' "$T_TMP/longline.err"

head -c 10485760 /dev/zero | tr '\0' '#' > "$H/big.conf"; chmod 0644 "$H/big.conf"
bounded big 10 "$EFA_CHECK" env --config "$H/big.conf"
expect_rc "10 MB config file is a config error" 2 big
expect_grep "10 MB file: says it is too large" 'big\.conf: larger than [0-9]+ bytes' "$T_TMP/big.err"

long_node=$(python3 -c "print('n' * 5000)")
bounded longnode 10 "$EFA_CHECK" local --config "$H/ok.conf" --node "$long_node"
expect_rc "5000-character --node is a usage error" 2 longnode
expect_grep "5000-character --node: message says invalid node name" '--node: invalid node name' "$T_TMP/longnode.err"

long_path=/$(python3 -c "print('c' * 5000)")
bounded longpath 10 "$EFA_CHECK" local --config "$long_path"
expect_rc "5000-character --config path is a usage error" 2 longpath
# The message must say what is wrong, not only echo (a truncated copy of) the path.
expect_grep "5000-character --config path: message gives the reason" '[Ff]ile name too long|too long' "$T_TMP/longpath.err"

long_path2=$H/$(python3 -c "print('/'.join(['d' * 200] * 25))")
bounded longpath2 10 "$EFA_CHECK" env --config "$long_path2"
expect_rc "5000-character --config path of many components is a usage error" 2 longpath2

conf doms "Provider=tcp\nDomains=$(python3 -c "print(','.join('dom%d' % i for i in range(2000)))")\n"
bounded doms 10 "$EFA_CHECK" env --config "$H/doms.conf"
expect_rc "Domains= list of 2000 names is a config error" 2 doms
expect_grep "Domains= list of 2000 names: file:line: message" 'doms\.conf:2: ' "$T_TMP/doms.err"

# 1024 domains is the documented maximum: 1025 short names fit one line only with 1- and
# 2-character names, so split them over the limit with two-char names.
conf doms1025 "Provider=tcp\nDomains=$(python3 -c "
import itertools,string
a=string.ascii_letters+string.digits
names=[x+y for x,y in itertools.product(a,a)][:1025]
print(','.join(names))")\n"
bounded doms1025 10 "$EFA_CHECK" env --config "$H/doms1025.conf"
expect_rc "Domains= list of 1025 names is a config error" 2 doms1025
expect_grep "1025 domains: says more than 1024" 'more than 1024 domains' "$T_TMP/doms1025.err"

bounded longtimeout 10 "$EFA_CHECK" local --config "$H/ok.conf" --timeout "$(python3 -c "print('9' * 5000)")"
expect_rc "5000-digit --timeout is a usage error" 2 longtimeout

# --- control characters --------------------------------------------------------------
bounded node_soh 10 "$EFA_CHECK" local --config "$H/ok.conf" --node "$(printf 'n\001x')"
expect_rc "--node with \\001 is a usage error" 2 node_soh
bounded node_nl 10 "$EFA_CHECK" local --config "$H/ok.conf" --node "$(printf 'n1\nn2')"
expect_rc "--node with a newline is a usage error" 2 node_nl
expect_grep "--node with a newline: message says invalid node name" '--node: invalid node name' "$T_TMP/node_nl.err"

conf esc 'Provider=tcp\nNodeName=n\0331 Provider=shm\n'
bounded esc 10 "$EFA_CHECK" env --config "$H/esc.conf"
expect_rc "NodeName with an escape character is a config error" 2 esc
expect_grep "escape in NodeName: names the control character and line" 'esc\.conf:2: control character 0x1b' "$T_TMP/esc.err"

conf cr 'Provider=tcp\r\nDomains=lo\n'
bounded cr 10 "$EFA_CHECK" env --config "$H/cr.conf"
expect_rc "Provider followed by a carriage return is a config error" 2 cr
expect_grep "carriage return: says DOS line endings" 'cr\.conf:1: carriage return' "$T_TMP/cr.err"

conf vt 'Provider=tc\013p\n'
bounded vt 10 "$EFA_CHECK" env --config "$H/vt.conf"
expect_rc "Provider with a vertical tab is a config error" 2 vt

conf envesc 'Provider=tcp\nEnv=NCCL_DEBUG=IN\033[2JFO\n'
bounded envesc 10 "$EFA_CHECK" env --config "$H/envesc.conf"
expect_rc "Env value with \\033 is a config error" 2 envesc
expect_grep "Env value with \\033: names the control character" 'envesc\.conf:2: control character 0x1b' "$T_TMP/envesc.err"

printf 'Provider=tcp\nDomains=lo\0\n' > "$H/nul.conf"; chmod 0644 "$H/nul.conf"
bounded nul 10 "$EFA_CHECK" env --config "$H/nul.conf"
expect_rc "NUL byte in the config is a config error" 2 nul
expect_grep "NUL byte: names the line" 'nul\.conf:2: NUL byte' "$T_TMP/nul.err"

bounded prov_nl 30 "$EFA_CHECK" local --config "$H/ok.conf" --provider "$(printf 'tc"p\\\n\001')" --json
no_crash prov_nl
valid_json prov_nl
check "--provider with quote, backslash, newline: reason is one printable line" \
	python3 -c 'import json,sys
r=json.load(open(sys.argv[1])).get("reason","")
sys.exit(0 if all(0x20 <= ord(c) < 0x7f for c in r) else 1)' "$T_TMP/prov_nl.out"

# --- a hostlist that would expand to ten million names -----------------------------------
conf hl 'Provider=tcp\nMinMemlock=4M\nNodeName=n[0000-9999][000-999] Provider=shm\n'
for case in n1234567:shm n0000000:shm n9999999:shm n12345678:tcp n123456:tcp m1234567:tcp; do
	node=${case%%:*} want=${case#*:}
	start=$(date +%s%N)
	bounded "hl_$node" 10 "$EFA_CHECK" env --config "$H/hl.conf" --node "$node" --no-cache
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	if [ "$RC" -eq 0 ] && grep -q "provider=$want " "$T_TMP/hl_$node.out" && [ "$ms" -lt 2000 ]; then
		ok "NodeName=n[0000-9999][000-999]: $node gets Provider=$want in ${ms} ms"
	else
		not_ok "NodeName=n[0000-9999][000-999]: $node (exit $RC, ${ms} ms, want provider=$want)"
		cat "$T_TMP/hl_$node.out" "$T_TMP/hl_$node.err" | head -5 | diag
	fi
done
conf hlhuge 'Provider=tcp\nNodeName=n[0-999999999999] Provider=shm\n'
bounded hlhuge 10 "$EFA_CHECK" env --config "$H/hlhuge.conf" --node n5 --no-cache
expect_rc "NodeName range of 10^12 names: config error or handled, no hang" 2 hlhuge
expect_grep "NodeName range of 10^12: file:line: message" 'hlhuge\.conf:2: NodeName=' "$T_TMP/hlhuge.err"

# --- StateDir that is a symlink ---------------------------------------------------------
# `efa-check env` writes its cache into StateDir (root only, best effort): through a symlink
# it must refuse, naming StateDir, and write nothing where the link points.
mkdir -p "$H/state-real"
chmod 0755 "$H/state-real"
ln -s "$H/state-real" "$H/state-link"
conf sdlink "Provider=tcp\nStateDir=$H/state-link\n"
bounded sdlink 10 "$EFA_CHECK" env --config "$H/sdlink.conf" --node n1 --verbose
check "StateDir symlink: env still prints the environment (cache is best effort)" test "$RC" -eq 0
expect_grep "StateDir symlink: refused with a message naming it" "StateDir $H/state-link: is a symlink" "$T_TMP/sdlink.err"
check "StateDir symlink: nothing written through the link" test ! -e "$H/state-real/env.n1"
bounded sdlink2 10 "$EFA_CHECK" env --config "$H/ok.conf" --state-dir "$H/state-link" --node n1 --verbose
expect_grep "--state-dir symlink: refused with a message naming it" "StateDir $H/state-link: is a symlink" "$T_TMP/sdlink2.err"
conf sdreal "Provider=tcp\nStateDir=$H/state-real\n"
bounded sdreal 10 "$EFA_CHECK" env --config "$H/sdreal.conf" --node n1 --verbose
check "StateDir real directory: cache written (control)" test -f "$H/state-real/env.n1"
mkdir -p "$H/state-ww"
chmod 0777 "$H/state-ww"
bounded sdww 10 "$EFA_CHECK" env --config "$H/ok.conf" --state-dir "$H/state-ww" --node n1 --verbose
expect_grep "StateDir writable by others: refused" "StateDir $H/state-ww: writable by group or others" "$T_TMP/sdww.err"
if grep -q state_dir_open "$TOP/prolog/slurm/cmd_prolog.c" 2>/dev/null; then
	conf sdprolog "Provider=tcp\nDomains=lo\nMinMemlock=4M\nLoopbackIterations=5\nOnFail=log\nStateDir=$H/state-link\n"
	bounded sdprolog 60 env SLURM_JOB_ID=1 "$EFA_CHECK" prolog --config "$H/sdprolog.conf" --node n1
	no_crash sdprolog
	expect_grep "prolog: StateDir symlink refused with a message naming it" "StateDir $H/state-link" "$T_TMP/sdprolog.err"
fi

# --- config files that must be refused -------------------------------------------------
cp "$H/ok.conf" "$H/ww.conf"; chmod 0646 "$H/ww.conf"
bounded ww 10 "$EFA_CHECK" local --config "$H/ww.conf"
expect_rc "config writable by others is a config error" 2 ww
expect_grep "config writable by others: message says chmod" 'ww\.conf: writable by group or others; chmod go-w' "$T_TMP/ww.err"
cp "$H/ok.conf" "$H/gw.conf"; chmod 0664 "$H/gw.conf"
bounded gw 10 "$EFA_CHECK" local --config "$H/gw.conf"
expect_rc "config writable by group is a config error" 2 gw
ln -s "$H/ww.conf" "$H/link-to-ww.conf"
bounded lww 10 "$EFA_CHECK" local --config "$H/link-to-ww.conf"
expect_rc "symlink to a config writable by others is a config error" 2 lww
if [ "$(id -u)" -eq 0 ]; then
	cp "$H/ok.conf" "$H/nobody.conf"; chown 65534 "$H/nobody.conf"
	bounded nobody 10 "$EFA_CHECK" local --config "$H/nobody.conf"
	expect_rc "config not owned by root (we are root) is a config error" 2 nobody
	expect_grep "config not owned by root: message says chown" 'chown root' "$T_TMP/nobody.err"
fi

mkfifo "$H/fifo.conf"; chmod 0644 "$H/fifo.conf"
bounded fifo 5 "$EFA_CHECK" local --config "$H/fifo.conf"
expect_rc "config that is a FIFO: refused without blocking" 2 fifo
expect_grep "FIFO: says not a regular file" 'fifo\.conf: not a regular file' "$T_TMP/fifo.err"
mkdir "$H/dir.conf"
bounded dir 5 "$EFA_CHECK" local --config "$H/dir.conf"
expect_rc "config that is a directory is a config error" 2 dir
expect_grep "directory: says not a regular file" 'dir\.conf: not a regular file' "$T_TMP/dir.err"
bounded devzero 5 "$EFA_CHECK" local --config /dev/zero
expect_rc "config /dev/zero is refused without reading forever" 2 devzero
bounded missing 5 "$EFA_CHECK" local --config "$H/does-not-exist.conf"
expect_rc "missing --config file is a config error" 2 missing

# --- sysfs: a symlinked attribute file is not followed (O_NOFOLLOW) --------------------
# (device/p2p: the port state is no longer read for a verdict, efa_query_port says ACTIVE always)
cp -a "$fixtures/p4d" "$H/sys-p4d"
p2p=$(find "$H/sys-p4d" -path '*0000:10:1b.0/p2p' | head -1)
echo 'EVIL' > "$H/fake-p2p"
rm -f "$p2p"
ln -s "$H/fake-p2p" "$p2p"
conf efa 'Provider=efa\nTimeout=20\nMinMemlock=4M\n'
bounded sysln 30 "$EFA_CHECK" local --config "$H/efa.conf" --json --sysfs-root "$H/sys-p4d"
valid_json sysln
check "symlinked device/p2p: not followed (devices check reports the other devices' NVIDIA)" \
	test "$(json_get "$T_TMP/sysln.out" "[(c['ok'], 'EVIL' in c['detail'], 'p2p: NVIDIA' in c['detail']) for c in j['checks'] if c['name']=='devices'][0]")" = "(True, False, True)"

# --- JSON stays valid with hostile names ---------------------------------------------
conf j1 'Provider=tcp\nDomains=lo,no:such.dom_1-x\nTimeout=20\nMinMemlock=4M\nLoopbackIterations=5\nCudaLibrary=/tmp/a\\b\\"c.so\n'
bounded j1 10 "$EFA_CHECK" local --config "$H/j1.conf" --json
expect_rc "quote in a config value is a config error" 2 j1
conf j2 'Provider=tcp\nDomains=lo,no:such.dom_1-x\nTimeout=20\nMinMemlock=4M\nLoopbackIterations=5\nCudaLibrary=/tmp/a\\b\\c.so\nNcclLibrary=/x\\y.so\n'
bounded j2 60 "$EFA_CHECK" local --config "$H/j2.conf" --json
expect_rc "missing domain with odd characters: unhealthy" 1 j2
valid_json j2
check "backslashes in CudaLibrary survive the JSON round trip" \
	test "$(json_get "$T_TMP/j2.out" "any('/tmp/a\\\\b\\\\c.so' in c['detail'] for c in j['checks'])")" = True
weird="$H/sys\"q\\b$(printf '\001')x"
mkdir -p "$weird/class"
: > "$weird/class/infiniband"
bounded j3 30 "$EFA_CHECK" local --config "$H/efa.conf" --json --sysfs-root "$weird"
expect_rc "--sysfs-root with quote, backslash and \\001 in its name: unhealthy" 1 j3
valid_json j3
check "detail keeps the hostile path intact (quote, backslash, \\001)" \
	test "$(json_get "$T_TMP/j3.out" "any('sys\"q\\\\b\\x01x' in c['detail'] for c in j['checks'])")" = True
bounded j4 30 env SLURMD_NODENAME="$(printf 'n"\\\001q')" "$EFA_CHECK" local --config "$H/ok.conf" --json
no_crash j4
expect_rc "SLURMD_NODENAME with a quote, backslash and \\001 is refused like --node" 2 j4
check "the refusal quotes the name printable, on one line" \
	python3 -c 'import sys
e=open(sys.argv[1]).read().splitlines()
sys.exit(0 if len(e) == 1 and "SLURMD_NODENAME" in e[0] and all(0x20 <= ord(c) < 0x7f for c in e[0]) else 1)' "$T_TMP/j4.err"
bounded j5 30 "$EFA_CHECK" env --config "$H/ok.conf" --format json --no-cache
expect_rc "env --format json" 0 j5
valid_json j5

# --- refused attacks on the real test cluster, as an unprivileged user (issue 15) -------
# A user's environment never reaches a root efa-check; hostile option values are refused by
# srun before any allocation; a user's prolog/health/cross never drains or resumes; a symlink
# planted at the MetricsFile path is replaced, its target untouched. Each attack has a control
# that shows the test would see it succeed (the library writes a marker when root loads it;
# the same health run as root does drain).
CLUSTER=$TOP/tests/cluster/cluster.sh
PLUGIN=$TOP/spank/spank_efa_check.so
D=$T_TMP/cluster
HUSER=efahostile
cluster_ok=yes
if [ "$(id -u)" -ne 0 ] || [ ! -f "$PLUGIN" ] || [ ! -f "$FAULT_LIB" ] || ! command -v srun >/dev/null ||
	! command -v runuser >/dev/null || ! command -v "${CC:-cc}" >/dev/null; then
	ok "cluster attacks # SKIP need root, runuser, a C compiler, srun and $PLUGIN (make all test-support)"
	cluster_ok=no
fi
if [ "$cluster_ok" = yes ] && ! id -u "$HUSER" >/dev/null 2>&1; then
	# a system user without a home or a login shell; kept between runs (other runs may use it)
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$HUSER" \
		>/dev/null 2>&1 || id -u "$HUSER" >/dev/null 2>&1 || { not_ok "useradd $HUSER"; cluster_ok=no; }
fi

cluster_cleanup() { sh "$CLUSTER" stop "$D" >/dev/null 2>&1; rm -rf "$T_TMP"; }
# as_user CMD...: CMD as $HUSER with only the variables given (env -i), from $T_TMP
as_user() { runuser -u "$HUSER" -- env -i HOME=/tmp SLURM_CONF="$SLURM_CONF" "$@"; }
u_state() { timeout 10 sinfo -h -N -n "$1" -o '%T' 2>/dev/null | head -1; }
u_reason() { timeout 10 sinfo -R -h -N -n "$1" -o '%E' 2>/dev/null | head -1; }
user_job_id() { as_user PATH=/usr/bin:/bin timeout 30 srun -N1 -w n1 sh -c 'echo $SLURM_JOB_ID' 2>/dev/null; }

if [ "$cluster_ok" = yes ]; then
	trap cluster_cleanup EXIT
	chmod 0755 "$T_TMP"
	mkdir -p "$D/metrics" "$H/user" "$H/evbin" "$H/evlib"
	chown "$HUSER" "$H/user"
	cat > "$H/cluster.conf" <<EOF
Provider=tcp
Domains=lo
Timeout=20
MinMemlock=4M
LoopbackIterations=5
OnFail=drain
Resume=yes
NodeName=n1 MetricsFile=$D/metrics/n1.prom
EOF
	chmod 0644 "$H/cluster.conf"
	# The user's library: a marker in $H (root only can write there) when a root process
	# loads it, one in $H/user when the user's own processes do (the control).
	cat > "$H/evil.c" <<EOF
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void)
{
	char p[512], exe[256] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) exe[n] = 0;
	snprintf(p, sizeof(p), geteuid() == 0 ? "$H/ROOT-MARKER.%d" : "$H/user/user-marker.%d", (int)getpid());
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) { dprintf(fd, "%s\n", exe); close(fd); }
}
EOF
	if ! "${CC:-cc}" -shared -fPIC -o "$H/libevil.so" "$H/evil.c" 2>"$T_TMP/evilcc.err"; then
		not_ok "build the user's preload library"; diag < "$T_TMP/evilcc.err"; cluster_ok=no
	fi
	cp "$H/libevil.so" "$H/evlib/libfabric.so.1" 2>/dev/null
	cp "$H/libevil.so" "$H/evlib/libjson-c.so.5" 2>/dev/null
	# The user's PATH programs: a marker when root runs them, then the real program.
	for prog in sh bash dash env efa-check scontrol sinfo timeout true hostname cat date mkdir \
		rm mv ln id sed grep tr; do
		printf '#!/bin/sh\n[ "$(/usr/bin/id -u)" = 0 ] && /usr/bin/touch "%s/ROOT-MARKER.path-%s"\nfor d in /usr/bin /bin /usr/sbin /sbin; do [ -x "$d/%s" ] && exec "$d/%s" "$@"; done\nexit 127\n' \
			"$H" "$prog" "$prog" "$prog" > "$H/evbin/$prog"
		chmod 0755 "$H/evbin/$prog"
	done
	printf '/usr/bin/touch "%s/ROOT-MARKER.bash_env.$(/usr/bin/id -u)"\n' "$H" > "$H/bashenv.sh"
	cp "$H/bashenv.sh" "$H/shenv.sh"
	chmod 0644 "$H/bashenv.sh" "$H/shenv.sh"
	chmod -R a+rX "$H/evbin" "$H/evlib" "$H/libevil.so"
fi
if [ "$cluster_ok" = yes ]; then
	# control: the library and a PATH program do write the root marker when root uses them
	LD_PRELOAD=$H/libevil.so /bin/true
	env PATH="$H/evbin:/usr/bin:/bin" hostname >/dev/null
	check "control: the user's library and PATH program leave a marker when root runs them" \
		sh -c "ls '$H' | grep -q '^ROOT-MARKER\.[0-9]' && test -e '$H/ROOT-MARKER.path-hostname'"
	rm -f "$H"/ROOT-MARKER.*
	if ! timeout 180 sh "$CLUSTER" start "$D" --nodes 3 --efa-conf "$H/cluster.conf" --prolog \
		--plugin "efa_check=@DIR@/bin/efa-check config=@DIR@/etc/efa-check.conf timeout=40" \
		>"$T_TMP/start.log" 2>&1; then
		not_ok "test cluster starts with the plugin"; diag < "$T_TMP/start.log"; cluster_ok=no
	else
		ok "test cluster (3 nodes, plugin, Prolog=efa-check prolog, Provider=tcp) is up"
		. "$D/env"
		cd "$T_TMP" || exit 1
	fi
fi

if [ "$cluster_ok" = yes ]; then
	# Sample the environment of every root efa-check process (the cluster's wrapper and the
	# binary, with its workers) while the user's steps run.
	python3 - "$T_TMP/environs" 150 <<'EOF' &
import os, sys, time
out, end = sys.argv[1], time.time() + float(sys.argv[2])
seen = {}
while time.time() < end and not os.path.exists(out + ".stop"):
    for p in os.listdir("/proc"):
        if not p.isdigit() or p in seen:
            continue
        try:
            if os.stat("/proc/" + p).st_uid != 0:
                continue
            argv = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
            exe = os.readlink("/proc/%s/exe" % p)
            if not (exe.endswith("/prolog/efa-check") or any(a.endswith(b"/bin/efa-check") for a in argv[:2])):
                continue
            seen[p] = open("/proc/%s/environ" % p, "rb").read().replace(b"\0", b"\n")
        except OSError:
            pass
    time.sleep(0.02)
with open(out, "wb") as f:
    for p, e in seen.items():
        f.write(b"== pid %s\n" % p.encode() + e)
EOF
	sampler=$!
	hostile_env="LD_PRELOAD=$H/libevil.so
LD_LIBRARY_PATH=$H/evlib
PATH=$H/evbin:/usr/bin:/bin
IFS=/EVIL
BASH_ENV=$H/bashenv.sh
ENV=$H/shenv.sh
FI_PROVIDER=nosuchprovEVIL
FI_LOG_LEVEL=EVIL
FI_TCP_IFACE=evil0EVIL
FI_OFI_RXM_BUFFER_SIZE=1
NCCL_DEBUG=EVIL
NCCL_NET_PLUGIN=$H/libevil.so
SLURMD_NODENAME=n9EVIL"
	for i in 1 2 3; do
		# shellcheck disable=SC2086 # one word per line
		(IFS='
'; as_user $hostile_env timeout 60 srun -N3 --efa-check true) >"$T_TMP/envatk$i.out" 2>"$T_TMP/envatk$i.err"
		RC=$?
		expect_rc "srun --efa-check with the user's LD_PRELOAD/LD_LIBRARY_PATH/PATH/IFS/BASH_ENV/FI_*/NCCL_*/SLURMD_NODENAME (run $i): the healthy nodes pass" 0 envatk$i
	done
	# The other root path: sbatch --efa-check reaches the root prolog of every node
	# (SPANK_EFA_CHECK, a job control variable); the user's environment must not (slurmd builds
	# the prolog's environment, SchedMD/slurm 22.05 src/plugins/prep/script/prep_script_slurmd.c
	# _build_env: SPANK_* job control variables, gres variables and SLURM_* only).
	prologs_before=$(grep -c 'efa-check prolog' "$D/log/efa-check-calls.log" 2>/dev/null || echo 0)
	runs3() { for n in n1 n2 n3; do json_get "$D/state/$n/last-report.json" 'j.get("runs", 0)' 2>/dev/null || echo 0; done | tr '\n' ' '; }
	runs_before=$(runs3)
	# shellcheck disable=SC2086 # one word per line
	(IFS='
'; as_user $hostile_env timeout 120 sbatch --wait --efa-check -N3 -o /dev/null -e /dev/null --wrap true) \
		>"$T_TMP/envatk_sb.out" 2>"$T_TMP/envatk_sb.err"
	RC=$?
	expect_rc "sbatch --efa-check with the same environment: the job ran after its root prologs passed" 0 envatk_sb
	prologs_after=$(grep -c 'efa-check prolog' "$D/log/efa-check-calls.log" 2>/dev/null || echo 0)
	check "... the prologs ran on the 3 nodes ($prologs_before -> $prologs_after prolog calls)" \
		test "$prologs_after" -ge "$((prologs_before + 3))"
	runs_after=$(runs3)
	check "... and the job's request reached them: each ran the checks afresh (SPANK_EFA_CHECK bypasses the cache; runs $runs_before-> $runs_after)" \
		python3 -c 'import sys; b, a = sys.argv[1].split(), sys.argv[2].split(); sys.exit(not (len(a) == 3 and all(int(y) > int(x) for x, y in zip(b, a))))' "$runs_before" "$runs_after"
	: > "$T_TMP/environs.stop"
	wait "$sampler"
	check "the user's own processes did load the library (control: $(ls "$H/user" | wc -l) markers)" \
		test -n "$(ls "$H/user")"
	check "no root process loaded the user's library, ran a PATH program or read BASH_ENV/ENV" \
		test -z "$(ls "$H" | grep ROOT-MARKER)"
	ls "$H" | grep ROOT-MARKER | head | diag
	nsamp=$(grep -c '^== pid' "$T_TMP/environs" 2>/dev/null || echo 0)
	if [ "$nsamp" -gt 0 ]; then
		check "no user variable in the environment of the $nsamp root efa-check processes sampled" \
			sh -c "! grep -Eq 'EVIL|libevil|evlib|evbin|bashenv|shenv' '$T_TMP/environs'"
		grep -E 'EVIL|libevil|evlib|evbin' "$T_TMP/environs" | head -5 | diag
	else
		ok "no user variable in root efa-check environments # SKIP no root efa-check process was caught running"
	fi
	check "no check ran under the user's SLURMD_NODENAME" \
		sh -c "! grep -q 'n9EVIL' '$D/log/efa-check-calls.log'"
	check "the checks did run (the wrapper logged local runs on n1-n3)" \
		test "$(grep -c 'efa-check local' "$D/log/efa-check-calls.log")" -ge 3

	# Hostile option values: rejected by srun before allocation, no job id used.
	before=$(user_job_id)
	big=$(python3 -c "print('local' + 'A' * 120000)")
	run_capture bigopt as_user PATH=/usr/bin:/bin timeout 30 srun -N1 "--efa-check=$big" true
	check "a 120 KB --efa-check value is rejected (exit $RC)" test "$RC" -ne 0 -a "$RC" -ne 124
	run_capture ctlopt as_user PATH=/usr/bin:/bin timeout 30 srun -N1 "--efa-check=$(printf 'local\001\033[2J')" true
	check "a --efa-check value with control characters is rejected (exit $RC)" test "$RC" -ne 0 -a "$RC" -ne 124
	run_capture nlopt as_user PATH=/usr/bin:/bin timeout 30 srun -N1 "--efa-check=$(printf 'local\ncross')" true
	check "a --efa-check value with a newline is rejected (exit $RC)" test "$RC" -ne 0 -a "$RC" -ne 124
	# the same values through sbatch and salloc (the allocator context validates them too)
	run_capture bigsb as_user PATH=/usr/bin:/bin timeout 30 sbatch -N1 -o /dev/null "--efa-check=$big" --wrap true
	check "sbatch: a 120 KB --efa-check value is rejected (exit $RC)" test "$RC" -ne 0 -a "$RC" -ne 124
	run_capture ctlsa as_user PATH=/usr/bin:/bin timeout 30 salloc -N1 "--efa-check=$(printf 'local\001\033[2J')" true
	check "salloc: a --efa-check value with control characters is rejected (exit $RC)" test "$RC" -ne 0 -a "$RC" -ne 124
	after=$(user_job_id)
	check "no job was created for the five (job ids $before -> $after)" \
		test -n "$before" -a -n "$after" -a "$after" -eq "$((before + 1))" 2>/dev/null
	check "no control character from the value reached slurmd's or slurmctld's log" \
		sh -c "! cat '$D'/log/slurm*.log | grep -q \"$(printf '\033')\\[2J\""

	# Non-root prolog / health / cross never drain or resume.
	timeout 10 scontrol update nodename=n2 state=drain reason="efa-check: planted by the test"
	for sub in health prolog; do
		run_capture "u_$sub" as_user PATH=/usr/bin:/bin SLURM_JOB_ID=1 timeout 60 \
			"$EFA_CHECK" $sub --config "$D/etc/efa-check.conf" --node n1 --provider nosuchprov
		echo "non-root $sub: exit $RC" | diag; head -3 "$T_TMP/u_$sub.err" | diag
		check "non-root '$sub --provider nosuchprov' on n1: n1 not drained (state $(u_state n1))" \
			sh -c "u=\$(timeout 10 sinfo -h -N -n n1 -o '%T'); case \$u in *drain*) exit 1;; esac"
		run_capture "u_${sub}_resume" as_user PATH=/usr/bin:/bin SLURM_JOB_ID=1 timeout 60 \
			"$EFA_CHECK" $sub --config "$D/etc/efa-check.conf" --node n2
		check "non-root healthy '$sub' on n2: its efa-check drain is not resumed ($(u_state n2): $(u_reason n2))" \
			sh -c "timeout 10 sinfo -R -h -N -n n2 -o '%E' | grep -q 'planted by the test'"
	done
	run_capture u_cross as_user PATH=/usr/bin:/bin timeout 120 srun -N2 -w n1,n3 --mpi=pmix \
		"$EFA_CHECK" cross --config "$D/etc/efa-check.conf" --provider nosuchprov
	check "non-root cross with a failing provider: n1 and n3 not drained ($(u_state n1), $(u_state n3))" \
		sh -c "! timeout 10 sinfo -h -N -n n1,n3 -o '%T' | grep -q drain"
	check "non-root cross did run (it failed: exit $RC)" test "$RC" -ne 0 -a "$RC" -ne 124
	# control: the same health run as root drains (so the tests above would see a drain)
	run_capture r_health timeout 60 "$EFA_CHECK" health --verbose --config "$D/etc/efa-check.conf" --node n3 --provider nosuchprov
	cat "$T_TMP/r_health.out" "$T_TMP/r_health.err" | head -5 | diag
	check "control: root 'health --provider nosuchprov' drains n3 ($(u_state n3): $(u_reason n3))" \
		sh -c "timeout 10 sinfo -R -h -N -n n3 -o '%E' | grep -q '^efa-check:'"
	timeout 10 scontrol update nodename=n2,n3 state=resume >/dev/null 2>&1

	# A symlink planted at the MetricsFile path is replaced; its target is untouched.
	echo VICTIM > "$H/victim"
	rm -f "$D/metrics/n1.prom"   # the steps' checks on n1 wrote it already
	ln -s "$H/victim" "$D/metrics/n1.prom"
	check "symlink planted at MetricsFile" test -L "$D/metrics/n1.prom"
	rm -f "$D/state/n1/last-report.json"   # a real run (a cached result publishes nothing)
	run_capture metln timeout 60 "$D/bin/efa-check" health --node n1
	check "symlink at MetricsFile: replaced by a regular file" \
		test -f "$D/metrics/n1.prom" -a ! -L "$D/metrics/n1.prom"
	expect_grep "symlink at MetricsFile: the new file has the metrics" '^efa_check_ok ' "$D/metrics/n1.prom"
	check "symlink at MetricsFile: its target is untouched" test "$(cat "$H/victim")" = VICTIM
fi

done_testing
