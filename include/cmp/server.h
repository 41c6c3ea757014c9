/* SPDX-License-Identifier: MIT */
/*
 * The generic connection server shared by cmp-manager and the peer (block)
 * service: it listens on a connector address, runs the cluster handshake on
 * every accepted connection, then reads frames and hands each header to the
 * caller's handler on that connection's own thread. The handler reads the
 * payload itself through the payload cursor (server_read_payload(), or
 * wire_read()/wire_readv()/wire_skip_payload() of include/cmp/wire.h on
 * server_conn_conn()), serves the request and replies with server_reply()
 * on the same thread: no hand-offs between threads on the request path.
 * With a keyring every frame after the handshake is sealed, and the
 * cursor only ever hands out verified bytes.
 *
 * Threads: one accept thread, plus one thread per connection, each on a
 * 512 KiB stack (keep big buffers off the stack in handlers). handle(),
 * on_open() and on_close() run on the connection's thread. server_reply()
 * and server_push() may be called from any thread: writes on a connection
 * are serialized by its write mutex, so another thread can push an
 * unsolicited frame (NODE_DEAD) while the connection's thread replies.
 *
 * Errors: a handler returning -errno closes that connection with one log
 * line naming the peer, the opcode and the error; so do garbage, truncated
 * frames, oversized lengths, unknown opcodes, bad checksums and sealed
 * frames that fail verification. Every other connection keeps being
 * served. A failed handshake (wrong key) is logged with the peer address
 * and closes the connection before any frame is read.
 *
 * Memory and lifetime: the server owns each struct server_conn. It stays
 * valid from on_open() until on_close() returns; to use it from another
 * thread beyond that window, take a reference with server_conn_get() while
 * it is known to be valid (for instance under a lock that on_close() also
 * takes) and drop it with server_conn_put(). Pushing to a closed connection
 * returns -ECONNRESET. Per-connection user data (server_conn_set_data()) is
 * the caller's to free, typically in on_close().
 */
#ifndef CMP_SERVER_H
#define CMP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct auth_keyring;
struct conn;
struct server;
struct server_conn;
struct wire_hdr;

/*
 * Called once per received frame with its decoded header. Must consume the
 * h->len payload bytes (read or skip) before returning 0. Returning -errno
 * closes the connection (the server logs it once).
 */
typedef int (*server_handle_fn)(void *ctx, struct server_conn *sc,
				const struct wire_hdr *h);
/* After the handshake, before the first frame; -errno refuses the peer. */
typedef int (*server_open_fn)(void *ctx, struct server_conn *sc);
/* Once per connection that on_open() accepted, when it ends. */
typedef void (*server_close_fn)(void *ctx, struct server_conn *sc);

struct server_config {
	const char *listen_addr; /* "tcp://0.0.0.0:7000", "mem://mgr" */
	/* NULL: insecure mode; borrowed, must outlive the server */
	struct auth_keyring *keyring;
	uint32_t node_id;	  /* who we are in the handshake; 0: no node */
	uint64_t incarnation;	  /* likewise; cmp_incarnation() */
	const char *name;	  /* in log lines: "manager", "peer" */
	server_handle_fn handle;  /* required */
	server_open_fn on_open;	  /* optional */
	server_close_fn on_close; /* optional */
	void *ctx;
	int handshake_timeout_ms; /* <= 0: 2000 */
	unsigned int max_conns;	  /* 0: 1024 */
};

/*
 * Listens on cfg->listen_addr and starts the accept thread. Returns the
 * server, or NULL with errno set (EADDRINUSE, EINVAL, EPROTONOSUPPORT...).
 * The failure is logged once (by the connector when listening fails).
 */
struct server *server_create(const struct server_config *cfg);
/* The bound address (port 0 resolved), owned by s. */
const char *server_addr(const struct server *s);
/*
 * Closes the listener and every connection (each gets on_close()), joins
 * all threads and frees s. Must not be called from a handler. NULL is ok.
 */
void server_destroy(struct server *s);

/*
 * Reads the (rest of the) payload of h into buf (cap bytes), verified.
 * -EMSGSIZE when more than cap bytes are left, -EBADMSG when verification
 * fails, or the connection's -errno. Connection thread only.
 */
int server_read_payload(struct server_conn *sc, const struct wire_hdr *h,
			void *buf, size_t cap);
/* Skips the rest of the payload of a refused request. Connection thread. */
int server_skip_payload(struct server_conn *sc, const struct wire_hdr *h);
/*
 * Replies to request h: same opcode and id, WIRE_F_REPLY, the given wire
 * status, and payload iov[0..iovcnt). Any thread.
 */
int server_reply(struct server_conn *sc, const struct wire_hdr *h,
		 uint32_t status, const struct iovec *iov, int iovcnt);
/*
 * Sends an unsolicited request frame (no reply expected) with opcode op and
 * a server-chosen id (top bit set). Any thread. -ECONNRESET once closed.
 */
int server_push(struct server_conn *sc, unsigned int op,
		const struct iovec *iov, int iovcnt);
/* Shuts the connection down; its thread then ends it. Any thread. */
void server_conn_close(struct server_conn *sc);

/* Keeps sc's memory valid after on_close() until the matching put. */
void server_conn_get(struct server_conn *sc);
void server_conn_put(struct server_conn *sc);

/* The underlying connection, for scatter reads on the connection thread. */
struct conn *server_conn_conn(struct server_conn *sc);
/* "tcp://1.2.3.4:5678"; valid as long as sc. */
const char *server_conn_peer(const struct server_conn *sc);
void server_conn_set_data(struct server_conn *sc, void *data);
void *server_conn_data(const struct server_conn *sc);

#endif
