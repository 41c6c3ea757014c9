// SPDX-License-Identifier: MIT
/*
 * The prefetch of sequential readers (pool/prefetch.c), against a fake
 * cluster: a node of eight blocks wrote a file of 48, most of it now on
 * the provider. A reader that names its next blocks (as the file system
 * does for a read stream) finds them local, counted as hits, and reading
 * the whole file sends nothing of ours out (the prefetch starts in the
 * free memory the writer left and reuses the blocks the reader is done
 * with: clean copies, whose loans it kept); a block nobody names is never
 * fetched; hot local data stays local while a stream goes by; a copy that is
 * written becomes plain local data (its loan given back); a provider that loses
 * a copy's loan costs nothing; memory freed ends the copies' loans; and with
 * prefetch off nothing is fetched. Every byte is checked; every wait polls with
 * a deadline.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/pool.h"
#include "fake-cluster.h"
#include "pool-internal.h"
#include "wait-for.h"

#define BS (16u << 10)
#define LOCAL 8u     /* the node's own blocks */
#define PBLOCKS 128u /* the provider's */
#define NFILE 48u    /* the file's blocks */
#define AHEAD 4u     /* blocks named ahead of the reader */
#define NHOT 3u	     /* blocks read again and again */
#define DEADLINE_MS 10000

struct fix {
	struct pool *p;
	struct fake_cluster *f;
	uint32_t h[NFILE + LOCAL];
};

static void pattern(uint8_t *buf, uint32_t i)
{
	uint32_t x = i * 2246822519u + 7;

	for (uint32_t k = 0; k < BS; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[k] = (uint8_t)x;
	}
}

static struct pool_counts counts(struct fix *x)
{
	struct pool_counts c;

	pool_get_counts(x->p, &c);
	return c;
}

static void write_blocks(struct fix *x, uint32_t from, uint32_t to)
{
	uint8_t buf[BS];

	for (uint32_t i = from; i < to; i++) {
		assert_int_equal(pool_alloc(x->p, false, &x->h[i]), 0);
		pattern(buf, i);
		assert_int_equal(pool_write(x->p, x->h[i], 0, buf, BS), 0);
	}
}

/* The writer's stream is over, and the evictor with it. */
static bool writer_done(void *arg)
{
	struct fix *x = arg;
	bool done;

	pthread_mutex_lock(&x->p->lock);
	done = !x->p->evicting && !pool_streaming_locked(x->p);
	pthread_mutex_unlock(&x->p->lock);
	return done;
}

static int setup(void **state)
{
	struct pool_config cfg = {.local_bytes = LOCAL * BS, .block_size = BS};
	struct fix *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->p = pool_create(&cfg);
	assert_non_null(x->p);
	x->f = fake_cluster_create(BS, PBLOCKS);
	assert_int_equal(pool_set_cluster(x->p, fake_cluster_ops(true), x->f),
			 0);
	write_blocks(x, 0, NFILE);
	assert_true(wait_for(writer_done, x, DEADLINE_MS));
	assert_true(counts(x).blocks[POOL_LRL] >= NFILE - LOCAL);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;

	pool_destroy(x->p);
	fake_cluster_destroy(x->f);
	free(x);
	return 0;
}

/* Is block i local now (a pin for reading a byte, as a reader's)? */
static bool is_local(struct fix *x, uint32_t i)
{
	void *ptr;

	if (pool_pin_read(x->p, x->h[i], 0, 1, &ptr))
		return false;
	pool_unpin(x->p, x->h[i]);
	return true;
}

struct block_of {
	struct fix *x;
	uint32_t i;
};

static bool local_now(void *arg)
{
	struct block_of *b = arg;

	return is_local(b->x, b->i);
}

/* Reads block i whole as the file system does: in place when local. */
static void read_block(struct fix *x, uint32_t i)
{
	uint8_t want[BS], got[BS];
	void *ptr;
	int ret = pool_pin_read(x->p, x->h[i], 0, BS, &ptr);

	pattern(want, i);
	if (ret == 0) {
		memcpy(got, ptr, BS);
		pool_unpin(x->p, x->h[i]);
	} else {
		assert_int_equal(ret, -EREMOTE);
		assert_int_equal(pool_read(x->p, x->h[i], 0, got, BS), 0);
	}
	if (memcmp(want, got, BS))
		fail_msg("block %u reads back wrong", i);
}

