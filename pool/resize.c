// SPDX-License-Identifier: MIT
/*
 * Resizing this node's contribution while it serves (pool_resize() in
 * include/cmp/pool.h): the one explicit way the number of blocks a node
 * manages changes. The region is reserved for the most the pool may grow
 * to, so growing only locks (faults in) more of it. Shrinking gives back
 * the blocks at its end: a block there that is freed goes to a list of its
 * own (POOL_RETIRED, see pool_list_push_head_locked()) instead of the free
 * list; what is lent there moves on to a third node; our data there moves
 * down into free blocks, which, when none is left, are made as for an
 * allocation (principle 3, then 2); once every block at the end is
 * retired, the pool forgets them and gives their memory back. A shrink
 * that cannot finish puts every retired block back on the free list: the
 * pool keeps its size and serves on.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

void pool_set_rma_blocks(struct pool *p, uint32_t nblocks)
{
	pthread_mutex_lock(&p->lock);
	p->rma_blocks = nblocks;
	pthread_mutex_unlock(&p->lock);
}

static size_t bytes_of(const struct pool *p, uint32_t nblocks)
{
	return (size_t)nblocks << p->block_shift;
}

static int grow(struct pool *p, uint32_t from, uint32_t to)
{
	uint8_t *start = pool_addr(p, from);

	/* (a pool without contents has one block of memory, locked) */
	if (p->lock_memory && !p->no_contents &&
	    mlock(start, bytes_of(p, to - from)) < 0) {
		int err = -errno;

		log_error("pool: cannot lock %zu more bytes to grow to %u "
			  "blocks: %s",
			  bytes_of(p, to - from), to, strerror(-err));
		munlock(start, bytes_of(p, to - from));
		return err;
	}
	pthread_mutex_lock(&p->lock);
	p->limit_blocks = to;
	/* (clean: zeros, never used or given back, see give_back()) */
	for (uint32_t b = to; b-- > from;)
		pool_list_push_head_locked(p, POOL_FREE, b);
	p->local_blocks = to;
	pool_set_watermarks_locked(p);
	xchg_size_locked(p, to);
	/* room at home for borrowed blocks (principle 4) */
	if (p->lists[POOL_LRL].count)
		pool_kick_helper_locked(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* b replaces a in a's place on a's list (LRU order kept). */
static void list_replace_locked(struct pool *p, uint32_t a, uint32_t b)
{
	struct local_block *e = &p->blocks[a], *n = &p->blocks[b];
	struct block_list *l = &p->lists[e->list];

	n->list = e->list;
	n->prev = e->prev;
	n->next = e->next;
	if (e->prev != NIL)
		p->blocks[e->prev].next = b;
	else
		l->head = b;
	if (e->next != NIL)
		p->blocks[e->next].prev = b;
	else
		l->tail = b;
	e->prev = e->next = NIL;
}

/*
 * Moves our data in local block b (at or above the limit) down into free
 * block to (below it). h is b's handle, marked HANDLE_MOVING by the caller
 * (lock held on entry and on return; dropped for the copy).
 */
static void move_down_locked(struct pool *p, uint32_t h, uint32_t b,
			     uint32_t to)
{
	struct handle_loc *loc = &p->handles[h];

	pthread_mutex_unlock(&p->lock);
	memcpy(pool_addr(p, to), pool_addr(p, b), p->block_size);
	pthread_mutex_lock(&p->lock);
	list_replace_locked(p, b, to);
	pool_hc_move_locked(p, b, to);
	p->blocks[to].handle = h;
	p->blocks[to].clean = 0;
	loc->local_block = to;
	loc->state = HANDLE_LOCAL;
	pool_list_push_head_locked(p, POOL_RETIRED, b);
	if (loc->flags & HF_FREE_PENDING) {
		/* freed meanwhile: as pool_free() would have done */
		pool_list_remove_locked(p, to);
		pool_list_push_head_locked(p, POOL_FREE, to);
		pool_handle_put_locked(p, h);
	}
	pthread_cond_broadcast(&p->moved);
}

/* What one step of a shrink did. */
enum step { STEP_DONE, STEP_MOVED, STEP_WAIT };

/*
 * Our data in block b (at or above the limit, on LLL): moved down, or a
 * free block made for it first. STEP_MOVED, STEP_WAIT (in use now), or
 * the -errno of making room.
 */
static int shrink_own(struct pool *p, uint32_t b)
{
	uint32_t h = p->blocks[b].handle, to;
	struct handle_loc *loc = &p->handles[h];
	int ret;

	if (loc->state != HANDLE_LOCAL || loc->pins)
		return STEP_WAIT;
	to = p->lists[POOL_FREE].head;
	if (to != NIL) {
		pool_list_remove_locked(p, to);
		loc->state = HANDLE_MOVING;
		move_down_locked(p, h, b, to);
		return STEP_MOVED;
	}
	/* none free below the limit: as an allocation makes room */
	pthread_mutex_unlock(&p->lock);
	ret = p->cops ? pool_make_room(p, &to) : -ENOSPC;
	pthread_mutex_lock(&p->lock);
	if (ret)
		return ret;
	pool_list_push_head_locked(p, POOL_FREE, to); /* (or retired) */
	return STEP_MOVED;
}

/*
 * One step: the first block at or above the limit that is not retired
 * yet, moved (lock held on entry and on return).
 */
static int shrink_step_locked(struct pool *p, uint32_t from)
{
	int ret;

	for (uint32_t b = p->limit_blocks; b < from; b++) {
		switch (p->blocks[b].list) {
		case POOL_RETIRED:
			continue;
		case POOL_LLL:
			return shrink_own(p, b);
		case POOL_RLL:
			pthread_mutex_unlock(&p->lock);
			ret = pool_move_lent_block(p, b);
			pthread_mutex_lock(&p->lock);
			/* busy now, or its loan ended meanwhile: again */
			if (ret == -EBUSY || ret == -ESTALE)
				return STEP_WAIT;
			return ret ? ret : STEP_MOVED;
		default:
			/* off every list: an allocation or a move holds it */
			return STEP_WAIT;
		}
	}
	return STEP_DONE;
}

static void nap(void)
{
	struct timespec ts = {0, 2000000};

	nanosleep(&ts, NULL);
}

/* Every block at or above the limit retired: 0, or -errno. */
static int retire_all(struct pool *p, uint32_t from, int timeout_ms)
{
	uint64_t end = cmp_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int ret;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		ret = shrink_step_locked(p, from);
		if (ret == STEP_DONE || ret < 0)
			break;
		if (ret == STEP_WAIT) {
			if (cmp_now_ns() > end) {
				ret = -ETIMEDOUT;
				break;
			}
			pthread_mutex_unlock(&p->lock);
			nap();
			pthread_mutex_lock(&p->lock);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return ret < 0 ? ret : 0;
}

/* The shrink failed: every retired block is free again (lock). */
static void undo_shrink_locked(struct pool *p, uint32_t from)
{
	uint32_t b;

	p->limit_blocks = from;
	while ((b = p->lists[POOL_RETIRED].head) != NIL) {
		pool_list_remove_locked(p, b);
		pool_list_push_head_locked(p, POOL_FREE, b);
	}
	if (p->lists[POOL_LRL].count)
		pool_kick_helper_locked(p);
}

/*
 * Gives the memory of blocks [to, from) back to the system; those it gave
 * back read as zeros when the pool grows again (clean).
 */
static void give_back(struct pool *p, uint32_t from, uint32_t to, uint32_t rma)
{
	uint32_t first = MAX(to, rma), zeroed = first;

	if (p->no_contents)
		return;
	if (p->lock_memory)
		munlock(pool_addr(p, to), bytes_of(p, from - to));
	/* registered pages stay (the NIC holds them): they only go unused */
	if (first < from &&
	    madvise(pool_addr(p, first), bytes_of(p, from - first),
		    MADV_DONTNEED) < 0) {
		log_warn("pool: giving back %zu bytes: %s",
			 bytes_of(p, from - first), strerror(errno));
		zeroed = from;
	}
	pthread_mutex_lock(&p->lock);
	for (uint32_t b = zeroed; b < from; b++)
		p->blocks[b].clean = 1;
	pthread_mutex_unlock(&p->lock);
	if (first > to)
		log_info("pool: %u blocks registered for one-sided access "
			 "keep their memory until the node stops",
			 first - to);
}

static int shrink(struct pool *p, uint32_t from, uint32_t to, int timeout_ms)
{
	uint32_t b, rma;
	int ret;

	pthread_mutex_lock(&p->lock);
	p->limit_blocks = to;
	for (b = to; b < from; b++) {
		if (p->blocks[b].list != POOL_FREE)
			continue;
		pool_list_remove_locked(p, b);
		pool_list_push_head_locked(p, POOL_RETIRED, b);
	}
	pthread_mutex_unlock(&p->lock);

	ret = retire_all(p, from, timeout_ms);

	pthread_mutex_lock(&p->lock);
	if (ret) {
		undo_shrink_locked(p, from);
		pthread_mutex_unlock(&p->lock);
		return ret;
	}
	while ((b = p->lists[POOL_RETIRED].head) != NIL)
		pool_list_remove_locked(p, b);
	p->local_blocks = to;
	pool_set_watermarks_locked(p);
	xchg_size_locked(p, to);
	rma = p->rma_blocks;
	pthread_mutex_unlock(&p->lock);
	give_back(p, from, to, rma);
	return 0;
}

int pool_resize(struct pool *p, uint32_t nblocks, int timeout_ms)
{
	uint32_t from;
	int ret;

	if (!nblocks || nblocks > p->max_blocks)
		return -EINVAL;
	if (pthread_mutex_trylock(&p->resize_lock))
		return -EBUSY;
	pthread_mutex_lock(&p->lock);
	from = p->local_blocks;
	pthread_mutex_unlock(&p->lock);
	if (nblocks > from)
		ret = grow(p, from, nblocks);
	else if (nblocks < from)
		ret = shrink(p, from, nblocks, timeout_ms);
	else
		ret = 0;
	pthread_mutex_unlock(&p->resize_lock);
	if (!ret && nblocks != from)
		log_info("pool: %s from %u to %u blocks of %u KiB",
			 nblocks > from ? "grew" : "shrank", from, nblocks,
			 p->block_size >> 10);
	return ret;
}
