// SPDX-License-Identifier: MIT
/*
 * The provider race of issue 9, made deterministic over mem://: a WRITE of
 * a whole block is half received (a raw client authenticated as the owner
 * sends the header and half the data, then stops), and meanwhile the loan
 * ends on another path: the owner FREEs the block, says GOODBYE, or its
 * lease expires. A second owner then borrows. The block must stay out of
 * the store for as long as the WRITE holds it (the store has one or two
 * blocks, so it would otherwise be the one lent), and once the WRITE ends
 * (the rest of the data arrives, or its connection closes) the block goes
 * back cleared, is lent to the second owner, and nothing the first owner
 * sends changes the second owner's data after that.
 *
 * "Check, unlock, copy" (the loan checked, the lock dropped, then the copy
 * into the block) fails every case here: the block is freed and re-lent
 * under the copy. Every wait polls a condition against a deadline: the
 * half-received data showing up in the block (which proves the WRITE got
 * past its loan check), the store's free count, the peer's loan counts.
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
#include "wait-for.h"

#define DEADLINE_MS 10000
#define LEASE_MS 300u
#define HALF (BS / 2)
#define FIRST_HALF 0xa1 /* what the owner's WRITE carries */
#define SECOND_HALF 0xa2
#define THEIRS 0xb0 /* what the second owner writes */

enum loan_end { BY_FREE, BY_GOODBYE, BY_LEASE };

struct race {
	struct fixture *f;
	struct conn *w; /* the owner's raw connection, WRITE half sent */
	struct proto_block_ref ref;
	uint8_t *frame; /* header + payload of the WRITE */
	size_t frame_len, sent;
};

static struct fixture *race_fixture(uint32_t nblocks, uint32_t lease_ms)
{
	return fixture_create(&(struct fixture_config){.nblocks = nblocks,
						       .lease_ms = lease_ms});
}

/* ALLOC 1 on the raw connection: the loan the WRITE will name. */
static struct proto_block_ref raw_borrow(struct conn *c)
{
	uint8_t req[PROTO_BLOCK_ALLOC_REQ_SIZE];
	uint8_t rep[PROTO_BLOCK_ALLOC_REP_SIZE + PROTO_BLOCK_REF_SIZE];
	struct proto_block_alloc_rep ar;
	struct proto_block_ref ref;
	size_t got;

	proto_block_alloc_req_encode(1, 0, req, sizeof(req));
	assert_int_equal(raw_call(c, WIRE_OP_ALLOC, req, sizeof(req), rep,
				  sizeof(rep), &got),
			 WIRE_S_OK);
	assert_int_equal(
		proto_block_alloc_rep_decode(rep, got, BS, &ar, &ref, NULL, 1),
		0);
	return ref;
}

/*
 * A whole-block WRITE (or a WRITE_BATCH of one whole-block extent) of ref,
 * with a valid checksum: the first half of the data FIRST_HALF, the second
 * SECOND_HALF. Returns the size of everything before the data.
 */
static size_t build_write(struct race *r, uint8_t op)
{
	size_t pre = op == WIRE_OP_WRITE
			     ? PROTO_BLOCK_RW_SIZE
			     : PROTO_BLOCK_BATCH_SIZE + PROTO_BLOCK_EXTENT_SIZE;
	struct wire_hdr h = {.op = op, .id = 2, .len = pre + BS};
	struct proto_block_rw rw = {r->ref.block, r->ref.epoch, 0, BS};
	struct proto_block_extent ext = {r->ref.block, r->ref.epoch, 0, BS};
	uint8_t *pl;
	struct iovec iov;

	r->frame_len = WIRE_HDR_SIZE + pre + BS;
	r->frame = malloc(r->frame_len);
	assert_non_null(r->frame);
	pl = r->frame + WIRE_HDR_SIZE;
	if (op == WIRE_OP_WRITE)
		proto_block_rw_encode(&rw, pl, pre);
	else
		assert_int_equal(proto_block_batch_encode(&ext, 1, pl, pre),
				 (int)pre);
	memset(pl + pre, FIRST_HALF, HALF);
	memset(pl + pre + HALF, SECOND_HALF, BS - HALF);
	iov = (struct iovec){pl, pre + BS};
	h.csum = wire_csum(&iov, 1);
	wire_hdr_encode(&h, r->frame);
	return WIRE_HDR_SIZE + pre;
}

static void send_more(struct race *r, size_t upto)
{
	struct iovec iov = {r->frame + r->sent, upto - r->sent};

	assert_int_equal(conn_writev(r->w, &iov, 1), 0);
	r->sent = upto;
}

