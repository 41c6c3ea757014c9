// SPDX-License-Identifier: MIT
/*
 * The block data path codecs (wire version 2): every message round-trips,
 * and every invalid count, epoch, flag, reserved field, offset and length
 * is rejected before anything acts on it. Forged inputs are written byte by
 * byte at the documented little-endian offsets, so a decoder that trusted
 * its encoder would be caught.
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

/* ---- FREE and RECONCILE: lists of refs ---- */

static void free_request_round_trips(void **state)
{
	struct proto_block_ref refs[3] = {{10, 5}, {20, 6}, {30, 0x80000000u}};
	struct proto_block_ref got[3];
	uint8_t buf[PROTO_BLOCK_LIST_SIZE + 3 * PROTO_BLOCK_REF_SIZE];
	uint32_t flags = 99, n = 0;

	assert_int_equal(proto_block_list_encode(0, refs, 3, buf, sizeof(buf)),
			 sizeof(buf));
	/* {flags, n} then {block, epoch} each */
	assert_int_equal(buf[4], 3);
	assert_int_equal(buf[8], 10);
	assert_int_equal(buf[12], 5);
	assert_int_equal(proto_block_list_decode(buf, sizeof(buf), 1, &flags,
						 got, 3, &n),
			 0);
	assert_int_equal(flags, 0);
	assert_int_equal(n, 3);
	assert_memory_equal(got, refs, sizeof(refs));
}

static void reconcile_request_and_reply_round_trip_with_flags(void **state)
{
	struct proto_block_ref refs[2] = {{1, 2}, {3, 4}}, got[2];
	uint8_t buf[PROTO_BLOCK_LIST_SIZE + 2 * PROTO_BLOCK_REF_SIZE];
	const uint32_t all[] = {
		0, PROTO_BLOCK_RECONCILE_FIRST, PROTO_BLOCK_RECONCILE_LAST,
		PROTO_BLOCK_RECONCILE_FIRST | PROTO_BLOCK_RECONCILE_LAST};
	uint32_t flags, n;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_int_equal(proto_block_list_encode(all[i], refs, 2, buf,
							 sizeof(buf)),
				 sizeof(buf));
		assert_int_equal(buf[0], all[i]);
		assert_int_equal(proto_block_list_decode(buf, sizeof(buf), 1,
							 &flags, got, 2, &n),
				 0);
		assert_int_equal(flags, all[i]);
		assert_int_equal(n, 2);
		assert_memory_equal(got, refs, sizeof(refs));
	}
	/* a reply (or a RECONCILE step) may list nothing */
	assert_int_equal(proto_block_list_encode(PROTO_BLOCK_RECONCILE_LAST,
						 refs, 0, buf, sizeof(buf)),
			 PROTO_BLOCK_LIST_SIZE);
	assert_int_equal(proto_block_list_decode(buf, PROTO_BLOCK_LIST_SIZE, 0,
						 &flags, got, 2, &n),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(flags, PROTO_BLOCK_RECONCILE_LAST);
	/* but a FREE must name at least one loan */
	assert_int_equal(proto_block_list_decode(buf, PROTO_BLOCK_LIST_SIZE, 1,
						 &flags, got, 2, &n),
			 -EINVAL);
}

