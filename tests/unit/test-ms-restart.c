// SPDX-License-Identifier: MIT
/*
 * A memserver that restarts on its kept store (issue 11), in one process
 * over mem://: a real manager, an owner node (pool + cluster, two blocks
 * of its own) and a provider: the memserver's store kept in a file
 * (memserver/store-kept.c) behind a peer service, registered by a manager
 * client. The provider is destroyed without a clean stop (what a kill -9
 * leaves: the file and its index) and made again on the same file and
 * address.
 *
 * What must hold: while it is down the owner's blocks there fail with EIO
 * at once and nothing is lost; once it is back the owner reconciles with
 * the same provider (same incarnation) and every block reads back byte
 * for byte, with no block lost or freed on either side, and the owner
 * borrows and writes more. Started --fresh, the provider is a new one:
 * exactly those blocks are lost. An owner that never comes back has its
 * kept loans freed by the lease, counted from the restart. Every wait
 * polls a condition with a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "manager.h"
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
#define SHORT_LEASE_MS 300

/*
 * Every provider made here is a new process to the owner: its own
 * incarnation (cmp_incarnation(), wrapped), unless the store kept one.
 */
static atomic_uint_fast64_t process_seq;
uint64_t __real_cmp_incarnation(void);
uint64_t __wrap_cmp_incarnation(void);
uint64_t __wrap_cmp_incarnation(void)
{
	return __real_cmp_incarnation() + atomic_load(&process_seq);
}

struct fix {
	struct manager *mgr;
	char mgr_addr[64];
	char prov_addr[64];
	char dir[64];
	char path[96];
	pthread_mutex_t store_lock; /* store: the manager client reads it */
	struct ms_store *store;
	struct peer *peer;
	struct mgr_client *prov_mgr;
	struct pool *pool;
	struct cluster *cl;
	uint32_t h[MAXH], seed[MAXH];
	size_t nh;
	uint32_t next_seed;
};

static void prov_counts(void *ctx, struct proto_mgr_counts *out)
{
	struct fix *f = ctx;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&f->store_lock);
	if (f->store)
		ms_store_mgr_counts(f->store, out);
	pthread_mutex_unlock(&f->store_lock);
}

/* The provider on its kept store, as cmp-memserver starts it. */
static void start_provider(struct fix *f, bool fresh, uint32_t lease_ms)
{
	struct ms_store *store = NULL;

	atomic_fetch_add(&process_seq, 1);
	assert_int_equal(ms_store_create_kept(
				 &(struct ms_store_kept_config){
					 .path = f->path,
					 .size = PBLOCKS * BS,
					 .block_size = BS,
					 .node_id = PROV,
					 .fresh = fresh,
				 },
				 &store),
			 0);
	f->peer = peer_create(&(struct peer_config){
		.listen_addr = f->prov_addr,
		.node_id = PROV,
		.block_size = BS,
		.ops = &ms_store_ops,
		.ctx = store,
		.lease_ms = lease_ms,
		.incarnation = ms_store_incarnation(store),
	});
	assert_non_null(f->peer);
	pthread_mutex_lock(&f->store_lock);
	f->store = store;
	pthread_mutex_unlock(&f->store_lock);
}

/* Gone as a kill -9 leaves it: no clean stop, the file and index stay. */
static void kill_provider(struct fix *f)
{
	struct ms_store *store = f->store;

	pthread_mutex_lock(&f->store_lock);
	f->store = NULL;
	pthread_mutex_unlock(&f->store_lock);
	peer_destroy(f->peer);
	f->peer = NULL;
	ms_store_destroy(store);
}

static struct fix *setup_with(uint32_t lease_ms)
{
	static unsigned int seq;
	struct fix *f = calloc(1, sizeof(*f));
	char addr[64];

