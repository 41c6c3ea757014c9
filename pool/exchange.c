// SPDX-License-Identifier: MIT
/*
 * The exchange policy of exchange.h: heat, the candidates a hot block
 * elsewhere becomes, the choice of the coldest and the hottest block, and
 * the exchange itself (the coldest local block moves out, the hot one comes
 * home into its memory), run by the pool's helper thread on top of the
 * moves of cmp.c.
 */
#include <errno.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

void xchg_size_locked(struct pool *p, uint32_t nblocks)
{
	uint32_t shift = XCHG_MIN_SHIFT;

	/* an epoch is at least eight accesses per block of the node */
	while (shift < 40 && (1ull << shift) < 8ull * nblocks)
		shift++;
	p->xchg.shift = shift;
}

static uint32_t epoch_now(const struct pool *p)
{
	return (uint32_t)(p->xchg.clock >> p->xchg.shift);
}

uint32_t xchg_heat_locked(const struct pool *p, const struct handle_loc *loc)
{
	uint32_t age = epoch_now(p) - loc->heat_epoch;

	return age >= 16 ? 0 : (uint32_t)loc->heat >> age;
}

uint32_t xchg_touch_locked(struct pool *p, struct handle_loc *loc, uint32_t len)
{
	uint64_t add = (uint64_t)XCHG_BLOCK * len / p->block_size;
	uint32_t heat;

	p->xchg.clock++;
	heat = xchg_heat_locked(p, loc) + (uint32_t)MAX(add, XCHG_MIN_ADD);
	heat = MIN(heat, UINT16_MAX);
	loc->heat = (uint16_t)heat;
	loc->heat_epoch = epoch_now(p);
	return heat;
}

void xchg_touch_remote_locked(struct pool *p, uint32_t h, uint32_t len)
{
	struct handle_loc *loc = &p->handles[h];
	uint32_t heat = xchg_touch_locked(p, loc, len);

	if (!p->xchg.on || heat < XCHG_THRESHOLD ||
	    (loc->flags & HF_XCHG_QUEUED) || p->xchg.qcount == XCHG_QUEUE ||
	    p->xchg.clock < p->xchg.quiet_until)
		return;
	loc->flags |= HF_XCHG_QUEUED;
	p->xchg.queue[(p->xchg.qhead + p->xchg.qcount++) % XCHG_QUEUE] = h;
	pool_kick_helper_locked(p);
}

void xchg_came_home_locked(struct pool *p, struct handle_loc *loc)
{
	loc->home_until = epoch_now(p) + XCHG_PROTECT_EPOCHS;
}

bool xchg_protected_locked(const struct pool *p, const struct handle_loc *loc)
{
	return (int32_t)(loc->home_until - epoch_now(p)) > 0;
}

void xchg_done_locked(struct pool *p, struct handle_loc *loc)
{
	loc->home_until = epoch_now(p);
}

/* Blocks looked at per choice, so the lock is short. */
#define SCAN_MAX 4096u

uint32_t xchg_pick_cold_locked(struct pool *p, bool protected_too)
{
	uint32_t fallback = NIL, budget = SCAN_MAX;

	for (uint32_t b = p->lists[POOL_LLL].tail; b != NIL && budget;
	     b = p->blocks[b].prev, budget--) {
		const struct handle_loc *loc = &p->handles[p->blocks[b].handle];

		if (loc->state != HANDLE_LOCAL || loc->pins)
			continue;
		if (!xchg_protected_locked(p, loc))
			return b;
		if (fallback == NIL)
			fallback = b;
	}
	return protected_too ? fallback : NIL;
}

uint32_t xchg_pick_hot_locked(struct pool *p)
{
	uint32_t budget = SCAN_MAX;

	for (uint32_t h = p->lrl_head; h != NIL && budget;
	     h = p->handles[h].next, budget--) {
		const struct handle_loc *loc = &p->handles[h];

		if (loc->state == HANDLE_REMOTE && !loc->pins &&
		    pool_handle_readable_locked(p, h))
			return h;
	}
	return NIL;
}

/* Does hot beat cold by the margin? */
static bool worth_it(uint32_t hot, uint32_t cold)
{
	return hot >= XCHG_THRESHOLD && hot > cold + cold / 2 + XCHG_MARGIN;
}

/*
 * Candidate h against the coldest local block: that block, marked as
 * moving out, or NIL when the exchange is not (or no longer) for now.
 */
static uint32_t judge_locked(struct pool *p, uint32_t h)
{
	struct handle_loc *loc = pool_handle_locked(p, h);
	uint32_t b, hot;

	if (!loc)
		return NIL;
	loc->flags &= (uint8_t)~HF_XCHG_QUEUED;
	/* (pinned or not: a hot block is read all the time) */
	if (!p->xchg.on || loc->state != HANDLE_REMOTE ||
	    !pool_handle_readable_locked(p, h))
		return NIL;
	hot = xchg_heat_locked(p, loc);
	if (hot < XCHG_THRESHOLD)
		return NIL;
	/* free memory above the reserve: principle 4 brings it home */
	if (p->lists[POOL_FREE].count > pool_keep_locked(p)) {
		pool_kick_helper_locked(p);
		return NIL;
	}
	b = xchg_pick_cold_locked(p, false);
	if (b == NIL ||
	    !worth_it(hot,
		      xchg_heat_locked(p, &p->handles[p->blocks[b].handle]))) {
		p->xchg.skipped++;
		/* judged in vain: no new candidate for a while */
		p->xchg.quiet_until = p->xchg.clock + XCHG_QUIET;
		return NIL;
	}
	p->handles[p->blocks[b].handle].state = HANDLE_MOVING;
	return b;
}

/* One candidate: 1 came home, 0 not for now, -1 a move failed. */
static int exchange_one(struct pool *p, uint32_t h)
{
	uint32_t b;
	int ret;

	pthread_mutex_lock(&p->lock);
	b = judge_locked(p, h);
	pthread_mutex_unlock(&p->lock);
	if (b == NIL)
		return 0;
	ret = pool_evict_block(p, b);
	if (ret) {
		/* full everywhere, or a provider failed: all stays put */
		log_debug("pool: exchange of handle %u: %s", h, strerror(-ret));
		return -1;
	}
	return pool_pull_into(p, h, b, true);
}

/* The next queued candidate, 0 when none (lock). */
static uint32_t pop_locked(struct pool *p)
{
	uint32_t h;

	if (!p->xchg.qcount)
		return 0;
	h = p->xchg.queue[p->xchg.qhead];
	p->xchg.qhead = (p->xchg.qhead + 1) % XCHG_QUEUE;
	p->xchg.qcount--;
	return h;
}

uint32_t pool_exchange(struct pool *p)
{
	uint32_t n = 0, h, failed = 0;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		h = p->helper_stop || failed > 2 ? 0 : pop_locked(p);
		pthread_mutex_unlock(&p->lock);
		if (!h)
			break;
		switch (exchange_one(p, h)) {
		case 1:
			n++;
			break;
		case -1:
			failed++;
			break;
		}
	}
	if (n)
		pool_drain_releases(p);
	return n;
}
