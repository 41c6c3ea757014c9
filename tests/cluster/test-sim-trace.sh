#!/bin/bash
# SPDX-License-Identifier: MIT
# cmp-sim replays the trace it wrote as the same run, number for number:
# the trace's text form carries the whole workload, and a run is a
# function of its trace and seed. Usage: test-sim-trace.sh CMP_SIM DIR
set -euo pipefail
sim=$1
dir=$2
rm -rf "$dir"
mkdir -p "$dir"
"$sim" --smoke --write-trace "$dir/trace" --out "$dir/generated" >/dev/null
"$sim" --smoke --trace "$dir/trace" --out "$dir/replayed" >/dev/null
grep -q ' join-memserver ' "$dir/trace"
grep -q ' die$' "$dir/trace"
# everything but the wall clock and the heap (the trace's own buffers)
strip_summary() {
	sed -E 's/wall_s [0-9.]+ max_rss_mib [0-9]+//;
		s/heap_bytes_per_block [0-9.]+//' "$1"
}
strip_samples() {
	cut -d, -f1,3-28,30- "$1"
}
diff <(strip_summary "$dir/generated/summary.txt") \
	<(strip_summary "$dir/replayed/summary.txt")
diff <(strip_samples "$dir/generated/samples.csv") \
	<(strip_samples "$dir/replayed/samples.csv")
echo "test-sim-trace: the replay of $(grep -vc '^#' "$dir/trace") events" \
	"matches the generated run"
