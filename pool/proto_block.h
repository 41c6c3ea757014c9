/* SPDX-License-Identifier: MIT */
/*
 * Payloads of the block data path: what an owner node (remote.c) sends to a
 * provider (peer.c, inside cmpfs or cmp-memserver) to borrow, use and
 * return blocks. Internal to pool/; the few types the peer service's API
 * needs (the MOVED payload, the block size bounds) are in
 * include/cmp/peer.h. All fields are little-endian and fixed width on the
 * wire; byte order is converted only in the encoders and decoders here.
 *
 *   owner A                                   provider B
 *     | ALLOC {owner, n}                         |
 *     |----------------------------------------->| takes up to n free blocks
 *     |<-----------------------------------------| {count, region, idx[count]}
 *     | WRITE {owner, block, off, len} + bytes   |
 *     |----------------------------------------->| bytes land in the block
 *     |<-----------------------------------------| OK (empty)
 *     | READ {owner, block, off, len}            |
 *     |----------------------------------------->|
 *     |<-----------------------------------------| OK + len bytes
 *     | READ_BATCH / WRITE_BATCH                 |
 *     |   {owner, n} {block, off, len} x n [data]|  one burst, data after
 *     |----------------------------------------->|  all the extent headers
 *     |<-----------------------------------------| OK [+ all data]
 *     | FREE {owner, n, idx[n]}                  |
 *     |----------------------------------------->| blocks back on free list
 *     | STATUS                                   |
 *     |----------------------------------------->|
 *     |<-----------------------------------------| {node, bs, total, free,
 *                                                    region}
 *   Any request naming a block B no longer holds because it moved the block
 *   on (DESIGN principle 5) is answered with status MOVED and a
 *   {from block, node, block, addr} payload; the owner retries there.
 *
 * Every encoder writes into a caller buffer and returns the bytes written or
 * -ENOBUFS. Every decoder is pure (bytes and length in, host-order struct
 * out), validates every count, offset and length against the buffer and the
 * limits below, and returns 0 or -EINVAL (-EMSGSIZE for a buffer of the wrong
 * size). Nothing here allocates, logs or keeps pointers: all thread-safe.
 */
#ifndef CMP_PROTO_BLOCK_H
#define CMP_PROTO_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/conn.h"
/* PROTO_BLOCK_ADDR_LEN, struct proto_block_moved, proto_block_size_valid() */
#include "cmp/peer.h"

/* Most block indexes in one ALLOC or FREE. */
#define PROTO_BLOCK_MAX_IDX 1024u
/*
 * Most extents in one READ_BATCH / WRITE_BATCH: each extent is one iovec of
 * the reply or request, and a frame goes out in one writev of at most 62.
 */
#define PROTO_BLOCK_MAX_BATCH 60u

/* Wire sizes of the fixed parts. */
#define PROTO_BLOCK_ALLOC_REQ_SIZE 8
#define PROTO_BLOCK_ALLOC_REP_SIZE 24 /* + 4 per index */
#define PROTO_BLOCK_FREE_REQ_SIZE 8   /* + 4 per index */
#define PROTO_BLOCK_RW_SIZE 16	      /* WRITE: + len bytes */
#define PROTO_BLOCK_BATCH_SIZE 8      /* + EXTENT_SIZE per extent [+ data] */
#define PROTO_BLOCK_EXTENT_SIZE 16
#define PROTO_BLOCK_STATUS_REP_SIZE 40
#define PROTO_BLOCK_MOVED_SIZE (16 + PROTO_BLOCK_ADDR_LEN)

/* Largest fixed prefix a peer reads before the data of a batch. */
#define PROTO_BLOCK_MAX_BATCH_HDR \
	(PROTO_BLOCK_BATCH_SIZE + \
	 PROTO_BLOCK_MAX_BATCH * PROTO_BLOCK_EXTENT_SIZE)
#define PROTO_BLOCK_MAX_IDX_MSG \
	(PROTO_BLOCK_ALLOC_REP_SIZE + PROTO_BLOCK_MAX_IDX * 4)

/* ALLOC request: the owner wants n (1..PROTO_BLOCK_MAX_IDX) blocks. */
struct proto_block_alloc_req {
	uint32_t owner;
	uint32_t n;
};

