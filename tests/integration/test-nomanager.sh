#!/bin/bash
# SPDX-License-Identifier: MIT
# cmpfs started while its manager cannot be reached (issue 13, defect 5):
# it mounts after its wait with one line that says what that means (this
# node's memory only until it registers), with the real reason, and adds
# no line per retry. The fake manager hangs up on every connection and
# counts them, so the test knows how many retries the log stayed quiet for.
TEST_TIMEOUT=90
. "$(dirname "$0")/lib.sh"
requires_root
requires python3

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
