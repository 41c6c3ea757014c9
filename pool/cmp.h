/* SPDX-License-Identifier: MIT */
/*
 * The pool's cluster side, implemented in cmp.c (the CMP principles) and
 * lrl.c (our blocks elsewhere: releases, losses, reconciliation), called
 * by the cluster glue (cluster.c) and the tests; nothing outside pool/
 * uses it. The pool calls out through struct pool_cluster_ops to borrow,
 * use and give back blocks elsewhere; the peer service calls in to lend
 * our free blocks (RLL); the block client calls in to learn which loans
 * we hold on a provider, which are lost, and which providers are
 * unreachable. Thread-safe like the rest of the pool.
 */
#ifndef CMP_POOL_CMP_H
#define CMP_POOL_CMP_H

#include <stdbool.h>
#include <stdint.h>

#include "cmp/pool.h"

/*
 * Borrowing (LRL): with cluster ops set, an allocation that finds no free
 * local block moves the coldest unpinned LLL block's content to a block
 * borrowed elsewhere (principle 2) and reuses the memory; reads and writes
 * of a borrowed block go through the ops as byte ranges; when local blocks
 * are freed, a helper thread pulls borrowed blocks home (principle 4).
 * Giving blocks back never happens on the caller's thread: pool_free()
 * queues the loan and the helper thread releases them in batches.
 * The ops are called without the pool lock, from the thread that needs
 * them (or the helper thread), and return 0 or -errno.
 */
struct pool_ref {
	uint32_t node;	/* provider node id */
	uint32_t block; /* block index on the provider */
	uint32_t epoch; /* the loan's epoch there */
};

/* Most loans in one release() call, and in one borrow_many() call. */
#define POOL_RELEASE_MAX 1024u
#define POOL_BORROW_MAX 16u

struct pool_cluster_ops {
	/*
	 * One free block elsewhere, in tier order, on none of the navoid
	 * nodes of avoid[] (the block's other copies). -ENOSPC when every
	 * provider answered that it is full, -EIO when one could not be
	 * reached.
	 */
	int (*borrow)(void *ctx, const uint32_t *avoid, uint32_t navoid,
		      struct pool_ref *out);
	/*
	 * Optional: up to n (1..POOL_BORROW_MAX) blocks at once, from one
	 * provider (one request): 0 and *got >= 1 loans in out[], each to
	 * be passed to borrowed(); or as borrow().
	 */
	int (*borrow_many)(void *ctx, uint32_t n, struct pool_ref *out,
			   uint32_t *got);
	/*
	 * Optional (write policies): the same, on a memserver only. NULL:
	 * the memserver copies are never made (pending for ever).
	 */
	int (*borrow_memserver)(void *ctx, const uint32_t *avoid,
				uint32_t navoid, struct pool_ref *out);
	/* Optional: the loan borrow() gave is recorded (or given back). */
	void (*borrowed)(void *ctx, const struct pool_ref *r);
	/*
	 * Gives n (1..POOL_RELEASE_MAX) borrowed blocks, all on one node,
	 * back (helper
	 * thread). What does not arrive is the ops' to reconcile.
	 */
	void (*release)(void *ctx, const struct pool_ref *refs, uint32_t n);
	/* Optional: releases to node (0: to any) were dropped. */
	void (*reconcile)(void *ctx, uint32_t node);
	/*
	 * Byte ranges; -ESTALE when the provider no longer holds the loan,
	 * -EREMCHG when it moved the block on (principle 5): *moved is the
	 * loan to use instead (the pool updates the handle and retries).
	 */
	int (*read)(void *ctx, const struct pool_ref *r, uint32_t off,
		    void *dst, uint32_t len, struct pool_ref *moved);
	int (*write)(void *ctx, const struct pool_ref *r, uint32_t off,
		     const void *src, uint32_t len, struct pool_ref *moved);
	/*
	 * Optional: the same byte range of n loans, all on one node, at once
	 * (their transfers in flight together: the evictor's batches and the
	 * prefetch). rets[i] is 0, or nonzero for a loan the pool must do
	 * again alone with read()/write() (busy, moved on, failed).
	 */
	void (*read_many)(void *ctx, const struct pool_ref *refs, uint32_t n,
			  uint32_t off, void *const *dst, uint32_t len,
			  int *rets);
	void (*write_many)(void *ctx, const struct pool_ref *refs, uint32_t n,
			   uint32_t off, void *const *src, uint32_t len,
			   int *rets);
	/*
	 * Optional: the same bytes to n (2..POOL_MAX_REPLICAS + 2) loans on
	 * distinct nodes, as write() for each (rets[i], moved[i]), issued so
	 * that they may overlap. Without it, write() one after the other.
	 */
	void (*write_copies)(void *ctx, const struct pool_ref *refs, uint32_t n,
			     uint32_t off, const void *src, uint32_t len,
			     int *rets, struct pool_ref *moved);
	/* Free blocks the cluster offers elsewhere (for statfs), cached. */
	uint64_t (*remote_free)(void *ctx);
	/*
	 * Optional (principle 3): moves the content of our lent block idx
	 * (RLL) to a third node and hands it to its owner there, leaving a
	 * forwarding record. 0: block idx is ours again (off the loan table;
	 * the pool takes it off RLL). -EBUSY or -ESTALE: this block cannot
	 * move now (another may); -ENOSPC: nowhere to move it (or no room for
	 * a record); -EIO: a node failed us.
	 */
	int (*move_lent)(void *ctx, uint32_t idx);
	/* Optional: forwarding records held (the RRL list). */
	uint64_t (*forwarding)(void *ctx);
};

