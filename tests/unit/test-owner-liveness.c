// SPDX-License-Identifier: MIT
/*
 * The owner's side of a block's life (issue 9), in one process over
 * mem://: a real manager, an owner node (pool + cluster, two blocks of its
 * own) and a provider (the memserver's store behind a peer service, and a
 * manager client that registers it). The owner reaches the provider
 * through a relay the test controls, so the provider can keep running
 * while every connection to it is reset, refuse connections, or stop
 * answering; or the provider itself is destroyed and made again on the
 * same address (loans gone), with the same or a new incarnation.
 *
 * What must hold: requests for an unreachable provider fail with EIO at
 * once, and its blocks are back, byte for byte, once it is reached and
 * reconciled, with nothing freed on either side; a provider that lost our
 * loans makes exactly those blocks lost (EIO, counted); a FREE that never
 * arrived is settled by the reconciliation; pool_free() never waits on
 * the network; borrowing goes on while the manager is down; a network
 * failure is EIO, never ENOSPC; an idle owner keeps its lease by PINGs.
 * Every wait polls a condition with a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "manager.h"
#include "memprov.h"
#include "pattern.h"
#include "relay.h"
#include "store.h"
#include "wait-for.h"

#define BS 4096u
#define LOCAL 2u   /* the owner's own blocks */
#define PBLOCKS 8u /* the provider's */
#define OWNER 0xAu
#define PROV 7u
#define TIMEOUT_MS 2000
#define DEADLINE_MS 15000
#define MAXH 16

/* The provider's incarnation as its handshake tells it (see the wrap). */
static atomic_uint_fast64_t incarnation_bump;
uint64_t __real_cmp_incarnation(void);
uint64_t __wrap_cmp_incarnation(void);
uint64_t __wrap_cmp_incarnation(void)
{
	return __real_cmp_incarnation() + atomic_load(&incarnation_bump);
}

/* ---- the nodes ---- */

struct fix {
	struct manager *mgr;
	char mgr_addr[64];
	struct memprov prov; /* through prov.relay */
	struct pool *pool;
	struct cluster *cl;
	uint32_t h[MAXH], seed[MAXH];
	size_t nh;
	uint32_t next_seed;
};

static struct fix *setup_with(uint32_t lease_ms)
{
	static unsigned int seq;
	struct fix *f = calloc(1, sizeof(*f));
	char addr[64];

	assert_non_null(f);
	seq++;
	snprintf(f->mgr_addr, sizeof(f->mgr_addr), "mem://ol-mgr-%d-%u",
		 getpid(), seq);
	f->mgr = manager_create(&(struct manager_config){
		.listen_addr = f->mgr_addr,
		.heartbeat_ms = 50,
		.suspect_after = 100,
	});
	assert_non_null(f->mgr);
	snprintf(addr, sizeof(addr), "mem://ol-prov-%d-%u", getpid(), seq);
	memprov_init(&f->prov, PROV, addr, PBLOCKS, BS);
	memprov_start(&f->prov, lease_ms);
	relay_start(&f->prov.relay, f->prov.addr);
	memprov_register(&f->prov, f->mgr_addr);
	f->pool = pool_create(&(struct pool_config){
		.local_bytes = LOCAL * BS,
		.block_size = BS,
	});
	assert_non_null(f->pool);
	/* the checks count loans: no block may come home for being read */
	pool_set_exchange(f->pool, false);
	snprintf(addr, sizeof(addr), "mem://ol-owner-%d-%u", getpid(), seq);
	f->cl = cluster_create(&(struct cluster_config){
		.pool = f->pool,
		.manager_addr = f->mgr_addr,
		.listen_addr = addr,
		.node_id = OWNER,
		.timeout_ms = TIMEOUT_MS,
	});
	assert_non_null(f->cl);
	assert_int_equal(mgr_client_wait_registered(f->prov.mgr, DEADLINE_MS),
			 0);
	assert_int_equal(cluster_wait_registered(f->cl, DEADLINE_MS), 0);
	f->next_seed = 1;
	atomic_store(&incarnation_bump, 0);
	return f;
}

static int setup(void **state)
{
	*state = setup_with(0);
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	cluster_destroy(f->cl);
	pool_destroy(f->pool);
	mgr_client_destroy(f->prov.mgr);
	relay_stop(&f->prov.relay);
	memprov_stop(&f->prov);
	manager_destroy(f->mgr);
	memprov_finish(&f->prov);
	free(f);
	return 0;
}

/* ---- data ---- */

static void pattern(uint8_t *buf, uint32_t seed)
{
	pattern_fill(buf, BS, seed);
}