static void list_carries_up_to_max_refs(void **state)
{
	static struct proto_block_ref refs[PROTO_BLOCK_MAX_IDX + 1];
	static struct proto_block_ref got[PROTO_BLOCK_MAX_IDX + 1];
	static uint8_t buf[PROTO_BLOCK_LIST_SIZE +
			   (PROTO_BLOCK_MAX_IDX + 1) * PROTO_BLOCK_REF_SIZE];
	size_t max_len = PROTO_BLOCK_LIST_SIZE +
			 PROTO_BLOCK_MAX_IDX * PROTO_BLOCK_REF_SIZE;
	uint32_t flags, n;

	make_refs(refs, PROTO_BLOCK_MAX_IDX + 1, 0, 1000);
	assert_int_equal(proto_block_list_encode(0, refs, PROTO_BLOCK_MAX_IDX,
						 buf, sizeof(buf)),
			 max_len);
	assert_true(max_len <= PROTO_BLOCK_MAX_IDX_MSG);
	assert_int_equal(proto_block_list_decode(buf, max_len, 1, &flags, got,
						 PROTO_BLOCK_MAX_IDX + 1, &n),
			 0);
	assert_int_equal(n, PROTO_BLOCK_MAX_IDX);
	assert_memory_equal(got, refs, PROTO_BLOCK_MAX_IDX * sizeof(*refs));
	assert_int_equal(proto_block_list_encode(0, refs,
						 PROTO_BLOCK_MAX_IDX + 1, buf,
						 sizeof(buf)),
			 -EINVAL);
	/* forged: one more than the limit, every byte present */
	put32(buf + 4, PROTO_BLOCK_MAX_IDX + 1);
	put32(buf + max_len, PROTO_BLOCK_MAX_IDX);
	put32(buf + max_len + 4, 5000);
	assert_int_equal(proto_block_list_decode(buf, sizeof(buf), 1, &flags,
						 got, PROTO_BLOCK_MAX_IDX + 1,
						 &n),
			 -EINVAL);
}

static void list_rejects_bad_counts_lengths_flags_and_epochs(void **state)
{
	struct proto_block_ref refs[3] = {{10, 1}, {20, 2}, {30, 3}}, got[3];
	uint8_t buf[PROTO_BLOCK_LIST_SIZE + 3 * PROTO_BLOCK_REF_SIZE];
	uint32_t flags, n;

	assert_int_equal(
		proto_block_list_encode(0, refs, 3, buf, sizeof(buf) - 1),
		-ENOBUFS);
	/* flags beyond FIRST|LAST|FENCE */
	assert_int_equal(proto_block_list_encode(8, refs, 3, buf, sizeof(buf)),
			 -EINVAL);
	/* epoch 0 is nobody's loan */
	refs[1].epoch = 0;
	assert_int_equal(proto_block_list_encode(0, refs, 3, buf, sizeof(buf)),
			 -EINVAL);
	refs[1].epoch = 2;
	proto_block_list_encode(0, refs, 3, buf, sizeof(buf));
	/* lengths that disagree with n */
	assert_int_equal(proto_block_list_decode(buf, sizeof(buf) - 4, 1,
						 &flags, got, 3, &n),
			 -EMSGSIZE);
	assert_int_equal(proto_block_list_decode(buf, sizeof(buf) - 8, 1,
						 &flags, got, 3, &n),
			 -EMSGSIZE);
	assert_int_equal(proto_block_list_decode(buf, 7, 1, &flags, got, 3, &n),
			 -EMSGSIZE);
	/* caller room */
	assert_int_equal(proto_block_list_decode(buf, sizeof(buf), 1, &flags,
						 got, 2, &n),
			 -EINVAL);
	/* forged flags */
	put32(buf, 8);
	assert_int_equal(proto_block_list_decode(buf, sizeof(buf), 1, &flags,
						 got, 3, &n),
			 -EINVAL);
	put32(buf, 0x80000000u);
	assert_int_equal(proto_block_list_decode(buf, sizeof(buf), 1, &flags,
						 got, 3, &n),
			 -EINVAL);
	put32(buf, 0);
	/* forged zero epoch in the middle */
	put32(buf + 8 + 8 + 4, 0);
	assert_int_equal(proto_block_list_decode(buf, sizeof(buf), 1, &flags,
						 got, 3, &n),
			 -EINVAL);
}

/* ---- FREE and GOODBYE replies ---- */

