// SPDX-License-Identifier: MIT
/*
 * Resizing a node while it serves, and a node that joins, through the
 * real pools, clusters and manager of the three-node fixture
 * (cmp3-fixture.h) over mem:// (every pool may grow to MAX_NBLOCKS). A
 * node that grows, or joins, is lent from at once (a node that joins with
 * more room than the others is preferred to them); one that shrinks first
 * moves the blocks it lends at its end to a third node, then its own data
 * down into its free blocks or, without any, elsewhere, and gives the
 * rest back; with nowhere to put them it keeps its size and serves on. A
 * reader checks its blocks byte for byte while its node shrinks and grows
 * under it, and a writer rewrites them while its node, or the node that
 * lends it its blocks, resizes. A node lends and borrows no more than its
 * caps. Every list on every node is checked after every step.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/mgr.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "cmp3-fixture.h"

#define RESIZE_MS 5000

/* Node n has lists w and contributes local blocks. */
static void expect_node(struct cmp3 *t, int n, struct lists w, uint64_t local,
			const char *step)
{
	struct pool_counts pc;

	pool_get_counts(t->pool[n], &pc);
	if (pc.blocks[POOL_FREE] != w.free || pc.blocks[POOL_LLL] != w.lll ||
	    pc.blocks[POOL_LRL] != w.lrl || pc.blocks[POOL_RLL] != w.rll ||
	    pc.local_blocks != local)
		fail_msg("%s: node %c has free %lu LLL %lu LRL %lu RLL %lu "
			 "local %lu; want %lu %lu %lu %lu local %lu",
			 step, node_name[n],
			 (unsigned long)pc.blocks[POOL_FREE],
			 (unsigned long)pc.blocks[POOL_LLL],
			 (unsigned long)pc.blocks[POOL_LRL],
			 (unsigned long)pc.blocks[POOL_RLL],
			 (unsigned long)pc.local_blocks, (unsigned long)w.free,
			 (unsigned long)w.lll, (unsigned long)w.lrl,
			 (unsigned long)w.rll, (unsigned long)local);
}

/* Waits until the manager shows node n with capacity cap. */
static void wait_capacity(struct cmp3 *t, int n, uint64_t cap)
{
	struct mgr_node_info info[8];
	uint64_t end = deadline();
	size_t cnt;

	for (;;) {
		cnt = 0;
		if (!mgr_query_nodes(t->mgr_addr, NULL, 1000, info, 8, &cnt))
			for (size_t i = 0; i < cnt; i++)
				if (info[i].node == node_id[n] &&
				    info[i].capacity == cap &&
				    info[i].state == MGR_NODE_ALIVE)
					return;
		if (cmp_now_ns() > end)
			fail_msg("the manager does not show node %c with %lu "
				 "blocks",
				 node_name[n], (unsigned long)cap);
		pause_a_bit();
	}
}

static void alloc_n(struct cmp3 *t, int n, int count)
{
	for (int i = 0; i < count; i++) {
		sync_manager(t);
		assert_int_equal(alloc_on(t, n), 0);
	}
}

static void a_node_that_grows_is_lent_from_at_once(void **state)
{
	struct cmp3 *t = *state;

	alloc_n(t, A, 4);
	alloc_n(t, C, 4);
	alloc_n(t, B, 4);
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), -ENOSPC);

	assert_int_equal(cluster_resize(t->cl[A], 6, RESIZE_MS), 0);
	expect_node(t, A, L(2, 4, 0, 0), 6, "A grew");
	wait_capacity(t, A, 6);
	/* no sync_manager(): B's next block comes from A as soon as it can */
	uint64_t end = deadline();
	int ret;

	while ((ret = alloc_on(t, B)) == -ENOSPC && cmp_now_ns() < end)
		pause_a_bit();
	assert_int_equal(ret, 0);
	expect_node(t, A, L(1, 4, 0, 1), 6, "B borrows A's new block");
	expect_node(t, B, L(0, 4, 1, 0), 4, "B borrows A's new block");
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);
}

/* A fourth node that joins, D, with four blocks. */
struct node_d {
	struct pool *pool;
	struct cluster *cl;
	char addr[64];
};

