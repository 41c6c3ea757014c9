// SPDX-License-Identifier: MIT
/*
 * The CMP paper's three-node example (Figures 4-6 and 9) run through the
 * real pool, cluster glue and manager in one process over mem://: nodes A,
 * B and C each contribute four 4 KiB blocks and join an in-process
 * manager (cmp3-fixture.h). Allocations take local blocks first; a node
 * with no free block takes back a block it lends (its content moves on to
 * a third node, the owner follows it there), else moves its coldest LLL
 * block to the node with the most idle memory; freeing pulls borrowed
 * blocks home; a dead provider's blocks are lost
 * (EIO) while the rest keeps working; a node that leaves cleanly has its
 * blocks freed by its providers at once, by its own GOODBYE (never on the
 * manager's word). Every list on every node is checked after every step.
 *
 * The pools' own counts change at once, except where the pool's helper
 * thread moves blocks (pulling home): those are waited for. The manager's
 * view lags by a heartbeat; before a step whose choice of provider depends
 * on it, the test waits until the manager reports the pools' free counts.
 * Every wait polls a condition against a deadline.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "cmp3-fixture.h"
#include "manager.h"

/* ---- the tests ---- */

static void three_nodes_follow_the_papers_figures(void **state)
{
	struct cmp3 *t = *state;

	expect(t, "start: every block free", L(4, 0, 0, 0), L(4, 0, 0, 0),
	       L(4, 0, 0, 0));

	/* Figure 4: each node's data in its own memory first. */
	assert_int_equal(alloc_on(t, A), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(alloc_on(t, C), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(alloc_on(t, B), 0);
	expect(t, "fig 4: local first", L(3, 1, 0, 0), L(0, 4, 0, 0),
	       L(1, 3, 0, 0));
	for (int n = 0; n < NNODES; n++) {
		expect_moves(t, n, 0, 0, 0);
		for (size_t i = 0; i < t->nh[n]; i++)
			assert_false(is_remote(t, n, i));
	}

	/*
	 * Figure 5: B needs a fifth block. Its coldest (the first written)
	 * moves to A, the node with the most idle memory, and B reuses it.
	 */
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), 0);
	expect(t, "fig 5: B's coldest block lent by A", L(2, 1, 0, 1),
	       L(0, 4, 1, 0), L(1, 3, 0, 0));
	expect_moves(t, B, 1, 0, 0);
	assert_true(is_remote(t, B, 0));
	for (size_t i = 1; i < t->nh[B]; i++)
		assert_false(is_remote(t, B, i));
	check_all(t, B); /* also: block 1 is now B's coldest LLL block */

	/* Once more: A (2 free) still has more idle memory than C (1). */
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), 0);
	expect(t, "B borrows a second block from A", L(1, 1, 0, 2),
	       L(0, 4, 2, 0), L(1, 3, 0, 0));
	assert_true(is_remote(t, B, 1));
	check_all(t, B);

	/* Figure 6: A uses its last block itself; B's next goes to C. */
	assert_int_equal(alloc_on(t, A), 0);
	expect(t, "A takes its last free block", L(0, 2, 0, 2), L(0, 4, 2, 0),
	       L(1, 3, 0, 0));
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), 0);
	expect(t, "fig 6: B borrows C's idle block", L(0, 2, 0, 2),
	       L(0, 4, 3, 0), L(0, 3, 0, 1));
	expect_moves(t, B, 3, 0, 0);
	assert_true(is_remote(t, B, 2));
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);

	/* No idle memory anywhere: ENOSPC, and nothing moved. */
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), -ENOSPC);
	assert_int_equal(alloc_on(t, A), -ENOSPC);
	assert_int_equal(alloc_on(t, C), -ENOSPC);
	expect(t, "cluster full: nothing moves", L(0, 2, 0, 2), L(0, 4, 3, 0),
	       L(0, 3, 0, 1));
	expect_moves(t, B, 3, 0, 0);
	expect_moves(t, A, 0, 0, 0);
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);

	/*
	 * Figure 9: B frees two local blocks; its helper pulls two borrowed
	 * blocks home, the hottest first: block 2 (on C), then block 1 (on
	 * A), since check_all() touched them in order 0, 1, 2.
	 */
	free_on(t, B, 6);
	free_on(t, B, 5);
	expect_soon(t, "fig 9: two borrowed blocks come home", L(1, 2, 0, 1),
		    L(0, 4, 1, 0), L(1, 3, 0, 0));
	expect_moves(t, B, 3, 2, 0);
	assert_true(is_remote(t, B, 0));
	assert_false(is_remote(t, B, 1));
	assert_false(is_remote(t, B, 2));
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);

	/* Freeing a borrowed block gives it back to its provider. */
	free_on(t, B, 0);
	expect_soon(t, "B frees its block on A", L(2, 2, 0, 0), L(0, 4, 0, 0),
		    L(1, 3, 0, 0));
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);
	while (t->nh[B])
		free_on(t, B, 0);
	expect_soon(t, "B frees everything", L(2, 2, 0, 0), L(4, 0, 0, 0),
		    L(1, 3, 0, 0));
	sync_manager(t);
}

