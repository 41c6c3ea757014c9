# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The fault tests' layer on lib-netns.sh (tests/cluster/test-faults-*.sh,
# issue 9): the data tool (datacheck.c) and its record, background jobs
# the cleanup stops, checks that record a failure and go on so that one
# run reports every broken expectation (checks_done fails the test at the
# end), marks in the daemon logs, the writer's per-write events from which
# "fails fast" and "resumes within N s" are computed, and one fault round
# (fault_round) shared by the pause and partition tests.
#
# Usage:
#     TEST_TIMEOUT=150
#     . "$(dirname "$0")/lib-faults.sh"
#     ... start the cluster (lib-netns.sh) ...
#     owner_files n1 n2
#     fault_round "n2 stopped" 30 "kill -STOP $pid" "kill -CONT $pid"
#     checks_done
#
# Environment (tests/cluster/meson.build): as lib-netns.sh, plus BUILD_DIR
# (where datacheck, mitm-relay and stallframe are built).
. "$(dirname "${BASH_SOURCE[0]}")/lib-netns.sh"

# allow_n2_failures: the error lines n1 writes when n2's blocks fail
# are expected (added to ALLOWED_ERRORS, which the cleanup checks).
allow_n2_failures()
{
	local re='(read|write) of inode [0-9]+ at [0-9]+: (Input/output error|Bad message)|moving block [0-9]+ to node 12|block [0-9]+ (\(epoch [0-9]+\) )?on node 12: '

	ALLOWED_ERRORS="${ALLOWED_ERRORS:+$ALLOWED_ERRORS|}$re"
}

# ---- the cluster of a fault test ----

# fault_namespaces: the manager's, owner n1's and provider n2's.
fault_namespaces()
{
	netns_add mgr 10.77.0.1
	netns_add n1 10.77.0.11
	netns_add n2 10.77.0.12
}

# fault_nodes N2_LOCAL: the manager, provider n2 (node 12, local=N2_LOCAL)
# and owner n1 (node 11, local=4M), both alive at the manager.
fault_nodes()
{
	local id

	start_manager
	ID_OF=([n1]=11 [n2]=12)
	start_node n2 12 "local=$1"
	start_node n1 11 local=4M
	for id in 11 12; do
		wait_until "node $id alive at the manager" 20 node_alive "$id"
	done
}

DATACHECK=$(helper datacheck)
CHUNKS=${CHUNKS:-12}	  # MiB of file f
RESUME_SECS=${RESUME_SECS:-10} # writes acknowledged again this soon after a fault
# A write may take this long when a fault begins (the owner finds out by
# one request deadline, 5 s, plus a loaded machine's slack: 6,013 ms was
# seen at load 11; two deadlines, 10 s, would mean a hung provider cost
# twice); once the fault is FAST_AFTER s old, every write must finish
# within 1 s (EIO at once for a node known to be unreachable).
SLOWEST_MS=${SLOWEST_MS:-8000}
FAST_AFTER=${FAST_AFTER:-6}
# Each step of a round on the home file (read, rewrite with fsync, read
# back 1 MiB) must finish within this: one that waited on the faulty node
# would take the request timeout (5 s). The steps are judged one by one,
# not their sum, which a loaded box stretches (a whole round took 5.3 s at
# load 13 without any step waiting on the network).
LOCAL_SLOWEST=${LOCAL_SLOWEST:-4.5}

# Log lines that say data went away: blocks freed, lost or forgotten (a
# nonzero count), a node told it had been declared dead.
FREED_RE='freed (its )?[1-9]|[1-9][0-9]* (of (our|its) )?blocks[^,;]* (are )?(lost|gone|freed)|[Ff]reeing|forg[eo]t|had declared'

# ---- checks that go on ----

SOFT_FAILS=()

# check_fail MSG: an expectation failed; the test goes on and fails at
# checks_done.
check_fail()
{
	printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
	SOFT_FAILS+=("$*")
}

