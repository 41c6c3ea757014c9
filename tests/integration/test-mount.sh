#!/bin/bash
# SPDX-License-Identifier: MIT
# Mounting the way users do: `mount -t fuse.cmpfs none DIR -o local=64M`
# (mount.fuse3 runs /usr/local/bin/cmpfs, which daemonizes), an fstab line
# through `mount -T FSTAB DIR`; bad options (-o local=abc, -o block=3000,
# -o bogus, ...) exit non-zero with exactly one clear error line and mount
# nothing; --help and --version exit 0 and say what they should.
#
# mount.fuse3 runs the daemon through /bin/sh with no PATH, so the build's
# cmpfs must be first in sh's default PATH (/usr/local/sbin:/usr/local/bin:
# ...): the test links /usr/local/bin/cmpfs to it when that name is free,
# else /usr/local/sbin/cmpfs (which comes first) when that is free, and
# removes only the link it made. When neither is possible the mount-helper
# part is skipped (exit 77).
TEST_TIMEOUT=90
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr mount umount

# remove_our_link PATH: remove PATH if it still is the link we made.
remove_our_link()
{
	if [ -L "$1" ] && [ "$(readlink "$1")" = "$CMPFS" ]; then
		rm -f "$1"
	fi
}

# What mount.fuse3's "/bin/sh -c 'cmpfs' ..." (no PATH) would run.
helper_cmpfs() { env -i /bin/sh -c 'command -v cmpfs' || true; }

# Make the build's cmpfs the one mount.fuse3 runs, or skip.
install_for_helper()
{
	local dir p

	for dir in /usr/local/bin /usr/local/sbin; do
		p=$dir/cmpfs
		if [ -e "$p" ] || [ -L "$p" ]; then
			[ "$p" -ef "$CMPFS" ] && return 0
			continue
		fi
		ln -s "$CMPFS" "$p"
		defer remove_our_link "$p"
		[ "$(helper_cmpfs)" = "$p" ] ||
			fail "made $p, but sh finds '$(helper_cmpfs)'"
		log "linked $p -> $CMPFS for mount.fuse3"
		return 0
	done
	skip "/usr/local/{s,}bin/cmpfs are other builds: mount helper part not run"
}

# ---- bad options: exit status 2, one line, nothing mounted ----
# (test-options.sh checks each message word for word.)
D=$T/bad
mkdir -p "$D"
for opt in local=abc local=0 local=1K block=3000 block=8M block=1K \
	bogus node=x max_threads=x; do
	key=${opt##*,}
	key=${key%%=*}
	rc=0
	timeout 10 "$CMPFS" "$D" -f -o "$opt" >"$T/out" 2>"$T/err" || rc=$?
	if is_mounted "$D"; then
		umount -l "$D"
		fail "-o $opt mounted"
	fi
	expect_eq "exit status of -o $opt" "$rc" 2
	[ ! -s "$T/out" ] || fail "-o $opt printed to stdout: $(cat "$T/out")"
	expect_eq "number of error lines for -o $opt ($(tr '\n' '|' <"$T/err"))" \
		"$(wc -l <"$T/err")" 1
	grep -qF "cmpfs: option $key: " "$T/err" ||
		fail "-o $opt: the error does not name the option: $(cat "$T/err")"
	log "-o $opt: exit $rc, '$(cat "$T/err")'"
done
rc=0
"$CMPFS" 2>"$T/err" || rc=$?
expect_eq "exit status without a mount point" "$rc" 2
expect_eq "error lines without a mount point" "$(wc -l <"$T/err")" 1

# ---- --help and --version ----
"$CMPFS" --help >"$T/help" || fail "--help exited non-zero"
for word in local= block= notune_bdi nolock log= Usage: allow_other; do
	grep -qF -- "$word" "$T/help" || fail "--help does not mention $word"
done
"$CMPFS" --version >"$T/version" || fail "--version exited non-zero"
grep -Eq '^cmpfs [0-9]+\.[0-9]+' "$T/version" ||
	fail "--version: $(cat "$T/version")"
log "--help and --version: ok ($(head -n 1 "$T/version"))"

# ---- mount -t fuse.cmpfs through mount.fuse3 ----
requires mount.fuse3
install_for_helper

D1=$T/helper
mkdir -p "$D1"
mount -t fuse.cmpfs none "$D1" -o "local=64M,log=$T/helper.log" ||
	fail "mount -t fuse.cmpfs failed"
adopt_mount "$D1" "$T/helper.log"
mount_info "$D1" | grep -q ' - fuse\.cmpfs ' ||
	fail "mountinfo: $(mount_info "$D1")"
mount_info "$D1" | grep -q 'allow_other' ||
	fail "root mount without allow_other: $(mount_info "$D1")"
mount_info "$D1" | grep -q 'default_permissions' ||
	fail "mount without default_permissions: $(mount_info "$D1")"
expect_eq "statfs blocks of local=64M" "$(stat -f -c '%S %b' "$D1")" \
	"1048576 64"
echo hello >"$D1/f"
expect_eq "read back through the helper mount" "$(cat "$D1/f")" hello
undefer umount_fs "$(realpath "$D1")"
log "mount -t fuse.cmpfs none DIR -o local=64M: ok, daemon gone after umount"

# ---- an fstab line ----
D2=$T/fstab-mnt
mkdir -p "$D2"
echo "none $D2 fuse.cmpfs local=32M,block=64K,log=$T/fstab.log 0 0" \
	>"$T/fstab"
mount -T "$T/fstab" "$D2" || fail "mount -T FSTAB DIR failed"
adopt_mount "$D2" "$T/fstab.log"
expect_eq "statfs of the fstab mount (local=32M,block=64K)" \
	"$(stat -f -c '%S %b' "$D2")" "65536 512"
expect_eq "block_size counter" "$(stat_get block_size "$D2")" 65536
undefer umount_fs "$(realpath "$D2")"
log "fstab line: ok"

# ---- a bad option through the helper mounts nothing ----
D3=$T/helper-bad
mkdir -p "$D3"
! mount -t fuse.cmpfs none "$D3" -o local=abc 2>"$T/err" ||
	fail "mount -t fuse.cmpfs -o local=abc succeeded"
! is_mounted "$D3" || fail "mount -o local=abc left a mount"
grep -q "option local: 'abc'" "$T/err" ||
	fail "mount helper did not pass the error on: $(cat "$T/err")"
log "bad option through the helper: $(head -n 1 "$T/err")"