/* Names the AHEAD blocks after i, as a read stream at block i does. */
static void name_ahead(struct fix *x, uint32_t i)
{
	uint32_t n = MIN(AHEAD, NFILE - 1 - i);

	if (n)
		pool_prefetch(x->p, &x->h[i + 1], n);
}

/*
 * Reads the file from start to end as a stream, each block once it is
 * local (a reader slower than the wire); between blocks, the hot blocks
 * too when there are (hot). Every block must become local in time.
 */
static void read_stream(struct fix *x, bool hot)
{
	for (uint32_t i = 0; i < NFILE; i++) {
		struct block_of b = {x, i};

		name_ahead(x, i);
		if (i && !wait_for(local_now, &b, DEADLINE_MS))
			fail_msg("block %u did not come ahead of the reader",
				 i);
		read_block(x, i);
		for (uint32_t k = 0; hot && k < NHOT; k++)
			read_block(x, NFILE + k);
	}
}

static void a_sequential_reader_finds_its_next_blocks_local(void **state)
{
	struct fix *x = *state;
	uint64_t written = fake_cluster_get(x->f, &x->f->blocks_written);
	uint32_t remote = (uint32_t)counts(x).blocks[POOL_LRL];
	uint64_t evictions = counts(x).evictions;
	struct pool_counts c;

	read_stream(x, false);
	c = counts(x);
	/* all but the first block were elsewhere, and came ahead */
	assert_true(c.prefetched >= remote - 1);
	assert_int_equal(c.prefetch_hits, c.prefetched);
	assert_int_equal(c.prefetch_wasted, 0);
	/* nothing of ours went out: the prefetch reused what was read */
	assert_int_equal(fake_cluster_get(x->f, &x->f->blocks_written),
			 written);
	assert_int_equal(c.evictions, evictions);
	assert_true(c.copies >= 1);
	/* a copy's loan is ours: LRL counts it, the provider lends it */
	assert_int_equal(c.blocks[POOL_LLL] + c.blocks[POOL_LRL], NFILE);
	assert_int_equal(c.lost, 0);
}

/*
 * Blocks nobody names (random reads) are never fetched ahead; the reads
 * go to the provider as byte ranges.
 */
static void a_reader_that_names_nothing_gets_no_prefetch(void **state)
{
	struct fix *x = *state;
	static const uint32_t order[] = {17, 3, 40, 9, 28, 1, 35, 22};
	uint8_t buf[512];

	for (size_t k = 0; k < ARRAY_SIZE(order); k++)
		assert_int_equal(
			pool_read(x->p, x->h[order[k]], 1000, buf, sizeof(buf)),
			0);
	for (size_t k = 0; k < ARRAY_SIZE(order); k++)
		read_block(x, order[k]);
	assert_int_equal(counts(x).prefetched, 0);
	assert_int_equal(counts(x).copies, 0);
}

/* Blocks [NFILE, NFILE + NHOT): written last, read between the others. */
static void add_hot_blocks(struct fix *x)
{
	write_blocks(x, NFILE, NFILE + NHOT);
	assert_true(wait_for(writer_done, x, DEADLINE_MS));
	for (uint32_t k = 0; k < NHOT; k++)
		assert_true(is_local(x, NFILE + k));
}

/*
 * Hot data stays local while a stream of blocks elsewhere goes through a
 * node that has no memory to spare: the prefetch takes only the blocks
 * the reader is done with and free memory above the reserve, and no
 * block of ours goes out.
 */
static void a_stream_never_sends_hot_data_out(void **state)
{
	struct fix *x = *state;
	uint64_t written, evictions;

	add_hot_blocks(x);
	written = fake_cluster_get(x->f, &x->f->blocks_written);
	evictions = counts(x).evictions;
	read_stream(x, true);
	for (uint32_t k = 0; k < NHOT; k++)
		assert_true(is_local(x, NFILE + k));
	assert_int_equal(fake_cluster_get(x->f, &x->f->blocks_written),
			 written);
	assert_int_equal(counts(x).evictions, evictions);
	assert_int_equal(counts(x).prefetch_wasted, 0);
	assert_true(counts(x).prefetch_hits >= NFILE / 2);
}

/*
 * Blocks written into the free memory left but one (with memory to spare
 * after a prefetch, a prefetched block simply comes home, its loan given
 * back).
 */
