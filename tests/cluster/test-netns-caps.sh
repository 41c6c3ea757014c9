#!/bin/bash
# SPDX-License-Identifier: MIT
#
# -o lend_max= and -o borrow_max= through real mounts (issue 10), each
# node in its own network namespace, 1 MiB blocks: n2 (8 MiB) lends at
# most 3 MiB, n3 (2 MiB) keeps at most 1 MiB of its data elsewhere, n1
# (2 MiB) has no caps, and a memserver (16 MiB) is the last resort.
#   1. n3 writes 3 MiB: its oldest block goes to n2 (the compute node
#      with the most to offer); a fourth MiB fails with ENOSPC although
#      the cluster has room, counted as borrow_capped;
#   2. n1 writes 5 MiB: n2 lends it two more blocks, its cap, and no
#      more: the last goes to the memserver, while n2 still has 5 MiB
#      free and offers none of it (cmpctl status: FREE 0, RLL 3 MiB).
# Every file reads back byte for byte.
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
BS=1M
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add ms 10.77.0.21

start_manager
start_memserver ms 21 16M
ID_OF=([n1]=11 [n2]=12 [n3]=13)
start_node n2 12 local=8M,lend_max=3M
start_node n3 13 local=2M,borrow_max=1M
start_node n1 11 local=2M
for id in 11 12 13; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done

verify() # NS FILE
{
	"$DATACHECK" verify "${MNT_OF[$1]}/$2" "$T/$2.rec" --strict \
		>"$T/verify.out" 2>&1 ||
		fail "$1's $2 does not read back: $(tail -1 "$T/verify.out")"
}

# manager_says ID LIST N: the manager shows node ID's LIST (lll, lrl,
# rll, or free: what it offers) as N blocks.
manager_says() { [ "$(node_field "$1" "$2")" = "$3" ]; }

# ---- 1. n3 borrows at most 1 MiB ----
"$DATACHECK" write "${MNT_OF[n3]}/g" "$T/g.rec" -n 2 >/dev/null ||
	fail "n3: writing g"
wait_until "the views to settle after g" 30 views_settled n1 n2 n3
"$DATACHECK" write "${MNT_OF[n3]}/g" "$T/g.rec" -n 1 --first 2 >/dev/null ||
	fail "n3: a third MiB of g (one block elsewhere, within its cap)"
wait_until "the views to settle after n3 borrowed" 30 views_settled n1 n2 n3
expect_eq "n3's data elsewhere" "$(stat_of n3 blocks_LRL)" 1
expect_eq "n3's block on n2" "$(stat_of n2 blocks_RLL)" 1
if dd if=/dev/urandom of="${MNT_OF[n3]}/x" bs=1M count=1 conv=fsync \
	status=none 2>"$T/dd.err"; then
	fail "n3 stored a block beyond its borrow_max"
fi
grep -q 'No space left on device' "$T/dd.err" ||
	fail "n3's write beyond borrow_max: $(cat "$T/dd.err") (want ENOSPC)"
rm -f "${MNT_OF[n3]}/x"
[ "$(stat_of n3 borrow_capped)" -ge 1 ] ||
	fail "the refused move is not counted as borrow_capped"
wait_until "the manager to show n3 borrowing 1 block" 20 manager_says 13 lrl 1
log "n3: 1 MiB elsewhere, its cap; the next write got ENOSPC ($(stat_of n3 borrow_capped) refused)"

# ---- 2. n2 lends at most 3 MiB ----
"$DATACHECK" write "${MNT_OF[n1]}/f" "$T/f.rec" -n 5 >/dev/null ||
	fail "n1: writing f"
wait_until "the views to settle after f" 30 views_settled n1 n2 n3
show_status
expect_eq "n1's data elsewhere" "$(stat_of n1 blocks_LRL)" 3
expect_eq "blocks n2 lends (its lend_max)" "$(stat_of n2 blocks_RLL)" 3
expect_eq "n2's free blocks" "$(stat_of n2 blocks_free)" 5
expect_eq "blocks the memserver holds" "$(node_field 21 rll)" 1
wait_until "the manager to show n2 lending 3 blocks, offering none" 20 \
	eval 'manager_says 12 rll 3 && manager_says 12 free 0'
verify n1 f
verify n3 g
checks_done
