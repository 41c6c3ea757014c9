#!/bin/bash
# SPDX-License-Identifier: MIT
# The quick start: installs what is missing, builds, installs the programs
# under /usr/local, and starts a single-machine cluster on loopback: a
# cmp-manager, a file-backed cmp-memserver (the lowest tier) and cmpfs
# mounted on a directory. `tools/quickstart.sh stop` takes it all down.
#
#   tools/quickstart.sh [start] [MOUNTPOINT]     default /cmp
#   tools/quickstart.sh stop [--force] | status
#
# stop refuses (status 1, nothing touched) while a loop device holds a file
# on the mount, naming the device, the file and whether it swaps; --force
# first does swapoff and losetup -d on them (the teardown order swap needs:
# swapoff, losetup -d, unmount). It never unmounts lazily: a busy mount
# stops it with status 1 and the processes using it named. It reports
# "stopped" (status 0) only once cmpfs, the memserver and the manager have
# exited; otherwise the state stays, so a second stop sees what still runs.
#   environment: CMP_LOCAL  memory this node gives the pool (default 1G)
#                CMP_STORE  memserver capacity on disk (default 4G, sparse)
#                CMP_STATE  state directory (default /var/lib/cmpfs-quickstart)
#                CMP_PORT   first of three loopback ports (default 7000)
#                CMP_STOP_WAIT  seconds stop waits for cmpfs to exit after
#                           the unmount (default 30; it first moves the
#                           blocks it holds for other nodes elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."

state=${CMP_STATE:-/var/lib/cmpfs-quickstart}
port=${CMP_PORT:-7000}
cmd=${1:-start}
case "$cmd" in
start | stop | status) shift || true ;;
/*) cmd=start ;;
*)
	echo "usage: $0 [start [MOUNTPOINT] | stop [--force] | status]" >&2
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

# exe_is PID NAME: PID is alive and runs the program NAME.
exe_is() {
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	exe=${exe% (deleted)}
	[ "${exe##*/}" = "$2" ]
}

gone() { ! exe_is "$1" "$2"; }

# cmpfs_pids MNT: the cmpfs daemons whose command line names MNT. (A
# readlink per process of the machine took 15 s on a loaded one: pgrep
# first, when there is one.)
cmpfs_pids() {
	local p candidates
	if command -v pgrep >/dev/null; then
		candidates=$(pgrep -x cmpfs || true)
	else
		candidates=$(ls /proc | grep -x '[0-9]*')
	fi
	for p in $candidates; do
		exe_is "$p" cmpfs || continue
		tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF "$1" &&
			echo "$p"
	done
	return 0
}

