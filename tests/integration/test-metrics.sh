#!/bin/bash
# SPDX-License-Identifier: MIT
# Metrics and cmpctl top as an operator meets them (issue 13): cmp-manager,
# cmp-memserver and cmpfs each serve their counters for Prometheus at
# --metrics / -o metrics= (a bare port is 127.0.0.1), read here with curl:
# the exposition format's content type, the counters that matter with the
# values the test caused, 404 for another path, 400 for another method or
# garbage. A flood of idle connections from many addresses, reopened as
# they are closed, does not keep a scrape out (the connection caps apply
# to the metrics port as to the cluster's). cmpctl top --once shows the
# node's write rate while a writer runs. Every wait polls with a deadline.
TEST_TIMEOUT=150
. "$(dirname "$0")/lib.sh"
requires_root
requires curl python3
for b in "${CMP_MANAGER:-}" "${CMP_MEMSERVER:-}" "${CMPCTL:-}"; do
	[ -n "$b" ] && [ -x "$b" ] || fail "not built: '$b' (CMP_MANAGER, CMP_MEMSERVER, CMPCTL)"
done

# metrics_url LOG: the address a daemon said it serves its metrics at.
metrics_url() { sed -n 's|.*metrics at \(http://[^ ]*\)$|\1|p' "$1" | head -n 1; }
url_in() { [ -n "$(metrics_url "$1")" ]; }

# scrape URL [CURL_ARGS...]: the answer's status in $T/status, body in $T/body.
scrape()
{
	local url=$1

	shift
	curl -s --max-time 5 -o "$T/body" -w '%{http_code} %{content_type}' \
		"$@" "$url" >"$T/status" || echo "000" >"$T/status"
}

# has BODY_FILE LINE_REGEX: a sample line matches.
has() { grep -E -q "^$2\$" "$1" || fail "no line '$2' in $(basename "$1"): $(head -c 3000 "$1")"; }

# ---- the daemons, each with --metrics on a port of its own choosing ----
start_service manager "grep -q 'metrics at' '$T/manager.log'" \
	"$CMP_MANAGER" --listen tcp://127.0.0.1:0 --insecure -f --metrics 0
MGR=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$T/manager.log")
MGR_M=$(metrics_url "$T/manager.log")
start_service memserver "grep -q 'metrics at' '$T/memserver.log'" \
	"$CMP_MEMSERVER" --manager "$MGR" --listen tcp://127.0.0.1:0 \
	--insecure --ram 16M --block 64K --node-id 77 -f --metrics 0
MS_M=$(metrics_url "$T/memserver.log")
MNT=$T/mnt
mount_fs "$MNT" "local=64M,block=64K,nolock,manager=$MGR,listen=tcp://127.0.0.1:0,insecure,node=11,metrics=0"
wait_until "cmpfs to say where its metrics are" 10 url_in "$T/cmpfs-1.log"
FS_M=$(metrics_url "$T/cmpfs-1.log")
for u in "$MGR_M" "$MS_M" "$FS_M"; do
	case "$u" in
	http://127.0.0.1:*/metrics) ;;
	*) fail "metrics not on loopback: '$u'" ;;
	esac
done
log "metrics at $MGR_M, $MS_M, $FS_M"

# ---- what each one serves ----
dd if=/dev/zero of="$MNT/f" bs=64K count=40 status=none
scrape "$FS_M"
expect_eq "cmpfs scrape" "$(cat "$T/status")" \
	"200 text/plain; version=0.0.4; charset=utf-8"
has "$T/body" 'cmpfs_write_bytes_total 2621440'
has "$T/body" '# TYPE cmpfs_write_bytes_total counter'
has "$T/body" 'cmpfs_list_bytes\{list="LLL"\} 2621440'
has "$T/body" '# TYPE cmpfs_list_bytes gauge'
has "$T/body" 'cmpfs_local_bytes 67108864'
has "$T/body" 'cmpfs_requests_total\{op="write"\} [0-9]+'
has "$T/body" 'cmpfs_node_id 11'
has "$T/body" 'cmpfs_metrics_requests_total\{code="200"\} 1'
# every sample line is NAME[{LABELS}] VALUE, after its family's TYPE line
python3 - "$T/body" <<'EOF' || fail "cmpfs: not the exposition format"
import re, sys
typed = set()
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        typed.add(line.split()[2])
        continue
    if line.startswith("# HELP "):
        continue
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)', line)
    assert m, line
    assert m.group(1) in typed, line
    float(m.group(3))
EOF

