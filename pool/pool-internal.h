/* SPDX-License-Identifier: MIT */
/*
 * Private layout of struct pool, shared by pool.c and the cluster parts of
 * the pool (borrowing, lending) that live in their own files.
 *
 * Lock order: pool->resize_lock -> pool->drain_lock -> pool->lock. pool->lock
 * is a leaf lock: nothing else is taken while it is held, and no copy or
 * network I/O happens under it. drain_lock is held across the network
 * (releases) and never taken by a caller of pool_free().
 */
#ifndef CMP_POOL_INTERNAL_H
#define CMP_POOL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "cmp.h"
#include "cmp/pool.h"
#include "exchange.h"
#include "wpolicy.h"

#define NIL UINT32_MAX
/*
 * A list of local blocks only the pool knows: blocks a shrink is giving
 * back (resize.c); a block freed at or above limit_blocks goes there.
 */
#define POOL_RETIRED POOL_NLISTS
/*
 * On no list: taken off one by whoever holds it now (an allocation, a
 * block coming home, a move down), who puts it on one again. A shrink
 * must wait for such a block, not take it for free.
 */
#define POOL_OFF (POOL_NLISTS + 1)
#define POOL_RELEASE_QUEUE 8192u
#define POOL_RELEASE_BATCH POOL_RELEASE_MAX
#define POOL_MAX_DROPPED 16u
#define POOL_MAX_SUSPECT 64u
/* Per-node read cost estimates kept (replicas > 1). */
#define POOL_MAX_COSTS 64u

/*
 * One per block of our region: which list it is on (free, LLL or RLL), its
 * neighbours there, and who uses it.
 */
struct local_block {
	uint32_t prev, next; /* links within its list (NIL ends) */
	union {
		uint32_t handle;     /* LLL: the handle whose data it holds */
		uint32_t owner_node; /* RLL: the node we lend it to */
	};
	uint8_t list;  /* FREE, LLL or RLL; or POOL_RETIRED, POOL_OFF */
	uint8_t clean; /* never used since the region was made: all zeros */
};

enum handle_state {
	HANDLE_UNUSED,
	HANDLE_LOCAL,  /* in local_block of our region (LLL) */
	HANDLE_REMOTE, /* in its copies elsewhere (LRL) */
	HANDLE_LOST,   /* every copy is gone: reads and writes give EIO */
	/*
	 * being evicted, pulled home or given a new copy: wait on
	 * pool->moved
	 */
	HANDLE_MOVING,
};

/* handle_loc.flags */
enum handle_flags {
	/*
	 * On LRL with a loan in remote_*: REMOTE, and MOVING once the loan
	 * exists (so a reconciliation claims it while it moves).
	 */
	HF_ON_LRL = 1 << 0,
	HF_FREE_PENDING = 1 << 1, /* freed while MOVING: the mover frees it */
	HF_XCHG_QUEUED = 1 << 2,  /* a candidate of the exchange (exchange.c) */
};

/*
 * One per handle: where this handle's data lives. A block elsewhere has
 * up to pool->replicas copies, each a loan on its own provider: copy slot
 * 0 is `loan` here, slots 1.. are in pool->more_copies (replicas > 1
 * only, so one copy costs nothing extra). A slot keeps its index while
 * its copy lives (accesses in flight name the slot and its loan, and
 * check both again under the lock); node 0 marks an empty slot.
 */
struct handle_loc {
	union {
		uint32_t local_block; /* LOCAL, or MOVING (either way) */
		uint32_t next_free;   /* HANDLE_UNUSED: free chain (0 ends) */
	};
	struct pool_ref loan; /* copy slot 0 (HF_ON_LRL); node 0: none */
	uint32_t pins; /* references of readers/writers; pinned stays put */
	uint32_t prev, next; /* LRL list links (HF_ON_LRL only) */
	uint8_t state;	     /* enum handle_state */
	uint8_t flags;	     /* enum handle_flags */
	uint8_t ncopies;     /* slots in use */
	/* the exchange policy's (exchange.h): recent accesses, decayed */
	uint16_t heat;
	uint32_t heat_epoch; /* the pool's epoch heat was last updated in */
	uint32_t home_until; /* came home: not sent out before this epoch */
};

/* A list of local blocks (free, LLL, RLL), linked through local_block. */
struct block_list {
	uint32_t head, tail; /* head = most recently used */
	uint64_t count;
};

