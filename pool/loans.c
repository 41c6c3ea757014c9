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
 * race this table exists to close.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cmp/util.h"
#include "loans.h"

enum loan_state {
	LOAN_FREE,    /* not lent: the store's */
	LOAN_LENT,    /* lent to owner under epoch */
	LOAN_FREEING, /* ended while pinned: the last unpin releases it */
};

struct loan {
	uint32_t owner;
	uint32_t epoch;
	uint32_t seen; /* owner's reconciliation generation that saw it */
	uint16_t pins;
	uint8_t state; /* enum loan_state */
};

struct loan_owner {
	uint32_t node; /* 0: empty slot */
	uint32_t nloans;
	uint32_t gen;
	bool reconciling;
	uint64_t last_heard;
};

struct loans {
	pthread_mutex_t lock; /* protects everything below */
	struct loan *loan;    /* [nblocks] */
	uint32_t nblocks;
	uint32_t nlent;
	uint32_t next_epoch;
	struct loan_owner *owners; /* [owner_slots], power of two */
	uint32_t owner_slots;
	uint32_t nowners, max_owners;
	uint64_t lease_ns;
	loans_release_fn release;
	void *ctx;
};

/* Blocks collected under the lock, released after it is dropped. */
struct release_batch {
	uint32_t idx[LOANS_RELEASE_CHUNK];
	uint32_t n;
};

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
	uint32_t slots = 16;

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
	if (!l->loan || !l->owners) {
		free(l->loan);
		free(l->owners);
		free(l);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->nblocks = cfg->nblocks;
	l->lease_ns = cfg->lease_ns ? cfg->lease_ns : LOANS_DEFAULT_LEASE_NS;
	l->next_epoch = cfg->first_epoch ? cfg->first_epoch : random_u32();
	l->release = cfg->release;
	l->ctx = cfg->ctx;
	return l;
}