scrape "$MGR_M"
expect_eq "manager scrape" "$(cut -d' ' -f1 "$T/status")" 200
has "$T/body" 'cmp_manager_nodes\{state="alive"\} 2'
has "$T/body" 'cmp_manager_node_up\{node="77",kind="memserver"\} 1'
has "$T/body" 'cmp_manager_node_capacity_bytes\{node="11"\} 67108864'
has "$T/body" 'cmp_manager_requests_total\{op="REGISTER"\} [0-9]+'
has "$T/body" 'cmp_manager_connections\{state="authenticated"\} [0-9]+'
has "$T/body" 'cmp_manager_active 1'

scrape "$MS_M"
expect_eq "memserver scrape" "$(cut -d' ' -f1 "$T/status")" 200
has "$T/body" 'cmp_memserver_capacity_bytes 16777216'
has "$T/body" 'cmp_memserver_registered 1'
has "$T/body" 'cmp_memserver_connections_accepted_total [0-9]+'

# ---- anything else is refused ----
scrape "${FS_M%/metrics}/"
expect_eq "GET /" "$(cut -d' ' -f1 "$T/status")" 404
scrape "${FS_M}x"
expect_eq "GET /metricsx" "$(cut -d' ' -f1 "$T/status")" 404
scrape "$FS_M" -X POST -d x=1
expect_eq "POST /metrics" "$(cut -d' ' -f1 "$T/status")" 400
scrape "$FS_M" -I
expect_eq "HEAD /metrics" "$(cut -d' ' -f1 "$T/status")" 400
scrape "$FS_M" -H "X-Big: $(head -c 5000 /dev/zero | tr '\0' a)"
expect_eq "a 5 KB request head" "$(cut -d' ' -f1 "$T/status")" 400
scrape "$FS_M"
has "$T/body" 'cmpfs_metrics_requests_total\{code="404"\} 2'
has "$T/body" 'cmpfs_metrics_requests_total\{code="400"\} 3'
log "404 for other paths, 400 for other methods and a 5 KB head"

# ---- a flood of idle connections does not keep a scrape out ----
# 20 addresses (127.0.1.1 ..), 30 connections each, every one reopened
# when the server closes it: 600 sockets against 64 places in all and 8
# per address. Scrapes come from 127.0.0.1.
port=${MS_M#http://127.0.0.1:}
port=${port%/metrics}
python3 - "$port" "$T/flood.ready" <<'EOF' &
import select, socket, sys, time
port, ready = int(sys.argv[1]), sys.argv[2]
def dial(src):
    s = socket.socket()
    s.setblocking(False)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    return s
socks = {}
for a in range(1, 21):
    for _ in range(30):
        s = dial("127.0.1.%d" % a)
        socks[s] = "127.0.1.%d" % a
open(ready, "w").close()
end = time.time() + 120
while time.time() < end:
    r, _, _ = select.select(list(socks), [], [], 0.2)
    for s in r:
        src = socks.pop(s)
        s.close()
        socks[dial(src)] = src
EOF
flood=$!
defer kill "$flood"
wait_until "the flood to be up" 20 test -e "$T/flood.ready"
slowest=0
for i in $(seq 1 10); do
	t0=$(date +%s%N)
	scrape "$MS_M"
	expect_eq "scrape $i during the flood" "$(cut -d' ' -f1 "$T/status")" 200
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -gt "$slowest" ] && slowest=$ms
done
has "$T/body" 'cmp_memserver_capacity_bytes 16777216'
[ "$slowest" -lt 3000 ] || fail "a scrape took $slowest ms during the flood"
undefer kill "$flood"
log "600 idle connections from 20 addresses: 10 scrapes of 10 answered, the slowest in $slowest ms"

# ---- cmpctl top --once: the node's write rate while a writer runs ----
( end=$((SECONDS + 60)); while [ $SECONDS -lt $end ]; do
	dd if=/dev/zero of="$MNT/f" bs=64K count=40 conv=notrunc status=none || break
done ) &
writer=$!
defer kill "$writer"
writes_seen()
{
	"$CMPCTL" top --manager "$MGR" --insecure --once --interval 500ms \
		>"$T/top" 2>"$T/top.err" || return 1
	# the WRITE column (characters 42-52): a rate above zero
	awk '$1 == 11 && $3 == "alive" { w = substr($0, 42, 11) }
	     END { exit !(w ~ /B\/s/ && w !~ / 0 B\/s/) }' "$T/top"
}
wait_until "cmpctl top to show node 11 writing" 30 writes_seen
sed 's/^/    /' "$T/top"
grep -q -E "^77 +memserver +alive " "$T/top" || fail "top: no memserver line"
undefer kill "$writer"
wait "$writer" 2>/dev/null || true
log "cmpctl top --once: node 11 writes$(awk '$1 == 11 { print substr($0, 42, 11) }' "$T/top")"
