#!/bin/bash
# SPDX-License-Identifier: MIT
# cmp-memserver as a process: refuses bad configurations with one clear
# line, registers with a real cmp-manager over TCP loopback (cmpctl status
# shows its capacity), rotates the cluster key with SIGHUP and no downtime,
# fails fast when the manager refuses its block size, reports a startup
# failure through its exit code when daemonizing, and shuts down cleanly on
# SIGTERM. Every wait polls with a deadline.
# Usage: test-memserver.sh CMP-MANAGER CMP-MEMSERVER CMPCTL
set -u

manager=${1:?usage: $0 cmp-manager cmp-memserver cmpctl}
memserver=${2:?}
cmpctl=${3:?}
for b in "$manager" "$memserver" "$cmpctl"; do
	if [ ! -x "$b" ]; then
		echo "$b: not built" >&2
		exit 77
	fi
done

dir=$(mktemp -d /tmp/cmp-test-memserver.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$dir"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$dir"/*.log; do
		[ -f "$f" ] && sed "s|^|$(basename "$f"): |" "$f" >&2
	done
	exit 1
}

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}

"$cmpctl" keygen "$dir/key" >/dev/null || fail "cmpctl keygen"

# --- bad configurations: one line, an exit status, nothing started ---
# expect_refusal STATUS TEXT ARGS...
expect_refusal() {
	local want_rc=$1 want=$2 rc=0
	shift 2
	"$memserver" "$@" >"$dir/out" 2>&1 || rc=$?
	[ "$rc" -eq "$want_rc" ] || fail "'$*': exit status $rc, want $want_rc"
	grep -q -- "$want" "$dir/out" || fail "'$*' said: $(cat "$dir/out")"
	[ "$(wc -l <"$dir/out")" -eq 1 ] || fail "more than one line: $*"
}
common=(--manager tcp://127.0.0.1:1 --listen tcp://127.0.0.1:0)
# usage errors: 2, "cmp-memserver: option NAME: ..."
expect_refusal 2 "option key: required unless --insecure" "${common[@]}" \
	--ram 64M
expect_refusal 2 "exactly one of" "${common[@]}" --insecure
expect_refusal 2 "exactly one of" "${common[@]}" --insecure --ram 1M \
	--store "$dir/s" --size 1M
expect_refusal 2 "option store: needs --size" "${common[@]}" --insecure \
	--store "$dir/s"
expect_refusal 2 "option block: '3000' is not a power of two" \
	"${common[@]}" --insecure --ram 1M --block 3000
expect_refusal 2 "option --frobnicate: unknown" --frobnicate
# a key file it will not use: 1, said by the key loader
cp "$dir/key" "$dir/loose-key"
chmod 644 "$dir/loose-key"
expect_refusal 1 "group or others" "${common[@]}" --key "$dir/loose-key" \
	--ram 1M
"$memserver" --help | grep -q -- "--store FILE" || fail "--help"

# --- no manager: one line that says what it means, the real reason, and
# no line per retry (a fake manager hangs up on every connection and
# counts them) ---
python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
n = 0
while True:
    c, _ = s.accept()
    c.close()
    n += 1
    open(sys.argv[1], "w").write(str(n))
' "$dir/attempts" >"$dir/hangup.port" &
pids+=($!)
wait_for 10 test -s "$dir/hangup.port" || fail "no fake manager"
hangup=tcp://127.0.0.1:$(cat "$dir/hangup.port")
"$memserver" --manager "$hangup" --listen tcp://127.0.0.1:0 --insecure \
	--ram 8M -f >"$dir/nomgr.log" 2>&1 &
nomgr_pid=$!
pids+=($nomgr_pid)
attempts_over() { [ "$(cat "$dir/attempts" 2>/dev/null || echo 0)" -ge "$1" ]; }
# 3 s of waiting at start-up, then retries every 2 s
wait_for 30 attempts_over 8 || fail "the memserver stopped retrying"
grep -q " serving " "$dir/nomgr.log" || fail "no serving line: $(cat "$dir/nomgr.log")"
mgr_lines=$(grep -c -E "manager at|no manager" "$dir/nomgr.log")
[ "$mgr_lines" = 1 ] ||
	fail "$mgr_lines lines about the manager for $(cat "$dir/attempts") attempts: $(cat "$dir/nomgr.log")"
grep -q "warning: no manager at $hangup yet (Connection reset by peer): serving, but owners find this memserver only once it has registered; retrying every 2 s" \
	"$dir/nomgr.log" || fail "no-manager line: $(cat "$dir/nomgr.log")"
kill -TERM $nomgr_pid
wait $nomgr_pid || fail "memserver without a manager: exit status $?"

# --- a manager and a memserver registering with it ---
"$manager" --listen tcp://127.0.0.1:0 --key "$dir/key" -f \
	>"$dir/manager.log" 2>&1 &
mgr_pid=$!
pids+=($mgr_pid)
manager_addr() {
	maddr=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' \
		"$dir/manager.log" | head -1)
	[ -n "$maddr" ]
}
wait_for 10 manager_addr || fail "manager did not start"

"$memserver" --manager "$maddr" --listen tcp://127.0.0.1:0 \
	--key "$dir/key" --store "$dir/store" --size 64M --block 64K \
	--node-id 4242 -f >"$dir/memserver.log" 2>&1 &
ms_pid=$!
pids+=($ms_pid)
wait_for 10 grep -qs "serving 64.0 MiB (1024 blocks of 64.0 KiB)" \
	"$dir/memserver.log" || fail "memserver did not start"
[ "$(stat -c %s "$dir/store")" -eq $((64 << 20)) ] || fail "store size"
[ "$(stat -c %a "$dir/store")" = 600 ] || fail "store mode"

registered() {
	"$cmpctl" status --manager "$maddr" --key "$dir/key" --json \
		>"$dir/status.json" 2>/dev/null &&
		grep -q '"id": 4242, "kind": "memserver", "alive": true' \
			"$dir/status.json" &&
		grep -q '"capacity": 1024' "$dir/status.json"
}
wait_for 10 registered || fail "memserver not in cmpctl status: \
$(cat "$dir/status.json" 2>/dev/null)"

# --- key rotation: OLD -> OLD+NEW -> NEW+OLD -> NEW, SIGHUP each time ---
"$cmpctl" keygen "$dir/new.key" >/dev/null || fail "cmpctl keygen new"
cp "$dir/key" "$dir/old.key"
status_with() { # KEYFILE
	"$cmpctl" status --manager "$maddr" --key "$1" >/dev/null 2>"$dir/status.err"
}
reloaded() { # N: both daemons logged their Nth reload
	[ "$(grep -c "key file reloaded" "$dir/manager.log")" -ge "$1" ] &&
		[ "$(grep -c "key file reloaded" "$dir/memserver.log")" -ge "$1" ]
}
rotate() { # N FILES...: the key file becomes FILES, then SIGHUP
	local n=$1
	shift
	cat "$@" >"$dir/key.tmp" && chmod 600 "$dir/key.tmp" &&
		mv "$dir/key.tmp" "$dir/key" || fail "rotate"
	kill -HUP "$mgr_pid" "$ms_pid"
	wait_for 10 reloaded "$n" || fail "step $n: no reload line"
}
rotate 1 "$dir/old.key" "$dir/new.key"
grep -q "key file reloaded: 2 keys" "$dir/manager.log" || fail "2 keys"
status_with "$dir/old.key" || fail "step 1: old key refused"
status_with "$dir/new.key" || fail "step 1: new key refused"
rotate 2 "$dir/new.key" "$dir/old.key"
status_with "$dir/old.key" || fail "step 2: old key refused"
status_with "$dir/new.key" || fail "step 2: new key refused"
rotate 3 "$dir/new.key"
status_with "$dir/new.key" || fail "step 3: new key refused"
if status_with "$dir/old.key"; then
	fail "step 3: the old key still works"
fi
grep -qi "permission denied" "$dir/status.err" ||
	fail "old key: $(cat "$dir/status.err")"
grep -q "no key in common" "$dir/manager.log" ||
	fail "the manager did not say why it refused the old key"
# a broken key file: one line, the keys stay
echo nonsense >"$dir/key"
kill -HUP "$mgr_pid"
wait_for 10 grep -q "keeping the 1 keys loaded before" "$dir/manager.log" ||
	fail "a broken key file was not refused"
cp "$dir/new.key" "$dir/key"
# the memserver stayed registered throughout (sessions keep their keys)
wait_for 10 registered || fail "memserver lost its registration"

# --- a second memserver with another block size is refused, fast: one
# line that says why, no "retrying", exit status 1 ---
rc=0
"$memserver" --manager "$maddr" --listen tcp://127.0.0.1:0 \
	--key "$dir/key" --ram 8M --block 1M -f >"$dir/refused.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a memserver with a different block size: status $rc"
grep -v -E "oom_score_adj|PR_SET_IO_FLUSHER" "$dir/refused.log" >"$dir/refused"
[ "$(wc -l <"$dir/refused")" = 1 ] ||
	fail "block size refusal: not one line: $(cat "$dir/refused")"
grep -q "error: the manager at $maddr refused this memserver (node [0-9]*): block size differs from the cluster's$" \
	"$dir/refused" || fail "block size refusal: $(cat "$dir/refused")"

# --- daemon mode reports a startup failure through its exit code ---
busy=${maddr#tcp://}
if "$memserver" --manager "$maddr" --listen "tcp://$busy" \
	--key "$dir/key" --ram 8M --block 64K >"$dir/daemon.log" 2>&1; then
	fail "daemon on a busy address exited 0"
fi

# --- clean shutdown ---
kill -TERM $ms_pid
stopped() { ! kill -0 $ms_pid 2>/dev/null; }
wait_for 10 stopped || fail "memserver ignored SIGTERM"
wait $ms_pid
rc=$?
[ $rc -eq 0 ] || fail "memserver exit status $rc after SIGTERM"
grep -q "shutting down" "$dir/memserver.log" || fail "no shutdown line"

if grep -E -q "AddressSanitizer|runtime error|LeakSanitizer" "$dir"/*.log; then
	fail "sanitizer report"
fi
echo "memserver: PASS"