static void count_round_trips_and_rejects_reserved_and_sizes(void **state)
{
	uint8_t buf[PROTO_BLOCK_COUNT_SIZE + 1] = {0};
	uint32_t count = 0;

	assert_int_equal(proto_block_count_encode(0xdeadbeef, buf, 8), 8);
	assert_int_equal(buf[0], 0xef);
	assert_int_equal(proto_block_count_decode(buf, 8, &count), 0);
	assert_int_equal(count, 0xdeadbeef);
	assert_int_equal(proto_block_count_encode(0, buf, 8), 8);
	assert_int_equal(proto_block_count_decode(buf, 8, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(proto_block_count_encode(1, buf, 7), -ENOBUFS);
	assert_int_equal(proto_block_count_decode(buf, 7, &count), -EMSGSIZE);
	assert_int_equal(proto_block_count_decode(buf, 9, &count), -EMSGSIZE);
	put32(buf + 4, 1);
	assert_int_equal(proto_block_count_decode(buf, 8, &count), -EINVAL);
}

/* ---- READ and WRITE ---- */

static void fence_round_trips_and_names_a_connection(void **state)
{
	uint8_t buf[PROTO_BLOCK_FENCE_SIZE + 1];
	uint64_t session = 0;

	assert_int_equal(proto_block_fence_encode(0x0123456789abcdefull, buf,
						  sizeof(buf)),
			 PROTO_BLOCK_FENCE_SIZE);
	assert_int_equal(buf[0], 0xef); /* little-endian */
	assert_int_equal(
		proto_block_fence_decode(buf, PROTO_BLOCK_FENCE_SIZE, &session),
		0);
	assert_true(session == 0x0123456789abcdefull);
	assert_int_equal(proto_block_fence_decode(buf, 7, &session), -EMSGSIZE);
	assert_int_equal(proto_block_fence_decode(buf, 9, &session), -EMSGSIZE);
	assert_int_equal(proto_block_fence_encode(1, buf, 7), -ENOBUFS);
	/* 0 names no connection */
	assert_int_equal(proto_block_fence_encode(0, buf, sizeof(buf)),
			 -EINVAL);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(
		proto_block_fence_decode(buf, PROTO_BLOCK_FENCE_SIZE, &session),
		-EINVAL);
}

static void read_and_write_headers_round_trip(void **state)
{
	struct proto_block_rw in = {
		.block = 17, .epoch = 0xfeedf00d, .off = 100, .len = 512};
	struct proto_block_rw out;
	uint8_t buf[PROTO_BLOCK_RW_SIZE];

	assert_int_equal(proto_block_rw_encode(&in, buf, sizeof(buf)),
			 PROTO_BLOCK_RW_SIZE);
	/* {block, epoch, off, len} */
	assert_int_equal(buf[0], 17);
	assert_int_equal(buf[4], 0x0d);
	assert_int_equal(buf[8], 100);
	assert_int_equal(buf[13], 2);
	assert_int_equal(
		proto_block_rw_decode(buf, sizeof(buf), 16, false, BS, &out),
		0);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_int_equal(proto_block_rw_decode(buf, sizeof(buf), 16 + 512, true,
					       BS, &out),
			 0);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_int_equal(proto_block_rw_encode(&in, buf, 15), -ENOBUFS);
}

static int rw_check(uint32_t epoch, uint32_t off, uint32_t len,
		    uint64_t payload, bool write)
{
	struct proto_block_rw in = {
		.block = 1, .epoch = epoch, .off = off, .len = len};
	struct proto_block_rw out;
	uint8_t buf[PROTO_BLOCK_RW_SIZE];

	proto_block_rw_encode(&in, buf, sizeof(buf));
	return proto_block_rw_decode(buf, sizeof(buf), payload, write, BS,
				     &out);
}

static void read_and_write_reject_ranges_outside_the_block(void **state)
{
	assert_int_equal(rw_check(1, 0, BS, 16, false), 0);
	assert_int_equal(rw_check(1, BS - 1, 1, 16, false), 0);
	assert_int_equal(rw_check(1, 0, 0, 16, false), -EINVAL);
	assert_int_equal(rw_check(1, BS, 1, 16, false), -EINVAL);
	assert_int_equal(rw_check(1, 1, BS, 16, false), -EINVAL);
	assert_int_equal(rw_check(1, BS - 1, 2, 16, false), -EINVAL);
	/* off + len wrapping 32 bits */
	assert_int_equal(rw_check(1, 0xfffffff0u, 0x20, 16, false), -EINVAL);
	assert_int_equal(rw_check(1, 16, 0xfffffff0u, 16, false), -EINVAL);
}

static void read_and_write_reject_a_zero_epoch(void **state)
{
	assert_int_equal(rw_check(0, 0, 8, 16, false), -EINVAL);
	assert_int_equal(rw_check(0, 0, 8, 16 + 8, true), -EINVAL);
	assert_int_equal(rw_check(0xffffffffu, 0, 8, 16 + 8, true), 0);
}

static void read_and_write_reject_payload_length_mismatch(void **state)
{
	uint8_t buf[PROTO_BLOCK_RW_SIZE] = {0};
	struct proto_block_rw out;

	assert_int_equal(rw_check(1, 0, 512, 16 + 512, false), -EMSGSIZE);
	assert_int_equal(rw_check(1, 0, 512, 16 + 511, true), -EMSGSIZE);
	assert_int_equal(rw_check(1, 0, 512, 16 + 513, true), -EMSGSIZE);
	assert_int_equal(rw_check(1, 0, 512, 16, true), -EMSGSIZE);
	assert_int_equal(proto_block_rw_decode(buf, 15, 15, false, BS, &out),
			 -EMSGSIZE);
	assert_int_equal(proto_block_rw_decode(buf, 16, 15, false, BS, &out),
			 -EMSGSIZE);
}

/* ---- READ_BATCH and WRITE_BATCH ---- */

static void batch_round_trips_with_epochs_and_sums_data(void **state)
{
	struct proto_block_extent ext[3] = {
		{1, 11, 0, BS}, {2, 22, 512, 512}, {1, 11, BS - 8, 8}};
	struct proto_block_extent got[PROTO_BLOCK_MAX_BATCH];
	struct proto_block_batch b;
	uint8_t buf[PROTO_BLOCK_MAX_BATCH_HDR];
	int n;

	n = proto_block_batch_encode(ext, 3, buf, sizeof(buf));
	assert_int_equal(n, PROTO_BLOCK_BATCH_SIZE + 3 * 16);
	/* {n, reserved, data_len} then {block, epoch, off, len} each */
	assert_int_equal(buf[0], 3);
	assert_int_equal(buf[4], 0);
	assert_int_equal(buf[8] | buf[9] << 8 | buf[10] << 16, BS + 520);
	assert_int_equal(buf[16 + 16 + 4], 22);
	assert_int_equal(proto_block_batch_prefix(buf, PROTO_BLOCK_BATCH_SIZE),
			 n);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 3), n);
	assert_int_equal(b.n, 3);
	assert_int_equal(b.data_len, BS + 520);
	assert_memory_equal(got, ext, sizeof(ext));
	assert_int_equal(proto_block_batch_decode(buf, n, n + BS + 520, true,
						  BS, &b, got, 3),
			 n);
	assert_memory_equal(got, ext, sizeof(ext));
}

