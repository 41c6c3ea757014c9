// SPDX-License-Identifier: MIT
/*
 * The block data path codecs: every message round-trips, and every invalid
 * length, offset and count is rejected before anything acts on it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/wire.h"
#include "proto_block.h"

#define BS (64u << 10)

static void block_size_accepts_powers_of_two_in_range(void **state)
{
	assert_true(proto_block_size_valid(4096));
	assert_true(proto_block_size_valid(1u << 20));
	assert_true(proto_block_size_valid(4u << 20));
	assert_false(proto_block_size_valid(0));
	assert_false(proto_block_size_valid(2048));
	assert_false(proto_block_size_valid(8u << 20));
	assert_false(proto_block_size_valid(12288));
}

static void alloc_request_round_trips(void **state)
{
	struct proto_block_alloc_req in = {.owner = 7, .n = 33}, out;
	uint8_t buf[PROTO_BLOCK_ALLOC_REQ_SIZE];

	assert_int_equal(proto_block_alloc_req_encode(&in, buf, sizeof(buf)),
			 PROTO_BLOCK_ALLOC_REQ_SIZE);
	assert_int_equal(proto_block_alloc_req_decode(buf, sizeof(buf), &out),
			 0);
	assert_int_equal(out.owner, 7);
	assert_int_equal(out.n, 33);
	/* little-endian on the wire */
	assert_int_equal(buf[0], 7);
	assert_int_equal(buf[4], 33);
}

static void alloc_request_rejects_bad_counts_and_sizes(void **state)
{
	struct proto_block_alloc_req in = {.owner = 7, .n = 0}, out;
	uint8_t buf[PROTO_BLOCK_ALLOC_REQ_SIZE + 1] = {0};

	proto_block_alloc_req_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_alloc_req_decode(buf, 8, &out), -EINVAL);
	in.n = PROTO_BLOCK_MAX_IDX + 1;
	proto_block_alloc_req_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_alloc_req_decode(buf, 8, &out), -EINVAL);
	in.n = 1;
	in.owner = 0;
	proto_block_alloc_req_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_alloc_req_decode(buf, 8, &out), -EINVAL);
	in.owner = 1;
	proto_block_alloc_req_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_alloc_req_decode(buf, 7, &out), -EMSGSIZE);
	assert_int_equal(proto_block_alloc_req_decode(buf, 9, &out), -EMSGSIZE);
	assert_int_equal(proto_block_alloc_req_encode(&in, buf, 7), -ENOBUFS);
}

static void alloc_reply_round_trips_with_region(void **state)
{
	uint32_t idx[5] = {0, 1, 99, 4000000000u, 3}, got[5];
	struct proto_block_alloc_rep in = {
		.count = 5,
		.region = {.addr = 0x7f0000001000ull,
			   .len = 1ull << 33,
			   .rkey = 0xabcd},
	};
	struct proto_block_alloc_rep out;
	uint8_t buf[PROTO_BLOCK_ALLOC_REP_SIZE + 20];
	int n;

	n = proto_block_alloc_rep_encode(&in, idx, buf, sizeof(buf));
	assert_int_equal(n, sizeof(buf));
	assert_int_equal(proto_block_alloc_rep_decode(buf, n, &out, got, 5), 0);
	assert_int_equal(out.count, 5);
	assert_int_equal(out.region.addr, in.region.addr);
	assert_int_equal(out.region.len, in.region.len);
	assert_int_equal(out.region.rkey, in.region.rkey);
	assert_memory_equal(got, idx, sizeof(idx));
}

