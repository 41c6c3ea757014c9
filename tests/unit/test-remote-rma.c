// SPDX-License-Identifier: MIT
/*
 * The owner's side of one-sided access (pool/remote-rma.c, remote-rw.c),
 * against a real block server over the fake RDMA fabric (fake-rdma.c):
 * loans borrowed on the provider's RMA connection come with memory
 * windows and are read and written with RDMA READ/WRITE; a loan that
 * ended behind the owner's back (its window revoked) answers ESTALE,
 * never the bytes now in that block; a loan the owner freed is never
 * touched one-sided again; and on a device without memory windows
 * everything travels as messages and still works.
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
#include "remote-internal.h"
#include "wait-for.h"

#define NBLOCKS 8u
#define DEADLINE_MS 5000

static int rma_ops(void)
{
	int n;

	pthread_mutex_lock(&fab);
	n = F.rma_ops;
	pthread_mutex_unlock(&fab);
	return n;
}

static struct fixture *start(bool no_mw)
{
	memset(&F, 0, sizeof(F));
	F.devices = 1;
	F.no_mw = no_mw;
	return fixture_create(&(struct fixture_config){
		.listen_addr = "rdma://127.0.0.1:0",
		.nblocks = NBLOCKS,
	});
}

static void stop(struct fixture *f)
{
	fixture_destroy(f);
	pthread_mutex_lock(&fab);
	assert_int_equal(fake_bound_windows(), 0);
	assert_int_equal(F.live, 0);
	pthread_mutex_unlock(&fab);
}

static uint8_t *block(struct fixture *f, struct proto_block_ref ref)
{
	return ms_store_ops.ptr(f->store, ref.block);
}

static void borrow(struct remote *r, uint32_t n, struct proto_block_ref *refs)
{
	uint32_t got;

	assert_int_equal(remote_alloc(r, PROVIDER, n, refs, &got), 0);
	assert_int_equal(got, n);
}

/* The owner has an RMA connection to the provider again. */
static bool rma_ready(void *arg)
{
	struct remote *r = arg;
	struct remote_node *n;
	bool ready;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, PROVIDER);
	ready = n && n->rma && n->rma->windows;
	pthread_mutex_unlock(&r->lock);
	return ready;
}

