#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A memserver that restarts keeps its loans (issue 11), each daemon in its
# own network namespace. Node n1 (2 MiB of its own) writes file f (8 MiB,
# every chunk acknowledged: datacheck), so that most of it lives on the
# memserver, backed by $T/store with its index $T/store.idx. Then:
#  - the memserver is killed (SIGKILL) and started again on the same
#    store, without --node-id: it says "kept N loans of 1 owners", n1
#    reconciles with it as the same provider (its reads meanwhile may get
#    EIO, never wrong bytes), f reads back byte for byte, n1 lost nothing,
#    and n1 writes file g (more loans there) and reads both back;
#  - it is stopped cleanly (SIGTERM): with loans kept it does not leave
#    the cluster (the manager shows it suspect, n1 loses nothing), and
#    after the next start f and g read back again;
#  - its index damaged (one byte of the header): the memserver refuses to
#    start with one line that says what is wrong and what to do, and
#    leaves the index alone; the index put back, it keeps its loans again.
# At the end n1 unmounts (goodbye: the memserver frees its loans) and the
# memserver, holding nothing, leaves the cluster on SIGTERM.
TEST_TIMEOUT=${TEST_TIMEOUT:-170}
# n1's reads (the pokes below) while the memserver is away or reconnecting
ALLOWED_ERRORS='read of inode [0-9]+ at 0: Input/output error|cluster: reading block [0-9]+ \(epoch [0-9]+\) on node 21: Input/output error'
. "$(dirname "$0")/lib-netns.sh"

DATACHECK=$(helper datacheck)
MS_ID=21
MS_SIZE=16M

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add ms 10.77.0.21
expect() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# start_kept_ms [ARGS...]: the memserver on $T/store, a new daemon (and
# log) each time: ms1, ms2, ...; ready when it serves and is alive.
MS_RUN=0
start_kept_ms()
{
	MS_RUN=$((MS_RUN + 1))
	MS=ms$MS_RUN
	start_service "$MS" \
		"grep -q ' serving ' '$T/$MS.log' && node_alive $MS_ID" \
		nsenter --net="/run/netns/$(nsname ms)" -- "$MEMSERVER" \
		--manager "$(mgr_url)" --listen "tcp://${IP_OF[ms]}:7100" \
		"${KEY_ARGS[@]}" --store "$T/store" --size "$MS_SIZE" \
		--block "$BS" "$@" -f
	log "memserver $MS up: $(grep -o 'kept .*' "$T/$MS.log" || echo 'a new store')"
}

start_manager
ID_OF=([n1]=11)
start_kept_ms --node-id "$MS_ID"
start_node n1 11 local=2M
wait_until "n1 alive at the manager" 20 node_alive 11
m=${MNT_OF[n1]}

"$DATACHECK" write "$m/f" "$T/f.rec" -n 8 --sync end >/dev/null ||
	fail "writing f"
wait_until "the views to settle" 30 views_settled n1
lrl=$(stat_of n1 blocks_LRL)
[ "$lrl" -ge 90 ] || fail "f should live on the memserver: n1 has LRL $lrl"
[ -s "$T/store.idx" ] || fail "no index beside the store"
log "f (8 MiB in $BS blocks): $lrl blocks on the memserver"

# verify FILE...: each reads back exactly as acknowledged; nothing lost.
verify()
{
	local f

	for f in "$@"; do
		"$DATACHECK" verify "$m/$f" "$T/$f.rec" --strict \
			>"$T/verify.out" 2>&1 ||
			fail "$f does not read back: $(tail -3 "$T/verify.out")"
	done
	expect "n1 blocks lost" "$(stat_of n1 blocks_lost)" 0
}

# reconciled_by LOG: n1 touches f's first block (a read that may fail
# while it finds the memserver back) until memserver LOG shows that n1
# reconciled with it, freeing nothing.
reconciled_by()
{
	dd if="$m/f" of=/dev/null bs=64K count=1 status=none \
		2>/dev/null
	grep -q "peer: owner node 11 reconciled: it holds [0-9]* blocks here; 0 it no longer claimed were freed" "$1"
}

