// SPDX-License-Identifier: MIT
/*
 * Exchange (the CMP paper's figure 8) through the real pools, clusters and
 * manager of the three-node fixture (cmp3-fixture.h) over mem://: node B,
 * four blocks of its own, holds more data than that, so some of it lives
 * on A or C. A block elsewhere that B reads again and again must come
 * home, its reads must stop crossing the wire, and B's least recently used
 * block must go out in its place; a working set one block larger than B,
 * read evenly or at random, must not make blocks move back and forth; a
 * hot set that shifts is exchanged once per shift, then stays. Every
 * block's data is checked byte for byte after the moves. The exchange
 * runs on B's helper thread: the tests wait for it with a deadline.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/pool.h"
#include "cmp/util.h"
#include "cmp3-fixture.h"

static struct pool_counts counts(struct cmp3 *t, int n)
{
	struct pool_counts pc;

	pool_get_counts(t->pool[n], &pc);
	return pc;
}

/* B fills its four blocks and borrows `extra` more (its oldest go out). */
static void fill_b(struct cmp3 *t, size_t extra)
{
	for (size_t i = 0; i < NBLOCKS + extra; i++) {
		sync_manager(t);
		assert_int_equal(alloc_on(t, B), 0);
	}
	for (size_t i = 0; i < NBLOCKS + extra; i++)
		assert_int_equal(is_remote(t, B, i), i < extra);
}

static void read_block(struct cmp3 *t, size_t i)
{
	uint8_t buf[BS];

	assert_int_equal(pool_read(t->pool[B], t->h[B][i], 0, buf, BS), 0);
}

/* Reads block i of B until it is home (or fails the test). */
static unsigned int read_until_home(struct cmp3 *t, size_t i)
{
	uint64_t end = deadline();
	unsigned int reads = 0;

	while (is_remote(t, B, i)) {
		if (cmp_now_ns() > end)
			fail_msg(
				"block %zu of B still elsewhere after %u reads",
				i, reads);
		read_block(t, i);
		reads++;
		if (reads % 16 == 0)
			pause_a_bit(); /* the helper's turn on a busy machine */
	}
	return reads;
}

static void a_remote_block_read_repeatedly_comes_home(void **state)
{
	struct cmp3 *t = *state;
	struct pool_counts before, after;
	unsigned int reads;

	fill_b(t, 1);
	pool_set_exchange(t->pool[B], true);
	before = counts(t, B);
	assert_int_equal(before.evictions, 1);

	reads = read_until_home(t, 0);
	print_message("block 0 came home after %u reads from elsewhere\n",
		      reads);
	/* the threshold is 8 recent accesses: its write and 7 reads */
	assert_true(reads >= 7);
	after = counts(t, B);
	assert_int_equal(after.exchanges, 1);
	assert_int_equal(after.homecomings, 1);
	assert_int_equal(after.evictions, 2);
	/* B's least recently used block (1) went out in its place */
	assert_true(is_remote(t, B, 1));
	for (size_t i = 2; i < t->nh[B]; i++)
		assert_false(is_remote(t, B, i));
	if (!lists_are(t, B, L(0, 4, 1, 0)))
		fail_lists(t, B, L(0, 4, 1, 0), "exchanged");

	/* its reads no longer cross the wire */
	before = counts(t, B);
	for (int i = 0; i < 200; i++)
		read_block(t, 0);
	after = counts(t, B);
	assert_int_equal(after.remote_read_bytes, before.remote_read_bytes);
	assert_int_equal(after.exchanges, 1);
	check_all(t, B);
}

static void with_exchange_off_a_hot_block_stays_where_it_is(void **state)
{
	struct cmp3 *t = *state;
	struct pool_counts pc;

	fill_b(t, 1);
	for (int i = 0; i < 200; i++)
		read_block(t, 0);
	pc = counts(t, B);
	assert_true(is_remote(t, B, 0));
	assert_int_equal(pc.exchanges, 0);
	assert_int_equal(pc.homecomings, 0);
	assert_int_equal(pc.remote_read_bytes, 200ull * BS);
	check_all(t, B);
}

/* Block moves B made since pc. */
static uint64_t moves_since(struct cmp3 *t, const struct pool_counts *pc)
{
	struct pool_counts now = counts(t, B);

	return now.evictions - pc->evictions + now.homecomings -
	       pc->homecomings;
}

#define ACCESSES 4000u

static void a_working_set_a_little_larger_does_not_ping_pong(void **state)
{
	struct cmp3 *t = *state;
	const size_t w = NBLOCKS + 1;
	struct pool_counts pc;
	uint64_t even, random;
	uint32_t x = 12345;

	fill_b(t, 1);
	pool_set_exchange(t->pool[B], true);

	/* evenly: every block as hot as every other, nothing to gain */
	pc = counts(t, B);
	for (unsigned int i = 0; i < ACCESSES; i++)
		read_block(t, i % w);
	even = moves_since(t, &pc);

	/* at random: heats differ by chance, within the margin */
	pc = counts(t, B);
	for (unsigned int i = 0; i < ACCESSES; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		read_block(t, x % w);
	}
	random = moves_since(t, &pc);
	print_message("moves in %u accesses: %llu evenly, %llu at random "
		      "(skipped %llu)\n",
		      ACCESSES, (unsigned long long)even,
		      (unsigned long long)random,
		      (unsigned long long)counts(t, B).exchange_skipped);
	/* LRU on every miss would make 2 moves per access to the block out */
	assert_true(even <= 2);
	assert_true(random * 100 <= ACCESSES);
	check_all(t, B);
}

/* Waits until B made `want` exchanges in all. */
static void wait_exchanges(struct cmp3 *t, uint64_t want)
{
	uint64_t end = deadline();

	while (counts(t, B).exchanges < want) {
		if (cmp_now_ns() > end)
			fail_msg("B made %llu exchanges, want %llu",
				 (unsigned long long)counts(t, B).exchanges,
				 (unsigned long long)want);
		pause_a_bit();
	}
}

static void a_hot_set_that_shifts_is_exchanged_once_then_stays(void **state)
{
	struct cmp3 *t = *state;
	struct pool_counts pc;

	/* blocks 0 and 1 elsewhere, 2..5 home */
	fill_b(t, 2);
	pool_set_exchange(t->pool[B], true);

	/* the hot set is 0..3: 0 and 1 come home, 4 and 5 (LRU) go out */
	for (unsigned int i = 0; i < 64; i++)
		read_block(t, i % 4);
	wait_exchanges(t, 2);
	pc = counts(t, B);
	for (unsigned int i = 0; i < ACCESSES; i++)
		read_block(t, i % 4);
	assert_int_equal(moves_since(t, &pc), 0);
	for (size_t i = 0; i < t->nh[B]; i++)
		assert_int_equal(is_remote(t, B, i), i >= 4);
	check_all(t, B);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_remote_block_read_repeatedly_comes_home, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			with_exchange_off_a_hot_block_stays_where_it_is, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_working_set_a_little_larger_does_not_ping_pong, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_hot_set_that_shifts_is_exchanged_once_then_stays,
			setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