static void batch_rejects_bad_counts_extents_and_lengths(void **state)
{
	struct proto_block_extent ext[2] = {{1, 1, 0, 100}, {2, 2, 0, 100}};
	struct proto_block_extent got[PROTO_BLOCK_MAX_BATCH];
	struct proto_block_batch b;
	uint8_t buf[PROTO_BLOCK_MAX_BATCH_HDR];
	int n;

	assert_int_equal(proto_block_batch_encode(ext, 0, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(proto_block_batch_encode(ext,
						  PROTO_BLOCK_MAX_BATCH + 1,
						  buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(proto_block_batch_encode(ext, 2, buf, 47), -ENOBUFS);
	n = proto_block_batch_encode(ext, 2, buf, sizeof(buf));
	assert_int_equal(n, 48);
	/* payload length must match header + extents (+ data) */
	assert_int_equal(
		proto_block_batch_decode(buf, n, n + 1, false, BS, &b, got, 2),
		-EMSGSIZE);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n + 199, true, BS, &b, got, 2),
		-EMSGSIZE);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n + 201, true, BS, &b, got, 2),
		-EMSGSIZE);
	/* extents cut short */
	assert_int_equal(
		proto_block_batch_decode(buf, n - 1, n, false, BS, &b, got, 2),
		-EMSGSIZE);
	assert_int_equal(proto_block_batch_prefix(buf, 15), -EMSGSIZE);
	/* caller room */
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 1),
		-EINVAL);
	/* an extent past the block end */
	ext[1].off = BS - 50;
	n = proto_block_batch_encode(ext, 2, buf, sizeof(buf));
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 2),
		-EINVAL);
	/* an extent of zero bytes */
	ext[1] = (struct proto_block_extent){2, 2, 0, 0};
	n = proto_block_batch_encode(ext, 2, buf, sizeof(buf));
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 2),
		-EINVAL);
}

