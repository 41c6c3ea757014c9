#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What copies cost (issue 11), measured in one run on the multi-node
# tests' network namespaces (tests/cluster/lib-netns.sh): two owners side
# by side, a1 with replicas=1 and a2 with replicas=2 (4 MiB of their own
# each, so a file lives almost whole on providers p1, p2 and p3), take
# turns, round after round, to write a file of REPL_MB MiB with dd
# (bs=1M, conv=fsync), read it back (iflag=direct), overwrite and read
# 4 KiB pieces of it (O_DIRECT: one request each, the latency of a
# remote write with its copies) and remove it; medians are reported. Then a2 writes the file again, p1 is SIGKILLed, and the
# time until every block has its two copies again is measured, with the
# rebuilder's own figure for the copying (rebuild_rate=0: no limit;
# rebuild_after=1s). Needs root; the machine's load goes into the report.
#
#   tools/bench/replicas.sh [BUILD_DIR]     (default build/)
#   REPL_MB=256 REPL_ROUNDS=3 BS=1M          (the defaults)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
export CMPFS=$build/fs/cmpfs MANAGER=$build/manager/cmp-manager
export MEMSERVER=$build/memserver/cmp-memserver CMPCTL=$build/tools/cmpctl
export BUILD_DIR=$build/tests/cluster
MB=${REPL_MB:-256}
ROUNDS=${REPL_ROUNDS:-3}
BS=${BS:-1M}
TEST_TIMEOUT=${TEST_TIMEOUT:-1200}
# a copy on the killed provider fails once before it is dropped
ALLOWED_ERRORS='block [0-9]+ (\(epoch [0-9]+\) )?on node 21: |moving block [0-9]+ out: '
. "$top/tests/cluster/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add a1 10.77.0.11
netns_add a2 10.77.0.12
netns_add p1 10.77.0.21
netns_add p2 10.77.0.22
netns_add p3 10.77.0.23
start_manager
for i in 1 2 3; do
	start_node p$i 2$i local=$((MB + 64))M
done
start_node a1 11 local=4M
start_node a2 12 local=4M,replicas=2,rebuild_after=1s,rebuild_rate=0
for id in 11 12 21 22 23; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
make_data "$T/src" "$MB"
cat "$T/src" >/dev/null

# secs CMD...: runs CMD, prints the seconds it took
secs() {
	local t0
	t0=$(now_s)
	"$@" >/dev/null 2>&1 || fail "$* failed"
	awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.4f\n", b - a }'
}
mbps() { awk -v mb="$MB" -v s="$1" 'BEGIN { printf "%.0f", mb / s }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
no_lrl() { [ "$(stat_of "$1" blocks_LRL)" = 0 ]; }

SMALL=${REPL_SMALL:-5000} # 4 KiB writes and reads per round
iops() { awk -v n="$SMALL" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
declare -A W R SW SR
for round in $(seq "$ROUNDS"); do
	for a in a1 a2; do
		m=${MNT_OF[$a]}
		w=$(secs dd if="$T/src" of="$m/f" bs=1M count="$MB" conv=fsync)
		r=$(secs dd if="$m/f" of=/dev/null bs=1M iflag=direct)
		sw=$(secs dd if="$T/src" of="$m/f" bs=4k count="$SMALL" \
			oflag=direct conv=notrunc,fsync)
		sr=$(secs dd if="$m/f" of=/dev/null bs=4k count="$SMALL" \
			iflag=direct)
		W[$a]+="$(mbps "$w") "
		R[$a]+="$(mbps "$r") "
		SW[$a]+="$(iops "$sw") "
		SR[$a]+="$(iops "$sr") "
		log "round $round, $a: write $(mbps "$w") MB/s, read $(mbps "$r") MB/s, 4 KiB writes $(iops "$sw")/s, reads $(iops "$sr")/s ($(stat_of $a blocks_LRL) blocks elsewhere)"
		rm "$m/f"
		wait_until "$a's blocks given back" 60 no_lrl "$a"
	done
done

# ---- a provider dies: the copies it held are made again ----
m=${MNT_OF[a2]}
dd if="$T/src" of="$m/f" bs=1M count="$MB" conv=fsync status=none
whole() {
	[ "$(stat_of a2 replica_copies)" = $((2 * $(stat_of a2 blocks_LRL))) ] &&
		[ "$(stat_of a2 replica_blocks_short)" = 0 ]
}
wait_until "two copies of every block" 60 whole
on_p1=$(stat_of p1 blocks_RLL)
suspects=$(stat_of a2 net_suspects)
t0=$(now_s)
kill_daemon p1
noticed() { [ "$(stat_of a2 net_suspects)" -gt "$suspects" ]; }
wait_until "a2 to find p1 unreachable" 60 noticed
ds=$(secs_since "$t0")
gone() { [ "$(stat_of a2 replica_rebuilt)" -ge "$on_p1" ] && whole; }
wait_until "p1's copies made again" 600 gone
d=$(secs_since "$t0")
pass=$(grep -h 'pass done' "$T/a2.log" | tail -1)
log "p1 held $on_p1 copies ($(awk -v n="$on_p1" -v b="$(stat_of a2 block_size)" 'BEGIN { printf "%.0f", n * b / 1048576 }') MiB); a2 found it unreachable $ds s after the kill, every block whole again $d s after it (rebuild_after 1 s)"
log "the rebuilder: ${pass#*re-replication }"

cmp "$T/src" "$m/f" || check_fail "f differs after the rebuild"

echo
echo "replicas cost, $MB MiB file, block $BS, $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-12s %12s %12s %14s %14s\n' "" "dd write" "dd read" \
	"4K writes" "4K reads"
for a in a1 a2; do
	printf '  %-12s %7s MB/s %7s MB/s %12s/s %12s/s\n' \
		"replicas=${a#a}" "$(median <<<"${W[$a]}")" \
		"$(median <<<"${R[$a]}")" "$(median <<<"${SW[$a]}")" \
		"$(median <<<"${SR[$a]}")"
	printf '  %-12s (rounds: write %s| read %s| 4K write %s| 4K read %s)\n' \
		"" "${W[$a]}" "${R[$a]}" "${SW[$a]}" "${SR[$a]}"
done
echo "  rebuild: $on_p1 copies; p1 unreachable to a2 after $ds s, whole again $d s after SIGKILL; ${pass#*re-replication }"
checks_done
