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
 * Threads: one accept thread, plus one thread per connection that has
 * started its handshake (sent its first bytes), each on a 512 KiB stack
 * (keep big buffers off the stack in handlers). A connection that has said
 * nothing yet waits in the accept thread's poll set, without a thread.
 * handle(), on_open() and on_close() run on the connection's thread.
 * server_reply() and server_push() may be called from any thread: writes
 * on a connection are serialized by its write mutex, so another thread can
 * push an unsolicited frame (NODE_STATE) while the connection's thread
 * replies.
 *
 * Limits (struct server_limits; every one a resource a stranger could make
 * us spend):
 *
 *   accepted --(first bytes)--> handshake --(key proven)--> authenticated
 *   \___ unauthenticated: max_unauth in all, ____/    max_conns in all,
 *         max_unauth_per_addr per source address       max_conns_per_node
 *         (IP, no port), handshake_ms from accept      per peer node id
 *
 * A connection over the per-address cap is closed at once, before any
 * thread starts for it. When the cap in all is full, a connection from an
 * address that holds none of its places takes the place of the oldest
 * connection of the address that holds the most (if that is more than
 * one), else it too is closed at once: a flood from fewer addresses than
 * max_unauth cannot keep a new node, or cmpctl, out. A connection over an
 * authenticated cap is closed right after its handshake, before
 * on_open(). The two kinds are counted apart, so strangers never take an
 * authenticated connection's place. Every connection must complete its
 * handshake within handshake_ms of being accepted. After it, once a
 * frame's header has arrived the rest of the frame must arrive within
 * frame_ms (wire_set_frame_timeout()), and each write of a reply completes
 * within frame_ms too; between frames a connection may wait for its next
 * header as long as its idle timeout says (none by default: owners keep
 * idle connections open). Log lines strangers can cause are rate-limited
 * (log_*_flood, log_*_rl), so a flood writes a bounded number of them.
 *
 * What a connection costs the server (x86-64; measured with 1,000
 * connections of each kind, RSS from /proc/self/status; see the README's
 * "Connection limits"):
 *   - waiting for its first bytes: its socket and 1.1 KiB (struct
 *     server_conn, the connector's struct conn and its XXH3 state); no
 *     thread;
 *   - in the handshake: plus a thread, 9.4 KiB in all: a 512 KiB stack of
 *     which a few pages are touched (and locked, under mlockall), and the
 *     kernel's own thread memory (task and kernel stack, about 20 KiB, not
 *     in RSS);
 *   - authenticated and sealed: 22.5 KiB when idle; the session (wire-io.c)
 *     allocates two staging buffers of 64 KiB + 16 (rx, tx) when it is
 *     sealed, resident once large frames have passed, so up to about
 *     150 KiB; plus what on_open() allocates (the block server's struct
 *     peer_conn, pool/peer.c: about 10 KiB of request staging);
 *   - TCP socket buffers: up to 4 MiB each way (connector/tcp.c), kernel
 *     memory used only by bytes in flight; bytes a stranger sends are read
 *     and judged as they arrive.
 * With the defaults, strangers cost at most 64 threads and about 0.6 MiB
 * of user memory whatever the flood (1,000 idle connections: 3 threads
 * and 3.4 MiB RSS in all for cmp-memserver, against 1,011 threads and
 * 16.4 MiB before the caps), and authenticated peers at most 1,024
 * threads and about 170 MiB.
 *
 * Errors: a handler returning -errno closes that connection with one log
 * line naming the peer, the opcode and the error; so do garbage, truncated
 * frames, oversized lengths, unknown opcodes, bad checksums and sealed
 * frames that fail verification, and frames whose rest does not arrive in
 * time. Every other connection keeps being served. A failed handshake
 * (wrong key, too slow) is logged with the peer address and closes the
 * connection before any frame is read.
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

/*
 * A plain protocol served instead of the cluster's handshake and frames
 * (the metrics' HTTP, include/cmp/metrics.h). Once a connection's first
 * bytes came, request() runs on its thread with the connection's deadline
 * at what is left of handshake_ms; it reads one request and judges it
 * (what it decided goes in server_conn_set_data()): 0 to answer it, or
 * -errno to close without an answer (the peer went away, or was too
 * slow: logged rate-limited). Then reply() answers, each write bounded by
 * frame_ms, and the connection closes. Until request() returns the
 * connection counts against max_unauth and max_unauth_per_addr, like one
 * in the handshake; while reply() runs, against max_conns and
 * max_conns_per_node (as node 0).
 */
