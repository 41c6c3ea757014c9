# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The shell library of the multi-node tests: every daemon runs in a network
# namespace of its own, joined by a veth pair to a bridge in a hub
# namespace (10.77.0.0/24), all made by the test and removed by its cleanup
# even when it fails or hits its deadline. Daemons enter only the network
# namespace (nsenter --net), so their FUSE mounts are visible to the test.
#
# Usage:
#     TEST_TIMEOUT=140
#     . "$(dirname "$0")/lib-netns.sh"
#     netns_add mgr 10.77.0.1
#     start_manager mgr
#     start_node n1 11 local=4M
#
# Environment (tests/cluster/meson.build): CMPFS, MANAGER, MEMSERVER, CMPCTL.
# The cleanup stack runs last-in first-out: unmounts (the cmpfs daemons
# exit with them), then the other daemons (TERM, then KILL after 5 s), then
# the namespaces. A test fails when a daemon log holds an unexpected
# "error:" line (ALLOWED_ERRORS, an extended regex, lists expected ones) or
# a sanitizer report.

set -eu -o pipefail

# ---- deadline: re-run under timeout(1), whose TERM runs the cleanup ----
if [ -z "${CMP_NETNS_UNDER_TIMEOUT:-}" ]; then
	export CMP_NETNS_UNDER_TIMEOUT=1
	exec timeout --kill-after=30 "${TEST_TIMEOUT:-140}" "$BASH" "$0" "$@"
fi

TEST_NAME=$(basename "$0" .sh)
TEST_START=$(date +%s%N)
ALLOWED_ERRORS=${ALLOWED_ERRORS:-}
SANITIZER_RE='AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer|runtime error:'
SUF=$(($$ % 100000))	# names of this run's namespaces and links
PREFIX=cmp$SUF
MGR_PORT=7000
BS=${BS:-64K}
T=''
DEFERRED=()
DAEMON_LOGS=()
declare -A PID		# daemon name -> pid
declare -A NS_OF	# daemon name -> namespace short name
declare -A IP_OF	# namespace short name -> address
declare -A MNT_OF	# cmpfs node name -> mount point

log()
{
	printf '[%s %7.2fs] %s\n' "$TEST_NAME" \
		"$(awk -v a="$(date +%s%N)" -v b="$TEST_START" \
			'BEGIN { print (a - b) / 1e9 }')" "$*"
}

