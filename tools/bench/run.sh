#!/bin/bash
# SPDX-License-Identifier: MIT
#
# cmpfs benchmark harness: cmpfs side by side with what users would
# otherwise use, in one run, as values and ratios (min/median/max over
# rounds, systems interleaved within each round).
#
#   sudo tools/bench/run.sh [--smoke] [--rounds N] [--fig10-rounds N]
#                           [--out DIR]
#                           [--only bulk,fio,remote,flood,hot,collab,fig10,ext4,mmap]
#                           [--build DIR] [--budget MINUTES] [--no-install]
#                           [--skip SYSTEM,SETUP,...] [--fig10-mb MB] [--pool SIZE]
#                           [--profile | --profile=STEP,...]
#
# Writes DIR/report.md, DIR/results.csv, DIR/*.png, DIR/harness.log
# (and with --profile DIR/profiles/: perf profiles of chosen steps, taken
# in a pass after the rounds).
# Installs its peers with apt-get, starts them itself and tears everything
# down again (mounts, loop devices, swap, zram, cgroups, namespaces,
# daemons), also on failure and on ctrl-C. See tools/bench/README.md.
#
# Exit status: 0 when every measurement that could be attempted ran (slow
# numbers, OOM kills and timeouts are results, not failures); 1 when a
# measurement of an available system failed, something was left behind
# or the report could not be written (the harness is broken); 2 on bad
# usage; 77 when not root.

set -u -o pipefail
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCROOT=$(cd "$HERE/../.." && pwd)

# The run goes in a session of its own, with this shell only passing
# signals on and waiting for it: meson's timeout sends SIGTERM and, 0.5 s
# later, SIGKILL to the test's whole process group, which leaves no time
# for a teardown (swapoff, umount, losetup -d, daemons). The run gets the
# SIGTERM from here and tears down in its own time; what a SIGKILL of the
# run itself leaves behind, the next run sweeps (lib.sh, sweep_stale).
if [[ ${CMPBENCH_SUPERVISOR:-} != "$PPID" ]]; then
	export CMPBENCH_SUPERVISOR=$$
	run="" sig=""
	pass_on() { sig=$1; [[ -z $run ]] || kill "-$sig" "$run" 2>/dev/null; }
	trap 'pass_on TERM' TERM
	trap 'pass_on INT' INT
	setsid bash "$HERE/run.sh" "$@" &
	run=$!
	[[ -z $sig ]] || pass_on "$sig"
	while :; do
		wait "$run"
		rc=$?
		kill -0 "$run" 2>/dev/null || exit "$rc"
	done
fi
# The workloads, in the order they run in a round (workloads/NAME.sh).
WORKLOADS=(bulk fio remote flood hot collab fig10 ext4 mmap)

. "$HERE/lib.sh"
. "$HERE/profile.sh"
parse_args "$@"
RUN_ARGS="$*"
. "$HERE/systems.sh"
for w in "${WORKLOADS[@]}"; do
	SOURCING=$w
	. "$HERE/workloads/$w.sh"
done
check_workloads
# A workload with its own number of rounds: --NAME-rounds, at most ROUNDS.
for w in "${!WL_ROUNDS[@]}"; do
	WL_ROUNDS[$w]=${ROUNDS_OF[$w]:-${WL_ROUNDS[$w]}}
	((SMOKE)) && WL_ROUNDS[$w]=1
done

if ((EUID != 0)); then
	echo "run.sh: needs root (mounts, loop devices, swap, cgroups, netns); skipping" >&2
	exit 77
fi
output_init
sweep_stale
journal_start

# rounds_note ARRAY: " (Figure 10: N)", N from ARRAY, for the workloads
# with their own number of rounds.
rounds_note() {
	local -n n=$1
	local w s=""
	for w in "${WORKLOADS[@]}"; do
		[[ -n ${WL_ROUNDS[$w]:-} ]] && wants "$w" && s+="${s:+, }${WL_LABEL[$w]:-$w}: ${n[$w]:-0}"
	done
	[[ -z $s ]] || echo " ($s)"
}

# Systems needed by the selected workloads, in order of first use.
needed_systems() {
	local w
	for w in "${WORKLOADS[@]}"; do
		wants "$w" && printf '%s\n' ${WL_NEEDS[$w]}
	done | awk -v skip=",$SKIP," '!s[$0]++ && index(skip, "," $0 ",") == 0'
}

# smoke_covers SYSTEM...: a smoke run of every workload starts every
# system (the workloads' smoke lists together name each), so that no
# set-up rots unseen; one left out is a harness error.
smoke_covers() {
	local s
	((SMOKE)) && [[ $ONLY == "$(IFS=,; echo "${WORKLOADS[*]}")" ]] || return 0
	for s in "${!UP[@]}"; do
		[[ " $* " == *" $s "* ]] && continue
		say "the smoke runs no workload on $s: add it to a workload's smoke list"
		ERRORS=$((ERRORS + 1))
	done
}

