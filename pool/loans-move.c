// SPDX-License-Identifier: MIT
/*
 * Moving loans on (loans.h): a move in three steps (begin, the caller's
 * copy elsewhere, end), the handover of a loan to its real owner on the
 * node it moved to, and the forwarding records a move leaves behind: an
 * open-addressing table keyed by (owner, block, epoch), sized at creation
 * (a move that would overflow it is refused at its start), so nothing
 * allocates on a request.
 *
 * A record answers the owner's requests for the old loan with where it
 * went (principle 5) until the owner confirms it knows: it answered a
 * notice (loans_fwd_noticed), or it left, or its lease ran out. A FREE of
 * the old loan does not drop it: the owner may have freed its block before
 * it heard of the move, and then the new place is its to free too, which
 * one more notice tells it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/util.h"
#include "loans-internal.h"

/* ---- moving loans on ---- */

/*
 * A move of idx that did not happen: the loan is LENT again, or, if it
 * ended meanwhile, ends now (FREEING while still pinned).
 */
static void unmove_locked(struct loans *l, uint32_t idx,
			  struct release_batch *b)
{
	struct loan *ln = &l->loan[idx];
	bool ended = ln->flags & LOAN_F_ENDED;

	ln->flags &= (uint8_t) ~(LOAN_F_ENDED | LOAN_F_FREED);
	if (!ended) {
		ln->state = LOAN_LENT;
	} else if (ln->pins) {
		ln->state = LOAN_FREEING;
	} else {
		ln->state = LOAN_FREE;
		l->nlent--;
		b->idx[b->n++] = idx;
	}
	l->fwd_reserved--;
}

int loans_move_begin(struct loans *l, uint32_t idx, int timeout_ms,
		     uint32_t *owner, uint32_t *epoch)
{
	struct release_batch b = {.n = 0};
	struct timespec dl;
	struct loan *ln;
	int ret = 0;

	cmp_deadline_ms(&dl, (uint64_t)(timeout_ms > 0 ? timeout_ms : 0));
	pthread_mutex_lock(&l->lock);
	ln = idx < l->nblocks ? &l->loan[idx] : NULL;
	if (!ln || ln->state != LOAN_LENT) {
		ret = -ESTALE;
		goto out_unlock;
	}
	if (l->nfwd + l->fwd_reserved >= l->fwd_max) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	ln->state = LOAN_MOVING;
	l->fwd_reserved++;
	/* the accesses in flight land before the copy; new ones wait */
	while (ln->pins && !ret)
		ret = -pthread_cond_timedwait(&l->unpinned, &l->lock, &dl);
	if (ln->pins) {
		unmove_locked(l, idx, &b);
		ret = -EBUSY;
		goto out_unlock;
	}
	ret = 0;
	*owner = ln->owner;
	*epoch = ln->epoch;
out_unlock:
	pthread_mutex_unlock(&l->lock);
	loans_flush(l, &b);
	return ret;
}

bool loans_move_wanted(struct loans *l, uint32_t idx)
{
	bool wanted;

	pthread_mutex_lock(&l->lock);
	wanted = idx < l->nblocks && l->loan[idx].state == LOAN_MOVING &&
		 !(l->loan[idx].flags & LOAN_F_ENDED);
	pthread_mutex_unlock(&l->lock);
	return wanted;
}

/* The move of loan ln (block idx) is done: a forwarding record (lock). */
static int moved_locked(struct loans *l, uint32_t idx,
			const struct peer_loan *to)
{
	struct loan *ln = &l->loan[idx];
	struct loan_owner *o = loans_find_owner_locked(l, ln->owner);
	uint8_t flags = ln->flags;
	struct fwd_rec *f;

	if (o && !(flags & LOAN_F_ENDED))
		o->nloans--;
	ln->state = LOAN_FREE;
	ln->flags = 0;
	l->nlent--;
	l->fwd_reserved--;
	/* lent here no more: the block is the mover's */
	loans_journal_locked(l, idx);
	/* an owner that left does not need to know where it went */
	if (!o || ((flags & LOAN_F_ENDED) && !(flags & LOAN_F_FREED)))
		return -ESTALE;
	f = loans_fwd_add_locked(l, ln->owner, idx, ln->epoch, to);
	if (flags & LOAN_F_FREED)
		f->flags |= LOANS_FWD_FREED;
	return 0;
}

