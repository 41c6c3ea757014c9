#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus for fuzz-proto-block (wire version 2): one file
per message, the first byte selecting the decoder (low nibble, as in
fuzz-proto-block.c) and block size (high nibble: 4 KiB << n), the rest the
little-endian payload as sent on the wire. Loans are (block, epoch); no
payload names an owner. Stale corpus files are removed first.
Run from the source root: tests/fuzz/gen-corpus-proto-block.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(__file__), "corpus", "fuzz-proto-block")
BS64K = 4 << 4  # 4 KiB << 4 = 64 KiB

# decoders (low nibble)
ALLOC_REQ, ALLOC_REP, LIST_REQ, READ, WRITE, BATCH_PREFIX = 0, 1, 2, 3, 4, 5
READ_BATCH, WRITE_BATCH, STATUS, MOVED, LIST_REP, COUNT = 6, 7, 8, 9, 10, 11
ALLOC_REP_WINDOWS = 12  # a reply decoded as by an owner that asked for them
HANDOVER, REF = 13, 14
FENCE = 15
FIRST, LAST = 1, 2
WINDOWS = 1
MAX_IDX = 1024


def refs(pairs):
    return b"".join(struct.pack("<2I", b, e) for b, e in pairs)


def rw(block, epoch, off, length):
    return struct.pack("<4I", block, epoch, off, length)


def batch(extents):
    """extents: (block, epoch, off, len); data_len is their sum."""
    b = struct.pack("<IIQ", len(extents), 0, sum(e[3] for e in extents))
    for blk, epoch, off, ln in extents:
        b += rw(blk, epoch, off, ln)
    return b


def status(node, bs, total, free, lease_ms, incarnation, region=(0, 0, 0)):
    addr, length, rkey = region
    return struct.pack("<4IQQIIQ", node, bs, total, free, addr, length, rkey,
                       lease_ms, incarnation)


def moved(frm, node, block, epoch, addr, from_epoch=1, flags=0):
    return struct.pack("<6I", frm, node, block, epoch, from_epoch, flags) + \
        addr.ljust(64, b"\0")


def alloc_rep(pairs, flags=0, base=0, length=0, rkeys=None):
    """{count, flags, base, len} + refs [+ rkeys]."""
    b = struct.pack("<IIQQ", len(pairs), flags, base, length) + refs(pairs)
    if rkeys is not None:
        b += struct.pack("<%dI" % len(rkeys), *rkeys)
    return b


def sel(decoder, bs_shift=0):
    return bytes([bs_shift << 4 | decoder])


