// SPDX-License-Identifier: MIT
/*
 * Memserver write policies (pool_config.wpolicy), through a real pool on
 * the fake cluster of replica-fake.h, node 9 its memserver and nodes 7 and
 * 8 its compute providers: with write-through every block elsewhere has a
 * memserver copy that holds what was last acknowledged, reads fall to it
 * when every compute provider is dead, and the rebuilder makes compute
 * copies again from it; with write-back a write to a block elsewhere
 * leaves the memserver copy behind (never read, keeping nothing alive)
 * until the flush, which comes within the delay or when asked; a lost
 * memserver copy is made again. Every wait polls with a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/pool.h"
#include "pattern.h"
#include "pool-internal.h"
#include "replica-fake.h"
#include "wait-for.h"

#define MS 9u
#define NBLOCKS 10u
#define DEADLINE_MS 10000

struct t {
	struct fake f;
	struct pool *p;
	uint32_t h[NBLOCKS];
	uint32_t seed[NBLOCKS];
};

static struct t *make(enum pool_wpolicy wp, uint32_t delay_ms)
{
	struct t *t = calloc(1, sizeof(*t));
	uint8_t buf[FBS];

	assert_non_null(t);
	/* 2 local blocks: 8 of the 10 live elsewhere */
	t->p = fake_pool_wp(&t->f, 2, 1, 100, wp, MS, delay_ms);
	for (uint32_t i = 0; i < NBLOCKS; i++) {
		assert_int_equal(pool_alloc(t->p, false, &t->h[i]), 0);
		t->seed[i] = 1000 + i;
		pattern_fill(buf, FBS, t->seed[i]);
		assert_int_equal(pool_write(t->p, t->h[i], 0, buf, FBS), 0);
	}
	return t;
}

static void destroy(struct t *t)
{
	fake_destroy(&t->f);
	free(t);
}

static bool is_remote(struct t *t, uint32_t i)
{
	void *ptr;
	int ret = pool_pin(t->p, t->h[i], &ptr);

	if (!ret)
		pool_unpin(t->p, t->h[i]);
	return ret == -EREMOTE;
}

static uint32_t first_remote(struct t *t)
{
	for (uint32_t i = 0; i < NBLOCKS; i++)
		if (is_remote(t, i))
			return i;
	fail_msg("no block moved out");
	return 0;
}

static struct pool_counts counts(struct t *t)
{
	struct pool_counts c;

	pool_get_counts(t->p, &c);
	return c;
}

static void rewrite(struct t *t, uint32_t i, uint32_t seed)
{
	uint8_t buf[FBS];

	pattern_fill(buf, FBS, seed);
	assert_int_equal(pool_write(t->p, t->h[i], 0, buf, FBS), 0);
	t->seed[i] = seed;
}

/* Does copy slot k of block i exist and hold its last write, on node? */
static bool slot_holds(struct t *t, uint32_t i, uint32_t k, uint32_t node)
{
	uint8_t want[FBS];
	struct pool_ref r;
	const uint8_t *got;
	bool ok;

	pthread_mutex_lock(&t->p->lock);
	r = *pool_slot(t->p, t->h[i], k);
	ok = t->p->handles[t->h[i]].state == HANDLE_REMOTE;
	pthread_mutex_unlock(&t->p->lock);
	if (!ok || !r.node || (node && r.node != node))
		return false;
	pattern_fill(want, FBS, t->seed[i]);
	pthread_mutex_lock(&t->f.lock);
	got = fake_block(&t->f, &r);
	ok = got && !memcmp(got, want, FBS);
	pthread_mutex_unlock(&t->f.lock);
	return ok;
}

static bool ms_current(struct t *t, uint32_t i)
{
	return slot_holds(t, i, t->p->wp.slot, MS);
}

/* Every block elsewhere has a current memserver copy; none pending. */
static bool all_ms_current(void *arg)
{
	struct t *t = arg;

	for (uint32_t i = 0; i < NBLOCKS; i++)
		if (is_remote(t, i) && !ms_current(t, i))
			return false;
	return counts(t).wp.pending == 0;
}

static void check_read(struct t *t, uint32_t i)
{
	uint8_t want[FBS], got[FBS];

	pattern_fill(want, FBS, t->seed[i]);
	assert_int_equal(pool_read(t->p, t->h[i], 0, got, FBS), 0);
	if (memcmp(got, want, FBS))
		fail_msg("block %u reads other data", i);
}

static void through_keeps_a_current_memserver_copy_of_every_block(void **s)
{
	struct t *t = make(POOL_WP_THROUGH, 0);
	uint32_t remote = 0;

	for (uint32_t i = 0; i < NBLOCKS; i++) {
		if (!is_remote(t, i))
			continue;
		remote++;
		assert_true(ms_current(t, i));
		/* its compute copy is not on the memserver */
		assert_true(slot_holds(t, i, 0, 0));
		assert_int_not_equal(pool_slot(t->p, t->h[i], 0)->node, MS);
	}
	/* 8 of 10, or 9 when the evictor kept room for the stream of writes */
	assert_true(remote >= 8);
	assert_int_equal(counts(t).wp.ms_copies, remote);
	/* a write elsewhere is on the memserver when it returns */
	for (uint32_t i = 0; i < NBLOCKS; i++)
		if (is_remote(t, i)) {
			rewrite(t, i, 2000 + i);
			assert_true(ms_current(t, i));
		}
	assert_int_equal(counts(t).wp.pending, 0);
	assert_int_equal(counts(t).wp.ms_writes, 2 * remote);
	destroy(t);
	(void)s;
}

