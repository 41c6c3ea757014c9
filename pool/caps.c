// SPDX-License-Identifier: MIT
/*
 * What a node may lend and borrow (pool_set_caps()): how many blocks
 * pool_lend() gives, which is also what the manager is offered, and the
 * borrowing every move out of our data goes through.
 */
#include <errno.h>

#include "cmp/util.h"
#include "pool-internal.h"

uint32_t pool_lendable_locked(const struct pool *p)
{
	uint64_t reserve = p->lists[POOL_LLL].count ? p->high_wm : 0;
	uint64_t n;

	/*
	 * No loan while in debt (we would only have to move it on again),
	 * and, while we use memory ourselves, not the reserve our own
	 * allocations are kept in (or our evictor would take it back); no
	 * more than our lending cap.
	 */
	if (p->no_lending || p->lists[POOL_LRL].count ||
	    p->lists[POOL_FREE].count <= reserve)
		return 0;
	n = p->lists[POOL_FREE].count - reserve;
	if (p->lend_max)
		n = p->lists[POOL_RLL].count >= p->lend_max
			    ? 0
			    : MIN(n, p->lend_max - p->lists[POOL_RLL].count);
	return (uint32_t)n;
}

uint32_t pool_lendable(struct pool *p)
{
	uint32_t n;

	pthread_mutex_lock(&p->lock);
	n = pool_lendable_locked(p);
	pthread_mutex_unlock(&p->lock);
	return n;
}

void pool_set_caps(struct pool *p, uint32_t lend_max, uint32_t borrow_max)
{
	pthread_mutex_lock(&p->lock);
	p->lend_max = lend_max;
	p->borrow_max = borrow_max;
	pthread_mutex_unlock(&p->lock);
}

/*
 * One block elsewhere, within our borrow cap (counting borrows under way):
 * -ENOSPC when we borrow as much as we may.
 */
int pool_borrow_capped(struct pool *p, struct pool_ref *ref)
{
	int ret;

	pthread_mutex_lock(&p->lock);
	if (p->borrow_max &&
	    p->lists[POOL_LRL].count + p->borrowing >= p->borrow_max) {
		p->borrow_capped++;
		pthread_mutex_unlock(&p->lock);
		return -ENOSPC;
	}
	p->borrowing++;
	pthread_mutex_unlock(&p->lock);
	ret = p->cops->borrow(p->cctx, ref);
	pthread_mutex_lock(&p->lock);
	p->borrowing--;
	pthread_mutex_unlock(&p->lock);
	return ret;
}
