/* SPDX-License-Identifier: MIT */
/*
 * Private layout of struct cluster (include/cmp/pool.h), shared by
 * cluster.c (borrowing, the pool's ops, lending, the manager's news),
 * cluster-rw.c (the pool's byte-range ops),
 * cluster-move.c (principles 3 and 5: moving lent blocks on, the notices
 * to their owners, following our own blocks when they moved) and
 * cluster-drain.c (leaving without loss, cmpctl drain), cluster-resize.c
 * (a node's new size told to the manager).
 *
 * Lock order: cluster.lock, cluster.nlock and cluster.dlock are leaves;
 * none is held across the network or while calling into the pool or the
 * peer service.
 */
#ifndef CMP_POOL_CLUSTER_INTERNAL_H
#define CMP_POOL_CLUSTER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp.h"
#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "cmp/pool.h"

#define CANDIDATES 16
#define LENDERS 16
#define CANDIDATE_TTL_NS 500000000ull /* re-ask the manager after 0.5 s */
#define MGR_RETRY_NS 1000000000ull    /* after it did not answer */

struct cluster {
	struct pool *pool;
	uint32_t node;
	int timeout_ms; /* per remote call */
	struct peer *peer;
	struct remote *remote;
	struct mgr_client *mgr;
	void (*io_bytes)(void *ctx, uint64_t *read, uint64_t *written);
	void *io_ctx;

	pthread_mutex_t lock;
	/* lock: where to borrow next, in the manager's tier order */
	struct mgr_free_entry cand[CANDIDATES];
	size_t ncand;
	uint64_t cand_time;
	uint64_t free_hint;
	bool refreshing;       /* one thread asks the manager at a time */
	bool mgr_down;	       /* its last answer did not come */
	uint64_t mgr_retry_at; /* do not ask before (cmp_now_ns) */

	/* the notifier: tells owners where their blocks went (nlock) */
	pthread_t notifier;
	pthread_mutex_t nlock;
	pthread_cond_t nwake;
	bool notifier_running, nstop, nkick;
	/* stepped mode: no notifier thread; cluster_notifier_step() */
	bool nstepped;
	uint64_t nnext;	   /* its next look without a kick (nlock) */
	uint64_t lease_at; /* stepped: the peer's next lease check */

	/* the drainer: cmpctl drain in the background (dlock) */
	pthread_t drainer;
	pthread_mutex_t dlock;
	pthread_cond_t dwake;
	bool drainer_running, dstop;
};

/* cluster.c */

/*
 * One free block elsewhere, in tier order, never on the navoid (at most
 * POOL_MAX_REPLICAS + 2) nodes of avoid[] (0 entries skipped) or on this
 * node; the loan is recorded (or given up) by the caller, who then calls
 * remote_borrow_end(). -ENOSPC when every provider we could ask was
 * full, -EIO when one could not be reached.
 */
int cluster_borrow(struct cluster *c, const uint32_t *avoid, size_t navoid,
		   struct pool_ref *out);
/*
 * The same for up to n (<= POOL_BORROW_MAX) blocks in one ALLOC of the
 * first provider that has room: 0 and *got (>= 1) loans in out[], each
 * to end with remote_borrow_end() once recorded.
 */
int cluster_borrow_many(struct cluster *c, const uint32_t *avoid, size_t navoid,
			uint32_t n, struct pool_ref *out, uint32_t *got);
/*
 * One log line for copies of our blocks node took with it (what: "left
 * and took"...): how many, and how many blocks had no other (lost).
 */
void cluster_report_losses(struct cluster *c, uint32_t node, const char *what,
			   uint32_t copies, uint32_t lost);
/*
 * Write-back: every memserver copy behind is written before we leave
 * (within 2 * timeout_ms; a failure is logged).
 */
void cluster_flush_memserver(struct cluster *c);
/* Learns where node serves: addr if given, else from the manager. */
void cluster_learn_node(struct cluster *c, uint32_t node, const char *addr);

/*
 * cluster-rw.c: the pool's ops read, write, write_copies, and the same
 * byte range of several loans on one node (read_many, write_many).
 */
int cluster_op_read(void *ctx, const struct pool_ref *r, uint32_t off,
		    void *dst, uint32_t len, struct pool_ref *moved);
int cluster_op_write(void *ctx, const struct pool_ref *r, uint32_t off,
		     const void *src, uint32_t len, struct pool_ref *moved);
void cluster_op_write_copies(void *ctx, const struct pool_ref *refs, uint32_t n,
			     uint32_t off, const void *src, uint32_t len,
			     int *rets, struct pool_ref *moved);
void cluster_read_many(void *ctx, const struct pool_ref *refs, uint32_t n,
		       uint32_t off, void *const *dst, uint32_t len, int *rets);
void cluster_write_many(void *ctx, const struct pool_ref *refs, uint32_t n,
			uint32_t off, void *const *src, uint32_t len,
			int *rets);

/* cluster-move.c */

/* The pool's op move_lent (principle 3). */
int cluster_move_lent(void *ctx, uint32_t idx);
/* The pool's op forwarding: RRL records held. */
uint64_t cluster_forwarding(void *ctx);
/* The peer store's ops: node addresses and notices to us as an owner. */
int cluster_node_addr(void *ctx, uint32_t node, char *addr);
int cluster_notice(void *ctx, uint32_t from_node,
		   const struct proto_block_moved *mv);
void cluster_notices_due(void *ctx);
/* The notifier thread (after the peer service exists; before it goes). */
int cluster_notifier_start(struct cluster *c);
void cluster_notifier_stop(struct cluster *c);
/* Stepped mode: what the notifier would do now (kicked, or its poll). */
void cluster_notifier_step(struct cluster *c);

/* cluster-drain.c */

struct proto_block_drain_rep;
void cluster_drain_init(struct cluster *c);
/* Stops a background drain (and, lend_again, lends again). */
void cluster_drain_stop(struct cluster *c, bool lend_again);
void cluster_drain_finish(struct cluster *c);
/* The peer store's op drain (cmpctl drain). */
int cluster_st_drain(void *ctx, bool on, struct proto_block_drain_rep *rep);

/* cluster-store.c: what the peer service lends (ctx: the cluster). */
extern const struct peer_store_ops cluster_store_ops;

#endif
