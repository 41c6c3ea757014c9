// SPDX-License-Identifier: MIT
/*
 * Copies of our blocks elsewhere (pool_config.replicas), through a real
 * pool on a fake three-provider cluster (replica-fake.h) whose blocks the
 * test can look into: every block moved out has its copies on distinct
 * nodes, each holding what was last acknowledged; a copy that missed a
 * write is never read again and is made again elsewhere; reads go to the
 * cheaper copy and fall back to the other; a provider that loses our
 * loans, or stays unreachable past rebuild_after, takes only its copies,
 * which the rebuilder makes again; a block is lost only when its every
 * copy is; frees and homecomings give every copy back. Every wait polls
 * a condition with a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/pool.h"
#include "cmp/util.h"
#include "pattern.h"
#include "pool-internal.h"
#include "replica-fake.h"
#include "replica-fixture.h"
#include "wait-for.h"

static void moved_out_blocks_have_one_copy_on_each_of_two_nodes(void **state)
{
	struct t *t = make(2, 2, 0);
	size_t remote = 0;

	add_blocks(t, 10);
	assert_true(wait_for(evictor_idle, t, DEADLINE_MS));
	for (size_t i = 0; i < t->n; i++) {
		if (!is_remote(t, i))
			continue;
		remote++;
		assert_true(whole(t, i, 2));
	}
	assert_true(remote >= 8);
	assert_int_equal(counts(t).blocks[POOL_LRL], remote);
	assert_int_equal(counts(t).rc.copies, 2 * remote);
	/* a write reaches both */
	for (size_t i = 0; i < t->n; i++)
		write_seed(t, i, (uint32_t)i + 2000);
	assert_true(all_whole(t));
	for (size_t i = 0; i < t->n; i++)
		check_read(t, i);
	destroy(t);
	(void)state;
}

static void a_copy_that_missed_a_write_is_never_read_again(void **state)
{
	struct t *t = make(1, 2, 60000);
	struct pool_ref c[POOL_MAX_SLOTS], now[POOL_MAX_SLOTS];
	struct fprov *missed;
	bool gone;
	size_t i;

	add_blocks(t, 3);
	i = first_remote(t);
	assert_int_equal(copies_of(t, i, c), 2);
	missed = fake_prov(&t->f, c[0].node);
	fake_kill(&t->f, c[0].node);
	write_seed(t, i, 77);
	assert_int_equal(counts(t).rc.stale, 1);
	/* back: its FREE did not arrive, the reconciliation ends it */
	pthread_mutex_lock(&t->f.lock);
	missed->watch_epoch = c[0].epoch;
	pthread_mutex_unlock(&t->f.lock);
	fake_revive(&t->f, c[0].node);
	pthread_mutex_lock(&t->f.lock);
	gone = !fake_block(&t->f, &c[0]);
	pthread_mutex_unlock(&t->f.lock);
	assert_true(gone);
	for (int r = 0; r < 200; r++)
		check_read(t, i);
	assert_int_equal(missed->watch_reads, 0);
	/* made again from the one that has the write */
	assert_true(wait_for(all_whole, t, DEADLINE_MS));
	assert_int_equal(copies_of(t, i, now), 2);
	assert_true(now[0].node != c[0].node || now[0].block != c[0].block ||
		    now[0].epoch != c[0].epoch);
	assert_true(now[1].node != c[0].node || now[1].block != c[0].block ||
		    now[1].epoch != c[0].epoch);
	assert_int_equal(counts(t).rc.rebuilt, 1);
	destroy(t);
	(void)state;
}