static void batch_rejects_forged_header_fields(void **state)
{
	struct proto_block_extent ext[2] = {{1, 1, 0, 100}, {2, 2, 0, 100}};
	struct proto_block_extent got[PROTO_BLOCK_MAX_BATCH];
	struct proto_block_batch b;
	uint8_t buf[PROTO_BLOCK_MAX_BATCH_HDR];
	int n = proto_block_batch_encode(ext, 2, buf, sizeof(buf));

	/* the reserved word */
	put32(buf + 4, 1);
	assert_int_equal(proto_block_batch_prefix(buf, n), -EINVAL);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 2),
		-EINVAL);
	put32(buf + 4, 0);
	/* data_len that is not the sum of the extents, either way */
	put64(buf + 8, 199);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 2),
		-EINVAL);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n + 199, true, BS, &b, got, 2),
		-EINVAL);
	put64(buf + 8, 201);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n + 201, true, BS, &b, got, 2),
		-EINVAL);
	put64(buf + 8, 200);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n + 200, true, BS, &b, got, 2),
		n);
	/* a zero epoch in the second extent */
	put32(buf + 16 + 16 + 4, 0);
	assert_int_equal(
		proto_block_batch_decode(buf, n, n, false, BS, &b, got, 2),
		-EINVAL);
	put32(buf + 16 + 16 + 4, 2);
	/* counts: 0 and one above the limit */
	put32(buf, 0);
	assert_int_equal(proto_block_batch_prefix(buf, n), -EINVAL);
	put32(buf, PROTO_BLOCK_MAX_BATCH + 1);
	assert_int_equal(proto_block_batch_prefix(buf, n), -EINVAL);
	put32(buf, PROTO_BLOCK_MAX_BATCH);
	assert_int_equal(proto_block_batch_prefix(buf, n),
			 PROTO_BLOCK_MAX_BATCH_HDR);
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
		ext[i] = (struct proto_block_extent){i, i + 1, 0, big};
	n = proto_block_batch_encode(ext, PROTO_BLOCK_MAX_BATCH, buf,
				     sizeof(buf));
	assert_int_equal(n, PROTO_BLOCK_MAX_BATCH_HDR);
	assert_int_equal(proto_block_batch_decode(buf, n, n, false, big, &b,
						  got, PROTO_BLOCK_MAX_BATCH),
			 -EINVAL);
	/* the most extents whose data still fits are accepted */
	for (unsigned int i = 0; i < PROTO_BLOCK_MAX_BATCH; i++)
		ext[i].len = 4096;
	n = proto_block_batch_encode(ext, PROTO_BLOCK_MAX_BATCH, buf,
				     sizeof(buf));
	assert_int_equal(proto_block_batch_decode(buf, n, n, false, big, &b,
						  got, PROTO_BLOCK_MAX_BATCH),
			 n);
	assert_int_equal(b.n, PROTO_BLOCK_MAX_BATCH);
}

