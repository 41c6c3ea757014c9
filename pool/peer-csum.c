// SPDX-License-Identifier: MIT
/*
 * The provider's checksums of the blocks it holds (peer-internal.h): one
 * 32-bit digest (XXH3-64 folded) per 4 KiB page of every block, so that a
 * copy whose bytes changed in our memory (a bit flip, a stray write, the
 * test hook below) is answered CORRUPT instead of served as data, and the
 * owner reads another copy and has this one made again.
 *
 * - A write hashes only the pages it touches, after its bytes landed: a
 *   small write stays cheap. Before its bytes land it clears those pages'
 *   digests (0 is "not known"), so a read racing it never sees a digest
 *   of other bytes; a write that ran beside another on the same block, or
 *   was overtaken by one, leaves its pages unknown rather than guess.
 * - A read verifies the known pages it touches, without a lock; a
 *   mismatch is looked at again under the block's stripe lock (no write
 *   can be landing on a page whose digest is known then) before it is
 *   believed.
 * - A block is cleared (all unknown) when it is lent and when it comes
 *   back; a block lent with a memory window is written one-sided, behind
 *   our back, and is never checked (unchecked until it comes back).
 * Memory: 4 bytes per 4 KiB page (0.1 %) plus 12 per block, reserved and
 * faulted in as blocks are first written.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "peer-internal.h"

#define PAGE 4096u
#define STRIPES 256u

struct csum_block {
	uint32_t busy; /* writes in flight */
	uint32_t gen;  /* writes begun */
	uint32_t unchecked;
};

struct peer_csum {
	uint32_t nblocks, pages;
	struct csum_block *blk;
	uint32_t *sums; /* nblocks * pages */
	size_t blk_bytes, sum_bytes;
	atomic_uint_least64_t mismatches;
	pthread_mutex_t lock[STRIPES];
};