static void partial_writes_to_a_borrowed_block_land_byte_for_byte(void **state)
{
	struct cmp3 *t = *state;
	uint8_t want[BS], got[BS];

	assert_int_equal(alloc_on(t, C), 0); /* A is the most idle */
	for (int i = 0; i < 4; i++)
		assert_int_equal(alloc_on(t, B), 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), 0);
	expect(t, "B borrows one block", L(3, 0, 0, 1), L(0, 4, 1, 0),
	       L(3, 1, 0, 0));
	assert_true(is_remote(t, B, 0));

	/* byte ranges into the remote block, at odd offsets and lengths */
	fill(want, t->seed[B][0]);
	for (uint32_t off = 1, len = 1; off + len <= BS;
	     off += 3 * len + 7, len = len * 3 + 1) {
		memset(want + off, (int)(off & 0xff), len);
		assert_int_equal(pool_write(t->pool[B], t->h[B][0], off,
					    want + off, len),
				 0);
	}
	assert_true(is_remote(t, B, 0));
	assert_int_equal(pool_read(t->pool[B], t->h[B][0], 0, got, BS), 0);
	assert_memory_equal(got, want, BS);
	for (uint32_t off = 0; off < BS; off += 509) {
		uint32_t len = MIN(511u, BS - off);

		memset(got, 0, len);
		assert_int_equal(
			pool_read(t->pool[B], t->h[B][0], off, got, len), 0);
		assert_memory_equal(got, want + off, len);
	}

	/* ... and the content survives the trip home. */
	free_on(t, B, 4);
	expect_soon(t, "the block comes home", L(4, 0, 0, 0), L(0, 4, 0, 0),
		    L(3, 1, 0, 0));
	assert_false(is_remote(t, B, 0));
	assert_int_equal(pool_read(t->pool[B], t->h[B][0], 0, got, BS), 0);
	assert_memory_equal(got, want, BS);
}

