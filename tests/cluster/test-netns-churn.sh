#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Churn (issue 10), each node in its own network namespace: compute nodes
# n1 and n2 (8 MiB each, local_max 16 MiB) and a memserver (64 MiB). Each
# node keeps a small file all along; over several cycles each in turn
# goes busy (writes a big file that does not fit in its memory) and then
# idle (removes it):
#   n1 busy:  n1 borrows from n2, its idle neighbour;
#   n2 busy:  n2 needs its memory back: n1's blocks move on to the
#             memserver (principle 3) before n2 borrows; meanwhile, with
#             both big files read over and over, n1 shrinks to 4 MiB and
#             grows back, and n2 grows to 16 MiB and shrinks back;
#   n1 idle, n2 idle: the big files go, borrowed blocks come home.
# After each step has settled (the manager's view agrees with the nodes'
# own counters and adds up): no node lends while it borrows (from cmpctl
# status --json), and every file reads back byte for byte (datacheck
# records). The readers see no error while the nodes resize.
TEST_TIMEOUT=${TEST_TIMEOUT:-230}
LOCAL=${CHURN_LOCAL:-8M}
BIG=${CHURN_BIG_MIB:-12}
CYCLES=${CHURN_CYCLES:-3}
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add ms 10.77.0.21

start_manager
start_memserver ms 21 64M
ID_OF=([n1]=11 [n2]=12)
start_node n1 11 "local=$LOCAL,local_max=16M"
start_node n2 12 "local=$LOCAL,local_max=16M"
for id in 11 12; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done

# lends_and_borrows: the ids of nodes that lend while they borrow
lends_and_borrows()
{
	status_json | jq -r '.nodes[] | select(.state == "alive" and
		.lrl > 0 and .rll > 0) | .id' | xargs
}

# verify NS FILE: FILE on node NS reads back as its record says.
verify()
{
	"$DATACHECK" verify "${MNT_OF[$1]}/$2" "$T/$1-$2.rec" --strict \
		>"$T/verify.out" 2>&1 ||
		check_fail "$1's $2 does not read back: $(tail -1 "$T/verify.out")"
}

declare -A HAS_BIG=([n1]=0 [n2]=0)

# settled STEP: the views settle, then the checks.
settled()
{
	local ns both

	wait_until "the views to settle after $1" 60 views_settled n1 n2
	both=$(lends_and_borrows)
	[ -z "$both" ] || {
		show_status
		check_fail "$1: node(s) $both lend while they borrow"
	}
	for ns in n1 n2; do
		verify "$ns" keep
		[ "${HAS_BIG[$ns]}" = 0 ] || verify "$ns" big
	done
	log "$1: settled; n1 LLL $(stat_of n1 blocks_LLL) LRL $(stat_of n1 blocks_LRL) RLL $(stat_of n1 blocks_RLL), n2 LLL $(stat_of n2 blocks_LLL) LRL $(stat_of n2 blocks_LRL) RLL $(stat_of n2 blocks_RLL)"
}

write_file() # NS FILE MIB
{
	"$DATACHECK" write "${MNT_OF[$1]}/$2" "$T/$1-$2.rec" -n "$3" \
		>/dev/null || check_fail "$1: writing $2"
}

resize() # NS SIZE
{
	"$CMPCTL" resize "${MNT_OF[$1]}" "$2" >"$T/resize.out" 2>&1 ||
		check_fail "cmpctl resize $1 $2: $(cat "$T/resize.out")"
	sed 's/^/    /' "$T/resize.out"
}

for ns in n1 n2; do
	write_file "$ns" keep 2
done
settled "start"

for cycle in $(seq "$CYCLES"); do
	log "---- cycle $cycle ----"
	write_file n1 big "$BIG"
	HAS_BIG[n1]=1
	settled "cycle $cycle, n1 busy"
	[ "$(stat_of n2 blocks_RLL)" -gt 0 ] ||
		check_fail "cycle $cycle: n1's big file should be partly on n2"

	write_file n2 big "$BIG"
	HAS_BIG[n2]=1
	settled "cycle $cycle, n2 busy"
	[ "$(stat_of n2 blocks_RLL)" = 0 ] ||
		check_fail "cycle $cycle: n2 still lends while it is busy"

	# resizing while both big files are read again and again
	rm -f "$T/stop"
	bg_start r1 "$DATACHECK" verify "${MNT_OF[n1]}/big" "$T/n1-big.rec" \
		--until "$T/stop"
	bg_start r2 "$DATACHECK" verify "${MNT_OF[n2]}/big" "$T/n2-big.rec" \
		--until "$T/stop"
	resize n1 4M
	resize n2 16M
	resize n1 "$LOCAL"
	resize n2 "$LOCAL"
	touch "$T/stop"
	for r in r1 r2; do
		rc=0
		bg_wait "$r" 60 || rc=$?
		[ "$rc" = 0 ] || check_fail "cycle $cycle: reader $r while resizing: status $rc: $(grep -m3 -E 'differs|EIO' "$T/$r.out")"
	done
	log "cycle $cycle: read $(grep -c '^round' "$T/r1.out" || true) and $(grep -c '^round' "$T/r2.out" || true) times while resizing"
	settled "cycle $cycle, both resized back"

	rm "${MNT_OF[n1]}/big"
	HAS_BIG[n1]=0
	settled "cycle $cycle, n1 idle"
	rm "${MNT_OF[n2]}/big"
	HAS_BIG[n2]=0
	settled "cycle $cycle, n2 idle"
done

for ns in n1 n2; do
	expect_eq "$ns blocks lost" "$(stat_of "$ns" blocks_lost)" 0
done
show_status
checks_done
