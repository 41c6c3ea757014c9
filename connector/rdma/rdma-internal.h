/* SPDX-License-Identifier: MIT */
/*
 * Private to the RDMA transport: rdma.c does connection management
 * (librdmacm), rdma-setup.c the resources of one connection, rdma-io.c the
 * stream data path and the wait loop, rdma-rma.c one-sided access. Nothing
 * outside connector/rdma/ (and its unit test) includes this file.
 *
 * A connection is one RC queue pair. Stream bytes travel two-sided; block
 * data may travel one-sided:
 *
 *   active side                                  passive side
 *   rdma_resolve_addr -> ADDR_RESOLVED
 *   rdma_resolve_route -> ROUTE_RESOLVED
 *   post RECVs, rdma_connect(hello) --------->  CONNECT_REQUEST(hello)
 *                                               post RECVs, rdma_accept(hello)
 *   ESTABLISHED(hello) <---------------------   ESTABLISHED
 *
 *   SEND_WITH_IMM(data, imm=credits) -------->  RECV into ring slot
 *   <---------------- SEND_WITH_IMM(0 bytes, imm=credits)   (credit only)
 *   RDMA_READ / RDMA_WRITE (rkey) -----------> exposed region, no CPU there
 *   rdma_disconnect -------------------------> DISCONNECTED, RECVs flush
 *
 * Flow control: each side keeps RDMA_RX_DEPTH receive buffers posted. One
 * credit is one posted buffer of the peer; the hello carries the initial
 * count. A data SEND needs two credits (the last one is kept for a credit
 * message, so two senders that both owe credits can never deadlock); a
 * credit-only message needs one. Consumed buffers are reposted at once and
 * owed back, piggybacked in the immediate data of the next SEND or, when
 * half the ring is owed, in an explicit zero-length SEND. So a sender never
 * posts a SEND the receiver has no buffer for (no RNR), however fast it is.
 * Data SENDs carry the solicited bit and credit-only ones do not, so the
 * receive channel behind conn_fd() fires for bytes, not for credits.
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

#define RDMA_RX_DEPTH 64	      /* receive ring slots */
#define RDMA_TX_DEPTH 16	      /* send buffer slots */
#define RDMA_BUF_SIZE (64 * 1024)     /* one slot, one SEND at most */
#define RDMA_STAGE_SIZE (1024 * 1024) /* bounce buffer for RMA */
#define RDMA_RMA_CHUNK (1024 * 1024)  /* largest single READ/WRITE */
#define RDMA_RMA_DEPTH 8	      /* READ/WRITEs in flight */
#define RDMA_CREDIT_WRS 2	      /* credit-only SENDs in flight */
#define RDMA_RD_ATOMIC 4	      /* wanted RDMA READ depth */
#define RDMA_INLINE 128		      /* wanted max_inline_data */
#define RDMA_DEFAULT_TIMEOUT_MS 5000  /* connect/accept handshake */
#define RDMA_SQ_DEPTH \
	(RDMA_TX_DEPTH + RDMA_CREDIT_WRS + RDMA_RMA_DEPTH) /* send WQEs */

#define RDMA_HELLO_MAGIC 0x52504d43u /* "CMPR" little-endian */
#define RDMA_HELLO_VERSION 1

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

/* wr_id = kind << 32 | slot */
enum rdma_wr_kind {
	RDMA_WR_RECV = 1,
	RDMA_WR_DATA,
	RDMA_WR_CREDIT,
	RDMA_WR_RMA,
};

struct rdma_conn {
	struct conn base; /* first: conn.c casts */

	/* Set up at connect/accept, torn down at destroy; immutable between. */
	struct rdma_event_channel *cm_ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *rx_ch, *tx_ch;
	struct ibv_cq *rx_cq, *tx_cq;
	struct ibv_qp *qp;
	char *rx_buf, *tx_buf, *stage;
	struct ibv_mr *rx_mr, *tx_mr, *stage_mr;
	uint32_t max_inline;
	uint8_t rd_atom,
		init_rd_atom;	 /* RDMA READ depth as responder/initiator */
	uint32_t peer_buf_size;	 /* largest SEND the peer accepts */
	unsigned int peer_depth; /* receive buffers the peer posts */
	int ep_fd;		 /* conn_fd(): rx_ch, cm_ch, shut_fd */
	int shut_fd;		 /* eventfd, written once by shutdown */
	int kick_fd;		 /* eventfd, wakes the thread inside poll() */
	bool has_qp;		 /* rdma_create_qp succeeded */

	/*
	 * Everything below is protected by lock. Lock order: rma_lock, then
	 * lock. cond wakes threads waiting for the one thread in poll().
	 */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool polling;	/* one thread sleeps in poll() for all */
	bool connected; /* ESTABLISHED seen, rdma_disconnect not yet called */
	int error;	/* sticky -errno; 0 while healthy */
	int timeout_ms; /* per call, 0 = none */

	/* Filled receive slots in arrival order; rx_off is read in the head. */
	uint16_t rx_fifo[RDMA_RX_DEPTH];
	uint32_t rx_len[RDMA_RX_DEPTH];
	unsigned int rx_head, rx_count, rx_off;
	unsigned int rx_posted;
	unsigned int rx_owed; /* buffers reposted, not yet credited back */

	unsigned int tx_credits; /* peer buffers we may still fill */
	unsigned int tx_free;	 /* free send slots */
	unsigned int tx_next;	 /* next send slot to fill */
	unsigned int sq_free;	 /* free send queue entries */
	unsigned int credit_inflight;
	unsigned int credit_waiters; /* writers blocked for want of credits */
	unsigned int rma_inflight;
	int rma_error; /* first failure among the current RMA's WRs */

	struct ibv_mr **exposed; /* regions from conn_expose() */
	size_t n_exposed;

	pthread_mutex_t rma_lock; /* one RMA at a time: it owns stage */
};

static inline uint64_t rdma_wr_id(enum rdma_wr_kind kind, unsigned int slot)
{
	return (uint64_t)kind << 32 | slot;
}

typedef bool (*conn_rdma_ready_fn)(const struct rdma_conn *c);

/* rdma.c */
/* Handles queued CM events without blocking; lock held. */
void conn_rdma_cm_events_locked(struct rdma_conn *c);

/* rdma-setup.c */
/* A connection with nothing set up yet, or NULL. */
struct rdma_conn *conn_rdma_alloc(void);
/* Everything on c->id the connection needs, receives posted; -errno. */
int conn_rdma_setup(struct rdma_conn *c);
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

/* rdma-io.c */
extern const struct conn_ops conn_rdma_ops;
/* Posts the whole receive ring; at setup, before the peer may send. */
int conn_rdma_post_ring(struct rdma_conn *c);
/* Records the first fatal error and wakes every waiter; lock held. */
void conn_rdma_fail_locked(struct rdma_conn *c, int err);
/* Maps a failed completion to -errno. */
int conn_rdma_wc_errno(enum ibv_wc_status status);
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
int conn_rdma_expose(struct conn *c, void *base, size_t len,
		     struct conn_region *out);
int conn_rdma_rma_read(struct conn *c, void *dst, size_t len,
		       const struct conn_region *r, uint64_t offset);
int conn_rdma_rma_write(struct conn *c, const void *src, size_t len,
			const struct conn_region *r, uint64_t offset);

#endif
