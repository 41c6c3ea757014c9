# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The shell library every integration test sources, and the multi-node
# tests through tests/cluster/lib-netns.sh. It gives each test a deadline,
# a private temporary directory, a stack of cleanup commands that runs even
# when the test fails or is killed, daemons started in their own session
# with their logs collected, cmpfs mounts that are torn down in the right
# order, and the final verdict: a test fails when any daemon log holds an
# unexpected "error:" line or a sanitizer report, a daemon exited badly or
# had to be killed, or a cleanup step failed, whatever the test body said.
#
# Usage, at the top of a test:
#
#     TEST_TIMEOUT=120           # seconds, optional (default 120)
#     . "$(dirname "$0")/lib.sh"
#     requires getfattr dd
#     mount_fs "$T/mnt" local=64M,block=1M
#
# Environment from tests/integration/meson.build: CMPFS (the daemon), BUILD_DIR (where
# the helper programs are built), SRC_DIR (this directory).
#
# Teardown order, and why (measured, see FUSE-NOTES.md): a swap device on a
# loop device on a cmpfs file must go in the order swapoff, losetup -d, then
# unmount. The mount cannot be unmounted while a loop device holds a file on
# it, and a daemon that goes away under an active swap device takes swapped
# pages with it. Since the cleanup stack runs last-in first-out, a test gets
# this order by registering in the natural order: mount_fs, then
# losetup + defer "losetup -d", then swapon + defer "swapoff". Daemons run in
# their own session (setsid) so that the timeout's SIGTERM, which goes to the
# test's process group, never kills a daemon before the swap on it is off.

set -eu -o pipefail
export LC_ALL=C # error messages the tests match on

# ---- deadline: re-run this script under timeout(1) ------------------------
# timeout signals the whole process group (the test and its helpers, not the
# daemons); the TERM trap below then runs the cleanup stack. KILL follows
# after TEST_KILL_AFTER seconds if the cleanup itself hangs.
if [ -z "${CMPFS_ITEST_UNDER_TIMEOUT:-}" ]; then
	export CMPFS_ITEST_UNDER_TIMEOUT=1
	exec timeout --kill-after="${TEST_KILL_AFTER:-60}" \
		"${TEST_TIMEOUT:-120}" "$BASH" "$0" "$@"
fi

TEST_NAME=$(basename "$0" .sh)
TEST_START=$(date +%s.%N)
CMPFS=${CMPFS:-}
BUILD_DIR=${BUILD_DIR:-}
SRC_DIR=${SRC_DIR:-$(cd "$(dirname "$0")" && pwd)}

# Log lines matching this extended regex are expected "error:" lines for
# the current test (a test that provokes an error sets it).
ALLOWED_ERRORS=${ALLOWED_ERRORS:-}
SANITIZER_RE='AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer|MemorySanitizer|runtime error:'

T=''			# the test's private directory (made below)
DEFERRED=()		# the cleanup stack
DAEMON_LOGS=()		# logs checked at exit
declare -A DAEMON_PID	# name -> pid
declare -A DAEMON_LOG	# name -> log file
declare -A DAEMON_ADOPTED # name -> 1 for daemons that are not our children
declare -A DAEMON_STOPSIG # name -> signal that stops it (start_service)
declare -A MNT_DAEMON	# mount dir -> daemon name
declare -A MNT_DEV	# mount dir -> minor number (fusectl connection)
CLEANUP_FAILED=0
IN_CLEANUP=
DAEMON_SEQ=0

log()
{
	printf '[%s %6.2fs] %s\n' "$TEST_NAME" \
		"$(awk -v a="$(date +%s.%N)" -v b="$TEST_START" \
			'BEGIN { print a - b }')" "$*"
}

# fail MSG: the test fails. Inside the cleanup stack it only returns 1, so
# that one failing cleanup step does not skip the others.
fail()
{
	printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
	[ -z "$IN_CLEANUP" ] || return 1
	exit 1
}

skip()
{
	printf '[%s] SKIP: %s\n' "$TEST_NAME" "$*"
	exit 77
}

# requires CMD...: skip (exit 77) unless every command exists.
requires()
{
	local c

	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 ||
			skip "needs '$c' (not found in PATH)"
	done
}

requires_root()
{
	[ "$(id -u)" = 0 ] || skip "needs root"
	[ -c /dev/fuse ] || skip "needs /dev/fuse"
}

# helper NAME: path of a helper program built from tests/integration/meson.build.
helper()
{
	local p="$BUILD_DIR/$1"

	[ -x "$p" ] || fail "helper $p not built (is BUILD_DIR set?)"
	echo "$p"
}

