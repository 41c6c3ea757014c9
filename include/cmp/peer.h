/* SPDX-License-Identifier: MIT */
/*
 * The peer service (the block server): serves the blocks this process
 * lends to other nodes (the RLL side of a cmpfs node, and the whole of what
 * cmp-memserver does). It listens on a connector address, authenticates
 * every connection with the cluster keyring (every frame then sealed), and
 * answers ALLOC, FREE, READ, WRITE, READ_BATCH, WRITE_BATCH, RECONCILE,
 * GOODBYE, FENCE, STATUS and PING (payloads in pool/proto_block.h) on the
 * connection's own thread, straight from and into the store's memory: a
 * READ reply is one writev of the frame header and a pointer into the
 * block.
 *
 * It is the only authority on its loans (pool/loans.h). The owner of a
 * request is the node id the connection's handshake authenticated, never a
 * field of the request; every request names (block, epoch), and the block
 * is held (pinned) for exactly the time the request touches it, so a
 * FREE, GOODBYE or lease expiry racing it waits for it. A (block, epoch)
 * not lent to that owner is refused with WIRE_S_STALE (WIRE_S_MOVED when
 * the store says it moved on) and touches nothing. A loan ends only when
 * its owner frees it, says GOODBYE, or stays silent for longer than the
 * lease (any frame from it renews the lease; the owner PINGs when idle).
 * Blocks are cleared before they are lent.
 *
 * One-sided access (RDMA): an owner may ask, in ALLOC, for a memory window
 * per loan on that connection; it then reads and writes the block with
 * RDMA READ/WRITE, no CPU of ours involved and no sealing (RDMA links are
 * a trusted fabric). The window reaches that block only, from that
 * connection only, and is revoked before the block can be lent again
 * however the loan ends (FREE, GOODBYE, lease, reconciliation, shutdown)
 * or leaves (moved on to another node, handed over to another owner).
 *
 * Refusals are logged (rate-limited) with the peer address and keep the
 * connection; garbage (bad frames, failed verification, invalid payloads)
 * gets an error reply where one makes sense and closes that connection
 * only.
 *
 * Threads: the store ops are called from many connection threads at once
 * and from the lease thread, and must do their own locking. peer_destroy()
 * joins every thread; no store op runs after it returns. Memory: the ops
 * table, its context and the store's memory are the caller's and must
 * outlive the peer; the keyring is borrowed.
 */
#ifndef CMP_PEER_H
#define CMP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_keyring;
struct peer;
struct proto_block_drain_rep;
struct server_limits;

/* Cluster block size bounds: a power of two in between. */
#define PROTO_BLOCK_MIN_SIZE (4u << 10)
#define PROTO_BLOCK_MAX_SIZE (4u << 20)
/* Room for a node address in MOVED ("tcp://[v6]:port", NUL-terminated). */
#define PROTO_BLOCK_ADDR_LEN 64

/* A power of two within [PROTO_BLOCK_MIN_SIZE, PROTO_BLOCK_MAX_SIZE]. */
bool proto_block_size_valid(uint64_t block_size);

/*
 * Payload of a reply with status MOVED, and of a MOVE_NOTICE: the loan
 * (from, from_epoch) now lives elsewhere, as loan (block, epoch) of node,
 * which serves at addr ("" when the sender does not know it).
 */
struct proto_block_moved {
	uint32_t from;
	uint32_t from_epoch;
	uint32_t node;
	uint32_t block;
	uint32_t epoch;
	uint32_t flags;			 /* enum proto_block_moved_flags */
	char addr[PROTO_BLOCK_ADDR_LEN]; /* NUL-terminated */
};

enum proto_block_moved_flags {
	/*
	 * MOVE_NOTICE only: the owner freed the old loan, so unless one of
	 * its blocks lives at the new place, that loan is its to free.
	 */
	PROTO_BLOCK_MOVED_FREED = 1 << 0,
	PROTO_BLOCK_MOVED_MASK = 1,
};

/* A loan somewhere: (block, epoch) of node (where a block moved to). */
struct peer_loan {
	uint32_t node;
	uint32_t block;
	uint32_t epoch;
};

/*
 * A loan as a store that keeps its loans across restarts writes it down
 * (cmp-memserver --store): block lent to owner under epoch; owner 0: the
 * block is not lent.
 */
struct peer_kept_loan {
	uint32_t owner;
	uint32_t block;
	uint32_t epoch;
	uint32_t flags; /* enum peer_kept_flags */
};

enum peer_kept_flags {
	/*
	 * Handed over by a node that moved it here, and not yet used or
	 * claimed by its owner: a reconciliation that does not list it keeps
	 * it (the owner may not have heard of the move yet).
	 */
	PEER_KEPT_HANDED = 1 << 0,
	PEER_KEPT_MASK = 1,
};

