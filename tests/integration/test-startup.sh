#!/bin/bash
# SPDX-License-Identifier: MIT
# What cmpfs refuses at start-up, and where its lines go (issue 13,
# defects 3, 4 and 7):
# - a pool larger than the memory that can back it, with exactly one line
#   naming the limit: more than MemAvailable (-o nolock: it used to mount
#   and show the size asked for), more than its memory cgroup's limit (it
#   used to be OOM-killed without a word), more than RLIMIT_MEMLOCK when it
#   locks memory without CAP_IPC_LOCK; a pool that fits the cgroup mounts
#   and holds data there;
# - a mount on top of a cmpfs mount (it used to stack silently), unless
#   -o stack; SIGTERM to the covered daemon then leaves both alone;
# - with -o log=FILE, a daemonized cmpfs prints nothing on the terminal once
#   it is up ("mounted", "registered" and the warnings used to go there):
#   every line is in FILE; a refused start still shows its one line on
#   the terminal (and in FILE).
TEST_TIMEOUT=120
. "$(dirname "$0")/lib.sh"
requires_root
requires setpriv prlimit awk
MANAGER=${CMP_MANAGER:-}
[ -x "$MANAGER" ] || fail "CMP_MANAGER is not set to cmp-manager"

D=$T/mnt
mkdir -p "$D"
D=$(realpath "$D")

# mounts_on DIR: how many mounts sit on DIR.
mounts_on() { awk -v d="$1" '$5 == d' /proc/self/mountinfo | wc -l; }

# refused_start WHAT CMD...: CMD (a cmpfs that must not start) exits 1
# with one line on the terminal containing WHAT, and mounts nothing.
refused_start()
{
	local what=$1 rc=0 n

	shift
	n=$(mounts_on "$D")
	timeout 30 "$@" >"$T/term" 2>&1 </dev/null || rc=$?
	if [ "$(mounts_on "$D")" != "$n" ]; then
		umount -l "$D"
		fail "$*: mounted"
	fi
	expect_eq "exit status of $* ($(cat "$T/term"))" "$rc" 1
	expect_eq "lines on the terminal of $* ($(tr '\n' '|' <"$T/term"))" \
		"$(wc -l <"$T/term")" 1
	grep -qF -- "$what" "$T/term" ||
		fail "$*: '$(cat "$T/term")' does not say '$what'"
	log "refused: $(cat "$T/term")"
}

# ---- more than MemAvailable ----
avail_gib=$(awk '$1 == "MemAvailable:" { print int($2 / 1048576) }' \
	/proc/meminfo)
big=$((avail_gib + 8))
refused_start "local=$big.0 GiB is more than this machine can back: MemAvailable (/proc/meminfo) is " \
	"$CMPFS" "$D" -o "local=${big}G,nolock,log=$T/big.log"
grep -q "error: local=$big.0 GiB is more than this machine can back" \
	"$T/big.log" || fail "the refusal is not in the log file"
# a mount(8)-style start in the foreground says the same
refused_start "so the pool can be at most" "$CMPFS" "$D" -f -o "local=${big}G"

# ---- more than the memory cgroup's limit ----
cgroup_v1_dir()
{
	local mnt path

	mnt=$(awk '$(NF - 2) == "cgroup" && $NF ~ /(^|,)memory(,|$)/ { print $5; exit }' \
		/proc/self/mountinfo)
	path=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3 }' /proc/self/cgroup)
	[ -n "$mnt" ] && [ -n "$path" ] && echo "$mnt${path%/}"
}
rmdir_cgroup()
{
	wait_for "cgroup $1 to empty" 10 test ! -s "$1/cgroup.procs"
	rmdir "$1"
}
if base=$(cgroup_v1_dir) && [ -d "$base" ]; then
	CG=$base/cmpfs-itest-$$
	mkdir "$CG"
	defer rmdir_cgroup "$CG"
	echo $((256 << 20)) >"$CG/memory.limit_in_bytes"
	in_cg=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG")
	refused_start "the memory cgroup limit $CG/memory.limit_in_bytes is 256.0 MiB, and cmpfs keeps 64.0 MiB of it free, so the pool can be at most 192.0 MiB" \
		"${in_cg[@]}" "$CMPFS" "$D" -f -o local=4G
	# What fits is taken, and holds data, inside the cgroup.
	mount_daemon cg-mount "$D" "${in_cg[@]}" "$CMPFS" "$D" -f \
		-o "local=160M,log=$T/cg-mount.log"
	grep -qx "${DAEMON_PID[cg-mount]}" "$CG/cgroup.procs" ||
		fail "the daemon is not in $CG"
	random_file "$T/data" 100
	cp "$T/data" "$D/data"
	cmp "$T/data" "$D/data" || fail "data in the cgroup's pool differs"
	rm "$D/data"
	undefer umount_fs "$D"
	log "cgroup v1 at $CG (256 MiB): 4G refused, 160M mounted and used"
