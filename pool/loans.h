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
 * Moving a loan on (DESIGN principles 3 and 5): the provider that needs
 * its memory back takes a lent block with loans_move_begin() (new
 * accesses get -EBUSY, the ones in flight finish first), copies it to a
 * block it borrowed on a third node, hands that loan over to the owner
 * there (loans_handover() on the third node's table), and ends the move
 * with loans_move_end(): the loan becomes a forwarding record and the
 * block is the caller's. An access naming the old loan then gets
 * -EREMCHG and where it went. A record stays until the owner confirms it
 * knows the new place (loans_fwd_noticed() after a notice it answered),
 * leaves, or its lease ends; a FREE of the old loan asks for one more
 * notice (loans_fwd_due()) so that the owner frees the new place too.
 *
 * A store that keeps its loans across restarts (cmp-memserver --store)
 * gives the table a journal, told every change of who holds a block under
 * the lock, before the call that made it returns; after a restart it lends
 * what it wrote down again with loans_restore().
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
/*
 * Who holds block idx from now on: owner under epoch (handed: over by a
 * node that moved it here, not yet used or claimed by the owner), or
 * nobody (owner 0). Called with the table's lock held, once for every
 * change, before the request that made it is answered; calls are
 * therefore serialized, and the callee must not block or call the table.
 */
typedef void (*loans_journal_fn)(void *ctx, uint32_t idx, uint32_t owner,
				 uint32_t epoch, bool handed);

#define LOANS_DEFAULT_LEASE_NS (300ull * 1000000000ull)
#define LOANS_DEFAULT_MAX_OWNERS 4096u
#define LOANS_RELEASE_CHUNK 256u
/* Forwarding records at once by default (5 MiB of table at most). */
#define LOANS_DEFAULT_MAX_FORWARDING 65536u

struct loans_config {
	uint32_t nblocks;     /* store blocks: indexes 0 .. nblocks-1 */
	uint32_t max_owners;  /* owners with loans at once; 0: 4096 */
	uint64_t lease_ns;    /* 0: LOANS_DEFAULT_LEASE_NS */
	uint32_t first_epoch; /* 0: random (a restart reissues none) */
	/* forwarding records at once; 0: nblocks, at most the default */
	uint32_t max_forwarding;
	loans_release_fn release; /* required */
	/* optional: told of every change (a store that keeps its loans) */
	loans_journal_fn journal;
	void *ctx; /* for release and journal */
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
 * Lends block idx to owner again under the epoch it had (a store that kept
 * its loans across a restart), handed or not, with a lease that starts at
 * now; not told to the journal (it came from there). -EINVAL for an index out
 * of range, a block already lent, owner or epoch 0; -ENOSPC when the owner
 * table is full (the caller gives the block back).
 */
int loans_restore(struct loans *l, uint32_t owner, uint32_t idx, uint32_t epoch,
		  bool handed, uint64_t now);

/*
 * Holds block r for owner until loans_unpin(): 0, -ESTALE (not lent to
 * owner under that epoch: freed, re-lent, expired), -EREMCHG (it moved
 * on: *moved, when not NULL, tells where), -EBUSY (it is being moved
 * right now: ask again shortly), -ENOENT (no such index). Renews owner's
 * lease.
 */
int loans_pin(struct loans *l, uint32_t owner, struct proto_block_ref r,
	      uint64_t now, struct peer_loan *moved);
/*
 * All of refs[0..n) or none: on failure returns the error of the first
 * block refused and stores its position in *bad (and *moved as above).
 */
int loans_pin_many(struct loans *l, uint32_t owner,
		   const struct proto_block_ref *refs, uint32_t n, uint64_t now,
		   uint32_t *bad, struct peer_loan *moved);
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
 * ones end at their last unpin). A ref that moved on keeps its forwarding
 * record, due for a notice that the owner freed it (loans_fwd_due()).
 */
uint32_t loans_free(struct loans *l, uint32_t owner,
		    const struct proto_block_ref *refs, uint32_t n,
		    uint64_t now);
/*
 * The owner left (GOODBYE): ends all its loans and drops its forwarding
 * records; returns how many loans ended.
 */
uint32_t loans_free_owner(struct loans *l, uint32_t owner);

/* Any traffic from owner: renews its lease. */
void loans_touch(struct loans *l, uint32_t owner, uint64_t now);

struct loans_expired {
	uint32_t owner;
	uint32_t blocks;    /* loans ended */
	uint64_t silent_ns; /* since it was last heard */
};
/*
 * Ends every loan (and forwarding record) of owners silent for longer than
 * the lease, and forgets owners without loans that were silent as long. Reports
 * up to max owners in out[]; returns how many owners expired (call again if >
 * max).
 */
size_t loans_expire(struct loans *l, uint64_t now, struct loans_expired *out,
		    size_t max);

/*
 * Reconciliation with owner: begin, then mark every loan the owner still
 * claims (any number of calls), then end, which frees the owner's loans
 * that were not marked (loans made after begin, and loans handed over to
 * it that it never used or claimed yet, count as marked). mark writes the
 * refs the owner claims but does not hold here to missing[] (room for n)
 * and returns how many; a loan that moved on is not missing (the owner
 * learns where on its next access). end returns how many it freed; it
 * does nothing unless a begin came first.
 */
void loans_reconcile_begin(struct loans *l, uint32_t owner, uint64_t now);
uint32_t loans_reconcile_mark(struct loans *l, uint32_t owner,
			      const struct proto_block_ref *refs, uint32_t n,
			      struct proto_block_ref *missing, uint64_t now);
uint32_t loans_reconcile_end(struct loans *l, uint32_t owner);

/* ---- moving loans on ---- */

/*
 * Starts moving lent block idx: from now on accesses get -EBUSY; waits up
 * to timeout_ms for those in flight. 0 with the loan's owner and epoch;
 * -ESTALE when idx is not lent (or already moving), -EBUSY when accesses
 * still held it at the deadline (it stays lent), -ENOSPC when the
 * forwarding table is full.
 */
int loans_move_begin(struct loans *l, uint32_t idx, int timeout_ms,
		     uint32_t *owner, uint32_t *epoch);
/* False when the loan of a move under way ended meanwhile. */
bool loans_move_wanted(struct loans *l, uint32_t idx);
/*
 * Ends the move of idx. to NULL: it failed, the loan stays (or, ended
 * meanwhile, ends now: the block goes back to the store). Otherwise the
 * loan becomes a forwarding record to `to` and the block belongs to the
 * caller (it is not given back to the store). Returns 0, or -ESTALE when
 * the owner left meanwhile (no record; the block is the caller's all the
 * same).
 */
int loans_move_end(struct loans *l, uint32_t idx, const struct peer_loan *to);

/*
 * On the node a loan moved to: loan r of owner `from` (the mover) becomes
 * a loan of owner `to` under a new epoch (*epoch), kept by reconciliations
 * until `to` used or claimed it, with a fresh lease for `to`. -ESTALE (not
 * from's), -EBUSY (pinned), -ENOSPC (owner table full), -EINVAL.
 */
int loans_handover(struct loans *l, uint32_t from, struct proto_block_ref r,
		   uint32_t to, uint64_t now, uint32_t *epoch);

/* ---- forwarding records ---- */

enum loans_fwd_flags {
	/* the owner freed the old loan: the new place is its to free too */
	LOANS_FWD_FREED = 1 << 0,
	LOANS_FWD_SENDING = 1 << 1, /* a notice is on its way */
};

/* A notice for an owner: its loan (block, epoch) here went to `to`. */
struct loans_notice {
	uint32_t owner;
	uint32_t block;
	uint32_t epoch;
	struct peer_loan to;
	bool freed; /* LOANS_FWD_FREED */
};

/* Records held (the RRL list), and those of owner. */
uint32_t loans_forwarding(struct loans *l);
uint32_t loans_forwarding_to(struct loans *l, uint32_t owner);
/* Where owner's loan r went: true and *to when it moved on. */
bool loans_forwarded(struct loans *l, uint32_t owner, struct proto_block_ref r,
		     struct peer_loan *to);
/*
 * Up to max notices due now (each marked as being sent); returns how many.
 * The caller sends them and reports each with loans_fwd_noticed().
 */
size_t loans_fwd_due(struct loans *l, uint64_t now, struct loans_notice *out,
		     size_t max);
/*
 * The owner answered notice n: 0 (it knows the new place now, or freed
 * it): the record is dropped; else it is due again at retry_at.
 */
void loans_fwd_noticed(struct loans *l, const struct loans_notice *n,
		       int result, uint64_t retry_at);
/* Makes every record due for a notice now (a node about to leave). */
void loans_fwd_due_all(struct loans *l);

/* Blocks lent in all (pinned FREEING ones included), and to owner. */
uint32_t loans_lent(struct loans *l);
/* Bytes of the table: loans, owners, forwarding records. */
uint64_t loans_meta_bytes(struct loans *l);
uint32_t loans_lent_to(struct loans *l, uint32_t owner);
/* Who holds block idx: true and owner/epoch when it is lent. */
bool loans_holder(struct loans *l, uint32_t idx, uint32_t *owner,
		  uint32_t *epoch);

#endif
