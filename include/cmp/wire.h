/* SPDX-License-Identifier: MIT */
/*
 * Frames on the wire: a fixed 32-byte little-endian header, then the payload.
 *
 *   0       4    5     6      8        12      16            24          32
 *   +-------+----+-----+------+--------+-------+-------------+-----------+
 *   | magic |ver |op   |flags | status | len   | request id  | XXH3(pay) |
 *   +-------+----+-----+------+--------+-------+-------------+-----------+
 *
 * Every request carries an id chosen by the sender; the reply has the same
 * id, opcode and WIRE_F_REPLY. Requests may be pipelined: many outstanding
 * per connection, replies matched by id. The payload checksum is XXH3-64 of
 * the payload bytes, verified on receipt (a mismatch is -EBADMSG, logged by
 * the caller, never used).
 *
 * Message sequence (manager M, nodes A and B, memserver S):
 *
 *   A -> M  HELLO/AUTH (handshake, both ends prove the cluster key)
 *   A -> M  REGISTER (id, kind, addr, capacity)      M -> A  REGISTER reply
 *   A -> M  HEARTBEAT (free counts) ...  every second
 *   A -> M  FIND_FREE (n, not A)       M -> A  list of (node, addr, n)
 *   A -> B  ALLOC n                    B -> A  block indexes (+ region)
 *   A -> B  WRITE / READ (block, off, len, data)   byte ranges
 *   A -> B  FREE blocks
 *   B -> A  reply status MOVED (+ new location) when B moved the block on
 *   M -> A  NODE_DEAD (id) when B missed its heartbeats
 *
 * The payload layouts live with the modules that speak them: the manager
 * messages in include/cmp/mgr.h, the block messages in pool/proto_block.h.
 */
#ifndef CMP_WIRE_H
#define CMP_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct conn;

#define WIRE_MAGIC 0x31504d43u /* "CMP1" little-endian */
#define WIRE_VERSION 1
#define WIRE_HDR_SIZE 32
/* Largest payload a decoder accepts: a batch of 4 MiB blocks plus headers. */
#define WIRE_MAX_PAYLOAD (16u << 20)

/* Message types, defined once: X(name, value). */
#define WIRE_OPS(X)        \
	X(PING, 1)         \
	X(HELLO, 2)        \
	X(AUTH, 3)         \
	X(REGISTER, 10)    \
	X(HEARTBEAT, 11)   \
	X(FIND_FREE, 12)   \
	X(NODES, 13)       \
	X(NODE_DEAD, 14)   \
	X(ALLOC, 20)       \
	X(FREE, 21)        \
	X(READ, 22)        \
	X(WRITE, 23)       \
	X(READ_BATCH, 24)  \
	X(WRITE_BATCH, 25) \
	X(STATUS, 30)

enum wire_op {
#define WIRE_OP_ENUM(name, val) WIRE_OP_##name = val,
	WIRE_OPS(WIRE_OP_ENUM)
#undef WIRE_OP_ENUM
		WIRE_OP_MAX = 64,
};

/* "READ" for WIRE_OP_READ, NULL for an unknown opcode. */
const char *wire_op_name(unsigned int op);
bool wire_op_valid(unsigned int op);

enum wire_flags {
	WIRE_F_REPLY = 1 << 0,
	WIRE_F_MASK = WIRE_F_REPLY,
};

/*
 * Status codes (replies only), defined once: X(name, value, errno).
 * MOVED carries the new location of a block in the payload.
 */
#define WIRE_STATUSES(X)         \
	X(OK, 0, 0)              \
	X(NOENT, 1, ENOENT)      \
	X(NOSPC, 2, ENOSPC)      \
	X(INVAL, 3, EINVAL)      \
	X(IO, 4, EIO)            \
	X(PERM, 5, EACCES)       \
	X(MOVED, 6, ESTALE)      \
	X(BADMSG, 7, EBADMSG)    \
	X(NOTSUP, 8, EOPNOTSUPP) \
	X(BUSY, 9, EBUSY)

enum wire_status {
#define WIRE_STATUS_ENUM(name, val, err) WIRE_S_##name = val,
	WIRE_STATUSES(WIRE_STATUS_ENUM)
#undef WIRE_STATUS_ENUM
};

/* "MOVED" for WIRE_S_MOVED, NULL for an unknown status. */
const char *wire_status_name(uint32_t status);
/* Maps -errno to a status (unknown errnos become WIRE_S_IO) and back. */
uint32_t wire_status_from_errno(int neg_errno);
int wire_status_to_errno(uint32_t status);

/* Host-order view of a header. */
struct wire_hdr {
	uint8_t op;
	uint16_t flags;
	uint32_t status;
	uint32_t len;
	uint64_t id;
	uint64_t csum;
};

void wire_hdr_encode(const struct wire_hdr *h, uint8_t out[WIRE_HDR_SIZE]);
/*
 * Pure decoder: validates magic, version, opcode, flags and len
 * (<= WIRE_MAX_PAYLOAD). Returns 0, or -EPROTO (bad magic/version),
 * -EBADMSG (bad opcode/flags), -EMSGSIZE (len too large).
 */
int wire_hdr_decode(const uint8_t in[WIRE_HDR_SIZE], struct wire_hdr *h);

/* XXH3-64 over the iovecs as one stream. */
uint64_t wire_csum(const struct iovec *iov, int iovcnt);

/* Payload iovecs wire_send() takes at most (the header makes 63). */
#define WIRE_SEND_MAX_IOV 62

/*
 * Sends header + payload in one vectored write. Fills h->len and h->csum
 * from the payload. iovcnt <= 62 (WIRE_SEND_MAX_IOV), else -EINVAL, as for
 * an unknown opcode or flag; -EMSGSIZE when the payload exceeds
 * WIRE_MAX_PAYLOAD.
 */
int wire_send(struct conn *c, struct wire_hdr *h, const struct iovec *payload,
	      int iovcnt);
/* Reads and decodes one header. */
int wire_recv_hdr(struct conn *c, struct wire_hdr *h);
/*
 * Reads h->len payload bytes scattered into iov (whose total must be
 * >= h->len, or -EMSGSIZE) and verifies the checksum (-EBADMSG).
 */
int wire_recv_payload(struct conn *c, const struct wire_hdr *h,
		      const struct iovec *iov, int iovcnt);
/* Reads and drops h->len payload bytes (after a refused request). */
int wire_skip_payload(struct conn *c, const struct wire_hdr *h);

#endif
