/* SPDX-License-Identifier: MIT */
/*
 * The exchange policy (CMP's figure 8): what comes home, and what goes out
 * in its place. It is the one judge of both: the evictor (principle 2),
 * the homecoming (principle 4) and the exchange itself ask it, so that
 * they cannot undo each other's moves.
 *
 * Every access of a block of ours (a pin, a read, a write, wherever the
 * block is) adds to the block's heat what it moved, XCHG_BLOCK for the
 * whole block (so that reading a block once in eight 128 KiB requests
 * weighs as much as reading it once whole), at least XCHG_MIN_ADD (a 512
 * byte read is one more round trip), and one tick to the pool's clock;
 * heat halves every epoch (2^shift ticks, at least eight times the node's
 * blocks), so it counts recent use, in accesses of this node rather than
 * seconds: an idle node's heats stay as they were, a busy node's age at
 * its own pace. Decay is lazy: a block's heat is brought up to date when
 * it is read.
 *
 *   - a block elsewhere (LRL) becomes a candidate when its heat reaches
 *     XCHG_THRESHOLD (eight whole-block accesses, or 128 small ones); the
 *     helper thread then moves the least recently used local block out
 *     (borrowing a block elsewhere, principle 2's move) and brings the
 *     candidate home into its memory, but only if the candidate's heat
 *     exceeds that block's by half plus XCHG_MARGIN (hysteresis: a
 *     working set a little larger than the node, accessed evenly, has no
 *     block hot enough to exchange, so nothing ping-pongs). A candidate
 *     turned down silences the others for XCHG_QUIET
 *     accesses, so a node whose blocks elsewhere are all lukewarm does not
 *     wake its helper at every access;
 *   - a block that came home (by exchange, by principle 4 or ahead of a
 *     sequential reader) is protected for one to two epochs: no exchange
 *     sends it out, and the evictor takes it only when every other
 *     candidate is protected too; a prefetched block its reader read to
 *     the end is not protected any more (the first to go, for nothing);
 *   - the block that goes out, for an exchange or an eviction, is the
 *     least recently used one that is not protected (LLL's LRU end), and
 *     the one that comes home when memory is freed (principle 4) the most
 *     recently used block elsewhere; heat decides only whether a block
 *     elsewhere deserves an exchange, so the lists keep the paper's LRU
 *     order.
 *
 * Everything here is _locked (pool->lock held) except pool_exchange(),
 * which the helper thread calls without locks, like the other movers.
 */
#ifndef CMP_POOL_EXCHANGE_H
#define CMP_POOL_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>

struct pool;
struct handle_loc;

#define XCHG_BLOCK 64u			 /* an access of a whole block */
#define XCHG_MIN_ADD 4u			 /* the least an access adds */
#define XCHG_THRESHOLD (8u * XCHG_BLOCK) /* a candidate: ~8 recent accesses */
#define XCHG_MARGIN (2u * XCHG_BLOCK)
#define XCHG_QUEUE 64u	  /* candidates waiting for the helper */
#define XCHG_MIN_SHIFT 8u /* an epoch is at least 256 accesses */
#define XCHG_PROTECT_EPOCHS 2u
#define XCHG_QUIET 32u /* accesses without candidates after one in vain */

/* The policy's state in struct pool (pool->lock). */
struct xchg {
	bool on; /* exchanges happen (cmpfs -o noexchange: false) */
	uint32_t shift;
	uint64_t clock; /* accesses so far */
	uint32_t queue[XCHG_QUEUE];
	uint32_t qhead, qcount;
	uint64_t quiet_until; /* no candidates before this tick */
	uint64_t exchanges;   /* blocks that came home by exchange */
	uint64_t skipped;     /* candidates not hot enough for the margin */
};

/* Sets the epoch length for a pool of nblocks blocks (lock, or before). */
void xchg_size_locked(struct pool *p, uint32_t nblocks);
/* Counts an access of len bytes of loc; returns its heat now. */
uint32_t xchg_touch_locked(struct pool *p, struct handle_loc *loc,
			   uint32_t len);
/* The same for handle h on LRL, which may become a candidate. */
void xchg_touch_remote_locked(struct pool *p, uint32_t h, uint32_t len);
uint32_t xchg_heat_locked(const struct pool *p, const struct handle_loc *loc);
/*
 * loc came home (by principle 4, an exchange or the prefetch): protected
 * for a while; xchg_done_locked(): no longer (a prefetched block read by
 * its sequential reader).
 */
void xchg_came_home_locked(struct pool *p, struct handle_loc *loc);
void xchg_done_locked(struct pool *p, struct handle_loc *loc);
bool xchg_protected_locked(const struct pool *p, const struct handle_loc *loc);
/*
 * The LLL block to send out: the least recently used that nobody is using
 * and is not protected (not marked), NIL if none; a protected one only
 * with protected_too, and only when no other is left.
 */
uint32_t xchg_pick_cold_locked(struct pool *p, bool protected_too);
/* The LRL handle to bring home (most recently used), NIL if none. */
uint32_t xchg_pick_hot_locked(struct pool *p);

/*
 * The helper thread's turn: exchanges the queued candidates that pass the
 * policy. Returns how many came home. No lock held.
 */
uint32_t pool_exchange(struct pool *p);

#endif