int loans_move_end(struct loans *l, uint32_t idx, const struct peer_loan *to)
{
	struct release_batch b = {.n = 0};
	int ret = 0;

	pthread_mutex_lock(&l->lock);
	if (idx >= l->nblocks || l->loan[idx].state != LOAN_MOVING)
		ret = -EINVAL;
	else if (!to)
		unmove_locked(l, idx, &b);
	else
		ret = moved_locked(l, idx, to);
	pthread_mutex_unlock(&l->lock);
	loans_flush(l, &b);
	return ret;
}

int loans_handover(struct loans *l, uint32_t from, struct proto_block_ref r,
		   uint32_t to, uint64_t now, uint32_t *epoch)
{
	struct loan_owner *of, *ot;
	struct loan *ln;
	int ret = 0;

	if (!to || to == from)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	loans_touch_locked(l, from, now);
	if (!loans_matches(l, from, r)) {
		ret = -ESTALE;
		goto out_unlock;
	}
	ln = &l->loan[r.block];
	if (ln->pins) {
		ret = -EBUSY;
		goto out_unlock;
	}
	ot = loans_add_owner_locked(l, to, now);
	if (!ot) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	of = loans_find_owner_locked(l, from);
	if (of)
		of->nloans--;
	ot->nloans++;
	if (now > ot->last_heard)
		ot->last_heard = now; /* its lease on this loan starts now */
	*ln = (struct loan){
		.owner = to,
		.epoch = loans_next_epoch_locked(l),
		.seen = ot->gen,
		.state = LOAN_LENT,
		.flags = LOAN_F_HANDED,
	};
	*epoch = ln->epoch;
	loans_journal_locked(l, r.block);
out_unlock:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

/* ---- the forwarding table ---- */

int loans_fwd_init(struct loans *l, uint32_t max)
{
	uint32_t slots = 16;

	while (slots < 2 * (uint64_t)max && slots < (1u << 30))
		slots <<= 1;
	l->fwd = calloc(slots, sizeof(*l->fwd));
	if (!l->fwd)
		return -ENOMEM;
	l->fwd_slots = slots;
	l->fwd_max = MIN(max, slots / 2);
	return 0;
}

void loans_fwd_finish(struct loans *l)
{
	free(l->fwd);
}

static uint32_t fwd_home(const struct loans *l, uint32_t owner, uint32_t block,
			 uint32_t epoch)
{
	uint64_t k = ((uint64_t)block << 32 | epoch) ^ owner;

	k *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(k >> 33) & (l->fwd_slots - 1);
}

struct fwd_rec *loans_fwd_find_locked(struct loans *l, uint32_t owner,
				      uint32_t block, uint32_t epoch)
{
	uint32_t mask = l->fwd_slots - 1;

	if (!l->nfwd || !owner)
		return NULL;
	for (uint32_t i = fwd_home(l, owner, block, epoch);;
	     i = (i + 1) & mask) {
		struct fwd_rec *f = &l->fwd[i];

		if (!f->owner)
			return NULL;
		if (f->owner == owner && f->block == block && f->epoch == epoch)
			return f;
	}
}

struct fwd_rec *loans_fwd_add_locked(struct loans *l, uint32_t owner,
				     uint32_t block, uint32_t epoch,
				     const struct peer_loan *to)
{
	uint32_t mask = l->fwd_slots - 1, i;
	struct loan_owner *o = loans_find_owner_locked(l, owner);

	for (i = fwd_home(l, owner, block, epoch); l->fwd[i].owner;
	     i = (i + 1) & mask)
		;
	l->fwd[i] = (struct fwd_rec){
		.owner = owner,
		.block = block,
		.epoch = epoch,
		.to = *to,
	};
	l->nfwd++;
	if (o)
		o->nfwd++;
	return &l->fwd[i];
}

/* Linear-probing deletion: shift back the entries that probed past it. */
void loans_fwd_remove_locked(struct loans *l, struct fwd_rec *f)
{
	uint32_t mask = l->fwd_slots - 1;
	uint32_t hole = (uint32_t)(f - l->fwd), i = hole;
	struct loan_owner *o = loans_find_owner_locked(l, f->owner);

	if (o && o->nfwd)
		o->nfwd--;
	l->nfwd--;
	l->fwd[hole].owner = 0;
	for (;;) {
		const struct fwd_rec *e;
		uint32_t home;

		i = (i + 1) & mask;
		e = &l->fwd[i];
		if (!e->owner)
			return;
		home = fwd_home(l, e->owner, e->block, e->epoch);
		if (((i - home) & mask) < ((i - hole) & mask))
			continue;
		l->fwd[hole] = *e;
		l->fwd[i].owner = 0;
		hole = i;
	}
}

uint32_t loans_fwd_drop_owner_locked(struct loans *l, uint32_t owner)
{
	uint32_t dropped = 0, before;

	/* a removal may shift an entry back past the scan: until none is left
	 */
	do {
		before = dropped;
		for (uint32_t i = 0; i < l->fwd_slots && l->nfwd;) {
			if (l->fwd[i].owner != owner) {
				i++;
				continue;
			}
			loans_fwd_remove_locked(l, &l->fwd[i]);
			dropped++;
		}
	} while (dropped != before);
	return dropped;
}

uint32_t loans_forwarding(struct loans *l)
{
	uint32_t n;

	pthread_mutex_lock(&l->lock);
	n = l->nfwd;
	pthread_mutex_unlock(&l->lock);
	return n;
}

uint32_t loans_forwarding_to(struct loans *l, uint32_t owner)
{
	struct loan_owner *o;
	uint32_t n;

	pthread_mutex_lock(&l->lock);
	o = loans_find_owner_locked(l, owner);
	n = o ? o->nfwd : 0;
	pthread_mutex_unlock(&l->lock);
	return n;
}

bool loans_forwarded(struct loans *l, uint32_t owner, struct proto_block_ref r,
		     struct peer_loan *to)
{
	struct fwd_rec *f;

	pthread_mutex_lock(&l->lock);
	f = loans_fwd_find_locked(l, owner, r.block, r.epoch);
	if (f)
		*to = f->to;
	pthread_mutex_unlock(&l->lock);
	return f != NULL;
}

size_t loans_fwd_due(struct loans *l, uint64_t now, struct loans_notice *out,
		     size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&l->lock);
	for (uint32_t i = 0; i < l->fwd_slots && l->nfwd && n < max; i++) {
		struct fwd_rec *f = &l->fwd[i];

		if (!f->owner || (f->flags & LOANS_FWD_SENDING) ||
		    f->notice_at > now)
			continue;
		f->flags |= LOANS_FWD_SENDING;
		out[n++] = (struct loans_notice){
			.owner = f->owner,
			.block = f->block,
			.epoch = f->epoch,
			.to = f->to,
			.freed = f->flags & LOANS_FWD_FREED,
		};
	}
	pthread_mutex_unlock(&l->lock);
	return n;
}

void loans_fwd_noticed(struct loans *l, const struct loans_notice *n,
		       int result, uint64_t retry_at)
{
	struct fwd_rec *f;

	pthread_mutex_lock(&l->lock);
	f = loans_fwd_find_locked(l, n->owner, n->block, n->epoch);
	if (f && !result) {
		loans_fwd_remove_locked(l, f);
	} else if (f) {
		f->flags &= (uint8_t)~LOANS_FWD_SENDING;
		/* a FREE that came meanwhile wants its notice at once */
		if (!(f->flags & LOANS_FWD_FREED) || n->freed)
			f->notice_at = retry_at;
	}
	pthread_mutex_unlock(&l->lock);
}

void loans_fwd_due_all(struct loans *l)
{
	pthread_mutex_lock(&l->lock);
	for (uint32_t i = 0; i < l->fwd_slots; i++)
		l->fwd[i].notice_at = 0;
	pthread_mutex_unlock(&l->lock);
}