void loans_destroy(struct loans *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
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

static struct loan_owner *find_owner_locked(struct loans *l, uint32_t node)
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

static struct loan_owner *add_owner_locked(struct loans *l, uint32_t node,
					   uint64_t now)
{
	struct loan_owner *o = find_owner_locked(l, node);
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

static void touch_locked(struct loans *l, uint32_t owner, uint64_t now)
{
	struct loan_owner *o = find_owner_locked(l, owner);

	if (o && now > o->last_heard)
		o->last_heard = now;
}

void loans_touch(struct loans *l, uint32_t owner, uint64_t now)
{
	pthread_mutex_lock(&l->lock);
	touch_locked(l, owner, now);
	pthread_mutex_unlock(&l->lock);
}

/* ---- ending loans ---- */

static void flush(struct loans *l, struct release_batch *b)
{
	if (b->n)
		l->release(l->ctx, b->idx, b->n);
	b->n = 0;
}

/*
 * Ends loan idx (LENT). Pinned: FREEING, released by the last unpin.
 * Otherwise FREE and queued on b, which the caller keeps from overflowing
 * and flushes with the lock dropped.
 */
static void end_loan_locked(struct loans *l, uint32_t idx,
			    struct release_batch *b)
{
	struct loan *ln = &l->loan[idx];
	struct loan_owner *o = find_owner_locked(l, ln->owner);

	if (o)
		o->nloans--;
	if (ln->pins) {
		ln->state = LOAN_FREEING;
		return;
	}
	ln->state = LOAN_FREE;
	l->nlent--;
	b->idx[b->n++] = idx;
}

static bool matches(const struct loans *l, uint32_t owner,
		    struct proto_block_ref r)
{
	const struct loan *ln;

	if (r.block >= l->nblocks)
		return false;
	ln = &l->loan[r.block];
	return ln->state == LOAN_LENT && ln->owner == owner &&
	       ln->epoch == r.epoch;
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
	o = add_owner_locked(l, owner, now);
	if (!o) {
		ret = owner ? -ENOSPC : -EINVAL;
		goto out_unlock;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct loan *ln = &l->loan[idx[i]];

		if (!++l->next_epoch) /* 0 is never an epoch */
			l->next_epoch = 1;
		*ln = (struct loan){
			.owner = owner,
			.epoch = l->next_epoch,
			.seen = o->gen,
			.state = LOAN_LENT,
		};
		epoch[i] = ln->epoch;
	}
	o->nloans += n;
	l->nlent += n;
	if (now > o->last_heard)
		o->last_heard = now;
out_unlock:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

static int pin_locked(struct loans *l, uint32_t owner, struct proto_block_ref r)
{
	if (r.block >= l->nblocks)
		return -ENOENT;
	if (!matches(l, owner, r))
		return -ESTALE;
	if (l->loan[r.block].pins == UINT16_MAX)
		return -EBUSY;
	l->loan[r.block].pins++;
	return 0;
}

int loans_pin(struct loans *l, uint32_t owner, struct proto_block_ref r,
	      uint64_t now)
{
	int ret;

	pthread_mutex_lock(&l->lock);
	ret = pin_locked(l, owner, r);
	touch_locked(l, owner, now);
	pthread_mutex_unlock(&l->lock);
	return ret;
}

/*
 * Drops one pin; a FREEING loan whose last pin this was goes on b. True
 * when the loan ended while the pin held it (the access touched a block
 * that is no longer the owner's to keep).
 */
static bool unpin_locked(struct loans *l, uint32_t idx, struct release_batch *b)
{
	struct loan *ln = &l->loan[idx];
	bool ended;

	if (idx >= l->nblocks || !ln->pins)
		return false;
	ended = ln->state != LOAN_LENT;
	if (--ln->pins || ln->state != LOAN_FREEING)
		return ended;
	ln->state = LOAN_FREE;
	l->nlent--;
	b->idx[b->n++] = idx;
	return ended;
}

int loans_pin_many(struct loans *l, uint32_t owner,
		   const struct proto_block_ref *refs, uint32_t n, uint64_t now,
		   uint32_t *bad)
{
	struct release_batch b = {.n = 0};
	uint32_t i;
	int ret = 0;

	pthread_mutex_lock(&l->lock);
	for (i = 0; i < n; i++) {
		ret = pin_locked(l, owner, refs[i]);
		if (ret)
			break;
	}
	if (ret) {
		*bad = i;
		/* only LENT loans were pinned, so nothing is released here */
		while (i--)
			unpin_locked(l, refs[i].block, &b);
	}
	touch_locked(l, owner, now);
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
	flush(l, &b);
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
		flush(l, &b);
	}
	return ended ? -ESTALE : 0;
}

uint32_t loans_free(struct loans *l, uint32_t owner,
		    const struct proto_block_ref *refs, uint32_t n,
		    uint64_t now)
{
	struct release_batch b = {.n = 0};
	uint32_t ended = 0, i = 0;

	do {
		pthread_mutex_lock(&l->lock);
		touch_locked(l, owner, now);
		for (; i < n && b.n < LOANS_RELEASE_CHUNK; i++) {
			if (!matches(l, owner, refs[i]))
				continue;
			end_loan_locked(l, refs[i].block, &b);
			ended++;
		}
		pthread_mutex_unlock(&l->lock);
		flush(l, &b);
	} while (i < n);
	return ended;
}

/*
 * Ends owner's LENT loans for which keep() is false, scanning the whole
 * table in chunks so the lock is never held across a release.
 */
static uint32_t
end_owner_loans(struct loans *l, uint32_t owner,
		bool (*keep)(const struct loan *ln, uint32_t gen), uint32_t gen)
{
	struct release_batch b = {.n = 0};
	uint32_t ended = 0, i = 0;

	do {
		pthread_mutex_lock(&l->lock);
		for (; i < l->nblocks && b.n < LOANS_RELEASE_CHUNK; i++) {
			const struct loan *ln = &l->loan[i];

			if (ln->state != LOAN_LENT || ln->owner != owner ||
			    (keep && keep(ln, gen)))
				continue;
			end_loan_locked(l, i, &b);
			ended++;
		}
		pthread_mutex_unlock(&l->lock);
		flush(l, &b);
	} while (i < l->nblocks);
	return ended;
}

uint32_t loans_free_owner(struct loans *l, uint32_t owner)
{
	return end_owner_loans(l, owner, NULL, 0);
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
		e.blocks = end_owner_loans(l, e.owner, NULL, 0);
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
	o = add_owner_locked(l, owner, now);
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
	o = find_owner_locked(l, owner);
	for (uint32_t i = 0; i < n; i++) {
		if (o && matches(l, owner, refs[i]))
			l->loan[refs[i].block].seen = o->gen;
		else
			missing[nmissing++] = refs[i];
	}
	touch_locked(l, owner, now);
	pthread_mutex_unlock(&l->lock);
	return nmissing;
}

static bool seen_in(const struct loan *ln, uint32_t gen)
{
	return ln->seen == gen;
}

uint32_t loans_reconcile_end(struct loans *l, uint32_t owner)
{
	struct loan_owner *o;
	uint32_t gen;

	pthread_mutex_lock(&l->lock);
	o = find_owner_locked(l, owner);
	if (!o || !o->reconciling) {
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	o->reconciling = false;
	gen = o->gen;
	pthread_mutex_unlock(&l->lock);
	return end_owner_loans(l, owner, seen_in, gen);
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
	o = find_owner_locked(l, owner);
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
