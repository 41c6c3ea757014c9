// SPDX-License-Identifier: MIT
/*
 * The block server's memory windows over RDMA, on the fake fabric
 * (fake-rdma.c, which checks every RDMA READ/WRITE against the windows
 * bound to the responder's queue pair and refuses invalidated ones): an
 * ALLOC that asks for windows gets one per loan, bound to its own
 * connection; a window reaches exactly its block, from that connection
 * only; and it is refused once the loan ends, however it ends (FREE,
 * lease, GOODBYE, reconciliation, the connection closing, the provider
 * stopping), but not before a copy that holds the block is done. A loan
 * that leaves without its block coming back to the store loses its
 * window too: before the provider copies a block it moves on (principle
 * 3), and before a HANDOVER makes a block another owner's. A device
 * without memory windows lends without them. Hand-made requests on raw
 * connections, one-sided access with conn_rma_read/write.
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
#include "cmp/wire.h"
#include "fake-rdma.h"
#include "peer-fixture.h"
#include "wait-for.h"

#define NBLOCKS 16u
#define DEADLINE_MS 5000

struct lent {
	struct proto_block_alloc_rep rep;
	struct proto_block_ref ref[NBLOCKS];
	uint32_t rkey[NBLOCKS];
};

static struct fixture *start(uint32_t lease_ms)
{
	memset(&F, 0, sizeof(F));
	F.devices = 1;
	return fixture_create(&(struct fixture_config){
		.listen_addr = "rdma://127.0.0.1:0",
		.nblocks = NBLOCKS,
		.lease_ms = lease_ms,
	});
}

/* Everything gone: no window bound, no fake object left. */
static void stop(struct fixture *f)
{
	fixture_destroy(f);
	pthread_mutex_lock(&fab);
	assert_int_equal(fake_bound_windows(), 0);
	assert_int_equal(F.live, 0);
	pthread_mutex_unlock(&fab);
}

/* ALLOC n on c with the flags; the reply decoded into l. */
static void alloc_on(struct conn *c, uint32_t n, uint32_t flags, struct lent *l)
{
	uint8_t req[PROTO_BLOCK_ALLOC_REQ_SIZE], rep[PROTO_BLOCK_MAX_IDX_MSG];
	size_t got;

	proto_block_alloc_req_encode(n, flags, req, sizeof(req));
	assert_int_equal(raw_call(c, WIRE_OP_ALLOC, req, sizeof(req), rep,
				  sizeof(rep), &got),
			 WIRE_S_OK);
	assert_int_equal(proto_block_alloc_rep_decode(rep, got, BS, &l->rep,
						      l->ref, l->rkey, n),
			 0);
	assert_int_equal(l->rep.count, n);
}

/* ALLOC n with windows: every loan gets one. */
static void alloc_windows(struct conn *c, uint32_t n, struct lent *l)
{
	alloc_on(c, n, PROTO_BLOCK_ALLOC_WINDOWS, l);
	assert_int_equal(l->rep.flags, PROTO_BLOCK_ALLOC_WINDOWS);
	for (uint32_t i = 0; i < n; i++)
		assert_int_not_equal(l->rkey[i], 0);
}

static struct conn_region window(const struct lent *l, uint32_t i)
{
	return (struct conn_region){
		.addr = l->rep.base + (uint64_t)l->ref[i].block * BS,
		.len = BS,
		.rkey = l->rkey[i],
	};
}

static uint8_t *block(struct fixture *f, const struct lent *l, uint32_t i)
{
	return ms_store_ops.ptr(f->store, l->ref[i].block);
}

static void list_call(struct conn *c, uint8_t op, uint32_t flags,
		      const struct proto_block_ref *refs, uint32_t n)
{
	uint8_t pl[PROTO_BLOCK_MAX_IDX_MSG], rep[PROTO_BLOCK_MAX_IDX_MSG];
	int len = proto_block_list_encode(flags, refs, n, pl, sizeof(pl));

	assert_true(len > 0);
	assert_int_equal(
		raw_call(c, op, pl, (size_t)len, rep, sizeof(rep), NULL),
		WIRE_S_OK);
}

/* A READ through the window is refused: the loan's window is gone. */
static void refused(struct conn *c, const struct lent *l, uint32_t i)
{
	struct conn_region w = window(l, i);
	uint8_t buf[64];

	assert_int_equal(conn_rma_read(c, buf, sizeof(buf), &w, 0), -EACCES);
}

