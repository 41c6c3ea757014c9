// SPDX-License-Identifier: MIT
/*
 * The remote owners of the block lifecycle stress test (stress-world.h):
 * nodes that use the provider through the block client directly, so that
 * they can do what the pool never does on purpose. Their data threads
 * read, write, and batch-read and batch-write random ranges of their
 * blocks and check every byte read; their loan thread frees blocks while
 * those threads may be using them, borrows new ones (which must read as
 * zeros), tries freed loans again (a read must be refused, a write must
 * be refused and change nothing) and tries the other owner's loans (the
 * same). A loan may only end because we freed it or the provider
 * restarted: a STALE refusal or a reconciliation that finds a loan
 * missing with neither is a failure too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "remote.h"
#include "stress-world.h"

#define POISON_KEY 0xdeadbeefull

uint64_t remote_slot_key(const struct owner *o, uint32_t i,
			 const struct slot *s)
{
	return stress_key(o->node ^ (i << 20), s->life, s->block, s->epoch);
}

static struct proto_block_ref ref_of(const struct slot *s)
{
	return (struct proto_block_ref){s->block, s->epoch};
}

/* slot_claim() on o's slots, with the key and loan of the slot taken. */
static bool claim_locked(struct owner *o, struct rng *g, bool write,
			 struct xfer *x, struct proto_block_ref *ref)
{
	if (!slot_claim(o->slots, RSLOTS, g, write, x))
		return false;
	x->key = remote_slot_key(o, x->si, &o->slots[x->si]);
	*ref = ref_of(&o->slots[x->si]);
	return true;
}

/* A slot's loan may end only by our FREE or the provider's restart. */
static bool end_explained_locked(struct world *w, const struct slot *s)
{
	return s->state != SLOT_LIVE || s->pgen != world_pgen(w);
}

static void check_read(struct owner *o, const struct xfer *x,
		       struct proto_block_ref ref)
{
	long bad = stress_check(x->key, x->lo, x->hi, x->w0, x->nw, x->buf);
	uint32_t w, c;

	if (bad < 0) {
		atomic_fetch_add(&o->n.verified_words, x->nw);
		return;
	}
	w = x->w0 + (uint32_t)bad;
	c = w / STRESS_CHUNK_WORDS;
	stress_fail("owner %u slot %u (block %u epoch %u): word %u reads "
		    "%016llx, want generation %u..%u of this loan",
		    o->node, x->si, ref.block, ref.epoch, w,
		    (unsigned long long)x->buf[bad], x->lo[c], x->hi[c]);
}

/* Counts an answer; anything but data, EIO and STALE is a failure. */
static void count(struct owner *o, const char *what, int ret)
{
	/* the provider is away: no point in spinning on it */
	if (ret == -EIO) {
		atomic_fetch_add(&o->n.eio, 1);
		stress_pace(o->w, 1);
	} else if (ret == -ESTALE) {
		atomic_fetch_add(&o->n.estale, 1);
	} else if (ret) {
		stress_fail("owner %u: %s: unexpected %s", o->node, what,
			    strerror(-ret));
	}
}

static void one_rw(struct owner *o, struct rng *g, bool write, uint64_t *buf)
{
	struct xfer x = {.buf = buf};
	struct proto_block_ref ref;
	struct slot *s;
	bool ok;
	int ret;

	pthread_mutex_lock(&o->lock);
	ok = claim_locked(o, g, write, &x, &ref);
	pthread_mutex_unlock(&o->lock);
	if (!ok) {
		stress_pace(o->w, 1);
		return;
	}
	if (write) {
		stress_fill(x.key, x.gen, x.w0, x.nw, buf);
		ret = remote_write(o->r, PROV, ref, x.w0 * 8, buf, x.nw * 8,
				   NULL);
	} else {
		ret = remote_read(o->r, PROV, ref, x.w0 * 8, buf, x.nw * 8,
				  NULL);
	}
	if (!write && ret == 0)
		check_read(o, &x, ref);
	pthread_mutex_lock(&o->lock);
	s = &o->slots[x.si];
	if (ret == -ESTALE && !end_explained_locked(o->w, s))
		stress_fail("owner %u slot %u: block %u epoch %u refused STALE "
			    "though not freed and the provider did not restart",
			    o->node, x.si, ref.block, ref.epoch);
	else if (ret == -ESTALE && s->state == SLOT_LIVE)
		s->state = SLOT_LOST;
	slot_settle(o->slots, &x, write, ret);
	pthread_mutex_unlock(&o->lock);
	if (ret == 0)
		atomic_fetch_add(write ? &o->n.writes : &o->n.reads, 1);
	count(o, write ? "write" : "read", ret);
}

