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

# cpu_busy: "BUSY TOTAL" clock ticks of all CPUs since boot.
cpu_busy() { awk '$1 == "cpu" {b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6}' /proc/stat; }

# daemon_cpu PID...: "PID TICKS" (user + system, all threads) each.
daemon_cpu() {
	local p
	for p; do
		echo "$p $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')"
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
	PROF_CPU0=$(cpu_busy)
	PROF_DT0=$(daemon_cpu ${DPIDS[$2]:-})
	PROF_T0=$(now_ns)
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
	t1=$(now_ns)
	cpu1=$(cpu_busy)
	dt1=$(daemon_cpu ${DPIDS[$PROF_SYS]:-})
	echo disable >&"$PROF_CTL"
	read -r -t 10 -u "$PROF_ACK" a
	prof_stop
	m=$OUT/profiles/$step.meta
	{
		printf 'step\t%s\nsystem\t%s\ncomm\t%s\n' "$step" "$PROF_SYS" "$PROF_COMM"
		awk -v t0="$PROF_T0" -v t1="$t1" 'BEGIN {printf "seconds\t%.2f\n", (t1 - t0) / 1e9}'
		printf 'cpus\t%s\nload\t%s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "$PROF_CPU0 $cpu1" | awk '{printf "machine_busy_pct\t%.0f\n", 100 * ($3 - $1) / ($4 - $2 + ($4 == $2))}'
		join <(sort <<<"$PROF_DT0") <(sort <<<"$dt1") | while read -r p c0 c1; do
			printf 'daemon\t%s (pid %s)\t%s\n' "$(daemon_name "$p")" "$p" \
				"$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v t0="$PROF_T0" -v t1="$t1" \
					'BEGIN {printf "%.0f", 100 * c / hz / ((t1 - t0) / 1e9)}')"
		done
	} >"$m"
	meta "profile:$step" "profiles/$step.txt"
	prof_write_txt "$step"
}

# perf_top TITLE LINES ARGS...: one perf report table, its first LINES rows.
perf_top() {
	local title=$1 n=$2
	shift 2
	printf '\n## %s\n\n' "$title"
	perf report -i "$PROF_DATA" --stdio --no-children -g none -n --percent-limit 0.1 "$@" 2>>"$LOG" |
		awk '/^# Samples/ || /^# Event count/ {print; next} /^#/ || /^$/ {next} {print}' | head -n "$((n + 2))"
}

prof_write_txt() {
	local step=$1 pids
	PROF_DATA=$OUT/profiles/$step.data
	pids=$(tr ' ' ',' <<<"${DPIDS[$PROF_SYS]:-}" | sed 's/^,*//')
	{
		echo "# profile of $step ($PROF_SYS); perf record -a -g -F ${WL_PROFILE_HZ[$WL]:-499}"
		echo
		sed 's/\t/: /' "$OUT/profiles/$step.meta"
		echo
		echo "Percentages of the filtered samples (--percentage relative); idle CPU time is the command 'swapper'."
		perf_top "where the CPUs went: by command (all CPUs)" 20 --sort comm
		if [[ -n $pids ]]; then
			perf_top "cmpfs daemons ($pids): by thread" 15 --pid "$pids" --percentage relative --sort comm
			perf_top "cmpfs daemons: symbols, self time" 30 --pid "$pids" --percentage relative --sort dso,sym
			perf_top "cmpfs daemons: by DSO" 12 --pid "$pids" --percentage relative --sort dso
		fi
		if [[ -n $PROF_COMM ]]; then
			perf_top "the workload ($PROF_COMM): symbols, self time" 25 --comm "$PROF_COMM" \
				--percentage relative --sort dso,sym
		fi
		perf_top "all CPUs: symbols, self time" 30 --sort comm,dso,sym
	} >"$OUT/profiles/$step.txt"
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