/*
 * Bytes of the pool's bookkeeping (a record per local block, per handle
 * ever used, the release queue), for the simulator's metadata per block.
 */
uint64_t pool_meta_bytes(struct pool *p);

/* Installs the ops and starts the helper thread. Call once, early. */
int pool_set_cluster(struct pool *p, const struct pool_cluster_ops *ops,
		     void *ctx);
/* Stops the helper thread (before the ops' context goes away). */
void pool_stop_cluster(struct pool *p);
/*
 * Stepped mode (include/cmp/util.h): pool_set_cluster() starts no helper
 * thread; this does once what the helper would do when woken (evict
 * ahead, pull home, give loans back), if it was asked to since.
 */
void pool_helper_step(struct pool *p);

/*
 * Lending (RLL): the peer service stores other nodes' blocks in our free
 * blocks; its loan table (pool/loans.h) is the authority on who holds
 * which. pool_lend() takes up to n (at most POOL_MAX_LEND) free blocks for
 * owner, cleared, and returns how many it took (0 when none is free, or
 * while we borrow ourselves: no loan while in debt) with their indexes in
 * idx[]. pool_unlend() takes back blocks whose loans ended (indexes not
 * lent are skipped).
 */
#define POOL_MAX_LEND 1024u
uint32_t pool_lend(struct pool *p, uint32_t owner, uint32_t n, uint32_t *idx);
void pool_unlend(struct pool *p, const uint32_t *idx, uint32_t n);
/*
 * Leaving and draining: pool_set_lending(false) makes pool_lend() lend
 * nothing (true again: as usual). pool_lent_blocks() lists up to max
 * blocks we lend now (RLL); pool_move_lent_block() moves lent block idx on
 * (principle 3's move, through the cluster ops) and puts it on the free
 * list: 0 (also when idx is not lent any more), or the op's -errno.
 */
void pool_set_lending(struct pool *p, bool lend);
bool pool_lending(struct pool *p);
/*
 * Free blocks pool_lend() would lend now: none while we borrow or drain,
 * not the reserve our own allocations are kept in, and no more than our
 * lending cap (pool_set_caps()). What we offer the
 * cluster (the free count of our heartbeats).
 */
uint64_t pool_lendable(struct pool *p);
uint32_t pool_lent_blocks(struct pool *p, uint32_t *idx, uint32_t max);
int pool_move_lent_block(struct pool *p, uint32_t idx);
/*
 * Address of local block idx (for the peer service; idx < pool_max_blocks(),
 * else NULL).
 */
void *pool_block_addr(struct pool *p, uint32_t idx);
uint32_t pool_local_blocks(struct pool *p);
/*
 * The first nblocks blocks are registered for one-sided access (their
 * pages must stay): a shrink below that keeps their memory.
 */
void pool_set_rma_blocks(struct pool *p, uint32_t nblocks);
/*
 * Our loans on a provider, for a reconciliation with it: up to max loans
 * from handle *cursor on (0 at first), with their handles in tags[] (a
 * handle's copies on that node all in one call: max >= POOL_MAX_REPLICAS
 * + 2); *cursor becomes UINT32_MAX when the scan is complete (it may
 * return 0 before). Loans being moved count (they are still ours). node
 * 0: the loans on every provider (the simulator's check that they add
 * up).
 */
uint32_t pool_loans_on(struct pool *p, uint32_t node, uint32_t *cursor,
		       struct pool_ref *refs, uint32_t *tags, uint32_t max);
/*
 * The provider does not hold these loans (tags from pool_loans_on()):
 * each copy that is still one of its handle's is gone (*copies: how
 * many), and a block whose last copy that was becomes lost. Returns how
 * many blocks did.
 */
uint32_t pool_loans_lost(struct pool *p, const struct pool_ref *refs,
			 const uint32_t *tags, uint32_t n, uint32_t *copies);
/*
 * Every loan on node is lost (it left, or restarted): as
 * pool_loans_lost() for each. Returns how many blocks became lost.
 */
uint32_t pool_provider_dead(struct pool *p, uint32_t node, uint32_t *copies);
/*
 * node is unreachable (suspect) or reachable again: its copies are not
 * read meanwhile (a block without another fails pool_check_handles() and
 * is not pulled home), and with more than one copy wanted, they are made
 * again elsewhere once it has been unreachable for rebuild_after.
 */
void pool_set_node_suspect(struct pool *p, uint32_t node, bool suspect);
/*
 * A provider says our loan old moved on to new (principle 5, its notice).
 * The copy naming old names new from now on: 0. Without one: 0 when a
 * handle names new already, else -ENOENT (not known yet, or freed). freed:
 * we gave old back before we heard; unless a handle names new, new is
 * given back too (0).
 */
int pool_loan_moved(struct pool *p, const struct pool_ref *old,
		    const struct pool_ref *new, bool freed);
/*
 * Pulls up to max borrowed blocks home while free local blocks remain
 * (principle 4), skipping blocks on suspect providers and going on past
 * blocks that fail, then sends the queued releases. Returns how many
 * moved. The helper thread calls it; tests may call it directly.
 */
uint32_t pool_pull_home(struct pool *p, uint32_t max);

#endif
