// SPDX-License-Identifier: MIT
/*
 * A block's life under stress (issue 9), in one process over mem://: a
 * provider (the memserver's store behind a peer service, registered with
 * a real manager), two owners that use it through the block client, and
 * an owner node with a pool of four blocks and sixteen handles. For a few
 * seconds their threads read, write and batch blocks while others free
 * them (a remote owner's free may land in the middle of a read or a
 * write), borrow again, evict and pull home, and use freed loans and the
 * other owner's loans; every second or so the provider is destroyed and
 * made again on the same address with a new incarnation (a restart).
 *
 * Every read must give the bytes last acknowledged for that block (each
 * word names owner, loan and write: stress-blocks.h), or an error (EIO,
 * STALE); never another block's, another loan's or another owner's bytes,
 * and never nonzero bytes from a new loan. A loan ends only by its
 * owner's FREE or the restart; every owner sees each restart and reports
 * the blocks it had there lost; in the end every block still held reads
 * back exactly, every lost one is counted, and the provider holds exactly
 * the loans the owners claim. Then what a slow run may have missed is done
 * once on purpose (stress-checks.c): stale and foreign loans refused, a
 * block out and home, one more restart.
 *
 * Blocks are 256 KiB: a frame is bigger than a socket buffer, so a copy
 * on the provider spans many reads and writes, long enough for a FREE to
 * land in the middle of it.
 *
 * Seed and duration: CMP_STRESS_SEED (default 9) picks every thread's
 * choices (the interleaving is the machine's); CMP_STRESS_MS (default
 * 6000) is how long the threads run; CMP_STRESS_LOG (0 errors, the
 * default, to 3 debug) how much the nodes log. --insecure runs it over
 * plain frames, else every connection is sealed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/auth.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "manager.h"
#include "remote.h"
#include "store.h"
#include "stress-world.h"
#include "wait-for.h"

#define DEFAULT_SEED 9
#define DEFAULT_MS 6000

/* The provider's incarnation as its handshake tells it: +1 per restart. */
static atomic_uint_fast64_t incarnation_bump;
uint64_t __real_cmp_incarnation(void);
uint64_t __wrap_cmp_incarnation(void);
uint64_t __wrap_cmp_incarnation(void)
{
	return __real_cmp_incarnation() + atomic_load(&incarnation_bump);
}

static bool insecure;

void stress_pace(struct world *w, uint32_t ms)
{
	uint64_t end = cmp_now_ns() + (uint64_t)ms * 1000000ull;
	struct timespec ts = {0, 1000000};

	while (!atomic_load(&w->stop) && cmp_now_ns() < end)
		nanosleep(&ts, NULL);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

/* ---- the provider ---- */

static void prov_counts(void *ctx, struct proto_mgr_counts *out)
{
	struct fix *f = ctx;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&f->store_lock);
	if (f->store) {
		out->free = ms_store_free_count(f->store);
		out->rll = ms_store_total(f->store) - out->free;
	}
	pthread_mutex_unlock(&f->store_lock);
}

static void start_provider(struct fix *f)
{
	struct ms_store *store;

	assert_int_equal(ms_store_create(NULL, PBLOCKS * BS, BS, &store), 0);
	f->peer = peer_create(&(struct peer_config){
		.listen_addr = f->prov_addr,
		.keyring = f->kr,
		.node_id = PROV,
		.block_size = BS,
		.ops = &ms_store_ops,
		.ctx = store,
	});
	assert_non_null(f->peer);
	pthread_mutex_lock(&f->store_lock);
	f->store = store;
	pthread_mutex_unlock(&f->store_lock);
}

static void stop_provider(struct fix *f)
{
	struct ms_store *store = f->store;

	pthread_mutex_lock(&f->store_lock);
	f->store = NULL;
	pthread_mutex_unlock(&f->store_lock);
	peer_destroy(f->peer);
	ms_store_destroy(store);
	f->peer = NULL;
}

/* ---- restarts ---- */

struct seen {
	struct owner *o;
	unsigned int before;
};

/* o saw the restart; until then its requests find the provider gone. */
static bool owner_saw_restart(void *arg)
{
	struct seen *s = arg;
	struct proto_block_status st;

	if (atomic_load(&s->o->restarts_seen) > s->before)
		return true;
	/* an owner with no traffic would only find out at its next call */
	remote_status(s->o->r, PROV, &st);
	return atomic_load(&s->o->restarts_seen) > s->before;
}

/*
 * Owners that reached the provider before (that know its incarnation)
 * must see it restart. An owner whose first connection reaches the new
 * one has nothing to see: nothing it had is lost.
 */