struct server_plain {
	int (*request)(void *ctx, struct server_conn *sc);
	void (*reply)(void *ctx, struct server_conn *sc);
};

/* Defaults of struct server_limits (a field left 0 takes its default). */
#define SERVER_DEFAULT_HANDSHAKE_MS 2000
#define SERVER_DEFAULT_FRAME_MS 10000
#define SERVER_DEFAULT_MAX_UNAUTH 64
#define SERVER_DEFAULT_MAX_UNAUTH_PER_ADDR 8
#define SERVER_DEFAULT_MAX_CONNS 1024
#define SERVER_DEFAULT_MAX_CONNS_PER_NODE 64

/* What one server lets its peers hold (see "Limits" above); 0: default. */
struct server_limits {
	uint32_t handshake_ms;	      /* accept to key proven */
	uint32_t frame_ms;	      /* header to the rest of its frame */
	uint32_t max_unauth;	      /* in the handshake, in all */
	uint32_t max_unauth_per_addr; /* in the handshake, per source IP */
	uint32_t max_conns;	      /* authenticated, in all */
	uint32_t max_conns_per_node;  /* authenticated, per peer node id */
};

struct server_config {
	const char *listen_addr; /* "tcp://0.0.0.0:7000", "mem://mgr" */
	/* NULL: insecure mode; borrowed, must outlive the server */
	struct auth_keyring *keyring;
	uint32_t node_id;	 /* who we are in the handshake; 0: no node */
	uint64_t incarnation;	 /* likewise; cmp_incarnation() */
	const char *name;	 /* in log lines: "manager", "peer" */
	server_handle_fn handle; /* required, unless plain is set */
	/* NULL: the cluster's handshake and frames; else that protocol */
	const struct server_plain *plain;
	server_open_fn on_open;	  /* optional */
	server_close_fn on_close; /* optional */
	void *ctx;
	struct server_limits limits;
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
/*
 * How long the connection may wait for its next request header before it
 * is closed (ms; 0, the default: forever), for instance a registration
 * that must hear a heartbeat. Also the deadline of pushes sent while the
 * connection is idle. Connection thread.
 */
void server_conn_set_idle_timeout(struct server_conn *sc, int timeout_ms);
/* Shuts the connection down; its thread then ends it. Any thread. */
void server_conn_close(struct server_conn *sc);
/*
 * Fences the other connections of sc's peer node: shuts down every other
 * authenticated connection from that node and waits, up to timeout_ms,
 * until their threads have finished, so that nothing they received (a
 * write stuck in a socket buffer during a partition or a pause) is acted
 * on after this returns. 0, or -ETIMEDOUT. Connection thread.
 */
int server_fence_node(struct server_conn *sc, int timeout_ms);
/*
 * The same for one connection only: the one of sc's peer node whose
 * conn_session_id() is session (the peer saw it break), so that nothing
 * it received is acted on after this returns. 0 (also when it has
 * ended already, or never was), -ETIMEDOUT, -EINVAL for session 0.
 * Connection thread.
 */
int server_fence_conn(struct server_conn *sc, uint64_t session, int timeout_ms);

/* Keeps sc's memory valid after on_close() until the matching put. */
void server_conn_get(struct server_conn *sc);
void server_conn_put(struct server_conn *sc);

/*
 * What a server did since it started, and holds now. Bytes are those of
 * frames (header and payload as the handler sees them, before sealing),
 * so a 512-byte READ reply counts 544.
 */
struct server_stats {
	uint64_t accepted; /* connections accepted */
	uint64_t refused;  /* closed by a cap (before or after the handshake) */
	uint64_t hs_failed; /* handshakes that failed (key, time, garbage) */
	uint64_t fenced;    /* connections a fence shut down */
	uint64_t requests;  /* frames handed to the handler */
	uint64_t rx_bytes;  /* request frames received */
	uint64_t tx_bytes;  /* reply and push frames sent */
	uint32_t unauth;    /* connections in the handshake now */
	uint32_t authed;    /* authenticated connections now */
	uint32_t fencing;   /* fences waiting for connections to end now */
};

/* A snapshot of s's counters (each read on its own). Any thread. */
void server_get_stats(struct server *s, struct server_stats *out);

/* The underlying connection, for scatter reads on the connection thread. */
struct conn *server_conn_conn(struct server_conn *sc);
/* "tcp://1.2.3.4:5678"; valid as long as sc. */
const char *server_conn_peer(const struct server_conn *sc);
void server_conn_set_data(struct server_conn *sc, void *data);
void *server_conn_data(const struct server_conn *sc);

#endif
