// SPDX-License-Identifier: MIT
/*
 * Prefetch for sequential readers of our blocks elsewhere. The file system
 * sees a read stream and names the blocks it will want next
 * (pool_prefetch()); the helper thread brings those that are elsewhere
 * home ahead of the reader, several at once (their reads in flight
 * together, batch.c), so that the reader finds them local and the wire
 * and both ends' sealing work while it copies.
 *
 * A prefetched block keeps its loan, as every block that comes home with
 * hash compare (hashcmp.c): it is a clean copy (HF_COPY) of the bytes its
 * provider still holds, so when memory is short it goes out again for
 * nothing, without a write, and a stream read once through a small node
 * costs one transfer per block, not two. A prefetched block is
 * protected as any block that came home (exchange.h) until a read
 * reaches its end: then it goes to the cold end of LLL, unprotected (a
 * sequential reader is done with it), and the evictor and the next
 * prefetch take those first. A write to a copy marks its pages dirty
 * (hash compare, hashcmp.c; without it the first write, or a pin that
 * may write, gives its loan back); only an unchanged copy is dropped here
 * for nothing.
 * Names wait 0.5 s at most for room, and a copy nobody read while it was
 * protected goes for the next one (its reader went elsewhere: wasted).
 *
 * Room, as the exchange policy allows (exchange.h): a prefetch takes a
 * copy already read at the cold end, else a free block above the
 * evictor's own reserve, with at most three quarters of the node's blocks
 * (and at most POOL_PF_MAX) unread or on their way; nothing else, and it never
 * sends our data out, neither itself nor through the evictor. A stream through
 * a node that is full of its own data and has no copies gets no prefetch
 * (its reads cross the wire as they are made); one through a node with
 * free memory (what a streaming writer left free when it paused, say)
 * starts there and then runs through the blocks its reader is done with.
 * When free memory is left above what the node keeps free after a
 * prefetch (memory to spare: principle 4), the copies give their loans
 * back before borrowed blocks come home.
 *
 * With more than one copy per block (-o replicas), a prefetched block
 * comes home as any other: every copy is given back as it lands, so a
 * LOCAL block never holds copies the rebuilder, a dead provider or the
 * loss accounting would have to know of; it reads from the cheapest
 * reachable copy. Only with one copy does it stay a clean copy.
 *
 * Counts: a copy is our block elsewhere (LRL: its loan is what a provider
 * lends us), kept here too; pool_get_counts() shows it in LRL, not LLL,
 * and counts copies apart.
 */
#include <errno.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

/* Prefetched blocks unread or on their way at most. */
#define POOL_PF_MAX 64u

void pool_set_prefetch(struct pool *p, bool on)
{
	pthread_mutex_lock(&p->lock);
	p->prefetch_off = !on;
	/* off: what was named is not fetched either */
	for (; !on && p->pfq_count; p->pfq_count--) {
		struct handle_loc *loc =
			pool_handle_locked(p, p->pfq[p->pfq_head].h);

		if (loc)
			loc->flags &= (uint8_t)~HF_PF_QUEUED;
		p->pfq_head = (p->pfq_head + 1) % POOL_PF_QUEUE;
	}
	pthread_mutex_unlock(&p->lock);
}

uint32_t pool_prefetch(struct pool *p, const uint32_t *h, uint32_t n)
{
	struct handle_loc *loc;
	uint32_t queued = 0;

	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; p->cops && !p->prefetch_off && i < n; i++) {
		loc = pool_handle_locked(p, h[i]);
		if (!loc || loc->state != HANDLE_REMOTE ||
		    (loc->flags & HF_PF_QUEUED) ||
		    p->pfq_count == POOL_PF_QUEUE ||
		    !pool_handle_readable_locked(p, h[i]))
			continue;
		loc->flags |= HF_PF_QUEUED;
		p->pfq[(p->pfq_head + p->pfq_count++) % POOL_PF_QUEUE] =
			(struct pf_entry){h[i], cmp_now_ns()};
		queued++;
	}
	/* (also when they were queued already: room may have come) */
	if (p->pfq_count)
		pool_kick_helper_locked(p);
	pthread_mutex_unlock(&p->lock);
	return queued;
}

