#!/bin/bash
# SPDX-License-Identifier: MIT
# The quick start: installs what is missing, builds, installs the programs
# under /usr/local, and starts a single-machine cluster on loopback: a
# cmp-manager, a file-backed cmp-memserver (the lowest tier) and cmpfs
# mounted on a directory. `tools/quickstart.sh stop` takes it all down.
#
#   tools/quickstart.sh [start] [MOUNTPOINT]     default /cmp
#   tools/quickstart.sh stop | status
#   environment: CMP_LOCAL  memory this node gives the pool (default 1G)
#                CMP_STORE  memserver capacity on disk (default 4G, sparse)
#                CMP_STATE  state directory (default /var/lib/cmpfs-quickstart)
#                CMP_PORT   first of three loopback ports (default 7000)
set -euo pipefail
cd "$(dirname "$0")/.."

state=${CMP_STATE:-/var/lib/cmpfs-quickstart}
port=${CMP_PORT:-7000}
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
		local pid
		pid=$(pgrep -f "^cmpfs .*$mnt" | head -n 1 || true)
		umount "$mnt" || umount -l "$mnt"
		# Let cmpfs give its borrowed blocks back before the others go.
		[ -z "$pid" ] || wait_for 10 eval "! kill -0 $pid 2>/dev/null" ||
			echo "quickstart: cmpfs ($pid) is slow to exit" >&2
	fi
	for pidf in "$state"/memserver.pid "$state"/manager.pid; do
		[ -f "$pidf" ] || continue
		kill "$(cat "$pidf")" 2>/dev/null || true
		rm -f "$pidf"
	done
	rm -f "$state/store"
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
		cmpctl status --manager "tcp://127.0.0.1:$port" --key "$state/key"
		echo
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
# An optimized build of the programs only (the test command builds the rest).
rel=(-Dbuildtype=release -Dtests=disabled -Dwerror=false)
if [ -f build-release/build.ninja ]; then
	meson setup --reconfigure build-release "${rel[@]}" >/dev/null
else
	meson setup build-release "${rel[@]}" >/dev/null
fi
ninja -C build-release >build-release.log 2>&1 || {
	tail -n 30 build-release.log >&2
	echo "quickstart: the build failed (build-release.log)" >&2
	exit 1
}
meson install -C build-release --quiet --no-rebuild

mkdir -p "$state" "$mnt"
echo "$mnt" >"$state/mountpoint"
[ -f "$state/key" ] || cmpctl keygen "$state/key" >/dev/null
mgr=tcp://127.0.0.1:$port

# The manager and the memserver run in sessions of their own, logging to
# files in $state.
start_bg() { # NAME COMMAND...
	local name=$1
	shift
	setsid "$@" </dev/null >>"$state/$name.log" 2>&1 &
	echo $! >"$state/$name.pid"
}
start_bg manager cmp-manager --listen "$mgr" --key "$state/key" -f
start_bg memserver cmp-memserver --manager "$mgr" \
	--listen "tcp://127.0.0.1:$((port + 1))" --key "$state/key" \
	--store "$state/store" --size "${CMP_STORE:-4G}" -f
registered() { grep -q "registered" "$state/manager.log" 2>/dev/null; }
wait_for 10 registered || {
	echo "quickstart: the memserver did not register; see $state/*.log" >&2
	stop
	exit 1
}

# mount(8) finds the daemon through mount.fuse3 as the fuse.cmpfs type.
opts="local=$local_size,manager=$mgr,listen=tcp://127.0.0.1:$((port + 2))"
opts+=",key=$state/key,log=$state/cmpfs.log"
mount -t fuse.cmpfs cmpfs "$mnt" -o "$opts" || {
	echo "quickstart: mount failed; see $state/cmpfs.log" >&2
	stop
	exit 1
}

cat <<MSG

cmpfs is mounted on $mnt with $local_size of this machine's memory in the
pool; when that is full, the coldest blocks move to the memserver
(${CMP_STORE:-4G} in $state/store). Manager: $mgr, key: $state/key.

  use it:      dd if=/dev/zero of=$mnt/data bs=1M count=256
               cp bigfile $mnt/      ;  python3 -c 'import mmap' ... (mmap works)
  as swap:     truncate -s 1G $mnt/swap && losetup --direct-io=on -f --show $mnt/swap
               mkswap /dev/loopN && swapon /dev/loopN
               (teardown: swapoff /dev/loopN; losetup -d /dev/loopN; then stop)
  counters:    cmpctl stats $mnt
  cluster:     cmpctl status --manager $mgr --key $state/key
  logs:        $state/{cmpfs,manager,memserver}.log
  stop it:     $0 stop
MSG