struct peer_store_ops {
	/*
	 * Takes up to n (>= 1) free blocks for owner, cleared (they read as
	 * zeros), writes their indexes to idx and returns how many (>= 1), or
	 * -ENOSPC when none is free.
	 */
	int (*alloc)(void *ctx, uint32_t owner, uint32_t n, uint32_t *idx);
	/* Takes back blocks whose loans ended (nobody holds them any more). */
	void (*free)(void *ctx, const uint32_t *idx, uint32_t n);
	/* Memory of block idx (block_size bytes); idx < total. */
	void *(*ptr)(void *ctx, uint32_t idx);
	/* Capacity and free blocks, for STATUS. total never changes. */
	void (*counts)(void *ctx, uint32_t *total, uint32_t *free);
	/*
	 * Optional: where node serves (for MOVED answers naming it): copies
	 * its address into addr (PROTO_BLOCK_ADDR_LEN bytes with the NUL)
	 * and returns 0, or -ENOENT.
	 */
	int (*node_addr)(void *ctx, uint32_t node, char *addr);
	/*
	 * Optional, for nodes that own data (DESIGN principle 5): provider
	 * from_node says our loan (mv->from, mv->from_epoch) there moved to
	 * mv->node. 0 when we use the new place now (or, with
	 * PROTO_BLOCK_MOVED_FREED, no longer need it and give it back),
	 * -ENOENT when none of our blocks names the old loan (yet).
	 */
	int (*notice)(void *ctx, uint32_t from_node,
		      const struct proto_block_moved *mv);
	/*
	 * Optional: notices to owners are due (peer_notices_due()); called
	 * from a connection thread, so it only wakes whoever sends them.
	 */
	void (*notices_due)(void *ctx);
	/*
	 * Optional (cmpctl drain): on, move every block held for others
	 * elsewhere in the background and lend nothing more; off, lend
	 * again. Returns 0 with how far it is in *rep, or -errno.
	 */
	int (*drain)(void *ctx, bool on, struct proto_block_drain_rep *rep);
	/*
	 * Optional: the one contiguous mapping behind ptr() (ptr(i) == base +
	 * i * block_size), or NULL, for one-sided access: on an rdma://
	 * listener it is registered once (conn_rma_register()) and reached
	 * only per loan, through a memory window bound to the connection
	 * whose ALLOC asked for it (conn_rma_grant()) and revoked before the
	 * block can be lent again; never exposed whole. Without it, blocks
	 * travel as READ/WRITE messages.
	 */
	void *(*region)(void *ctx, size_t *len);
	/*
	 * Optional, for a store that keeps its loans across restarts (both
	 * or neither): journal is told every change of who holds a block,
	 * before the request that made it is answered (ALLOC, HANDOVER, a
	 * handed loan used or claimed; FREE, GOODBYE, lease expiry,
	 * reconciliation, a move on: owner 0). It is called with the loan
	 * table's lock held, so calls never overlap; it must not block or
	 * call the peer. kept hands over the loans the store kept from its
	 * last run: peer_create() asks for them, up to max at a time from
	 * *pos on (it advances *pos; 0 returned: no more), and lends them
	 * again under the same owner and epoch, with leases that start then,
	 * before it serves; a loan it cannot take (a bad index, the owner
	 * table full) is logged, journaled as not lent and given back with
	 * free.
	 */
	void (*journal)(void *ctx, const struct peer_kept_loan *ln);
	uint32_t (*kept)(void *ctx, uint32_t *pos, struct peer_kept_loan *out,
			 uint32_t max);
};

struct peer_config {
	const char *listen_addr; /* "tcp://0.0.0.0:7100", "mem://peer-3" */
	/* NULL: insecure; borrowed, must outlive the peer */
	struct auth_keyring *keyring;
	uint32_t node_id;    /* this provider's id, nonzero */
	uint32_t block_size; /* proto_block_size_valid() */
	const struct peer_store_ops *ops;
	void *ctx; /* passed to every op */
	/* connection limits (include/cmp/server.h); NULL: the defaults */
	const struct server_limits *limits;
	/* silence after which an owner's loans end; 0: PEER_DEFAULT_LEASE_MS */
	uint32_t lease_ms;
	/*
	 * the most blocks the store may grow to (the loan table's size);
	 * 0 or fewer: the store's total at start
	 */
	uint32_t max_blocks;
	/*
	 * what the handshake tells owners (they take a new one for a
	 * restart that lost their loans); 0: cmp_incarnation(). A store that
	 * kept its loans gives the one it had.
	 */
	uint64_t incarnation;
};

