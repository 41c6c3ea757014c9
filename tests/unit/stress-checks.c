// SPDX-License-Identifier: MIT
/*
 * The block lifecycle stress test's checks after the run (stress-world.h),
 * on the main thread once the owners' threads are joined. What the run
 * left must hold: every block still held reads back exactly, lost ones
 * are refused and counted, the provider lends each owner what it claims.
 * Then what a slow run (ThreadSanitizer, a busy machine) may never have
 * had the chance to do is done once, deterministically: a freed loan and
 * the other owner's loan are refused and change nothing, a block moves
 * out and comes home intact, and one more restart of the provider makes
 * everyone's blocks there lost.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp.h"
#include "remote.h"
#include "stress-world.h"
#include "wait-for.h"

/* Every owner reaches the provider again (a call makes it find out). */
static bool all_reach_provider(void *arg)
{
	struct fix *f = arg;
	struct proto_block_status st;
	bool all = true;

	for (int i = 0; i < NOWNERS; i++) {
		if (remote_node_usable(f->w.owners[i].r, PROV))
			continue;
		remote_status(f->w.owners[i].r, PROV, &st);
		all = false;
	}
	return all && !pool_any_suspect(f->w.po.pool);
}

/* ---- the remote owners ---- */

static struct slot slot_of(struct owner *o, uint32_t i)
{
	struct slot s;

	pthread_mutex_lock(&o->lock);
	s = o->slots[i];
	pthread_mutex_unlock(&o->lock);
	return s;
}

/* Live blocks read back exactly; lost ones are refused. */
static void check_remote_blocks(struct fix *f, struct owner *o, uint64_t *buf)
{
	for (uint32_t i = 0; i < RSLOTS; i++) {
		struct slot s = slot_of(o, i);
		struct proto_block_ref ref = {s.block, s.epoch};
		int ret;
		long bad;

		if (s.state != SLOT_LIVE && s.state != SLOT_LOST)
			continue;
		ret = remote_read(o->r, PROV, ref, 0, buf, BS, NULL);
		if (s.state == SLOT_LOST || ret == -ESTALE) {
			/* a live one may be from before the last restart */
			assert_true(s.state == SLOT_LOST ||
				    s.pgen != world_pgen(&f->w));
			assert_int_equal(ret, -ESTALE);
			continue;
		}
		assert_int_equal(ret, 0);
		bad = stress_check(remote_slot_key(o, i, &s), s.lo, s.hi, 0,
				   STRESS_WORDS, buf);
		if (bad >= 0)
			fail_msg("owner %u slot %u (block %u epoch %u): word "
				 "%ld reads %016llx at the end",
				 o->node, i, s.block, s.epoch, bad,
				 (unsigned long long)buf[bad]);
	}
}

struct reconciled {
	struct fix *f;
	struct owner *o;
	uint64_t before;
};

/* o reconciled once more, and the provider lends it what it claims. */
static bool provider_agrees(void *arg)
{
	struct reconciled *rc = arg;
	struct remote_stats st;
	uint32_t live = 0;

	remote_stats(rc->o->r, &st);
	if (st.reconciles <= rc->before)
		return false;
	for (uint32_t i = 0; i < RSLOTS; i++)
		live += slot_of(rc->o, i).state == SLOT_LIVE;
	return peer_lent_to(rc->f->peer, rc->o->node) == live;
}

/* FREEs lost in a restart or a timeout are settled by a reconciliation. */
static void provider_agrees_with(struct fix *f, struct owner *o)
{
	struct reconciled rc = {f, o, 0};
	struct remote_stats st;

	remote_stats(o->r, &st);
	rc.before = st.reconciles;
	remote_want_reconcile(o->r, PROV);
	assert_true(wait_for(provider_agrees, &rc, DEADLINE_MS));
}

/* A new loan of o's in an empty slot (one is freed if need be): which. */
static uint32_t fresh_loan(struct fix *f, struct owner *o,
			   struct proto_block_ref *out)
{
	struct proto_block_ref ref;
	uint32_t i, got;

	for (i = 0; i < RSLOTS && slot_of(o, i).state != SLOT_EMPTY; i++)
		;
	if (i == RSLOTS) {
		i = 0;
		ref = (struct proto_block_ref){o->slots[0].block,
					       o->slots[0].epoch};
		assert_int_equal(remote_free(o->r, PROV, &ref, 1), 0);
	}
	assert_int_equal(remote_borrow_begin(o->r, PROV), 0);
	assert_int_equal(remote_alloc(o->r, PROV, 1, &ref, &got), 0);
	pthread_mutex_lock(&o->lock);
	slot_renew(&o->slots[i], world_pgen(&f->w));
	o->slots[i].block = ref.block;
	o->slots[i].epoch = ref.epoch;
	pthread_mutex_unlock(&o->lock);
	remote_borrow_end(o->r, PROV);
	*out = ref;
	return i;
}

