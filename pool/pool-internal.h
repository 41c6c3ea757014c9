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
#include "cmp/util.h"
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
/*
 * Handles waiting for the prefetch at most, and for how long (a reader
 * that stopped does not want them any more).
 */
#define POOL_PF_QUEUE 64u
#define POOL_PF_TTL_NS 500000000ull
/* Blocks one batch of the evictor or the prefetch moves at most. */
#define POOL_BATCH 4u
/*
 * Allocations in a row that make the evictor work: a streaming writer;
 * the evictor works ahead for it until it pauses this long.
 */
#define POOL_STREAM_ALLOCS 8u
#define POOL_STREAM_IDLE_NS 100000000ull
/* Per-node read cost estimates kept (replicas > 1). */
#define POOL_MAX_COSTS 64u
/* The granularity of a clean copy's dirty tracking (hashcmp.c). */
#define POOL_PAGE 4096u
#define POOL_PAGE_SHIFT 12u

/* How a pin uses a local block (what a clean copy's tracking sees). */
enum pool_access {
	POOL_ACC_READ,	/* reads [off, off + len) only */
	POOL_ACC_WRITE, /* writes [off, off + len) (and only that) */
	POOL_ACC_PIN,	/* may write anywhere: the copy is rehashed */
};

/*
 * A clean copy's state (hashcmp.c), one per local block: the XXH3 of the
 * bytes it came home with (what its loan holds), untracked once a pin
 * that may write anywhere used it (then only a rehash tells whether it
 * changed), pf when it came by prefetch. Its dirty pages are a bitmap
 * apart.
 */
