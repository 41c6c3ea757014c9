// SPDX-License-Identifier: MIT
/*
 * Copies of our blocks elsewhere (pool_config.replicas): a block that
 * lives elsewhere has up to `replicas` copies, each a loan on its own
 * provider, so that one provider's death loses nothing.
 *
 * - A write goes to every copy and is acknowledged once every copy that
 *   still counts has it: a copy that missed it is dropped at once (given
 *   back, and made again by the rebuilder), so it is never read again. A
 *   write that reached no copy is -EIO and drops nothing.
 * - A read goes to the cheapest reachable copy by a per-node estimate of
 *   what a read costs there, now and then (1 in PROBE_EVERY) to the next
 *   one so its estimate stays true, and to the others in turn when one
 *   fails.
 * - A provider that no longer holds a copy (reconciliation, restart,
 *   STALE answer) takes only that copy with it; the block is lost (EIO)
 *   only once its last copy is gone.
 * With one copy this is exactly the old single loan, and costs nothing
 * more: no side table, no estimates. A write policy's memserver copy
 * (wpolicy.h) is one more slot: read only after every compute copy, and
 * never while it is behind; written with the others unless wpolicy.c
 * says to leave it out.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

/* One read in this many goes to the second cheapest copy (a probe). */
#define PROBE_EVERY 64u
/* A read's cost is its time scaled to a 64 KiB read (see note_cost). */
#define COST_BYTES 65536ull

bool pool_ref_equal(const struct pool_ref *a, const struct pool_ref *b)
{
	return a->node == b->node && a->block == b->block &&
	       a->epoch == b->epoch;
}

bool pool_slot_names_locked(struct pool *p, uint32_t h, uint32_t k,
			    const struct pool_ref *r)
{
	return (p->handles[h].flags & HF_ON_LRL) && r->node &&
	       pool_ref_equal(pool_slot(p, h, k), r);
}

int pool_copy_find_locked(struct pool *p, uint32_t h, const struct pool_ref *r)
{
	for (uint32_t k = 0; k < p->slots; k++)
		if (pool_slot_names_locked(p, h, k, r))
			return (int)k;
	return -1;
}

int pool_copy_add_locked(struct pool *p, uint32_t h, const struct pool_ref *r)
{
	struct handle_loc *loc = &p->handles[h];

	for (uint32_t k = 0; k < p->slots; k++) {
		struct pool_ref *s = pool_slot(p, h, k);

		/* (the memserver copy's slot is wpolicy.c's) */
		if (s->node || pool_wp_is_slot(p, k))
			continue;
		*s = *r;
		loc->ncopies++;
		p->rc.copies++;
		/* the first copy: on LRL at once, so a reconcile claims it */
		if (!(loc->flags & HF_ON_LRL))
			pool_lrl_push_locked(p, h, false);
		return (int)k;
	}
	return -ENOSPC;
}

void pool_copy_drop_locked(struct pool *p, uint32_t h, uint32_t k,
			   bool give_back)
{
	struct pool_ref *s = pool_slot(p, h, k);

	if (!s->node)
		return;
	if (give_back)
		pool_release_locked(p, s);
	*s = (struct pool_ref){0};
	p->handles[h].ncopies--;
	p->rc.copies--;
	if (pool_wp_is_slot(p, k)) {
		/* to be made again (unless h is leaving LRL: then forgotten) */
		p->wp.c.ms_copies--;
		pool_wp_mark_locked(p, h);
	}
}

void pool_copies_give_back_locked(struct pool *p, uint32_t h)
{
	if (p->handles[h].flags & HF_ON_LRL)
		pool_lrl_remove_locked(p, h);
	for (uint32_t k = 0; k < p->slots; k++)
		pool_copy_drop_locked(p, h, k, true);
	pool_wp_forget_locked(p, h);
}

bool pool_copy_lost_locked(struct pool *p, uint32_t h, uint32_t k)
{
	struct handle_loc *loc = &p->handles[h];

	pool_copy_drop_locked(p, h, k, false);
	/* (a memserver copy that is behind keeps nothing alive) */
	if (pool_wp_live_copies_locked(p, h)) {
		/* the block lives on in its other copies */
		p->rc.lost++;
		pool_kick_rebuild_locked(p);
		return false;
	}
	/* a mover settles a moving block itself */
	if (loc->state != HANDLE_REMOTE)
		return false;
	pool_lose_locked(p, h);
	return true;
}

