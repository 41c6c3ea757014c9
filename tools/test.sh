#!/bin/bash
# SPDX-License-Identifier: MIT
# The test command: installs what is missing, builds with gcc, runs every
# test (unit, fuzz corpus replay, integration with real mounts and network
# namespaces, benchmark smoke), then builds again with ASan+UBSan and runs
# the unit and fuzz suites under the sanitizers. Meanwhile it configures and
# builds (runs nothing of) the other builds a README names, so they keep
# building: the benchmark's release build (gcc -O3, -Werror) and the clang
# libFuzzer build of tests/fuzz/README.md; and a ThreadSanitizer build of
# the tests where threads race over a block's life, which it runs last.
# Exits non-zero on any failure.
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

# build_only DIR ARGS...: configure and build DIR, its output in
# DIR/ci-build.log; one line says how it went.
build_only() {
	local dir=$1 t0=$SECONDS
	mkdir -p "$dir"
	if setup "$@" >"$dir/ci-build.log" 2>&1; then
		echo "test.sh: $dir built in $((SECONDS - t0)) s"
	else
		tail -n 40 "$dir/ci-build.log"
		echo "test.sh: $dir does not build (meson setup $*; see $dir/ci-build.log)"
		return 1
	fi
}

# ThreadSanitizer: only the tests where threads race over a block's life
# (the stress test, the provider race, fences, the owner's liveness, blocks
# moved on, followed and drained while their owners use them, callers
# sharing the owner's connections, copies made again while their owners
# write, the evictor's batches and the prefetch beside readers and
# writers) and cmpfs's request loop handing the reading between its
# workers, built among the other builds and run after them
# (build-tsan/ci-ok: it built).
tsan_targets=(tests/unit/test-block-stress tests/unit/test-peer-race
	tests/unit/test-peer-fence tests/cluster/test-owner-liveness
	tests/unit/test-loans-move tests/cluster/test-cmp3
	tests/cluster/test-collab tests/cluster/test-leave
	tests/unit/test-remote-flight tests/cluster/test-exchange
	tests/cluster/test-resize tests/unit/test-replicas
	tests/cluster/test-replicas-cluster tests/unit/test-loop
	tests/unit/test-prefetch tests/unit/test-batch)
tsan_tests=(unit-block-stress unit-block-stress-insecure unit-peer-race
	unit-peer-fence unit-owner-liveness unit-loans-move
	unit-cmp3-principle3 unit-collab unit-leave unit-remote-flight
	unit-exchange unit-resize unit-replicas unit-replicas-cluster unit-loop
	unit-prefetch unit-batch)
build_tsan() {
	local t0=$SECONDS
	mkdir -p build-tsan
	rm -f build-tsan/ci-ok
	if { if [ -f build-tsan/build.ninja ]; then
		meson setup --reconfigure build-tsan -Db_sanitize=thread
	else
		meson setup build-tsan -Db_sanitize=thread
	fi && ninja -C build-tsan "${tsan_targets[@]}"; } \
		>build-tsan/ci-build.log 2>&1; then
		echo "test.sh: build-tsan built in $((SECONDS - t0)) s"
		touch build-tsan/ci-ok
	else
		tail -n 40 build-tsan/ci-build.log
		echo "test.sh: build-tsan does not build (see build-tsan/ci-build.log)"
		return 1
	fi
}

# The other builds a README names. They build beside the gcc test run at
# the lowest CPU priority: the tests mostly wait on FUSE, the network and
# timers and leave a core idle most of the time.
other_builds() {
	local rc=0
	renice -n 19 "$BASHPID" >/dev/null
	build_only build-ci-release -Dbuildtype=release || rc=1
	CC=clang build_only build-ci-clang -Dfuzz=true -Db_lundef=false || rc=1
	build_tsan || rc=1
	return $rc
}

# kill_tree PID: PID and its descendants (an interrupted run's builds).
kill_tree() {
	local c
	for c in $(pgrep -P "$1" || true); do
		kill_tree "$c"
	done
	kill "$1" 2>/dev/null || true
}
others=
trap '[ -z "$others" ] || kill_tree "$others"' EXIT

status=0
setup build
other_log=$top/build/other-builds.log
other_builds >"$other_log" 2>&1 &
others=$!
meson test -C build --print-errorlogs --num-processes 2 || status=1

setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C build-asan --print-errorlogs --suite unit --suite fuzz ||
	status=1

t0=$SECONDS
wait "$others" || status=1
others=
cat "$other_log"
echo "test.sh: waited $((SECONDS - t0)) s for the other builds"

# intercept_send=0: ThreadSanitizer's send() wrappers mark the buffer
# read only after releasing the socket, so a block a provider sent in a
# reply looks unsynchronized with the owner's next WRITE of it, which came
# after that reply. Writes (recv, memcpy, memset) are still watched.
if [ -f build-tsan/ci-ok ]; then
	t0=$SECONDS
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:intercept_send=0 \
		nice -n 19 meson test -C build-tsan --no-rebuild \
		--print-errorlogs "${tsan_tests[@]}" || status=1
	echo "test.sh: ThreadSanitizer tests ran in $((SECONDS - t0)) s"
fi

if [ $status -ne 0 ]; then
	echo "test.sh: FAILED (see the logs above and $top/build*/meson-logs/)"
fi
exit $status
