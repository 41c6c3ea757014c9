// SPDX-License-Identifier: MIT
/*
 * The block codecs of moving blocks on (principles 3 and 5): the MOVED
 * answer and MOVE_NOTICE payload, HANDOVER and its reply. Round trips,
 * and every zero epoch or node, unknown flag, reserved word and
 * unterminated address is refused, written byte by byte at the documented
 * little-endian offsets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto_block.h"

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void moved_round_trips_and_requires_terminated_addr(void **state)
{
	struct proto_block_moved in = {.from = 4,
				       .from_epoch = 5,
				       .node = 9,
				       .block = 77,
				       .epoch = 0xabcdef01,
				       .flags = PROTO_BLOCK_MOVED_FREED};
	struct proto_block_moved out;
	uint8_t buf[PROTO_BLOCK_MOVED_SIZE];

	strcpy(in.addr, "tcp://10.0.0.9:7000");
	assert_int_equal(proto_block_moved_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.from, 4);
	assert_int_equal(out.from_epoch, 5);
	assert_int_equal(out.node, 9);
	assert_int_equal(out.block, 77);
	assert_int_equal(out.epoch, 0xabcdef01);
	assert_int_equal(out.flags, PROTO_BLOCK_MOVED_FREED);
	assert_string_equal(out.addr, in.addr);
	assert_int_equal(proto_block_moved_encode(&in, buf, sizeof(buf) - 1),
			 -ENOBUFS);
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf) - 1, &out),
			 -EMSGSIZE);
	/* unknown flags */
	buf[20] = 2;
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	buf[20] = 0;
	/* an address may be unknown to the sender */
	memset(buf + 24, 0, PROTO_BLOCK_ADDR_LEN);
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf), &out), 0);
	assert_string_equal(out.addr, "");
	memset(buf + 24, 'x', PROTO_BLOCK_ADDR_LEN);
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	memset(in.addr, 'y', sizeof(in.addr));
	assert_int_equal(proto_block_moved_encode(&in, buf, sizeof(buf)),
			 -EINVAL);
}

static void moved_rejects_a_zero_node_or_epoch(void **state)
{
	struct proto_block_moved in = {
		.from = 4, .from_epoch = 1, .node = 9, .block = 7, .epoch = 3};
	struct proto_block_moved out;
	uint8_t buf[PROTO_BLOCK_MOVED_SIZE];

	strcpy(in.addr, "tcp://[::1]:7000");
	in.epoch = 0;
	assert_int_equal(proto_block_moved_encode(&in, buf, sizeof(buf)),
			 -EINVAL);
	in.epoch = 3;
	in.node = 0;
	assert_int_equal(proto_block_moved_encode(&in, buf, sizeof(buf)),
			 -EINVAL);
	in.node = 9;
	in.from_epoch = 0;
	assert_int_equal(proto_block_moved_encode(&in, buf, sizeof(buf)),
			 -EINVAL);
	in.from_epoch = 1;
	assert_int_equal(proto_block_moved_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	put32(buf + 12, 0);
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	put32(buf + 12, 3);
	put32(buf + 4, 0);
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	put32(buf + 4, 9);
	put32(buf + 16, 0);
	assert_int_equal(proto_block_moved_decode(buf, sizeof(buf), &out),
			 -EINVAL);
}

static void handover_and_ref_round_trip_and_refuse_zeros(void **state)
{
	struct proto_block_handover in = {.ref = {3, 44}, .to = 9}, out;
	struct proto_block_ref r;
	uint8_t buf[PROTO_BLOCK_HANDOVER_SIZE];

	assert_int_equal(proto_block_handover_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(proto_block_handover_decode(buf, sizeof(buf), &out),
			 0);
	assert_int_equal(out.ref.block, 3);
	assert_int_equal(out.ref.epoch, 44);
	assert_int_equal(out.to, 9);
	assert_int_equal(
		proto_block_handover_decode(buf, sizeof(buf) - 1, &out),
		-EMSGSIZE);
	buf[12] = 1; /* reserved */
	assert_int_equal(proto_block_handover_decode(buf, sizeof(buf), &out),
			 -EINVAL);
	in.to = 0;
	assert_int_equal(proto_block_handover_encode(&in, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(proto_block_ref_encode((struct proto_block_ref){5, 6},
						buf, sizeof(buf)),
			 PROTO_BLOCK_REF_SIZE);
	assert_int_equal(proto_block_ref_decode(buf, PROTO_BLOCK_REF_SIZE, &r),
			 0);
	assert_int_equal(r.block, 5);
	assert_int_equal(r.epoch, 6);
	put32(buf + 4, 0);
	assert_int_equal(proto_block_ref_decode(buf, PROTO_BLOCK_REF_SIZE, &r),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			moved_round_trips_and_requires_terminated_addr),
		cmocka_unit_test(moved_rejects_a_zero_node_or_epoch),
		cmocka_unit_test(handover_and_ref_round_trip_and_refuse_zeros),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
