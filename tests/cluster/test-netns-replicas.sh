#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Nothing lost when a machine dies (issue 11), each node in its own network
# namespace. Owner n1 (8 MiB of its own, replicas=2, rebuild_after=2s)
# keeps two copies of every block it moves out, each on its own provider
# among n2, n3 and n4 (48 MiB each). It writes file f (24 MiB, every chunk
# acknowledged); then, while it reads f over and over (datacheck verify),
# rewrites file g pass after pass (datacheck write, fsync after every
# chunk) and stores into file h through a MAP_SHARED mapping (msync, then
# pread back through the daemon):
#  - n4 is paused (SIGSTOP) for 8 s: its copies are made again on n2 and
#    n3 meanwhile; once it runs again it gives back the loans they
#    replaced (the providers hold exactly n1's copies);
#  - n2 is killed (SIGKILL): no write, msync or read of n1 fails, and the
#    copies n2 held are made again on n3 and n4 (the time it took is
#    logged);
#  - then n3, which holds surviving copies of every block, is killed too:
#    still nothing fails (every block has its copy on n4).
# At the end f, g and h read back exactly as acknowledged and n1 lost no
# block. REPL_F_MIB, REPL_PEERS change the sizes for a measurement.
TEST_TIMEOUT=${TEST_TIMEOUT:-170}
OWNER_LOCAL=8M
PEER_LOCAL=${REPL_PEERS:-48M}
F_MIB=${REPL_F_MIB:-24}
# A copy that fails is the pool's to handle (a warning), but the block
# client logs the failed request to the dead node as an error first.
ALLOWED_ERRORS='block [0-9]+ (\(epoch [0-9]+\) )?on node 1[234]: |moving block [0-9]+ out: '
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add n4 10.77.0.14

start_manager
ID_OF=([n1]=11 [n2]=12 [n3]=13 [n4]=14)
for n in 2 3 4; do
	start_node n$n 1$n local=$PEER_LOCAL
done
start_node n1 11 local=$OWNER_LOCAL,replicas=2,rebuild_after=2s
for id in 11 12 13 14; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
m=${MNT_OF[n1]}

# mmap_loop FILE MIB STOPFILE: stores into random 4 KiB pages of FILE
# through a MAP_SHARED mapping, 16 at a time, msync, then preads (through
# the daemon: direct I/O) four random pages and checks them; at the end
# every page. Exits 1 at the first difference or failed msync.
mmap_loop()
{
	python3 - "$@" <<'EOF'
import hashlib, mmap, os, random, sys
path, mib, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
size = mib << 20
pages = size // 4096
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, size)
m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
gen = [0] * pages
def pat(p, g):
    return hashlib.sha256(b'%d:%d' % (p, g)).digest() * 128
def check(p, what):
    if os.pread(fd, 4096, p * 4096) != pat(p, gen[p]):
        print('mmap: page %d differs (%s)' % (p, what), flush=True)
        sys.exit(1)
for p in range(pages):
    m[p * 4096:(p + 1) * 4096] = pat(p, 0)
m.flush()
rng = random.Random(11)
writes = flushes = checks = 0
while not os.path.exists(stop):
    for _ in range(16):
        p = rng.randrange(pages)
        gen[p] += 1
        m[p * 4096:(p + 1) * 4096] = pat(p, gen[p])
        writes += 1
    m.flush()  # msync(MS_SYNC): raises on EIO
    flushes += 1
    for _ in range(4):
        check(rng.randrange(pages), 'while running')
        checks += 1
m.flush()
for p in range(pages):
    check(p, 'at the end')
print('mmap: %d stores, %d msyncs, %d checks, all %d pages verified'
      % (writes, flushes, checks, pages), flush=True)
EOF
}

"$DATACHECK" write "$m/f" "$T/f.rec" -n "$F_MIB" >/dev/null ||
	fail "writing f"
