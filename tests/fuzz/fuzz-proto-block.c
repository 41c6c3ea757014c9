// SPDX-License-Identifier: MIT
/*
 * Fuzz target for every block data path decoder (pool/proto_block.c, wire
 * version 2). The first input byte picks the decoder (low nibble) and the
 * block size (high nibble), the rest is the payload as it would arrive from
 * the network. ALLOC replies are decoded as an owner that asked for
 * memory windows would (12) and as one that did not (1); HANDOVER and its
 * reply are 13 and 14, FENCE is 15. Whatever a decoder accepts must keep
 * the promises the peer relies on (no zero epoch, ranges inside the block,
 * counts within the buffer, no zero session); a broken promise traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto_block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct proto_block_ref refs[PROTO_BLOCK_MAX_IDX];
static uint32_t rkeys[PROTO_BLOCK_MAX_IDX];
static struct proto_block_extent ext[PROTO_BLOCK_MAX_BATCH];

static void check_refs(uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!refs[i].epoch)
			__builtin_trap();
}

/* A list (FREE, RECONCILE) as a request (min_n 1) or a reply (0). */
static void list(const uint8_t *data, size_t size, uint32_t min_n)
{
	uint32_t flags, n;

	if (proto_block_list_decode(data, size, min_n, &flags, refs,
				    PROTO_BLOCK_MAX_IDX, &n))
		return;
	if (n < min_n || n > PROTO_BLOCK_MAX_IDX ||
	    (flags & ~PROTO_BLOCK_RECONCILE_MASK) ||
	    size != PROTO_BLOCK_LIST_SIZE + (size_t)n * PROTO_BLOCK_REF_SIZE)
		__builtin_trap();
	check_refs(n);
}

static void rw(const uint8_t *data, size_t size, bool write, uint32_t bs)
{
	struct proto_block_rw r;

	if (proto_block_rw_decode(data, size, size, write, bs, &r))
		return;
	if (!r.epoch || !r.len || (uint64_t)r.off + r.len > bs)
		__builtin_trap();
	/* the data the peer would copy must be in the input */
	if (write && size - PROTO_BLOCK_RW_SIZE != r.len)
		__builtin_trap();
}

static void batch(const uint8_t *data, size_t size, bool write, uint32_t bs)
{
	struct proto_block_batch b;
	uint64_t sum = 0;
	int hdr;

	hdr = proto_block_batch_decode(data, size, size, write, bs, &b, ext,
				       PROTO_BLOCK_MAX_BATCH);
	if (hdr < 0)
		return;
	for (uint32_t i = 0; i < b.n; i++) {
		if (!ext[i].epoch || !ext[i].len ||
		    (uint64_t)ext[i].off + ext[i].len > bs)
			__builtin_trap();
		sum += ext[i].len;
	}
	if (sum != b.data_len || size != (size_t)hdr + (write ? sum : 0))
		__builtin_trap();
}

/*
 * An ALLOC reply, to an owner that asked for windows (or not): every
 * window it accepts lies inside the store it names, which does not wrap.
 */
static void alloc_rep(const uint8_t *data, size_t size, uint32_t bs, bool asked)
{
	struct proto_block_alloc_rep r;
	size_t entry = PROTO_BLOCK_REF_SIZE;

	if (proto_block_alloc_rep_decode(data, size, bs, &r, refs,
					 asked ? rkeys : NULL,
					 PROTO_BLOCK_MAX_IDX))
		return;
	if (r.flags & PROTO_BLOCK_ALLOC_WINDOWS) {
		if (!asked || !r.len || r.base + r.len < r.base)
			__builtin_trap();
		entry += PROTO_BLOCK_RKEY_SIZE;
		for (uint32_t i = 0; i < r.count; i++)
			if (rkeys[i] &&
			    ((uint64_t)refs[i].block + 1) * bs > r.len)
				__builtin_trap();
	} else if (r.flags || r.base || r.len) {
		__builtin_trap();
	}
	if (size != PROTO_BLOCK_ALLOC_REP_SIZE + (size_t)r.count * entry)
		__builtin_trap();
	check_refs(r.count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_block_status st;
	struct proto_block_handover ho;
	struct proto_block_moved mv;
	uint32_t n, bs, flags;
	uint64_t session;
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
		if (proto_block_alloc_req_decode(data, size, &n, &flags) == 0 &&
		    (!n || n > PROTO_BLOCK_MAX_IDX ||
		     (flags & ~PROTO_BLOCK_ALLOC_MASK)))
			__builtin_trap();
		break;
	case 1: /* an ALLOC reply to an owner that asked for no windows */
		alloc_rep(data, size, bs, false);
		break;
	case 2: /* FREE or RECONCILE request */
		list(data, size, 1);
		break;
	case 3:
	case 4:
		rw(data, size, (sel & 0x0f) == 4, bs);
		break;
	case 5:
		proto_block_batch_prefix(data, size);
		break;
	case 6:
	case 7:
		batch(data, size, (sel & 0x0f) == 7, bs);
		break;
	case 8:
		if (proto_block_status_decode(data, size, &st) == 0 &&
		    (!st.lease_ms || st.free > st.total))
			__builtin_trap();
		break;
	case 9:
		if (proto_block_moved_decode(data, size, &mv) == 0 &&
		    (strnlen(mv.addr, sizeof(mv.addr)) >= sizeof(mv.addr) ||
		     !mv.epoch || !mv.from_epoch || !mv.node ||
		     (mv.flags & ~PROTO_BLOCK_MOVED_MASK)))
			__builtin_trap();
		break;
	case 10: /* RECONCILE reply: may list nothing */
		list(data, size, 0);
		break;
	case 11: /* FREE and GOODBYE replies */
		proto_block_count_decode(data, size, &n);
		break;
	case 12: /* an ALLOC reply where windows were asked for */
		alloc_rep(data, size, bs, true);
		break;
	case 13:
		if (proto_block_handover_decode(data, size, &ho) == 0 &&
		    (!ho.to || !ho.ref.epoch))
			__builtin_trap();
		break;
	case 14: /* HANDOVER reply */
		if (proto_block_ref_decode(data, size, refs) == 0 &&
		    !refs[0].epoch)
			__builtin_trap();
		break;
	case 15: /* FENCE: names a connection, never 0 */
		if (proto_block_fence_decode(data, size, &session) == 0 &&
		    (!session || size != PROTO_BLOCK_FENCE_SIZE))
			__builtin_trap();
		break;
	default:
		break;
	}
	return 0;
}