/* ---- STATUS and MOVED ---- */

static void status_round_trips_lease_and_incarnation(void **state)
{
	struct proto_block_status in = {
		.node = 42,
		.block_size = BS,
		.total = 100,
		.free = 60,
		.region = {.addr = 1, .len = 2, .rkey = 3},
		.lease_ms = 300000,
		.incarnation = 0x0123456789abcdefull,
	};
	struct proto_block_status out;
	uint8_t buf[PROTO_BLOCK_STATUS_REP_SIZE];

	assert_int_equal(proto_block_status_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(buf[40], 0xef);
	assert_int_equal(proto_block_status_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.node, 42);
	assert_int_equal(out.block_size, BS);
	assert_int_equal(out.total, 100);
	assert_int_equal(out.free, 60);
	assert_int_equal(out.region.addr, 1);
	assert_int_equal(out.region.len, 2);
	assert_int_equal(out.region.rkey, 3);
	assert_int_equal(out.lease_ms, 300000);
	assert_int_equal(out.incarnation, in.incarnation);
	assert_int_equal(proto_block_status_encode(&in, buf, sizeof(buf) - 1),
			 -ENOBUFS);
}

static void status_rejects_nonsense(void **state)
{
	const struct proto_block_status good = {.node = 42,
						.block_size = BS,
						.total = 100,
						.free = 60,
						.lease_ms = 1};
	struct proto_block_status in, out;
	uint8_t buf[PROTO_BLOCK_STATUS_REP_SIZE];

	proto_block_status_encode(&good, buf, sizeof(buf));
	assert_int_equal(proto_block_status_decode(buf, 47, &out), -EMSGSIZE);
	assert_int_equal(proto_block_status_decode(buf, 49, &out), -EMSGSIZE);
	in = good;
	in.free = 101;
	proto_block_status_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_status_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	in = good;
	in.block_size = 3000;
	proto_block_status_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_status_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	in = good;
	in.node = 0;
	proto_block_status_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_status_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	/* a provider without a lease would free nothing, or everything */
	in = good;
	in.lease_ms = 0;
	proto_block_status_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_block_status_decode(buf, sizeof(buf), &out),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(block_size_accepts_powers_of_two_in_range),
		cmocka_unit_test(free_request_round_trips),
		cmocka_unit_test(
			reconcile_request_and_reply_round_trip_with_flags),
		cmocka_unit_test(list_carries_up_to_max_refs),
		cmocka_unit_test(
			list_rejects_bad_counts_lengths_flags_and_epochs),
		cmocka_unit_test(
			count_round_trips_and_rejects_reserved_and_sizes),
		cmocka_unit_test(fence_round_trips_and_names_a_connection),
		cmocka_unit_test(read_and_write_headers_round_trip),
		cmocka_unit_test(
			read_and_write_reject_ranges_outside_the_block),
		cmocka_unit_test(read_and_write_reject_a_zero_epoch),
		cmocka_unit_test(read_and_write_reject_payload_length_mismatch),
		cmocka_unit_test(batch_round_trips_with_epochs_and_sums_data),
		cmocka_unit_test(batch_rejects_bad_counts_extents_and_lengths),
		cmocka_unit_test(batch_rejects_forged_header_fields),
		cmocka_unit_test(batch_rejects_data_beyond_the_payload_limit),
		cmocka_unit_test(status_round_trips_lease_and_incarnation),
		cmocka_unit_test(status_rejects_nonsense),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
