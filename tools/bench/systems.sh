# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The systems the workloads run on, cmpfs and its peers: each is started
# by the harness itself, with every daemon in the foreground under the
# harness's supervision (start_daemon), and torn down by the cleanup
# stack. AVAIL[sys] is "yes" or why not; MNT[sys] its mount point;
# DPIDS[sys] its daemons (for pinning). Sourced by run.sh after the
# options are parsed. A new system: an entry in UP and DESC and its up_
# function, which ends in now_up or down.

declare -A AVAIL MNT DPIDS
declare -A CLUSTER_PORT # cluster system -> its manager's port (node B's is +1)
REMOTE_SHARE=$(sized 8M 64M) # cmpfs-remote's node A in Figure 10's remote set-ups
declare -A DESC=(
	[cmpfs]="cmpfs, pool local (one node)"
	[cmpfs-remote]="cmpfs, blocks on a second cmpfs node (netns, TCP over veth), sealed frames (cluster key); node A has 4 MiB of its own (Figure 10: $REMOTE_SHARE)"
	[cmpfs-remote-insecure]="cmpfs-remote with every daemon in insecure mode (no key, plain frames)"
	[cmpfs-memsrv]="cmpfs, blocks on a cmp-memserver (netns, TCP over veth)"
	[cmpfs-trio]="three cmpfs nodes of one cluster, each with the same pool (node 1 in netns A, nodes 2 and 3 in netns B), sealed frames"
	[tmpfs]="tmpfs (local-memory ceiling)"
	[fusefloor]="trivial malloc-backed FUSE daemon, direct_io (FUSE floor)"
	[nbdfuse]="nbdkit memory plugin over TCP loopback, read through nbdfuse"
	[sshfs]="sshfs to a loopback sshd onto a tmpfs directory"
	[disk]="file on the local disk ($DISKDIR)"
)
# The cluster systems' ports: manager, node B or memserver, node A.
declare -A UP=(
	[cmpfs]=up_cmpfs
	[cmpfs-remote]="up_cluster cmpfs-remote remote 17000"
	[cmpfs-memsrv]="up_cluster cmpfs-memsrv memsrv 17100"
	[cmpfs-remote-insecure]="up_cluster cmpfs-remote-insecure remote 17200 insecure"
	[cmpfs-trio]="up_trio 17300"
	[tmpfs]=up_tmpfs
	[fusefloor]=up_fusefloor
	[nbdfuse]=up_nbdfuse
	[sshfs]=up_sshfs
	[disk]=up_disk
)
CMPFS=$BUILD/fs/cmpfs
MANAGER=$BUILD/manager/cmp-manager
MEMSERVER=$BUILD/memserver/cmp-memserver
CMPCTL=$BUILD/tools/cmpctl
CMP_LOCAL=${POOL:-$(sized 64M 3G)} # the pool of the cmpfs systems and the memserver
REMOTE_TINY=4M             # node A's own pool in the cluster systems

now_up() { AVAIL[$1]=yes MNT[$1]=${2:-}; }

# down SYSTEM WHY: it should have started and did not: a harness error.
down() {
	AVAIL[$1]=$2
	ERRORS=$((ERRORS + 1))
}

# fuse_daemon SYSTEM MNT CMD...: start CMD, a FUSE daemon serving MNT, as
# one of SYSTEM's daemons, and wait for the mount (false if it fails).
fuse_daemon() {
	local sys=$1 m=$2
	shift 2
	start_daemon "$LOG" "$@"
	DPIDS[$sys]+=" $DAEMON_PID"
	defer "fuse_umount $m"
	wait_mount "$m" "$DAEMON_PID"
}

up_cmpfs() {
	local m
	[[ -x $CMPFS ]] || { AVAIL[cmpfs]="not built ($CMPFS missing)"; return; }
	m=$(mnt_dir cmpfs)
	if fuse_daemon cmpfs "$m" "$CMPFS" none "$m" -f -o "local=$CMP_LOCAL,log=$OUT/cmpfs.log"; then
		now_up cmpfs "$m"
	else
		down cmpfs "failed to mount (see cmpfs.log)"
	fi
}

up_fusefloor() {
	local m
	[[ -x $BIN/fusefloor ]] || { AVAIL[fusefloor]="not built (libfuse3-dev missing?)"; return; }
	m=$(mnt_dir fusefloor)
	# single-threaded: on this machine it is the faster loop (512 B pread
	# p50 ~7-10 us against ~30-40 us with libfuse 3.14's loop_mt)
	if fuse_daemon fusefloor "$m" "$BIN/fusefloor" "$m" -f -s; then
		now_up fusefloor "$m"
	else
		down fusefloor "failed to mount"
	fi
}

