// SPDX-License-Identifier: MIT
/*
 * The block server's memory windows behind grants.h: one record per store
 * block (the connection its window is bound to, and the rkey), and per
 * RDMA connection how many windows it holds and how many revokes other
 * threads are running on it, so that closing it waits for them before its
 * connection is destroyed.
 *
 * A window is taken out of its record under the lock and revoked without
 * it (a revoke waits for the NIC); the connection's busy count keeps the
 * connection alive meanwhile. A block's record is written only by the
 * ALLOC that lends it (before the loan table knows of the loan, so no end
 * of a loan can race it) and cleared only by the one thread that takes it
 * out, before the block goes back to the store.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "grants.h"

/* Windows taken out per pass of a closing connection's scan. */
#define CLOSE_CHUNK 64u

struct grants_conn {
	struct conn *c;
	uint32_t live;	 /* windows bound here, revokes in flight included */
	uint32_t busy;	 /* revokes other threads are running here */
	bool closing;	 /* grants_conn_close() is waiting */
	bool no_windows; /* the device said it has none: stop asking */
};

struct grant {
	struct grants_conn *gc; /* NULL: no window */
	uint32_t rkey;
};

struct grants {
	uint8_t *base;
	size_t len;
	uint32_t nblocks;
	uint32_t block_size;
	pthread_mutex_t lock; /* the records, every grants_conn's counts */
	pthread_cond_t idle;  /* a revoke on a closing connection ended */
	struct grant *rec;    /* [nblocks] */
	uint32_t live;
};

struct grants *grants_create(void *base, size_t len, uint32_t nblocks,
			     uint32_t block_size)
{
	struct grants *g;
	int ret;

	if (!base || !nblocks || (uint64_t)nblocks * block_size > len) {
		errno = EINVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->rec = calloc(nblocks, sizeof(*g->rec));
	if (!g->rec)
		goto err_free_g;
	ret = conn_rma_register(base, len);
	if (ret < 0) {
		log_warn("peer: cannot register the store for one-sided "
			 "access: %s; blocks travel as messages",
			 strerror(-ret));
		errno = -ret;
		goto err_free_rec;
	}
	g->base = base;
	g->len = len;
	g->nblocks = nblocks;
	g->block_size = block_size;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->idle, NULL);
	return g;

err_free_rec:
	free(g->rec);
err_free_g:
	free(g);
	return NULL;
}

void grants_destroy(struct grants *g)
{
	int ret;

	if (!g)
		return;
	ret = conn_rma_unregister(g->base);
	if (ret < 0)
		log_error("peer: unregistering the store: %s", strerror(-ret));
	pthread_cond_destroy(&g->idle);
	pthread_mutex_destroy(&g->lock);
	free(g->rec);
	free(g);
}

struct grants_conn *grants_conn_open(struct grants *g, struct conn *c)
{
	struct grants_conn *gc;

	if (!g || !conn_has_rma(c))
		return NULL;
	gc = calloc(1, sizeof(*gc));
	if (gc)
		gc->c = c;
	return gc;
}

static struct conn_region window_of(const struct grants *g, uint32_t idx,
				    uint32_t rkey)
{
	return (struct conn_region){
		.addr = (uintptr_t)(g->base + (size_t)idx * g->block_size),
		.len = g->block_size,
		.rkey = rkey,
	};
}

/*
 * Revokes a window already taken out of its record (gc->busy counted):
 * 0 when nothing can reach the block through it any more.
 */
static int revoke_taken(struct grants *g, struct grants_conn *gc, uint32_t idx,
			uint32_t rkey)
{
	struct conn_region r = window_of(g, idx, rkey);
	int ret = conn_rma_revoke(gc->c, &r);

	/* -ENOENT: the connector already dropped it (a failed bind) */
	if (ret == -ENOENT)
		ret = 0;
	if (ret < 0) {
		log_error_rl("peer: %s: window of block %u (rkey %#x) could "
			     "not be revoked: %s; closing the connection",
			     conn_peer(gc->c), idx, rkey, strerror(-ret));
		conn_shutdown(gc->c);
	}
	pthread_mutex_lock(&g->lock);
	gc->busy--;
	gc->live--;
	g->live--;
	if (gc->closing)
		pthread_cond_broadcast(&g->idle);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* Takes block idx's window out of its record: its connection, or NULL. */
static struct grants_conn *take_locked(struct grants *g, uint32_t idx,
				       uint32_t *rkey)
{
	struct grant *e = &g->rec[idx];
	struct grants_conn *gc = e->gc;

	if (gc) {
		*rkey = e->rkey;
		*e = (struct grant){0};
		gc->busy++;
	}
	return gc;
}

int grants_end(struct grants *g, uint32_t idx)
{
	struct grants_conn *gc = NULL;
	uint32_t rkey = 0;

	if (g && idx < g->nblocks) {
		pthread_mutex_lock(&g->lock);
		gc = take_locked(g, idx, &rkey);
		pthread_mutex_unlock(&g->lock);
	}
	return gc ? revoke_taken(g, gc, idx, rkey) : 0;
}

uint32_t grants_revoke(struct grants *g, const uint32_t *idx, uint32_t n,
		       uint32_t *keep)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (grants_end(g, idx[i]) == 0)
			keep[k++] = idx[i];
		else
			log_error("peer: block %u withheld from lending for "
				  "good: its window may still be reachable",
				  idx[i]);
	}
	return k;
}