static void a_dead_provider_loses_only_its_blocks(void **state)
{
	struct cmp3 *t = *state;
	uint8_t buf[BS];
	uint64_t t0;

	/* B ends up with block 0 on C and block 1 on A. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(alloc_on(t, A), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(alloc_on(t, C), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(alloc_on(t, B), 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), 0); /* C has 2 free, A 1 */
	assert_int_equal(alloc_on(t, C), 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), 0); /* only A has a free block */
	expect(t, "B borrows from A and C", L(0, 3, 0, 1), L(0, 4, 2, 0),
	       L(0, 3, 0, 1));
	assert_true(is_remote(t, B, 0));
	assert_true(is_remote(t, B, 1));
	check_all(t, B);

	/* C goes away: the manager tells A and B. */
	stop_node(t, C);
	wait_lost(t, B, 1);
	expect(t, "C died (its own pool keeps its stale lists)", L(0, 3, 0, 1),
	       L(0, 4, 1, 0), L(0, 3, 0, 1));

	/* B's block on C fails with EIO at once; the rest reads back. */
	t0 = cmp_now_ns();
	assert_int_equal(pool_read(t->pool[B], t->h[B][0], 0, buf, BS), -EIO);
	assert_int_equal(pool_write(t->pool[B], t->h[B][0], 0, buf, 1), -EIO);
	assert_true(cmp_now_ns() - t0 < 1000000000ull);
	for (size_t i = 1; i < t->nh[B]; i++)
		check_block(t, B, i);
	check_all(t, A);

	/* Borrowing goes on with the survivors. */
	free_on(t, A, 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), 0);
	expect(t, "B borrows from A after C's death", L(0, 2, 0, 2),
	       L(0, 4, 2, 0), L(0, 3, 0, 1));
	expect_moves(t, B, 3, 0, 1);
	for (size_t i = 1; i < t->nh[B]; i++)
		check_block(t, B, i);

	/* Freeing the lost block forgets it. */
	free_on(t, B, 0);
	expect_moves(t, B, 3, 0, 0);
	expect(t, "the lost block freed", L(0, 2, 0, 2), L(0, 4, 2, 0),
	       L(0, 3, 0, 1));
	check_all(t, B);
}

static void
a_node_that_leaves_cleanly_has_its_blocks_freed_by_its_providers(void **state)
{
	struct cmp3 *t = *state;

	for (int i = 0; i < 3; i++)
		assert_int_equal(alloc_on(t, C), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(alloc_on(t, B), 0);
	sync_manager(t);
	for (int i = 0; i < 1; i++)
		assert_int_equal(alloc_on(t, B), 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), 0);
	/* A (4 free, then 3) is the most idle both times. */
	expect(t, "B borrows two blocks from A", L(2, 0, 0, 2), L(0, 4, 2, 0),
	       L(1, 3, 0, 0));
	check_all(t, B);

	/*
	 * B shuts down: its GOODBYE to A is answered before cluster_destroy()
	 * goes on, so A has freed B's blocks by the time it returns, without
	 * waiting for the manager to say anything (it no longer frees on the
	 * manager's word).
	 */
	stop_node(t, B);
	expect(t, "B left: A freed what it held for B", L(4, 0, 0, 0),
	       L(0, 4, 2, 0), L(1, 3, 0, 0));
	check_all(t, C);
	/* and the freed memory is lent again */
	assert_int_equal(alloc_on(t, C), 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, C), 0);
	expect(t, "C borrows A's freed block", L(3, 0, 0, 1), L(0, 4, 2, 0),
	       L(0, 4, 1, 0));
	check_all(t, C);
}

/*
 * Principle 3, no loan while in debt: a node whose memory is all lent
 * moves a lent block on to a third node with idle memory (an RRL record
 * here, the owner told) and takes the memory back for its own data; the
 * owner follows its block there (principle 5) and the record goes once it
 * confirmed.
 */
static void a_lender_short_of_memory_moves_a_lent_block_on(void **state)
{
	struct cmp3 *t = *state;
	struct pool_counts pc;

	/* C is full; B fills its own memory and borrows all of A's. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(alloc_on(t, C), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(alloc_on(t, B), 0);
	expect(t, "A lends all it has to B", L(0, 0, 0, 4), L(0, 4, 4, 0),
	       L(0, 4, 0, 0));
	/* then C frees two blocks: idle memory on a third node */
	free_on(t, C, 3);
	free_on(t, C, 2);
	expect(t, "C has idle memory again", L(0, 0, 0, 4), L(0, 4, 4, 0),
	       L(2, 2, 0, 0));

	/* A needs a block of its own while C still has idle memory. */
	sync_manager(t);
	assert_int_equal(alloc_on(t, A), 0);
	pool_get_counts(t->pool[A], &pc);
	assert_int_equal(pc.blocks[POOL_LLL], 1);
	assert_int_equal(pc.blocks[POOL_RLL], 3);
	/* the record stays until B confirms it knows where its block is */
	assert_true(pc.blocks[POOL_RRL] <= 1);
	assert_int_equal(pc.lent_moved, 1);
	expect_moves(t, A, 0, 0, 0); /* A's own data did not move */
	pool_get_counts(t->pool[C], &pc);
	assert_int_equal(pc.blocks[POOL_RLL], 1);
	assert_int_equal(pc.blocks[POOL_FREE], 1);
	/* B's block lives on C now, and B reads it there */
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);
	wait_rrl(t, A, 0);
	pool_get_counts(t->pool[B], &pc);
	assert_int_equal(pc.followed, 1);
	assert_int_equal(pc.blocks[POOL_LRL], 4);
	expect_moves(t, B, 4, 0, 0);
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);
}