# back_again WANT: the memserver just started kept WANT loans of n1's;
# n1 finds them, and the views agree.
back_again()
{
	grep -q "kept $1 loans of 1 owners from $T/store" "$T/$MS.log" ||
		fail "$MS did not keep $1 loans: $(grep -E 'kept|store' "$T/$MS.log")"
	wait_until "n1 to reconcile with $MS" 40 reconciled_by "$T/$MS.log"
	grep -q "owner node 11 reconciled: it holds $1 blocks here" \
		"$T/$MS.log" || fail "$MS: $(grep reconciled "$T/$MS.log")"
	! grep -q "node $MS_ID restarted" "$T/n1.log" ||
		fail "n1 took the memserver for a new one"
	wait_until "the views to settle" 30 views_settled n1
}

# ---- killed and started again on its store ----
kill_daemon ms1
wait_until "the manager to find the memserver suspect" 10 \
	node_in_state "$MS_ID" suspect
t0=$(date +%s%N)
start_kept_ms
log "restart to serving: $((($(date +%s%N) - t0) / 1000000)) ms"
back_again "$lrl"
verify f
expect "n1 LRL after the restart" "$(stat_of n1 blocks_LRL)" "$lrl"
log "after SIGKILL and a restart: f reads back, nothing lost"
"$DATACHECK" write "$m/g" "$T/g.rec" -n 4 --sync end >/dev/null ||
	fail "writing g after the restart"
wait_until "the views to settle" 30 views_settled n1
verify f g
lrl=$(stat_of n1 blocks_LRL)
log "g written: $lrl blocks on the memserver"

# ---- a clean stop keeps the loans and does not leave ----
stop_daemon "$MS"
grep -q "keeping $lrl loans in $T/store for the next start: not leaving the cluster" \
	"$T/$MS.log" || fail "clean stop: $(tail -2 "$T/$MS.log")"
wait_until "the manager to find the memserver suspect" 10 \
	node_in_state "$MS_ID" suspect
! grep -q "node $MS_ID left the cluster" "$T/n1.log" ||
	fail "n1 was told the memserver left"
start_kept_ms
back_again "$lrl"
verify f g
log "after SIGTERM and a restart: f and g read back, nothing lost"

# ---- a damaged index: refused with one line, left alone ----
kill_daemon "$MS"
cp "$T/store.idx" "$T/store.idx.good"
printf '\x5a' | dd of="$T/store.idx" bs=1 seek=40 conv=notrunc status=none
cmp -s "$T/store.idx" "$T/store.idx.good" && fail "the damage did not land"
cp "$T/store.idx" "$T/store.idx.bad"
rc=0
nsenter --net="/run/netns/$(nsname ms)" -- timeout 30 "$MEMSERVER" \
	--manager "$(mgr_url)" --listen "tcp://${IP_OF[ms]}:7100" \
	"${KEY_ARGS[@]}" --store "$T/store" --size "$MS_SIZE" --block "$BS" \
	-f >"$T/refused.log" 2>&1 || rc=$?
expect "exit status with a damaged index" "$rc" 1
grep -E "error:" "$T/refused.log" >"$T/refused.err" || true
expect "error lines" "$(wc -l <"$T/refused.err")" 1
grep -q "error: store: $T/store.idx: its header is damaged (checksum); not starting (--fresh starts empty and drops the loans it keeps)$" \
	"$T/refused.err" || fail "refusal: $(cat "$T/refused.log")"
cmp -s "$T/store.idx" "$T/store.idx.bad" ||
	fail "the refused start changed the index"
log "damaged index refused: $(sed 's/.*error: //' "$T/refused.err")"
cp "$T/store.idx.good" "$T/store.idx"
start_kept_ms
back_again "$lrl"
verify f g

# ---- n1 leaves: its loans end; the memserver then leaves too ----
umount_node n1
wait_until "the memserver to free n1's loans" 20 \
	grep -q "peer: owner node 11 left: its $lrl blocks here are freed" \
	"$T/$MS.log"
stop_daemon "$MS"
grep -q "node $MS_ID left the cluster" "$T/$MS.log" ||
	fail "an empty memserver should leave: $(tail -2 "$T/$MS.log")"
wait_until "the manager to show the memserver as left" 10 \
	node_in_state "$MS_ID" left
show_status