/*
 * The peer copied the whole first half into the block: it is held. This
 * peeks, on purpose, at a block the peer is receiving into (the bytes
 * landing are the sign that the WRITE got past its loan check): a torn or
 * early value only means one more poll, so ThreadSanitizer is told not to
 * watch this read.
 */
__attribute__((no_sanitize("thread"))) static bool first_half_landed(void *arg)
{
	struct race *r = arg;
	const volatile uint8_t *b = ms_store_ops.ptr(r->f->store, r->ref.block);

	return b[0] == FIRST_HALF && b[HALF - 1] == FIRST_HALF;
}

/* The owner borrows a block and sends half of a WRITE filling it. */
static void start_half_write(struct race *r, struct fixture *f, uint8_t op)
{
	size_t pre;

	memset(r, 0, sizeof(*r));
	r->f = f;
	r->w = raw_connect(f, OWNER);
	r->ref = raw_borrow(r->w);
	pre = build_write(r, op);
	send_more(r, pre + HALF);
	assert_true(wait_for(first_half_landed, r, DEADLINE_MS));
}

/* The rest of the data: the WRITE ends and is answered. */
static void finish_write(struct race *r)
{
	struct wire_hdr h;

	send_more(r, r->frame_len);
	assert_int_equal(wire_recv_hdr(r->w, &h), 0);
	assert_int_equal(h.id, 2);
	assert_int_equal(h.len, 0);
	/* the bytes went into a block no longer lent: either answer is true */
	assert_true(h.status == WIRE_S_OK || h.status == WIRE_S_STALE);
}

static void race_finish(struct race *r)
{
	conn_destroy(r->w);
	free(r->frame);
}

struct lease_wait {
	struct fixture *f;
	uint32_t owner;
};

static bool lease_expired(void *arg)
{
	struct lease_wait *lw = arg;

	peer_expire_leases(lw->f->peer);
	return peer_lent_to(lw->f->peer, lw->owner) == 0;
}

/* Ends the owner's loan of the held block without touching the WRITE. */
static void end_loan(struct race *r, enum loan_end how)
{
	struct lease_wait lw = {r->f, OWNER};
	uint32_t freed = 0;

	switch (how) {
	case BY_FREE:
		assert_int_equal(remote_free(r->f->r, PROVIDER, &r->ref, 1), 0);
		break;
	case BY_GOODBYE:
		assert_int_equal(remote_goodbye(r->f->r, PROVIDER, &freed), 0);
		assert_int_equal(freed, 1);
		break;
	case BY_LEASE:
		/* the owner sends nothing more: its lease runs out */
		assert_true(wait_for(lease_expired, &lw, DEADLINE_MS));
		break;
	}
	assert_int_equal(peer_lent_to(r->f->peer, OWNER), 0);
}

/* While the WRITE holds it, the ended loan's block is nobody's to take. */
static void block_stays_held(struct race *r, struct remote *other,
			     uint32_t other_loans)
{
	struct proto_block_ref ref;
	uint32_t got = 0;
	int ret;

	ret = remote_alloc(other, PROVIDER, 1, &ref, &got);
	if (ret == 0 && ref.block == r->ref.block)
		fail_msg("owner %u was lent block %u while a WRITE of owner %u "
			 "still held it",
			 OTHER, ref.block, OWNER);
	assert_int_equal(ret, -ENOSPC);
	assert_int_equal(ms_store_free_count(r->f->store), 0);
	/* still counted: lent no more, but not given back either */
	assert_int_equal(peer_lent(r->f->peer), other_loans + 1);
	assert_int_equal(peer_lent_to(r->f->peer, OTHER), other_loans);
}

struct store_count {
	struct fixture *f;
	uint32_t free;
};

static bool store_has_free(void *arg)
{
	struct store_count *sc = arg;

	return ms_store_free_count(sc->f->store) == sc->free;
}

/*
 * The WRITE is over: the block is back, cleared, the second owner gets it,
 * and nothing of the first owner's reaches it after that.
 */
static void second_owner_gets_it_cleared_and_keeps_it(struct race *r,
						      struct remote *other)
{
	static uint8_t theirs[BS], out[BS];
	struct store_count sc = {r->f, 1};
	struct proto_block_ref ref;

