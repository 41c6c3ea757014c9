#!/bin/bash
# SPDX-License-Identifier: MIT
# Swap on a file of a cmpfs mount, for cmp-swap@.service (installed as
# LIBEXECDIR/cmpfs/cmp-swap). swapon(8) refuses a FUSE file, so the swap
# area sits on a loop device with direct I/O (without it, swapped pages sit
# in memory twice: the pool and the page cache), and the file's blocks are
# allocated up front.
#
#   cmp-swap start FILE SIZE   (re)create FILE (mode 0600, SIZE allocated),
#                              losetup it, mkswap, swapon
#   cmp-swap stop FILE         swapoff and losetup -d every loop device on
#                              FILE: the order the mount's teardown needs
#                              (swapoff, losetup -d, then unmount)
set -euo pipefail
cmd=${1:-}
file=${2:-}
usage() {
	echo "usage: cmp-swap start FILE SIZE | stop FILE" >&2
	exit 2
}
[ -n "$file" ] || usage

# The loop devices whose backing file is FILE.
loops() { losetup --list --noheadings --output NAME --associated "$file" || true; }

case $cmd in
start)
	size=${3:-}
	[ -n "$size" ] || usage
	if [ -n "$(loops)" ]; then
		echo "cmp-swap: $file is already on $(loops | tr '\n' ' ')" >&2
		exit 1
	fi
	# Old swap content is of no use: start from a fresh file. Mode 0600
	# before any data: swapped memory is nobody else's to read.
	rm -f "$file"
	(umask 077 && : >"$file")
	fallocate -l "$size" "$file"
	dev=$(losetup --direct-io=on --find --show "$file")
	if ! mkswap "$dev" >/dev/null || ! swapon "$dev"; then
		losetup -d "$dev"
		exit 1
	fi
	echo "cmp-swap: swap on $dev over $file ($size)"
	;;
stop)
	rc=0
	for dev in $(loops); do
		if awk -v d="$dev" 'NR > 1 && $1 == d { f = 1 } END { exit !f }' /proc/swaps; then
			swapoff "$dev" || { rc=1; continue; }
		fi
		losetup -d "$dev" || rc=1
		echo "cmp-swap: $dev (swap over $file) off and detached"
	done
	exit $rc
	;;
*) usage ;;
esac
