# SPDX-License-Identifier: MIT
#
# Timing and counting helpers of the cluster benchmarks (replicas.sh,
# wpolicy.sh), sourced after tests/cluster/lib-faults.sh. MB: the file's
# size in MiB.

# secs CMD...: runs CMD, prints the seconds it took
secs() {
	local t0
	t0=$(now_s)
	"$@" >/dev/null 2>&1 || fail "$* failed"
	awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.4f\n", b - a }'
}
# mbps SECONDS: MB/s of a file of MB MiB
mbps() { awk -v mb="$MB" -v s="$1" 'BEGIN { printf "%.0f", mb / s }'; }
# median: of the numbers on stdin (spaces or lines)
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# no_lrl NS: node NS keeps none of its blocks elsewhere
no_lrl() { [ "$(stat_of "$1" blocks_LRL)" = 0 ]; }