up_tmpfs() {
	local m
	m=$(mnt_dir tmpfs)
	if tmpfs_on "$m" tmpfs; then now_up tmpfs "$m"; else down tmpfs "mount failed"; fi
}

up_disk() { now_up disk; }

up_nbdfuse() {
	local m port
	command -v nbdkit >/dev/null && command -v nbdfuse >/dev/null ||
		{ AVAIL[nbdfuse]="not installed (nbdkit, libnbd-bin)"; return; }
	m=$(mnt_dir nbdfuse)
	port=$(free_port)
	# -P: its command line names $WORK, by which a later sweep finds it
	start_daemon "$LOG" nbdkit -f --swap -P "$WORK/nbdkit.pid" -i 127.0.0.1 -p "$port" memory "${PEER_MB}M" \
		allocator=malloc,mlock=true
	DPIDS[nbdfuse]=$DAEMON_PID
	wait_port 127.0.0.1 "$port" "$DAEMON_PID" || { down nbdfuse "nbdkit did not start"; return; }
	if fuse_daemon nbdfuse "$m" nbdfuse "$m/disk" "nbd://127.0.0.1:$port" && [[ -f $m/disk ]]; then
		now_up nbdfuse "$m"
	else
		down nbdfuse "nbdfuse failed to mount"
	fi
}

up_sshfs() {
	local d=$WORK/ssh m r port
	command -v sshfs >/dev/null && [[ -x /usr/sbin/sshd ]] ||
		{ AVAIL[sshfs]="not installed (sshfs, openssh-server)"; return; }
	mkdir -p "$d"
	chmod 700 "$d"
	m=$(mnt_dir sshfs)
	r=$(mnt_dir sshfs-remote)
	tmpfs_on "$r" sshtmp || { AVAIL[sshfs]="tmpfs for sshd failed"; return; }
	ssh-keygen -q -t ed25519 -N '' -f "$d/host" >>"$LOG" 2>&1
	ssh-keygen -q -t ed25519 -N '' -f "$d/client" >>"$LOG" 2>&1
	cp "$d/client.pub" "$d/authorized_keys"
	port=$(free_port)
	cat >"$d/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $d/host
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF
	if [[ ! -d /run/sshd ]]; then
		mkdir -p /run/sshd && defer_here "rmdir /run/sshd"
	fi
	start_daemon "$LOG" /usr/sbin/sshd -f "$d/sshd_config" -D -e
	DPIDS[sshfs]=$DAEMON_PID
	wait_port 127.0.0.1 "$port" "$DAEMON_PID" || { down sshfs "sshd did not start"; return; }
	if fuse_daemon sshfs "$m" sshfs -f -p "$port" \
		-o "IdentityFile=$d/client,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR" \
		"root@127.0.0.1:$r" "$m"; then
		now_up sshfs "$m"
	else
		down sshfs "sshfs failed to mount"
	fi
}

# Cluster systems: node A (this mount, tiny local pool) in netns A, the
# manager and the block holders in netns B, joined by a veth pair. The
# daemons enter only the network namespace (nsenter --net, which execs
# them: the pid is the daemon's), so their mounts are visible here.
NSA="" NSB="" VETHA=""
netns_add() {
	ip netns add "$1" || return 1
	defer "netns_del $1"
}

# netns_del NAME: delete one of our namespaces. A process still inside it
# would keep it alive without a name: it is recorded as left behind.
netns_del() {
	local p
	[[ -e /run/netns/$1 ]] || return 0 # (a replayed journal: done)
	for p in $(ip netns pids "$1" 2>/dev/null); do
		NETNS_LEFT+=("process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)) in our network namespace $1")
	done
	ip netns del "$1"
}
netns_up() {
	[[ -n $NSA ]] && return 0
	NSA=${TAG}A NSB=${TAG}B VETHA=${TAG}a
	netns_add "$NSA" && netns_add "$NSB" || return 1
	ip link add "$VETHA" type veth peer name "${TAG}b" || return 1
	defer "ip link del $VETHA 2>/dev/null; true"
	ip link set "$VETHA" netns "$NSA" &&
		ip link set "${TAG}b" netns "$NSB" &&
		ip -n "$NSA" addr add 10.99.0.1/24 dev "$VETHA" &&
		ip -n "$NSB" addr add 10.99.0.2/24 dev "${TAG}b" &&
		ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up &&
		ip -n "$NSA" link set "$VETHA" up && ip -n "$NSB" link set "${TAG}b" up
}
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# netns_c_up: a third namespace, C, with its own veth to B (10.99.1.1 -
# 10.99.1.2) and a route to B's 10.99.0.2 through it: the flood's source,
# off A's link. Made for one item (it goes at its unwind).
NSC=""
netns_c_up() {
	[[ -n $NSC ]] && return 0
	netns_up || return 1
	defer_here "NSC="
	netns_add "${TAG}C" || return 1
	ip link add "${TAG}c" type veth peer name "${TAG}d" || return 1
	defer "ip link del ${TAG}c 2>/dev/null; true"
	ip link set "${TAG}c" netns "${TAG}C" &&
		ip link set "${TAG}d" netns "$NSB" &&
		ip -n "${TAG}C" addr add 10.99.1.1/24 dev "${TAG}c" &&
		ip -n "$NSB" addr add 10.99.1.2/24 dev "${TAG}d" &&
		ip -n "${TAG}C" link set lo up &&
		ip -n "${TAG}C" link set "${TAG}c" up &&
		ip -n "$NSB" link set "${TAG}d" up &&
		ip -n "${TAG}C" route add 10.99.0.0/24 via 10.99.1.2 &&
		NSC=${TAG}C
}

