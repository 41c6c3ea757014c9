#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs cmp-rdma-selftest in loopback mode (one RDMA device to itself). On a
# machine without RDMA hardware or soft-RoCE the selftest exits 77, which
# meson reports as SKIP. Usage: test-rdma-selftest.sh PATH-TO-SELFTEST
set -u

selftest=${1:?usage: $0 path/to/cmp-rdma-selftest}
if [ ! -x "$selftest" ]; then
	echo "$selftest: not executable" >&2
	exit 1
fi

# Bounded in time: a wedged fabric must fail the test, not hang it.
# CMP_RDMA_SELFTEST_URL picks the address; by default the selftest uses
# the first one an RDMA device serves.
timeout --signal=TERM --kill-after=10 150 \
	"$selftest" --loopback ${CMP_RDMA_SELFTEST_URL:+"$CMP_RDMA_SELFTEST_URL"} \
	--bulk 64M --iters 2000
rc=$?
case $rc in
0) echo "rdma selftest: PASS" ;;
77) echo "rdma selftest: SKIP (no RDMA device)" ;;
124) echo "rdma selftest: timed out" >&2; rc=1 ;;
*) echo "rdma selftest: FAIL (exit $rc)" >&2 ;;
esac
exit $rc
