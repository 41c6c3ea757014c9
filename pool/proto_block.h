/* SPDX-License-Identifier: MIT */
/*
 * Payloads of the block data path (wire version 2): what an owner node
 * (remote.c) sends to a provider (peer.c, inside cmpfs or cmp-memserver) to
 * borrow, use and return blocks. Internal to pool/; the few types the peer
 * service's API needs (the MOVED payload, the block size bounds) are in
 * include/cmp/peer.h. All fields are little-endian and fixed width on the
 * wire; byte order is converted only in the encoders and decoders here.
 *
 * The owner is never named in a payload: it is the node id the connection's
 * handshake authenticated (conn_peer_node()). A loan is named by its block
 * index and its epoch, which the provider chose when it lent the block; a
 * request whose (block, epoch) is not lent to the connection's owner gets
 * status STALE and touches nothing.
 *
 *   owner A                                   provider B
 *     | ALLOC {n, flags}                         |
 *     |----------------------------------------->| lends up to n blocks,
 *     |<-----------------------------------------| cleared: {count, flags,
 *     |                                          |   base, len}
 *     |                                          |   + {block, epoch} x count
 *     |                                          |   [+ rkey x count]
 *     | RDMA READ/WRITE (rkey, base + block * bs)|  with WINDOWS: one-sided,
 *     |=========================================>|  on that connection only
 *     | WRITE {block, epoch, off, len} + bytes   |
 *     |----------------------------------------->| bytes land in the block
 *     |<-----------------------------------------| OK (empty)
 *     | READ {block, epoch, off, len}            |
 *     |----------------------------------------->|
 *     |<-----------------------------------------| OK + len bytes
 *     | READ_BATCH / WRITE_BATCH                 |
 *     |   {n, data_len} {block, epoch, off, len} x n [data]
 *     |----------------------------------------->|  one burst, data after
 *     |<-----------------------------------------|  the extents; OK [+ data]
 *     | FREE {n} + {block, epoch} x n            |
 *     |----------------------------------------->| ends those loans (a
 *     |<-----------------------------------------| retry is harmless): {freed}
 *     | RECONCILE {flags, n} + {block, epoch} x n|  after a reconnect: the
 *     |----------------------------------------->|  loans A still claims;
 *     |<-----------------------------------------|  {n} + those B lacks;
 *     |                                          |  LAST ends the unclaimed;
 *     |                                          |  FENCE first ends A's
 *     |                                          |  older connections
 *     | FENCE {session}                          |  a connection broke with
 *     |----------------------------------------->|  a WRITE in flight: its
 *     |<-----------------------------------------|  thread is done: OK; then
 *     |                                          |  the WRITE again, here
 *     | GOODBYE                                  |
 *     |----------------------------------------->| A leaves: all its loans
 *     |<-----------------------------------------| end: {freed}
 *     | STATUS / PING                            |
 *     |----------------------------------------->| {node, bs, total, free,
 *     |<-----------------------------------------|  region, lease, incarnation}
 *
 *   ALLOC with flag WINDOWS (an RDMA connection): the provider binds a
 *   memory window per loan to this very connection and answers with
 *   WINDOWS, base and len and one rkey per loan (0: that loan has none);
 *   the window of block i covers [base + i * bs, base + (i + 1) * bs). A
 *   loan's window is revoked before the end of the loan (FREE, GOODBYE,
 *   lease, reconciliation) gives the block back to the store, and before
 *   the loan moves on or is handed over (below); the epoch, not the rkey,
 *   stays the loan's name in every message (a window dies with its
 *   connection, a loan does not).
 *
 *   Moving a block on (DESIGN principles 3 and 5): B needs its memory
 *   back and moves A's loan to a third node C, as an owner of C:
 *
 *   provider B                                 node C           owner A
 *     | ALLOC, WRITE (the block's content)        |                 |
 *     |------------------------------------------>|                 |
 *     | HANDOVER {block, epoch, to A}             |                 |
 *     |------------------------------------------>| now A's loan:   |
 *     |<------------------------------------------| {block, epoch'} |
 *     | MOVE_NOTICE {from, from_epoch, C, block, epoch', flags, addr}|
 *     |------------------------------------------------------------>|
 *     |<------------------------------------------------------------| OK: A
 *     |   uses C now (B drops its forwarding record); NOENT: A has no block
 *     |   naming the old loan yet (B tells it again later)
 *
 *   While B moves it, A's requests for the block get BUSY (retry shortly),
 *   and A's window over it, if any, is revoked before B copies it; C
 *   revokes B's window before the HANDOVER makes the block A's.
 *   Afterwards any request naming the old loan is answered with status
 *   MOVED and the same payload as the notice; A retries at C, and confirms
 *   with a FREE of the old loan, which B answers with one more notice
 *   (flag FREED): A then gives the new place back unless its block lives
 *   there. Any frame from A renews B's lease on A (PING when there is
 *   nothing to say).
 *
 * Every encoder writes into a caller buffer and returns the bytes written or
 * -ENOBUFS (-EINVAL for a count out of range). Every decoder is pure (bytes
 * and length in, host-order struct out), validates every count, offset and
 * length against the buffer and the limits below, and returns 0 or -EINVAL
 * (-EMSGSIZE for a buffer of the wrong size). Nothing here allocates, logs
 * or keeps pointers: all thread-safe.
 */
