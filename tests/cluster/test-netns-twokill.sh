#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Two of three providers die at once with replicas=2 (issue 11): a block
# is lost only when every copy of it was on them, EIO is answered for
# exactly those, and nothing reads back wrong. Owner n1 (4 MiB of its
# own, replicas=2) writes files f (12 MiB) and g (4 MiB), two copies of
# each block elsewhere among n2, n3 and n4; then n2 and n3 are SIGKILLed
# together. Once the manager finds them gone:
#  - every chunk of f and g is read and checked (datacheck --allow-eio):
#    none differs, and its EIO pieces (one per 64 KiB block) are counted;
#  - per file, the blocks that gave EIO are exactly the blocks `cmpctl
#    lost` says the file lost or cannot reach (a SIGKILLed provider may
#    come back: its blocks are unreachable, not lost, until then);
#  - some block was lost (else the test proves nothing) and some block
#    kept elsewhere survived (its copy on n4).
TEST_TIMEOUT=${TEST_TIMEOUT:-150}
# Reads and copies on the dead nodes fail: the pool's and the client's
# lines, and the lost blocks' reads.
ALLOWED_ERRORS='block [0-9]+ (\(epoch [0-9]+\) )?on node 1[23]: |(read|write) of inode [0-9]+ at [0-9]+: Input/output error|lost'
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add n4 10.77.0.14

start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13 [n4]=14)
for n in 2 3 4; do
	start_node n$n 1$n local=32M
done
start_node n1 11 local=4M,replicas=2,rebuild_after=2s
for id in 11 12 13 14; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
m=${MNT_OF[n1]}

# settled: the manager finds n2 and n3 gone, and n1 has files whose
# blocks it cannot reach (a SIGKILLed provider may come back: its blocks
# are unreachable, not lost, until it does; either way EIO).
settled()
{
	! node_alive 12 && ! node_alive 13 &&
		[ "$(stat_of n1 files_with_unreachable_blocks)" -gt 0 ]
}

# gone_of NAME: the blocks `cmpctl lost` says file NAME lost or cannot
# reach (0: none).
gone_of()
{
	"$CMPCTL" lost "$m" |
		awk -v p="/$1" '$5 == p { n = $2 + $3 } END { print n + 0 }'
}

# eio_of NAME: the 64 KiB pieces of NAME that gave EIO; fails the check
# when a chunk differs.
eio_of()
{
	"$DATACHECK" verify "$m/$1" "$T/$1.rec" --allow-eio >"$T/v$1.out" 2>&1 ||
		check_fail "$1 reads back wrong: $(grep -m3 -v EIO "$T/v$1.out" | paste -sd '|')"
	awk '/^chunk [0-9]+: EIO/ { sub(/\(/, "", $4); n += $4 } END { print n + 0 }' \
		"$T/v$1.out"
}

"$DATACHECK" write "$m/f" "$T/f.rec" -n 12 >/dev/null || fail "writing f"
"$DATACHECK" write "$m/g" "$T/g.rec" -n 4 --seed 7 >/dev/null ||
	fail "writing g"
wait_until "two copies of every block" 30 copies_whole
lrl=$(stat_of n1 blocks_LRL)
log "$lrl blocks elsewhere: $(held n2) copies on n2, $(held n3) on n3, $(held n4) on n4"

kill_daemon n2
kill_daemon n3
wait_until "n2 and n3 gone, n1's blocks there unreachable" 60 settled
lost=$("$CMPCTL" lost "$m" | awk 'NR > 1 { n += $2 + $3 } END { print n + 0 }')
log "n2 and n3 killed: $lost of n1's $lrl blocks elsewhere had every copy there"
"$CMPCTL" lost "$m" | sed 's/^/    /'

total=0
for name in f g; do
	eio=$(eio_of $name)
	said=$(gone_of $name)
	tail -1 "$T/v$name.out" | sed "s/^/    $name: /"
	expect "blocks of $name that gave EIO vs those cmpctl lost names" \
		"$eio" "$said"
	total=$((total + eio))
done
expect "blocks that gave EIO vs all cmpctl lost names" "$total" "$lost"
[ "$lost" -gt 0 ] || check_fail "no block lost: both copies of none were on n2 and n3?"
[ "$lost" -lt "$lrl" ] || check_fail "every block elsewhere lost: n4's copies count for nothing"
checks_done