static void join_d(struct cmp3 *t, struct node_d *d)
{
	d->pool = pool_create(&(struct pool_config){
		.local_bytes = NBLOCKS * BS,
		.block_size = BS,
	});
	assert_non_null(d->pool);
	snprintf(d->addr, sizeof(d->addr), "mem://cmp3-D-%d-%p", getpid(),
		 (void *)t);
	d->cl = cluster_create(&(struct cluster_config){
		.pool = d->pool,
		.manager_addr = t->mgr_addr,
		.listen_addr = d->addr,
		.node_id = 0xD,
		.timeout_ms = 2000,
	});
	assert_non_null(d->cl);
	assert_int_equal(cluster_wait_registered(d->cl, DEADLINE_MS), 0);
}

static void a_node_that_joins_receives_the_next_borrowed_blocks(void **state)
{
	struct cmp3 *t = *state;
	struct node_d d;
	struct pool_counts pc;
	uint64_t end;
	int ret;

	alloc_n(t, A, 4);
	alloc_n(t, C, 4);
	alloc_n(t, B, 4);
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), -ENOSPC);

	join_d(t, &d);
	end = deadline();
	while ((ret = alloc_on(t, B)) == -ENOSPC && cmp_now_ns() < end)
		pause_a_bit();
	assert_int_equal(ret, 0);
	assert_int_equal(alloc_on(t, B), 0);
	pool_get_counts(d.pool, &pc);
	assert_int_equal(pc.blocks[POOL_RLL], 2);
	expect_node(t, B, L(0, 4, 2, 0), 4, "B borrows from D");
	check_all(t, B);
	/* B frees two of its own: its blocks on D come home, D leaves */
	for (int i = 0; i < 2; i++)
		free_on(t, B, 0);
	end = deadline();
	while (!lists_are(t, B, L(0, 4, 0, 0)) && cmp_now_ns() < end)
		pause_a_bit();
	expect_node(t, B, L(0, 4, 0, 0), 4, "B's blocks came home");
	cluster_leave(d.cl);
	cluster_destroy(d.cl);
	pool_destroy(d.pool);
	check_all(t, B);
}

/*
 * Borrowing prefers compute nodes, then the most free (the manager's hint
 * less what it promised since, and the owner's running estimate): a node
 * that joins with more to offer than the others gets the next blocks
 * although the others still have room (not for being new: an equal one
 * would share them).
 */
static void a_node_that_joins_with_the_most_room_is_preferred(void **state)
{
	struct cmp3 *t = *state;
	struct node_d d;
	struct pool_counts pc;

	alloc_n(t, A, 2);
	alloc_n(t, C, 2);
	alloc_n(t, B, 4);
	expect_node(t, A, L(2, 2, 0, 0), 4, "A has room");
	expect_node(t, C, L(2, 2, 0, 0), 4, "C has room");
	join_d(t, &d);
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), 0);
	assert_int_equal(alloc_on(t, B), 0);
	pool_get_counts(d.pool, &pc);
	assert_int_equal(pc.blocks[POOL_RLL], 2);
	expect_node(t, A, L(2, 2, 0, 0), 4, "A lent nothing");
	expect_node(t, C, L(2, 2, 0, 0), 4, "C lent nothing");
	expect_node(t, B, L(0, 4, 2, 0), 4, "B borrows from D");
	check_all(t, B);
	/* B's blocks on D come home before D goes */
	for (int i = 0; i < 2; i++)
		free_on(t, B, 2);
	uint64_t end = deadline();

	while (!lists_are(t, B, L(0, 4, 0, 0)) && cmp_now_ns() < end)
		pause_a_bit();
	expect_node(t, B, L(0, 4, 0, 0), 4, "B's blocks came home");
	cluster_leave(d.cl);
	cluster_destroy(d.cl);
	pool_destroy(d.pool);
	check_all(t, B);
}

