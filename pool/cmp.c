// SPDX-License-Identifier: MIT
/*
 * The CMP principles that move blocks between nodes, on top of pool.c's
 * lists:
 *   3. no free block while we lend: a lent block (RLL) moves on to a third
 *      node (the cluster ops copy it and hand it to its owner there,
 *      leaving an RRL forwarding record) and its memory is ours again;
 *   2. no free block and nothing lent can move: the coldest LLL block's
 *      content moves to a block borrowed elsewhere (LRL) and its memory
 *      is reused;
 *   4. local blocks freed while LRL is not empty: borrowed blocks come home
 *      (a helper thread, so unlink and truncate never wait on the network),
 *      skipping unreachable providers and never stuck on one block;
 *   lending: other nodes' blocks live in our free blocks (RLL), never
 *      while we borrow ourselves, and never the reserve the evictor keeps
 *      while we use memory ourselves.
 * Which block goes out and which comes home is the exchange policy's
 * choice (exchange.c), which also brings hot blocks home in place of cold
 * ones (figure 8) on the helper thread. Losses, releases, reconciliation
 * of our blocks elsewhere, and following a block its provider moved on
 * (principle 5) are in lrl.c.
 * Network I/O happens without the pool lock; a block in flight is
 * HANDLE_MOVING and its readers and writers wait on pool->moved (a free
 * does not wait: the mover finishes it). A block moving out is on LRL with
 * its new loan from the moment the loan exists, so that a reconciliation
 * with that provider claims it.
 */
#include <errno.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

/*
 * Coldest LLL block nobody is using (the exchange policy's choice, a block
 * that came home lately only if nothing else can go), marked
 * HANDLE_MOVING; NIL if none.
 */
static uint32_t pick_victim_locked(struct pool *p)
{
	uint32_t b = xchg_pick_cold_locked(p, true);

	if (b != NIL)
		p->handles[p->blocks[b].handle].state = HANDLE_MOVING;
	return b;
}

/*
 * The end of moving h out of local block b (ret: the copies' result). On
 * success (a copy has the block) h is REMOTE and b is the caller's. The
 * loans not needed after all (the copy failed, the copies were lost
 * meanwhile, the handle was freed meanwhile) are given back; a handle
 * freed meanwhile leaves b free for the caller too.
 */
int pool_finish_evict_locked(struct pool *p, uint32_t h, uint32_t b, int ret)
{
	struct handle_loc *loc = &p->handles[h];

	if (!ret && pool_wp_live_copies_locked(p, h) &&
	    !(loc->flags & HF_FREE_PENDING)) {
		pool_list_remove_locked(p, b);
		loc->state = HANDLE_REMOTE;
		pool_unread_gone_locked(p, loc);
		p->evictions++;
		if (pool_wp_compute_copies_locked(p, h) < p->replicas)
			pool_kick_rebuild_locked(p);
		return 0;
	}
	pool_copies_give_back_locked(p, h);
	if (loc->flags & HF_FREE_PENDING) {
		pool_list_remove_locked(p, b);
		pool_handle_put_locked(p, h);
		return 0;
	}
	loc->state = HANDLE_LOCAL;
	/* full everywhere, or a provider failed us (the data stays here) */
	return ret == -ENOSPC ? -ENOSPC : -EIO;
}

/* Are loans waiting to be given back (they may be what a provider lacks)? */
static bool releases_pending(struct pool *p)
{
	bool pending;

	pthread_mutex_lock(&p->lock);
	pending = p->relq_count || p->ndropped || p->dropped_all;
	pthread_mutex_unlock(&p->lock);
	return pending;
}

/*
 * One block elsewhere, on none of the nodes of avoid[]. Full everywhere,
 * but blocks we freed are still on their way back (a file removed just
 * before): give them back now and ask again.
 */
static int borrow(struct pool *p, const uint32_t *avoid, uint32_t navoid,
		  struct pool_ref *ref)
{
	int ret = pool_borrow_capped(p, avoid, navoid, ref);

	if (ret == -ENOSPC && releases_pending(p)) {
		pool_drain_releases(p);
		ret = pool_borrow_capped(p, avoid, navoid, ref);
	}
	/* full of our clean copies' loans: the coldest give theirs back */
	if (ret == -ENOSPC && pool_hc_give_back(p, POOL_BATCH))
		ret = pool_borrow_capped(p, avoid, navoid, ref);
	return ret;
}

/*
 * The loans for moving h out, one per copy, each on a node of its own;
 * recorded as they come (so a reconciliation claims them). Fewer than
 * replicas when the cluster has no room for more: the rebuilder makes
 * the others once it has. 0, or the first borrow's -errno.
 */
