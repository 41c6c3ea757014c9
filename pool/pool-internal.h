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

/* One per local block: which list it is on and its neighbours there. */
struct lblock {
	uint32_t prev, next; /* links within its list (NIL ends) */
	uint32_t owner;	     /* LLL: handle; RLL: owner node id */
	uint8_t list;	     /* enum pool_list: FREE, LLL or RLL */
};

enum vb_state {
	VB_UNUSED,
	VB_LOCAL,  /* index is a local block */
	VB_REMOTE, /* (node, index) on another node: LRL */
	VB_LOST,   /* its provider died: reads and writes give EIO */
	VB_MOVING, /* being evicted or pulled home: wait on pool->moved */
};

/* One per handle: where a block of our data lives. */
struct vblock {
	uint32_t index; /* local block, remote block, or next free handle */
	uint32_t node;	/* provider node id when VB_REMOTE */
	uint32_t pins;	/* references of readers/writers; pinned stays put */
	uint32_t prev, next; /* LRL list links (VB_REMOTE only) */
	uint8_t state;
};

struct plist {
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
	struct lblock *lb;		 /* [local_blocks] */
	struct plist lists[POOL_NLISTS]; /* FREE, LLL, RLL use lb links */
	struct vblock *vb;		 /* [max_handles], handle 0 unused */
	uint32_t max_handles;
	uint32_t vb_free; /* head of the free handle chain (0 = none) */
	uint32_t vb_next; /* first never-used handle */
	uint64_t handles;
	/* LRL: our blocks elsewhere, most recently used first */
	uint32_t lrl_head, lrl_tail;
	uint64_t lost, evictions, homecomings;
	pthread_cond_t moved; /* a VB_MOVING block settled */

	/* cluster (set once by pool_set_cluster, before concurrent use) */
	const struct pool_cluster_ops *cops;
	void *cctx;
	pthread_t helper;
	pthread_cond_t helper_wake;
	bool helper_running, helper_stop, helper_kick;
};

/* pool.c: list and handle primitives, all _locked (pool->lock held). */
void pool_list_push_head(struct pool *p, enum pool_list which, uint32_t b);
void pool_list_remove(struct pool *p, uint32_t b);
void pool_lrl_push_locked(struct pool *p, uint32_t h, bool head);
void pool_lrl_remove_locked(struct pool *p, uint32_t h);
struct vblock *pool_vb_locked(struct pool *p, uint32_t h);
/* Waits while handle h is being moved; returns its vblock or NULL. */
struct vblock *pool_vb_settled_locked(struct pool *p, uint32_t h);

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
