#!/bin/bash
# SPDX-License-Identifier: MIT
# MAP_SHARED writeback under memory pressure: mmap-check rewrites every page
# of a 48 MiB mapping three times inside a cgroup v1 memory cgroup limited
# to 16 MiB, checking each page before it rewrites it, so most pages are
# written back by reclaim, dropped, and read back from the daemon between
# two rounds (Figure 10's mapper in small). The daemon runs outside the
# cgroup. The counters must show the pages going out and coming back; a
# pread of every page checks the last round.
TEST_TIMEOUT=150
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr

MMAP_CHECK=$(helper mmap-check)
SIZE_MB=48
LIMIT_MB=16
ROUNDS=3
CGROOT=/sys/fs/cgroup/memory
[ -f "$CGROOT/memory.limit_in_bytes" ] ||
	skip "no cgroup v1 memory controller at $CGROOT"

MNT=$T/mnt
mount_fs "$MNT" local=128M,block=1M

# The mapper's cgroup: a child of our own, so the daemon stays outside it.
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
grep -qx "${DAEMON_PID[cmpfs-1]}" "$CG/cgroup.procs" &&
	fail "the daemon is inside the limited cgroup"

r0=$(stat_get read_bytes)
w0=$(stat_get write_bytes)
log "mmap-check pressure: $SIZE_MB MiB, $ROUNDS rewrites, in a $LIMIT_MB MiB cgroup"
rc=0
timeout 120 sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh \
	"$CG" "$MMAP_CHECK" pressure "$MNT/mapped" $((SIZE_MB << 20)) 7 \
	"$ROUNDS" || rc=$?
r=$(($(stat_get read_bytes) - r0))
w=$(($(stat_get write_bytes) - w0))
log "daemon: wrote $((w >> 20)) MiB, read $((r >> 20)) MiB"
log "cgroup: max usage $(($(cat "$CG/memory.max_usage_in_bytes") >> 20)) MiB, failcnt $(cat "$CG/memory.failcnt"), $(grep -E '^oom_kill ' "$CG/memory.oom_control" || true)"
[ "$rc" = 0 ] || fail "mmap-check pressure exited with status $rc (137: OOM-killed; 124: too slow)"

# Each round but the last leaves at least what did not fit to be written
# back, and each later round reads at least that much back.
min=$(((SIZE_MB - LIMIT_MB) * (ROUNDS - 1) << 20))
[ "$w" -ge "$min" ] ||
	fail "only $((w >> 20)) MiB written back under pressure, want >= $((min >> 20)) MiB"
[ "$r" -ge "$min" ] ||
	fail "only $((r >> 20)) MiB read back under pressure, want >= $((min >> 20)) MiB"
log "$SIZE_MB MiB rewritten $ROUNDS times through a mapping in $LIMIT_MB MiB, verified"
