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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

int pool_lrl_init(struct pool *p)
{
	p->relq = calloc(POOL_RELEASE_QUEUE, sizeof(*p->relq));
	p->drain_buf = calloc(POOL_RELEASE_BATCH, sizeof(*p->drain_buf));
	if (!p->relq || !p->drain_buf || pool_hc_init(p)) {
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
	pool_hc_finish(p);
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

	/* (its copies are gone already; any left go with it) */
	pool_copies_give_back_locked(p, h);
	loc->state = HANDLE_LOST;
	p->lost++;
	p->lost_gen++;
	pool_health_changed_locked(p);
}

void pool_health_changed_locked(struct pool *p)
{
	p->health_gen++;
	pthread_cond_broadcast(&p->health_cond);
}

/*
 * The handle whose clean copy (prefetch.c) keeps loan r (slot 0: clean
 * copies exist with one copy per block only), or 0; any: any loan on
 * r->node. Lock held; a scan of LLL, only while copies exist.
 */
static uint32_t find_copy_locked(struct pool *p, const struct pool_ref *r,
				 bool any)
{
	for (uint32_t b = p->lists[POOL_LLL].head; p->nclean && b != NIL;
	     b = p->blocks[b].next) {
		uint32_t h = p->blocks[b].handle;
		const struct pool_ref *s = pool_slot(p, h, 0);

		if ((p->handles[h].flags & HF_COPY) && s->node == r->node &&
		    (any || pool_ref_equal(s, r)))
			return h;
	}
	return 0;
}

uint32_t pool_provider_dead(struct pool *p, uint32_t node, uint32_t *copies)
{
	struct pool_ref any = {.node = node};
	uint32_t n = 0, h, next;

	*copies = 0;
	pthread_mutex_lock(&p->lock);
	/* copies are local data: they only lose their way out */
	while ((h = find_copy_locked(p, &any, true)))
		pool_clean_forget_locked(p, &p->handles[h]);
	for (h = p->lrl_head; h != NIL; h = next) {
		next = p->handles[h].next;
		for (uint32_t k = 0; k < p->slots; k++) {
			if (pool_slot(p, h, k)->node != node)
				continue;
			(*copies)++;
			n += pool_copy_lost_locked(p, h, k);
		}
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
	/* a handle's copies all in one call: room for every slot */
	for (budget = SCAN_PER_CALL; h < end && got + p->slots <= max && budget;
	     h++, budget--) {
		/* a clean copy's loan is ours too (prefetch.c) */
		if (!(p->handles[h].flags & (HF_ON_LRL | HF_COPY)))
			continue;
		/* node 0: every copy */
		for (uint32_t k = 0; k < p->slots; k++) {
			const struct pool_ref *s = pool_slot(p, h, k);

			if (!s->node || (node && s->node != node))
				continue;
			refs[got] = *s;
			tags[got++] = h;
		}
	}
	pthread_mutex_unlock(&p->lock);
	*cursor = h >= end ? UINT32_MAX : h;
	return got;
}

uint32_t pool_loans_lost(struct pool *p, const struct pool_ref *refs,
			 const uint32_t *tags, uint32_t n, uint32_t *copies)
{
	uint32_t lost = 0;
	int k;

	*copies = 0;
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < n; i++) {
		struct handle_loc *loc = pool_handle_locked(p, tags[i]);

		if (!loc)
			continue;
		if ((loc->flags & HF_COPY) &&
		    pool_ref_equal(pool_slot(p, tags[i], 0), &refs[i])) {
			/* the data is here: only its way out is gone */
			pool_clean_forget_locked(p, loc);
			continue;
		}
		k = pool_copy_find_locked(p, tags[i], &refs[i]);
		if (k < 0)
			continue;
		(*copies)++;
		lost += pool_copy_lost_locked(p, tags[i], (uint32_t)k);
	}
	pthread_mutex_unlock(&p->lock);
	return lost;
}

/* Moves a block may make while one access follows it, before EIO. */
#define POOL_MAX_HOPS 8u

/*
 * Slot k of h now holds the loan its provider moved the copy to: counted,
 * and looked at by the rebuilder (the new place may hold another copy of
 * h already: two copies on one node count as one).
 */
static void moved_locked(struct pool *p, uint32_t h, uint32_t k,
			 const struct pool_ref *new)
{
	*pool_slot(p, h, k) = *new;
	p->followed++;
	if (p->slots > 1)
		pool_kick_rebuild_locked(p);
}

/*
 * A provider answered that copy slot k's loan *ref moved on to *moved.
 * The slot names the new loan from now on if it still named *ref, and
 * the old provider is told so by a FREE of *ref (its forwarding record
 * then goes); if a notice updated it first, that is the new loan. *ref
 * becomes the slot's loan. The caller holds h (a pin, or it is moving
 * it), so h is still the block it was and no copy is added to it
 * meanwhile. -EIO when the copy is gone (lost or dropped meanwhile).
 */
static int follow_locked(struct pool *p, uint32_t h, uint32_t k,
			 struct pool_ref *ref, const struct pool_ref *moved)
{
	struct handle_loc *loc = pool_handle_locked(p, h);

	if (!loc || !(loc->flags & HF_ON_LRL))
		return -EIO;
	if (pool_slot_names_locked(p, h, k, ref)) {
		moved_locked(p, h, k, moved);
		pool_release_locked(p, ref);
	}
	*ref = *pool_slot(p, h, k);
	return ref->node ? 0 : -EIO;
}

/*
 * The provider no longer holds *ref (STALE): that copy is lost, unless
 * its slot names another loan by now (a notice moved it while our
 * request was on its way, and the old provider forgot the forwarding
 * record once we confirmed): then *ref becomes that loan and true (ask
 * there).
 */
static bool moved_meanwhile_locked(struct pool *p, uint32_t h, uint32_t k,
				   struct pool_ref *ref)
{
	struct handle_loc *loc = pool_handle_locked(p, h);
	const struct pool_ref *s;

	if (!loc || !(loc->flags & HF_ON_LRL))
		return false;
	s = pool_slot(p, h, k);
	if (!s->node || pool_ref_equal(s, ref))
		return false;
	*ref = *s;
	return true;
}

static int io_once(struct pool *p, const struct pool_ref *ref, uint32_t off,
		   void *buf, uint32_t len, bool write, struct pool_ref *moved)
{
	return write ? p->cops->write(p->cctx, ref, off, buf, len, moved)
		     : p->cops->read(p->cctx, ref, off, buf, len, moved);
}

int pool_remote_io_from(struct pool *p, uint32_t h, uint32_t k,
			struct pool_ref *ref, int ret,
			const struct pool_ref *moved, uint32_t off, void *buf,
			uint32_t len, bool write)
{
	struct pool_ref mv = *moved;
	bool again;

	for (uint32_t hops = 0;; hops++) {
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
			again = moved_meanwhile_locked(p, h, k, ref);
		else
			again = !follow_locked(p, h, k, ref, &mv);
		pthread_mutex_unlock(&p->lock);
		if (!again)
			return ret == -ESTALE ? ret : -EIO;
		ret = io_once(p, ref, off, buf, len, write, &mv);
	}
}

int pool_remote_io(struct pool *p, uint32_t h, uint32_t k, struct pool_ref *ref,
		   uint32_t off, void *buf, uint32_t len, bool write)
{
	struct pool_ref moved = {0};
	int ret = io_once(p, ref, off, buf, len, write, &moved);

	return pool_remote_io_from(p, h, k, ref, ret, &moved, off, buf, len,
				   write);
}

/*
 * The handle on LRL with loan r in one of its slots, or 0 (lock held; a
 * scan); *k its slot.
 */
static uint32_t find_loan_locked(struct pool *p, const struct pool_ref *r,
				 uint32_t *k)
{
	for (uint32_t h = p->lrl_head; h != NIL; h = p->handles[h].next) {
		int i = pool_copy_find_locked(p, h, r);

		if (i >= 0) {
			*k = (uint32_t)i;
			return h;
		}
	}
	return 0;
}

int pool_loan_moved(struct pool *p, const struct pool_ref *old,
		    const struct pool_ref *new, bool freed)
{
	uint32_t h, k;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	h = find_loan_locked(p, old, &k);
	if (h) {
		moved_locked(p, h, k, new);
	} else if ((h = find_copy_locked(p, old, false))) {
		/* a clean copy's way out moved on: it follows */
		*pool_slot(p, h, 0) = *new;
		p->followed++;
	} else if (find_loan_locked(p, new, &k) ||
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

bool pool_node_written_off_locked(const struct pool *p, uint32_t node,
				  uint64_t now)
{
	for (uint32_t i = 0; i < p->nsuspect; i++)
		if (p->suspect[i] == node)
			return now - p->suspect_since[i] >= p->rebuild_after_ns;
	return p->suspect_overflow &&
	       now - p->overflow_since >= p->rebuild_after_ns;
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
		if (p->nsuspect < POOL_MAX_SUSPECT) {
			p->suspect_since[p->nsuspect] = cmp_now_ns();
			p->suspect[p->nsuspect++] = node;
		} else if (!p->suspect_overflow) {
			p->suspect_overflow = true;
			p->overflow_since = cmp_now_ns();
		}
		/* its copies count until rebuild_after: a timer to set */
		if (p->slots > 1)
			pool_kick_rebuild_locked(p);
		pool_health_changed_locked(p);
	} else if (!suspect) {
		if (i < p->nsuspect) {
			--p->nsuspect;
			p->suspect[i] = p->suspect[p->nsuspect];
			p->suspect_since[i] = p->suspect_since[p->nsuspect];
		}
		/* untracked ones: suspect until every tracked one is back */
		if (!p->nsuspect)
			p->suspect_overflow = false;
		/* its blocks may come home again */
		if (p->lists[POOL_LRL].count)
			pool_kick_helper_locked(p);
		pool_health_changed_locked(p);
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

uint64_t pool_wait_health(struct pool *p, uint64_t gen, const atomic_bool *stop,
			  int timeout_ms)
{
	struct timespec dl;
	int ret = 0;

	if (timeout_ms >= 0)
		cmp_deadline_ms(&dl, (uint64_t)timeout_ms);
	pthread_mutex_lock(&p->lock);
	while (p->health_gen == gen && !atomic_load(stop) && !ret)
		ret = timeout_ms < 0
			      ? pthread_cond_wait(&p->health_cond, &p->lock)
			      : pthread_cond_timedwait(&p->health_cond,
						       &p->lock, &dl);
	gen = p->health_gen;
	pthread_mutex_unlock(&p->lock);
	return gen;
}

void pool_wake_health(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->health_cond);
	pthread_mutex_unlock(&p->lock);
}

void pool_count_unhealthy(struct pool *p, const uint32_t *h, size_t n,
			  uint64_t *lost, uint64_t *unreachable)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		const struct handle_loc *loc;

		if (!h[i] || !(loc = pool_handle_locked(p, h[i])))
			continue;
		if (loc->state == HANDLE_LOST)
			(*lost)++;
		else if (loc->state == HANDLE_REMOTE &&
			 !pool_handle_readable_locked(p, h[i]))
			(*unreachable)++;
	}
	pthread_mutex_unlock(&p->lock);
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
		     !pool_handle_readable_locked(p, h[i])))
			ret = -EIO;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}
