// SPDX-License-Identifier: MIT
/*
 * The pool: allocation, free list, LRU order of LLL, exhaustion, copies,
 * and a shrink racing a block on its way home.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cmp/pool.h"
#include "pool-internal.h"

#define BS (64u << 10)

static struct pool *make(uint32_t blocks)
{
	struct pool_config cfg = {.local_bytes = (uint64_t)blocks * BS,
				  .block_size = BS};
	struct pool *p = pool_create(&cfg);

	assert_non_null(p);
	return p;
}

static uint64_t count(struct pool *p, enum pool_list l)
{
	struct pool_counts c;

	pool_get_counts(p, &c);
	return c.blocks[l];
}

static void bad_block_sizes_are_refused(void **state)
{
	uint32_t bad[] = {0, 1000, 2048, 8u << 20, 3u << 12};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pool_config cfg = {.local_bytes = 1 << 20,
					  .block_size = bad[i]};

		assert_null(pool_create(&cfg));
		assert_int_equal(errno, EINVAL);
	}
}

static void alloc_moves_blocks_from_free_to_lll(void **state)
{
	struct pool *p = make(4);
	uint32_t h;

	assert_int_equal(count(p, POOL_FREE), 4);
	assert_int_equal(pool_alloc(p, true, &h), 0);
	assert_int_not_equal(h, 0);
	assert_int_equal(count(p, POOL_FREE), 3);
	assert_int_equal(count(p, POOL_LLL), 1);
	pool_free(p, h);
	assert_int_equal(count(p, POOL_FREE), 4);
	assert_int_equal(count(p, POOL_LLL), 0);
	pool_destroy(p);
}

static void exhausted_pool_answers_enospc_and_recovers(void **state)
{
	struct pool *p = make(3);
	uint32_t h[3], extra;

	for (int i = 0; i < 3; i++)
		assert_int_equal(pool_alloc(p, false, &h[i]), 0);
	assert_int_equal(pool_alloc(p, false, &extra), -ENOSPC);
	assert_int_equal(pool_avail_blocks(p), 0);
	pool_free(p, h[1]);
	assert_int_equal(pool_alloc(p, false, &extra), 0);
	pool_destroy(p);
}

static void lll_keeps_lru_order_and_touch_moves_to_front(void **state)
{
	struct pool *p = make(3);
	uint32_t h[3];
	void *ptr;

	for (int i = 0; i < 3; i++)
		assert_int_equal(pool_alloc(p, false, &h[i]), 0);
	/* Newest first: h2 h1 h0; the coldest (tail) is h0. */
	assert_int_equal(p->blocks[p->lists[POOL_LLL].tail].handle, h[0]);
	assert_int_equal(p->blocks[p->lists[POOL_LLL].head].handle, h[2]);
	assert_int_equal(pool_pin(p, h[0], &ptr), 0);
	pool_unpin(p, h[0]);
	assert_int_equal(p->blocks[p->lists[POOL_LLL].head].handle, h[0]);
	assert_int_equal(p->blocks[p->lists[POOL_LLL].tail].handle, h[1]);
	pool_destroy(p);
}

static void byte_ranges_round_trip_and_zeroed_alloc_reads_zero(void **state)
{
	struct pool *p = make(2);
	uint8_t in[512], out[512], z[BS];
	uint32_t h;

	memset(in, 0xa5, sizeof(in));
	assert_int_equal(pool_alloc(p, false, &h), 0);
	assert_int_equal(pool_write(p, h, 4196, in, 512), 0);
	assert_int_equal(pool_read(p, h, 4196, out, 512), 0);
	assert_memory_equal(in, out, 512);
	pool_free(p, h);
	/* Recycled memory must not leak the old contents. */
	assert_int_equal(pool_alloc(p, true, &h), 0);
	memset(z, 1, sizeof(z));
	assert_int_equal(pool_read(p, h, 0, z, BS), 0);
	for (uint32_t i = 0; i < BS; i++)
		assert_int_equal(z[i], 0);
	pool_destroy(p);
}

static void out_of_block_ranges_are_refused(void **state)
{
	struct pool *p = make(1);
	uint8_t b[16];
	uint32_t h;

	assert_int_equal(pool_alloc(p, true, &h), 0);
	assert_int_equal(pool_read(p, h, BS - 8, b, 16), -EINVAL);
	assert_int_equal(pool_write(p, h, BS + 1, b, 0), -EINVAL);
	assert_int_equal(pool_read(p, h + 7, 0, b, 1), -EINVAL);
	assert_int_equal(pool_read(p, 0, 0, b, 1), -EINVAL);
	pool_destroy(p);
}

