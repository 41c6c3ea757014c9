#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What the memserver write policies cost (issue 11), measured in one run on
# the multi-node tests' network namespaces (tests/cluster/lib-netns.sh):
# three owners side by side, w0 with writepolicy=none, w1 with through and
# w2 with back (4 MiB of their own each, so a file lives almost whole
# elsewhere), compute providers p1 and p2 and a memserver ms. Round after
# round each owner in turn writes a file of WP_MB MiB with dd (bs=1M,
# conv=fsync: most of it moves out as it is written), overwrites it in
# place (conv=notrunc,fsync: writes to blocks already elsewhere, where
# through and back differ), reads it back (iflag=direct), and, for back,
# the time until no memserver copy is behind any more is taken; then it
# removes the file. Medians are reported. Needs root; the machine's load
# goes into the report.
#
#   tools/bench/wpolicy.sh [BUILD_DIR]     (default build/)
#   WP_MB=256 WP_ROUNDS=3 BS=1M             (the defaults)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
export CMPFS=$build/fs/cmpfs MANAGER=$build/manager/cmp-manager
export MEMSERVER=$build/memserver/cmp-memserver CMPCTL=$build/tools/cmpctl
export BUILD_DIR=$build/tests/cluster
MB=${WP_MB:-256}
ROUNDS=${WP_ROUNDS:-3}
BS=${BS:-1M}
TEST_TIMEOUT=${TEST_TIMEOUT:-1800}
. "$top/tests/cluster/lib-faults.sh"
. "$top/tools/bench/lib-cluster.sh"

netns_add mgr 10.77.0.1
netns_add w0 10.77.0.10
netns_add w1 10.77.0.11
netns_add w2 10.77.0.12
netns_add p1 10.77.0.21
netns_add p2 10.77.0.22
netns_add ms 10.77.0.31
start_manager
start_memserver ms 31 $((MB + 64))M
for i in 1 2; do
	start_node p$i 2$i local=$((MB / 2 + 64))M
done
start_node w0 10 local=4M
start_node w1 11 local=4M,writepolicy=through
start_node w2 12 local=4M,writepolicy=back
for id in 10 11 12 21 22 31; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
make_data "$T/src" "$MB"
cat "$T/src" >/dev/null

flushed() { [ "$(stat_of "$1" wp_pending)" = 0 ]; }
policy() { case $1 in w0) echo none ;; w1) echo through ;; w2) echo back ;; esac; }

declare -A W O R F
for round in $(seq "$ROUNDS"); do
	for a in w0 w1 w2; do
		m=${MNT_OF[$a]}
		w=$(secs dd if="$T/src" of="$m/f" bs=1M count="$MB" conv=fsync)
		o=$(secs dd if="$T/src" of="$m/f" bs=1M count="$MB" \
			conv=notrunc,fsync)
		fl=0
		if [ "$a" = w2 ]; then
			t0=$(now_s)
			wait_until "w2's memserver copies up to date" 120 \
				flushed w2
			fl=$(secs_since "$t0")
		fi
		r=$(secs dd if="$m/f" of=/dev/null bs=1M iflag=direct)
		cmp "$T/src" "$m/f" || check_fail "$a: f differs"
		W[$a]+="$(mbps "$w") "
		O[$a]+="$(mbps "$o") "
		R[$a]+="$(mbps "$r") "
		F[$a]+="$fl "
		log "round $round, $(policy $a): write $(mbps "$w") MB/s, overwrite $(mbps "$o") MB/s, read $(mbps "$r") MB/s, flushed ${fl}s after ($(stat_of $a blocks_LRL) blocks elsewhere)"
		rm "$m/f"
		wait_until "$a's blocks given back" 120 no_lrl "$a"
	done
done
for a in w1 w2; do
	log "$(policy $a): $(stat_of $a wp_memserver_writes) memserver writes, $(stat_of $a wp_flushes) flushes"
done

echo
echo "write policies, $MB MiB file, block $BS, $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-20s %12s %12s %12s %12s\n' "" "dd write" "overwrite" \
	"dd read" "flush lag"
for a in w0 w1 w2; do
	printf '  %-20s %7s MB/s %7s MB/s %7s MB/s %10s s\n' \
		"writepolicy=$(policy $a)" "$(median <<<"${W[$a]}")" \
		"$(median <<<"${O[$a]}")" "$(median <<<"${R[$a]}")" \
		"$(median <<<"${F[$a]}")"
	printf '  %-20s (rounds: write %s| overwrite %s| read %s)\n' \
		"" "${W[$a]}" "${O[$a]}" "${R[$a]}"
done
checks_done
