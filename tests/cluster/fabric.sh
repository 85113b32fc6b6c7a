# Sourced by cluster.sh (test infrastructure, not product): the multi-host test fabric.
#
# With `cluster.sh start DIR --fabric` every node runs in its own network namespace with two
# links, each a veth pair to a bridge the harness creates in the host namespace:
#
#   mgmt0  198.18.S.(10+i)/24  Slurm's network (like a node's ENA): slurmd, srun, PMIx wire-up.
#          The host end of this bridge has 198.18.S.1: slurmctld and srun stay in the host
#          namespace and reach the nodes there.
#   data0  198.19.S.(10+i)/24  the "EFA" fabric: efa-check's tcp provider traffic between nodes
#          (Domains=data0). Its bridge has no address: the host is not on it.
#
# Faults are real network conditions set from the host side (ip, tc, nft), never inside the
# product: a data link down, a tc tbf throttle of a node's egress, a throttled link between
# two nodes (htb class matched on the peer's address), nftables drops in a bridge table on the
# data bridge (every node, i.e. a security group without its self-referencing rule; one node
# isolated; or one direction of one pair). Slurm's traffic on mgmt0 is never touched.
#
# Names are unique per cluster (several clusters run on one machine at once): ID is 6 hex
# digits of the cluster directory's checksum; S (the subnet's third byte) is the first free one
# from ID, chosen under a lock. Namespaces efa<ID>n<i>, bridges ef<ID>m / ef<ID>d, host veth
# ends ef<ID>m<i> / ef<ID>d<i> (<= 11 characters), nft table `bridge efa_<ID>`. Every name is
# recorded in DIR/run/fabric and also derived again from DIR on stop, and removed by name.
# No default route, no forwarding, no NAT: the host's ip_forward is left as it is (0 here), the
# namespaces have only their two /24s, and the bridges have no route to anywhere else.
#
# Tools are the host's (ip -n, tc -n, nft, nsenter), overridable for a chroot:
# FABRIC_IP, FABRIC_TC, FABRIC_NFT, FABRIC_NSENTER.

F_IP=${FABRIC_IP:-ip}
F_TC=${FABRIC_TC:-tc}
F_NFT=${FABRIC_NFT:-nft}
F_NSENTER=${FABRIC_NSENTER:-nsenter}
F_LOCK=/run/lock/efa-check-fabric.lock

fabric_id() { # DIR -> 6 hex digits
	_c=$(printf '%s' "$1" | cksum | cut -d' ' -f1)
	printf '%06x' $((_c % 16777216))
}

fabric_ns() { echo "efa$(fabric_id "$1")n$2"; }          # DIR I
fabric_nspath() { echo "/var/run/netns/$(fabric_ns "$1" "$2")"; }

# Is DIR a fabric cluster? (run/fabric is written by fabric_up)
fabric_on() { [ -f "$1/run/fabric" ]; }

fabric_get() { # DIR KEY -> value from run/fabric
	sed -n "s/^$2=//p" "$1/run/fabric" 2>/dev/null | head -1
}

fabric_node_index() { # NODE (nX) -> X
	case $1 in n[0-9]|n[0-9][0-9]) echo "${1#n}" ;; *) die "fabric: bad node '$1'" ;; esac
}

fabric_mgmt_addr() { echo "198.18.$(fabric_get "$1" subnet).$((10 + $2))"; }   # DIR I
fabric_data_addr() { echo "198.19.$(fabric_get "$1" subnet).$((10 + $2))"; }   # DIR I

# A free subnet byte, starting at ID: none of this machine's addresses (host namespace) and
# no other cluster's record claims it. Called under the lock.
fabric_pick_subnet() { # ID
	_start=$(( 0x$1 % 250 ))
	_used=$($F_IP -4 -o addr show 2>/dev/null | awk '{print $4}')
	_k=0
	while [ $_k -lt 250 ]; do
		_s=$(( (_start + _k) % 250 + 1 ))
		if ! printf '%s\n' "$_used" | grep -q "^198\.1[89]\.$_s\."; then
			echo "$_s"
			return 0
		fi
		_k=$((_k + 1))
	done
	return 1
}

fabric_run() { # CMD... : run, and die with its message if it fails
	"$@" || die "fabric: failed: $*"
}