static void handles_are_reused_after_free(void **state)
{
	struct pool *p = make(2);
	uint32_t a, b;

	assert_int_equal(pool_alloc(p, false, &a), 0);
	pool_free(p, a);
	assert_int_equal(pool_alloc(p, false, &b), 0);
	assert_int_equal(a, b);
	pool_destroy(p);
}

/* A fake cluster: one provider (node 7) with a few blocks in an array. */
#define FAKE_BLOCKS 8
struct fake {
	uint8_t mem[FAKE_BLOCKS][BS];
	bool used[FAKE_BLOCKS];
	uint64_t bytes_read, bytes_written;
	bool dead;
	atomic_bool hold; /* reads wait while it is set */
	atomic_int held;  /* reads waiting */
};

static void nap(void)
{
	struct timespec ts = {0, 2000000};

	nanosleep(&ts, NULL);
}

static int fake_borrow(void *ctx, const uint32_t *avoid, uint32_t navoid,
		       struct pool_ref *out)
{
	struct fake *f = ctx;

	for (uint32_t i = 0; i < FAKE_BLOCKS; i++) {
		if (!f->used[i]) {
			f->used[i] = true;
			*out = (struct pool_ref){.node = 7, .block = i};
			return 0;
		}
	}
	return -ENOSPC;
}

static void fake_release(void *ctx, const struct pool_ref *r, uint32_t n)
{
	struct fake *f = ctx;

	for (uint32_t i = 0; i < n; i++) {
		assert_true(f->used[r[i].block]);
		f->used[r[i].block] = false;
	}
}

static int fake_read(void *ctx, const struct pool_ref *r, uint32_t off,
		     void *dst, uint32_t len, struct pool_ref *moved)
{
	struct fake *f = ctx;

	if (atomic_load(&f->hold)) {
		atomic_fetch_add(&f->held, 1);
		for (int i = 0; i < 5000 && atomic_load(&f->hold); i++)
			nap();
		atomic_fetch_sub(&f->held, 1);
	}
	if (f->dead)
		return -EIO;
	memcpy(dst, f->mem[r->block] + off, len);
	f->bytes_read += len;
	return 0;
}

static int fake_write(void *ctx, const struct pool_ref *r, uint32_t off,
		      const void *src, uint32_t len, struct pool_ref *moved)
{
	struct fake *f = ctx;

	if (f->dead)
		return -EIO;
	memcpy(f->mem[r->block] + off, src, len);
	f->bytes_written += len;
	return 0;
}

static const struct pool_cluster_ops fake_ops = {
	.borrow = fake_borrow,
	.release = fake_release,
	.read = fake_read,
	.write = fake_write,
};

static void fill(struct pool *p, uint32_t h, uint8_t v)
{
	uint8_t buf[BS];

	memset(buf, v, sizeof(buf));
	assert_int_equal(pool_write(p, h, 0, buf, BS), 0);
}

static void full_pool_moves_coldest_block_out_and_reuses_memory(void **state)
{
	static struct fake f;
	struct pool *p = make(2);
	uint32_t h[3];
	uint8_t b[512];
	void *ptr;

	memset(&f, 0, sizeof(f));
	assert_int_equal(pool_set_cluster(p, &fake_ops, &f), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pool_alloc(p, false, &h[i]), 0);
		fill(p, h[i], (uint8_t)(0x10 + i));
	}
	/* Touch h0 so h1 is the coldest. */
	assert_int_equal(pool_pin(p, h[0], &ptr), 0);
	pool_unpin(p, h[0]);
	assert_int_equal(pool_alloc(p, true, &h[2]), 0);
	assert_int_equal(count(p, POOL_LLL), 2);
	assert_int_equal(count(p, POOL_LRL), 1);
	assert_int_equal(count(p, POOL_FREE), 0);
	assert_int_equal(pool_pin(p, h[1], &ptr), -EREMOTE);
	assert_int_equal(pool_pin(p, h[0], &ptr), 0);
	pool_unpin(p, h[0]);
	/* Byte ranges of the moved block go to the provider, 512 bytes. */
	f.bytes_read = 0;
	assert_int_equal(pool_read(p, h[1], 4196, b, 512), 0);
	assert_int_equal(f.bytes_read, 512);
	for (int i = 0; i < 512; i++)
		assert_int_equal(b[i], 0x11);
	pool_destroy(p);
}