#ifndef CMP_PROTO_BLOCK_H
#define CMP_PROTO_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/conn.h"
/* PROTO_BLOCK_ADDR_LEN, struct proto_block_moved, proto_block_size_valid() */
#include "cmp/peer.h"

/* Most loans in one ALLOC, FREE or RECONCILE. */
#define PROTO_BLOCK_MAX_IDX 1024u
/*
 * Most extents in one READ_BATCH / WRITE_BATCH: each extent is one iovec of
 * the reply or request, and a frame goes out in one writev of at most 62.
 */
#define PROTO_BLOCK_MAX_BATCH 60u

/* Wire sizes of the fixed parts. */
#define PROTO_BLOCK_REF_SIZE 8	/* {block, epoch} */
#define PROTO_BLOCK_RKEY_SIZE 4 /* one window's rkey, after the refs */
#define PROTO_BLOCK_ALLOC_REQ_SIZE 8
#define PROTO_BLOCK_ALLOC_REP_SIZE 24 /* + REF_SIZE (+ RKEY_SIZE) per loan */
#define PROTO_BLOCK_LIST_SIZE 8	      /* FREE, RECONCILE: + REF_SIZE each */
#define PROTO_BLOCK_COUNT_SIZE 8      /* FREE and GOODBYE replies */
#define PROTO_BLOCK_RW_SIZE 16	      /* WRITE: + len bytes */
#define PROTO_BLOCK_BATCH_SIZE 16     /* + EXTENT_SIZE per extent [+ data] */
#define PROTO_BLOCK_EXTENT_SIZE 16
#define PROTO_BLOCK_STATUS_REP_SIZE 48
#define PROTO_BLOCK_MOVED_SIZE (24 + PROTO_BLOCK_ADDR_LEN)
#define PROTO_BLOCK_HANDOVER_SIZE 16 /* reply: a ref */
#define PROTO_BLOCK_DRAIN_SIZE 8
#define PROTO_BLOCK_DRAIN_REP_SIZE 16
#define PROTO_BLOCK_FENCE_SIZE 8 /* {session} */

/* Largest fixed prefix a peer reads before the data of a batch. */
#define PROTO_BLOCK_MAX_BATCH_HDR \
	(PROTO_BLOCK_BATCH_SIZE + \
	 PROTO_BLOCK_MAX_BATCH * PROTO_BLOCK_EXTENT_SIZE)
/* Largest ALLOC reply (windows included), FREE or RECONCILE message. */
#define PROTO_BLOCK_MAX_IDX_MSG       \
	(PROTO_BLOCK_ALLOC_REP_SIZE + \
	 PROTO_BLOCK_MAX_IDX * (PROTO_BLOCK_REF_SIZE + PROTO_BLOCK_RKEY_SIZE))

/* A loan as the owner names it. epoch is never 0. */
struct proto_block_ref {
	uint32_t block;
	uint32_t epoch;
};

/* ALLOC request and reply flags. */
enum proto_block_alloc_flags {
	/*
	 * Request: bind a memory window per loan to this connection. Reply:
	 * base, len and an rkey per loan follow (an rkey of 0: no window
	 * for that loan; the owner uses messages for it).
	 */
	PROTO_BLOCK_ALLOC_WINDOWS = 1 << 0,
	PROTO_BLOCK_ALLOC_MASK = 1,
};

/*
 * ALLOC reply, followed on the wire by count refs, then (WINDOWS) count
 * rkeys. Without WINDOWS, base and len are 0. With it, the window of a
 * loan of block i is [base + i * block_size, + block_size), inside
 * [base, base + len); it works on this connection only, until the loan
 * ends or the connection closes.
 */
