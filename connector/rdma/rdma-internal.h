/* SPDX-License-Identifier: MIT */
/*
 * Private to the RDMA transport: rdma.c does connection management
 * (librdmacm), rdma-dev.c the state shared by the connections of one
 * device (protection domain, registered regions), rdma-setup.c the
 * resources of one connection and their growth after authentication,
 * rdma-io.c the stream data path and the wait loop, rdma-ctrl.c the
 * receive side and the in-band control message, rdma-rma.c one-sided
 * access, rdma-mw.c the memory windows behind it. Nothing outside
 * connector/rdma/ (and its unit tests) includes this file.
 *
 * A connection is one RC queue pair. Stream bytes travel two-sided; block
 * data may travel one-sided, through a memory window the provider bound
 * for one block on that very connection:
 *
 *   active side                                  passive side
 *   rdma_resolve_addr -> ADDR_RESOLVED
 *   rdma_resolve_route -> ROUTE_RESOLVED
 *   post small RECVs, rdma_connect(hello) --->  CONNECT_REQUEST(hello)
 *                                               post small RECVs,
 *                                               rdma_accept(hello)
 *   ESTABLISHED(hello) <---------------------   ESTABLISHED
 *   ... cluster handshake (auth.c) over the small buffers ...
 *   authenticated: post big RECVs,
 *   SEND_WITH_IMM(GROW, imm=CTRL|credits) --->  bigger SENDs from now on
 *   <-------------------------------------- GROW  (when it authenticated)
 *
 *   SEND_WITH_IMM(data, imm=credits) -------->  RECV into ring slot
 *   <---------------- SEND_WITH_IMM(0 bytes, imm=credits)   (credit only)
 *                          <----------------  BIND_MW(block) on its QP
 *   RDMA_READ / RDMA_WRITE (window rkey) ---> that block, no CPU there
 *                          <----------------  LOCAL_INV(rkey): gone
 *   rdma_disconnect -------------------------> DISCONNECTED, RECVs flush
 *
 * Flow control: one credit is one receive buffer the peer has posted; the
 * hello carries the initial count (the small ring). A data SEND needs two
 * credits (the last one is kept for a credit message, so two senders that
 * both owe credits can never deadlock); a credit-only or control message
 * needs one. Consumed buffers are reposted at once and owed back,
 * piggybacked in the immediate data of the next SEND or, when half the
 * ring is owed, in an explicit zero-length SEND. So a sender never posts a
 * SEND the receiver has no buffer for (no RNR), however fast it is. Data
 * SENDs carry the solicited bit and credit-only and control ones do not, so
 * the receive channel behind conn_fd() fires for bytes, not for credits.
 *
 * Growth: a connection starts with RDMA_SMALL_RX_DEPTH receive buffers of
 * RDMA_SMALL_BUF_SIZE bytes and a few small send slots, enough for the
 * handshake, and no staging buffer: a peer that never authenticates costs
 * only those. conn_authenticated() (after the cluster handshake) registers
 * the big ring, send slots and staging buffer, posts the big ring, stops
 * reposting small buffers, and sends GROW {big depth, big size, number of
 * small receives ever posted}, whose immediate data also returns the
 * credits owed. Receives complete in the order they were posted, so the
 * peer knows exactly which of its SENDs still land in a small buffer: SEND
 * number k (counting every SEND on the QP from 1) may be big once
 * k > small_total. Each side grows on its own handshake's success; the two
 * GROWs cross freely.
 */
#ifndef CMP_RDMA_INTERNAL_H
#define CMP_RDMA_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "cmp-config.h"
#include "../conn-internal.h"

#define RDMA_RX_DEPTH 64	      /* big receive ring slots */
#define RDMA_TX_DEPTH 16	      /* big send buffer slots */
#define RDMA_BUF_SIZE (64 * 1024)     /* one big slot, one SEND at most */
#define RDMA_SMALL_RX_DEPTH 8	      /* receive slots before auth */
#define RDMA_SMALL_TX_DEPTH 4	      /* send slots before auth */
#define RDMA_SMALL_BUF_SIZE 1024      /* one small slot */
#define RDMA_CTRL_AREA 64	      /* after the small send slots */
#define RDMA_STAGE_SIZE (1024 * 1024) /* bounce buffer for RMA */
#define RDMA_RMA_CHUNK (1024 * 1024)  /* largest single READ/WRITE */
#define RDMA_RMA_DEPTH 8	      /* READ/WRITEs in flight */
#define RDMA_CREDIT_WRS 2	      /* credit/control SENDs in flight */
#define RDMA_MW_WRS 1		      /* binds/invalidations in flight */
#define RDMA_RD_ATOMIC 4	      /* wanted RDMA READ depth */
#define RDMA_INLINE 128		      /* wanted max_inline_data */
#define RDMA_DEFAULT_TIMEOUT_MS 5000  /* connect/accept handshake */
#define RDMA_MW_TIMEOUT_MS 5000	      /* a bind or invalidation */
#define RDMA_MAX_REGIONS 4	      /* conn_rma_register() table */
#define RDMA_RX_SLOTS (RDMA_RX_DEPTH + RDMA_SMALL_RX_DEPTH)
#define RDMA_SQ_DEPTH                                            \
	(RDMA_TX_DEPTH + RDMA_SMALL_TX_DEPTH + RDMA_CREDIT_WRS + \
	 RDMA_RMA_DEPTH + RDMA_MW_WRS) /* send WQEs */