bool pool_prefetch_access_locked(struct pool *p, struct handle_loc *loc,
				 uint32_t off, uint32_t len,
				 enum pool_access acc)
{
	if (loc->flags & HF_UNREAD) {
		loc->flags &= (uint8_t)~HF_UNREAD;
		p->nunread--;
		if (acc == POOL_ACC_READ)
			p->prefetch_hits++;
	}
	if (!(loc->flags & HF_COPY))
		return false;
	if (acc != POOL_ACC_READ) {
		/* hash compare: what it sends when it goes (hashcmp.c) */
		pool_hc_access_locked(p, loc, off, len, acc);
		return false;
	}
	if (off + len < p->block_size ||
	    !pool_hc_pf_locked(p, loc->local_block))
		return false;
	xchg_done_locked(p, loc);
	return true;
}

/* A clean copy's loan is copy slot 0 (only with one copy per block). */
static uint32_t handle_of(const struct pool *p, const struct handle_loc *loc)
{
	return (uint32_t)(loc - p->handles);
}

void pool_clean_settle_locked(struct pool *p, struct handle_loc *loc)
{
	if (!(loc->flags & HF_COPY))
		return;
	loc->flags &= (uint8_t)~HF_COPY;
	p->nclean--;
	pool_copy_drop_locked(p, handle_of(p, loc), 0, true);
}

void pool_clean_forget_locked(struct pool *p, struct handle_loc *loc)
{
	loc->flags &= (uint8_t)~HF_COPY;
	p->nclean--;
	pool_copy_drop_locked(p, handle_of(p, loc), 0, false);
}

void pool_unread_gone_locked(struct pool *p, struct handle_loc *loc)
{
	if (!(loc->flags & HF_UNREAD))
		return;
	loc->flags &= (uint8_t)~HF_UNREAD;
	p->nunread--;
	p->prefetch_wasted++;
}

void pool_clean_drop_locked(struct pool *p, uint32_t h, uint32_t b)
{
	struct handle_loc *loc = &p->handles[h];

	pool_unread_gone_locked(p, loc);
	loc->flags &= (uint8_t)~HF_COPY;
	p->nclean--;
	pool_list_remove_locked(p, b);
	loc->state = HANDLE_REMOTE;
	pool_lrl_push_locked(p, h, false);
}

void pool_settle_copies_locked(struct pool *p)
{
	for (uint32_t b = p->lists[POOL_LLL].head;
	     p->nclean && b != NIL &&
	     p->lists[POOL_FREE].count > pool_keep_locked(p);
	     b = p->blocks[b].next)
		if (p->handles[p->blocks[b].handle].state == HANDLE_LOCAL)
			pool_clean_settle_locked(
				p, &p->handles[p->blocks[b].handle]);
}

void pool_settle_copies(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	pool_settle_copies_locked(p);
	pthread_mutex_unlock(&p->lock);
}

/* Is the block at the cold end a copy read already, free to go? */
static bool spent_copy_locked(struct pool *p, uint32_t b)
{
	const struct handle_loc *loc;

	if (b == NIL)
		return false;
	loc = &p->handles[p->blocks[b].handle];
	return loc->state == HANDLE_LOCAL && !loc->pins &&
	       (loc->flags & (HF_COPY | HF_UNREAD)) == HF_COPY &&
	       pool_hc_clean_locked(p, b) &&
	       !pool_node_suspect_locked(p, loc->loan.node);
}

/* Prefetched blocks unread or on their way that the node allows (lock). */
static uint32_t unread_max_locked(const struct pool *p)
{
	return MIN(POOL_PF_MAX, MAX(1u, p->local_blocks - p->local_blocks / 4));
}

/*
 * A copy nobody read while it was protected (its reader went elsewhere),
 * dropped for nothing: its block, or NIL (lock; a short scan from the
 * cold end).
 */
static uint32_t stale_unread_locked(struct pool *p)
{
	uint32_t budget = POOL_PF_MAX;

	for (uint32_t b = p->lists[POOL_LLL].tail; b != NIL && budget--;
	     b = p->blocks[b].prev) {
		uint32_t h = p->blocks[b].handle;
		const struct handle_loc *loc = &p->handles[h];

		if (loc->state == HANDLE_LOCAL && !loc->pins &&
		    (loc->flags & (HF_COPY | HF_UNREAD)) ==
			    (HF_COPY | HF_UNREAD) &&
		    pool_hc_clean_locked(p, b) &&
		    !xchg_protected_locked(p, loc) &&
		    !pool_node_suspect_locked(p, loc->loan.node)) {
			pool_hc_unchanged_locked(p, h, b);
			return b;
		}
	}
	return NIL;
}

