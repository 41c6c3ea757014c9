/* SPDX-License-Identifier: MIT */
/*
 * The fixture of the copies' unit tests (test-replicas.c,
 * test-replicas-corrupt.c): a real pool on replica-fake.h's three
 * providers, the blocks a test wrote with the seed of their last
 * acknowledged write, and what to look at: where a block's copies are,
 * whether each holds that write, reads checked against it. Include after
 * <cmocka.h>.
 */
#ifndef CMP_TEST_REPLICA_FIXTURE_H
#define CMP_TEST_REPLICA_FIXTURE_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/pool.h"
#include "cmp/util.h"
#include "pattern.h"
#include "pool-internal.h"
#include "replica-fake.h"
#include "wait-for.h"

#define MAXH 40
#define DEADLINE_MS 10000

struct t {
	struct fake f;
	struct pool *p;
	uint32_t h[MAXH];
	_Atomic uint32_t seed[MAXH]; /* the last acknowledged write's */
	size_t n;
};

static inline void pattern(uint8_t *buf, uint32_t seed)
{
	pattern_fill(buf, FBS, seed);
}

static inline struct t *make(uint32_t local, uint32_t replicas,
			     uint32_t rebuild_after_ms)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->p = fake_pool(&t->f, local, replicas, rebuild_after_ms);
	return t;
}

static inline void destroy(struct t *t)
{
	fake_destroy(&t->f);
	free(t);
}

static inline void write_seed(struct t *t, size_t i, uint32_t seed)
{
	uint8_t buf[FBS];

	pattern(buf, seed);
	assert_int_equal(pool_write(t->p, t->h[i], 0, buf, FBS), 0);
	atomic_store(&t->seed[i], seed);
}

/* n more blocks, each with its pattern (the coldest move out). */
static inline void add_blocks(struct t *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_true(t->n < MAXH);
		assert_int_equal(pool_alloc(t->p, false, &t->h[t->n]), 0);
		write_seed(t, t->n, (uint32_t)t->n + 1000);
		t->n++;
	}
}

/*
 * No block moving and no writer streaming: blocks written in a row are a
 * streaming writer, whose reserve the evictor makes a moment after the
 * writes (up to all of so small a pool); then the copies stay put.
 */
static inline bool evictor_idle(void *arg)
{
	struct t *t = arg;
	struct pool *p = t->p;
	bool idle;

	pthread_mutex_lock(&p->lock);
	idle = !pool_streaming_locked(p) && !p->evicting && !p->pulling;
	for (size_t i = 0; idle && i < t->n; i++)
		idle = p->handles[t->h[i]].state != HANDLE_MOVING;
	pthread_mutex_unlock(&p->lock);
	return idle;
}

static inline bool is_remote(struct t *t, size_t i)
{
	void *ptr;
	int ret = pool_pin(t->p, t->h[i], &ptr);

	if (!ret)
		pool_unpin(t->p, t->h[i]);
	return ret == -EREMOTE;
}

/*
 * The copies of block i now; returns how many. *settled: nobody is moving
 * or rebuilding it.
 */
static inline uint32_t copies_now(struct t *t, size_t i, struct pool_ref *out,
				  bool *settled)
{
	uint32_t n = 0;

	pthread_mutex_lock(&t->p->lock);
	for (uint32_t k = 0; k < t->p->slots; k++)
		if (pool_slot(t->p, t->h[i], k)->node)
			out[n++] = *pool_slot(t->p, t->h[i], k);
	*settled = t->p->handles[t->h[i]].state != HANDLE_MOVING;
	pthread_mutex_unlock(&t->p->lock);
	return n;
}

static inline uint32_t copies_of(struct t *t, size_t i, struct pool_ref *out)
{
	bool settled;

	return copies_now(t, i, out, &settled);
}

/*
 * Block i has `want` copies on distinct live nodes, each holding the last
 * acknowledged write (reported, not asserted, so that it can be waited
 * for).
 */
static inline bool whole(struct t *t, size_t i, uint32_t want)
{
	struct pool_ref c[POOL_MAX_SLOTS];
	uint8_t buf[FBS];
	bool settled;
	uint32_t n = copies_now(t, i, c, &settled);
	bool ok = settled && n == want;

	pattern(buf, atomic_load(&t->seed[i]));
	pthread_mutex_lock(&t->f.lock);
	for (uint32_t a = 0; ok && a < n; a++) {
		const uint8_t *got = fake_block(&t->f, &c[a]);

		ok = got && !memcmp(got, buf, FBS) &&
		     !fake_prov(&t->f, c[a].node)->dead;
		for (uint32_t b = 0; ok && b < a; b++)
			ok = c[a].node != c[b].node;
	}
	pthread_mutex_unlock(&t->f.lock);
	return ok;
}

/* Every remote block is whole with `replicas` copies. */
static inline bool all_whole(void *arg)
{
	struct t *t = arg;

	for (size_t i = 0; i < t->n; i++)
		if (is_remote(t, i) && !whole(t, i, t->p->replicas))
			return false;
	return true;
}

static inline void check_read(struct t *t, size_t i)
{
	uint8_t want[FBS], got[FBS];

	pattern(want, atomic_load(&t->seed[i]));
	assert_int_equal(pool_read(t->p, t->h[i], 0, got, FBS), 0);
	if (memcmp(got, want, FBS))
		fail_msg("block %zu (handle %u) reads other data", i, t->h[i]);
}

static inline struct pool_counts counts(struct t *t)
{
	struct pool_counts c;

	pool_get_counts(t->p, &c);
	return c;
}

static inline size_t first_remote(struct t *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (is_remote(t, i))
			return i;
	fail_msg("no block moved out");
	return 0;
}

#endif
