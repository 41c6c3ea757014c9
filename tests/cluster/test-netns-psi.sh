#!/bin/bash
# SPDX-License-Identifier: MIT
#
# -o psi= on a node that lends (issue 10), each node in its own network
# namespace, 1 MiB blocks: owner n1 (2 MiB of its own) writes file f
# (6 MiB): 4 MiB of it live on n2 (8 MiB, psi=20 with a PSI file of the
# test's, psi_min=4M), which then fills the rest with its own file g, at
# the end of its memory. A compute node n3 (2 MiB) joins, next to a
# memserver (16 MiB). Under pressure n2 shrinks 8 -> 4 MiB in four steps
# of 1 MiB; each step needs the memory g's block at the end is in, and
# must take it back from what it lends: a block of f moves on
# (principle 3), to the compute node first (n3 takes two) and only then
# to the memserver (two), and g moves down into the memory freed. n2's
# own data never leaves (no eviction, LRL 0), f and g read back byte for
# byte, the lists add up in the manager's view. Without pressure n2 grows
# back to 8 MiB.
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
BS=1M
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add ms 10.77.0.21

PSI=$T/psi
pressure()
{
	printf 'some avg10=%s avg60=1.00 avg300=0.50 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=6\n' \
		"$1" >"$PSI.new"
	mv "$PSI.new" "$PSI"
}
pressure 0.00

start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13)
start_node n2 12 "local=8M,psi=20,psi_min=4M,psi_file=$PSI,psi_interval=50ms"
start_node n1 11 local=2M
for id in 11 12; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done

verify() # NS FILE
{
	"$DATACHECK" verify "${MNT_OF[$1]}/$2" "$T/$2.rec" --strict \
		>"$T/verify.out" 2>&1 ||
		fail "$1's $2 does not read back: $(tail -1 "$T/verify.out")"
}

"$DATACHECK" write "${MNT_OF[n1]}/f" "$T/f.rec" -n 6 >/dev/null ||
	fail "writing f"
wait_until "the views to settle after f" 30 views_settled n1 n2
expect_eq "blocks of f on n2" "$(stat_of n2 blocks_RLL)" 4
"$DATACHECK" write "${MNT_OF[n2]}/g" "$T/g.rec" -n 4 >/dev/null ||
	fail "writing g"
expect_eq "n2's own blocks" "$(stat_of n2 blocks_LLL)" 4
expect_eq "n2's free blocks" "$(stat_of n2 blocks_free)" 0

# the third places join now (so that f went to n2 alone)
start_memserver ms 21 16M
start_node n3 13 local=2M
defer umount_node n1 # should the test fail: the owner before n3
wait_until "node 13 alive at the manager" 20 node_alive 13
wait_until "the views to settle before the pressure" 30 views_settled n1 n2 n3
show_status

# ---- pressure on n2's host ----
pressure 45.00
local_is() { [ "$(stat_of n2 local_blocks)" = "$1" ]; }
wait_until "n2 to shrink to psi_min" 40 local_is 4
grep -h 'memory pressure' "$T/n2.log" | sed 's/^/    /'
wait_until "the views to settle after the shrink" 30 views_settled n1 n2 n3
show_status
expect_eq "n2's own blocks after the shrink" "$(stat_of n2 blocks_LLL)" 4
expect_eq "n2's data elsewhere after the shrink" "$(stat_of n2 blocks_LRL)" 0
expect_eq "n2's evictions" "$(stat_of n2 evictions)" 0
expect_eq "blocks n2 still lends" "$(stat_of n2 blocks_RLL)" 0
expect_eq "lent blocks n2 moved on" "$(stat_of n2 lent_moved)" 4
expect_eq "blocks of f on n3 (compute nodes first)" "$(stat_of n3 blocks_RLL)" 2
expect_eq "blocks of f on the memserver (last)" "$(node_field 21 rll)" 2
expect_eq "blocks of f elsewhere" "$(stat_of n1 blocks_LRL)" 4
expect_eq "moves n1 followed" "$(stat_of n1 followed)" 4
verify n1 f
verify n2 g

# ---- no pressure: n2 grows back ----
pressure 0.00
wait_until "n2 to grow back" 40 local_is 8
wait_until "the views to settle after growing" 30 views_settled n1 n2 n3
verify n1 f
verify n2 g
log "n2 grew back to 8 MiB"
expect_eq "n1's blocks lost" "$(stat_of n1 blocks_lost)" 0
show_status
# the owner first: its goodbye frees f's blocks on n3 and the memserver
umount_node n1
checks_done