else
	log "no cgroup v1 memory hierarchy: the cgroup part is not run"
fi

# ---- more than RLIMIT_MEMLOCK, without CAP_IPC_LOCK ----
refused_start "RLIMIT_MEMLOCK (ulimit -l; or -o nolock) is 4.0 MiB" \
	setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock -- \
	prlimit --memlock=$((4 << 20)) -- "$CMPFS" "$D" -f -o local=64M

# ---- on top of a cmpfs mount: refused unless -o stack ----
mount_fs "$D" local=16M
refused_start "$D is a cmpfs mount already: unmount it first, or add -o stack" \
	"$CMPFS" "$D" -o local=16M
start_daemon stacked "[ \"\$(mounts_on '$D')\" = 2 ]" \
	"$CMPFS" "$D" -f -o "local=16M,stack,log=$T/stacked.log"
grep -q "mounting on top of the cmpfs mount on $D (-o stack)" \
	"$T/stacked.log" || fail "-o stack did not say it stacks"
# SIGTERM to the covered daemon would unmount the one on top: it must not.
kill -TERM "${DAEMON_PID[cmpfs-1]}"
wait_until "the covered daemon's refusal" 10 grep -q \
	"SIGTERM: not unmounting $D, another mount covers it" "$T/cmpfs-1.log"
expect_eq "mounts on $D after SIGTERM to the covered daemon" \
	"$(mounts_on "$D")" 2
pid_alive "${DAEMON_PID[cmpfs-1]}" || fail "the covered daemon exited"
umount "$D"
stop_daemon stacked
expect_eq "mounts on $D after umount" "$(mounts_on "$D")" 1
umount_fs "$D"
log "stacking: refused, then -o stack; SIGTERM to the covered daemon ignored"

# ---- log=FILE: nothing on the terminal after the start ----
start_service manager "grep -q 'listening on tcp:' '$T/manager.log'" \
	"$MANAGER" --listen tcp://127.0.0.1:0 --insecure -f
maddr=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$T/manager.log" |
	head -n 1)
rc=0
"$CMPFS" "$D" -o "local=16M,manager=$maddr,listen=tcp://127.0.0.1:0,insecure,log=$T/daemon.log" \
	>"$T/term" 2>&1 </dev/null || rc=$?
expect_eq "exit status of the daemonizing cmpfs ($(cat "$T/term"))" "$rc" 0
adopt_mount "$D" "$T/daemon.log"
daemon=cmpfs-$DAEMON_SEQ
[ ! -s "$T/term" ] ||
	fail "the terminal got lines with log=FILE: $(cat "$T/term")"
grep -q "info: node .* registered with the manager at $maddr" \
	"$T/daemon.log" || fail "no 'registered' line in the log file"
grep -q "info: mounted $D: pool 16.0 MiB" "$T/daemon.log" ||
	fail "no 'mounted' line in the log file"
echo hello >"$D/f"
kill -HUP "${DAEMON_PID[$daemon]}"
wait_until "the SIGHUP line in the log file" 10 grep -q \
	"SIGHUP: no key file to reload" "$T/daemon.log"
[ ! -s "$T/term" ] || fail "the terminal got lines later: $(cat "$T/term")"
undefer umount_fs "$D"
log "log=FILE: $(wc -l <"$T/daemon.log") lines in the file, none on the terminal"
