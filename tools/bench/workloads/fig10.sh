# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154
# (the WL_ tables are declared in lib.sh and read by run.sh)
#
# Workload 3, CMP Figure 10, scaled: qsort-inplace.c (in-place quicksort)
# of random 64-bit integers in a cgroup v1 memory cgroup smaller than the
# array. Set-ups: baseline (no limit), mapper (the array is a MAP_SHARED
# mapping of a /cmp file), swapper (swap on a loop device over a /cmp
# file), diskswap (swap file on the local disk), zramswap (swap on a loop
# device over zram, lz4), nbdswap (swap on a loop device over the nbdfuse
# file); and mapper-remote and swapper-remote, the same on cmpfs-remote
# with node A's own pool grown to REMOTE_SHARE for the run (cmpctl resize,
# and back after), so that the sort's memory is node B's memory but for
# that share, as in the paper. Sort time, OOM kills (from
# memory.oom_control; a killed run has no time), timeouts. A round takes
# 20-40 minutes at full size, so it has its own number of rounds
# (--fig10-rounds, default min(rounds, 2)); --fig10-mb MB sorts MB MiB in
# a cgroup of half that with swap of twice that.

SORT_MB=${FIG10_MB:-$(sized 16 1024)} # the array (smoke: 8 in 4 MiB is OOM-killed)
CG_MB=$((SORT_MB / 2))                # the cgroup's limit
SWAP_MB=$((SORT_MB * 2))              # the swap devices
SORT_TIMEOUT=$(sized 60 420)          # a run stopped then is a timeout
peer_room "$SWAP_MB"
WL_SIZES[fig10]="sort ${SORT_MB} MiB in a ${CG_MB} MiB cgroup, swap ${SWAP_MB} MiB, remote set-ups with ${REMOTE_SHARE} of node A's own"
WL_NEEDS[fig10]="cmpfs nbdfuse cmpfs-remote"
# (smoke: mapper-remote takes no path that mapper and swapper-remote do not)
WL_ITEMS[fig10]=$(sized "baseline mapper swapper swapper-remote diskswap zramswap nbdswap" \
	"baseline mapper swapper mapper-remote swapper-remote diskswap zramswap nbdswap")
WL_ROUNDS[fig10]=$((ROUNDS < 2 ? ROUNDS : 2))
WL_LABEL[fig10]="Figure 10"
WL_PROFILE[fig10]="mapper:mapper swapper:swapper mapper-remote:mapper-remote swapper-remote:swapper-remote"
WL_PROFILE_HZ[fig10]=99 # a sort takes minutes

# fig10_sys SETUP: the cmpfs system a set-up runs on (none: not cmpfs).
fig10_sys() {
	case $1 in
	mapper | swapper) echo cmpfs ;;
	*-remote) echo cmpfs-remote ;;
	esac
}

# fig10_share SIZE: node A of cmpfs-remote to SIZE of its own memory.
fig10_share() {
	logc "cmpctl resize ${MNT[cmpfs-remote]} $1"
	"$CMPCTL" resize "${MNT[cmpfs-remote]}" "$1" >>"$LOG" 2>&1 && return 0
	say "  cmpctl resize ${MNT[cmpfs-remote]} $1 failed (see harness.log)"
	return 1
}

# fig10_unshare: node A back to its own REMOTE_TINY, for the other
# workloads (a node A that stays larger is a harness error).
fig10_unshare() {
	fig10_share "$REMOTE_TINY" && return 0
	ERRORS=$((ERRORS + 1))
	say "  ERROR: cmpfs-remote's node A did not shrink back to $REMOTE_TINY"
}

oom_kills() { awk '$1 == "oom_kill" {print $2}' "$1/memory.oom_control" 2>/dev/null || echo 0; }

fig10_setup() { # SETUP -> sets SORT_MAP; returns non-zero if unavailable
	local set=$1 f z sys
	SORT_MAP="" SWAP_DEV=""
	sys=$(fig10_sys "$set")
	if [[ -n $sys ]]; then
		[[ ${AVAIL[$sys]:-} == yes ]] || return 1
	fi
	if [[ $sys == cmpfs-remote ]]; then
		fig10_share "$REMOTE_SHARE" || return 1
		defer_here fig10_unshare
	fi
	case $set in
	baseline) return 0 ;;
	mapper | mapper-remote)
		SORT_MAP=${MNT[$sys]}/fig10-array
		defer "rm -f $SORT_MAP"
		;;
	swapper | swapper-remote)
		f=${MNT[$sys]}/fig10-swap
		truncate -s "${SWAP_MB}M" "$f" || return 1
		defer "rm -f $f"
		swap_on_loop "$f" --direct-io=on
		;;
	diskswap)
		f=$DISKDIR/$TAG-swapfile
		defer "rm -f $f"
		fallocate -l "${SWAP_MB}M" "$f" || dd if=/dev/zero of="$f" bs=1M count="$SWAP_MB" status=none || return 1
		chmod 600 "$f"
		swap_on "$f" && return 0
		say "  swapon on a file on $DISKDIR failed; using a loop device over it"
		swap_on_loop "$f" --direct-io=on
		;;
	zramswap)
		modprobe zram 2>/dev/null
		z=$(zramctl --find --size "${SWAP_MB}M" --algorithm lz4 2>>"$LOG") || return 1
		defer "zramctl --reset $z"
		swap_on_loop "$z"
		;;
	nbdswap)
		[[ ${AVAIL[nbdfuse]:-} == yes ]] || return 1
		swap_on_loop "${MNT[nbdfuse]}/disk" --direct-io=on --sizelimit "$((SWAP_MB << 20))"
		;;
	esac
}

