#!/bin/bash
# SPDX-License-Identifier: MIT
# The namespace: statfs matches local=; open(O_TRUNC) truncates; rename
# (plain, over a file, over empty and non-empty directories, into its own
# subtree, RENAME_NOREPLACE, RENAME_EXCHANGE); hard link counts; an
# unlinked file stays usable while open and its blocks come back after
# close; symlinks; mkdir/rmdir (ENOTEMPTY) and directory link counts;
# chmod/chown/utimens; readdir of 3000 entries; rm -rf of a 6000-file
# tree gives back its inodes
# and blocks; permissions enforced by the kernel for an unprivileged user
# (default_permissions + allow_other), including the sticky bit.
TEST_TIMEOUT=120
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr setpriv stat find

FSOP=$(helper fsop)
MNT=$T/mnt
mount_fs "$MNT" local=64M,block=1M
cd "$MNT"

run_as()
{
	local id=$1

	shift
	setpriv --reuid="$id" --regid="$id" --clear-groups -- "$@"
}

# A directory's link count is 2 + its subdirectories.
check_dir_nlink()
{
	local d

	for d in "$@"; do
		expect_eq "nlink of directory $d" "$(stat -c %h "$d")" \
			$((2 + $(find "$d" -mindepth 1 -maxdepth 1 -type d | wc -l)))
	done
}

# ---- statfs ----
expect_eq "statfs block size" "$(stat -f -c %S .)" 1048576
expect_eq "statfs total blocks" "$(stat -f -c %b .)" 64
expect_eq "statfs free blocks" "$(stat -f -c %f .)" 64
expect_eq "df size in bytes" \
	"$(df -B1 --output=size . | tail -n 1 | tr -d ' ')" $((64 << 20))
expect_eq "stats local_blocks" "$(stat_get local_blocks)" 64
inodes0=$(stat_get inodes)
log "statfs matches local=64M"

# ---- open(O_TRUNC) on an existing file ----
echo "hello world" >trunc
echo x >trunc
expect_eq "size after '>' over an 11-byte file (open O_TRUNC)" \
	"$(stat -c %s trunc)" 2
expect_eq "content after '>'" "$(cat trunc)" x
rm trunc

# ---- rename ----
echo a >a
echo c >c
ino_a=$(stat -c %i a)
mv a b
[ ! -e a ] && [ "$(cat b)" = a ] || fail "plain rename"
mv b c
[ ! -e b ] || fail "rename over a file left the source"
expect_eq "content after rename over a file" "$(cat c)" a
expect_eq "inode after rename over a file" "$(stat -c %i c)" "$ino_a"

mkdir -p d1/sub d2 d3
touch d2/x
! mv -T d1 d2 2>/dev/null || fail "rename over a non-empty directory worked"
check_dir_nlink . d1 d2 d3
mv -T d1 d3 || fail "rename over an empty directory"
[ -d d3/sub ] && [ ! -e d1 ] || fail "directory rename lost its content"
! mv d3 d3/sub/ 2>/dev/null || fail "moving a directory into itself worked"
check_dir_nlink . d2 d3
mkdir d2/empty
mv d3 d2/empty-over || fail "move a directory to another parent"
mv -T d2/empty-over d2/empty || fail "rename over an empty dir in another parent"
check_dir_nlink . d2 d2/empty
mv d2/empty d3
check_dir_nlink . d2 d3

echo n >n
out=$("$FSOP" rename noreplace n c || true)
expect_eq "RENAME_NOREPLACE over an existing name" "$out" EEXIST
expect_eq "target after failed NOREPLACE" "$(cat c)" a
"$FSOP" rename noreplace n n2 || fail "RENAME_NOREPLACE to a free name"
[ ! -e n ] && [ "$(cat n2)" = n ] || fail "RENAME_NOREPLACE result"

"$FSOP" rename exchange c n2 || fail "RENAME_EXCHANGE"
expect_eq "c after exchange" "$(cat c)" n
expect_eq "n2 after exchange" "$(cat n2)" a
out=$("$FSOP" rename exchange c missing || true)
expect_eq "RENAME_EXCHANGE with a missing target" "$out" ENOENT
# A file and a directory across directories: parents' link counts follow.
mkdir -p ex1 ex2/dir
touch ex1/file
"$FSOP" rename exchange ex1/file ex2/dir || fail "exchange file <-> dir"
[ -d ex1/file ] && [ -f ex2/dir ] || fail "exchange file <-> dir result"
expect_eq "nlink of ex1 (gained a subdir)" "$(stat -c %h ex1)" 3
expect_eq "nlink of ex2 (lost a subdir)" "$(stat -c %h ex2)" 2
check_dir_nlink . ex1 ex2 ex1/file
rm -r c n2 d2 d3 ex1 ex2
log "rename, NOREPLACE, EXCHANGE: ok"

# ---- hard links ----
echo data >f
ln f g
expect_eq "nlink after ln" "$(stat -c %h f)" 2
expect_eq "same inode" "$(stat -c %i g)" "$(stat -c %i f)"
echo more >>g
expect_eq "write through the second name" "$(cat f)" "$(printf 'data\nmore')"
! ln . dirlink 2>/dev/null || fail "hard link to a directory worked"
rm g
expect_eq "nlink after rm of one name" "$(stat -c %h f)" 1
rm f
log "hard links: ok"

# ---- open-unlinked file ----
free0=$(stat_get blocks_free)
"$FSOP" unlinked "$MNT" "$MNT/unlinked" $((3 << 20)) ||
	fail "unlinked file not usable while open"
wait_for "blocks of the closed unlinked file to be freed" 10 \
	test "$(stat_get blocks_free)" = "$free0" ||
	fail "blocks_free $(stat_get blocks_free) after close, want $free0"
