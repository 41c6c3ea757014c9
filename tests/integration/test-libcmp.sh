#!/bin/bash
# SPDX-License-Identifier: MIT
# libcmp on a real mount (64 blocks of 1 MiB): its cmocka tests
# (test-libcmp.c: blocks taken and given back, zeroed calloc, realloc, a
# full pool, threads), the example program, and LD_PRELOAD mode: an
# ordinary program (preload-hog) allocates 8 chunks of 4 MiB from two
# threads plus a calloc, a posix_memalign and a growing realloc under
# LD_PRELOAD=libcmp-preload.so; while it holds them the pool's used blocks
# must have grown by exactly what it allocated (44 blocks) and its memory
# map must show exactly those 10 mappings of pool files (its 1000 small
# allocations stay on the heap); every byte reads back, and freeing gives
# every block back. Last, python3 under the preload library: a 32 MiB
# bytearray lands in the pool and reads back.
TEST_TIMEOUT=150
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr
[ -f "${LIBCMP_PRELOAD:-}" ] || fail "LIBCMP_PRELOAD is not set to libcmp-preload.so"
[ -x "${LIBCMP_EXAMPLE:-}" ] || fail "LIBCMP_EXAMPLE is not set"

MNT=$T/mnt
mount_fs "$MNT" local=64M,block=1M
free_is() { [ "$(stat_get blocks_free)" = "$1" ]; }

# ---- the library's own tests ----
CMP_DIR=$MNT "$(helper test-libcmp)" || fail "test-libcmp (cmocka) failed"
wait_until "all 64 blocks free after the cmocka tests" 5 free_is 64

# ---- the example ----
out=$(CMP_DIR=$MNT "$LIBCMP_EXAMPLE" 16) || fail "cmp-alloc-example: $out"
grep -q "32 MiB in the pool .*: verified" <<<"$out" || fail "example said: $out"
log "example: $out"
wait_until "the example's blocks back" 5 free_is 64

# ---- LD_PRELOAD: a program that knows nothing of libcmp ----
pool_maps() { grep -c " $MNT/libcmp-" "/proc/$1/maps" || true; }
coproc HOG { CMP_DIR=$MNT CMP_PRELOAD_MIN=1M LD_PRELOAD=$LIBCMP_PRELOAD \
	exec "$(helper preload-hog)" 8 4; }
HOG_PID_=$HOG_PID
stop_hog() { kill "$1" 2>/dev/null || true; }
defer stop_hog "$HOG_PID_"
read -r -t 60 line <&"${HOG[0]}" || fail "preload-hog said nothing in 60 s"
expect_eq "preload-hog's first line" "$line" allocated
# 8 x 4 blocks, chunk 0 grown to 8 (its old 4 given back), calloc 4,
# posix_memalign 4: 44 blocks in use, in 10 mappings.
wait_for "44 blocks in use" 5 free_is 20 ||
	fail "the pool has $(stat_get blocks_free) free blocks while preload-hog holds 44 MiB, want 20"
expect_eq "pool files mapped by preload-hog" "$(pool_maps "$HOG_PID_")" 10
log "preload-hog holds 44 MiB in the pool: 20 of 64 blocks free, 10 pool mappings"
echo go >&"${HOG[1]}"
read -r -t 60 line <&"${HOG[0]}" || fail "preload-hog did not finish checking"
expect_eq "preload-hog's check" "$line" freed
wait_until "every block back after free()" 5 free_is 64
echo go >&"${HOG[1]}"
rc=0
wait "$HOG_PID_" || rc=$?
expect_eq "preload-hog's exit status" "$rc" 0
undefer stop_hog "$HOG_PID_"

# ---- LD_PRELOAD on python3 ----
if command -v python3 >/dev/null; then
	out=$(CMP_DIR=$MNT LD_PRELOAD=$LIBCMP_PRELOAD python3 -c '
import os, sys
def free():
    s = os.getxattr(sys.argv[1], "user.cmpfs.stats").decode().split()
    return int(s[s.index("blocks_free") + 1])
f0 = free()
b = bytearray(32 << 20)
for i in range(0, len(b), 4096):
    b[i] = i % 251
used = f0 - free()
assert used >= 32, "only %d blocks used" % used
assert all(b[i] == i % 251 for i in range(0, len(b), 4096))
print("python3: bytearray of 32 MiB took %d pool blocks" % used)
' "$MNT") || fail "python3 under libcmp-preload.so: $out"
	log "$out"
	wait_until "python's blocks back" 5 free_is 64
fi
