#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The CMP paper's three-node example (figures 4 to 9) with the real
# daemons, each node in its own network namespace: cmpfs nodes A, B and C
# (local=4M in 1 MiB blocks: four blocks each, as in unit-cmp3's
# three_nodes_follow_the_papers_figures, whose step list this follows)
# and the manager. Every block is a 1 MiB file of its own, written with
# datacheck (a pattern of its own seed), so "node B frees block 6" is
# `rm b6` and every byte of every block can be checked. Mounted with
# noexchange, so that only the figures' moves happen (as in the unit
# test); figure 8 turns the exchange on for its step. And nohashcompare:
# in the figures a block that comes home gives its loan back (with hash
# compare it keeps it as a clean copy: test-netns-hashcmp.sh).
#
#   fig 4  each node's data in its own memory first;
#   fig 5  B needs a fifth block: its coldest moves to A (most idle), twice;
#   fig 6  A takes its last block itself; B's next goes to C;
#          cluster full: ENOSPC everywhere, nothing moves;
#   fig 9  B frees two local blocks: two borrowed blocks come home, the
#          most recently used first (b2 from C, b1 from A);
#   fig 7  principle 3: A, short of memory and lending b0, moves it on to
#          C (RRL record until B confirmed), B follows it there;
#   fig 8  exchange: C frees a block; B reads b0 (on C) again and again:
#          it comes home, B's least recently used unprotected block (b3)
#          goes out in its place, and b0's reads stop crossing the wire;
#   drain  A frees a block; C is drained (cmpctl drain --wait): b3 moves
#          to A, C offers nothing until --undo;
#   leave  A unmounts: b3 moves on to C first, then A leaves.
#
# After every step: wait (deadline) until the manager's view has settled
# on what the figure says: per node LLL, LRL, RLL and RRL in cmpctl status
# --json, and the free blocks it offers (its free ones, none while it
# borrows or is drained); each node's own free, LLL, LRL, RLL and RRL
# (cmpctl stats) agree. Then every file of every node is verified byte for
# byte, and which of them are elsewhere (a read that crosses the wire) is
# compared with the figure.
TEST_TIMEOUT=${TEST_TIMEOUT:-150}
BS=1M
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add a 10.77.0.11
netns_add b 10.77.0.12
netns_add c 10.77.0.13

start_manager
ID_OF=([a]=11 [b]=12 [c]=13)
NODES=(a b c)
for ns in "${NODES[@]}"; do
	start_node "$ns" "${ID_OF[$ns]}" local=4M,noexchange,nohashcompare
done
for ns in "${NODES[@]}"; do
	wait_until "node $ns alive at the manager" 20 node_alive "${ID_OF[$ns]}"
done
# should the test fail: B, who borrows, unmounts first (its goodbye frees
# what the others hold for it, so that they have nothing to move)
defer umount_node b

declare -A FILES=([a]='' [b]='' [c]='') # each node's blocks, oldest first
declare -A NEXT=([a]=0 [b]=0 [c]=0)
declare -A DRAINED=([a]=0 [b]=0 [c]=0)
SEED=100

# ---- blocks: one 1 MiB file each ----

# write_block NS: node NS writes one more block (file NS<i>).
write_block()
{
	local ns=$1 f

	f=$ns${NEXT[$ns]}
	NEXT[$ns]=$((NEXT[$ns] + 1))
	SEED=$((SEED + 1))
	"$DATACHECK" write "${MNT_OF[$ns]}/$f" "$T/$f.rec" -n 1 \
		--seed "$SEED" >"$T/write.out" 2>&1 ||
		fail "$ns: writing block $f: $(tail -1 "$T/write.out")"
	FILES[$ns]="${FILES[$ns]} $f"
}

# free_block NS F: node NS frees block F.
free_block()
{
	rm "${MNT_OF[$1]}/$2" || fail "$1: rm $2"
	FILES[$1]=$(tr ' ' '\n' <<<"${FILES[$1]}" | grep -vx "$2" | xargs)
}

