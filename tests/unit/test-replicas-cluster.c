// SPDX-License-Identifier: MIT
/*
 * Copies of our blocks on real providers (-o replicas=2), in one process
 * over mem://: a manager, an owner node (pool + cluster, two blocks of
 * its own, replicas=2, rebuild_after 0.5 s) and three providers (a
 * memserver's store behind a peer service each, registered with the
 * manager), each reached through a relay the test controls. A provider
 * is killed (its connections cut, new ones refused, its store and loans
 * gone, its registration closed without a goodbye), paused (the relay
 * forwards nothing: a SIGSTOP), or restarted empty on the same address.
 *
 * What must hold, checked byte for byte on every copy in the providers'
 * stores: a provider killed or paused while a thread writes loses no
 * acknowledged write and fails none; its copies are made again on the
 * others, and a second kill, of a provider that held surviving copies,
 * loses nothing either; a paused provider that comes back gives up the
 * loans that were replaced (reconciliation); two of three killed lose
 * exactly the blocks whose both copies were there (EIO), never wrong
 * data. Every wait polls a condition with a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "manager.h"
#include "pattern.h"
#include "pool-internal.h"
#include "memprov.h"
#include "relay.h"
#include "store.h"
#include "wait-for.h"

#define BS 4096u
#define LOCAL 2u
#define PBLOCKS 16u
#define NPROV 3
#define OWNER 0xAu
#define PROV0 21u
#define TIMEOUT_MS 1000
#define REBUILD_AFTER_MS 500
#define DEADLINE_MS 20000
#define NBLOCKS 12
#define MAXH 16

struct fix {
	struct manager *mgr;
	char mgr_addr[64];
	struct memprov prov[NPROV];
	struct pool *pool;
	struct cluster *cl;
	uint32_t h[MAXH];
	_Atomic uint32_t seed[MAXH]; /* of the last acknowledged write */
	size_t nh;
};

/* ---- the providers ---- */

static void register_prov(struct fix *f, struct memprov *v)
{
	memprov_register(v, f->mgr_addr);
	assert_int_equal(mgr_client_wait_registered(v->mgr, DEADLINE_MS), 0);
}

/* SIGKILL: cut off, loans gone, registration closed without a goodbye. */
static void kill_prov(struct fix *f, int i)
{
	struct memprov *v = &f->prov[i];

	relay_refuse(&v->relay);
	relay_reset(&v->relay);
	mgr_client_destroy(v->mgr);
	v->mgr = NULL;
	memprov_stop(v);
}

/* Started again, empty, at the same address. */
static void restart_prov(struct fix *f, int i)
{
	struct memprov *v = &f->prov[i];

	memprov_start(v, 0);
	relay_listen(&v->relay);
	register_prov(f, v);
}

static struct fix *setup_fix(void)
{
	static unsigned int seq;
	struct fix *f = calloc(1, sizeof(*f));
	char addr[64];

	assert_non_null(f);
	seq++;
	snprintf(f->mgr_addr, sizeof(f->mgr_addr), "mem://rc-mgr-%d-%u",
		 getpid(), seq);
	f->mgr = manager_create(&(struct manager_config){
		.listen_addr = f->mgr_addr,
		.heartbeat_ms = 50,
		.suspect_after = 100,
	});
	assert_non_null(f->mgr);
	for (int i = 0; i < NPROV; i++) {
		struct memprov *v = &f->prov[i];

		snprintf(addr, sizeof(addr), "mem://rc-prov%d-%d-%u", i,
			 getpid(), seq);
		memprov_init(v, PROV0 + (uint32_t)i, addr, PBLOCKS, BS);
		memprov_start(v, 0);
		relay_start(&v->relay, v->addr);
		register_prov(f, v);
	}
	f->pool = pool_create(&(struct pool_config){
		.local_bytes = LOCAL * BS,
		.block_size = BS,
		.replicas = 2,
		.rebuild_after_ms = REBUILD_AFTER_MS,
	});
	assert_non_null(f->pool);
	/* the checks count copies and loans: none comes home for being read */
	pool_set_exchange(f->pool, false);
	snprintf(addr, sizeof(addr), "mem://rc-owner-%d-%u", getpid(), seq);
	f->cl = cluster_create(&(struct cluster_config){
		.pool = f->pool,
		.manager_addr = f->mgr_addr,
		.listen_addr = addr,
		.node_id = OWNER,
		.timeout_ms = TIMEOUT_MS,
	});
	assert_non_null(f->cl);
	assert_int_equal(cluster_wait_registered(f->cl, DEADLINE_MS), 0);
	return f;
}

