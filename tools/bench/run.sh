#!/bin/bash
# SPDX-License-Identifier: MIT
#
# cmpfs benchmark harness: cmpfs side by side with what users would
# otherwise use, in one run, as values and ratios (min/median/max over
# rounds, systems interleaved within each round).
#
#   sudo tools/bench/run.sh [--smoke] [--rounds N] [--fig10-rounds N]
#                           [--out DIR] [--only bulk,fio,fig10,ext4,mmap]
#                           [--build DIR] [--budget MINUTES] [--no-install]
#
# Writes DIR/report.md, DIR/results.csv, DIR/*.png, DIR/harness.log.
# Installs its peers with apt-get, starts them itself and tears everything
# down again (mounts, loop devices, swap, zram, cgroups, namespaces,
# daemons), also on failure and on ctrl-C. See tools/bench/README.md.
#
# Exit status: 0 when every measurement that could be attempted ran (slow
# numbers, OOM kills and timeouts are results, not failures); 1 when a
# measurement of an available system failed or the report could not be
# written (the harness is broken); 2 on bad usage; 77 when not root.

set -u -o pipefail
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCROOT=$(cd "$HERE/../.." && pwd)
BUILD=${CMPFS_BUILD:-$SRCROOT/build}
OUT=""
ROUNDS=3
FIG10_ROUNDS=""
ONLY="bulk,fio,fig10,ext4,mmap"
SMOKE=0
INSTALL=1
BUDGET_MIN=""
DISKDIR=${CMPBENCH_DISKDIR:-/var/tmp}

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
	exit "${1:-0}"
}

while (($#)); do
	case $1 in
	--smoke) SMOKE=1 ;;
	--rounds) ROUNDS=$2; shift ;;
	--rounds=*) ROUNDS=${1#*=} ;;
	--fig10-rounds) FIG10_ROUNDS=$2; shift ;;
	--fig10-rounds=*) FIG10_ROUNDS=${1#*=} ;;
	--out) OUT=$2; shift ;;
	--out=*) OUT=${1#*=} ;;
	--only) ONLY=$2; shift ;;
	--only=*) ONLY=${1#*=} ;;
	--build) BUILD=$2; shift ;;
	--build=*) BUILD=${1#*=} ;;
	--diskdir) DISKDIR=$2; shift ;;
	--budget) BUDGET_MIN=$2; shift ;;
	--budget=*) BUDGET_MIN=${1#*=} ;;
	--no-install) INSTALL=0 ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done

for w in ${ONLY//,/ }; do
	case $w in bulk | fio | fig10 | ext4 | mmap) ;;
	*) echo "run.sh: unknown workload '$w' (bulk,fio,fig10,ext4,mmap)" >&2; exit 2 ;;
	esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: bad --rounds" >&2; exit 2; }

if ((EUID != 0)); then
	echo "run.sh: needs root (mounts, loop devices, swap, cgroups, netns); skipping" >&2
	exit 77
fi

# --- sizes ----------------------------------------------------------------
if ((SMOKE)); then
	ROUNDS=1
	FIG10_ROUNDS=1
	BULK_MB=64          # dd/cp file
	FIO_MB=16           # fio file
	FIO_RT=1            # seconds per fio job
	SORT_MB=64          # Figure 10 array
	CG_MB=32            # Figure 10 cgroup limit
	SWAP_MB=64          # swap devices
	EXT4_MB=64          # ext4 image
	EXT4_FIO_MB=16
	MMAP_MB=32
	CMP_LOCAL=512M
	SORT_TIMEOUT=60
else
	BULK_MB=2048
	FIO_MB=256
	FIO_RT=4
	SORT_MB=1024
	CG_MB=512
	SWAP_MB=2048
	EXT4_MB=1024
	EXT4_FIO_MB=256
	MMAP_MB=1024
	CMP_LOCAL=3G
	SORT_TIMEOUT=420
fi
: "${FIG10_ROUNDS:=$((ROUNDS < 2 ? ROUNDS : 2))}"
# Time budget for the whole run: a round (or the Figure 10 part of a round)
# that would not fit, judged by how long the previous round took, is not
# started. 0 = no budget. The report says how many rounds ran.
if [[ -z $BUDGET_MIN ]]; then ((SMOKE)) && BUDGET_MIN=0 || BUDGET_MIN=28; fi
[[ $BUDGET_MIN =~ ^[0-9]+$ ]] || { echo "run.sh: bad --budget" >&2; exit 2; }
NBD_MB=$BULK_MB # the nbdkit disk: the bulk file, swap and ext4 image fit
((SWAP_MB > NBD_MB)) && SWAP_MB=$NBD_MB
((EXT4_MB > NBD_MB)) && EXT4_MB=$NBD_MB
REMOTE_TINY=4M # node A's own pool in the cluster systems

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[[ -n $OUT ]] || OUT=$SRCROOT/bench-results/$STAMP
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
CSV=$OUT/results.csv
LOG=$OUT/harness.log
META=$OUT/meta.txt
: >"$LOG"
echo "round,workload,system,metric,value,unit,status" >"$CSV"
: >"$META"
WORK=$(mktemp -d /tmp/cmpbench.XXXXXX) || exit 1
TAG=cb$$
ERRORS=0
T_START=$(date +%s)

