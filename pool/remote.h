/* SPDX-License-Identifier: MIT */
/*
 * The owner-side client of the block data path: how a node borrows blocks
 * from other nodes and memservers (its LRL blocks), and reads and writes
 * byte ranges of them. It speaks the messages of proto_block.h
 * to the peer service (include/cmp/peer.h) of each provider.
 *
 * Nodes and their states: a provider is UP (usable), SUSPECT (a transport
 * error: timeout, reset, refused connect, broken frame; since when and why
 * are kept) or GONE (it left: remote_node_dead()). A call for a SUSPECT or
 * GONE node fails with -EIO at once, never waiting on a timeout. Nothing is
 * freed or forgotten because a node is suspect: its blocks come back when
 * it does.
 *
 * Connections: a keeper thread owns connecting. It keeps a bounded set of
 * authenticated connections to every node we may borrow from
 * (remote_set_candidate) or that holds our loans, opens more when callers
 * wait, and reconnects SUSPECT nodes with backoff (100 ms doubling to 2 s).
 * On reconnect it compares the provider's incarnation: a restarted
 * provider lost every loan we had there (owner op restarted()); otherwise
 * it reconciles (RECONCILE with the loans the owner ops list: the provider
 * frees what we no longer claim, lost() gets what it no longer holds),
 * and only then sets the node UP. It PINGs every provider holding our
 * loans at least every lease/4 (at most 30 s) when there was no other
 * traffic, so the provider's lease on us never runs out while we live.
 * The calling thread never connects: it checks out a connection, an idle
 * one first, else one it shares with other callers (the keeper then opens
 * one more), or waits (bounded by the request deadline) for one the keeper
 * opens. Requests are pipelined: many in flight per connection, each with
 * its id and deadline, replies matched by id and received straight into
 * the caller's buffer by whichever caller is reading the connection at
 * the time (remote-flight.c); a caller alone on a connection reads its
 * own reply. A READ or WRITE longer than 256 KiB goes as pieces in flight
 * at once over several connections. A broken connection fails every
 * request in flight on it at once.
 *
 * One-sided access (RDMA): one connection per provider is our RMA
 * connection; ALLOCs there ask for a memory window per loan, and reads and
 * writes of loans that have one go straight into the provider's block
 * with conn_rma_read/write (no request, no provider CPU) instead of
 * READ/WRITE messages. Everything else, and an access whose window was
 * refused (the loan ended: that connection is closed, and the provider's
 * answer to the message is -ESTALE), uses messages. A timeout of a
 * one-sided access makes the node suspect, as any other timeout.
 *
 * Errors: 0 or -errno. -EIO: the provider is unreachable, suspect, gone,
 * timed out or broke the protocol. Every call is bounded by the timeout
 * (default 5000 ms, remote_set_timeout()), never a hang. Provider answers:
 * -ENOSPC (no free block), -ESTALE (that loan is not ours any more: freed,
 * re-lent, or our lease there expired), -ENOENT (no such block), -EACCES,
 * -EINVAL, -EBADMSG (our data arrived corrupted), and -EREMCHG when the
 * block moved on: *moved (if not NULL) then tells where to retry.
 * -EHOSTUNREACH for a node never added.
 *
 * Owner id: the provider knows us by the node id our handshake
 * authenticated (self_node), never by a field of a request.
 *
 * A lost ALLOC reply (timeout) leaves loans we do not know of on the
 * provider: our next reconciliation with it, or its lease on us, ends
 * them.
 *
 * Threads: every function is thread-safe. Memory: callers own all buffers;
 * nothing is kept after a call returns. A read's destination is the
 * caller's alone until the call returns (sealed replies are opened in
 * place there): after an error its content is undefined.
 */
#ifndef CMP_REMOTE_H
#define CMP_REMOTE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "proto_block.h"

struct auth_keyring;
struct remote;

/* Counters since remote_create(); bytes include the 32-byte headers. */
struct remote_stats {
	uint64_t requests;
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t errors; /* calls that returned -EIO */
	uint64_t connects;
	uint64_t suspects;   /* times a node became suspect */
	uint64_t reconciles; /* reconciliations completed */
	uint64_t lost;	     /* loans reconciliation found missing */
};

#define REMOTE_DEFAULT_TIMEOUT_MS 5000

/*
 * What the keeper needs to know of the owner's loans (the pool's LRL), and
 * what it tells. Called from the keeper thread (health() also from the
 * thread whose request failed), with no remote lock held.
 */