static void *reserve(size_t bytes)
{
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

struct peer_csum *peer_csum_create(uint32_t nblocks, uint32_t block_size)
{
	struct peer_csum *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return NULL;
	cs->nblocks = nblocks;
	cs->pages = block_size / PAGE ? block_size / PAGE : 1;
	cs->blk_bytes = (size_t)nblocks * sizeof(*cs->blk) + 1;
	cs->sum_bytes = (size_t)nblocks * cs->pages * sizeof(*cs->sums) + 1;
	cs->blk = reserve(cs->blk_bytes);
	if (!cs->blk)
		goto err_free_cs;
	cs->sums = reserve(cs->sum_bytes);
	if (!cs->sums)
		goto err_unmap_blk;
	for (uint32_t i = 0; i < STRIPES; i++)
		pthread_mutex_init(&cs->lock[i], NULL);
	return cs;

err_unmap_blk:
	munmap(cs->blk, cs->blk_bytes);
err_free_cs:
	free(cs);
	errno = ENOMEM;
	return NULL;
}

void peer_csum_destroy(struct peer_csum *cs)
{
	if (!cs)
		return;
	for (uint32_t i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&cs->lock[i]);
	munmap(cs->sums, cs->sum_bytes);
	munmap(cs->blk, cs->blk_bytes);
	free(cs);
}

static pthread_mutex_t *stripe(struct peer_csum *cs, uint32_t block)
{
	return &cs->lock[block % STRIPES];
}

static uint32_t digest(const uint8_t *page)
{
	uint64_t h = XXH3_64bits(page, PAGE);
	uint32_t d = (uint32_t)(h ^ (h >> 32));

	return d ? d : 1; /* 0 is "not known" */
}

/* The pages [*first, *end) that bytes [off, off + len) touch. */
static bool span(const struct peer_csum *cs, uint32_t block, uint32_t off,
		 uint32_t len, uint32_t *first, uint32_t *end)
{
	if (!cs || block >= cs->nblocks || !len)
		return false;
	*first = off / PAGE;
	*end = MIN((off + len - 1) / PAGE + 1, cs->pages);
	return *first < *end;
}

static uint32_t *sums_of(struct peer_csum *cs, uint32_t block)
{
	return cs->sums + (size_t)block * cs->pages;
}

/* Pages [first, end) of block get d[] (NULL: not known); stripe lock. */
static void set_sums_locked(struct peer_csum *cs, uint32_t block,
			    uint32_t first, uint32_t end, const uint32_t *d)
{
	uint32_t *s = sums_of(cs, block);

	/* atomic: reads look at them without the lock */
	for (uint32_t i = first; i < end; i++)
		__atomic_store_n(&s[i], d ? d[i - first] : 0, __ATOMIC_RELAXED);
}

void peer_csum_reset(struct peer_csum *cs, uint32_t block, bool unchecked)
{
	if (!cs || block >= cs->nblocks)
		return;
	pthread_mutex_lock(stripe(cs, block));
	set_sums_locked(cs, block, 0, cs->pages, NULL);
	cs->blk[block].unchecked = unchecked;
	pthread_mutex_unlock(stripe(cs, block));
}

uint32_t peer_csum_write_begin(struct peer_csum *cs, uint32_t block,
			       uint32_t off, uint32_t len)
{
	struct csum_block *b;
	uint32_t first, end, gen;

	if (!span(cs, block, off, len, &first, &end))
		return 0;
	b = &cs->blk[block];
	pthread_mutex_lock(stripe(cs, block));
	b->busy++;
	gen = ++b->gen;
	set_sums_locked(cs, block, first, end, NULL);
	pthread_mutex_unlock(stripe(cs, block));
	return gen;
}

void peer_csum_write_end(struct peer_csum *cs, uint32_t block, uint32_t off,
			 uint32_t len, uint32_t gen, const uint8_t *data)
{
	uint32_t d[PROTO_BLOCK_MAX_SIZE / PAGE];
	struct csum_block *b;
	uint32_t first, end;
	bool alone;

	if (!span(cs, block, off, len, &first, &end))
		return;
	b = &cs->blk[block];
	/* hashed before the lock: a write begun meanwhile changes gen */
	for (uint32_t i = first; i < end; i++)
		d[i - first] = digest(data + (size_t)i * PAGE);
	pthread_mutex_lock(stripe(cs, block));
	alone = --b->busy == 0 && b->gen == gen && !b->unchecked;
	if (alone)
		set_sums_locked(cs, block, first, end, d);
	pthread_mutex_unlock(stripe(cs, block));
}

/* Does known page i of block still differ, looked at under the lock? */
static bool differs_locked(struct peer_csum *cs, uint32_t block, uint32_t i,
			   const uint8_t *data)
{
	uint32_t s;
	bool bad;

	pthread_mutex_lock(stripe(cs, block));
	s = __atomic_load_n(&sums_of(cs, block)[i], __ATOMIC_RELAXED);
	bad = s && s != digest(data + (size_t)i * PAGE);
	pthread_mutex_unlock(stripe(cs, block));
	return bad;
}

int peer_csum_verify(struct peer_csum *cs, uint32_t block, uint32_t off,
		     uint32_t len, const uint8_t *data)
{
	uint32_t first, end, s;

	if (!span(cs, block, off, len, &first, &end))
		return 0;
	for (uint32_t i = first; i < end; i++) {
		s = __atomic_load_n(&sums_of(cs, block)[i], __ATOMIC_RELAXED);
		if (!s || s == digest(data + (size_t)i * PAGE))
			continue;
		if (!differs_locked(cs, block, i, data))
			continue;
		atomic_fetch_add(&cs->mismatches, 1);
		log_error_rl("peer: block %u page %u: checksum mismatch "
			     "(the bytes held changed); answering CORRUPT",
			     block, i);
		return -EUCLEAN;
	}
	return 0;
}

bool peer_csum_corrupt(struct peer_csum *cs, uint32_t block, uint8_t *data)
{
	uint32_t *s;
	bool done = false;

	if (!cs || block >= cs->nblocks)
		return false;
	s = sums_of(cs, block);
	pthread_mutex_lock(stripe(cs, block));
	for (uint32_t i = 0; i < cs->pages && !done; i++) {
		if (!s[i] || cs->blk[block].busy)
			continue;
		data[(size_t)i * PAGE + 7] ^= 0x5a;
		done = true;
	}
	pthread_mutex_unlock(stripe(cs, block));
	return done;
}

uint64_t peer_csum_mismatches(struct peer_csum *cs)
{
	return cs ? atomic_load(&cs->mismatches) : 0;
}
