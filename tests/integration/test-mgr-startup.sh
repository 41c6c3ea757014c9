#!/bin/bash
# SPDX-License-Identifier: MIT
# cmpfs and its manager at start-up (issue 13, defects 5 and 6). Started
# while its manager cannot be reached, it mounts after its wait with one
# line that says what that means (this node's memory only until it
# registers), with the real reason, and adds no line per retry: the fake
# manager hangs up on every connection and counts them, so the test knows
# how many retries the log stayed quiet for. Refused by a manager whose
# cluster has another block size, it says so in one line (no "retrying")
# and exits with status 1, mounting nothing.
TEST_TIMEOUT=90
. "$(dirname "$0")/lib.sh"
requires_root
requires python3
for b in "${CMP_MANAGER:-}" "${CMP_MEMSERVER:-}"; do
	[ -n "$b" ] && [ -x "$b" ] || fail "not built: '$b' (CMP_MANAGER, CMP_MEMSERVER)"
done

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
' "$T/attempts" >"$T/port" &
defer kill $!
wait_until "the fake manager" 10 test -s "$T/port"
MGR=tcp://127.0.0.1:$(cat "$T/port")

attempts_over() { [ "$(cat "$T/attempts" 2>/dev/null || echo 0)" -ge "$1" ]; }

MNT=$T/mnt
mount_fs "$MNT" "local=16M,nolock,manager=$MGR,listen=tcp://127.0.0.1:0,insecure"
# 5 s of waiting before the mount, then a retry every 2 s
wait_until "8 registration attempts" 40 attempts_over 8
LOG=$T/cmpfs-1.log
lines=$(grep -c -E "manager at|no manager" "$LOG" || true)
expect_eq "lines about the manager after $(cat "$T/attempts") attempts ($(cat "$LOG"))" \
	"$lines" 1
grep -q "warning: no manager at $MGR (Connection reset by peer): mounting with this node's memory only; it lends and borrows once registered (retrying every 2 s)" \
	"$LOG" || fail "no one-line statement: $(cat "$LOG")"
echo data >"$MNT/f" || fail "cannot write to the mount without a manager"
log "no manager: one line for $(cat "$T/attempts") attempts, the mount works"

# ---- a manager whose cluster has another block size refuses: one line ----
start_service manager "grep -q 'listening on' '$T/manager.log'" \
	"$CMP_MANAGER" --listen tcp://127.0.0.1:0 --insecure -f
REAL=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$T/manager.log")
start_service memserver "grep -q ' serving ' '$T/memserver.log'" \
	"$CMP_MEMSERVER" --manager "$REAL" --listen tcp://127.0.0.1:0 \
	--insecure --ram 8M --block 64K -f
mkdir -p "$T/mnt2"
rc=0
timeout 30 "$CMPFS" "$T/mnt2" -f -o "local=16M,block=1M,nolock,manager=$REAL,listen=tcp://127.0.0.1:0,insecure" \
	>"$T/refused.out" 2>&1 || rc=$?
is_cmpfs_mounted "$T/mnt2" && { umount -l "$T/mnt2"; fail "mounted though refused"; }
expect_eq "exit status when refused" "$rc" 1
# (info lines say what started before the manager answered)
grep -v -E "oom_score_adj|PR_SET_IO_FLUSHER|: info: " "$T/refused.out" >"$T/refused"
expect_eq "warnings and errors when refused ($(cat "$T/refused.out"))" \
	"$(wc -l <"$T/refused")" 1
grep -q retrying "$T/refused.out" && fail "says retrying, then exits: $(cat "$T/refused.out")"
grep -q "error: the manager at $REAL refused this node: block size differs from the cluster's$" \
	"$T/refused" || fail "refusal line: $(cat "$T/refused")"
log "another block size: one line, exit status 1, nothing mounted"

