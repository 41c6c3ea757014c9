#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Expectation (issue 9): a 10 s network partition loses nothing, whether
# the node cut off is a provider or the owner. Node n1 (4 MiB of its own)
# rewrites file f, most of whose blocks live on n2, chunk by chunk with an
# fsync after each. Round 1 pulls n2's cable (its veth end on the bridge
# goes down) for 10 s; round 2 pulls n1's. In each: while the cable is out
# n1's writes fail with EIO within seconds (never hang) and its home file s
# stays readable and writable; within 10 s of the cable going back n1's
# writes are acknowledged again; every acknowledged chunk of f reads back
# exactly; no log line anywhere says blocks were freed or forgotten; n1
# lost no block.
TEST_TIMEOUT=150
. "$(dirname "$0")/lib-faults.sh"
# Writes to n2's blocks fail while either side is cut off.
allow_n2_failures

fault_namespaces

fault_nodes 16M
owner_files n1 n2
fault_round "provider n2 cut off" 10 "link_down n2" "link_up n2"
owner_files n1 n2
fault_round "owner n1 cut off" 10 "link_down n1" "link_up n1"
for id in 11 12; do
	wait_for "node $id alive at the manager" 10 node_alive "$id" ||
		check_fail "node $id not alive at the manager after the partitions"
done
show_status
checks_done