/* Read and written with poison, ref (not o's) must be refused. */
static void refused(struct owner *o, struct proto_block_ref ref, uint64_t *buf)
{
	static const uint32_t gen[STRESS_NCHUNK] = {[0 ... STRESS_NCHUNK - 1] =
							    1};

	assert_int_equal(remote_read(o->r, PROV, ref, 0, buf, BS, NULL),
			 -ESTALE);
	stress_fill(0xdeadbeef, gen, 0, STRESS_WORDS, buf);
	assert_int_equal(remote_write(o->r, PROV, ref, 0, buf, BS, NULL),
			 -ESTALE);
}

/*
 * A freed loan is refused even when its block is lent to the same owner
 * again (only the epoch tells them apart), another owner's loan is
 * refused, and the poison written to them lands nowhere.
 */
static void foreign_loans_refused(struct fix *f, uint64_t *buf)
{
	struct owner *a = &f->w.owners[0], *b = &f->w.owners[1];
	struct proto_block_ref freed, again, theirs;
	uint32_t i = fresh_loan(f, a, &freed);

	assert_int_equal(remote_free(a->r, PROV, &freed, 1), 0);
	pthread_mutex_lock(&a->lock);
	a->slots[i].state = SLOT_EMPTY;
	pthread_mutex_unlock(&a->lock);
	/* the block freed is the next one lent */
	fresh_loan(f, a, &again);
	assert_int_equal(again.block, freed.block);
	fresh_loan(f, b, &theirs);
	refused(a, freed, buf);
	refused(a, theirs, buf);
	refused(b, again, buf);
	check_remote_blocks(f, a, buf);
	check_remote_blocks(f, b, buf);
}

/* ---- the pool owner ---- */

/* Where handle h lives now: 0 here, -EREMOTE there, -EIO lost. */
static int where(struct pool *p, uint32_t h)
{
	void *ptr;
	int ret = pool_pin(p, h, &ptr);

	if (!ret)
		pool_unpin(p, h);
	return ret;
}

/* A live slot of the pool owner whose handle is at want, or -1. */
static int find_handle(struct pool_owner *po, int want)
{
	for (uint32_t i = 0; i < PSLOTS; i++)
		if (po->slots[i].state == SLOT_LIVE &&
		    where(po->pool, po->slots[i].handle) == want)
			return (int)i;
	return -1;
}

/* A new cleared handle in an empty slot (made by freeing a lost one). */
static void add_handle(struct pool_owner *po, struct world *w)
{
	int i = 0;

	while (i < (int)PSLOTS && po->slots[i].state != SLOT_EMPTY)
		i++;
	if (i == (int)PSLOTS) {
		i = find_handle(po, -EIO);
		assert_true(i >= 0);
		pool_free(po->pool, po->slots[i].handle);
	}
	assert_int_equal(pool_alloc(po->pool, true, &po->slots[i].handle), 0);
	slot_renew(&po->slots[i], world_pgen(w));
}

struct homecoming {
	struct pool *pool;
	uint64_t before;
};

static bool one_came_home(void *arg)
{
	struct homecoming *hc = arg;
	struct pool_counts c;

	pool_pull_home(hc->pool, 1);
	pool_get_counts(hc->pool, &c);
	return c.homecomings > hc->before;
}

/* A block moves out when the pool is full, and home when there is room. */
static void one_goes_out_and_comes_home(struct fix *f)
{
	struct pool_owner *po = &f->w.po;
	struct homecoming hc = {po->pool, 0};
	struct pool_counts c;
	int i;

	while (find_handle(po, -EREMOTE) < 0)
		add_handle(po, &f->w);
	/* counted first: the helper may pull it home as soon as we free */
	pool_get_counts(po->pool, &c);
	hc.before = c.homecomings;
	i = find_handle(po, 0);
	if (i >= 0) {
		pool_free(po->pool, po->slots[i].handle);
		po->slots[i].state = SLOT_EMPTY;
	}
	if (!wait_for(one_came_home, &hc, DEADLINE_MS)) {
		pool_get_counts(po->pool, &c);
		fail_msg("no block came home: free %llu, LLL %llu, LRL %llu, "
			 "lost %llu, suspect %d, remote handle in slot %d",
			 (unsigned long long)c.blocks[POOL_FREE],
			 (unsigned long long)c.blocks[POOL_LLL],
			 (unsigned long long)c.blocks[POOL_LRL],
			 (unsigned long long)c.lost, pool_any_suspect(po->pool),
			 find_handle(po, -EREMOTE));
	}
}

