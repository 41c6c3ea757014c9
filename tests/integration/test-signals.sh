#!/bin/bash
# SPDX-License-Identifier: MIT
# cmpfs and its signals. It used to end its session on SIGTERM, SIGINT or
# SIGHUP (without a key file), detach the mount lazily and exit 1, taking
# the data of a swap device on one of its files with it. Now:
# - SIGHUP without a key file: one line says there is nothing to reload;
#   cmpfs keeps serving;
# - SIGTERM while a file is open, SIGINT while a loop device on one of its
#   files carries swap: one line says it is busy and why (naming the loop
#   device, its file, and the swap); the mount, the swap and the data stay;
# - SIGTERM once the mount is free: a clean unmount, and cmpfs exits 0.
TEST_TIMEOUT=120
. "$(dirname "$0")/lib.sh"
requires_root
requires losetup mkswap swapon swapoff fallocate

MNT=$T/mnt
mount_fs "$MNT" local=128M
MNT=$(realpath "$MNT")
NAME=cmpfs-$DAEMON_SEQ
PID=${DAEMON_PID[$NAME]}
LOG=${DAEMON_LOG[$NAME]}
random_file "$T/data" 8
cp "$T/data" "$MNT/data"

# still_serving WHAT: the daemon runs, the mount is there and its data too.
still_serving()
{
	pid_alive "$PID" || fail "cmpfs exited after $1"
	is_cmpfs_mounted "$MNT" || fail "$MNT is not mounted after $1"
	cmp -s "$T/data" "$MNT/data" || fail "the data changed after $1"
}

# ---- SIGHUP without a key file ----
kill -HUP "$PID"
wait_until "the SIGHUP line" 10 grep -q \
	"info: SIGHUP: no key file to reload (mounted without key=); still serving" \
	"$LOG"
still_serving SIGHUP
log "SIGHUP without a key: logged, still serving"

# ---- SIGTERM with a file open ----
exec 3<"$MNT/data"
kill -TERM "$PID"
wait_until "the busy line" 10 grep -q \
	"warning: SIGTERM: not unmounting $MNT, it is busy (files open or working directories in it): still serving" \
	"$LOG"
still_serving "SIGTERM with a file open"
exec 3<&-
log "SIGTERM with a file open: refused, still serving"

# ---- SIGINT with swap on a loop device on a file of the mount ----
fallocate -l 32M "$MNT/swap"
LOOP=$(losetup --direct-io=on --find --show "$MNT/swap")
defer losetup -d "$LOOP"
mkswap "$LOOP" >/dev/null
if ! swapon "$LOOP" 2>"$T/swapon.err"; then
	grep -q 'Operation not permitted' "$T/swapon.err" &&
		skip "swapon is not permitted here: $(cat "$T/swapon.err")"
	fail "swapon $LOOP: $(cat "$T/swapon.err")"
fi
defer swapoff "$LOOP"
kill -INT "$PID"
wait_until "the swap line" 10 grep -q \
	"warning: SIGINT: not unmounting $MNT, it is busy ($LOOP on $MNT/swap is active swap): still serving" \
	"$LOG"
still_serving "SIGINT with swap on it"
awk -v d="$LOOP" '$1 == d { found = 1 } END { exit !found }' /proc/swaps ||
	fail "swap on $LOOP went away"
undefer swapoff "$LOOP"
undefer losetup -d "$LOOP"
log "SIGINT with swap on $LOOP: refused, swap and mount still there"

# ---- SIGTERM once free: clean unmount, status 0 ----
# losetup -d lets the device go once its last user closed it: poll.
loop_gone() { [ ! -e "/sys/block/${LOOP#/dev/}/loop/backing_file" ]; }
wait_until "$LOOP to let go of $MNT/swap" 10 loop_gone
kill -TERM "$PID"
wait_until "cmpfs to exit after SIGTERM" 10 pid_dead "$PID"
grep -q "info: SIGTERM: unmounted $MNT" "$LOG" ||
	fail "no 'unmounted' line after SIGTERM"
! is_mounted "$MNT" || fail "$MNT still mounted after SIGTERM"
stop_daemon "$NAME" # checks its exit status: 0
[ "$CLEANUP_FAILED" = 0 ] || fail "cmpfs did not exit with status 0"
log "SIGTERM on a free mount: unmounted, exit status 0"