struct proto_block_alloc_rep {
	uint32_t count;
	uint32_t flags; /* PROTO_BLOCK_ALLOC_WINDOWS or 0 */
	uint64_t base;
	uint64_t len;
};

/* READ and WRITE: one byte range of one loan; WRITE carries the bytes. */
struct proto_block_rw {
	uint32_t block;
	uint32_t epoch;
	uint32_t off;
	uint32_t len;
};

/* One byte range of a batch. */
struct proto_block_extent {
	uint32_t block;
	uint32_t epoch;
	uint32_t off;
	uint32_t len;
};

/* READ_BATCH / WRITE_BATCH fixed part. data_len = sum of the extent lens. */
struct proto_block_batch {
	uint32_t n;
	uint64_t data_len;
};

/* RECONCILE request flags. */
enum proto_block_reconcile_flags {
	PROTO_BLOCK_RECONCILE_FIRST = 1 << 0, /* a new reconciliation */
	PROTO_BLOCK_RECONCILE_LAST = 1 << 1,  /* end it: free the unclaimed */
	/*
	 * With FIRST, after a reconnect from suspect: the provider first ends
	 * the owner's older connections and waits for their threads, so that
	 * no request the owner gave up on is carried out after this reply.
	 */
	PROTO_BLOCK_RECONCILE_FENCE = 1 << 2,
	PROTO_BLOCK_RECONCILE_MASK = 7,
};

/* STATUS reply: what a provider holds, and how it treats its owners. */
struct proto_block_status {
	uint32_t node;
	uint32_t block_size;
	uint32_t total;
	uint32_t free;
	struct conn_region region;
	uint32_t lease_ms;    /* silence after which its loans to us end */
	uint64_t incarnation; /* changes when the provider restarts */
};

/* n in 1..PROTO_BLOCK_MAX_IDX; flags within PROTO_BLOCK_ALLOC_MASK. */
int proto_block_alloc_req_encode(uint32_t n, uint32_t flags, uint8_t *buf,
				 size_t cap);
int proto_block_alloc_req_decode(const uint8_t *buf, size_t len, uint32_t *n,
				 uint32_t *flags);

/*
 * count refs (count <= PROTO_BLOCK_MAX_IDX, 0 is allowed), and with
 * PROTO_BLOCK_ALLOC_WINDOWS in r->flags count rkeys; base and len must be
 * 0 without it.
 */
int proto_block_alloc_rep_encode(const struct proto_block_alloc_rep *r,
				 const struct proto_block_ref *refs,
				 const uint32_t *rkeys, uint8_t *buf,
				 size_t cap);
/*
 * Fails unless len == fixed part + count refs (+ count rkeys with
 * WINDOWS), count <= max, every epoch is nonzero, and with WINDOWS: rkeys
 * is not NULL (a caller that asked for none passes NULL), base + len does
 * not wrap, and every loan with an rkey lies inside len (block_size, a
 * valid block size, cuts len into blocks). Without WINDOWS base and len
 * must be 0.
 */
int proto_block_alloc_rep_decode(const uint8_t *buf, size_t len,
				 uint32_t block_size,
				 struct proto_block_alloc_rep *out,
				 struct proto_block_ref *refs, uint32_t *rkeys,
				 size_t max);

/*
 * FREE request, RECONCILE request (with flags) and RECONCILE reply (flags
 * 0): a list of refs. FREE and RECONCILE requests need 1..MAX_IDX refs, a
 * RECONCILE reply 0..MAX_IDX. Every epoch must be nonzero.
 */
int proto_block_list_encode(uint32_t flags, const struct proto_block_ref *refs,
			    uint32_t n, uint8_t *buf, size_t cap);
/* min_n: the fewest refs allowed (1 for requests, 0 for replies). */
int proto_block_list_decode(const uint8_t *buf, size_t len, uint32_t min_n,
			    uint32_t *flags, struct proto_block_ref *refs,
			    size_t max, uint32_t *n);

/* FREE and GOODBYE replies: how many loans ended. */
int proto_block_count_encode(uint32_t count, uint8_t *buf, size_t cap);
int proto_block_count_decode(const uint8_t *buf, size_t len, uint32_t *count);

/*
 * FENCE request: the owner's connection whose conn_session_id() is
 * session broke (reset, closed) with a WRITE or WRITE_BATCH in flight.
 * The provider ends that connection, if it still runs, and answers once
 * its thread is done: OK, or BUSY when it did not end in time (then the
 * owner must not send the write again). A nonzero session.
 */