static void a_loans_window_reaches_exactly_its_block(void **state)
{
	struct fixture *f = start(0);
	struct conn *c = raw_connect(f, OWNER);
	static uint8_t in[BS], out[BS];
	struct conn_region w, beside;
	struct lent l;

	alloc_windows(c, 2, &l);
	assert_int_not_equal(l.rkey[0], l.rkey[1]);
	assert_int_equal(peer_windows(f->peer), 2);
	/* the owner writes and reads block 0 one-sided: the bytes are there */
	fill(in, BS, 1);
	w = window(&l, 0);
	assert_int_equal(conn_rma_write(c, in + 100, 900, &w, 100), 0);
	assert_memory_equal(block(f, &l, 0) + 100, in + 100, 900);
	assert_true(all_zero(block(f, &l, 0), 100));
	assert_true(all_zero(block(f, &l, 0) + 1000, BS - 1000));
	assert_true(all_zero(block(f, &l, 1), BS));
	assert_int_equal(conn_rma_read(c, out, BS, &w, 0), 0);
	assert_memory_equal(out + 100, in + 100, 900);
	/* the rkey of block 0 does not reach the block beside it */
	beside = w;
	beside.addr = window(&l, 1).addr;
	assert_int_equal(conn_rma_write(c, in, 64, &beside, 0), -EACCES);
	assert_true(all_zero(block(f, &l, 1), BS));
	conn_destroy(c);
	stop(f);
}

static void another_connection_cannot_use_the_window(void **state)
{
	struct fixture *f = start(0);
	struct conn *mine = raw_connect(f, OWNER);
	struct conn *other = raw_connect(f, OTHER);
	struct conn *mine2 = raw_connect(f, OWNER);
	static uint8_t in[BS];
	struct conn_region w;
	struct lent l;

	alloc_windows(mine, 1, &l);
	fill(in, BS, 2);
	w = window(&l, 0);
	assert_int_equal(conn_rma_write(mine, in, BS, &w, 0), 0);
	/* another owner with the rkey and the address: refused, no byte */
	assert_int_equal(conn_rma_write(other, "evil", 4, &w, 0), -EACCES);
	/* nor the same owner's other connection: windows are per queue pair */
	assert_int_equal(conn_rma_write(mine2, "evil", 4, &w, 0), -EACCES);
	assert_memory_equal(block(f, &l, 0), in, BS);
	conn_destroy(other);
	conn_destroy(mine2);
	conn_destroy(mine);
	stop(f);
}

