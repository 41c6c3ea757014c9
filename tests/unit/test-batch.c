// SPDX-License-Identifier: MIT
/*
 * The evictor's batches (pool/batch.c), against a fake cluster that holds
 * each transfer for a while and counts the blocks in flight at once: a
 * streaming writer's evictions go out several at once (one borrow for
 * them, their writes in flight together) while the writer fills the next
 * blocks; a block whose batched write fails is moved alone, elsewhere;
 * and the reserve a streaming writer gets is given up once it frees, the
 * memory filling with our blocks again, with no eviction more. Every
 * block is checked byte for byte; every wait polls with a deadline.
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
#define LOCAL 16u      /* the node's own blocks */
#define PBLOCKS 256u   /* the provider's */
#define NFILE 96u      /* blocks the writer writes */
#define DELAY_US 2000u /* each transfer takes this long */
#define DEADLINE_MS 10000

struct fix {
	struct pool *p;
	struct fake_cluster *f;
	uint32_t h[NFILE];
};

/* Block i's bytes. */
static void pattern(uint8_t *buf, uint32_t i)
{
	uint32_t x = i * 2654435761u + 1;

	for (uint32_t k = 0; k < BS; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[k] = (uint8_t)x;
	}
}

static int setup(void **state)
{
	struct pool_config cfg = {.local_bytes = LOCAL * BS, .block_size = BS};
	struct fix *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->p = pool_create(&cfg);
	assert_non_null(x->p);
	x->f = fake_cluster_create(BS, PBLOCKS);
	x->f->delay_us = DELAY_US;
	assert_int_equal(pool_set_cluster(x->p, fake_cluster_ops(true), x->f),
			 0);
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

/* Writes blocks [from, to) of the file, each whole, as a writer does. */
static void write_blocks(struct fix *x, uint32_t from, uint32_t to)
{
	uint8_t buf[BS];

	for (uint32_t i = from; i < to; i++) {
		assert_int_equal(pool_alloc(x->p, false, &x->h[i]), 0);
		pattern(buf, i);
		assert_int_equal(pool_write(x->p, x->h[i], 0, buf, BS), 0);
	}
}

/* Every block of [0, n) reads back as written. */
static void check_blocks(struct fix *x, uint32_t n)
{
	uint8_t want[BS], got[BS];

	for (uint32_t i = 0; i < n; i++) {
		pattern(want, i);
		assert_int_equal(pool_read(x->p, x->h[i], 0, got, BS), 0);
		if (memcmp(want, got, BS))
			fail_msg("block %u reads back wrong", i);
	}
}

static struct pool_counts counts(struct fix *x)
{
	struct pool_counts c;

	pool_get_counts(x->p, &c);
	return c;
}

/* The helper is idle: nothing moving out, nothing left to give back. */
static bool settled(void *arg)
{
	struct fix *x = arg;
	uint32_t used = 0;
	bool idle;

	pthread_mutex_lock(&x->p->lock);
	idle = !x->p->evicting && !x->p->pulling && !x->p->relq_count;
	pthread_mutex_unlock(&x->p->lock);
	pthread_mutex_lock(&x->f->lock);
	for (uint32_t i = 0; i < PBLOCKS; i++)
		used += x->f->used[i];
	pthread_mutex_unlock(&x->f->lock);
	return idle && used == counts(x).blocks[POOL_LRL];
}

static void a_streaming_writer_has_several_evictions_in_flight(void **state)
{
	struct fix *x = *state;
	struct pool_counts c;

	write_blocks(x, 0, NFILE);
	assert_true(wait_for(settled, x, DEADLINE_MS));
	/* one borrow for several blocks, their writes out together */
	assert_true(fake_cluster_get32(x->f, &x->f->max_borrow) >= 2);
	assert_true(fake_cluster_get32(x->f, &x->f->max_batch) >= 2);
	assert_true(fake_cluster_get32(x->f, &x->f->max_flying) >= 2);
	c = counts(x);
	assert_int_equal(c.blocks[POOL_LLL] + c.blocks[POOL_LRL], NFILE);
	assert_int_equal(c.evictions, c.blocks[POOL_LRL]);
	assert_int_equal(c.lost, 0);
	assert_true(c.blocks[POOL_LRL] >= NFILE - LOCAL);
	check_blocks(x, NFILE);
}

/*
 * The first block of every batch fails to arrive: each is moved again
 * alone (a new loan, the failed one given back), nothing is lost.
 */
static void a_block_whose_batched_write_failed_moves_alone(void **state)
{
	struct fix *x = *state;
	struct pool_counts c;

	pthread_mutex_lock(&x->f->lock);
	x->f->fail_many = true;
	pthread_mutex_unlock(&x->f->lock);
	write_blocks(x, 0, NFILE);
	assert_true(wait_for(settled, x, DEADLINE_MS));
	assert_true(fake_cluster_get32(x->f, &x->f->max_batch) >= 2);
	c = counts(x);
	assert_int_equal(c.blocks[POOL_LLL] + c.blocks[POOL_LRL], NFILE);
	assert_int_equal(c.lost, 0);
	check_blocks(x, NFILE);
}

/* Our blocks elsewhere all came home, as far as memory allows. */
static bool home_again(void *arg)
{
	struct fix *x = arg;
	struct pool_counts c = counts(x);

	return c.blocks[POOL_FREE] == 0 && c.blocks[POOL_LLL] == LOCAL &&
	       settled(x);
}

/*
 * Once the writer frees memory (it is a new writer then), the reserve it
 * had is given up: our blocks elsewhere come home into it (principle 4),
 * as many as it held, and nothing more goes out (no block moves back and
 * forth).
 */
static void a_writers_reserve_ends_when_it_frees(void **state)
{
	struct fix *x = *state;
	struct pool_counts c;

	write_blocks(x, 0, NFILE);
	assert_true(wait_for(settled, x, DEADLINE_MS));
	/* it kept several free blocks while it streamed */
	assert_true(counts(x).blocks[POOL_FREE] >= 2);
	pool_free(x->p, x->h[NFILE - 1]);
	assert_true(wait_for(home_again, x, DEADLINE_MS));
	c = counts(x);
	assert_true(c.homecomings >= 2);
	assert_true(c.homecomings <= x->p->stream_high + 1);
	/* every move out but those that came back is a block elsewhere */
	assert_int_equal(c.evictions - c.homecomings, c.blocks[POOL_LRL]);
	check_blocks(x, NFILE - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_streaming_writer_has_several_evictions_in_flight,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_block_whose_batched_write_failed_moves_alone, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_writers_reserve_ends_when_it_frees, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
