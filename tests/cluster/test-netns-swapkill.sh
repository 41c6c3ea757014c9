#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Swap on a replicated cmpfs file survives a provider's death (issue 11),
# each node in its own network namespace. Owner n1 (16 MiB of its own,
# replicas=2, 1 MiB blocks) carries a swap area (loop device, direct I/O,
# the highest priority) on file swap of its mount, whose blocks live as
# two copies among providers n2, n3 and n4. A memory hog writes and
# verifies HOG_MB MiB twice in a cgroup v1 memory cgroup limited to
# LIMIT_MB, so most of its pages go out through n1 to the providers and
# come back. Once swap is in use and n2 holds copies, n2 is SIGKILLed:
# the hog must finish with every page verified (memhog exits 0 only
# then), the copies n2 held are made again on n3 and n4, and n1 lost
# nothing. The daemons stay outside the cgroup (FUSE-NOTES: a daemon in
# it deadlocks in reclaim). Teardown (lib.sh order): hog, cgroup,
# swapoff, losetup -d, unmounts, namespaces, even on failure.
TEST_TIMEOUT=${TEST_TIMEOUT:-220}
BS=1M
HOG_MB=${HOG_MB:-160}
LIMIT_MB=64
SWAP_MB=320
ALLOWED_ERRORS='block [0-9]+ (\(epoch [0-9]+\) )?on node 12: |moving block [0-9]+ out: '
. "$(dirname "$0")/lib-faults.sh"
requires losetup mkswap swapon swapoff
MEMHOG=$BUILD_DIR/../integration/memhog
[ -x "$MEMHOG" ] || fail "memhog not built at $MEMHOG"
CGROOT=/sys/fs/cgroup/memory
[ -f "$CGROOT/memory.limit_in_bytes" ] ||
	skip "no cgroup v1 memory controller at $CGROOT"
vmstat() { awk -v n="$1" '$1 == n { print $2 }' /proc/vmstat; }

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add n4 10.77.0.14

start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13 [n4]=14)
for n in 2 3 4; do
	start_node n$n 1$n local=400M
done
start_node n1 11 local=16M,replicas=2,rebuild_after=2s
for id in 11 12 13 14; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
m=${MNT_OF[n1]}

# ---- swap on n1's file, the hog's cgroup ----
truncate -s "${SWAP_MB}M" "$m/swap"
LOOP=$(losetup --direct-io=on --find --show "$m/swap")
defer losetup -d "$LOOP"
mkswap "$LOOP" >/dev/null
if ! swapon -p 32767 "$LOOP" 2>"$T/swapon.err"; then
	grep -q 'Operation not permitted' "$T/swapon.err" &&
		skip "swapon is not permitted here: $(cat "$T/swapon.err")"
	fail "swapon $LOOP: $(cat "$T/swapon.err")"
fi
defer swapoff "$LOOP"
log "swap on $LOOP over $m/swap (replicas=2), priority 32767"

parent=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
CG=$CGROOT${parent%/}/cmpfs-swapkill-$$
mkdir "$CG"
defer rmdir_cgroup "$CG"
rmdir_cgroup()
{
	wait_for "cgroup $1 to empty" 10 test ! -s "$1/cgroup.procs"
	rmdir "$1"
}
echo $((LIMIT_MB << 20)) >"$CG/memory.limit_in_bytes"
echo 100 >"$CG/memory.swappiness" 2>/dev/null || true
for n in n1 n2 n3 n4; do
	! grep -qx "${DAEMON_PID[$n]}" "$CG/cgroup.procs" ||
		fail "daemon $n is inside the limited cgroup"
done

# ---- the hog swaps; n2 dies under it ----
out0=$(vmstat pswpout)
in0=$(vmstat pswpin)
swapping() { [ $(($(vmstat pswpout) - out0)) -ge 8192 ] && [ "$(held n2)" -gt 0 ]; }
bg_start hog sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" "$3" 2' sh \
	"$CG" "$MEMHOG" "$HOG_MB"
wait_until "32 MiB swapped out, n2 holding copies" 60 swapping
log "swapping: $(($(vmstat pswpout) - out0)) pages out; copies: $(held n2) on n2, $(held n3) on n3, $(held n4) on n4"
pid_alive "${BG_PID[hog]}" || check_fail "the hog finished before n2 was killed: the test proves nothing"
kill_daemon n2
rc=0
bg_wait hog 170 || rc=$?
out=$(($(vmstat pswpout) - out0))
in=$(($(vmstat pswpin) - in0))
log "pswpout +$out pages, pswpin +$in pages; cgroup failcnt $(cat "$CG/memory.failcnt"), $(grep -E '^oom_kill ' "$CG/memory.oom_control" || true)"
sed 's/^/    /' "$T/hog.out"
[ "$rc" = 0 ] || check_fail "memhog exited with status $rc (1: a page came back wrong; 137: OOM-killed; 124: too slow)"
[ "$in" -gt 0 ] || check_fail "no page came back from swap"
wait_until "the copies n2 held made again on n3 and n4" 90 copies_whole n3 n4
log "copies made again: $(stat_of n1 replica_rebuilt), $(stat_of n1 replica_stale) dropped by writes that missed them"
expect "blocks n1 lost" "$(stat_of n1 blocks_lost)" 0
checks_done
