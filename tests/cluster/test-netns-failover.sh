#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Two managers (issue 14), each node in its own network namespace: mgr1
# (rank 0) and mgr2 (rank 1) with their defaults (heartbeat 1 s, suspect
# after 3, takeover after 2 s); owner n1 (4 MiB of its own) rewrites file
# f and reads file r, most of both on provider n2, all the while. The
# cluster is full before the first fault (n2 lent all it has; n3 keeps its
# memory for itself), so that n1 can borrow only from a provider the
# manager tells it of.
#
# 1. mgr1 is killed with SIGKILL, and n3 right after it (a death while
#    nobody is active), and memserver ms starts: mgr2 takes over, the
#    nodes and ms register with it, n1 borrows again (from ms, which only
#    the new manager knows) within 5 s, and n3 is announced suspect.
# 2. mgr1 comes back: both are active for a moment, then mgr2 steps down
#    and every node registers with mgr1 again.
# 3. mgr1 is cut off from mgr2 and n2 for 15 s: both managers are active
#    at once, with n2 registered at mgr2 and the others at mgr1, each
#    announcing the other side suspect; then the cut heals and mgr2
#    steps down.
#
# Throughout: the writer's and the reader's every request succeeds, every
# acknowledged byte reads back, no node loses or frees a block or hears
# that another one left, and the times are printed. MGR_ROUNDS=N repeats
# step 1 and 2 N times (default 1) for more failover times.
TEST_TIMEOUT=240
# n1 fills the cluster on purpose, and its writes of new data fail with
# ENOSPC until a provider with room is known.
ALLOWED_ERRORS='write of inode [0-9]+ at [0-9]+: No space left on device'
CHUNKS=8
. "$(dirname "$0")/lib-faults.sh"
requires nft

ROUNDS=${MGR_ROUNDS:-1}
RESUME_LIMIT=5 # s from the kill until n1 borrows again
M1=tcp://10.77.0.1:$MGR_PORT
M2=tcp://10.77.0.2:$MGR_PORT
mgr_url() { echo "$M1,$M2"; } # lib-netns.sh gives every daemon the list

netns_add mgr 10.77.0.1
netns_add mgr2 10.77.0.2
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12
netns_add n3 10.77.0.13
netns_add ms 10.77.0.21

# start_mgr NAME NS: a manager of the list, in namespace NS.
start_mgr()
{
	start_service "$1" true nsenter --net="/run/netns/$(nsname "$2")" -- \
		"$MANAGER" --listen "tcp://${IP_OF[$2]}:$MGR_PORT" \
		--managers "$(mgr_url)" "${KEY_ARGS[@]}" -f
}

# roles: "ROLE1 ROLE2" as cmpctl status shows them (from n2's namespace);
# fails when no manager is active. A manager not answering is "down".
roles()
{
	in_ns n2 "$CMPCTL" status --manager "$(mgr_url)" "${KEY_ARGS[@]}" \
		--json 2>/dev/null |
		jq -r '[.managers[] | .role // "down"] | join(" ")'
}

roles_are() { [ "$(roles)" = "$*" ]; }

# registered_at ADDR ID...: the active manager is ADDR and each node ID
# answered its snapshot (only a node registered there does).
registered_at()
{
	local js id addr=$1

	shift
	js=$(status_json n2) || return 1
	[ "$(jq -r .manager <<<"$js")" = "$addr" ] || return 1
	for id in "$@"; do
		[ "$(jq ".nodes[] | select(.id == $id) | .fresh" <<<"$js")" = true ] ||
			return 1
	done
}

# n1 writes 1 MiB of new data to file FILE (fsync): it needs new blocks.
write_new()
{
	timeout 10 dd if="$T/chunk" of="${MNT_OF[n1]}/$1" bs=1M count=1 \
		conv=fsync status=none 2>/dev/null
}

# ---- the cluster ----
MGR1=mgr1 # the daemon name of mgr1's current run
start_mgr mgr1 mgr
wait_until "mgr1 active" 20 roles_are active down
start_mgr mgr2 mgr2
wait_until "mgr2 a standby" 20 roles_are active standby
ID_OF=([n1]=11 [n2]=12)
start_node n2 12 local=16M
# noexchange: n1 reads r over and over, and the exchange would bring its
# hot blocks home and send cold ones on (to the memserver, n2 being full),
# so n2's count of blocks held for n1 would fall without anything lost;
# this test checks that no manager's word makes n2 free any of them.
start_node n1 11 local=4M,noexchange
start_node n3 13 local=2M
for id in 11 12 13; do
	wait_until "node $id alive" 20 node_alive "$id"
done
m=${MNT_OF[n1]}

# n3 keeps its memory for itself: it lends nothing, holds nothing of n1's
head -c 2M /dev/urandom >"${MNT_OF[n3]}/own"
wait_until "n3 to have no free block" 10 \
	test "$(stat_of n3 blocks_free)" = 0

