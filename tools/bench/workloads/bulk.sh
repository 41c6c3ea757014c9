# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154
# (the WL_ tables are declared in lib.sh and read by run.sh)
#
# Workload 1, bulk staging: dd bs=1M write (conv=fsync) and read
# (iflag=direct after dropping the file's page cache) of a large file, cp
# of it in (+ sync) and out. Source: random data on a tmpfs.

BULK_MB=$(sized 8 2048) # smoke: still twice the cluster node A's pool
peer_room "$BULK_MB"
WL_SIZES[bulk]="bulk ${BULK_MB} MiB"
# smoke: the systems that no other workload's smoke runs on, and nbdfuse
# (its fixed-size disk is written in place)
WL_NEEDS[bulk]=$(sized "cmpfs-memsrv nbdfuse sshfs" \
	"cmpfs cmpfs-remote cmpfs-memsrv tmpfs fusefloor nbdfuse sshfs")

# BULK_SRC: BULK_MB MiB of the source data (all of it at full size).
BULK_SRC=""
bulk_prepare() {
	source_data
	BULK_SRC=$SRC
	((PEER_MB == BULK_MB)) && return 0
	BULK_SRC=$WORK/src/bulk.dat
	head -c "$((BULK_MB << 20))" "$SRC" >"$BULK_SRC" || exit 1
}

# The file a system stages into: nbdfuse serves one fixed-size file, which
# is written in place.
bulk_file() {
	if [[ $1 == nbdfuse ]]; then echo "${MNT[$1]}/disk"; else echo "${MNT[$1]}/bulk.dat"; fi
}

bulk_run() {
	local s=$1 f out=$WORK/src/out.dat bytes=$((BULK_MB << 20)) extra=""
	f=$(bulk_file "$s")
	[[ $s == nbdfuse ]] && extra=",notrunc" || rm -f "$f"
	if timed dd if="$BULK_SRC" of="$f" bs=1M count="$BULK_MB" conv=fsync$extra; then
		record "$s" dd_write "$(mbps $bytes $ELAPSED_NS)" MB/s
	else fail "$s" dd_write MB/s "dd write failed"; fi
	drop_file_cache "$f"
	if timed dd if="$f" of=/dev/null bs=1M count="$BULK_MB" iflag=direct ||
		{ drop_file_cache "$f"; timed dd if="$f" of=/dev/null bs=1M count="$BULK_MB"; }; then
		record "$s" dd_read "$(mbps $bytes $ELAPSED_NS)" MB/s
	else fail "$s" dd_read MB/s "dd read failed"; fi
	[[ $s == nbdfuse ]] || rm -f "$f"
	if timed bash -c 'cp "$1" "$2" && sync "$2"' _ "$BULK_SRC" "$f"; then
		record "$s" cp_in "$(mbps $bytes $ELAPSED_NS)" MB/s
	else fail "$s" cp_in MB/s "cp in failed"; fi
	drop_file_cache "$f"
	rm -f "$out"
	# nbdfuse's disk may be larger than the bulk file (in a smoke run)
	[[ $s != nbdfuse ]] || bytes=$(stat -c %s "$f")
	if timed cp "$f" "$out"; then
		record "$s" cp_out "$(mbps $bytes $ELAPSED_NS)" MB/s
		[[ $(stat -c %s "$out") == "$bytes" ]] || fail "$s" cp_out MB/s "copied size differs"
	else fail "$s" cp_out MB/s "cp out failed"; fi
	rm -f "$out"
	[[ $s == nbdfuse ]] || rm -f "$f"
}