int proto_block_fence_encode(uint64_t session, uint8_t *buf, size_t cap);
int proto_block_fence_decode(const uint8_t *buf, size_t len, uint64_t *session);

/* Encodes the fixed part only; a WRITE's bytes follow it in the payload. */
int proto_block_rw_encode(const struct proto_block_rw *r, uint8_t *buf,
			  size_t cap);
/*
 * buf holds the first len (>= PROTO_BLOCK_RW_SIZE) bytes of a READ or WRITE
 * payload whose full length is payload_len. Checks the epoch is nonzero,
 * 0 < len, off + len <= block_size, and payload_len == fixed part (+ len
 * when write).
 */
int proto_block_rw_decode(const uint8_t *buf, size_t len, uint64_t payload_len,
			  bool write, uint32_t block_size,
			  struct proto_block_rw *out);

/*
 * Encodes the batch header and n extents (no data) and returns their size.
 * n in 1..PROTO_BLOCK_MAX_BATCH.
 */
int proto_block_batch_encode(const struct proto_block_extent *ext, uint32_t n,
			     uint8_t *buf, size_t cap);
/*
 * First stage, for a reader that has only the first PROTO_BLOCK_BATCH_SIZE
 * bytes: validates n (1..PROTO_BLOCK_MAX_BATCH) and returns the size of the
 * header plus extents, which the reader fetches next.
 */
int proto_block_batch_prefix(const uint8_t *buf, size_t len);
/*
 * buf holds (at least) header and extents of a batch whose full payload is
 * payload_len bytes. Checks every extent against block_size, the sum of the
 * lens against data_len and WIRE_MAX_PAYLOAD, and payload_len == header +
 * extents (+ data_len when write). Returns the header + extents size.
 */
int proto_block_batch_decode(const uint8_t *buf, size_t len,
			     uint64_t payload_len, bool write,
			     uint32_t block_size, struct proto_block_batch *out,
			     struct proto_block_extent *ext, size_t max_ext);

int proto_block_status_encode(const struct proto_block_status *s, uint8_t *buf,
			      size_t cap);
int proto_block_status_decode(const uint8_t *buf, size_t len,
			      struct proto_block_status *out);

/*
 * HANDOVER: the sender's loan ref here becomes a loan of node `to` (the
 * block's real owner: the sender moved that owner's block here).
 */
struct proto_block_handover {
	struct proto_block_ref ref;
	uint32_t to;
};

/* Nonzero epoch and to. */
int proto_block_handover_encode(const struct proto_block_handover *h,
				uint8_t *buf, size_t cap);
int proto_block_handover_decode(const uint8_t *buf, size_t len,
				struct proto_block_handover *out);
/* One ref (the HANDOVER reply: the loan's new epoch); nonzero epoch. */
int proto_block_ref_encode(struct proto_block_ref r, uint8_t *buf, size_t cap);
int proto_block_ref_decode(const uint8_t *buf, size_t len,
			   struct proto_block_ref *out);

/*
 * DRAIN (cmpctl drain, any connection, a tool's too): flags ON makes the
 * node move every block it holds for others elsewhere and lend nothing
 * until a DRAIN without ON. The reply tells how far it is.
 */
enum proto_block_drain_flags {
	PROTO_BLOCK_DRAIN_ON = 1 << 0,
	PROTO_BLOCK_DRAIN_MASK = 1,
};

struct proto_block_drain_rep {
	uint32_t held;	     /* blocks it still holds for others (RLL) */
	uint32_t forwarding; /* owners not told yet where theirs went (RRL) */
	uint32_t flags;	     /* ON while it drains */
};

int proto_block_drain_encode(uint32_t flags, uint8_t *buf, size_t cap);
int proto_block_drain_decode(const uint8_t *buf, size_t len, uint32_t *flags);
int proto_block_drain_rep_encode(const struct proto_block_drain_rep *r,
				 uint8_t *buf, size_t cap);
int proto_block_drain_rep_decode(const uint8_t *buf, size_t len,
				 struct proto_block_drain_rep *out);

/*
 * MOVED reply and MOVE_NOTICE request. addr must fit in
 * PROTO_BLOCK_ADDR_LEN with its NUL; node, epoch and from_epoch nonzero.
 */
int proto_block_moved_encode(const struct proto_block_moved *m, uint8_t *buf,
			     size_t cap);
/* Requires a NUL inside addr, a nonzero node and a nonzero epoch. */
int proto_block_moved_decode(const uint8_t *buf, size_t len,
			     struct proto_block_moved *out);

#endif