static void freeing_local_blocks_pulls_borrowed_blocks_home(void **state)
{
	static struct fake f;
	struct pool *p = make(2);
	uint32_t h[3];
	uint8_t b[16];

	memset(&f, 0, sizeof(f));
	assert_int_equal(pool_set_cluster(p, &fake_ops, &f), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pool_alloc(p, false, &h[i]), 0);
		fill(p, h[i], (uint8_t)(0x20 + i));
	}
	assert_int_equal(count(p, POOL_LRL), 1);
	pool_free(p, h[2]);
	/* The helper may already have done it; either way it ends home. */
	pool_pull_home(p, 8);
	for (int tries = 0; count(p, POOL_LRL) && tries < 1000; tries++)
		pool_pull_home(p, 8);
	assert_int_equal(count(p, POOL_LRL), 0);
	pool_pull_home(p, 8); /* sends the releases still queued */
	assert_int_equal(count(p, POOL_LLL), 2);
	assert_false(f.used[0]); /* the provider's block was given back */
	assert_int_equal(pool_read(p, h[0], 100, b, 16), 0);
	assert_int_equal(b[0], 0x20);
	pool_destroy(p);
}

static void dead_provider_turns_its_blocks_into_eio(void **state)
{
	static struct fake f;
	struct pool *p = make(1);
	uint32_t h[2], copies;
	uint8_t b[16];
	struct pool_counts c;

	memset(&f, 0, sizeof(f));
	assert_int_equal(pool_set_cluster(p, &fake_ops, &f), 0);
	assert_int_equal(pool_alloc(p, true, &h[0]), 0);
	assert_int_equal(pool_alloc(p, true, &h[1]), 0);
	assert_int_equal(pool_provider_dead(p, 7, &copies), 1);
	assert_int_equal(copies, 1);
	assert_int_equal(pool_read(p, h[0], 0, b, 16), -EIO);
	assert_int_equal(pool_read(p, h[1], 0, b, 16), 0);
	pool_get_counts(p, &c);
	assert_int_equal(c.lost, 1);
	pool_free(p, h[0]);
	pool_get_counts(p, &c);
	assert_int_equal(c.lost, 0);
	pool_destroy(p);
}

static void nothing_to_borrow_means_enospc_and_nothing_moves(void **state)
{
	static struct fake f;
	struct pool *p = make(1);
	uint32_t h[FAKE_BLOCKS + 2];
	int i;

	memset(&f, 0, sizeof(f));
	assert_int_equal(pool_set_cluster(p, &fake_ops, &f), 0);
	for (i = 0; i < FAKE_BLOCKS + 1; i++)
		assert_int_equal(pool_alloc(p, true, &h[i]), 0);
	assert_int_equal(pool_alloc(p, true, &h[i]), -ENOSPC);
	assert_int_equal(count(p, POOL_LLL), 1);
	assert_int_equal(count(p, POOL_LRL), FAKE_BLOCKS);
	pool_destroy(p);
}

static void lending_uses_free_blocks_and_lends_them_cleared(void **state)
{
	struct pool *p = make(4);
	uint32_t idx[8], again[8], h;
	uint8_t *b;

	assert_int_equal(pool_alloc(p, true, &h), 0);
	assert_int_equal(pool_lend(p, 42, 8, idx), 3);
	assert_int_equal(count(p, POOL_RLL), 3);
	assert_int_equal(count(p, POOL_FREE), 0);
	/* the borrower fills a block, gives it back; the next one gets 0s */
	b = pool_block_addr(p, idx[0]);
	assert_non_null(b);
	memset(b, 0xa5, BS);
	pool_unlend(p, idx, 1);
	assert_int_equal(count(p, POOL_RLL), 2);
	assert_int_equal(pool_lend(p, 43, 8, again), 1);
	assert_int_equal(again[0], idx[0]);
	for (uint32_t i = 0; i < BS; i++)
		if (b[i])
			fail_msg("byte %u of a re-lent block is %#x", i, b[i]);
	/* a freed block of our own data is cleared before it is lent too */
	assert_int_equal(pool_write(p, h, 0, "secret", 6), 0);
	pool_free(p, h);
	assert_int_equal(pool_lend(p, 43, 8, again), 1);
	assert_int_equal(
		memcmp(pool_block_addr(p, again[0]), "\0\0\0\0\0\0", 6), 0);
	/* blocks not lent are skipped when given back */
	pool_unlend(p, idx, 3);
	pool_unlend(p, again, 1);
	assert_int_equal(count(p, POOL_RLL), 0);
	assert_int_equal(count(p, POOL_FREE), 4);
	pool_destroy(p);
}