# (the manager's views do not add up here: each LRL block is two RLL ones)
wait_until "two copies of every block of f" 30 copies_whole n2 n3 n4
lrl=$(stat_of n1 blocks_LRL)
log "f ($F_MIB MiB in $BS blocks): $lrl blocks elsewhere, $(stat_of n1 replica_copies) copies: $(held n2) on n2, $(held n3) on n3, $(held n4) on n4"
for ns in n2 n3 n4; do
	[ "$(held $ns)" -gt 0 ] || fail "$ns holds no copy of f"
done
show_status

# n1 reads f, rewrites g and stores into h meanwhile
bg_start reader "$DATACHECK" verify "$m/f" "$T/f.rec" --until "$T/stop"
writer_start w "$m/g" "$T/g.rec" -n 8 --min-pass-ms 100
bg_start mmap mmap_loop "$m/h" 8 "$T/stop"
wait_until "a clean pass of the writer" 30 clean_run_since "$T/w.ev" 0 8

# ---- n4 pauses: its copies are made again, and it gives them back ----
t0=$(now_s)
pid=${DAEMON_PID[n4]}
kill -STOP "$pid"
defer kill -CONT "$pid"
wait_until "n4's copies made again on n2 and n3" 60 copies_whole n2 n3
log "n4 stopped: its copies were made again in $(secs_since "$t0") s"
kill -CONT "$pid"
wait_until "n4 to give back the loans that were replaced" 60 \
	copies_whole n2 n3 n4
log "n4 runs again: the providers hold exactly n1's copies ($(held n2) on n2, $(held n3) on n3, $(held n4) on n4)"

# ---- n2 dies ----
t0=$(now_s)
kill_daemon n2
wait_until "the copies n2 held to be made again on n3 and n4" 60 \
	copies_whole n3 n4
d=$(secs_since "$t0")
log "n2 killed: its copies were made again in $d s ($(stat_of n1 replica_rebuilt) rebuilt, $(stat_of n1 replica_stale) dropped by writes that missed them, $(stat_of n1 replica_rebuild_bytes) bytes copied)"
grep -h 're-replication' "$T/n1.log" | tail -2 | sed 's/^/    /'
wait_until "a clean pass of the writer after n2 died" 30 \
	clean_run_since "$T/w.ev" "$(now_s)" 8

# ---- n3, which holds surviving copies, dies too ----
[ "$(held n3)" -gt 0 ] || check_fail "n3 holds no copy: the second kill tests nothing"
t1=$(now_s)
kill_daemon n3
wait_until "two clean passes of the writer after n3 died" 30 \
	clean_run_since "$T/w.ev" "$t1" 16
touch "$T/stop"
writer_stop w
rc=0
bg_wait reader 60 || rc=$?
[ "$rc" = 0 ] || check_fail "reading f while providers died: $(grep -v '^round' "$T/reader.out" | tail -3)"
grep '^rounds' "$T/reader.out" | sed 's/^/    /'
rc=0
bg_wait mmap 60 || rc=$?
[ "$rc" = 0 ] || check_fail "stores through the mapping of h: $(tail -2 "$T/mmap.out")"
sed 's/^/    /' "$T/mmap.out"

read -r n f slowest slow < <(ev_stats "$T/w.ev" "$t0" "$(now_s)")
log "writes of g since n2 died: $n, $f failed, slowest $slowest ms"
expect "writes of g that failed while providers died" "$f" 0

# ---- everything as acknowledged ----
"$DATACHECK" verify "$m/f" "$T/f.rec" --strict >"$T/vf.out" 2>&1 ||
	check_fail "f does not read back: $(tail -1 "$T/vf.out")"
"$DATACHECK" verify "$m/g" "$T/g.rec" >"$T/vg.out" 2>&1 ||
	check_fail "g does not read back: $(tail -1 "$T/vg.out")"
tail -q -n 1 "$T/vf.out" "$T/vg.out" | sed 's/^/    /'
expect "blocks n1 lost" "$(stat_of n1 blocks_lost)" 0
log "after both kills: $(stat_of n1 blocks_LRL) blocks elsewhere, $(stat_of n1 replica_copies) copies (all on n4: $(held n4)), $(stat_of n1 replica_blocks_short) short of a second copy"
"$CMPCTL" stats "$m" | sed 's/^/    /'
checks_done
