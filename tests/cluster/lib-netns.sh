# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The shell library of the multi-node tests, on top of the integration
# tests' lib.sh (deadline, private directory, cleanup stack, daemons in
# their own session, mounts, log checks and verdict: see there): every
# daemon runs in a network namespace of its own, joined by a veth pair to
# a bridge in a hub namespace (10.77.0.0/24), all made by the test and
# removed by its cleanup even when it fails or hits its deadline. Daemons
# enter only the network namespace (nsenter --net, which execs them), so
# their FUSE mounts are visible to the test.
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
# exit with them), then the other daemons (SIGTERM: they must exit with
# status 0), then the namespaces. A test fails as lib.sh says: an
# unexpected "error:" line (ALLOWED_ERRORS, an extended regex, lists
# expected ones) or a sanitizer report in a daemon log, a daemon that
# exited badly or had to be killed, a failed cleanup.

# The meson timeout is TEST_TIMEOUT + 60 s: KILL comes 30 s after the
# deadline if the cleanup hangs.
TEST_TIMEOUT=${TEST_TIMEOUT:-140}
TEST_KILL_AFTER=${TEST_KILL_AFTER:-30}
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

SUF=$(($$ % 100000))	# names of this run's namespaces and links
PREFIX=cmp$SUF
MGR_PORT=7000
BS=${BS:-64K}
declare -A IP_OF	# namespace short name -> address
declare -A HUB_LINK_OF	# namespace short name -> its veth end on the bridge
declare -A MNT_OF	# cmpfs node name -> mount point

# ---- namespaces ----

nsname() { echo "$PREFIX-$1"; }

# in_ns NS CMD...: run CMD in namespace NS's network stack only.
in_ns()
{
	local ns=$1

	shift
	nsenter --net="/run/netns/$(nsname "$ns")" -- "$@"
}

# netns_del FULLNAME: delete a namespace of ours; a process still in it
# (a daemon that escaped its stop) is killed and fails the test.
netns_del()
{
	local pids

	pids=$(ip netns pids "$1" | xargs)
	if [ -n "$pids" ]; then
		echo "processes left in namespace $1: $pids: SIGKILL" >&2
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		CLEANUP_FAILED=1
	fi
	ip netns del "$1"
}

hub_up()
{
	ip netns add "$(nsname hub)"
	defer netns_del "$(nsname hub)"
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
	defer netns_del "$full"
	ip -n "$(nsname hub)" link add "$hv" type veth peer name eth0 \
		netns "$full"
	ip -n "$(nsname hub)" link set "$hv" master br0 up
	HUB_LINK_OF[$ns]=$hv
	ip -n "$full" link set lo up
	ip -n "$full" addr add "$addr/24" dev eth0
	ip -n "$full" link set eth0 up
	IP_OF[$ns]=$addr
}

# ---- daemons ----

mgr_url() { echo "tcp://${IP_OF[mgr]}:$MGR_PORT"; }

# status_of NS ARGS...: cmpctl status from namespace NS. A loaded machine
# may start cmpctl so slowly that the manager gives up on its handshake
# (--handshake-timeout, 2 s; seen at load 17): asked again, twice.
status_of()
{
	local ns=$1 try

	shift
	for try in 1 2 3; do
		in_ns "$ns" "$CMPCTL" status --manager "$(mgr_url)" \
			"${KEY_ARGS[@]}" "$@" && return 0
		[ "$try" = 3 ] || echo "cmpctl status failed: asking again" >&2
	done
	return 1
}

# status_json [NS]: the manager's view, asked from namespace NS.
status_json() { status_of "${1:-mgr}" --json; }

# start_manager [EXTRA_ARGS...]: cmp-manager in namespace mgr.
start_manager()
{
	start_service manager "status_json >/dev/null 2>&1" \
		nsenter --net="/run/netns/$(nsname mgr)" -- "$MANAGER" --listen "$(mgr_url)" "${KEY_ARGS[@]}" \
		--heartbeat-ms "${HB_MS:-200}" --suspect-after "${SUSPECT_AFTER:-5}" \
		-f "$@"
	log "manager up at $(mgr_url)"
}

# start_memserver NS ID SIZE: a RAM-backed memserver.
start_memserver()
{
	start_service "$1" "node_alive $2" \
		nsenter --net="/run/netns/$(nsname "$1")" -- \
		"$MEMSERVER" --manager "$(mgr_url)" \
		--listen "tcp://${IP_OF[$1]}:7100" "${KEY_ARGS[@]}" --ram "$3" \
		--block "$BS" --node-id "$2" -f
	log "memserver $1 (node $2, $3) registered"
}

# start_node NS ID OPTS [KEYFILE]: cmpfs on $T/mnt-NS in namespace NS.
start_node()
{
	local ns=$1 id=$2 opts=$3 key=${4:-$T/key} mnt=$T/mnt-$1 key_opt

	mkdir -p "$mnt"
	[ "${CMP_INSECURE:-0}" = 1 ] && key_opt=insecure || key_opt=key=$key
	mount_daemon "$ns" "$mnt" nsenter --net="/run/netns/$(nsname "$ns")" -- \
		"$CMPFS" none "$mnt" -f \
		-o "$opts,block=$BS,nolock,manager=$(mgr_url),listen=tcp://${IP_OF[$ns]}:7200,$key_opt,node=$id,log=$T/$ns.log"
	MNT_OF[$ns]=$mnt
	log "cmpfs $ns (node $id, $opts) mounted on $mnt"
}

# umount_node NS: umount_fs of node NS's mount (its daemon exits with it).
umount_node() { umount_fs "${MNT_OF[$1]}"; }

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

# node_in_state ID STATE: the manager shows node ID as STATE (alive,
# suspect, left).
node_in_state() { [ "$(node_field "$1" state 2>/dev/null)" = "\"$2\"" ]; }

# The manager's view agrees with the nodes' own counters and adds up:
# every owner's LRL is some provider's RLL, over the nodes that have not
# left (a suspect provider still holds its blocks: the manager keeps its
# last counts). LRL_UNLISTED blocks of LRL are on providers the manager
# does not list (killed before a manager restart). Args: the cmpfs
# namespaces whose stats are compared (their node ids are ID_OF[ns]).
declare -A ID_OF
LRL_UNLISTED=0
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
	lrl=$(jq '[.nodes[] | select(.state != "left") | .lrl] | add' <<<"$js")
	rll=$(jq '[.nodes[] | select(.state != "left") | .rll] | add' <<<"$js")
	[ "$((lrl - LRL_UNLISTED))" = "$rll" ]
}

# show_status: the manager's table, for the log (never fails the test).
show_status()
{
	status_of mgr | sed 's/^/    /' || echo "    (no answer from the manager)"
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

# ---- set-up ----

requires_root
requires ip nsenter jq python3 cmp setsid timeout
for b in "${CMPFS:-}" "${MANAGER:-}" "${MEMSERVER:-}" "${CMPCTL:-}"; do
	[ -n "$b" ] && [ -x "$b" ] ||
		fail "set CMPFS, MANAGER, MEMSERVER and CMPCTL to the built programs"
done
ip netns add "${PREFIX}-probe" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "${PREFIX}-probe"

log "namespaces $PREFIX-*"
"$CMPCTL" keygen "$T/key" >/dev/null
# CMP_INSECURE=1: the whole cluster in insecure mode (no key, plain frames)
if [ "${CMP_INSECURE:-0}" = 1 ]; then
	KEY_ARGS=(--insecure)
	log "insecure mode: no key, frames in clear"
else
	KEY_ARGS=(--key "$T/key")
fi
hub_up
