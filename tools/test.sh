#!/bin/bash
# SPDX-License-Identifier: MIT
# The test command: installs what is missing, builds with gcc, runs every
# test (unit, fuzz corpus replay, integration with real mounts and network
# namespaces, benchmark smoke), then builds again with ASan+UBSan and runs
# the unit and fuzz suites under the sanitizers, and last configures and
# builds (runs nothing of) the other builds a README names, so they keep
# building: the benchmark's release build (gcc -O3, -Werror) and the clang
# libFuzzer build of tests/fuzz/README.md. Exits non-zero on any failure.
# Run as root (mounts, loop devices, swap, namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

tools/deps.sh test

setup() { # DIR ARGS...
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
}

status=0
setup build
meson test -C build --print-errorlogs --num-processes 2 || status=1

setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C build-asan --print-errorlogs --suite unit --suite fuzz ||
	status=1

# build_only DIR ARGS...: configure and build, say how long it took.
build_only() {
	local t0=$SECONDS
	if setup "$@"; then
		echo "test.sh: $1 built in $((SECONDS - t0)) s"
	else
		echo "test.sh: $1 does not build (meson setup $*)"
		status=1
	fi
}
build_only build-ci-release -Dbuildtype=release
CC=clang build_only build-ci-clang -Dfuzz=true -Db_lundef=false

if [ $status -ne 0 ]; then
	echo "test.sh: FAILED (see the logs above and $top/build*/meson-logs/)"
fi
exit $status