static void a_write_no_copy_took_fails_and_drops_nothing(void **state)
{
	struct t *t = make(1, 2, 60000);
	struct pool_ref c[POOL_MAX_SLOTS];
	uint8_t buf[FBS];
	size_t i;

	add_blocks(t, 2);
	i = first_remote(t);
	assert_int_equal(copies_of(t, i, c), 2);
	fake_kill(&t->f, c[0].node);
	fake_kill(&t->f, c[1].node);
	pattern(buf, 5);
	assert_int_equal(pool_write(t->p, t->h[i], 0, buf, FBS), -EIO);
	assert_int_equal(copies_of(t, i, c), 2);
	assert_int_equal(counts(t).rc.stale, 0);
	assert_int_equal(counts(t).lost, 0);
	/* unreadable while both are away; back, the old bytes read */
	assert_int_equal(pool_check_handles(t->p, &t->h[i], 1), -EIO);
	fake_revive(&t->f, c[0].node);
	fake_revive(&t->f, c[1].node);
	assert_int_equal(pool_check_handles(t->p, &t->h[i], 1), 0);
	check_read(t, i);
	destroy(t);
	(void)state;
}

static void reads_go_to_the_cheaper_copy_and_fall_back(void **state)
{
	struct t *t = make(1, 2, 60000);
	struct pool_ref c[POOL_MAX_SLOTS];
	struct fprov *slow, *fast;
	uint8_t buf[512];
	size_t i;

	add_blocks(t, 2);
	i = first_remote(t);
	assert_int_equal(copies_of(t, i, c), 2);
	slow = fake_prov(&t->f, c[0].node);
	fast = fake_prov(&t->f, c[1].node);
	slow->delay_ns = 2000000;
	slow->reads = fast->reads = 0;
	for (int r = 0; r < 320; r++)
		assert_int_equal(pool_read(t->p, t->h[i], 100, buf, 512), 0);
	/* the slow one: measured once, then only probed (1 in 64) */
	assert_true(fast->reads >= 300);
	assert_true(slow->reads >= 2 && slow->reads <= 12);
	assert_true(counts(t).rc.reads_fastest >= 300);
	assert_true(counts(t).rc.read_probes >= 4);
	/* the fast one fails (the pool does not know yet): the slow serves */
	pthread_mutex_lock(&t->f.lock);
	fast->dead = true;
	pthread_mutex_unlock(&t->f.lock);
	check_read(t, i);
	assert_true(counts(t).rc.read_fallbacks >= 1);
	destroy(t);
	(void)state;
}

static void a_provider_losing_our_loans_takes_only_its_copies(void **state)
{
	struct t *t = make(1, 2, 60000);
	struct pool_ref refs[64];
	uint32_t tags[64], cursor = 0, n, copies;
	uint64_t on7 = 0;

	add_blocks(t, 9);
	/* a reconciliation finds one copy on node 8 missing */
	n = pool_loans_on(t->p, 8, &cursor, refs, tags, 64);
	assert_true(n > 0);
	assert_int_equal(pool_loans_lost(t->p, refs, tags, 1, &copies), 0);
	assert_int_equal(copies, 1);
	assert_true(wait_for(all_whole, t, DEADLINE_MS));
	/* node 7 restarts: every copy there goes, no block */
	for (size_t i = 0; i < t->n; i++) {
		struct pool_ref c[POOL_MAX_SLOTS];
		uint32_t k = copies_of(t, i, c);

		while (k--)
			on7 += c[k].node == 7;
	}
	assert_true(on7 > 0);
	fake_restart(&t->f, 7);
	assert_int_equal(counts(t).lost, 0);
	for (size_t i = 0; i < t->n; i++)
		check_read(t, i);
	assert_true(wait_for(all_whole, t, DEADLINE_MS));
	assert_int_equal(counts(t).rc.rebuilt, 1 + on7);
	assert_int_equal(counts(t).rc.lost, 1 + on7);
	destroy(t);
	(void)state;
}

/* No copy of any block on node 7 is left. */
static bool none_on_7(void *arg)
{
	struct t *t = arg;

	for (size_t i = 0; i < t->n; i++) {
		struct pool_ref c[POOL_MAX_SLOTS];
		uint32_t k = copies_of(t, i, c);

		while (k--)
			if (c[k].node == 7)
				return false;
	}
	return all_whole(t);
}

