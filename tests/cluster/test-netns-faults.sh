#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Failures, each node in its own network namespace: a peer with the wrong
# key is refused; a provider killed with SIGKILL mid-workload is suspect at
# the manager and makes exactly the owner's blocks there fail with EIO,
# quickly, while every other file and block stays readable, nothing is
# marked lost on the manager's word, and new borrowing goes to the
# survivor; the manager restarted mid-workload loses nothing (nodes
# register again, data reads back, borrowing works after); an owner killed
# with SIGKILL is suspect, and its providers free its blocks once their
# lease on it expires (never on the manager's word).
TEST_TIMEOUT=140
# Expected: reads of the blocks on the killed provider (node 12) fail.
ALLOWED_ERRORS='on node 12|node 12 block|refused this node|read of inode [0-9]+ at [0-9]+: Input/output error'
. "$(dirname "$0")/lib-netns.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add n4 10.77.0.14
expect() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13)
# n2 (80 blocks of 64 KiB) has more idle memory than n3 (64), so it is
# borrowed from first, until the two are even; n1 has 32. n3 keeps what
# it lends to a silent node for 10 s (n1's keepalives renew it meanwhile).
start_node n2 12 local=5M
start_node n3 13 local=4M,lease=10s
start_node n1 11 local=2M
for id in 11 12 13; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done

# ---- a peer with the wrong key is refused: cmpfs exits non-zero ----
"$CMPCTL" keygen "$T/otherkey" >/dev/null
KEY_REFUSAL='refused|(cannot register|not registered).*permission denied|wrong key'
mkdir -p "$T/mnt-n4"
set +e
in_ns n4 timeout 30 "$CMPFS" none "$T/mnt-n4" -o "local=2M,block=$BS,nolock,manager=$(mgr_url),listen=tcp://10.77.0.14:7200,key=$T/otherkey,node=14,log=$T/n4.log" \
	>"$T/n4.out" 2>&1
rc=$?
set -e
DAEMON_LOGS+=("$T/n4.log" "$T/n4.out")
key_refused() { cat "$T/n4.out" "$T/n4.log" 2>/dev/null | grep -Ei "$KEY_REFUSAL"; }
if is_cmpfs_mounted "$T/mnt-n4"; then
	MNT_OF[n4]=$T/mnt-n4
	defer umount_node n4
	fail "cmpfs with the wrong key mounted (it should refuse to start)"
fi
[ "$rc" != 0 ] || fail "cmpfs with the wrong key exited 0"
key_refused >/dev/null || fail "cmpfs with the wrong key did not say why"
log "cmpfs with the wrong key exited with status $rc: $(key_refused | tail -1)"
wait_until "the manager to log the refusal of 10.77.0.14" 10 \
	grep -Eq 'refused.*10\.77\.0\.14|10\.77\.0\.14.*refused' "$T/manager.log"
log "manager: $(grep -E '10\.77\.0\.14.*refused|refused.*10\.77\.0\.14' "$T/manager.log" | head -1)"
! node_alive 14 || fail "node 14 joined with the wrong key"

# ---- data: file a (8 MiB) spreads over n2 and n3; s stays at home ----
make_data "$T/a" 8
make_data "$T/s" 1
cp "$T/a" "${MNT_OF[n1]}/a"
cp "$T/s" "${MNT_OF[n1]}/s"
wait_until "the views to settle" 30 views_settled n1 n2 n3
show_status
on_n2=$(stat_of n2 blocks_RLL)
on_n3=$(stat_of n3 blocks_RLL)
# a and s are 144 blocks, 32 of them at most at home; most free first:
# n2 alone until it is down to n3's 64 free, then both in turn.
expect "blocks on n2 and n3 together" $((on_n2 + on_n3)) "$(stat_of n1 blocks_LRL)"
[ "$on_n2" -gt "$on_n3" ] || fail "n2 ($on_n2) should hold more than n3 ($on_n3)"
[ "$on_n3" -ge 30 ] || fail "only $on_n3 blocks on n3"
log "file a: $on_n2 blocks on n2, $on_n3 on n3"

# check_blocks FILE SRC: per 64 KiB block, "ok", "eio" or "bad"; prints
# the counts "ok eio bad" and the slowest block read in ms.
check_blocks()
{
	python3 - "$1" "$2" <<'EOF'
import errno, os, sys, time
bs = 65536
src = open(sys.argv[2], 'rb').read()
fd = os.open(sys.argv[1], os.O_RDONLY)
ok = eio = bad = 0
slow = 0.0
for off in range(0, len(src), bs):
    t = time.monotonic()
    try:
        b = os.pread(fd, bs, off)
        if b == src[off:off + bs]:
            ok += 1
        else:
            bad += 1
    except OSError as e:
        if e.errno != errno.EIO:
            raise
        eio += 1
    slow = max(slow, time.monotonic() - t)
os.close(fd)
print(ok, eio, bad, int(slow * 1000))
EOF
}

# A workload that must not notice the faults: re-reads the home file s.
workload_start()
{
	rm -f "$T/workload.stop" "$T/workload.result"
	(
		n=0
		while [ ! -e "$T/workload.stop" ] && [ "$n" -lt 2000 ]; do
			cmp "$T/s" "${MNT_OF[n1]}/s" || { echo "fail $n" >"$T/workload.result"; exit 1; }
			n=$((n + 1))
		done
		echo "ok $n" >"$T/workload.result"
	) &
	WORKLOAD=$!
}

