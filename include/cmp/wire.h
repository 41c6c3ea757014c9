/* SPDX-License-Identifier: MIT */
/*
 * Frames on the wire: a fixed 32-byte little-endian header, then the payload.
 *
 *   0       4    5     6      8        12      16            24          32
 *   +-------+----+-----+------+--------+-------+-------------+-----------+
 *   | magic |ver |op   |flags | status | len   | request id  | csum      |
 *   +-------+----+-----+------+--------+-------+-------------+-----------+
 *
 * Every request carries an id chosen by the sender; the reply has the same
 * id, opcode and WIRE_F_REPLY. Requests may be pipelined: many outstanding
 * per connection, replies matched by id. `len` is the payload's length in
 * plaintext. What follows the header depends on the connection's mode,
 * which the handshake (include/cmp/auth.h) settles:
 *
 * - Plain (the handshake itself, and `insecure` mode, for trusted networks
 *   only): the payload in clear; csum is its XXH3-64, verified when the
 *   payload has been read (a mismatch is -EBADMSG). Protects against
 *   accidents, not against anyone on the path.
 * - Sealed (after a keyed handshake): csum is 0; the payload is cut into
 *   records of WIRE_RECORD_SIZE bytes (the last one shorter; an empty
 *   payload is one empty record), each sent as its ciphertext followed by a
 *   WIRE_TAG_SIZE-byte AEAD tag (AES-256-GCM or ChaCha20-Poly1305), so
 *   len + WIRE_TAG_SIZE * records bytes follow the header. The nonce is a
 *   per-direction record counter; the header is the associated data of the
 *   frame's first record. wire_recv_hdr() verifies that first record before
 *   it returns, so a header is authentic before anyone acts on it; later
 *   records are verified in a per-connection staging buffer before any of
 *   their bytes reach the caller. Tampering, replay, reordering or
 *   truncation is -EBADMSG, and then every later receive call fails too.
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
 *   A -> B  FENCE (a connection broke mid-WRITE) before the WRITE again
 *   B -> C  HANDOVER (B moved A's block to C: the loan is A's now)
 *   B -> A  MOVE_NOTICE (your block moved to C); any request for it: MOVED
 *   tool -> B  DRAIN: move every block held for others elsewhere
 *   M -> A  NODE_STATE (id, state) when B is suspect, left or alive again
 *   M -> A  SNAPSHOT (cmpctl status asked): A -> M  HEARTBEAT at once
 *   A -> M  LEAVE at a clean shutdown                M -> A  LEAVE reply
 *   A -> M2 REGISTER     M2 -> A  status STANDBY: M2 sees M (ranked before
 *           it) answer; A registers with the first manager that takes it
 *   M2 -> M ROLE (M2 watches M)        M -> M2  active or standby, rank
 *
 * The payload layouts live with the modules that speak them: the manager
 * messages in include/cmp/mgr.h, the block messages in pool/proto_block.h.
 *
 * Threads: as for the connection, one thread receives (header and payload
 * cursor) and one thread sends at a time.
 */
#ifndef CMP_WIRE_H
#define CMP_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct conn;

#define WIRE_MAGIC 0x31504d43u /* "CMP1" little-endian, in every version */
#define WIRE_VERSION 2
#define WIRE_HDR_SIZE 32
/* Sealed mode: plaintext bytes per record, and the tag after each. */
#define WIRE_RECORD_SIZE (64u << 10)
#define WIRE_TAG_SIZE 16
/* Largest payload a decoder accepts: a batch of 4 MiB blocks plus headers. */
#define WIRE_MAX_PAYLOAD (16u << 20)

/* Message types, defined once: X(name, value). 14 was NODE_DEAD: unused. */
#define WIRE_OPS(X)        \
	X(PING, 1)         \
	X(HELLO, 2)        \
	X(AUTH, 3)         \
	X(REGISTER, 10)    \
	X(HEARTBEAT, 11)   \
	X(FIND_FREE, 12)   \
	X(NODES, 13)       \
	X(LEAVE, 15)       \
	X(NODE_STATE, 16)  \
	X(SNAPSHOT, 17)    \
	X(ROLE, 18)        \
	X(ALLOC, 20)       \
	X(FREE, 21)        \
	X(READ, 22)        \
	X(WRITE, 23)       \
	X(READ_BATCH, 24)  \
	X(WRITE_BATCH, 25) \
	X(RECONCILE, 27)   \
	X(GOODBYE, 28)     \
	X(MOVE_NOTICE, 29) \
	X(STATUS, 30)      \
	X(HANDOVER, 31)    \
	X(DRAIN, 32)       \
	X(FENCE, 33)

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
 * MOVED carries the new location of a block in the payload. CORRUPT: the
 * block's bytes at the provider no longer match their checksum (read
 * another copy).
 */
#define WIRE_STATUSES(X)         \
	X(OK, 0, 0)              \
	X(NOENT, 1, ENOENT)      \
	X(NOSPC, 2, ENOSPC)      \
	X(INVAL, 3, EINVAL)      \
	X(IO, 4, EIO)            \
	X(PERM, 5, EACCES)       \
	X(MOVED, 6, EREMCHG)     \
	X(BADMSG, 7, EBADMSG)    \
	X(NOTSUP, 8, EOPNOTSUPP) \
	X(BUSY, 9, EBUSY)        \
	X(STALE, 10, ESTALE)     \
	X(STANDBY, 11, EREMOTE)  \
	X(CORRUPT, 12, EUCLEAN)

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
	uint8_t version; /* filled by the decoder; encoders send WIRE_VERSION */
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
 * (<= WIRE_MAX_PAYLOAD). Returns 0, or -EPROTO (bad magic),
 * -EPROTONOSUPPORT (our magic, another version: h->version tells which),
 * -EBADMSG (bad opcode/flags), -EMSGSIZE (len too large).
 */
