#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Memserver write policies (issue 11), each node in its own network
# namespace, with one memserver (ms, 64 MiB) and compute providers that
# are all SIGKILLed:
#  - write-through: owner n1 (4 MiB of its own, replicas=2,
#    writepolicy=through) writes file f (16 MiB, every chunk acknowledged)
#    and rewrites it once all of it lives elsewhere (writes to blocks
#    elsewhere go to the memserver copy too); every block it keeps
#    elsewhere has its memserver copy. Its compute providers n2 and n3
#    are killed: f reads back byte for byte (from the memserver copies),
#    nothing is lost. Then n4 and n5 join: the rebuilder makes the two
#    compute copies of every block again on them, from the memserver's.
#  - write-back: owner n6 (writepolicy=back) writes file g and rewrites it
#    where it lives elsewhere: its memserver copies fall behind (counted),
#    then the background flush brings every one up to date (polled, with
#    a deadline). n4 and n5, its compute providers, are killed: g reads
#    back byte for byte, nothing is lost.
# cmpctl status names each owner's policy (text and --json).
TEST_TIMEOUT=${TEST_TIMEOUT:-170}
F_MIB=${WP_F_MIB:-16}
# reads and writes that met a provider just killed (the pool goes on with
# another copy), logged by the block client first
ALLOWED_ERRORS='block [0-9]+ (\(epoch [0-9]+\) )?on node 1[2-5]: '
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add ms 10.77.0.21
for i in 1 2 3 4 5 6; do
	netns_add n$i 10.77.0.1$i
done
stat0() { stat_of "$@" 2>/dev/null || echo 0; }

start_manager
start_memserver ms 21 64M
ID_OF=([n1]=11 [n2]=12 [n3]=13 [n4]=14 [n5]=15 [n6]=16)
for n in n2 n3; do
	start_node $n "${ID_OF[$n]}" local=24M
done
start_node n1 11 local=4M,replicas=2,rebuild_after=1s,writepolicy=through
for id in 11 12 13 21; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
m1=${MNT_OF[n1]}

# covered NS: every block NS keeps elsewhere has its memserver copy, and
# none is behind.
covered()
{
	local lrl

	lrl=$(stat_of "$1" blocks_LRL) || return 1
	[ "$lrl" -gt 0 ] &&
		[ "$(stat_of "$1" wp_memserver_copies)" = "$lrl" ] &&
		[ "$(stat_of "$1" wp_pending)" = 0 ]
}

# compute_whole NS PROVIDER...: every block NS keeps elsewhere has its
# replicas compute copies, all on PROVIDER...
compute_whole()
{
	local ns=$1 lrl want on=0 p

	shift
	lrl=$(stat_of "$ns" blocks_LRL) || return 1
	want=$(($(stat_of "$ns" replicas) * lrl))
	[ "$(stat_of "$ns" replica_blocks_short)" = 0 ] || return 1
	for p in "$@"; do
		on=$((on + $(held "$p")))
	done
	[ "$on" = "$want" ]
}

# ---- write-through ----
"$DATACHECK" write "$m1/f" "$T/f.rec" -n "$F_MIB" >/dev/null ||
	fail "writing f"
# (a second pass: most writes now go to blocks elsewhere, through)
"$DATACHECK" write "$m1/f" "$T/f.rec" -n "$F_MIB" >/dev/null ||
	fail "rewriting f"
wait_until "a memserver copy of every block of f" 30 covered n1
wait_until "two compute copies of every block of f" 30 compute_whole n1 n2 n3
lrl=$(stat_of n1 blocks_LRL)
log "f ($F_MIB MiB in $BS blocks): $lrl blocks elsewhere, $(held n2) copies on n2, $(held n3) on n3, $(stat_of n1 wp_memserver_copies) on the memserver ($(stat_of n1 wp_memserver_write_bytes) bytes written there)"
[ "$(stat_of n1 wp_memserver_write_bytes)" -gt $((lrl * 65536)) ] ||
	check_fail "the rewrite of f did not go through to the memserver"
