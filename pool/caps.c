// SPDX-License-Identifier: MIT
/*
 * What a node may lend and borrow (pool_set_caps()): the cap on lending is
 * kept where the pool says what it would lend (cmp.c, lendable_locked()),
 * the cap on borrowing here, on the borrowing every move out of our data
 * goes through.
 */
#include <errno.h>
#include <stdbool.h>

#include "cmp/util.h"
#include "pool-internal.h"

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
	    p->lists[POOL_LRL].count + p->ncopies + p->borrowing >=
		    p->borrow_max) {
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

int pool_borrow_many_capped(struct pool *p, uint32_t n, struct pool_ref *ref,
			    uint32_t *got)
{
	uint64_t held;
	bool drained = false, pending;
	int ret;

	pthread_mutex_lock(&p->lock);
	held = p->lists[POOL_LRL].count + p->ncopies + p->borrowing;
	/* at our cap with copies' loans: the coldest give theirs back */
	if (p->borrow_max && held + n > p->borrow_max && p->ncopies) {
		pthread_mutex_unlock(&p->lock);
		pool_copies_give_back(p, n);
		pthread_mutex_lock(&p->lock);
		held = p->lists[POOL_LRL].count + p->ncopies + p->borrowing;
	}
	if (p->borrow_max && held + n > p->borrow_max) {
		if (held >= p->borrow_max) {
			p->borrow_capped++;
			pthread_mutex_unlock(&p->lock);
			return -ENOSPC;
		}
		n = (uint32_t)(p->borrow_max - held);
	}
	p->borrowing += n;
	pthread_mutex_unlock(&p->lock);
	for (int round = 0;; round++) {
		*got = 0;
		if (p->cops->borrow_many) {
			ret = p->cops->borrow_many(p->cctx, n, ref, got);
		} else {
			ret = p->cops->borrow(p->cctx, ref);
			*got = !ret;
		}
		/*
		 * Full everywhere, but blocks we freed are still on their
		 * way back (a file removed just before): give them back now
		 * and ask again; then the loans of our coldest copies
		 * (copies.c), a few rounds at most.
		 */
		if (ret != -ENOSPC || round == 3)
			break;
		pthread_mutex_lock(&p->lock);
		pending = p->relq_count || p->ndropped || p->dropped_all;
		pthread_mutex_unlock(&p->lock);
		if (pending && !drained) {
			pool_drain_releases(p);
			drained = true;
			continue;
		}
		if (!pool_copies_give_back(p, n))
			break;
	}
	pthread_mutex_lock(&p->lock);
	p->borrowing -= n;
	pthread_mutex_unlock(&p->lock);
	return ret;
}