checks_done()
{
	local m

	if [ ${#SOFT_FAILS[@]} -gt 0 ]; then
		echo "[$TEST_NAME] ${#SOFT_FAILS[@]} expectation(s) failed:" >&2
		for m in "${SOFT_FAILS[@]}"; do
			echo "    $m" >&2
		done
		fail "${#SOFT_FAILS[@]} expectation(s) failed"
	fi
	log "every expectation held"
}

# ---- background jobs ----

declare -A BG_PID

# bg_start NAME CMD...: CMD in the background, its output in $T/NAME.out
# (shown, like the daemon logs, when the test fails); the cleanup stops it
# (TERM, KILL after 5 s) if it still runs.
bg_start()
{
	local name=$1

	shift
	"$@" >"$T/$name.out" 2>&1 </dev/null &
	BG_PID[$name]=$!
	DAEMON_LOGS+=("$T/$name.out")
	defer bg_stop "$name"
}

# bg_start_ns NAME NS CMD...: bg_start of CMD in namespace NS's network
# (nsenter execs CMD: the job's pid is CMD's, for signals).
bg_start_ns()
{
	local name=$1 ns=$2

	shift 2
	bg_start "$name" nsenter --net="/run/netns/$(nsname "$ns")" -- "$@"
}

bg_stop()
{
	local pid=${BG_PID[$1]:-0}

	[ "$pid" != 0 ] || return 0
	BG_PID[$1]=0
	if pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		wait_for "$1 to exit" 5 pid_dead "$pid" ||
			kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# bg_wait NAME SECS: waits until job NAME exits and returns its status;
# 124 when it is still running after SECS (it is left to the cleanup).
bg_wait()
{
	local pid=${BG_PID[$1]} rc=0

	wait_for "$1 to finish" "$2" pid_dead "$pid" || return 124
	wait "$pid" || rc=$?
	BG_PID[$1]=0
	return $rc
}

# ---- logs and time ----

declare -A LOG_MARK

# log_mark: log_since counts from here.
log_mark()
{
	local f

	for f in "${DAEMON_LOGS[@]}"; do
		LOG_MARK[$f]=$(wc -l <"$f" 2>/dev/null || echo 0)
	done
}

# log_since REGEX: the daemon log lines matching REGEX written since
# log_mark, each as "LOG: LINE".
log_since()
{
	local f

	for f in "${DAEMON_LOGS[@]}"; do
		[ -f "$f" ] || continue
		tail -n +"$((${LOG_MARK[$f]:-0} + 1))" "$f" |
			grep -E -- "$1" | sed "s|^|$(basename "$f"): |" || true
	done
}

now_s() { date +%s.%N; }

# secs_since T [NOW]: seconds from T to NOW (default: now), one decimal.
secs_since() { awk -v a="$1" -v b="${2:-$(now_s)}" 'BEGIN { printf "%.1f\n", b - a }'; }

# sleep_until T: sleeps the rest of a fault's duration (T in now_s units).
sleep_until()
{
	sleep "$(awk -v t="$1" -v n="$(now_s)" \
		'BEGIN { d = t - n; printf "%.3f\n", (d > 0 ? d : 0) }')"
}

# add_secs T S: T + S.
add_secs() { awk -v t="$1" -v s="$2" 'BEGIN { printf "%.6f\n", t + s }'; }

# ---- the writer's events (datacheck write --events) ----
# Lines "ev START END CHUNK GEN WRITE FSYNC MS"; acknowledged = both "ok".

# clean_run_start EVENTS SINCE N: prints the start of the first run of N
# acknowledged writes in a row that began at or after SINCE; fails if
# there is none yet.
clean_run_start()
{
	awk -v since="$2" -v n="$3" '
		$1 == "ev" && $2 >= since {
			if ($6 == "ok" && $7 == "ok") {
				if (!run++)
					start = $2
				if (run >= n) {
					printf "%.6f\n", start
					found = 1
					exit
				}
			} else {
				run = 0
			}
		}
		END { exit !found }' "$1"
}

# clean_run_since EVENTS SINCE N: clean_run_start, quietly (a condition).
clean_run_since() { clean_run_start "$@" >/dev/null; }

# ev_stats EVENTS FROM TO: "WRITES FAILED SLOWEST_MS SLOW" over the writes
# that began in [FROM, TO); SLOW counts those that began FAST_AFTER s
# after FROM or later and took more than 1 s.
ev_stats()
{
	awk -v a="$2" -v b="$3" -v settle="$FAST_AFTER" '
		$1 == "ev" && $2 >= a && $2 < b {
			n++
			if ($6 != "ok" || $7 != "ok")
				f++
			if ($8 > m)
				m = $8
			if ($2 >= a + settle && $8 > 1000)
				slow++
		}
		END { printf "%d %d %d %d\n", n, f, m, slow }' "$1"
}

# ---- data on the owner ----

# writer_start NAME FILE RECORD [ARGS...]: a datacheck writer rewriting
# FILE pass after pass (fsync after every chunk) until writer_stop NAME.
writer_start()
{
	local name=$1 file=$2 rec=$3

	shift 3
	rm -f "$T/$name.stop"
	bg_start "$name" "$DATACHECK" write "$file" "$rec" -n "$CHUNKS" \
		--until "$T/$name.stop" --events "$T/$name.ev" "$@"
}

writer_stop()
{
	local rc=0

	touch "$T/$1.stop"
	bg_wait "$1" 30 || rc=$?
	case $rc in
	0) ;;
	124) check_fail "writer $1 did not stop within 30 s (a write hangs)" ;;
	*) check_fail "writer $1 exited with status $rc: $(tail -3 "$T/$1.out")" ;;
	esac
}