# defer CMD...: push a cleanup command (run last-in first-out at exit).
defer()
{
	local q

	printf -v q '%q ' "$@"
	DEFERRED+=("$q")
}

# Runs the newest deferred command now and drops it from the stack (for
# teardown in the middle of a test); it must match the given command.
undefer()
{
	local q n=${#DEFERRED[@]}

	printf -v q '%q ' "$@"
	[ "$n" -gt 0 ] && [ "${DEFERRED[n - 1]}" = "$q" ] ||
		fail "undefer '$*': not the newest cleanup ('${DEFERRED[n - 1]:-}')"
	unset 'DEFERRED[n - 1]'
	eval "$q"
}

# wait_for DESCRIPTION SECONDS CMD...: poll CMD until it succeeds.
wait_for()
{
	local what=$1 secs=$2 end

	shift 2
	end=$(($(date +%s%N) + secs * 1000000000))
	until "$@"; do
		[ "$(date +%s%N)" -lt "$end" ] ||
			{ echo "timed out after ${secs}s waiting for $what" >&2; return 1; }
		sleep 0.05
	done
}

# wait_until DESCRIPTION SECONDS CMD...: wait_for, and fail on timeout.
wait_until()
{
	wait_for "$@" || fail "timed out after ${2}s waiting for $1"
}

pid_alive()
{
	local st

	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ]
}

pid_dead() { ! pid_alive "$1"; }

# start_daemon NAME READY_CMD CMD...: run CMD in its own session with its
# output in $T/NAME.log, and wait (up to READY_TIMEOUT s, default 60) until
# READY_CMD succeeds. (cmpfs locks and pre-faults its pool before it
# mounts: 1.2 GiB took 22 s on a loaded machine short of free huge pages.)
# Fails at once, with the log, when the daemon exits instead.
start_daemon()
{
	local name=$1 ready=$2 logf="$T/$1.log" pid end

	shift 2
	: >"$logf"
	setsid "$@" >>"$logf" 2>&1 </dev/null &
	pid=$!
	DAEMON_PID[$name]=$pid
	DAEMON_LOG[$name]=$logf
	DAEMON_LOGS+=("$logf")
	defer stop_daemon "$name"
	end=$(($(date +%s%N) + ${READY_TIMEOUT:-60} * 1000000000))
	until eval "$ready"; do
		if pid_dead "$pid"; then
			sed 's/^/    /' "$logf" >&2
			fail "daemon $name ($*) exited before it was ready"
		fi
		[ "$(date +%s%N)" -lt "$end" ] ||
			fail "daemon $name not ready after ${READY_TIMEOUT:-60}s ($ready)"
		sleep 0.02
	done
}

# start_service NAME READY_CMD CMD...: start_daemon for a daemon that runs
# until it is told to stop (a manager, a memserver): the cleanup stops it
# with SIGTERM, and it must then exit with status 0 within 5 s.
start_service()
{
	DAEMON_STOPSIG[$1]=TERM
	start_daemon "$@"
}

# stop_daemon NAME [SIGNAL]: without SIGNAL, stop it as it is meant to
# stop: a cmpfs daemon exits by itself after its unmount (wait up to
# 10 s), a service on its stop signal (5 s). Then TERM, then KILL: a
# daemon that had to be stopped that way, or that exited with a non-zero
# status, fails the test. With SIGNAL (the test kills it on purpose, a
# crash): send SIGNAL, KILL after 5 s, and ignore its exit status.
stop_daemon()
{
	local name=$1 pid=${DAEMON_PID[$1]:-0} sig=${2:-${DAEMON_STOPSIG[$1]:-}}
	local rc=0 secs=10

	[ "$pid" != 0 ] || return 0	# already stopped (umount_fs, a kill)
	DAEMON_PID[$name]=0
	if [ -n "$sig" ]; then
		kill -"$sig" "$pid" 2>/dev/null || true
		secs=5
	fi
	if ! wait_for "daemon $name to exit" "$secs" pid_dead "$pid"; then
		echo "daemon $name (pid $pid) still running: SIGTERM" >&2
		kill -TERM "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true
		wait_for "daemon $name to exit after SIGTERM" 5 pid_dead "$pid" ||
			kill -KILL "$pid" 2>/dev/null || true
		CLEANUP_FAILED=1
	fi
	# An adopted daemon (started by mount(8)) is not our child: no status.
	[ -n "${DAEMON_ADOPTED[$name]:-}" ] || wait "$pid" 2>/dev/null || rc=$?
	if [ -z "${2:-}" ] && [ "$rc" != 0 ]; then
		echo "daemon $name (pid $pid) exited with status $rc" >&2
		CLEANUP_FAILED=1
	fi
}

