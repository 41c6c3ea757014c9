# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The benchmark harness's library, sourced by run.sh: the options, the
# output files (results.csv, meta.txt, harness.log), the cleanup stack,
# daemons under the harness's own supervision, mounts, loop devices and
# swap, timing, result rows, packages, the C helpers and the check that
# nothing was left behind. The peers are set up in systems.sh, each
# workload lives in workloads/NAME.sh (README.md says what such a file
# defines). run.sh sources this file first, parses the options, then
# sources systems.sh and the workloads, which size themselves from them.

# --- options ------------------------------------------------------------------
BUILD=${CMPFS_BUILD:-$SRCROOT/build}
OUT=""
ROUNDS=3
ONLY=""			# default: every workload
SMOKE=0
INSTALL=1
BUDGET_MIN=""
DISKDIR=${CMPBENCH_DISKDIR:-/var/tmp}
declare -A ROUNDS_OF	# --NAME-rounds N: rounds of a workload with a cap
SKIP=""			# --skip: systems and set-ups left out
PROFILE=""		# --profile: the steps profiled (profile.sh), "all"
FIG10_MB=""		# --fig10-mb: Figure 10's array (default by mode)
POOL=""			# --pool: the cmpfs systems' pools (default by mode)

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
	exit "${1:-0}"
}

bad_usage() {
	echo "run.sh: $*" >&2
	exit 2
}

parse_args() {
	local w
	while (($#)); do
		case $1 in
		--smoke) SMOKE=1 ;;
		--rounds) ROUNDS=$2; shift ;;
		--rounds=*) ROUNDS=${1#*=} ;;
		--*-rounds) w=${1#--}; ROUNDS_OF[${w%-rounds}]=$2; shift ;;
		--*-rounds=*) w=${1%%=*}; w=${w#--}; ROUNDS_OF[${w%-rounds}]=${1#*=} ;;
		--out) OUT=$2; shift ;;
		--out=*) OUT=${1#*=} ;;
		--only) ONLY=$2; shift ;;
		--only=*) ONLY=${1#*=} ;;
		--build) BUILD=$2; shift ;;
		--build=*) BUILD=${1#*=} ;;
		--diskdir) DISKDIR=$2; shift ;;
		--budget) BUDGET_MIN=$2; shift ;;
		--budget=*) BUDGET_MIN=${1#*=} ;;
		--no-install) INSTALL=0 ;;
		--skip) SKIP=$2; shift ;;
		--skip=*) SKIP=${1#*=} ;;
		--profile) PROFILE=all ;;
		--profile=*) PROFILE=${1#*=} ;;
		--fig10-mb) FIG10_MB=$2; shift ;;
		--fig10-mb=*) FIG10_MB=${1#*=} ;;
		--pool) POOL=$2; shift ;;
		--pool=*) POOL=${1#*=} ;;
		-h | --help) usage 0 ;;
		*) echo "run.sh: unknown argument '$1'" >&2; usage 2 ;;
		esac
		shift
	done
	[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || bad_usage "bad --rounds"
	((SMOKE)) && ROUNDS=1
	# Time budget for the whole run: a round (or the part of a round of a
	# workload with its own number of rounds) that would not fit, judged
	# by how long the previous round took, is not started. 0 = no budget.
	if [[ -z $BUDGET_MIN ]]; then ((SMOKE)) && BUDGET_MIN=0 || BUDGET_MIN=28; fi
	[[ $BUDGET_MIN =~ ^[0-9]+$ ]] || bad_usage "bad --budget"
	[[ -z $FIG10_MB || $FIG10_MB =~ ^[1-9][0-9]*$ ]] || bad_usage "bad --fig10-mb"
	[[ -z $POOL || $POOL =~ ^[1-9][0-9]*[MG]$ ]] || bad_usage "bad --pool (e.g. 2G, 1536M)"
	[[ -n $PROFILE ]] || return 0
	[[ $PROFILE =~ ^[a-z0-9_,-]+$ ]] || bad_usage "bad --profile"
}

