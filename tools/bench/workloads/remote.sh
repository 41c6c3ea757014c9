# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154
# (the WL_ tables are declared in lib.sh and read by run.sh)
#
# Workload "remote": remote memory against the wire it crosses. For
# cmpfs-remote (sealed frames) and cmpfs-remote-insecure (plain frames):
# dd bs=1M write (conv=fsync) and read (iflag=direct) of a file whose
# blocks live on node B (node A's own pool is 4 MiB), and 512 B O_DIRECT
# random reads of it (fio psync, one job, unpinned and pinned to CPU 0
# with the system's daemons): p50, p99, IOPS; and 4 KiB reads with one
# job and with four (unpinned). Beside them, in the same
# round, between the same two namespaces over the same veth ("tcp"): one
# TCP stream each way (iperf3: A to B, the direction of a write; B to A,
# of a read) and a 512 B TCP ping-pong (tcp-rr.c), unpinned and pinned;
# and "nbdfuse" (nbdkit memory over TCP loopback): the same dd write and
# read and 4 KiB reads with one job, issue 12's peer. The readers sweep:
# the file read sequentially by 1, 2, 4 and 8 readers at once (fio, bs
# 1M, O_DIRECT, each reader its own slice), their total MB/s.

REMOTE_MB=$(sized 8 1024)       # the file (smoke: still twice node A's pool)
REMOTE_IOS=$(sized 100 4000)    # 512 B reads per latency run
REMOTE_RR=$(sized 100 4000)     # TCP round trips per ping-pong run
REMOTE_IPERF=$(sized "-n 8M" "-t 5") # iperf3's length, each way
REMOTE_STREAM_S=$(sized 0.2 5)       # tcp-rr's (without iperf3), each way
REMOTE_LAT=$(sized "rr512" "rr512 rr512pin") # latency runs (smoke: unpinned)
REMOTE_READERS=$(sized "2" "1 2 4 8")           # the readers sweep
REMOTE_READERS_ON=$(sized "cmpfs-remote" "cmpfs-remote cmpfs-remote-insecure")
peer_room "$REMOTE_MB"
WL_SIZES[remote]="remote file ${REMOTE_MB} MiB, ${REMOTE_IOS} reads of 512 B per latency run, one TCP stream each way (iperf3 ${REMOTE_IPERF}, without iperf3 tcp-rr for ${REMOTE_STREAM_S} s), ${REMOTE_RR} TCP round trips, $(echo $REMOTE_READERS | tr ' ' ,) sequential readers"
WL_NEEDS[remote]="cmpfs-remote cmpfs-remote-insecure nbdfuse"
WL_ITEMS[remote]="cmpfs-remote cmpfs-remote-insecure nbdfuse tcp"
WL_TITLE[remote]="Remote memory against the wire (sealed and insecure frames, one TCP stream, nbdfuse)"
WL_PROFILE[remote]="dd_write:cmpfs-remote dd_read:cmpfs-remote rr4k:cmpfs-remote"

# The stream tool: iperf3 if installed (by now), else tcp-rr's stream
# (CMPBENCH_STREAM=tcp-rr chooses it even so).
REMOTE_STREAM_TOOL=""
remote_prepare() {
	source_data
	if [[ ${CMPBENCH_STREAM:-} != tcp-rr ]] && command -v iperf3 >/dev/null; then
		REMOTE_STREAM_TOOL=iperf3
		meta tcp_stream "iperf3 $(iperf3 --version 2>/dev/null | awk 'NR == 1 {print $2}')"
	else
		REMOTE_STREAM_TOOL=tcp-rr
		meta tcp_stream "tcp-rr (tools/bench/tcp-rr.c; $(command -v iperf3 >/dev/null &&
			echo CMPBENCH_STREAM=tcp-rr || echo iperf3 is not installed))"
	fi
}

remote_run() { # cmpfs-remote | cmpfs-remote-insecure | nbdfuse | tcp
	if [[ $1 == tcp ]]; then
		remote_tcp
	elif [[ $1 == nbdfuse && ${AVAIL[$1]:-} == yes ]]; then
		remote_nbd
	elif [[ ${AVAIL[$1]:-} == yes ]]; then
		remote_fs "$1"
	else
		record "$1" dd_write "" MB/s na
	fi
}

# stat_of FILE NAME: a counter from a saved cmp_stats output.
stat_of() { awk -v k="$2" '$1 == k {print $2}' "$1"; }