struct hc_track {
	uint64_t hash;
	uint8_t untracked, pf;
};

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
	/*
	 * LOCAL, its loan kept (copy slot 0, `loan`, ncopies 1; off LRL): a
	 * clean copy of a block that came home (by prefetch; with hash
	 * compare, any way: hashcmp.c). Moving it out again costs nothing
	 * when it is unchanged (its loan still holds the same bytes), its
	 * dirty pages when written; without hash compare the first write,
	 * or a pin that may write, gives the loan back. Only with one copy
	 * per block (replicas 1): a replicated block comes home as any
	 * other, every copy given back.
	 */
	HF_COPY = 1 << 3,
	HF_UNREAD = 1 << 4,    /* a prefetched copy nobody read yet */
	HF_PF_QUEUED = 1 << 5, /* REMOTE, waiting for the prefetch */
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
	/*
	 * cluster mode keeps low_wm..high_wm blocks free by evicting ahead;
	 * while a writer streams (streak: allocations in a row that made the
	 * evictor work, since memory was last freed; lock) at least
	 * stream_low..stream_high, so that a small pool has several blocks
	 * moving out while the writer fills the next (batch.c); what it left
	 * when it paused stays free for it (pool_keep_locked()), or for the
	 * prefetch (prefetch.c)
	 */
	uint32_t low_wm, high_wm, stream_low, stream_high;
	uint32_t streak;
	uint64_t streak_ns; /* cmp_now_ns() of its last allocation (lock) */
	uint32_t evicting;  /* blocks the evictor's batches move now (lock) */
	uint32_t pulling;   /* blocks coming home (still on LRL), lock */
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
	 * caps (pool_set_caps(); 0: none), and borrows under way (blocks
	 * on their way home: pulling, above)
	 */
	uint32_t lend_max, borrow_max, borrowing;
	uint64_t borrow_capped; /* evictions the borrow cap refused */
	struct xchg xchg;	/* the exchange policy's state (exchange.h) */
	/* the prefetch of sequential readers (prefetch.c), lock */
	bool prefetch_off;
	bool hash_compare; /* every homecoming keeps its loan (hashcmp.c) */
	struct pf_entry {
		uint32_t h;
		uint64_t ns;  /* cmp_now_ns() when named */
	} pfq[POOL_PF_QUEUE]; /* handles to fetch, oldest first */
	uint32_t pfq_head, pfq_count;
	uint32_t nclean, nunread; /* HF_COPY handles; of them HF_UNREAD */
	uint64_t prefetched, prefetch_hits, prefetch_wasted;
	/* hash compare (hashcmp.c): [max_blocks], lock */
	struct hc_track *ctrack;
	uint64_t *cdirty; /* cwords words of dirty pages per local block */
	uint32_t cwords;
	uint64_t evict_unchanged, evict_partial, evict_pages_sent;
	uint64_t evict_bytes_saved;
	pthread_cond_t moved; /* a HANDLE_MOVING block settled */

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
void pool_list_push_tail_locked(struct pool *p, enum pool_list which,
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
/* Is a writer streaming now (lock)? */
static inline bool pool_streaming_locked(const struct pool *p)
{
	return p->streak >= POOL_STREAM_ALLOCS &&
	       cmp_now_ns() - p->streak_ns < POOL_STREAM_IDLE_NS;
}
/* The reserve the evictor keeps now (lock): more while a writer streams. */
static inline uint32_t pool_low_locked(const struct pool *p)
{
	return pool_streaming_locked(p) ? MAX(p->low_wm, p->stream_low)
					: p->low_wm;
}
static inline uint32_t pool_high_locked(const struct pool *p)
{
	return pool_streaming_locked(p) ? MAX(p->high_wm, p->stream_high)
					: p->high_wm;
}
/*
 * The free blocks that borrowed blocks do not come home into and that we
 * do not lend (lock): the reserve, and the larger one of a writer that
 * streamed since memory was last freed (a pause in its stream must not
 * bring home what it sent out, only to send it out again).
 */
static inline uint32_t pool_keep_locked(const struct pool *p)
{
	return p->streak >= POOL_STREAM_ALLOCS ? MAX(p->high_wm, p->stream_high)
					       : p->high_wm;
}

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
 * under way finish first; new ones wait for the move. exchange: it comes
 * home by exchange (counted as it lands).
 */
int pool_pull_into(struct pool *p, uint32_t h, uint32_t b, bool exchange);
/*
 * The end of bringing h home into b (ret: the copy's result), as
 * pool_pull_into() does; prefetch: it came by prefetch (counted as
 * prefetched, not as a homecoming). With one copy per block, h keeps its
 * loan (a clean copy, HF_COPY) when it came by prefetch or with hash
 * compare, with the XXH3 the caller stored (pool_hc_hash()). True when h
 * is home (lock held).
 */
bool pool_finish_pull_locked(struct pool *p, uint32_t h, uint32_t b, int ret,
			     bool prefetch);
/*
 * Moving h out of local block b (its handle MOVING), its loans recorded
 * as they came (pool_copy_add_locked(), so that they are claimed): the
 * end of the move (ret: the copies' result): 0 and b is the caller's,
 * else the loans go back and the data stays in b (-ENOSPC or -EIO).
 */
int pool_finish_evict_locked(struct pool *p, uint32_t h, uint32_t b, int ret);

/* batch.c */
/*
 * Moves up to want (<= POOL_BATCH) of the coldest LLL blocks out at once,
 * never one the exchange policy protects (came home lately, prefetched
 * and not read yet): one borrow for all, their writes in flight
 * together. With replicas > 1 one block after the other, as cmp.c moves
 * it (every copy on a node of its own, every copy written). Returns how
 * many blocks it freed (put on the free list); 0 when none could go.
 */
uint32_t pool_evict_batch(struct pool *p, uint32_t want);
/*
 * Whole blocks between local blocks b[] and loans ref[] (n <= POOL_BATCH,
 * handles h[] held: moving or pinned), the ops' read_many/write_many for
 * the runs on one node, and alone (following moves) what they did not do:
 * ret[i] each one's result.
 */
void pool_move_blocks(struct pool *p, bool write, const uint32_t *h,
		      struct pool_ref *ref, const uint32_t *b, uint32_t n,
		      int *ret);
/*
 * Up to n blocks elsewhere at once (one provider's ALLOC, borrow_many(),
 * else one borrow()), within our borrow cap (counting borrows under way
 * and the loans clean copies keep): 0 and *got (1..n) loans, or -ENOSPC
 * / -EIO.
 */
int pool_borrow_many_capped(struct pool *p, uint32_t n, struct pool_ref *ref,
			    uint32_t *got);

/* prefetch.c */
/*
 * h (LOCAL) is accessed at [off, off + len): a prefetched block's first
 * read is a hit; a write marks a clean copy's pages dirty, a pin that may
 * write anywhere makes it untracked (hashcmp.c; without hash compare
 * either gives the loan back). True when a read reaches the end of a
 * prefetched copy: to the cold end with it (read once, as by a
 * sequential reader: the first to go, for nothing). Lock held.
 */
bool pool_prefetch_access_locked(struct pool *p, struct handle_loc *loc,
				 uint32_t off, uint32_t len,
				 enum pool_access acc);
/*
 * h's copy in local block b goes: h is REMOTE at its loan again (the cold
 * end of LRL), b the caller's, off every list (lock).
 */
void pool_clean_drop_locked(struct pool *p, uint32_t h, uint32_t b);
/*
 * A copy becomes plain local data: its loan given back (settle), or
 * forgotten (its provider no longer holds it). Lock held.
 */
void pool_clean_settle_locked(struct pool *p, struct handle_loc *loc);
void pool_clean_forget_locked(struct pool *p, struct handle_loc *loc);
/* A prefetched block goes (moved out, freed) before anyone read it. */
void pool_unread_gone_locked(struct pool *p, struct handle_loc *loc);
/* The helper's turn: fetches what sequential readers will want next. */
void pool_prefetch_run(struct pool *p);
/*
 * Memory to spare (free blocks above the reserve, which the prefetch
 * would have taken first): the copies need no way out, their loans go
 * back; principle 4 for blocks that are home already.
 */
void pool_settle_copies(struct pool *p);
/* The same, lock held (pool_lend(): a node never lends while it borrows). */
void pool_settle_copies_locked(struct pool *p);
/*
 * hashcmp.c: hash compare. A clean copy (HF_COPY) keeps the XXH3 of what
 * came home and which 4 KiB pages were written since.
 */
int pool_hc_init(struct pool *p);
void pool_hc_finish(struct pool *p);
/* Stores the XXH3 of local block b (the caller's; no lock). */
void pool_hc_hash(struct pool *p, uint32_t b);
/* b holds a clean copy now, as its loan has it: nothing dirty (lock). */
void pool_hc_keep_locked(struct pool *p, uint32_t b, bool pf);
/* b's tracking goes with its data to block to (resize.c; lock). */
void pool_hc_move_locked(struct pool *p, uint32_t b, uint32_t to);
/* A write of [off, off + len), or a pin, of clean copy loc (lock). */
void pool_hc_access_locked(struct pool *p, struct handle_loc *loc, uint32_t off,
			   uint32_t len, enum pool_access acc);
/* Did clean copy b come by prefetch (lock)? */
bool pool_hc_pf_locked(const struct pool *p, uint32_t b);
/* Is clean copy b known unchanged without a rehash (lock)? */
bool pool_hc_clean_locked(const struct pool *p, uint32_t b);
/* Unchanged copy h in b goes: counted, and pool_clean_drop_locked(). */
void pool_hc_unchanged_locked(struct pool *p, uint32_t h, uint32_t b);
/*
 * Moves clean copy h (MOVING, in local block b) out through its kept
 * loan: nothing sent when it is unchanged, else only its dirty pages (all
 * of it when a rehash says it changed). 1: b is the caller's (off every
 * list); 0: h is no clean copy (any more) or its loan failed, its loan
 * given back: move it out as any other block.
 */
int pool_hc_evict(struct pool *p, uint32_t h, uint32_t b);
/*
 * Loans of clean copies given back so that a borrow may find room (the
 * providers full of them, or our borrow cap reached): up to n, coldest
 * first, and the releases sent. How many (no lock held).
 */
uint32_t pool_hc_give_back(struct pool *p, uint32_t n);

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

/*
 * Copy c of h answered CORRUPT and another copy is known good: c is
 * dropped (given back), logged and counted (rc.repaired), and the
 * rebuilder makes it again. Lock not held.
 */
void pool_copy_repair(struct pool *p, uint32_t h,
		      const struct pool_copy_pick *c);

/* rebuild.c: making missing copies again (replicas > 1). */
int pool_rebuild_start(struct pool *p);
void pool_rebuild_stop(struct pool *p);
/* Something may be short of copies now: the rebuilder looks (lock). */
void pool_kick_rebuild_locked(struct pool *p);

#endif
