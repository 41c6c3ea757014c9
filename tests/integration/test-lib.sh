#!/bin/bash
# SPDX-License-Identifier: MIT
# The test library tests itself, so that a green suite means something:
# small child tests (made here, run under their own deadline) must pass,
# fail or skip as they should — an "error:" line or a sanitizer report in
# a daemon log fails a test whose body passed, ALLOWED_ERRORS lets an
# expected one through, a missing command skips, a service (start_service)
# that does not exit with status 0 on SIGTERM fails, a crash the test
# causes on purpose does not — and whatever happens, even a hung daemon or
# a test killed at its deadline, no mount, loop device or daemon may be
# left behind.
TEST_TIMEOUT=120
. "$(dirname "$0")/lib.sh"
requires_root
requires losetup

# child NAME WANT_RC BODY [ENV=VAL...]: run BODY as a test, check its exit
# status, and that it left no mount, daemon or loop device.
child()
{
	local name=$1 want=$2 body=$3 rc=0 dir pid

	shift 3
	cat >"$T/$name.sh" <<CHILD
TEST_TIMEOUT=\${CHILD_TIMEOUT:-60}
. "$SRC_DIR/lib.sh"
$body
CHILD
	env CMPFS_ITEST_UNDER_TIMEOUT= "$@" bash "$T/$name.sh" \
		>"$T/$name.out" 2>&1 || rc=$?
	if [ "$rc" != "$want" ]; then
		sed 's/^/    /' "$T/$name.out"
		fail "child test '$name' exited $rc, want $want"
	fi
	while read -r dir pid; do
		! is_mounted "$dir" || {
			umount -l "$dir"
			fail "child test '$name' left $dir mounted"
		}
		! [ -d "/proc/$pid" ] || {
			kill -KILL "$pid"
			fail "child test '$name' left daemon $pid running"
		}
	done < <(sed -n 's/.*mounted cmpfs on \([^ ]*\) .*daemon pid \([0-9]*\)$/\1 \2/p' \
		"$T/$name.out")
	for pid in $(sed -n 's/^service pid \([0-9]*\)$/\1/p' "$T/$name.out"); do
		! pid_alive "$pid" || {
			kill -KILL "$pid"
			fail "child test '$name' left service $pid running"
		}
	done
	grep -q 'mounted cmpfs on' "$T/$name.out" || [ "$want" = 77 ] ||
		fail "child test '$name' mounted nothing"
	if losetup --list --noheadings -O BACK-FILE | grep -q "$T/"; then
		fail "child test '$name' left a loop device: $(losetup --list)"
	fi
	log "child '$name': exit $rc as expected, nothing left behind"
}

M='mount_fs "$T/mnt" local=16M; echo hi >"$T/mnt/f"'
child pass 0 "$M"
child error-line 1 "$M"'; echo "cmpfs[0]: error: injected" >>"$T/cmpfs-1.log"'
child allowed-error 0 "$M"'; echo "cmpfs[0]: error: injected" >>"$T/cmpfs-1.log"' \
	ALLOWED_ERRORS=injected
child sanitizer 1 "$M"'; echo "==1==ERROR: AddressSanitizer: heap-use-after-free" >>"$T/cmpfs-1.log"'
child body-fails 1 "$M"'; fail "on purpose"'
child busy-cwd 0 "$M"'; cd "$T/mnt"'
child skip 77 'requires no-such-command-cmpfs-itest'
child loop-device 0 "$M"'; truncate -s 8M "$T/mnt/img"
L=$(losetup --find --show "$T/mnt/img"); defer losetup -d "$L"'
child hung-daemon 1 "$M"'; kill -STOP "${DAEMON_PID[cmpfs-1]}"'
grep -q 'aborting FUSE connection' "$T/hung-daemon.out" ||
	fail "the hung mount was not aborted through fusectl"
# services: stopped with SIGTERM by the cleanup, status 0 wanted
# svc TRAP [MORE]: a child body: a mount, and a service whose SIGTERM
# trap is TRAP, then MORE. The service is ready once its trap is set (it
# says so with a file), so the cleanup's SIGTERM never beats the trap.
svc()
{
	printf '%s\nstart_service svc "test -e $T/svc.ready" bash -c %q svc "$T/svc.ready"\n%s\n%s\n' \
		"$M" "$1; : >\"\$1\"; while :; do sleep 0.05; done" \
		'echo "service pid ${DAEMON_PID[svc]}"' "${2:-}"
}
child service 0 "$(svc 'trap "exit 0" TERM')"
child service-bad-status 1 "$(svc 'trap "exit 3" TERM')"
child service-ignores-term 1 "$(svc 'trap "" TERM')"
grep -q 'daemon svc (pid [0-9]*) still running: SIGTERM' \
	"$T/service-ignores-term.out" ||
	fail "the service that ignored SIGTERM was not reported"
child crash-on-purpose 0 "$(svc 'trap "exit 0" TERM' 'kill_daemon svc')"
child wait-until 1 "$M"'; wait_until "nothing" 1 false'
grep -q 'timed out after 1s waiting for nothing' "$T/wait-until.out" ||
	fail "wait_until did not say what it waited for"
# (a bare sleep on purpose: it is what the deadline has to cut short)
child deadline 124 "$M"'; sleep 60' CHILD_TIMEOUT=3