static void alloc_reply_rejects_count_beyond_buffer_or_limit(void **state)
{
	uint32_t idx[5] = {1, 2, 3, 4, 5}, got[5];
	struct proto_block_alloc_rep in = {.count = 5}, out;
	uint8_t buf[PROTO_BLOCK_ALLOC_REP_SIZE + 20];

	proto_block_alloc_rep_encode(&in, idx, buf, sizeof(buf));
	/* truncated and padded buffers */
	assert_int_equal(proto_block_alloc_rep_decode(buf, sizeof(buf) - 1,
						      &out, got, 5),
			 -EMSGSIZE);
	assert_int_equal(proto_block_alloc_rep_decode(buf, 23, &out, got, 5),
			 -EMSGSIZE);
	/* caller room smaller than count */
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, sizeof(buf), &out, got, 4),
		-EINVAL);
	/* count forged huge */
	buf[2] = 0xff;
	assert_int_equal(
		proto_block_alloc_rep_decode(buf, sizeof(buf), &out, got, 5),
		-EINVAL);
	/* an empty reply is legal (count 0) */
	in.count = 0;
	assert_int_equal(proto_block_alloc_rep_encode(&in, idx, buf, 24), 24);
	assert_int_equal(proto_block_alloc_rep_decode(buf, 24, &out, got, 5),
			 0);
	assert_int_equal(out.count, 0);
	in.count = 2;
	assert_int_equal(proto_block_alloc_rep_encode(&in, idx, buf, 31),
			 -ENOBUFS);
}

static void free_request_round_trips(void **state)
{
	uint32_t idx[3] = {10, 20, 30}, got[3], owner, n;
	uint8_t buf[PROTO_BLOCK_FREE_REQ_SIZE + 12];

	assert_int_equal(
		proto_block_free_req_encode(9, idx, 3, buf, sizeof(buf)),
		sizeof(buf));
	assert_int_equal(proto_block_free_req_decode(buf, sizeof(buf), &owner,
						     got, 3, &n),
			 0);
	assert_int_equal(owner, 9);
	assert_int_equal(n, 3);
	assert_memory_equal(got, idx, sizeof(idx));
}

static void free_request_rejects_bad_counts_and_lengths(void **state)
{
	uint32_t idx[3] = {10, 20, 30}, got[3], owner, n;
	uint8_t buf[PROTO_BLOCK_FREE_REQ_SIZE + 12];

	assert_int_equal(
		proto_block_free_req_encode(9, idx, 0, buf, sizeof(buf)),
		-EINVAL);
	proto_block_free_req_encode(9, idx, 3, buf, sizeof(buf));
	assert_int_equal(proto_block_free_req_decode(buf, sizeof(buf) - 4,
						     &owner, got, 3, &n),
			 -EMSGSIZE);
	assert_int_equal(
		proto_block_free_req_decode(buf, 4, &owner, got, 3, &n),
		-EMSGSIZE);
	assert_int_equal(proto_block_free_req_decode(buf, sizeof(buf), &owner,
						     got, 2, &n),
			 -EINVAL);
	buf[4] = 0;
	assert_int_equal(
		proto_block_free_req_decode(buf, 8, &owner, got, 3, &n),
		-EINVAL);
	buf[4] = 1;
	buf[0] = 0;
	assert_int_equal(
		proto_block_free_req_decode(buf, 12, &owner, got, 3, &n),
		-EINVAL);
}

static void read_and_write_headers_round_trip(void **state)
{
	struct proto_block_rw in = {.owner = 3,
				    .block = 17,
				    .off = 100,
				    .len = 512},
			      out;
	uint8_t buf[PROTO_BLOCK_RW_SIZE];

	assert_int_equal(proto_block_rw_encode(&in, buf, sizeof(buf)),
			 PROTO_BLOCK_RW_SIZE);
	assert_int_equal(
		proto_block_rw_decode(buf, sizeof(buf), 16, false, BS, &out),
		0);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_int_equal(proto_block_rw_decode(buf, sizeof(buf), 16 + 512, true,
					       BS, &out),
			 0);
	assert_memory_equal(&in, &out, sizeof(in));
}

static int rw_check(uint32_t off, uint32_t len, uint64_t payload, bool write)
{
	struct proto_block_rw in = {.owner = 3,
				    .block = 1,
				    .off = off,
				    .len = len},
			      out;
	uint8_t buf[PROTO_BLOCK_RW_SIZE];

	proto_block_rw_encode(&in, buf, sizeof(buf));
	return proto_block_rw_decode(buf, sizeof(buf), payload, write, BS,
				     &out);
}