	assert_true(wait_for(store_has_free, &sc, DEADLINE_MS));
	assert_true(all_zero(ms_store_ops.ptr(r->f->store, r->ref.block), BS));
	ref = borrow_one(other);
	assert_int_equal(ref.block, r->ref.block);
	assert_int_not_equal(ref.epoch, r->ref.epoch);
	assert_int_equal(remote_read(other, PROVIDER, ref, 0, out, BS, NULL),
			 0);
	assert_true(all_zero(out, BS));
	memset(theirs, THEIRS, BS);
	assert_int_equal(
		remote_write(other, PROVIDER, ref, 0, theirs, BS, NULL), 0);
	/* the first owner's old loan reaches nothing any more */
	assert_int_equal(
		remote_write(r->f->r, PROVIDER, r->ref, 0, out, BS, NULL),
		-ESTALE);
	assert_int_equal(
		remote_read(r->f->r, PROVIDER, r->ref, 0, out, BS, NULL),
		-ESTALE);
	assert_int_equal(remote_read(other, PROVIDER, ref, 0, out, BS, NULL),
			 0);
	assert_memory_equal(out, theirs, BS);
	assert_memory_equal(ms_store_ops.ptr(r->f->store, ref.block), theirs,
			    BS);
}

/* The same WRITE frame again on the still open connection: refused. */
static void replayed_write_is_stale(struct race *r)
{
	struct wire_hdr h;

	r->sent = 0;
	send_more(r, r->frame_len);
	assert_int_equal(wire_recv_hdr(r->w, &h), 0);
	assert_int_equal(h.status, WIRE_S_STALE);
}

/* The second owner's block still holds only what it wrote. */
static void theirs_intact(struct race *r, uint32_t block)
{
	const uint8_t *b = ms_store_ops.ptr(r->f->store, block);

	for (uint32_t i = 0; i < BS; i++)
		if (b[i] != THEIRS)
			fail_msg("byte %u of owner %u's block %u is %#x", i,
				 OTHER, block, b[i]);
}

/* One block; the loan ends by `how` mid-WRITE; the WRITE then completes. */
static void run_finished_write(uint8_t op, enum loan_end how)
{
	struct fixture *f = race_fixture(1, how == BY_LEASE ? LEASE_MS : 0);
	struct remote *other = owner_create(f, OTHER);
	uint8_t out[8];
	struct race r;

	start_half_write(&r, f, op);
	end_loan(&r, how);
	block_stays_held(&r, other, 0);
	/* the first owner's old loan is gone even while held */
	assert_int_equal(remote_read(f->r, PROVIDER, r.ref, 0, out, 8, NULL),
			 -ESTALE);
	finish_write(&r);
	second_owner_gets_it_cleared_and_keeps_it(&r, other);
	replayed_write_is_stale(&r);
	theirs_intact(&r, r.ref.block);
	race_finish(&r);
	remote_destroy(other);
	fixture_destroy(f);
}

static void a_write_holds_its_block_through_a_free_until_it_ends(void **state)
{
	run_finished_write(WIRE_OP_WRITE, BY_FREE);
}

static void a_write_holds_its_block_through_a_goodbye(void **state)
{
	run_finished_write(WIRE_OP_WRITE, BY_GOODBYE);
}

static void a_write_holds_its_block_through_an_expired_lease(void **state)
{
	run_finished_write(WIRE_OP_WRITE, BY_LEASE);
}

static void a_batch_write_holds_its_block_through_a_free(void **state)
{
	run_finished_write(WIRE_OP_WRITE_BATCH, BY_FREE);
}

/*
 * Two blocks: the second owner gets the other one while the WRITE holds
 * the first; the WRITE never ends, its connection closes instead.
 */
static void
a_cut_off_write_holds_its_block_until_its_connection_closes(void **state)
{
	struct fixture *f = race_fixture(2, 0);
	struct remote *other = owner_create(f, OTHER);
	struct proto_block_ref spare;
	struct race r;

	start_half_write(&r, f, WIRE_OP_WRITE);
	end_loan(&r, BY_FREE);
	spare = borrow_one(other);
	if (spare.block == r.ref.block)
		fail_msg("owner %u was lent block %u while a WRITE of owner %u "
			 "still held it",
			 OTHER, spare.block, OWNER);
	block_stays_held(&r, other, 1);
	/* the writer goes away mid-frame */
	conn_destroy(r.w);
	r.w = NULL;
	second_owner_gets_it_cleared_and_keeps_it(&r, other);
	theirs_intact(&r, r.ref.block);
	assert_int_equal(peer_lent_to(f->peer, OTHER), 2);
	assert_int_equal(ms_store_free_count(f->store), 0);
	race_finish(&r);
	remote_destroy(other);
	fixture_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			a_write_holds_its_block_through_a_free_until_it_ends),
		cmocka_unit_test(a_write_holds_its_block_through_a_goodbye),
		cmocka_unit_test(
			a_write_holds_its_block_through_an_expired_lease),
		cmocka_unit_test(a_batch_write_holds_its_block_through_a_free),
		cmocka_unit_test(
			a_cut_off_write_holds_its_block_until_its_connection_closes),
	};

	log_init("test-peer-race", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