write_meta() {
	local sizes="" w
	for w in "${WORKLOADS[@]}"; do
		wants "$w" && sizes+="${sizes:+; }${WL_SIZES[$w]}"
	done
	meta started "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	meta host "$(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	meta cmpfs "$(git -C "$SRCROOT" describe --always --dirty 2>/dev/null) ($CMPFS)"
	meta rounds "$ROUNDS$(rounds_note WL_ROUNDS)"
	meta mode "$([[ $SMOKE == 1 ]] && echo smoke || echo full)"
	meta sizes "$sizes"
	meta pool "$CMP_LOCAL"
	meta command "tools/bench/run.sh $RUN_ARGS"
	[[ -z $SKIP ]] || meta skip "$SKIP"
	meta versions "fio $(fio --version 2>/dev/null); nbdkit $(nbdkit --version 2>/dev/null | awk '{print $2}'); sshfs $(sshfs --version 2>&1 | awk '/SSHFS version/ {print $3}'); $(/usr/sbin/sshd -V 2>&1 | head -1 | cut -d, -f1)"
	for w in "${WORKLOADS[@]}"; do
		[[ -n ${WL_TITLE[$w]:-} ]] && meta "title:$w" "${WL_TITLE[$w]}"
	done
	if [[ -n $(tail -n +2 /proc/swaps) ]]; then
		meta warning "swap was already active before the run (not ours): $(tail -n +2 /proc/swaps | awk '{print $1}' | xargs)"
	fi
}

# --- rounds -----------------------------------------------------------------------
declare -A DUR  # seconds each workload took in the last round it ran
declare -A WL_DONE # rounds done of each workload with its own number of rounds
RUNS_DONE=0
fits() { # SECONDS: would that much more work end inside the budget?
	((BUDGET_MIN == 0)) && return 0
	(($(date +%s) - T_START + $1 + 60 <= BUDGET_MIN * 60))
}

# plan_round: THIS_ROUND, the workloads of round ROUND that fit the time
# budget, judged by the last round; false when the run must stop here.
plan_round() {
	local w rest=0 all=() note
	for w in "${WORKLOADS[@]}"; do
		wants "$w" || continue
		[[ -n ${WL_ROUNDS[$w]:-} ]] && ((ROUND > WL_ROUNDS[$w])) && continue
		all+=("$w")
		[[ -n ${WL_ROUNDS[$w]:-} ]] || rest=$((rest + ${DUR[$w]:-0}))
	done
	THIS_ROUND=("${all[@]}")
	((ROUND > 1)) || return 0
	THIS_ROUND=()
	for w in "${all[@]}"; do
		if [[ -z ${WL_ROUNDS[$w]:-} ]] || fits $((rest + ${DUR[$w]:-0})); then
			[[ -z ${WL_ROUNDS[$w]:-} ]] || rest=$((rest + ${DUR[$w]:-0}))
			THIS_ROUND+=("$w")
			continue
		fi
		say "time budget (${BUDGET_MIN} min): no ${WL_LABEL[$w]:-$w} in round $ROUND"
		meta budget "${WL_LABEL[$w]:-$w} stopped after ${WL_DONE[$w]:-0} rounds (time budget ${BUDGET_MIN} min)"
	done
	fits "$rest" && return 0
	say "time budget (${BUDGET_MIN} min): stopping after $RUNS_DONE rounds"
	note=$(rounds_note WL_DONE)
	note=${note# (}
	meta budget "stopped after $RUNS_DONE of $ROUNDS rounds (time budget ${BUDGET_MIN} min${note:+; ${note%)} rounds})"
	return 1
}

# run_workload NAME: one round of it, its items rotated by the round.
run_workload() {
	local w=$1 t0 s items
	WL=$w
	t0=$(date +%s)
	if [[ -n ${WL_ITEMS[$w]:-} ]]; then
		read -ra items <<<"${WL_ITEMS[$w]}"
	else
		mapfile -t items < <(up ${WL_NEEDS[$w]})
	fi
	mapfile -t items < <(for s in "${items[@]}"; do skipped "$s" || echo "$s"; done)
	for s in $(rotate "$ROUND" "${items[@]}"); do
		say "$w: $s"
		"${w}_run" "$s"
	done
	DUR[$w]=$(($(date +%s) - t0))
	WL_DONE[$w]=$ROUND
}

# --- main -------------------------------------------------------------------------
say "cmpfs benchmark harness: out=$OUT rounds=$ROUNDS$(rounds_note WL_ROUNDS) only=$ONLY smoke=$SMOKE"
install_packages
build_helpers
command -v python3 >/dev/null || { say "python3 missing: cannot write the report"; exit 1; }
write_meta

mkdir -p "$WORK/mnt"
for w in "${WORKLOADS[@]}"; do
	wants "$w" && declare -F "${w}_prepare" >/dev/null && "${w}_prepare"
done
mapfile -t need < <(needed_systems)
smoke_covers "${need[@]}"
start_systems "${need[@]}"

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	plan_round || break
	say "=== round $ROUND of $ROUNDS"
	for w in "${THIS_ROUND[@]}"; do
		run_workload "$w"
	done
	RUNS_DONE=$ROUND
done
meta rounds_done "$RUNS_DONE$(rounds_note WL_DONE)"
profile_pass

save_stats
meta finished "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta duration_s "$(($(date +%s) - T_START))"
meta harness_errors "$ERRORS"

say "tearing down"
unwind 0
check_leaks
say "writing the report"
if ! python3 "$HERE/report.py" "$OUT" >>"$LOG" 2>&1; then
	say "report.py failed (see harness.log)"
	exit 1
fi
say "report: $OUT/report.md ($(ls "$OUT"/*.png 2>/dev/null | wc -l) plots); $ERRORS harness errors; $(($(date +%s) - T_START)) s"
((ERRORS == 0)) || exit 1
exit 0