struct remote_owner_ops {
	/*
	 * Up to max loans we hold on node, scanning on from *cursor (0 at
	 * first): refs[], and tags[] to hand back to lost(). Returns how
	 * many; sets *cursor to UINT32_MAX once the scan is complete (it may
	 * return 0 before that). Loans made during a scan need not be listed.
	 */
	uint32_t (*loans)(void *ctx, uint32_t node, uint32_t *cursor,
			  struct proto_block_ref *refs, uint32_t *tags,
			  uint32_t max);
	/* The provider does not hold these (any more): they are lost. */
	void (*lost)(void *ctx, uint32_t node,
		     const struct proto_block_ref *refs, const uint32_t *tags,
		     uint32_t n);
	/* node restarted (new incarnation): every loan there is lost. */
	void (*restarted)(void *ctx, uint32_t node);
	/* node became usable (up) or not (suspect, gone). */
	void (*health)(void *ctx, uint32_t node, bool up);
};

/*
 * keyring NULL: insecure mode (else borrowed: it must outlive r). self_node
 * is the owner id this node gives in the handshake; block_size the cluster
 * block size. Starts the keeper thread. Returns NULL with errno set
 * (EINVAL, ENOMEM, EAGAIN).
 */
struct remote *remote_create(struct auth_keyring *keyring, uint32_t self_node,
			     uint32_t block_size);
/* Deadline of each later call's wait, send and reply, in ms (> 0). */
void remote_set_timeout(struct remote *r, int timeout_ms);
/* Installs the owner ops (ops and ctx must outlive r). Once, early. */
void remote_set_owner(struct remote *r, const struct remote_owner_ops *ops,
		      void *ctx);
/*
 * Learns or updates a provider's address (from the manager). An address
 * change drops the cached connections; a GONE node becomes usable again
 * (its old loans stay lost), a SUSPECT one is retried now.
 */
int remote_add_node(struct remote *r, uint32_t node, const char *addr);
/* We may borrow from node: the keeper keeps connections open to it. */
void remote_set_candidate(struct remote *r, uint32_t node, bool candidate);
/*
 * The node left for good: closes its connections, including those in use
 * (their calls fail with -EIO at once), and fails later calls with -EIO
 * until remote_add_node() names it again. Our loans there are the
 * caller's to mark lost.
 */
void remote_node_dead(struct remote *r, uint32_t node);
/* UP now (false for suspect, gone or unknown nodes). */
bool remote_node_usable(struct remote *r, uint32_t node);
/* node's address into addr (PROTO_BLOCK_ADDR_LEN bytes): 0 or -ENOENT. */
int remote_node_addr(struct remote *r, uint32_t node, char *addr);
/*
 * node holds loans of ours (one moved there): kept connected, pinged,
 * reconciled and told goodbye like a node we borrowed from.
 */
void remote_note_lender(struct remote *r, uint32_t node);
/* Nodes that lent to us and did not leave, up to max; returns how many. */
size_t remote_lenders(struct remote *r, uint32_t *ids, size_t max);
/* Something we gave back may not have arrived: reconcile with node. */
void remote_want_reconcile(struct remote *r, uint32_t node);
/*
 * Someone else (the manager) finds node unreachable: the keeper PINGs it
 * now, when it holds our loans, so that we find out ourselves (a failed
 * PING makes it suspect) instead of at the next request to it.
 */
void remote_probe(struct remote *r, uint32_t node);

/*
 * Borrowing, in three steps so that a reconciliation never misses a loan:
 * remote_borrow_begin() (waits while a reconciliation with node runs;
 * -EIO when node is not usable), remote_alloc(), and once the loans are
 * recorded where loans() lists them (or given up), remote_borrow_end().
 * An ALLOC that brought several loans to record one by one:
 * remote_borrow_more() (never waits: a begin is held) for the extra ones,
 * and one remote_borrow_end() per loan.
 */
int remote_borrow_begin(struct remote *r, uint32_t node);
void remote_borrow_more(struct remote *r, uint32_t node, uint32_t extra);
void remote_borrow_end(struct remote *r, uint32_t node);

/*
 * Borrows up to n blocks (at most PROTO_BLOCK_MAX_IDX per call) from node:
 * 0 and *got >= 1 loans in refs (cleared blocks), or -ENOSPC when it has
 * none free.
 */
int remote_alloc(struct remote *r, uint32_t node, uint32_t n,
		 struct proto_block_ref *refs, uint32_t *got);
/* Ends n loans (any n; sent in chunks). A retry is harmless. */
int remote_free(struct remote *r, uint32_t node,
		const struct proto_block_ref *refs, uint32_t n);
/*
 * One step of a reconciliation (flags PROTO_BLOCK_RECONCILE_FIRST/LAST):
 * n (<= PROTO_BLOCK_MAX_IDX) loans we still claim there; missing[] (room
 * for n) gets those the provider does not hold. LAST makes it end the
 * loans we did not claim in any step since FIRST.
 */