remote_fs() {
	local s=$1 f=${MNT[$1]}/remote.dat bytes=$((REMOTE_MB << 20)) pin
	rm -f "$f"
	prof_begin dd_write "$s" dd
	if ! timed dd if="$SRC" of="$f" bs=1M count="$REMOTE_MB" conv=fsync; then
		prof_end
		fail "$s" dd_write MB/s "dd write failed"
		rm -f "$f"
		return
	fi
	prof_end
	record "$s" dd_write "$(mbps $bytes $ELAPSED_NS)" MB/s
	# how much of the file is on node B: node A's blocks there (LRL)
	cmp_stats "${MNT[$s]}" >"$WORK/st0"
	record "$s" file_on_nodeB "$(awk -v n="$bytes" -v l="$(stat_of "$WORK/st0" blocks_LRL)" \
		-v b="$(stat_of "$WORK/st0" block_size)" 'BEGIN {printf "%.1f", 100 * l * b / n}')" %
	drop_file_cache "$f"
	prof_begin dd_read "$s" dd
	if timed dd if="$f" of=/dev/null bs=1M count="$REMOTE_MB" iflag=direct; then
		prof_end
		record "$s" dd_read "$(mbps $bytes $ELAPSED_NS)" MB/s
		cmp_stats "${MNT[$s]}" >"$WORK/st1"
		# read over the network, by the reads or ahead of them
		# (prefetched blocks; none in builds without prefetch)
		record "$s" read_from_nodeB "$(awk -v n="$bytes" \
			-v a="$(stat_of "$WORK/st0" read_remote_bytes)" \
			-v b="$(stat_of "$WORK/st1" read_remote_bytes)" \
			-v p="$(stat_of "$WORK/st0" prefetched)" \
			-v q="$(stat_of "$WORK/st1" prefetched)" \
			-v bs="$(stat_of "$WORK/st0" block_size)" \
			'BEGIN {printf "%.1f", 100 * (b - a + (q - p) * bs) / n}')" %
	else
		prof_end
		fail "$s" dd_read MB/s "dd read failed"
	fi
	# 4 KiB reads, unpinned: one job (issue 12: >= 2x nbdfuse's IOPS, p50
	# <= 100 us), and four (>= 1.6x the IOPS of one)
	prof_begin rr4k "$s" fio
	fio_randread "$s" "$s" "$f" "$REMOTE_MB" 4k "$REMOTE_IOS" rr4k
	prof_end
	if ((!PROFILING)); then # (the profile pass takes the steps above only)
		fio_randread "$s" "$s" "$f" "$REMOTE_MB" 4k "$REMOTE_IOS" rr4kx4 "" 4
		for pin in $REMOTE_LAT; do
			fio_randread "$s" "$s" "$f" "$REMOTE_MB" 512 "$REMOTE_IOS" "$pin" ${pin#rr512}
		done
		[[ " $REMOTE_READERS_ON " != *" $s "* ]] || remote_readers "$s" "$f"
	fi
	rm -f "$f"
}

# remote_readers SYSTEM FILE: FILE read sequentially by N readers at once
# for each N of REMOTE_READERS (fio psync, bs 1M, O_DIRECT; reader i reads
# the i-th of N slices, so they read the whole file between them): their
# total MB/s, as readersN_MBps.
remote_readers() {
	local s=$1 f=$2 n js=$WORK/fio.json v iops p50 p99 p999 ios mbs
	for n in $REMOTE_READERS; do
		if timed fio --name=seq --filename="$f" --rw=read --bs=1M --ioengine=psync \
			--numjobs="$n" --group_reporting --size="$((REMOTE_MB / n))M" \
			--offset_increment="$((REMOTE_MB / n))M" --direct=1 --invalidate=1 \
			--output-format=json --output="$js" && v=$(fio_parse "$js"); then
			read -r iops p50 p99 p999 ios mbs <<<"$v"
			record "$s" "readers${n}_MBps" "$mbs" MB/s
		else
			fail "$s" "readers${n}_MBps" MB/s "fio failed"
		fi
	done
}

# remote_nbd: the same dd write and read and 4 KiB reads on nbdfuse's
# disk (one fixed-size file, written in place).
remote_nbd() {
	local s=nbdfuse f=${MNT[nbdfuse]}/disk bytes=$((REMOTE_MB << 20))
	if timed dd if="$SRC" of="$f" bs=1M count="$REMOTE_MB" conv=fsync,notrunc; then
		record "$s" dd_write "$(mbps $bytes $ELAPSED_NS)" MB/s
	else
		fail "$s" dd_write MB/s "dd write failed"
	fi
	drop_file_cache "$f"
	if timed dd if="$f" of=/dev/null bs=1M count="$REMOTE_MB" iflag=direct; then
		record "$s" dd_read "$(mbps $bytes $ELAPSED_NS)" MB/s
	else
		fail "$s" dd_read MB/s "dd read failed"
	fi
	fio_randread "$s" "$s" "$f" "$REMOTE_MB" 4k "$REMOTE_IOS" rr4k
}

# tcp_iperf3 PORT DIR (AtoB | BtoA): one stream by iperf3, node A the
# client (-R: the server, node B, sends); TCP_MBPS is its MB/s. Not in
# $(): timed's command must be stoppable by the TERM trap.
TCP_MBPS=""
tcp_iperf3() {
	local js=$WORK/iperf3.json rev=() v
	TCP_MBPS=""
	rm -f "$js"
	[[ $2 == AtoB ]] || rev=(-R)
	# shellcheck disable=SC2086
	if timed in_ns "$NSA" iperf3 -c 10.99.0.2 -p "$1" -P 1 $REMOTE_IPERF "${rev[@]}" \
		-J --logfile "$js" &&
		v=$(json_flat "$js" | awk -F '\t' '$1 == "end/sum_received/bits_per_second" {
			printf "%.1f", $2 / 8e6}') && [[ -n $v ]]; then
		TCP_MBPS=$v
	else
		cat "$js" >>"$LOG" 2>/dev/null
		return 1
	fi
}

# tcp_sock PORT DIR: the same with tcp-rr's stream (-w: A writes, -r: B).
tcp_sock() {
	local out=$WORK/tcp-rr.out
	TCP_MBPS=""
	set -- "$1" "$([[ $2 == AtoB ]] && echo -w || echo -r)"
	logc "tcp-rr -c 10.99.0.2 $1 $2 $REMOTE_STREAM_S"
	runbg in_ns "$NSA" "$BIN/tcp-rr" -c 10.99.0.2 "$1" "$2" "$REMOTE_STREAM_S" \
		>"$out" 2>>"$LOG" || return 1
	cat "$out" >>"$LOG"
	TCP_MBPS=$(sed -n 's/.*MBps=\([0-9.]*\).*/\1/p' "$out")
	[[ -n $TCP_MBPS ]]
}

# tcp_streams TOOL: one TCP stream each way, by iperf3 or tcp-rr (its
# server on port 17900 of node B), as tcp_AtoB and tcp_BtoA.
tcp_streams() {
	local tool=$1 port=17900 m dir
	m=$(mark)
	if [[ $tool == iperf3 ]]; then
		start_daemon "$LOG" nsenter --net="/run/netns/$NSB" iperf3 -s -B 10.99.0.2 -p "$port"
	else
		start_daemon "$LOG" nsenter --net="/run/netns/$NSB" "$BIN/tcp-rr" -s 10.99.0.2 "$port"
	fi
	if ! ns_listening "$NSB" "$port" "$DAEMON_PID"; then
		fail tcp tcp_AtoB MB/s "$tool server did not start"
		unwind "$m"
		return
	fi
	for dir in AtoB BtoA; do
		if "tcp_$([[ $tool == iperf3 ]] && echo iperf3 || echo sock)" "$port" "$dir"; then
			record tcp "tcp_$dir" "$TCP_MBPS" MB/s
		else
			fail tcp "tcp_$dir" MB/s "$tool failed (see harness.log)"
		fi
	done
	unwind "$m"
}

# tcp_pingpong: 512 B round trips (tcp-rr), unpinned and pinned to CPU 0.
tcp_pingpong() {
	local port=17901 m rr pin
	m=$(mark)
	start_daemon "$LOG" nsenter --net="/run/netns/$NSB" "$BIN/tcp-rr" -s 10.99.0.2 "$port"
	DPIDS[tcp]=$DAEMON_PID
	if ! ns_listening "$NSB" "$port" "$DAEMON_PID"; then
		fail tcp rr512_p50 us "tcp-rr server did not start"
		unwind "$m"
		return
	fi
	for pin in "" pin; do
		[[ -z $pin ]] || pin_daemons tcp 0
		logc "tcp-rr -c 10.99.0.2 $port -n $REMOTE_RR ${pin:+(pinned to CPU 0)}"
		if rr=$(in_ns "$NSA" taskset -c "$([[ -n $pin ]] && echo 0 || echo "$ALLCPUS")" \
			"$BIN/tcp-rr" -c 10.99.0.2 "$port" -b 512 -n "$REMOTE_RR" 2>>"$LOG"); then
			echo "$rr" >>"$LOG"
			record tcp "rr512${pin}_p50" "$(sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' <<<"$rr")" us
			record tcp "rr512${pin}_p99" "$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$rr")" us
		else
			fail tcp "rr512${pin}_p50" us "tcp-rr failed"
		fi
		[[ -z $pin ]] || pin_daemons tcp "$ALLCPUS"
	done
	unwind "$m"
}

# remote_tcp: the wire alone, between node A's and node B's namespaces.
remote_tcp() {
	if [[ -z $NSA ]]; then # no cluster system started: no namespaces
		record tcp tcp_AtoB "" MB/s na
		return
	fi
	tcp_streams "$REMOTE_STREAM_TOOL"
	tcp_pingpong
}