#define PEER_DEFAULT_LEASE_MS 300000u
/* The lease option of the daemons that lend (cmpfs, cmp-memserver). */
#define PEER_LEASE_OPT_DEFAULT "300s"
/* at least 4 keepalive periods, each longer than a reconnect (2 s) */
#define PEER_LEASE_OPT_MIN_MS 10000u
#define PEER_LEASE_OPT_HELP                                                    \
	"how long an owner may stay silent (crashed, cut off, paused) before " \
	"the blocks it borrowed here are freed; any request or keepalive "     \
	"from it renews the lease, a clean goodbye frees them at once"

/*
 * Starts serving. Returns the peer, or NULL with errno set (EINVAL for a
 * bad config, or the listener's error, logged once).
 */
struct peer *peer_create(const struct peer_config *cfg);
/* The bound address (port 0 resolved); owned by p. */
const char *peer_listen_addr(const struct peer *p);
/* Blocks lent in all, and to owner (for stats and tests). Any thread. */
uint32_t peer_lent(struct peer *p);
uint32_t peer_lent_to(struct peer *p, uint32_t owner);
/* Memory windows bound now: loans an owner can reach one-sided. */
uint32_t peer_windows(struct peer *p);
/*
 * Reads refused because a block's bytes no longer matched their checksum
 * (a checksum per 4 KiB page of every block held: such a read is answered
 * WIRE_S_CORRUPT, and the owner reads another copy). Any thread.
 */
uint64_t peer_checksum_errors(struct peer *p);
/*
 * Test hook (the daemons offer it only when started with
 * CMP_TEST_HOOKS=1 in their environment): flips one byte in each of up to
 * max blocks lent now, leaving their checksums as they were, so that
 * their next read is refused as corrupt. Returns how many. Any thread.
 */
uint32_t peer_test_corrupt(struct peer *p, uint32_t max);
/*
 * Bytes of p's bookkeeping of its blocks (the loan table, its owners and
 * forwarding records), for the simulator's metadata per block. Any thread.
 */
uint64_t peer_meta_bytes(struct peer *p);
/*
 * Ends every loan of owners silent for longer than the lease now (the lease
 * thread does this once a second; tests call it to be deterministic; in
 * stepped mode, include/cmp/util.h, there is no lease thread and the
 * owner of p calls it). Returns how many owners lost their loans.
 */
size_t peer_expire_leases(struct peer *p);
/* Stops serving, joins all threads, frees p. NULL is ok. */
void peer_destroy(struct peer *p);

/*
 * Moving lent blocks on (DESIGN principles 3 and 5), for a node that needs
 * its memory back: peer_move_begin() takes lent block idx (accesses in
 * flight finish first, new ones are answered BUSY; up to timeout_ms) and
 * tells whose loan it is; the caller copies it to a block it borrowed
 * elsewhere and hands that loan to the owner there (HANDOVER), checks
 * peer_move_wanted() just before the handover (false: the owner let go of
 * it meanwhile), and ends with peer_move_end(): to NULL when the move
 * failed (the loan stays), else the loan becomes a forwarding record (the
 * RRL list) and block idx is the caller's, not given back through the
 * store's free op. peer_move_begin() revokes the loan's memory window
 * before it returns, so no one-sided write lands after the copy starts
 * and none reaches the block once it is the caller's (the owner asks
 * again with messages: BUSY, then MOVED). Errors as
 * loans_move_begin()/loans_move_end() (pool/loans.h): -ESTALE not lent,
 * -EBUSY still in use, -ENOSPC no room for one more record; -EIO when the
 * window could not be revoked (the loan stays). Any thread.
 */
int peer_move_begin(struct peer *p, uint32_t idx, int timeout_ms,
		    uint32_t *owner, uint32_t *epoch);
bool peer_move_wanted(struct peer *p, uint32_t idx);
int peer_move_end(struct peer *p, uint32_t idx, const struct peer_loan *to);
/* Forwarding records held (RRL), and those of owner. */
uint32_t peer_forwarding(struct peer *p);
uint32_t peer_forwarding_to(struct peer *p, uint32_t owner);

/*
 * Notices to owners whose blocks moved on, for the thread that sends them
 * (MOVE_NOTICE): up to max due now (addresses filled from the store's
 * node_addr op); each reported back with peer_notice_done(): result 0 (the
 * owner answered OK: its record is dropped) or -errno (tried again later).
 * peer_notices_all_due() makes every record due now (before leaving).
 */
struct peer_notice {
	uint32_t owner;
	struct proto_block_moved mv;
};
size_t peer_notices_due(struct peer *p, struct peer_notice *out, size_t max);
void peer_notice_done(struct peer *p, const struct peer_notice *n, int result);
void peer_notices_all_due(struct peer *p);

struct server_stats;
/* The block server's counters (include/cmp/server.h). Any thread. */
void peer_get_server_stats(struct peer *p, struct server_stats *out);

#endif
