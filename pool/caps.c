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

int pool_borrow_many_capped(struct pool *p, uint32_t n, struct pool_ref *ref,
			    uint32_t *got)
{
	uint64_t held;
	bool drained = false, pending;
	int ret;

	pthread_mutex_lock(&p->lock);
	/* (a clean copy's loan is one of rc.copies: counted once) */
	while (capped_locked(p) && p->pulling)
		pthread_cond_wait(&p->moved, &p->lock);
	held = p->rc.copies + p->borrowing;
	/* at our cap with clean copies' loans: the coldest give theirs back */
	if (p->borrow_max && held + n > p->borrow_max && p->nclean) {
		pthread_mutex_unlock(&p->lock);
		pool_hc_give_back(p, n);
		pthread_mutex_lock(&p->lock);
		held = p->rc.copies + p->borrowing;
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
			ret = p->cops->borrow(p->cctx, NULL, 0, ref);
			*got = !ret;
		}
		/*
		 * Full everywhere, but blocks we freed are still on their
		 * way back (a file removed just before): give them back now
		 * and ask again; then the loans of our coldest clean copies
		 * (hashcmp.c), a few rounds at most.
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
		if (!pool_hc_give_back(p, n))
			break;
	}
	pthread_mutex_lock(&p->lock);
	p->borrowing -= n;
	pthread_mutex_unlock(&p->lock);
	return ret;
}
