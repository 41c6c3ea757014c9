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
};

/* One per handle: where a block of our data lives. */
struct vblock {
	uint32_t index; /* local block, remote block, or next free handle */
	uint32_t node;	/* provider node id when VB_REMOTE */
	uint32_t pins;	/* pool_pin() references; a pinned block stays */
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

	/* protected by lock: */
	struct lblock *lb;		    /* [local_blocks] */
	struct plist lists[POOL_NLISTS];    /* FREE, LLL, RLL use lb links */
	uint64_t remote_count[POOL_NLISTS]; /* LRL, RRL: counted only */
	struct vblock *vb;		    /* [max_handles], handle 0 unused */
	uint32_t max_handles;
	uint32_t vb_free; /* head of the free handle chain (0 = none) */
	uint32_t vb_next; /* first never-used handle */
	uint64_t handles;
};

#endif
