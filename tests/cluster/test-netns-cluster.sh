#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A manager, three cmpfs nodes and a RAM memserver, each in its own network
# namespace on one bridge. Node n1 (4 MiB of its own) writes more than its
# share: the overflow goes to n2's and n3's idle memory first and to the
# memserver only once that is used up; every byte reads back through
# read() and through mmap; the manager's lists add up (the owners' LRL is
# the providers' RLL); a 512-byte pread of a remote block moves about 512
# bytes over the network; random reads fetch nothing ahead, reading the
# files back as streams does.
TEST_TIMEOUT=140
. "$(dirname "$0")/lib-netns.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add ms 10.77.0.21

# Blocks of 64 KiB: n1 has 64 of them, n2 and n3 128 each, the memserver
# 1024.
start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13)
start_memserver ms 21 64M
start_node n2 12 local=8M
start_node n3 13 local=8M
start_node n1 11 local=4M
for id in 11 12 13 21; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
expect() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

make_data "$T/a" 12
make_data "$T/b" 16

# ---- 12 MiB: 4 MiB at home, the rest in n2's and n3's idle memory ----
cp "$T/a" "${MNT_OF[n1]}/a"
wait_until "the views to settle after 12 MiB" 30 views_settled n1 n2 n3
show_status
lrl=$(stat_of n1 blocks_LRL)
[ "$lrl" -ge 120 ] || fail "n1 should have lent out >= 120 blocks, has LRL $lrl"
expect "memserver blocks in use while idle memory is left" \
	"$(node_field 21 rll)" 0
expect "n2 RLL + n3 RLL" \
	$(($(stat_of n2 blocks_RLL) + $(stat_of n3 blocks_RLL))) "$lrl"
[ "$(stat_of n2 blocks_RLL)" -gt 0 ] && [ "$(stat_of n3 blocks_RLL)" -gt 0 ] ||
	fail "both idle nodes should lend (most free first)"
expect "n1 evictions" "$(stat_of n1 evictions)" "$lrl"
log "12 MiB: n1 LRL $lrl = n2 RLL $(stat_of n2 blocks_RLL) + n3 RLL $(stat_of n3 blocks_RLL), memserver 0"

# ---- 16 MiB more: the idle memory runs out, the memserver takes the rest ----
cp "$T/b" "${MNT_OF[n1]}/b"
wait_until "the views to settle after 28 MiB" 30 views_settled n1 n2 n3
show_status
expect "n2 free once the memserver is used" "$(stat_of n2 blocks_free)" 0
expect "n3 free once the memserver is used" "$(stat_of n3 blocks_free)" 0
ms=$(node_field 21 rll)
[ "$ms" -gt 0 ] || fail "the memserver holds no block after 28 MiB"
lrl=$(stat_of n1 blocks_LRL)
expect "n1 LRL = n2 RLL + n3 RLL + memserver RLL" "$lrl" \
	$(($(stat_of n2 blocks_RLL) + $(stat_of n3 blocks_RLL) + ms))
# (blocks that came home and kept their loans, copies, count in LRL)
expect "n1 LLL + free + copies" \
	$(($(stat_of n1 blocks_LLL) + $(stat_of n1 blocks_free) + $(stat_of n1 prefetch_copies))) 64
expect "blocks lost" "$(stat_of n1 blocks_lost)" 0
log "28 MiB: n1 LRL $lrl, memserver RLL $ms, n2 and n3 full"

