#!/bin/bash
# SPDX-License-Identifier: MIT
# MAP_SHARED on cmpfs files (direct_io + the INIT patch that allows mmap):
# a 40 MiB mapping (not a page multiple) spanning 41 blocks is written in
# one process and verified by pread and by a fresh mapping in another;
# pwrite into a mapped range is seen by the mapping, mapped stores by pread
# after msync and even without it, a second mapping at a block offset
# aliases the first, munmap+close writes back; another open of a mapped
# file leaves its cached pages in place. On 1 MiB and 4 KiB blocks.
# The counters show the writeback went through the daemon as WRITEs.
TEST_TIMEOUT=100
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr

MMAP_CHECK=$(helper mmap-check)
SIZE=$((40 * 1048576 + 12345))

for bs in 1M 4K; do
	MNT=$T/mnt-$bs
	mount_fs "$MNT" "local=128M,block=$bs"
	bsz=$(stat_get block_size)
	free0=$(stat_get blocks_free)
	w0=$(stat_get write_bytes)

	"$MMAP_CHECK" write "$MNT/big" "$SIZE" 42 ||
		fail "block=$bs: writing $SIZE bytes through a mapping"
	w1=$(stat_get write_bytes)
	[ $((w1 - w0)) -ge "$SIZE" ] ||
		fail "block=$bs: mapping writeback sent $((w1 - w0)) bytes, want >= $SIZE"
	used=$((free0 - $(stat_get blocks_free)))
	expect_eq "block=$bs: blocks used by $SIZE mapped bytes" "$used" \
		$(((SIZE + bsz - 1) / bsz))
	"$MMAP_CHECK" verify "$MNT/big" "$SIZE" 42 ||
		fail "block=$bs: mapped data does not verify after reopen"
	! "$MMAP_CHECK" verify "$MNT/big" "$SIZE" 43 2>/dev/null ||
		fail "block=$bs: verify with the wrong seed passed"
	log "block=$bs: $SIZE bytes written through a mapping, verified"

	"$MMAP_CHECK" mix "$MNT/mix" "$bsz" ||
		fail "block=$bs: pwrite/pread/mmap coherence"
	log "block=$bs: pwrite/pread/mapping coherence ok"

	"$MMAP_CHECK" keep "$MNT/keep" $((8 << 20)) ||
		fail "block=$bs: another open of a mapped file"
	log "block=$bs: another open keeps the mapped file's cached pages"

	rm "$MNT/big" "$MNT/mix" "$MNT/keep"
	wait_for "block=$bs: blocks freed after rm" 10 \
		test "$(stat_get blocks_free)" = "$free0" ||
		fail "block=$bs: blocks_free is $(stat_get blocks_free) after rm, want $free0"
	undefer umount_fs "$MNT"
done
