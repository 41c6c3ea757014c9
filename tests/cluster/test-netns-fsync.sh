#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What close() and fsync() say about a file whose blocks live on another
# node (issue 9), each node in its own network namespace. n1 (2 MiB of its
# own) holds file f, most of whose blocks are on n2, and a small file s at
# home. While n2 is stopped (SIGSTOP): reads of f fail with EIO (the first
# within the request deadline, the next at once), fsync and close of f fail
# with EIO (as a disk that stopped answering would), s is unaffected, and a
# write into f fails. Once n2 continues and n1 reached it again: f reads
# back as before, the next fsync reports the failed write once (EIO), the
# one after succeeds. When n2 crashes and comes back empty (SIGKILL, a
# restart: a new incarnation), f's blocks there are lost: every fsync and
# close of f fails, s's still succeed, and removing f gives the lost blocks
# up. (A clean unmount of n2 would lose nothing: it moves what it holds
# elsewhere first, test-netns-leave.sh.) The timings go in the log.
TEST_TIMEOUT=140
# n1's reads and writes of n2's blocks fail while n2 is stopped or gone.
ALLOWED_ERRORS='(read|write) of inode [0-9]+ at [0-9]+: Input/output error|cluster: (reading|writing) block [0-9]+ \(epoch [0-9]+\) on node 12: |pool: node 12 no longer holds our block'
. "$(dirname "$0")/lib-netns.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
expect() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# fsync_close FILE: "FSYNC CLOSE", each ok or the errno's name.
fsync_close()
{
	python3 - "$1" <<'EOF'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    os.fsync(fd)
    r = "ok"
except OSError as e:
    r = errno.errorcode[e.errno]
try:
    os.close(fd)
    c = "ok"
except OSError as e:
    c = errno.errorcode[e.errno]
print(r, c)
EOF
}

# now_ms: the clock in ms.
now_ms() { date +%s%3N; }

start_manager
ID_OF=([n1]=11 [n2]=12)
start_node n2 12 local=16M
start_node n1 11 local=2M
for id in 11 12; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
m=${MNT_OF[n1]}
make_data "$T/f" 6
cp "$T/f" "$m/f"
make_data "$T/s" 1
head -c 64K "$T/s" >"$T/s64"
cp "$T/s64" "$m/s"
lrl=$(stat_of n1 blocks_LRL)
[ "$lrl" -ge 60 ] || fail "f should be mostly on n2, n1 has LRL $lrl"
expect "fsync/close of f" "$(fsync_close "$m/f")" "ok ok"
log "f: $lrl of its 96 blocks on n2"

# ---- n2 stopped ----
pid=${DAEMON_PID[n2]}
defer kill -CONT "$pid"
kill -STOP "$pid"
t0=$(now_ms)
dd if="$m/f" of=/dev/null bs=64K count=1 status=none 2>/dev/null &&
	fail "reading f's first block while n2 is stopped"
first=$(($(now_ms) - t0))
t0=$(now_ms)
dd if="$m/f" of=/dev/null bs=64K count=1 skip=1 status=none 2>/dev/null &&
	fail "reading f's second block while n2 is stopped"
next=$(($(now_ms) - t0))
log "n2 stopped: first read of f failed after $first ms, the next after $next ms"
[ "$next" -lt 1000 ] || fail "a read of a suspect node's block took $next ms"
expect "fsync/close of f while n2 is stopped" "$(fsync_close "$m/f")" "EIO EIO"
expect "fsync/close of s while n2 is stopped" "$(fsync_close "$m/s")" "ok ok"
cmp "$T/s64" "$m/s" || fail "s differs while n2 is stopped"

# A writer whose write fails while n2 is stopped keeps f open and lets n2
# go on; once f's blocks on n2 read again (pread: no flush), its fsync
# reports the failed write once, the next fsync and the close succeed. It
# prints the five results and how long after SIGCONT f read again.
python3 - "$m/f" "$pid" >"$T/writer.out" <<'EOF' || fail "the writer failed"
import errno, os, signal, sys, time
def res(f, *a):
    try:
        f(*a)
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
fd = os.open(sys.argv[1], os.O_RDWR)
w = res(os.pwrite, fd, bytes(65536), 0)
os.kill(int(sys.argv[2]), signal.SIGCONT)
t0 = time.monotonic()
while res(os.pread, fd, 65536, 65536) != "ok":
    if time.monotonic() - t0 > 30:
        sys.exit("f did not read again within 30 s")
    time.sleep(0.01)
back = int((time.monotonic() - t0) * 1000)
print(w, res(os.fsync, fd), res(os.fsync, fd), res(os.close, fd), back)
EOF
read -r w s1 s2 c back <"$T/writer.out"
undefer kill -CONT "$pid"
log "n2 continued: f read again after $back ms"
expect "the write while n2 was stopped" "$w" EIO
expect "the first fsync after it" "$s1" EIO
expect "the next fsync" "$s2" ok
expect "the close" "$c" ok
cmp "$T/f" "$m/f" || fail "f differs after n2 continued"
expect "n1 blocks lost" "$(stat_of n1 blocks_lost)" 0
log "n1: $(stat_of n1 net_suspects) suspect, $(stat_of n1 net_reconciles) reconciled"

# ---- n2 crashes and comes back empty ----
kill_daemon n2
umount_node n2
start_node n2 12 local=16M
# a read makes n1 find n2 again (a new incarnation: the blocks are gone)
n1_lost_some()
{
	dd if="$m/f" of=/dev/null bs=64K conv=noerror status=none 2>/dev/null
	[ "$(stat_of n1 blocks_lost)" -gt 0 ]
}
wait_until "n1 to lose f's blocks on n2" 20 n1_lost_some
lost=$(stat_of n1 blocks_lost)
log "n2 restarted: $lost of n1's blocks lost"
expect "fsync/close of f after n2 restarted" "$(fsync_close "$m/f")" "EIO EIO"
expect "again" "$(fsync_close "$m/f")" "EIO EIO"
expect "fsync/close of s after n2 restarted" "$(fsync_close "$m/s")" "ok ok"
rm "$m/f"
expect "n1 blocks lost after rm f" "$(stat_of n1 blocks_lost)" 0
cmp "$T/s64" "$m/s" || fail "s differs after n2 restarted"
