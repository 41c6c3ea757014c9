// SPDX-License-Identifier: MIT
/*
 * The ALLOC codecs (wire version 2): the request's count and flags, the
 * reply's loans and, when the owner asked for memory windows, the store's
 * address and one rkey per loan. Every invalid count, flag, epoch, length
 * and window outside the store is rejected; forged inputs are written byte
 * by byte at the documented little-endian offsets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto_block.h"

#define BS (64u << 10)

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* refs[i] = {base + i, epoch + i} */
static void make_refs(struct proto_block_ref *refs, uint32_t n, uint32_t base,
		      uint32_t epoch)
{
	for (uint32_t i = 0; i < n; i++)
		refs[i] = (struct proto_block_ref){base + i, epoch + i};
}

static void alloc_request_round_trips_and_names_no_owner(void **state)
{
	uint8_t buf[PROTO_BLOCK_ALLOC_REQ_SIZE];
	uint32_t n = 0, flags = 9;

	assert_int_equal(proto_block_alloc_req_encode(33, 0, buf, sizeof(buf)),
			 PROTO_BLOCK_ALLOC_REQ_SIZE);
	/* {n, flags}: nothing else, least significant byte first */
	assert_int_equal(buf[0], 33);
	for (int i = 1; i < PROTO_BLOCK_ALLOC_REQ_SIZE; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(
		proto_block_alloc_req_decode(buf, sizeof(buf), &n, &flags), 0);
	assert_int_equal(n, 33);
	assert_int_equal(flags, 0);
	assert_int_equal(proto_block_alloc_req_encode(PROTO_BLOCK_MAX_IDX,
						      PROTO_BLOCK_ALLOC_WINDOWS,
						      buf, sizeof(buf)),
			 PROTO_BLOCK_ALLOC_REQ_SIZE);
	assert_int_equal(buf[4], PROTO_BLOCK_ALLOC_WINDOWS);
	assert_int_equal(
		proto_block_alloc_req_decode(buf, sizeof(buf), &n, &flags), 0);
	assert_int_equal(n, PROTO_BLOCK_MAX_IDX);
	assert_int_equal(flags, PROTO_BLOCK_ALLOC_WINDOWS);
}

static void alloc_request_rejects_bad_counts_sizes_and_flags(void **state)
{
	uint8_t buf[PROTO_BLOCK_ALLOC_REQ_SIZE + 1] = {0};
	uint32_t n, f;

	assert_int_equal(proto_block_alloc_req_encode(0, 0, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(proto_block_alloc_req_encode(PROTO_BLOCK_MAX_IDX + 1,
						      0, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(proto_block_alloc_req_encode(1, 2, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(proto_block_alloc_req_encode(1, 0, buf, 7), -ENOBUFS);
	/* forged: 0, one too many, an unknown flag */
	put32(buf, 0);
	assert_int_equal(proto_block_alloc_req_decode(buf, 8, &n, &f), -EINVAL);
	put32(buf, PROTO_BLOCK_MAX_IDX + 1);
	assert_int_equal(proto_block_alloc_req_decode(buf, 8, &n, &f), -EINVAL);
	put32(buf, 1);
	put32(buf + 4, 2);
	assert_int_equal(proto_block_alloc_req_decode(buf, 8, &n, &f), -EINVAL);
	put32(buf + 4, 0x80000001u);
	assert_int_equal(proto_block_alloc_req_decode(buf, 8, &n, &f), -EINVAL);
	put32(buf + 4, 0);
	assert_int_equal(proto_block_alloc_req_decode(buf, 8, &n, &f), 0);
	assert_int_equal(proto_block_alloc_req_decode(buf, 7, &n, &f),
			 -EMSGSIZE);
	assert_int_equal(proto_block_alloc_req_decode(buf, 9, &n, &f),
			 -EMSGSIZE);
	assert_int_equal(proto_block_alloc_req_decode(buf, 0, &n, &f),
			 -EMSGSIZE);
}

static void alloc_reply_without_windows_round_trips_refs(void **state)
{
	struct proto_block_ref refs[5] = {
		{0, 1}, {1, 0xffffffffu}, {99, 7}, {4000000000u, 8}, {3, 9}};
	struct proto_block_ref got[5];
	struct proto_block_alloc_rep in = {.count = 5}, out;
	uint8_t buf[PROTO_BLOCK_ALLOC_REP_SIZE + 5 * PROTO_BLOCK_REF_SIZE];
	int n;

	n = proto_block_alloc_rep_encode(&in, refs, NULL, buf, sizeof(buf));
	assert_int_equal(n, sizeof(buf));
	/* the second ref's epoch, at fixed part + 8 + 4 */
	assert_int_equal(buf[PROTO_BLOCK_ALLOC_REP_SIZE + 12], 0xff);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, NULL, 5),
		0);
	assert_int_equal(out.count, 5);
	assert_int_equal(out.flags, 0);
	assert_int_equal(out.base, 0);
	assert_int_equal(out.len, 0);
	assert_memory_equal(got, refs, sizeof(refs));
	/* a store address without windows is nonsense, both ways */
	in.base = 0x1000;
	assert_int_equal(
		proto_block_alloc_rep_encode(&in, refs, NULL, buf, sizeof(buf)),
		-EINVAL);
	put64(buf + 8, 0x1000);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, NULL, 5),
		-EINVAL);
	put64(buf + 8, 0);
	put64(buf + 16, 1);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, NULL, 5),
		-EINVAL);
}

static void alloc_reply_with_windows_carries_an_rkey_per_loan(void **state)
{
	struct proto_block_ref refs[3] = {{0, 11}, {5, 12}, {15, 13}}, got[3];
	uint32_t rkeys[3] = {0x1234fe, 0, 0xfffffffeu}, gk[3];
	struct proto_block_alloc_rep in = {
		.count = 3,
		.flags = PROTO_BLOCK_ALLOC_WINDOWS,
		.base = 0x7f0000000000ull,
		.len = 16ull * BS,
	};
	struct proto_block_alloc_rep out;
	uint8_t buf[PROTO_BLOCK_ALLOC_REP_SIZE +
		    3 * (PROTO_BLOCK_REF_SIZE + PROTO_BLOCK_RKEY_SIZE)];
	size_t rk = PROTO_BLOCK_ALLOC_REP_SIZE + 3 * PROTO_BLOCK_REF_SIZE;
	int n;

	/* the rkeys follow all the refs */
	n = proto_block_alloc_rep_encode(&in, refs, rkeys, buf, sizeof(buf));
	assert_int_equal(n, sizeof(buf));
	assert_int_equal(buf[rk], 0xfe);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, gk, 3), 0);
	assert_int_equal(out.flags, PROTO_BLOCK_ALLOC_WINDOWS);
	assert_int_equal(out.base, in.base);
	assert_int_equal(out.len, in.len);
	assert_memory_equal(got, refs, sizeof(refs));
	assert_memory_equal(gk, rkeys, sizeof(rkeys));
	/* windows to a caller that asked for none: refused */
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, NULL, 3),
		-EINVAL);
	/* nor without their rkeys, nor with one too many bytes */
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n - 4, BS, &out, got, gk, 3),
		-EMSGSIZE);
	assert_int_equal(
		proto_block_alloc_rep_encode(&in, refs, NULL, buf, sizeof(buf)),
		-EINVAL);
	assert_int_equal(proto_block_alloc_rep_encode(&in, refs, rkeys, buf,
						      sizeof(buf) - 1),
			 -ENOBUFS);
}

