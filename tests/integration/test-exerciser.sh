#!/bin/bash
# SPDX-License-Identifier: MIT
# Random operations compared with a tmpfs reference (see exerciser.c):
# fixed seeds on a 4 KiB-block and a 1 MiB-block mount, then no block may
# be left allocated once the files are gone. First a self-test: a reference
# corrupted on purpose must make the exerciser fail and name the seed.
# More seeds: CMPFS_ITEST_SEEDS="1 2 3 ..." CMPFS_ITEST_OPS=20000.
TEST_TIMEOUT=200
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr

EXERCISER=$(helper exerciser)
kill_all() { kill "$@" 2>/dev/null || true; }
SEEDS=${CMPFS_ITEST_SEEDS:-"1 2"}
OPS=${CMPFS_ITEST_OPS:-3000}
MAXSIZE=$((24 << 20))
REF=$(mktemp -d /dev/shm/cmpfs-itest.XXXXXX)
defer rm -rf "$REF"

for bs in 4K 1M; do
	MNT=$T/mnt-$bs
	mount_fs "$MNT" "local=256M,block=$bs"
	bsz=$(stat_get block_size)
	free0=$(stat_get blocks_free)

	if [ "$bs" = 4K ]; then
		out=$(EXERCISER_CORRUPT_AT=300 "$EXERCISER" "$MNT" "$REF" 99 \
			1000 "$MAXSIZE" "$bsz" 2>&1) &&
			fail "self-test: a corrupted reference went unnoticed"
		grep -q 'FAILED with seed 99' <<<"$out" ||
			fail "self-test: no seed in the failure report: $out"
		log "self-test: an injected difference is caught"
	fi
	# The seeds run at the same time, each in its own directory: the
	# daemon's threads then share the pool (the run of each seed stays a
	# function of the seed alone).
	pids=()
	for seed in $SEEDS; do
		mkdir "$MNT/s$seed" "$REF/s$seed"
		"$EXERCISER" "$MNT/s$seed" "$REF/s$seed" "$seed" "$OPS" \
			"$MAXSIZE" "$bsz" &
		pids+=($!)
	done
	defer kill_all "${pids[@]}"
	i=0
	for seed in $SEEDS; do
		wait "${pids[i]}" ||
			fail "exerciser seed $seed on block=$bs (replay: $EXERCISER DIR REFDIR $seed $OPS $MAXSIZE $bsz)"
		log "block=$bs seed $seed: $OPS operations match the reference"
		i=$((i + 1))
	done
	undefer kill_all "${pids[@]}"
	rm -rf "${MNT:?}"/* "${REF:?}"/*
	wait_for "block=$bs: all blocks back" 10 \
		test "$(stat_get blocks_free)" = "$free0" ||
		fail "block=$bs: blocks_free is $(stat_get blocks_free) after rm, want $free0 (leak)"
	undefer umount_fs "$MNT"
done
