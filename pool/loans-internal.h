/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the loan table (loans.h), shared by loans.c (loans,
 * owners, leases, reconciliation) and loans-move.c (moving loans on,
 * handing them over, and the forwarding records a move leaves behind).
 * One mutex, lock, guards everything in struct loans; the functions here
 * need it held unless they say otherwise.
 */
#ifndef CMP_POOL_LOANS_INTERNAL_H
#define CMP_POOL_LOANS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "loans.h"

enum loan_state {
	LOAN_FREE,    /* not lent: the store's */
	LOAN_LENT,    /* lent to owner under epoch */
	LOAN_FREEING, /* ended while pinned: the last unpin releases it */
	/*
	 * Lent, and being moved to another node: no new access is let in
	 * (-EBUSY), the mover copies it once the accesses in flight are
	 * done, and loans_move_end() turns it into a forwarding record.
	 */
	LOAN_MOVING,
};

enum loan_flags {
	/*
	 * Handed over to this owner by another node that moved it here: kept
	 * by a reconciliation that does not list it until the owner used or
	 * claimed it once (it may not have heard of the move yet).
	 */
	LOAN_F_HANDED = 1 << 0,
	/* MOVING, and the loan ended meanwhile (freed, goodbye, expiry) */
	LOAN_F_ENDED = 1 << 1,
	/* ... by the owner's FREE (not by its leaving) */
	LOAN_F_FREED = 1 << 2,
};

struct loan {
	uint32_t owner;
	uint32_t epoch;
	uint32_t seen; /* owner's reconciliation generation that saw it */
	uint16_t pins;
	uint8_t state; /* enum loan_state */
	uint8_t flags; /* enum loan_flags */
};

struct loan_owner {
	uint32_t node; /* 0: empty slot */
	uint32_t nloans;
	uint32_t nfwd; /* forwarding records of its loans */
	uint32_t gen;
	bool reconciling;
	uint64_t last_heard;
};

/* A loan that moved on: (owner, block, epoch) here is now `to`. */
struct fwd_rec {
	uint32_t owner; /* 0: empty slot */
	uint32_t block;
	uint32_t epoch;
	struct peer_loan to;
	uint8_t flags;	    /* enum loans_fwd_flags */
	uint64_t notice_at; /* the next notice to the owner is due (ns) */
};

struct loans {
	pthread_mutex_t lock;	 /* protects everything below */
	pthread_cond_t unpinned; /* a MOVING loan's last pin went */
	struct loan *loan;	 /* [nblocks] */
	uint32_t nblocks;
	uint32_t nlent;
	uint32_t next_epoch;
	struct loan_owner *owners; /* [owner_slots], power of two */
	uint32_t owner_slots;
	uint32_t nowners, max_owners;
	uint64_t lease_ns;
	loans_release_fn release;
	loans_journal_fn journal; /* NULL: none */
	void *ctx;
	/* forwarding records (loans-move.c), open addressing */
	struct fwd_rec *fwd; /* [fwd_slots], power of two */
	uint32_t fwd_slots;
	uint32_t nfwd, fwd_max;
	uint32_t fwd_reserved; /* moves under way: a record each at the end */
};

/* Blocks collected under the lock, released after it is dropped. */
struct release_batch {
	uint32_t idx[LOANS_RELEASE_CHUNK];
	uint32_t n;
};

/* loans.c */
struct loan_owner *loans_find_owner_locked(struct loans *l, uint32_t node);
/* Finds or adds owner node; NULL when the table is full (or node 0). */
struct loan_owner *loans_add_owner_locked(struct loans *l, uint32_t node,
					  uint64_t now);
void loans_touch_locked(struct loans *l, uint32_t owner, uint64_t now);
/* Gives b's blocks back to the store (lock NOT held). */
void loans_flush(struct loans *l, struct release_batch *b);
/* Lent to owner under r's epoch, moving or not, and not ended. */
bool loans_holds(const struct loans *l, uint32_t owner,
		 struct proto_block_ref r);
/* The same, and not moving. */
bool loans_matches(const struct loans *l, uint32_t owner,
		   struct proto_block_ref r);
uint32_t loans_next_epoch_locked(struct loans *l);
/* Tells the journal, if any, who holds block idx now (loans_journal_fn). */
void loans_journal_locked(struct loans *l, uint32_t idx);

/* loans-move.c: the forwarding table, 0 or -ENOMEM. */
int loans_fwd_init(struct loans *l, uint32_t max);
void loans_fwd_finish(struct loans *l);
/* The record of owner's (block, epoch), or NULL. */
struct fwd_rec *loans_fwd_find_locked(struct loans *l, uint32_t owner,
				      uint32_t block, uint32_t epoch);
/* Adds one (a slot was reserved by the move); returns it. */
struct fwd_rec *loans_fwd_add_locked(struct loans *l, uint32_t owner,
				     uint32_t block, uint32_t epoch,
				     const struct peer_loan *to);
void loans_fwd_remove_locked(struct loans *l, struct fwd_rec *r);
/* Drops every record of owner (it left or expired); returns how many. */
uint32_t loans_fwd_drop_owner_locked(struct loans *l, uint32_t owner);

#endif
