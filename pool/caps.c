// SPDX-License-Identifier: MIT
/*
 * What a node may lend and borrow (pool_set_caps()): the cap on lending is
 * kept where the pool says what it would lend (cmp.c, lendable_locked()),
 * the cap on borrowing here, on the borrowing every move out of our data
 * goes through.
 */
#include <errno.h>

#include "cmp/util.h"
#include "pool-internal.h"

void pool_set_caps(struct pool *p, uint32_t lend_max, uint32_t borrow_max)
{
	pthread_mutex_lock(&p->lock);
	p->lend_max = lend_max;
	p->borrow_max = borrow_max;
	pthread_mutex_unlock(&p->lock);
}

static bool capped_locked(const struct pool *p)
{
	return p->borrow_max && p->rc.copies + p->borrowing >= p->borrow_max;
}

/*
 * One block elsewhere, within our borrow cap (counting borrows under way):
 * -ENOSPC when we borrow as much as we may. What we borrow is our loans,
 * every copy of a block elsewhere one (replica.c), not the blocks on LRL.
 * A block coming home still counts until it is home: wait for it first,
 * or a write that needs room just after a free (which starts a
 * homecoming) would fail for a moment.
 */
int pool_borrow_capped(struct pool *p, const uint32_t *avoid, uint32_t navoid,
		       struct pool_ref *ref)
{
	int ret;

	pthread_mutex_lock(&p->lock);
	while (capped_locked(p) && p->pulling)
		pthread_cond_wait(&p->moved, &p->lock);
	if (capped_locked(p)) {
		p->borrow_capped++;
		pthread_mutex_unlock(&p->lock);
		return -ENOSPC;
	}
	p->borrowing++;
	pthread_mutex_unlock(&p->lock);
	ret = p->cops->borrow(p->cctx, avoid, navoid, ref);
	pthread_mutex_lock(&p->lock);
	p->borrowing--;
	pthread_mutex_unlock(&p->lock);
	return ret;
}