# no_room NS: a new block on NS fails with ENOSPC (and is counted).
no_room()
{
	local ns=$1 m=${MNT_OF[$1]} e0

	e0=$(stat_of "$ns" enospc)
	if dd if=/dev/urandom of="$m/x" bs=1M count=1 conv=fsync \
		status=none 2>"$T/dd.err"; then
		fail "$ns: a new block was stored with the cluster full"
	fi
	grep -q 'No space left on device' "$T/dd.err" ||
		fail "$ns: a write with the cluster full: $(cat "$T/dd.err") (want ENOSPC)"
	rm -f "$m/x"
	[ "$(stat_of "$ns" enospc)" -gt "$e0" ] ||
		fail "$ns: the ENOSPC was not counted"
}

# ---- the checks after a step ----

# The machine may be slow to start a process (0.2 s each, loaded): every
# check below costs as few as it can.

declare -A ST # node_stats: counter name -> value

# node_stats NS: node NS's counters into ST (one cmpctl).
node_stats()
{
	local k v out

	out=$("$CMPCTL" stats "${MNT_OF[$1]}" --all) || return 1
	ST=()
	while read -r k v; do
		ST[$k]=$v
	done <<<"$out"
}

declare -A MGR # manager_view: node id -> "LLL LRL RLL RRL offers OFFERS STATE"

