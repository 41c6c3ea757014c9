// SPDX-License-Identifier: MIT
/*
 * The CMP principles that move blocks between nodes, on top of pool.c's
 * lists:
 *   2. no free block: the coldest LLL block's content moves to a block
 *      borrowed elsewhere (LRL) and its memory is reused;
 *   4. local blocks freed while LRL is not empty: borrowed blocks come home
 *      (a helper thread, so unlink and truncate never wait on the network);
 *   lending: other nodes' blocks live in our free blocks (RLL);
 *   failures: a dead owner's RLL blocks are freed, our blocks on a dead
 *      provider become lost (EIO).
 * Not here yet: principle 3 (a node that needs memory while it lends moves
 * a lent block on to a third node, keeping an RRL forwarding record), so
 * RRL stays empty, and principle 5's forwarding that builds on it.
 * Network I/O happens without the pool lock; a block in flight is
 * HANDLE_MOVING and every other user of it waits on pool->moved.
 */
#include <errno.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

/* Coldest LLL block nobody is using, marked HANDLE_MOVING; NIL if none. */
static uint32_t pick_victim_locked(struct pool *p)
{
	for (uint32_t b = p->lists[POOL_LLL].tail; b != NIL;
	     b = p->blocks[b].prev) {
		struct handle_loc *loc = &p->handles[p->blocks[b].handle];

		if (loc->state == HANDLE_LOCAL && !loc->pins) {
			loc->state = HANDLE_MOVING;
			return b;
		}
	}
	return NIL;
}

int pool_evict_one(struct pool *p, uint32_t *block)
{
	struct pool_ref ref;
	uint32_t b, h;
	int ret;

	pthread_mutex_lock(&p->lock);
	b = pick_victim_locked(p);
	pthread_mutex_unlock(&p->lock);
	if (b == NIL)
		return -ENOSPC;
	h = p->blocks[b].handle;

	ret = p->cops->borrow(p->cctx, &ref);
	if (!ret) {
		ret = p->cops->write(p->cctx, &ref, 0, pool_addr(p, b),
				     p->block_size);
		if (ret) {
			log_error("pool: moving block %u to node %u block %u: "
				  "%s",
				  b, ref.node, ref.block, strerror(-ret));
			p->cops->release(p->cctx, &ref);
		}
	}

	pthread_mutex_lock(&p->lock);
	if (ret) {
		p->handles[h].state = HANDLE_LOCAL;
	} else {
		pool_list_remove_locked(p, b);
		p->handles[h].state = HANDLE_REMOTE;
		p->handles[h].provider_node = ref.node;
		p->handles[h].remote_block = ref.block;
		p->handles[h].remote_epoch = ref.epoch;
		/* It was the coldest block: the cold end of LRL. */
		pool_lrl_push_locked(p, h, false);
		p->evictions++;
	}
	pthread_cond_broadcast(&p->moved);
	pthread_mutex_unlock(&p->lock);
	/* The writer sees a full pool whatever kept us from moving out. */
	if (ret)
		return -ENOSPC;
	*block = b;
	return 0;
}

/* Brings one borrowed block home. Returns 1 moved, 0 nothing to do. */
static int pull_one(struct pool *p)
{
	struct pool_ref ref;
	uint32_t h, b;
	int ret;

	pthread_mutex_lock(&p->lock);
	/* Keep the free reserve the evictor works for (hysteresis). */
	b = p->lists[POOL_FREE].count > p->high_wm ? p->lists[POOL_FREE].head
						   : NIL;
	/* The hottest borrowed block nobody is using right now. */
	for (h = p->lrl_head; h != NIL && p->handles[h].pins;
	     h = p->handles[h].next)
		;
	if (b == NIL || h == NIL) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	pool_list_remove_locked(p, b);
	pool_lrl_remove_locked(p, h);
	p->handles[h].state = HANDLE_MOVING;
	ref = (struct pool_ref){.node = p->handles[h].provider_node,
				.block = p->handles[h].remote_block,
				.epoch = p->handles[h].remote_epoch};
	pthread_mutex_unlock(&p->lock);

	ret = p->cops->read(p->cctx, &ref, 0, pool_addr(p, b), p->block_size);

	pthread_mutex_lock(&p->lock);
	if (ret) {
		pool_list_push_head_locked(p, POOL_FREE, b);
		p->handles[h].state = HANDLE_REMOTE;
		pool_lrl_push_locked(p, h, false);
	} else {
		p->handles[h].state = HANDLE_LOCAL;
		p->handles[h].local_block = b;
		p->blocks[b].handle = h;
		pool_list_push_head_locked(p, POOL_LLL, b);
		p->blocks[b].clean = 0;
		p->homecomings++;
	}
	pthread_cond_broadcast(&p->moved);
	pthread_mutex_unlock(&p->lock);
	if (ret) {
		log_warn("pool: pulling block %u home from node %u: %s",
			 ref.block, ref.node, strerror(-ret));
		return ret;
	}
	p->cops->release(p->cctx, &ref);
	return 1;
}