/* write_remote_bytes (issue 13 defect 8): what went to blocks elsewhere. */
static void bytes_to_and_from_blocks_elsewhere_are_counted(void **state)
{
	static struct fake f;
	struct pool *p = make(1);
	struct pool_counts pc;
	uint32_t h[2];
	uint8_t b[700] = {1};

	memset(&f, 0, sizeof(f));
	assert_int_equal(pool_set_cluster(p, &fake_ops, &f), 0);
	assert_int_equal(pool_alloc(p, false, &h[0]), 0);
	fill(p, h[0], 0x33);
	assert_int_equal(pool_alloc(p, false, &h[1]), 0); /* h0 moves out */
	assert_int_equal(count(p, POOL_LRL), 1);
	pool_get_counts(p, &pc);
	/* moving a block out is an eviction, not a write by the user */
	assert_int_equal(pc.remote_write_bytes, 0);
	assert_int_equal(pc.remote_read_bytes, 0);
	assert_int_equal(pool_write(p, h[0], 100, b, 700), 0);
	assert_int_equal(pool_zero(p, h[0], 1000, 300), 0);
	assert_int_equal(pool_read(p, h[0], 0, b, 512), 0);
	assert_int_equal(pool_write(p, h[1], 0, b, 512), 0); /* local */
	pool_get_counts(p, &pc);
	assert_int_equal(pc.remote_write_bytes, 1000);
	assert_int_equal(pc.remote_read_bytes, 512);
	pool_destroy(p);
}

struct shrinker {
	struct pool *p;
	uint32_t to;
	int ret;
};

static void *shrink_main(void *arg)
{
	struct shrinker *s = arg;

	s->ret = pool_resize(s->p, s->to, 10000);
	return NULL;
}

static uint32_t limit_of(struct pool *p)
{
	uint32_t limit;

	pthread_mutex_lock(&p->lock);
	limit = p->limit_blocks;
	pthread_mutex_unlock(&p->lock);
	return limit;
}

/*
 * A block taken off the free list for a homecoming is no free block: a
 * shrink that starts while the block's data is on its way home waits for
 * it (and then moves it down or out) instead of taking it for free and
 * giving its memory back under the data (the free count went below zero,
 * a block was on two lists, data read back wrong).
 */
static void a_shrink_waits_for_a_block_on_its_way_home(void **state)
{
	static struct fake f;
	struct pool *p = make(4);
	struct shrinker s = {.p = p, .to = 1};
	struct pool_counts pc;
	uint32_t h[5];
	uint8_t b[BS];
	pthread_t th;

	memset(&f, 0, sizeof(f));
	assert_int_equal(pool_set_cluster(p, &fake_ops, &f), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(pool_alloc(p, false, &h[i]), 0);
		fill(p, h[i], (uint8_t)(0x40 + i));
	}
	/* h0 went out; h1, h2, h3 are in blocks 1, 2, 3, h4 in block 0 */
	assert_int_equal(count(p, POOL_LRL), 1);
	atomic_store(&f.hold, true);
	pool_free(p, h[3]); /* block 3: the helper brings h0 home into it */
	for (int i = 0; i < 5000 && !atomic_load(&f.held); i++)
		nap();
	assert_int_equal(atomic_load(&f.held), 1);
	assert_int_equal(pthread_create(&th, NULL, shrink_main, &s), 0);
	for (int i = 0; i < 5000 && limit_of(p) != 1; i++)
		nap();
	assert_int_equal(limit_of(p), 1);
	atomic_store(&f.hold, false);
	pthread_join(th, NULL);
	assert_int_equal(s.ret, 0);
	pool_get_counts(p, &pc);
	assert_int_equal(pc.local_blocks, 1);
	assert_int_equal(pc.blocks[POOL_FREE] + pc.blocks[POOL_LLL], 1);
	assert_int_equal(pc.blocks[POOL_LLL] + pc.blocks[POOL_LRL], 4);
	for (int i = 0; i < 5; i++) {
		if (i == 3)
			continue;
		assert_int_equal(pool_read(p, h[i], 0, b, BS), 0);
		for (uint32_t k = 0; k < BS; k++)
			if (b[k] != 0x40 + i)
				fail_msg("handle %d: byte %u is %#x, want %#x",
					 i, k, b[k], 0x40 + i);
	}
	pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_block_sizes_are_refused),
		cmocka_unit_test(alloc_moves_blocks_from_free_to_lll),
		cmocka_unit_test(exhausted_pool_answers_enospc_and_recovers),
		cmocka_unit_test(lll_keeps_lru_order_and_touch_moves_to_front),
		cmocka_unit_test(
			byte_ranges_round_trip_and_zeroed_alloc_reads_zero),
		cmocka_unit_test(out_of_block_ranges_are_refused),
		cmocka_unit_test(handles_are_reused_after_free),
		cmocka_unit_test(
			full_pool_moves_coldest_block_out_and_reuses_memory),
		cmocka_unit_test(
			freeing_local_blocks_pulls_borrowed_blocks_home),
		cmocka_unit_test(dead_provider_turns_its_blocks_into_eio),
		cmocka_unit_test(
			nothing_to_borrow_means_enospc_and_nothing_moves),
		cmocka_unit_test(
			lending_uses_free_blocks_and_lends_them_cleared),
		cmocka_unit_test(
			bytes_to_and_from_blocks_elsewhere_are_counted),
		cmocka_unit_test(a_shrink_waits_for_a_block_on_its_way_home),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