/* Every handle reads back exactly, or is lost (and counted so). */
static void check_pool_blocks(struct fix *f, uint64_t *buf)
{
	struct pool_owner *po = &f->w.po;
	struct pool_counts c;
	uint64_t nlost = 0;

	for (uint32_t i = 0; i < PSLOTS; i++) {
		struct slot *s = &po->slots[i];
		int ret;
		long bad;

		if (s->state != SLOT_LIVE)
			continue;
		ret = pool_read(po->pool, s->handle, 0, buf, BS);
		if (ret == -EIO) {
			nlost++;
			continue;
		}
		assert_int_equal(ret, 0);
		bad = stress_check(pool_slot_key(i, s), s->lo, s->hi, 0,
				   STRESS_WORDS, buf);
		if (bad >= 0)
			fail_msg("pool owner slot %u (handle %u): word %ld "
				 "reads %016llx at the end",
				 i, s->handle, bad,
				 (unsigned long long)buf[bad]);
	}
	pool_get_counts(po->pool, &c);
	assert_int_equal(c.lost, nlost);
}

struct pool_agrees {
	struct fix *f;
	struct pool_counts c;
};

/* The provider lends the pool owner exactly its blocks there. */
static bool provider_agrees_with_pool(void *arg)
{
	struct pool_agrees *pa = arg;

	pool_get_counts(pa->f->w.po.pool, &pa->c);
	return peer_lent_to(pa->f->peer, POOL_NODE) == pa->c.blocks[POOL_LRL];
}

struct lost_wait {
	struct pool *pool;
	uint32_t h;
	uint64_t before;
};

/* The pool lost h (a read makes it find out the provider restarted). */
static bool pool_lost_it(void *arg)
{
	struct lost_wait *lw = arg;
	uint8_t b[8];

	pool_read(lw->pool, lw->h, 0, b, sizeof(b));
	return pool_lost_gen(lw->pool) > lw->before &&
	       where(lw->pool, lw->h) == -EIO;
}

/* One more restart: the blocks there are lost, for every owner. */
static void a_restart_loses_what_was_there(struct fix *f, uint64_t *buf)
{
	struct pool_owner *po = &f->w.po;
	struct rng g = {f->w.seed};
	struct lost_wait lw = {po->pool, 0, pool_lost_gen(po->pool)};

	while (find_handle(po, -EREMOTE) < 0)
		add_handle(po, &f->w);
	lw.h = po->slots[find_handle(po, -EREMOTE)].handle;
	/* it waits until the remote owners saw it */
	restart_provider(f, &g);
	assert_false(stress_failed());
	assert_true(wait_for(pool_lost_it, &lw, DEADLINE_MS));
	assert_true(wait_for(all_reach_provider, f, DEADLINE_MS));
	for (int i = 0; i < NOWNERS; i++)
		check_remote_blocks(f, &f->w.owners[i], buf);
	check_pool_blocks(f, buf);
}

void final_checks(struct fix *f)
{
	struct pool_agrees pa = {.f = f};
	uint64_t *buf = f->buf;

	/* every call below must succeed: no deadline to miss on a slow box */
	for (int i = 0; i < NOWNERS; i++)
		remote_set_timeout(f->w.owners[i].r, DEADLINE_MS);
	/* the pool owner finds out about the last restart by using it */
	for (uint32_t i = 0; i < PSLOTS; i++)
		if (f->w.po.slots[i].state == SLOT_LIVE)
			pool_read(f->w.po.pool, f->w.po.slots[i].handle, 0, buf,
				  8);
	assert_true(wait_for(all_reach_provider, f, DEADLINE_MS));
	for (int i = 0; i < NOWNERS; i++) {
		struct owner *o = &f->w.owners[i];

		check_remote_blocks(f, o, buf);
		provider_agrees_with(f, o);
		assert_true(atomic_load(&o->restarts_seen) >= o->restarts_due);
		assert_true(o->n.reads && o->n.writes && o->n.batches);
		assert_true(o->n.borrows && o->n.frees);
	}
	foreign_loans_refused(f, buf);
	one_goes_out_and_comes_home(f);
	check_pool_blocks(f, buf);
	assert_true(wait_for(provider_agrees_with_pool, &pa, DEADLINE_MS));
	assert_true(f->w.po.n.reads && f->w.po.n.writes && f->w.po.n.allocs);
	a_restart_loses_what_was_there(f, buf);
}
