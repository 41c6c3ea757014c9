// SPDX-License-Identifier: MIT
/*
 * Hand-made frames against the block server (wire version 2) over mem://:
 * garbage, bad checksums and invalid payloads are answered where an answer
 * makes sense and close only their own connection; the owners' blocks
 * keep serving. Every refusal is checked by its wire status.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "peer-fixture.h"

#define NBLOCKS 8u

static int setup(void **state)
{
	*state = fixture_create(&(struct fixture_config){.nblocks = NBLOCKS});
	return 0;
}

static int teardown(void **state)
{
	fixture_destroy(*state);
	return 0;
}

static void garbage_closes_only_that_connection(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref ref = borrow_one(f->r);
	uint8_t junk[WIRE_HDR_SIZE * 2], buf[8] = "still ok";
	struct iovec iov = {junk, sizeof(junk)};
	struct conn *bad;

	memset(junk, 0x5a, sizeof(junk));
	bad = raw_connect(f, OWNER);
	assert_int_equal(conn_writev(bad, &iov, 1), 0);
	assert_true(closed_by_peer(bad));
	conn_destroy(bad);
	/* the owner's connection never noticed */
	assert_int_equal(remote_write(f->r, PROVIDER, ref, 0, buf, 8, NULL), 0);
	assert_int_equal(remote_read(f->r, PROVIDER, ref, 0, buf, 8, NULL), 0);
	assert_memory_equal(buf, "still ok", 8);
}

/* Insecure mode: the checksum catches accidents, and the owner hears it. */
static void write_with_a_bad_checksum_is_refused(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref ref = borrow_one(f->r);
	struct proto_block_rw rw = {ref.block, ref.epoch, 0, 8};
	uint8_t pl[PROTO_BLOCK_RW_SIZE + 8], out[8];
	struct conn *c = raw_connect(f, OWNER);
	struct wire_hdr h;

	proto_block_rw_encode(&rw, pl, sizeof(pl));
	memcpy(pl + PROTO_BLOCK_RW_SIZE, "CORRUPT!", 8);
	send_raw(c, WIRE_OP_WRITE, pl, sizeof(pl), true);
	assert_int_equal(wire_recv_hdr(c, &h), 0);
	assert_true(h.flags & WIRE_F_REPLY);
	assert_int_equal(h.status, WIRE_S_BADMSG);
	assert_true(closed_by_peer(c));
	conn_destroy(c);
	/* the block keeps serving; the owner rewrites the lost range */
	assert_int_equal(
		remote_write(f->r, PROVIDER, ref, 0, "rewrite!", 8, NULL), 0);
	assert_int_equal(remote_read(f->r, PROVIDER, ref, 0, out, 8, NULL), 0);
	assert_memory_equal(out, "rewrite!", 8);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 1);
}

static void corrupted_large_write_is_refused_and_closes(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref ref = borrow_one(f->r);
	static uint8_t pl[PROTO_BLOCK_RW_SIZE + 32768];
	struct proto_block_rw rw = {ref.block, ref.epoch, 0, 32768};
	struct conn *c = raw_connect(f, OWNER);
	struct wire_hdr h;
	uint8_t out[4];

	proto_block_rw_encode(&rw, pl, sizeof(pl));
	send_raw(c, WIRE_OP_WRITE, pl, sizeof(pl), true);
	assert_int_equal(wire_recv_hdr(c, &h), 0);
	assert_int_equal(h.status, WIRE_S_BADMSG);
	assert_true(closed_by_peer(c));
	conn_destroy(c);
	/* the write's pin was dropped: the block can still be freed */
	assert_int_equal(remote_write(f->r, PROVIDER, ref, 0, "good", 4, NULL),
			 0);
	assert_int_equal(remote_read(f->r, PROVIDER, ref, 0, out, 4, NULL), 0);
	assert_memory_equal(out, "good", 4);
	assert_int_equal(remote_free(f->r, PROVIDER, &ref, 1), 0);
	assert_int_equal(ms_store_free_count(f->store), NBLOCKS);
}

