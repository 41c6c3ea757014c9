#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Hash compare (issue 11) with real daemons, each in its own network
# namespace: two owners of 4 MiB (64 blocks of 64 KiB), n1 with hash
# compare (the default) and n3 with -o nohashcompare, and a provider n2
# with room for both. Each owner writes a 4 MiB file a, then a file x of
# 4 MiB that sends a out; x is removed, so a's blocks come home (principle
# 4); then a file y of 4 MiB fills the owner
# again and a's blocks go out once more. On n1 they went out unchanged:
# evict_unchanged counts them, and the bytes n1 sent while y was written
# are no more than y's own evictions (nothing of a's data crossed the
# wire); n3 sends all of a's blocks again. Then a few bytes in some of a's
# blocks on n1 are written after they came home: only their dirty pages
# go (evict_partial, evict_pages_sent). Every file is compared byte for
# byte with its source at the end. The numbers go in the log.
TEST_TIMEOUT=140
. "$(dirname "$0")/lib-netns.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13

start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13)
start_node n2 12 local=32M
start_node n1 11 local=4M
start_node n3 13 local=4M,nohashcompare
for id in 11 12 13; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
expect() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
BLOCK=65536

make_data "$T/a" 4
make_data "$T/x" 4
make_data "$T/y" 4

# the owner's pool is quiet: nothing moving, nothing queued to fetch
quiet()
{
	local s

	s=$("$CMPCTL" stats "${MNT_OF[$1]}" --json) || return 1
	[ "$(jq .prefetch_queued <<<"$s")" = 0 ] &&
		[ "$(jq '.blocks_free >= 1' <<<"$s")" = true ]
}
# n blocks of a are home (LLL or kept copies)
home_at_least()
{
	[ $(($(stat_of "$1" blocks_LLL) + $(stat_of "$1" prefetch_copies))) -ge "$2" ]
}

# age NS: 4096 small reads of a small file z: the exchange policy's
# clock (accesses) moves on, what came home is no longer protected
# (pool/exchange.h: one to two epochs of 8 accesses per block)
age()
{
	python3 - "${MNT_OF[$1]}/z" <<'EOF' || fail "$1: reads of z"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(4096):
    assert len(os.pread(fd, 512, (i % 16) * 4096)) == 512
os.close(fd)
EOF
}

# bring_home NS: a out (x sent it), then x removed: a comes home
bring_home()
{
	local mnt=${MNT_OF[$1]}

	cp "$T/a" "$mnt/a"
	cp "$T/x" "$mnt/x"
	sync
	[ "$(stat_of "$1" blocks_LRL)" -ge 48 ] ||
		fail "$1: a did not go out ($(stat_of "$1" blocks_LRL) blocks elsewhere)"
	rm "$mnt/x"
	wait_until "$1: a's blocks home" 30 home_at_least "$1" 48
	wait_until "$1: quiet" 30 quiet "$1"
	head -c 65536 "$T/x" >"$mnt/z"
	age "$1"
}

# send_out NS: y fills the owner, a goes out again; OUT="SENT EVICTIONS
# UNCHANGED PARTIAL SAVED MS" (deltas while y was written and settled)
send_out()
{
	local ns=$1 mnt=${MNT_OF[$1]} tx0 ev0 un0 pa0 sv0 t0 t1

	tx0=$(stat_of "$ns" net_bytes_sent)
	ev0=$(stat_of "$ns" evictions)
	un0=$(stat_of "$ns" evict_unchanged)
	pa0=$(stat_of "$ns" evict_partial)
	sv0=$(stat_of "$ns" evict_bytes_saved)
	t0=$(date +%s%N)
	cp "$T/y" "$mnt/y"
	sync
	wait_until "$ns: a out again" 30 a_out "$ns"
	t1=$(date +%s%N)
	OUT="$(($(stat_of "$ns" net_bytes_sent) - tx0))"\
" $(($(stat_of "$ns" evictions) - ev0))"\
" $(($(stat_of "$ns" evict_unchanged) - un0))"\
" $(($(stat_of "$ns" evict_partial) - pa0))"\
" $(($(stat_of "$ns" evict_bytes_saved) - sv0))"\
" $(((t1 - t0) / 1000000))"
}
# most of a is elsewhere again (no copies left here)
a_out()
{
	[ "$(stat_of "$1" prefetch_copies)" -le 4 ] &&
		[ "$(stat_of "$1" blocks_LRL)" -ge 40 ]
}

# ---- unchanged: nothing sent (n1), everything sent (n3) ----
bring_home n1
bring_home n3
[ "$(stat_of n1 prefetch_copies)" -ge 40 ] ||
	fail "n1: a's blocks came home without keeping their loans ($(stat_of n1 prefetch_copies) copies)"