SEEDS = {
    "alloc-req": sel(ALLOC_REQ) + struct.pack("<2I", 16, 0),
    "alloc-req-max": sel(ALLOC_REQ) + struct.pack("<2I", MAX_IDX, 0),
    "alloc-req-windows": sel(ALLOC_REQ) + struct.pack("<2I", 4, WINDOWS),
    "alloc-req-bad-flags": sel(ALLOC_REQ) + struct.pack("<2I", 1, 2),
    "alloc-rep": sel(ALLOC_REP) + alloc_rep([(0, 7), (5, 8), (9, 9)]),
    "alloc-rep-empty": sel(ALLOC_REP) + alloc_rep([]),
    "alloc-rep-unasked-windows": sel(ALLOC_REP, 4) + alloc_rep(
        [(42, 0x1234)], WINDOWS, 0x7f0000000000, 1 << 30, [0x1fe]),
    "alloc-rep-base-without-windows": sel(ALLOC_REP) + alloc_rep(
        [(1, 2)], 0, 0x7f0000000000, 1 << 30),
    "alloc-rep-zero-epoch": sel(ALLOC_REP) + alloc_rep([(1, 0)]),
    "alloc-rep-max": sel(ALLOC_REP) + alloc_rep(
        [(i, i + 1) for i in range(MAX_IDX)]),
    "alloc-rep-windows": sel(ALLOC_REP_WINDOWS, 4) + alloc_rep(
        [(0, 7), (5, 8), (15, 9)], WINDOWS, 0x7f0000000000, 16 << 16,
        [0x100fe, 0, 0x102fe]),
    "alloc-rep-windows-none": sel(ALLOC_REP_WINDOWS) + alloc_rep(
        [(0, 7), (5, 8)]),
    "alloc-rep-window-past-store": sel(ALLOC_REP_WINDOWS, 4) + alloc_rep(
        [(16, 7)], WINDOWS, 0x7f0000000000, 16 << 16, [0x100fe]),
    "alloc-rep-windows-wrap": sel(ALLOC_REP_WINDOWS) + alloc_rep(
        [(0, 7)], WINDOWS, (1 << 64) - 4096, 8192, [0x100fe]),
    "alloc-rep-windows-no-rkeys": sel(ALLOC_REP_WINDOWS) + alloc_rep(
        [(0, 7)], WINDOWS, 0x10000, 1 << 20),
    "alloc-rep-windows-max": sel(ALLOC_REP_WINDOWS) + alloc_rep(
        [(i, i + 1) for i in range(MAX_IDX)], WINDOWS, 1 << 40,
        MAX_IDX * 4096, [i << 8 | 0xfe for i in range(MAX_IDX)]),
    "free-req": sel(LIST_REQ) + struct.pack("<2I", 0, 2)
    + refs([(1, 100), (2, 101)]),
    "free-req-max": sel(LIST_REQ) + struct.pack("<2I", 0, MAX_IDX)
    + refs([(i, 0x10000 + i) for i in range(MAX_IDX)]),
    "free-req-zero-epoch": sel(LIST_REQ) + struct.pack("<2I", 0, 1)
    + refs([(1, 0)]),
    "reconcile-first": sel(LIST_REQ) + struct.pack("<2I", FIRST, 2)
    + refs([(3, 30), (4, 40)]),
    "reconcile-first-last": sel(LIST_REQ)
    + struct.pack("<2I", FIRST | LAST, 1) + refs([(3, 30)]),
    "reconcile-bad-flags": sel(LIST_REQ) + struct.pack("<2I", 4, 1)
    + refs([(3, 30)]),
    "reconcile-rep": sel(LIST_REP) + struct.pack("<2I", 0, 1)
    + refs([(7, 70)]),
    "reconcile-rep-empty": sel(LIST_REP) + struct.pack("<2I", 0, 0),
    "count": sel(COUNT) + struct.pack("<2I", 12, 0),
    "count-reserved": sel(COUNT) + struct.pack("<2I", 12, 1),
    "read": sel(READ, 4) + rw(1, 0xfeed, 100, 512),
    "read-whole": sel(READ) + rw(1, 1, 0, 4096),
    "read-zero-epoch": sel(READ) + rw(1, 0, 0, 8),
    "write": sel(WRITE, 4) + rw(1, 2, 10, 8) + b"abcdefgh",
    "write-tail": sel(WRITE) + rw(2, 3, 4095, 1) + b"z",
    "batch-prefix": sel(BATCH_PREFIX) + struct.pack("<IIQ", 3, 0, 300),
    "read-batch": sel(READ_BATCH, 4) + batch([(1, 5, 0, 512),
                                              (2, 6, 4096, 100)]),
    "write-batch": sel(WRITE_BATCH, 4) + batch([(1, 5, 0, 4), (3, 7, 8, 2)])
    + b"wxyz" + b"ab",
    "write-batch-one": sel(WRITE_BATCH) + batch([(0, 9, 4092, 4)]) + b"tail",
    "write-batch-bad-sum": sel(WRITE_BATCH) + struct.pack("<IIQ", 1, 0, 3)
    + rw(0, 9, 0, 4) + b"four",
    "status": sel(STATUS) + status(5, 65536, 100, 40, 300000,
                                   0x0123456789abcdef),
    "status-rdma": sel(STATUS) + status(5, 4096, 16, 16, 1000, 1,
                                        (0x7f0000000000, 65536, 0x99)),
    "status-no-lease": sel(STATUS) + status(5, 4096, 16, 16, 0, 1),
    "moved": sel(MOVED) + moved(3, 12, 40, 77, b"tcp://127.0.0.1:7001"),
    "moved-v6": sel(MOVED) + moved(0, 1, 1, 1, b"tcp://[::1]:7001"),
    "moved-freed-noaddr": sel(MOVED) + moved(5, 2, 3, 4, b"", 9, 1),
    "moved-bad-flags": sel(MOVED) + moved(5, 2, 3, 4, b"", 9, 6),
    "handover": sel(HANDOVER) + struct.pack("<4I", 3, 30, 9, 0),
    "handover-to-nobody": sel(HANDOVER) + struct.pack("<4I", 3, 30, 0, 0),
    "ref": sel(REF) + refs([(4, 44)]),
    "fence": sel(FENCE) + struct.pack("<Q", 0x9e3779b97f4a7c15),
    "fence-zero": sel(FENCE) + struct.pack("<Q", 0),
    "fence-short": sel(FENCE) + struct.pack("<I", 7),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
