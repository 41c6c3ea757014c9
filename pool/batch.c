// SPDX-License-Identifier: MIT
/*
 * Moving several blocks at once. The evictor that works ahead of a
 * streaming writer (cmp.c, refill_free()) moves the coldest LLL blocks out
 * in batches: one ALLOC borrows a block for each, and their writes are in
 * flight together (the ops' write_many: the pieces of several blocks over
 * the provider's connections at once), instead of one borrow and one
 * block's round trips after the other. The prefetch (prefetch.c) reads its
 * batches the same way. What a batch cannot do at once is done alone, as
 * the single moves of cmp.c do it: a failed copy tries another provider,
 * a block that moved on is followed. With more than one copy per block
 * (-o replicas) the evictor's batches are cmp.c's single moves, one
 * after the other (every copy must be written before a block counts as
 * moved out); the prefetch reads its batches from each block's cheapest
 * reachable copy.
 */
#include <errno.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

/* Whole blocks run by run (one node each), then alone what is left. */
void pool_move_blocks(struct pool *p, bool write, const uint32_t *h,
		      struct pool_ref *ref, const uint32_t *b, uint32_t n,
		      int *ret)
{
	void *buf[POOL_BATCH];
	bool many = write ? !!p->cops->write_many : !!p->cops->read_many;

	for (uint32_t i = 0; i < n; i++) {
		buf[i] = pool_addr(p, b[i]);
		ret[i] = -EAGAIN;
	}
	for (uint32_t i = 0, j; many && i < n; i = j) {
		for (j = i + 1; j < n && ref[j].node == ref[i].node; j++)
			;
		if (!ref[i].node) /* no copy in reach: alone, below */
			continue;
		if (write)
			p->cops->write_many(p->cctx, ref + i, j - i, 0, buf + i,
					    p->block_size, ret + i);
		else
			p->cops->read_many(p->cctx, ref + i, j - i, 0, buf + i,
					   p->block_size, ret + i);
	}
	/*
	 * Alone: a write to the one loan of copy slot 0 (batched evictions
	 * are made with one copy per block only); a read from the cheapest
	 * copy that answers (replica.c), the others in turn.
	 */
	for (uint32_t i = 0; i < n; i++) {
		if (!ret[i])
			continue;
		if (write)
			ret[i] = pool_remote_io(p, h[i], 0, &ref[i], 0, buf[i],
						p->block_size, true);
		else
			ret[i] = pool_copies_read(p, h[i], 0, buf[i],
						  p->block_size);
	}
}

/*
 * One victim more (marked moving; never a block the exchange policy
 * protects), or NIL; a clean copy goes to *copy.
 */
static uint32_t pick_locked(struct pool *p, uint32_t *copy)
{
	uint32_t b = xchg_pick_cold_locked(p, false);
	struct handle_loc *loc;

	*copy = NIL;
	if (b == NIL)
		return NIL;
	loc = &p->handles[p->blocks[b].handle];
	loc->state = HANDLE_MOVING;
	if (loc->flags & HF_COPY) {
		*copy = b;
		return NIL;
	}
	return b;
}

/* Clean copies go for nothing (pool_evict_block()): freed blocks. */
static uint32_t drop_copies(struct pool *p, const uint32_t *cp, uint32_t n)
{
	uint32_t freed = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (pool_evict_block(p, cp[i]))
			continue;
		pthread_mutex_lock(&p->lock);
		pool_list_push_head_locked(p, POOL_FREE, cp[i]);
		pthread_mutex_unlock(&p->lock);
		freed++;
	}
	return freed;
}

/*
 * A block of the batch whose copy failed: given back its loan and moved
 * out alone, which borrows elsewhere (the provider that failed is suspect
 * now). 0 and b is ours, or the data stays in b.
 */
