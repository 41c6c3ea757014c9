#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A copy whose bytes went bad is found, never served, and made again
# (issue 11), each node in its own network namespace. Owner n1 (4 MiB of
# its own, replicas=2) keeps two copies of every block of file f elsewhere,
# among providers n2, n3 and n4, which run with CMP_TEST_HOOKS=1: their
# user.cmpfs.test_corrupt hook flips a byte in every block they lend,
# leaving its checksum as it was.
#  - n2's copies are corrupted: f still reads back exactly (a read of a
#    bad copy is answered CORRUPT and served by the other copy), a scrub
#    on n1 (user.cmpfs.scrub) finds the rest, each bad copy is logged with
#    its node and counted (replica_repaired), and made again (the copies
#    are whole); a second scrub finds none;
#  - then n3's copies are corrupted: f still reads back exactly, while n1
#    reads it over and over until a read (not a scrub) finds one, which
#    holds only if the copies made again after the first round are good;
#    a scrub cleans up the rest, and nothing was lost.
# The hook is refused by n1, which runs without CMP_TEST_HOOKS.
TEST_TIMEOUT=${TEST_TIMEOUT:-150}
F_MIB=12
# A bad copy is an error line of n1 (the pool's) and of its provider.
ALLOWED_ERRORS='checksum mismatch'
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add n4 10.77.0.14

start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13 [n4]=14)
for n in 2 3 4; do
	CMP_TEST_HOOKS=1 start_node n$n 1$n local=32M
done
start_node n1 11 local=4M,replicas=2,rebuild_after=2s
for id in 11 12 13 14; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
m=${MNT_OF[n1]}

# corrupt NS: the hook on NS, for every block it lends; prints how many.
corrupt()
{
	setfattr -n user.cmpfs.test_corrupt -v 1000000 "${MNT_OF[$1]}" ||
		fail "the test hook on $1 refused"
	grep -o 'flipped a byte in [0-9]* blocks' "$T/$1.log" | tail -1 |
		awk '{ print $5 }'
}

# scrub: a scrub on n1; prints how many bad copies it found.
scrub()
{
	setfattr -n user.cmpfs.scrub -v 1 "$m" || fail "scrub on n1 failed"
	grep -o 'scrub: [0-9]* copies read in [0-9]* ms, [0-9]* corrupt' \
		"$T/n1.log" | tail -1 | awk '{ print $8 }'
}

check_f()
{
	"$DATACHECK" verify "$m/f" "$T/f.rec" --strict >"$T/vf.out" 2>&1 ||
		check_fail "f does not read back ($1): $(tail -1 "$T/vf.out")"
}

# read_finds_more N: f read back once more (exactly), and n1 counts more
# than N copies repaired.
read_finds_more()
{
	check_f "$2"
	[ "$(stat_of n1 replica_repaired)" -gt "$1" ]
}

"$DATACHECK" write "$m/f" "$T/f.rec" -n "$F_MIB" >/dev/null ||
	fail "writing f"
wait_until "two copies of every block of f" 30 copies_whole
log "f ($F_MIB MiB in $BS blocks): $(stat_of n1 blocks_LRL) blocks elsewhere: $(held n2) copies on n2, $(held n3) on n3, $(held n4) on n4"
if setfattr -n user.cmpfs.test_corrupt -v 1 "$m" 2>/dev/null; then
	check_fail "n1, started without CMP_TEST_HOOKS, took the test hook"
fi

# ---- n2's copies go bad: found by reads and a scrub, made again ----
want=$(held n2)
[ "$want" -gt 0 ] || fail "n2 holds no copy of f: nothing to corrupt"
got=$(corrupt n2)
expect "copies of n2 corrupted by the hook" "$got" "$want"
check_f "n2's copies corrupt"
read_repaired=$(stat_of n1 replica_repaired)
bad=$(scrub)
repaired=$(stat_of n1 replica_repaired)
log "n2's $got copies corrupted: reads found $read_repaired, the scrub $bad; $repaired repaired"
[ "$repaired" -gt 0 ] && [ "$bad" -le "$got" ] ||
	check_fail "n2's bad copies were not found ($read_repaired by reads, $bad by the scrub)"
# (a bad copy may also have been given back unread: its block came home)
expect "copies repaired (reads and the scrub)" "$repaired" \
	$((read_repaired + bad))
grep -Eq 'block [0-9]+ on node 12 \(epoch [0-9]+\): checksum mismatch; that copy is dropped' "$T/n1.log" ||
	check_fail "n1 did not log a bad copy on node 12"
[ "$(stat_of n2 peer_checksum_errors)" -gt 0 ] ||
	check_fail "n2 counts no checksum error"
wait_until "the bad copies made again" 60 copies_whole
expect "bad copies a second scrub finds" "$(scrub)" 0
check_f "n2's copies made again"

# ---- then n3's: a read finds one (the copies made again are good) ----
r0=$(stat_of n1 replica_repaired)
[ "$(held n3)" -gt 0 ] || fail "n3 holds no copy of f"
got=$(corrupt n3)
[ "$got" -gt 0 ] || check_fail "the hook corrupted no copy on n3"
wait_until "a read of f to find a bad copy on n3" 60 read_finds_more "$r0" \
	"n3's copies corrupt"
bad=$(scrub)
log "n3's $got copies corrupted: reads found $(($(stat_of n1 replica_repaired) - r0 - bad)), the scrub $bad"
wait_until "the bad copies made again" 60 copies_whole
expect "bad copies a second scrub finds" "$(scrub)" 0
check_f "at the end"
tail -1 "$T/vf.out" | sed 's/^/    /'
expect "blocks n1 lost" "$(stat_of n1 blocks_lost)" 0
grep -h 'checksum mismatch' "$T/n1.log" | tail -2 | sed 's/^/    /'
"$CMPCTL" stats "$m" --json |
	jq -c 'with_entries(select(.key | startswith("replica_")))' |
	sed 's/^/    /'
checks_done