say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$LOG"; }
logc() { echo "+ $*" >>"$LOG"; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# --- cleanup stack -----------------------------------------------------------
# Every resource pushes its own undo command; unwind pops them in reverse
# (swapoff before losetup -d before unmount before killing the daemon).
CLEAN=()
defer() { CLEAN+=("$*"); }
mark() { echo "${#CLEAN[@]}"; }
unwind() {
	local to=${1:-0} i c
	while ((${#CLEAN[@]} > to)); do
		i=$((${#CLEAN[@]} - 1))
		c=${CLEAN[$i]}
		unset "CLEAN[$i]"
		logc "cleanup: $c"
		eval "$c" >>"$LOG" 2>&1 || echo "cleanup failed: $c" >>"$LOG"
	done
}
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	unwind 0
	rm -rf "$WORK"
	exit "$rc"
}
trap on_exit EXIT
# Long commands run in the background and are waited for, so a signal is
# handled at once: the trap stops the current command, then cleans up.
CHILD=""
runbg() {
	local rc
	"$@" &
	CHILD=$!
	wait "$CHILD"
	rc=$?
	CHILD=""
	return $rc
}
trap 'say "interrupted"; [[ -n $CHILD ]] && kill -TERM "$CHILD" 2>/dev/null; exit 130' INT TERM

# Stop a daemon we started, by its pid only.
kill_wait() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

is_mounted() { awk -v m="$1" '$5 == m {f=1} END {exit !f}' /proc/self/mountinfo; }

fuse_abort() {
	local mnt=$1 dev
	dev=$(awk -v m="$mnt" '$5 == m {d=$3} END {print d}' /proc/self/mountinfo)
	[[ -n $dev ]] || return 0
	[[ -d /sys/fs/fuse/connections/${dev#*:} ]] ||
		mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null
	echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort" 2>/dev/null
}

# Unmount a FUSE mount; abort the connection if the daemon hangs.
fuse_umount() {
	local mnt=$1
	is_mounted "$mnt" || return 0
	timeout 20 fusermount3 -u "$mnt" 2>/dev/null && return 0
	timeout 20 umount "$mnt" 2>/dev/null && return 0
	fuse_abort "$mnt"
	umount -l "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
}

wait_mount() {
	local mnt=$1 pid=${2:-} i
	for i in $(seq 300); do
		is_mounted "$mnt" && return 0
		[[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

wait_port() {
	local host=$1 port=$2 i
	for i in $(seq 900); do
		(echo >"/dev/tcp/$host/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

free_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
	done
	echo 20999
}

now_ns() { date +%s%N; }
ELAPSED_NS=0
# timed CMD...: run, log, set ELAPSED_NS; returns CMD's status.
timed() {
	local t0 t1 rc
	logc "$*"
	t0=$(now_ns)
	runbg "$@" >>"$LOG" 2>&1
	rc=$?
	t1=$(now_ns)
	ELAPSED_NS=$((t1 - t0))
	return $rc
}
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN {printf "%.1f", b * 1000 / ns}'; }
secs() { awk -v ns="$1" 'BEGIN {printf "%.3f", ns / 1e9}'; }

ROUND=0
WL=""
record() { # SYSTEM METRIC VALUE UNIT [STATUS]
	echo "$ROUND,$WL,$1,$2,$3,$4,${5:-ok}" >>"$CSV"
}
fail() { # SYSTEM METRIC UNIT WHY
	record "$1" "$2" "" "$3" error
	say "  ERROR $WL/$1/$2: $4"
	ERRORS=$((ERRORS + 1))
}

# Drop a file's clean page-cache pages so a read really reaches the FS.
drop_file_cache() { dd if="$1" iflag=nocache count=0 status=none 2>/dev/null; }

# Rotate a list by N: systems interleaved, a different one first each round.
rotate() {
	local n=$1; shift
	local a=("$@") k=${#a[@]} i
	((k)) || return 0
	for ((i = 0; i < k; i++)); do echo "${a[$(((i + n) % k))]}"; done
}

wants() { [[ ,$ONLY, == *,$1,* ]]; }

# --- packages -----------------------------------------------------------------
need_cmd_pkg=(
	"fio:fio" "nbdkit:nbdkit" "nbdfuse:libnbd-bin" "sshfs:sshfs"
	"/usr/sbin/sshd:openssh-server" "ssh-keygen:openssh-client"
	"gnuplot:gnuplot-nox" "getfattr:attr" "mkfs.ext4:e2fsprogs"
	"losetup:mount" "zramctl:util-linux" "python3:python3" "cc:gcc"
	"pkg-config:pkg-config" "fusermount3:fuse3" "ip:iproute2"
	"nsenter:util-linux" "ss:iproute2" "bc:bc"
)
install_packages() {
	local pkgs=() e cmd pkg
	for e in "${need_cmd_pkg[@]}"; do
		cmd=${e%%:*}
		pkg=${e#*:}
		command -v "$cmd" >/dev/null 2>&1 || pkgs+=("$pkg")
	done
	pkg-config --exists fuse3 2>/dev/null || pkgs+=(libfuse3-dev)
	[[ -e /usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so ]] ||
		ls /usr/lib/*/nbdkit/plugins/nbdkit-memory-plugin.so >/dev/null 2>&1 ||
		pkgs+=(nbdkit)
	((${#pkgs[@]})) || return 0
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
	if ((!INSTALL)); then
		say "missing packages (not installing: --no-install): ${pkgs[*]}"
		return 0
	fi
	say "installing: ${pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
		install -y --no-install-recommends "${pkgs[@]}" >>"$LOG" 2>&1 ||
		{ apt-get -o DPkg::Lock::Timeout=600 update >>"$LOG" 2>&1 &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
				install -y --no-install-recommends "${pkgs[@]}" >>"$LOG" 2>&1; } ||
		say "apt-get install failed; systems that need them are reported not available"
}

# --- helpers (C) ----------------------------------------------------------------
BIN=$WORK/bin
build_helpers() {
	mkdir -p "$BIN"
	local h src
	for h in fusefloor qsort-inplace mmap-tp; do
		if [[ -x $BUILD/tools/bench/$h && $BUILD/tools/bench/$h -nt $HERE/$h.c ]]; then
			cp "$BUILD/tools/bench/$h" "$BIN/$h"
			continue
		fi
		src=$HERE/$h.c
		if [[ $h == fusefloor ]]; then
			cc -O2 -Wall $(pkg-config --cflags fuse3 2>/dev/null) -o "$BIN/$h" "$src" \
				$(pkg-config --libs fuse3 2>/dev/null) -lpthread >>"$LOG" 2>&1
		else
			cc -O2 -Wall -o "$BIN/$h" "$src" >>"$LOG" 2>&1
		fi || say "cannot build $h (see harness.log)"
	done
}

# --- systems ------------------------------------------------------------------
# AVAIL[sys] is "yes" or why not; MNT[sys] its mount point.
declare -A AVAIL MNT DPIDS
ALL_SYSTEMS=(cmpfs cmpfs-remote cmpfs-memsrv tmpfs fusefloor nbdfuse sshfs)
declare -A DESC=(
	[cmpfs]="cmpfs, pool local (one node)"
	[cmpfs-remote]="cmpfs, blocks on a second cmpfs node (netns, TCP over veth)"
	[cmpfs-memsrv]="cmpfs, blocks on a cmp-memserver (netns, TCP over veth)"
	[tmpfs]="tmpfs (local-memory ceiling)"
	[fusefloor]="trivial malloc-backed FUSE daemon, direct_io (FUSE floor)"
	[nbdfuse]="nbdkit memory plugin over TCP loopback, read through nbdfuse"
	[sshfs]="sshfs to a loopback sshd onto a tmpfs directory"
	[disk]="file on the local disk ($DISKDIR)"
	[baseline]="no memory limit"
	[mapper]="array is a MAP_SHARED mapping of a /cmp file"
	[swapper]="swap on a loop device over a /cmp file"
	[diskswap]="swap file on the local disk"
	[zramswap]="swap on a loop device over zram (lz4)"
	[nbdswap]="swap on a loop device over an nbdfuse file"
)
CMPFS=$BUILD/fs/cmpfs
MANAGER=$BUILD/manager/cmp-manager
MEMSERVER=$BUILD/memserver/cmp-memserver
CMPCTL=$BUILD/tools/cmpctl

mnt_dir() { mkdir -p "$WORK/mnt/$1" && echo "$WORK/mnt/$1"; }

up_cmpfs() {
	local m pid
	[[ -x $CMPFS ]] || { AVAIL[cmpfs]="not built ($CMPFS missing)"; return; }
	m=$(mnt_dir cmpfs)
	"$CMPFS" none "$m" -f -o "local=$CMP_LOCAL,log=$OUT/cmpfs.log" >>"$LOG" 2>&1 &
	pid=$!
	defer "kill_wait $pid"
	defer "fuse_umount $m"
	DPIDS[cmpfs]=$pid
	if wait_mount "$m" "$pid"; then
		AVAIL[cmpfs]=yes MNT[cmpfs]=$m
	else
		AVAIL[cmpfs]="failed to mount (see cmpfs.log)"
		ERRORS=$((ERRORS + 1))
	fi
}

up_fusefloor() {
	local m pid
	[[ -x $BIN/fusefloor ]] || { AVAIL[fusefloor]="not built (libfuse3-dev missing?)"; return; }
	m=$(mnt_dir fusefloor)
	# single-threaded: on this machine it is the faster loop (512 B pread
	# p50 ~7-10 us against ~30-40 us with libfuse 3.14's loop_mt)
	"$BIN/fusefloor" "$m" -f -s >>"$LOG" 2>&1 &
	pid=$!
	defer "kill_wait $pid"
	defer "fuse_umount $m"
	DPIDS[fusefloor]=$pid
	if wait_mount "$m" "$pid"; then
		AVAIL[fusefloor]=yes MNT[fusefloor]=$m
	else
		AVAIL[fusefloor]="failed to mount"
		ERRORS=$((ERRORS + 1))
	fi
}

up_tmpfs() {
	local m
	m=$(mnt_dir tmpfs)
	if mount -t tmpfs -o "size=$((BULK_MB * 2 + 256))M" "$TAG-tmpfs" "$m"; then
		defer "umount -l $m"
		AVAIL[tmpfs]=yes MNT[tmpfs]=$m
	else
		AVAIL[tmpfs]="mount failed"
		ERRORS=$((ERRORS + 1))
	fi
}

up_nbdfuse() {
	local m port pid fpid
	command -v nbdkit >/dev/null && command -v nbdfuse >/dev/null ||
		{ AVAIL[nbdfuse]="not installed (nbdkit, libnbd-bin)"; return; }
	m=$(mnt_dir nbdfuse)
	port=$(free_port)
	nbdkit -f --swap -i 127.0.0.1 -p "$port" memory "${NBD_MB}M" \
		allocator=malloc,mlock=true >>"$LOG" 2>&1 &
	pid=$!
	defer "kill_wait $pid"
	if ! wait_port 127.0.0.1 "$port"; then
		AVAIL[nbdfuse]="nbdkit did not start"
		ERRORS=$((ERRORS + 1))
		return
	fi
	nbdfuse "$m/disk" "nbd://127.0.0.1:$port" >>"$LOG" 2>&1 &
	fpid=$!
	DPIDS[nbdfuse]="$pid $fpid"
	defer "kill_wait $fpid"
	defer "fuse_umount $m"
	if wait_mount "$m" "$fpid" && [[ -f $m/disk ]]; then
		AVAIL[nbdfuse]=yes MNT[nbdfuse]=$m
		echo "$pid" >"$WORK/nbdkit.pid"
	else
		AVAIL[nbdfuse]="nbdfuse failed to mount"
		ERRORS=$((ERRORS + 1))
	fi
}

up_sshfs() {
	local d=$WORK/ssh m r port pid spid i
	command -v sshfs >/dev/null && [[ -x /usr/sbin/sshd ]] ||
		{ AVAIL[sshfs]="not installed (sshfs, openssh-server)"; return; }
	mkdir -p "$d"
	chmod 700 "$d"
	m=$(mnt_dir sshfs)
	r=$(mnt_dir sshfs-remote)
	mount -t tmpfs -o "size=$((BULK_MB * 2 + 256))M" "$TAG-sshtmp" "$r" ||
		{ AVAIL[sshfs]="tmpfs for sshd failed"; return; }
	defer "umount -l $r"
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
		mkdir -p /run/sshd && defer "rmdir /run/sshd"
	fi
	/usr/sbin/sshd -f "$d/sshd_config" -D -e >>"$LOG" 2>&1 &
	pid=$!
	defer "kill_wait $pid"
	if ! wait_port 127.0.0.1 "$port"; then
		AVAIL[sshfs]="sshd did not start"
		ERRORS=$((ERRORS + 1))
		return
	fi
	sshfs -f -p "$port" -o "IdentityFile=$d/client,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR" \
		"root@127.0.0.1:$r" "$m" >>"$LOG" 2>&1 &
	spid=$!
	DPIDS[sshfs]="$pid $spid"
	defer "kill_wait $spid"
	defer "fuse_umount $m"
	if wait_mount "$m" "$spid"; then
		AVAIL[sshfs]=yes MNT[sshfs]=$m
	else
		AVAIL[sshfs]="sshfs failed to mount"
		ERRORS=$((ERRORS + 1))
	fi
}

# Cluster systems: node A (this mount, tiny local pool) in netns A, the
# manager and the block holders in netns B, joined by a veth pair.
NSA="" NSB="" VETHA=""
netns_up() {
	[[ -n $NSA ]] && return 0
	NSA=${TAG}A NSB=${TAG}B VETHA=${TAG}a
	ip netns add "$NSA" || return 1
	defer "ip netns del $NSA"
	ip netns add "$NSB" || return 1
	defer "ip netns del $NSB"
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

cluster_check() {
	[[ -x $MANAGER ]] || { echo "not available in this build ($MANAGER missing)"; return 1; }
	[[ -x $MEMSERVER ]] || { echo "not available in this build ($MEMSERVER missing)"; return 1; }
	[[ -x $CMPCTL ]] || { echo "not available in this build ($CMPCTL missing)"; return 1; }
	return 0
}

# up_cluster SYSTEM KIND(remote|memsrv) PORTBASE
up_cluster() {
	local sys=$1 kind=$2 pb=$3 why m key mgr pid
	if ! why=$(cluster_check); then AVAIL[$sys]=$why; return; fi
	if ! netns_up; then
		AVAIL[$sys]="cannot create network namespaces"
		ERRORS=$((ERRORS + 1))
		return
	fi
	key=$WORK/cluster.key
	[[ -f $key ]] || "$CMPCTL" keygen "$key" >>"$LOG" 2>&1 ||
		{ AVAIL[$sys]="cmpctl keygen failed"; ERRORS=$((ERRORS + 1)); return; }
	mgr=tcp://10.99.0.2:$pb
	in_ns "$NSB" "$MANAGER" --listen "$mgr" --key "$key" >>"$OUT/$sys-manager.log" 2>&1 &
	pid=$!
	DPIDS[$sys]=$pid
	defer "kill_wait $pid"
	if ! in_ns "$NSB" bash -c "$(declare -f wait_port); wait_port 10.99.0.2 $pb"; then
		AVAIL[$sys]="cmp-manager did not start (see $sys-manager.log)"
		ERRORS=$((ERRORS + 1))
		return
	fi
	if [[ $kind == remote ]]; then
		m=$(mnt_dir "$sys-nodeB")
		in_ns "$NSB" "$CMPFS" none "$m" -f -o \
			"local=$CMP_LOCAL,manager=$mgr,listen=tcp://10.99.0.2:$((pb + 1)),key=$key,log=$OUT/$sys-nodeB.log" \
			>>"$LOG" 2>&1 &
		pid=$!
	else
		in_ns "$NSB" "$MEMSERVER" --manager "$mgr" --listen "tcp://10.99.0.2:$((pb + 1))" \
			--key "$key" --ram "$CMP_LOCAL" >>"$OUT/$sys-memserver.log" 2>&1 &
		pid=$!
		m=""
	fi
	DPIDS[$sys]+=" $pid"
	defer "kill_wait $pid"
	[[ -n $m ]] && defer "fuse_umount $m"
	if [[ -n $m ]] && ! wait_mount "$m" "$pid"; then
		AVAIL[$sys]="node B cmpfs failed to start (see $sys-nodeB.log)"
		ERRORS=$((ERRORS + 1))
		return
	fi
	if [[ -z $m ]] && ! in_ns "$NSB" bash -c "$(declare -f wait_port); wait_port 10.99.0.2 $((pb + 1))"; then
		AVAIL[$sys]="cmp-memserver did not start (see $sys-memserver.log)"
		ERRORS=$((ERRORS + 1))
		return
	fi
	sleep 1 # let node B / the memserver register with the manager
	m=$(mnt_dir "$sys")
	in_ns "$NSA" "$CMPFS" none "$m" -f -o \
		"local=$REMOTE_TINY,manager=$mgr,listen=tcp://10.99.0.1:$((pb + 2)),key=$key,log=$OUT/$sys-nodeA.log" \
		>>"$LOG" 2>&1 &
	pid=$!
	DPIDS[$sys]+=" $pid"
	defer "kill_wait $pid"
	defer "fuse_umount $m"
	if wait_mount "$m" "$pid"; then
		AVAIL[$sys]=yes MNT[$sys]=$m
	else
		AVAIL[$sys]="node A cmpfs failed to start (see $sys-nodeA.log)"
		ERRORS=$((ERRORS + 1))
	fi
}

cmp_stats() { getfattr -n user.cmpfs.stats --only-values "$1" 2>/dev/null; }
veth_bytes() {
	ip netns exec "$NSA" sh -c "cat /sys/class/net/$VETHA/statistics/rx_bytes /sys/class/net/$VETHA/statistics/tx_bytes" 2>/dev/null |
		awk '{s += $1} END {print s + 0}'
}

# --- workload 1: bulk staging ---------------------------------------------------
SRC=""
bulk_file() { # the file a system stages into
	if [[ $1 == nbdfuse ]]; then echo "${MNT[$1]}/disk"; else echo "${MNT[$1]}/bulk.dat"; fi
}

w_bulk() {
	local s=$1 f out=$WORK/src/out.dat bytes=$((BULK_MB << 20)) extra=""
	f=$(bulk_file "$s")
	[[ $s == nbdfuse ]] && extra=",notrunc" || rm -f "$f"
	if timed dd if="$SRC" of="$f" bs=1M count="$BULK_MB" conv=fsync$extra; then
		record "$s" dd_write "$(mbps $bytes $ELAPSED_NS)" MB/s
	else fail "$s" dd_write MB/s "dd write failed"; fi
	drop_file_cache "$f"
	if timed dd if="$f" of=/dev/null bs=1M count="$BULK_MB" iflag=direct ||
		{ drop_file_cache "$f"; timed dd if="$f" of=/dev/null bs=1M count="$BULK_MB"; }; then
		record "$s" dd_read "$(mbps $bytes $ELAPSED_NS)" MB/s
	else fail "$s" dd_read MB/s "dd read failed"; fi
	[[ $s == nbdfuse ]] || rm -f "$f"
	if timed bash -c 'cp "$1" "$2" && sync "$2"' _ "$SRC" "$f"; then
		record "$s" cp_in "$(mbps $bytes $ELAPSED_NS)" MB/s
	else fail "$s" cp_in MB/s "cp in failed"; fi
	drop_file_cache "$f"
	rm -f "$out"
	if timed cp "$f" "$out"; then
		record "$s" cp_out "$(mbps $bytes $ELAPSED_NS)" MB/s
		[[ $(stat -c %s "$out") == "$bytes" ]] || fail "$s" cp_out MB/s "copied size differs"
	else fail "$s" cp_out MB/s "cp out failed"; fi
	rm -f "$out"
	[[ $s == nbdfuse ]] || rm -f "$f"
}

# Pin a system's daemons (and their children: sshd's session, nsenter's
# child) to CPU 0, or give them all CPUs back.
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

# --- workload 2: small direct access (fio psync, one job) ----------------------
fio_parse() { # JSONFILE -> "iops p50_us p99_us p999_us ios mbps"
	python3 - "$1" <<'EOF'
import json, sys
txt = open(sys.argv[1]).read()
d = json.loads(txt[txt.index('{'):])
j = d["jobs"][0]
r = j["read"] if j["read"]["io_bytes"] else j["write"]
p = r["clat_ns"].get("percentile", {})
g = lambda k: p.get(k, 0) / 1000.0
print("%.0f %.2f %.2f %.2f %d %.1f" % (r["iops"], g("50.000000"), g("99.000000"),
      g("99.900000"), r["total_ios"], r["bw_bytes"] / 1e6))
EOF
}

w_fio() {
	local s=$1 f bs js v iops p50 p99 p999 ios mb n0 n1 k conv=fsync
	if [[ $s == nbdfuse ]]; then f=${MNT[$s]}/disk conv=fsync,notrunc; else f=${MNT[$s]}/fio.dat; fi
	[[ $s == nbdfuse ]] || rm -f "$f"
	if ! timed dd if="$SRC" of="$f" bs=1M count="$FIO_MB" conv=$conv; then
		[[ $s == nbdfuse ]] || { fail "$s" fio_prepare "" "cannot write the fio file"; return; }
	fi
	for bs in 512 4096 512pin 4096pin; do
		js=$WORK/fio.json
		pin=()
		if [[ $bs == *pin ]]; then # everything on CPU 0: no cross-CPU wake-ups
			pin=(--cpus_allowed=0)
			pin_daemons "$s" 0
		fi
		[[ $s == cmpfs-* ]] && { n0=$(veth_bytes); cmp_stats "${MNT[$s]}" >"$WORK/st0"; }
		if timed fio --name=rr --filename="$f" --rw=randread --bs="${bs%pin}" \
			--ioengine=psync --numjobs=1 --size="${FIO_MB}M" --direct=1 \
			--runtime="$FIO_RT" --time_based --invalidate=1 "${pin[@]}" \
			--output-format=json --output="$js" && v=$(fio_parse "$js"); then
			read -r iops p50 p99 p999 ios mb <<<"$v"
			record "$s" "rand${bs}_iops" "$iops" IOPS
			record "$s" "rand${bs}_p50" "$p50" us
			record "$s" "rand${bs}_p99" "$p99" us
			record "$s" "rand${bs}_p99.9" "$p999" us
			if [[ $s == cmpfs-* && $bs == 512 ]] && ((ios > 0)); then
				n1=$(veth_bytes)
				cmp_stats "${MNT[$s]}" >"$WORK/st1"
				record "$s" wire_bytes_per_512B_read \
					"$(awk -v a="$n0" -v b="$n1" -v n="$ios" 'BEGIN {printf "%.1f", (b - a) / n}')" \
					B/read
				# every daemon counter that moved, per read (net_*, *_remote_*)
				while read -r k v; do
					record "$s" "ctr_${k}_per_512B_read" "$v" /read
				done < <(awk -v n="$ios" 'NR == FNR {a[$1] = $2; next}
					($1 ~ /net|remote|wire|tx|rx/) && ($2 - a[$1]) > 0 {printf "%s %.1f\n", $1, ($2 - a[$1]) / n}' \
					"$WORK/st0" "$WORK/st1")
			fi
		else
			fail "$s" "rand${bs}_iops" IOPS "fio failed"
		fi
		[[ $bs == *pin ]] && pin_daemons "$s" "$ALLCPUS"
	done
	[[ $s == nbdfuse ]] || rm -f "$f"
}

# --- workload 3: CMP Figure 10 -------------------------------------------------
CGROOT=/sys/fs/cgroup/memory
oom_kills() { awk '$1 == "oom_kill" {print $2}' "$1/memory.oom_control" 2>/dev/null || echo 0; }

# swap_on DEV: only our swap may be active while a set-up runs.
swap_on() {
	mkswap "$1" >>"$LOG" 2>&1 && swapon "$1" >>"$LOG" 2>&1 && defer "swapoff $1"
}
LOOPDEV=""
LOOPS_MADE=()
loop_on() { # FILE [losetup options] -> LOOPDEV (not in $(): it defers)
	local f=$1; shift
	LOOPDEV=$(losetup -f --show "$@" "$f" 2>>"$LOG") || return 1
	LOOPS_MADE+=("$LOOPDEV")
	defer "losetup -d $LOOPDEV"
}

fig10_setup() { # SETUP -> sets MAPFILE; returns non-zero if unavailable
	local set=$1 dev f z
	MAPFILE=""
	case $set in
	baseline) return 0 ;;
	mapper)
		[[ ${AVAIL[cmpfs]:-} == yes ]] || return 1
		MAPFILE=${MNT[cmpfs]}/fig10-array
		defer "rm -f $MAPFILE"
		;;
	swapper)
		[[ ${AVAIL[cmpfs]:-} == yes ]] || return 1
		f=${MNT[cmpfs]}/fig10-swap
		truncate -s "${SWAP_MB}M" "$f" || return 1
		defer "rm -f $f"
		loop_on "$f" --direct-io=on || return 1
		swap_on "$LOOPDEV"
		;;
	diskswap)
		f=$DISKDIR/$TAG-swapfile
		defer "rm -f $f"
		fallocate -l "${SWAP_MB}M" "$f" || dd if=/dev/zero of="$f" bs=1M count="$SWAP_MB" status=none || return 1
		chmod 600 "$f"
		swap_on "$f" && return 0
		say "  swapon on a file on $DISKDIR failed; using a loop device over it"
		loop_on "$f" --direct-io=on || return 1
		swap_on "$LOOPDEV"
		;;
	zramswap)
		modprobe zram 2>/dev/null
		z=$(zramctl --find --size "${SWAP_MB}M" --algorithm lz4 2>>"$LOG") || return 1
		defer "zramctl --reset $z"
		loop_on "$z" || return 1
		swap_on "$LOOPDEV"
		;;
	nbdswap)
		[[ ${AVAIL[nbdfuse]:-} == yes ]] || return 1
		loop_on "${MNT[nbdfuse]}/disk" --direct-io=on --sizelimit "$((SWAP_MB << 20))" || return 1
		swap_on "$LOOPDEV"
		;;
	esac
}

fig10_run() { # SETUP
	local set=$1 m cg k0 k1 rc line sort_s total_s
	m=$(mark)
	if ! fig10_setup "$set"; then
		unwind "$m"
		if [[ $set == mapper || $set == swapper || $set == nbdswap ]] &&
			[[ ${AVAIL[cmpfs]:-} != yes || ($set == nbdswap && ${AVAIL[nbdfuse]:-} != yes) ]]; then
			record "$set" sort_s "" s na
		else
			fail "$set" sort_s s "set-up failed"
		fi
		return
	fi
	cg=$CGROOT/$TAG-$set-r$ROUND
	mkdir "$cg" || { unwind "$m"; fail "$set" sort_s s "cannot create cgroup"; return; }
	defer "rmdir $cg"
	[[ $set == baseline ]] || echo $((CG_MB << 20)) >"$cg/memory.limit_in_bytes"
	k0=$(oom_kills "$cg")
	logc "qsort-inplace ${SORT_MB}M $MAPFILE in $cg"
	runbg timeout -k 10 "$SORT_TIMEOUT" bash -c 'echo $$ >"$1/tasks" && shift && exec "$@"' _ \
		"$cg" "$BIN/qsort-inplace" "${SORT_MB}M" ${MAPFILE:+"$MAPFILE"} >"$WORK/sort.out" 2>>"$LOG"
	rc=$?
	line=$(cat "$WORK/sort.out")
	k1=$(oom_kills "$cg")
	echo "rc=$rc $line oom_kill=$((k1 - k0))" >>"$LOG"
	record "$set" oom_kills "$((k1 - k0))" count
	if ((rc == 0)); then
		sort_s=$(sed -n 's/.*sort_s=\([0-9.]*\).*/\1/p' <<<"$line")
		total_s=$(sed -n 's/.*total_s=\([0-9.]*\).*/\1/p' <<<"$line")
		record "$set" sort_s "$sort_s" s
		record "$set" total_s "$total_s" s
	elif ((k1 > k0)); then
		record "$set" sort_s "" s oom
	elif ((rc == 124 || rc == 137)); then
		record "$set" sort_s "" s timeout
	else
		fail "$set" sort_s s "sort exited $rc"
	fi
	unwind "$m"
}

# --- workload 4: ext4 on a loop device (fio instead of IOzone) ----------------
w_ext4() {
	local s=$1 img dev mp m rw js v iops p50 p99 p999 ios mb
	m=$(mark)
	case $s in
	disk) img=$DISKDIR/$TAG-ext4.img ;;
	nbdfuse) img=${MNT[$s]}/disk ;;
	*) img=${MNT[$s]}/ext4.img ;;
	esac
	if [[ $s != nbdfuse ]]; then
		rm -f "$img"
		defer "rm -f $img"
		if [[ $s == disk ]]; then fallocate -l "${EXT4_MB}M" "$img"; else truncate -s "${EXT4_MB}M" "$img"; fi ||
			{ unwind "$m"; fail "$s" ext4_setup "" "cannot create image"; return; }
	fi
	loop_on "$img" --direct-io=on --sizelimit "$((EXT4_MB << 20))" ||
		{ unwind "$m"; fail "$s" ext4_setup "" "losetup failed"; return; }
	dev=$LOOPDEV
	mp=$WORK/mnt/ext4-$s
	mkdir -p "$mp"
	if ! timed mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev" ||
		! mount -o noatime "$dev" "$mp"; then
		unwind "$m"
		fail "$s" ext4_setup "" "mkfs/mount failed"
		return
	fi
	defer "umount $mp"
	for rw in randread randwrite read write; do
		js=$WORK/fio.json
		if timed fio --name=e4 --directory="$mp" --filename=f --rw="$rw" --bs=16k \
			--ioengine=psync --numjobs=1 --size="${EXT4_FIO_MB}M" --direct=1 \
			--runtime="$FIO_RT" --time_based --output-format=json --output="$js" &&
			v=$(fio_parse "$js"); then
			read -r iops p50 p99 p999 ios mb <<<"$v"
			record "$s" "ext4_${rw}_MBps" "$mb" MB/s
			record "$s" "ext4_${rw}_p50" "$p50" us
		else
			fail "$s" "ext4_${rw}_MBps" MB/s "fio failed"
		fi
	done
	unwind "$m"
}

# --- workload 5: mmap as memory -------------------------------------------------
w_mmap() {
	local s=$1 f line k v
	f=${MNT[$s]}/mmap.dat
	rm -f "$f"
	logc "mmap-tp $f $MMAP_MB"
	if line=$("$BIN/mmap-tp" "$f" "$MMAP_MB" 2>>"$LOG"); then
		echo "$line" >>"$LOG"
		for kv in $line; do
			k=${kv%%=*} v=${kv#*=}
			record "$s" "mmap_${k%_MBps}" "$v" MB/s
		done
	else
		fail "$s" mmap_first_touch MB/s "mmap-tp failed"
	fi
	rm -f "$f"
}

# --- main -------------------------------------------------------------------
say "cmpfs benchmark harness: out=$OUT rounds=$ROUNDS fig10_rounds=$FIG10_ROUNDS only=$ONLY smoke=$SMOKE"
install_packages
build_helpers
for h in fusefloor qsort-inplace mmap-tp; do
	[[ -x $BIN/$h ]] || { say "helper $h missing: harness broken"; ERRORS=$((ERRORS + 1)); }
done
command -v python3 >/dev/null || { say "python3 missing: cannot write the report"; exit 1; }

meta started "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta host "$(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
meta cmpfs "$(git -C "$SRCROOT" describe --always --dirty 2>/dev/null) ($CMPFS)"
meta rounds "$ROUNDS (Figure 10: $FIG10_ROUNDS)"
meta mode "$([[ $SMOKE == 1 ]] && echo smoke || echo full)"
meta sizes "bulk ${BULK_MB} MiB; fio file ${FIO_MB} MiB, ${FIO_RT} s per job; sort ${SORT_MB} MiB in a ${CG_MB} MiB cgroup, swap ${SWAP_MB} MiB; ext4 image ${EXT4_MB} MiB, fio file ${EXT4_FIO_MB} MiB; mmap ${MMAP_MB} MiB"
meta versions "fio $(fio --version 2>/dev/null); nbdkit $(nbdkit --version 2>/dev/null | awk '{print $2}'); sshfs $(sshfs --version 2>&1 | awk '/SSHFS version/ {print $3}'); $(/usr/sbin/sshd -V 2>&1 | head -1 | cut -d, -f1)"
if [[ -n $(tail -n +2 /proc/swaps) ]]; then
	meta warning "swap was already active before the run (not ours): $(tail -n +2 /proc/swaps | awk '{print $1}' | xargs)"
fi

# Systems needed by the selected workloads.
need=()
wants bulk || wants fio && need+=(cmpfs cmpfs-remote cmpfs-memsrv tmpfs fusefloor nbdfuse sshfs)
wants fig10 && need+=(cmpfs nbdfuse)
wants ext4 && need+=(cmpfs cmpfs-remote cmpfs-memsrv tmpfs fusefloor nbdfuse)
wants mmap && need+=(cmpfs cmpfs-remote cmpfs-memsrv tmpfs)
mapfile -t need < <(printf '%s\n' "${need[@]}" | awk '!s[$0]++')

mkdir -p "$WORK/src" "$WORK/mnt"
if wants bulk || wants fio; then
	mount -t tmpfs -o "size=$((BULK_MB * 2 + 256))M" "$TAG-src" "$WORK/src" || exit 1
	defer "umount -l $WORK/src"
	SRC=$WORK/src/src.dat
	say "generating ${BULK_MB} MiB of random source data"
	head -c "$((BULK_MB << 20))" /dev/urandom >"$SRC" || exit 1
fi

PB=17000
for s in "${need[@]}"; do
	say "starting $s"
	case $s in
	cmpfs) up_cmpfs ;;
	fusefloor) up_fusefloor ;;
	tmpfs) up_tmpfs ;;
	nbdfuse) up_nbdfuse ;;
	sshfs) up_sshfs ;;
	cmpfs-remote) up_cluster cmpfs-remote remote $PB ;;
	cmpfs-memsrv) up_cluster cmpfs-memsrv memsrv $((PB + 100)) ;;
	esac
	say "  $s: ${AVAIL[$s]}"
	meta "avail:$s" "${AVAIL[$s]}"
	[[ ${AVAIL[$s]} == yes ]] && meta "desc:$s" "${DESC[$s]}"
done
wants ext4 && { AVAIL[disk]=yes; meta avail:disk yes; meta desc:disk "${DESC[disk]}"; }

up() { local s; for s in "$@"; do [[ ${AVAIL[$s]:-} == yes ]] && echo "$s"; done; }

declare -A DUR # seconds each workload took in the last round it ran
RUNS_DONE=0 FIG10_DONE=0
wl_start() { WL=$1; WL_T0=$(date +%s); }
wl_end() { DUR[$WL]=$(($(date +%s) - WL_T0)); }
fits() { # SECONDS: would that much more work end inside the budget?
	((BUDGET_MIN == 0)) && return 0
	(($(date +%s) - T_START + $1 + 60 <= BUDGET_MIN * 60))
}
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	DO_FIG10=0
	wants fig10 && ((ROUND <= FIG10_ROUNDS)) && DO_FIG10=1
	if ((ROUND > 1)); then
		rest=0
		for w in bulk fio ext4 mmap; do wants $w && rest=$((rest + ${DUR[$w]:-0})); done
		if ((DO_FIG10)) && ! fits $((rest + ${DUR[fig10]:-0})); then
			DO_FIG10=0
			say "time budget (${BUDGET_MIN} min): no Figure 10 in round $ROUND"
			meta budget "Figure 10 stopped after $FIG10_DONE rounds (time budget ${BUDGET_MIN} min)"
		fi
		if ! fits "$rest"; then
			say "time budget (${BUDGET_MIN} min): stopping after $RUNS_DONE rounds"
			meta budget "stopped after $RUNS_DONE of $ROUNDS rounds (time budget ${BUDGET_MIN} min; Figure 10: $FIG10_DONE rounds)"
			break
		fi
	fi
	say "=== round $ROUND of $ROUNDS"
	if wants bulk; then
		wl_start bulk
		mapfile -t sys < <(up cmpfs cmpfs-remote cmpfs-memsrv tmpfs fusefloor nbdfuse sshfs)
		for s in $(rotate "$ROUND" "${sys[@]}"); do
			say "bulk: $s"
			w_bulk "$s"
		done
		wl_end
	fi
	if wants fio; then
		wl_start fio
		mapfile -t sys < <(up cmpfs cmpfs-remote cmpfs-memsrv tmpfs fusefloor nbdfuse sshfs)
		for s in $(rotate "$ROUND" "${sys[@]}"); do
			say "fio: $s"
			w_fio "$s"
		done
		wl_end
	fi
	if ((DO_FIG10)); then
		wl_start fig10
		for s in $(rotate "$ROUND" baseline mapper swapper diskswap zramswap nbdswap); do
			say "fig10: $s"
			fig10_run "$s"
		done
		wl_end
		FIG10_DONE=$ROUND
	fi
	if wants ext4; then
		wl_start ext4
		mapfile -t sys < <(up cmpfs cmpfs-remote cmpfs-memsrv disk tmpfs fusefloor nbdfuse)
		for s in $(rotate "$ROUND" "${sys[@]}"); do
			say "ext4: $s"
			w_ext4 "$s"
		done
		wl_end
	fi
	if wants mmap; then
		wl_start mmap
		mapfile -t sys < <(up cmpfs cmpfs-remote cmpfs-memsrv tmpfs)
		for s in $(rotate "$ROUND" "${sys[@]}"); do
			say "mmap: $s"
			w_mmap "$s"
		done
		wl_end
	fi
	RUNS_DONE=$ROUND
done
meta rounds_done "$RUNS_DONE (Figure 10: $FIG10_DONE)"

for s in cmpfs cmpfs-remote cmpfs-memsrv; do
	[[ ${AVAIL[$s]:-} == yes ]] && cmp_stats "${MNT[$s]}" >"$OUT/$s.stats"
done
meta finished "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta duration_s "$(($(date +%s) - T_START))"
meta harness_errors "$ERRORS"

say "tearing down"
unwind 0
# Anything of ours still there after the teardown is a harness bug.
leaks() {
	local d
	grep -F " $WORK/" /proc/self/mountinfo | awk '{print "mount " $5}'
	for d in "${LOOPS_MADE[@]}"; do
		[[ -e /sys/block/${d#/dev/}/loop/backing_file ]] &&
			grep -qF "$d " /proc/swaps && echo "swap $d"
	done
	for d in "${LOOPS_MADE[@]}"; do
		[[ -e /sys/block/${d#/dev/}/loop/backing_file ]] &&
			echo "loop $d ($(cat /sys/block/${d#/dev/}/loop/backing_file))"
	done
	grep -F "$TAG" /proc/swaps | awk '{print "swap " $1}'
	ip netns list 2>/dev/null | grep -F "$TAG" | awk '{print "netns " $1}'
	ls -d "$CGROOT/$TAG"-* 2>/dev/null | sed 's/^/cgroup /'
	for d in $(jobs -p); do kill -0 "$d" 2>/dev/null && echo "process $d"; done
}
LEAKS=$(leaks)
if [[ -n $LEAKS ]]; then
	say "left behind after teardown (harness bug):"
	echo "$LEAKS" | tee -a "$LOG"
	meta leaks "$(echo "$LEAKS" | xargs)"
	ERRORS=$((ERRORS + 1))
fi
say "writing the report"
if ! python3 "$HERE/report.py" "$OUT" >>"$LOG" 2>&1; then
	say "report.py failed (see harness.log)"
	exit 1
fi
say "report: $OUT/report.md ($(ls "$OUT"/*.png 2>/dev/null | wc -l) plots); $ERRORS harness errors; $(($(date +%s) - T_START)) s"
((ERRORS == 0)) || exit 1
exit 0