static bool none_short(void *arg)
{
	return counts(arg).rc.degraded == 0;
}

static bool seven_has_given_back(void *arg)
{
	struct t *t = arg;
	bool done;

	pthread_mutex_lock(&t->f.lock);
	done = fake_prov(&t->f, 7)->room == PBLOCKS;
	pthread_mutex_unlock(&t->f.lock);
	return done;
}

static void
an_unreachable_providers_copies_count_until_rebuild_after(void **state)
{
	struct t *t = make(1, 2, 1500);
	uint64_t t0;

	add_blocks(t, 9);
	t0 = cmp_now_ns();
	fake_kill(&t->f, 7);
	assert_int_equal(counts(t).rc.rebuilt, 0);
	for (size_t i = 0; i < t->n; i++)
		check_read(t, i);
	assert_true(wait_for(none_on_7, t, DEADLINE_MS));
	assert_true(cmp_now_ns() - t0 >= 1500000000ull);
	assert_true(counts(t).rc.rebuilt > 0);
	/* (the pass counts the last one a moment after it is made) */
	assert_true(wait_for(none_short, t, DEADLINE_MS));
	/* back: the old loans are given back */
	fake_revive(&t->f, 7);
	assert_true(wait_for(seven_has_given_back, t, DEADLINE_MS));
	for (size_t i = 0; i < t->n; i++)
		check_read(t, i);
	destroy(t);
	(void)state;
}

static void
two_of_three_gone_lose_only_blocks_with_every_copy_there(void **state)
{
	struct t *t = make(1, 2, 60000);
	bool both[MAXH];
	size_t nboth = 0, remote = 0;

	add_blocks(t, 13);
	assert_true(wait_for(evictor_idle, t, DEADLINE_MS));
	for (size_t i = 0; i < t->n; i++) {
		struct pool_ref c[POOL_MAX_SLOTS];
		uint32_t k = copies_of(t, i, c);

		both[i] = k == 2 && c[0].node != 9 && c[1].node != 9;
		nboth += both[i];
		remote += k > 0;
	}
	assert_true(remote >= 12);
	/* most room first: the pairs go round, some on 7 and 8 only */
	assert_true(nboth > 0 && nboth < remote);
	/* unreachable first (nothing can be made again), then gone */
	fake_kill(&t->f, 7);
	fake_kill(&t->f, 8);
	fake_restart(&t->f, 7);
	fake_restart(&t->f, 8);
	assert_int_equal(counts(t).lost, nboth);
	for (size_t i = 0; i < t->n; i++) {
		uint8_t buf[FBS];

		if (both[i])
			assert_int_equal(pool_read(t->p, t->h[i], 0, buf, FBS),
					 -EIO);
		else
			check_read(t, i);
	}
	destroy(t);
	(void)state;
}

static bool all_room_back(void *arg)
{
	struct t *t = arg;
	bool done = true;

	pthread_mutex_lock(&t->f.lock);
	for (uint32_t v = 0; v < NPROV; v++)
		done = done && t->f.prov[v].room == PBLOCKS;
	pthread_mutex_unlock(&t->f.lock);
	return done;
}

static bool came_home(void *arg)
{
	return counts(arg).homecomings == 1;
}

static void frees_and_homecomings_give_every_copy_back(void **state)
{
	struct t *t = make(2, 2, 60000);

	add_blocks(t, 4);
	assert_int_equal(counts(t).rc.copies, 4);
	/* a local block freed: a remote one comes home, its copies go */
	for (size_t i = 0; i < t->n; i++) {
		if (!is_remote(t, i)) {
			pool_free(t->p, t->h[i]);
			t->h[i] = 0;
			break;
		}
	}
	/* (the helper thread may be the one that brings it) */
	pool_pull_home(t->p, 8);
	assert_true(wait_for(came_home, t, DEADLINE_MS));
	assert_int_equal(counts(t).rc.copies, 2);
	for (size_t i = 0; i < t->n; i++)
		if (t->h[i])
			check_read(t, i);
	for (size_t i = 0; i < t->n; i++)
		if (t->h[i])
			pool_free(t->p, t->h[i]);
	pool_pull_home(t->p, 8);
	assert_int_equal(counts(t).rc.copies, 0);
	assert_true(wait_for(all_room_back, t, DEADLINE_MS));
	t->n = 0;
	destroy(t);
	(void)state;
}

