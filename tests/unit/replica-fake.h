/* SPDX-License-Identifier: MIT */
/*
 * A fake cluster for the pool's copies (test-replicas.c): three providers
 * (nodes 7, 8 and 9) behind struct pool_cluster_ops, each a small array
 * of blocks with an epoch per loan, so that a test can see what every
 * copy holds, make a provider unreachable (EIO, and the pool told it is
 * suspect), make it lose our loans (STALE), slow it down, or fill it.
 * Borrowing honours the pool's list of nodes to avoid and takes the
 * provider with the most room. Thread-safe (the pool's helper and
 * rebuilder call it too). Include after <cmocka.h>.
 */
#ifndef CMP_TEST_REPLICA_FAKE_H
#define CMP_TEST_REPLICA_FAKE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp.h"
#include "cmp/pool.h"

#define FBS 4096u     /* block size */
#define NPROV 3u      /* providers */
#define PBLOCKS 24u   /* blocks each */
#define FIRST_NODE 7u /* node ids 7, 8, 9 */

struct fprov {
	uint32_t node;
	uint8_t mem[PBLOCKS][FBS];
	uint32_t epoch[PBLOCKS]; /* 0: not lent */
	uint32_t room;		 /* blocks it may still lend */
	bool dead;		 /* unreachable: EIO */
	uint64_t delay_ns;	 /* each read and write takes this long */
	bool bad[PBLOCKS];	 /* checksum mismatch: reads are -EUCLEAN */
	uint64_t reads, writes, releases;
	uint64_t dropped;     /* releases that did not arrive (dead) */
	uint32_t watch_epoch; /* reads of the loan with this epoch: */
	uint64_t watch_reads;
};

struct fake {
	pthread_mutex_t lock;
	struct fprov prov[NPROV];
	uint32_t next_epoch;
	struct pool *pool;
	/*
	 * A memserver among the providers (0: none): borrow() never takes
	 * it, borrow_memserver() only it (write policies, test-wpolicy.c).
	 */
	uint32_t ms_node;
};

extern const struct pool_cluster_ops fake_ops;

/*
 * A pool of local blocks with `replicas` copies elsewhere, on f; the
 * exchange off (no block comes home for being read).
 */
struct pool *fake_pool(struct fake *f, uint32_t local, uint32_t replicas,
		       uint32_t rebuild_after_ms);
/* The same with a write policy and memserver ms_node (delay: wb_delay). */
struct pool *fake_pool_wp(struct fake *f, uint32_t local, uint32_t replicas,
			  uint32_t rebuild_after_ms, enum pool_wpolicy wp,
			  uint32_t ms_node, uint32_t delay_ms);
void fake_destroy(struct fake *f);
struct fprov *fake_prov(struct fake *f, uint32_t node);
/*
 * Node unreachable (dead: EIO, releases do not arrive, and the pool hears
 * it is suspect) or back (it frees the loans the pool no longer claims,
 * as a reconciliation does, and the pool hears it is up).
 */
void fake_kill(struct fake *f, uint32_t node);
void fake_revive(struct fake *f, uint32_t node);
/* The node forgets every loan (a restart): the pool is told so. */
void fake_restart(struct fake *f, uint32_t node);
/*
 * The bytes of loan r as the provider holds them (NULL: not lent); f->lock
 * held (the rebuilder borrows and writes meanwhile).
 */
const uint8_t *fake_block(struct fake *f, const struct pool_ref *r);

#endif
