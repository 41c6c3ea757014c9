/* SPDX-License-Identifier: MIT */
/*
 * A fake cluster behind a pool's cluster ops (pool/cmp.h), for the tests
 * of the pool's batched moves (test-batch.c, test-prefetch.c): one
 * provider, node 7, whose blocks are an array here. Thread-safe: the pool
 * calls it from the caller's thread and its helper thread at once. It
 * counts what crosses (blocks read and written, per call and in all),
 * and the blocks in flight at once across all calls: each call holds
 * its blocks for delay_us, so that transfers in flight together overlap
 * visibly. Include after <cmocka.h>.
 */
#ifndef CMP_TEST_FAKE_CLUSTER_H
#define CMP_TEST_FAKE_CLUSTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp.h"

#define FAKE_NODE 7u

struct fake_cluster {
	pthread_mutex_t lock; /* everything below */
	uint32_t block_size, nblocks;
	uint8_t *mem; /* nblocks * block_size */
	bool *used;
	uint32_t delay_us; /* each call holds its blocks this long */
	bool fail_many;	   /* read_many/write_many fail the first block */
	uint32_t flying, max_flying; /* blocks in calls now, most at once */
	uint32_t max_batch;  /* most blocks in one read/write_many call */
	uint32_t max_borrow; /* most blocks in one borrow_many call */
	uint64_t blocks_read, blocks_written; /* whole blocks */
	uint64_t bytes_read, bytes_written;   /* all ranges */
};

/* A provider of nblocks blocks of block_size bytes, all free. */
struct fake_cluster *fake_cluster_create(uint32_t block_size, uint32_t nblocks);
void fake_cluster_destroy(struct fake_cluster *f);
/* The ops, with or without the batched ones (borrow_many, *_many). */
const struct pool_cluster_ops *fake_cluster_ops(bool many);
/* Reads a counter under the lock. */
uint64_t fake_cluster_get(struct fake_cluster *f, const uint64_t *field);
uint32_t fake_cluster_get32(struct fake_cluster *f, const uint32_t *field);

#endif
