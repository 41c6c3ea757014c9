/* SPDX-License-Identifier: MIT */
/*
 * The pool's cluster side, implemented in cmp.c (the CMP principles) and
 * called by the cluster glue (cluster.c) and the tests; nothing outside
 * pool/ uses it. The pool calls out through struct pool_cluster_ops to
 * borrow, use and give back blocks elsewhere; the peer service calls in
 * to lend our free blocks (RLL); the manager's death notices call in to
 * drop what a dead node held. Thread-safe like the rest of the pool.
 */
#ifndef CMP_POOL_CMP_H
#define CMP_POOL_CMP_H

#include <stdbool.h>
#include <stdint.h>

#include "cmp/pool.h"

/*
 * Borrowing (LRL): with cluster ops set, an allocation that finds no free
 * local block moves the coldest unpinned LLL block's content to a block
 * borrowed elsewhere (principle 2) and reuses the memory; reads and writes
 * of a borrowed block go through the ops as byte ranges; when local blocks
 * are freed, a helper thread pulls borrowed blocks home (principle 4).
 * The ops are called without the pool lock, from the thread that needs
 * them (or the helper thread), and return 0 or -errno.
 */
struct pool_ref {
	uint32_t node;	/* provider node id */
	uint32_t block; /* block index on the provider */
	uint32_t epoch; /* the loan's epoch there */
};

struct pool_cluster_ops {
	/* One free block elsewhere, in tier order. -ENOSPC when none. */
	int (*borrow)(void *ctx, struct pool_ref *out);
	/* Gives a borrowed block back. */
	void (*release)(void *ctx, const struct pool_ref *r);
	int (*read)(void *ctx, const struct pool_ref *r, uint32_t off,
		    void *dst, uint32_t len);
	int (*write)(void *ctx, const struct pool_ref *r, uint32_t off,
		     const void *src, uint32_t len);
	/* Free blocks the cluster offers elsewhere (for statfs), cached. */
	uint64_t (*remote_free)(void *ctx);
};

/* Installs the ops and starts the helper thread. Call once, early. */
int pool_set_cluster(struct pool *p, const struct pool_cluster_ops *ops,
		     void *ctx);
/* Stops the helper thread (before the ops' context goes away). */
void pool_stop_cluster(struct pool *p);

/*
 * Lending (RLL): the peer service stores other nodes' blocks in our free
 * blocks; its loan table (pool/loans.h) is the authority on who holds
 * which. pool_lend() takes up to n (at most POOL_MAX_LEND) free blocks for
 * owner, cleared, and returns how many it took (0 when none is free) with
 * their indexes in idx[]. pool_unlend() takes back blocks whose loans
 * ended (indexes not lent are skipped).
 */
#define POOL_MAX_LEND 1024u
uint32_t pool_lend(struct pool *p, uint32_t owner, uint32_t n, uint32_t *idx);
void pool_unlend(struct pool *p, const uint32_t *idx, uint32_t n);
/* Address of local block idx (for the peer service; idx < local blocks). */
void *pool_block_addr(struct pool *p, uint32_t idx);
uint32_t pool_local_blocks(const struct pool *p);
/* A provider died: our blocks there are lost (EIO). Returns how many. */
uint32_t pool_provider_dead(struct pool *p, uint32_t node);
/*
 * Pulls up to max borrowed blocks home while free local blocks remain
 * (principle 4). Returns how many moved. The helper thread calls it; tests
 * may call it directly.
 */
uint32_t pool_pull_home(struct pool *p, uint32_t max);

#endif