static void loans_with_windows_travel_one_sided(void **state)
{
	struct fixture *f = start(false);
	static uint8_t in[BS + 10], out[BS + 10];
	struct iovec win[3] = {{in, 7}, {in + 7, BS - 7}, {in + BS, 10}};
	struct iovec wout[1] = {{out, BS + 10}};
	struct proto_block_extent ext[2];
	struct proto_block_ref ref[2];
	char hello[6];
	int ops;

	borrow(f->r, 2, ref);
	assert_int_equal(peer_windows(f->peer), 2);
	ops = rma_ops();
	assert_int_equal(
		remote_write(f->r, PROVIDER, ref[1], 100, "hello", 6, NULL), 0);
	assert_string_equal((char *)block(f, ref[1]) + 100, "hello");
	assert_int_equal(
		remote_read(f->r, PROVIDER, ref[1], 100, hello, 6, NULL), 0);
	assert_string_equal(hello, "hello");
	assert_int_equal(rma_ops(), ops + 2);
	/* a batch split across iovecs: one RDMA operation per piece */
	ext[0] = (struct proto_block_extent){ref[0].block, ref[0].epoch, 0, BS};
	ext[1] = (struct proto_block_extent){ref[1].block, ref[1].epoch,
					     BS - 10, 10};
	fill(in, sizeof(in), 3);
	assert_int_equal(
		remote_write_batch(f->r, PROVIDER, ext, 2, win, 3, NULL), 0);
	assert_int_equal(
		remote_read_batch(f->r, PROVIDER, ext, 2, wout, 1, NULL), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_memory_equal(block(f, ref[0]), in, BS);
	assert_memory_equal(block(f, ref[1]) + BS - 10, in + BS, 10);
	assert_int_equal(rma_ops(), ops + 2 + 3 + 2);
	stop(f);
}

static void a_loan_ended_behind_the_owners_back_is_stale_not_bytes(void **state)
{
	struct fixture *f = start(false);
	struct remote *other = owner_create(f, OTHER);
	static uint8_t theirs[BS], out[BS];
	struct proto_block_ref mine, all[NBLOCKS];
	struct conn *bye;
	uint8_t rep[PROTO_BLOCK_COUNT_SIZE];
	size_t got;

	borrow(f->r, 1, &mine);
	assert_int_equal(remote_write(f->r, PROVIDER, mine, 0, "mine", 4, NULL),
			 0);
	/* the owner's loans end on a connection remote.c does not know */
	bye = raw_connect(f, OWNER);
	assert_int_equal(
		raw_call(bye, WIRE_OP_GOODBYE, NULL, 0, rep, sizeof(rep), &got),
		WIRE_S_OK);
	conn_destroy(bye);
	/* its block goes to another owner, who fills it */
	borrow(other, NBLOCKS, all);
	fill(theirs, BS, 9);
	for (uint32_t i = 0; i < NBLOCKS; i++)
		assert_int_equal(remote_write(other, PROVIDER, all[i], 0,
					      theirs, BS, NULL),
				 0);
	/* the old window is refused; the provider's answer is STALE */
	assert_int_equal(remote_read(f->r, PROVIDER, mine, 0, out, BS, NULL),
			 -ESTALE);
	assert_int_equal(remote_write(f->r, PROVIDER, mine, 0, "late", 4, NULL),
			 -ESTALE);
	assert_memory_equal(block(f, mine), theirs, BS);
	/* the owner borrows again, with windows on a new connection */
	assert_int_equal(remote_free(other, PROVIDER, all, NBLOCKS), 0);
	assert_true(wait_for(rma_ready, f->r, DEADLINE_MS));
	borrow(f->r, 1, &mine);
	assert_int_equal(peer_windows(f->peer), 1);
	assert_int_equal(remote_write(f->r, PROVIDER, mine, 0, "anew", 4, NULL),
			 0);
	assert_memory_equal(block(f, mine), "anew", 4);
	remote_destroy(other);
	stop(f);
}

static void a_freed_loan_is_never_touched_one_sided_again(void **state)
{
	struct fixture *f = start(false);
	struct proto_block_ref ref[2];
	uint8_t out[4];
	int ops;

	borrow(f->r, 2, ref);
	assert_int_equal(remote_free(f->r, PROVIDER, ref, 1), 0);
	assert_int_equal(peer_windows(f->peer), 1);
	ops = rma_ops();
	/* asked with a message, which the provider refuses */
	assert_int_equal(remote_read(f->r, PROVIDER, ref[0], 0, out, 4, NULL),
			 -ESTALE);
	assert_int_equal(rma_ops(), ops);
	/* the other loan keeps its window */
	assert_int_equal(remote_read(f->r, PROVIDER, ref[1], 0, out, 4, NULL),
			 0);
	assert_int_equal(rma_ops(), ops + 1);
	stop(f);
}

static void without_memory_windows_blocks_travel_as_messages(void **state)
{
	struct fixture *f = start(true);
	static uint8_t in[2 * BS], out[2 * BS];
	struct iovec iov = {in, 2 * BS}, oiov = {out, 2 * BS};
	struct proto_block_extent ext[2];
	struct proto_block_ref ref[2];
	char hello[6];

	borrow(f->r, 2, ref);
	assert_int_equal(peer_windows(f->peer), 0);
	assert_int_equal(
		remote_write(f->r, PROVIDER, ref[0], 9, "hello", 6, NULL), 0);
	assert_int_equal(remote_read(f->r, PROVIDER, ref[0], 9, hello, 6, NULL),
			 0);
	assert_string_equal(hello, "hello");
	for (int i = 0; i < 2; i++)
		ext[i] = (struct proto_block_extent){ref[i].block, ref[i].epoch,
						     0, BS};
	fill(in, sizeof(in), 4);
	assert_int_equal(
		remote_write_batch(f->r, PROVIDER, ext, 2, &iov, 1, NULL), 0);
	assert_int_equal(
		remote_read_batch(f->r, PROVIDER, ext, 2, &oiov, 1, NULL), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_memory_equal(block(f, ref[1]), in + BS, BS);
	borrow(f->r, 1, ref);
	assert_int_equal(rma_ops(), 0);
	assert_int_equal(F.binds, 0);
	stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(loans_with_windows_travel_one_sided),
		cmocka_unit_test(
			a_loan_ended_behind_the_owners_back_is_stale_not_bytes),
		cmocka_unit_test(a_freed_loan_is_never_touched_one_sided_again),
		cmocka_unit_test(
			without_memory_windows_blocks_travel_as_messages),
	};

	log_init("test-remote-rma", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
