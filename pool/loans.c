// SPDX-License-Identifier: MIT
/*
 * The loan table behind pool/loans.h. Per block: state, owner, epoch,
 * pins and the reconciliation mark; per owner (an open-addressing table
 * with linear probing, sized at creation): last heard, loans held,
 * reconciliation generation. One mutex guards both; the store's release
 * callback runs with it dropped, in chunks collected under it.
 *
 * Why a loan that ends while pinned is FREEING rather than freed: the
 * access holding it is copying into or out of the block without the lock;
 * giving the block back before that copy ends is the "check, unlock, copy"
 * race this table exists to close. For the same reason a move waits for
 * the accesses in flight and lets no new one in (MOVING): a write that is
 * acknowledged here is in the copy, and one that is not is refused and
 * retried at the new place. Moves, handovers and forwarding records are in
 * loans-move.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cmp/util.h"
#include "loans-internal.h"

static uint32_t random_u32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)cmp_now_ns();
	return v;
}

struct loans *loans_create(const struct loans_config *cfg)
{
	struct loans *l;
	uint32_t slots = 16, max_fwd;

	if (!cfg || !cfg->release || !cfg->nblocks) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->max_owners =
		cfg->max_owners ? cfg->max_owners : LOANS_DEFAULT_MAX_OWNERS;
	while (slots < 2 * l->max_owners)
		slots <<= 1;
	l->owner_slots = slots;
	l->loan = calloc(cfg->nblocks, sizeof(*l->loan));
	l->owners = calloc(slots, sizeof(*l->owners));
	if (!l->loan || !l->owners)
		goto err_free_tables;
	max_fwd = cfg->max_forwarding
			  ? cfg->max_forwarding
			  : MIN(cfg->nblocks, LOANS_DEFAULT_MAX_FORWARDING);
	if (loans_fwd_init(l, max_fwd) < 0)
		goto err_free_tables;
	pthread_mutex_init(&l->lock, NULL);
	cmp_cond_init_monotonic(&l->unpinned);
	l->nblocks = cfg->nblocks;
	l->lease_ns = cfg->lease_ns ? cfg->lease_ns : LOANS_DEFAULT_LEASE_NS;
	l->next_epoch = cfg->first_epoch ? cfg->first_epoch : random_u32();
	l->release = cfg->release;
	l->journal = cfg->journal;
	l->ctx = cfg->ctx;
	return l;

err_free_tables:
	free(l->loan);
	free(l->owners);
	free(l);
	errno = ENOMEM;
	return NULL;
}

void loans_destroy(struct loans *l)
{
	if (!l)
		return;
	pthread_cond_destroy(&l->unpinned);
	pthread_mutex_destroy(&l->lock);
	loans_fwd_finish(l);
	free(l->loan);
	free(l->owners);
	free(l);
}

uint64_t loans_lease_ns(const struct loans *l)
{
	return l->lease_ns;
}

/* ---- owners ---- */

static uint32_t owner_home(const struct loans *l, uint32_t node)
{
	/* Fibonacci hashing: node ids may be small or random */
	return (uint32_t)((node * 2654435769u) >> 7) & (l->owner_slots - 1);
}

struct loan_owner *loans_find_owner_locked(struct loans *l, uint32_t node)
{
	uint32_t i = owner_home(l, node);

	if (!node)
		return NULL;
	for (;; i = (i + 1) & (l->owner_slots - 1)) {
		if (l->owners[i].node == node)
			return &l->owners[i];
		if (!l->owners[i].node)
			return NULL;
	}
}

struct loan_owner *loans_add_owner_locked(struct loans *l, uint32_t node,
					  uint64_t now)
{
	struct loan_owner *o = loans_find_owner_locked(l, node);
	uint32_t i;

	if (o)
		return o;
	if (!node || l->nowners >= l->max_owners)
		return NULL;
	for (i = owner_home(l, node); l->owners[i].node;
	     i = (i + 1) & (l->owner_slots - 1))
		;
	o = &l->owners[i];
	*o = (struct loan_owner){.node = node, .last_heard = now};
	l->nowners++;
	return o;
}