static int borrow_copies(struct pool *p, uint32_t h)
{
	uint32_t avoid[POOL_MAX_REPLICAS], n = 0;
	struct pool_ref ref;
	int ret = 0;

	for (uint32_t k = 0; k < p->replicas; k++) {
		ret = borrow(p, avoid, n, &ref);
		if (ret)
			break;
		pthread_mutex_lock(&p->lock);
		pool_copy_add_locked(p, h, &ref);
		pthread_mutex_unlock(&p->lock);
		if (p->cops->borrowed)
			p->cops->borrowed(p->cctx, &ref);
		avoid[n++] = ref.node;
	}
	if (n && n < p->replicas)
		log_warn_rl("pool: room for %u of %u copies of a block moving "
			    "out (%s); the others are made once there is room",
			    n, p->replicas, strerror(-ret));
	return n ? 0 : ret;
}

/* Borrows the copies for moving h out of local block b and writes them. */
static int move_out(struct pool *p, uint32_t h, uint32_t b)
{
	int ret = borrow_copies(p, h);

	if (ret)
		return ret;
	/* a write policy's memserver copy, written with the others */
	pool_wp_borrow(p, h);
	/* (a new provider may move it on at once: then it follows) */
	ret = pool_copies_write(p, h, 0, pool_addr(p, b), p->block_size);
	if (ret)
		log_error_rl("pool: moving block %u out: %s", b,
			     strerror(-ret));
	return ret ? -EIO : 0;
}