static int setup(void **state)
{
	*state = setup_fix();
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	cluster_destroy(f->cl);
	pool_destroy(f->pool);
	for (int i = 0; i < NPROV; i++) {
		struct memprov *v = &f->prov[i];

		mgr_client_destroy(v->mgr);
		relay_stop(&v->relay);
		if (v->peer)
			memprov_stop(v);
		memprov_finish(v);
	}
	manager_destroy(f->mgr);
	free(f);
	return 0;
}

/* ---- data ---- */

static void pattern(uint8_t *buf, uint32_t seed)
{
	pattern_fill(buf, BS, seed);
}

static int write_seed(struct fix *f, size_t i, uint32_t seed)
{
	uint8_t buf[BS];
	int ret;

	pattern(buf, seed);
	ret = pool_write(f->pool, f->h[i], 0, buf, BS);
	if (!ret)
		atomic_store(&f->seed[i], seed);
	return ret;
}

static void add_blocks(struct fix *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_true(f->nh < MAXH);
		assert_int_equal(pool_alloc(f->pool, false, &f->h[f->nh]), 0);
		assert_int_equal(write_seed(f, f->nh, 1000 + (uint32_t)f->nh),
				 0);
		f->nh++;
	}
}

static int read_block(struct fix *f, size_t i, uint8_t *got)
{
	return pool_read(f->pool, f->h[i], 0, got, BS);
}

static void check_block(struct fix *f, size_t i)
{
	uint8_t want[BS], got[BS];

	pattern(want, atomic_load(&f->seed[i]));
	assert_int_equal(read_block(f, i, got), 0);
	if (memcmp(got, want, BS))
		fail_msg("block %zu (handle %u) reads other data", i, f->h[i]);
}

static struct pool_counts counts(struct fix *f)
{
	struct pool_counts c;

	pool_get_counts(f->pool, &c);
	return c;
}

/*
 * Block i's copies now; *settled: not being moved or rebuilt, and none on
 * a provider the owner cannot reach (the rebuilder has nothing to do).
 */
