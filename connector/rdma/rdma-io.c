// SPDX-License-Identifier: MIT
/*
 * The RDMA data path: stream bytes over SEND/RECV with credit-based flow
 * control (see the diagram in rdma-internal.h; the receive side is in
 * rdma-ctrl.c), send completions, and the one wait loop that blocks on the
 * completion channels. Nothing here allocates: every buffer was registered
 * at connect or at authentication.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"

enum { FD_RX, FD_TX, FD_CM, FD_SHUT, FD_KICK, FD_COUNT };

uint64_t conn_rdma_deadline(const struct rdma_conn *c)
{
	if (!c->timeout_ms)
		return 0;
	return cmp_now_ns() + (uint64_t)c->timeout_ms * 1000000;
}

static void kick(struct rdma_conn *c)
{
	uint64_t one = 1;

	/* A full eventfd still wakes the poller: nothing to handle. */
	if (write(c->kick_fd, &one, sizeof(one)) < 0)
		return;
}

void conn_rdma_fail_locked(struct rdma_conn *c, int err)
{
	if (!c->error)
		c->error = err;
	pthread_cond_broadcast(&c->cond);
	if (c->polling)
		kick(c);
}

int conn_rdma_wc_errno(enum ibv_wc_status status)
{
	switch (status) {
	case IBV_WC_SUCCESS:
		return 0;
	case IBV_WC_WR_FLUSH_ERR:
	case IBV_WC_RETRY_EXC_ERR:
	case IBV_WC_RNR_RETRY_EXC_ERR:
	case IBV_WC_REM_ABORT_ERR:
		return -ECONNRESET;
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
	case IBV_WC_LOC_ACCESS_ERR:
		return -EACCES;
	case IBV_WC_REM_INV_REQ_ERR:
	case IBV_WC_LOC_LEN_ERR:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int conn_rdma_post_send_locked(struct rdma_conn *c, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;
	int ret;

	ret = ibv_post_send(c->qp, wr, &bad);
	if (ret) {
		log_error_rl("%s: ibv_post_send: %s", c->base.peer,
			     strerror(ret));
		conn_rdma_fail_locked(c, -ret);
		return -ret;
	}
	c->sq_free--;
	return 0;
}

void conn_rdma_completion_failed_locked(struct rdma_conn *c,
					const struct ibv_wc *wc,
					const char *what)
{
	/*
	 * Flushes follow the one failed WR that took the QP to error (or our
	 * own disconnect); that WR says what happened, so it alone is logged.
	 */
	if (wc->status != IBV_WC_WR_FLUSH_ERR)
		log_error_rl("%s: %s completion: %s (vendor error %#x)",
			     c->base.peer, what, ibv_wc_status_str(wc->status),
			     wc->vendor_err);
	else
		log_debug("%s: %s completion: %s", c->base.peer, what,
			  ibv_wc_status_str(wc->status));
	conn_rdma_fail_locked(c, conn_rdma_wc_errno(wc->status));
}

static const char *send_what(enum rdma_wr_kind kind)
{
	switch (kind) {
	case RDMA_WR_RMA:
		return "RDMA READ/WRITE";
	case RDMA_WR_MW:
		return "memory window bind/invalidate";
	default:
		return "send";
	}
}

static void on_send_locked(struct rdma_conn *c, const struct ibv_wc *wc)
{
	enum rdma_wr_kind kind = (enum rdma_wr_kind)(wc->wr_id >> 32);
	int err = conn_rdma_wc_errno(wc->status);

	c->sq_free++;
	switch (kind) {
	case RDMA_WR_DATA:
		c->tx_free[(uint32_t)wc->wr_id >> 16 ? RDMA_POOL_BIG
						     : RDMA_POOL_SMALL]++;
		break;
	case RDMA_WR_CREDIT:
		c->credit_inflight--;
		break;
	case RDMA_WR_RMA:
		c->rma_inflight--;
		if (err && !c->rma_error)
			c->rma_error = err;
		break;
	case RDMA_WR_MW:
		c->mw_busy = false;
		c->mw_status = err;
		break;
	default:
		break;
	}
	if (err)
		conn_rdma_completion_failed_locked(c, wc, send_what(kind));
}

/*
 * Completions taken by a thread other than the one in poll() may be what
 * that thread waits for (credits for a writer, bytes for a reader), and
 * their channel event is gone: wake it.
 */
static void wake_others_locked(struct rdma_conn *c)
{
	pthread_cond_broadcast(&c->cond);
	if (c->polling)
		kick(c);
}

/* Polls one CQ empty; returns whether anything completed. */
static bool drain_cq_locked(struct rdma_conn *c, struct ibv_cq *cq, bool rx)
{
	struct ibv_wc wc[16];
	bool any = false;
	int n;

	while ((n = ibv_poll_cq(cq, ARRAY_SIZE(wc), wc)) > 0) {
		for (int i = 0; i < n; i++) {
			if (rx)
				conn_rdma_on_recv_locked(c, &wc[i]);
			else
				on_send_locked(c, &wc[i]);
		}
		any = true;
	}
	if (n < 0) {
		log_error_rl("%s: ibv_poll_cq: failed (%d)", c->base.peer, n);
		conn_rdma_fail_locked(c, -EIO);
	}
	return any;
}

/*
 * Data SENDs are solicited, credit-only ones are not, and the receive CQ is
 * normally armed for solicited completions (and failures) only: so
 * conn_fd() wakes an event loop for bytes, not for credits. A writer that
 * waits for credits needs every receive and arms for all meanwhile.
 */
static int rx_solicited_only(const struct rdma_conn *c)
{
	return c->credit_waiters == 0;
}

/*
 * Takes the channel's pending events and re-arms the CQ. Invariant: each
 * CQ is armed or has an event waiting on its channel, so a completion is
 * never left behind a poll() that sleeps.
 */
static void consume_events_locked(struct rdma_conn *c,
				  struct ibv_comp_channel *ch,
				  struct ibv_cq *cq, int solicited_only)
{
	struct ibv_cq *ev_cq;
	unsigned int n = 0;
	void *ctx;
	int ret;

	while (ibv_get_cq_event(ch, &ev_cq, &ctx) == 0)
		n++;
	if (!n)
		return;
	ibv_ack_cq_events(cq, n);
	ret = ibv_req_notify_cq(cq, solicited_only);
	if (ret) {
		log_error_rl("%s: ibv_req_notify_cq: %s", c->base.peer,
			     strerror(ret));
		conn_rdma_fail_locked(c, -ret);
	}
}

/*
 * Makes every bit of progress possible without blocking: completions,
 * channel events and CM events flagged by poll() in revents, credits.
 */
static void progress_locked(struct rdma_conn *c, const struct pollfd *pfd)
{
	bool any;

	if (pfd && pfd[FD_RX].revents)
		consume_events_locked(c, c->rx_ch, c->rx_cq,
				      rx_solicited_only(c));
	if (pfd && pfd[FD_TX].revents)
		consume_events_locked(c, c->tx_ch, c->tx_cq, 0);
	/* Sends first: a failed one is the cause, receive flushes follow. */
	any = drain_cq_locked(c, c->tx_cq, false);
	any |= drain_cq_locked(c, c->rx_cq, true);
	if (pfd && pfd[FD_CM].revents)
		conn_rdma_cm_events_locked(c);
	if (c->rx_owed || c->grow_pending)
		conn_rdma_send_credits_locked(c);
	if (any)
		wake_others_locked(c);
}

static int timed_out_locked(struct rdma_conn *c)
{
	log_debug("%s: timed out after %d ms", c->base.peer, c->timeout_ms);
	conn_rdma_fail_locked(c, -ETIMEDOUT);
	return -ETIMEDOUT;
}

/* One thread sleeps in poll() on every fd of c; the others wait on cond. */
static int poll_locked(struct rdma_conn *c, int ms)
{
	struct pollfd pfd[FD_COUNT] = {
		[FD_RX] = {.fd = c->rx_ch->fd, .events = POLLIN},
		[FD_TX] = {.fd = c->tx_ch->fd, .events = POLLIN},
		[FD_CM] = {.fd = c->cm_ch->fd, .events = POLLIN},
		[FD_SHUT] = {.fd = c->shut_fd, .events = POLLIN},
		[FD_KICK] = {.fd = c->kick_fd, .events = POLLIN},
	};
	uint64_t count;
	int n;

	c->polling = true;
	pthread_mutex_unlock(&c->lock);
	n = poll(pfd, FD_COUNT, ms);
	pthread_mutex_lock(&c->lock);
	c->polling = false;
	if (n < 0 && errno != EINTR) {
		n = -errno;
		log_error_rl("%s: poll: %s", c->base.peer, strerror(-n));
		conn_rdma_fail_locked(c, n);
		return n;
	}
	if (n > 0 && pfd[FD_KICK].revents &&
	    read(c->kick_fd, &count, sizeof(count)) < 0)
		count = 0;
	progress_locked(c, n > 0 ? pfd : NULL);
	pthread_cond_broadcast(&c->cond);
	return 0;
}

/*
 * Blocks until ready(c) or the deadline (0: none). Returns 0 when ready,
 * even if the connection failed meanwhile (buffered bytes stay readable);
 * else the sticky error, -ETIMEDOUT included.
 */
int conn_rdma_wait_locked(struct rdma_conn *c, conn_rdma_ready_fn ready,
			  uint64_t deadline)
{
	struct timespec ts;
	int ms, ret;

	for (;;) {
		progress_locked(c, NULL);
		if (ready(c))
			return 0;
		if (c->error)
			return c->error;
		ms = -1;
		if (deadline) {
			uint64_t now = cmp_now_ns();

			if (now >= deadline)
				return timed_out_locked(c);
			ms = (int)MIN((deadline - now + 999999) / 1000000,
				      60000);
		}
		if (!c->polling) {
			ret = poll_locked(c, ms);
			if (ret)
				return ret;
			continue;
		}
		if (!deadline) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		ts.tv_sec = (time_t)(deadline / 1000000000);
		ts.tv_nsec = (long)(deadline % 1000000000);
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	}
}

static int tx_pool(const struct rdma_conn *c)
{
	return c->grown ? RDMA_POOL_BIG : RDMA_POOL_SMALL;
}

static bool can_send_data(const struct rdma_conn *c)
{
	/* The last credit is kept for a credit message, see the header. */
	return c->tx_free[tx_pool(c)] && c->sq_free && c->tx_credits >= 2;
}

static bool has_data(const struct rdma_conn *c)
{
	return c->rx_count > 0;
}

/* Gathers from the iovec cursor into one send slot; returns bytes taken. */
static size_t gather(char *dst, size_t room, const struct iovec *iov,
		     int iovcnt, int *idx, size_t *off)
{
	size_t n = 0;

	while (n < room && *idx < iovcnt) {
		size_t take = MIN(iov[*idx].iov_len - *off, room - n);

		memcpy(dst + n, (const char *)iov[*idx].iov_base + *off, take);
		n += take;
		*off += take;
		if (*off == iov[*idx].iov_len) {
			(*idx)++;
			*off = 0;
		}
	}
	return n;
}

static const struct rdma_buf *pool_buf(const struct rdma_conn *c, int pool)
{
	return pool == RDMA_POOL_BIG ? &c->tx_big : &c->tx_small;
}

static uint32_t pool_size(int pool)
{
	return pool == RDMA_POOL_BIG ? RDMA_BUF_SIZE : RDMA_SMALL_BUF_SIZE;
}

static unsigned int pool_depth(int pool)
{
	return pool == RDMA_POOL_BIG ? RDMA_TX_DEPTH : RDMA_SMALL_TX_DEPTH;
}

static char *tx_slot(const struct rdma_conn *c, int pool, unsigned int slot)
{
	return pool_buf(c, pool)->mem + (size_t)slot * pool_size(pool);
}

static int post_data_locked(struct rdma_conn *c, int pool, unsigned int slot,
			    size_t n)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)tx_slot(c, pool, slot),
		.length = (uint32_t)n,
		.lkey = pool_buf(c, pool)->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = rdma_wr_id(RDMA_WR_DATA,
				    (unsigned int)pool << 16 | slot),
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND_WITH_IMM,
		.send_flags = IBV_SEND_SOLICITED |
			      (n <= c->max_inline ? IBV_SEND_INLINE : 0),
		.imm_data = htonl(c->rx_owed),
	};
	int ret;

	ret = conn_rdma_post_send_locked(c, &wr);
	if (ret)
		return ret;
	c->tx_credits--;
	c->tx_sends++;
	c->rx_owed = 0;
	return 0;
}