/*
 * A node that uses memory itself and lends: when it needs a block, what
 * it lends moves on first, its own data only when nothing lent can, and
 * ENOSPC only when there is no room anywhere.
 */
static void a_lender_moves_what_it_lends_before_its_own_data(void **state)
{
	struct cmp3 *t = *state;
	struct pool_counts pc;

	for (int i = 0; i < 2; i++)
		assert_int_equal(alloc_on(t, A), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(alloc_on(t, C), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(alloc_on(t, B), 0);
	expect(t, "A lends its two idle blocks to B", L(0, 2, 0, 2),
	       L(0, 4, 2, 0), L(0, 4, 0, 0));
	free_on(t, C, 0);
	sync_manager(t);

	/* A's third block: one of B's moves on to C, A's data stays */
	assert_int_equal(alloc_on(t, A), 0);
	pool_get_counts(t->pool[A], &pc);
	assert_int_equal(pc.blocks[POOL_LLL], 3);
	assert_int_equal(pc.blocks[POOL_RLL], 1);
	assert_int_equal(pc.lent_moved, 1);
	expect_moves(t, A, 0, 0, 0);
	wait_rrl(t, A, 0);
	expect(t, "B's block moved on to C", L(0, 3, 0, 1), L(0, 4, 2, 0),
	       L(0, 3, 0, 1));
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);

	/* no room anywhere (B is in debt and lends nothing): ENOSPC */
	sync_manager(t);
	assert_int_equal(alloc_on(t, A), -ENOSPC);
	expect(t, "full: nothing moved", L(0, 3, 0, 1), L(0, 4, 2, 0),
	       L(0, 3, 0, 1));
	expect_moves(t, A, 0, 0, 0);

	/* room on C again: the other lent block goes, still not A's data */
	free_on(t, C, 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, A), 0);
	wait_rrl(t, A, 0);
	expect(t, "A lends nothing any more", L(0, 4, 0, 0), L(0, 4, 2, 0),
	       L(0, 2, 0, 2));
	expect_moves(t, A, 0, 0, 0);

	/* and only now, lending nothing, A moves its own coldest block */
	free_on(t, C, 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, A), 0);
	expect(t, "A evicts its own data last", L(0, 4, 1, 0), L(0, 4, 2, 0),
	       L(0, 1, 0, 3));
	expect_moves(t, A, 1, 0, 0);
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest principle3[] = {
		cmocka_unit_test_setup_teardown(
			a_lender_short_of_memory_moves_a_lent_block_on, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_lender_moves_what_it_lends_before_its_own_data, setup,
			teardown),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			three_nodes_follow_the_papers_figures, setup, teardown),
		cmocka_unit_test_setup_teardown(
			partial_writes_to_a_borrowed_block_land_byte_for_byte,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_dead_provider_loses_only_its_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_node_that_leaves_cleanly_has_its_blocks_freed_by_its_providers,
			setup, teardown),
	};

	log_init("test-cmp3", LOG_LVL_WARN);
	if (argc > 1 && !strcmp(argv[1], "--principle3"))
		return cmocka_run_group_tests(principle3, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