static uint32_t copies_of(struct fix *f, size_t i, struct pool_ref *out,
			  bool *settled)
{
	struct pool *p = f->pool;
	uint32_t n = 0;

	pthread_mutex_lock(&p->lock);
	*settled = p->handles[f->h[i]].state == HANDLE_REMOTE;
	for (uint32_t k = 0; k < p->slots; k++) {
		const struct pool_ref *s = pool_slot(p, f->h[i], k);

		if (!s->node)
			continue;
		out[n++] = *s;
		*settled = *settled && !pool_node_suspect_locked(p, s->node);
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* The bytes a provider's store holds in block idx (NULL: not running). */
static bool store_holds(struct fix *f, const struct pool_ref *r,
			const uint8_t *want)
{
	struct memprov *v;
	const uint8_t *got;
	bool ok;

	if (r->node < PROV0 || r->node >= PROV0 + NPROV)
		return false;
	v = &f->prov[r->node - PROV0];
	pthread_mutex_lock(&v->lock);
	got = v->store ? ms_store_ops.ptr(v->store, r->block) : NULL;
	ok = got && !memcmp(got, want, BS);
	pthread_mutex_unlock(&v->lock);
	return ok;
}

/*
 * Every block elsewhere has two copies on distinct running providers,
 * none on provider `shun` (-1: any), and, with bytes (no writer runs:
 * the test reads the stores beside the providers), each holding its last
 * acknowledged write in the provider's store.
 */
struct whole_arg {
	struct fix *f;
	int shun;
	bool bytes;
};

static bool all_whole(void *arg)
{
	struct whole_arg *w = arg;
	struct fix *f = w->f;
	uint32_t shun = w->shun < 0 ? 0 : PROV0 + (uint32_t)w->shun;
	uint8_t want[BS];

	for (size_t i = 0; i < f->nh; i++) {
		struct pool_ref c[POOL_MAX_SLOTS];
		bool settled;
		uint32_t n = copies_of(f, i, c, &settled);

		if (!n)
			continue; /* at home, or lost (counted apart) */
		pattern(want, atomic_load(&f->seed[i]));
		if (!settled || n != 2 || c[0].node == c[1].node)
			return false;
		for (uint32_t k = 0; k < n; k++)
			if (c[k].node == shun ||
			    (w->bytes && !store_holds(f, &c[k], want)))
				return false;
	}
	return true;
}

static void wait_whole(struct fix *f, int shun, bool bytes)
{
	struct whole_arg w = {f, shun, bytes};

	if (!wait_for(all_whole, &w, DEADLINE_MS))
		fail_msg("the copies were not made whole in %d ms (%llu short, "
			 "%llu rebuilt)",
			 DEADLINE_MS, (unsigned long long)counts(f).rc.degraded,
			 (unsigned long long)counts(f).rc.rebuilt);
}

static bool none_short(void *arg)
{
	return counts(arg).rc.degraded == 0;
}

/*
 * Whole by the books, then (the rebuilder done: no copy is written
 * while the test reads the stores) byte for byte.
 */
static void wait_whole_bytes(struct fix *f, int shun)
{
	wait_whole(f, shun, false);
	assert_true(wait_for(none_short, f, DEADLINE_MS));
	wait_whole(f, shun, true);
}

/*
 * No block of ours moving and no writer streaming (whose reserve the
 * evictor would still be making, a block or two after the writes): the
 * copies stay where they are now.
 */
static bool evictor_idle(void *arg)
{
	struct fix *f = arg;
	struct pool *p = f->pool;
	bool idle;

	pthread_mutex_lock(&p->lock);
	idle = !pool_streaming_locked(p) && !p->evicting && !p->pulling;
	for (size_t i = 0; idle && i < f->nh; i++)
		idle = p->handles[f->h[i]].state != HANDLE_MOVING;
	pthread_mutex_unlock(&p->lock);
	return idle;
}

/* Block i lives elsewhere, in two copies. */
static bool copies_remote(struct fix *f, size_t i)
{
	struct pool_ref c[POOL_MAX_SLOTS];
	bool settled;

	return copies_of(f, i, c, &settled) == 2;
}

static void check_all(struct fix *f)
{
	for (size_t i = 0; i < f->nh; i++)
		check_block(f, i);
}

/* ---- a writer beside the failures ---- */

struct writer {
	struct fix *f;
	atomic_bool stop;
	atomic_uint writes, failed;
	pthread_t th;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	uint32_t seed = 100000;

	while (!atomic_load(&w->stop)) {
		for (size_t i = 0; i < w->f->nh; i++) {
			if (write_seed(w->f, i, ++seed))
				atomic_fetch_add(&w->failed, 1);
			else
				atomic_fetch_add(&w->writes, 1);
		}
	}
	return NULL;
}

static void start_writer(struct writer *w, struct fix *f)
{
	*w = (struct writer){.f = f};
	assert_int_equal(pthread_create(&w->th, NULL, write_loop, w), 0);
}

static void wait_writes(struct writer *w, unsigned int more)
{
	unsigned int want = atomic_load(&w->writes) + more;
	uint64_t end = cmp_now_ns() + DEADLINE_MS * 1000000ull;

	while (atomic_load(&w->writes) < want) {
		if (cmp_now_ns() > end)
			fail_msg("writes stopped at %u (%u failed)",
				 atomic_load(&w->writes),
				 atomic_load(&w->failed));
		nanosleep(&(struct timespec){0, 2000000}, NULL);
	}
}

static void stop_writer(struct writer *w)
{
	atomic_store(&w->stop, true);
	pthread_join(w->th, NULL);
}

/* ---- the cases ---- */

static void a_killed_provider_then_a_second_lose_nothing(void **state)
{
	struct fix *f = *state;
	struct writer w;

	add_blocks(f, NBLOCKS);
	wait_whole_bytes(f, -1);
	start_writer(&w, f);
	wait_writes(&w, 40);
	kill_prov(f, 0);
	wait_writes(&w, 40);
	/* its copies: dropped by the writes, the rest after 0.5 s */
	wait_whole(f, 0, false);
	assert_true(counts(f).rc.rebuilt > 0);
	/* every surviving copy is on 1 or 2 now: kill one of them */
	wait_writes(&w, 40);
	kill_prov(f, 1);
	wait_writes(&w, 40);
	stop_writer(&w);
	assert_int_equal(atomic_load(&w.failed), 0);
	assert_int_equal(counts(f).lost, 0);
	check_all(f);
	/* the first comes back empty: the second copies go there */
	restart_prov(f, 0);
	wait_whole_bytes(f, 1);
	check_all(f);
}

/* Copies on provider i by the owner's books, and loans it has for us. */
struct books {
	struct fix *f;
	int i;
};

static bool books_agree(void *arg)
{
	struct books *b = arg;
	uint32_t node = PROV0 + (uint32_t)b->i, ours = 0;

	for (size_t h = 0; h < b->f->nh; h++) {
		struct pool_ref c[POOL_MAX_SLOTS];
		bool settled;
		uint32_t n = copies_of(b->f, h, c, &settled);

		while (n--)
			ours += c[n].node == node;
	}
	return !pool_any_suspect(b->f->pool) &&
	       peer_lent_to(b->f->prov[b->i].peer, OWNER) == ours;
}

static void a_paused_provider_is_replaced_and_gives_back_its_loans(void **state)
{
	struct fix *f = *state;
	struct books b = {f, 0};
	struct writer w;

	add_blocks(f, NBLOCKS);
	wait_whole_bytes(f, -1);
	start_writer(&w, f);
	wait_writes(&w, 40);
	/* SIGSTOP: nothing answers; a write waits one deadline at most */
	atomic_store(&f->prov[0].relay.hold, true);
	wait_writes(&w, 40);
	wait_whole(f, 0, false);
	stop_writer(&w);
	wait_whole_bytes(f, 0);
	assert_int_equal(atomic_load(&w.failed), 0);
	assert_int_equal(counts(f).lost, 0);
	assert_true(counts(f).rc.stale > 0);
	/* SIGCONT: it reconciles and frees every loan we replaced */
	atomic_store(&f->prov[0].relay.hold, false);
	relay_reset(&f->prov[0].relay);
	assert_true(wait_for(books_agree, &b, DEADLINE_MS));
	check_all(f);
	for (int r = 0; r < 20; r++)
		check_all(f);
}

static void two_of_three_killed_lose_only_what_both_held(void **state)
{
	struct fix *f = *state;
	bool both[MAXH] = {false};
	size_t nboth = 0, remote = 0;
	uint8_t got[BS];

	add_blocks(f, NBLOCKS);
	assert_true(wait_for(evictor_idle, f, DEADLINE_MS));
	wait_whole_bytes(f, -1);
	for (size_t i = 0; i < f->nh; i++) {
		struct pool_ref c[POOL_MAX_SLOTS];
		bool settled;
		uint32_t n = copies_of(f, i, c, &settled);

		remote += n > 0;
		both[i] = n == 2 && c[0].node != PROV0 + 2 &&
			  c[1].node != PROV0 + 2;
		nboth += both[i];
	}
	/*
	 * (blocks written in a row are a streaming writer: the evictor
	 * keeps its reserve free, up to all of so small a pool)
	 */
	assert_true(remote >= NBLOCKS - LOCAL);
	/* the most free first: pairs go round, some on 0 and 1 only */
	assert_true(nboth > 0 && nboth < remote);
	kill_prov(f, 0);
	kill_prov(f, 1);
	/* while they are away: unreadable where both were, never lost */
	for (size_t i = 0; i < f->nh; i++) {
		if (both[i])
			assert_int_equal(read_block(f, i, got), -EIO);
		else
			check_block(f, i);
	}
	assert_int_equal(counts(f).lost, 0);
	/* back empty: those blocks are lost, the others made whole */
	restart_prov(f, 0);
	restart_prov(f, 1);
	wait_whole_bytes(f, -1);
	assert_int_equal(counts(f).lost, nboth);
	for (size_t i = 0; i < f->nh; i++) {
		if (both[i])
			assert_int_equal(read_block(f, i, got), -EIO);
		else
			check_block(f, i);
	}
}

/*
 * Every provider is far (each request waits 40 ms on its way): a write
 * to a block with two copies has both requests out at once, so it costs
 * one such wait, not two.
 */
static void the_copies_of_a_write_go_out_together(void **state)
{
	struct fix *f = *state;
	uint64_t t0, ms;
	size_t i = 0;

	add_blocks(f, NBLOCKS);
	wait_whole_bytes(f, -1);
	while (!copies_remote(f, i))
		i++;
	for (int v = 0; v < NPROV; v++)
		atomic_store(&f->prov[v].relay.delay_ms, 40);
	atomic_store(&relay_delayed_max, 0);
	t0 = cmp_now_ns();
	for (uint32_t k = 0; k < 8; k++)
		assert_int_equal(write_seed(f, i, 5000 + k), 0);
	ms = (cmp_now_ns() - t0) / 1000000;
	for (int v = 0; v < NPROV; v++)
		atomic_store(&f->prov[v].relay.delay_ms, 0);
	/* both copies' requests were on their way at the same time */
	assert_true(atomic_load(&relay_delayed_max) >= 2);
	print_message("8 writes to two copies 40 ms away took %llu ms (one "
		      "after the other: at least 640)\n",
		      (unsigned long long)ms);
	check_block(f, i);
	wait_whole_bytes(f, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_killed_provider_then_a_second_lose_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_paused_provider_is_replaced_and_gives_back_its_loans,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			two_of_three_killed_lose_only_what_both_held, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			the_copies_of_a_write_go_out_together, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