bool pool_copy_readable_locked(const struct pool *p, const struct pool_ref *r)
{
	return r->node && !pool_node_suspect_locked(p, r->node);
}

bool pool_handle_readable_locked(struct pool *p, uint32_t h)
{
	for (uint32_t k = 0; k < p->slots; k++)
		if (pool_wp_current_locked(p, h, k) &&
		    pool_copy_readable_locked(p, pool_slot(p, h, k)))
			return true;
	return false;
}

/* ---- what a read costs on each node ---- */

static struct pool_cost *cost_entry_locked(struct pool *p, uint32_t node,
					   bool add)
{
	struct pool_cost *e;

	for (uint32_t i = 0; i < POOL_MAX_COSTS; i++)
		if (p->costs[i].node == node)
			return &p->costs[i];
	if (!add)
		return NULL;
	/* a new node takes a free entry, else the next one round */
	e = &p->costs[p->costs_next++ % POOL_MAX_COSTS];
	*e = (struct pool_cost){.node = node};
	return e;
}

/* 0 for a node not measured yet: it is tried first, and so measured. */
static uint64_t cost_locked(struct pool *p, uint32_t node)
{
	const struct pool_cost *e = cost_entry_locked(p, node, false);

	return e ? e->ns : 0;
}

/*
 * A read of len bytes took ns: its cost is the time scaled to a 64 KiB
 * read (a 512-byte read costs its latency, a 1 MiB one its transfer),
 * averaged over the last eight or so.
 */
static void note_cost_locked(struct pool *p, uint32_t node, uint64_t ns,
			     uint32_t len)
{
	struct pool_cost *e = cost_entry_locked(p, node, true);
	uint64_t c = ns * COST_BYTES / (len + COST_BYTES);

	e->ns = e->ns ? e->ns - e->ns / 8 + c / 8 : c;
}

/* ---- reads ---- */

#define copy_pick pool_copy_pick

/*
 * The copies of h to read from, in order: reachable ones cheapest first,
 * then unreachable ones (they fail at once; one may be back). *probe:
 * the first is the second cheapest this time. Returns how many.
 */
static uint32_t read_order_locked(struct pool *p, uint32_t h,
				  struct copy_pick *c, bool *probe)
{
	uint32_t n = 0, reachable = 0;

	for (uint32_t k = 0; k < p->slots; k++) {
		const struct pool_ref *s = pool_slot(p, h, k);
		struct copy_pick x = {k, *s, 0};
		uint32_t i;

		if (!s->node || !pool_wp_current_locked(p, h, k))
			continue;
		if (pool_wp_is_slot(p, k) && pool_copy_readable_locked(p, s)) {
			/* the memserver copy: after every compute copy */
			x.key = UINT64_MAX - 1;
		} else if (pool_copy_readable_locked(p, s)) {
			x.key = p->slots > 1 ? cost_locked(p, s->node) : 0;
			reachable++;
		} else {
			x.key = UINT64_MAX;
		}
		for (i = n++; i > 0 && c[i - 1].key > x.key; i--)
			c[i] = c[i - 1];
		c[i] = x;
	}
	*probe = reachable > 1 && ++p->read_seq % PROBE_EVERY == 0;
	if (*probe) {
		struct copy_pick t = c[0];

		c[0] = c[1];
		c[1] = t;
	}
	return n;
}

/*
 * Copy c of h answered CORRUPT (its bytes no longer match their checksum
 * at the provider) and another copy served the read: c is dropped (given
 * back) and the rebuilder makes it again from a good copy, as for any
 * copy that stopped counting. A block whose every copy failed keeps them
 * (-EIO, as a disk's bad sector).
 */
void pool_copy_repair(struct pool *p, uint32_t h, const struct copy_pick *c)
{
	pthread_mutex_lock(&p->lock);
	if (pool_slot_names_locked(p, h, c->k, &c->ref)) {
		log_error_rl("pool: block %u on node %u (epoch %u): checksum "
			     "mismatch; that copy is dropped and made again "
			     "from another",
			     c->ref.block, c->ref.node, c->ref.epoch);
		pool_copy_drop_locked(p, h, c->k, true);
		p->rc.repaired++;
		pool_kick_rebuild_locked(p);
	}
	pthread_mutex_unlock(&p->lock);
}

