#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What copies cost (issue 11), measured in one run on the multi-node
# tests' network namespaces (tests/cluster/lib-netns.sh): owners side by
# side, a1 with replicas=1, a2 with replicas=2 and a3 with replicas=1 and
# writepolicy=through (its copy on memserver ms too) (4 MiB of their own
# each, so a file lives almost whole on providers p1, p2 and p3), take
# turns, round after round, to write a file of REPL_MB MiB with dd
# (bs=1M, conv=fsync), read it back (iflag=direct), run fio 4 KiB random
# writes and reads on it (O_DIRECT, one job, queue depth 1: one request
# each, the latency of a remote write with its copies; IOPS and p50) and
# remove it; medians are reported. Then a2 writes a file of
# REPL_REBUILD_MB MiB (its copies on p1 are about two thirds of it), a
# fio reader reads it at random while p1 is SIGKILLed (the stall: the
# longest read, and the reads that failed, which must be none), and the
# time until every block has its two copies again is measured, with the
# rebuilder's own figure for the copying (rebuild_rate=0: no limit;
# rebuild_after=1s). Needs root and fio; the machine's load goes into the
# report.
#
#   tools/bench/replicas.sh [BUILD_DIR]     (default build/)
#   REPL_MB=256 REPL_ROUNDS=3 BS=1M REPL_REBUILD_MB=1536   (the defaults)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
export CMPFS=$build/fs/cmpfs MANAGER=$build/manager/cmp-manager
export MEMSERVER=$build/memserver/cmp-memserver CMPCTL=$build/tools/cmpctl
export BUILD_DIR=$build/tests/cluster
MB=${REPL_MB:-256}
ROUNDS=${REPL_ROUNDS:-3}
RB_MB=${REPL_REBUILD_MB:-1536}
BS=${BS:-1M}
TEST_TIMEOUT=${TEST_TIMEOUT:-1200}
# a copy on the killed provider fails once before it is dropped
ALLOWED_ERRORS='block [0-9]+ (\(epoch [0-9]+\) )?on node 21: |moving block [0-9]+ out: '
. "$top/tests/cluster/lib-faults.sh"
. "$top/tools/bench/lib-cluster.sh"

netns_add mgr 10.77.0.1
netns_add a1 10.77.0.11
netns_add a2 10.77.0.12
netns_add p1 10.77.0.21
netns_add p2 10.77.0.22
netns_add p3 10.77.0.23
netns_add ms 10.77.0.31
netns_add a3 10.77.0.13
start_manager
start_memserver ms 31 $((MB + 64))M
for i in 1 2 3; do
	start_node p$i 2$i local=$((MB > RB_MB ? MB + 64 : RB_MB + 64))M
done
start_node a1 11 local=4M
start_node a2 12 local=4M,replicas=2,rebuild_after=1s,rebuild_rate=0
start_node a3 13 local=4M,writepolicy=through
for id in 11 12 13 21 22 23 31; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
make_data "$T/src" "$MB"
cat "$T/src" >/dev/null


FIO_S=${REPL_FIO_S:-5} # seconds of each fio run
# fio_json FILE RW [SECONDS]: one 4 KiB O_DIRECT job at queue depth 1
fio_json() {
	fio --name=r --filename="$1" --rw="$2" --bs=4k --direct=1 \
		--ioengine=psync --time_based --runtime="${3:-$FIO_S}" \
		--norandommap --output-format=json 2>/dev/null
}
# fio_sum JSON DIR: "IOPS p50_us max_us errors" of direction DIR
fio_sum() {
	jq -r --arg d "$2" '.jobs[0][$d] as $x |
		"\($x.iops | floor) \($x.clat_ns.percentile["50.000000"] / 1000 | floor) \($x.clat_ns.max / 1000 | floor) \(.jobs[0].error)"' <<<"$1"
}
declare -A W R SW SR SWL SRL
for round in $(seq "$ROUNDS"); do
	for a in a1 a2 a3; do
		m=${MNT_OF[$a]}
		w=$(secs dd if="$T/src" of="$m/f" bs=1M count="$MB" conv=fsync)
		r=$(secs dd if="$m/f" of=/dev/null bs=1M iflag=direct)
		sw=$(fio_sum "$(fio_json "$m/f" randwrite)" write)
		sr=$(fio_sum "$(fio_json "$m/f" randread)" read)
		sync "$m/f"
		W[$a]+="$(mbps "$w") "
		R[$a]+="$(mbps "$r") "
		SW[$a]+="${sw%% *} "
		SR[$a]+="${sr%% *} "
		SWL[$a]+="$(cut -d' ' -f2 <<<"$sw") "
		SRL[$a]+="$(cut -d' ' -f2 <<<"$sr") "
		log "round $round, $a: write $(mbps "$w") MB/s, read $(mbps "$r") MB/s, fio 4 KiB writes ${sw%% *}/s, reads ${sr%% *}/s ($(stat_of $a blocks_LRL) blocks elsewhere)"
		rm "$m/f"
		wait_until "$a's blocks given back" 60 no_lrl "$a"
	done
