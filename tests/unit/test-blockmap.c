// SPDX-License-Identifier: MIT
/* The block table: growth, holes, truncate freeing blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#include <cmocka.h>

#include "blockmap.h"
#include "cmp/pool.h"

#define BS (4u << 10)

static struct pool *make(uint32_t blocks)
{
	struct pool_config cfg = {.local_bytes = (uint64_t)blocks * BS,
				  .block_size = BS};
	struct pool *p = pool_create(&cfg);

	assert_non_null(p);
	return p;
}

static void empty_map_is_all_holes(void **state)
{
	struct blockmap m;

	blockmap_init(&m);
	assert_int_equal(blockmap_get(&m, 0), 0);
	assert_int_equal(blockmap_get(&m, 123456789), 0);
	assert_int_equal(m.nblocks, 0);
	blockmap_finish(&m, NULL);
}

static void sparse_far_block_costs_one_chunk(void **state)
{
	struct pool *p = make(4);
	struct blockmap m;
	uint32_t h;

	blockmap_init(&m);
	assert_int_equal(pool_alloc(p, true, &h), 0);
	assert_int_equal(blockmap_set(&m, 5000000, h), 0);
	assert_int_equal(blockmap_get(&m, 5000000), h);
	assert_int_equal(blockmap_get(&m, 4999999), 0);
	assert_int_equal(m.nblocks, 1);
	for (uint64_t c = 0; c < m.nchunks; c++)
		if (c != 5000000 / BLOCKMAP_CHUNK)
			assert_null(m.chunks[c]);
	blockmap_finish(&m, p);
	assert_int_equal(pool_avail_blocks(p), 4);
	pool_destroy(p);
}

static void map_grows_across_many_chunks(void **state)
{
	struct pool *p = make(3000);
	struct blockmap m;

	blockmap_init(&m);
	for (uint64_t b = 0; b < 3000; b++) {
		uint32_t h;

		assert_int_equal(pool_alloc(p, false, &h), 0);
		assert_int_equal(blockmap_set(&m, b, h), 0);
	}
	assert_int_equal(m.nblocks, 3000);
	assert_int_equal(pool_avail_blocks(p), 0);
	blockmap_truncate(&m, p, 1500);
	assert_int_equal(m.nblocks, 1500);
	assert_int_equal(pool_avail_blocks(p), 1500);
	assert_int_not_equal(blockmap_get(&m, 1499), 0);
	assert_int_equal(blockmap_get(&m, 1500), 0);
	blockmap_finish(&m, p);
	assert_int_equal(pool_avail_blocks(p), 3000);
	pool_destroy(p);
}

static void clear_makes_a_hole_and_returns_the_handle(void **state)
{
	struct pool *p = make(2);
	struct blockmap m;
	uint32_t h;

	blockmap_init(&m);
	assert_int_equal(pool_alloc(p, true, &h), 0);
	assert_int_equal(blockmap_set(&m, 7, h), 0);
	assert_int_equal(blockmap_clear(&m, 7), h);
	assert_int_equal(blockmap_clear(&m, 7), 0);
	assert_int_equal(m.nblocks, 0);
	pool_free(p, h);
	blockmap_finish(&m, p);
	pool_destroy(p);
}

static void blocks_past_the_limit_are_refused(void **state)
{
	struct blockmap m;

	blockmap_init(&m);
	assert_int_equal(blockmap_set(&m, BLOCKMAP_MAX_BLOCKS, 1), -EFBIG);
	blockmap_finish(&m, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_map_is_all_holes),
		cmocka_unit_test(sparse_far_block_costs_one_chunk),
		cmocka_unit_test(map_grows_across_many_chunks),
		cmocka_unit_test(clear_makes_a_hole_and_returns_the_handle),
		cmocka_unit_test(blocks_past_the_limit_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
