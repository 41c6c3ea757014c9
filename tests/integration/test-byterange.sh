#!/bin/bash
# SPDX-License-Identifier: MIT
# The byte-range claim, proved by the daemon's own counters: a 512-byte
# pread at offset 4196 reaches the daemon as one 512-byte READ (no page
# rounding, no readahead), and a 100-byte pwrite as one 100-byte WRITE.
# Checked on a 1 MiB-block mount and on a 4 KiB-block mount, where the
# read straddles a block boundary and still arrives as one request.
TEST_TIMEOUT=60
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr dd cmp

# delta NAME: how much counter NAME moved since snapshot()
snapshot()
{
	getfattr --absolute-names -n user.cmpfs.stats --only-values "$MNT" \
		>"$T/before"
}
delta()
{
	local a b

	a=$(awk -v n="$1" '$1 == n { print $2 }' "$T/before")
	b=$(stat_get "$1")
	echo $((b - a))
}

check_mount()
{
	local off=$1

	MNT=$2
	head -c 65536 /dev/urandom >"$T/src"
	cp "$T/src" "$MNT/f"
	cmp "$T/src" "$MNT/f" || fail "copy of 64 KiB differs"

	# One 512-byte pread at $off.
	snapshot
	dd if="$MNT/f" of="$T/got" bs=512 skip="$off" count=512 \
		iflag=skip_bytes,count_bytes status=none
	expect_eq "req_read delta for a 512-byte pread at $off" \
		"$(delta req_read)" 1
	expect_eq "read_bytes delta" "$(delta read_bytes)" 512
	expect_eq "last_read_size" "$(stat_get last_read_size)" 512
	cmp "$T/got" <(tail -c +$((off + 1)) "$T/src" | head -c 512) ||
		fail "the 512 bytes read at $off are wrong"

	# One 100-byte pwrite at 7000.
	snapshot
	head -c 100 /dev/urandom >"$T/patch"
	dd if="$T/patch" of="$MNT/f" bs=100 seek=7000 conv=notrunc \
		oflag=seek_bytes status=none
	expect_eq "req_write delta for a 100-byte pwrite" \
		"$(delta req_write)" 1
	expect_eq "write_bytes delta" "$(delta write_bytes)" 100
	expect_eq "last_write_size" "$(stat_get last_write_size)" 100
	dd if="$T/patch" of="$T/src" bs=100 seek=7000 conv=notrunc \
		oflag=seek_bytes status=none
	cmp "$T/src" "$MNT/f" || fail "file differs after the 100-byte write"

	# A 3-byte read of the last bytes: short at EOF, still one request.
	snapshot
	dd if="$MNT/f" of="$T/got" bs=16 skip=65533 count=16 \
		iflag=skip_bytes,count_bytes status=none
	expect_eq "bytes read at EOF-3" "$(stat -c %s "$T/got")" 3
	expect_eq "read_bytes delta at EOF" "$(delta read_bytes)" 3
	log "byte-range reads and writes at $off on $(stat_get block_size) B blocks: ok"
}

mount_fs "$T/m1" local=16M,block=1M
check_mount 4196 "$T/m1"
mount_fs "$T/m4" local=16M,block=4K
check_mount 4000 "$T/m4"	# 4000..4511 crosses the 4096 boundary