# loops_on MNT: "DEVICE FILE" for every loop device backed by a file on MNT.
loops_on() {
	local f back dev
	for f in /sys/block/loop*/loop/backing_file; do
		back=$(cat "$f" 2>/dev/null) || continue
		case "$back" in "$1"/*) ;; *) continue ;; esac
		dev=${f#/sys/block/}
		echo "/dev/${dev%%/*} ${back% (deleted)}"
	done
}

no_loops_on() { [ -z "$(loops_on "$1")" ]; }
is_swap() { awk -v d="$1" 'NR > 1 && $1 == d { f = 1 } END { exit !f }' /proc/swaps; }
mounted_at() { awk -v d="$1" '$1 == d { print $2 }' /proc/self/mounts; }

# free_loops MNT FORCE: the loop devices on MNT must go before the mount
# can (the kernel keeps a file with a loop device on it open, and a daemon
# that goes away under an active swap device takes the swapped pages with
# it). Without FORCE, refuse and say what to do; with it, swapoff and
# detach them. Returns 1 when something is still there.
free_loops() {
	local mnt=$1 force=$2 dev file where left=0
	while read -r dev file; do
		[ -n "$dev" ] || continue
		where=$(mounted_at "$dev")
		if [ -n "$where" ]; then
			echo "quickstart: $dev (on $file) is mounted on $where: unmount it first" >&2
			left=1
		elif is_swap "$dev" && [ "$force" = 0 ]; then
			echo "quickstart: $dev swaps on $file: 'swapoff $dev && losetup -d $dev' first (or stop --force)" >&2
			left=1
		elif [ "$force" = 0 ]; then
			echo "quickstart: loop device $dev holds $file: 'losetup -d $dev' first (or stop --force)" >&2
			left=1
		else
			if is_swap "$dev"; then
				echo "quickstart: swapoff $dev (swap on $file)"
				swapoff "$dev" || {
					echo "quickstart: swapoff $dev failed; $file stays in use" >&2
					left=1
					continue
				}
			fi
			echo "quickstart: losetup -d $dev ($file)"
			losetup -d "$dev" || left=1
		fi
	done < <(loops_on "$mnt")
	[ $left = 0 ] || return 1
	# losetup -d only marks a device still open elsewhere for release.
	wait_for 10 no_loops_on "$mnt" || {
		echo "quickstart: still held by a loop device: $(loops_on "$mnt" | tr '\n' ' ')" >&2
		return 1
	}
}

# stop_daemon NAME PROGRAM: SIGTERM the daemon of $state/NAME.pid and wait
# for it; the pid file stays while it runs, so a later stop sees it.
stop_daemon() {
	local pidf="$state/$1.pid" pid
	[ -f "$pidf" ] || return 0
	pid=$(cat "$pidf")
	if exe_is "$pid" "$2"; then
		kill "$pid" 2>/dev/null || true
		wait_for 10 gone "$pid" "$2" || {
			echo "quickstart: $2 ($pid) still running 10 s after SIGTERM" >&2
			return 1
		}
	fi
	rm -f "$pidf"
}

# stop [--force]: take down what start made, in order: loop devices and
# swap on the mount (only with --force), the mount (never lazily), cmpfs,
# then the memserver and the manager. Stops at the first step that fails,
# says why, and returns 1 with everything after it still running.
stop() {
	local force=0 mnt='' pids pid
	[ "${1:-}" != --force ] || force=1
	if [ ! -f "$state/mountpoint" ] && [ ! -f "$state/manager.pid" ] &&
		[ ! -f "$state/memserver.pid" ]; then
		echo "quickstart: nothing running"
		return 0
	fi
	[ ! -f "$state/mountpoint" ] || mnt=$(cat "$state/mountpoint")
	if [ -n "$mnt" ]; then
		pids=$(cmpfs_pids "$mnt")
		if is_mounted "$mnt"; then
			free_loops "$mnt" $force || {
				echo "quickstart: not stopped: $mnt is still in use" >&2
				return 1
			}
			if ! umount "$mnt"; then
				if command -v fuser >/dev/null; then
					fuser -vm "$mnt" 2>&1 | grep -v '^Cannot stat' >&2 || true
				fi
				echo "quickstart: not stopped: $mnt is busy (the processes above use it)" >&2
				return 1
			fi
		fi
		# Let cmpfs give its borrowed blocks back before the others go.
		for pid in $pids; do
			wait_for "${CMP_STOP_WAIT:-30}" gone "$pid" cmpfs || {
				echo "quickstart: cmpfs ($pid) still running ${CMP_STOP_WAIT:-30} s after the unmount: it still serves blocks of other nodes (its log says why: 'NOT LEAVING YET'); run stop again" >&2
				return 1
			}
		done
	fi
	stop_daemon memserver cmp-memserver || return 1
	stop_daemon manager cmp-manager || return 1
	rm -f "$state/store" "$state/mountpoint"
	echo "quickstart: stopped${mnt:+ ($mnt unmounted)}"
}

case "$cmd" in
stop)
	case "${1:-}" in
	'' | --force) stop "${1:-}" ;;
	*)
		echo "usage: $0 stop [--force]" >&2
		exit 2
		;;
	esac
	exit $?
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

mnt=$(realpath -m "${1:-/cmp}")
local_size=${CMP_LOCAL:-1G}
[ "$(id -u)" -eq 0 ] || {
	echo "quickstart: run as root (it mounts a file system)" >&2
	exit 1
}
if is_mounted "$mnt"; then
	echo "quickstart: $mnt is already a cmpfs mount; '$0 stop' first" >&2
	exit 1
fi
for name in manager:cmp-manager memserver:cmp-memserver; do
	if [ -f "$state/${name%%:*}.pid" ] &&
		exe_is "$(cat "$state/${name%%:*}.pid")" "${name#*:}"; then
		echo "quickstart: ${name#*:} from an earlier start still runs; '$0 stop' first" >&2
		exit 1
	fi
done

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
	stop || true
	exit 1
}

# mount(8) finds the daemon through mount.fuse3 as the fuse.cmpfs type.
opts="local=$local_size,manager=$mgr,listen=tcp://127.0.0.1:$((port + 2))"
opts+=",key=$state/key,log=$state/cmpfs.log"
mount -t fuse.cmpfs cmpfs "$mnt" -o "$opts" || {
	echo "quickstart: mount failed; see $state/cmpfs.log" >&2
	stop || true
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
               (teardown: swapoff /dev/loopN; losetup -d /dev/loopN; then stop,
               or: $0 stop --force, which does both first)
  counters:    cmpctl stats $mnt
  cluster:     cmpctl status --manager $mgr --key $state/key
  logs:        $state/{cmpfs,manager,memserver}.log
  stop it:     $0 stop
MSG
