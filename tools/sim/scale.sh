#!/bin/bash
# SPDX-License-Identifier: MIT
# cmp-sim at 10, 100 and 1,000 nodes (1,000 blocks of capacity a node, so
# 1M blocks at 1,000), each plotted (DIR/N/cmp-sim.png) and summed up in
# one table (DIR/table.txt). Usage: tools/sim/scale.sh BUILD DIR [NODES...]
# (tools/deps.sh test installs gnuplot; without it there are no plots).
set -euo pipefail
build=${1:?usage: scale.sh BUILD DIR [NODES...]}
out=${2:?usage: scale.sh BUILD DIR [NODES...]}
shift 2
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000)
here=$(cd "$(dirname "$0")" && pwd)
sim=$build/tools/sim/cmp-sim
mkdir -p "$out"

field() { # FILE NAME: the value after NAME in a summary
	awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$1"
}

for n in "${sizes[@]}"; do
	echo "scale.sh: $n nodes: $sim --nodes $n --out $out/$n"
	"$sim" --nodes "$n" --out "$out/$n" | tail -n 1
	if command -v gnuplot >/dev/null; then
		gnuplot -e "dir='$out/$n'" "$here/plot.gp"
	fi
done

{
	printf '%-6s %-9s %-8s %-6s %-8s %-9s %-7s %-9s %-9s %-8s %-8s %-6s %-9s %-6s %-8s\n' \
		nodes capacity allocs fail mgr/blk findf/blk wall_s rss_MiB \
		evicted homes moved_on follow debt_inc meta_B conns
	for n in "${sizes[@]}"; do
		s=$out/$n/summary.txt
		printf '%-6s %-9s %-8s %-6s %-8s %-9s %-7s %-9s %-9s %-8s %-8s %-6s %-9s %-6s %-8s\n' \
			"$(field "$s" nodes)" "$(field "$s" capacity_blocks)" \
			"$(field "$s" allocs)" "$(field "$s" alloc_fail)" \
			"$(field "$s" mgr_per_alloc)" \
			"$(field "$s" find_free_per_alloc)" \
			"$(field "$s" wall_s)" "$(field "$s" max_rss_mib)" \
			"$(field "$s" evictions)" "$(field "$s" homecomings)" \
			"$(field "$s" lent_moved)" "$(field "$s" followed)" \
			"$(field "$s" debt_incidents)" \
			"$(field "$s" meta_bytes_per_block)" \
			"$(field "$s" provider_conns)"
	done
} | tee "$out/table.txt"
