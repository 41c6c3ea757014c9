/* SPDX-License-Identifier: MIT */
/*
 * The block server's authority over its loans (DESIGN.md, "A block's
 * life"). For every block of a store it records whether the block is lent,
 * to which owner node, under which epoch, and how many accesses hold it
 * right now; for every owner, when it was last heard from.
 *
 * A loan is (owner, block index, epoch). Every access names all three and
 * holds the block for exactly its duration: loans_pin() checks and pins in
 * one critical section, so a FREE, a GOODBYE, an expired lease or a
 * reconciliation that ends the loan meanwhile only marks it FREEING, and
 * the last loans_unpin() gives the block back to the store. A request
 * with an old epoch, or for a block lent to someone else, gets -ESTALE and
 * never touches the block.
 *
 * Only three things end a loan: the owner frees it, the owner leaves
 * (loans_free_owner), or the owner's lease expires (loans_expire: nothing
 * was heard from it for lease_ns). Reconciliation (loans_reconcile_*) is
 * the owner telling which loans it still claims; the rest are freed.
 *
 * Time is passed in (now, in ns of any monotonic clock), so tests and the
 * simulator can drive it. Nothing allocates after loans_create().
 *
 * Threads: every function is thread-safe (one mutex, a leaf: the release
 * callback is called with it dropped, from whichever thread ended the
 * loan). Memory: the table is the caller's to destroy after the last use.
 */
#ifndef CMP_POOL_LOANS_H
#define CMP_POOL_LOANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_block.h" /* struct proto_block_ref: how owners name loans */

struct loans;

/* Gives ended loans' blocks back to the store (n <= LOANS_RELEASE_CHUNK). */
typedef void (*loans_release_fn)(void *ctx, const uint32_t *idx, uint32_t n);

#define LOANS_DEFAULT_LEASE_NS (300ull * 1000000000ull)
#define LOANS_DEFAULT_MAX_OWNERS 4096u
#define LOANS_RELEASE_CHUNK 256u

struct loans_config {
	uint32_t nblocks;	  /* store blocks: indexes 0 .. nblocks-1 */
	uint32_t max_owners;	  /* owners with loans at once; 0: 4096 */
	uint64_t lease_ns;	  /* 0: LOANS_DEFAULT_LEASE_NS */
	uint32_t first_epoch;	  /* 0: random (a restart reissues none) */
	loans_release_fn release; /* required */
	void *ctx;
};

/* NULL + errno (EINVAL, ENOMEM). */
struct loans *loans_create(const struct loans_config *cfg);
/* Gives nothing back to the store. NULL is ok. */
void loans_destroy(struct loans *l);

uint64_t loans_lease_ns(const struct loans *l);

/*
 * Records blocks idx[0..n) (just taken from the store, cleared) as lent to
 * owner; writes their epochs. -ENOSPC when the owner table is full (the
 * caller gives the blocks back), -EINVAL for an index out of range or a
 * block already lent.
 */
int loans_lend(struct loans *l, uint32_t owner, const uint32_t *idx, uint32_t n,
	       uint32_t *epoch, uint64_t now);

/*
 * Holds block r for owner until loans_unpin(): 0, -ESTALE (not lent to
 * owner under that epoch: freed, re-lent, expired), -ENOENT (no such
 * index). Renews owner's lease.
 */
int loans_pin(struct loans *l, uint32_t owner, struct proto_block_ref r,
	      uint64_t now);
/*
 * All of refs[0..n) or none: on failure returns the error of the first
 * block refused and stores its position in *bad.
 */
int loans_pin_many(struct loans *l, uint32_t owner,
		   const struct proto_block_ref *refs, uint32_t n, uint64_t now,
		   uint32_t *bad);
/*
 * Drops the hold. -ESTALE when the loan ended while it was held (a write
 * that just finished did not land in a block the owner still has), else 0.
 */
int loans_unpin(struct loans *l, uint32_t idx);
int loans_unpin_many(struct loans *l, const struct proto_block_ref *refs,
		     uint32_t n);

/*
 * Ends owner's loans among refs (those that still match; the others are
 * skipped, so a retried FREE is harmless). Returns how many ended (pinned
 * ones end at their last unpin).
 */
uint32_t loans_free(struct loans *l, uint32_t owner,
		    const struct proto_block_ref *refs, uint32_t n,
		    uint64_t now);
/* The owner left (GOODBYE): ends all its loans; returns how many. */
uint32_t loans_free_owner(struct loans *l, uint32_t owner);

/* Any traffic from owner: renews its lease. */
void loans_touch(struct loans *l, uint32_t owner, uint64_t now);

struct loans_expired {
	uint32_t owner;
	uint32_t blocks;    /* loans ended */
	uint64_t silent_ns; /* since it was last heard */
};
/*
 * Ends every loan of owners silent for longer than the lease, and forgets
 * owners without loans that were silent as long. Reports up to max owners
 * in out[]; returns how many owners expired (call again if > max).
 */
size_t loans_expire(struct loans *l, uint64_t now, struct loans_expired *out,
		    size_t max);

/*
 * Reconciliation with owner: begin, then mark every loan the owner still
 * claims (any number of calls), then end, which frees the owner's loans
 * that were not marked (loans made after begin count as marked). mark
 * writes the refs the owner claims but does not hold here to missing[]
 * (room for n) and returns how many. end returns how many it freed; it
 * does nothing unless a begin came first.
 */
void loans_reconcile_begin(struct loans *l, uint32_t owner, uint64_t now);
uint32_t loans_reconcile_mark(struct loans *l, uint32_t owner,
			      const struct proto_block_ref *refs, uint32_t n,
			      struct proto_block_ref *missing, uint64_t now);
uint32_t loans_reconcile_end(struct loans *l, uint32_t owner);

/* Blocks lent in all (pinned FREEING ones included), and to owner. */
uint32_t loans_lent(struct loans *l);
uint32_t loans_lent_to(struct loans *l, uint32_t owner);
/* Who holds block idx: true and owner/epoch when it is lent. */
bool loans_holder(struct loans *l, uint32_t idx, uint32_t *owner,
		  uint32_t *epoch);

#endif
