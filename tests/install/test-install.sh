#!/bin/bash
# SPDX-License-Identifier: MIT
# `meson install` puts everything where it belongs, and the systemd units
# it installs pass `systemd-analyze verify`: the build is installed into a
# DESTDIR; the programs, the man pages (man1, man8), the units and the swap
# helper must be there. The units name their programs by absolute path
# (PREFIX/bin/...), which on this machine may be missing or another build,
# so they are copied to a directory of their own with those paths pointed
# into the DESTDIR, and verified there (templates through an instance:
# cmp-memserver@test.service, cmp-swap@swap.service). systemd-analyze
# verify needs no running systemd; --man=no keeps it from looking up the
# Documentation= pages. Any line it prints fails the test (it prints
# unknown keys and bad values but still exits 0).
# Usage: test-install.sh BUILD_DIR PREFIX BINDIR MANDIR LIBEXECDIR UNITDIR
#                        LIBDIR INCLUDEDIR
set -eu -o pipefail
build=$1 prefix=$2 bindir=$3 mandir=$4 libexecdir=$5 unitdir=$6 libdir=$7
includedir=$8
T=$(mktemp -d)
# meson install rewrites the build's install log, which `ninja uninstall`
# reads: keep the log of a real install from this build directory.
ilog=$build/meson-logs/install-log.txt
[ ! -f "$ilog" ] || cp -p "$ilog" "$T/install-log.txt"
restore_log()
{
	if [ -f "$T/install-log.txt" ]; then
		cp -p "$T/install-log.txt" "$ilog"
	else
		rm -f "$ilog"
	fi
	rm -rf "$T"
}
trap restore_log EXIT
bad=0
problem() { echo "FAIL: $*" >&2; bad=1; }
abs() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }

D=$T/root
meson install -C "$build" --no-rebuild --destdir "$D" --quiet ||
	{ echo "FAIL: meson install"; exit 1; }
for f in "$(abs "$bindir")"/{cmpfs,cmp-manager,cmp-memserver,cmpctl} \
	"$(abs "$libexecdir")/cmpfs/cmp-swap"; do
	[ -x "$D$f" ] || problem "$f not installed (or not executable)"
done
for f in man8/cmpfs.8 man8/cmp-manager.8 man8/cmp-memserver.8 man1/cmpctl.1; do
	[ -s "$D$(abs "$mandir")/$f" ] || problem "$(abs "$mandir")/$f not installed"
done
for f in "$(abs "$libdir")"/{libcmp.so,libcmp-preload.so,pkgconfig/libcmp.pc} \
	"$(abs "$includedir")/cmp/libcmp.h"; do
	[ -e "$D$f" ] || problem "$f not installed"
done
echo "installed: programs, libcmp, man pages in $(abs "$mandir")/man{1,8}"

if [ "$unitdir" = no ]; then
	echo "units: not installed (-Dsystemdunitdir=no)"
	exit $bad
fi
unitdir=$(abs "$unitdir")
units=(cmp-manager.service cmp-memserver@.service cmp.mount cmp-swap@.service)
U=$T/units
mkdir -p "$U"
for u in "${units[@]}"; do
	[ -s "$D$unitdir/$u" ] || { problem "$unitdir/$u not installed"; continue; }
	sed -e "s|$(abs "$bindir")/|$D$(abs "$bindir")/|g" \
		-e "s|$(abs "$libexecdir")/|$D$(abs "$libexecdir")/|g" \
		"$D$unitdir/$u" >"$U/$u"
done
echo "installed: ${units[*]} in $unitdir"
command -v systemd-analyze >/dev/null ||
	{ echo "SKIP: no systemd-analyze (package systemd)"; exit 77; }
rc=0
(cd "$U" && systemd-analyze verify --man=no ./cmp-manager.service \
	./cmp-memserver@test.service ./cmp.mount ./cmp-swap@swap.service) \
	>"$T/verify" 2>&1 || rc=$?
if [ "$rc" != 0 ] || [ -s "$T/verify" ]; then
	problem "systemd-analyze verify (status $rc):"
	sed 's/^/    /' "$T/verify" >&2
else
	echo "systemd-analyze verify: the four units pass, nothing printed"
fi
exit $bad