static void
a_free_revokes_the_window_before_the_block_is_lent_again(void **state)
{
	struct fixture *f = start(0);
	struct conn *c = raw_connect(f, OWNER);
	struct conn *other = raw_connect(f, OTHER);
	struct lent l, again;
	struct conn_region w;

	alloc_windows(c, 1, &l);
	w = window(&l, 0);
	assert_int_equal(conn_rma_write(c, "mine", 4, &w, 0), 0);
	list_call(c, WIRE_OP_FREE, 0, l.ref, 1);
	assert_int_equal(peer_windows(f->peer), 0);
	/* the block goes to another owner, cleared; the old rkey is dead */
	alloc_on(other, NBLOCKS, 0, &again);
	refused(c, &l, 0);
	assert_true(all_zero(block(f, &l, 0), BS));
	conn_destroy(other);
	conn_destroy(c);
	stop(f);
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

static void an_expired_lease_revokes_the_window(void **state)
{
	struct fixture *f = start(200);
	struct conn *c = raw_connect(f, OWNER);
	struct lease_wait lw = {f, OWNER};
	struct conn_region w;
	struct lent l;

	alloc_windows(c, 2, &l);
	w = window(&l, 1);
	assert_int_equal(conn_rma_write(c, "mine", 4, &w, 0), 0);
	/* one-sided traffic is not heard: the owner is silent */
	assert_true(wait_for(lease_expired, &lw, DEADLINE_MS));
	assert_int_equal(peer_windows(f->peer), 0);
	refused(c, &l, 1);
	conn_destroy(c);
	stop(f);
}

static void a_goodbye_revokes_every_window_of_that_owner(void **state)
{
	struct fixture *f = start(0);
	struct conn *c = raw_connect(f, OWNER);
	struct conn *other = raw_connect(f, OTHER);
	struct conn *bye = raw_connect(f, OWNER);
	struct conn_region w;
	struct lent l, theirs;
	uint8_t rep[PROTO_BLOCK_COUNT_SIZE];
	size_t got;

	alloc_windows(c, 3, &l);
	alloc_windows(other, 1, &theirs);
	/* the owner leaves, saying so on another of its connections */
	assert_int_equal(
		raw_call(bye, WIRE_OP_GOODBYE, NULL, 0, rep, sizeof(rep), &got),
		WIRE_S_OK);
	assert_int_equal(peer_windows(f->peer), 1);
	refused(c, &l, 2);
	/* the other owner's window is untouched */
	w = window(&theirs, 0);
	assert_int_equal(conn_rma_write(other, "theirs", 6, &w, 0), 0);
	assert_memory_equal(block(f, &theirs, 0), "theirs", 6);
	conn_destroy(bye);
	conn_destroy(other);
	conn_destroy(c);
	stop(f);
}

static void reconciliation_revokes_the_windows_of_unclaimed_loans(void **state)
{
	struct fixture *f = start(0);
	struct conn *c = raw_connect(f, OWNER);
	struct conn_region w;
	struct lent l;
	uint8_t buf[8];

	alloc_windows(c, 2, &l);
	/* the owner claims loan 0 only: LAST frees loan 1 */
	list_call(c, WIRE_OP_RECONCILE,
		  PROTO_BLOCK_RECONCILE_FIRST | PROTO_BLOCK_RECONCILE_LAST,
		  l.ref, 1);
	assert_int_equal(peer_windows(f->peer), 1);
	w = window(&l, 0);
	assert_int_equal(conn_rma_read(c, buf, sizeof(buf), &w, 0), 0);
	refused(c, &l, 1);
	conn_destroy(c);
	stop(f);
}

/* A WRITE message of a whole block, on w, held half received. */
struct half_write {
	struct conn *w;
	uint8_t *frame;
	size_t len, pre;
};

static void half_write(struct half_write *hw, struct proto_block_ref ref)
{
	struct proto_block_rw rw = {ref.block, ref.epoch, 0, BS};
	struct wire_hdr h = {.op = WIRE_OP_WRITE, .id = 9};
	struct iovec iov;

	hw->pre = WIRE_HDR_SIZE + PROTO_BLOCK_RW_SIZE;
	hw->len = hw->pre + BS;
	hw->frame = calloc(1, hw->len);
	assert_non_null(hw->frame);
	proto_block_rw_encode(&rw, hw->frame + WIRE_HDR_SIZE,
			      PROTO_BLOCK_RW_SIZE);
	memset(hw->frame + hw->pre, 0x5a, BS);
	h.len = PROTO_BLOCK_RW_SIZE + BS;
	iov = (struct iovec){hw->frame + WIRE_HDR_SIZE, h.len};
	h.csum = wire_csum(&iov, 1);
	wire_hdr_encode(&h, hw->frame);
	iov = (struct iovec){hw->frame, hw->pre + BS / 2};
	assert_int_equal(conn_writev(hw->w, &iov, 1), 0);
}

struct landed {
	const volatile uint8_t *b;
};

static bool first_half_landed(void *arg)
{
	struct landed *l = arg;

	return l->b[0] == 0x5a && l->b[BS / 2 - 1] == 0x5a;
}

static void a_held_block_keeps_its_window_until_the_copy_ends(void **state)
{
	struct fixture *f = start(0);
	struct conn *c = raw_connect(f, OWNER);
	struct half_write hw = {.w = raw_connect(f, OWNER)};
	struct conn_region w;
	struct wire_hdr h;
	struct landed ld;
	struct iovec rest;
	struct lent l;
	uint8_t buf[8];

	alloc_windows(c, 1, &l);
	half_write(&hw, l.ref[0]);
	ld.b = block(f, &l, 0);
	assert_true(wait_for(first_half_landed, &ld, DEADLINE_MS));
	/* freed while the WRITE holds it: FREEING, the window stays */
	list_call(c, WIRE_OP_FREE, 0, l.ref, 1);
	assert_int_equal(peer_windows(f->peer), 1);
	w = window(&l, 0);
	assert_int_equal(conn_rma_read(c, buf, sizeof(buf), &w, 0), 0);
	/* the copy ends: the last unpin revokes it, then frees the block */
	rest = (struct iovec){hw.frame + hw.pre + BS / 2, BS / 2};
	assert_int_equal(conn_writev(hw.w, &rest, 1), 0);
	assert_int_equal(wire_recv_hdr(hw.w, &h), 0);
	assert_int_equal(h.status, WIRE_S_STALE);
	assert_int_equal(peer_windows(f->peer), 0);
	refused(c, &l, 0);
	free(hw.frame);
	conn_destroy(hw.w);
	conn_destroy(c);
	stop(f);
}

static bool no_windows(void *arg)
{
	struct fixture *f = arg;

	return peer_windows(f->peer) == 0;
}

/* A READ message of 4 bytes of loan ref on a fresh connection of node. */
static uint32_t read_msg(struct fixture *f, uint32_t node,
			 struct proto_block_ref ref, uint8_t *out)
{
	struct proto_block_rw rw = {ref.block, ref.epoch, 0, 4};
	uint8_t pl[PROTO_BLOCK_RW_SIZE], rep[PROTO_BLOCK_MOVED_SIZE];
	struct conn *c = raw_connect(f, node);
	size_t got = 0;
	uint32_t st;

	proto_block_rw_encode(&rw, pl, sizeof(pl));
	st = raw_call(c, WIRE_OP_READ, pl, sizeof(pl), rep, sizeof(rep), &got);
	if (st == WIRE_S_OK) {
		assert_int_equal(got, 4);
		memcpy(out, rep, 4);
	}
	conn_destroy(c);
	return st;
}

static void a_closed_connection_loses_its_windows_not_its_loans(void **state)
{
	struct fixture *f = start(0);
	struct conn *c = raw_connect(f, OWNER);
	struct conn_region w;
	uint8_t out[4];
	struct lent l;

	alloc_windows(c, 2, &l);
	w = window(&l, 0);
	assert_int_equal(conn_rma_write(c, "kept", 4, &w, 0), 0);
	conn_destroy(c);
	assert_true(wait_for(no_windows, f, DEADLINE_MS));
	pthread_mutex_lock(&fab);
	assert_int_equal(fake_bound_windows(), 0);
	pthread_mutex_unlock(&fab);
	/* the loans stand: the owner reads them with messages */
	assert_int_equal(peer_lent_to(f->peer, OWNER), 2);
	assert_int_equal(read_msg(f, OWNER, l.ref[0], out), WIRE_S_OK);
	assert_memory_equal(out, "kept", 4);
	stop(f);
}

static void stopping_the_provider_revokes_every_window(void **state)
{
	struct fixture *f = start(0);
	struct conn *c = raw_connect(f, OWNER);
	struct conn_region w;
	uint8_t buf[8];
	struct lent l;

	alloc_windows(c, 4, &l);
	pthread_mutex_lock(&fab);
	assert_int_equal(fake_bound_windows(), 4);
	pthread_mutex_unlock(&fab);
	/* the owner's connection is still open when the provider stops */
	remote_destroy(f->r);
	f->r = NULL;
	peer_destroy(f->peer);
	f->peer = NULL;
	pthread_mutex_lock(&fab);
	assert_int_equal(fake_bound_windows(), 0);
	pthread_mutex_unlock(&fab);
	/* nobody answers there any more */
	w = window(&l, 3);
	assert_int_equal(conn_rma_read(c, buf, sizeof(buf), &w, 0),
			 -ECONNRESET);
	conn_destroy(c);
	stop(f);
}

static void a_block_that_moves_on_loses_its_window_first(void **state)
{
	struct fixture *f = start(0);
	struct conn *c = raw_connect(f, OWNER);
	struct conn *other = raw_connect(f, OTHER);
	struct peer_loan to = {PROVIDER + 1, 3, 33};
	uint32_t idx, owner, epoch;
	struct lent l, again;
	struct conn_region w;
	uint8_t out[4];

	alloc_windows(c, 2, &l);
	idx = l.ref[0].block;
	w = window(&l, 0);
	assert_int_equal(conn_rma_write(c, "mine", 4, &w, 0), 0);
	/* no one-sided write may land once the copy begins */
	assert_int_equal(peer_move_begin(f->peer, idx, 1000, &owner, &epoch),
			 0);
	assert_int_equal(owner, OWNER);
	assert_int_equal(epoch, l.ref[0].epoch);
	assert_int_equal(peer_windows(f->peer), 1);
	refused(c, &l, 0);
	/* a move that failed: the loan stays, reached with messages */
	assert_int_equal(peer_move_end(f->peer, idx, NULL), 0);
	assert_int_equal(read_msg(f, OWNER, l.ref[0], out), WIRE_S_OK);
	assert_memory_equal(out, "mine", 4);
	/* moved for good: the block is ours, and no window is left on it */
	assert_int_equal(peer_move_begin(f->peer, idx, 1000, &owner, &epoch),
			 0);
	assert_int_equal(peer_move_end(f->peer, idx, &to), 0);
	assert_int_equal(read_msg(f, OWNER, l.ref[0], out), WIRE_S_MOVED);
	/* reused: lent again with a window of its own (none may be left) */
	ms_store_ops.free(f->store, &idx, 1);
	alloc_windows(other, NBLOCKS - 1, &again);
	assert_int_equal(peer_windows(f->peer), NBLOCKS);
	refused(c, &l, 0);
	conn_destroy(other);
	conn_destroy(c);
	stop(f);
}

static void a_handover_ends_the_movers_window(void **state)
{
	struct fixture *f = start(0);
	struct conn *mover = raw_connect(f, OTHER);
	uint8_t pl[PROTO_BLOCK_HANDOVER_SIZE], rep[PROTO_BLOCK_REF_SIZE];
	struct proto_block_ref now;
	struct conn_region w;
	uint8_t out[4];
	struct lent l;
	size_t got;

	/* the mover borrows a block with a window and copies into it */
	alloc_windows(mover, 2, &l);
	w = window(&l, 0);
	assert_int_equal(conn_rma_write(mover, "copy", 4, &w, 0), 0);
	proto_block_handover_encode(
		&(struct proto_block_handover){.ref = l.ref[0], .to = OWNER},
		pl, sizeof(pl));
	assert_int_equal(raw_call(mover, WIRE_OP_HANDOVER, pl, sizeof(pl), rep,
				  sizeof(rep), &got),
			 WIRE_S_OK);
	assert_int_equal(proto_block_ref_decode(rep, got, &now), 0);
	assert_int_equal(now.block, l.ref[0].block);
	/* the block is the owner's: the mover cannot reach it any more */
	assert_int_equal(peer_windows(f->peer), 1);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 1);
	/* the mover's other loan keeps its window */
	w = window(&l, 1);
	assert_int_equal(conn_rma_read(mover, out, 4, &w, 0), 0);
	refused(mover, &l, 0);
	assert_int_equal(read_msg(f, OWNER, now, out), WIRE_S_OK);
	assert_memory_equal(out, "copy", 4);
	conn_destroy(mover);
	stop(f);
}