show_status
# cmpctl status names each node's policy
wp_of() { status_json | jq -r ".nodes[] | select(.id == $1) | .writepolicy"; }
expect "n1's write policy in cmpctl status" "$(wp_of 11)" through
expect "n2's write policy in cmpctl status" "$(wp_of 12)" none
status_of mgr | grep -q 'write policies (memserver copies): node 11 through' ||
	check_fail "cmpctl status does not name n1's write policy"

kill_daemon n2
kill_daemon n3
"$DATACHECK" verify "$m1/f" "$T/f.rec" --strict >"$T/vf.out" 2>&1 ||
	check_fail "f does not read back with every compute provider dead: $(tail -3 "$T/vf.out")"
tail -n 1 "$T/vf.out" | sed 's/^/    /'
expect "blocks n1 lost" "$(stat_of n1 blocks_lost)" 0
reads=$(stat_of n1 wp_memserver_reads)
log "n2 and n3 killed: f read back from the memserver ($reads reads served there, $(stat0 n1 replica_read_fallbacks) after a copy failed)"
[ "$reads" -gt 0 ] || check_fail "no read was served by the memserver"

# new compute providers: the copies are made again, from the memserver's
for n in n4 n5; do
	start_node $n "${ID_OF[$n]}" local=24M
	wait_until "node ${ID_OF[$n]} alive at the manager" 20 \
		node_alive "${ID_OF[$n]}"
done
wait_until "two compute copies of every block of f on n4 and n5" 60 \
	compute_whole n1 n4 n5
log "n4 and n5 joined: $(stat_of n1 replica_rebuilt) copies made again ($(held n4) on n4, $(held n5) on n5)"
"$DATACHECK" verify "$m1/f" "$T/f.rec" --strict >"$T/vf.out" 2>&1 ||
	check_fail "f does not read back after the rebuild: $(tail -3 "$T/vf.out")"
"$CMPCTL" stats "$m1" | sed 's/^/    /'
umount_node n1
# (its goodbye gives the loans back)
wait_until "n4 and n5 to hold nothing" 30 \
	eval '[ "$(held n4)" = 0 ] && [ "$(held n5)" = 0 ]'

# ---- write-back ----
start_node n6 16 local=4M,writepolicy=back,writeback_delay=200ms
wait_until "node 16 alive at the manager" 20 node_alive 16
expect "n6's write policy in cmpctl status" "$(wp_of 16)" back
m6=${MNT_OF[n6]}
"$DATACHECK" write "$m6/g" "$T/g.rec" -n "$F_MIB" >/dev/null ||
	fail "writing g"
wait_until "a memserver copy of every block of g" 30 covered n6
flushes=$(stat_of n6 wp_flushes)
# rewrites of blocks elsewhere: their memserver copies fall behind
"$DATACHECK" write "$m6/g" "$T/g.rec" -n "$F_MIB" --passes 2 >/dev/null ||
	fail "rewriting g"
wait_until "the flush to bring every memserver copy of g up to date" 30 \
	covered n6
f2=$(stat_of n6 wp_flushes)
log "g: $(stat_of n6 blocks_LRL) blocks elsewhere, $((f2 - flushes)) memserver copies flushed after the rewrites ($(stat_of n6 wp_memserver_write_bytes) bytes written there in all)"
[ "$f2" -gt "$flushes" ] ||
	check_fail "rewriting g elsewhere flushed no memserver copy"

kill_daemon n4
kill_daemon n5
"$DATACHECK" verify "$m6/g" "$T/g.rec" --strict >"$T/vg.out" 2>&1 ||
	check_fail "g does not read back with every compute provider dead: $(tail -3 "$T/vg.out")"
tail -n 1 "$T/vg.out" | sed 's/^/    /'
[ "$(stat_of n6 wp_memserver_reads)" -gt 0 ] ||
	check_fail "no read of g was served by the memserver"
expect "blocks n6 lost" "$(stat_of n6 blocks_lost)" 0
"$CMPCTL" stats "$m6" | sed 's/^/    /'
checks_done