expect "n3 copies (nohashcompare; not prefetched)" \
	"$(($(stat_of n3 prefetch_copies) > 8))" 0
send_out n1
read -r tx1 ev1 un1 pa1 sv1 ms1 <<<"$OUT"
send_out n3
read -r tx3 ev3 un3 pa3 sv3 ms3 <<<"$OUT"
log "n1 (hash compare): y sent a out: $tx1 bytes sent, $ev1 evictions, $un1 unchanged, $pa1 partial, $sv1 bytes saved, $ms1 ms"
log "n3 (nohashcompare): y sent a out: $tx3 bytes sent, $ev3 evictions, $un3 unchanged, $pa3 partial, $sv3 bytes saved, $ms3 ms"
[ "$un1" -ge 40 ] || fail "n1: only $un1 of a's blocks went out unchanged"
expect "n1 bytes saved" "$sv1" $((un1 * BLOCK))
expect "n3 unchanged evictions" "$un3" 0
# what n1 sent: its real evictions' blocks and some control frames, and
# nothing for the unchanged ones (a block's worth would be $BLOCK each)
[ "$tx1" -le $(((ev1 + pa1) * (BLOCK + 4096) + 256 * 1024)) ] ||
	fail "n1 sent $tx1 bytes for $ev1 evictions and $un1 unchanged ones"
[ "$tx3" -ge $((40 * BLOCK)) ] ||
	fail "n3 sent only $tx3 bytes for a (nohashcompare should send it)"

# ---- a measurement: HASHCMP_ROUNDS more rounds of the same (default 0) ----
# (y removed, a home again, y written again; per round and owner: bytes
# sent and the time from cp y to a out again)
again()
{
	rm "${MNT_OF[$1]}/y"
	wait_until "$1: a's blocks home again" 30 home_at_least "$1" 48
	wait_until "$1: quiet again" 30 quiet "$1"
	age "$1"
	send_out "$1"
}
for r in $(seq 1 "${HASHCMP_ROUNDS:-0}"); do
	for ns in n1 n3; do
		again "$ns"
		log "round $r $ns: sent evictions unchanged partial saved ms: $OUT"
	done
done

# ---- written: only the dirty pages go ----
rm "${MNT_OF[n1]}/y"
wait_until "n1: a's blocks home again" 30 home_at_least n1 48
wait_until "n1: quiet again" 30 quiet n1
age n1
pg0=$(stat_of n1 evict_pages_sent)
# 100 bytes into each of a's blocks 8..15 (of the same bytes as the
# source), at 5000 in the block: one page each
python3 - "$T/a" "${MNT_OF[n1]}/a" <<'EOF' || fail "writes into a"
import os, sys
src = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY)
for blk in range(8, 16):
    off = blk * 65536 + 5000
    data = bytes(b ^ 0x5a for b in src[off:off + 100])
    assert os.pwrite(fd, data, off) == 100
os.close(fd)
with open(sys.argv[1], "r+b") as f:
    for blk in range(8, 16):
        off = blk * 65536 + 5000
        f.seek(off)
        f.write(bytes(b ^ 0x5a for b in src[off:off + 100]))
EOF
send_out n1
read -r tx1 ev1 un1 pa1 sv1 ms1 <<<"$OUT"
pages=$(($(stat_of n1 evict_pages_sent) - pg0))
log "n1, 8 blocks written: $tx1 bytes sent, $ev1 evictions, $un1 unchanged, $pa1 partial ($pages pages), $sv1 bytes saved"
[ "$pa1" -ge 1 ] || fail "n1: no written block went out as its dirty pages"
expect "pages sent by the partial evictions" "$pages" "$pa1"
# the pages, not their blocks, crossed the wire
[ "$tx1" -le $((ev1 * (BLOCK + 4096) + pa1 * 8192 + 256 * 1024)) ] ||
	fail "n1 sent $tx1 bytes for $ev1 evictions and $pa1 partial ones"

for f in a y; do
	same_by_read "$T/$f" "${MNT_OF[n1]}/$f" || fail "n1: $f differs"
done
same_by_read "$T/y" "${MNT_OF[n3]}/y" || fail "n3: y differs"
python3 - "$T/a" "${MNT_OF[n3]}/a" <<'EOF' || fail "n3: a differs"
import sys
a, b = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
# n3's a never had the 8 writes: only those ranges may differ
for blk in range(8, 16):
    off = blk * 65536 + 5000
    a = a[:off] + b[off:off + 100] + a[off + 100:]
sys.exit(a != b)
EOF
expect "n1 blocks lost" "$(stat_of n1 blocks_lost)" 0
log "a and y read back byte for byte on both owners"