# verify_f [ARGS...]: datacheck verify of file f on n1 against its record;
# prints the tool's lines into the test log; returns its status.
verify_f()
{
	local rc=0

	"$DATACHECK" verify "${MNT_OF[n1]}/f" "$T/f.rec" "$@" \
		>"$T/verify.out" 2>&1 || rc=$?
	sed 's/^/    /' "$T/verify.out"
	return $rc
}

# owner_files NS...: node n1 writes file f (CHUNKS MiB, each chunk
# acknowledged) and then the 1 MiB file s, afresh (so that one round's
# damage does not spill into the next); the views of the cmpfs nodes NS...
# settle; f must have blocks on providers and s must be at home (a read of
# s moves nothing over the network). Records the counters that
# fault_round compares with.
owner_files()
{
	local m=${MNT_OF[n1]} rx

	rm -f "$m/f" "$m/s" "$T/f.rec"
	"$DATACHECK" write "$m/f" "$T/f.rec" -n "$CHUNKS" >/dev/null ||
		fail "writing file f"
	random_file "$T/s" 1
	cp "$T/s" "$m/s"
	wait_until "the views to settle" 30 views_settled "$@"
	verify_f --strict || fail "file f does not read back before any fault"
	rx=$(stat_of n1 net_bytes_received)
	cmp "$T/s" "$m/s" || fail "file s does not read back"
	[ "$(stat_of n1 net_bytes_received)" = "$rx" ] ||
		fail "file s is not at home on n1 (the test needs it local)"
	LRL0=$(stat_of n1 blocks_LRL)
	OURS0=$(our_blocks)
	LOST0=$(stat_of n1 blocks_lost)
	[ "$LRL0" -gt 0 ] || fail "none of file f lives on another node"
	log "file f: $LRL0 blocks on providers; file s at home"
	show_status
}

# our_blocks: the blocks n1 holds for its files, at home and on providers.
our_blocks()
{
	echo $(($(stat_of n1 blocks_LLL) + $(stat_of n1 blocks_LRL)))
}