static int evict_alone(struct pool *p, uint32_t h, uint32_t b,
		       const struct pool_ref *ref, int ret)
{
	struct handle_loc *loc = &p->handles[h];

	log_error_rl("pool: moving block %u to node %u block %u: %s", b,
		     ref->node, ref->block, strerror(-ret));
	pthread_mutex_lock(&p->lock);
	if (loc->flags & HF_FREE_PENDING) {
		ret = pool_finish_evict_locked(p, h, b, ret);
		pthread_mutex_unlock(&p->lock);
		return ret;
	}
	pool_copies_give_back_locked(p, h);
	pthread_mutex_unlock(&p->lock);
	return pool_evict_block(p, b);
}

/* The batch with replicas > 1: up to want blocks, each as cmp.c moves it. */
static uint32_t evict_one_by_one(struct pool *p, uint32_t want)
{
	uint32_t freed = 0, b;
	int ret;

	while (freed < MIN(want, POOL_BATCH)) {
		pthread_mutex_lock(&p->lock);
		b = xchg_pick_cold_locked(p, false);
		if (b == NIL) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		p->handles[p->blocks[b].handle].state = HANDLE_MOVING;
		p->evicting++;
		pthread_mutex_unlock(&p->lock);
		ret = pool_evict_block(p, b);
		pthread_mutex_lock(&p->lock);
		if (!ret) {
			pool_list_push_head_locked(p, POOL_FREE, b);
			freed++;
		}
		p->evicting--;
		pthread_cond_broadcast(&p->moved);
		pthread_mutex_unlock(&p->lock);
		if (ret)
			break;
	}
	return freed;
}

uint32_t pool_evict_batch(struct pool *p, uint32_t want)
{
	uint32_t h[POOL_BATCH], b[POOL_BATCH], cp[POOL_BATCH];
	uint32_t n = 0, ncp = 0, got = 0, freed, v, c;
	struct pool_ref ref[POOL_BATCH];
	int ret[POOL_BATCH], err;

	/*
	 * Every copy of a block must be written before it counts as moved
	 * out: with more than one copy per block (-o replicas, or a memserver
	 * copy of -o writepolicy: p->slots > 1) the batch is the one-block path
	 * (cmp.c: a borrow on a node of its own and a write for each copy), one
	 * block after the other.
	 */
	if (p->slots > 1)
		return evict_one_by_one(p, want);
	pthread_mutex_lock(&p->lock);
	while (n + ncp < MIN(want, POOL_BATCH)) {
		v = pick_locked(p, &c);
		if (c != NIL)
			cp[ncp++] = c;
		else if (v == NIL)
			break;
		else
			b[n++] = v;
	}
	for (uint32_t i = 0; i < n; i++)
		h[i] = p->blocks[b[i]].handle;
	p->evicting += n;
	pthread_mutex_unlock(&p->lock);
	freed = drop_copies(p, cp, ncp);
	if (!n)
		return freed;

	err = pool_borrow_many_capped(p, n, ref, &got);
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < got; i++)
		pool_copy_add_locked(p, h[i], &ref[i]);
	pthread_mutex_unlock(&p->lock);
	for (uint32_t i = 0; p->cops->borrowed && i < got; i++)
		p->cops->borrowed(p->cctx, &ref[i]);
	pool_move_blocks(p, true, h, ref, b, got, ret);
	for (uint32_t i = got; i < n; i++)
		ret[i] = err ? err : -ENOSPC;

	for (uint32_t i = 0; i < n; i++) {
		int r;

		if (i < got && ret[i]) {
			r = evict_alone(p, h[i], b[i], &ref[i], ret[i]);
			pthread_mutex_lock(&p->lock);
		} else {
			pthread_mutex_lock(&p->lock);
			r = pool_finish_evict_locked(p, h[i], b[i], ret[i]);
		}
		if (!r) {
			pool_list_push_head_locked(p, POOL_FREE, b[i]);
			freed++;
		}
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_lock(&p->lock);
	p->evicting -= n;
	pthread_cond_broadcast(&p->moved);
	pthread_mutex_unlock(&p->lock);
	return freed;
}