struct pool {
	pthread_mutex_t lock;
	uint8_t *region; /* local_blocks * block_size bytes */
	size_t region_bytes;
	uint32_t block_size;
	uint32_t block_shift;
	bool no_contents; /* the region is one block, shared by all */
	/*
	 * local_blocks: blocks this node contributes now (lock; resize.c
	 * changes it). The region and blocks[] are made for max_blocks, the
	 * most it may grow to; only the first local_blocks are locked.
	 * Blocks at or above limit_blocks (lock) are being given back: freed
	 * ones go to POOL_RETIRED. rma_blocks: the first blocks registered
	 * for one-sided access, whose pages stay when the pool shrinks.
	 */
	uint32_t local_blocks;
	uint32_t max_blocks, limit_blocks, rma_blocks;
	bool lock_memory;
	pthread_mutex_t resize_lock; /* one resize at a time (before lock) */
	/* cluster mode keeps low_wm..high_wm blocks free by evicting ahead */
	uint32_t low_wm, high_wm;
	/* bytes copied from and to blocks on other nodes (any thread) */
	atomic_uint_fast64_t remote_read_bytes, remote_write_bytes;

	/* protected by lock: */
	struct local_block *blocks; /* [local_blocks] */
	/*
	 * FREE, LLL and RLL link local blocks; LRL is linked through the
	 * handles (lrl_head/tail) and only counted here; RRL (forwarding
	 * records) is the peer service's, counted through the cluster ops.
	 */
	struct block_list lists[POOL_NLISTS + 1]; /* and POOL_RETIRED */
	struct handle_loc *handles; /* [max_handles + 1], handle 0 unused */
	uint32_t max_handles;
	/*
	 * Copies (replica.c): replicas (1..POOL_MAX_REPLICAS) wanted per
	 * block elsewhere; slots per handle: 1, or replicas + 1 (one spare
	 * for a copy being rebuilt while the one it replaces still
	 * counts), and with a write policy one more, the last, for the
	 * memserver copy (replicas + 2); more_copies holds slots 1.. of every
	 * handle (NULL for one copy).
	 */
	uint32_t replicas, slots;
	struct pool_ref *more_copies;
	struct pool_wp wp; /* write policy: the memserver copies (wpolicy.h) */
	uint32_t free_handles;	  /* head of the free handle chain (0 = none) */
	uint32_t next_new_handle; /* first never-used handle */
	uint64_t live_handles;
	/* LRL: our blocks elsewhere, most recently used first */
	uint32_t lrl_head, lrl_tail;
	uint64_t lost, evictions, homecomings, lent_moved, followed;
	bool no_lending; /* draining or leaving: pool_lend() lends nothing */
	/*
	 * caps (pool_set_caps(); 0: none), borrows under way, and blocks
	 * on their way home (still on LRL until they are)
	 */
	uint32_t lend_max, borrow_max, borrowing, pulling;
	uint64_t borrow_capped; /* evictions the borrow cap refused */
	struct xchg xchg;	/* the exchange policy's state (exchange.h) */
	pthread_cond_t moved;	/* a HANDLE_MOVING block settled */

	/*
	 * Loans to give back (lock): a ring the helper thread drains as
	 * batched releases; a release that finds it full is dropped and its
	 * node reconciled instead (dropped[], or all when that overflows).
	 */
	struct pool_ref *relq; /* [POOL_RELEASE_QUEUE] */
	uint32_t relq_head, relq_count;
	uint32_t dropped[POOL_MAX_DROPPED];
	uint32_t ndropped;
	bool dropped_all;
	/* releases in flight: one drainer at a time (never under lock) */
	pthread_mutex_t drain_lock;
	struct pool_ref *drain_buf; /* [POOL_RELEASE_BATCH], drain_lock */
	/* providers unreachable now, since when (lock); overflow: all */
	uint32_t suspect[POOL_MAX_SUSPECT];
	uint64_t suspect_since[POOL_MAX_SUSPECT];
	uint32_t nsuspect;
	bool suspect_overflow;
	uint64_t overflow_since;
	uint64_t lost_gen; /* bumped when a handle becomes lost (lock) */
	/* bumped with lost_gen and when a provider is suspect or back */
	uint64_t health_gen;
	pthread_cond_t health_cond; /* health_gen moved (pool_wait_health) */

	/* replicas > 1 (replica.c, rebuild.c), all under lock: */
	struct pool_cost {
		uint32_t node;
		uint64_t ns; /* moving average per read, see replica.c */
	} costs[POOL_MAX_COSTS];
	uint32_t costs_next; /* the entry a new node takes when full */
	uint64_t read_seq;   /* reads with a choice, for the probes */
	struct pool_replica_counts rc;
	uint64_t rebuild_after_ns;
	uint64_t rebuild_rate; /* bytes/s, 0: as fast as it goes */
	pthread_t rebuilder;
	pthread_cond_t rebuild_wake; /* monotonic clock */
	uint8_t *rebuild_buf;	     /* one block, the rebuilder's */
	bool rebuilder_running, rebuild_stop, rebuild_kick;

