#!/bin/bash
# SPDX-License-Identifier: MIT
# `tools/quickstart.sh stop` on a quickstart-style node (a cmp-manager, a
# cmp-memserver and cmpfs joined to them, their pid files and mount point in
# a state directory) with swap active on a loop device over a file on the
# mount (issue 13, defect 1). The stop used to unmount lazily, kill the
# manager and memserver under a cmpfs that kept serving the swap, say
# "stopped", exit 0, and a second stop said "nothing running". Now:
#   1. stop refuses with status 1, naming the loop device and the file it
#      swaps on, and touches nothing: the mount, the swap and all three
#      daemons are still there; a second stop sees the same and refuses too;
#   2. stop --force with a process keeping the mount busy does swapoff and
#      losetup -d, then refuses (status 1) to unmount, never lazily, and
#      leaves every daemon running;
#   3. once the mount is free, stop unmounts, waits for cmpfs, stops the
#      memserver and the manager (each must exit with status 0, which
#      lib.sh checks), removes the state and exits 0; a third stop says
#      "nothing running".
TEST_TIMEOUT=150
. "$(dirname "$0")/lib.sh"
requires_root
requires losetup mkswap swapon swapoff
QUICKSTART=${QUICKSTART:-$SRC_DIR/../../tools/quickstart.sh}
[ -x "$QUICKSTART" ] || fail "no $QUICKSTART"

S=$T/state
MNT=$T/mnt
mkdir -p "$S"

# The same daemons quickstart starts, on free loopback ports.
manager_addr() { sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$T/manager.log" | head -n 1; }
start_service manager '[ -n "$(manager_addr)" ]' \
	"$CMP_MANAGER" --listen tcp://127.0.0.1:0 --insecure -f
MGR=$(manager_addr)
start_service memserver "grep -q registered '$T/manager.log'" \
	"$CMP_MEMSERVER" --manager "$MGR" --listen tcp://127.0.0.1:0 \
	--insecure --ram 64M -f
mount_fs "$MNT" "local=64M,manager=$MGR,listen=tcp://127.0.0.1:0,insecure"
echo "$MNT" >"$S/mountpoint"
echo "${DAEMON_PID[manager]}" >"$S/manager.pid"
echo "${DAEMON_PID[memserver]}" >"$S/memserver.pid"

# Cleanup that tolerates the stop under test having done it already, and
# never touches a loop device that another test took over since: the
# device must still be backed by our file (device and inode, which stay
# the same when a lazy unmount changes the path).
swapoff_if_on() { ! grep -q "^$1 " /proc/swaps || swapoff "$1"; }
loop_backing() { losetup --list --noheadings -O BACK-MAJ:MIN,BACK-INO "$1" 2>/dev/null | tr -s ' ' || true; }
detach_if_ours() { [ "$(loop_backing "$1")" != "$2" ] || losetup -d "$1"; }

truncate -s 64M "$MNT/swap"
LOOP=$(losetup --direct-io=on --find --show "$MNT/swap")
defer detach_if_ours "$LOOP" "$(loop_backing "$LOOP")"
mkswap "$LOOP" >/dev/null
if ! swapon -p 1 "$LOOP" 2>"$T/swapon.err"; then
	grep -q 'Operation not permitted' "$T/swapon.err" &&
		skip "swapon is not permitted here: $(cat "$T/swapon.err")"
	fail "swapon $LOOP: $(cat "$T/swapon.err")"
fi
defer swapoff_if_on "$LOOP"
log "swap on $LOOP over $MNT/swap"

# qs_stop [ARGS]: run the stop under test; its status in $rc, output in $out.
qs_stop()
{
	rc=0
	CMP_STATE=$S "$QUICKSTART" stop "$@" >"$T/stop.out" 2>&1 || rc=$?
	out=$(cat "$T/stop.out")
	sed 's/^/    stop: /' "$T/stop.out"
}

all_running()
{
	local what=$1 d

	is_cmpfs_mounted "$MNT" || fail "$what: $MNT was unmounted"
	for d in manager memserver cmpfs-1; do
		pid_alive "${DAEMON_PID[$d]}" || fail "$what: $d was stopped"
	done
}

# ---- 1. refused while swap is on: twice, nothing touched ----
for attempt in first second; do
	qs_stop
	expect_eq "$attempt stop's status with swap on $LOOP" "$rc" 1
	grep -q "$LOOP swaps on $MNT/swap" <<<"$out" ||
		fail "$attempt stop does not name $LOOP and $MNT/swap: $out"
	grep -q "nothing running" <<<"$out" &&
		fail "$attempt stop lost track of the node: $out"
	grep -q "^$LOOP " /proc/swaps || fail "$attempt stop turned swap off"
	all_running "$attempt refused stop"
done

# ---- 2. --force with the mount busy: swap and loop go, the rest stays ----
(cd "$MNT" && exec sleep 120) &
HOLDER=$!
defer kill "$HOLDER"
wait_until "the holder to sit in $MNT" 5 \
	test "$(readlink "/proc/$HOLDER/cwd")" = "$MNT"
qs_stop --force
expect_eq "stop --force's status with $MNT busy" "$rc" 1
grep -q "swapoff $LOOP" <<<"$out" || fail "stop --force did not swapoff: $out"
grep -q "$MNT is busy" <<<"$out" || fail "stop --force does not say busy: $out"
grep -q "^$LOOP " /proc/swaps && fail "stop --force left swap on $LOOP"
[ "$(cat "/sys/block/${LOOP#/dev/}/loop/backing_file" 2>/dev/null)" != "$MNT/swap" ] ||
	fail "stop --force left $LOOP on $MNT/swap"
all_running "stop --force on a busy mount"
undefer kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || true

# ---- 3. a free mount: everything stops, in order, and says so ----
qs_stop
expect_eq "stop's status once nothing uses $MNT" "$rc" 0
grep -q "quickstart: stopped ($MNT unmounted)" <<<"$out" ||
	fail "stop does not say stopped: $out"
is_mounted "$MNT" && fail "$MNT is still mounted after stop"
for d in cmpfs-1 memserver manager; do
	pid_dead "${DAEMON_PID[$d]}" || fail "stop said stopped, $d still runs"
done
[ ! -e "$S/mountpoint" ] && [ ! -e "$S/manager.pid" ] &&
	[ ! -e "$S/memserver.pid" ] || fail "stop left its state: $(ls "$S")"
qs_stop
expect_eq "a stop after the stop" "$rc" 0
grep -q "nothing running" <<<"$out" || fail "third stop: $out"
log "stop refused twice with swap on, refused busy, then stopped cleanly"