static void a_device_without_memory_windows_lends_without_them(void **state)
{
	struct fixture *f;
	struct conn *c;
	struct lent l;

	memset(&F, 0, sizeof(F));
	F.devices = 1;
	F.no_mw = true;
	f = fixture_create(&(struct fixture_config){
		.listen_addr = "rdma://127.0.0.1:0",
		.nblocks = NBLOCKS,
	});
	c = raw_connect(f, OWNER);
	alloc_on(c, 3, PROTO_BLOCK_ALLOC_WINDOWS, &l);
	assert_int_equal(l.rep.flags, 0);
	assert_int_equal(peer_windows(f->peer), 0);
	assert_int_equal(F.binds, 0);
	/* and again, without asking the device once more per block */
	alloc_on(c, 3, PROTO_BLOCK_ALLOC_WINDOWS, &l);
	assert_int_equal(l.rep.flags, 0);
	conn_destroy(c);
	stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_loans_window_reaches_exactly_its_block),
		cmocka_unit_test(another_connection_cannot_use_the_window),
		cmocka_unit_test(
			a_free_revokes_the_window_before_the_block_is_lent_again),
		cmocka_unit_test(an_expired_lease_revokes_the_window),
		cmocka_unit_test(a_goodbye_revokes_every_window_of_that_owner),
		cmocka_unit_test(
			reconciliation_revokes_the_windows_of_unclaimed_loans),
		cmocka_unit_test(
			a_held_block_keeps_its_window_until_the_copy_ends),
		cmocka_unit_test(
			a_closed_connection_loses_its_windows_not_its_loans),
		cmocka_unit_test(stopping_the_provider_revokes_every_window),
		cmocka_unit_test(a_block_that_moves_on_loses_its_window_first),
		cmocka_unit_test(a_handover_ends_the_movers_window),
		cmocka_unit_test(
			a_device_without_memory_windows_lends_without_them),
	};

	log_init("test-peer-rma", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