/* A local block for one more prefetch, or NIL (lock; see the top). */
static uint32_t room_locked(struct pool *p, uint32_t flying)
{
	uint32_t b = p->lists[POOL_LLL].tail;

	if (p->nunread + flying >= unread_max_locked(p))
		return stale_unread_locked(p);
	if (spent_copy_locked(p, b)) {
		pool_hc_unchanged_locked(p, p->blocks[b].handle, b);
		return b;
	}
	/*
	 * Never the reserve the evictor keeps now (it would send our data
	 * out to make it again); what a writer left when it paused, yes.
	 */
	if (p->lists[POOL_FREE].count <= pool_low_locked(p))
		return NIL;
	b = p->lists[POOL_FREE].head;
	pool_list_remove_locked(p, b);
	return b;
}

/* The next queued handle still worth fetching, marked moving; or 0. */
static uint32_t next_locked(struct pool *p, uint32_t flying, uint32_t *b)
{
	struct handle_loc *loc;
	uint32_t h;

	while (p->pfq_count && !p->helper_stop) {
		bool go = false;

		h = p->pfq[p->pfq_head].h;
		loc = pool_handle_locked(p, h);
		if (!loc || !(loc->flags & HF_PF_QUEUED))
			loc = NULL;
		/* named too long ago: its reader went elsewhere */
		else if (cmp_now_ns() - p->pfq[p->pfq_head].ns > POOL_PF_TTL_NS)
			loc->flags &= (uint8_t)~HF_PF_QUEUED;
		/* not being read now (the reader caught up), in reach */
		if (loc && (loc->flags & HF_PF_QUEUED) &&
		    loc->state == HANDLE_REMOTE && !loc->pins &&
		    pool_handle_readable_locked(p, h)) {
			*b = room_locked(p, flying);
			if (*b == NIL)
				return 0; /* it waits for room */
			go = true;
		}
		p->pfq_head = (p->pfq_head + 1) % POOL_PF_QUEUE;
		p->pfq_count--;
		if (loc)
			loc->flags &= (uint8_t)~HF_PF_QUEUED;
		if (go) {
			loc->state = HANDLE_MOVING;
			return h;
		}
	}
	return 0;
}

/* The end of one batch: what came home is a clean copy (lock). */
static void land_locked(struct pool *p, const uint32_t *h, const uint32_t *b,
			const int *ret, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!pool_finish_pull_locked(p, h[i], b[i], ret[i], true))
			continue;
		p->prefetched++;
		/* not sent out before its reader came (or went elsewhere) */
		xchg_came_home_locked(p, &p->handles[h[i]]);
	}
	pthread_cond_broadcast(&p->moved);
}

/*
 * The copy a batch reads h from (lock): the one loan with one copy per
 * block, else the cheapest reachable copy (replica.c's choice; node 0
 * when none is: pool_move_blocks() then reads it alone, through every
 * copy).
 */
static struct pool_ref read_ref_locked(struct pool *p, uint32_t h)
{
	const struct pool_copy_pick *c;
	struct pool_copy_set set;

	if (p->slots == 1)
		return p->handles[h].loan;
	pool_copies_pick_locked(p, h, false, &set);
	/* (a probe put the second cheapest first: the batch takes the other) */
	c = set.probe ? &set.c[1] : &set.c[0];
	return set.n && pool_copy_readable_locked(p, &c->ref)
		       ? c->ref
		       : (struct pool_ref){0};
}

/*
 * Blocks fetched at once: they land together, so a node with room for
 * few fetches them one at a time (the reader reads one while the next
 * comes: double buffering), a larger one up to POOL_BATCH (lock).
 */
static uint32_t batch_locked(const struct pool *p)
{
	return MIN(POOL_BATCH, MAX(1u, unread_max_locked(p) / 4));
}

void pool_prefetch_run(struct pool *p)
{
	uint32_t h[POOL_BATCH], b[POOL_BATCH], n;
	struct pool_ref ref[POOL_BATCH];
	int ret[POOL_BATCH];

	if (!p->cops)
		return;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		for (n = 0; n < batch_locked(p); n++) {
			h[n] = next_locked(p, n, &b[n]);
			if (!h[n])
				break;
			ref[n] = read_ref_locked(p, h[n]);
		}
		pthread_mutex_unlock(&p->lock);
		if (!n)
			return;
		pool_move_blocks(p, false, h, ref, b, n, ret);
		for (uint32_t i = 0; i < n; i++)
			if (!ret[i])
				pool_hc_hash(p, b[i]);
		pthread_mutex_lock(&p->lock);
		land_locked(p, h, b, ret, n);
		pthread_mutex_unlock(&p->lock);
	}
}
