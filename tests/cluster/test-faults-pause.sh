#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Expectation (issue 9): a provider paused with SIGSTOP for 30 s while its
# owner writes loses nothing. Node n1 (4 MiB of its own) rewrites file f,
# most of whose blocks live on n2, chunk by chunk with an fsync after each;
# n2 is stopped for 30 s, then continued. While n2 is stopped, n1's writes
# fail with EIO within seconds (never hang) and its home file s stays
# readable and writable; within 10 s of SIGCONT n1's writes are
# acknowledged again; every acknowledged chunk of f reads back exactly; no
# log line anywhere says blocks were freed or forgotten; n1 lost no block.
TEST_TIMEOUT=150
. "$(dirname "$0")/lib-faults.sh"
# Writes to n2's blocks fail while it is stopped.
allow_n2_failures

fault_namespaces

fault_nodes 16M
owner_files n1 n2

pid=${DAEMON_PID[n2]}
defer kill -CONT "$pid"
fault_round "n2 stopped" 30 "kill -STOP $pid" "kill -CONT $pid"
for id in 11 12; do
	node_alive "$id" || check_fail "node $id not alive at the manager after the pause"
done
show_status
checks_done