/* Copy c of h failed with ret: STALE means its provider lost it. */
static void read_failed(struct pool *p, uint32_t h, const struct copy_pick *c,
			int ret)
{
	if (ret == -EUCLEAN && p->slots == 1)
		log_error_rl("pool: block %u on node %u (epoch %u): checksum "
			     "mismatch, and no other copy (replicas=1): EIO",
			     c->ref.block, c->ref.node, c->ref.epoch);
	if (ret != -ESTALE)
		return;
	pthread_mutex_lock(&p->lock);
	if (pool_slot_names_locked(p, h, c->k, &c->ref)) {
		log_error_rl("pool: node %u no longer holds our block %u "
			     "(epoch %u): that copy is lost",
			     c->ref.node, c->ref.block, c->ref.epoch);
		pool_copy_lost_locked(p, h, c->k);
	}
	pthread_mutex_unlock(&p->lock);
}

static void read_done(struct pool *p, uint32_t i, bool probe,
		      const struct pool_ref *r, uint64_t ns, uint32_t len)
{
	pthread_mutex_lock(&p->lock);
	note_cost_locked(p, r->node, ns, len);
	if (i)
		p->rc.read_fallbacks++;
	else if (probe)
		p->rc.read_probes++;
	else
		p->rc.reads_fastest++;
	pthread_mutex_unlock(&p->lock);
}

int pool_copies_read_set(struct pool *p, uint32_t h, struct pool_copy_set *set,
			 uint32_t off, void *dst, uint32_t len)
{
	struct copy_pick *c = set->c;
	uint32_t n = set->n, corrupt = 0;
	bool probe = set->probe, bad[POOL_MAX_SLOTS] = {false};
	int ret = -EIO;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t t0 = cmp_now_ns();

		ret = pool_remote_io(p, h, c[i].k, &c[i].ref, off, dst, len,
				     false);
		if (!ret) {
			if (n > 1)
				read_done(p, i, probe, &c[i].ref,
					  cmp_now_ns() - t0, len);
			/* a good copy is known: the bad ones go */
			for (uint32_t j = 0; corrupt && j < i; j++)
				if (bad[j])
					pool_copy_repair(p, h, &c[j]);
			pool_wp_read_from(p, c[i].k);
			return 0;
		}
		bad[i] = ret == -EUCLEAN;
		corrupt += bad[i];
		read_failed(p, h, &c[i], ret);
	}
	return -EIO;
}

/* ---- writes ---- */

/* Every copy of h now (lock). Returns how many. */
static uint32_t all_copies_locked(struct pool *p, uint32_t h,
				  struct copy_pick *c)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < p->slots; k++) {
		const struct pool_ref *s = pool_slot(p, h, k);

		if (s->node && !pool_wp_skip_write_locked(p, h, k))
			c[n++] = (struct copy_pick){k, *s, 0};
	}
	return n;
}

/* The same bytes to n >= 2 copies at once; each one's result in rets[]. */
static void write_all(struct pool *p, uint32_t h, struct copy_pick *c,
		      uint32_t n, uint32_t off, const void *src, uint32_t len,
		      int *rets)
{
	struct pool_ref refs[POOL_MAX_SLOTS], moved[POOL_MAX_SLOTS];

	for (uint32_t i = 0; i < n; i++)
		refs[i] = c[i].ref;
	if (p->cops->write_copies) {
		p->cops->write_copies(p->cctx, refs, n, off, src, len, rets,
				      moved);
	} else {
		for (uint32_t i = 0; i < n; i++)
			rets[i] = p->cops->write(p->cctx, &refs[i], off, src,
						 len, &moved[i]);
	}
	/* a copy that moved on, or may have: followed alone */
	for (uint32_t i = 0; i < n; i++)
		rets[i] = pool_remote_io_from(p, h, c[i].k, &c[i].ref, rets[i],
					      &moved[i], off, (void *)src, len,
					      true);
}

/*
 * The writes' results (lock): a copy whose provider lost it goes; if any
 * copy that is still h's has the bytes, the write stands and every copy
 * that missed it is dropped (given back) before anyone can read it;
 * else -EIO and the copies stay as they are (as a disk's failed write).
 */