/*
 * ALLOC reply, followed on the wire by count block indexes. region is what
 * the owner may reach one-sided on this connection, block i at region
 * offset i * block_size; all zero now that a provider no longer exposes its
 * whole store (one-sided access is to be granted per loan), and on
 * transports without RMA.
 */
struct proto_block_alloc_rep {
	uint32_t count;
	struct conn_region region;
};

/* READ and WRITE: one byte range of one block; WRITE carries the bytes. */
struct proto_block_rw {
	uint32_t owner;
	uint32_t block;
	uint32_t off;
	uint32_t len;
};

/* One byte range of a batch. */
struct proto_block_extent {
	uint32_t block;
	uint32_t off;
	uint32_t len;
};

/* READ_BATCH / WRITE_BATCH fixed part. data_len = sum of the extent lens. */
struct proto_block_batch {
	uint32_t owner;
	uint32_t n;
	uint64_t data_len;
};

/* STATUS reply: what a provider holds. */
struct proto_block_status {
	uint32_t node;
	uint32_t block_size;
	uint32_t total;
	uint32_t free;
	struct conn_region region;
};

int proto_block_alloc_req_encode(const struct proto_block_alloc_req *r,
				 uint8_t *buf, size_t cap);
int proto_block_alloc_req_decode(const uint8_t *buf, size_t len,
				 struct proto_block_alloc_req *out);

/* count indexes from idx; count <= PROTO_BLOCK_MAX_IDX (0 is allowed). */
int proto_block_alloc_rep_encode(const struct proto_block_alloc_rep *r,
				 const uint32_t *idx, uint8_t *buf, size_t cap);
/* Fails unless len == fixed part + 4 * count and count <= max_idx. */
int proto_block_alloc_rep_decode(const uint8_t *buf, size_t len,
				 struct proto_block_alloc_rep *out,
				 uint32_t *idx, size_t max_idx);

/* n in 1..PROTO_BLOCK_MAX_IDX. */
int proto_block_free_req_encode(uint32_t owner, const uint32_t *idx, uint32_t n,
				uint8_t *buf, size_t cap);
int proto_block_free_req_decode(const uint8_t *buf, size_t len, uint32_t *owner,
				uint32_t *idx, size_t max_idx, uint32_t *n);

/* Encodes the fixed part only; a WRITE's bytes follow it in the payload. */
int proto_block_rw_encode(const struct proto_block_rw *r, uint8_t *buf,
			  size_t cap);
/*
 * buf holds the first len (>= PROTO_BLOCK_RW_SIZE) bytes of a READ or WRITE
 * payload whose full length is payload_len. Checks 0 < len, off + len <=
 * block_size, and payload_len == fixed part (+ len when write).
 */
int proto_block_rw_decode(const uint8_t *buf, size_t len, uint64_t payload_len,
			  bool write, uint32_t block_size,
			  struct proto_block_rw *out);

/*
 * Encodes the batch header and n extents (no data) and returns their size.
 * n in 1..PROTO_BLOCK_MAX_BATCH.
 */
int proto_block_batch_encode(uint32_t owner,
			     const struct proto_block_extent *ext, uint32_t n,
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
 * lens against WIRE_MAX_PAYLOAD, and payload_len == header + extents
 * (+ data_len when write). Returns the header + extents size.
 */
int proto_block_batch_decode(const uint8_t *buf, size_t len,
			     uint64_t payload_len, bool write,
			     uint32_t block_size, struct proto_block_batch *out,
			     struct proto_block_extent *ext, size_t max_ext);

int proto_block_status_encode(const struct proto_block_status *s, uint8_t *buf,
			      size_t cap);
int proto_block_status_decode(const uint8_t *buf, size_t len,
			      struct proto_block_status *out);

/* addr must fit in PROTO_BLOCK_ADDR_LEN with its NUL. */
int proto_block_moved_encode(const struct proto_block_moved *m, uint8_t *buf,
			     size_t cap);
/* Requires a NUL inside addr and a nonzero node. */
int proto_block_moved_decode(const uint8_t *buf, size_t len,
			     struct proto_block_moved *out);

#endif
