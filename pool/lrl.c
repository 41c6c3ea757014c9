// SPDX-License-Identifier: MIT
/*
 * Our blocks elsewhere (LRL) beyond the list itself: giving loans back
 * without making anyone wait (a ring of loans the helper thread sends as
 * batched releases, one per node), losing blocks (a provider that left,
 * restarted or no longer holds a loan), the loans a reconciliation with a
 * provider claims, and which providers are unreachable now. A provider's
 * word is the only thing that makes a block lost; an unreachable one only
 * makes its blocks fail checks until it is back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

int pool_lrl_init(struct pool *p)
{
	p->relq = calloc(POOL_RELEASE_QUEUE, sizeof(*p->relq));
	p->drain_buf = calloc(POOL_RELEASE_BATCH, sizeof(*p->drain_buf));
	if (!p->relq || !p->drain_buf || pool_copies_init(p)) {
		free(p->relq);
		free(p->drain_buf);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->drain_lock, NULL);
	return 0;
}

void pool_lrl_finish(struct pool *p)
{
	pthread_mutex_destroy(&p->drain_lock);
	pool_copies_finish(p);
	free(p->relq);
	free(p->drain_buf);
}

/* A release to node was dropped: the drain asks for a reconciliation. */
static void note_dropped_locked(struct pool *p, uint32_t node)
{
	for (uint32_t i = 0; i < p->ndropped; i++)
		if (p->dropped[i] == node)
			return;
	if (p->ndropped < POOL_MAX_DROPPED)
		p->dropped[p->ndropped++] = node;
	else
		p->dropped_all = true;
}

void pool_release_locked(struct pool *p, const struct pool_ref *ref)
{
	/* without a cluster (it said goodbye already) nobody is told */
	if (!p->cops)
		return;
	if (p->relq_count == POOL_RELEASE_QUEUE) {
		note_dropped_locked(p, ref->node);
	} else {
		p->relq[(p->relq_head + p->relq_count) % POOL_RELEASE_QUEUE] =
			*ref;
		p->relq_count++;
	}
	pool_kick_helper_locked(p);
}

static int by_node(const void *a, const void *b)
{
	const struct pool_ref *x = a, *y = b;

	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return x->block < y->block ? -1 : x->block > y->block;
}

/* Takes up to a batch of queued releases and the dropped nodes (lock). */
static uint32_t take_batch_locked(struct pool *p, uint32_t *dropped,
				  uint32_t *ndropped, bool *all)
{
	uint32_t n = MIN(p->relq_count, POOL_RELEASE_BATCH);

	for (uint32_t i = 0; i < n; i++)
		p->drain_buf[i] =
			p->relq[(p->relq_head + i) % POOL_RELEASE_QUEUE];
	p->relq_head = (p->relq_head + n) % POOL_RELEASE_QUEUE;
	p->relq_count -= n;
	*ndropped = p->ndropped;
	memcpy(dropped, p->dropped, p->ndropped * sizeof(*dropped));
	*all = p->dropped_all;
	p->ndropped = 0;
	p->dropped_all = false;
	return n;
}

void pool_drain_releases(struct pool *p)
{
	const struct pool_cluster_ops *ops;
	uint32_t dropped[POOL_MAX_DROPPED], ndropped, n;
	bool all;

	pthread_mutex_lock(&p->drain_lock);
	for (;;) {
		pthread_mutex_lock(&p->lock);
		n = take_batch_locked(p, dropped, &ndropped, &all);
		ops = p->cops;
		pthread_mutex_unlock(&p->lock);
		if (!ops || (!n && !ndropped && !all))
			break;
		qsort(p->drain_buf, n, sizeof(*p->drain_buf), by_node);
		for (uint32_t i = 0, j; i < n; i = j) {
			for (j = i + 1; j < n && p->drain_buf[j].node ==
							 p->drain_buf[i].node;
			     j++)
				;
			ops->release(p->cctx, p->drain_buf + i, j - i);
		}
		for (uint32_t i = 0; ops->reconcile && i < ndropped; i++)
			ops->reconcile(p->cctx, dropped[i]);
		if (ops->reconcile && all)
			ops->reconcile(p->cctx, 0);
	}
	pthread_mutex_unlock(&p->drain_lock);
}

void pool_lose_locked(struct pool *p, uint32_t h)
{
	struct handle_loc *loc = &p->handles[h];

	if (loc->flags & HF_ON_LRL)
		pool_lrl_remove_locked(p, h);
	loc->state = HANDLE_LOST;
	p->lost++;
	p->lost_gen++;
}

/* h's loan is lost: now, or by its mover when it settles. */
static bool lose_or_defer_locked(struct pool *p, uint32_t h)
{
	if (p->handles[h].state == HANDLE_MOVING) {
		p->handles[h].flags |= HF_LOST_PENDING;
		return false;
	}
	pool_lose_locked(p, h);
	return true;
}