static bool every_block_readable_from_compute(void *arg)
{
	struct t *t = arg;

	for (uint32_t i = 0; i < NBLOCKS; i++)
		if (is_remote(t, i) && !slot_holds(t, i, 0, 8) &&
		    !slot_holds(t, i, 1, 8))
			return false;
	return true;
}

static void
through_reads_the_memserver_when_every_compute_node_is_dead(void **s)
{
	struct t *t = make(POOL_WP_THROUGH, 0);

	fake_kill(&t->f, 7);
	fake_kill(&t->f, 8);
	for (uint32_t i = 0; i < NBLOCKS; i++)
		check_read(t, i);
	assert_true(counts(t).wp.ms_reads >= 8);
	assert_int_equal(counts(t).lost, 0);
	/* 8 comes back: the copies 7 held are made there, from node 9's */
	fake_revive(&t->f, 8);
	assert_true(
		wait_for(every_block_readable_from_compute, t, DEADLINE_MS));
	assert_true(counts(t).rc.rebuilt > 0);
	fake_kill(&t->f, MS);
	for (uint32_t i = 0; i < NBLOCKS; i++)
		check_read(t, i);
	destroy(t);
	(void)s;
}

static void back_leaves_the_memserver_copy_behind_until_the_flush(void **s)
{
	/* a delay no test waits for: only pool_wp_flush() flushes */
	struct t *t = make(POOL_WP_BACK, 60000);
	uint32_t i = first_remote(t), node;
	uint8_t got[FBS];

	/* moving out wrote it */
	assert_true(ms_current(t, i));
	rewrite(t, i, 3000);
	assert_false(ms_current(t, i));
	assert_int_equal(counts(t).wp.pending, 1);
	/* behind: never read, even with its compute copy unreachable */
	node = pool_slot(t->p, t->h[i], 0)->node;
	fake_kill(&t->f, node);
	assert_int_equal(pool_read(t->p, t->h[i], 0, got, FBS), -EIO);
	fake_revive(&t->f, node);
	assert_int_equal(pool_wp_flush(t->p, DEADLINE_MS), 0);
	assert_true(ms_current(t, i));
	assert_int_equal(counts(t).wp.flushes, 1);
	fake_kill(&t->f, node);
	check_read(t, i);
	destroy(t);
	(void)s;
}

static void back_flushes_within_its_delay(void **s)
{
	struct t *t = make(POOL_WP_BACK, 20);

	for (uint32_t i = 0; i < NBLOCKS; i++)
		if (is_remote(t, i))
			rewrite(t, i, 4000 + i);
	assert_true(wait_for(all_ms_current, t, DEADLINE_MS));
	assert_true(counts(t).wp.flushes >= 1);
	destroy(t);
	(void)s;
}

static void a_memserver_copy_behind_keeps_nothing_alive(void **s)
{
	struct t *t = make(POOL_WP_BACK, 60000);
	uint32_t i = first_remote(t);
	uint8_t got[FBS];

	rewrite(t, i, 5000);
	/* its compute provider restarts: the copy left is behind */
	fake_restart(&t->f, pool_slot(t->p, t->h[i], 0)->node);
	assert_int_equal(pool_read(t->p, t->h[i], 0, got, FBS), -EIO);
	assert_true(counts(t).lost >= 1);
	destroy(t);
	(void)s;
}

static void a_lost_memserver_copy_is_made_again(void **s)
{
	struct t *t = make(POOL_WP_THROUGH, 20);
	uint32_t remote = 0;

	fake_restart(&t->f, MS);
	assert_int_equal(counts(t).lost, 0);

	assert_true(wait_for(all_ms_current, t, DEADLINE_MS));
	/* one memserver copy per block elsewhere (how many the evictor moved
	 * out depends on its stream reserve) */
	for (uint32_t i = 0; i < NBLOCKS; i++)
		remote += is_remote(t, i);
	assert_true(remote > 0);
	assert_int_equal(counts(t).wp.ms_copies, remote);
	destroy(t);
	(void)s;
}

static void policies_have_names(void **s)
{
	enum pool_wpolicy w;

	assert_int_equal(pool_wpolicy_parse("back", &w), 0);
	assert_int_equal(w, POOL_WP_BACK);
	assert_string_equal(pool_wpolicy_name(POOL_WP_THROUGH), "through");
	assert_int_equal(pool_wpolicy_parse("always", &w), -EINVAL);
	(void)s;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			through_keeps_a_current_memserver_copy_of_every_block),
		cmocka_unit_test(
			through_reads_the_memserver_when_every_compute_node_is_dead),
		cmocka_unit_test(
			back_leaves_the_memserver_copy_behind_until_the_flush),
		cmocka_unit_test(back_flushes_within_its_delay),
		cmocka_unit_test(a_memserver_copy_behind_keeps_nothing_alive),
		cmocka_unit_test(a_lost_memserver_copy_is_made_again),
		cmocka_unit_test(policies_have_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
