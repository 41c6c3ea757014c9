/* SPDX-License-Identifier: MIT */
/*
 * The world of the block lifecycle stress test (test-block-stress.c): one
 * provider (the memserver's store behind a peer service, registered with
 * a real manager), owners that use it directly through the block client
 * (struct remote), and an owner node with a pool and its cluster glue. The
 * owners' threads are in stress-remote.c and stress-pool.c; the provider's
 * restarts and the run in test-block-stress.c, the checks after the run in
 * stress-checks.c.
 *
 * Every owner keeps its blocks in slots. A slot's data operations are
 * exclusive (busy); a remote owner's free, and the provider's restart, are
 * not: they may end a loan in the middle of a read or a write, which is
 * what the provider must survive. Lock order: owner lock, then nothing.
 */
#ifndef CMP_TEST_STRESS_WORLD_H
#define CMP_TEST_STRESS_WORLD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto_block.h"
#include "stress-blocks.h"

#define BS STRESS_BS
#define PROV 7u		/* the provider */
#define POOL_NODE 10u	/* the pool owner */
#define NOWNERS 2	/* remote owners: nodes 100 and 101 */
#define RSLOTS 12	/* blocks a remote owner may hold */
#define PSLOTS 16	/* handles of the pool owner */
#define POOL_LOCAL 4	/* its own blocks: the rest live on the provider */
#define PBLOCKS 40	/* the provider's */
#define MAX_BATCH 4	/* extents per batch */
#define NGHOSTS 16	/* freed loans kept to try again */
#define TIMEOUT_MS 2000 /* per remote call */
#define DEADLINE_MS 15000

/* A loan freed (and acknowledged) while the provider of pgen ran. */
struct ghost {
	struct proto_block_ref ref;
	uint32_t pgen;
	bool set;
};

/* A thread of the run: its owner (struct owner or pool_owner), its seed. */
struct worker {
	void *who;
	uint64_t seed;
	pthread_t t;
};

/* What the threads did; all atomic. */
struct stress_counts {
	atomic_uint_fast64_t reads, writes, batches; /* answered with data */
	atomic_uint_fast64_t verified_words;
	atomic_uint_fast64_t eio, estale; /* refused or failed ops */
	atomic_uint_fast64_t borrows, frees, allocs;
	atomic_uint_fast64_t ghost_refused, cross_refused;
};

struct remote;

struct owner {
	uint32_t node;
	struct world *w;
	struct remote *r;
	pthread_mutex_t lock; /* slots, ghosts */
	struct slot slots[RSLOTS];
	struct ghost ghosts[NGHOSTS];
	uint32_t next_ghost;
	atomic_uint restarts_seen; /* its restarted() calls */
	unsigned int restarts_due; /* restarts it knew the provider before */
	struct stress_counts n;
};

struct pool;
struct cluster;

struct pool_owner {
	struct world *w;
	struct pool *pool;
	struct cluster *cl;
	pthread_mutex_t lock; /* slots */
	struct slot slots[PSLOTS];
	struct stress_counts n;
};

struct world {
	atomic_bool stop;
	atomic_uint pgen; /* +1 before each restart of the provider */
	uint64_t seed;
	struct owner owners[NOWNERS];
	struct pool_owner po;
};

/* The provider's generation now. */
static inline uint32_t world_pgen(struct world *w)
{
	return atomic_load(&w->pgen);
}

#define RIO_THREADS 2 /* data threads per remote owner */
#define PIO_THREADS 2 /* the pool owner's */
#define NWORKERS (NOWNERS * (RIO_THREADS + 1) + PIO_THREADS + 1)

struct auth_keyring;
struct manager;
struct mgr_client;
struct ms_store;
struct peer;

/* The world and the provider's process around it (test-block-stress.c). */
struct fix {
	struct world w;
	struct auth_keyring *kr; /* NULL: insecure */
	struct manager *mgr;
	char mgr_addr[64], prov_addr[64];
	pthread_mutex_t store_lock; /* store: the manager client reads it */
	struct ms_store *store;
	struct peer *peer;
	struct mgr_client *prov_mgr;
	struct worker workers[NWORKERS];
	pthread_t restarter;
	uint32_t restarts;
	uint64_t run_ns;
	uint64_t *buf; /* a block, for the checks after the run */
};

/*
 * test-block-stress.c: destroys the provider and makes it again with a
 * new incarnation; returns once every remote owner saw it (else
 * stress_fail()).
 */
void restart_provider(struct fix *f, struct rng *g);
/* stress-checks.c: after the run, on the main thread (cmocka asserts). */
void final_checks(struct fix *f);

/* Sleeps up to ms in small steps; returns early once the run stops. */
void stress_pace(struct world *w, uint32_t ms);

/* stress-remote.c: a remote owner's data and loan threads. */
void *remote_io_main(void *arg);    /* arg: struct owner */
void *remote_churn_main(void *arg); /* arg: struct owner */
/* Its owner ops for the block client (remote_set_owner). */
extern const struct remote_owner_ops stress_owner_ops;
/* The key of a remote owner's slot i. */
uint64_t remote_slot_key(const struct owner *o, uint32_t i,
			 const struct slot *s);

/* stress-pool.c: the pool owner's data and handle threads. */
void *pool_io_main(void *arg);	  /* arg: struct pool_owner */
void *pool_churn_main(void *arg); /* arg: struct pool_owner */
uint64_t pool_slot_key(uint32_t i, const struct slot *s);

#endif