# check_workloads: --only and --NAME-rounds name workloads that exist
# (after the workload files are sourced).
check_workloads() {
	local w list
	list=$(IFS=,; echo "${WORKLOADS[*]}")
	: "${ONLY:=$list}"
	for w in ${ONLY//,/ }; do
		[[ " ${WORKLOADS[*]} " == *" $w "* ]] ||
			bad_usage "unknown workload '$w' ($list)"
	done
	for w in "${!ROUNDS_OF[@]}"; do
		[[ -n ${WL_ROUNDS[$w]:-} ]] || bad_usage "unknown option --$w-rounds"
		[[ ${ROUNDS_OF[$w]} =~ ^[0-9]+$ ]] || bad_usage "bad --$w-rounds"
	done
	list="tcp ${!UP[*]}"
	for w in "${WORKLOADS[@]}"; do list+=" ${WL_ITEMS[$w]:-}"; done
	for w in ${SKIP//,/ }; do
		[[ " $list " == *" $w "* ]] || bad_usage "--skip: unknown system or set-up '$w'"
	done
	prof_check
}

wants() { [[ ,$ONLY, == *,$1,* ]]; }

# skipped ITEM: a system or set-up left out by --skip.
skipped() { [[ ,$SKIP, == *,$1,* ]]; }

# sized SMOKE FULL: the value for this mode.
sized() { if ((SMOKE)); then echo "$1"; else echo "$2"; fi; }

# --- what the workload files fill in (see README.md) --------------------------
declare -A WL_NEEDS	# workload -> the systems it runs on, in order
declare -A WL_ITEMS	# workload -> what it runs each round, if not systems
declare -A WL_ROUNDS	# workload -> its own number of rounds (at most ROUNDS)
declare -A WL_LABEL	# workload -> its name in messages (default: NAME)
declare -A WL_TITLE	# workload -> its section title in report.md
declare -A WL_SIZES	# workload -> its sizes, for meta.txt and the report
PEER_MB=0		# the largest file a workload puts on a peer

# peer_room MB: a workload puts files of MB MiB on the peers; the nbdkit
# disk and the tmpfs file systems are made large enough for the largest
# of the workloads that run (SOURCING: the one whose file is sourced).
SOURCING=""
peer_room() {
	[[ -z $ONLY ]] || wants "$SOURCING" || return 0
	((PEER_MB >= $1)) || PEER_MB=$1
}

# --- output -------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CSV="" LOG="" META="" WORK="" TAG=cb$$
ERRORS=0
T_START=$(date +%s)

output_init() {
	[[ -n $OUT ]] || OUT=$SRCROOT/bench-results/$STAMP
	mkdir -p "$OUT" || exit 1
	OUT=$(cd "$OUT" && pwd)
	CSV=$OUT/results.csv
	LOG=$OUT/harness.log
	META=$OUT/meta.txt
	: >"$LOG"
	echo "round,workload,system,metric,value,unit,status" >"$CSV"
	: >"$META"
	WORK=$(mktemp -d "/tmp/cmpbench.$TAG.XXXXXX") || exit 1
	BIN=$WORK/bin
	trap on_exit EXIT
	trap 'interrupted INT' INT
	trap 'interrupted TERM' TERM
	trap 'interrupted PIPE' PIPE
}

# interrupted SIGNAL: stop the current command, then tear down (on_exit).
# After a TERM (meson's timeout) or a PIPE, whoever read our output may be
# gone: a write to it must not kill the teardown, which logs to harness.log.
interrupted() {
	trap - PIPE
	[[ $1 == INT ]] || exec >/dev/null 2>&1
	say "interrupted ($1)"
	# (CONT: a child that stopped itself for the profiler gets the TERM)
	[[ -n $CHILD ]] && kill -TERM "$CHILD" 2>/dev/null && kill -CONT "$CHILD" 2>/dev/null
	exit 130
}

say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$LOG"; }
logc() { echo "+ $*" >>"$LOG"; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# --- cleanup stack --------------------------------------------------------------
# Every resource pushes its own undo command; unwind pops them in reverse
# (swapoff before losetup -d before unmount before killing the daemon).
# Each undo of something that outlives the harness's processes (a mount, a
# loop device, swap, a namespace, a cgroup, a file) is also written to the
# run's journal, so that the next run can undo it if this one is killed
# (see sweep_stale); defer_here is for the undos that concern this process
# only (stopping a daemon by pid: a pid can be reused).
CLEAN=()
defer() { journal_add "${#CLEAN[@]}" "$*"; CLEAN+=("$*"); }
defer_here() { CLEAN+=("#here $*"); }
mark() { echo "${#CLEAN[@]}"; }
UNDO_FAILED=0
unwind() {
	local to=${1:-0} i c t0
	while ((${#CLEAN[@]} > to)); do
		i=$((${#CLEAN[@]} - 1))
		c=${CLEAN[$i]#"#here "}
		unset "CLEAN[$i]"
		logc "cleanup: $c"
		t0=${EPOCHREALTIME/./}
		if eval "$c" >>"$LOG" 2>&1; then
			journal_del "$i"
		else
			echo "cleanup failed: $c" >>"$LOG"
			UNDO_FAILED=1
		fi
		t0=$(((${EPOCHREALTIME/./} - t0) / 1000))
		((t0 < 1000)) || echo "  (cleanup took $t0 ms)" >>"$LOG"
	done
}
on_exit() {
	local rc=$?
	trap - EXIT INT TERM PIPE
	unwind 0
	# a failed undo stays in the journal for the next run's sweep
	((UNDO_FAILED)) || journal_end
	rm -rf --one-file-system "$WORK"
	exit "$rc"
}

# --- the journal, and the sweep of what killed runs left behind --------------
# meson's timeout sends SIGTERM and 0.5 s later SIGKILL to the test's
# process group; run.sh runs in a session of its own (so that it gets the
# time to tear down), but a SIGKILL of the run itself cannot be trapped.
# Everything the harness makes carries its tag (cbPID: namespaces, veth
# ends, tmpfs sources, cgroups, files on --diskdir, the work directory
# /tmp/cmpbench.cbPID.*), and the undo of each is journalled in
# STATE_DIR/cbPID.undo ("owner PID STARTTIME WORK DISKDIR", then "+ I CMD"
# and "- I" lines). At its start run.sh sweeps the state of every run that
# is gone: kills its processes, replays its journal, then undoes whatever
# carries its tag (stale.py finds them).
STATE_DIR=/run/cmpbench
JOURNAL=""
proc_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }
journal_start() {
	mkdir -p "$STATE_DIR" || return 0
	JOURNAL=$STATE_DIR/$TAG.undo
	printf 'owner %s %s %s %s\n' "$$" "$(proc_start $$)" "$WORK" "$DISKDIR" >"$JOURNAL"
}
journal_add() { [[ -z $JOURNAL ]] || printf '+ %s %s\n' "$1" "$2" >>"$JOURNAL"; }
journal_del() { [[ -z $JOURNAL ]] || printf -- '- %s\n' "$1" >>"$JOURNAL"; }
journal_end() { [[ -z $JOURNAL ]] || rm -f "$JOURNAL"; }

# journal_pending FILE: the undos still to do, last first.
journal_pending() {
	awk '$1 == "+" {c[$2] = substr($0, length($1 " " $2 " ") + 1)}
		$1 == "-" {delete c[$2]}
		END {for (i in c) print i "\t" c[i]}' "$1" | sort -rn | cut -f2-
}

stale() { python3 "$HERE/stale.py" "$1" "$TAG" "$WORK" "$DISKDIR" "$CGROOT" "$STATE_DIR" "${@:2}"; }

# sweep_tag TAG: undo what the gone run TAG left. Its swap goes first,
# while the daemons that may serve it still run (a swap device over a
# FUSE file whose daemon is gone cannot be read back).
sweep_tag() {
	local tag=$1 p verb arg c n=0 i
	while read -r verb arg; do
		[[ $verb == swapoff ]] || continue
		logc "stale $tag: swapoff $arg"
		swapoff "$arg" >>"$LOG" 2>&1 || echo "stale $tag: failed: swapoff $arg" >>"$LOG"
	done < <(stale actions "$tag")
	for p in $(stale procs "$tag"); do
		logc "stale $tag: kill -KILL $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null))"
		kill -KILL "$p" 2>/dev/null
	done
	for i in $(seq 50); do
		[[ -z $(stale procs "$tag") ]] && break
		sleep 0.1
	done
	if [[ $tag != dir:* && -f $STATE_DIR/$tag.undo ]]; then
		while IFS= read -r c; do
			n=$((n + 1))
			logc "stale $tag: $c"
			eval "$c" >>"$LOG" 2>&1 || echo "stale $tag: failed: $c" >>"$LOG"
		done < <(journal_pending "$STATE_DIR/$tag.undo")
	fi
	while read -r verb arg; do
		[[ -n $verb ]] || continue
		logc "stale $tag: $verb $arg"
		n=$((n + 1))
		case $verb in
		swapoff) swapoff "$arg" ;;
		umount-fuse) fuse_abort "$arg"; umount "$arg" 2>/dev/null || umount -l "$arg" ;;
		umount) umount "$arg" 2>/dev/null || umount -l "$arg" ;;
		losetup-d) losetup -d "$arg" ;;
		netns-del) ip netns del "$arg" ;;
		link-del) ip link del "$arg" ;;
		rmdir) rmdir "$arg" ;;
		rm) rm -f "$arg" ;;
		rmtree) grep -qF " ${arg%/}/" /proc/self/mountinfo || rm -rf --one-file-system "$arg" ;;
		esac >>"$LOG" 2>&1 || echo "stale $tag: failed: $verb $arg" >>"$LOG"
	done < <(stale actions "$tag")
	rm -f "$STATE_DIR/$tag.undo"
	STALE_DONE+=("$tag ($n things)")
}

