#!/bin/bash
# SPDX-License-Identifier: MIT
# cmpctl as a user meets it (issue 13, defects 6 and 8): every refusal is
# one line on stderr starting "cmpctl: " (the libraries it calls used to
# print "cmp[PID]: error: ..." besides), with status 1 for a failure and
# 2 for a usage error; `cmpctl stats MNT` on a real mount is a short summary
# of the non-zero counters with sizes in units (it used to be every raw
# counter, 46 lines), `--all` the full list, `--json` the same counters as
# JSON. `cmpctl resize MNT SIZE` grows and shrinks a standalone mount while
# its data stays byte for byte, gives the memory back (the daemon's RSS
# falls), and refuses, status 1 with one line, a size its data does not
# fit in or above local_max, leaving the size as it was.
TEST_TIMEOUT=90
ALLOWED_ERRORS='cannot resize to 8.0 MiB: No space left on device|resize to 256.0 MiB: not between one block and local_max'
. "$(dirname "$0")/lib.sh"
requires_root
requires getfattr python3
[ -x "${CMPCTL:-}" ] || fail "CMPCTL is not set to cmpctl"

# refused STATUS WHAT ARGS...: cmpctl ARGS exits with STATUS and prints one
# line, on stderr, starting "cmpctl: " and containing WHAT.
refused()
{
	local want=$1 what=$2 rc=0 err

	shift 2
	"$CMPCTL" "$@" >"$T/out" 2>"$T/err" || rc=$?
	err=$(cat "$T/err")
	expect_eq "status of cmpctl $*" "$rc" "$want"
	[ ! -s "$T/out" ] || fail "cmpctl $* printed on stdout: $(cat "$T/out")"
	expect_eq "stderr lines of cmpctl $* ($err)" "$(wc -l <"$T/err")" 1
	case "$err" in
	"cmpctl: "*"$what"*) ;;
	*) fail "cmpctl $*: '$err' is not 'cmpctl: ...$what...'" ;;
	esac
}

# ---- one line each, "cmpctl: " first ----
echo abc >"$T/loose.key"
chmod 644 "$T/loose.key"
refused 1 "key file $T/loose.key: mode 0644" \
	status --manager tcp://127.0.0.1:1 --key "$T/loose.key"
refused 1 "manager tcp://127.0.0.1:1" \
	status --manager tcp://127.0.0.1:1 --insecure
refused 1 "not overwriting" keygen "$T/loose.key"
refused 1 "$T: " stats "$T"
printf 'not a key\n' >"$T/bad.key"
chmod 600 "$T/bad.key"
refused 1 "key file $T/bad.key: want 1 to 4 lines" \
	status --manager tcp://127.0.0.1:1 --key "$T/bad.key"
# every usage error: status 2, as the daemons (connector/opts.c)
refused 2 "unknown command 'bogus'" bogus
refused 2 "stats: no mount point given" stats
refused 2 "option --bogus: unknown" stats "$T" --bogus
refused 2 "option -x: unknown" stats "$T" -x
refused 2 "unexpected argument 'more'" stats "$T" more
refused 2 "option all: excludes --json" stats "$T" --all --json
refused 2 "option --bogus: unknown" status --bogus
refused 2 "option manager: required" status --insecure
refused 2 "option manager: needs a value" status --insecure --manager
refused 2 "option manager: 'nowhere' is not an address" \
	status --manager nowhere --insecure
refused 2 "option key: required unless --insecure" \
	status --manager tcp://127.0.0.1:1
refused 2 "option insecure: excludes --key" \
	status --manager tcp://127.0.0.1:1 --insecure --key "$T/bad.key"
refused 2 "option interval: '10' is less than 100 ms" \
	top --manager tcp://127.0.0.1:1 --insecure --interval 10
refused 2 "option key: required unless --insecure" \
	top --manager tcp://127.0.0.1:1 --once
refused 1 "manager tcp://127.0.0.1:1: Connection refused" \
	top --manager tcp://127.0.0.1:1 --insecure --once
refused 2 "drain: no node given" drain --manager tcp://127.0.0.1:1 --insecure
refused 2 "drain: node 'n3': not a node id" \
	drain n3 --manager tcp://127.0.0.1:1 --insecure
refused 2 "option key: required unless --insecure" \
	drain 3 --manager tcp://127.0.0.1:1
refused 2 "option timeout: needs --wait" \
	drain 3 --manager tcp://127.0.0.1:1 --insecure --timeout 60s
refused 2 "option timeout: '60' is less than 1000 ms" \
	drain 3 --manager tcp://127.0.0.1:1 --insecure --wait --timeout 60
refused 2 "option undo: excludes --wait" \
	drain 3 --manager tcp://127.0.0.1:1 --insecure --wait --undo
refused 2 "option wait: takes no value" \
	drain 3 --manager tcp://127.0.0.1:1 --insecure --wait=60