static void a_shrink_moves_lent_blocks_then_own_data_elsewhere(void **state)
{
	struct cmp3 *t = *state;
	int ret;

	/* A: its data in blocks 0 and 1, B's in 2 and 3 */
	alloc_n(t, C, 4);
	alloc_n(t, A, 2);
	alloc_n(t, B, 6);
	expect_node(t, A, L(0, 2, 0, 2), 4, "A lends two");
	free_on(t, C, 3);
	free_on(t, C, 2);
	sync_manager(t);

	/* the two lent blocks move on to C */
	assert_int_equal(cluster_resize(t->cl[A], 2, RESIZE_MS), 0);
	expect_node(t, A, L(0, 2, 0, 0), 2, "A shrank to 2");
	wait_capacity(t, A, 2);
	wait_rrl(t, A, 0);
	expect_node(t, C, L(0, 2, 0, 2), 4, "C took A's loans");
	check_all(t, B);

	/* A's own data has nowhere to go: A keeps its size, serves on */
	sync_manager(t);
	ret = cluster_resize(t->cl[A], 1, RESIZE_MS);
	assert_int_equal(ret, -ENOSPC);
	expect_node(t, A, L(0, 2, 0, 0), 2, "A could not shrink");
	check_all(t, A);

	/* room appears: its least recently used block goes there */
	free_on(t, C, 1);
	sync_manager(t);
	assert_int_equal(cluster_resize(t->cl[A], 1, RESIZE_MS), 0);
	expect_node(t, A, L(0, 1, 1, 0), 1, "A shrank to 1");
	assert_true(is_remote(t, A, 0));
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);

	/* and grows back: the block comes home */
	assert_int_equal(cluster_resize(t->cl[A], 4, RESIZE_MS), 0);
	uint64_t end = deadline();

	while (is_remote(t, A, 0) && cmp_now_ns() < end)
		pause_a_bit();
	expect_node(t, A, L(2, 2, 0, 0), 4, "A grew back");
	check_all(t, A);
}

static void own_data_at_the_end_moves_down_without_the_network(void **state)
{
	struct cmp3 *t = *state;
	struct pool_counts pc;

	alloc_n(t, A, 4);
	for (int i = 0; i < 3; i++)
		free_on(t, A, 0);
	/* A's one block of data is block 3 */
	assert_int_equal(cluster_resize(t->cl[A], 1, RESIZE_MS), 0);
	expect_node(t, A, L(0, 1, 0, 0), 1, "A shrank to 1");
	pool_get_counts(t->pool[A], &pc);
	assert_int_equal(pc.evictions, 0);
	check_all(t, A);
	assert_int_equal(cluster_resize(t->cl[A], MAX_NBLOCKS + 1, RESIZE_MS),
			 -EINVAL);
	assert_int_equal(cluster_resize(t->cl[A], 0, RESIZE_MS), -EINVAL);
}

/* ---- caps ---- */

static void a_node_lends_no_more_than_its_cap(void **state)
{
	struct cmp3 *t = *state;

	pool_set_caps(t->pool[A], 2, 0);
	alloc_n(t, C, 4);
	alloc_n(t, B, 6);
	expect_node(t, A, L(2, 0, 0, 2), 4, "A lends its cap");
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), -ENOSPC);
	expect_node(t, A, L(2, 0, 0, 2), 4, "A lends no more");
	/* its own data still has its free blocks */
	alloc_n(t, A, 2);
	expect_node(t, A, L(0, 2, 0, 2), 4, "A uses the rest itself");
	check_all(t, B);
}

static void a_node_borrows_no_more_than_its_cap(void **state)
{
	struct cmp3 *t = *state;
	struct pool_counts pc;

	pool_set_caps(t->pool[B], 0, 1);
	alloc_n(t, B, 5);
	sync_manager(t);
	assert_int_equal(alloc_on(t, B), -ENOSPC);
	expect_node(t, B, L(0, 4, 1, 0), 4, "B borrows its cap");
	pool_get_counts(t->pool[B], &pc);
	assert_int_equal(pc.borrow_capped, 1);
	/* freeing one of its own makes room for one more */
	free_on(t, B, 4);
	assert_int_equal(alloc_on(t, B), 0);
	check_all(t, B);
}

/* ---- resizing under load ---- */

struct reader {
	struct cmp3 *t;
	atomic_bool stop;
	atomic_uint reads, errors;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct cmp3 *t = r->t;
	uint8_t want[BS], got[BS];

	while (!atomic_load(&r->stop)) {
		for (size_t i = 0; i < t->nh[A]; i++) {
			fill(want, t->seed[A][i]);
			if (pool_read(t->pool[A], t->h[A][i], 0, got, BS) ||
			    memcmp(got, want, BS))
				atomic_fetch_add(&r->errors, 1);
			atomic_fetch_add(&r->reads, 1);
		}
	}
	return NULL;
}