static void alloc_reply_windows_must_lie_in_the_store(void **state)
{
	struct proto_block_ref refs[2] = {{0, 11}, {15, 12}}, got[2];
	uint32_t rkeys[2] = {0x100fe, 0x101fe}, gk[2];
	struct proto_block_alloc_rep in = {
		.count = 2,
		.flags = PROTO_BLOCK_ALLOC_WINDOWS,
		.base = 0x10000,
		.len = 16ull * BS,
	};
	struct proto_block_alloc_rep out;
	uint8_t buf[PROTO_BLOCK_ALLOC_REP_SIZE +
		    2 * (PROTO_BLOCK_REF_SIZE + PROTO_BLOCK_RKEY_SIZE)];
	int n = proto_block_alloc_rep_encode(&in, refs, rkeys, buf,
					     sizeof(buf));

	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, gk, 2), 0);
	/* block 15 of 64 KiB ends past a store of 15 blocks */
	put64(buf + 16, 15ull * BS);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, gk, 2),
		-EINVAL);
	/* unless that loan has no window */
	put32(buf + n - 4, 0);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, gk, 2), 0);
	/* a store that wraps the address space, or is empty */
	put64(buf + 8, UINT64_MAX - BS);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, gk, 2),
		-EINVAL);
	put64(buf + 8, 0x10000);
	put64(buf + 16, 0);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, gk, 2),
		-EINVAL);
	/* unknown flags */
	put64(buf + 16, 16ull * BS);
	put32(buf + 4, 3);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, n, BS, &out, got, gk, 2),
		-EINVAL);
}