int remote_reconcile(struct remote *r, uint32_t node, uint32_t flags,
		     const struct proto_block_ref *refs, uint32_t n,
		     struct proto_block_ref *missing, uint32_t *nmissing);
/*
 * We moved owner's block here (principle 3): our loan ref on node becomes
 * owner's, *epoch its new epoch. Not idempotent (a lost reply leaves the
 * loan with the owner, or with us until a reconciliation or lease).
 */
int remote_handover(struct remote *r, uint32_t node, struct proto_block_ref ref,
		    uint32_t owner, uint32_t *epoch);
/*
 * Tells owner node where its block went (MOVE_NOTICE): 0 when it uses the
 * new place now (or gave it back), -ENOENT when none of its blocks names
 * the old loan (yet), -EOPNOTSUPP when node owns no data (a memserver).
 */
int remote_notice(struct remote *r, uint32_t node,
		  const struct proto_block_moved *mv);
/* We leave: the provider ends all our loans (*freed: how many). */
int remote_goodbye(struct remote *r, uint32_t node, uint32_t *freed);
/*
 * GOODBYE to every node that ever lent to us; failures are logged (the
 * lease frees those loans later). Returns how many nodes acknowledged.
 */
unsigned int remote_goodbye_all(struct remote *r);
/* Renews the provider's lease on us (the keeper does it when idle). */
int remote_ping(struct remote *r, uint32_t node);

/* One byte range [off, off + len) of loan ref on node; inside one block. */
int remote_read(struct remote *r, uint32_t node, struct proto_block_ref ref,
		uint32_t off, void *dst, uint32_t len,
		struct proto_block_moved *moved);
int remote_write(struct remote *r, uint32_t node, struct proto_block_ref ref,
		 uint32_t off, const void *src, uint32_t len,
		 struct proto_block_moved *moved);
/*
 * The same bytes to n loans on distinct nodes (copies of a block), each
 * as remote_write() (rets[i], moved[i]), the n requests out at once: each
 * sent on an idle connection of its node (one-sided where it has a
 * window), then their replies received; one that finds no idle
 * connection, or whose connection breaks, goes alone afterwards. Up to
 * REMOTE_MAX_MANY go out together.
 */
#define REMOTE_MAX_MANY 5u /* POOL_MAX_SLOTS */
void remote_write_many(struct remote *r, const uint32_t *nodes,
		       const struct proto_block_ref *refs, uint32_t n,
		       uint32_t off, const void *src, uint32_t len, int *rets,
		       struct proto_block_moved *moved);

/*
 * The same byte range [off, off + len) of n loans refs[] on node, from or
 * into bufs[i] each, in flight together (pieces of several blocks at once
 * over the node's connections, one-sided where a loan has a window): how
 * an evictor or a prefetch moves several whole blocks. rets[i] gets each
 * one's result, as remote_read()/remote_write() would return it (-EREMCHG
 * without saying where: ask again alone). Returns the first of them.
 */
int remote_rw_blocks(struct remote *r, uint32_t node, bool write,
		     const struct proto_block_ref *refs, uint32_t n,
		     uint32_t off, void *const *bufs, uint32_t len, int *rets);

/*
 * Many byte ranges of node's blocks in one burst: n (1..PROTO_BLOCK_MAX_BATCH)
 * extents, and the data as one iovec array (iovcnt <= PROTO_BLOCK_MAX_BATCH)
 * whose total equals the sum of the extent lengths, in extent order.
 */
int remote_read_batch(struct remote *r, uint32_t node,
		      const struct proto_block_extent *ext, uint32_t n,
		      const struct iovec *iov, int iovcnt,
		      struct proto_block_moved *moved);
int remote_write_batch(struct remote *r, uint32_t node,
		       const struct proto_block_extent *ext, uint32_t n,
		       const struct iovec *iov, int iovcnt,
		       struct proto_block_moved *moved);

/* The provider's counts (and region on this connection). */
int remote_status(struct remote *r, uint32_t node,
		  struct proto_block_status *out);

void remote_stats(struct remote *r, struct remote_stats *out);
/*
 * Bytes of r's table of providers and its records of their connections
 * (not the connector's state of each), and how many are open in *conns.
 */
uint64_t remote_meta_bytes(struct remote *r, uint32_t *conns);
/*
 * Stepped mode (include/cmp/util.h): remote_create() starts no keeper;
 * this runs what the keeper would do now (connects, reconciliations,
 * pings that are due), when it was woken or something fell due since.
 */
void remote_keeper_step(struct remote *r);

/* Closes every connection and frees r. No call may be running. NULL ok. */
void remote_destroy(struct remote *r);

#endif
