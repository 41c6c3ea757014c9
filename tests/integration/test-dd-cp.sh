#!/bin/bash
# SPDX-License-Identifier: MIT
# Bulk data in and out: 384 MiB of random data written with dd (1 MiB and
# odd-sized requests), read back with dd and cat, copied inside the mount
# with cp (copy_file_range, seen in the counters), all compared by sha256
# and cmp; a sparse file costs no blocks and reads as zeros; rm gives every
# block back.
TEST_TIMEOUT=180
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr dd cp cmp sha256sum truncate

SIZE_MB=${CMPFS_ITEST_DD_MB:-384}
MNT=$T/mnt
mount_fs "$MNT" local=800M,block=1M
blocks0=$(stat_get blocks_free)
SHM=$(mktemp -d /dev/shm/cmpfs-itest.XXXXXX)
defer rm -rf "$SHM"

random_file "$SHM/src" "$SIZE_MB"
sum=$(sha256sum <"$SHM/src")
log "source: $SIZE_MB MiB of random data"

# dd in with 1 MiB requests, then back out.
dd if="$SHM/src" of="$MNT/a" bs=1M status=none
expect_eq "blocks used by $SIZE_MB MiB" \
	$((blocks0 - $(stat_get blocks_free))) "$SIZE_MB"
expect_eq "st_blocks (512 B units) of $SIZE_MB MiB" "$(stat -c %b "$MNT/a")" \
	$((SIZE_MB * 2048))
expect_eq "sha256 of the file in cmpfs" "$(sha256sum <"$MNT/a")" "$sum"
expect_eq "sha256 of the file read back with dd" \
	"$(dd if="$MNT/a" bs=1M status=none | sha256sum)" "$sum"
log "dd in and out: sha256 matches"

# Odd request sizes that straddle blocks: 777 KiB writes, 333333-byte reads.
dd if="$SHM/src" of="$MNT/odd" bs=777K status=none
dd if="$MNT/odd" bs=333333 status=none | cmp - "$SHM/src" ||
	fail "file written with 777 KiB, read with 333333-byte requests differs"
rm "$MNT/odd"
log "odd-sized dd: cmp ok"

# cp inside the mount goes through copy_file_range.
cfr0=$(stat_get req_copy_file_range)
cp "$MNT/a" "$MNT/b"
[ "$(stat_get req_copy_file_range)" -gt "$cfr0" ] ||
	fail "cp inside the mount did not use copy_file_range"
cmp "$SHM/src" "$MNT/b" || fail "cp inside the mount: copy differs"
log "cp inside the mount (copy_file_range): cmp ok"

# cp out of the mount, and cp in from tmpfs.
cp "$MNT/b" "$SHM/out"
cmp "$SHM/src" "$SHM/out" || fail "cp out of the mount differs"
rm "$SHM/out" "$MNT/b"
cp "$SHM/src" "$MNT/c"
cmp "$SHM/src" "$MNT/c" || fail "cp into the mount differs"
rm "$MNT/c"

# A sparse file: no blocks for holes, zeros when read, one block of data.
free1=$(stat_get blocks_free)
truncate -s 200M "$MNT/sparse"
expect_eq "blocks used by a 200 MiB hole" "$(stat_get blocks_free)" "$free1"
dd if=/dev/urandom of="$MNT/sparse" bs=4096 count=1 seek=25000 \
	conv=notrunc status=none
expect_eq "blocks used by one 4 KiB write into the hole" \
	$((free1 - $(stat_get blocks_free))) 1
expect_eq "st_blocks of the sparse file (one 1 MiB block)" \
	"$(stat -c %b "$MNT/sparse")" 2048
# (the data sits at 102400000..102404095)
cmp -n 102400000 "$MNT/sparse" /dev/zero ||
	fail "the hole before the data does not read as zeros"
cmp -i 102404096:0 -n $(((200 << 20) - 102404096)) "$MNT/sparse" /dev/zero ||
	fail "the hole after the data does not read as zeros"
cp --sparse=always "$MNT/sparse" "$MNT/sparse2"
cmp "$MNT/sparse" "$MNT/sparse2" || fail "copy of the sparse file differs"
rm "$MNT/sparse" "$MNT/sparse2"
log "sparse file: holes cost no blocks and read as zeros"

rm "$MNT/a"
wait_for "all blocks back after rm" 10 \
	test "$(stat_get blocks_free)" = "$blocks0" ||
	fail "blocks_free is $(stat_get blocks_free) after rm, want $blocks0"
