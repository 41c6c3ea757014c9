# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154
# (the WL_ tables are declared in lib.sh and read by run.sh)
#
# Workload "hot": a hot set of blocks that live on another node, read
# again and again, with the exchange (CMP's figure 8) on and off. Node A
# of cmpfs-remote (4 MiB of its own) writes a file of HOT_MB, so that its
# first blocks go to node B; then 4 KiB O_DIRECT random reads (fio psync,
# one job) of its first HOT_SET_MB, half of node A's memory. With the
# exchange on, those blocks come home after about 128 reads each (the
# policy's threshold, pool/exchange.h) and the rest are read at home; off,
# every read crosses the wire. The exchange is switched per item on node
# A's mount (user.cmpfs.exchange). Records IOPS, p50, p99, the share of
# the bytes read that came from node B, and the exchanges made.

HOT_MB=$(sized 8 64)	      # the file (twice and 16 times node A's pool)
HOT_SET_MB=2		      # the hot set: half of node A's 4 MiB
HOT_IOS=$(sized 1000 20000)   # 4 KiB reads of the hot set
peer_room "$HOT_MB"
WL_SIZES[hot]="file ${HOT_MB} MiB on node A (4 MiB of its own), ${HOT_IOS} reads of 4 KiB over its first ${HOT_SET_MB} MiB"
WL_NEEDS[hot]="cmpfs-remote"
WL_ITEMS[hot]="on off"
WL_TITLE[hot]="A hot set of blocks on another node, exchange on and off"

hot_prepare() { source_data; }

# hot_fio SET FILE: HOT_IOS 4 KiB reads over the first HOT_SET_MB of FILE,
# again and again (io_size: fio reads a region once unless told to wrap).
hot_fio() {
	local set=$1 f=$2 js=$WORK/fio.json v iops p50 p99 p999 n mbs
	if timed fio --name=rr --filename="$f" --rw=randread --bs=4k \
		--ioengine=psync --numjobs=1 --size="${HOT_SET_MB}M" \
		--io_size="$((HOT_IOS * 4))k" --direct=1 --invalidate=1 \
		--output-format=json --output="$js" && v=$(fio_parse "$js"); then
		read -r iops p50 p99 p999 n mbs <<<"$v"
		record "$set" rr4k_p50 "$p50" us
		record "$set" rr4k_p99 "$p99" us
		record "$set" rr4k_iops "$iops" IOPS
	else
		fail "$set" rr4k_p50 us "fio failed"
	fi
}

# stat_val STATS NAME: one counter of a cmp_stats text.
stat_val() { awk -v n="$2" '$1 == n {print $2}' <<<"$1"; }

hot_run() { # on | off
	local set=$1 s=cmpfs-remote m f st0 st1 rd rr
	if [[ ${AVAIL[$s]:-} != yes ]]; then
		record "$set" rr4k_p50 "" us na
		return
	fi
	m=$(mark)
	f=${MNT[$s]}/hot.dat
	rm -f "$f"
	defer "rm -f $f"
	if ! setfattr -n user.cmpfs.exchange -v "$set" "${MNT[$s]}" 2>>"$LOG"; then
		fail "$set" rr4k_p50 us "cannot switch the exchange $set"
		unwind "$m"
		return
	fi
	defer "setfattr -n user.cmpfs.exchange -v on ${MNT[$s]} 2>/dev/null; true"
	if ! timed dd if="$SRC" of="$f" bs=1M count="$HOT_MB" conv=fsync; then
		fail "$set" rr4k_p50 us "cannot write the file"
		unwind "$m"
		return
	fi
	st0=$(cmp_stats "${MNT[$s]}")
	hot_fio "$set" "$f"
	st1=$(cmp_stats "${MNT[$s]}")
	rd=$(($(stat_val "$st1" read_bytes) - $(stat_val "$st0" read_bytes)))
	rr=$(($(stat_val "$st1" read_remote_bytes) - $(stat_val "$st0" read_remote_bytes)))
	record "$set" remote_share "$(awk -v a="$rr" -v b="$rd" 'BEGIN {printf "%.3f", b ? a / b : 0}')" ratio
	record "$set" exchanges "$(($(stat_val "$st1" exchanges) - $(stat_val "$st0" exchanges)))" count
	unwind "$m"
}
