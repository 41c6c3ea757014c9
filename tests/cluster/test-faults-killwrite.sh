#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Expectation (issue 9): when a provider is SIGKILLed while a file is being
# written, the writer's fsync on the owner returns EIO (as a disk error
# would), and reads of the lost range give EIO, never wrong data. Node n1
# (4 MiB of its own) writes 12 MiB of file f (no fsync yet: most of it
# moves to n2) and, with the file still open, waits; n2 is killed; a read
# of f then fails on n2's blocks (so n1 has seen n2 go, whatever it does
# on its own); the writer writes one more chunk, calls fsync and close.
TEST_TIMEOUT=90
# n2's blocks are gone: reads and writes of them fail.
ALLOWED_ERRORS='(read|write) of inode [0-9]+ at [0-9]+: No space left on device|moving block [0-9]+'
. "$(dirname "$0")/lib-faults.sh"
allow_n2_failures

fault_namespaces

fault_nodes 16M
m=${MNT_OF[n1]}

# 13 chunks, fsync only at the end; it stops before the last one
bg_start writer "$DATACHECK" write "$m/f" "$T/f.rec" -n 13 --sync end \
	--wait-at 12 --wait-file "$T/go" --events "$T/w.ev"
wait_until "the writer to reach chunk 12" 60 grep -q '^wait ' "$T/w.ev"
wait_until "the views to settle" 30 views_settled n1 n2
lrl=$(stat_of n1 blocks_LRL)
[ "$lrl" -gt 0 ] || fail "none of file f lives on n2"
log "12 MiB of f written, $lrl blocks on n2; killing n2"

kill_daemon n2
if verify_f --allow-eio; then
	grep -q '^chunk [0-9]*: EIO' "$T/verify.out" ||
		check_fail "f reads back whole although n2 held $lrl of its blocks"
else
	check_fail "a read of f after n2 died gave wrong data: $(tail -1 "$T/verify.out")"
fi

# n1 names the file whose blocks it cannot reach, in its log and through
# cmpctl lost (unreachable, not lost: n2 might come back)
unreachable_named() { "$CMPCTL" lost "$m" | grep -Eq '^[0-9]+ +0 +[1-9][0-9]* +[0-9]+  /f$'; }
wait_for "cmpctl lost to name file f" 20 unreachable_named ||
	check_fail "cmpctl lost does not name f: $("$CMPCTL" lost "$m")"
"$CMPCTL" lost "$m" | sed 's/^/    /'
grep -q 'file /f (inode [0-9]*): [1-9][0-9]* of its [0-9]* blocks are on providers we cannot reach' "$T/n1.log" ||
	check_fail "n1's log does not say that blocks of file f are unreachable"
[ "$(stat_of n1 files_with_unreachable_blocks)" = 1 ] ||
	check_fail "files_with_unreachable_blocks is $(stat_of n1 files_with_unreachable_blocks), want 1"

touch "$T/go"
rc=0
bg_wait writer 30 || rc=$?
[ "$rc" != 124 ] || fail "the writer did not finish within 30 s of going on"
sed 's/^/    /' "$T/writer.out"
fsync_res=$(awk '$1 == "fsync:" { print $2 }' "$T/writer.out")
close_res=$(awk '$1 == "close:" { print $2 }' "$T/writer.out")
log "after n2 was killed: the writer's fsync: $fsync_res, close: $close_res"
[ "$fsync_res" = EIO ] ||
	check_fail "the writer's fsync returned '$fsync_res' after its provider was killed with $lrl of its blocks (want EIO)"

if verify_f --allow-eio; then
	grep -q '^chunk [0-9]*: EIO' "$T/verify.out" ||
		check_fail "f reads back whole after the writer finished (want EIO for n2's blocks)"
else
	check_fail "reads of f give wrong data, not EIO: $(grep -m1 differs "$T/verify.out")"
fi
checks_done
