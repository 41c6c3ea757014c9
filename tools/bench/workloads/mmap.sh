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
WL_PROFILE[mmap]="rewrite:cmpfs"

# stopped PID: wait (up to 10 min) until PID has stopped itself; false if
# it exits or does not stop. Builtins only: it polls inside the profile.
stopped() {
	local st i
	for ((i = 0; i < 12000; i++)); do
		read -r st <"/proc/$1/stat" 2>/dev/null || return 1
		st=${st##*) }
		st=${st%% *}
		[[ $st == T ]] && return 0
		[[ $st == Z ]] && return 1
		nap 0.05
	done
	return 1
}

# mmap_tp SYSTEM FILE: mmap-tp's line in $WORK/mmap.out. The profile pass
# has it stop around the rewrite, which prof_begin ... prof_end wraps.
mmap_tp() {
	local out=$WORK/mmap.out rc
	if ((!PROFILING)) || ! prof_wanted mmap-rewrite; then
		runbg "$BIN/mmap-tp" "$2" "$MMAP_MB" >"$out" 2>>"$LOG"
		return
	fi
	"$BIN/mmap-tp" "$2" "$MMAP_MB" rewrite >"$out" 2>>"$LOG" &
	CHILD=$!
	stopped "$CHILD" && prof_begin rewrite "$1" mmap-tp
	kill -CONT "$CHILD" 2>/dev/null
	stopped "$CHILD"
	prof_end
	kill -CONT "$CHILD" 2>/dev/null
	wait "$CHILD"
	rc=$?
	CHILD=""
	return $rc
}

mmap_run() {
	local s=$1 f line kv k v
	f=${MNT[$s]}/mmap.dat
	rm -f "$f"
	logc "mmap-tp $f $MMAP_MB"
	if mmap_tp "$s" "$f" && line=$(cat "$WORK/mmap.out"); then
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
