#!/bin/bash
# SPDX-License-Identifier: MIT
# POSIX corners (issue 13, defect 11), each against the rule, and the
# set-id rules against tmpfs on the same kernel:
# - a name longer than 255 bytes is ENAMETOOLONG from every call that
#   takes one (lookup used to say ENOENT); 255 bytes work;
# - link() changes the file's ctime, as stat shows at once (the reply's
#   attributes used to be made before the change, and the kernel keeps
#   them for a day); rename() too, as on tmpfs;
# - a write (and an open with O_TRUNC) by a user other than root clears
#   setuid, and setgid when the group may execute the file or the writer
#   is not in its group, exactly as tmpfs does here (direct I/O leaves it
#   to the daemon, which used to keep both bits); root's writes keep them.
TEST_TIMEOUT=90
. "$(dirname "$0")/lib.sh"
requires_root
requires setpriv stat

FSOP=$(helper fsop)
MNT=$T/mnt
# suid: for the exec at the end (libfuse mounts nosuid unless told)
mount_fs "$MNT" local=64M,block=1M,suid
cd "$MNT"

# ---- names longer than NAME_MAX ----
long=$(printf 'n%.0s' $(seq 300))
ok=$(printf 'k%.0s' $(seq 255))
touch file
mkdir dir
check_call()
{
	expect_eq "$1 with a name of ${#2}/${#3} bytes" \
		"$("$FSOP" errno "$1" "$2" ${3:+"$3"})" "$4"
}
for call in stat create mkdir mknod unlink rmdir; do
	check_call "$call" "$long" "" ENAMETOOLONG
	check_call "$call" "dir/$long" "" ENAMETOOLONG
done
check_call symlink file "$long" ENAMETOOLONG
check_call link file "$long" ENAMETOOLONG
check_call rename file "$long" ENAMETOOLONG
check_call rename "$long" file ENAMETOOLONG
# 255 bytes is a name like any other
check_call create "$ok" "" OK
check_call stat "$ok" "" OK
check_call rename "$ok" "dir/$ok" OK
check_call link "dir/$ok" "$ok" OK
check_call unlink "dir/$ok" "" OK
check_call unlink "$ok" "" OK
check_call mkdir "$ok" "" OK
check_call rmdir "$ok" "" OK
log "names over 255 bytes: ENAMETOOLONG from every call; 255 bytes work"

# ---- ctime of link() and rename() ----
ctime_ns() { stat -c %.9Z "$1" | tr -d .; }
echo data >lf
c0=$(ctime_ns lf)
ln lf lf2
c1=$(ctime_ns lf)
[ "$c1" -gt "$c0" ] || fail "link(): ctime of lf $c0 -> $c1, want later"
expect_eq "ctime through the new name" "$(ctime_ns lf2)" "$c1"
mv lf lf3
c2=$(ctime_ns lf3)
[ "$c2" -gt "$c1" ] || fail "rename(): ctime $c1 -> $c2, want later"
log "link() and rename() move ctime on, seen by stat at once"

# ---- setuid and setgid on writes, against tmpfs ----
TMPFS=$T/tmpfs
mkdir -p "$TMPFS"
mount -t tmpfs -o size=4M none "$TMPFS"
defer umount "$TMPFS"
WRITER=12345 # a user owning nothing; group 100 or 65534
# setid_case DIR MODE IN_GROUP HOW: the mode after user WRITER, in group
# 100 (IN_GROUP=1) or not, writes to a root:100 file of MODE.
setid_case()
{
	local dir=$1 mode=$2 g=65534 f=$1/setid

	[ "$3" = 0 ] || g=100
	rm -f "$f"
	echo x >"$f"
	chown 0:100 "$f"
	chmod "$mode" "$f"
	case $4 in
	append) setpriv --reuid=$WRITER --regid=$g --clear-groups \
		sh -c 'echo y >>"$0"' "$f" ;;
	suppl) setpriv --reuid=$WRITER --regid=65534 --groups=100 \
		sh -c 'echo y >>"$0"' "$f" ;;
	trunc) setpriv --reuid=$WRITER --regid=$g --clear-groups \
		sh -c ': >"$0"' "$f" ;;
	root) echo y >>"$f" ;;
	esac
	stat -c %a "$f"
}
n=0
for how in append trunc; do
	for mode in 4777 2777 2767 6777 6767 4767 0777; do
		for in_group in 0 1; do
			want=$(setid_case "$TMPFS" $mode $in_group $how)
			got=$(setid_case "$MNT" $mode $in_group $how)
			expect_eq "mode $mode after a non-root $how (in group: $in_group; tmpfs says $want)" \
				"$got" "$want"
			n=$((n + 1))
		done
	done
done
for how in suppl root; do
	want=$(setid_case "$TMPFS" 6767 0 $how)
	got=$(setid_case "$MNT" 6767 0 $how)
	expect_eq "mode 6767 after a $how write (tmpfs says $want)" "$got" "$want"
	n=$((n + 1))
done
log "setuid/setgid after writes: $n cases, all as on tmpfs"

# And what matters about it: a setuid-root program that a user wrote to no
# longer runs as root (on a mount with suid).
cp "$(command -v id)" prog
chmod 4757 prog
expect_eq "euid of the setuid-root copy of id" \
	"$(setpriv --reuid=$WRITER --regid=65534 --clear-groups ./prog -u)" 0
# a byte after the ELF image changes nothing in the program
setpriv --reuid=$WRITER --regid=65534 --clear-groups sh -c 'printf x >>"$0"' prog
expect_eq "euid of that program after a non-root write" \
	"$(setpriv --reuid=$WRITER --regid=65534 --clear-groups ./prog -u)" \
	$WRITER
log "exec after a non-root write: no longer setuid"