# local_step WHAT CMD...: runs one step of a round on the home file (at most
# 5 s), and keeps the slowest step's time in STEP_MAX.
local_step()
{
	local t0=$(now_s) rc d

	timeout 5 "${@:2}"
	rc=$?
	d=$(secs_since "$t0")
	STEP_MAX=$(awk -v a="$STEP_MAX" -v b="$d" 'BEGIN { print (b > a ? b : a) }')
	return $rc
}

# local_round: read, rewrite (with fsync) and read back the home file s,
# each step within LOCAL_SLOWEST s; check_fail otherwise.
local_round()
{
	local m=${MNT_OF[n1]}

	[ -z "$LOCAL_FAILED" ] || return 0
	LOCAL_FAILED=1 # until this round succeeds: one failure is reported
	STEP_MAX=0
	local_step read cmp -s "$T/s" "$m/s" ||
		{ check_fail "$1: home file s unreadable or changed"; return; }
	random_file "$T/s.new" 1
	local_step write dd if="$T/s.new" of="$m/s" bs=1M conv=notrunc,fsync \
		status=none 2>"$T/dd.err" ||
		{ check_fail "$1: home file s not writable: $(cat "$T/dd.err")"; return; }
	mv "$T/s.new" "$T/s"
	local_step reread cmp -s "$T/s" "$m/s" ||
		{ check_fail "$1: home file s reads back wrong after a rewrite"; return; }
	awk -v d="$STEP_MAX" -v max="$LOCAL_SLOWEST" 'BEGIN { exit !(d > max) }' &&
		check_fail "$1: a step of a round on home file s took $STEP_MAX s (want <= $LOCAL_SLOWEST s)"
	LOCAL_ROUNDS=$((LOCAL_ROUNDS + 1))
	LOCAL_FAILED=
}