# ---- random reads name nothing to fetch ahead ----
python3 - "${MNT_OF[n1]}/a" <<'EOF' || fail "random 4 KiB preads of a"
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
rnd = random.Random(12)
for _ in range(64):
    off = rnd.randrange(0, size // 65536) * 65536 + rnd.randrange(0, 60000)
    assert len(os.pread(fd, 4096, off)) == 4096
os.close(fd)
EOF
expect "blocks prefetched for random reads" "$(stat_of n1 prefetched)" 0

# ---- every byte back, through read() and through mmap ----
for f in a b; do
	same_by_read "$T/$f" "${MNT_OF[n1]}/$f" || fail "$f differs through read()"
	same_by_mmap "$T/$f" "${MNT_OF[n1]}/$f" || fail "$f differs through mmap"
done
log "both files read back byte for byte through read() and mmap"
# read as streams, their blocks elsewhere came ahead of the readers
[ "$(stat_of n1 prefetch_hits)" -gt 0 ] ||
	fail "no prefetched block was read ($(stat_of n1 prefetched) prefetched)"
log "prefetch: $(stat_of n1 prefetched) blocks, $(stat_of n1 prefetch_hits) read, $(stat_of n1 prefetch_wasted) wasted"
# nothing fetched ahead any more while the 512-byte preads count bytes
prefetch_idle() { [ "$(stat_of n1 prefetch_queued)" = 0 ]; }
wait_until "the prefetch queue to empty" 10 prefetch_idle

# ---- a 512-byte pread of a remote block moves about 512 bytes ----
# File a's first blocks were written first, so they are the coldest and
# were moved out; try blocks until a read goes over the network.
pread512()
{
	python3 - "$1" "$2" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
b = os.pread(fd, 512, int(sys.argv[2]))
os.close(fd)
sys.exit(0 if len(b) == 512 else 1)
EOF
}
found=0
for blk in $(seq 0 40); do
	off=$((blk * 65536 + 4196))
	rx0=$(stat_of n1 net_bytes_received)
	rd0=$(stat_of n1 read_bytes)
	pread512 "${MNT_OF[n1]}/a" "$off" || fail "pread of 512 bytes at $off"
	rx=$(($(stat_of n1 net_bytes_received) - rx0))
	rd=$(($(stat_of n1 read_bytes) - rd0))
	expect "read_bytes growth for a 512-byte pread" "$rd" 512
	expect "last_read_size" "$(stat_of n1 last_read_size)" 512
	if [ "$rx" -gt 0 ]; then
		[ "$rx" -le 1024 ] ||
			fail "a 512-byte pread of remote block $blk received $rx bytes"
		log "512-byte pread of remote block $blk: $rx bytes received"
		found=1
		break
	fi
done
[ "$found" = 1 ] || fail "no remote block among the first 41 of file a"
# the same 512 bytes written back to that remote block are counted
wr0=$(stat_of n1 write_remote_bytes)
python3 - "$T/a" "${MNT_OF[n1]}/a" "$off" <<'PY' || fail "pwrite of 512 bytes at $off"
import os, sys
with open(sys.argv[1], "rb") as src:
    src.seek(int(sys.argv[3]))
    b = src.read(512)
fd = os.open(sys.argv[2], os.O_WRONLY)
assert os.pwrite(fd, b, int(sys.argv[3])) == 512
os.close(fd)
PY
expect "write_remote_bytes growth for a 512-byte write to a remote block" \
	$(($(stat_of n1 write_remote_bytes) - wr0)) 512
cmp -n 512 -i 4196:4196 "$T/a" "${MNT_OF[n1]}/a" ||
	fail "the bytes at 4196 differ"

# ---- remote paging: stores through MAP_SHARED reach remote blocks ----
mmap_store()
{
	python3 - "$@" <<'EOF'
import mmap, os, sys
data = bytes((i * 7 + 3) & 0xff for i in range(3000))
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, os.fstat(fd).st_size, mmap.MAP_SHARED,
                  mmap.PROT_READ | mmap.PROT_WRITE)
    for off in (70000, 65536 * 5 - 1000, 65536 * 100 + 12345):
        m[off:off + len(data)] = data
    m.flush()
    m.close()
    os.close(fd)
EOF
}
tx0=$(stat_of n1 net_bytes_sent)
mmap_store "$T/a" "${MNT_OF[n1]}/a"
[ "$(stat_of n1 net_bytes_sent)" -gt "$tx0" ] ||
	fail "mmap stores into file a's cold blocks sent nothing to their providers"
same_by_read "$T/a" "${MNT_OF[n1]}/a" || fail "a differs after mmap stores (read)"
same_by_mmap "$T/a" "${MNT_OF[n1]}/a" || fail "a differs after mmap stores (mmap)"
log "mmap stores into remote blocks of a read back through read() and mmap"

# ---- freeing: blocks come home, providers get theirs back ----
rm "${MNT_OF[n1]}/b"
wait_until "the views to settle after rm" 30 views_settled n1 n2 n3
show_status
lrl=$(stat_of n1 blocks_LRL)
expect "n1 LRL after rm = providers' RLL" "$lrl" \
	$(($(stat_of n2 blocks_RLL) + $(stat_of n3 blocks_RLL) + $(node_field 21 rll)))
# a's 192 blocks; b's local blocks were freed and a's came home into them
expect "n1 LLL + LRL after rm" $(($(stat_of n1 blocks_LLL) + lrl)) 192
# (home, keeping their loans as copies: hash compare)
home=$(($(stat_of n1 blocks_LLL) + $(stat_of n1 prefetch_copies)))
[ "$home" -ge 60 ] ||
	fail "n1 LLL + copies $home: borrowed blocks did not come home"
[ "$(stat_of n1 homecomings)" -gt 0 ] || fail "no homecomings after rm"
same_by_read "$T/a" "${MNT_OF[n1]}/a" || fail "a differs after rm b"
same_by_mmap "$T/a" "${MNT_OF[n1]}/a" || fail "a differs through mmap after rm b"
log "rm b: n1 LRL $lrl, file a intact"
