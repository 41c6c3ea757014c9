#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Leaving without loss (issue 10), each node in its own network namespace.
# n1 (8 MiB of its own) writes file f (24 MiB, every chunk acknowledged)
# so that most of it lives on n2 and n3 (32 MiB each). Then, while n1
# reads f over and over and writes file g pass after pass:
#  - n3 is drained while it keeps running (cmpctl drain --wait): the
#    blocks it holds for n1 move to n2, and it lends nothing more until
#    cmpctl drain --undo;
#  - n2 unmounts cleanly: before it goes, the blocks it holds for n1 move
#    to n3 (its log says how long that took), then it says goodbye.
#  - n3 gets SIGTERM while n1 reads f and rewrites file h (4 MiB written
#    before f, so all of it lives elsewhere: on n3 by then), pass after
#    pass with n1's exchange off: the writes go to the very blocks that
#    move; n3 moves them to n4, which joined for it, and exits 0.
# n1 sees no error at any time, every read of f checks out, f, g and h
# read back exactly at the end (datacheck), and n1 lost no block.
# The sizes may be changed for a measurement (the issue's: BS=1M
# LEAVE_OWNER=64M LEAVE_PEERS=160M LEAVE_MIB=256).
TEST_TIMEOUT=${TEST_TIMEOUT:-200}
OWNER_LOCAL=${LEAVE_OWNER:-8M}
PEER_LOCAL=${LEAVE_PEERS:-32M}
F_MIB=${LEAVE_MIB:-24}
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add n4 10.77.0.14

start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13 [n4]=14)
start_node n2 12 local=$PEER_LOCAL
start_node n3 13 local=$PEER_LOCAL
start_node n1 11 local=$OWNER_LOCAL
for id in 11 12 13; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
m=${MNT_OF[n1]}
expect() { [ "$2" = "$3" ] || check_fail "$1: got '$2', want '$3'"; }
# all_on NS: every block n1 keeps elsewhere is on node NS now.
all_on() { [ "$(stat_of "$1" blocks_RLL)" = "$(stat_of n1 blocks_LRL)" ]; }

"$DATACHECK" write "$m/h" "$T/h.rec" -n 4 >/dev/null || fail "writing h"
"$DATACHECK" write "$m/f" "$T/f.rec" -n "$F_MIB" >/dev/null ||
	fail "writing f"
wait_until "the views to settle" 30 views_settled n1 n2 n3
lrl=$(stat_of n1 blocks_LRL)
on2=$(stat_of n2 blocks_RLL)
on3=$(stat_of n3 blocks_RLL)
[ "$on2" -gt 0 ] && [ "$on3" -gt 0 ] ||
	fail "f should live on n2 and n3 (they hold $on2 and $on3 blocks)"
log "f ($F_MIB MiB in $BS blocks): $lrl blocks elsewhere: $on2 on n2, $on3 on n3"
show_status

# n1 keeps reading f and writing g meanwhile
bg_start reader "$DATACHECK" verify "$m/f" "$T/f.rec" --until "$T/stop"
writer_start w "$m/g" "$T/g.rec" -n 4 --min-pass-ms 100

# ---- n3 drained while it keeps running ----
t0=$(now_s)
in_ns mgr "$CMPCTL" drain 13 --manager "$(mgr_url)" "${KEY_ARGS[@]}" \
	--wait --timeout 60s >"$T/drain.out" 2>&1 ||
	check_fail "cmpctl drain 13: $(tail -1 "$T/drain.out")"
sed 's/^/    /' "$T/drain.out"
log "n3 drained in $(secs_since "$t0") s"
expect "blocks n3 holds for others after the drain" "$(stat_of n3 blocks_RLL)" 0
expect "n3's forwarding records after the drain" "$(stat_of n3 blocks_RRL)" 0
wait_until "every block n1 keeps elsewhere to be on n2" 20 all_on n2
grep -h 'draining: all' "$T/n3.log" | sed 's/^/    /'
# it lends again once told
in_ns mgr "$CMPCTL" drain 13 --manager "$(mgr_url)" "${KEY_ARGS[@]}" \
	--undo >/dev/null || check_fail "cmpctl drain 13 --undo"

# ---- n2 unmounts: what it holds for n1 goes to n3 first ----
t0=$(now_s)
umount_node n2
log "n2 unmounted and exited in $(secs_since "$t0") s"
grep -hE 'leaving: (all|moving)' "$T/n2.log" | sed 's/^/    /'
grep -q 'leaving: all [0-9]* blocks held for other nodes moved' "$T/n2.log" ||
	check_fail "n2's log does not say it moved what it held before leaving"
