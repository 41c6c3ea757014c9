/* SPDX-License-Identifier: MIT */
/*
 * Memserver write policies (enum pool_wpolicy in include/cmp/pool.h): with
 * one, every block of ours elsewhere has, besides its `replicas` copies on
 * compute providers, one more copy on a memserver, in the last copy slot
 * of its handle (p->wp.slot), so that it is claimed at reconciliations,
 * followed when moved and lost with its provider as any copy is.
 *
 * The memserver copy of handle h is *behind* (a bit in wp.behind) when it
 * is missing or older than the compute copies: write-back's writes to a
 * block already elsewhere skip it, a memserver copy that missed a write or
 * whose memserver lost it is gone, a borrow on a memserver failed. A copy
 * that is behind is never read and does not keep a block alive. The
 * flusher thread brings such copies up to date within wb_delay_ms: it
 * holds the block (HANDLE_MOVING, as the rebuilder does), reads it from a
 * compute copy, borrows a block on a memserver if it has none there, and
 * writes it. The bit goes when the block leaves LRL (home, freed, lost).
 *
 * Everything _locked needs pool->lock; the rest takes it.
 */
#ifndef CMP_POOL_WPOLICY_H
#define CMP_POOL_WPOLICY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp/pool.h"

struct pool;
struct pool_copy_set;

struct pool_wp {
	enum pool_wpolicy policy; /* fixed at pool_create() */
	uint32_t slot;		  /* the memserver copy's slot (policy) */
	uint64_t delay_ns;	  /* write-back: the longest a copy is behind */
	/* lock: */
	uint64_t *behind; /* bitmap over handles, NORESERVE */
	size_t behind_bytes;
	struct pool_wp_counts c;
	/* the flusher thread */
	pthread_t thread;
	pthread_cond_t wake; /* monotonic */
	pthread_cond_t pass_done;
	uint64_t passes;
	bool running, stop, kick;
	uint8_t *buf; /* one block, the flusher's */
};

int pool_wp_init(struct pool *p, const struct pool_config *cfg);
void pool_wp_finish(struct pool *p);
/* The flusher, with the cluster (cmp.c's pool_set_cluster/stop). */
int pool_wp_start(struct pool *p);
void pool_wp_stop(struct pool *p);

/* (pool_wp_is_slot(p, k), in pool-internal.h: is k the memserver's?) */
/* Is h's memserver copy behind (lock)? */
bool pool_wp_behind_locked(const struct pool *p, uint32_t h);
/* h's memserver copy is behind now / h left LRL (lock). */
void pool_wp_mark_locked(struct pool *p, uint32_t h);
void pool_wp_forget_locked(struct pool *p, uint32_t h);
/* Does copy slot k of h hold h's current bytes (it may be read)? Lock. */
bool pool_wp_current_locked(struct pool *p, uint32_t h, uint32_t k);
/* Copies of h that hold its current bytes / on compute providers. Lock. */
uint32_t pool_wp_live_copies_locked(struct pool *p, uint32_t h);
uint32_t pool_wp_compute_copies_locked(struct pool *p, uint32_t h);
/* Does a write to h now leave slot k out (write-back, lock)? */
bool pool_wp_skip_write_locked(struct pool *p, uint32_t h, uint32_t k);
/*
 * A write of len bytes to the copies of set stood (rets[i]: each one's
 * result): counts what the memserver copy took; write-back marks h
 * behind. Takes the lock (the _locked one: held).
 */
void pool_wp_wrote_locked(struct pool *p, uint32_t h,
			  const struct pool_copy_set *set, const int *rets,
			  uint32_t len);
void pool_wp_wrote(struct pool *p, uint32_t h, const struct pool_copy_set *set,
		   const int *rets, uint32_t len);
/*
 * Moving h out: its memserver copy's loan, recorded in its slot, before
 * the copies are written (no lock held). On failure h is marked behind
 * (the flusher makes it later); the move goes on either way.
 */
void pool_wp_borrow(struct pool *p, uint32_t h);
/* A read was served by copy slot k (counted when the memserver's). */
void pool_wp_read_from(struct pool *p, uint32_t k);
void pool_wp_get_counts_locked(const struct pool *p,
			       struct pool_wp_counts *out);

#endif