refused 1 "manager tcp://127.0.0.1:1: Connection refused" \
	drain 3 --manager tcp://127.0.0.1:1 --insecure
refused 2 "resize: needs a mount point and a size" resize "$T"
refused 2 "resize: size 'big': not a size" resize "$T" big
refused 1 "$T: " resize "$T" 64M
refused 2 "keygen: no key file given" keygen
refused 2 "option --force: unknown" keygen "$T/x.key" --force
"$CMPCTL" stats --help >"$T/help" || fail "cmpctl stats --help"
grep -q "^Usage: cmpctl stats MOUNTPOINT" "$T/help" || fail "stats --help"
"$CMPCTL" keygen "$T/new.key" >/dev/null || fail "cmpctl keygen"

# ---- stats on a mount that did something ----
MNT=$T/mnt
mount_fs "$MNT" local=64M,block=1M
dd if=/dev/zero of="$MNT/data" bs=1M count=5 status=none
cat "$MNT/data" >/dev/null

"$CMPCTL" stats "$MNT" >"$T/summary" || fail "cmpctl stats $MNT"
sed 's/^/    /' "$T/summary"
lines=$(wc -l <"$T/summary")
[ "$lines" -le 12 ] || fail "the summary is $lines lines, want <= 12"
awk 'length > 80 { exit 1 }' "$T/summary" || fail "a summary line over 80 columns"
grep -qx "$MNT: 64 blocks of 1.0 MiB here (64.0 MiB)" "$T/summary" ||
	fail "no pool line in the summary"
grep -q "LLL 5 (5.0 MiB)" "$T/summary" || fail "no LLL 5 (5.0 MiB)"
grep -q "write 5.0 MiB" "$T/summary" || fail "no write 5.0 MiB"
grep -Eq '(^| )[a-zA-Z_]+ 0(,|$)' "$T/summary" && fail "a zero counter is shown"

getfattr --absolute-names -n user.cmpfs.stats --only-values "$MNT" >"$T/raw"
"$CMPCTL" stats "$MNT" --all >"$T/all" || fail "cmpctl stats --all"
expect_eq "counters in --all" "$(awk '{print $1}' "$T/all" | tr '\n' ' ')" \
	"$(awk '{print $1}' "$T/raw" | tr '\n' ' ')"
"$CMPCTL" stats "$MNT" --json >"$T/json" || fail "cmpctl stats --json"
python3 - "$T/json" "$T/raw" <<'PY' || fail "--json does not match the counters"
import json, sys
got = json.load(open(sys.argv[1]))
raw = [l.split()[0] for l in open(sys.argv[2]) if l.strip()]
assert list(got) == raw, (list(got), raw)
assert got["blocks_LLL"] == 5, got["blocks_LLL"]
PY
log "cmpctl: one-line refusals, a $lines-line summary, --all and --json"

# ---- resize ----
umount_fs "$MNT"
mount_fs "$MNT" local=64M,local_max=128M,block=1M
head -c $((20 << 20)) /dev/urandom >"$T/data"
cp "$T/data" "$MNT/data"
rss() { awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$1/status"; }
pid=${DAEMON_PID[${MNT_DAEMON[$(realpath "$MNT")]}]}
"$CMPCTL" resize "$MNT" 128M >"$T/out" || fail "cmpctl resize to 128M"
expect_eq "resize output" "$(cat "$T/out")" "$MNT: 64.0 MiB -> 128.0 MiB"
# every block of the region used once, so that all of it is resident
head -c $((100 << 20)) /dev/zero >"$MNT/fill"
rm "$MNT/fill"
before=$(rss "$pid")
"$CMPCTL" resize "$MNT" 24M >"$T/out" || fail "cmpctl resize to 24M"
expect_eq "resize output" "$(cat "$T/out")" "$MNT: 128.0 MiB -> 24.0 MiB"
after=$(rss "$pid")
[ $((before - after)) -ge 80 ] ||
	fail "RSS went from $before to $after MiB: the memory was not given back"
cmp "$T/data" "$MNT/data" || fail "data changed by resizing"
refused 1 "resize $MNT to 8.0 MiB: no other node or memserver has room" \
	resize "$MNT" 8M
grep -q "(it gives 24.0 MiB)" "$T/err" || fail "refusal: $(cat "$T/err")"
refused 1 "not between one block and the mount's local_max" \
	resize "$MNT" 256M
"$CMPCTL" resize "$MNT" 64M >/dev/null || fail "cmpctl resize back to 64M"
cmp "$T/data" "$MNT/data" || fail "data changed by resizing"
"$CMPCTL" stats "$MNT" --all | grep -qx "local_blocks 64" ||
	fail "local_blocks is not 64 after resizing"
log "cmpctl resize: 64M -> 128M -> 24M (RSS $before -> $after MiB) -> 64M, refusals, data unchanged"
