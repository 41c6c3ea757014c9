// SPDX-License-Identifier: MIT
/*
 * The pool owner of the block lifecycle stress test (stress-world.h): a
 * node with POOL_LOCAL blocks of its own and PSLOTS handles, so most of
 * its data lives on the provider. Its data threads read and write random
 * ranges of its handles and check every byte read; its handle thread
 * frees handles (local ones make room, so the pool's helper pulls blocks
 * home), allocates new ones (the pool evicts its coldest block to the
 * provider to make room) and pulls blocks home itself. Unlike a remote
 * owner it never frees a handle in use: the file system never does
 * either (a handle freed under a read is a bug of the caller).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp.h"
#include "cmp/pool.h"
#include "stress-world.h"

uint64_t pool_slot_key(uint32_t i, const struct slot *s)
{
	return stress_key(POOL_NODE ^ (i << 20), s->life, s->handle, 0x9001);
}

static void count(struct pool_owner *po, const char *what, int ret)
{
	if (ret == -EIO) {
		atomic_fetch_add(&po->n.eio, 1);
		stress_pace(po->w, 1);
	} else if (ret) {
		stress_fail("pool owner: %s: unexpected %s", what,
			    strerror(-ret));
	}
}

static void check_read(struct pool_owner *po, const struct xfer *x, uint32_t h)
{
	long bad = stress_check(x->key, x->lo, x->hi, x->w0, x->nw, x->buf);
	uint32_t w, c;

	if (bad < 0) {
		atomic_fetch_add(&po->n.verified_words, x->nw);
		return;
	}
	w = x->w0 + (uint32_t)bad;
	c = w / STRESS_CHUNK_WORDS;
	stress_fail("pool owner slot %u (handle %u): word %u reads %016llx, "
		    "want generation %u..%u of this handle",
		    x->si, h, w, (unsigned long long)x->buf[bad], x->lo[c],
		    x->hi[c]);
}

static void one_rw(struct pool_owner *po, struct rng *g, bool write,
		   uint64_t *buf)
{
	struct xfer x = {.buf = buf};
	uint32_t h = 0;
	bool ok;
	int ret;

	pthread_mutex_lock(&po->lock);
	ok = slot_claim(po->slots, PSLOTS, g, write, &x);
	if (ok) {
		h = po->slots[x.si].handle;
		x.key = pool_slot_key(x.si, &po->slots[x.si]);
	}
	pthread_mutex_unlock(&po->lock);
	if (!ok) {
		stress_pace(po->w, 1);
		return;
	}
	if (write) {
		stress_fill(x.key, x.gen, x.w0, x.nw, buf);
		ret = pool_write(po->pool, h, x.w0 * 8, buf, x.nw * 8);
	} else {
		ret = pool_read(po->pool, h, x.w0 * 8, buf, x.nw * 8);
	}
	if (!write && ret == 0)
		check_read(po, &x, h);
	pthread_mutex_lock(&po->lock);
	slot_settle(po->slots, &x, write, ret);
	pthread_mutex_unlock(&po->lock);
	if (ret == 0)
		atomic_fetch_add(write ? &po->n.writes : &po->n.reads, 1);
	count(po, write ? "write" : "read", ret);
}

void *pool_io_main(void *arg)
{
	struct worker *wk = arg;
	struct pool_owner *po = wk->who;
	struct rng g = {wk->seed};
	uint64_t *buf = malloc(BS);

	if (!buf) {
		stress_fail("pool owner: out of memory");
		return NULL;
	}
	while (!atomic_load(&po->w->stop) && !stress_failed())
		one_rw(po, &g, rng_below(&g, 2), buf);
	free(buf);
	return NULL;
}

/* Frees a handle nobody uses (lost or not: the pool knows). */
static void free_one(struct pool_owner *po, struct rng *g)
{
	uint32_t i = rng_below(g, PSLOTS);
	struct slot *s = &po->slots[i];

	pthread_mutex_lock(&po->lock);
	if (s->state == SLOT_LIVE && !s->busy) {
		/* never waits on the network: fine under our lock */
		pool_free(po->pool, s->handle);
		s->state = SLOT_EMPTY;
		atomic_fetch_add(&po->n.frees, 1);
	}
	pthread_mutex_unlock(&po->lock);
}

/* A new handle, cleared (it may take an eviction to the provider). */
static void alloc_one(struct pool_owner *po, struct rng *g)
{
	uint32_t i = rng_below(g, PSLOTS), h = 0;
	struct slot *s = &po->slots[i];
	int ret;

	pthread_mutex_lock(&po->lock);
	if (s->state != SLOT_EMPTY || s->busy) {
		pthread_mutex_unlock(&po->lock);
		return;
	}
	s->busy = true;
	pthread_mutex_unlock(&po->lock);
	ret = pool_alloc(po->pool, true, &h);
	pthread_mutex_lock(&po->lock);
	s->busy = false;
	if (ret == 0) {
		slot_renew(s, world_pgen(po->w));
		s->handle = h;
	}
	pthread_mutex_unlock(&po->lock);
	if (ret == 0)
		atomic_fetch_add(&po->n.allocs, 1);
	if (ret != -ENOSPC)
		count(po, "alloc", ret);
}

void *pool_churn_main(void *arg)
{
	struct worker *wk = arg;
	struct pool_owner *po = wk->who;
	struct rng g = {wk->seed};

	while (!atomic_load(&po->w->stop) && !stress_failed()) {
		uint32_t r = rng_below(&g, 100);

		/* mostly full: most handles live on the provider */
		if (r < 25)
			free_one(po, &g);
		else if (r < 85)
			alloc_one(po, &g);
		else
			pool_pull_home(po->pool, 2);
		stress_pace(po->w, rng_below(&g, 3));
	}
	return NULL;
}