int wire_hdr_decode(const uint8_t in[WIRE_HDR_SIZE], struct wire_hdr *h);

/* XXH3-64 over the iovecs as one stream (the plain-mode csum). */
uint64_t wire_csum(const struct iovec *iov, int iovcnt);

/* Payload iovecs wire_send() takes at most. */
#define WIRE_SEND_MAX_IOV 62

/*
 * Sends header + payload: plain, one vectored write; sealed, one write per
 * record (the first with the header), encrypted through the connection's
 * staging buffer. Fills h->len and h->csum. iovcnt <= WIRE_SEND_MAX_IOV,
 * else -EINVAL, as for an unknown opcode or flag; -EMSGSIZE when the
 * payload exceeds WIRE_MAX_PAYLOAD. Writer thread.
 */
int wire_send(struct conn *c, struct wire_hdr *h, const struct iovec *payload,
	      int iovcnt);

/*
 * Reads and decodes the next header and, sealed, reads and verifies the
 * frame's first record. The previous frame's payload must have been read
 * or skipped (else -EPROTO). Errors: wire_hdr_decode()'s (logged here with
 * the peer's name; -EPROTONOSUPPORT names both versions), -EBADMSG for a
 * sealed frame that fails verification or ends early (logged here), or the
 * connection's -errno (not logged). Reader thread.
 */
int wire_recv_hdr(struct conn *c, struct wire_hdr *h);

/*
 * Where a frame's payload goes, for a reader that can tell from the header
 * alone (an owner matching replies to its requests by id): private memory
 * in wire_recv_payload_private()'s terms that takes the payload from its
 * first byte, or NULL. h is decoded but not verified yet: nothing may be
 * done on its word but choosing (and keeping others off) that memory.
 */
typedef const struct iovec *(*wire_dest_fn)(void *ctx,
					    const struct wire_hdr *h);
/*
 * wire_recv_hdr() that opens a sealed frame's first record in place: when
 * dest() names memory whose first iovec holds that whole record, the
 * record is read and opened there, the header verified with it, with no
 * staging copy; *in_place then says how many payload bytes are there
 * already (0 otherwise, and always for plain frames), and the rest follows
 * through the cursor. A record that fails leaves that memory zeroed or
 * untouched. Reader thread.
 */
int wire_recv_hdr_into(struct conn *c, struct wire_hdr *h, wire_dest_fn dest,
		       void *ctx, size_t *in_place);

/*
 * Bounds how long the rest of a received frame may take once its header
 * has arrived: the first record (sealed) and every payload read through
 * the cursor must be done within timeout_ms of the header, else the read
 * fails with -ETIMEDOUT (logged, rate-limited) and the connection is
 * unusable. A peer that announces a large frame and stalls is thus cut
 * off at the deadline, whatever it trickles. 0 (the default): no bound.
 * Waiting for a header is not bounded by this but by conn_set_timeout(),
 * which these reads respect too when it is shorter and leave as they
 * found it. Reader thread.
 */
void wire_set_frame_timeout(struct conn *c, int timeout_ms);

/*
 * The payload cursor: the bytes of the current frame's payload, in order,
 * in as many calls as the caller likes. wire_read() and wire_readv() read
 * exactly len (the iovecs' total) next bytes; more than is left is
 * -EMSGSIZE (nothing read). Sealed, only verified bytes ever reach the
 * destination: a record that fails verification returns -EBADMSG before
 * any of its bytes are copied (bytes of earlier, verified records of the
 * same frame may have been delivered by earlier calls or earlier in this
 * one). Plain, bytes land straight in the destination and the read that
 * completes the payload checks the XXH3 (-EBADMSG). Any failure is sticky:
 * the connection can only be closed. Callers log, knowing what the payload
 * was for. Reader thread.
 */
int wire_read(struct conn *c, void *buf, size_t len);
int wire_readv(struct conn *c, const struct iovec *iov, int iovcnt);
/* Payload bytes of the current frame not read yet. */
size_t wire_payload_left(const struct conn *c);
/*
 * Reads the rest of h's payload scattered into iov, whose total must be at
 * least what is left (else -EMSGSIZE, nothing read). h is the header
 * wire_recv_hdr() returned. A convenience over wire_readv().
 */
int wire_recv_payload(struct conn *c, const struct wire_hdr *h,
		      const struct iovec *iov, int iovcnt);
/*
 * wire_recv_payload() into memory that is the caller's alone until the
 * call returns: nobody else reads it meanwhile, and nothing relies on its
 * content unless the call returned 0 (a reply buffer, a block no list
 * holds). Sealed, every record that lies whole inside one iovec is read
 * and opened in place there, without the staging copy; a record that
 * fails verification (or ends early) is left zeroed, so no unverified
 * byte stays behind, but the destination's earlier content is lost. Plain
 * frames are read exactly as wire_recv_payload() does.
 */
int wire_recv_payload_private(struct conn *c, const struct wire_hdr *h,
			      const struct iovec *iov, int iovcnt);
/* Reads, verifies and drops the rest of h's payload (a refused request). */
int wire_skip_payload(struct conn *c, const struct wire_hdr *h);

#endif