/* Linear-probing deletion: shift back the entries that probed past it. */
static void remove_owner_locked(struct loans *l, struct loan_owner *o)
{
	uint32_t mask = l->owner_slots - 1;
	uint32_t hole = (uint32_t)(o - l->owners), i = hole;

	l->owners[hole].node = 0;
	l->nowners--;
	for (;;) {
		uint32_t home;

		i = (i + 1) & mask;
		if (!l->owners[i].node)
			return;
		home = owner_home(l, l->owners[i].node);
		/* stays if its home lies cyclically in (hole, i] */
		if (((i - home) & mask) < ((i - hole) & mask))
			continue;
		l->owners[hole] = l->owners[i];
		l->owners[i].node = 0;
		hole = i;
	}
}

void loans_touch_locked(struct loans *l, uint32_t owner, uint64_t now)
{
	struct loan_owner *o = loans_find_owner_locked(l, owner);

	if (o && now > o->last_heard)
		o->last_heard = now;
}

void loans_touch(struct loans *l, uint32_t owner, uint64_t now)
{
	pthread_mutex_lock(&l->lock);
	loans_touch_locked(l, owner, now);
	pthread_mutex_unlock(&l->lock);
}

/* ---- ending loans ---- */

void loans_flush(struct loans *l, struct release_batch *b)
{
	if (b->n)
		l->release(l->ctx, b->idx, b->n);
	b->n = 0;
}

/* Lent to owner under that epoch, moving or not, and not ended. */
bool loans_holds(const struct loans *l, uint32_t owner,
		 struct proto_block_ref r)
{
	const struct loan *ln;

	if (r.block >= l->nblocks)
		return false;
	ln = &l->loan[r.block];
	if (ln->owner != owner || ln->epoch != r.epoch)
		return false;
	return ln->state == LOAN_LENT ||
	       (ln->state == LOAN_MOVING && !(ln->flags & LOAN_F_ENDED));
}

/* Lent to owner under that epoch and not moving. */
bool loans_matches(const struct loans *l, uint32_t owner,
		   struct proto_block_ref r)
{
	return loans_holds(l, owner, r) && l->loan[r.block].state == LOAN_LENT;
}

/*
 * Ends loan idx (held). Moving: marked ended, settled by the mover
 * (freed: the owner let go of it, as opposed to leaving). Pinned:
 * FREEING, released by the last unpin. Otherwise FREE and queued on b,
 * which the caller keeps from overflowing and flushes with the lock
 * dropped.
 */
static void end_loan_locked(struct loans *l, uint32_t idx,
			    struct release_batch *b, bool freed)
{
	struct loan *ln = &l->loan[idx];
	struct loan_owner *o = loans_find_owner_locked(l, ln->owner);

	if (o)
		o->nloans--;
	if (ln->state == LOAN_MOVING) {
		ln->flags |= LOAN_F_ENDED | (freed ? LOAN_F_FREED : 0);
	} else if (ln->pins) {
		ln->state = LOAN_FREEING;
	} else {
		ln->state = LOAN_FREE;
		l->nlent--;
		b->idx[b->n++] = idx;
	}
	loans_journal_locked(l, idx);
}

void loans_journal_locked(struct loans *l, uint32_t idx)
{
	const struct loan *ln = &l->loan[idx];
	bool lent = ln->state == LOAN_LENT ||
		    (ln->state == LOAN_MOVING && !(ln->flags & LOAN_F_ENDED));

	if (!l->journal)
		return;
	if (lent)
		l->journal(l->ctx, idx, ln->owner, ln->epoch,
			   ln->flags & LOAN_F_HANDED);
	else
		l->journal(l->ctx, idx, 0, 0, false);
}

/* The owner knows loan idx now: a reconciliation may judge it. */
static void known_locked(struct loans *l, uint32_t idx)
{
	struct loan *ln = &l->loan[idx];

	if (!(ln->flags & LOAN_F_HANDED))
		return;
	ln->flags &= (uint8_t)~LOAN_F_HANDED;
	loans_journal_locked(l, idx);
}

uint32_t loans_next_epoch_locked(struct loans *l)
{
	if (!++l->next_epoch) /* 0 is never an epoch */
		l->next_epoch = 1;
	return l->next_epoch;
}