/* A block with its pattern: 0 or pool_alloc()'s error. */
static int add_block(struct fix *f)
{
	uint8_t buf[BS];
	uint32_t h;
	int ret = pool_alloc(f->pool, false, &h);

	if (ret)
		return ret;
	assert_true(f->nh < MAXH);
	f->h[f->nh] = h;
	f->seed[f->nh] = f->next_seed++;
	pattern(buf, f->seed[f->nh]);
	assert_int_equal(pool_write(f->pool, h, 0, buf, BS), 0);
	f->nh++;
	return 0;
}

static void add_blocks(struct fix *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(add_block(f), 0);
}

static bool is_remote(struct fix *f, size_t i)
{
	void *ptr;
	int ret = pool_pin(f->pool, f->h[i], &ptr);

	if (!ret)
		pool_unpin(f->pool, f->h[i]);
	return ret == -EREMOTE;
}

static int read_block(struct fix *f, size_t i, uint8_t *got)
{
	return pool_read(f->pool, f->h[i], 0, got, BS);
}

static void check_block(struct fix *f, size_t i)
{
	uint8_t want[BS], got[BS];

	pattern(want, f->seed[i]);
	assert_int_equal(read_block(f, i, got), 0);
	if (memcmp(got, want, BS))
		fail_msg("block %zu (handle %u) differs", i, f->h[i]);
}

static void check_all(struct fix *f)
{
	for (size_t i = 0; i < f->nh; i++)
		check_block(f, i);
}

static uint64_t counts_of(struct fix *f, int which)
{
	struct pool_counts c;

	pool_get_counts(f->pool, &c);
	return which < 0 ? c.lost : c.blocks[which];
}

static struct cluster_stats stats_of(struct fix *f)
{
	struct cluster_stats s;

	cluster_get_stats(f->cl, &s);
	return s;
}

static uint64_t ms_since(uint64_t t0)
{
	return (cmp_now_ns() - t0) / 1000000;
}

/* ---- conditions to wait for ---- */

static bool block0_remote_readable(void *arg)
{
	struct fix *f = arg;
	uint8_t got[BS];

	for (size_t i = 0; i < f->nh; i++)
		if (is_remote(f, i))
			return read_block(f, i, got) == 0;
	return false;
}

static bool owner_saw_a_suspect(void *arg)
{
	return stats_of(arg).suspects > 0;
}

static bool no_provider_suspect(void *arg)
{
	struct fix *f = arg;

	return !pool_any_suspect(f->pool);
}