/*
 * The handle whose clean copy (prefetch.c) keeps loan r, or 0; node 0:
 * any loan on r->node. Lock held; a scan of LLL, only while copies exist.
 */
static uint32_t find_copy_locked(struct pool *p, const struct pool_ref *r,
				 bool any)
{
	for (uint32_t b = p->lists[POOL_LLL].head; p->ncopies && b != NIL;
	     b = p->blocks[b].next) {
		const struct handle_loc *loc = &p->handles[p->blocks[b].handle];

		if ((loc->flags & HF_COPY) && loc->provider_node == r->node &&
		    (any || (loc->remote_block == r->block &&
			     loc->remote_epoch == r->epoch)))
			return p->blocks[b].handle;
	}
	return 0;
}

uint32_t pool_provider_dead(struct pool *p, uint32_t node)
{
	struct pool_ref any = {.node = node};
	uint32_t n = 0, h, next;

	pthread_mutex_lock(&p->lock);
	/* copies are local data: they only lose their way out */
	while ((h = find_copy_locked(p, &any, true)))
		pool_copy_forget_locked(p, &p->handles[h]);
	for (h = p->lrl_head; h != NIL; h = next) {
		next = p->handles[h].next;
		if (p->handles[h].provider_node == node &&
		    lose_or_defer_locked(p, h))
			n++;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* Handles scanned per call of pool_loans_on(), so the lock is short. */
#define SCAN_PER_CALL 65536u

uint32_t pool_loans_on(struct pool *p, uint32_t node, uint32_t *cursor,
		       struct pool_ref *refs, uint32_t *tags, uint32_t max)
{
	uint32_t got = 0, h = *cursor ? *cursor : 1, end, budget;

	if (*cursor == UINT32_MAX)
		return 0;
	pthread_mutex_lock(&p->lock);
	end = p->next_new_handle;
	for (budget = SCAN_PER_CALL; h < end && got < max && budget;
	     h++, budget--) {
		const struct handle_loc *loc = &p->handles[h];

		/* a clean copy's loan is ours too (prefetch.c) */
		if (!(loc->flags & (HF_ON_LRL | HF_COPY)) ||
		    (node && loc->provider_node != node))
			continue;
		refs[got] = pool_loan_of(loc);
		tags[got++] = h;
	}
	pthread_mutex_unlock(&p->lock);
	*cursor = h >= end ? UINT32_MAX : h;
	return got;
}

uint32_t pool_loans_lost(struct pool *p, const struct pool_ref *refs,
			 const uint32_t *tags, uint32_t n)
{
	uint32_t lost = 0;

	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < n; i++) {
		struct handle_loc *loc = pool_handle_locked(p, tags[i]);

		if (loc && (loc->flags & HF_COPY) &&
		    loc->provider_node == refs[i].node &&
		    loc->remote_block == refs[i].block &&
		    loc->remote_epoch == refs[i].epoch) {
			/* the data is here: only its way out is gone */
			pool_copy_forget_locked(p, loc);
			continue;
		}
		if (!loc || !(loc->flags & HF_ON_LRL) ||
		    loc->provider_node != refs[i].node ||
		    loc->remote_block != refs[i].block ||
		    loc->remote_epoch != refs[i].epoch)
			continue;
		if (lose_or_defer_locked(p, tags[i]))
			lost++;
	}
	pthread_mutex_unlock(&p->lock);
	return lost;
}

/* Does loc hold loan r (on LRL)? */
static bool names_locked(const struct handle_loc *loc, const struct pool_ref *r)
{
	return (loc->flags & HF_ON_LRL) && loc->provider_node == r->node &&
	       loc->remote_block == r->block && loc->remote_epoch == r->epoch;
}

static void set_loan_locked(struct handle_loc *loc, const struct pool_ref *r)
{
	loc->provider_node = r->node;
	loc->remote_block = r->block;
	loc->remote_epoch = r->epoch;
}

/* Moves a block may make while one access follows it, before EIO. */
#define POOL_MAX_HOPS 8u

/*
 * A provider answered that h's loan *ref moved on to *moved. h names the
 * new loan from now on if it still named *ref, and the old provider is
 * told so by a FREE of *ref (its forwarding record then goes); if a
 * notice updated h first, that is the new loan. *ref becomes h's loan.
 * The caller holds h (a pin, or it is moving it), so h is still the
 * block it was. -EIO when h has no loan any more (lost meanwhile).
 */
static int follow_locked(struct pool *p, uint32_t h, struct pool_ref *ref,
			 const struct pool_ref *moved)
{
	struct handle_loc *loc = pool_handle_locked(p, h);

	if (!loc || !(loc->flags & HF_ON_LRL))
		return -EIO;
	if (names_locked(loc, ref)) {
		set_loan_locked(loc, moved);
		p->followed++;
		pool_release_locked(p, ref);
	}
	*ref = pool_loan_of(loc);
	return 0;
}

/*
 * The provider no longer holds *ref (STALE): lost, unless h names another
 * loan by now (a notice moved it while our request was on its way, and
 * the old provider forgot the forwarding record once we confirmed): then
 * *ref becomes that loan and true (ask there).
 */
static bool moved_meanwhile_locked(struct pool *p, uint32_t h,
				   struct pool_ref *ref)
{
	struct handle_loc *loc = pool_handle_locked(p, h);

	if (!loc || !(loc->flags & HF_ON_LRL) || names_locked(loc, ref))
		return false;
	*ref = pool_loan_of(loc);
	return true;
}

int pool_remote_io(struct pool *p, uint32_t h, struct pool_ref *ref,
		   uint32_t off, void *buf, uint32_t len, bool write)
{
	struct pool_ref moved;
	bool again;
	int ret;

	for (uint32_t hops = 0;; hops++) {
		ret = write ? p->cops->write(p->cctx, ref, off, buf, len,
					     &moved)
			    : p->cops->read(p->cctx, ref, off, buf, len,
					    &moved);
		if (ret != -EREMCHG && ret != -ESTALE)
			return ret;
		if (hops == POOL_MAX_HOPS) {
			log_error_rl("pool: block %u on node %u moved on %u "
				     "times during one access; giving up",
				     ref->block, ref->node, hops);
			return -EIO;
		}
		pthread_mutex_lock(&p->lock);
		if (ret == -ESTALE)
			again = moved_meanwhile_locked(p, h, ref);
		else
			again = !follow_locked(p, h, ref, &moved);
		pthread_mutex_unlock(&p->lock);
		if (!again)
			return ret == -ESTALE ? ret : -EIO;
	}
}

/* The handle on LRL that holds loan r, or 0 (lock held; a scan). */
static uint32_t find_loan_locked(struct pool *p, const struct pool_ref *r)
{
	for (uint32_t h = p->lrl_head; h != NIL; h = p->handles[h].next)
		if (names_locked(&p->handles[h], r))
			return h;
	return 0;
}

int pool_loan_moved(struct pool *p, const struct pool_ref *old,
		    const struct pool_ref *new, bool freed)
{
	uint32_t h;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	h = find_loan_locked(p, old);
	if (!h)
		h = find_copy_locked(p, old, false);
	if (h) {
		set_loan_locked(&p->handles[h], new);
		p->followed++;
	} else if (find_loan_locked(p, new) ||
		   find_copy_locked(p, new, false)) {
		/* a MOVED answer told us first (and we confirmed) */
	} else if (freed) {
		/* we let go of old before we heard: new is ours to give back */
		pool_release_locked(p, new);
	} else {
		ret = -ENOENT;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

bool pool_node_suspect_locked(const struct pool *p, uint32_t node)
{
	if (p->suspect_overflow)
		return true;
	for (uint32_t i = 0; i < p->nsuspect; i++)
		if (p->suspect[i] == node)
			return true;
	return false;
}

void pool_set_node_suspect(struct pool *p, uint32_t node, bool suspect)
{
	uint32_t i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->nsuspect && p->suspect[i] != node; i++)
		;
	if (suspect && i == p->nsuspect) {
		if (p->nsuspect < POOL_MAX_SUSPECT)
			p->suspect[p->nsuspect++] = node;
		else
			p->suspect_overflow = true;
	} else if (!suspect) {
		if (i < p->nsuspect)
			p->suspect[i] = p->suspect[--p->nsuspect];
		/* untracked ones: suspect until every tracked one is back */
		if (!p->nsuspect)
			p->suspect_overflow = false;
		/* its blocks may come home again */
		if (p->lists[POOL_LRL].count)
			pool_kick_helper_locked(p);
	}
	pthread_mutex_unlock(&p->lock);
}

uint64_t pool_lost_gen(struct pool *p)
{
	uint64_t g;

	pthread_mutex_lock(&p->lock);
	g = p->lost_gen;
	pthread_mutex_unlock(&p->lock);
	return g;
}

bool pool_any_suspect(struct pool *p)
{
	bool any;

	pthread_mutex_lock(&p->lock);
	any = p->nsuspect || p->suspect_overflow;
	pthread_mutex_unlock(&p->lock);
	return any;
}

int pool_check_handles(struct pool *p, const uint32_t *h, size_t n)
{
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < n && !ret; i++) {
		const struct handle_loc *loc;

		if (!h[i] || !(loc = pool_handle_locked(p, h[i])))
			continue;
		if (loc->state == HANDLE_LOST ||
		    (loc->state == HANDLE_REMOTE &&
		     pool_node_suspect_locked(p, loc->provider_node)))
			ret = -EIO;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}
