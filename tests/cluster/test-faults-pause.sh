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
# Writes to n2's blocks fail while it is stopped.
ALLOWED_ERRORS='(read|write) of inode [0-9]+ at [0-9]+: (Input/output error|Bad message)|moving block [0-9]+ to node 12|block [0-9]+ (\(epoch [0-9]+\) )?on node 12: '
. "$(dirname "$0")/lib-faults.sh"

netns_add mgr 10.77.0.1
netns_add n1 10.77.0.11
netns_add n2 10.77.0.12

start_manager
ID_OF=([n1]=11 [n2]=12)
start_node n2 12 local=16M
start_node n1 11 local=4M
for id in 11 12; do
	wait_until "node $id alive at the manager" 20 node_alive "$id"
done
owner_files n1 n2

pid=${DAEMON_PID[n2]}
defer kill -CONT "$pid"
fault_round "n2 stopped" 30 "kill -STOP $pid" "kill -CONT $pid"
for id in 11 12; do
	node_alive "$id" || check_fail "node $id not alive at the manager after the pause"
done
show_status
checks_done
