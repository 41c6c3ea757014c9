#!/bin/bash
# SPDX-License-Identifier: MIT
# The man pages tell the truth and render cleanly: each page built in
# tools/man/ renders with `man --warnings -l` at 80 columns without a
# single warning; it has the sections a user looks for (NAME, SYNOPSIS,
# DESCRIPTION, OPTIONS, EXIT STATUS, FILES, EXAMPLES, and SIGNALS for the
# daemons); every option and command its program's --help lists appears in
# it; and it states the swap teardown order (swapoff before losetup -d).
# Usage: test-man.sh MANDIR PAGE=PROGRAM...   (needs man-db; skips without)
set -eu -o pipefail
export LC_ALL=C MANWIDTH=80

command -v man >/dev/null || { echo "SKIP: no man (package man-db)"; exit 77; }
mandir=$1
shift
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
bad=0
problem() { echo "FAIL: $*" >&2; bad=1; }

# The options and commands PROGRAM --help names on its option lines (those
# that start indented with a dash) and usage lines: --long, -x, -o key, and
# for cmpctl its commands and their options.
help_names()
{
	"$1" --help >"$T/help"
	grep -E '^ +-|^ +cmpctl |^[Uu]sage:' "$T/help" |
		grep -oE -- '(^|[ ,(|\[])(--[a-z][a-z0-9_-]*|-[a-zA-Z]|-o [a-z_]+)' |
		sed -E 's/^[ ,(|[]//' | sort -u
	sed -nE 's/^  cmpctl ([a-z]+).*/\1/p' "$T/help"
}

for spec in "$@"; do
	page=${spec%%=*}
	prog=${spec#*=}
	f=$mandir/$page
	[ -s "$f" ] || { problem "$page: not built at $f"; continue; }
	man --warnings -l "$f" >"$T/out" 2>"$T/err" || problem "$page: man -l failed"
	if [ -s "$T/err" ]; then
		problem "$page: warnings while rendering:"
		sed 's/^/    /' "$T/err" >&2
	fi
	[ "$(wc -l <"$T/out")" -gt 40 ] || problem "$page: rendered to almost nothing"
	sections=(NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" FILES EXAMPLES)
	case $page in *.8) sections+=(SIGNALS) ;; esac
	for s in "${sections[@]}"; do
		grep -qx "$s" "$T/out" || problem "$page: no $s section"
	done
	n=0
	while read -r name; do
		n=$((n + 1))
		case $name in
		"-o "*) want=${name#-o } ;; # -o local=SIZE is shown as "-o local=SIZE"
		*) want=$name ;;
		esac
		grep -qwF -- "$want" "$T/out" ||
			problem "$page: '$name' from $prog --help is not in the page"
	done < <(help_names "$prog")
	[ "$n" -ge 3 ] || problem "$page: found only $n names in $prog --help"
	tr -s ' \n' ' ' <"$T/out" >"$T/flat"
	grep -qE 'swapoff.*losetup -d.*unmount' "$T/flat" ||
		problem "$page: the swap teardown order (swapoff, losetup -d, unmount) is missing"
	echo "$page: renders without warnings, $n names from --help all in it"
done
exit $bad