static void batch_rw(struct owner *o, struct rng *g, bool write, uint64_t *bufs)
{
	struct xfer x[MAX_BATCH];
	struct proto_block_ref ref[MAX_BATCH];
	struct proto_block_extent ext[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	uint32_t want = 2 + rng_below(g, MAX_BATCH - 1), n = 0;
	bool explained = false;
	int ret;

	pthread_mutex_lock(&o->lock);
	while (n < want && claim_locked(o, g, write, &x[n], &ref[n]))
		n++;
	pthread_mutex_unlock(&o->lock);
	if (!n) {
		stress_pace(o->w, 1);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		x[i].buf = bufs + (size_t)i * STRESS_WORDS;
		ext[i] = (struct proto_block_extent){ref[i].block, ref[i].epoch,
						     x[i].w0 * 8, x[i].nw * 8};
		iov[i] = (struct iovec){x[i].buf, x[i].nw * 8};
		if (write)
			stress_fill(x[i].key, x[i].gen, x[i].w0, x[i].nw,
				    x[i].buf);
	}
	if (write)
		ret = remote_write_batch(o->r, PROV, ext, n, iov, (int)n, NULL);
	else
		ret = remote_read_batch(o->r, PROV, ext, n, iov, (int)n, NULL);
	for (uint32_t i = 0; !write && ret == 0 && i < n; i++)
		check_read(o, &x[i], ref[i]);
	pthread_mutex_lock(&o->lock);
	for (uint32_t i = 0; i < n; i++) {
		explained = explained ||
			    end_explained_locked(o->w, &o->slots[x[i].si]);
		slot_settle(o->slots, &x[i], write, ret);
	}
	pthread_mutex_unlock(&o->lock);
	/* one stale extent refuses the batch: which one is not said */
	if (ret == -ESTALE && !explained)
		stress_fail("owner %u: a batch of %u refused STALE though none "
			    "was freed and the provider did not restart",
			    o->node, n);
	if (ret == 0)
		atomic_fetch_add(&o->n.batches, 1);
	count(o, write ? "write batch" : "read batch", ret);
}

void *remote_io_main(void *arg)
{
	struct worker *wk = arg;
	struct owner *o = wk->who;
	struct rng g = {wk->seed};
	uint64_t *bufs = calloc(MAX_BATCH, BS);

	if (!bufs) {
		stress_fail("owner %u: out of memory", o->node);
		return NULL;
	}
	while (!atomic_load(&o->w->stop) && !stress_failed()) {
		uint32_t r = rng_below(&g, 100);

		if (r < 30)
			one_rw(o, &g, false, bufs);
		else if (r < 60)
			one_rw(o, &g, true, bufs);
		else if (r < 80)
			batch_rw(o, &g, false, bufs);
		else
			batch_rw(o, &g, true, bufs);
	}
	free(bufs);
	return NULL;
}

/* ---- the loan thread ---- */

static void add_ghost_locked(struct owner *o, struct proto_block_ref ref,
			     uint32_t pgen)
{
	o->ghosts[o->next_ghost++ % NGHOSTS] =
		(struct ghost){.ref = ref, .pgen = pgen, .set = true};
}

/* Half the time a slot with a read or write on its way, if there is one. */
static struct slot *victim_locked(struct owner *o, struct rng *g)
{
	uint32_t i = rng_below(g, RSLOTS);

	for (uint32_t k = 0; k < RSLOTS && rng_below(g, 2); k++) {
		struct slot *s = &o->slots[(i + k) % RSLOTS];

		if (s->state == SLOT_LIVE && s->busy)
			return s;
	}
	return &o->slots[i];
}

/*
 * Frees a live slot, preferably in the middle of a read or a write of it
 * (the provider must hold the block until that ends); a lost one is just
 * forgotten.
 */
static void free_one(struct owner *o, struct rng *g)
{
	struct proto_block_ref ref;
	struct slot *s;
	uint32_t pgen;
	int ret;

	pthread_mutex_lock(&o->lock);
	s = victim_locked(o, g);
	if (s->state == SLOT_LOST)
		s->state = SLOT_EMPTY;
	if (s->state != SLOT_LIVE) {
		pthread_mutex_unlock(&o->lock);
		return;
	}
	s->state = SLOT_FREEING;
	ref = ref_of(s);
	pgen = s->pgen;
	pthread_mutex_unlock(&o->lock);

	ret = remote_free(o->r, PROV, &ref, 1);

	pthread_mutex_lock(&o->lock);
	s->state = SLOT_EMPTY;
	/* acknowledged by the provider that lent it: gone for good */
	if (ret == 0 && pgen == world_pgen(o->w))
		add_ghost_locked(o, ref, pgen);
	pthread_mutex_unlock(&o->lock);
	if (ret == 0)
		atomic_fetch_add(&o->n.frees, 1);
	count(o, "free", ret);
}

/* Up to three new loans into empty slots, recorded before borrow_end. */
static void borrow(struct owner *o, struct rng *g)
{
	uint32_t want = 1 + rng_below(g, 3), start = rng_below(g, RSLOTS);
	uint32_t idx[3], n = 0, got = 0, pgen;
	struct proto_block_ref refs[3];
	bool began;
	int ret;

	pthread_mutex_lock(&o->lock);
	for (uint32_t k = 0; k < RSLOTS && n < want; k++) {
		struct slot *s = &o->slots[(start + k) % RSLOTS];

		if (s->state == SLOT_EMPTY && !s->busy) {
			s->busy = true;
			idx[n++] = (start + k) % RSLOTS;
		}
	}
	pthread_mutex_unlock(&o->lock);
	if (!n)
		return;
	pgen = world_pgen(o->w);
	ret = remote_borrow_begin(o->r, PROV);
	began = ret == 0;
	if (began)
		ret = remote_alloc(o->r, PROV, n, refs, &got);
	pthread_mutex_lock(&o->lock);
	for (uint32_t k = 0; k < n; k++) {
		struct slot *s = &o->slots[idx[k]];

		s->busy = false;
		if (ret || k >= got)
			continue;
		slot_renew(s, pgen);
		s->block = refs[k].block;
		s->epoch = refs[k].epoch;
	}
	pthread_mutex_unlock(&o->lock);
	if (began)
		remote_borrow_end(o->r, PROV);
	if (ret == 0)
		atomic_fetch_add(&o->n.borrows, got);
	if (ret != -ENOSPC)
		count(o, "borrow", ret);
}

/*
 * A loan that is not ours (freed, or the other owner's) read or written
 * with poison: it must be refused. Returns whether it was.
 */
static bool try_foreign(struct owner *o, struct proto_block_ref ref, bool write,
			uint64_t *buf)
{
	static const uint32_t gen[STRESS_NCHUNK] = {[0 ... STRESS_NCHUNK - 1] =
							    1};
	int ret;

	if (write) {
		stress_fill(POISON_KEY, gen, 0, STRESS_WORDS, buf);
		ret = remote_write(o->r, PROV, ref, 0, buf, BS, NULL);
	} else {
		ret = remote_read(o->r, PROV, ref, 0, buf, BS, NULL);
	}
	if (ret && ret != -ESTALE && ret != -EIO)
		stress_fail("owner %u: foreign block %u epoch %u: unexpected "
			    "%s",
			    o->node, ref.block, ref.epoch, strerror(-ret));
	return ret != 0;
}

static void try_ghost(struct owner *o, struct rng *g, bool write, uint64_t *buf)
{
	struct ghost gh;

	pthread_mutex_lock(&o->lock);
	gh = o->ghosts[rng_below(g, NGHOSTS)];
	pthread_mutex_unlock(&o->lock);
	if (!gh.set || gh.pgen != world_pgen(o->w))
		return;
	if (try_foreign(o, gh.ref, write, buf))
		atomic_fetch_add(&o->n.ghost_refused, 1);
	else if (gh.pgen == world_pgen(o->w))
		stress_fail("owner %u: freed loan (block %u epoch %u) was %s",
			    o->node, gh.ref.block, gh.ref.epoch,
			    write ? "written" : "read");
}

static void try_cross(struct owner *o, struct rng *g, bool write, uint64_t *buf)
{
	struct owner *other = &o->w->owners[o == &o->w->owners[0]];
	struct slot *s = &other->slots[rng_below(g, RSLOTS)];
	struct proto_block_ref ref;
	uint32_t pgen;
	bool live;

	pthread_mutex_lock(&other->lock);
	live = s->state == SLOT_LIVE;
	ref = ref_of(s);
	pgen = s->pgen;
	pthread_mutex_unlock(&other->lock);
	if (!live || pgen != world_pgen(o->w))
		return;
	if (try_foreign(o, ref, write, buf))
		atomic_fetch_add(&o->n.cross_refused, 1);
	else if (pgen == world_pgen(o->w))
		stress_fail("owner %u %s owner %u's block %u epoch %u", o->node,
			    write ? "wrote" : "read", other->node, ref.block,
			    ref.epoch);
}

void *remote_churn_main(void *arg)
{
	struct worker *wk = arg;
	struct owner *o = wk->who;
	struct rng g = {wk->seed};
	uint64_t *buf = malloc(BS);

	if (!buf) {
		stress_fail("owner %u: out of memory", o->node);
		return NULL;
	}
	while (!atomic_load(&o->w->stop) && !stress_failed()) {
		uint32_t r = rng_below(&g, 100);

		if (r < 30) {
			free_one(o, &g);
			/* the block just freed is the next one lent */
			borrow(o, &g);
		} else if (r < 50) {
			borrow(o, &g);
		} else if (r < 75) {
			try_ghost(o, &g, r < 65, buf);
		} else {
			try_cross(o, &g, r < 88, buf);
		}
		stress_pace(o->w, rng_below(&g, 3));
	}
	free(buf);
	return NULL;
}

/* ---- what the block client asks of us ---- */

static uint32_t own_loans(void *ctx, uint32_t node, uint32_t *cursor,
			  struct proto_block_ref *refs, uint32_t *tags,
			  uint32_t max)
{
	struct owner *o = ctx;
	uint32_t i = *cursor, n = 0;

	(void)node;
	pthread_mutex_lock(&o->lock);
	for (; i < RSLOTS && n < max; i++) {
		if (o->slots[i].state != SLOT_LIVE)
			continue;
		refs[n] = ref_of(&o->slots[i]);
		tags[n++] = i;
	}
	pthread_mutex_unlock(&o->lock);
	*cursor = i >= RSLOTS ? UINT32_MAX : i;
	return n;
}

static void own_lost(void *ctx, uint32_t node,
		     const struct proto_block_ref *refs, const uint32_t *tags,
		     uint32_t n)
{
	struct owner *o = ctx;

	(void)node;
	pthread_mutex_lock(&o->lock);
	for (uint32_t k = 0; k < n; k++) {
		struct slot *s = &o->slots[tags[k] % RSLOTS];

		if (s->state != SLOT_LIVE || s->block != refs[k].block ||
		    s->epoch != refs[k].epoch)
			continue;
		if (s->pgen == world_pgen(o->w))
			stress_fail("owner %u: reconciliation found block %u "
				    "epoch %u missing; nothing ended it",
				    o->node, refs[k].block, refs[k].epoch);
		s->state = SLOT_LOST;
	}
	pthread_mutex_unlock(&o->lock);
}

static void own_restarted(void *ctx, uint32_t node)
{
	struct owner *o = ctx;

	(void)node;
	pthread_mutex_lock(&o->lock);
	for (uint32_t i = 0; i < RSLOTS; i++)
		if (o->slots[i].state == SLOT_LIVE)
			o->slots[i].state = SLOT_LOST;
	pthread_mutex_unlock(&o->lock);
	atomic_fetch_add(&o->restarts_seen, 1);
}

const struct remote_owner_ops stress_owner_ops = {
	.loans = own_loans,
	.lost = own_lost,
	.restarted = own_restarted,
};