# f (8 MiB, rewritten) and r (4 MiB, read), most of both on n2
"$DATACHECK" write "$m/f" "$T/f.rec" -n "$CHUNKS" >/dev/null || fail "writing f"
"$DATACHECK" write "$m/r" "$T/r.rec" -n 4 >/dev/null || fail "writing r"
# then new data until the cluster is full: n1 and n2 have no free block
i=0
head -c 1M /dev/urandom >"$T/chunk"
while write_new "fill$i"; do
	i=$((i + 1))
	[ "$i" -lt 64 ] || fail "the cluster is not full after 64 MiB"
done
log "the cluster is full after $i MiB more"
wait_until "the views to settle" 30 views_settled n1 n2
[ "$(stat_of n2 blocks_free)" = 0 ] || fail "n2 still has free blocks"
LRL0=$(stat_of n1 blocks_LRL)
RLL0=$(stat_of n2 blocks_RLL)
OURS0=$(our_blocks)
log "n1 has $LRL0 blocks on n2"
show_status

# The workload, until the end: f rewritten (fsync after each chunk), r read.
writer_start w "$m/f" "$T/f.rec" --min-pass-ms 200
bg_start reader "$DATACHECK" verify "$m/r" "$T/r.rec" --until "$T/reader.stop"
wait_until "a clean pass of the writer" 30 clean_run_since "$T/w.ev" 0 "$CHUNKS"

# ev_failed SINCE: the writer's writes since SINCE that failed.
ev_failed() { read -r _ f _ _ < <(ev_stats "$T/w.ev" "$1" "$(now_s)"); echo "$f"; }

# nothing_lost WHEN: every check of data and loans, after step WHEN.
nothing_lost()
{
	local f

	f=$(ev_failed "$T0")
	[ "$f" = 0 ] || check_fail "$1: $f writes of f failed"
	pid_alive "${BG_PID[reader]}" ||
		check_fail "$1: the reader stopped: $(tail -2 "$T/reader.out")"
	[ "$(stat_of n1 blocks_lost)" = 0 ] || check_fail "$1: n1 lost blocks"
	[ "$(our_blocks)" -ge "$OURS0" ] ||
		check_fail "$1: n1 holds $(our_blocks) blocks, had $OURS0"
	[ "$(stat_of n2 blocks_RLL)" -ge "$RLL0" ] ||
		check_fail "$1: n2 holds $(stat_of n2 blocks_RLL) blocks for others, had $RLL0"
	# (a manager's first line names its --forget-after)
	lines=$(log_since "$FREED_RE|left the cluster" |
		grep -v ': info: cmp-manager .* listening on ' || true)
	[ -z "$lines" ] ||
		check_fail "$1: $(head -3 <<<"$lines" | paste -sd '|')"
}

T0=$(now_s)
log_mark
RESULTS=()

# ---- 1. the active manager killed, and a node with it ----
# fail_over R: step 1 of round R; mgr1 is active, mgr2 holds a copy.
fail_over()
{
	local r=$1 t0 d_active d_borrow d_reg d_sus ms_ids

	wait_until "mgr2's copy of the list" 20 test "$(in_ns n2 "$CMPCTL" \
		status --manager "$(mgr_url)" "${KEY_ARGS[@]}" --json |
		jq '.managers[1].copied')" -ge 3
	t0=$(now_s)
	kill_daemon "$MGR1"
	[ "$r" != 1 ] || kill_daemon n3
	[ "$r" != 1 ] || start_service ms true \
		nsenter --net="/run/netns/$(nsname ms)" -- "$MEMSERVER" \
		--manager "$(mgr_url)" --listen "tcp://${IP_OF[ms]}:7100" \
		"${KEY_ARGS[@]}" --ram 32M --block "$BS" --node-id 21 -f
	wait_until "mgr2 to take over" 15 roles_are down active
	d_active=$(secs_since "$t0")
	wait_until "n1 to borrow again" 15 write_new "new$r"
	d_borrow=$(secs_since "$t0")
	wait_until "the nodes to register with mgr2" 15 \
		registered_at "$M2" 11 12 21
	d_reg=$(secs_since "$t0")
	log "round $r: mgr2 active after ${d_active}s; n1 borrowed again after ${d_borrow}s; n1, n2, ms registered with mgr2 after ${d_reg}s"
	awk -v d="$d_borrow" -v b="$RESUME_LIMIT" 'BEGIN { exit !(d > b) }' &&
		check_fail "round $r: n1 borrowed again only ${d_borrow}s after mgr1 was killed (want <= ${RESUME_LIMIT}s)"
	RESULTS+=("round $r: active ${d_active}s, borrow ${d_borrow}s, registered ${d_reg}s")
	[ "$r" = 1 ] || return 0
	# n3 died while nobody was active: mgr2 still says so
	wait_until "n3 announced suspect" 30 \
		grep -q "the manager finds node 13 suspect" "$T/n1.log"
	d_sus=$(secs_since "$t0")
	node_in_state 13 suspect || check_fail "the manager does not show n3 as suspect"
	grep -q "node 13 suspect: it did not register after the switch" \
		"$T/mgr2.log" || check_fail "mgr2 does not say why n3 is suspect"
	grep -q "the manager finds node 13 suspect" "$T/n2.log" ||
		check_fail "n2 did not hear that n3 is suspect"
	log "n3, killed during the switch, announced suspect after ${d_sus}s"
	RESULTS+=("n3 (killed during the switch) announced suspect after ${d_sus}s")
}