int loans_lend(struct loans *l, uint32_t owner, const uint32_t *idx, uint32_t n,
	       uint32_t *epoch, uint64_t now)
{
	struct loan_owner *o;
	int ret = 0;

	pthread_mutex_lock(&l->lock);
	for (uint32_t i = 0; i < n; i++) {
		if (idx[i] >= l->nblocks ||
		    l->loan[idx[i]].state != LOAN_FREE) {
			ret = -EINVAL;
			goto out_unlock;
		}
	}
	o = loans_add_owner_locked(l, owner, now);
	if (!o) {
		ret = owner ? -ENOSPC : -EINVAL;
		goto out_unlock;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct loan *ln = &l->loan[idx[i]];

		*ln = (struct loan){
			.owner = owner,
			.epoch = loans_next_epoch_locked(l),
			.seen = o->gen,
			.state = LOAN_LENT,
		};
		epoch[i] = ln->epoch;
		loans_journal_locked(l, idx[i]);
	}
	o->nloans += n;
	l->nlent += n;
	if (now > o->last_heard)
		o->last_heard = now;
out_unlock:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

int loans_restore(struct loans *l, uint32_t owner, uint32_t idx, uint32_t epoch,
		  bool handed, uint64_t now)
{
	struct loan_owner *o;
	int ret = 0;

	if (!owner || !epoch)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	if (idx >= l->nblocks || l->loan[idx].state != LOAN_FREE) {
		ret = -EINVAL;
		goto out_unlock;
	}
	o = loans_add_owner_locked(l, owner, now);
	if (!o) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	l->loan[idx] = (struct loan){
		.owner = owner,
		.epoch = epoch,
		.seen = o->gen,
		.state = LOAN_LENT,
		.flags = handed ? LOAN_F_HANDED : 0,
	};
	o->nloans++;
	l->nlent++;
	if (now > o->last_heard)
		o->last_heard = now;
out_unlock:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

static int pin_locked(struct loans *l, uint32_t owner, struct proto_block_ref r,
		      struct peer_loan *moved)
{
	struct fwd_rec *f;
	struct loan *ln;

	if (r.block >= l->nblocks)
		return -ENOENT;
	ln = &l->loan[r.block];
	if (loans_matches(l, owner, r)) {
		if (ln->pins == UINT16_MAX)
			return -EBUSY;
		ln->pins++;
		known_locked(l, r.block);
		return 0;
	}
	/* being moved: refused now, answered MOVED once the copy is there */
	if (loans_holds(l, owner, r))
		return -EBUSY;
	f = loans_fwd_find_locked(l, owner, r.block, r.epoch);
	if (f) {
		if (moved)
			*moved = f->to;
		return -EREMCHG;
	}
	return -ESTALE;
}

int loans_pin(struct loans *l, uint32_t owner, struct proto_block_ref r,
	      uint64_t now, struct peer_loan *moved)
{
	int ret;

	pthread_mutex_lock(&l->lock);
	ret = pin_locked(l, owner, r, moved);
	loans_touch_locked(l, owner, now);
	pthread_mutex_unlock(&l->lock);
	return ret;
}

/*
 * Drops one pin; a FREEING loan whose last pin this was goes on b, a
 * MOVING one wakes its mover. True when the loan ended while the pin held
 * it (the access touched a block that is no longer the owner's to keep).
 */
static bool unpin_locked(struct loans *l, uint32_t idx, struct release_batch *b)
{
	struct loan *ln;
	bool ended;

	if (idx >= l->nblocks || !l->loan[idx].pins)
		return false;
	ln = &l->loan[idx];
	ended = ln->state == LOAN_FREEING ||
		(ln->state == LOAN_MOVING && (ln->flags & LOAN_F_ENDED));
	if (--ln->pins)
		return ended;
	if (ln->state == LOAN_MOVING)
		pthread_cond_broadcast(&l->unpinned);
	if (ln->state != LOAN_FREEING)
		return ended;
	ln->state = LOAN_FREE;
	l->nlent--;
	b->idx[b->n++] = idx;
	return ended;
}

int loans_pin_many(struct loans *l, uint32_t owner,
		   const struct proto_block_ref *refs, uint32_t n, uint64_t now,
		   uint32_t *bad, struct peer_loan *moved)
{
	struct release_batch b = {.n = 0};
	uint32_t i;
	int ret = 0;

	pthread_mutex_lock(&l->lock);
	for (i = 0; i < n; i++) {
		ret = pin_locked(l, owner, refs[i], moved);
		if (ret)
			break;
	}
	if (ret) {
		*bad = i;
		/* only LENT loans were pinned, so nothing is released here */
		while (i--)
			unpin_locked(l, refs[i].block, &b);
	}
	loans_touch_locked(l, owner, now);
	pthread_mutex_unlock(&l->lock);
	return ret;
}

int loans_unpin(struct loans *l, uint32_t idx)
{
	struct release_batch b = {.n = 0};
	bool ended;

	pthread_mutex_lock(&l->lock);
	ended = unpin_locked(l, idx, &b);
	pthread_mutex_unlock(&l->lock);
	loans_flush(l, &b);
	return ended ? -ESTALE : 0;
}

int loans_unpin_many(struct loans *l, const struct proto_block_ref *refs,
		     uint32_t n)
{
	struct release_batch b = {.n = 0};
	bool ended = false;
	uint32_t i = 0;

	while (i < n) {
		pthread_mutex_lock(&l->lock);
		for (; i < n && b.n < LOANS_RELEASE_CHUNK; i++)
			ended |= unpin_locked(l, refs[i].block, &b);
		pthread_mutex_unlock(&l->lock);
		loans_flush(l, &b);
	}
	return ended ? -ESTALE : 0;
}

uint32_t loans_free(struct loans *l, uint32_t owner,
		    const struct proto_block_ref *refs, uint32_t n,
		    uint64_t now)
{
	struct release_batch b = {.n = 0};
	uint32_t ended = 0, i = 0;
	struct fwd_rec *f;

	do {
		pthread_mutex_lock(&l->lock);
		loans_touch_locked(l, owner, now);
		for (; i < n && b.n < LOANS_RELEASE_CHUNK; i++) {
			if (loans_holds(l, owner, refs[i])) {
				end_loan_locked(l, refs[i].block, &b, true);
				ended++;
				continue;
			}
			/*
			 * It moved on: the owner may not know where, and the
			 * new place is its to free too; tell it once more.
			 */
			f = loans_fwd_find_locked(l, owner, refs[i].block,
						  refs[i].epoch);
			if (f) {
				f->flags |= LOANS_FWD_FREED;
				f->notice_at = 0;
			}
		}
		pthread_mutex_unlock(&l->lock);
		loans_flush(l, &b);
	} while (i < n);
	return ended;
}

/*
 * Ends owner's loans for which keep() is false, scanning the whole table
 * in chunks so the lock is never held across a release.
 */
static uint32_t end_owner_loans(struct loans *l, uint32_t owner,
				bool (*keep)(const struct loan *ln,
					     uint32_t gen),
				uint32_t gen, bool freed)
{
	struct release_batch b = {.n = 0};
	uint32_t ended = 0, i = 0;

	do {
		pthread_mutex_lock(&l->lock);
		for (; i < l->nblocks && b.n < LOANS_RELEASE_CHUNK; i++) {
			const struct loan *ln = &l->loan[i];

			if (!loans_holds(
				    l, owner,
				    (struct proto_block_ref){i, ln->epoch}) ||
			    (keep && keep(ln, gen)))
				continue;
			end_loan_locked(l, i, &b, freed);
			ended++;
		}
		pthread_mutex_unlock(&l->lock);
		loans_flush(l, &b);
	} while (i < l->nblocks);
	return ended;
}

uint32_t loans_free_owner(struct loans *l, uint32_t owner)
{
	uint32_t ended = end_owner_loans(l, owner, NULL, 0, false);

	pthread_mutex_lock(&l->lock);
	loans_fwd_drop_owner_locked(l, owner);
	pthread_mutex_unlock(&l->lock);
	return ended;
}

/* The first owner at or after slot *s silent for longer than the lease. */
static struct loan_owner *next_silent_locked(struct loans *l, uint64_t now,
					     uint32_t *s)
{
	for (; *s < l->owner_slots; (*s)++) {
		struct loan_owner *o = &l->owners[*s];

		if (o->node && now > o->last_heard &&
		    now - o->last_heard > l->lease_ns)
			return o;
	}
	return NULL;
}

size_t loans_expire(struct loans *l, uint64_t now, struct loans_expired *out,
		    size_t max)
{
	struct loans_expired e;
	struct loan_owner *o;
	size_t found = 0;
	uint32_t s = 0;

	for (;;) {
		pthread_mutex_lock(&l->lock);
		o = next_silent_locked(l, now, &s);
		/* where its loans went is nobody else's business */
		if (o && o->nfwd)
			loans_fwd_drop_owner_locked(l, o->node);
		if (o && !o->nloans) {
			/* forgotten; the shift may bring another into slot s */
			remove_owner_locked(l, o);
			pthread_mutex_unlock(&l->lock);
			continue;
		}
		if (o)
			e = (struct loans_expired){
				.owner = o->node,
				.silent_ns = now - o->last_heard,
			};
		pthread_mutex_unlock(&l->lock);
		if (!o)
			return found;
		/* its loans end now; the owner is forgotten on the next look */
		e.blocks = end_owner_loans(l, e.owner, NULL, 0, false);
		if (found < max)
			out[found] = e;
		found++;
	}
}

/* ---- reconciliation ---- */

void loans_reconcile_begin(struct loans *l, uint32_t owner, uint64_t now)
{
	struct loan_owner *o;

	pthread_mutex_lock(&l->lock);
	o = loans_add_owner_locked(l, owner, now);
	if (o) {
		o->gen++;
		o->reconciling = true;
		if (now > o->last_heard)
			o->last_heard = now;
	}
	pthread_mutex_unlock(&l->lock);
}

uint32_t loans_reconcile_mark(struct loans *l, uint32_t owner,
			      const struct proto_block_ref *refs, uint32_t n,
			      struct proto_block_ref *missing, uint64_t now)
{
	struct loan_owner *o;
	uint32_t nmissing = 0;

	pthread_mutex_lock(&l->lock);
	o = loans_find_owner_locked(l, owner);
	for (uint32_t i = 0; i < n; i++) {
		if (o && loans_holds(l, owner, refs[i])) {
			l->loan[refs[i].block].seen = o->gen;
			known_locked(l, refs[i].block);
		} else if (!loans_fwd_find_locked(l, owner, refs[i].block,
						  refs[i].epoch)) {
			/* (one that moved on is still the owner's) */
			missing[nmissing++] = refs[i];
		}
	}
	loans_touch_locked(l, owner, now);
	pthread_mutex_unlock(&l->lock);
	return nmissing;
}

/* Claimed in this reconciliation, or handed over and not known yet. */
static bool seen_in(const struct loan *ln, uint32_t gen)
{
	return ln->seen == gen || (ln->flags & LOAN_F_HANDED);
}

uint32_t loans_reconcile_end(struct loans *l, uint32_t owner)
{
	struct loan_owner *o;
	uint32_t gen;

	pthread_mutex_lock(&l->lock);
	o = loans_find_owner_locked(l, owner);
	if (!o || !o->reconciling) {
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	o->reconciling = false;
	gen = o->gen;
	pthread_mutex_unlock(&l->lock);
	/* unclaimed: like a FREE (a loan moving on is then freed there too) */
	return end_owner_loans(l, owner, seen_in, gen, true);
}

/* ---- introspection ---- */

uint32_t loans_lent(struct loans *l)
{
	uint32_t n;

	pthread_mutex_lock(&l->lock);
	n = l->nlent;
	pthread_mutex_unlock(&l->lock);
	return n;
}

uint32_t loans_lent_to(struct loans *l, uint32_t owner)
{
	struct loan_owner *o;
	uint32_t n;

	pthread_mutex_lock(&l->lock);
	o = loans_find_owner_locked(l, owner);
	n = o ? o->nloans : 0;
	pthread_mutex_unlock(&l->lock);
	return n;
}

bool loans_holder(struct loans *l, uint32_t idx, uint32_t *owner,
		  uint32_t *epoch)
{
	bool lent = false;

	pthread_mutex_lock(&l->lock);
	if (idx < l->nblocks && l->loan[idx].state == LOAN_LENT) {
		*owner = l->loan[idx].owner;
		*epoch = l->loan[idx].epoch;
		lent = true;
	}
	pthread_mutex_unlock(&l->lock);
	return lent;
}

uint64_t loans_meta_bytes(struct loans *l)
{
	uint64_t n;

	pthread_mutex_lock(&l->lock);
	n = sizeof(*l) + (uint64_t)l->nblocks * sizeof(*l->loan) +
	    (uint64_t)l->owner_slots * sizeof(*l->owners) +
	    (uint64_t)l->fwd_slots * sizeof(*l->fwd);
	pthread_mutex_unlock(&l->lock);
	return n;
}