# sweep_stale: before this run makes anything (one sweep at a time).
STALE_DONE=()
sweep_stale() {
	local tag
	mkdir -p "$STATE_DIR" || return 0
	exec 9>"$STATE_DIR/sweep.lock"
	flock 9
	for tag in $(stale tags); do
		sweep_tag "$tag"
	done
	exec 9>&-
	((${#STALE_DONE[@]})) || return 0
	say "cleaned up after killed runs: ${STALE_DONE[*]}"
	meta stale "cleaned up after killed runs: ${STALE_DONE[*]}"
}
# Long commands run in the background and are waited for, so a signal is
# handled at once: the INT/TERM trap stops the current command, then
# cleans up.
CHILD=""
runbg() {
	local rc
	"$@" &
	CHILD=$!
	wait "$CHILD"
	rc=$?
	CHILD=""
	return $rc
}

# --- daemons --------------------------------------------------------------------
pid_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $st != Z ]]
}

# Stop a daemon we started, by its pid only.
kill_wait() {
	local pid=$1 i
	pid_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 50); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# start_daemon LOG CMD...: run CMD, a daemon that stays in the foreground
# (-f, -D: never one that detaches, whose pid would not be ours), in the
# background with its output in LOG; DAEMON_PID is its pid and the
# teardown stops it. CMD may start with nsenter, which execs the daemon.
# Not in $(): it defers.
DAEMON_PID=""
STARTED=()		# "PID STARTTIME" of every daemon, for the leak check
start_daemon() {
	local log=$1
	shift
	logc "$*"
	"$@" >>"$log" 2>&1 </dev/null &
	DAEMON_PID=$!
	STARTED+=("$DAEMON_PID $(proc_start "$DAEMON_PID")")
	defer_here "kill_wait $DAEMON_PID"
}

