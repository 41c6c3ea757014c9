# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Profiles (--profile, --profile=STEP,...): after the measured rounds, a
# profile pass runs once more the items that hold the chosen steps, with
# `perf record -a -g` around each step, so that the rounds' figures carry
# no profiling cost (the pass's own figures go to profile.csv, not to
# results.csv). Per step, in profiles/:
#   STEP.txt   perf report --stdio: where the CPUs went (by command,
#              idle is "swapper"), the cmpfs daemons' top symbols (self
#              time, no children), DSOs and threads, the workload
#              process's top symbols, every CPU's top symbols;
#   STEP.meta  what report.py links and summarises: the step's time, how
#              busy the machine's CPUs were, each daemon's CPU time;
#   STEP.data  the perf.data, for `perf report -i STEP.data` (call graphs
#              are frame-pointer ones: good in the kernel, short in a
#              release build of cmpfs, which omits frame pointers).
#
# A workload offers steps in WL_PROFILE[NAME]="STEP:ITEM ...": the step
# NAME-STEP is taken while ITEM runs, whose code wraps it in
# `prof_begin STEP SYSTEM [COMM]` ... `prof_end` (both do nothing outside
# the pass or for a step not chosen). SYSTEM's daemons (DPIDS) are the
# daemons of the profile, COMM the workload process's command name.
# WL_PROFILE_HZ[NAME]: perf's sampling rate for its steps (default 499 Hz;
# a long step wants fewer).

declare -A WL_PROFILE WL_PROFILE_HZ
PROFILING=0
PROF_PID="" PROF_STEP="" PROF_SYS="" PROF_COMM="" PROF_CTL="" PROF_ACK=""
PROF_T0=0 PROF_CPU0="" PROF_DT0=""

# prof_all: every step of the selected workloads, as WL-STEP.
prof_all() {
	local w e
	for w in "${WORKLOADS[@]}"; do
		wants "$w" || continue
		for e in ${WL_PROFILE[$w]:-}; do echo "$w-${e%%:*}"; done
	done
}

# prof_check: the steps --profile names exist (after the workload files).
prof_check() {
	local s all
	[[ -n $PROFILE && $PROFILE != all ]] || return 0
	all=" $(prof_all | xargs) "
	for s in ${PROFILE//,/ }; do
		[[ $all == *" $s "* ]] || bad_usage "--profile: unknown step '$s' (steps:$all)"
	done
}

prof_wanted() { [[ $PROFILE == all || ,$PROFILE, == *,$1,* ]]; }

# prof_items WL: the items of WL whose runs hold its chosen steps.
prof_items() {
	local e
	for e in ${WL_PROFILE[$1]:-}; do
		prof_wanted "$1-${e%%:*}" && ! skipped "${e#*:}" && echo "${e#*:}"
	done | awk '!s[$0]++'
}

# prof_usable: perf is there and may record (sets PROF_WHY if not).
PROF_WHY=""
prof_usable() {
	command -v perf >/dev/null || { PROF_WHY="perf is not installed (linux-perf)"; return 1; }
	perf record -q -o "$WORK/perf.test" -- true >>"$LOG" 2>&1 ||
		{ PROF_WHY="perf record fails here (see harness.log)"; return 1; }
	rm -f "$WORK/perf.test"
}

# nap SECONDS: sleep without a fork (a read that times out on a FIFO
# that nobody writes).
NAP_FD=""
nap() {
	if [[ -z $NAP_FD ]]; then
		{ [[ -p $WORK/nap ]] || mkfifo "$WORK/nap"; } && exec {NAP_FD}<>"$WORK/nap" ||
			{ sleep "$1"; return 0; }
	fi
	read -rt "$1" -u "$NAP_FD" _
	return 0
}

# cpu_ticks PID...: CPU_TICKS="BUSY TOTAL" clock ticks of all CPUs since
# boot; DAEMON_TICKS lines "PID - TICKS": the user and system time of
# each PID (all its threads, those that ended too), and "PID TID WAIT_NS":
# the time each of its threads waited runnable for a CPU (schedstat).
# Builtins only: a fork inside the profiled window is the harness's CPU
# time in the profile.
CPU_TICKS="" DAEMON_TICKS=""
cpu_ticks() {
	local c u n sy idle io irq sirq st p t line f w
	read -r c u n sy idle io irq sirq st _ </proc/stat
	CPU_TICKS="$((u + n + sy + irq + sirq + st)) $((u + n + sy + irq + sirq + st + idle + io))"
	DAEMON_TICKS=""
	for p; do
		[[ -n $p ]] && read -r line <"/proc/$p/stat" 2>/dev/null || continue
		read -ra f <<<"${line##*) }"
		DAEMON_TICKS+="$p - $((f[11] + f[12]))"$'\n'
		for t in /proc/"$p"/task/*; do
			read -r _ w _ <"$t/schedstat" 2>/dev/null || continue
			DAEMON_TICKS+="$p ${t##*/} $w"$'\n'
		done
	done
}