log "open-unlinked file: usable until close, blocks freed after"

# ---- symlinks ----
echo target >t
ln -s t sl
ln -s nowhere dangling
mkdir dir
ln -s dir sldir
touch dir/inside
expect_eq "readlink" "$(readlink sl)" t
expect_eq "read through a symlink" "$(cat sl)" target
expect_eq "symlink type" "$(stat -c %F sl)" "symbolic link"
expect_eq "symlink size" "$(stat -c %s dangling)" 7
! cat dangling 2>/dev/null || fail "reading a dangling symlink worked"
[ -e sldir/inside ] || fail "path through a symlink to a directory"
rm sl dangling sldir t
[ -e dir/inside ] || fail "rm of a symlink removed its target's content"

# ---- mkdir/rmdir ----
mkdir -p dir/sub
expect_eq "nlink of a directory with one subdirectory" "$(stat -c %h dir)" 3
out=$(rmdir dir 2>&1 || true)
[[ $out == *"Directory not empty"* ]] ||
	fail "rmdir of a non-empty directory: '$out'"
! rm dir 2>/dev/null || fail "unlink of a directory worked"
rmdir dir/sub
expect_eq "nlink after rmdir of the subdirectory" "$(stat -c %h dir)" 2
rm dir/inside
rmdir dir
mkfifo fifo
expect_eq "mknod fifo" "$(stat -c %F fifo)" fifo
rm fifo
log "symlinks, mkdir/rmdir, mknod: ok"

# ---- chmod/chown/utimens ----
touch m
chmod 640 m
expect_eq "mode after chmod" "$(stat -c %a m)" 640
chown 1234:5678 m
expect_eq "owner after chown" "$(stat -c %u:%g m)" 1234:5678
touch -m -d '2001-02-03 04:05:06.123456789 UTC' m
expect_eq "mtime after touch -d" "$(stat -c %Y m)" 981173106
[[ $(stat -c %y m) == *".123456789"* ]] ||
	fail "mtime lost its nanoseconds: $(stat -c %y m)"
touch -a -d '2002-01-01 00:00:00 UTC' m
expect_eq "atime after touch -a" "$(stat -c %X m)" 1009843200
expect_eq "mtime kept by touch -a" "$(stat -c %Y m)" 981173106
now=$(date +%s)
echo data >>m
[ "$(stat -c %Y m)" -ge "$now" ] ||
	fail "a write did not update mtime ($(stat -c %Y m) < $now)"
touch -m -d '2001-02-03 04:05:06 UTC' m
truncate -s 0 m
[ "$(stat -c %Y m)" -ge "$now" ] ||
	fail "truncate did not update mtime ($(stat -c %Y m) < $now)"
rm m
log "chmod, chown, utimens: ok"

# ---- rm -rf of a tree of 6000 files ----
free0=$(stat_get blocks_free)
mkdir tree
mkdir tree/d{00..29}
for d in tree/d*; do
	touch "$d"/f{000..099}
done
for i in {0..9}; do
	head -c 100000 /dev/zero >"tree/d0$i/data"
done
# One big directory: readdir must page through it without loss or repeats.
mkdir tree/big
(cd tree/big && touch big{0000..2999})
printf 'big%04d\n' {0..2999} >"$T/big.want"
ls -f tree/big | grep -v '^\.\.\?$' | sort >"$T/big.got"
cmp -s "$T/big.want" "$T/big.got" ||
	fail "readdir of 3000 entries: $(diff "$T/big.want" "$T/big.got" | head -n 5)"
expect_eq "entries in the tree" "$(find tree | wc -l)" 6042
expect_eq "entries in one directory" "$(ls tree/d07 | wc -l)" 101
rm -rf tree
[ ! -e tree ] || fail "rm -rf left the tree"
wait_for "inodes of the tree to be forgotten" 20 \
	test "$(stat_get inodes)" = "$inodes0" ||
	fail "inodes is $(stat_get inodes) after rm -rf, want $inodes0"
expect_eq "blocks_free after rm -rf" "$(stat_get blocks_free)" "$free0"
log "rm -rf of 6042 entries: inodes and blocks back"

# ---- permissions for an unprivileged user ----
chmod 755 .
echo secret >rootfile
chmod 644 rootfile
mkdir pub
chmod 1777 pub
expect_eq "nobody reads a 0644 file" "$(run_as 65534 cat rootfile)" secret
! run_as 65534 sh -c 'echo x >>rootfile' 2>/dev/null ||
	fail "nobody wrote a root 0644 file"
! run_as 65534 sh -c ': >newfile' 2>/dev/null ||
	fail "nobody created a file in a root 0755 directory"
! run_as 65534 chmod 666 rootfile 2>/dev/null ||
	fail "nobody chmod-ed a root file"
run_as 65534 sh -c 'echo mine >pub/nobodys' ||
	fail "nobody cannot create a file in a 1777 directory"
expect_eq "owner of nobody's file" "$(stat -c %u:%g pub/nobodys)" 65534:65534
! run_as 12345 rm -f pub/nobodys 2>/dev/null ||
	fail "another user removed nobody's file in a sticky directory"
! run_as 12345 mv pub/nobodys pub/stolen 2>/dev/null ||
	fail "another user renamed nobody's file in a sticky directory"
! run_as 65534 chown 12345 pub/nobodys 2>/dev/null ||
	fail "nobody gave a file away with chown"
run_as 65534 rm pub/nobodys || fail "nobody cannot remove its own file"
run_as 12345 sh -c 'echo x >pub/other'
rm pub/other || fail "root cannot remove another user's file"
rm -r rootfile pub
log "permissions for unprivileged users: ok"
cd /
