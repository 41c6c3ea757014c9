#!/bin/bash
# SPDX-License-Identifier: MIT
# Swap on cmpfs: a loop device (direct I/O) on a cmpfs file carries a swap
# area at the highest priority; a memory hog writes and verifies 768 MiB in
# a cgroup v1 memory cgroup limited to 256 MiB, so most of its pages go out
# through the loop device to the daemon and come back. The daemon runs
# outside that cgroup (FUSE-NOTES: a daemon inside it deadlocks in
# reclaim). /proc/vmstat pswpout/pswpin and the daemon's counters prove swap
# was used. Teardown (lib.sh): hog gone, cgroup removed, swapoff,
# losetup -d, then unmount. Skips only when swapon itself is not permitted.
TEST_TIMEOUT=200
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr losetup mkswap swapon swapoff

MEMHOG=$(helper memhog)
HOG_MB=${CMPFS_ITEST_HOG_MB:-768}
LIMIT_MB=256
SWAP_MB=1024
CGROOT=/sys/fs/cgroup/memory
[ -f "$CGROOT/memory.limit_in_bytes" ] ||
	skip "no cgroup v1 memory controller at $CGROOT"

vmstat() { awk -v n="$1" '$1 == n { print $2 }' /proc/vmstat; }

MNT=$T/mnt
mount_fs "$MNT" local=1200M,block=1M
truncate -s "${SWAP_MB}M" "$MNT/swapfile"
LOOP=$(losetup --direct-io=on --find --show "$MNT/swapfile")
defer losetup -d "$LOOP"
expect_eq "direct I/O on $LOOP" "$(losetup --list --noheadings -O DIO "$LOOP" | tr -d ' ')" 1
mkswap "$LOOP" >/dev/null
if ! swapon -p 32767 "$LOOP" 2>"$T/swapon.err"; then
	grep -q 'Operation not permitted' "$T/swapon.err" &&
		skip "swapon is not permitted here: $(cat "$T/swapon.err")"
	fail "swapon $LOOP: $(cat "$T/swapon.err")"
fi
defer swapoff "$LOOP"
log "swap on $LOOP (cmpfs file, direct I/O), priority 32767"
sed 's/^/    /' /proc/swaps

# The hog's cgroup: a child of our own, so the daemon stays outside it.
parent=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
CG=$CGROOT${parent%/}/cmpfs-itest-$$
mkdir "$CG"
defer rmdir_cgroup "$CG"
rmdir_cgroup()
{
	wait_for "cgroup $1 to empty" 10 test ! -s "$1/cgroup.procs"
	rmdir "$1"
}
echo $((LIMIT_MB << 20)) >"$CG/memory.limit_in_bytes"
echo 100 >"$CG/memory.swappiness" 2>/dev/null ||
	log "cannot set memory.swappiness (is $(cat "$CG/memory.swappiness"))"
expect_eq "swappiness of the hog's cgroup" "$(cat "$CG/memory.swappiness")" 100
grep -qx "${DAEMON_PID[cmpfs-1]}" "$CG/cgroup.procs" &&
	fail "the daemon is inside the limited cgroup"

out0=$(vmstat pswpout)
in0=$(vmstat pswpin)
w0=$(stat_get write_bytes)
r0=$(stat_get read_bytes)
log "memhog: $HOG_MB MiB in a $LIMIT_MB MiB cgroup"
rc=0
timeout 150 sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" "$3" 1' sh \
	"$CG" "$MEMHOG" "$HOG_MB" || rc=$?
out=$(($(vmstat pswpout) - out0))
in=$(($(vmstat pswpin) - in0))
w=$(($(stat_get write_bytes) - w0))
r=$(($(stat_get read_bytes) - r0))
log "pswpout +$out pages, pswpin +$in pages; daemon wrote $((w >> 20)) MiB, read $((r >> 20)) MiB"
log "cgroup: max usage $(($(cat "$CG/memory.max_usage_in_bytes") >> 20)) MiB, failcnt $(cat "$CG/memory.failcnt"), $(grep -E '^oom_kill ' "$CG/memory.oom_control" || true)"
[ "$rc" = 0 ] || fail "memhog exited with status $rc (137: OOM-killed; 124: too slow)"

# At least half of what did not fit must have gone out and come back.
min=$(((HOG_MB - LIMIT_MB) * 256 / 2))
[ "$out" -ge "$min" ] || fail "only $out pages swapped out, want >= $min"
[ "$in" -ge "$min" ] || fail "only $in pages swapped in, want >= $min"
[ "$w" -ge $((min * 4096)) ] ||
	fail "the daemon received only $w bytes of swap-out, want >= $((min * 4096))"
[ "$r" -ge $((min * 4096)) ] ||
	fail "the daemon served only $r bytes of swap-in, want >= $((min * 4096))"
log "memhog verified all $HOG_MB MiB through swap on cmpfs"
