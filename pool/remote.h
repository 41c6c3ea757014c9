/* SPDX-License-Identifier: MIT */
/*
 * The owner-side client of the block data path: how a node borrows blocks
 * from other nodes and memservers (its LRL blocks), and reads and writes
 * byte ranges of them. It speaks the messages of proto_block.h
 * to the peer service (include/cmp/peer.h) of each provider.
 *
 * Connections: a small cache of authenticated connections per provider
 * node. Each call checks one out, does its own network I/O synchronously on
 * the calling thread, and checks it back in, so a FUSE thread never hands
 * off to another thread. On transports with one-sided access (RDMA),
 * reads and writes go straight to the region the provider offered with
 * conn_rma_read/write instead of READ/WRITE messages (the provider's owner
 * and MOVED checks are then not consulted: the region is the contract).
 *
 * Errors: 0 or -errno. -EIO: the provider is unreachable, dead, timed out
 * or broke the protocol (the connection is dropped; the caller logs it,
 * the details are at debug level). Every call is bounded by the timeout
 * (default 5000 ms, remote_set_timeout()), never a hang; after a failed
 * connect, calls to that node fail at once with -EIO for REMOTE_RETRY_MS
 * (or until remote_add_node() names it again). Provider answers:
 * -ENOSPC (no free block), -ESTALE (that loan is not ours any more: freed,
 * re-lent, or our lease there expired), -ENOENT (no such block), -EACCES,
 * -EINVAL, -EBADMSG (our data arrived corrupted), and -EREMCHG when the
 * block moved on: *moved (if not NULL) then tells where to retry.
 * -EHOSTUNREACH for a node never added.
 *
 * Owner id: the provider knows us by the node id our handshake
 * authenticated (self_node), never by a field of a request. To move a
 * block lent to us on to a third node for its owner (DESIGN principle 3),
 * the owner must be the one to borrow it there.
 *
 * A lost ALLOC reply (timeout) leaves loans we do not know of on the
 * provider: our next reconciliation with it, or its lease on us, ends
 * them.
 *
 * Threads: every function is thread-safe. Memory: callers own all buffers;
 * nothing is kept after a call returns.
 */
#ifndef CMP_REMOTE_H
#define CMP_REMOTE_H

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
};

#define REMOTE_DEFAULT_TIMEOUT_MS 5000
/* Fail-fast window after a failed connect to a node. */
#define REMOTE_RETRY_MS 1000
/* Idle connections kept per node. */
#define REMOTE_MAX_IDLE 8

/*
 * keyring NULL: insecure mode (else borrowed: it must outlive r). self_node
 * is the owner id this node puts in every request and gives in the
 * handshake; block_size the cluster block size. Returns NULL with errno
 * set (EINVAL, ENOMEM).
 */
struct remote *remote_create(struct auth_keyring *keyring, uint32_t self_node,
			     uint32_t block_size);
/* Deadline of each later call's connect, send and reply, in ms (> 0). */
void remote_set_timeout(struct remote *r, int timeout_ms);
/*
 * Learns or updates a provider's address (from the manager). Revives a
 * node marked dead. An address change drops the cached connections.
 */
int remote_add_node(struct remote *r, uint32_t node, const char *addr);
/*
 * The manager announced node dead: closes its connections, including those
 * in use (their calls fail with -EIO at once), and fails later calls with
 * -EIO until remote_add_node() names it again.
 */
void remote_node_dead(struct remote *r, uint32_t node);

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
/* We leave: the provider ends all our loans (*freed: how many). */
int remote_goodbye(struct remote *r, uint32_t node, uint32_t *freed);
/*
 * GOODBYE to every node that ever lent to us; failures are logged (the
 * lease frees those loans later). Returns how many nodes acknowledged.
 */
unsigned int remote_goodbye_all(struct remote *r);
/* Renews the provider's lease on us. */
int remote_ping(struct remote *r, uint32_t node);

/* One byte range [off, off + len) of loan ref on node; inside one block. */
int remote_read(struct remote *r, uint32_t node, struct proto_block_ref ref,
		uint32_t off, void *dst, uint32_t len,
		struct proto_block_moved *moved);
int remote_write(struct remote *r, uint32_t node, struct proto_block_ref ref,
		 uint32_t off, const void *src, uint32_t len,
		 struct proto_block_moved *moved);

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
/* Closes every connection and frees r. No call may be running. NULL ok. */
void remote_destroy(struct remote *r);

#endif
