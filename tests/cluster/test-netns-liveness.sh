#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Liveness never destroys data (issue 9), each node in its own network
# namespace. A TCP reset of a node's manager connection (ss -K in its
# namespace), for the owner and then for its provider, makes the node
# suspect (or replaced by its own new connection) for a moment and then
# alive again. The manager stopped for 10 s while the owner reads and
# rewrites its file: every node says once, with the real reason, that it
# cannot reach the manager, and registers again when it is back. Through
# all of it no node loses, forgets or frees anything, and every byte
# written reads back. A clean unmount shows as "left", not as a death
# (issue 13 defect 12).
TEST_TIMEOUT=140
# Expected: the owner of a connection that ss -K destroyed sees it aborted.
ALLOWED_ERRORS='tcp://10\.77\.0\.1:7000: (receive|send) failed .*: Software caused connection abort'
. "$(dirname "$0")/lib-netns.sh"
requires ss

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add ms 10.77.0.21
expect() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# Blocks of 64 KiB: n1 has 32 of its own, n2 128, the memserver 256.
start_manager
ID_OF=([n1]=11 [n2]=12)
start_memserver ms 21 16M
start_node n2 12 local=8M
start_node n1 11 local=2M
for id in 11 12 21; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done

make_data "$T/a" 6
cp "$T/a" "${MNT_OF[n1]}/a"
wait_until "the views to settle" 30 views_settled n1 n2
lrl=$(stat_of n1 blocks_LRL)
rll=$(stat_of n2 blocks_RLL)
[ "$lrl" -ge 60 ] || fail "n1 should have lent out >= 60 blocks, has LRL $lrl"
expect "n2 holds all of n1's blocks elsewhere" "$rll" "$lrl"
show_status
log "file a: $lrl of its 96 blocks on n2"

# nothing_lost WHEN: n1's blocks are where they were, and a reads back.
nothing_lost()
{
	expect "n1 blocks lost $1" "$(stat_of n1 blocks_lost)" 0
	expect "n1 LRL $1" "$(stat_of n1 blocks_LRL)" "$lrl"
	expect "n2 RLL $1" "$(stat_of n2 blocks_RLL)" "$rll"
	same_by_read "$T/a" "${MNT_OF[n1]}/a" || fail "a differs $1"
	same_by_mmap "$T/a" "${MNT_OF[n1]}/a" || fail "a differs through mmap $1"
}

# ---- reset a node's manager connections with ss -K ----
# What the manager logs when it notices: the node is suspect, or (when
# the node re-registered before the reset reached the manager) its new
# connection replaced the one that still looked open.
noticed() { grep -Ec "node $1 (suspect|registered from .* still looked open)" \
	"$T/manager.log" || true; }

reset_manager_conn()
{
	local ns=$1 id=$2 before

	before=$(noticed "$id")
	in_ns "$ns" ss -K -t dst "${IP_OF[mgr]}" dport = ":$MGR_PORT" >/dev/null
	wait_until "the manager to notice node $id's reset connection" 10 \
		test "$(noticed "$id")" -gt "$before"
	wait_until "node $id alive again" 20 node_alive "$id"
	log "manager: $(grep -E "node $id (suspect|registered from .* still looked open)" \
		"$T/manager.log" | tail -1 | sed 's/.*manager: //')"
	log "node $id alive again at the manager"
}

reset_manager_conn n1 11
nothing_lost "after n1's manager connection was reset"
reset_manager_conn n2 12
nothing_lost "after n2's manager connection was reset"

# ---- the manager down for 10 s while n1 reads and rewrites a ----
reachable_lines() { grep -c "cannot reach the manager at $(mgr_url): " "$1" || true; }
stop_daemon manager
cp "$T/manager.log" "$T/manager-first.log" # start_manager starts a new one
DAEMON_LOGS+=("$T/manager-first.log")
t0=$(date +%s)
log "manager stopped"
for ns in n1 n2 ms; do
	wait_until "$ns to say it cannot reach the manager" 10 \
		test "$(reachable_lines "$T/$ns.log")" -ge 1
done
# rewrite 1 MiB in the middle of a in place: no new block is needed
head -c 1M /dev/urandom >"$T/patch"
dd if="$T/patch" of="$T/a" bs=64K seek=40 conv=notrunc status=none
dd if="$T/patch" of="${MNT_OF[n1]}/a" bs=64K seek=40 conv=notrunc \
	status=none || fail "rewriting a while the manager is down"
rounds=0
while [ $(($(date +%s) - t0)) -lt 10 ]; do
	same_by_read "$T/a" "${MNT_OF[n1]}/a" ||
		fail "a differs while the manager is down (round $rounds)"
	rounds=$((rounds + 1))
done
log "manager down for $(($(date +%s) - t0)) s: a read back $rounds times"
start_manager
for id in 11 12 21; do
	wait_until "node $id registered again" 20 node_alive "$id"
done
nothing_lost "after the manager was down for 10 s"
wait_until "the views to settle after the outage" 30 views_settled n1 n2
for ns in n1 n2 ms; do
	f="$T/$ns.log"
	expect "$ns: lines saying it cannot reach the manager" \
		"$(reachable_lines "$f")" 1
	grep -q "registered with the manager at $(mgr_url) after [0-9]* s and [0-9]* attempts" "$f" ||
		fail "$ns does not say it registered again after the outage"
	! grep -q "No route to host" "$f" || fail "$ns says No route to host"
	log "$ns: $(grep "cannot reach the manager at" "$f" | sed 's/.*warning: //')"
	log "$ns: $(grep "registered with the manager at .* after" "$f" | tail -1 | sed 's/.*info: //')"
done

# ---- nobody lost, forgot or freed anything on the manager's word ----
for ns in n1 n2 ms; do
	if grep -Eiw 'forg[eo]t|freed|freeing|are lost|are gone|dead|died' "$T/$ns.log"; then
		fail "$ns logged the lines above"
	fi
done
show_status

# ---- a clean unmount is "left", not a death ----
umount_node n1
wait_until "the manager to show n1 as left" 10 node_in_state 11 left
grep -q "node 11 (compute) left: clean shutdown" "$T/manager.log" ||
	fail "the manager does not log n1's clean shutdown as left"
! grep -q "node 11 suspect" "$T/manager.log" ||
	fail "the manager took n1's clean unmount for a suspect node"
wait_until "n2 to hear that n1 left" 10 \
	grep -q "cluster: node 11 left the cluster" "$T/n2.log"
show_status
log "n1 unmounted: shown as left"