static void a_node_shrinks_and_grows_while_its_data_is_read(void **state)
{
	struct cmp3 *t = *state;
	struct reader r = {.t = t};
	pthread_t th;

	alloc_n(t, A, 3);
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	for (int round = 0; round < 20; round++) {
		uint32_t n = round % 2 ? 8 : 1 + (uint32_t)round % 3;

		sync_manager(t);
		assert_int_equal(cluster_resize(t->cl[A], n, RESIZE_MS), 0);
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	print_message("%u reads while resizing, %u wrong\n",
		      atomic_load(&r.reads), atomic_load(&r.errors));
	assert_int_equal(atomic_load(&r.errors), 0);
	assert_true(atomic_load(&r.reads) > 0);
	check_all(t, A);
}

/* Rewrites node n's first nblocks blocks in turn, each read back. */
struct writer {
	struct cmp3 *t;
	int n;
	size_t nblocks;
	atomic_bool stop;
	atomic_uint writes, errors;
	uint32_t acked[MAXH]; /* seed of each block's last acknowledged write */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct cmp3 *t = w->t;
	uint8_t want[BS], got[BS];
	uint32_t seed = 9000;

	for (size_t i = 0; !atomic_load(&w->stop); i = (i + 1) % w->nblocks) {
		fill(want, ++seed);
		if (pool_write(t->pool[w->n], t->h[w->n][i], 0, want, BS)) {
			atomic_fetch_add(&w->errors, 1);
			continue;
		}
		w->acked[i] = seed;
		if (pool_read(t->pool[w->n], t->h[w->n][i], 0, got, BS) ||
		    memcmp(got, want, BS))
			atomic_fetch_add(&w->errors, 1);
		atomic_fetch_add(&w->writes, 1);
	}
	return NULL;
}

/* Stops w; its node's blocks hold their last acknowledged writes. */
static void writer_done(struct writer *w, pthread_t th, const char *what)
{
	struct cmp3 *t = w->t;

	atomic_store(&w->stop, true);
	pthread_join(th, NULL);
	print_message("%u writes %s, %u failed or read back wrong\n",
		      atomic_load(&w->writes), what, atomic_load(&w->errors));
	assert_int_equal(atomic_load(&w->errors), 0);
	assert_true(atomic_load(&w->writes) > 0);
	for (size_t i = 0; i < w->nblocks; i++)
		if (w->acked[i])
			t->seed[w->n][i] = w->acked[i];
	check_all(t, w->n);
}

static void a_node_shrinks_and_grows_while_its_data_is_written(void **state)
{
	struct cmp3 *t = *state;
	struct writer w = {.t = t, .n = A, .nblocks = 3};
	pthread_t th;

	alloc_n(t, A, 3);
	assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
	for (int round = 0; round < 20; round++) {
		uint32_t n = round % 2 ? 8 : 1 + (uint32_t)round % 3;

		sync_manager(t);
		assert_int_equal(cluster_resize(t->cl[A], n, RESIZE_MS), 0);
	}
	writer_done(&w, th, "while resizing");
}

/* A shrinks while B writes the blocks A lends it (they move on to C). */
static void a_lender_shrinks_while_the_owner_writes_what_it_lends(void **state)
{
	struct cmp3 *t = *state;
	struct writer w = {.t = t, .n = B, .nblocks = 2};
	pthread_t th;

	alloc_n(t, C, 4);
	alloc_n(t, A, 2);
	alloc_n(t, B, 6);
	expect_node(t, A, L(0, 2, 0, 2), 4, "A lends two");
	free_on(t, C, 3);
	free_on(t, C, 2);
	sync_manager(t);
	/* B's blocks 0 and 1 live on A */
	assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
	while (atomic_load(&w.writes) < 10)
		pause_a_bit();
	assert_int_equal(cluster_resize(t->cl[A], 2, RESIZE_MS), 0);
	wait_rrl(t, A, 0);
	writer_done(&w, th, "while their lender shrank");
	expect_node(t, A, L(0, 2, 0, 0), 2, "A shrank to 2");
	expect_node(t, C, L(0, 2, 0, 2), 4, "C took A's loans");
	check_all(t, A);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_node_that_grows_is_lent_from_at_once, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_node_that_joins_receives_the_next_borrowed_blocks,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_node_that_joins_with_the_most_room_is_preferred,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_shrink_moves_lent_blocks_then_own_data_elsewhere,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			own_data_at_the_end_moves_down_without_the_network,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_node_shrinks_and_grows_while_its_data_is_read, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_node_shrinks_and_grows_while_its_data_is_written,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_lender_shrinks_while_the_owner_writes_what_it_lends,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_node_lends_no_more_than_its_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_node_borrows_no_more_than_its_cap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