static void alloc_reply_carries_zero_to_max_refs(void **state)
{
	static struct proto_block_ref refs[PROTO_BLOCK_MAX_IDX + 1];
	static struct proto_block_ref got[PROTO_BLOCK_MAX_IDX + 1];
	static uint32_t rkeys[PROTO_BLOCK_MAX_IDX], gk[PROTO_BLOCK_MAX_IDX];
	static uint8_t buf[PROTO_BLOCK_MAX_IDX_MSG + PROTO_BLOCK_REF_SIZE];
	struct proto_block_alloc_rep in = {.count = 0}, out;
	size_t plain = PROTO_BLOCK_ALLOC_REP_SIZE +
		       PROTO_BLOCK_MAX_IDX * PROTO_BLOCK_REF_SIZE;

	/* an empty reply is legal (count 0) */
	assert_int_equal(proto_block_alloc_rep_encode(&in, refs, NULL, buf, 24),
			 24);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, 24, BS, &out, got, NULL, 0),
		0);
	assert_int_equal(out.count, 0);
	/* the most one reply may carry, without and with windows */
	make_refs(refs, PROTO_BLOCK_MAX_IDX + 1, 0, 1);
	in.count = PROTO_BLOCK_MAX_IDX;
	assert_int_equal(
		proto_block_alloc_rep_encode(&in, refs, NULL, buf, sizeof(buf)),
		plain);
	assert_int_equal(proto_block_alloc_rep_decode(buf, plain, BS, &out, got,
						      NULL,
						      PROTO_BLOCK_MAX_IDX + 1),
			 0);
	assert_int_equal(out.count, PROTO_BLOCK_MAX_IDX);
	assert_memory_equal(got, refs, PROTO_BLOCK_MAX_IDX * sizeof(*refs));
	in.flags = PROTO_BLOCK_ALLOC_WINDOWS;
	in.base = 1ull << 40;
	in.len = (uint64_t)PROTO_BLOCK_MAX_IDX * BS;
	for (uint32_t i = 0; i < PROTO_BLOCK_MAX_IDX; i++)
		rkeys[i] = i << 8 | 0xfe;
	assert_int_equal(proto_block_alloc_rep_encode(&in, refs, rkeys, buf,
						      sizeof(buf)),
			 PROTO_BLOCK_MAX_IDX_MSG);
	assert_int_equal(proto_block_alloc_rep_decode(
				 buf, PROTO_BLOCK_MAX_IDX_MSG, BS, &out, got,
				 gk, PROTO_BLOCK_MAX_IDX),
			 0);
	assert_memory_equal(gk, rkeys, sizeof(rkeys));
	/* one more is refused both ways, even with room for it */
	in = (struct proto_block_alloc_rep){.count = PROTO_BLOCK_MAX_IDX + 1};
	assert_int_equal(
		proto_block_alloc_rep_encode(&in, refs, NULL, buf, sizeof(buf)),
		-EINVAL);
	memset(buf, 0, sizeof(buf));
	put32(buf, PROTO_BLOCK_MAX_IDX + 1);
	for (uint32_t i = 0; i <= PROTO_BLOCK_MAX_IDX; i++) {
		put32(buf + 24 + 8 * i, refs[i].block);
		put32(buf + 24 + 8 * i + 4, refs[i].epoch);
	}
	assert_int_equal(proto_block_alloc_rep_decode(buf, plain + 8, BS, &out,
						      got, NULL,
						      PROTO_BLOCK_MAX_IDX + 1),
			 -EINVAL);
}

static void alloc_reply_rejects_bad_counts_lengths_and_epochs(void **state)
{
	struct proto_block_ref refs[5], got[5];
	struct proto_block_alloc_rep in = {.count = 5}, out;
	uint8_t buf[PROTO_BLOCK_ALLOC_REP_SIZE + 5 * PROTO_BLOCK_REF_SIZE];

	make_refs(refs, 5, 1, 100);
	assert_int_equal(proto_block_alloc_rep_encode(&in, refs, NULL, buf,
						      sizeof(buf) - 1),
			 -ENOBUFS);
	proto_block_alloc_rep_encode(&in, refs, NULL, buf, sizeof(buf));
	/* truncated and padded buffers */
	assert_int_equal(proto_block_alloc_rep_decode(buf, sizeof(buf) - 1, BS,
						      &out, got, NULL, 5),
			 -EMSGSIZE);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, 23, BS, &out, got, NULL, 5),
		-EMSGSIZE);
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, 24, BS, &out, got, NULL, 5),
		-EMSGSIZE);
	/* caller room smaller than count */
	assert_int_equal(proto_block_alloc_rep_decode(buf, sizeof(buf), BS,
						      &out, got, NULL, 4),
			 -EINVAL);
	/* count forged huge */
	buf[2] = 0xff;
	assert_int_equal(proto_block_alloc_rep_decode(buf, sizeof(buf), BS,
						      &out, got, NULL, 5),
			 -EINVAL);
	buf[2] = 0;
	/* no loan has epoch 0: the last ref's epoch zeroed */
	put32(buf + sizeof(buf) - 4, 0);
	assert_int_equal(proto_block_alloc_rep_decode(buf, sizeof(buf), BS,
						      &out, got, NULL, 5),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(alloc_request_round_trips_and_names_no_owner),
		cmocka_unit_test(
			alloc_request_rejects_bad_counts_sizes_and_flags),
		cmocka_unit_test(alloc_reply_without_windows_round_trips_refs),
		cmocka_unit_test(
			alloc_reply_with_windows_carries_an_rkey_per_loan),
		cmocka_unit_test(alloc_reply_windows_must_lie_in_the_store),
		cmocka_unit_test(alloc_reply_carries_zero_to_max_refs),
		cmocka_unit_test(
			alloc_reply_rejects_bad_counts_lengths_and_epochs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