# fabric_up DIR NODES: create namespaces, bridges, veths and addresses.
fabric_up() {
	D=$1 nodes=$2
	id=$(fabric_id "$D")
	fabric_down "$D" # a leftover of this very directory (a killed test) goes first
	mkdir -p /run/lock /var/run/netns
	exec 9>"$F_LOCK"
	flock -w 30 9 || die "fabric: cannot lock $F_LOCK"
	s=$(fabric_pick_subnet "$id") || { exec 9>&-; die "fabric: no free 198.18.x.0/24"; }
	bm=ef${id}m bd=ef${id}d
	{
		echo "id=$id"; echo "subnet=$s"; echo "bridges=$bm $bd"; echo "nft=bridge efa_$id"
		echo "nodes=$nodes"
	} > "$D/run/fabric"
	fabric_run $F_IP link add name "$bm" type bridge
	# the host's address on the management bridge marks the subnet as taken for other clusters
	fabric_run $F_IP addr add "198.18.$s.1/24" dev "$bm"
	exec 9>&-
	fabric_run $F_IP link add name "$bd" type bridge
	for b in "$bm" "$bd"; do
		fabric_run $F_IP link set dev "$b" type bridge forward_delay 0 stp_state 0
		fabric_run $F_IP link set dev "$b" up
	done
	i=1
	while [ "$i" -le "$nodes" ]; do
		ns=$(fabric_ns "$D" "$i")
		fabric_run $F_IP netns add "$ns"
		echo "ns=$ns" >> "$D/run/fabric"
		fabric_run $F_IP -n "$ns" link set dev lo up
		for l in m:mgmt0:198.18 d:data0:198.19; do
			k=${l%%:*} r=${l#*:}; inner=${r%%:*} net=${r#*:}
			host=ef${id}$k$i
			fabric_run $F_IP link add name "$host" type veth peer name "$inner" netns "$ns"
			echo "link=$host" >> "$D/run/fabric"
			fabric_run $F_IP link set dev "$host" master "ef${id}$k" up
			fabric_run $F_IP -n "$ns" addr add "$net.$s.$((10 + i))/24" dev "$inner"
			fabric_run $F_IP -n "$ns" link set dev "$inner" up
		done
		i=$((i + 1))
	done
	# no default route anywhere: each namespace has only its two connected /24s
	i=1
	while [ "$i" -le "$nodes" ]; do
		[ -z "$($F_IP -n "$(fabric_ns "$D" "$i")" route show default)" ] || die "fabric: a default route appeared"
		i=$((i + 1))
	done
}

# fabric_down DIR: remove everything fabric_up made for DIR, by name (idempotent; processes in
# the namespaces must be stopped first, which cmd_stop does).
fabric_down() {
	D=$1
	id=$(fabric_id "$D")
	$F_NFT delete table bridge "efa_$id" 2>/dev/null
	for ns in $(fabric_get_all "$D" ns) $($F_IP netns list 2>/dev/null | awk -v p="efa${id}n" 'index($1, p) == 1 {print $1}'); do
		$F_IP netns del "$ns" 2>/dev/null
	done
	for l in $(fabric_get_all "$D" link) $($F_IP -o link show 2>/dev/null |
		awk -F': ' -v p="ef${id}" '{ sub(/@.*/, "", $2); if (index($2, p) == 1) print $2 }'); do
		$F_IP link del "$l" 2>/dev/null
	done
	rm -f "$D/run/fabric"
	return 0
}

fabric_get_all() { sed -n "s/^$2=//p" "$1/run/fabric" 2>/dev/null; }

# fabric_leftovers DIR: names of namespaces, links and nft tables of DIR still present.
fabric_leftovers() {
	id=$(fabric_id "$1")
	$F_IP netns list 2>/dev/null | awk -v p="efa${id}n" 'index($1, p) == 1 {print "netns " $1}'
	$F_IP -o link show 2>/dev/null | awk -F': ' -v p="ef${id}" '{ sub(/@.*/, "", $2); if (index($2, p) == 1) print "link " $2 }'
	$F_NFT list tables 2>/dev/null | awk -v t="efa_$id" '$3 == t {print "nft " $2 " " $3}'
	return 0
}

# ---- faults -------------------------------------------------------------------------

fabric_nft_rule() { # DIR RULE: add a rule to the cluster's bridge table (created on first use)
	id=$(fabric_get "$1" id)
	if ! $F_NFT list table bridge "efa_$id" >/dev/null 2>&1; then
		printf 'table bridge efa_%s {\n\tchain drops {\n\t\ttype filter hook forward priority 0; policy accept;\n\t}\n}\n' "$id" |
			$F_NFT -f - || die "fabric: cannot create nft table bridge efa_$id"
	fi
	# shellcheck disable=SC2086 # the rule is words
	fabric_run $F_NFT add rule bridge "efa_$id" drops $2
}

# cluster.sh net DIR ACTION ARGS
cmd_net() {
	D=$(cd "${1:?}" && pwd) || exit 1
	act=${2:-}
	shift 2 2>/dev/null || set --
	if [ "$act" = leftovers ]; then fabric_leftovers "$D"; return 0; fi
	fabric_on "$D" || die "net: $D is not a fabric cluster (start it with --fabric)"
	id=$(fabric_get "$D" id)
	case $act in
	down|up) # NODE: the node's data link (host end) down or up: the node's carrier goes
		i=$(fabric_node_index "${1:?node}")
		fabric_run $F_IP link set dev "ef${id}d$i" "$act" ;;
	throttle) # NODE RATE: tc tbf on the node's data egress
		i=$(fabric_node_index "${1:?node}")
		fabric_run $F_TC -n "$(fabric_ns "$D" "$i")" qdisc replace dev data0 root tbf \
			rate "${2:?rate, e.g. 200mbit}" burst 256kb latency 200ms ;;
	throttle-link) # A B RATE: only traffic between A and B, both directions
		a=$(fabric_node_index "${1:?node}") b=$(fabric_node_index "${2:?node}")
		for p in "$a:$b" "$b:$a"; do
			from=${p%%:*} to=${p#*:}
			ns=$(fabric_ns "$D" "$from")
			fabric_run $F_TC -n "$ns" qdisc replace dev data0 root handle 1: htb
			fabric_run $F_TC -n "$ns" class replace dev data0 parent 1: classid 1:10 htb \
				rate "${3:?rate}" ceil "$3" quantum 1514
			fabric_run $F_TC -n "$ns" filter add dev data0 parent 1: protocol ip prio 1 u32 \
				match ip dst "$(fabric_data_addr "$D" "$to")/32" flowid 1:10
		done ;;
	sg-block) # every node's data traffic to every other node dropped; Slurm (mgmt0) passes
		fabric_nft_rule "$D" "iifname \"ef${id}d*\" ether type { ip, ip6 } drop" ;;
	isolate) # NODE: every IP packet to or from the node's data link dropped (a dead NIC whose
		# carrier stays up: the node reaches nobody, its links time out)
		i=$(fabric_node_index "${1:?node}")
		fabric_nft_rule "$D" "iifname \"ef${id}d$i\" ether type { ip, ip6 } drop"
		fabric_nft_rule "$D" "oifname \"ef${id}d$i\" ether type { ip, ip6 } drop" ;;
	drop) # A B: A's IP packets to B dropped (one way; ARP still passes)
		a=$(fabric_node_index "${1:?node}") b=$(fabric_node_index "${2:?node}")
		fabric_nft_rule "$D" "iifname \"ef${id}d$a\" oifname \"ef${id}d$b\" ether type { ip, ip6 } drop" ;;
	clear) # every fault off
		$F_NFT delete table bridge "efa_$id" 2>/dev/null
		n=$(fabric_get "$D" nodes) i=1
		while [ "$i" -le "$n" ]; do
			$F_IP link set dev "ef${id}d$i" up
			$F_TC -n "$(fabric_ns "$D" "$i")" qdisc del dev data0 root 2>/dev/null
			i=$((i + 1))
		done
		return 0 ;;
	addr) # NODE: its data address
		fabric_data_addr "$D" "$(fabric_node_index "${1:?node}")" ;;
	ns) # NODE: its namespace's path (for nsenter --net=)
		fabric_nspath "$D" "$(fabric_node_index "${1:?node}")" ;;
	show) # the fabric's state: links, qdiscs, nft rules
		cat "$D/run/fabric"
		$F_IP -br link show master "ef${id}m"; $F_IP -br link show master "ef${id}d"
		n=$(fabric_get "$D" nodes) i=1
		while [ "$i" -le "$n" ]; do
			echo "n$i: $($F_TC -n "$(fabric_ns "$D" "$i")" qdisc show dev data0 | head -1)"
			i=$((i + 1))
		done
		$F_NFT list table bridge "efa_$id" 2>/dev/null
		return 0 ;;
	*) die "net: unknown action '$act' (down up throttle throttle-link sg-block isolate drop clear addr ns show leftovers)" ;;
	esac
}