static void a_copy_moved_onto_the_other_copys_node_is_made_again(void **state)
{
	struct t *t = make(1, 2, 60000);
	struct pool_ref c[POOL_MAX_SLOTS], to;
	struct fprov *v;
	size_t i;

	add_blocks(t, 2);
	i = first_remote(t);
	assert_int_equal(copies_of(t, i, c), 2);
	/* c[0]'s provider moves it on to c[1]'s node (principle 5) */
	pthread_mutex_lock(&t->f.lock);
	v = fake_prov(&t->f, c[1].node);
	to = (struct pool_ref){c[1].node, PBLOCKS - 1, ++t->f.next_epoch};
	assert_int_equal(v->epoch[to.block], 0);
	v->epoch[to.block] = to.epoch;
	v->room--;
	memcpy(v->mem[to.block], fake_block(&t->f, &c[0]), FBS);
	pthread_mutex_unlock(&t->f.lock);
	assert_int_equal(pool_loan_moved(t->p, &c[0], &to, false), 0);
	assert_int_equal(counts(t).followed, 1);
	/* two on one node count as one: a third node gets one */
	assert_true(wait_for(all_whole, t, DEADLINE_MS));
	assert_int_equal(counts(t).rc.rebuilt, 1);
	check_read(t, i);
	destroy(t);
	(void)state;
}

static void with_room_for_one_copy_the_other_comes_later(void **state)
{
	struct t *t = make(1, 2, 60000);
	struct pool_ref c[POOL_MAX_SLOTS];
	size_t i;

	pthread_mutex_lock(&t->f.lock);
	fake_prov(&t->f, 8)->room = 0;
	fake_prov(&t->f, 9)->room = 0;
	pthread_mutex_unlock(&t->f.lock);
	add_blocks(t, 2);
	i = first_remote(t);
	assert_int_equal(copies_of(t, i, c), 1);
	check_read(t, i);
	pthread_mutex_lock(&t->f.lock);
	fake_prov(&t->f, 9)->room = PBLOCKS;
	pthread_mutex_unlock(&t->f.lock);
	assert_true(wait_for(all_whole, t, DEADLINE_MS));
	destroy(t);
	(void)state;
}

/* ---- writes racing the loss of providers ---- */

static bool is_local(void *arg)
{
	struct block_of {
		struct t *t;
		size_t i;
	} *b = arg;

	return !is_remote(b->t, b->i);
}

/*
 * A sequential reader's next block elsewhere comes home ahead of it (the
 * prefetch) and, its block having two copies, gives both back as it
 * lands: no clean copy keeps loans a dead provider, the rebuilder or the
 * loss accounting would have to find on a block at home.
 */
static void a_prefetched_block_with_two_copies_gives_both_back(void **state)
{
	/* 32 blocks: the reserve (1) keeps principle 4 off the free one */
	struct t *t = make(32, 2, 60000);
	struct {
		struct t *t;
		size_t i;
	} b = {t, 0};

	add_blocks(t, 34);
	b.i = first_remote(t);
	assert_int_equal(counts(t).rc.copies, 4);
	for (size_t i = 0; i < t->n; i++) {
		if (!is_remote(t, i)) {
			pool_free(t->p, t->h[i]);
			t->h[i] = 0;
			break;
		}
	}
	assert_int_equal(pool_prefetch(t->p, &t->h[b.i], 1), 1);
	assert_true(wait_for(is_local, &b, DEADLINE_MS));
	assert_int_equal(counts(t).prefetched, 1);
	assert_int_equal(counts(t).copies, 0);
	assert_int_equal(counts(t).rc.copies, 2);
	assert_int_equal(counts(t).blocks[POOL_LRL], 1);
	pthread_mutex_lock(&t->p->lock);
	assert_int_equal(t->p->handles[t->h[b.i]].ncopies, 0);
	assert_false(t->p->handles[t->h[b.i]].flags & HF_COPY);
	pthread_mutex_unlock(&t->p->lock);
	for (size_t i = 0; i < t->n; i++)
		if (t->h[i])
			check_read(t, i);
	destroy(t);
	(void)state;
}

