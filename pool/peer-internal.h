/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the peer service (include/cmp/peer.h), shared by
 * peer.c (the request loop, the data path and the connections),
 * peer-loans.c (the loan table, its lease thread, and the memory windows
 * that mirror its loans for one-sided access) and peer-move.c (moving
 * loans on: HANDOVER, MOVE_NOTICE, DRAIN and the mover's calls).
 */
#ifndef CMP_POOL_PEER_INTERNAL_H
#define CMP_POOL_PEER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cmp/peer.h"
#include "cmp/server.h"
#include "cmp/wire.h"
#include "loans.h"
#include "proto_block.h"

struct grants;
struct grants_conn;
struct peer_csum;

struct peer {
	struct server *srv;
	const struct peer_store_ops *ops;
	void *ctx;
	struct loans *loans;
	struct grants *grants;	/* NULL: no one-sided access */
	struct peer_csum *csum; /* NULL: blocks not checksummed */
	uint32_t node_id;
	uint32_t block_size;
	uint32_t lease_ms;
	uint32_t max_blocks; /* the loan table's size (0: the store's) */
	uint64_t incarnation;

	pthread_t lease_thread;
	pthread_mutex_t lock; /* protects stopping */
	pthread_cond_t wake;
	bool stopping;
	/* stepped mode: no lease thread (the owner expires the leases) */
	bool stepped;
	/* stepped: the request staging, lent to one request at a time */
	struct peer_conn *staging;
	bool staging_busy;
};

/*
 * Stepped mode (include/cmp/util.h): a connection keeps only who it is;
 * requests are served one at a time on one thread, so the staging of
 * struct peer_conn (38 KiB) is the peer's, lent to each request, and a
 * simulation of thousands of connections does not pay it for each.
 */
struct peer_conn_id {
	uint32_t owner;
	struct grants_conn *gc;
};

/* Per-connection state; only its connection thread touches it. */
struct peer_conn {
	uint32_t owner;		/* conn_peer_node(): 0 for tools */
	struct grants_conn *gc; /* NULL: no windows on this connection */
	uint8_t msg[PROTO_BLOCK_MAX_IDX_MSG];
	uint32_t idx[PROTO_BLOCK_MAX_IDX];
	uint32_t epoch[PROTO_BLOCK_MAX_IDX];
	uint32_t rkey[PROTO_BLOCK_MAX_IDX];
	struct proto_block_ref refs[PROTO_BLOCK_MAX_IDX];
	struct proto_block_ref missing[PROTO_BLOCK_MAX_IDX];
	struct proto_block_extent ext[PROTO_BLOCK_MAX_BATCH];
	struct proto_block_ref pinned[PROTO_BLOCK_MAX_BATCH];
	uint32_t csum_token[PROTO_BLOCK_MAX_BATCH];
	struct iovec iov[PROTO_BLOCK_MAX_BATCH + 1];
};

_Static_assert(PROTO_BLOCK_MAX_IDX_MSG >= PROTO_BLOCK_MAX_BATCH_HDR,
	       "msg holds a batch prefix");

typedef int (*peer_handler_fn)(struct peer *p, struct server_conn *sc,
			       const struct wire_hdr *h);

/*
 * A payload the decoder refused: answered with the reason, and the
 * connection closed (returns err).
 */
int peer_refuse_and_close(struct server_conn *sc, const struct wire_hdr *h,
			  int err);
/* A payload read failed: answered when it failed verification; err. */
int peer_read_failed(struct server_conn *sc, const struct wire_hdr *h, int err);
/* Reads a whole small payload (at most cap bytes) into buf; 0 or -errno. */
int peer_read_all(struct server_conn *sc, const struct wire_hdr *h, void *buf,
		  size_t cap);
/* 0 when the connection has an owner node; else refused: 1 or -errno. */
int peer_need_owner(struct server_conn *sc, const struct wire_hdr *h);
/* Answers a refused block access (MOVED with *mv); logged with numbers. */
int peer_reply_refused(struct server_conn *sc, const struct wire_hdr *h,
		       uint32_t st, uint32_t owner, uint32_t block,
		       const struct proto_block_moved *mv);
/* node's address from the store into addr ("" when it does not know). */
void peer_node_addr(struct peer *p, uint32_t node, char *addr);

/* peer-loans.c */

/*
 * The windows (on an rdma:// listener whose store has a region), the loan
 * table and its lease thread. 0 or -errno (nothing left behind).
 */
int peer_loans_start(struct peer *p, const char *listen_addr);
/* Once every connection closed: joins the lease thread, frees them. */
void peer_loans_stop(struct peer *p);
/*
 * Gives blocks whose loans ended (or never began) back to the store, each
 * window over them revoked first. The loan table's release callback; any
 * thread, no lock held.
 */
void peer_release_blocks(void *ctx, const uint32_t *idx, uint32_t n);
/*
 * Ends the window over lent block idx, if it has one, while the block is
 * not in the store (a move or a handover holds it): 0 when nothing can
 * reach the block one-sided any more, -EIO when the revoke failed (its
 * connection is then shut down).
 */
int peer_revoke_window(struct peer *p, uint32_t idx);

/* peer-rw.c: the handlers of READ, WRITE, READ_BATCH and WRITE_BATCH. */
int peer_handle_read(struct peer *p, struct server_conn *sc,
		     const struct wire_hdr *h);
int peer_handle_write(struct peer *p, struct server_conn *sc,
		      const struct wire_hdr *h);
int peer_handle_batch(struct peer *p, struct server_conn *sc,
		      const struct wire_hdr *h);

/*
 * peer-csum.c: a checksum per 4 KiB page of every block held, nblocks
 * blocks of block_size (NULL and errno when it cannot be reserved). Every
 * call accepts a NULL table (nothing checked) and ignores blocks past
 * nblocks; all are thread-safe.
 */
struct peer_csum *peer_csum_create(uint32_t nblocks, uint32_t block_size);
void peer_csum_destroy(struct peer_csum *cs);
/* Forgets block's checksums (lent, given back); unchecked: never again. */
void peer_csum_reset(struct peer_csum *cs, uint32_t block, bool unchecked);
/*
 * Around a write of [off, off + len) of block: begin before its bytes
 * land (returns a token), end after, with the block's bytes.
 */
uint32_t peer_csum_write_begin(struct peer_csum *cs, uint32_t block,
			       uint32_t off, uint32_t len);
void peer_csum_write_end(struct peer_csum *cs, uint32_t block, uint32_t off,
			 uint32_t len, uint32_t token, const uint8_t *data);
/* The pages [off, off + len) touches against their checksums: -EUCLEAN. */
int peer_csum_verify(struct peer_csum *cs, uint32_t block, uint32_t off,
		     uint32_t len, const uint8_t *data);
/* Test hook: flips a byte of a checksummed page of block (true if any). */
bool peer_csum_corrupt(struct peer_csum *cs, uint32_t block, uint8_t *data);
/* Mismatches found by reads so far. */
uint64_t peer_csum_mismatches(struct peer_csum *cs);

/* peer-move.c: the handlers of HANDOVER, MOVE_NOTICE and DRAIN. */
int peer_handle_handover(struct peer *p, struct server_conn *sc,
			 const struct wire_hdr *h);
int peer_handle_notice(struct peer *p, struct server_conn *sc,
		       const struct wire_hdr *h);
int peer_handle_drain(struct peer *p, struct server_conn *sc,
		      const struct wire_hdr *h);

#endif
