#!/bin/bash
# SPDX-License-Identifier: MIT
# The quick start: installs what is missing, builds, installs the programs
# under /usr/local, and starts a single-machine setup with cmpfs mounted on
# a directory. `tools/quickstart.sh stop` takes it all down again.
#
#   tools/quickstart.sh [start] [MOUNTPOINT]     default /cmp
#   tools/quickstart.sh stop
#   environment: CMP_LOCAL (memory for the pool, default 1G),
#                CMP_STATE (state directory, default /run/cmpfs-quickstart)
set -euo pipefail
cd "$(dirname "$0")/.."

state=${CMP_STATE:-/run/cmpfs-quickstart}
cmd=${1:-start}
case "$cmd" in
start | stop | status) shift || true ;;
/*) cmd=start ;;
*)
	echo "usage: $0 [start [MOUNTPOINT] | stop | status]" >&2
	exit 2
	;;
esac

wait_for() { # SECONDS COMMAND...: poll until COMMAND succeeds
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

is_mounted() { grep -q " $1 fuse.cmpfs " /proc/self/mounts; }

stop() {
	[ -f "$state/mountpoint" ] || {
		echo "quickstart: nothing running"
		return 0
	}
	local mnt
	mnt=$(cat "$state/mountpoint")
	if is_mounted "$mnt"; then
		umount "$mnt" || umount -l "$mnt"
	fi
	for pidf in "$state"/*.pid; do
		[ -f "$pidf" ] || continue
		kill "$(cat "$pidf")" 2>/dev/null || true
		rm -f "$pidf"
	done
	rm -f "$state/mountpoint"
	echo "quickstart: stopped ($mnt unmounted)"
}

case "$cmd" in
stop)
	stop
	exit 0
	;;
status)
	if [ -f "$state/mountpoint" ] && is_mounted "$(cat "$state/mountpoint")"; then
		cmpctl stats "$(cat "$state/mountpoint")"
	else
		echo "quickstart: not running"
		exit 1
	fi
	exit 0
	;;
esac

mnt=${1:-/cmp}
local_size=${CMP_LOCAL:-1G}
[ "$(id -u)" -eq 0 ] || {
	echo "quickstart: run as root (it mounts a file system)" >&2
	exit 1
}
if is_mounted "$mnt"; then
	echo "quickstart: $mnt is already a cmpfs mount; '$0 stop' first" >&2
	exit 1
fi

tools/deps.sh build
if [ -f build-release/build.ninja ]; then
	meson setup --reconfigure build-release -Dbuildtype=release >/dev/null
else
	meson setup build-release -Dbuildtype=release >/dev/null
fi
ninja -C build-release >/dev/null
meson install -C build-release --quiet --no-rebuild

mkdir -p "$state" "$mnt"
echo "$mnt" >"$state/mountpoint"
# mount(8) finds the daemon through mount.fuse3 as the fuse.cmpfs type.
mount -t fuse.cmpfs cmpfs "$mnt" -o "local=$local_size,log=$state/cmpfs.log"
wait_for 10 is_mounted "$mnt" || {
	echo "quickstart: mount failed; see $state/cmpfs.log" >&2
	exit 1
}

cat <<MSG

cmpfs is mounted on $mnt with a pool of $local_size of this machine's memory.

  use it:      dd if=/dev/zero of=$mnt/data bs=1M count=256
               cp bigfile $mnt/      ;  python3 -c 'import mmap' ... (mmap works)
  as swap:     truncate -s 1G $mnt/swap && losetup --direct-io=on -f --show $mnt/swap
               mkswap /dev/loopN && swapon /dev/loopN
               (teardown: swapoff /dev/loopN; losetup -d /dev/loopN; then stop)
  counters:    cmpctl stats $mnt
  log:         $state/cmpfs.log
  stop it:     $0 stop
MSG
