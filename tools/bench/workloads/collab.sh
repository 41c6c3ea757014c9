# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154
# (the WL_ tables are declared in lib.sh and read by run.sh)
#
# Workload "collab": CMP's collaborative scenario, three nodes whose
# demand shifts over time. In phase k node k is busy, a working set of
# twice its memory written and read back twice (workset.c, checking every
# word), while the other two are light (a quarter of their memory each),
# all three at once; phases 1, 2, 3 one after the other. Set-ups:
#   cmpfs  the three nodes of cmpfs-trio (TRIO_LOCAL MiB each), each
#          working set a file on the node's own mount: the busy node
#          borrows the idle nodes' memory;
#   swap   each node keeping only its own memory: the same three demands
#          as anonymous memory of three processes, each in a memory cgroup
#          of TRIO_LOCAL MiB, over swap on the local disk (--diskdir,
#          twice a node's memory).
# Records each phase's time and the total (all three phases done), the
# writes refused for lack of space (cmpfs: ENOSPC) and the OOM kills
# (swap), and the working sets that did not read back.

COLLAB_L=$TRIO_LOCAL
COLLAB_BUSY=$((COLLAB_L * 2))
COLLAB_IDLE=$((COLLAB_L / 4))
COLLAB_TIMEOUT=$(sized 120 600) # a phase stopped then is a timeout
WL_SIZES[collab]="three nodes of ${COLLAB_L} MiB; in each phase one needs ${COLLAB_BUSY} MiB, the others ${COLLAB_IDLE} MiB each; written, then read twice"
WL_NEEDS[collab]="cmpfs-trio"
WL_ITEMS[collab]="cmpfs swap"
WL_TITLE[collab]="Collaborative scenario: three nodes whose demand shifts (CMP)"

# collab_phase SET BUSY: the three demands at once; sets PHASE_NS and
# adds to ENOSPC_N, OOM_N, BAD_N, TIMEOUT_N.
collab_phase() {
	local set=$1 busy=$2 i mb cg t0 pids=() rc out
	t0=$(now_ns)
	for i in 1 2 3; do
		((i == busy)) && mb=$COLLAB_BUSY || mb=$COLLAB_IDLE
		out=$WORK/collab-$i.out
		if [[ $set == cmpfs ]]; then
			timeout -k 10 "$COLLAB_TIMEOUT" "$BIN/workset" "$mb" \
				"${TRIO_MNT[$i]}/collab.dat" --passes 2 >"$out" 2>>"$LOG" &
		else
			cg=$CGROOT/$TAG-collab-n$i
			timeout -k 10 "$COLLAB_TIMEOUT" bash -c 'echo $$ >"$1/tasks" && shift && exec "$@"' _ \
				"$cg" "$BIN/workset" "$mb" --passes 2 >"$out" 2>>"$LOG" &
		fi
		pids+=($!)
	done
	for i in 1 2 3; do
		rc=0
		wait "${pids[$((i - 1))]}" || rc=$?
		out=$(cat "$WORK/collab-$i.out")
		echo "collab $set phase $busy node $i: rc=$rc $out" >>"$LOG"
		ENOSPC_N=$((ENOSPC_N + $(sed -n 's/.*enospc=\([0-9]*\).*/\1/p' <<<"$out" | grep . || echo 0)))
		[[ $out == *" bad=0"* ]] || [[ -z $out ]] || BAD_N=$((BAD_N + 1))
		((rc == 124)) && TIMEOUT_N=$((TIMEOUT_N + 1))
		[[ $set == cmpfs ]] && rm -f "${TRIO_MNT[$i]}/collab.dat"
	done
	PHASE_NS=$(($(now_ns) - t0))
}

# collab_swap_setup: the disk swap and the three cgroups (undone by unwind).
collab_swap_setup() {
	local f=$DISKDIR/$TAG-collab-swap i cg
	defer "rm -f $f"
	fallocate -l "$((COLLAB_BUSY))M" "$f" ||
		dd if=/dev/zero of="$f" bs=1M count="$COLLAB_BUSY" status=none || return 1
	chmod 600 "$f"
	swap_on "$f" || swap_on_loop "$f" --direct-io=on || return 1
	for i in 1 2 3; do
		cg=$CGROOT/$TAG-collab-n$i
		mkdir "$cg" || return 1
		defer "rmdir $cg"
		echo $((COLLAB_L << 20)) >"$cg/memory.limit_in_bytes" || return 1
	done
}

oom_total() {
	local i n=0
	for i in 1 2 3; do
		n=$((n + $(awk '$1 == "oom_kill" {print $2}' "$CGROOT/$TAG-collab-n$i/memory.oom_control" 2>/dev/null || echo 0)))
	done
	echo "$n"
}

collab_run() { # cmpfs | swap
	local set=$1 m k busy total=0 oom0=0
	if [[ $set == cmpfs && ${AVAIL[cmpfs-trio]:-} != yes ]]; then
		record "$set" total_s "" s na
		return
	fi
	m=$(mark)
	if [[ $set == swap ]] && ! collab_swap_setup; then
		unwind "$m"
		fail "$set" total_s s "set-up failed (swap on $DISKDIR, cgroups)"
		return
	fi
	[[ $set == swap ]] && oom0=$(oom_total)
	ENOSPC_N=0 OOM_N=0 BAD_N=0 TIMEOUT_N=0
	for busy in 1 2 3; do
		collab_phase "$set" "$busy"
		record "$set" "phase${busy}_s" "$(awk -v n="$PHASE_NS" 'BEGIN {printf "%.2f", n / 1e9}')" s
		total=$((total + PHASE_NS))
	done
	[[ $set == swap ]] && OOM_N=$(($(oom_total) - oom0))
	record "$set" enospc "$ENOSPC_N" count
	record "$set" oom_kills "$OOM_N" count
	record "$set" unverified "$BAD_N" count
	if ((OOM_N > 0)); then
		record "$set" total_s "" s oom
	elif ((TIMEOUT_N > 0)); then
		record "$set" total_s "" s timeout
	else
		record "$set" total_s "$(awk -v n="$total" 'BEGIN {printf "%.2f", n / 1e9}')" s
	fi
	unwind "$m"
}
