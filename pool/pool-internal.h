/* SPDX-License-Identifier: MIT */
/*
 * Private layout of struct pool, shared by pool.c and the cluster parts of
 * the pool (borrowing, lending) that live in their own files.
 *
 * Lock order: pool->lock is a leaf lock: nothing else is taken while it is
 * held, and no copy or network I/O happens under it.
 */
#ifndef CMP_POOL_INTERNAL_H
#define CMP_POOL_INTERNAL_H

#include <pthread.h>

#include "cmp.h"
#include "cmp/pool.h"

#define NIL UINT32_MAX

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
	uint8_t list;  /* enum pool_list: FREE, LLL or RLL */
	uint8_t clean; /* never used since the region was made: all zeros */
};

enum handle_state {
	HANDLE_UNUSED,
	HANDLE_LOCAL,  /* in local_block of our region (LLL) */
	HANDLE_REMOTE, /* remote_block on provider_node (LRL) */
	HANDLE_LOST,   /* its provider died: reads and writes give EIO */
	HANDLE_MOVING, /* being evicted or pulled home: wait on pool->moved */
};

/* One per handle: where this handle's data lives. */
struct handle_loc {
	union {
		uint32_t local_block;  /* HANDLE_LOCAL, or moving out */
		uint32_t remote_block; /* HANDLE_REMOTE, LOST, or moving home */
		uint32_t next_free;    /* HANDLE_UNUSED: free chain (0 ends) */
	};
	uint32_t provider_node; /* HANDLE_REMOTE, LOST, or moving home */
	uint32_t remote_epoch;	/* the loan's epoch there, likewise */
	uint32_t pins; /* references of readers/writers; pinned stays put */
	uint32_t prev, next; /* LRL list links (HANDLE_REMOTE only) */
	uint8_t state;	     /* enum handle_state */
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
	uint32_t local_blocks;
	/* cluster mode keeps low_wm..high_wm blocks free by evicting ahead */
	uint32_t low_wm, high_wm;

	/* protected by lock: */
	struct local_block *blocks; /* [local_blocks] */
	/*
	 * FREE, LLL and RLL link local blocks; LRL is linked through the
	 * handles (lrl_head/tail) and only counted here; RRL stays empty
	 * until principle 3 is built.
	 */
	struct block_list lists[POOL_NLISTS];
	struct handle_loc *handles; /* [max_handles + 1], handle 0 unused */
	uint32_t max_handles;
	uint32_t free_handles;	  /* head of the free handle chain (0 = none) */
	uint32_t next_new_handle; /* first never-used handle */
	uint64_t live_handles;
	/* LRL: our blocks elsewhere, most recently used first */
	uint32_t lrl_head, lrl_tail;
	uint64_t lost, evictions, homecomings;
	pthread_cond_t moved; /* a HANDLE_MOVING block settled */

	/* cluster (set once by pool_set_cluster, before concurrent use) */
	const struct pool_cluster_ops *cops;
	void *cctx;
	pthread_t helper;
	pthread_cond_t helper_wake;
	bool helper_running, helper_stop, helper_kick;
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
	return p->region + ((size_t)b << p->block_shift);
}

/* cmp.c: principle 2, move the coldest LLL block out; returns its local
 * block (now free for the caller, already off every list) or -errno. */
int pool_evict_one(struct pool *p, uint32_t *block);
/* Asks the helper thread to pull blocks home (lock held). */
void pool_kick_helper_locked(struct pool *p);

#endif