int pool_evict_block(struct pool *p, uint32_t b)
{
	uint32_t h = p->blocks[b].handle;
	int ret;

	/* a clean copy goes to its kept loan: its changes, if any */
	if (pool_hc_evict(p, h, b))
		return 0;

	/*
	 * A provider that fails the copy is suspect from then on: the second
	 * attempt borrows elsewhere.
	 */
	for (int attempt = 0; attempt < 2; attempt++) {
		ret = move_out(p, h, b);
		if (!ret || ret == -ENOSPC || attempt)
			break;
		pthread_mutex_lock(&p->lock);
		/* (not when borrowing itself failed, or the file let go) */
		if (!p->handles[h].ncopies ||
		    (p->handles[h].flags & HF_FREE_PENDING)) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		pool_copies_give_back_locked(p, h);
		pthread_mutex_unlock(&p->lock);
	}

	pthread_mutex_lock(&p->lock);
	ret = pool_finish_evict_locked(p, h, b, ret);
	pthread_cond_broadcast(&p->moved);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int pool_evict_one(struct pool *p, uint32_t *block)
{
	uint32_t b;
	int ret;

	pthread_mutex_lock(&p->lock);
	b = pick_victim_locked(p);
	pthread_mutex_unlock(&p->lock);
	if (b == NIL)
		return -ENOSPC;
	ret = pool_evict_block(p, b);
	if (ret)
		return ret;
	*block = b;
	return 0;
}

/* Lent blocks tried, one after the other, before evicting our own data. */
#define RECLAIM_TRIES 4

/* A free block that appeared meanwhile (a loan ended), or NIL (lock). */
static uint32_t take_free_locked(struct pool *p)
{
	uint32_t b = p->lists[POOL_FREE].head;

	if (b != NIL)
		pool_list_remove_locked(p, b);
	return b;
}

/*
 * The oldest loan, moved to the young end so that the next try takes
 * another one; NIL when we lend nothing (lock).
 */
static uint32_t pick_lent_locked(struct pool *p)
{
	uint32_t b = p->lists[POOL_RLL].tail;

	if (b != NIL) {
		pool_list_remove_locked(p, b);
		pool_list_push_head_locked(p, POOL_RLL, b);
	}
	return b;
}

/*
 * Principle 3: a lent block moves on to a third node and its memory is
 * ours again. -ENOSPC when nothing we lend can move (or we lend nothing).
 * any_free: a block freed meanwhile will do (an allocation; the evictor
 * that works ahead wants one more free block, not one it has already).
 */
static int reclaim_lent(struct pool *p, uint32_t *block, bool any_free)
{
	int ret = -ENOSPC;
	uint32_t b;

	for (int i = 0; i < RECLAIM_TRIES; i++) {
		pthread_mutex_lock(&p->lock);
		b = any_free ? take_free_locked(p) : NIL;
		if (b != NIL) {
			pthread_mutex_unlock(&p->lock);
			*block = b;
			return 0;
		}
		b = pick_lent_locked(p);
		pthread_mutex_unlock(&p->lock);
		if (b == NIL)
			return -ENOSPC;
		ret = p->cops->move_lent(p->cctx, b);
		if (ret == 0) {
			pthread_mutex_lock(&p->lock);
			/* the loan table gave it to us: nobody unlends it */
			if (p->blocks[b].list == POOL_RLL)
				pool_list_remove_locked(p, b);
			p->lent_moved++;
			pthread_mutex_unlock(&p->lock);
			*block = b;
			return 0;
		}
		if (ret == -ENOSPC)
			break;
	}
	return ret;
}

static int make_room(struct pool *p, uint32_t *block, bool any_free)
{
	int lent = -ENOSPC, own;
	bool lends;

	pthread_mutex_lock(&p->lock);
	lends = p->lists[POOL_RLL].count > 0;
	pthread_mutex_unlock(&p->lock);
	if (lends && p->cops->move_lent) {
		lent = reclaim_lent(p, block, any_free);
		if (!lent)
			return 0;
	}
	/* only when nothing we lend could move: our own coldest data */
	own = pool_evict_one(p, block);
	if (!own)
		return 0;
	/* a full cluster only when neither found room anywhere */
	return own == -EIO || lent == -EIO ? -EIO : -ENOSPC;
}

int pool_make_room(struct pool *p, uint32_t *block)
{
	return make_room(p, block, true);
}

/*
 * The end of bringing h home into local block b (ret: the read's result).
 * Every copy is given back once its data is home (a clean copy keeps its
 * loan, below); a block whose every copy its providers lost is lost; any
 * other failure leaves it where it was, at the cold end, so the next
 * homecoming tries another block first.
 */
bool pool_finish_pull_locked(struct pool *p, uint32_t h, uint32_t b, int ret,
			     bool prefetch)
{
	struct handle_loc *loc = &p->handles[h];
	bool keep = prefetch || p->hash_compare;

	/*
	 * keep (a prefetch, or any homecoming with hash compare: hashcmp.c):
	 * a clean copy keeps its one loan (slot 0), only with one
	 * copy per block: a replicated block comes home as any other (every
	 * copy given back; the rebuilder and the loss accounting never see
	 * a LOCAL block with copies). A loan lost meanwhile is no way out:
	 * the data is home for good.
	 */
	keep = keep && p->slots == 1 && loc->ncopies == 1 &&
	       pool_slot(p, h, 0)->node;
	if (!ret || (loc->flags & HF_FREE_PENDING)) {
		if (keep && !ret && !(loc->flags & HF_FREE_PENDING))
			pool_lrl_remove_locked(p, h);
		else
			pool_copies_give_back_locked(p, h);
	}
	if (!ret && !(loc->flags & HF_FREE_PENDING)) {
		loc->state = HANDLE_LOCAL;
		loc->local_block = b;
		loc->flags = 0;
		if (keep) {
			loc->flags = HF_COPY;
			p->nclean++;
			pool_hc_keep_locked(p, b, prefetch);
		}
		if (keep && prefetch) {
			loc->flags |= HF_UNREAD;
			p->nunread++;
		}
		p->blocks[b].handle = h;
		pool_list_push_head_locked(p, POOL_LLL, b);
		p->blocks[b].clean = 0;
		/* (a prefetched copy counts as prefetched when it lands) */
		if (!keep || !prefetch) {
			p->homecomings++;
			xchg_came_home_locked(p, loc);
		}
		return true;
	}
	pool_list_push_head_locked(p, POOL_FREE, b);
	if (loc->flags & HF_FREE_PENDING) {
		pool_handle_put_locked(p, h);
	} else if (!pool_wp_live_copies_locked(p, h)) {
		pool_lose_locked(p, h);
	} else {
		loc->state = HANDLE_REMOTE;
		pool_lrl_remove_locked(p, h);
		pool_lrl_push_locked(p, h, false);
	}
	return false;
}

/*
 * pool_pull_into(); counted: pull_one() counted it in p->pulling already
 * (when it took b off the free list), so that a capped borrow waits for
 * it from then on (caps.c).
 */
static int pull_into(struct pool *p, uint32_t h, uint32_t b, bool counted,
		     bool exchange)
{
	struct handle_loc *loc;
	int ret;

	pthread_mutex_lock(&p->lock);
	if (!counted)
		p->pulling++;
	loc = pool_handle_locked(p, h);
	if (!loc || loc->state != HANDLE_REMOTE ||
	    !pool_handle_readable_locked(p, h)) {
		/* it changed meanwhile: the block is free memory again */
		pool_list_push_head_locked(p, POOL_FREE, b);
		p->pulling--;
		pthread_cond_broadcast(&p->moved);
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	/*
	 * A hot block is read all the time: new accesses wait for the move,
	 * those under way finish first (the last unpin wakes us).
	 */
	loc->state = HANDLE_MOVING;
	while (loc->pins)
		pthread_cond_wait(&p->moved, &p->lock);
	pthread_mutex_unlock(&p->lock);

	/* from its cheapest copy, the others if that fails */
	ret = pool_copies_read(p, h, 0, pool_addr(p, b), p->block_size);
	if (!ret)
		pool_hc_hash(p, b);

	pthread_mutex_lock(&p->lock);
	p->pulling--;
	/* (counted as it lands: whoever sees it home sees it counted) */
	if (pool_finish_pull_locked(p, h, b, ret, false) && exchange)
		p->xchg.exchanges++;
	pthread_cond_broadcast(&p->moved);
	pthread_mutex_unlock(&p->lock);
	if (ret) {
		log_warn_rl("pool: pulling a block home into block %u: %s", b,
			    strerror(-ret));
		return -1;
	}
	return 1;
}

int pool_pull_into(struct pool *p, uint32_t h, uint32_t b, bool exchange)
{
	return pull_into(p, h, b, false, exchange);
}

/* Brings one borrowed block home: 1 moved, 0 nothing to do, -1 failed. */
static int pull_one(struct pool *p)
{
	uint32_t h, b;

	pthread_mutex_lock(&p->lock);
	/* Keep the free reserve the evictor works for (hysteresis). */
	b = p->lists[POOL_FREE].count > pool_keep_locked(p)
		    ? p->lists[POOL_FREE].head
		    : NIL;
	/* the most recently used, as the exchange policy picks it */
	h = b == NIL ? NIL : xchg_pick_hot_locked(p);
	if (h == NIL) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	pool_list_remove_locked(p, b);
	p->pulling++;
	pthread_mutex_unlock(&p->lock);
	return pull_into(p, h, b, true, false);
}

/* Failed homecomings in a row after which a pass gives up for now. */
#define PULL_MAX_FAILURES 8u

uint32_t pool_pull_home(struct pool *p, uint32_t max)
{
	uint32_t n = 0, failed = 0;
	int ret;

	if (!p->cops)
		return 0;
	/* memory to spare: the copies need no way out (their loans go) */
	pool_settle_copies(p);
	while (n < max && failed < PULL_MAX_FAILURES &&
	       (ret = pull_one(p)) != 0) {
		if (ret > 0) {
			n++;
			failed = 0;
		} else {
			failed++;
		}
	}
	pool_drain_releases(p);
	return n;
}

void pool_kick_helper_locked(struct pool *p)
{
	if (p->helper_running || p->helper_stepped) {
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
	uint32_t b, want;
	bool lends;

	pthread_mutex_lock(&p->lock);
	if (p->lists[POOL_FREE].count >= pool_low_locked(p)) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	while (!p->helper_stop &&
	       p->lists[POOL_FREE].count < pool_high_locked(p)) {
		want = pool_high_locked(p) -
		       (uint32_t)p->lists[POOL_FREE].count;
		lends = p->lists[POOL_RLL].count && p->cops->move_lent;
		pthread_mutex_unlock(&p->lock);
		/* principle 3 first, one lent block at a time */
		if (lends) {
			/* (a free block taken and put back would loop) */
			if (make_room(p, &b, false))
				return;
			pthread_mutex_lock(&p->lock);
			pool_list_push_head_locked(p, POOL_FREE, b);
			continue;
		}
		/*
		 * our coldest, several at once (they land on the free list);
		 * ahead of need, never a block that is protected (came home
		 * lately, prefetched and not read yet)
		 */
		if (!pool_evict_batch(p, MIN(want, POOL_BATCH)))
			return;
		pthread_mutex_lock(&p->lock);
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
		/* a reader's next blocks first, then the most recent ones */
		pool_prefetch_run(p);
		pool_pull_home(p, UINT32_MAX); /* and gives loans back */
		pool_exchange(p);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int pool_set_cluster(struct pool *p, const struct pool_cluster_ops *ops,
		     void *ctx)
{
	int ret;

	/* the manager client's thread may count the lists already */
	pthread_mutex_lock(&p->lock);
	p->cops = ops;
	p->cctx = ctx;
	p->helper_stepped = cmp_stepped();
	pthread_mutex_unlock(&p->lock);
	if (p->helper_stepped)
		return 0;
	p->helper_stop = false;
	ret = -pthread_create(&p->helper, NULL, helper_main, p);
	if (ret) {
		log_error("pool: cannot start the helper thread: %s",
			  strerror(-ret));
		pthread_mutex_lock(&p->lock);
		p->cops = NULL;
		pthread_mutex_unlock(&p->lock);
		return ret;
	}
	p->helper_running = true;
	ret = pool_rebuild_start(p);
	if (!ret)
		ret = pool_wp_start(p);
	if (ret)
		pool_stop_cluster(p);
	return ret;
}

void pool_helper_step(struct pool *p)
{
	bool kicked;

	pthread_mutex_lock(&p->lock);
	kicked = p->helper_stepped && p->helper_kick;
	p->helper_kick = false;
	pthread_mutex_unlock(&p->lock);
	if (!kicked)
		return;
	refill_free(p);
	pool_prefetch_run(p);
	pool_pull_home(p, UINT32_MAX);
	pool_exchange(p);
}

void pool_stop_cluster(struct pool *p)
{
	if (p->helper_stepped) {
		pthread_mutex_lock(&p->lock);
		p->helper_stepped = false;
		p->cops = NULL;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	if (!p->helper_running)
		return;
	pool_wp_stop(p);
	pool_rebuild_stop(p);
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

/*
 * Free blocks we would lend now (lock). No loan while in debt (we would
 * only have to move it on again), and, while we use memory ourselves, not
 * the reserve our own allocations are kept in (or our evictor would take
 * it back).
 */
static uint64_t lendable_locked(const struct pool *p)
{
	uint64_t reserve = p->lists[POOL_LLL].count ? pool_keep_locked(p) : 0;
	uint64_t n;

	if (p->no_lending || p->lists[POOL_LRL].count ||
	    p->lists[POOL_FREE].count <= reserve)
		return 0;
	n = p->lists[POOL_FREE].count - reserve;
	/* no more than our lending cap (caps.c) */
	if (p->lend_max)
		n = p->lists[POOL_RLL].count >= p->lend_max
			    ? 0
			    : MIN(n, p->lend_max - p->lists[POOL_RLL].count);
	return n;
}

uint64_t pool_lendable(struct pool *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = lendable_locked(p);
	pthread_mutex_unlock(&p->lock);
	return n;
}

uint32_t pool_lend(struct pool *p, uint32_t owner, uint32_t n, uint32_t *idx)
{
	uint64_t dirty[(POOL_MAX_LEND + 63) / 64] = {0};
	uint32_t got = 0;

	n = MIN(n, POOL_MAX_LEND);
	pthread_mutex_lock(&p->lock);
	/*
	 * memory to spare, lent: the clean copies' loans go back first (a
	 * node never lends while it borrows, and they need no way out)
	 */
	if (p->nclean && lendable_locked(p))
		pool_settle_copies_locked(p);
	n = (uint32_t)MIN(n, lendable_locked(p));
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

void pool_set_lending(struct pool *p, bool lend)
{
	pthread_mutex_lock(&p->lock);
	p->no_lending = !lend;
	pthread_mutex_unlock(&p->lock);
}

bool pool_lending(struct pool *p)
{
	bool lend;

	pthread_mutex_lock(&p->lock);
	lend = !p->no_lending;
	pthread_mutex_unlock(&p->lock);
	return lend;
}

uint32_t pool_lent_blocks(struct pool *p, uint32_t *idx, uint32_t max)
{
	uint32_t n = 0;

	pthread_mutex_lock(&p->lock);
	for (uint32_t b = p->lists[POOL_RLL].tail; b != NIL && n < max;
	     b = p->blocks[b].prev)
		idx[n++] = b;
	pthread_mutex_unlock(&p->lock);
	return n;
}

int pool_move_lent_block(struct pool *p, uint32_t idx)
{
	bool lent;
	int ret;

	pthread_mutex_lock(&p->lock);
	lent = idx < p->local_blocks && p->blocks[idx].list == POOL_RLL;
	pthread_mutex_unlock(&p->lock);
	if (!lent || !p->cops || !p->cops->move_lent)
		return lent ? -EOPNOTSUPP : 0;
	ret = p->cops->move_lent(p->cctx, idx);
	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	/* the loan table gave it to us: nobody unlends it */
	if (p->blocks[idx].list == POOL_RLL) {
		pool_list_remove_locked(p, idx);
		pool_list_push_head_locked(p, POOL_FREE, idx);
	}
	p->lent_moved++;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void *pool_block_addr(struct pool *p, uint32_t idx)
{
	/* (the whole region is mapped: no lock for a bound that changes) */
	return idx < p->max_blocks ? pool_addr(p, idx) : NULL;
}