/* Registered bytes of one connection before and after authentication. */
#define RDMA_SMALL_BYTES                                     \
	((size_t)RDMA_SMALL_RX_DEPTH * RDMA_SMALL_BUF_SIZE + \
	 (size_t)RDMA_SMALL_TX_DEPTH * RDMA_SMALL_BUF_SIZE + RDMA_CTRL_AREA)
#define RDMA_BIG_BYTES                           \
	((size_t)RDMA_RX_DEPTH * RDMA_BUF_SIZE + \
	 (size_t)RDMA_TX_DEPTH * RDMA_BUF_SIZE + (size_t)RDMA_STAGE_SIZE)

#define RDMA_HELLO_MAGIC 0x52504d43u /* "CMPR" little-endian */
#define RDMA_HELLO_VERSION 2	     /* 2: small rings, then GROW */

/*
 * Private data of connect and accept; little-endian. Well under the 56
 * bytes an IB CM REQ leaves after librdmacm's own header.
 */
struct rdma_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t rx_depth; /* receive buffers the sender of this posts */
	uint32_t buf_size; /* bytes per receive buffer */
	uint32_t reserved;
};
_Static_assert(sizeof(struct rdma_hello) == 16, "rdma_hello is wire format");

/* Immediate data: credits returned, and whether the payload is control. */
#define RDMA_IMM_CTRL 0x80000000u
#define RDMA_IMM_CREDITS 0x0000ffffu

#define RDMA_CTRL_GROW 1

/* The payload of a control SEND; little-endian. */
struct rdma_ctrl {
	uint16_t type;	      /* RDMA_CTRL_GROW */
	uint16_t rx_depth;    /* big receive buffers just posted */
	uint32_t buf_size;    /* bytes per big receive buffer */
	uint32_t small_total; /* receives posted before them, all small */
	uint32_t reserved;
};
_Static_assert(sizeof(struct rdma_ctrl) == 16, "rdma_ctrl is wire format");
_Static_assert(sizeof(struct rdma_ctrl) <= RDMA_CTRL_AREA, "ctrl area");

/* wr_id = kind << 32 | slot */
enum rdma_wr_kind {
	RDMA_WR_RECV = 1,
	RDMA_WR_DATA,
	RDMA_WR_CREDIT, /* credit-only and control SENDs */
	RDMA_WR_RMA,
	RDMA_WR_MW,
};

/* Send slot pools: before and after authentication. */
enum { RDMA_POOL_SMALL, RDMA_POOL_BIG, RDMA_POOLS };

struct rdma_buf {
	char *mem;
	struct ibv_mr *mr;
};

/*
 * One per device (ibv_context), shared by every connection on it and kept
 * in rdma-dev.c's list: connections share its protection domain, because
 * a memory window must live in the PD of both the QP it is bound to and
 * the region it covers, and the region is registered once per device.
 * Fields after `refs` are set at creation and never change.
 */
struct rdma_dev {
	struct rdma_dev *next; /* under the device list lock */
	unsigned int refs;     /* connections; under the list lock */
	/* regions registered here, by conn_rma_register() slot; list lock */
	struct ibv_mr *mr[RDMA_MAX_REGIONS];
	bool reg_failed[RDMA_MAX_REGIONS]; /* tried, logged, not retried */
	bool authed;			   /* a connection authenticated */
	bool mw_logged;			   /* "no memory windows" said */

	struct ibv_context *verbs;
	struct ibv_pd *pd;
	char name[64];
	bool mw;    /* type 2 memory windows */
	bool iwarp; /* READ sinks need remote write */
	uint8_t rd_atom, init_rd_atom;
};

enum rdma_win_state { RDMA_WIN_FREE = 1, RDMA_WIN_BOUND, RDMA_WIN_DEAD };

