#!/bin/bash
# SPDX-License-Identifier: MIT
# A full pool: on an 8-block pool (local=8M,block=1M) a writer runs into
# ENOSPC, a write that can only partly fit is short, fallocate and mapped
# stores into holes fail with an error, overwrites of blocks a file already
# has still work, another file's data stays intact, df shows the pool full,
# the enospc counter counts, and deleting a file makes room again.
TEST_TIMEOUT=60
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr dd sha256sum fallocate stat

MMAP_CHECK=$(helper mmap-check)
MNT=$T/mnt
mount_fs "$MNT" local=8M,block=1M
MiB=1048576

expect_eq "statfs block size" "$(stat -f -c %S "$MNT")" $MiB
expect_eq "statfs blocks" "$(stat -f -c %b "$MNT")" 8

# A file written before the pool fills up.
head -c $((2 * MiB)) /dev/urandom >"$T/keep"
cp "$T/keep" "$MNT/keep"
sum=$(sha256sum <"$T/keep")
expect_eq "blocks_free after 2 MiB" "$(stat_get blocks_free)" 6

# 1. Fill it: the writer gets ENOSPC after exactly the 6 free blocks.
if dd if=/dev/zero of="$MNT/fill" bs=1M 2>"$T/dd.err"; then
	fail "dd into a full pool succeeded"
fi
grep -q 'No space left on device' "$T/dd.err" ||
	fail "dd did not fail with ENOSPC: $(cat "$T/dd.err")"
expect_eq "size of the file that filled the pool" \
	"$(stat -c %s "$MNT/fill")" $((6 * MiB))
expect_eq "blocks_free when full" "$(stat_get blocks_free)" 0
expect_eq "pool_free_bytes when full" "$(stat_get pool_free_bytes)" 0
expect_eq "df available when full" "$(stat -f -c %a "$MNT")" 0
expect_eq "df free when full" "$(stat -f -c %f "$MNT")" 0
df -h "$MNT" | sed 's/^/    /'
[ "$(stat_get enospc)" -gt 0 ] || fail "enospc counter did not move"
log "pool full at 8 MiB, dd got ENOSPC, enospc=$(stat_get enospc)"

# 2. The other file is intact, and its blocks can still be overwritten.
expect_eq "checksum of the earlier file" "$(sha256sum <"$MNT/keep")" "$sum"
head -c 4096 /dev/urandom >"$T/patch"
dd if="$T/patch" of="$MNT/keep" bs=4096 seek=100 conv=notrunc \
	status=none || fail "overwrite inside allocated blocks on a full pool"
dd if="$T/patch" of="$T/keep" bs=4096 seek=100 conv=notrunc status=none
cmp "$T/keep" "$MNT/keep" || fail "overwritten file differs"

# 3. New data into a hole, fallocate and mapped stores all fail.
truncate -s $((4 * MiB)) "$MNT/sparse" ||
	fail "truncate up (a hole) needs no space but failed"
! dd if=/dev/zero of="$MNT/sparse" bs=4096 count=1 seek=10 conv=notrunc \
	status=none 2>/dev/null || fail "write into a hole of a full pool worked"
! fallocate -l $MiB "$MNT/falloc" 2>/dev/null ||
	fail "fallocate on a full pool worked"
"$MMAP_CHECK" enospc "$MNT/mapped" $((2 * MiB)) ||
	fail "mapped stores into a full pool reported no error"
rm -f "$MNT/sparse" "$MNT/falloc" "$MNT/mapped"

# 4. Deleting makes room: writing works again.
rm "$MNT/fill"
wait_for "blocks freed after rm" 10 \
	test "$(stat_get blocks_free)" = 6 ||
	fail "blocks_free is $(stat_get blocks_free) after rm, want 6"
expect_eq "df available after rm" "$(stat -f -c %a "$MNT")" 6
head -c $((4 * MiB)) /dev/urandom >"$T/again"
cp "$T/again" "$MNT/again" || fail "writing after rm failed"
cmp "$T/again" "$MNT/again" || fail "file written after rm differs"

# 5. A write that only partly fits is short: 3 MiB into 2 free blocks.
sync_out=$(dd if=/dev/zero of="$MNT/short" bs=3M count=1 2>&1) &&
	fail "3 MiB write into 2 free blocks succeeded: $sync_out"
expect_eq "size after a short write" "$(stat -c %s "$MNT/short")" \
	$((2 * MiB))
expect_eq "checksum of the earlier file at the end" \
	"$(sha256sum <"$MNT/keep")" "$(sha256sum <"$T/keep")"
log "short write, recovery after rm and intact data: ok"
