// SPDX-License-Identifier: MIT
/*
 * Hash compare (issue 11): a block that comes home keeps its loan as a
 * copy (HF_COPY: homecoming, exchange and prefetch alike), with the XXH3
 * of the bytes it came home with, which its loan still holds. Writes mark
 * the 4 KiB pages they touch dirty (the pool sees every write: the file
 * system writes through pool_write() and pool_zero()). When the copy goes
 * out again:
 *   - no page dirty: nothing is sent, its loan is its place again
 *     (evict_unchanged, and a block's bytes saved);
 *   - some pages dirty: only those go, as writes of their runs to the
 *     kept loan (evict_partial, evict_pages_sent), no borrow;
 *   - a pin that may write anywhere (pool_pin(), pool_pin_range(): an
 *     mmap'ed user, a test) made the tracking blind: the block is rehashed
 *     with XXH3 and compared with the stored hash (unchanged: nothing
 *     sent; changed: the whole block to the kept loan).
 * A copy whose loan fails (its provider moved it on, no longer holds it,
 * or cannot be reached) gives its loan back and moves out as any block.
 *
 * A copy's loan is a cache the cluster may take back: its provider may
 * move it on (principle 3, followed as any loan, lrl.c) or end it; an
 * ended loan is forgotten at the next reconciliation (pool_loans_lost():
 * the data is here, only its way out is gone). The owner gives the loans
 * of copies back itself when memory is to spare (prefetch.c,
 * pool_settle_copies()) and when a borrow finds every provider full
 * (pool_hc_give_back(): the coldest copies' loans first).
 *
 * Replicas: only with one copy per block elsewhere (replicas == 1) does a
 * block that came home keep its loan (pool_finish_pull_locked()); with
 * more, it comes home as before, every copy given back, and goes out
 * whole to new copies (keeping every copy, which the rebuilder and the
 * loss accounting would then have to know of, is not done).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

void pool_set_hash_compare(struct pool *p, bool on)
{
	pthread_mutex_lock(&p->lock);
	p->hash_compare = on;
	pthread_mutex_unlock(&p->lock);
}

int pool_hc_init(struct pool *p)
{
	uint32_t pages = MAX(1u, p->block_size >> POOL_PAGE_SHIFT);
	size_t n = MAX(1u, p->max_blocks);

	p->cwords = (pages + 63) / 64;
	p->ctrack = calloc(n, sizeof(*p->ctrack));
	p->cdirty = calloc(n * p->cwords, sizeof(*p->cdirty));
	if (!p->ctrack || !p->cdirty) {
		pool_hc_finish(p);
		return -ENOMEM;
	}
	return 0;
}

void pool_hc_finish(struct pool *p)
{
	free(p->ctrack);
	free(p->cdirty);
	p->ctrack = NULL;
	p->cdirty = NULL;
}

void pool_hc_hash(struct pool *p, uint32_t b)
{
	p->ctrack[b].hash = XXH3_64bits(pool_addr(p, b), p->block_size);
}

static uint64_t *dirty_of(const struct pool *p, uint32_t b)
{
	return p->cdirty + (size_t)b * p->cwords;
}

void pool_hc_keep_locked(struct pool *p, uint32_t b, bool pf)
{
	p->ctrack[b].untracked = 0;
	p->ctrack[b].pf = pf;
	memset(dirty_of(p, b), 0, p->cwords * sizeof(uint64_t));
}

void pool_hc_move_locked(struct pool *p, uint32_t b, uint32_t to)
{
	p->ctrack[to] = p->ctrack[b];
	memcpy(dirty_of(p, to), dirty_of(p, b), p->cwords * sizeof(uint64_t));
}

void pool_hc_access_locked(struct pool *p, struct handle_loc *loc, uint32_t off,
			   uint32_t len, enum pool_access acc)
{
	uint32_t b = loc->local_block;
	uint64_t *d = dirty_of(p, b);

	if (!(loc->flags & HF_COPY) || acc == POOL_ACC_READ)
		return;
	/* without hash compare a prefetched copy ends at its first write */
	if (!p->hash_compare) {
		pool_clean_settle_locked(p, loc);
		return;
	}
	if (acc == POOL_ACC_PIN) {
		p->ctrack[b].untracked = 1;
		return;
	}
	for (uint32_t pg = off >> POOL_PAGE_SHIFT;
	     len && pg <= (off + len - 1) >> POOL_PAGE_SHIFT; pg++)
		d[pg / 64] |= 1ull << (pg % 64);
}

bool pool_hc_pf_locked(const struct pool *p, uint32_t b)
{
	return p->ctrack[b].pf;
}

bool pool_hc_clean_locked(const struct pool *p, uint32_t b)
{
	const uint64_t *d = dirty_of(p, b);

	if (p->ctrack[b].untracked)
		return false;
	for (uint32_t i = 0; i < p->cwords; i++)
		if (d[i])
			return false;
	return true;
}

void pool_hc_unchanged_locked(struct pool *p, uint32_t h, uint32_t b)
{
	p->evict_unchanged++;
	p->evict_bytes_saved += p->block_size;
	pool_clean_drop_locked(p, h, b);
}

/* What a copy's move out looks like, taken under the lock. */
struct copy_out {
	struct pool_ref ref;
	uint64_t hash;
	bool untracked;
	uint64_t dirty[(POOL_MAX_BLOCK >> POOL_PAGE_SHIFT) / 64];
};

