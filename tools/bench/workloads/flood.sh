# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154
# (the WL_ tables are declared in lib.sh and read by run.sh)
#
# Workload "flood": does a legitimate node keep its speed while its
# provider is flooded? 512 B O_DIRECT random reads (fio psync, one job,
# unpinned and pinned) of a file of cmpfs-remote's node A whose blocks
# live on node B, quiet and while 1,000 idle TCP connections from a third
# namespace (C, on its own veth to B) are held open to node B's peer port,
# each reopened when node B closes it (tests/cluster/flood.py, the fault
# test's flood). Both set-ups run in every round, interleaved.

FLOOD_MB=$(sized 8 256)      # the file (smoke: still twice node A's pool)
FLOOD_IOS=$(sized 100 4000)  # 512 B reads per latency run
FLOOD_N=$(sized 50 1000)     # idle connections
FLOOD_LAT=$(sized "rr512" "rr512 rr512pin") # latency runs (smoke: unpinned)
peer_room "$FLOOD_MB"
WL_SIZES[flood]="flood file ${FLOOD_MB} MiB, ${FLOOD_IOS} reads of 512 B per latency run, ${FLOOD_N} idle connections"
WL_NEEDS[flood]="cmpfs-remote"
WL_ITEMS[flood]="quiet flood"
WL_TITLE[flood]="512 B reads of remote blocks while the provider is flooded with idle connections"

flood_prepare() { source_data; }

# flood_conns: the flood's connections established (seen from C).
flood_conns() { in_ns "$NSC" ss -Htn state established "( dport = :$FLOOD_PORT )" | wc -l; }

FLOOD_PORT=""
# flood_start: flood.py in C against node B's peer port, until
# $WORK/flood.stop. It opens at most 500 connections a second and node B
# closes those over its caps at once (they are reopened), so the flood is
# at full strength once it holds some and has had the time to open all
# FLOOD_N (waited for up to 15 s).
flood_start() {
	local i c t0
	netns_c_up || { echo "cannot create namespace C" >>"$LOG"; return 1; }
	FLOOD_PORT=$((CLUSTER_PORT[cmpfs-remote] + 1))
	rm -f "$WORK/flood.stop" "$WORK/flood.out"
	t0=$(now_ns)
	FLOOD_T0=$t0
	start_daemon "$WORK/flood.out" nsenter --net="/run/netns/$NSC" \
		python3 "$SRCROOT/tests/cluster/flood.py" --target "10.99.0.2:$FLOOD_PORT" \
		-n "$FLOOD_N" --until "$WORK/flood.stop" --linger 0
	FLOOD_PID=$DAEMON_PID
	for i in $(seq 150); do
		c=$(flood_conns)
		((c > 0 && $(now_ns) - t0 >= FLOOD_N * 2000000)) && break
		pid_alive "$FLOOD_PID" || return 1
		sleep 0.1
	done
	record flood conns_at_start "$c" count
	((c > 0))
}

# flood_stop: tell it to stop; it closes its connections at once (no
# linger: the next item may be the quiet one) and exits. Records how many
# connections it opened a second (node B closed as many).
flood_stop() {
	local i opened s
	touch "$WORK/flood.stop"
	s=$((($(now_ns) - FLOOD_T0) / 1000000))
	for i in $(seq 80); do
		pid_alive "$FLOOD_PID" || break
		sleep 0.1
	done
	cat "$WORK/flood.out" >>"$LOG"
	opened=$(sed -n 's/.*: opened \([0-9]*\),.*/\1/p' "$WORK/flood.out" | tail -1)
	[[ ! $opened =~ ^[0-9]+$ ]] || record flood conns_opened_per_s "$((opened * 1000 / (s + 1)))" 1/s
}

flood_run() { # quiet | flood
	local set=$1 s=cmpfs-remote m f pin
	if [[ ${AVAIL[$s]:-} != yes ]]; then
		record "$set" rr512_p50 "" us na
		return
	fi
	m=$(mark)
	f=${MNT[$s]}/flood.dat
	rm -f "$f"
	defer "rm -f $f"
	if ! timed dd if="$SRC" of="$f" bs=1M count="$FLOOD_MB" conv=fsync; then
		fail "$set" rr512_p50 us "cannot write the file"
		unwind "$m"
		return
	fi
	if [[ $set == flood ]] && ! flood_start; then
		fail flood rr512_p50 us "the flood did not start (see harness.log)"
		unwind "$m"
		return
	fi
	for pin in $FLOOD_LAT; do
		fio_randread "$set" "$s" "$f" "$FLOOD_MB" 512 "$FLOOD_IOS" "$pin" ${pin#rr512}
	done
	if [[ $set == flood ]]; then
		record flood conns_at_end "$(flood_conns)" count
		flood_stop
	fi
	unwind "$m"
}
