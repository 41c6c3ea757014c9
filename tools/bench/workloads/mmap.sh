# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154
# (the WL_ tables are declared in lib.sh and read by run.sh)
#
# Workload 5, mmap as memory: mmap-tp.c's first touch (memset + msync),
# rewrite and read (after dropping the pages) of a MAP_SHARED mapping.
# fusefloor cannot map files (direct_io), so cmpfs against tmpfs only.

MMAP_MB=$(sized 8 1024)
peer_room "$MMAP_MB"
WL_SIZES[mmap]="mmap ${MMAP_MB} MiB"
WL_NEEDS[mmap]="cmpfs cmpfs-remote cmpfs-memsrv tmpfs"

mmap_run() {
	local s=$1 f line kv k v
	f=${MNT[$s]}/mmap.dat
	rm -f "$f"
	logc "mmap-tp $f $MMAP_MB"
	if line=$("$BIN/mmap-tp" "$f" "$MMAP_MB" 2>>"$LOG"); then
		echo "$line" >>"$LOG"
		for kv in $line; do
			k=${kv%%=*} v=${kv#*=}
			record "$s" "mmap_${k%_MBps}" "$v" MB/s
		done
	else
		fail "$s" mmap_first_touch MB/s "mmap-tp failed"
	fi
	rm -f "$f"
}