manager_view()
{
	local id rest out

	out=$(status_json | jq -r '.nodes[] |
		"\(.id) \(.lll) \(.lrl) \(.rll) \(.rrl) offers \(.free) \(.state)"') ||
		return 1
	MGR=()
	while read -r id rest; do
		MGR[$id]=$rest
	done <<<"$out"
}

# lists_now NS: "node FREE LLL LRL RLL RRL" as node NS counts them, then
# "manager LLL LRL RLL RRL offers N STATE" as the manager (manager_view)
# sees it.
lists_now()
{
	node_stats "$1" || return 1
	echo "node ${ST[blocks_free]} ${ST[blocks_LLL]} ${ST[blocks_LRL]} ${ST[blocks_RLL]} ${ST[blocks_RRL]} manager ${MGR[${ID_OF[$1]}]:-(not listed)}"
}

declare -A WANT # ns -> "free LLL LRL RLL"

# settled_as_wanted: every node of WANT shows its lists, in its own
# counters and in the manager's view, and offers what it would lend.
settled_as_wanted()
{
	local ns f lll lrl rll offers got

	manager_view || return 1
	for ns in "${!WANT[@]}"; do
		read -r f lll lrl rll <<<"${WANT[$ns]}"
		offers=$f
		[ "$lrl" = 0 ] && [ "${DRAINED[$ns]}" = 0 ] || offers=0
		got=$(lists_now "$ns") || return 1
		[ "$got" = "node $f $lll $lrl $rll 0 manager $lll $lrl $rll 0 offers $offers alive" ] ||
			return 1
	done
}

# elsewhere NS LRL: verifies every block of NS byte for byte, in the
# order they were written (which also makes that their LRU order), and
# sets ELSEWHERE to the ones whose read crossed the wire (none can when
# the node's LRL, checked already, is empty: then it does not look).
elsewhere()
{
	local ns=$1 f r0=0 out=()

	[ "$2" = 0 ] || node_stats "$ns" || fail "$ns: no counters"
	for f in ${FILES[$ns]}; do
		[ "$2" = 0 ] || r0=${ST[read_remote_bytes]}
		"$DATACHECK" verify "${MNT_OF[$ns]}/$f" "$T/$f.rec" --strict \
			>"$T/verify.out" 2>&1 ||
			fail "$ns: block $f does not read back: $(tail -1 "$T/verify.out")"
		[ "$2" = 0 ] && continue
		node_stats "$ns" || fail "$ns: no counters"
		[ "${ST[read_remote_bytes]}" = "$r0" ] || out+=("$f")
	done
	ELSEWHERE=${out[*]}
}

# step NAME A B C [ELSEWHERE_A ELSEWHERE_B ELSEWHERE_C]: after step NAME,
# node A has lists A ("free LLL LRL RLL", RRL empty), and so on ("-": a
# node that left, not checked); then every block reads back, and the
# blocks of each node that live elsewhere are the ELSEWHERE ones (file
# names, oldest first; default: none).
step()
{
	local name=$1 ns k lrl
	local -a lists=("$2" "$3" "$4") where=("${5:-}" "${6:-}" "${7:-}")

	WANT=()
	for k in 0 1 2; do
		[ "${lists[k]}" = - ] || WANT[${NODES[k]}]=${lists[k]}
	done
	if ! wait_for "the lists after '$name'" 30 settled_as_wanted; then
		manager_view
		for ns in "${!WANT[@]}"; do
			echo "    $ns: want free/LLL/LRL/RLL ${WANT[$ns]}, RRL 0; has: $(lists_now "$ns")" >&2
		done
		show_status
		fail "$name: the lists are not as the figure says"
	fi
	for k in 0 1 2; do
		ns=${NODES[k]}
		[ -n "${WANT[$ns]:-}" ] || continue
		read -r _ _ lrl _ <<<"${WANT[$ns]}"
		elsewhere "$ns" "$lrl"
		[ "$ELSEWHERE" = "${where[k]}" ] ||
			fail "$name: node $ns's blocks elsewhere are '$ELSEWHERE', want '${where[k]}'"
	done
	log "$name: A ${WANT[a]:--}, B ${WANT[b]:--}, C ${WANT[c]:--} (free LLL LRL RLL); every block reads back"
}

# moves NS EVICTIONS HOMECOMINGS: node NS's counters so far.
moves()
{
	node_stats "$1" || fail "$1: no counters"
	expect_eq "$1's evictions" "${ST[evictions]}" "$2"
	expect_eq "$1's homecomings" "${ST[homecomings]}" "$3"
}

step "start: every block free" "4 0 0 0" "4 0 0 0" "4 0 0 0"

# ---- figure 4: each node's data in its own memory first ----
write_block a
for i in 1 2 3; do write_block c; done
for i in 1 2 3 4; do write_block b; done
step "fig 4: local first" "3 1 0 0" "0 4 0 0" "1 3 0 0"

# ---- figure 5: B's coldest block (b0) moves to A, the most idle ----
write_block b
step "fig 5: B's coldest block lent by A" "2 1 0 1" "0 4 1 0" "1 3 0 0" \
	"" "b0"
moves b 1 0
# once more: A (2 free) still has more idle memory than C (1)
write_block b
step "B borrows a second block from A" "1 1 0 2" "0 4 2 0" "1 3 0 0" \
	"" "b0 b1"

# ---- figure 6: A takes its last block; B's next goes to C ----
write_block a
step "A takes its last free block" "0 2 0 2" "0 4 2 0" "1 3 0 0" \
	"" "b0 b1"
write_block b
step "fig 6: B borrows C's idle block" "0 2 0 2" "0 4 3 0" "0 3 0 1" \
	"" "b0 b1 b2"
moves b 3 0

# no idle memory anywhere: ENOSPC, and nothing moves
for ns in b a c; do no_room "$ns"; done
step "cluster full: nothing moves" "0 2 0 2" "0 4 3 0" "0 3 0 1" \
	"" "b0 b1 b2"
moves b 3 0
moves a 0 0

# ---- figure 9: B frees two local blocks; two borrowed ones come home,
# the most recently used first: b2 (on C), then b1 (on A) ----
free_block b b6
free_block b b5
step "fig 9: two borrowed blocks come home" "1 2 0 1" "0 4 1 0" "1 3 0 0" \
	"" "b0"
moves b 3 2

# ---- figure 7, principle 3: A needs memory while it lends b0; b0 moves
# on to C (a third node: never to its owner B, who is in debt anyway) ----
write_block a
step "A takes its last free block" "0 3 0 1" "0 4 1 0" "1 3 0 0" "" "b0"
write_block a
# A's own data did not move, B's block did
moves a 0 0
expect_eq "blocks A moved on for their owners" "$(stat_of a lent_moved)" 1
step "fig 7: A took back the memory it lent, b0 lives on C" \
	"0 4 0 0" "0 4 1 0" "0 3 0 1" "" "b0"
# B followed its block (told by A at once, or answered "moved" by A)
expect_eq "blocks B followed to a new place" "$(stat_of b followed)" 1
moves b 3 2

# ---- figure 8: exchange. C frees a block; B reads b0 (on C) again and
# again: it comes home and B's least recently used block that did not
# come home lately goes out in its place (b1 and b2 came home in figure 9
# and are protected for an epoch or two of B's accesses, 256 each) ----
free_block c c2
step "C frees a block" "0 4 0 0" "0 4 1 0" "1 2 0 1" "" "b0"
setfattr -n user.cmpfs.exchange -v on "${MNT_OF[b]}" ||
	fail "turning B's exchange on"
reads=0
b0=${MNT_OF[b]}/b0
read_b0() # eight whole reads (cat reads 1 MiB at a time), then a look
{
	cat "$b0" "$b0" "$b0" "$b0" "$b0" "$b0" "$b0" "$b0" >/dev/null ||
		return 2
	reads=$((reads + 8))
	node_stats b && [ "${ST[exchanges]}" = 1 ]
}
wait_until "b0 to come home" 30 read_b0
setfattr -n user.cmpfs.exchange -v off "${MNT_OF[b]}" ||
	fail "turning B's exchange off"
log "b0 came home after $reads reads"
step "fig 8: b0 came home, b3 went out in its place" \
	"0 4 0 0" "0 4 1 0" "1 2 0 1" "" "b3"
moves b 4 3
node_stats b
r0=${ST[read_remote_bytes]}
for _ in 1 2 3; do
	cat "$b0" "$b0" "$b0" "$b0" "$b0" "$b0" "$b0" "$b0" >/dev/null ||
		fail "reading b0"
done
node_stats b
expect_eq "bytes of b0's 24 reads that crossed the wire" \
	"$((ST[read_remote_bytes] - r0))" 0
expect_eq "B's exchanges" "${ST[exchanges]}" 1

# ---- draining: A frees a block; C is drained while it runs: b3 moves
# to A, and C offers nothing until --undo ----
free_block a a3
step "A frees a block" "1 3 0 0" "0 4 1 0" "1 2 0 1" "" "b3"
in_ns mgr "$CMPCTL" drain 13 --manager "$(mgr_url)" "${KEY_ARGS[@]}" \
	--wait --timeout 30s >"$T/drain.out" 2>&1 ||
	fail "cmpctl drain 13: $(tail -1 "$T/drain.out")"
DRAINED[c]=1
step "C drained: b3 moved to A" "0 3 0 1" "0 4 1 0" "2 2 0 0" "" "b3"
in_ns mgr "$CMPCTL" drain 13 --manager "$(mgr_url)" "${KEY_ARGS[@]}" \
	--undo >/dev/null || fail "cmpctl drain 13 --undo"
DRAINED[c]=0
step "C lends again" "0 3 0 1" "0 4 1 0" "2 2 0 0" "" "b3"

# ---- leaving: A unmounts; what it holds for B (b3) moves to C first ----
umount_node a
grep -q 'leaving: all 1 blocks held for other nodes moved' "$T/a.log" ||
	fail "A's log does not say it moved b3 before it left"
wait_until "the manager to show A as left" 20 node_in_state 11 left
step "A left: b3 lives on C" - "0 4 1 0" "1 2 0 1" "" "b3"
expect_eq "blocks B followed to a new place" "$(stat_of b followed)" 3
moves b 4 3
for ns in b c; do
	expect_eq "$ns's blocks lost" "$(stat_of "$ns" blocks_lost)" 0
done
show_status
# the owner goes first (its goodbye frees b3 on C), so that C, the last
# node, has nothing to move and leaves at once
umount_node b
umount_node c
grep -q 'leaving: moving' "$T/c.log" &&
	fail "C had blocks to move when it left last"
checks_done