/* A memory window of this connection; see rdma-mw.c. */
struct rdma_window {
	struct ibv_mw *mw; /* NULL once deallocated */
	uint64_t addr, len;
	uint32_t rkey; /* the current binding's, or the last one */
	uint32_t next_free;
	uint8_t state;
};

struct rdma_conn {
	struct conn base; /* first: conn.c casts */

	/* Set up at connect/accept, torn down at destroy; immutable between. */
	struct rdma_event_channel *cm_ch;
	struct rdma_cm_id *id;
	struct rdma_dev *dev; /* reference held */
	struct ibv_comp_channel *rx_ch, *tx_ch;
	struct ibv_cq *rx_cq, *tx_cq;
	struct ibv_qp *qp;
	struct rdma_buf rx_small, tx_small;
	uint32_t max_inline;
	uint8_t rd_atom,
		init_rd_atom; /* RDMA READ depth as responder/initiator */
	int ep_fd;	      /* conn_fd(): rx_ch, cm_ch, shut_fd */
	int shut_fd;	      /* eventfd, written once by shutdown */
	int kick_fd;	      /* eventfd, wakes the thread inside poll() */
	bool has_qp;	      /* rdma_create_qp succeeded */

	/*
	 * Registered by conn_rdma_authenticated() before it sets `grown`
	 * under lock; immutable from then on.
	 */
	struct rdma_buf rx_big, tx_big, stage;

	/*
	 * Everything below is protected by lock. Lock order: rma_lock or
	 * mw_lock, then lock. cond wakes threads waiting for the one thread
	 * in poll().
	 */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool polling;	/* one thread sleeps in poll() for all */
	bool connected; /* ESTABLISHED seen, rdma_disconnect not yet called */
	int error;	/* sticky -errno; 0 while healthy */
	int timeout_ms; /* per call, 0 = none */

	/* Receive slots: 0..RDMA_RX_DEPTH-1 big, the rest small. */
	uint16_t rx_fifo[RDMA_RX_SLOTS]; /* filled slots, arrival order */
	uint32_t rx_len[RDMA_RX_SLOTS];
	unsigned int rx_head, rx_count, rx_off; /* rx_off: read in head */
	unsigned int rx_posted;
	unsigned int rx_owed;	   /* buffers reposted, not yet credited */
	uint32_t rx_small_total;   /* small receives ever posted */
	bool grown;		   /* big buffers up: small ones not reposted */
	bool grow_pending;	   /* GROW still to be sent */
	bool peer_grown;	   /* the peer's GROW arrived */
	uint32_t peer_small_size;  /* from the hello */
	uint32_t peer_big_size;	   /* from GROW */
	uint64_t peer_small_total; /* the peer's first receives, all small */
	uint64_t tx_sends;	   /* SENDs posted, each fills one receive */

	unsigned int tx_credits; /* peer buffers we may still fill */
	unsigned int peer_depth; /* receive buffers the peer ever posts */
	unsigned int tx_free[RDMA_POOLS]; /* free send slots */
	unsigned int tx_next[RDMA_POOLS]; /* next send slot to fill */
	unsigned int sq_free;		  /* free send queue entries */
	unsigned int credit_inflight;
	unsigned int credit_waiters; /* writers blocked for want of credits */
	unsigned int rma_inflight;
	int rma_error; /* first failure among the current RMA's WRs */
	bool mw_busy;  /* a bind or invalidation is in flight */
	int mw_status; /* how the last one completed */

	pthread_mutex_t rma_lock; /* one RMA at a time: it owns stage */

	/* Memory windows; protected by mw_lock (rdma-mw.c). */
	pthread_mutex_t mw_lock;
	struct rdma_window *win;
	uint32_t nwin, win_cap;
	uint32_t free_head, free_tail; /* FIFO of RDMA_WIN_FREE windows */
	uint32_t *win_hash;	       /* bound windows by rkey; index+1 */
	uint32_t hash_cap;	       /* power of two, >= 2 * win_cap */
};

static inline uint64_t rdma_wr_id(enum rdma_wr_kind kind, unsigned int slot)
{
	return (uint64_t)kind << 32 | slot;
}

typedef bool (*conn_rdma_ready_fn)(const struct rdma_conn *c);

/* rdma.c */
/* Handles queued CM events without blocking; lock held. */
void conn_rdma_cm_events_locked(struct rdma_conn *c);

