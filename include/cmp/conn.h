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
 * stream is ciphertext and tags). Transports that
 * can do one-sided access (RDMA) also offer conn_rma_read/write() into a
 * region the peer exposed with conn_expose(); the others answer -EOPNOTSUPP
 * and callers fall back to two-sided messages.
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
 * conn_accept() will not block (it waits up to 5 s for the handshake);
 * one-sided calls are serialized per connection and may come from any
 * thread; each connection pins about 6 MiB plus its exposed regions, so
 * daemons need RLIMIT_MEMLOCK or CAP_IPC_LOCK to match.
 *
 * Threads: a connection may be used by one reader and one writer thread at a
 * time; callers serialize further use. Listeners are single-threaded.
 * Memory: the caller owns buffers; the connector keeps no pointer to them
 * after a call returns (except regions passed to conn_expose(), which must
 * stay valid until the connection is destroyed).
 */
#ifndef CMP_CONN_H
#define CMP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct conn;
struct conn_listener;

/* What a peer needs to reach an exposed region one-sided. */
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
/* Shuts down both directions; a blocked reader in another thread wakes. */
void conn_shutdown(struct conn *c);
void conn_destroy(struct conn *c);

/* One-sided access. */
bool conn_has_rma(const struct conn *c);
/* Registers [base, base+len) for the peer's one-sided access. */
int conn_expose(struct conn *c, void *base, size_t len,
		struct conn_region *out);
int conn_rma_read(struct conn *c, void *dst, size_t len,
		  const struct conn_region *r, uint64_t offset);
int conn_rma_write(struct conn *c, const void *src, size_t len,
		   const struct conn_region *r, uint64_t offset);

#endif
