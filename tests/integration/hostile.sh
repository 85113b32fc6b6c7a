#!/bin/sh
# Hostile inputs (issue 6, hardening): very long values, control characters, a hostlist that
# would expand to millions of names, a symlinked StateDir, config files that are writable by
# others, FIFOs or directories, a symlinked sysfs port state file, and names with quotes,
# backslashes and control characters in the JSON report. Every call is bounded by `timeout`:
# a hang is exit 124, a crash is exit >= 128; both fail the test that expected 2 (or 0/1).
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

done_testing