# ns_listening NS PORT PID: wait up to 10 s for a TCP listener on PORT in
# namespace NS (without connecting to it); gives up at once when PID exits.
ns_listening() {
	local i
	for i in $(seq 100); do
		in_ns "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q . && return 0
		pid_alive "$3" || return 1
		sleep 0.1
	done
	return 1
}

# ns_wait_port NS HOST PORT PID: wait_port inside namespace NS.
ns_wait_port() {
	in_ns "$1" bash -c "$(declare -f wait_port pid_alive); wait_port $2 $3 $4"
}

cluster_check() {
	local b
	for b in "$MANAGER" "$MEMSERVER" "$CMPCTL"; do
		[[ -x $b ]] || { echo "not available in this build ($b missing)"; return 1; }
	done
}

# registered MGR AUTH...: at least one node is alive at the manager.
registered() {
	in_ns "$NSB" "$CMPCTL" status --manager "$1" "${@:2}" --json 2>>"$LOG" |
		grep -q '"alive": true'
}

# up_cluster SYSTEM KIND(remote|memsrv) PORTBASE [insecure]: sealed
# frames with the cluster key, or every daemon in insecure mode.
up_cluster() {
	local sys=$1 kind=$2 pb=$3 why m key mgr i auth opt
	if ! why=$(cluster_check); then AVAIL[$sys]=$why; return; fi
	netns_up || { down "$sys" "cannot create network namespaces"; return; }
	if [[ ${4:-} == insecure ]]; then
		auth=(--insecure) opt=insecure
	else
		key=$WORK/cluster.key
		[[ -f $key ]] || "$CMPCTL" keygen "$key" >>"$LOG" 2>&1 ||
			{ down "$sys" "cmpctl keygen failed"; return; }
		auth=(--key "$key") opt=key=$key
	fi
	mgr=tcp://10.99.0.2:$pb
	CLUSTER_PORT[$sys]=$pb
	start_daemon "$OUT/$sys-manager.log" nsenter --net="/run/netns/$NSB" "$MANAGER" --listen "$mgr" "${auth[@]}" -f
	DPIDS[$sys]=$DAEMON_PID
	ns_wait_port "$NSB" 10.99.0.2 "$pb" "$DAEMON_PID" ||
		{ down "$sys" "cmp-manager did not start (see $sys-manager.log)"; return; }
	if [[ $kind == remote ]]; then
		m=$(mnt_dir "$sys-nodeB")
		fuse_daemon "$sys" "$m" nsenter --net="/run/netns/$NSB" "$CMPFS" none "$m" -f -o \
			"local=$CMP_LOCAL,manager=$mgr,listen=tcp://10.99.0.2:$((pb + 1)),$opt,log=$OUT/$sys-nodeB.log" ||
			{ down "$sys" "node B cmpfs failed to start (see $sys-nodeB.log)"; return; }
	else
		start_daemon "$OUT/$sys-memserver.log" nsenter --net="/run/netns/$NSB" "$MEMSERVER" --manager "$mgr" \
			--listen "tcp://10.99.0.2:$((pb + 1))" "${auth[@]}" --ram "$CMP_LOCAL" -f
		DPIDS[$sys]+=" $DAEMON_PID"
		ns_wait_port "$NSB" 10.99.0.2 $((pb + 1)) "$DAEMON_PID" ||
			{ down "$sys" "cmp-memserver did not start (see $sys-memserver.log)"; return; }
	fi
	# node B / the memserver registers with the manager before node A
	for i in $(seq 200); do
		registered "$mgr" "${auth[@]}" && break
		sleep 0.1
	done
	m=$(mnt_dir "$sys")
	# cmpfs-remote's node A grows to REMOTE_SHARE for Figure 10 (cmpctl resize)
	[[ $sys == cmpfs-remote ]] && opt+=",local_max=$REMOTE_SHARE"
	if fuse_daemon "$sys" "$m" nsenter --net="/run/netns/$NSA" "$CMPFS" none "$m" -f -o \
		"local=$REMOTE_TINY,manager=$mgr,listen=tcp://10.99.0.1:$((pb + 2)),$opt,log=$OUT/$sys-nodeA.log"; then
		now_up "$sys" "$m"
	else
		down "$sys" "node A cmpfs failed to start (see $sys-nodeA.log)"
	fi
}

