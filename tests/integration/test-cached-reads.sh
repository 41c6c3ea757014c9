#!/bin/bash
# SPDX-License-Identifier: MIT
# Small reads (issue 13, defect 10). By default every read() is one
# request, whatever its size (byte-range direct I/O): dd bs=512 of 1 MiB
# makes 2048 READs. With -o cached_reads a read-only open goes through the
# page cache: the same dd makes a few 128 KiB READs, and the cached pages
# stay true to the file whatever changes it through other opens: a direct
# write, a truncate, a hole punched, a copy_file_range() into it, a store
# through a shared mapping.
TEST_TIMEOUT=90
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr dd cmp python3

reads() { stat_get req_read; }

# ---- default: one READ per read() ----
MNT=$T/mnt
mount_fs "$MNT" local=64M
random_file "$T/src" 1
cp "$T/src" "$MNT/f"
r0=$(reads)
dd if="$MNT/f" of="$T/out" bs=512 status=none
n=$(($(reads) - r0))
cmp "$T/src" "$T/out" || fail "dd bs=512 read back differs"
[ "$n" -ge 2048 ] || fail "default mount: $n READs for 2048 512-byte reads"
log "default: dd bs=512 of 1 MiB made $n READs (byte-range)"
undefer umount_fs "$(realpath "$MNT")"

# ---- cached_reads: readahead, and never stale ----
mount_fs "$MNT" local=64M,cached_reads
cp "$T/src" "$MNT/f"
r0=$(reads)
dd if="$MNT/f" of="$T/out" bs=512 status=none
n=$(($(reads) - r0))
cmp "$T/src" "$T/out" || fail "cached dd bs=512 read back differs"
[ "$n" -le 64 ] || fail "cached_reads: $n READs for 1 MiB, want <= 64"
log "cached_reads: dd bs=512 of 1 MiB made $n READs"

# A reader holds the file open (cached) while other opens change it.
python3 - "$MNT/f" <<'PY' || fail "the cached reader saw stale data"
import mmap, os, sys
p = sys.argv[1]
r = os.open(p, os.O_RDONLY)
w = os.open(p, os.O_RDWR)
def want(what, off, data):
    got = os.pread(r, len(data), off)
    if got != data:
        sys.exit(f"after {what}: read {got[:16]!r}..., want {data[:16]!r}...")
os.pread(r, 1 << 20, 0)                        # all of it in the cache
os.pwrite(w, b"B" * 100, 4100)                 # a direct write
want("a direct write", 4096, os.pread(w, 200, 4096))
want("a direct write (bytes)", 4100, b"B" * 100)
os.ftruncate(w, 8192)                          # shrink, then grow: zeros
os.ftruncate(w, 1 << 20)
want("truncate and regrow", 8192, bytes(4096))
os.pwrite(w, b"C" * 65536, 65536)
os.pread(r, 1 << 20, 0)
import ctypes, ctypes.util
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
if libc.fallocate(w, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
                  ctypes.c_long(65536), ctypes.c_long(65536)):
    sys.exit(f"fallocate: {os.strerror(ctypes.get_errno())}")
want("a punched hole", 65536, bytes(65536))
src = os.open(p + ".src", os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(src, b"D" * 8192, 0)
os.copy_file_range(src, w, 8192, 0, 131072)    # into the cached file
want("copy_file_range", 131072, b"D" * 8192)
m = mmap.mmap(w, 1 << 20)                      # a store through a mapping
m[0:4] = b"MMAP"
m.flush()
want("a store through a shared mapping", 0, b"MMAP")
os.pwrite(w, b"E" * 4, 0)                      # and back
if m[0:4] != b"EEEE":
    sys.exit("the mapping did not see the direct write")
want("a direct write over a mapped page", 0, b"EEEE")
PY
log "cached_reads: a reader's cache followed writes, truncate, hole, copy, mmap"
