// SPDX-License-Identifier: MIT
/* The pool: allocation, free list, LRU order of LLL, exhaustion, copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/pool.h"
#include "../../pool/pool-internal.h"

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
	assert_int_equal(p->lb[p->lists[POOL_LLL].tail].owner, h[0]);
	assert_int_equal(p->lb[p->lists[POOL_LLL].head].owner, h[2]);
	assert_int_equal(pool_pin(p, h[0], &ptr), 0);
	pool_unpin(p, h[0]);
	assert_int_equal(p->lb[p->lists[POOL_LLL].head].owner, h[0]);
	assert_int_equal(p->lb[p->lists[POOL_LLL].tail].owner, h[1]);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