static int wait_to_send_locked(struct rdma_conn *c, uint64_t deadline)
{
	int ret;

	if (c->tx_credits >= 2)
		return conn_rdma_wait_locked(c, can_send_data, deadline);
	/* Credits may come unsolicited: wake on every receive meanwhile. */
	c->credit_waiters++;
	ret = ibv_req_notify_cq(c->rx_cq, 0);
	if (ret) {
		log_error_rl("%s: ibv_req_notify_cq: %s", c->base.peer,
			     strerror(ret));
		conn_rdma_fail_locked(c, -ret);
		ret = -ret;
	} else {
		ret = conn_rdma_wait_locked(c, can_send_data, deadline);
	}
	c->credit_waiters--;
	return ret;
}

static int rdma_writev(struct conn *base, const struct iovec *iov, int iovcnt)
{
	struct rdma_conn *c = (struct rdma_conn *)base;
	uint64_t deadline;
	size_t off = 0, n, room;
	unsigned int slot;
	int idx = 0, ret = 0, pool;

	pthread_mutex_lock(&c->lock);
	deadline = conn_rdma_deadline(c);
	for (;;) {
		while (idx < iovcnt && off == iov[idx].iov_len) {
			idx++;
			off = 0;
		}
		if (idx == iovcnt)
			break;
		ret = c->error ? c->error : wait_to_send_locked(c, deadline);
		if (!ret && c->error)
			ret = c->error;
		if (ret)
			break;
		pool = tx_pool(c);
		slot = c->tx_next[pool];
		c->tx_next[pool] = (slot + 1) % pool_depth(pool);
		c->tx_free[pool]--;
		/* The limit can only grow before the post (rdma-ctrl.c). */
		room = MIN(pool_size(pool), conn_rdma_send_limit_locked(c));
		/* The slot is ours until its SEND completes: copy unlocked. */
		pthread_mutex_unlock(&c->lock);
		n = gather(tx_slot(c, pool, slot), room, iov, iovcnt, &idx,
			   &off);
		pthread_mutex_lock(&c->lock);
		ret = post_data_locked(c, pool, slot, n);
		if (ret)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* Hands the head slot back to the receive queue once it is read. */
static void consume_head_locked(struct rdma_conn *c, size_t n)
{
	unsigned int slot = c->rx_fifo[c->rx_head];

	c->rx_off += (unsigned int)n;
	if (c->rx_off < c->rx_len[slot])
		return;
	c->rx_head = (c->rx_head + 1) % RDMA_RX_SLOTS;
	c->rx_count--;
	c->rx_off = 0;
	conn_rdma_recycle_locked(c, slot);
	conn_rdma_send_credits_locked(c);
}

static int rdma_readv(struct conn *base, const struct iovec *iov, int iovcnt)
{
	struct rdma_conn *c = (struct rdma_conn *)base;
	uint64_t deadline;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	deadline = conn_rdma_deadline(c);
	for (int i = 0; i < iovcnt && !ret; i++) {
		char *dst = iov[i].iov_base;
		size_t want = iov[i].iov_len;

		while (want) {
			unsigned int slot;
			size_t n;

			ret = conn_rdma_wait_locked(c, has_data, deadline);
			if (ret)
				break;
			slot = c->rx_fifo[c->rx_head];
			n = MIN(want, c->rx_len[slot] - c->rx_off);
			/* Only the reader moves rx_head: copy unlocked. */
			pthread_mutex_unlock(&c->lock);
			memcpy(dst, conn_rdma_rx_slot(c, slot) + c->rx_off, n);
			pthread_mutex_lock(&c->lock);
			consume_head_locked(c, n);
			dst += n;
			want -= n;
		}
	}
	/* Keep conn_fd() honest: no stale event when nothing is buffered. */
	if (!c->rx_count && !c->error) {
		consume_events_locked(c, c->rx_ch, c->rx_cq,
				      rx_solicited_only(c));
		if (drain_cq_locked(c, c->rx_cq, true))
			wake_others_locked(c);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static int rdma_set_timeout(struct conn *base, int timeout_ms)
{
	struct rdma_conn *c = (struct rdma_conn *)base;

	if (timeout_ms < 0)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	c->timeout_ms = timeout_ms;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int rdma_fd(const struct conn *base)
{
	return ((const struct rdma_conn *)base)->ep_fd;
}

static bool rdma_pending(const struct conn *base)
{
	const struct rdma_conn *c = (const struct rdma_conn *)base;

	return __atomic_load_n(&c->rx_count, __ATOMIC_RELAXED) > 0;
}

static void rdma_shutdown(struct conn *base)
{
	struct rdma_conn *c = (struct rdma_conn *)base;
	uint64_t one = 1;

	pthread_mutex_lock(&c->lock);
	conn_rdma_fail_locked(c, -ECONNRESET);
	if (write(c->shut_fd, &one, sizeof(one)) < 0)
		log_debug("%s: shutdown eventfd: %s", c->base.peer,
			  strerror(errno));
	if (c->connected) {
		c->connected = false;
		rdma_disconnect(c->id);
	}
	pthread_mutex_unlock(&c->lock);
}

static void rdma_destroy(struct conn *base)
{
	conn_rdma_free((struct rdma_conn *)base);
}

const struct conn_ops conn_rdma_ops = {
	.writev = rdma_writev,
	.readv = rdma_readv,
	.set_timeout = rdma_set_timeout,
	.fd = rdma_fd,
	.pending = rdma_pending,
	.shutdown = rdma_shutdown,
	.destroy = rdma_destroy,
	.authenticated = conn_rdma_authenticated,
	.rma_grant = conn_rdma_grant,
	.rma_revoke = conn_rdma_revoke,
	.rma_read = conn_rdma_rma_read,
	.rma_write = conn_rdma_rma_write,
};