void restart_provider(struct fix *f, struct rng *g)
{
	struct seen seen[NOWNERS];
	bool due[NOWNERS];

	for (int i = 0; i < NOWNERS; i++) {
		struct owner *o = &f->w.owners[i];
		struct remote_stats st;

		remote_stats(o->r, &st);
		due[i] = st.connects > 0;
		seen[i] = (struct seen){o, atomic_load(&o->restarts_seen)};
	}
	/* first: a loan that ends from now on has a reason */
	atomic_fetch_add(&f->w.pgen, 1);
	stop_provider(f);
	/* down for a moment: connects are refused meanwhile */
	stress_pace(&f->w, rng_below(g, 40));
	atomic_fetch_add(&incarnation_bump, 1);
	start_provider(f);
	f->restarts++;
	for (int i = 0; i < NOWNERS; i++) {
		if (!due[i])
			continue;
		seen[i].o->restarts_due++;
		if (!wait_for(owner_saw_restart, &seen[i], DEADLINE_MS))
			stress_fail("owner %u did not see restart %u of the "
				    "provider",
				    seen[i].o->node, f->restarts);
	}
}

static void *restarter_main(void *arg)
{
	struct fix *f = arg;
	struct rng g = {f->w.seed ^ 0x5e57a27ull};

	for (;;) {
		stress_pace(&f->w, 300 + rng_below(&g, 600));
		if (atomic_load(&f->w.stop) || stress_failed())
			break;
		restart_provider(f, &g);
	}
	return NULL;
}

/* ---- setup ---- */