# daemon_name PID: what a daemon of ours is (its log names its role).
daemon_name() {
	local c
	c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)
	case $c in
	*cmp-manager*) echo manager ;;
	*cmp-memserver*) echo memserver ;;
	*-nodeA.log*) echo "node A" ;;
	*-nodeB.log*) echo "node B" ;;
	*-n[0-9].log*) c=${c%%.log*}; echo "node ${c##*-n}" ;;
	*) c=${c%% *}; echo "${c##*/}" ;;
	esac
}

# prof_begin STEP SYSTEM [COMM]: start perf on every CPU (disabled),
# enable it and wait for its acknowledgement, then take the CPU counters.
prof_begin() {
	local step=$WL-$1 d=$OUT/profiles ctl=$WORK/perf.ctl ack=$WORK/perf.ack a="" i
	((PROFILING)) && prof_wanted "$step" || return 0
	mkdir -p "$d"
	rm -f "$ctl" "$ack" "$d/$step".*
	mkfifo "$ctl" "$ack" || { fail "$2" "profile:$step" "" "mkfifo failed"; return 0; }
	PROF_STEP=$step PROF_SYS=$2 PROF_COMM=${3:-}
	logc "perf record -a -g -F ${WL_PROFILE_HZ[$WL]:-499} ($step)"
	# -B: no build-id pass at the end (it reads every sample again)
	perf record -a -g -F "${WL_PROFILE_HZ[$WL]:-499}" -B -D -1 \
		--control "fifo:$ctl,$ack" -o "$d/$step.data" >>"$LOG" 2>&1 </dev/null &
	PROF_PID=$!
	STARTED+=("$PROF_PID $(proc_start "$PROF_PID")")
	defer_here prof_stop
	exec {PROF_CTL}<>"$ctl" {PROF_ACK}<>"$ack"
	echo enable >&"$PROF_CTL"
	for i in $(seq 30); do
		read -r -t 1 -u "$PROF_ACK" a && break
		pid_alive "$PROF_PID" || break
	done
	if [[ ${a:-} != ack ]]; then
		prof_stop
		fail "$2" "profile:$step" "" "perf did not start (see harness.log)"
		return 0
	fi
	cpu_ticks ${DPIDS[$2]:-}
	PROF_CPU0=$CPU_TICKS PROF_DT0=$DAEMON_TICKS PROF_T0=${EPOCHREALTIME/./}
}

# prof_stop: stop perf (it writes its file), close the control FIFOs.
prof_stop() {
	local i
	[[ -n $PROF_PID ]] || return 0
	kill -INT "$PROF_PID" 2>/dev/null
	for i in $(seq 1200); do
		pid_alive "$PROF_PID" || break
		sleep 0.1
	done
	pid_alive "$PROF_PID" && kill -KILL "$PROF_PID" 2>/dev/null
	wait "$PROF_PID" 2>/dev/null
	PROF_PID=""
	[[ -z $PROF_CTL ]] || exec {PROF_CTL}>&-
	[[ -z $PROF_ACK ]] || exec {PROF_ACK}>&-
	PROF_CTL="" PROF_ACK=""
	rm -f "$WORK/perf.ctl" "$WORK/perf.ack"
}