struct writer {
	struct t *t;
	atomic_bool stop;
	atomic_uint writes, failed;
};

/* Writes every block in turn; a write that failed is not acknowledged. */
static void *write_loop(void *arg)
{
	struct writer *w = arg;
	uint32_t seed = 100000;
	uint8_t buf[FBS];

	while (!atomic_load(&w->stop)) {
		for (size_t i = 0; i < w->t->n; i++) {
			pattern(buf, ++seed);
			if (pool_write(w->t->p, w->t->h[i], 0, buf, FBS)) {
				atomic_fetch_add(&w->failed, 1);
				continue;
			}
			atomic_store(&w->t->seed[i], seed);
			atomic_fetch_add(&w->writes, 1);
		}
	}
	return NULL;
}

static void wait_writes(struct writer *w, unsigned int more)
{
	unsigned int want = atomic_load(&w->writes) + more;
	uint64_t end = cmp_now_ns() + DEADLINE_MS * 1000000ull;

	while (atomic_load(&w->writes) < want) {
		assert_true(cmp_now_ns() < end);
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
}

static void writes_racing_two_losses_in_turn_lose_nothing(void **state)
{
	struct t *t = make(1, 2, 200);
	struct writer w = {.t = t};
	pthread_t th;

	add_blocks(t, 9);
	assert_int_equal(pthread_create(&th, NULL, write_loop, &w), 0);
	wait_writes(&w, 50);
	/* node 7 unreachable: writes drop its copies, the rest after 0.2 s */
	fake_kill(&t->f, 7);
	wait_writes(&w, 50);
	assert_true(wait_for(none_on_7, t, DEADLINE_MS));
	/* then node 8, which holds surviving copies, restarts */
	wait_writes(&w, 50);
	fake_restart(&t->f, 8);
	wait_writes(&w, 50);
	atomic_store(&w.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&w.failed), 0);
	assert_int_equal(counts(t).lost, 0);
	for (size_t i = 0; i < t->n; i++)
		check_read(t, i);
	/* every copy that counts holds the last acknowledged write */
	assert_true(wait_for(all_whole, t, DEADLINE_MS));
	destroy(t);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			moved_out_blocks_have_one_copy_on_each_of_two_nodes),
		cmocka_unit_test(
			a_copy_that_missed_a_write_is_never_read_again),
		cmocka_unit_test(a_write_no_copy_took_fails_and_drops_nothing),
		cmocka_unit_test(reads_go_to_the_cheaper_copy_and_fall_back),
		cmocka_unit_test(
			a_provider_losing_our_loans_takes_only_its_copies),
		cmocka_unit_test(
			an_unreachable_providers_copies_count_until_rebuild_after),
		cmocka_unit_test(
			two_of_three_gone_lose_only_blocks_with_every_copy_there),
		cmocka_unit_test(frees_and_homecomings_give_every_copy_back),
		cmocka_unit_test(
			a_copy_moved_onto_the_other_copys_node_is_made_again),
		cmocka_unit_test(with_room_for_one_copy_the_other_comes_later),
		cmocka_unit_test(writes_racing_two_losses_in_turn_lose_nothing),
		cmocka_unit_test(
			a_prefetched_block_with_two_copies_gives_both_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