# ---- 2. mgr1 comes back: both active for a moment ----
come_back()
{
	local r=$1 t0 d

	t0=$(now_s)
	MGR1=mgr1-$r
	start_mgr "$MGR1" mgr
	wait_until "mgr1 active and mgr2 a standby again" 20 \
		roles_are active standby
	wait_until "the nodes back with mgr1" 20 registered_at "$M1" 11 12 21
	d=$(secs_since "$t0")
	grep -q "standby now: $M1 (rank 0) answers" "$T/mgr2.log" ||
		check_fail "round $r: mgr2 does not say it stepped down"
	write_new "back$r" || check_fail "round $r: n1 cannot borrow after mgr1 came back"
	log "round $r: mgr1 back and every node registered with it after ${d}s"
	RESULTS+=("round $r: nodes back with the restarted mgr1 after ${d}s")
	nothing_lost "after mgr1 came back (round $r)"
}

for r in $(seq 1 "$ROUNDS"); do
	fail_over "$r"
	nothing_lost "after mgr1 was killed (round $r)"
	come_back "$r"
done

# ---- 3. mgr1 cut off from mgr2 and n2: both active, nodes split ----
in_ns mgr nft -f - <<EOF
table inet cmpcut {
	chain in { type filter hook input priority 0; ip saddr { 10.77.0.2, 10.77.0.12 } drop; }
	chain out { type filter hook output priority 0; ip daddr { 10.77.0.2, 10.77.0.12 } drop; }
}
EOF
defer in_ns mgr nft delete table inet cmpcut
t0=$(now_s)
log "mgr1 cut off from mgr2 and n2"
# from n1's side both are active, and n2 went to mgr2
both_active()
{
	[ "$(in_ns n1 "$CMPCTL" status --manager "$(mgr_url)" \
		"${KEY_ARGS[@]}" --json 2>/dev/null |
		jq -r '[.managers[] | .role // "down"] | join(" ")')" = \
		"active active" ]
}
wait_until "both managers active" 20 both_active
wait_until "n2 registered with mgr2" 20 \
	grep -q "registered with the manager at $M2" "$T/n2.log"
d=$(secs_since "$t0")
log "both active; n2 with mgr2 after ${d}s"
wait_until "n1 to hear that n2 is suspect (from mgr1)" 20 \
	grep -q "the manager finds node 12 suspect" "$T/n1.log"
wait_until "n2 to hear that n1 is suspect (from mgr2)" 20 \
	grep -q "the manager finds node 11 suspect" "$T/n2.log"
write_new split || check_fail "n1 cannot borrow while the managers are split"
sleep_until "$(add_secs "$t0" 15)" # the cut lasts 15 s, whatever happened
undefer in_ns mgr nft delete table inet cmpcut
t0=$(now_s)
wait_until "mgr2 to step down after the cut" 20 roles_are active standby
wait_until "every node back with mgr1" 20 registered_at "$M1" 11 12 21
d=$(secs_since "$t0")
log "the cut healed: every node with mgr1 after ${d}s"
RESULTS+=("both active for 15 s (cut): every node with mgr1 ${d}s after it healed")
for id in 11 12 21; do
	node_alive "$id" || check_fail "node $id not alive after the cut"
done
nothing_lost "after both managers were active"

# ---- the end: stop the workload, check every byte ----
writer_stop w
touch "$T/reader.stop"
rc=0
bg_wait reader 60 || rc=$?
[ "$rc" = 0 ] || check_fail "the reader found r wrong or unreadable (status $rc): $(tail -3 "$T/reader.out")"
log "the reader: $(grep -c '^round' "$T/reader.out" || true) rounds over r"
verify_f --strict ||
	check_fail "file f does not read back as acknowledged ($(tail -1 "$T/verify.out"))"
"$DATACHECK" verify "$m/r" "$T/r.rec" --strict >/dev/null ||
	check_fail "file r does not read back"
read -r n f _ _ < <(ev_stats "$T/w.ev" "$T0" "$(now_s)")
log "the writer: $n writes of f since the first fault, $f failed"
[ "$f" = 0 ] || check_fail "$f writes of f failed"
show_status
for line in "${RESULTS[@]}"; do
	log "$line"
done
checks_done
