/* SPDX-License-Identifier: MIT */
/*
 * What fuzz-peer.c and its seed writer gen-corpus-peer.c agree on, so that
 * the seeds can name real loans: an input is one byte, the node id its
 * connection authenticates as (0: a tool), then the request stream. Each
 * input gets a fresh store and peer whose epochs are fixed (getrandom() is
 * wrapped to yield FUZZ_PEER_RANDOM), and before the input a neighbour
 * owner borrows the first blocks and fills them; no input may change them.
 */
#ifndef CMP_FUZZ_PEER_H
#define CMP_FUZZ_PEER_H

#define FUZZ_PEER_BS 4096u
#define FUZZ_PEER_BLOCKS 16u
/* Not a one-byte id: no input can speak as the neighbour. */
#define FUZZ_PEER_NEIGHBOUR 1000u
/* It holds blocks 0 .. FUZZ_PEER_NEIGHBOUR_BLOCKS - 1, each all 0xa5. */
#define FUZZ_PEER_NEIGHBOUR_BLOCKS 2u
#define FUZZ_PEER_NEIGHBOUR_BYTE 0xa5
/* Every 32-bit word the wrapped getrandom() yields. */
#define FUZZ_PEER_RANDOM 0x1000u
/* The epoch of the peer's k-th loan (k from 0; the neighbour's come first). */
#define FUZZ_PEER_EPOCH(k) (FUZZ_PEER_RANDOM + 1u + (k))

#endif