# cmpfs-trio: the collaborative workload's cluster. Three nodes of pool
# TRIO_LOCAL each: node 1 in netns A (10.99.0.1), nodes 2 and 3 and the
# manager in netns B (10.99.0.2), so node 1's traffic crosses the veth and
# 2's and 3's stays in B. MNT is node 1's mount, TRIO_MNT[1..3] each node's.
TRIO_LOCAL=$(sized 16 256) # MiB
declare -a TRIO_MNT
trio_alive() { # MGR KEY: all three nodes alive at the manager
	[[ $(in_ns "$NSB" "$CMPCTL" status --manager "$1" --key "$2" --json 2>>"$LOG" |
		grep -c '"alive": true') == 3 ]]
}
up_trio() { # PORTBASE
	local sys=cmpfs-trio pb=$1 why mgr key i m ns ip
	if ! why=$(cluster_check); then AVAIL[$sys]=$why; return; fi
	netns_up || { down "$sys" "cannot create network namespaces"; return; }
	key=$WORK/cluster.key
	[[ -f $key ]] || "$CMPCTL" keygen "$key" >>"$LOG" 2>&1 ||
		{ down "$sys" "cmpctl keygen failed"; return; }
	mgr=tcp://10.99.0.2:$pb
	CLUSTER_PORT[$sys]=$pb
	start_daemon "$OUT/$sys-manager.log" nsenter --net="/run/netns/$NSB" "$MANAGER" --listen "$mgr" --key "$key" -f
	DPIDS[$sys]=$DAEMON_PID
	ns_wait_port "$NSB" 10.99.0.2 "$pb" "$DAEMON_PID" ||
		{ down "$sys" "cmp-manager did not start (see $sys-manager.log)"; return; }
	for i in 1 2 3; do
		if ((i == 1)); then ns=$NSA ip=10.99.0.1; else ns=$NSB ip=10.99.0.2; fi
		m=$(mnt_dir "$sys-n$i")
		fuse_daemon "$sys" "$m" nsenter --net="/run/netns/$ns" "$CMPFS" none "$m" -f -o \
			"local=${TRIO_LOCAL}M,manager=$mgr,listen=tcp://$ip:$((pb + i)),key=$key,node=$((100 + i)),log=$OUT/$sys-n$i.log" ||
			{ down "$sys" "node $i failed to start (see $sys-n$i.log)"; return; }
		TRIO_MNT[$i]=$m
	done
	for i in $(seq 200); do
		trio_alive "$mgr" "$key" && break
		sleep 0.1
	done
	trio_alive "$mgr" "$key" || { down "$sys" "the three nodes did not register"; return; }
	now_up "$sys" "${TRIO_MNT[1]}"
}

cmp_stats() { getfattr -n user.cmpfs.stats --only-values "$1" 2>/dev/null; }
veth_bytes() {
	ip netns exec "$NSA" sh -c "cat /sys/class/net/$VETHA/statistics/rx_bytes /sys/class/net/$VETHA/statistics/tx_bytes" 2>/dev/null |
		awk '{s += $1} END {print s + 0}'
}

# Pin a system's daemons (and their children: sshd's session) to CPU 0,
# or give them all CPUs back.
descendants() {
	local p c
	for p in "$@"; do
		echo "$p"
		for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do descendants "$c"; done
	done
}
pin_daemons() { # SYSTEM CPULIST
	local p
	for p in $(descendants ${DPIDS[$1]:-}); do
		taskset -a -p -c "$2" "$p" >/dev/null 2>&1
	done
	return 0
}
ALLCPUS=0-$(($(nproc) - 1))

# start_systems SYSTEM...: start each, and say in meta.txt what it is.
start_systems() {
	local s
	for s; do
		say "starting $s"
		${UP[$s]}
		say "  $s: ${AVAIL[$s]}"
		meta "avail:$s" "${AVAIL[$s]}"
		[[ ${AVAIL[$s]} == yes ]] && meta "desc:$s" "${DESC[$s]}"
	done
}

# up SYSTEM...: those of them that are available.
up() { local s; for s in "$@"; do [[ ${AVAIL[$s]:-} == yes ]] && echo "$s"; done; }

# save_stats: the final counters of every cmpfs system, beside the report.
save_stats() {
	local s
	for s in cmpfs cmpfs-remote cmpfs-memsrv cmpfs-remote-insecure cmpfs-trio; do
		[[ ${AVAIL[$s]:-} == yes ]] && cmp_stats "${MNT[$s]}" >"$OUT/$s.stats"
	done
}