fail()
{
	printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

skip()
{
	printf '[%s] SKIP: %s\n' "$TEST_NAME" "$*"
	exit 77
}

requires()
{
	local c

	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "needs '$c'"
	done
}

defer()
{
	local q

	printf -v q '%q ' "$@"
	DEFERRED+=("$q")
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_until DESCRIPTION SECONDS CMD...: poll CMD until it succeeds.
wait_until()
{
	local what=$1 secs=$2 end=$(($(now_ms) + $2 * 1000))

	shift 2
	until "$@"; do
		[ "$(now_ms)" -lt "$end" ] ||
			fail "timed out after ${secs}s waiting for $what"
		sleep 0.05
	done
}

pid_alive()
{
	local st

	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ]
}

pid_dead() { ! pid_alive "$1"; }

# ---- namespaces ----

nsname() { echo "$PREFIX-$1"; }

# in_ns NS CMD...: run CMD in namespace NS's network stack only.
in_ns()
{
	local ns=$1

	shift
	nsenter --net="/run/netns/$(nsname "$ns")" -- "$@"
}

hub_up()
{
	ip netns add "$(nsname hub)"
	defer ip netns del "$(nsname hub)"
	ip -n "$(nsname hub)" link add br0 type bridge
	ip -n "$(nsname hub)" link set br0 up
}

# netns_add NS ADDR: a namespace whose eth0 (ADDR/24) is on the hub bridge.
netns_add()
{
	local ns=$1 addr=$2 full hv

	full=$(nsname "$ns")
	hv="c$SUF$ns"
	hv=${hv:0:15}
	ip netns add "$full"
	defer ip netns del "$full"
	ip -n "$(nsname hub)" link add "$hv" type veth peer name eth0 \
		netns "$full"
	ip -n "$(nsname hub)" link set "$hv" master br0 up
	ip -n "$full" link set lo up
	ip -n "$full" addr add "$addr/24" dev eth0
	ip -n "$full" link set eth0 up
	IP_OF[$ns]=$addr
}

# ---- daemons ----

# start_bg NAME NS CMD...: run CMD in its own session inside NS's network,
# output to $T/NAME.log. Registers the stop.
start_bg()
{
	local name=$1 ns=$2

	shift 2
	: >"$T/$name.log"
	DAEMON_LOGS+=("$T/$name.log")
	setsid nsenter --net="/run/netns/$(nsname "$ns")" -- "$@" \
		>>"$T/$name.log" 2>&1 </dev/null &
	PID[$name]=$!
	NS_OF[$name]=$ns
	defer stop_daemon "$name"
}

# stop_daemon NAME [SIGNAL]: TERM (or SIGNAL), wait 5 s, then KILL.
stop_daemon()
{
	local name=$1 sig=${2:-TERM} pid=${PID[$1]:-0} end

	[ "$pid" != 0 ] || return 0
	PID[$name]=0
	# (bash's "Killed" job notices go to /dev/null with the loop's stderr)
	{
		kill -"$sig" "$pid" || true
		end=$(($(now_ms) + 5000))
		while pid_alive "$pid" && [ "$(now_ms)" -lt "$end" ]; do
			sleep 0.05
		done
		if pid_alive "$pid"; then
			echo "daemon $name (pid $pid) ignored SIG$sig: SIGKILL" >&3
			kill -KILL "$pid" || true
		fi
		wait "$pid" || true
	} 3>&2 2>/dev/null
}

# kill_daemon NAME: SIGKILL now (a crash), and reap it.
kill_daemon()
{
	local pid=${PID[$1]}

	kill -KILL "$pid"
	{ wait "$pid"; } 2>/dev/null || true
	PID[$1]=0
	log "killed $1 (pid $pid) with SIGKILL"
}

# ready_or_fail NAME SECONDS CMD...: wait for CMD; fail with the log when
# the daemon exits first.
ready_or_fail()
{
	local name=$1 secs=$2 end=$(($(now_ms) + $2 * 1000))

	shift 2
	until "$@" >/dev/null 2>&1; do
		if pid_dead "${PID[$name]}"; then
			sed 's/^/    /' "$T/$name.log" >&2
			fail "daemon $name exited before it was ready"
		fi
		[ "$(now_ms)" -lt "$end" ] ||
			fail "daemon $name not ready in ${secs}s"
		sleep 0.05
	done
}

mgr_url() { echo "tcp://${IP_OF[mgr]}:$MGR_PORT"; }

# status_json [NS]: the manager's view, asked from namespace NS.
status_json()
{
	in_ns "${1:-mgr}" "$CMPCTL" status --manager "$(mgr_url)" \
		"${KEY_ARGS[@]}" --json
}

# start_manager [EXTRA_ARGS...]: cmp-manager in namespace mgr.
start_manager()
{
	start_bg manager mgr "$MANAGER" --listen "$(mgr_url)" "${KEY_ARGS[@]}" \
		--heartbeat-ms "${HB_MS:-200}" --dead-after "${DEAD_AFTER:-5}" \
		-f "$@"
	ready_or_fail manager 20 status_json
	log "manager up at $(mgr_url)"
}

# start_memserver NS ID SIZE: a RAM-backed memserver.
start_memserver()
{
	start_bg "$1" "$1" "$MEMSERVER" --manager "$(mgr_url)" \
		--listen "tcp://${IP_OF[$1]}:7100" "${KEY_ARGS[@]}" --ram "$3" \
		--block "$BS" --node-id "$2" -f
	wait_until "memserver $1 registered" 20 node_alive "$2"
	log "memserver $1 (node $2, $3) registered"
}

is_cmpfs_mounted()
{
	awk -v d="$1" '$5 == d && / - fuse\.cmpfs / { f = 1 } END { exit !f }' \
		/proc/self/mountinfo
}

# start_node NS ID OPTS [KEYFILE]: cmpfs on $T/mnt-NS in namespace NS.
start_node()
{
	local ns=$1 id=$2 opts=$3 key=${4:-$T/key} mnt=$T/mnt-$1 key_opt

	mkdir -p "$mnt"
	[ "${CMP_INSECURE:-0}" = 1 ] && key_opt=insecure || key_opt=key=$key
	start_bg "$ns" "$ns" "$CMPFS" none "$mnt" -f -o "$opts,block=$BS,nolock,manager=$(mgr_url),listen=tcp://${IP_OF[$ns]}:7200,$key_opt,node=$id,log=$T/$ns.log"
	MNT_OF[$ns]=$mnt
	ready_or_fail "$ns" 20 is_cmpfs_mounted "$mnt"
	defer umount_node "$ns"
	log "cmpfs $ns (node $id, $opts) mounted on $mnt"
}

# umount_node NS: unmount; a hung mount is detached lazily. The daemon
# exits by itself (its stop_daemon is then a formality).
umount_node()
{
	local mnt=${MNT_OF[$1]} end=$(($(now_ms) + 10000))

	while is_cmpfs_mounted "$mnt"; do
		timeout 10 umount "$mnt" 2>/dev/null && break
		if [ "$(now_ms)" -ge "$end" ]; then
			echo "umount $mnt failed: detaching it" >&2
			umount -l "$mnt" || true
			break
		fi
		sleep 0.1
	done
	[ "${PID[$1]:-0}" = 0 ] || wait_until "cmpfs $1 to exit" 10 \
		pid_dead "${PID[$1]}" || true
}

# ---- counters ----

# stat_of NS NAME: one counter of node NS's mount.
stat_of()
{
	"$CMPCTL" stats "${MNT_OF[$1]}" --json | jq -e ".$2"
}

# node_field ID FIELD: FIELD of node ID in the manager's view.
node_field()
{
	status_json | jq -e ".nodes[] | select(.id == $1) | .$2"
}

node_alive() { [ "$(node_field "$1" alive 2>/dev/null)" = true ]; }

# The manager's view agrees with the nodes' own counters and adds up:
# every owner's LRL is some provider's RLL. Args: the cmpfs namespaces
# whose stats are compared (their node ids are ID_OF[ns]).
declare -A ID_OF
views_settled()
{
	local js ns lrl rll l r

	js=$(status_json) || return 1
	for ns in "$@"; do
		l=$(stat_of "$ns" blocks_LRL) || return 1
		r=$(stat_of "$ns" blocks_RLL) || return 1
		[ "$(jq ".nodes[] | select(.id == ${ID_OF[$ns]}) | .lrl" <<<"$js")" = "$l" ] || return 1
		[ "$(jq ".nodes[] | select(.id == ${ID_OF[$ns]}) | .rll" <<<"$js")" = "$r" ] || return 1
	done
	lrl=$(jq '[.nodes[] | select(.alive) | .lrl] | add' <<<"$js")
	rll=$(jq '[.nodes[] | select(.alive) | .rll] | add' <<<"$js")
	[ "$lrl" = "$rll" ]
}

# show_status: the manager's table, for the log.
show_status()
{
	in_ns mgr "$CMPCTL" status --manager "$(mgr_url)" "${KEY_ARGS[@]}" |
		sed 's/^/    /'
}

# ---- data ----

# make_data FILE MIB: incompressible data.
make_data()
{
	head -c "$(($2 << 20))" /dev/urandom >"$1"
}

# same_by_read A B / same_by_mmap A B: B (on cmpfs) equals A.
same_by_read() { cmp "$1" "$2"; }

same_by_mmap()
{
	python3 - "$1" "$2" <<'EOF'
import hashlib, mmap, os, sys
want = hashlib.sha256(open(sys.argv[1], 'rb').read()).digest()
fd = os.open(sys.argv[2], os.O_RDONLY)
size = os.fstat(fd).st_size
m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
got = hashlib.sha256(m[:]).digest()
m.close()
os.close(fd)
sys.exit(0 if got == want else 1)
EOF
}

# ---- exit ----

check_logs()
{
	local f bad=0 errs

	for f in "${DAEMON_LOGS[@]}"; do
		[ -f "$f" ] || continue
		errs=$(grep -E ': error: ' "$f" || true)
		if [ -n "$ALLOWED_ERRORS" ] && [ -n "$errs" ]; then
			errs=$(grep -Ev "$ALLOWED_ERRORS" <<<"$errs" || true)
		fi
		if [ -n "$errs" ]; then
			echo "unexpected error lines in $(basename "$f"):" >&2
			sed 's/^/    /' <<<"$errs" | head -20 >&2
			bad=1
		fi
		if grep -Eq "$SANITIZER_RE" "$f"; then
			echo "sanitizer report in $(basename "$f")" >&2
			bad=1
		fi
	done
	return $bad
}

on_exit()
{
	local rc=$? i f

	set +e
	trap - EXIT TERM INT HUP
	cd /
	for ((i = ${#DEFERRED[@]} - 1; i >= 0; i--)); do
		eval "${DEFERRED[i]}" ||
			echo "cleanup failed: ${DEFERRED[i]}" >&2
	done
	if [ "$rc" != 77 ]; then
		check_logs || rc=1
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		for f in "${DAEMON_LOGS[@]}"; do
			[ -s "$f" ] || continue
			echo "---- last lines of $(basename "$f") ----"
			tail -n 15 "$f"
		done
	fi
	[ -z "$T" ] || rm -rf --one-file-system "$T"
	log "exit $rc"
	exit "$rc"
}

trap on_exit EXIT
trap 'echo "[$TEST_NAME] terminated (deadline?)" >&2; exit 124' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/fuse ] || skip "needs /dev/fuse"
requires ip nsenter jq python3 cmp setsid timeout
for b in "${CMPFS:-}" "${MANAGER:-}" "${MEMSERVER:-}" "${CMPCTL:-}"; do
	[ -n "$b" ] && [ -x "$b" ] ||
		fail "set CMPFS, MANAGER, MEMSERVER and CMPCTL to the built programs"
done
ip netns add "${PREFIX}-probe" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "${PREFIX}-probe"

T=$(mktemp -d /tmp/cmp-netns.XXXXXX)
log "start (deadline ${TEST_TIMEOUT:-140}s, tmp $T, namespaces $PREFIX-*)"
"$CMPCTL" keygen "$T/key" >/dev/null
# CMP_INSECURE=1: the whole cluster in insecure mode (no key, plain frames)
if [ "${CMP_INSECURE:-0}" = 1 ]; then
	KEY_ARGS=(--insecure)
	log "insecure mode: no key, frames in clear"
else
	KEY_ARGS=(--key "$T/key")
fi
hub_up