/* rdma-dev.c */
/* The shared state of verbs' device, created at first use; NULL + log. */
struct rdma_dev *conn_rdma_dev_get(struct ibv_context *verbs, const char *who);
/* Drops a reference; the last one (with no region registered) frees. */
void conn_rdma_dev_put(struct rdma_dev *d);
/* A connection on d authenticated: register the regions there. */
void conn_rdma_dev_authenticated(struct rdma_dev *d);
/*
 * The region MR holding [p, p+len) on d: 0 and *mr, -EINVAL when no
 * region holds it, -EOPNOTSUPP when its registration on d failed or has
 * not happened (no connection on d authenticated yet).
 */
int conn_rdma_dev_region(struct rdma_dev *d, const void *p, size_t len,
			 struct ibv_mr **mr);
/* Logs once per device that it has no memory windows; -EOPNOTSUPP. */
int conn_rdma_dev_no_mw(struct rdma_dev *d);
int conn_rdma_rma_register(void *base, size_t len);
int conn_rdma_rma_unregister(void *base);

/* rdma-setup.c */
/* A connection with nothing set up yet, or NULL. */
struct rdma_conn *conn_rdma_alloc(void);
/* Everything on c->id the connection needs, small receives posted. */
int conn_rdma_setup(struct rdma_conn *c);
/* The authenticated() op: the big buffers, posted and announced. */
int conn_rdma_authenticated(struct conn *base);
/* Releases whatever part of c exists; accepts NULL. */
void conn_rdma_free(struct rdma_conn *c);
int conn_rdma_set_nonblock(int fd);
/*
 * Logs "<fmt...>: <strerror(errno)>" once and returns -errno (-EIO if errno
 * is 0), errno read before anything can clobber it.
 */
int conn_rdma_log_errno(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* " (... ulimit -l)" when a registration failed for want of pinning. */
const char *conn_rdma_memlock_hint(int err);

/* rdma-ctrl.c */
/* Posts the small receive ring; at setup, before the peer may send. */
int conn_rdma_post_small_ring(struct rdma_conn *c);
/* Posts the big ring and queues GROW; lock held. */
int conn_rdma_grow_locked(struct rdma_conn *c);
/* Hands a consumed receive slot back (or lets a small one go). */
void conn_rdma_recycle_locked(struct rdma_conn *c, unsigned int slot);
/* Where receive slot `slot` lives. */
char *conn_rdma_rx_slot(const struct rdma_conn *c, unsigned int slot);
/* Handles one receive completion; lock held. */
void conn_rdma_on_recv_locked(struct rdma_conn *c, const struct ibv_wc *wc);
/* Sends owed credits or a pending GROW when due; lock held. */
void conn_rdma_send_credits_locked(struct rdma_conn *c);
/* Largest SEND the peer's next receive takes; lock held. */
uint32_t conn_rdma_send_limit_locked(const struct rdma_conn *c);

/* rdma-io.c */
extern const struct conn_ops conn_rdma_ops;
/* Records the first fatal error and wakes every waiter; lock held. */
void conn_rdma_fail_locked(struct rdma_conn *c, int err);
/* Maps a failed completion to -errno. */
int conn_rdma_wc_errno(enum ibv_wc_status status);
/* Logs a failed completion and fails the connection; lock held. */
void conn_rdma_completion_failed_locked(struct rdma_conn *c,
					const struct ibv_wc *wc,
					const char *what);
/* Absolute deadline of a call starting now (ns), 0 for none; lock held. */
uint64_t conn_rdma_deadline(const struct rdma_conn *c);
/* Posts one send-queue WR, counting its entry; -errno, fatal. Lock held. */
int conn_rdma_post_send_locked(struct rdma_conn *c, struct ibv_send_wr *wr);
/*
 * Blocks, lock held (dropped while asleep), until ready(c) or the deadline
 * (0: none). Returns 0 when ready, even if the connection failed meanwhile;
 * else the sticky error, -ETIMEDOUT included.
 */
int conn_rdma_wait_locked(struct rdma_conn *c, conn_rdma_ready_fn ready,
			  uint64_t deadline);

/* rdma-rma.c */
int conn_rdma_rma_read(struct conn *c, void *dst, size_t len,
		       const struct conn_region *r, uint64_t offset);
int conn_rdma_rma_write(struct conn *c, const void *src, size_t len,
			const struct conn_region *r, uint64_t offset);

/* rdma-mw.c */
int conn_rdma_grant(struct conn *c, void *addr, size_t len,
		    struct conn_region *out);
int conn_rdma_revoke(struct conn *c, const struct conn_region *r);
/* Deallocates every window; at destroy, after the QP. */
void conn_rdma_windows_free(struct rdma_conn *c);

#endif