done

# ---- a provider dies under a reader: the copies it held are made again ----
m=${MNT_OF[a2]}
make_data "$T/rb" "$RB_MB"
dd if="$T/rb" of="$m/f" bs=1M count="$RB_MB" conv=fsync status=none
whole() {
	[ "$(stat_of a2 replica_copies)" = $((2 * $(stat_of a2 blocks_LRL))) ] &&
		[ "$(stat_of a2 replica_blocks_short)" = 0 ]
}
wait_until "two copies of every block" 120 whole
# p1's copies of a2's blocks: what the rebuild makes again (p1's RLL
# would also count what it holds for the other owners)
rebuilt0=$(stat_of a2 replica_rebuilt)
suspects=$(stat_of a2 net_suspects)
STALL_S=${REPL_STALL_S:-12}
fio_json "$m/f" randread "$STALL_S" >"$T/stall.json" &
reader=$!
sleep 3 # the reader at full speed before the kill (a benchmark's pacing)
t0=$(now_s)
kill_daemon p1
noticed() { [ "$(stat_of a2 net_suspects)" -gt "$suspects" ]; }
wait_until "a2 to find p1 unreachable" 60 noticed
ds=$(secs_since "$t0")
wait "$reader" || true
read -r st_iops st_p50 st_max st_err <<<"$(fio_sum "$(cat "$T/stall.json")" read)"
gone() { [ "$(stat_of a2 replica_rebuilt)" -gt "$rebuilt0" ] && whole; }
wait_until "p1's copies made again" 900 gone
d=$(secs_since "$t0")
passes=$(grep -c 'pass done' "$T/a2.log" || true)
on_p1=$(($(stat_of a2 replica_rebuilt) - rebuilt0))
rb_mib=$(awk -v n="$on_p1" -v b="$(stat_of a2 block_size)" 'BEGIN { printf "%.0f", n * b / 1048576 }')
log "p1 held $on_p1 copies ($rb_mib MiB); a2 found it unreachable $ds s after the kill, every block whole again $d s after it (rebuild_after 1 s)"
log "the reader across the kill: $st_iops IOPS, p50 $st_p50 us, longest read $st_max us, fio error $st_err"
rate=$(awk -v m="$rb_mib" -v s="$d" 'BEGIN { printf "%.0f", m / s }')

cmp "$T/rb" "$m/f" || check_fail "f differs after the rebuild"

echo
echo "replicas cost, $MB MiB file, block $BS, $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-12s %12s %12s %22s %22s\n' "" "dd write" "dd read" \
	"fio 4K randwrite" "fio 4K randread"
label() { case $1 in a3) echo "through" ;; *) echo "replicas=${1#a}" ;; esac; }
for a in a1 a2 a3; do
	printf '  %-12s %7s MB/s %7s MB/s %9s/s p50 %5s us %9s/s p50 %5s us\n' \
		"$(label "$a")" "$(median <<<"${W[$a]}")" \
		"$(median <<<"${R[$a]}")" "$(median <<<"${SW[$a]}")" \
		"$(median <<<"${SWL[$a]}")" "$(median <<<"${SR[$a]}")" \
		"$(median <<<"${SRL[$a]}")"
	printf '  %-12s (rounds: write %s| read %s| 4K write %s| 4K read %s)\n' \
		"" "${W[$a]}" "${R[$a]}" "${SW[$a]}" "${SR[$a]}"
done
echo "  a reader across p1's SIGKILL (fio 4 KiB randread, ${STALL_S} s): longest read $st_max us (p50 $st_p50 us), $st_iops IOPS, fio error $st_err"
echo "  rebuild: $on_p1 copies ($rb_mib MiB); p1 unreachable to a2 after $ds s, whole again $d s after SIGKILL ($rate MiB/s from the kill, rebuild_after 1 s included; $passes passes of the rebuilder)"
[ "$st_err" = 0 ] || check_fail "the reader saw an error across p1's death"
checks_done