# fault_round WHAT SECS START_CMD END_CMD: the writer rewrites file f on
# n1 pass after pass (fsync after each chunk); START_CMD begins a fault
# that lasts SECS s, then END_CMD ends it. Checks: while the fault lasts
# n1's writes fail within seconds or succeed, never hang (SLOWEST_MS,
# FAST_AFTER) and its home file s stays readable and writable; within
# RESUME_SECS after the fault n1's writes are acknowledged again (a clean
# pass over f); every acknowledged chunk of f reads back; no log line says
# blocks were freed or forgotten; n1 lost no block and holds as many.
fault_round()
{
	local what=$1 secs=$2 start=$3 end=$4 t0 t1 tr d n f m slow lines

	writer_start w "${MNT_OF[n1]}/f" "$T/f.rec" --min-pass-ms 200
	wait_until "a clean pass of the writer before $what" 30 \
		clean_run_since "$T/w.ev" 0 "$CHUNKS"
	log_mark
	t0=$(now_s)
	eval "$start"
	log "$what: begins (for ${secs}s)"
	LOCAL_ROUNDS=0
	LOCAL_FAILED=
	while awk -v e="$(add_secs "$t0" $((secs - 2)))" -v n="$(now_s)" \
		'BEGIN { exit !(n < e) }'; do
		local_round "$what"
		sleep 0.5 # the pace of the home-file rounds, not a wait
	done
	sleep_until "$(add_secs "$t0" "$secs")"
	eval "$end"
	t1=$(now_s)
	log "$what: ended after $(secs_since "$t0" "$t1")s; $LOCAL_ROUNDS rounds on home file s"

	read -r n f m slow < <(ev_stats "$T/w.ev" "$t0" "$t1")
	log "$what: $n writes during the fault, $f failed, slowest ${m} ms, $slow slower than 1 s after the first ${FAST_AFTER}s"
	[ "$f" -gt 0 ] ||
		check_fail "$what: no write of f failed during the fault (did it reach the blocks?)"
	[ "$m" -le "$SLOWEST_MS" ] ||
		check_fail "$what: a write took ${m} ms during the fault (want EIO within $((SLOWEST_MS / 1000)) s, not a hang)"
	[ "$slow" = 0 ] ||
		check_fail "$what: $slow writes took over 1 s once the fault was ${FAST_AFTER}s old (want EIO at once)"
	[ "$n" -ge 10 ] ||
		check_fail "$what: only $n writes finished during the ${secs}s fault (slowest ${m} ms): they wait instead of failing fast"
	[ "$LOCAL_ROUNDS" -gt 0 ] || check_fail "$what: no round on home file s"

	if wait_for "writes acknowledged again after $what" \
		$((RESUME_SECS + 10)) clean_run_since "$T/w.ev" "$t1" "$CHUNKS"; then
		tr=$(clean_run_start "$T/w.ev" "$t1" "$CHUNKS")
		d=$(secs_since "$t1" "$tr")
		log "$what: writes acknowledged again ${d}s after the fault ended"
		awk -v d="$d" -v b="$RESUME_SECS" 'BEGIN { exit !(d > b) }' &&
			check_fail "$what: writes acknowledged again only ${d}s after the fault (want <= ${RESUME_SECS}s)"
	else
		read -r n f m slow < <(ev_stats "$T/w.ev" "$t1" "$(now_s)")
		check_fail "$what: no clean pass over f within $((RESUME_SECS + 10))s after the fault ended ($f of $n writes since then not acknowledged)"
	fi
	writer_stop w

	verify_f ||
		check_fail "$what: file f does not read back as acknowledged ($(tail -1 "$T/verify.out"))"
	timeout 10 cmp -s "$T/s" "${MNT_OF[n1]}/s" ||
		check_fail "$what: home file s differs after the fault"
	lines=$(log_since "$FREED_RE")
	[ -z "$lines" ] ||
		check_fail "$what: log lines say blocks were freed or forgotten: $(head -5 <<<"$lines" | paste -sd '|')"
	n=$(stat_of n1 blocks_lost)
	[ "$n" = "$LOST0" ] ||
		check_fail "$what: n1 counts $n blocks lost, $LOST0 before"
	# blocks may come home and go out again (pull-home), none may go away
	n=$(our_blocks)
	[ "$n" = "$OURS0" ] ||
		check_fail "$what: n1 holds $n blocks (at home and on providers), had $OURS0"
	log "$what: round done"
}

# link_down NS / link_up NS: pull and plug NS's cable (its veth end on the
# bridge): its packets go nowhere, its own stack notices nothing.
link_down()
{
	ip -n "$(nsname hub)" link set "${HUB_LINK_OF[$1]}" down
	defer link_up "$1"
}

link_up() { ip -n "$(nsname hub)" link set "${HUB_LINK_OF[$1]}" up; }

# ---- copies of the owner's blocks (-o replicas=2) ----

# expect WHAT GOT WANT: a check that goes on (check_fail) when they differ.
expect() { [ "$2" = "$3" ] || check_fail "$1: got '$2', want '$3'"; }

# held NS: how many blocks node NS holds for others.
held() { echo $(($(stat_of "$1" blocks_RLL))); }

# copies_whole NS...: every block the owner (REPL_OWNER, n1) keeps
# elsewhere has its two copies, and the providers NS... (default n2 n3
# n4) hold all of them.
copies_whole()
{
	local owner=${REPL_OWNER:-n1} lrl copies on=0 ns

	lrl=$(stat_of "$owner" blocks_LRL) || return 1
	copies=$(stat_of "$owner" replica_copies) || return 1
	[ "$copies" = $((2 * lrl)) ] || return 1
	[ "$(stat_of "$owner" replica_blocks_short)" = 0 ] || return 1
	[ $# -gt 0 ] || set -- n2 n3 n4
	for ns in "$@"; do
		on=$((on + $(held "$ns")))
	done
	[ "$on" = "$copies" ]
}