# prof_end: disable perf, take the CPU counters, stop perf, write the
# step's .meta and .txt.
prof_end() {
	local t1 cpu1 dt1 a step=$PROF_STEP m
	[[ -n $PROF_PID ]] || return 0
	t1=${EPOCHREALTIME/./}
	cpu_ticks ${DPIDS[$PROF_SYS]:-}
	cpu1=$CPU_TICKS dt1=$DAEMON_TICKS
	echo disable >&"$PROF_CTL"
	read -r -t 10 -u "$PROF_ACK" a
	prof_stop
	m=$OUT/profiles/$step.meta
	{
		printf 'step\t%s\nsystem\t%s\ncomm\t%s\n' "$step" "$PROF_SYS" "$PROF_COMM"
		awk -v t0="$PROF_T0" -v t1="$t1" 'BEGIN {printf "seconds\t%.2f\n", (t1 - t0) / 1e6}'
		printf 'cpus\t%s\nload\t%s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "$PROF_CPU0 $cpu1" | awk '{printf "machine_busy_pct\t%.0f\n", 100 * ($3 - $1) / ($4 - $2 + ($4 == $2))}'
		# ran: the process's ticks; waited: its threads alive at both ends
		printf '%s' "$PROF_DT0" | awk -v us="$((t1 - PROF_T0))" -v hz="$(getconf CLK_TCK)" '
			NR == FNR {a[$1 " " $2] = $3; next}
			($1 " " $2) in a {d = $3 - a[$1 " " $2]; if ($2 == "-") ran[$1] = d; else wait[$1] += d}
			END {for (p in ran) printf "%s\t%.0f\t%.0f\n", p, 100 * ran[p] / hz / (us / 1e6),
				wait[p] / us / 10}' - <(printf '%s' "$dt1") | sort -n |
			while IFS=$'\t' read -r p r w; do
				printf 'daemon\t%s (pid %s)\t%s\t%s\n' "$(daemon_name "$p")" "$p" "$r" "$w"
			done
	} >"$m"
	meta "profile:$step" "profiles/$step.txt"
	prof_write_txt "$step"
}

# prof_write_txt STEP: the step's tables (profreport.py, which attributes
# each sample by its process: other test runs here run cmpfs too).
prof_write_txt() {
	local step=$1 d p daemons=""
	d=$OUT/profiles
	for p in ${DPIDS[$PROF_SYS]:-}; do daemons+="${daemons:+,}$p=$(daemon_name "$p")"; done
	{
		echo "# profile of $step ($PROF_SYS); perf record -a -g -F ${WL_PROFILE_HZ[$WL]:-499}"
		echo
		awk -F '\t' '$1 == "daemon" {printf "daemon %s: ran %s%%, waited runnable for a CPU %s%%\n", $2, $3, $4; next}
			{print $1 ": " $2}' "$d/$step.meta"
		echo
		echo "(ran: a daemon's user and system time; waited: its threads' time runnable but"
		echo "not on a CPU (schedstat, threads alive at both ends); each as a share of one CPU"
		echo "over the step; machine_busy_pct: all CPUs' time not idle)"
		perf script -i "$d/$step.data" --show-task-events -G -F comm,pid,tid,ip,sym,dso 2>>"$LOG" |
			python3 "$HERE/profreport.py" "$$" "$daemons" "$PROF_COMM" "$(nproc)"
	} >"$d/$step.txt" 2>>"$LOG"
}

# profile_pass: once more the items that hold the chosen steps, profiled.
profile_pass() {
	local w it
	[[ -n $PROFILE ]] || return 0
	if ! prof_usable; then
		say "no profiles: $PROF_WHY"
		meta profile_none "$PROF_WHY"
		return 0
	fi
	say "=== profile pass: $PROFILE (perf record -a -g; figures in profile.csv)"
	meta profile_steps "$(prof_all | while read -r s; do prof_wanted "$s" && echo "$s"; done | xargs)"
	CSV=$OUT/profile.csv
	echo "round,workload,system,metric,value,unit,status" >"$CSV"
	PROFILING=1 ROUND=0
	for w in "${WORKLOADS[@]}"; do
		wants "$w" || continue
		for it in $(prof_items "$w"); do
			WL=$w
			say "profile: $w: $it"
			"${w}_run" "$it"
		done
	done
	PROFILING=0 CSV=$OUT/results.csv
}
