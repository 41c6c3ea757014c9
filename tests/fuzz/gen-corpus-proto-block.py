#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus for fuzz-proto-block: one file per message, the
first byte selecting the decoder (low nibble) and block size (high nibble:
4 KiB << n), the rest the little-endian payload as sent on the wire.
Run from the source root: tests/fuzz/gen-corpus-proto-block.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(__file__), "corpus", "fuzz-proto-block")
BS64K = 4 << 4  # 4 KiB << 4 = 64 KiB


def rw(owner, block, off, length):
    return struct.pack("<4I", owner, block, off, length)


def batch(owner, extents):
    b = struct.pack("<2I", owner, len(extents))
    for blk, off, ln in extents:
        b += struct.pack("<4I", blk, off, ln, 0)
    return b


def moved(frm, node, block, addr):
    return struct.pack("<4I", frm, node, block, 0) + addr.ljust(64, b"\0")


SEEDS = {
    "alloc-req": bytes([0]) + struct.pack("<2I", 7, 16),
    "alloc-req-max": bytes([0]) + struct.pack("<2I", 7, 1024),
    "alloc-rep": bytes([1]) + struct.pack("<IIQQ", 3, 0, 0, 0)
    + struct.pack("<3I", 0, 5, 9),
    "alloc-rep-rdma": bytes([1]) + struct.pack("<IIQQ", 1, 0x1234,
                                               0x7f0000000000, 1 << 30)
    + struct.pack("<I", 42),
    "free-req": bytes([2]) + struct.pack("<2I", 7, 2) + struct.pack("<2I", 1, 2),
    "read": bytes([BS64K | 3]) + rw(7, 1, 100, 512),
    "read-whole": bytes([3]) + rw(7, 1, 0, 4096),
    "write": bytes([BS64K | 4]) + rw(7, 1, 10, 8) + b"abcdefgh",
    "write-tail": bytes([4]) + rw(7, 2, 4095, 1) + b"z",
    "batch-prefix": bytes([5]) + struct.pack("<2I", 7, 3),
    "read-batch": bytes([BS64K | 6]) + batch(7, [(1, 0, 512), (2, 4096, 100)]),
    "write-batch": bytes([BS64K | 7]) + batch(7, [(1, 0, 4), (3, 8, 2)])
    + b"wxyz" + b"ab",
    "write-batch-one": bytes([7]) + batch(9, [(0, 4092, 4)]) + b"tail",
    "status": bytes([8]) + struct.pack("<4IQQII", 5, 65536, 100, 40, 0, 0, 0, 0),
    "moved": bytes([9]) + moved(3, 12, 40, b"tcp://127.0.0.1:7001"),
    "moved-v6": bytes([9]) + moved(0, 1, 1, b"tcp://[::1]:7001"),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