wait_until "the manager to show n2 as left" 20 node_in_state 12 left
wait_until "every block n1 keeps elsewhere to be on n3" 20 all_on n3

touch "$T/stop"
rc=0
bg_wait reader 60 || rc=$?
[ "$rc" = 0 ] || check_fail "reading f while n3 drained and n2 left: status $rc: $(grep -m3 -E 'differs|EIO' "$T/reader.out")"
log "f read $(grep -c '^round' "$T/reader.out" || true) times meanwhile"
writer_stop w
read -r n f _ _ < <(ev_stats "$T/w.ev" 0 9999999999)
log "g: $n writes meanwhile, $f failed"
expect "writes of g that failed" "$f" 0

# ---- n3 gets SIGTERM while n1 writes the blocks it holds ----
setfattr -n user.cmpfs.exchange -v off "$m" || fail "turning n1's exchange off"
# (nor does a read of h bring it home ahead of the reader)
setfattr -n user.cmpfs.prefetch -v off "$m" || fail "turning n1's prefetch off"
rx=$(stat_of n1 read_remote_bytes)
cat "$m/h" >/dev/null || fail "reading h"
expect "bytes of h read from elsewhere (h must live on n3)" \
	"$(($(stat_of n1 read_remote_bytes) - rx))" $((4 << 20))
start_node n4 14 "local=$PEER_LOCAL"
defer umount_node n1 # should the test fail: the owner before n4
wait_until "node 14 alive at the manager" 20 node_alive 14
rm -f "$T/stop"
bg_start reader2 "$DATACHECK" verify "$m/f" "$T/f.rec" --until "$T/stop"
writer_start wh "$m/h" "$T/h.rec" -n 4
wait_until "a clean pass of the writer of h" 30 clean_run_since "$T/wh.ev" 0 4
wx=$(stat_of n1 write_remote_bytes)
t0=$(now_s)
kill -TERM "${DAEMON_PID[n3]}"
wait_until "n3 to move what it holds and exit after SIGTERM" 60 \
	pid_dead "${DAEMON_PID[n3]}"
t1=$(now_s)
stop_daemon n3 # reaps it: a status other than 0 fails the test
log "n3 left $(secs_since "$t0" "$t1") s after SIGTERM"
grep -hE 'SIGTERM|leaving: (all|moving)' "$T/n3.log" | sed 's/^/    /'
grep -q 'leaving: all [0-9]* blocks held for other nodes moved' "$T/n3.log" ||
	check_fail "n3's log does not say it moved what it held before leaving"
wait_until "a clean pass of the writer of h after n3 left" 30 \
	clean_run_since "$T/wh.ev" "$t1" 4
read -r n f _ _ < <(ev_stats "$T/wh.ev" "$t0" "$t1")
log "h: $n writes while n3 left, $f failed, $(($(stat_of n1 write_remote_bytes) - wx)) bytes written elsewhere"
[ "$n" -gt 0 ] || check_fail "no write of h while n3 left"
[ "$(stat_of n1 write_remote_bytes)" -gt "$wx" ] ||
	check_fail "n1's writes did not go to blocks elsewhere"
wait_until "the manager to show n3 as left" 20 node_in_state 13 left
wait_until "every block n1 keeps elsewhere to be on n4" 20 all_on n4
touch "$T/stop"
rc=0
bg_wait reader2 60 || rc=$?
[ "$rc" = 0 ] || check_fail "reading f while n3 left on SIGTERM: status $rc: $(grep -m3 -E 'differs|EIO' "$T/reader2.out")"
writer_stop wh
read -r n f _ _ < <(ev_stats "$T/wh.ev" 0 9999999999)
log "h: $n writes in all, $f failed; f read $(grep -c '^round' "$T/reader2.out" || true) times"
expect "writes of h that failed" "$f" 0

# ---- n1 saw nothing of it ----
verify_f --strict || check_fail "f does not read back exactly"
for x in g h; do
	"$DATACHECK" verify "$m/$x" "$T/$x.rec" --strict >"$T/verify-$x.out" 2>&1 ||
		check_fail "$x does not read back: $(tail -1 "$T/verify-$x.out")"
done
expect "n1 blocks lost" "$(stat_of n1 blocks_lost)" 0
show_status
# the owner goes first (its goodbye frees its blocks on n4); n4 then has
# nothing to move
umount_node n1
umount_node n4
checks_done