static int settle_write_locked(struct pool *p, uint32_t h,
			       const struct copy_pick *c, const int *rets,
			       uint32_t n)
{
	uint32_t ok = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (!pool_slot_names_locked(p, h, c[i].k, &c[i].ref))
			continue;
		if (!rets[i])
			ok++;
		else if (rets[i] == -ESTALE)
			pool_copy_lost_locked(p, h, c[i].k);
	}
	if (!ok)
		return -EIO;
	for (uint32_t i = 0; i < n; i++) {
		if (!rets[i] ||
		    !pool_slot_names_locked(p, h, c[i].k, &c[i].ref))
			continue;
		log_warn_rl("pool: the copy of a block on node %u (block %u) "
			    "missed a write (%s): dropped, to be made again",
			    c[i].ref.node, c[i].ref.block, strerror(-rets[i]));
		pool_copy_drop_locked(p, h, c[i].k, true);
		p->rc.stale++;
		pool_kick_rebuild_locked(p);
	}
	return 0;
}

void pool_copies_pick_locked(struct pool *p, uint32_t h, bool write,
			     struct pool_copy_set *set)
{
	set->probe = false;
	set->n = write ? all_copies_locked(p, h, set->c)
		       : read_order_locked(p, h, set->c, &set->probe);
}

/* The copies of h to use now (takes the lock). */
static struct pool_copy_set *pick(struct pool *p, uint32_t h, bool write,
				  struct pool_copy_set *set)
{
	pthread_mutex_lock(&p->lock);
	pool_copies_pick_locked(p, h, write, set);
	pthread_mutex_unlock(&p->lock);
	return set;
}

int pool_copies_read(struct pool *p, uint32_t h, uint32_t off, void *dst,
		     uint32_t len)
{
	struct pool_copy_set set;

	return pool_copies_read_set(p, h, pick(p, h, false, &set), off, dst,
				    len);
}

int pool_copies_write(struct pool *p, uint32_t h, uint32_t off, const void *src,
		      uint32_t len)
{
	struct pool_copy_set set;

	return pool_copies_write_set(p, h, pick(p, h, true, &set), off, src,
				     len);
}

int pool_copies_write_set(struct pool *p, uint32_t h, struct pool_copy_set *set,
			  uint32_t off, const void *src, uint32_t len)
{
	struct copy_pick *c = set->c;
	uint32_t n = set->n;
	int rets[POOL_MAX_SLOTS];
	int ret;

	if (!n)
		return -EIO;
	if (n == 1) {
		rets[0] = pool_remote_io(p, h, c[0].k, &c[0].ref, off,
					 (void *)src, len, true);
		/* one copy that took it: nothing to settle */
		if (!rets[0]) {
			pool_wp_wrote(p, h, set, rets, len);
			return 0;
		}
	} else {
		write_all(p, h, c, n, off, src, len, rets);
	}
	pthread_mutex_lock(&p->lock);
	ret = settle_write_locked(p, h, c, rets, n);
	if (!ret)
		pool_wp_wrote_locked(p, h, set, rets, len);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* ---- setting up ---- */

int pool_copies_init(struct pool *p, const struct pool_config *cfg)
{
	size_t bytes;
	int ret;

	p->replicas = cfg->replicas ? cfg->replicas : 1;
	if (p->replicas > POOL_MAX_REPLICAS)
		return -EINVAL;
	p->slots = p->replicas > 1 ? p->replicas + 1 : 1;
	/* a write policy: a spare, and the memserver copy's slot, last */
	if (cfg->wpolicy != POOL_WP_NONE)
		p->slots = p->replicas + 2;
	ret = pool_wp_init(p, cfg);
	if (ret)
		return ret;
	p->rebuild_after_ns =
		(uint64_t)(cfg->rebuild_after_ms
				   ? cfg->rebuild_after_ms
				   : POOL_DEFAULT_REBUILD_AFTER_MS) *
		1000000ull;
	p->rebuild_rate = cfg->rebuild_rate;
	if (p->slots == 1)
		return 0;
	/* reserved, faulted in as handles are first used (as the handles) */
	bytes = (size_t)(p->max_handles + 1) * (p->slots - 1) *
		sizeof(*p->more_copies);
	p->more_copies =
		mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->more_copies == MAP_FAILED) {
		p->more_copies = NULL;
		pool_wp_finish(p);
		return -ENOMEM;
	}
	return 0;
}

void pool_copies_finish(struct pool *p)
{
	pool_wp_finish(p);
	if (p->more_copies)
		munmap(p->more_copies, (size_t)(p->max_handles + 1) *
					       (p->slots - 1) *
					       sizeof(*p->more_copies));
	p->more_copies = NULL;
}
