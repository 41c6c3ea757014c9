// SPDX-License-Identifier: MIT
/*
 * Hash compare (pool/hashcmp.c), against a fake cluster, in stepped mode
 * (no helper thread: every move is the test's): a node of four blocks
 * wrote eight, four of them now on the provider. A block that comes home
 * keeps its loan; moved out again unchanged it sends nothing (its kept
 * loan is its place again); with one page written it sends that page
 * only; after a pin that may write anywhere it is rehashed (unchanged:
 * nothing sent; changed: the whole block, to its kept loan); and a copy
 * whose loan the provider took back is forgotten, its data still here,
 * and goes out whole to a new loan; a provider full when a plain block
 * must go out takes the coldest copy's loan back for it. Every byte is
 * checked, the provider's and ours.
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
#include "cmp/util.h"
#include "fake-cluster.h"
#include "pool-internal.h"

#define BS (16u << 10) /* four pages */
#define LOCAL 4u
#define PBLOCKS 32u
#define NFILE 8u

struct fix {
	struct pool *p;
	struct fake_cluster *f;
	uint32_t h[NFILE];
	uint8_t want[NFILE][BS]; /* what each block must hold */
};

static void pattern(uint8_t *buf, uint32_t i)
{
	uint32_t x = i * 2246822519u + 11;

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

static uint64_t sent(struct fix *x)
{
	return fake_cluster_get(x->f, &x->f->bytes_written);
}

static int setup(void **state)
{
	struct pool_config cfg = {.local_bytes = LOCAL * BS, .block_size = BS};
	struct fix *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	cmp_set_stepped(true);
	x->p = pool_create(&cfg);
	assert_non_null(x->p);
	x->f = fake_cluster_create(BS, PBLOCKS);
	assert_int_equal(pool_set_cluster(x->p, fake_cluster_ops(true), x->f),
			 0);
	pool_set_exchange(x->p, false);
	pool_set_hash_compare(x->p, true);
	for (uint32_t i = 0; i < NFILE; i++) {
		pattern(x->want[i], i);
		assert_int_equal(pool_alloc(x->p, false, &x->h[i]), 0);
		assert_int_equal(pool_write(x->p, x->h[i], 0, x->want[i], BS),
				 0);
	}
	assert_int_equal(counts(x).blocks[POOL_LRL], NFILE - LOCAL);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;

	pool_destroy(x->p);
	fake_cluster_destroy(x->f);
	cmp_set_stepped(false);
	free(x);
	return 0;
}

static struct handle_loc loc_of(struct fix *x, uint32_t i)
{
	struct handle_loc loc;

	pthread_mutex_lock(&x->p->lock);
	loc = x->p->handles[x->h[i]];
	pthread_mutex_unlock(&x->p->lock);
	return loc;
}

/* Block i of the file reads back as it must, and the provider's too. */
static void check(struct fix *x, uint32_t i)
{
	uint8_t got[BS];

	assert_int_equal(pool_read(x->p, x->h[i], 0, got, BS), 0);
	if (memcmp(got, x->want[i], BS))
		fail_msg("block %u reads back wrong", i);
}

static void check_provider(struct fix *x, uint32_t i)
{
	struct handle_loc loc = loc_of(x, i);
	const uint8_t *at;

	assert_int_equal(loc.loan.node, FAKE_NODE);
	pthread_mutex_lock(&x->f->lock);
	at = x->f->mem + (size_t)loc.loan.block * BS;
	if (memcmp(at, x->want[i], BS))
		fail_msg("the provider's block of %u is wrong", i);
	pthread_mutex_unlock(&x->f->lock);
}

static uint32_t first_remote(struct fix *x)
{
	for (uint32_t i = 0; i < NFILE; i++)
		if (loc_of(x, i).state == HANDLE_REMOTE)
			return i;
	fail_msg("nothing is elsewhere");
	return 0;
}

/* Block i (elsewhere) comes home, into a block our coldest one left. */
static void home(struct fix *x, uint32_t i)
{
	uint32_t b;

	assert_int_equal(loc_of(x, i).state, HANDLE_REMOTE);
	assert_int_equal(pool_evict_one(x->p, &b), 0);
	assert_int_equal(pool_pull_into(x->p, x->h[i], b, false), 1);
	assert_int_equal(loc_of(x, i).state, HANDLE_LOCAL);
	assert_true(loc_of(x, i).flags & HF_COPY);
}

/* Block i (here) moves out, as the evictor moves its victims. */
static void evict(struct fix *x, uint32_t i)
{
	struct handle_loc *loc;
	uint32_t b;

	pthread_mutex_lock(&x->p->lock);
	loc = &x->p->handles[x->h[i]];
	assert_int_equal(loc->state, HANDLE_LOCAL);
	assert_int_equal(loc->pins, 0);
	b = loc->local_block;
	loc->state = HANDLE_MOVING;
	pthread_mutex_unlock(&x->p->lock);
	assert_int_equal(pool_evict_block(x->p, b), 0);
	pthread_mutex_lock(&x->p->lock);
	pool_list_push_head_locked(x->p, POOL_FREE, b);
	pthread_mutex_unlock(&x->p->lock);
	assert_int_equal(loc_of(x, i).state, HANDLE_REMOTE);
}

static void an_unchanged_block_goes_out_sending_nothing(void **state)
{
	struct fix *x = *state;
	uint32_t i = first_remote(x);
	struct handle_loc before;
	uint64_t w;

	home(x, i);
	before = loc_of(x, i);
	assert_int_equal(counts(x).copies, 1);
	check(x, i); /* read here: no write */
	w = sent(x);
	evict(x, i);
	assert_int_equal(sent(x), w);
	assert_int_equal(counts(x).evict_unchanged, 1);
	assert_int_equal(counts(x).evict_bytes_saved, BS);
	assert_int_equal(counts(x).copies, 0);
	/* its kept loan is its place again */
	assert_int_equal(loc_of(x, i).loan.block, before.loan.block);
	check_provider(x, i);
	check(x, i);
}

static void a_written_page_is_all_that_goes(void **state)
{
	struct fix *x = *state;
	uint32_t i = first_remote(x);
	static const char msg[] = "one dirty page";
	uint64_t w;

	home(x, i);
	/* 100 bytes at 5000: page 1 of 4 */
	memset(x->want[i] + 5000, 0xa5, 100);
	assert_int_equal(
		pool_write(x->p, x->h[i], 5000, x->want[i] + 5000, 100), 0);
	w = sent(x);
	evict(x, i);
	assert_int_equal(sent(x) - w, 4096);
	assert_int_equal(counts(x).evict_partial, 1);
	assert_int_equal(counts(x).evict_pages_sent, 1);
	assert_int_equal(counts(x).evict_unchanged, 0);
	assert_int_equal(counts(x).evict_bytes_saved, BS - 4096);
	check_provider(x, i);
	check(x, i);

	/* again, two pages (a write across their border) and the last */
	home(x, i);
	memcpy(x->want[i] + 8190, msg, sizeof(msg));
	assert_int_equal(pool_write(x->p, x->h[i], 8190, msg, sizeof(msg)), 0);
	x->want[i][BS - 1] = 0;
	assert_int_equal(pool_zero(x->p, x->h[i], BS - 1, 1), 0);
	w = sent(x);
	evict(x, i);
	assert_int_equal(sent(x) - w, 3 * 4096);
	assert_int_equal(counts(x).evict_pages_sent, 4);
	check_provider(x, i);
	check(x, i);
}

static void a_pinned_block_is_rehashed(void **state)
{
	struct fix *x = *state;
	uint32_t i = first_remote(x);
	uint8_t *ptr;
	uint64_t w;

	/* pinned to write, nothing written: the hash says unchanged */
	home(x, i);
	assert_int_equal(pool_pin(x->p, x->h[i], (void **)&ptr), 0);
	pool_unpin(x->p, x->h[i]);
	w = sent(x);
	evict(x, i);
	assert_int_equal(sent(x), w);
	assert_int_equal(counts(x).evict_unchanged, 1);

	/* one byte changed through the pin: all of it goes, to its loan */
	home(x, i);
	assert_int_equal(pool_pin(x->p, x->h[i], (void **)&ptr), 0);
	ptr[123] ^= 0xff;
	x->want[i][123] ^= 0xff;
	pool_unpin(x->p, x->h[i]);
	w = sent(x);
	evict(x, i);
	assert_int_equal(sent(x) - w, BS);
	assert_int_equal(counts(x).evict_partial, 1);
	check_provider(x, i);
	check(x, i);
}

static void a_copy_its_provider_took_back_is_forgotten(void **state)
{
	struct fix *x = *state;
	uint32_t i = first_remote(x), tag, gone = 0;
	struct pool_ref ref;
	uint64_t w, ev;

	home(x, i);
	tag = x->h[i];
	pthread_mutex_lock(&x->p->lock);
	ref = x->p->handles[tag].loan;
	pthread_mutex_unlock(&x->p->lock);
	/* the provider needs the memory: the loan ends, its bytes reused */
	pthread_mutex_lock(&x->f->lock);
	x->f->used[ref.block] = false;
	memset(x->f->mem + (size_t)ref.block * BS, 0x5a, BS);
	pthread_mutex_unlock(&x->f->lock);
	/* as its reconciliation tells us: forgotten, nothing lost */
	assert_int_equal(pool_loans_lost(x->p, &ref, &tag, 1, &gone), 0);
	assert_int_equal(counts(x).copies, 0);
	assert_int_equal(counts(x).lost, 0);
	assert_false(loc_of(x, i).flags & HF_COPY);
	check(x, i);
	/* out again: whole, to a new loan */
	w = sent(x);
	ev = counts(x).evictions;
	evict(x, i);
	assert_int_equal(sent(x) - w, BS);
	assert_int_equal(counts(x).evictions, ev + 1);
	assert_int_equal(counts(x).evict_unchanged, 0);
	check_provider(x, i);
	check(x, i);
	for (uint32_t k = 0; k < NFILE; k++)
		check(x, k);
}

/*
 * Every provider full, and a plain block must go out: the coldest copy
 * gives its loan back (its data is here) and the block goes there.
 */
static void a_full_provider_takes_a_copys_loan_back(void **state)
{
	struct fix *x = *state;
	uint32_t i = first_remote(x), j;
	struct handle_loc cp;

	home(x, i);
	cp = loc_of(x, i);
	/* the provider is full (the blocks it has left, someone else's) */
	pthread_mutex_lock(&x->f->lock);
	for (uint32_t k = 0; k < PBLOCKS; k++)
		x->f->used[k] = true;
	pthread_mutex_unlock(&x->f->lock);
	for (j = 0; j < NFILE; j++)
		if (j != i && loc_of(x, j).state == HANDLE_LOCAL)
			break;
	assert_true(j < NFILE);
	evict(x, j);
	assert_int_equal(counts(x).copies, 0);
	assert_int_equal(loc_of(x, j).loan.block, cp.loan.block);
	check_provider(x, j);
	for (uint32_t k = 0; k < NFILE; k++)
		check(x, k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			an_unchanged_block_goes_out_sending_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(a_written_page_is_all_that_goes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_pinned_block_is_rehashed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_copy_its_provider_took_back_is_forgotten, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_full_provider_takes_a_copys_loan_back, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