static bool page_dirty(const struct copy_out *c, uint32_t pg)
{
	return c->dirty[pg / 64] >> (pg % 64) & 1;
}

/*
 * Sends the runs of dirty pages to the kept loan: 0 and the pages sent
 * in *sent, or -errno (no lock held).
 */
static int send_dirty(struct pool *p, uint32_t h, uint32_t b,
		      struct copy_out *c, uint32_t *sent)
{
	uint32_t pages = MAX(1u, p->block_size >> POOL_PAGE_SHIFT);
	uint8_t *base = pool_addr(p, b);
	int ret = 0;

	*sent = 0;
	for (uint32_t pg = 0, end, off, len; !ret && pg < pages; pg = end) {
		if (!page_dirty(c, pg)) {
			end = pg + 1;
			continue;
		}
		for (end = pg + 1; end < pages && page_dirty(c, end); end++)
			;
		off = pg << POOL_PAGE_SHIFT;
		len = MIN((end - pg) << POOL_PAGE_SHIFT, p->block_size - off);
		ret = pool_remote_io(p, h, 0, &c->ref, off, base + off, len,
				     true);
		if (!ret)
			*sent += end - pg;
	}
	return ret;
}

/*
 * Takes copy h's state for its move out (lock): 1 done already (freed
 * meanwhile, b is the caller's), 0 h is no copy or its provider is out
 * of reach (its loan given back), 2 go on without the lock.
 */
static int take_locked(struct pool *p, uint32_t h, uint32_t b,
		       struct copy_out *c)
{
	struct handle_loc *loc = &p->handles[h];

	if (!(loc->flags & HF_COPY))
		return 0;
	if (loc->flags & HF_FREE_PENDING) {
		/* freed meanwhile: as pool_free() would have done */
		pool_clean_settle_locked(p, loc);
		pool_list_remove_locked(p, b);
		pool_handle_put_locked(p, h);
		pthread_cond_broadcast(&p->moved);
		return 1;
	}
	if (pool_node_suspect_locked(p, loc->loan.node)) {
		pool_clean_settle_locked(p, loc);
		return 0;
	}
	c->ref = loc->loan;
	c->hash = p->ctrack[b].hash;
	c->untracked = p->ctrack[b].untracked;
	memcpy(c->dirty, dirty_of(p, b), p->cwords * sizeof(uint64_t));
	return 2;
}

/*
 * The end of a copy's move out (lock): its loan, with sent pages written
 * to it, is h's place again. 1, or 0 when the copy went meanwhile (its
 * loan lost: move it as any block) or ret failed.
 */
static int finish_locked(struct pool *p, uint32_t h, uint32_t b, int ret,
			 uint32_t sent)
{
	struct handle_loc *loc = &p->handles[h];
	uint32_t bytes = MIN(sent << POOL_PAGE_SHIFT, p->block_size);

	if (!(loc->flags & HF_COPY))
		return 0;
	if (ret) {
		/* (ESTALE: its provider no longer holds it) */
		if (ret == -ESTALE)
			pool_clean_forget_locked(p, loc);
		else
			pool_clean_settle_locked(p, loc);
		return 0;
	}
	if (loc->flags & HF_FREE_PENDING)
		return take_locked(p, h, b, NULL);
	if (sent) {
		p->evict_partial++;
		p->evict_pages_sent += sent;
		atomic_fetch_add_explicit(&p->remote_write_bytes, bytes,
					  memory_order_relaxed);
		p->evict_bytes_saved += p->block_size - bytes;
		pool_clean_drop_locked(p, h, b);
	} else {
		pool_hc_unchanged_locked(p, h, b);
	}
	pthread_cond_broadcast(&p->moved);
	return 1;
}

int pool_hc_evict(struct pool *p, uint32_t h, uint32_t b)
{
	struct copy_out c;
	uint32_t sent = 0;
	int ret;

	pthread_mutex_lock(&p->lock);
	ret = take_locked(p, h, b, &c);
	pthread_mutex_unlock(&p->lock);
	if (ret != 2)
		return ret;
	/* blind to writes: the hash tells (h is moving: nobody writes it) */
	if (c.untracked)
		memset(c.dirty,
		       XXH3_64bits(pool_addr(p, b), p->block_size) == c.hash
			       ? 0
			       : 0xff,
		       p->cwords * sizeof(uint64_t));
	ret = send_dirty(p, h, b, &c, &sent);
	if (ret)
		log_warn_rl("pool: the dirty pages of block %u to node %u "
			    "block %u: %s; it moves out whole",
			    b, c.ref.node, c.ref.block, strerror(-ret));
	pthread_mutex_lock(&p->lock);
	ret = finish_locked(p, h, b, ret, sent);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

uint32_t pool_hc_give_back(struct pool *p, uint32_t n)
{
	uint32_t done = 0;

	pthread_mutex_lock(&p->lock);
	for (uint32_t b = p->lists[POOL_LLL].tail;
	     p->nclean && b != NIL && done < n; b = p->blocks[b].prev) {
		struct handle_loc *loc = &p->handles[p->blocks[b].handle];

		if (loc->state == HANDLE_LOCAL && (loc->flags & HF_COPY)) {
			pool_clean_settle_locked(p, loc);
			done++;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (done)
		pool_drain_releases(p);
	return done;
}
