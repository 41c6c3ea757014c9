#!/bin/bash
# SPDX-License-Identifier: MIT
# The command lines of cmpfs, cmp-manager and cmp-memserver as users meet
# them: --help exits 0 and every option it lists is one the program takes;
# --version prints the version; every bad option (unknown, a missing,
# malformed or out-of-range value, a missing required one) is refused before
# anything starts, with exactly one line "PROG: option NAME: REASON" on
# stderr, nothing on stdout, and exit status 2.
TEST_TIMEOUT=120 # about 60 cmpfs, manager and memserver runs
. "$(dirname "$0")/lib.sh"

MANAGER=${CMP_MANAGER:-}
MEMSERVER=${CMP_MEMSERVER:-}
for b in "$CMPFS" "$MANAGER" "$MEMSERVER"; do
	[ -n "$b" ] && [ -x "$b" ] || fail "not built: '$b' (CMPFS, CMP_MANAGER, CMP_MEMSERVER)"
done
D=$T/mnt
mkdir -p "$D"

# run_cli CMD...: runs CMD (bounded), its output in $T/out and $T/err, its
# exit status in RC. A cmpfs that mounted anyway is a failure.
run_cli()
{
	RC=0
	timeout 10 "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
	if is_cmpfs_mounted "$D"; then
		umount -l "$D"
		fail "$*: mounted"
	fi
	[ "$RC" != 124 ] || fail "$*: still running after 10 s"
}

# refused LINE CMD...: CMD exits 2 with LINE as the only line on stderr.
refused()
{
	local want=$1

	shift
	run_cli "$@"
	expect_eq "exit status of '$*' ($(cat "$T/err"))" "$RC" 2
	[ ! -s "$T/out" ] || fail "'$*' printed to stdout: $(cat "$T/out")"
	expect_eq "stderr of '$*'" "$(cat "$T/err")" "$want"
	expect_eq "lines on stderr of '$*'" "$(wc -l <"$T/err")" 1
}

# ---- cmpfs ----
refused "cmpfs: option --bogus: unknown (see --help)" "$CMPFS" "$D" -f --bogus
refused "cmpfs: option -x: unknown (see --help)" "$CMPFS" "$D" -x
refused "cmpfs: option bogus: unknown (see --help)" \
	"$CMPFS" "$D" -f -o local=16M,bogus
refused "cmpfs: option local: 'abc' is not a size (like 4096, 64K, 512M, 2G)" \
	"$CMPFS" "$D" -f -o local=abc
refused "cmpfs: option local: '0' is less than 4K" "$CMPFS" "$D" -o local=0
refused "cmpfs: option block: '8M' is more than 4M" "$CMPFS" "$D" -o block=8M
refused "cmpfs: option block: '3000' is not a power of two" \
	"$CMPFS" "$D" -o block=3000
refused "cmpfs: option local: needs a value (SIZE)" "$CMPFS" "$D" -o local
refused "cmpfs: option nolock: takes no value (got '1')" \
	"$CMPFS" "$D" -o nolock=1
refused "cmpfs: option node: 'x' is not a whole number" \
	"$CMPFS" "$D" --node=x
refused "cmpfs: option metrics: 'mem://x' is not a TCP address (PORT for 127.0.0.1, HOST:PORT or tcp://HOST:PORT)" \
	"$CMPFS" "$D" -o metrics=mem://x
refused "cmpfs: option max_threads: libfuse: invalid parameter in option \`max_threads=abc'" \
	"$CMPFS" "$D" -o max_threads=abc
refused "cmpfs: option manager: needs -o key=FILE (or -o insecure on a trusted network)" \
	"$CMPFS" "$D" -o manager=tcp://127.0.0.1:1,listen=tcp://127.0.0.1:0
refused "cmpfs: no mount point given (see --help)" "$CMPFS"
refused "cmpfs: mount point $T/nonexistent: No such file or directory" \
	"$CMPFS" "$T/nonexistent"
log "cmpfs: every refusal one line, exit status 2"