struct bad_case {
	const char *what;
	uint8_t op;
	uint8_t pl[64];
	size_t len;
	uint32_t status;
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* {block, epoch, off, len} */
static void put_rw(uint8_t *p, uint32_t block, uint32_t epoch, uint32_t off,
		   uint32_t len)
{
	put32(p, block);
	put32(p + 4, epoch);
	put32(p + 8, off);
	put32(p + 12, len);
}

/* Invalid payloads, written byte by byte (no encoder would write them). */
static size_t bad_cases(struct bad_case *c, struct proto_block_ref ref)
{
	size_t n = 0;

	c[n] = (struct bad_case){"READ past the block end", WIRE_OP_READ};
	put_rw(c[n].pl, ref.block, ref.epoch, BS - 4, 8);
	c[n].len = 16, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"WRITE past the block end", WIRE_OP_WRITE};
	put_rw(c[n].pl, ref.block, ref.epoch, BS - 4, 8);
	c[n].len = 24, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"READ of epoch 0", WIRE_OP_READ};
	put_rw(c[n].pl, ref.block, 0, 0, 8);
	c[n].len = 16, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"WRITE shorter than its len", WIRE_OP_WRITE};
	put_rw(c[n].pl, ref.block, ref.epoch, 0, 8);
	c[n].len = 20, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"ALLOC of too many", WIRE_OP_ALLOC};
	put32(c[n].pl, PROTO_BLOCK_MAX_IDX + 1);
	c[n].len = 8, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"ALLOC with an unknown flag", WIRE_OP_ALLOC};
	put32(c[n].pl, 1);
	put32(c[n].pl + 4, 2);
	c[n].len = 8, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"READ_BATCH of 100 extents",
				 WIRE_OP_READ_BATCH};
	put32(c[n].pl, 100);
	c[n].len = 16, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"FREE of nothing", WIRE_OP_FREE};
	c[n].len = 8, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"FREE with RECONCILE flags", WIRE_OP_FREE};
	put32(c[n].pl, PROTO_BLOCK_RECONCILE_FIRST);
	put32(c[n].pl + 4, 1);
	put32(c[n].pl + 8, ref.block);
	put32(c[n].pl + 12, ref.epoch);
	c[n].len = 16, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"RECONCILE with unknown flags",
				 WIRE_OP_RECONCILE};
	put32(c[n].pl, 8);
	c[n].len = 8, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"GOODBYE with a payload", WIRE_OP_GOODBYE};
	c[n].len = 4, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"STATUS with a payload", WIRE_OP_STATUS};
	c[n].len = 4, c[n++].status = WIRE_S_INVAL;
	c[n] = (struct bad_case){"a manager's REGISTER", WIRE_OP_REGISTER};
	c[n].len = 4, c[n++].status = WIRE_S_NOTSUP;
	return n;
}

static void invalid_payloads_are_answered_and_close_the_connection(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref ref = borrow_one(f->r);
	struct bad_case cases[16];
	size_t n = bad_cases(cases, ref);
	struct wire_hdr h;
	uint8_t out[8];

	assert_true(n <= ARRAY_SIZE(cases));
	for (size_t i = 0; i < n; i++) {
		struct conn *c = raw_connect(f, OWNER);

		send_raw(c, cases[i].op, cases[i].pl, cases[i].len, false);
		assert_int_equal(wire_recv_hdr(c, &h), 0);
		if (h.status != cases[i].status)
			fail_msg("%s: status %s, want %s", cases[i].what,
				 wire_status_name(h.status),
				 wire_status_name(cases[i].status));
		if (!closed_by_peer(c))
			fail_msg("%s: the connection stayed open",
				 cases[i].what);
		conn_destroy(c);
	}
	/* none of it touched the loan */
	assert_int_equal(peer_lent(f->peer), 1);
	assert_int_equal(remote_read(f->r, PROVIDER, ref, 0, out, 8, NULL), 0);
	assert_true(all_zero(out, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(garbage_closes_only_that_connection),
		T(write_with_a_bad_checksum_is_refused),
		T(corrupted_large_write_is_refused_and_closes),
		T(invalid_payloads_are_answered_and_close_the_connection),
#undef T
	};

	log_init("test-peer-frames", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
