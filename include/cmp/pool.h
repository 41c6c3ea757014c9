/* SPDX-License-Identifier: MIT */
/*
 * The pool: the memory this node contributes to the cluster (one mlock'd,
 * pre-faulted region carved into equal blocks) and the bookkeeping of CMP's
 * five lists:
 *
 *   free  contributed, unused              (this node's memory)
 *   LLL   our data in our memory, LRU order (this node's memory)
 *   LRL   our data in another node's memory
 *   RLL   another node's data in our memory (we lend)
 *   RRL   forwarding record: a block we lent was moved on
 *
 * Callers that own data (the file system) see blocks only through handles:
 * a handle (nonzero u32) names one block of this node's data wherever it
 * lives, so a block can move (evicted to a remote node, pulled home) without
 * the caller knowing. Handle 0 is never valid.
 *
 * Local data may be accessed in place: pool_pin() returns a pointer into the
 * region and keeps the block from moving until pool_unpin(). Otherwise
 * pool_read()/pool_write() copy byte ranges wherever the block is.
 *
 * Threads: every function is thread-safe (one internal mutex, held only for
 * list updates, never across copies or network I/O). Memory: the pool owns
 * its region; pointers from pool_pin() are valid until the matching unpin.
 */
#ifndef CMP_POOL_H
#define CMP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;

struct pool_config {
	uint64_t local_bytes; /* this node's contribution (rounded down) */
	uint32_t block_size;  /* power of two, 4 KiB .. 4 MiB */
	bool lock_memory;     /* mlock the region (needs root / RLIMIT) */
	uint32_t max_handles; /* 0: enough for local blocks plus borrowing */
};

enum pool_list {
	POOL_FREE,
	POOL_LLL,
	POOL_LRL,
	POOL_RLL,
	POOL_RRL,
	POOL_NLISTS
};

struct pool_counts {
	uint64_t blocks[POOL_NLISTS]; /* per-list block counts */
	uint64_t local_blocks;	      /* blocks this node contributes */
	uint64_t handles;	      /* live data handles */
	uint64_t lost;		      /* our blocks on providers that died */
	uint64_t evictions;	      /* LLL blocks moved out (principle 2) */
	uint64_t homecomings;	      /* LRL blocks pulled home (principle 4) */
};

#define POOL_MIN_BLOCK (4u << 10)
#define POOL_MAX_BLOCK (4u << 20)

/* NULL + errno (EINVAL for a bad config, ENOMEM, EPERM from mlock). */
struct pool *pool_create(const struct pool_config *cfg);
void pool_destroy(struct pool *p);

uint32_t pool_block_size(const struct pool *p);
void pool_get_counts(struct pool *p, struct pool_counts *out);
/* Blocks a new allocation could still get (local free plus remote). */
uint64_t pool_avail_blocks(struct pool *p);
/* Total blocks this node can hold data in (local plus borrowable). */
uint64_t pool_capacity_blocks(struct pool *p);

/*
 * Allocates a block for this node's data. zero: clear it first (skip when
 * the caller is about to overwrite all of it). Returns 0 and the handle, or
 * -ENOSPC when neither this node nor the cluster has a free block.
 */
int pool_alloc(struct pool *p, bool zero, uint32_t *handle);
/* Frees the block behind handle (wherever it lives). */
void pool_free(struct pool *p, uint32_t handle);

/*
 * Pins a local block and returns its address, marking it most recently
 * used. Returns -EREMOTE when the block is not in local memory (use
 * pool_read/pool_write), -EINVAL for a bad handle.
 */
int pool_pin(struct pool *p, uint32_t handle, void **ptr);
void pool_unpin(struct pool *p, uint32_t handle);

/* Byte-range copies; off + len <= block size. -EIO if the block is lost. */
int pool_read(struct pool *p, uint32_t handle, uint32_t off, void *dst,
	      uint32_t len);
int pool_write(struct pool *p, uint32_t handle, uint32_t off, const void *src,
	       uint32_t len);
/* Zeroes [off, off+len) of the block. */
int pool_zero(struct pool *p, uint32_t handle, uint32_t off, uint32_t len);

/* Name of a list ("free", "LLL", ...). */
const char *pool_list_name(enum pool_list l);

/*
 * ---- The cluster side ----
 *
 * Borrowing (LRL): with cluster ops set, an allocation that finds no free
 * local block moves the coldest unpinned LLL block's content to a block
 * borrowed elsewhere (principle 2) and reuses the memory; reads and writes
 * of a borrowed block go through the ops as byte ranges; when local blocks
 * are freed, a helper thread pulls borrowed blocks home (principle 4).
 * The ops are called without the pool lock, from the thread that needs
 * them (or the helper thread), and return 0 or -errno.
 */
struct pool_ref {
	uint32_t node;	/* provider node id */
	uint32_t index; /* block index on the provider */
};

struct pool_cluster_ops {
	/* One free block elsewhere, in tier order. -ENOSPC when none. */
	int (*borrow)(void *ctx, struct pool_ref *out);
	/* Gives a borrowed block back. */
	void (*release)(void *ctx, const struct pool_ref *r);
	int (*read)(void *ctx, const struct pool_ref *r, uint32_t off,
		    void *dst, uint32_t len);
	int (*write)(void *ctx, const struct pool_ref *r, uint32_t off,
		     const void *src, uint32_t len);
	/* Free blocks the cluster offers elsewhere (for statfs), cached. */
	uint64_t (*remote_free)(void *ctx);
};

/* Installs the ops and starts the helper thread. Call once, early. */
int pool_set_cluster(struct pool *p, const struct pool_cluster_ops *ops,
		     void *ctx);
/* Stops the helper thread (before the ops' context goes away). */
void pool_stop_cluster(struct pool *p);

/*
 * Lending (RLL): the peer service stores other nodes' blocks in our free
 * blocks. pool_lend() takes up to n free blocks for owner and returns how
 * many it took (0 when none is free) with their indexes in idx[].
 */
uint32_t pool_lend(struct pool *p, uint32_t owner, uint32_t n, uint32_t *idx);
/* Returns lent blocks; indexes not lent to owner are skipped (counted). */
uint32_t pool_unlend(struct pool *p, uint32_t owner, const uint32_t *idx,
		     uint32_t n);
bool pool_lent_to(struct pool *p, uint32_t idx, uint32_t owner);
/* Address of local block idx (for the peer service; idx < local blocks). */
void *pool_block_addr(struct pool *p, uint32_t idx);
uint32_t pool_local_blocks(const struct pool *p);
/* An owner died: every block lent to it is freed. Returns how many. */
uint32_t pool_owner_dead(struct pool *p, uint32_t owner);
/* A provider died: our blocks there are lost (EIO). Returns how many. */
uint32_t pool_provider_dead(struct pool *p, uint32_t node);
/*
 * The cluster declared this node dead (it was cut off for too long): the
 * others freed what they held for us and forgot what we held for them.
 * Every LRL block becomes lost, every RLL block free. Returns how many.
 */
uint32_t pool_forget_cluster(struct pool *p);
/*
 * Pulls up to max borrowed blocks home while free local blocks remain
 * (principle 4). Returns how many moved. The helper thread calls it; tests
 * may call it directly.
 */
uint32_t pool_pull_home(struct pool *p, uint32_t max);

#endif