	/*
	 * cluster: cops and cctx written under lock by pool_set_cluster() and
	 * pool_stop_cluster(); read under lock by pool_get_counts() (the
	 * manager client's thread starts first), without it by the threads
	 * that start after pool_set_cluster()
	 */
	const struct pool_cluster_ops *cops;
	void *cctx;
	pthread_t helper;
	pthread_cond_t helper_wake;
	bool helper_running, helper_stop, helper_kick;
	bool helper_stepped; /* stepped mode: pool_helper_step() does it */
};

/* pool.c: list and handle primitives, all _locked (pool->lock held). */
void pool_list_push_head_locked(struct pool *p, enum pool_list which,
				uint32_t b);
void pool_list_remove_locked(struct pool *p, uint32_t b);
void pool_lrl_push_locked(struct pool *p, uint32_t h, bool head);
void pool_lrl_remove_locked(struct pool *p, uint32_t h);
/* Handle h's record, or NULL for a handle not in use. */
struct handle_loc *pool_handle_locked(struct pool *p, uint32_t h);
/* Waits while handle h is being moved; returns its record or NULL. */
struct handle_loc *pool_handle_settled_locked(struct pool *p, uint32_t h);

static inline void *pool_addr(const struct pool *p, uint32_t b)
{
	return p->region + (p->no_contents ? 0 : (size_t)b << p->block_shift);
}

/* The free reserve for local_blocks blocks (lock held, or before). */
void pool_set_watermarks_locked(struct pool *p);

/* Returns a handle to the free chain (lock held). */
void pool_handle_put_locked(struct pool *p, uint32_t h);

/*
 * cmp.c: a block for our own data when none is free: principle 3 (take a
 * lent block back, its content moved on) before principle 2 (move the
 * coldest LLL block out). Returns the local block (the caller's, off
 * every list), or -ENOSPC (nothing can move, every provider full) or
 * -EIO (a provider could not be reached, or a copy failed).
 */
int pool_make_room(struct pool *p, uint32_t *block);
int pool_evict_one(struct pool *p, uint32_t *block);
/*
 * Moves the data of local block b (its handle marked HANDLE_MOVING by the
 * caller) to a block borrowed elsewhere: 0 and b is the caller's (off
 * every list), or -ENOSPC / -EIO and the data stays in b.
 */
int pool_evict_block(struct pool *p, uint32_t b);
/*
 * Brings handle h home into local block b (the caller's): 1 done, 0 h
 * cannot come now (b is free again), -1 the copy failed (b is free
 * again; h lost when its provider no longer holds it). Accesses of h
 * under way finish first; new ones wait for the move.
 */
int pool_pull_into(struct pool *p, uint32_t h, uint32_t b);
/*
 * caps.c:
 * One block elsewhere through the cluster ops, on none of the navoid
 * nodes of avoid[], within our borrow cap (our loans, every copy one,
 * and borrows under way): -ENOSPC when we borrow all we may.
 */
int pool_borrow_capped(struct pool *p, const uint32_t *avoid, uint32_t navoid,
		       struct pool_ref *ref);
/* Asks the helper thread to work (lock held). */
void pool_kick_helper_locked(struct pool *p);

/* lrl.c: our blocks elsewhere. */
int pool_lrl_init(struct pool *p);
void pool_lrl_finish(struct pool *p);
/* Queues a loan to give back; the helper sends it (lock held). */
void pool_release_locked(struct pool *p, const struct pool_ref *ref);
/* Sends the queued releases, batched per node (no lock held). */
void pool_drain_releases(struct pool *p);
/* h (REMOTE, on LRL) is lost: EIO from now on (lock held). */
void pool_lose_locked(struct pool *p, uint32_t h);
/* A block was lost, or a provider is suspect or back (lock held). */
void pool_health_changed_locked(struct pool *p);
/* Is node unreachable now (lock held)? */
bool pool_node_suspect_locked(const struct pool *p, uint32_t node);
/*
 * A byte range of copy slot k of remote block h through the cluster ops,
 * at loan *ref (the caller pinned h or is moving it), following the copy
 * when its provider moved it on (*ref then names the new loan). 0 or
 * -errno (-ESTALE: the provider does not hold that copy).
 * pool_remote_io_from() goes on from a first answer ret (moved: the
 * place a -EREMCHG named) that the caller got from the ops itself.
 */
int pool_remote_io(struct pool *p, uint32_t h, uint32_t k, struct pool_ref *ref,
		   uint32_t off, void *buf, uint32_t len, bool write);