# fig10_unavailable SETUP: its system is not there (not a harness error).
fig10_unavailable() {
	case $1 in
	mapper | swapper) [[ ${AVAIL[cmpfs]:-} != yes ]] ;;
	*-remote) [[ ${AVAIL[cmpfs-remote]:-} != yes ]] ;;
	nbdswap) [[ ${AVAIL[nbdfuse]:-} != yes ]] ;;
	*) false ;;
	esac
}

fig10_run() { # SETUP
	local set=$1 m cg k0 k1 rc line sort_s total_s
	m=$(mark)
	if ! fig10_setup "$set"; then
		unwind "$m"
		if fig10_unavailable "$set"; then
			record "$set" sort_s "" s na
		else
			fail "$set" sort_s s "set-up failed"
		fi
		return
	fi
	cg=$CGROOT/$TAG-$set-r$ROUND
	mkdir "$cg" || { unwind "$m"; fail "$set" sort_s s "cannot create cgroup"; return; }
	defer "rmdir $cg"
	[[ $set == baseline ]] || echo $((CG_MB << 20)) >"$cg/memory.limit_in_bytes"
	k0=$(oom_kills "$cg")
	logc "qsort-inplace ${SORT_MB}M $SORT_MAP in $cg"
	[[ $set != *-remote ]] || cmp_stats "${MNT[cmpfs-remote]}" >"$WORK/st0"
	[[ -z $SWAP_DEV ]] || foreign_swaps >"$WORK/foreign"
	[[ -z $(fig10_sys "$set") ]] || prof_begin "$set" "$(fig10_sys "$set")" qsort-inplace
	runbg timeout -k 10 "$SORT_TIMEOUT" bash -c 'echo $$ >"$1/tasks" && shift && exec "$@"' _ \
		"$cg" "$BIN/qsort-inplace" "${SORT_MB}M" ${SORT_MAP:+"$SORT_MAP"} >"$WORK/sort.out" 2>>"$LOG"
	rc=$?
	prof_end
	line=$(cat "$WORK/sort.out")
	[[ $set != *-remote ]] || fig10_remote_share "$set"
	if [[ -n $SWAP_DEV ]]; then # another run's swap may have taken our pages
		foreign_swaps >>"$WORK/foreign"
		record "$set" foreign_swap "$(sort -u "$WORK/foreign" | grep -c .)" count
		[[ ! -s $WORK/foreign ]] ||
			say "  another test run's swap was active beside ours: $(sort -u "$WORK/foreign" | xargs)"
	fi
	k1=$(oom_kills "$cg")
	echo "rc=$rc $line oom_kill=$((k1 - k0))" >>"$LOG"
	record "$set" oom_kills "$((k1 - k0))" count
	if ((rc == 0)); then
		sort_s=$(sed -n 's/.*sort_s=\([0-9.]*\).*/\1/p' <<<"$line")
		total_s=$(sed -n 's/.*total_s=\([0-9.]*\).*/\1/p' <<<"$line")
		record "$set" sort_s "$sort_s" s
		record "$set" total_s "$total_s" s
	elif ((k1 > k0)); then
		record "$set" sort_s "" s oom
	elif ((rc == 124 || rc == 137)); then
		record "$set" sort_s "" s timeout
	else
		fail "$set" sort_s s "sort exited $rc"
	fi
	unwind "$m"
}

# fig10_remote_share SETUP: how much of what the sort read through node A
# came from node B, and what crossed the wire either way (node A's
# counters, before and after).
fig10_remote_share() {
	cmp_stats "${MNT[cmpfs-remote]}" >"$WORK/st1"
	record "$1" read_from_nodeB "$(awk 'NR == FNR {a[$1] = $2; next} {b[$1] = $2}
		END {r = b["read_bytes"] - a["read_bytes"]
		printf "%.1f", (r > 0 ? 100 * (b["read_remote_bytes"] - a["read_remote_bytes"]) / r : 0)}' \
		"$WORK/st0" "$WORK/st1")" %
	record "$1" nodeB_MB "$(awk 'NR == FNR {a[$1] = $2; next} {b[$1] = $2}
		END {r = b["read_remote_bytes"] - a["read_remote_bytes"]
		w = b["write_remote_bytes"] - a["write_remote_bytes"]
		printf "%.0f", (r + w) / 1048576}' "$WORK/st0" "$WORK/st1")" MiB
}

fig10_prepare() { meta remote_share "$REMOTE_SHARE"; }
