// SPDX-License-Identifier: MIT
/*
 * The peer service's store (pool/peer.h): what this node lends is its
 * pool's free blocks; notices, forwarding addresses and drains are the
 * cluster's (cluster-move.c, cluster-drain.c).
 */
#include <errno.h>

#include "cluster-internal.h"

static int st_alloc(void *ctx, uint32_t owner, uint32_t n, uint32_t *idx)
{
	struct cluster *c = ctx;
	uint32_t got = pool_lend(c->pool, owner, n, idx);

	return got ? (int)got : -ENOSPC;
}

static void st_free(void *ctx, const uint32_t *idx, uint32_t n)
{
	struct cluster *c = ctx;

	pool_unlend(c->pool, idx, n);
}

static void *st_ptr(void *ctx, uint32_t idx)
{
	struct cluster *c = ctx;

	return pool_block_addr(c->pool, idx);
}

static void st_counts(void *ctx, uint32_t *total, uint32_t *free)
{
	struct cluster *c = ctx;
	struct pool_counts pc;

	pool_get_counts(c->pool, &pc);
	*total = (uint32_t)pc.local_blocks;
	*free = (uint32_t)pc.blocks[POOL_FREE];
}

static void *st_region(void *ctx, size_t *len)
{
	struct cluster *c = ctx;

	uint32_t n = pool_local_blocks(c->pool);

	/* these pages stay while registered, even if the pool shrinks */
	pool_set_rma_blocks(c->pool, n);
	*len = (size_t)n * pool_block_size(c->pool);
	return pool_block_addr(c->pool, 0);
}

const struct peer_store_ops cluster_store_ops = {
	.alloc = st_alloc,
	.free = st_free,
	.ptr = st_ptr,
	.counts = st_counts,
	.region = st_region,
	.node_addr = cluster_node_addr,
	.notice = cluster_notice,
	.notices_due = cluster_notices_due,
	.drain = cluster_st_drain,
};