# --- mounts, ports --------------------------------------------------------------
is_mounted() { awk -v m="$1" '$5 == m {f=1} END {exit !f}' /proc/self/mountinfo; }

fuse_abort() {
	local mnt=$1 dev
	dev=$(awk -v m="$mnt" '$5 == m {d=$3} END {print d}' /proc/self/mountinfo)
	[[ -n $dev ]] || return 0
	[[ -d /sys/fs/fuse/connections/${dev#*:} ]] ||
		mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null
	echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort" 2>/dev/null
}

# Unmount a FUSE mount; abort the connection if the daemon hangs.
fuse_umount() {
	local mnt=$1
	is_mounted "$mnt" || return 0
	timeout 20 fusermount3 -u "$mnt" 2>/dev/null && return 0
	timeout 20 umount "$mnt" 2>/dev/null && return 0
	fuse_abort "$mnt"
	umount -l "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
}

# wait_mount MNT [PID]: up to 30 s; gives up at once when PID exits.
wait_mount() {
	local mnt=$1 pid=${2:-} i
	for i in $(seq 300); do
		is_mounted "$mnt" && return 0
		[[ -n $pid ]] && ! pid_alive "$pid" && return 1
		sleep 0.1
	done
	return 1
}

# wait_port HOST PORT [PID]: up to 90 s; gives up at once when PID exits.
wait_port() {
	local host=$1 port=$2 pid=${3:-} i
	for i in $(seq 900); do
		(echo >"/dev/tcp/$host/$port") 2>/dev/null && return 0
		[[ -n $pid ]] && ! pid_alive "$pid" && return 1
		sleep 0.1
	done
	return 1
}

free_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
	done
	echo 20999
}

# mnt_dir NAME: an empty mount point under $WORK/mnt.
mnt_dir() { mkdir -p "$WORK/mnt/$1" && echo "$WORK/mnt/$1"; }

# tmpfs_on DIR NAME: a tmpfs with room for two of the largest files and
# some, unmounted at the teardown.
tmpfs_on() {
	mount -t tmpfs -o "size=$((PEER_MB * 2 + 256))M" "$TAG-$2" "$1" &&
		defer "umount -l $1"
}

# --- loop devices, swap -----------------------------------------------------------
LOOPDEV=""
LOOPS_MADE=()		# "DEV FILE" of every loop device made
loop_on() { # FILE [losetup options] -> LOOPDEV (not in $(): it defers)
	local f=$1; shift
	LOOPDEV=$(losetup -f --show "$@" "$f" 2>>"$LOG") || return 1
	LOOPS_MADE+=("$LOOPDEV $(realpath "$f")")
	defer "loop_off $LOOPDEV $(realpath "$f")"
}

# loop_is DEV FILE: DEV is a loop device over FILE (a journalled undo may
# run after this run was killed, when DEV may be another's).
loop_is() {
	local b
	b=$(cat "/sys/block/${1#/dev/}/loop/backing_file" 2>/dev/null) || return 1
	[[ ${b% (deleted)} == "$2" ]]
}
loop_off() { loop_is "$1" "$2" && losetup -d "$1"; }

# swap_on DEV [FILE]: only our swap may be active while a set-up runs;
# FILE: DEV is a loop device over it. SWAP_DEV: DEV. It gets the highest
# priority: the kernel swaps to the device of highest priority first, and
# swapon without -p gives each new device a lower one than those before,
# so another test run's swap (this machine often has one) would take our
# pages and serve our swap-ins (seen: the sort's swap traffic on another
# run's cmpfs, ours idle). foreign_swaps says whether one was active.
SWAP_DEV=""
swap_on() {
	mkswap "$1" >>"$LOG" 2>&1 && swapon -p 32767 "$1" >>"$LOG" 2>&1 &&
		defer "swap_off $1 ${2:-}" && SWAP_DEV=$1
}

# foreign_swaps: the active swap devices that are not SWAP_DEV (another
# test run's: at the same priority the kernel takes turns between them).
foreign_swaps() { awk -v d="$SWAP_DEV" 'NR > 1 && $1 != d {print $1}' /proc/swaps; }
swap_off() {
	grep -qF "$1 " /proc/swaps || return 0 # (a replayed journal: already off)
	[[ -z ${2:-} ]] || loop_is "$1" "$2" && swapoff "$1"
}

# swap_on_loop FILE [losetup options]: swap on a loop device over FILE.
swap_on_loop() { loop_on "$@" && swap_on "$LOOPDEV" "$(realpath "$1")"; }

# The memory cgroups (v1) the harness makes are named $CGROOT/$TAG-*.
CGROOT=/sys/fs/cgroup/memory

# --- timing, rows -----------------------------------------------------------------
now_ns() { date +%s%N; }
ELAPSED_NS=0
# timed CMD...: run, log, set ELAPSED_NS; returns CMD's status.
timed() {
	local t0 t1 rc
	logc "$*"
	t0=$(now_ns)
	runbg "$@" >>"$LOG" 2>&1
	rc=$?
	t1=$(now_ns)
	ELAPSED_NS=$((t1 - t0))
	echo "  ($((ELAPSED_NS / 1000000)) ms, exit $rc)" >>"$LOG"
	return $rc
}
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN {printf "%.1f", b * 1000 / ns}'; }

ROUND=0
WL=""
record() { # SYSTEM METRIC VALUE UNIT [STATUS]
	echo "$ROUND,$WL,$1,$2,$3,$4,${5:-ok}" >>"$CSV"
}
fail() { # SYSTEM METRIC UNIT WHY
	record "$1" "$2" "" "$3" error
	say "  ERROR $WL/$1/$2: $4"
	ERRORS=$((ERRORS + 1))
}

# Drop a file's clean page-cache pages so a read really reaches the FS.
drop_file_cache() { dd if="$1" iflag=nocache count=0 status=none 2>/dev/null; }

# Rotate a list by N: systems interleaved, a different one first each round.
rotate() {
	local n=$1 a k i
	shift
	a=("$@")
	k=${#a[@]}
	((k)) || return 0
	for ((i = 0; i < k; i++)); do echo "${a[$(((i + n) % k))]}"; done
}

# json_flat FILE: the pretty-printed JSON of fio or iperf3 (one key per
# line) as "path<TAB>value" lines, objects and arrays joined by "/" (an
# array element is "#"): jobs/#/read/iops<TAB>9090.909091. In awk: a
# python3 start costs half a second on this machine, and the smoke parses
# dozens of these.
json_flat() {
	awk '
	function key(l) { sub(/^[ \t]*"/, "", l); sub(/"[ \t]*:.*/, "", l); return l }
	function path(k,  p, i) { p = ""; for (i = 1; i <= d; i++) p = p st[i] "/"; return p k }
	/^[ \t]*"[^"]*"[ \t]*:[ \t]*[{[][ \t]*$/ { st[++d] = key($0); next }
	/^[ \t]*[{[],?[ \t]*$/ { if (started) st[++d] = "#"; started = 1; next }
	/^[ \t]*[]}],?[ \t]*$/ { d--; next }
	/^[ \t]*"[^"]*"[ \t]*:/ {
		v = $0; sub(/^[ \t]*"[^"]*"[ \t]*:[ \t]*/, "", v); sub(/,[ \t]*$/, "", v)
		gsub(/^"|"$/, "", v)
		print path(key($0)) "\t" v
	}' "$1"
}

