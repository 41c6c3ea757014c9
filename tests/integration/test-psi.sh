#!/bin/bash
# SPDX-License-Identifier: MIT
# -o psi=PCT: a standalone mount whose psi_file is a file of ours. While it
# shows pressure at or above PCT the pool shrinks step by step (an eighth
# of local= per 5 samples) down to psi_min, and the data stays byte for
# byte; once it shows no pressure, the pool grows back to local=; a file
# that cannot be read changes nothing and is said once. What must not
# happen is checked over a number of samples the daemon says it took
# (psi_samples), not over a sleep.
TEST_TIMEOUT=90
. "$(dirname "$0")/lib.sh"
requires_root

MNT=$T/mnt
PSI=$T/psi
pressure() {
	printf 'some avg10=%s avg60=1.00 avg300=0.50 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=6\n' \
		"$1" >"$PSI.new"
	mv "$PSI.new" "$PSI"
}
local_mib() { stat_get local_blocks; }
# samples_since N K: the daemon took K samples since it had taken N
samples_since() { [ "$(stat_get psi_samples)" -ge $(($1 + $2)) ]; }
# wait_local MIB SECONDS: until the pool is MIB (1 MiB blocks)
wait_local() {
	local end=$(($(date +%s) + $2)) now
	until now=$(local_mib) && [ "$now" = "$1" ]; do
		[ "$(date +%s)" -lt "$end" ] ||
			fail "the pool is $now MiB after $2 s, want $1"
		sleep 0.1
	done
}

pressure 0.00
mount_fs "$MNT" local=64M,block=1M,psi=20,psi_min=16M,psi_file="$PSI",psi_interval=50ms
head -c $((10 << 20)) /dev/urandom >"$T/data"
cp "$T/data" "$MNT/data"

pressure 45.50
wait_local 16 30
cmp "$T/data" "$MNT/data" || fail "data changed while the pool shrank"
grep -q "memory pressure 45.5% for 5 samples (psi=20): shrinking the pool from 64.0 MiB to 56.0 MiB" \
	"$T/cmpfs-1.log" || fail "no line saying why the pool shrank"
log "pressure 45.5%: the pool shrank from 64 to 16 MiB (psi_min)"

# between PCT/2 and PCT: nothing moves over 35 samples, more than growing
# back a step needs (30), seven times a shrink (one more: a sample under
# way may have read 45.5)
pressure 15.00
n=$(stat_get psi_samples)
wait_until "35 samples at 15%" 20 samples_since "$n" 36
expect_eq "pool between PCT/2 and PCT" "$(local_mib)" 16

pressure 0.00
wait_local 64 40
cmp "$T/data" "$MNT/data" || fail "data changed while the pool grew"
log "no pressure: the pool grew back to 64 MiB"

rm "$PSI"
wait_until "the unreadable psi file to be said" 10 \
	grep -q "psi: cannot read $PSI" "$T/cmpfs-1.log"
# ten more samples: said once, not every time
n=$(stat_get psi_samples)
wait_until "ten samples without a psi file" 10 samples_since "$n" 10
expect_eq "pool without a psi file" "$(local_mib)" 64
[ "$(grep -c "psi: cannot read $PSI" "$T/cmpfs-1.log")" = 1 ] ||
	fail "an unreadable psi file is not said once"
log "an unreadable psi file: said once, nothing moves"