workload_stop()
{
	touch "$T/workload.stop"
	wait_until "the workload to stop" 30 test -e "$T/workload.result"
	wait "$WORKLOAD" || true
	read -r res n <"$T/workload.result"
	expect "workload result after $n rounds" "$res" ok
	[ "$n" -gt 0 ] || fail "the workload never ran"
	log "workload: $n rounds of reading s, all equal"
}

# ---- SIGKILL a provider mid-workload ----
workload_start
kill_daemon n2
wait_until "n2 suspect at the manager" 20 node_in_state 12 suspect
read -r ok eio bad slow < <(check_blocks "${MNT_OF[n1]}/a" "$T/a")
log "file a after n2 died: $ok blocks ok, $eio EIO, $bad wrong, slowest read ${slow} ms"
expect "blocks of a that fail with EIO" "$eio" "$on_n2"
expect "blocks of a with wrong data" "$bad" 0
expect "blocks of a that read back" "$ok" $((128 - on_n2))
[ "$slow" -lt 3000 ] || fail "a read took ${slow} ms (hang on a dead provider?)"
# the manager's word marks nothing lost: n2 may come back with them
expect "n1 blocks lost after n2 turned suspect" "$(stat_of n1 blocks_lost)" 0
workload_stop
same_by_read "$T/s" "${MNT_OF[n1]}/s" || fail "s differs after n2 died"
same_by_mmap "$T/s" "${MNT_OF[n1]}/s" || fail "s differs through mmap"
ID_OF=([n1]=11 [n3]=13)
wait_until "the survivors' views to settle" 30 views_settled n1 n3
expect "n1 LRL = n3 RLL + the blocks on suspect n2" \
	"$(stat_of n1 blocks_LRL)" $(($(stat_of n3 blocks_RLL) + on_n2))
# new borrowing goes to the survivor
head -c 256K /dev/urandom >"$T/c"
cp "$T/c" "${MNT_OF[n1]}/c"
same_by_read "$T/c" "${MNT_OF[n1]}/c" || fail "c differs"
wait_until "the views to settle after c" 30 views_settled n1 n3
log "after n2's death: n1 LRL $(stat_of n1 blocks_LRL) = n3 RLL $(stat_of n3 blocks_RLL) + $on_n2 on suspect n2, c written"

# ---- restart the manager mid-workload ----
workload_start
stop_daemon manager KILL
log "manager killed"
read -r ok eio bad slow < <(check_blocks "${MNT_OF[n1]}/a" "$T/a")
expect "a without a manager: ok/eio/bad" "$ok $eio $bad" "$((128 - on_n2)) $on_n2 0"
start_manager
for id in 11 13; do
	wait_until "node $id registered again" 30 node_alive "$id"
done
workload_stop
# the new manager never heard of n2, which still holds n1's blocks
LRL_UNLISTED=$on_n2
wait_until "the views to settle after the restart" 30 views_settled n1 n3
read -r ok eio bad slow < <(check_blocks "${MNT_OF[n1]}/a" "$T/a")
expect "a after the restart: ok/eio/bad" "$ok $eio $bad" "$((128 - on_n2)) $on_n2 0"
same_by_read "$T/c" "${MNT_OF[n1]}/c" || fail "c differs after the restart"
lrl0=$(stat_of n1 blocks_LRL)
# n1's free blocks and the prefetched copies its reads left take a write
# without borrowing: two blocks more than they hold must be borrowed
d_blocks=$(($(stat_of n1 blocks_free) + $(stat_of n1 prefetch_copies) + 2))
head -c $((d_blocks * 64))K /dev/urandom >"$T/d"
cp "$T/d" "${MNT_OF[n1]}/d"
same_by_read "$T/d" "${MNT_OF[n1]}/d" || fail "d differs"
[ "$(stat_of n1 blocks_LRL)" -gt "$lrl0" ] ||
	fail "no new borrowing after the manager restart (LRL $lrl0 -> $(stat_of n1 blocks_LRL))"
wait_until "the views to settle after d" 30 views_settled n1 n3
show_status
log "after the restart: n1 LRL $(stat_of n1 blocks_LRL) = n3 RLL $(stat_of n3 blocks_RLL) + $on_n2 on n2"

# ---- SIGKILL the owner: suspect; its provider frees its blocks ----
[ "$(stat_of n3 blocks_RLL)" -gt 0 ] || fail "n3 lends nothing before n1 dies"
killed_at=$(date +%s)
kill_daemon n1
wait_until "n1 suspect at the manager" 20 node_in_state 11 suspect
# n3 frees n1's blocks when its own lease on n1 (10 s) expires, never on
# the manager's word: not before the lease, and soon after it
n3_lends_nothing() { [ "$(stat_of n3 blocks_RLL)" = 0 ]; }
wait_until "n3 to free n1's blocks at its lease's end" 30 n3_lends_nothing
held=$(($(date +%s) - killed_at))
[ "$held" -ge 8 ] || fail "n3 freed n1's blocks after ${held}s, before its 10s lease ended"
log "n3 held n1's blocks ${held}s after n1 was killed (lease 10s)"
expect "n3 free after n1 died" "$(stat_of n3 blocks_free)" 64
n3_all_free() { [ "$(node_field 13 free)" = 64 ]; }
if ! (wait_until "the manager to see n3 all free" 20 n3_all_free); then
	status_json >&2
	fail "the manager does not see n3's freed blocks"
fi
! node_alive 11 || fail "n1 still alive at the manager"
log "n1 killed: n3 RLL 0, free 64"