# kill_daemon NAME: SIGKILL now (a crash), and reap it.
kill_daemon()
{
	local pid=${DAEMON_PID[$1]}

	stop_daemon "$1" KILL
	log "killed $1 (pid $pid) with SIGKILL"
}

# ---- cmpfs mounts ---------------------------------------------------------

# mount_info DIR: the mountinfo line of the newest mount on DIR (or nothing).
mount_info()
{
	awk -v d="$1" '$5 == d { l = $0 } END { if (l != "") print l }' \
		/proc/self/mountinfo
}

is_mounted() { [ -n "$(mount_info "$1")" ]; }
is_cmpfs_mounted() { mount_info "$1" | grep -q ' - fuse\.cmpfs '; }

# mount_daemon NAME DIR CMD...: start daemon NAME, CMD, a cmpfs serving
# DIR in the foreground; return when the mount shows in
# /proc/self/mountinfo and answers statfs. Registers umount_fs DIR.
mount_daemon()
{
	local name=$1 dir=$2

	shift 2
	start_daemon "$name" "is_cmpfs_mounted '$dir'" "$@"
	MNT_DAEMON[$dir]=$name
	MNT_DEV[$dir]=$(mount_info "$dir" | awk '{split($3, d, ":"); print d[2]}')
	defer umount_fs "$dir"
	timeout 10 stat -f "$dir" >/dev/null ||
		fail "mount $dir does not answer statfs"
}

# mount_fs DIR OPTS [EXTRA_ARGS...]: run cmpfs in the foreground (in the
# background) with -o OPTS,log=$T/cmpfs-N.log, as mount_daemon.
mount_fs()
{
	local dir=$1 opts=$2 name

	shift 2
	[ -n "$CMPFS" ] && [ -x "$CMPFS" ] || fail "CMPFS is not set to the daemon"
	mkdir -p "$dir"
	dir=$(realpath "$dir")
	DAEMON_SEQ=$((DAEMON_SEQ + 1))
	name=cmpfs-$DAEMON_SEQ
	mount_daemon "$name" "$dir" \
		"$CMPFS" "$dir" -f -o "${opts:+$opts,}log=$T/$name.log" "$@"
	log "mounted cmpfs on $dir (-o $opts), daemon pid ${DAEMON_PID[$name]}"
}

# adopt_mount DIR LOG: take charge of a cmpfs mount made by someone else
# (mount -t fuse.cmpfs ... -o log=LOG): find its daemon by the mount
# point on its command line, check LOG at exit, and register umount_fs.
adopt_mount()
{
	local dir=$1 logf=$2 name p a pid= args

	dir=$(realpath "$dir")
	# One pgrep, then bash builtins only: a few forks per process of the
	# machine took 40 s on a loaded one.
	for p in $(pgrep -x cmpfs); do
		mapfile -d '' args <"/proc/$p/cmdline" 2>/dev/null || continue
		for a in "${args[@]}"; do
			[ "$a" != "$dir" ] || pid=$p
		done
	done
	[ -n "$pid" ] || fail "no cmpfs daemon serves $dir"
	DAEMON_SEQ=$((DAEMON_SEQ + 1))
	name=cmpfs-$DAEMON_SEQ
	DAEMON_PID[$name]=$pid
	DAEMON_LOG[$name]=$logf
	DAEMON_ADOPTED[$name]=1
	DAEMON_LOGS+=("$logf")
	MNT_DAEMON[$dir]=$name
	MNT_DEV[$dir]=$(mount_info "$dir" | awk '{split($3, d, ":"); print d[2]}')
	defer stop_daemon "$name"
	defer umount_fs "$dir"
	log "adopted the cmpfs mount on $dir, daemon pid $pid"
}

fusectl_abort()
{
	local minor=$1 ctl=/sys/fs/fuse/connections

	if ! mountpoint -q "$ctl"; then
		mount -t fusectl none "$ctl" 2>/dev/null ||
			{ echo "cannot mount fusectl at $ctl" >&2; return 1; }
	fi
	[ -e "$ctl/$minor/abort" ] || return 0
	echo "aborting FUSE connection $minor through fusectl" >&2
	echo 1 >"$ctl/$minor/abort"
}

