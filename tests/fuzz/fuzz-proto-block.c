// SPDX-License-Identifier: MIT
/*
 * Fuzz target for every block data path decoder (pool/proto_block.c). The
 * first input byte picks the decoder and the block size, the rest is the
 * payload as it would arrive from the network.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto_block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t idx[PROTO_BLOCK_MAX_IDX];
static struct proto_block_extent ext[PROTO_BLOCK_MAX_BATCH];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_block_alloc_req areq;
	struct proto_block_alloc_rep arep;
	struct proto_block_rw rw;
	struct proto_block_batch b;
	struct proto_block_status st;
	struct proto_block_moved mv;
	uint32_t owner, n, bs;
	uint8_t sel;

	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;
	/* 4 KiB .. 4 MiB, from the high bits of the selector */
	bs = PROTO_BLOCK_MIN_SIZE << ((sel >> 4) % 11);
	switch (sel & 0x0f) {
	case 0:
		proto_block_alloc_req_decode(data, size, &areq);
		break;
	case 1:
		proto_block_alloc_rep_decode(data, size, &arep, idx,
					     PROTO_BLOCK_MAX_IDX);
		break;
	case 2:
		proto_block_free_req_decode(data, size, &owner, idx,
					    PROTO_BLOCK_MAX_IDX, &n);
		break;
	case 3:
		proto_block_rw_decode(data, size, size, false, bs, &rw);
		break;
	case 4:
		if (proto_block_rw_decode(data, size, size, true, bs, &rw) == 0)
			/* the data the peer would copy must be in the input */
			if (size - PROTO_BLOCK_RW_SIZE != rw.len)
				__builtin_trap();
		break;
	case 5:
		proto_block_batch_prefix(data, size);
		break;
	case 6:
	case 7: {
		int hdr = proto_block_batch_decode(data, size, size, sel & 1,
						   bs, &b, ext,
						   PROTO_BLOCK_MAX_BATCH);
		if (hdr >= 0) {
			uint64_t sum = 0;

			for (uint32_t i = 0; i < b.n; i++) {
				if ((uint64_t)ext[i].off + ext[i].len > bs)
					__builtin_trap();
				sum += ext[i].len;
			}
			if (sum != b.data_len)
				__builtin_trap();
		}
		break;
	}
	case 8:
		proto_block_status_decode(data, size, &st);
		break;
	case 9:
		if (proto_block_moved_decode(data, size, &mv) == 0 &&
		    strnlen(mv.addr, sizeof(mv.addr)) >= sizeof(mv.addr))
			__builtin_trap();
		break;
	default:
		break;
	}
	return 0;
}
