/* SPDX-License-Identifier: MIT */
/*
 * The connector: one socket-like API over several transports, chosen by the
 * address scheme:
 *
 *   tcp://HOST:PORT    TCP (TCP_NODELAY, vectored I/O)
 *   mem://NAME         in-process, for unit tests and the simulator
 *                      (listening on "mem://" picks a unique NAME)
 *   rdma://HOST:PORT   librdmacm + libibverbs (when built with RDMA)
 *
 * A connection is a reliable, ordered byte stream: conn_writev() sends all of
 * its iovecs or fails, conn_read() returns exactly the bytes asked for or
 * fails. Framing, sealing and the payload cursor live one level up
 * (include/cmp/wire.h); above the connector, frame payloads are read only
 * through that cursor, never with conn_read() (a sealed payload on the
 * stream is ciphertext and tags). Transports that can do one-sided access
 * (RDMA) also let a provider grant one connection access to one block at a
 * time (conn_rma_grant(), see below); the others answer -EOPNOTSUPP and
 * callers use two-sided messages.
 *
 * A TCP host may be a name, an IPv4 address or a bracketed IPv6 address
 * ("tcp://[::1]:7000"); the port is numeric. Listening with an empty host
 * ("tcp://:7000") binds every address.
 *
 * Errors: every int function returns 0 or -errno. -ECONNRESET means the peer
 * closed or vanished, -ETIMEDOUT a deadline passed, -EPROTONOSUPPORT an
 * unknown or unavailable scheme, -EINVAL a malformed address, -ENODEV an
 * rdma:// address on a machine without an RDMA device.
 *
 * RDMA specifics: a readable listener fd does not promise that
 * conn_accept() will not block (it waits up to 5 s for the RDMA CM
 * exchange); one-sided calls may come from any thread.
 *
 * RDMA memory per connection (registered, i.e. pinned): from connect or
 * accept until the cluster handshake succeeded, 12.1 KiB (8 receive buffers
 * and 4 send slots of 1 KiB, enough for the handshake), plus the QP and CQ
 * entries (driver memory, a few KiB). auth_client()/auth_server() success
 * grows it by 6 MiB (64 receive and 16 send buffers of 64 KiB, a 1 MiB
 * staging buffer for one-sided transfers), announced to the peer in band;
 * so a peer that connects and never authenticates costs only the small
 * buffers until the handshake deadline closes it. Regions passed to
 * conn_rma_register() are registered once per device (not per
 * connection), when the first connection on it authenticates. Daemons need
 * RLIMIT_MEMLOCK or CAP_IPC_LOCK to match.
 *
 * Threads: a connection may be used by one reader and one writer thread at a
 * time; callers serialize further use. Listeners are single-threaded.
 * conn_rma_*() may be called from any thread, concurrently with that I/O.
 * Memory: the caller owns buffers; the connector keeps no pointer to them
 * after a call returns (except regions passed to conn_rma_register(), which
 * must stay valid until conn_rma_unregister()).
 */
#ifndef CMP_CONN_H
#define CMP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct conn;
struct conn_listener;

/* What a peer needs to reach a granted block one-sided. */
struct conn_region {
	uint64_t addr;
	uint64_t len;
	uint32_t rkey;
};

/*
 * Listens on addr. Port 0 picks a free port: conn_listener_addr() tells which.
 * Returns 0 and *out, or -errno (-EADDRINUSE, -EINVAL, -EPROTONOSUPPORT...).
 */
int conn_listen(const char *addr, struct conn_listener **out);
/* Readable (poll POLLIN) when conn_accept() will not block. */
int conn_listener_fd(const struct conn_listener *l);
/* The bound address in the same scheme://host:port form; owned by l. */
const char *conn_listener_addr(const struct conn_listener *l);
/* Blocks until a peer connects. */
int conn_accept(struct conn_listener *l, struct conn **out);
void conn_listener_destroy(struct conn_listener *l);

/* Connects within timeout_ms (<= 0: the transport's default, 5 s). */
int conn_connect(const char *addr, int timeout_ms, struct conn **out);

/* Sends every byte of iov[0..iovcnt) or returns -errno. */
int conn_writev(struct conn *c, const struct iovec *iov, int iovcnt);
/* Reads exactly len bytes. -ECONNRESET on end of stream. */
int conn_read(struct conn *c, void *buf, size_t len);
/* Reads exactly the iovecs' total. */
int conn_readv(struct conn *c, const struct iovec *iov, int iovcnt);
/*
 * Reads what has arrived, waiting (within the deadline) for at least one
 * byte: 1..len, or -errno (-ECONNRESET at end of stream, -ETIMEDOUT).
 * For protocols without a length up front (the metrics' HTTP requests);
 * tcp:// and mem:// only, -EOPNOTSUPP on rdma://.
 */
ssize_t conn_read_some(struct conn *c, void *buf, size_t len);
/*
 * Deadline for each later read/write (ms, 0 = none). A call that passes
 * it returns -ETIMEDOUT and the connection is unusable afterwards.
 */