# umount_fs DIR: unmount and wait for the daemon to exit. A mount that
# stays busy for 10 s, or whose umount hangs for 5 s (a daemon that does
# not answer), is aborted through fusectl and detached lazily, and the test
# fails.
umount_fs()
{
	local dir=$1 name=${MNT_DAEMON[$1]:-} end rc

	if is_mounted "$dir"; then
		end=$(($(date +%s%N) + 10000000000))
		# Busy: retry for 10 s. Hung (umount itself stuck on the
		# daemon, timeout's status 124): give up at once.
		until rc=0; timeout 5 umount "$dir" 2>"$T/umount.err" || rc=$?
			[ "$rc" = 0 ]; do
			if [ "$rc" = 124 ] || [ "$(date +%s%N)" -ge "$end" ]; then
				echo "umount $dir failed (status $rc): $(cat "$T/umount.err")" >&2
				fusectl_abort "${MNT_DEV[$dir]:-}" || true
				umount -l "$dir" || true
				CLEANUP_FAILED=1
				break
			fi
			sleep 0.1
		done
	fi
	if [ -n "$name" ]; then
		unset 'MNT_DAEMON[$dir]'
		# stop_daemon stays on the cleanup stack; run it now so
		# that a test can remount (the stack's copy is then a no-op).
		stop_daemon "$name"
	fi
}

# stat_get NAME [DIR]: one counter of the mount (default $MNT).
stat_get()
{
	local v

	v=$(getfattr --absolute-names -n user.cmpfs.stats --only-values \
		"${2:-$MNT}" | awk -v n="$1" '$1 == n { print $2 }')
	[ -n "$v" ] || fail "no counter '$1' in user.cmpfs.stats of ${2:-$MNT}"
	echo "$v"
}

# random_file PATH MIB: MIB MiB of incompressible data; AES-CTR through
# openssl when present (GB/s), /dev/urandom otherwise.
random_file()
{
	if command -v openssl >/dev/null 2>&1; then
		# openssl dies of SIGPIPE when head is done: not an error.
		(set +o pipefail
		 openssl enc -aes-128-ctr -nosalt -pbkdf2 \
			-pass "pass:$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
			</dev/zero 2>/dev/null | head -c "$(($2 << 20))" >"$1")
	else
		head -c "$(($2 << 20))" /dev/urandom >"$1"
	fi
	[ "$(stat -c %s "$1")" = $(($2 << 20)) ] || fail "random_file $1 $2"
}

# expect_eq WHAT GOT WANT
expect_eq()
{
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# ---- exit: cleanup stack, log checks, verdict -----------------------------

check_logs()
{
	local f bad=0 errs

	for f in "${DAEMON_LOGS[@]}"; do
		[ -f "$f" ] || continue
		errs=$(grep -E ': error: ' "$f" || true)
		if [ -n "$ALLOWED_ERRORS" ] && [ -n "$errs" ]; then
			errs=$(grep -Ev "$ALLOWED_ERRORS" <<<"$errs" || true)
		fi
		if [ -n "$errs" ]; then
			echo "unexpected error lines in $(basename "$f"):" >&2
			sed 's/^/    /' <<<"$errs" >&2
			bad=1
		fi
		if grep -Eq "$SANITIZER_RE" "$f"; then
			echo "sanitizer report in $(basename "$f"):" >&2
			sed 's/^/    /' "$f" >&2
			bad=1
		fi
	done
	return $bad
}

on_exit()
{
	local rc=$? i f

	set +e
	trap - EXIT
	# The deadline's TERM may come while the cleanup runs (a test that
	# failed just before it): the cleanup goes on (its commands die of
	# it as they would have, not the shell), KILL TEST_KILL_AFTER s later
	# is the last word. Resetting TERM to its default here left every
	# daemon, mount and namespace behind.
	trap 'echo "[$TEST_NAME] signal during the cleanup: it goes on" >&2' \
		TERM INT HUP
	IN_CLEANUP=1
	cd / # a test that cd'ed into a mount must not keep it busy
	for ((i = ${#DEFERRED[@]} - 1; i >= 0; i--)); do
		eval "${DEFERRED[i]}" || {
			echo "cleanup failed: ${DEFERRED[i]}" >&2
			CLEANUP_FAILED=1
		}
	done
	if [ "$rc" != 77 ]; then
		check_logs || rc=1
		[ "$CLEANUP_FAILED" = 0 ] || { [ "$rc" != 0 ] || rc=1; }
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		for f in "${DAEMON_LOGS[@]}"; do
			[ -s "$f" ] || continue
			echo "---- last lines of $(basename "$f") ----"
			tail -n 20 "$f"
		done
	fi
	# --one-file-system: never recurse into a mount that failed to go.
	[ -z "$T" ] || rm -rf --one-file-system "$T"
	log "exit $rc"
	exit "$rc"
}

trap on_exit EXIT
trap 'echo "[$TEST_NAME] terminated (deadline?)" >&2; exit 124' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

T=$(mktemp -d /tmp/cmpfs-itest.XXXXXX)
chmod 755 "$T"
log "start (deadline ${TEST_TIMEOUT:-120}s, tmp $T)"
