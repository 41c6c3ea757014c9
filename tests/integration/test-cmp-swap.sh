#!/bin/bash
# SPDX-License-Identifier: MIT
# The swap helper of cmp-swap@.service (tools/systemd/cmp-swap.sh) on a
# real mount: `start FILE SIZE` makes FILE (mode 0600, SIZE allocated) and
# turns swap on over a loop device with direct I/O; a second start refuses;
# `stop FILE` turns swap off and detaches the device, after which the mount
# unmounts (the teardown order the unit relies on to stop before the mount).
TEST_TIMEOUT=90
. "$(dirname "$0")/lib.sh"
requires_root
requires losetup mkswap swapon swapoff fallocate
SWAP=$SRC_DIR/../../tools/systemd/cmp-swap.sh

MNT=$T/mnt
mount_fs "$MNT" local=64M,block=1M
F=$MNT/swap

# Cleanup for a failed run only: what stop should have done.
loops_on() { losetup --list --noheadings --output NAME --associated "$F" 2>/dev/null || true; }
teardown()
{
	local dev

	for dev in $(loops_on); do
		! grep -q "^$dev " /proc/swaps || swapoff "$dev"
		losetup -d "$dev"
	done
}
defer teardown

rc=0
"$SWAP" start "$F" 32M >"$T/out" 2>&1 || rc=$?
if [ "$rc" != 0 ] && grep -q 'Operation not permitted' "$T/out"; then
	skip "swapon is not permitted here: $(cat "$T/out")"
fi
expect_eq "cmp-swap start status ($(cat "$T/out"))" "$rc" 0
DEV=$(loops_on)
[ -n "$DEV" ] || fail "no loop device on $F after start"
grep -q "^$DEV " /proc/swaps || fail "$DEV is not swap"
expect_eq "direct I/O on $DEV" "$(losetup --list --noheadings -O DIO "$DEV" | tr -d ' ')" 1
expect_eq "mode of $F" "$(stat -c %a "$F")" 600
expect_eq "allocated bytes of $F" "$(($(stat -c %b "$F") * $(stat -c %B "$F")))" $((32 << 20))
log "swap on $DEV over $F"

rc=0
"$SWAP" start "$F" 32M >"$T/out" 2>&1 || rc=$?
expect_eq "a second start's status" "$rc" 1
grep -q "already on $DEV" "$T/out" || fail "second start: $(cat "$T/out")"

"$SWAP" stop "$F" >"$T/out" 2>&1 || fail "cmp-swap stop: $(cat "$T/out")"
grep -q "^$DEV " /proc/swaps && fail "$DEV still swaps after stop"
[ -z "$(loops_on)" ] || fail "a loop device still holds $F after stop"
"$SWAP" stop "$F" || fail "a stop with nothing to stop fails"
undefer teardown
undefer umount_fs "$MNT"
is_mounted "$MNT" && fail "$MNT still mounted after umount_fs"
log "start, refused restart, stop, then the mount unmounted"
