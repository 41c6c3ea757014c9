#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Leaving with nowhere to put the blocks (issue 10), each node in its own
# network namespace. Owner n1 (2 MiB of its own, full) writes file f
# (6 MiB, every chunk acknowledged): 4 MiB of it live on n2. No other
# node and no memserver has room (n1 borrows, so it lends nothing).
#  1. n2 is stopped as tools/quickstart.sh stop does it (a state directory
#     naming n2's mount): the unmount succeeds, but n2 keeps serving f's
#     blocks: its process stays, its log says "NOT LEAVING YET", the
#     stop reports it as still serving and exits 1, and n1 reads and
#     rewrites f meanwhile without an error; then n3 joins with room: n2
#     moves the blocks there and exits (status 0), a second stop says
#     "stopped" and exits 0, and f reads back exactly.
#  2. The same with SIGTERM: n3, now holding f's blocks, gets SIGTERM
#     with no room elsewhere: it unmounts, keeps serving, says so, the
#     quickstart's stop reports it and exits 1; n4 joins and n3 leaves.
TEST_TIMEOUT=${TEST_TIMEOUT:-150}
BS=1M
. "$(dirname "$0")/lib-faults.sh"
QUICKSTART=$(cd "$(dirname "$0")/../.." && pwd)/tools/quickstart.sh
[ -x "$QUICKSTART" ] || fail "no $QUICKSTART"
# the leaving node's loud lines, and its moves that found no room
ALLOWED_ERRORS='cluster: leaving: [0-9]+ blocks held for other nodes have nowhere to go|cluster: NOT LEAVING YET: still serving [0-9]+ blocks'

netns_add mgr 10.77.0.1
for i in 1 2 3 4; do
	netns_add "n$i" "10.77.0.1$i"
done
start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13 [n4]=14)
start_node n2 12 local=4M
start_node n1 11 local=2M
for id in 11 12; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
m=${MNT_OF[n1]}
F_MIB=6

"$DATACHECK" write "$m/f" "$T/f.rec" -n "$F_MIB" >/dev/null ||
	fail "writing f"
wait_until "the views to settle" 30 views_settled n1 n2
expect_eq "blocks of f on n2" "$(stat_of n2 blocks_RLL)" 4
expect_eq "n1's free blocks" "$(stat_of n1 blocks_free)" 0
show_status

# qs_stop NS: tools/quickstart.sh stop on a state directory that names
# node NS's mount (and no manager or memserver of its own); its status
# in $rc, its output in $out.
qs_stop()
{
	local s=$T/qs-$1

	mkdir -p "$s"
	[ -f "$s/mountpoint" ] || echo "${MNT_OF[$1]}" >"$s/mountpoint"
	rc=0
	CMP_STATE=$s CMP_STOP_WAIT=5 "$QUICKSTART" stop >"$T/stop.out" 2>&1 ||
		rc=$?
	out=$(cat "$T/stop.out")
	sed 's/^/    stop: /' "$T/stop.out"
}

# not_leaving NS WHAT: node NS has no room to leave to: it keeps running,
# says so loudly, and n1 reads and rewrites f without an error meanwhile.
not_leaving()
{
	local ns=$1 pid=${DAEMON_PID[$1]}

	wait_until "$ns to say it is not leaving" 20 \
		grep -q 'error: cluster: NOT LEAVING YET: still serving 4 blocks' "$T/$ns.log"
	grep -q "leaving: 4 blocks held for other nodes have nowhere to go" "$T/$ns.log" ||
		fail "$2: $ns's log does not say why it stays"
	pid_alive "$pid" || fail "$2: $ns exited with f's blocks"
	is_mounted "${MNT_OF[$ns]}" && fail "$2: $ns is still mounted"
	verify_f --strict || fail "$2: f does not read back while $ns stays"
	"$DATACHECK" write "$m/f" "$T/f.rec" -n "$F_MIB" >"$T/rewrite.out" 2>&1 ||
		fail "$2: rewriting f while $ns stays: $(tail -1 "$T/rewrite.out")"
	verify_f --strict || fail "$2: f does not read back after the rewrite"
	expect_eq "$2: blocks $ns still holds" "$(node_field "${ID_OF[$ns]}" rll)" 4
	pid_alive "$pid" || fail "$2: $ns exited with f's blocks"
	log "$2: $ns keeps serving f's blocks (said so $(grep -c 'NOT LEAVING YET' "$T/$ns.log") times so far); f read, rewritten and read back meanwhile"
}

# leaves_to NS NEW: once NEW has joined, node NS moves f's blocks there
# and exits with status 0; f reads back.
leaves_to()
{
	local ns=$1 new=$2 t0

	t0=$(now_s)
	start_node "$new" "${ID_OF[$new]}" local=8M
	# should the test fail, the owner goes before its providers
	defer umount_node n1
	wait_until "$ns to move f's blocks to $new and exit" 30 \
		pid_dead "${DAEMON_PID[$ns]}"
	stop_daemon "$ns" # reaps it: a status other than 0 fails the test
	log "$ns left $(secs_since "$t0") s after $new joined"
	grep -q 'leaving: all 4 blocks held for other nodes moved' "$T/$ns.log" ||
		fail "$ns's log does not say it moved f's blocks before leaving"
	wait_until "the manager to show $ns as left" 20 \
		node_in_state "${ID_OF[$ns]}" left
	wait_until "the views to settle after $ns left" 30 views_settled n1 "$new"
	expect_eq "blocks of f on $new" "$(stat_of "$new" blocks_RLL)" 4
	verify_f --strict || fail "f does not read back after $ns left"
	expect_eq "n1's blocks lost" "$(stat_of n1 blocks_lost)" 0
}

# ---- 1. the quickstart's stop: unmount, then nowhere to go ----
qs_stop n2
expect_eq "stop's status while n2 serves f's blocks" "$rc" 1
grep -q "cmpfs (${DAEMON_PID[n2]}) still running 5 s after the unmount: it still serves blocks of other nodes" <<<"$out" ||
	fail "stop does not report n2 as still serving: $out"
grep -q 'quickstart: stopped' <<<"$out" && fail "stop said stopped: $out"
not_leaving n2 "n2 unmounted"
leaves_to n2 n3
qs_stop n2
expect_eq "stop's status once n2 left" "$rc" 0
grep -q "quickstart: stopped (${MNT_OF[n2]} unmounted)" <<<"$out" ||
	fail "the second stop does not say stopped: $out"

# ---- 2. SIGTERM, and again nowhere to go ----
kill -TERM "${DAEMON_PID[n3]}"
wait_until "n3 to unmount on SIGTERM" 20 eval "! is_mounted '${MNT_OF[n3]}'"
grep -q 'SIGTERM' "$T/n3.log" || fail "n3's log does not say SIGTERM"
not_leaving n3 "n3 got SIGTERM"
qs_stop n3
expect_eq "stop's status while n3 serves f's blocks" "$rc" 1
grep -q "cmpfs (${DAEMON_PID[n3]}) still running 5 s after the unmount" <<<"$out" ||
	fail "stop does not report n3 as still serving: $out"
leaves_to n3 n4
show_status
# the owner first (its goodbye frees f's blocks on n4), then n4, which
# then has nothing to move
umount_node n1
umount_node n4
grep -q 'leaving: moving' "$T/n4.log" &&
	fail "n4 had blocks to move after their owner left"
checks_done