# ---- cmp-manager ----
L=(--listen tcp://127.0.0.1:0 --insecure)
refused "cmp-manager: option --bogus: unknown (see --help)" "$MANAGER" --bogus
refused "cmp-manager: option bogus: unknown (see --help)" \
	"$MANAGER" -o listen=tcp://127.0.0.1:0,bogus
refused "cmp-manager: option listen: needs a value (ADDR)" "$MANAGER" --listen
refused "cmp-manager: option listen: 'nowhere' is not an address (tcp://HOST:PORT, rdma://HOST:PORT or mem://NAME)" \
	"$MANAGER" --listen nowhere --insecure
refused "cmp-manager: option heartbeat-ms: 'x' is not a duration (like 250, 250ms, 2s)" \
	"$MANAGER" "${L[@]}" --heartbeat-ms x
refused "cmp-manager: option heartbeat-ms: '5' is less than 10 ms" \
	"$MANAGER" "${L[@]}" --heartbeat-ms=5
refused "cmp-manager: option suspect-after: '1001' is more than 1000" \
	"$MANAGER" "${L[@]}" --suspect-after 1001
refused "cmp-manager: option listen: required (see --help)" "$MANAGER" -f
refused "cmp-manager: option key: required unless --insecure (see --help)" \
	"$MANAGER" --listen tcp://127.0.0.1:0
refused "cmp-manager: unexpected argument 'extra' (see --help)" \
	"$MANAGER" "${L[@]}" extra
refused "cmp-manager: option metrics: 'rdma://10.0.0.1:9' is not a TCP address (PORT for 127.0.0.1, HOST:PORT or tcp://HOST:PORT)" \
	"$MANAGER" "${L[@]}" --metrics rdma://10.0.0.1:9
log "cmp-manager: every refusal one line, exit status 2"

# ---- cmp-memserver ----
M=(--manager tcp://127.0.0.1:1 --listen tcp://127.0.0.1:0 --insecure)
refused "cmp-memserver: option --frobnicate: unknown (see --help)" \
	"$MEMSERVER" --frobnicate
refused "cmp-memserver: option -q: unknown (see --help)" "$MEMSERVER" -q
refused "cmp-memserver: option block: '3000' is not a power of two" \
	"$MEMSERVER" "${M[@]}" --ram 1M --block 3000
refused "cmp-memserver: option ram: '0' is less than 1" \
	"$MEMSERVER" "${M[@]}" -o ram=0
refused "cmp-memserver: option size: '1X' is not a size (like 4096, 64K, 512M, 2G)" \
	"$MEMSERVER" "${M[@]}" -s "$T/store" -S 1X
refused "cmp-memserver: option node-id: needs a value (N)" \
	"$MEMSERVER" "${M[@]}" --ram 1M --node-id
refused "cmp-memserver: option store: needs --size SIZE (see --help)" \
	"$MEMSERVER" "${M[@]}" --store "$T/store"
refused "cmp-memserver: option metrics: 'nowhere' is not a TCP address (PORT for 127.0.0.1, HOST:PORT or tcp://HOST:PORT)" \
	"$MEMSERVER" "${M[@]}" --ram 1M --metrics nowhere
log "cmp-memserver: every refusal one line, exit status 2"

# ---- a key file that is refused: one line, exit status 1 (not usage) ----
printf '%064d\n' 0 >"$T/loose.key"
chmod 644 "$T/loose.key"
printf 'not a key\n' >"$T/bad.key"
chmod 600 "$T/bad.key"
for k in loose bad; do
	[ $k = loose ] && why="mode 0644 lets group or others read" ||
		why="want 1 to 4 lines of 64 hex characters"
	for cmd in "$CMPFS $D -f -o local=16M,nolock,manager=tcp://127.0.0.1:1,listen=tcp://127.0.0.1:0,key=$T/$k.key" \
		"$MANAGER --listen tcp://127.0.0.1:0 -f --key $T/$k.key" \
		"$MEMSERVER ${M[*]/--insecure/} --ram 1M -f --key $T/$k.key"; do
		# shellcheck disable=SC2086 # the words of cmd are its arguments
		run_cli $cmd
		expect_eq "exit status of $cmd" "$RC" 1
		grep -q "error: key file $T/$k.key: $why" "$T/err" ||
			fail "$cmd said: $(cat "$T/err")"
		expect_eq "lines of $cmd" "$(wc -l <"$T/err")" 1
	done
done
log "refused key files: one line each, exit status 1"

# ---- --help tells the truth, --version ----
# help_names BIN: the option names its --help lists ("-o name" for cmpfs).
help_names()
{
	sed -n -E 's/^  (-., |    )?(--|-o )([a-z_-]+).*/\3/p' "$T/help" |
		grep -v -x -E 'help|version'
}
# takes_value BIN NAME: whether --help shows a value after NAME
takes_value()
{
	grep -q -E "^  (-., |    )?(--|-o )$1[ =][A-Z]" "$T/help"
}
for bin in "$CMPFS" "$MANAGER" "$MEMSERVER"; do
	prog=$(basename "$bin")
	run_cli "$bin" --help
	cp "$T/out" "$T/help"
	expect_eq "$prog --help exit status" "$RC" 0
	[ ! -s "$T/err" ] || fail "$prog --help wrote to stderr: $(cat "$T/err")"
	grep -q "^Usage: $prog " "$T/help" || fail "$prog --help: no usage line"
	grep -q "2 usage error" "$T/help" || fail "$prog --help: no exit statuses"
	n=0
	for name in $(help_names); do
		# a refused value shows the name is known, and starts nothing
		if takes_value "$name"; then arg="--$name="; else arg="--$name=1"; fi
		if [ "$prog" = cmpfs ]; then
			set -- "$bin" "$D" "$arg"
		else
			set -- "$bin" "$arg"
		fi
		run_cli "$@"
		expect_eq "exit status of $prog $arg" "$RC" 2
		grep -q "^$prog: option $name: " "$T/err" ||
			fail "$prog --help lists $name, but '$*' says: $(cat "$T/err")"
		n=$((n + 1))
	done
	[ "$n" -ge 7 ] || fail "$prog --help lists only $n options"
	run_cli "$bin" --version
	expect_eq "$prog --version exit status" "$RC" 0
	grep -q -E "^$prog [0-9]+\.[0-9]+\.[0-9]+$" "$T/out" ||
		fail "$prog --version: $(cat "$T/out")"
	log "$prog: --help lists $n options, each taken; $(head -n 1 "$T/out")"
done

# What the README, quickstart and test scripts use is listed.
run_cli "$CMPFS" --help
for w in local=SIZE block=SIZE readahead=SIZE notune_bdi nolock log=FILE \
	manager=ADDR listen=ADDR key=FILE node=N insecure "default 1G" \
	handshake-timeout=MS max-unauth=N max-conns-per-node=N metrics=ADDR; do
	grep -q -F -- "$w" "$T/out" || fail "cmpfs --help does not show $w"
done
run_cli "$MANAGER" --help
for w in "--listen ADDR" "--key FILE" --insecure "--heartbeat-ms MS" \
	"--suspect-after N" "--forget-after MS" "-f, --foreground" \
	"default 1000 ms" "--frame-timeout MS" "--max-unauth-per-addr N" \
	"--metrics ADDR"; do
	grep -q -F -- "$w" "$T/out" || fail "cmp-manager --help does not show $w"
done
run_cli "$MEMSERVER" --help
for w in "--manager ADDR" "--listen ADDR" "--key FILE" "--store FILE" \
	"--size SIZE" "--ram SIZE" "--block SIZE" "--node-id N" --insecure \
	"-f, --foreground" "default 1M" "--handshake-timeout MS" \
	"--max-conns N" "--metrics ADDR"; do
	grep -q -F -- "$w" "$T/out" || fail "cmp-memserver --help does not show $w"
done
log "--help shows every option the scripts use, with defaults"