static void read_and_write_reject_ranges_outside_the_block(void **state)
{
	assert_int_equal(rw_check(0, BS, 16, false), 0);
	assert_int_equal(rw_check(BS - 1, 1, 16, false), 0);
	assert_int_equal(rw_check(0, 0, 16, false), -EINVAL);
	assert_int_equal(rw_check(BS, 1, 16, false), -EINVAL);
	assert_int_equal(rw_check(1, BS, 16, false), -EINVAL);
	assert_int_equal(rw_check(BS - 1, 2, 16, false), -EINVAL);
	/* off + len wrapping 32 bits */
	assert_int_equal(rw_check(0xfffffff0u, 0x20, 16, false), -EINVAL);
	assert_int_equal(rw_check(16, 0xfffffff0u, 16, false), -EINVAL);
}

static void read_and_write_reject_payload_length_mismatch(void **state)
{
	uint8_t buf[PROTO_BLOCK_RW_SIZE] = {0};
	struct proto_block_rw out;

	assert_int_equal(rw_check(0, 512, 16 + 512, false), -EMSGSIZE);
	assert_int_equal(rw_check(0, 512, 16 + 511, true), -EMSGSIZE);
	assert_int_equal(rw_check(0, 512, 16 + 513, true), -EMSGSIZE);
	assert_int_equal(rw_check(0, 512, 16, true), -EMSGSIZE);
	assert_int_equal(proto_block_rw_decode(buf, 15, 15, false, BS, &out),
			 -EMSGSIZE);
}

static void batch_round_trips_and_sums_data(void **state)
{
	struct proto_block_extent ext[3] = {
		{1, 0, BS}, {2, 512, 512}, {1, BS - 8, 8}};
	struct proto_block_extent got[PROTO_BLOCK_MAX_BATCH];
	struct proto_block_batch b;
	uint8_t buf[PROTO_BLOCK_MAX_BATCH_HDR];
	int n;

	n = proto_block_batch_encode(5, ext, 3, buf, sizeof(buf));
	assert_int_equal(n, 8 + 3 * 16);
	assert_int_equal(proto_block_batch_prefix(buf, 8), n);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 3), n);
	assert_int_equal(b.owner, 5);
	assert_int_equal(b.n, 3);
	assert_int_equal(b.data_len, BS + 520);
	assert_memory_equal(got, ext, sizeof(ext));
	assert_int_equal(proto_block_batch_decode(buf, n, n + BS + 520, true,
						  BS, &b, got, 3),
			 n);
}

static void batch_rejects_bad_counts_extents_and_lengths(void **state)
{
	struct proto_block_extent ext[2] = {{1, 0, 100}, {2, 0, 100}};
	struct proto_block_extent got[PROTO_BLOCK_MAX_BATCH];
	struct proto_block_batch b;
	uint8_t buf[PROTO_BLOCK_MAX_BATCH_HDR];
	int n;

	assert_int_equal(proto_block_batch_encode(5, ext, 0, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(proto_block_batch_encode(5, ext, 2, buf, 39),
			 -ENOBUFS);
	n = proto_block_batch_encode(5, ext, 2, buf, sizeof(buf));
	/* payload length must match header + extents (+ data) */
	assert_int_equal(
		proto_block_batch_decode(buf, n, n + 1, false, BS, &b, got, 2),
		-EMSGSIZE);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n + 199, true, BS, &b, got, 2),
		-EMSGSIZE);
	/* extents cut short */
	assert_int_equal(
		proto_block_batch_decode(buf, n - 1, n, false, BS, &b, got, 2),
		-EMSGSIZE);
	assert_int_equal(proto_block_batch_prefix(buf, 7), -EMSGSIZE);
	/* caller room */
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 1),
		-EINVAL);
	/* reserved field set */
	buf[8 + 12] = 1;
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 2),
		-EINVAL);
	buf[8 + 12] = 0;
	/* an extent past the block end */
	ext[1].off = BS - 50;
	n = proto_block_batch_encode(5, ext, 2, buf, sizeof(buf));
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 2),
		-EINVAL);
	/* count forged above the limit */
	ext[1].off = 0;
	n = proto_block_batch_encode(5, ext, 2, buf, sizeof(buf));
	buf[4] = (PROTO_BLOCK_MAX_BATCH + 1) & 0xff;
	buf[5] = (PROTO_BLOCK_MAX_BATCH + 1) >> 8;
	assert_int_equal(proto_block_batch_prefix(buf, n), -EINVAL);
}