	assert_non_null(f);
	pthread_mutex_init(&f->store_lock, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cmp-test-ms-restart-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/store", f->dir);
	seq++;
	snprintf(f->mgr_addr, sizeof(f->mgr_addr), "mem://mr-mgr-%d-%u",
		 getpid(), seq);
	f->mgr = manager_create(&(struct manager_config){
		.listen_addr = f->mgr_addr,
		.heartbeat_ms = 50,
		.suspect_after = 100,
	});
	assert_non_null(f->mgr);
	snprintf(f->prov_addr, sizeof(f->prov_addr), "mem://mr-prov-%d-%u",
		 getpid(), seq);
	start_provider(f, true, lease_ms);
	f->prov_mgr = mgr_client_create(&(struct mgr_client_config){
		.manager_addr = f->mgr_addr,
		.node = PROV,
		.kind = MGR_KIND_MEMSERVER,
		.listen_addr = f->prov_addr,
		.block_size = BS,
		.capacity = PBLOCKS,
		.counts = prov_counts,
		.ctx = f,
	});
	assert_non_null(f->prov_mgr);
	f->pool = pool_create(&(struct pool_config){
		.local_bytes = LOCAL * BS,
		.block_size = BS,
	});
	assert_non_null(f->pool);
	/* the checks count loans: no block may come home for being read */
	pool_set_exchange(f->pool, false);
	snprintf(addr, sizeof(addr), "mem://mr-owner-%d-%u", getpid(), seq);
	f->cl = cluster_create(&(struct cluster_config){
		.pool = f->pool,
		.manager_addr = f->mgr_addr,
		.listen_addr = addr,
		.node_id = OWNER,
		.timeout_ms = TIMEOUT_MS,
	});
	assert_non_null(f->cl);
	assert_int_equal(mgr_client_wait_registered(f->prov_mgr, DEADLINE_MS),
			 0);
	assert_int_equal(cluster_wait_registered(f->cl, DEADLINE_MS), 0);
	f->next_seed = 1;
	return f;
}

static int setup(void **state)
{
	*state = setup_with(0);
	return 0;
}

static int setup_short_lease(void **state)
{
	*state = setup_with(SHORT_LEASE_MS);
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char p[128];

	cluster_destroy(f->cl);
	pool_destroy(f->pool);
	mgr_client_destroy(f->prov_mgr);
	if (f->peer)
		kill_provider(f);
	manager_destroy(f->mgr);
	pthread_mutex_destroy(&f->store_lock);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s.idx", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- data ---- */

static void pattern(uint8_t *buf, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (uint32_t i = 0; i < BS; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

static void add_blocks(struct fix *f, size_t n)
{
	uint8_t buf[BS];

	for (size_t i = 0; i < n; i++) {
		assert_true(f->nh < MAXH);
		assert_int_equal(pool_alloc(f->pool, false, &f->h[f->nh]), 0);
		f->seed[f->nh] = f->next_seed++;
		pattern(buf, f->seed[f->nh]);
		assert_int_equal(pool_write(f->pool, f->h[f->nh], 0, buf, BS),
				 0);
		f->nh++;
	}
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

static void check_all(struct fix *f)
{
	uint8_t want[BS], got[BS];

	for (size_t i = 0; i < f->nh; i++) {
		pattern(want, f->seed[i]);
		assert_int_equal(read_block(f, i, got), 0);
		if (memcmp(got, want, BS))
			fail_msg("block %zu (handle %u) differs", i, f->h[i]);
	}
}

static uint64_t lost(struct fix *f)
{
	struct pool_counts c;

	pool_get_counts(f->pool, &c);
	return c.lost;
}

static uint64_t lrl(struct fix *f)
{
	struct pool_counts c;

	pool_get_counts(f->pool, &c);
	return c.blocks[POOL_LRL];
}

static struct cluster_stats stats_of(struct fix *f)
{
	struct cluster_stats s;

	cluster_get_stats(f->cl, &s);
	return s;
}

/* ---- conditions ---- */

static bool remote_readable(void *arg)
{
	struct fix *f = arg;
	uint8_t got[BS];

	for (size_t i = 0; i < f->nh; i++)
		if (is_remote(f, i) && read_block(f, i, got))
			return false;
	return true;
}

static bool all_remote_lost(void *arg)
{
	struct fix *f = arg;

	return lost(f) == f->nh - LOCAL;
}

/* Every block back in the store (released after the loan table). */
static bool all_free(void *arg)
{
	struct fix *f = arg;

	return ms_store_free_count(f->store) == PBLOCKS;
}

/* Two blocks at home, six on the provider, all checked. */
static void fill_owner(struct fix *f)
{
	add_blocks(f, LOCAL + 6);
	assert_int_equal(lrl(f), 6);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 6);
	check_all(f);
}

/* ---- the cases ---- */

static void an_owner_finds_its_blocks_after_a_kill(void **state)
{
	struct fix *f = *state;
	uint64_t reconciles = stats_of(f).reconciles;
	uint32_t loans, owners;
	uint8_t got[BS];

	fill_owner(f);
	kill_provider(f);
	for (size_t i = 0; i < f->nh; i++)
		if (is_remote(f, i))
			assert_int_equal(read_block(f, i, got), -EIO);
	start_provider(f, false, 0);
	assert_true(ms_store_kept_counts(f->store, &loans, &owners));
	assert_int_equal(loans, 6);
	assert_int_equal(owners, 1);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 6);
	assert_true(wait_for(remote_readable, f, DEADLINE_MS));
	check_all(f);
	assert_int_equal(lost(f), 0);
	assert_int_equal(lrl(f), 6);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 6);
	/* the same provider: reconciled, not taken for a new one */
	assert_true(stats_of(f).reconciles > reconciles);
	/* and it lends and keeps more */
	add_blocks(f, 2);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 8);
	check_all(f);
	kill_provider(f);
	start_provider(f, false, 0);
	assert_true(wait_for(remote_readable, f, DEADLINE_MS));
	check_all(f);
	assert_int_equal(lost(f), 0);
}

static void a_fresh_provider_is_a_new_one(void **state)
{
	struct fix *f = *state;

	uint8_t got[BS];
	bool remote[MAXH];

	fill_owner(f);
	kill_provider(f);
	for (size_t i = 0; i < f->nh; i++) {
		remote[i] = is_remote(f, i);
		if (remote[i])
			assert_int_equal(read_block(f, i, got), -EIO);
	}
	start_provider(f, true, 0);
	assert_int_equal(peer_lent(f->peer), 0);
	/* a new incarnation: every block there is lost, nothing else */
	if (!wait_for(all_remote_lost, f, DEADLINE_MS))
		fail_msg("lost %llu, want %zu", (unsigned long long)lost(f),
			 f->nh - LOCAL);
	for (size_t i = 0; i < f->nh; i++) {
		uint8_t want[BS];

		if (remote[i]) {
			assert_int_equal(read_block(f, i, got), -EIO);
			continue;
		}
		pattern(want, f->seed[i]);
		assert_int_equal(read_block(f, i, got), 0);
		assert_memory_equal(got, want, BS);
	}
}

static void an_owner_that_never_returns_loses_its_loans_by_lease(void **state)
{
	struct fix *f = *state;
	uint32_t loans, owners;

	fill_owner(f);
	kill_provider(f);
	/* the owner goes too, its goodbye unheard */
	cluster_destroy(f->cl);
	f->cl = NULL;
	pool_destroy(f->pool);
	f->pool = NULL;
	start_provider(f, false, SHORT_LEASE_MS);
	assert_true(ms_store_kept_counts(f->store, &loans, &owners));
	assert_int_equal(loans, 6);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 6);
	assert_true(wait_for(all_free, f, DEADLINE_MS));
	assert_int_equal(peer_lent(f->peer), 0);
	/* and the index says so: nothing kept at the next start */
	kill_provider(f);
	start_provider(f, false, 0);
	assert_true(ms_store_kept_counts(f->store, &loans, &owners));
	assert_int_equal(loans, 0);
	assert_int_equal(ms_store_free_count(f->store), PBLOCKS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			an_owner_finds_its_blocks_after_a_kill, setup,
			teardown),
		cmocka_unit_test_setup_teardown(a_fresh_provider_is_a_new_one,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			an_owner_that_never_returns_loses_its_loans_by_lease,
			setup_short_lease, teardown),
	};

	log_init("test-ms-restart", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