# fio_parse JSONFILE -> "iops p50_us p99_us p999_us ios mbps" of the first
# job's reads (its writes when it read nothing)
fio_parse() {
	json_flat "$1" | awk -F '\t' '
	$1 ~ /^jobs\/#\/(read|write)\// {
		split($1, p, "/"); k = p[4]; for (i = 5; i in p; i++) k = k "/" p[i]
		if (!((p[3], k) in v)) v[p[3], k] = $2
	}
	END {
		d = v["read", "io_bytes"] > 0 ? "read" : "write"
		if (!((d, "iops") in v)) exit 1
		pc = "clat_ns/percentile/"
		printf "%.0f %.2f %.2f %.2f %d %.1f\n", v[d, "iops"], v[d, pc "50.000000"] / 1000,
			v[d, pc "99.000000"] / 1000, v[d, pc "99.900000"] / 1000,
			v[d, "total_ios"], v[d, "bw_bytes"] / 1e6
	}'
}

# fio_randread ROW SYSTEM FILE MB BS IOS PREFIX [pin] [JOBS]: IOS O_DIRECT
# random reads of BS bytes over the first MB MiB of FILE on SYSTEM (psync,
# one job, or JOBS jobs of IOS reads each, reported as one group); records
# PREFIX_p50, _p99 (us) and _iops as ROW (usually SYSTEM). pin: fio and
# SYSTEM's daemons on CPU 0 (no cross-CPU wake-ups).
fio_randread() {
	local row=$1 s=$2 f=$3 mb=$4 bs=$5 ios=$6 pfx=$7 pin=() js=$WORK/fio.json
	local jobs=${9:-1} v iops p50 p99 p999 n mbs
	if [[ ${8:-} == pin ]]; then
		pin=(--cpus_allowed=0)
		pin_daemons "$s" 0
	fi
	if timed fio --name=rr --filename="$f" --rw=randread --bs="$bs" \
		--ioengine=psync --numjobs="$jobs" --group_reporting \
		--size="${mb}M" --direct=1 \
		--number_ios="$ios" --invalidate=1 "${pin[@]}" \
		--output-format=json --output="$js" && v=$(fio_parse "$js"); then
		read -r iops p50 p99 p999 n mbs <<<"$v"
		record "$row" "${pfx}_p50" "$p50" us
		record "$row" "${pfx}_p99" "$p99" us
		record "$row" "${pfx}_iops" "$iops" IOPS
	else
		fail "$row" "${pfx}_p50" us "fio failed"
	fi
	((${#pin[@]} == 0)) || pin_daemons "$s" "$ALLCPUS"
}

# source_data: $SRC, PEER_MB MiB of random data on a tmpfs with room for a
# copy ($WORK/src/out.dat); made once, for the workloads that read it.
SRC=""
source_data() {
	[[ -z $SRC ]] || return 0
	mkdir -p "$WORK/src"
	tmpfs_on "$WORK/src" src || exit 1
	SRC=$WORK/src/src.dat
	say "generating ${PEER_MB} MiB of random source data"
	head -c "$((PEER_MB << 20))" /dev/urandom >"$SRC" || exit 1
}

# --- packages -----------------------------------------------------------------
need_cmd_pkg=(
	"fio:fio" "nbdkit:nbdkit" "nbdfuse:libnbd-bin" "sshfs:sshfs"
	"/usr/sbin/sshd:openssh-server" "ssh-keygen:openssh-client"
	"gnuplot:gnuplot-nox" "getfattr:attr" "mkfs.ext4:e2fsprogs"
	"losetup:mount" "zramctl:util-linux" "python3:python3" "cc:gcc"
	"pkg-config:pkg-config" "fusermount3:fuse3" "ip:iproute2"
	"nsenter:util-linux" "ss:iproute2" "bc:bc" "iperf3:iperf3"
	"setsid:util-linux" "flock:util-linux"
)
apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
		install -y --no-install-recommends "$@" >>"$LOG" 2>&1
}
install_packages() {
	local pkgs=() e cmd pkg
	for e in "${need_cmd_pkg[@]}"; do
		cmd=${e%%:*}
		pkg=${e#*:}
		command -v "$cmd" >/dev/null 2>&1 || pkgs+=("$pkg")
	done
	pkg-config --exists fuse3 2>/dev/null || pkgs+=(libfuse3-dev)
	[[ -e /usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so ]] ||
		ls /usr/lib/*/nbdkit/plugins/nbdkit-memory-plugin.so >/dev/null 2>&1 ||
		pkgs+=(nbdkit)
	((${#pkgs[@]})) || return 0
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
	if ((!INSTALL)); then
		say "missing packages (not installing: --no-install): ${pkgs[*]}"
		return 0
	fi
	say "installing: ${pkgs[*]}"
	apt_install "${pkgs[@]}" ||
		{ apt-get -o DPkg::Lock::Timeout=600 update >>"$LOG" 2>&1 &&
			apt_install "${pkgs[@]}"; } ||
		say "apt-get install failed; systems that need them are reported not available"
}

# --- helpers (C) ----------------------------------------------------------------
BIN=""
HELPERS=(fusefloor qsort-inplace mmap-tp tcp-rr workset)
build_helpers() {
	mkdir -p "$BIN"
	local h src
	for h in "${HELPERS[@]}"; do
		if [[ -x $BUILD/tools/bench/$h && $BUILD/tools/bench/$h -nt $HERE/$h.c ]]; then
			cp "$BUILD/tools/bench/$h" "$BIN/$h"
			continue
		fi
		src=$HERE/$h.c
		if [[ $h == fusefloor ]]; then
			cc -O2 -Wall $(pkg-config --cflags fuse3 2>/dev/null) -o "$BIN/$h" "$src" \
				$(pkg-config --libs fuse3 2>/dev/null) -lpthread >>"$LOG" 2>&1
		else
			cc -O2 -Wall -o "$BIN/$h" "$src" >>"$LOG" 2>&1
		fi || say "cannot build $h (see harness.log)"
	done
	for h in "${HELPERS[@]}"; do
		[[ -x $BIN/$h ]] || { say "helper $h missing: harness broken"; ERRORS=$((ERRORS + 1)); }
	done
}

# --- after the teardown: anything of ours still there is a harness bug --------
# Found by what it is, not only by the pids the harness tracked (a daemon
# that detached itself is not among them): mounts below $WORK, our loop
# devices, swap, namespaces and cgroups, our pids, any process whose
# command line names $WORK (every daemon of ours: mount points, key,
# configs), and any process that was still inside a network namespace of
# ours when we deleted it (NETNS_LEFT, filled by netns_del in systems.sh).
# Pids and namespace inode numbers are not enough: both are soon reused
# by the other tests that run beside this one (pid_max is 32768 here).
NETNS_LEFT=()
leaks() {
	local d
	grep -F " $WORK/" /proc/self/mountinfo | awk '{print "mount " $5}'
	# a device still over the file we put under it (a freed device
	# number is soon another's: other tests run beside this one)
	for d in "${LOOPS_MADE[@]}"; do
		loop_is "${d%% *}" "${d#* }" || continue
		grep -qF "${d%% *} " /proc/swaps && echo "swap ${d%% *}"
		echo "loop ${d%% *} (${d#* })"
	done | sort -u
	grep -F "$TAG" /proc/swaps | awk '{print "swap " $1}'
	ip netns list 2>/dev/null | grep -F "$TAG" | awk '{print "netns " $1}'
	ls -d "$CGROOT/$TAG"-* 2>/dev/null | sed 's/^/cgroup /'
	((${#NETNS_LEFT[@]} == 0)) || printf '%s\n' "${NETNS_LEFT[@]}"
	ours_alive
}

# ours_alive: "process PID (CMDLINE)" for every live process that is ours
# (a daemon of STARTED with the same start time, our jobs) or names
# $WORK. One pass over /proc in python: a fork per process is slow here.
ours_alive() {
	local d started=()
	for d in "${STARTED[@]}"; do started+=("${d// /:}"); done
	OURS="${started[*]}" JOBS="$(jobs -p | xargs)" \
		python3 - "$WORK/" "$$" <<'EOF'
import os, sys
work, me = sys.argv[1], (sys.argv[2], str(os.getpid()))
ours = set(os.environ["OURS"].split())
jobs = set(os.environ["JOBS"].split())
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        st = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        cmd = open("/proc/%s/cmdline" % pid, "rb").read().decode(errors="replace")
    except (OSError, IndexError):
        continue
    if st[0] == "Z" or pid in me:
        continue
    cmd = cmd.replace("\0", " ").strip()
    if "%s:%s" % (pid, st[19]) in ours or pid in jobs or work in cmd:
        print("process %s (%s)" % (pid, cmd))
EOF
}

# check_leaks: count leftovers as a harness error, and say what they are.
check_leaks() {
	local found
	found=$(leaks)
	[[ -n $found ]] || return 0
	say "left behind after teardown (harness bug):"
	echo "$found" | tee -a "$LOG"
	meta leaks "$(echo "$found" | xargs)"
	ERRORS=$((ERRORS + 1))
}