static void start_owners(struct fix *f)
{
	char addr[64];

	for (int i = 0; i < NOWNERS; i++) {
		struct owner *o = &f->w.owners[i];

		o->node = 100 + (uint32_t)i;
		o->w = &f->w;
		pthread_mutex_init(&o->lock, NULL);
		o->r = remote_create(f->kr, o->node, BS);
		assert_non_null(o->r);
		remote_set_timeout(o->r, TIMEOUT_MS);
		remote_set_owner(o->r, &stress_owner_ops, o);
		assert_int_equal(remote_add_node(o->r, PROV, f->prov_addr), 0);
	}
	f->w.po.w = &f->w;
	pthread_mutex_init(&f->w.po.lock, NULL);
	f->w.po.pool = pool_create(&(struct pool_config){
		.local_bytes = POOL_LOCAL * BS,
		.block_size = BS,
	});
	assert_non_null(f->w.po.pool);
	snprintf(addr, sizeof(addr), "mem://bs-owner-%d", getpid());
	f->w.po.cl = cluster_create(&(struct cluster_config){
		.pool = f->w.po.pool,
		.manager_addr = f->mgr_addr,
		.listen_addr = addr,
		.keyring = f->kr,
		.node_id = POOL_NODE,
		.timeout_ms = TIMEOUT_MS,
	});
	assert_non_null(f->w.po.cl);
	assert_int_equal(cluster_wait_registered(f->w.po.cl, DEADLINE_MS), 0);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct auth_key k;

	assert_non_null(f);
	f->buf = malloc(BS);
	assert_non_null(f->buf);
	f->w.seed = env_u64("CMP_STRESS_SEED", DEFAULT_SEED);
	f->run_ns = env_u64("CMP_STRESS_MS", DEFAULT_MS) * 1000000ull;
	memset(&k, 0x3c, sizeof(k));
	if (!insecure) {
		f->kr = auth_keyring_create(&k, 1);
		assert_non_null(f->kr);
	}
	pthread_mutex_init(&f->store_lock, NULL);
	snprintf(f->mgr_addr, sizeof(f->mgr_addr), "mem://bs-mgr-%d", getpid());
	f->mgr = manager_create(&(struct manager_config){
		.listen_addr = f->mgr_addr,
		.keyring = f->kr,
		.heartbeat_ms = 50,
		.suspect_after = 100,
	});
	assert_non_null(f->mgr);
	snprintf(f->prov_addr, sizeof(f->prov_addr), "mem://bs-prov-%d",
		 getpid());
	start_provider(f);
	f->prov_mgr = mgr_client_create(&(struct mgr_client_config){
		.manager_addr = f->mgr_addr,
		.keyring = f->kr,
		.node = PROV,
		.kind = MGR_KIND_MEMSERVER,
		.listen_addr = f->prov_addr,
		.block_size = BS,
		.capacity = PBLOCKS,
		.counts = prov_counts,
		.ctx = f,
	});
	assert_non_null(f->prov_mgr);
	assert_int_equal(mgr_client_wait_registered(f->prov_mgr, DEADLINE_MS),
			 0);
	start_owners(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	cluster_destroy(f->w.po.cl);
	pool_destroy(f->w.po.pool);
	pthread_mutex_destroy(&f->w.po.lock);
	for (int i = 0; i < NOWNERS; i++) {
		remote_destroy(f->w.owners[i].r);
		pthread_mutex_destroy(&f->w.owners[i].lock);
	}
	mgr_client_destroy(f->prov_mgr);
	stop_provider(f);
	manager_destroy(f->mgr);
	auth_keyring_destroy(f->kr);
	pthread_mutex_destroy(&f->store_lock);
	free(f->buf);
	free(f);
	return 0;
}

/* ---- the run ---- */

static void start_worker(struct fix *f, int *k, void *who, void *(*fn)(void *))
{
	struct worker *wk = &f->workers[(*k)++];

	wk->who = who;
	wk->seed = f->w.seed * 1000003ull + (uint64_t)*k;
	assert_int_equal(pthread_create(&wk->t, NULL, fn, wk), 0);
}

struct run_end {
	uint64_t at;
};

static bool run_over(void *arg)
{
	struct run_end *e = arg;

	return stress_failed() || cmp_now_ns() >= e->at;
}

static void run(struct fix *f)
{
	struct run_end end = {cmp_now_ns() + f->run_ns};
	int k = 0;

	for (int i = 0; i < NOWNERS; i++) {
		for (int t = 0; t < RIO_THREADS; t++)
			start_worker(f, &k, &f->w.owners[i], remote_io_main);
		start_worker(f, &k, &f->w.owners[i], remote_churn_main);
	}
	for (int t = 0; t < PIO_THREADS; t++)
		start_worker(f, &k, &f->w.po, pool_io_main);
	start_worker(f, &k, &f->w.po, pool_churn_main);
	assert_int_equal(pthread_create(&f->restarter, NULL, restarter_main, f),
			 0);
	assert_true(wait_for(run_over, &end,
			     (int)(f->run_ns / 1000000) + DEADLINE_MS));
	atomic_store(&f->w.stop, true);
	for (int i = 0; i < k; i++)
		pthread_join(f->workers[i].t, NULL);
	pthread_join(f->restarter, NULL);
}

static void assert_no_failure(void)
{
	unsigned int more;
	const char *first;

	if (!stress_failed())
		return;
	first = stress_failure(&more);
	fail_msg("%s (and %u more failures)", first, more);
}

static void add_counts(struct stress_counts *to, struct stress_counts *from)
{
	atomic_uint_fast64_t *t = &to->reads, *s = &from->reads;

	for (size_t i = 0; i < sizeof(*to) / sizeof(*t); i++)
		atomic_fetch_add(&t[i], atomic_load(&s[i]));
}

static void report(struct fix *f, uint64_t ns)
{
	struct stress_counts r = {0};
	struct stress_counts *p = &f->w.po.n;
	struct pool_counts c;
	double s = (double)f->run_ns / 1e9;
	uint64_t ops;

	for (int i = 0; i < NOWNERS; i++)
		add_counts(&r, &f->w.owners[i].n);
	pool_get_counts(f->w.po.pool, &c);
	/* what was answered: not the EIO of a provider that is away */
	ops = r.reads + r.writes + r.batches + r.estale + r.borrows + r.frees +
	      r.ghost_refused + r.cross_refused + p->reads + p->writes +
	      p->allocs + p->frees;
	printf("block stress: %.1f s, %u restarts, %.0f answered ops/s\n",
	       (double)ns / 1e9, f->restarts, (double)ops / s);
	printf("  remote owners: %" PRIu64 " reads, %" PRIu64 " writes, "
	       "%" PRIu64 " batches, %" PRIu64 " MiB checked; %" PRIu64
	       " borrowed, %" PRIu64 " freed; refused: %" PRIu64
	       " freed loans, %" PRIu64 " other owner's; %" PRIu64
	       " EIO, %" PRIu64 " STALE\n",
	       (uint64_t)r.reads, (uint64_t)r.writes, (uint64_t)r.batches,
	       (uint64_t)r.verified_words * 8 >> 20, (uint64_t)r.borrows,
	       (uint64_t)r.frees, (uint64_t)r.ghost_refused,
	       (uint64_t)r.cross_refused, (uint64_t)r.eio, (uint64_t)r.estale);
	printf("  pool owner: %" PRIu64 " reads, %" PRIu64 " writes, "
	       "%" PRIu64 " MiB checked; %" PRIu64 " allocs, %" PRIu64
	       " frees, %" PRIu64 " evictions, %" PRIu64 " homecomings, "
	       "%" PRIu64 " lost (%" PRIu64 " in all), %" PRIu64 " EIO\n",
	       (uint64_t)p->reads, (uint64_t)p->writes,
	       (uint64_t)p->verified_words * 8 >> 20, (uint64_t)p->allocs,
	       (uint64_t)p->frees, c.evictions, c.homecomings, c.lost,
	       pool_lost_gen(f->w.po.pool), (uint64_t)p->eio);
}

static void blocks_survive_frees_evictions_and_restarts(void **state)
{
	struct fix *f = *state;
	uint64_t t0 = cmp_now_ns();

	printf("block stress: seed %" PRIu64 " (CMP_STRESS_SEED=%" PRIu64
	       " repeats it), %" PRIu64 " ms, %s frames\n",
	       f->w.seed, f->w.seed, f->run_ns / 1000000,
	       insecure ? "insecure" : "sealed");
	run(f);
	report(f, cmp_now_ns() - t0);
	assert_no_failure();
	final_checks(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			blocks_survive_frees_evictions_and_restarts, setup,
			teardown),
	};

	insecure = argc > 1 && !strcmp(argv[1], "--insecure");
	/* errors only: every restart makes the owners warn (and log why) */
	log_init("test-block-stress",
		 (enum log_level)env_u64("CMP_STRESS_LOG", LOG_LVL_ERROR));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
