# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154
# (the WL_ tables are declared in lib.sh and read by run.sh)
#
# Workload 2, small direct access: fio psync, one job, O_DIRECT random
# reads of 512 B and 4 KiB, unpinned and pinned to CPU 0 with the system's
# daemons: IOPS, p50/p99/p99.9 completion latency. For the cluster systems
# also the bytes that crossed the wire per 512-byte read and every daemon
# counter that moved, per read.

FIO_MB=$(sized 8 256)
FIO_LEN=$(sized "--number_ios=100" "--runtime=4 --time_based") # each fio job
peer_room "$FIO_MB"
WL_SIZES[fio]="fio file ${FIO_MB} MiB, $(sized "100 reads" "4 s") per job"
# smoke: a cluster system (the wire counters) and the FUSE floor; one
# unpinned and one pinned job
WL_NEEDS[fio]=$(sized "cmpfs-remote fusefloor" \
	"cmpfs cmpfs-remote cmpfs-memsrv tmpfs fusefloor nbdfuse sshfs")
FIO_JOBS=$(sized "512 4096pin" "512 4096 512pin 4096pin") # block size, pinned

fio_prepare() { source_data; }

# fio_wire_start SYSTEM, then fio_wire SYSTEM IOS: the bytes on node A's
# veth and the daemon counters that moved in between, per read.
WIRE0=0
fio_wire_start() {
	WIRE0=$(veth_bytes)
	cmp_stats "${MNT[$1]}" >"$WORK/st0"
}
fio_wire() {
	local s=$1 ios=$2 k v wire1
	wire1=$(veth_bytes)
	cmp_stats "${MNT[$s]}" >"$WORK/st1"
	record "$s" wire_bytes_per_512B_read \
		"$(awk -v a="$WIRE0" -v b="$wire1" -v n="$ios" 'BEGIN {printf "%.1f", (b - a) / n}')" \
		B/read
	# every daemon counter that moved, per read (net_*, *_remote_*)
	while read -r k v; do
		record "$s" "ctr_${k}_per_512B_read" "$v" /read
	done < <(awk -v n="$ios" 'NR == FNR {a[$1] = $2; next}
		($1 ~ /net|remote|wire|tx|rx/) && ($2 - a[$1]) > 0 {printf "%s %.1f\n", $1, ($2 - a[$1]) / n}' \
		"$WORK/st0" "$WORK/st1")
}

fio_run() {
	local s=$1 f bs js v iops p50 p99 p999 ios mb conv=fsync pin
	if [[ $s == nbdfuse ]]; then f=${MNT[$s]}/disk conv=fsync,notrunc; else f=${MNT[$s]}/fio.dat; fi
	[[ $s == nbdfuse ]] || rm -f "$f"
	if ! timed dd if="$SRC" of="$f" bs=1M count="$FIO_MB" conv=$conv; then
		[[ $s == nbdfuse ]] || { fail "$s" fio_prepare "" "cannot write the fio file"; return; }
	fi
	for bs in $FIO_JOBS; do
		js=$WORK/fio.json
		pin=()
		if [[ $bs == *pin ]]; then # everything on CPU 0: no cross-CPU wake-ups
			pin=(--cpus_allowed=0)
			pin_daemons "$s" 0
		fi
		[[ $s == cmpfs-* ]] && fio_wire_start "$s"
		if timed fio --name=rr --filename="$f" --rw=randread --bs="${bs%pin}" \
			--ioengine=psync --numjobs=1 --size="${FIO_MB}M" --direct=1 \
			$FIO_LEN --invalidate=1 "${pin[@]}" \
			--output-format=json --output="$js" && v=$(fio_parse "$js"); then
			read -r iops p50 p99 p999 ios mb <<<"$v"
			record "$s" "rand${bs}_iops" "$iops" IOPS
			record "$s" "rand${bs}_p50" "$p50" us
			record "$s" "rand${bs}_p99" "$p99" us
			record "$s" "rand${bs}_p99.9" "$p999" us
			[[ $s == cmpfs-* && $bs == 512 ]] && ((ios > 0)) && fio_wire "$s" "$ios"
		else
			fail "$s" "rand${bs}_iops" IOPS "fio failed"
		fi
		[[ $bs == *pin ]] && pin_daemons "$s" "$ALLCPUS"
	done
	[[ $s == nbdfuse ]] || rm -f "$f"
}