int pool_remote_io_from(struct pool *p, uint32_t h, uint32_t k,
			struct pool_ref *ref, int ret,
			const struct pool_ref *moved, uint32_t off, void *buf,
			uint32_t len, bool write);
/* Has node been unreachable for longer than rebuild_after (lock held)? */
bool pool_node_written_off_locked(const struct pool *p, uint32_t node,
				  uint64_t now);

/* replica.c: the copies of a block elsewhere (see there). */
/* replicas, a spare for a rebuild, the memserver copy (wpolicy.c) */
#define POOL_MAX_SLOTS (POOL_MAX_REPLICAS + 2)

/* Copy slot k (< p->slots) of handle h. */
static inline struct pool_ref *pool_slot(struct pool *p, uint32_t h, uint32_t k)
{
	return k ? &p->more_copies[(size_t)h * (p->slots - 1) + (k - 1)]
		 : &p->handles[h].loan;
}

/* Is slot k the memserver copy's (a write policy, wpolicy.h)? */
static inline bool pool_wp_is_slot(const struct pool *p, uint32_t k)
{
	return p->wp.policy != POOL_WP_NONE && k == p->wp.slot;
}

int pool_copies_init(struct pool *p, const struct pool_config *cfg);
void pool_copies_finish(struct pool *p);
bool pool_ref_equal(const struct pool_ref *a, const struct pool_ref *b);
/* Is h on LRL with r in slot k (lock)? */
bool pool_slot_names_locked(struct pool *p, uint32_t h, uint32_t k,
			    const struct pool_ref *r);
/* The slot of h holding loan r, or -1 (lock). */
int pool_copy_find_locked(struct pool *p, uint32_t h, const struct pool_ref *r);
/*
 * Records loan r as a copy of h in a free slot (h goes on LRL's cold end
 * if it was not on LRL): the slot, or -ENOSPC (none free). Lock held.
 */
int pool_copy_add_locked(struct pool *p, uint32_t h, const struct pool_ref *r);
/* Empties slot k of h; give_back: the loan is released too (lock). */
void pool_copy_drop_locked(struct pool *p, uint32_t h, uint32_t k,
			   bool give_back);
/* h leaves LRL and every copy is given back (lock). */
void pool_copies_give_back_locked(struct pool *p, uint32_t h);
/*
 * The provider of slot k does not hold it any more: the slot empties; a
 * REMOTE block without copies left is lost (true); a moving one is its
 * mover's to settle. Lock held.
 */
bool pool_copy_lost_locked(struct pool *p, uint32_t h, uint32_t k);
/* Can r be read now (a copy whose node is reachable)? Lock held. */
bool pool_copy_readable_locked(const struct pool *p, const struct pool_ref *r);
bool pool_handle_readable_locked(struct pool *p, uint32_t h);
/*
 * A byte range of remote h (pinned, or moving by the caller): read from
 * its cheapest reachable copy, the others in turn on failure; written to
 * every copy (see replica.c for when a write stands). 0 or -EIO.
 */
int pool_copies_read(struct pool *p, uint32_t h, uint32_t off, void *dst,
		     uint32_t len);
int pool_copies_write(struct pool *p, uint32_t h, uint32_t off, const void *src,
		      uint32_t len);

/*
 * The same in two steps, so that a caller that takes the lock anyway (to
 * pin h) picks the copies in the same critical section: the copies to
 * read from in order, or every copy to write to (lock held), then the
 * access (lock not held).
 */
struct pool_copy_pick {
	uint32_t k;	     /* slot */
	struct pool_ref ref; /* its loan when picked */
	uint64_t key;	     /* reads: reachable ones by cost, then the rest */
};
struct pool_copy_set {
	struct pool_copy_pick c[POOL_MAX_SLOTS];
	uint32_t n;
	bool probe; /* reads: c[0] is there to be measured */
};
void pool_copies_pick_locked(struct pool *p, uint32_t h, bool write,
			     struct pool_copy_set *set);
int pool_copies_read_set(struct pool *p, uint32_t h, struct pool_copy_set *set,
			 uint32_t off, void *dst, uint32_t len);
int pool_copies_write_set(struct pool *p, uint32_t h, struct pool_copy_set *set,
			  uint32_t off, const void *src, uint32_t len);

/* rebuild.c: making missing copies again (replicas > 1). */
int pool_rebuild_start(struct pool *p);
void pool_rebuild_stop(struct pool *p);
/* Something may be short of copies now: the rebuilder looks (lock). */
void pool_kick_rebuild_locked(struct pool *p);

#endif
