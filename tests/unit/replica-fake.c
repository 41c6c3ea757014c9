// SPDX-License-Identifier: MIT
/* The fake three-provider cluster of replica-fake.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cmp/pool.h"
#include "replica-fake.h"

struct fprov *fake_prov(struct fake *f, uint32_t node)
{
	if (node < FIRST_NODE || node >= FIRST_NODE + NPROV)
		return NULL;
	return &f->prov[node - FIRST_NODE];
}

static bool avoided(const uint32_t *avoid, uint32_t navoid, uint32_t node)
{
	for (uint32_t i = 0; i < navoid; i++)
		if (avoid[i] == node)
			return true;
	return false;
}

/*
 * The provider with the most room, not avoided, a compute one or (ms) the
 * memserver; a dead one is EIO.
 */
static int borrow_from(struct fake *f, const uint32_t *avoid, uint32_t navoid,
		       bool ms, struct pool_ref *out)
{
	struct fprov *best = NULL;
	bool unreachable = false;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	for (uint32_t i = 0; i < NPROV; i++) {
		struct fprov *v = &f->prov[i];

		if (avoided(avoid, navoid, v->node) || !v->room ||
		    ms != (v->node == f->ms_node))
			continue;
		if (v->dead)
			unreachable = true;
		else if (!best || v->room > best->room)
			best = v;
	}
	if (!best) {
		ret = unreachable ? -EIO : -ENOSPC;
		goto out;
	}
	for (uint32_t b = 0; b < PBLOCKS; b++) {
		if (best->epoch[b])
			continue;
		best->epoch[b] = ++f->next_epoch;
		best->room--;
		memset(best->mem[b], 0, FBS);
		best->bad[b] = false;
		*out = (struct pool_ref){best->node, b, best->epoch[b]};
		goto out;
	}
	ret = -ENOSPC;
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int fake_borrow(void *ctx, const uint32_t *avoid, uint32_t navoid,
		       struct pool_ref *out)
{
	return borrow_from(ctx, avoid, navoid, false, out);
}

static int fake_borrow_ms(void *ctx, const uint32_t *avoid, uint32_t navoid,
			  struct pool_ref *out)
{
	return borrow_from(ctx, avoid, navoid, true, out);
}

static void fake_release(void *ctx, const struct pool_ref *r, uint32_t n)
{
	struct fake *f = ctx;

	pthread_mutex_lock(&f->lock);
	for (uint32_t i = 0; i < n; i++) {
		struct fprov *v = fake_prov(f, r[i].node);

		assert_non_null(v);
		if (v->dead) {
			v->dropped++;
			continue;
		}
		v->releases++;
		if (r[i].block < PBLOCKS &&
		    v->epoch[r[i].block] == r[i].epoch) {
			v->epoch[r[i].block] = 0;
			v->room++;
		}
	}
	pthread_mutex_unlock(&f->lock);
}

/* The provider's answer to an access of r: 0, -EIO or -ESTALE. */
static int access_locked(struct fake *f, const struct pool_ref *r,
			 struct fprov **out)
{
	struct fprov *v = fake_prov(f, r->node);

	assert_non_null(v);
	if (v->dead)
		return -EIO;
	if (r->block >= PBLOCKS || v->epoch[r->block] != r->epoch)
		return -ESTALE;
	*out = v;
	return 0;
}

static void delay(struct fake *f, uint32_t node)
{
	uint64_t ns;

	pthread_mutex_lock(&f->lock);
	ns = fake_prov(f, node)->delay_ns;
	pthread_mutex_unlock(&f->lock);
	if (ns)
		nanosleep(&(struct timespec){0, (long)ns}, NULL);
}

/* A byte range of loan r, read into or written from buf. */
static int fake_rw(struct fake *f, const struct pool_ref *r, uint32_t off,
		   void *buf, uint32_t len, bool write)
{
	struct fprov *v;
	int ret;

	delay(f, r->node);
	pthread_mutex_lock(&f->lock);
	ret = access_locked(f, r, &v);
	if (!ret && write) {
		memcpy(v->mem[r->block] + off, buf, len);
		v->writes++;
		/* (the whole block rewritten: every page's checksum anew) */
		if (len == FBS)
			v->bad[r->block] = false;
	} else if (!ret && v->bad[r->block]) {
		ret = -EUCLEAN;
	} else if (!ret) {
		memcpy(buf, v->mem[r->block] + off, len);
		v->reads++;
		if (r->epoch == v->watch_epoch)
			v->watch_reads++;
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int fake_read(void *ctx, const struct pool_ref *r, uint32_t off,
		     void *dst, uint32_t len, struct pool_ref *moved)
{
	(void)moved;
	return fake_rw(ctx, r, off, dst, len, false);
}

static int fake_write(void *ctx, const struct pool_ref *r, uint32_t off,
		      const void *src, uint32_t len, struct pool_ref *moved)
{
	(void)moved;
	return fake_rw(ctx, r, off, (void *)src, len, true);
}

const struct pool_cluster_ops fake_ops = {
	.borrow = fake_borrow,
	.borrow_memserver = fake_borrow_ms,
	.release = fake_release,
	.read = fake_read,
	.write = fake_write,
};

struct pool *fake_pool(struct fake *f, uint32_t local, uint32_t replicas,
		       uint32_t rebuild_after_ms)
{
	return fake_pool_wp(f, local, replicas, rebuild_after_ms, POOL_WP_NONE,
			    0, 0);
}

struct pool *fake_pool_wp(struct fake *f, uint32_t local, uint32_t replicas,
			  uint32_t rebuild_after_ms, enum pool_wpolicy wp,
			  uint32_t ms_node, uint32_t delay_ms)
{
	memset(f, 0, sizeof(*f));
	f->ms_node = ms_node;
	pthread_mutex_init(&f->lock, NULL);
	for (uint32_t i = 0; i < NPROV; i++) {
		f->prov[i].node = FIRST_NODE + i;
		f->prov[i].room = PBLOCKS;
	}
	f->pool = pool_create(&(struct pool_config){
		.local_bytes = (uint64_t)local * FBS,
		.block_size = FBS,
		.replicas = replicas,
		.rebuild_after_ms = rebuild_after_ms,
		.wpolicy = wp,
		.wb_delay_ms = delay_ms,
	});
	assert_non_null(f->pool);
	/* the tests count copies and reads: no block comes home for being read
	 */
	pool_set_exchange(f->pool, false);
	assert_int_equal(pool_set_cluster(f->pool, &fake_ops, f), 0);
	return f->pool;
}

void fake_destroy(struct fake *f)
{
	pool_destroy(f->pool);
	pthread_mutex_destroy(&f->lock);
}

static void set_dead(struct fake *f, uint32_t node, bool dead)
{
	pthread_mutex_lock(&f->lock);
	fake_prov(f, node)->dead = dead;
	pthread_mutex_unlock(&f->lock);
	pool_set_node_suspect(f->pool, node, dead);
}

void fake_kill(struct fake *f, uint32_t node)
{
	set_dead(f, node, true);
}

/* What a reconciliation does: the loans the pool does not claim end. */
static void reconcile(struct fake *f, uint32_t node)
{
	bool claimed[PBLOCKS] = {false};
	struct pool_ref refs[64];
	uint32_t tags[64], cursor = 0, n;
	struct fprov *v = fake_prov(f, node);

	while (cursor != UINT32_MAX) {
		n = pool_loans_on(f->pool, node, &cursor, refs, tags, 64);
		for (uint32_t i = 0; i < n; i++)
			if (refs[i].block < PBLOCKS)
				claimed[refs[i].block] = true;
	}
	pthread_mutex_lock(&f->lock);
	for (uint32_t b = 0; b < PBLOCKS; b++) {
		if (v->epoch[b] && !claimed[b]) {
			v->epoch[b] = 0;
			v->room++;
		}
	}
	pthread_mutex_unlock(&f->lock);
}

void fake_revive(struct fake *f, uint32_t node)
{
	reconcile(f, node);
	set_dead(f, node, false);
}

void fake_restart(struct fake *f, uint32_t node)
{
	struct fprov *v;
	uint32_t copies;

	pthread_mutex_lock(&f->lock);
	v = fake_prov(f, node);
	memset(v->epoch, 0, sizeof(v->epoch));
	v->room = PBLOCKS;
	pthread_mutex_unlock(&f->lock);
	pool_provider_dead(f->pool, node, &copies);
}

const uint8_t *fake_block(struct fake *f, const struct pool_ref *r)
{
	struct fprov *v = fake_prov(f, r->node);

	if (!v || r->block >= PBLOCKS || v->epoch[r->block] != r->epoch)
		return NULL;
	return v->mem[r->block];
}