uint32_t pool_pull_home(struct pool *p, uint32_t max)
{
	uint32_t n = 0;

	if (!p->cops)
		return 0;
	while (n < max && pull_one(p) == 1)
		n++;
	return n;
}

void pool_kick_helper_locked(struct pool *p)
{
	if (p->helper_running) {
		p->helper_kick = true;
		pthread_cond_signal(&p->helper_wake);
	}
}

/*
 * Evicts ahead of need, like kswapd: while fewer than low_wm blocks are
 * free, the coldest move out until high_wm are, so a streaming writer
 * finds free memory and the network transfer overlaps its copying.
 */
static void refill_free(struct pool *p)
{
	uint32_t b;

	pthread_mutex_lock(&p->lock);
	if (p->lists[POOL_FREE].count >= p->low_wm) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	while (!p->helper_stop && p->lists[POOL_FREE].count < p->high_wm) {
		pthread_mutex_unlock(&p->lock);
		if (pool_evict_one(p, &b))
			return;
		pthread_mutex_lock(&p->lock);
		pool_list_push_head_locked(p, POOL_FREE, b);
	}
	pthread_mutex_unlock(&p->lock);
}

static void *helper_main(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->helper_stop) {
		if (!p->helper_kick) {
			pthread_cond_wait(&p->helper_wake, &p->lock);
			continue;
		}
		p->helper_kick = false;
		pthread_mutex_unlock(&p->lock);
		refill_free(p);
		pool_pull_home(p, UINT32_MAX);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int pool_set_cluster(struct pool *p, const struct pool_cluster_ops *ops,
		     void *ctx)
{
	int ret;

	p->cops = ops;
	p->cctx = ctx;
	p->helper_stop = false;
	ret = -pthread_create(&p->helper, NULL, helper_main, p);
	if (ret) {
		log_error("pool: cannot start the helper thread: %s",
			  strerror(-ret));
		p->cops = NULL;
		return ret;
	}
	p->helper_running = true;
	return 0;
}

void pool_stop_cluster(struct pool *p)
{
	if (!p->helper_running)
		return;
	pthread_mutex_lock(&p->lock);
	p->helper_stop = true;
	pthread_cond_signal(&p->helper_wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->helper, NULL);
	pthread_mutex_lock(&p->lock);
	p->helper_running = false;
	p->cops = NULL;
	pthread_mutex_unlock(&p->lock);
}

uint32_t pool_lend(struct pool *p, uint32_t owner, uint32_t n, uint32_t *idx)
{
	uint64_t dirty[(POOL_MAX_LEND + 63) / 64] = {0};
	uint32_t got = 0;

	n = MIN(n, POOL_MAX_LEND);
	pthread_mutex_lock(&p->lock);
	while (got < n && p->lists[POOL_FREE].head != NIL) {
		uint32_t b = p->lists[POOL_FREE].head;

		pool_list_remove_locked(p, b);
		p->blocks[b].owner_node = owner;
		pool_list_push_head_locked(p, POOL_RLL, b);
		if (!p->blocks[b].clean)
			dirty[got / 64] |= 1ull << (got % 64);
		p->blocks[b].clean = 0;
		idx[got++] = b;
	}
	pthread_mutex_unlock(&p->lock);
	/* RLL now, so nothing else uses them: cleared without the lock */
	for (uint32_t i = 0; i < got; i++)
		if (dirty[i / 64] & (1ull << (i % 64)))
			memset(pool_addr(p, idx[i]), 0, p->block_size);
	return got;
}

void pool_unlend(struct pool *p, const uint32_t *idx, uint32_t n)
{
	bool kick = false;

	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < n; i++) {
		if (idx[i] >= p->local_blocks ||
		    p->blocks[idx[i]].list != POOL_RLL)
			continue;
		pool_list_remove_locked(p, idx[i]);
		pool_list_push_head_locked(p, POOL_FREE, idx[i]);
		kick = true;
	}
	if (kick && p->lists[POOL_LRL].count)
		pool_kick_helper_locked(p);
	pthread_mutex_unlock(&p->lock);
}

void *pool_block_addr(struct pool *p, uint32_t idx)
{
	return idx < p->local_blocks ? pool_addr(p, idx) : NULL;
}

uint32_t pool_provider_dead(struct pool *p, uint32_t node)
{
	uint32_t n = 0, h, next;

	pthread_mutex_lock(&p->lock);
	for (h = p->lrl_head; h != NIL; h = next) {
		next = p->handles[h].next;
		if (p->handles[h].provider_node != node)
			continue;
		pool_lrl_remove_locked(p, h);
		p->handles[h].state = HANDLE_LOST;
		p->lost++;
		n++;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}