/* One window for block idx on gc: its rkey, or 0. */
static uint32_t grant_one(struct grants *g, struct grants_conn *gc,
			  uint32_t idx)
{
	struct conn_region r;
	int ret;

	ret = conn_rma_grant(gc->c, g->base + (size_t)idx * g->block_size,
			     g->block_size, &r);
	if (ret == -EOPNOTSUPP)
		gc->no_windows = true;
	if (ret < 0)
		return 0;
	pthread_mutex_lock(&g->lock);
	/* the block was in the store: no window can be left on it */
	assert(!g->rec[idx].gc);
	g->rec[idx] = (struct grant){gc, r.rkey};
	gc->live++;
	g->live++;
	pthread_mutex_unlock(&g->lock);
	if (r.rkey)
		return r.rkey;
	/* 0 means "none" on the wire: a window with that rkey goes back */
	pthread_mutex_lock(&g->lock);
	take_locked(g, idx, &r.rkey);
	pthread_mutex_unlock(&g->lock);
	revoke_taken(g, gc, idx, 0);
	return 0;
}

uint32_t grants_grant(struct grants *g, struct grants_conn *gc,
		      const uint32_t *idx, uint32_t n, uint32_t *rkeys)
{
	uint32_t granted = 0;

	for (uint32_t i = 0; i < n; i++) {
		rkeys[i] = 0;
		if (!g || !gc || gc->no_windows || idx[i] >= g->nblocks)
			continue;
		rkeys[i] = grant_one(g, gc, idx[i]);
		granted += rkeys[i] != 0;
	}
	return granted;
}

/* Takes up to CLOSE_CHUNK of gc's windows, scanning on from *at. */
static uint32_t take_chunk(struct grants *g, struct grants_conn *gc,
			   uint32_t *at, uint32_t *idx, uint32_t *rkey)
{
	uint32_t n = 0;

	pthread_mutex_lock(&g->lock);
	for (; *at < g->nblocks && n < CLOSE_CHUNK && gc->live > gc->busy;
	     (*at)++) {
		if (g->rec[*at].gc != gc)
			continue;
		idx[n] = *at;
		take_locked(g, *at, &rkey[n]);
		n++;
	}
	pthread_mutex_unlock(&g->lock);
	return n;
}

void grants_conn_close(struct grants *g, struct grants_conn *gc)
{
	uint32_t idx[CLOSE_CHUNK], rkey[CLOSE_CHUNK], at = 0, n;

	if (!gc)
		return;
	pthread_mutex_lock(&g->lock);
	gc->closing = true;
	pthread_mutex_unlock(&g->lock);
	/* the loans stay; only their windows on this connection end */
	while ((n = take_chunk(g, gc, &at, idx, rkey)) > 0)
		for (uint32_t i = 0; i < n; i++)
			revoke_taken(g, gc, idx[i], rkey[i]);
	pthread_mutex_lock(&g->lock);
	while (gc->live)
		pthread_cond_wait(&g->idle, &g->lock);
	pthread_mutex_unlock(&g->lock);
	free(gc);
}

void grants_store(const struct grants *g, uint64_t *base, uint64_t *len)
{
	*base = g ? (uintptr_t)g->base : 0;
	*len = g ? g->len : 0;
}

uint32_t grants_live(struct grants *g)
{
	uint32_t n;

	if (!g)
		return 0;
	pthread_mutex_lock(&g->lock);
	n = g->live;
	pthread_mutex_unlock(&g->lock);
	return n;
}