static void leave_one_free_block(struct fix *x)
{
	uint32_t n = (uint32_t)counts(x).blocks[POOL_FREE];

	assert_true(n >= 1 && n < LOCAL);
	write_blocks(x, NFILE, NFILE + n - 1);
	assert_int_equal(counts(x).blocks[POOL_FREE], 1);
}

/* The first block of the file that is elsewhere. */
static uint32_t first_remote(struct fix *x)
{
	for (uint32_t i = 0; i < NFILE; i++)
		if (!is_local(x, i))
			return i;
	fail_msg("the whole file is local");
	return 0;
}

/* A copy that is written gives its loan back: plain local data. */
static void a_written_copy_becomes_plain_local_data(void **state)
{
	struct fix *x = *state;
	struct block_of b = {x, first_remote(x)};
	uint8_t buf[BS];
	uint64_t copies;

	/* a block elsewhere, named, comes home as a copy */
	leave_one_free_block(x);
	assert_int_equal(pool_prefetch(x->p, &x->h[b.i], 1), 1);
	assert_true(wait_for(local_now, &b, DEADLINE_MS));
	copies = counts(x).copies;
	assert_true(copies >= 1);
	/* (the same bytes again: what counts is that it was written) */
	pattern(buf, b.i);
	assert_int_equal(pool_write(x->p, x->h[b.i], 0, buf, 100), 0);
	assert_int_equal(counts(x).copies, copies - 1);
	assert_true(is_local(x, b.i));
	for (uint32_t i = 0; i < NFILE; i++)
		read_block(x, i);
}

/* The provider lost the loan of a copy: the data is here, nothing lost. */
static void a_copy_whose_loan_is_lost_stays_local(void **state)
{
	struct fix *x = *state;
	struct block_of b = {x, first_remote(x)};
	uint32_t tag = x->h[b.i];
	struct pool_ref ref;
	uint32_t copies;

	leave_one_free_block(x);
	assert_int_equal(pool_prefetch(x->p, &x->h[b.i], 1), 1);
	assert_true(wait_for(local_now, &b, DEADLINE_MS));
	pthread_mutex_lock(&x->p->lock);
	ref = x->p->handles[tag].loan;
	pthread_mutex_unlock(&x->p->lock);
	assert_int_equal(ref.node, FAKE_NODE);
	pool_loans_lost(x->p, &ref, &tag, 1, &copies);
	assert_int_equal(copies, 0);
	assert_int_equal(counts(x).copies, 0);
	assert_int_equal(counts(x).lost, 0);
	read_block(x, b.i);
	assert_true(is_local(x, b.i));
}

static bool no_copies(void *arg)
{
	struct fix *x = arg;
	uint32_t used = 0;

	pthread_mutex_lock(&x->f->lock);
	for (uint32_t i = 0; i < PBLOCKS; i++)
		used += x->f->used[i];
	pthread_mutex_unlock(&x->f->lock);
	/* (and every loan given back is back) */
	return counts(x).copies == 0 && used == counts(x).blocks[POOL_LRL];
}

/*
 * Memory freed: the copies need no cheap way out any more, their loans
 * go back to the provider (principle 4 for blocks home already).
 */
static void freed_memory_ends_the_copies_loans(void **state)
{
	struct fix *x = *state;

	read_stream(x, false);
	assert_true(counts(x).copies >= 1);
	/* the blocks read last are here: freeing them frees memory */
	assert_true(is_local(x, NFILE - 1));
	pool_free(x->p, x->h[NFILE - 1]);
	assert_true(wait_for(no_copies, x, DEADLINE_MS));
	assert_int_equal(counts(x).lost, 0);
	for (uint32_t i = 0; i < NFILE - 1; i++)
		read_block(x, i);
}

static void with_prefetch_off_nothing_is_fetched(void **state)
{
	struct fix *x = *state;

	pool_set_prefetch(x->p, false);
	for (uint32_t i = 0; i < NFILE; i++) {
		name_ahead(x, i);
		read_block(x, i);
	}
	assert_int_equal(counts(x).prefetched, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_sequential_reader_finds_its_next_blocks_local, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_reader_that_names_nothing_gets_no_prefetch, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_stream_never_sends_hot_data_out, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_written_copy_becomes_plain_local_data, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_copy_whose_loan_is_lost_stays_local, setup, teardown),
		cmocka_unit_test_setup_teardown(
			freed_memory_ends_the_copies_loans, setup, teardown),
		cmocka_unit_test_setup_teardown(
			with_prefetch_off_nothing_is_fetched, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
