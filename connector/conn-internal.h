/* SPDX-License-Identifier: MIT */
/*
 * The transport vtable behind include/cmp/conn.h. conn.c parses the scheme
 * and dispatches; each transport (tcp.c, mem.c, rdma.c) fills one struct
 * conn_transport and embeds struct conn / struct conn_listener at the start
 * of its own structs.
 */
#ifndef CMP_CONN_INTERNAL_H
#define CMP_CONN_INTERNAL_H

#include <sys/types.h>

#include "cmp/conn.h"

struct conn_transport {
	const char *scheme; /* "tcp", "mem", "rdma" */
	/* rest is what follows "scheme://" */
	int (*listen)(const char *rest, struct conn_listener **out);
	int (*connect)(const char *rest, int timeout_ms, struct conn **out);
	/* NULL when the transport has no one-sided access */
	int (*rma_register)(void *base, size_t len);
	int (*rma_unregister)(void *base);
};

struct conn_ops {
	int (*writev)(struct conn *c, const struct iovec *iov, int iovcnt);
	int (*readv)(struct conn *c, const struct iovec *iov, int iovcnt);
	/* NULL when the transport is not a plain byte stream (RDMA) */
	ssize_t (*read_some)(struct conn *c, void *buf, size_t len);
	int (*set_timeout)(struct conn *c, int timeout_ms);
	int (*fd)(const struct conn *c);
	bool (*pending)(const struct conn *c);
	void (*shutdown)(struct conn *c);
	void (*destroy)(struct conn *c);
	/* NULL when there is nothing to do (see conn_authenticated()) */
	int (*authenticated)(struct conn *c);
	/* NULL when the transport has no one-sided access */
	int (*rma_grant)(struct conn *c, void *addr, size_t len,
			 struct conn_region *out);
	int (*rma_revoke)(struct conn *c, const struct conn_region *r);
	int (*rma_read)(struct conn *c, void *dst, size_t len,
			const struct conn_region *r, uint64_t offset);
	int (*rma_write)(struct conn *c, const void *src, size_t len,
			 const struct conn_region *r, uint64_t offset);
};

struct wire_seal;    /* wire-io.c: keys, counters, staging buffers */
struct XXH3_state_s; /* xxhash.h's XXH3_state_t */

/*
 * Frame-level state of a connection (wire-io.c), set up by conn.c when the
 * connection is made and freed with it. The handshake (auth.c) fills the
 * peer fields and may seal the session; after that, rx_* and the receive
 * half of seal belong to the one reader thread, the send half to the one
 * writer thread.
 */
struct conn_wire {
	struct wire_seal *seal;	  /* NULL: plain frames (insecure, handshake) */
	struct XXH3_state_s *xxh; /* plain payloads read in several pieces */
	uint32_t peer_node;	  /* from the peer's HELLO; 0: a tool */
	uint64_t peer_incarnation;
	uint64_t session; /* conn_session_id(); 0 before the handshake */
	/* the payload cursor over the frame wire_recv_hdr() returned last */
	uint32_t rx_len;    /* payload bytes of the frame */
	uint32_t rx_done;   /* bytes handed to the caller (or skipped) */
	uint32_t rx_pulled; /* sealed: plaintext bytes taken off the wire */
	uint32_t rx_off, rx_end; /* sealed: verified bytes left in staging */
	uint64_t rx_csum;	 /* plain: the header's XXH3 */
	int rx_err;	      /* sticky: a frame failed, the stream is lost */
	int frame_ms;	      /* wire_set_frame_timeout(); 0: none */
	uint64_t rx_deadline; /* the current frame's rest is due; 0: none */
};

struct conn {
	const struct conn_ops *ops;
	char peer[80];
	/* last value given to conn_set_timeout(); kept by conn.c */
	int timeout_ms;
	struct conn_wire wire;
};

struct conn_listener_ops {
	int (*fd)(const struct conn_listener *l);
	int (*accept)(struct conn_listener *l, struct conn **out);
	void (*destroy)(struct conn_listener *l);
};

struct conn_listener {
	const struct conn_listener_ops *ops;
	char addr[80];
};

extern const struct conn_transport conn_tcp_transport;
extern const struct conn_transport conn_mem_transport;
#if CMP_HAVE_RDMA
extern const struct conn_transport conn_rdma_transport;
#endif

/*
 * The cluster handshake on c succeeded (auth.c calls this once, on both
 * ends): the transport may now spend what only an authenticated peer
 * deserves (RDMA: the data path's big registered buffers, about 6 MiB,
 * announced to the peer in band). Before it, a connection holds only what
 * the handshake needs. Returns 0 or -errno; on failure the handshake fails
 * and the caller closes the connection. A no-op for tcp:// and mem://.
 */
int conn_authenticated(struct conn *c);

/*
 * What every new connection gets, whatever its transport (conn.c does it
 * for connect and accept): its frame state. On failure *out is destroyed
 * and NULL.
 */
int conn_setup(struct conn **out);

/*
 * Stepped mode (cmp_stepped(), include/cmp/util.h): mem:// streams carry
 * their bytes in memory (mem-step.c), no fds, no threads. A listener with
 * an inline server gets each connection on the connecting thread, as
 * accepted(ctx, c) with c set up and its own from then on. The server
 * then names serve(ctx) for c: it runs on the writer's thread after every
 * write of the other end (the written bytes are complete frames: wire.h
 * writes a frame at once), and when the other end shuts down or goes, so
 * that it sees the end of the stream. serve() is never entered twice at a
 * time for one connection (a write during it runs it again after), and
 * it may destroy c. Reads of a stepped stream never wait: a read whose
 * bytes are not all there fails with -EAGAIN, or -ECONNRESET once the
 * other end is shut down. Both calls return -EOPNOTSUPP for anything but
 * a stepped mem:// listener or connection.
 */
int mem_step_listen(const char *rest, struct conn_listener **out);
int mem_step_connect(const char *rest, struct conn **out);
int conn_listener_set_inline(struct conn_listener *l,
			     void (*accepted)(void *ctx, struct conn *c),
			     void *ctx);
int conn_set_inline_serve(struct conn *c, void (*serve)(void *ctx), void *ctx);

/* Splits "host:port" / "[v6]:port" (hostport.c); returns 0 or -EINVAL. */
int conn_split_hostport(const char *rest, char *host, size_t hostlen,
			char *port, size_t portlen);

#endif