/* The manager's view of the restarted provider is fresh: room for 3. */
static bool manager_sees_room(void *arg)
{
	struct fix *f = arg;
	struct mgr_node_info info[4];
	size_t n = 0;

	if (mgr_client_nodes(f->prov.mgr, info, 4, &n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (info[i].node == PROV)
			return info[i].counts.free >= 3;
	return false;
}

static bool all_remote_lost(void *arg)
{
	struct fix *f = arg;

	return counts_of(f, -1) == f->nh - LOCAL;
}

/* The provider holds exactly as many loans for us as want[0]. */
struct lent_want {
	struct fix *f;
	uint32_t n;
};

static bool provider_lends(void *arg)
{
	struct lent_want *w = arg;

	return peer_lent_to(w->f->prov.peer, OWNER) == w->n;
}

/* ---- the cases ---- */

/* Eight blocks: two at home, six on the provider. */
static void fill_owner(struct fix *f)
{
	add_blocks(f, LOCAL + 6);
	assert_int_equal(counts_of(f, POOL_LRL), 6);
	assert_int_equal(peer_lent_to(f->prov.peer, OWNER), 6);
	check_all(f);
}

static void resets_fail_fast_and_everything_comes_back(void **state)
{
	struct fix *f = *state;
	uint8_t got[BS];
	uint64_t t0;
	size_t nremote = 0;

	fill_owner(f);
	/* every connection cut, and new ones refused for now */
	relay_refuse(&f->prov.relay);
	relay_reset(&f->prov.relay);
	for (size_t i = 0; i < f->nh; i++) {
		uint32_t h = f->h[i];

		if (!is_remote(f, i)) {
			check_block(f, i);
			continue;
		}
		nremote++;
		t0 = cmp_now_ns();
		assert_int_equal(read_block(f, i, got), -EIO);
		/* at once: never a request deadline per block */
		assert_true(ms_since(t0) < TIMEOUT_MS / 2);
		assert_int_equal(pool_check_handles(f->pool, &h, 1), -EIO);
	}
	assert_int_equal(nremote, 6);
	assert_true(pool_any_suspect(f->pool));
	/* nothing lost, nothing freed on either side meanwhile */
	assert_int_equal(counts_of(f, -1), 0);
	assert_int_equal(peer_lent_to(f->prov.peer, OWNER), 6);

	relay_listen(&f->prov.relay);
	assert_true(wait_for(block0_remote_readable, f, DEADLINE_MS));
	check_all(f);
	assert_false(pool_any_suspect(f->pool));
	assert_int_equal(pool_check_handles(f->pool, f->h, f->nh), 0);
	assert_int_equal(counts_of(f, -1), 0);
	assert_int_equal(counts_of(f, POOL_LRL), 6);
	assert_int_equal(peer_lent_to(f->prov.peer, OWNER), 6);
	assert_true(stats_of(f).suspects >= 1);
	assert_true(stats_of(f).reconciles >= 1);
}

static void a_lost_free_is_settled_by_reconciliation(void **state)
{
	struct fix *f = *state;
	struct lent_want w = {f, 3};
	uint64_t t0;
	size_t freed = 0;

	fill_owner(f);
	/* the provider stops answering: a FREE would wait its deadline */
	atomic_store(&f->prov.relay.hold, true);
	t0 = cmp_now_ns();
	for (size_t i = f->nh; i-- > 0 && freed < 3;) {
		if (!is_remote(f, i))
			continue;
		pool_free(f->pool, f->h[i]);
		f->h[i] = f->h[--f->nh];
		f->seed[i] = f->seed[f->nh];
		freed++;
	}
	/* pool_free() queued them: no network I/O on this thread */
	assert_true(ms_since(t0) < TIMEOUT_MS / 4);
	assert_int_equal(peer_lent_to(f->prov.peer, OWNER), 6);
	/* the helper's FREE times out: the provider is suspect */
	assert_true(wait_for(owner_saw_a_suspect, f, DEADLINE_MS));
	/* the held FREE is dropped with the connections */
	relay_reset(&f->prov.relay);
	atomic_store(&f->prov.relay.hold, false);
	/* the reconciliation frees the three we no longer claim */
	assert_true(wait_for(provider_lends, &w, DEADLINE_MS));
	assert_true(wait_for(block0_remote_readable, f, DEADLINE_MS));
	check_all(f);
	assert_int_equal(counts_of(f, -1), 0);
	assert_int_equal(counts_of(f, POOL_LRL), 3);
}

/* Which of the owner's blocks are on the provider now. */
static void where(struct fix *f, bool *remote)
{
	for (size_t i = 0; i < f->nh; i++)
		remote[i] = is_remote(f, i);
}

/* The remote blocks are lost (EIO, counted), the others fine. */
static void only_remote_ones_lost(struct fix *f, const bool *remote)
{
	uint8_t got[BS];

	for (size_t i = 0; i < f->nh; i++) {
		uint32_t h = f->h[i];

		if (!remote[i]) {
			check_block(f, i);
			assert_int_equal(pool_check_handles(f->pool, &h, 1), 0);
			continue;
		}
		assert_int_equal(read_block(f, i, got), -EIO);
		assert_int_equal(pool_check_handles(f->pool, &h, 1), -EIO);
	}
}

/* Frees the lost blocks; then new ones can be borrowed again. */
static void free_lost_and_borrow_again(struct fix *f, const bool *remote,
				       uint32_t want_lent)
{
	for (size_t i = f->nh; i-- > 0;) {
		if (!remote[i])
			continue;
		pool_free(f->pool, f->h[i]);
		f->h[i] = f->h[f->nh - 1];
		f->seed[i] = f->seed[f->nh - 1];
		f->nh--;
	}
	assert_int_equal(counts_of(f, -1), 0);
	add_blocks(f, 3);
	check_all(f);
	assert_int_equal(peer_lent_to(f->prov.peer, OWNER), want_lent);
}

/* The provider comes back on the same address without our loans. */
static void restart_provider(struct fix *f, bool new_incarnation)
{
	uint64_t gen = pool_lost_gen(f->pool);
	bool remote[MAXH];
	uint8_t got[BS];

	where(f, remote);
	memprov_stop(&f->prov);
	if (new_incarnation)
		atomic_fetch_add(&incarnation_bump, 1);
	memprov_start(&f->prov, 0);
	for (size_t i = 0; i < f->nh; i++)
		if (remote[i])
			assert_int_equal(read_block(f, i, got), -EIO);
	assert_true(wait_for(all_remote_lost, f, DEADLINE_MS));
	assert_true(pool_lost_gen(f->pool) > gen);
	only_remote_ones_lost(f, remote);
	/* lost first, usable again (and offered) a moment later */
	assert_true(wait_for(no_provider_suspect, f, DEADLINE_MS));
	assert_true(wait_for(manager_sees_room, f, DEADLINE_MS));
	free_lost_and_borrow_again(f, remote, 3);
}

static bool reconciled(void *arg)
{
	return stats_of(arg).reconciles >= 1;
}

static void a_provider_without_our_loans_makes_them_lost(void **state)
{
	struct fix *f = *state;

	fill_owner(f);
	restart_provider(f, false);
	/*
	 * the reconciliation on the reconnect lists them missing too (a read
	 * that met the restarted provider first may have found them lost
	 * before it: wait for it)
	 */
	assert_true(wait_for(reconciled, f, DEADLINE_MS));
}

static void a_restarted_provider_loses_every_loan_at_once(void **state)
{
	struct fix *f = *state;

	fill_owner(f);
	restart_provider(f, true);
}

struct since {
	uint64_t t0, ms;
};

static bool time_passed(void *arg)
{
	struct since *w = arg;

	return ms_since(w->t0) > w->ms;
}

static void borrowing_goes_on_while_the_manager_is_down(void **state)
{
	struct fix *f = *state;
	/* older than the owner's candidate list may be (0.5 s): it asks */
	struct since stale = {0, 1000};

	add_blocks(f, LOCAL + 2);
	manager_destroy(f->mgr);
	f->mgr = NULL;
	stale.t0 = cmp_now_ns();
	assert_true(wait_for(time_passed, &stale, DEADLINE_MS));
	add_blocks(f, 3);
	check_all(f);
	assert_int_equal(peer_lent_to(f->prov.peer, OWNER), 5);
}

static void unreachable_providers_give_eio_not_enospc(void **state)
{
	struct fix *f = *state;
	uint32_t h;

	add_blocks(f, LOCAL + 1);
	relay_refuse(&f->prov.relay);
	relay_reset(&f->prov.relay);
	assert_int_equal(pool_alloc(f->pool, true, &h), -EIO);
	/* and without the manager too */
	manager_destroy(f->mgr);
	f->mgr = NULL;
	assert_int_equal(pool_alloc(f->pool, true, &h), -EIO);
	/* the data that did not move is still there */
	check_block(f, f->nh - 1);
}

static void a_full_cluster_is_enospc(void **state)
{
	struct fix *f = *state;
	uint32_t h;

	add_blocks(f, LOCAL + PBLOCKS);
	assert_int_equal(pool_alloc(f->pool, true, &h), -ENOSPC);
	check_all(f);
}

static void a_provider_that_left_takes_only_our_blocks_there(void **state)
{
	struct fix *f = *state;
	bool remote[MAXH];

	fill_owner(f);
	where(f, remote);
	/* a clean shutdown: the manager tells the owner it left */
	assert_int_equal(mgr_client_leave(f->prov.mgr), 0);
	assert_true(wait_for(all_remote_lost, f, DEADLINE_MS));
	only_remote_ones_lost(f, remote);
	/* only its own word counts: the provider freed nothing */
	assert_int_equal(peer_lent_to(f->prov.peer, OWNER), 6);
}

struct idle {
	struct fix *f;
	uint64_t t0;
};

/*
 * A lease short enough to outlive a few times in a test, long against the
 * keeper's stalls on a loaded 2-core box (it pings every quarter lease).
 */
#define SHORT_LEASE_MS 1500

/* Three leases of silence, the provider's reaper run all along. */
static bool idle_long_enough(void *arg)
{
	struct idle *w = arg;

	assert_int_equal(peer_expire_leases(w->f->prov.peer), 0);
	assert_int_equal(peer_lent_to(w->f->prov.peer, OWNER), 6);
	return ms_since(w->t0) > 3 * SHORT_LEASE_MS;
}

static int setup_short_lease(void **state)
{
	*state = setup_with(SHORT_LEASE_MS);
	return 0;
}

static void an_idle_owner_keeps_its_lease(void **state)
{
	struct fix *f = *state;
	struct idle w = {f, 0};

	fill_owner(f);
	w.t0 = cmp_now_ns();
	assert_true(wait_for(idle_long_enough, &w, DEADLINE_MS));
	check_all(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			resets_fail_fast_and_everything_comes_back, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_lost_free_is_settled_by_reconciliation, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_provider_without_our_loans_makes_them_lost, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_restarted_provider_loses_every_loan_at_once, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			borrowing_goes_on_while_the_manager_is_down, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			unreachable_providers_give_eio_not_enospc, setup,
			teardown),
		cmocka_unit_test_setup_teardown(a_full_cluster_is_enospc, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_provider_that_left_takes_only_our_blocks_there, setup,
			teardown),
		cmocka_unit_test_setup_teardown(an_idle_owner_keeps_its_lease,
						setup_short_lease, teardown),
	};

	(void)argc;
	(void)argv;
	log_init("test-owner-liveness", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