int conn_set_timeout(struct conn *c, int timeout_ms);
/* The value last given to conn_set_timeout() (0 after connect/accept). */
int conn_get_timeout(const struct conn *c);
/* Readable (POLLIN) when conn_read() may make progress. */
int conn_fd(const struct conn *c);
/* True when bytes are already buffered inside the connector. */
bool conn_pending(const struct conn *c);
/* "tcp://1.2.3.4:5678"; owned by c. */
const char *conn_peer(const struct conn *c);
/*
 * The node id and incarnation (random per process start) the peer gave in
 * the handshake (include/cmp/auth.h): authenticated by the cluster key in
 * secure mode, taken on trust in insecure mode. 0 for a tool such as
 * cmpctl, and before the handshake.
 */
uint32_t conn_peer_node(const struct conn *c);
uint64_t conn_peer_incarnation(const struct conn *c);
/*
 * A name both ends of a connection give it after the handshake: 64 bits
 * of the handshake transcript (both HELLOs, each with a fresh random
 * nonce), so another connection of the same peer has another one. Lets a
 * node ask its peer, on another connection, about this one (a block
 * write that broke: pool/proto_block.h, FENCE). Not a secret: the
 * HELLOs travel in clear. 0 before the handshake.
 */
uint64_t conn_session_id(const struct conn *c);
/* Shuts down both directions; a blocked reader in another thread wakes. */
void conn_shutdown(struct conn *c);
void conn_destroy(struct conn *c);

/*
 * One-sided access (RDMA READ/WRITE, no CPU of the provider on the data
 * path), limited to what the provider lends. A provider registers the
 * memory it lends once per process; for each loan it grants the owner's
 * connection a memory window over exactly that block, and revokes it when
 * the loan ends. A peer can reach nothing else: the registration itself
 * carries no remote rights, and a window works only on the connection
 * (queue pair) it was granted on. One-sided transfers are not sealed:
 * RDMA links are a trusted fabric.
 *
 * True when the transport can do one-sided access at all (RDMA); whether
 * the device can grant windows shows in conn_rma_grant().
 */
bool conn_has_rma(const struct conn *c);
/*
 * Registers [base, base+len) for grants, on every RDMA device a connection
 * of this process authenticates on (local access only; the MR has no
 * remote rights). Call once at startup, before serving; 0 with nothing to
 * do when no transport has one-sided access. -EEXIST when it overlaps a
 * registered region, -ENOSPC beyond 4 regions. A device where registering
 * fails (RLIMIT_MEMLOCK) logs one line, and grants there answer
 * -EOPNOTSUPP.
 */
int conn_rma_register(void *base, size_t len);
/*
 * Undoes conn_rma_register(). Only after every connection that granted a
 * window over it was destroyed (or revoked all of them): -EBUSY otherwise,
 * -ENOENT for an unknown base.
 */
int conn_rma_unregister(void *base);
/*
 * Provider side: lets the peer of c read and write [addr, addr+len), which
 * lies in a registered region, one-sided, through c only. Binds a type 2
 * memory window to c's queue pair and waits for the bind to complete; on
 * success *out = {addr, len, rkey}, where rkey is new for every grant (a
 * re-lent block gets another one) and is what the peer passes to
 * conn_rma_read/write(). Returns -EOPNOTSUPP when c or its device cannot
 * (not RDMA, no type 2 memory windows, region not registered there): the
 * caller uses two-sided messages for that loan; -EINVAL when the range is
 * in no registered region; -EPERM before c's handshake authenticated it;
 * else c's error (-ECONNRESET...). The first grants allocate windows (a
 * kernel call each); revoked ones are reused.
 */
int conn_rma_grant(struct conn *c, void *addr, size_t len,
		   struct conn_region *out);
/*
 * Ends a grant of c: when it returns 0, no remote access through r->rkey
 * can happen any more (the window was invalidated with a completed
 * LOCAL_INV, or, on a connection that failed, its queue pair is in the
 * error state and the window deallocated), so the block may be reused.
 * -ENOENT when r is not a live grant of c (never granted, revoked
 * already). Another error (-EIO) means the window could not be shown dead:
 * destroy c before reusing the block.
 */
int conn_rma_revoke(struct conn *c, const struct conn_region *r);
/*
 * Owner side: len bytes at offset into the granted block r, from or into
 * local memory (zero copy when it lies in a registered region, else
 * through the connection's staging buffer). -EINVAL outside r, -EACCES
 * when the provider refused the rkey (revoked, or granted to another
 * connection), after which c is unusable. -EPERM before authentication.
 */
int conn_rma_read(struct conn *c, void *dst, size_t len,
		  const struct conn_region *r, uint64_t offset);
int conn_rma_write(struct conn *c, const void *src, size_t len,
		   const struct conn_region *r, uint64_t offset);

#endif