static void batch_rejects_data_beyond_the_payload_limit(void **state)
{
	static struct proto_block_extent ext[PROTO_BLOCK_MAX_BATCH];
	static struct proto_block_extent got[PROTO_BLOCK_MAX_BATCH];
	static uint8_t buf[PROTO_BLOCK_MAX_BATCH_HDR];
	struct proto_block_batch b;
	uint32_t big = PROTO_BLOCK_MAX_SIZE;
	int n;

	for (unsigned int i = 0; i < PROTO_BLOCK_MAX_BATCH; i++)
		ext[i] = (struct proto_block_extent){i, 0, big};
	n = proto_block_batch_encode(5, ext, PROTO_BLOCK_MAX_BATCH, buf,
				     sizeof(buf));
	assert_int_equal(n, PROTO_BLOCK_MAX_BATCH_HDR);
	assert_int_equal(proto_block_batch_decode(buf, n, n, false, big, &b,
						  got, PROTO_BLOCK_MAX_BATCH),
			 -EINVAL);
}

static void status_round_trips_and_rejects_nonsense(void **state)
{
	struct proto_block_status in = {
		.node = 42,
		.block_size = BS,
		.total = 100,
		.free = 60,
		.region = {.addr = 1, .len = 2, .rkey = 3},
	};
	struct proto_block_status out;
	uint8_t buf[PROTO_BLOCK_STATUS_REP_SIZE];

	assert_int_equal(proto_block_status_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(proto_block_status_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.node, 42);
	assert_int_equal(out.block_size, BS);
	assert_int_equal(out.total, 100);
	assert_int_equal(out.free, 60);
	assert_int_equal(out.region.addr, 1);
	assert_int_equal(out.region.len, 2);
	assert_int_equal(out.region.rkey, 3);
	assert_int_equal(proto_block_status_decode(buf, 39, &out), -EMSGSIZE);
	in.free = 101;
	proto_block_status_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_status_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	in.free = 1;
	in.block_size = 3000;
	proto_block_status_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_status_decode(buf, sizeof(buf), &out),
			 -EINVAL);
}

static void moved_round_trips_and_requires_terminated_addr(void **state)
{
	struct proto_block_moved in = {.from = 4, .node = 9, .block = 77};
	struct proto_block_moved out;
	uint8_t buf[PROTO_BLOCK_MOVED_SIZE];

	strcpy(in.addr, "tcp://10.0.0.9:7000");
	assert_int_equal(proto_block_moved_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.from, 4);
	assert_int_equal(out.node, 9);
	assert_int_equal(out.block, 77);
	assert_string_equal(out.addr, in.addr);
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf) - 1, &out),
			 -EMSGSIZE);
	memset(buf + 16, 'x', PROTO_BLOCK_ADDR_LEN);
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	memset(in.addr, 'y', sizeof(in.addr));
	assert_int_equal(proto_block_moved_encode(&in, buf, sizeof(buf)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(block_size_accepts_powers_of_two_in_range),
		cmocka_unit_test(alloc_request_round_trips),
		cmocka_unit_test(alloc_request_rejects_bad_counts_and_sizes),
		cmocka_unit_test(alloc_reply_round_trips_with_region),
		cmocka_unit_test(
			alloc_reply_rejects_count_beyond_buffer_or_limit),
		cmocka_unit_test(free_request_round_trips),
		cmocka_unit_test(free_request_rejects_bad_counts_and_lengths),
		cmocka_unit_test(read_and_write_headers_round_trip),
		cmocka_unit_test(
			read_and_write_reject_ranges_outside_the_block),
		cmocka_unit_test(read_and_write_reject_payload_length_mismatch),
		cmocka_unit_test(batch_round_trips_and_sums_data),
		cmocka_unit_test(batch_rejects_bad_counts_extents_and_lengths),
		cmocka_unit_test(batch_rejects_data_beyond_the_payload_limit),
		cmocka_unit_test(status_round_trips_and_rejects_nonsense),
		cmocka_unit_test(
			moved_round_trips_and_requires_terminated_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
