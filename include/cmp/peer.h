/* SPDX-License-Identifier: MIT */
/*
 * The peer service: serves the blocks this process lends to other nodes
 * (the RLL side of a cmpfs node, and the whole of what cmp-memserver does).
 * It listens on a connector address, authenticates every connection with
 * the cluster keyring (every frame then sealed), and answers ALLOC, FREE,
 * READ, WRITE, READ_BATCH, WRITE_BATCH, STATUS and PING (payloads in
 * pool/proto_block.h) on the connection's own thread, straight from and
 * into the store's memory: a READ reply is one writev of the frame header
 * and a pointer into the block.
 *
 * The store behind it is the caller's, reached through struct
 * peer_store_ops. The peer validates every request before it touches the
 * store, and checks that the requesting owner owns every block it names;
 * a connection is bound to the first owner id it uses, and a request with
 * another owner id on it is refused (WIRE_S_PERM). A block the owner does
 * not own is refused with WIRE_S_NOENT, or WIRE_S_MOVED when the store says
 * it moved on. Refusals are logged with the peer address and keep the
 * connection; garbage (bad frames, bad checksums, invalid payloads) gets
 * an error reply where one makes sense and closes that connection only.
 *
 * Threads: the store ops are called from many connection threads at once
 * and must do their own locking. peer_owner_dead() may be called from any
 * thread. peer_destroy() joins every thread; no store op runs after it
 * returns. Memory: of the configuration the peer keeps the key (copied),
 * the ops table and its context; those two, and the store's memory, are
 * the caller's and must outlive the peer.
 */
#ifndef CMP_PEER_H
#define CMP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_keyring;
struct peer;
struct server_limits;

/* Cluster block size bounds: a power of two in between. */
#define PROTO_BLOCK_MIN_SIZE (4u << 10)
#define PROTO_BLOCK_MAX_SIZE (4u << 20)
/* Room for a node address in MOVED ("tcp://[v6]:port", NUL-terminated). */
#define PROTO_BLOCK_ADDR_LEN 64

/* A power of two within [PROTO_BLOCK_MIN_SIZE, PROTO_BLOCK_MAX_SIZE]. */
bool proto_block_size_valid(uint64_t block_size);

/* Payload of a reply with status MOVED: block `from` now lives elsewhere. */
struct proto_block_moved {
	uint32_t from;
	uint32_t node;
	uint32_t block;
	char addr[PROTO_BLOCK_ADDR_LEN]; /* NUL-terminated */
};

struct peer_store_ops {
	/*
	 * Takes up to n (>= 1) free blocks for owner, writes their indexes to
	 * idx and returns how many (>= 1), or -ENOSPC when none is free.
	 */
	int (*alloc)(void *ctx, uint32_t owner, uint32_t n, uint32_t *idx);
	/*
	 * Frees the blocks of owner in idx. The peer checked them with owns()
	 * just before, but the store must check again under its lock and
	 * skip any that changed hands meanwhile (a concurrent
	 * release_owner() and alloc()).
	 */
	void (*free)(void *ctx, uint32_t owner, const uint32_t *idx,
		     uint32_t n);
	/* Memory of block idx (block_size bytes); only called after owns(). */
	void *(*ptr)(void *ctx, uint32_t idx);
	/* True when idx is a block of this store allocated to owner. */
	bool (*owns)(void *ctx, uint32_t idx, uint32_t owner);
	/* Frees every block of owner (it died); returns how many. */
	uint32_t (*release_owner)(void *ctx, uint32_t owner);
	/* Capacity and free blocks, for STATUS. */
	void (*counts)(void *ctx, uint32_t *total, uint32_t *free);
	/*
	 * Optional (DESIGN principle 5): when owner's block idx was moved to
	 * another node, fills out->node/block/addr and returns 0; otherwise
	 * -ENOENT.
	 */
	int (*moved)(void *ctx, uint32_t idx, uint32_t owner,
		     struct proto_block_moved *out);
	/*
	 * Optional: the one contiguous mapping behind ptr() (ptr(i) == base +
	 * i * block_size), for one-sided access on transports with RMA: to be
	 * registered once (conn_rma_register()) and reached only per loan,
	 * through a window granted on the owner's connection
	 * (conn_rma_grant()); never exposed whole. Until the loan table grants
	 * per loan, the peer service does not use it: READ/WRITE messages.
	 */
	void *(*region)(void *ctx, size_t *len);
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
};

/*
 * Starts serving. Returns the peer, or NULL with errno set (EINVAL for a
 * bad config, or the listener's error, logged once).
 */
struct peer *peer_create(const struct peer_config *cfg);
/* The bound address (port 0 resolved); owned by p. */
const char *peer_listen_addr(const struct peer *p);
/*
 * The manager announced node `owner` dead: frees all its blocks here and
 * logs how many. Returns the count. Any thread.
 */
uint32_t peer_owner_dead(struct peer *p, uint32_t owner);
/* Stops serving, joins all threads, frees p. NULL is ok. */
void peer_destroy(struct peer *p);

#endif
