// SPDX-License-Identifier: MIT
/*
 * The resources of one RDMA connection: at connect/accept the small ones a
 * handshake needs (CQs and their channels, the RC QP, small registered
 * buffers, the fds behind conn_fd()), after authentication the data path's
 * (big rings, staging buffer), so the data path never allocates and a
 * stranger never makes a node pin megabytes; their release in reverse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"

int conn_rdma_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

struct rdma_conn *conn_rdma_alloc(void)
{
	struct rdma_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base.ops = &conn_rdma_ops;
	c->ep_fd = c->shut_fd = c->kick_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	/* Deadlines come from cmp_now_ns(), the monotonic clock. */
	cmp_cond_init_monotonic(&c->cond);
	pthread_mutex_init(&c->rma_lock, NULL);
	pthread_mutex_init(&c->mw_lock, NULL);
	c->tx_free[RDMA_POOL_SMALL] = RDMA_SMALL_TX_DEPTH;
	c->tx_free[RDMA_POOL_BIG] = RDMA_TX_DEPTH;
	c->sq_free = RDMA_SQ_DEPTH;
	c->free_head = c->free_tail = UINT32_MAX; /* no free window */
	return c;
}

int conn_rdma_log_errno(const char *fmt, ...)
{
	int err = errno ? errno : EIO;
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_error_rl("%s: %s", what, strerror(err));
	return -err;
}

/* Registration pins memory: the usual reason it fails is the limit. */
const char *conn_rdma_memlock_hint(int err)
{
	return err == ENOMEM || err == EPERM
		       ? " (pinned memory is limited by RLIMIT_MEMLOCK, see "
			 "ulimit -l)"
		       : "";
}

/*
 * sink: RDMA READ lands here. iWARP writes READ responses like a remote
 * WRITE, so the buffer needs remote write access there (and only there:
 * the PD is shared by the device's connections); its rkey is never handed
 * to the peer. The access flags stay literal at each call: with a
 * variable, <infiniband/verbs.h> routes ibv_reg_mr() to ibv_reg_mr_iova2().
 */
static int reg_buffer(struct rdma_conn *c, struct rdma_buf *b, size_t len,
		      const char *what, bool sink)
{
	b->mem = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);
	if (!b->mem) {
		log_error_rl("%s: %s buffer (%zu bytes): out of memory",
			     c->base.peer, what, len);
		return -ENOMEM;
	}
	if (sink && c->dev->iwarp)
		b->mr = ibv_reg_mr(c->dev->pd, b->mem, len,
				   IBV_ACCESS_LOCAL_WRITE |
					   IBV_ACCESS_REMOTE_WRITE);
	else
		b->mr = ibv_reg_mr(c->dev->pd, b->mem, len,
				   IBV_ACCESS_LOCAL_WRITE);
	if (!b->mr) {
		int ret = errno ? -errno : -EIO;

		log_error_rl("%s: ibv_reg_mr(%s, %zu bytes): %s%s",
			     c->base.peer, what, len, strerror(-ret),
			     conn_rdma_memlock_hint(-ret));
		return ret;
	}
	return 0;
}

static void free_buffer(struct rdma_buf *b)
{
	if (b->mr)
		ibv_dereg_mr(b->mr);
	free(b->mem);
	b->mr = NULL;
	b->mem = NULL;
}

/*
 * A CQ with its own channel, armed from the start so the first completion
 * is seen. solicited_only: see rdma-internal.h on credits and conn_fd().
 */
static int make_cq(struct rdma_conn *c, struct ibv_comp_channel **ch,
		   struct ibv_cq **cq, int depth, int solicited_only)
{
	int ret;

	*ch = ibv_create_comp_channel(c->id->verbs);
	if (!*ch) {
		return conn_rdma_log_errno("%s: ibv_create_comp_channel",
					   c->base.peer);
	}
	ret = conn_rdma_set_nonblock((*ch)->fd);
	if (ret) {
		log_error_rl("%s: completion channel: %s", c->base.peer,
			     strerror(-ret));
		return ret;
	}
	*cq = ibv_create_cq(c->id->verbs, depth, c, *ch, 0);
	if (!*cq) {
		return conn_rdma_log_errno("%s: ibv_create_cq(%d)",
					   c->base.peer, depth);
	}
	ret = ibv_req_notify_cq(*cq, solicited_only);
	if (ret) {
		log_error_rl("%s: ibv_req_notify_cq: %s", c->base.peer,
			     strerror(ret));
		return -ret;
	}
	return 0;
}

/*
 * The queues are sized for the grown connection from the start (a QP
 * cannot grow): their entries are driver memory of a few KiB, not the
 * buffers behind them.
 */
static int make_qp(struct rdma_conn *c)
{
	struct ibv_qp_init_attr attr = {
		.send_cq = c->tx_cq,
		.recv_cq = c->rx_cq,
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};

	attr.cap.max_send_wr = RDMA_SQ_DEPTH;
	attr.cap.max_recv_wr = RDMA_RX_SLOTS;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	attr.cap.max_inline_data = RDMA_INLINE;

	if (rdma_create_qp(c->id, c->dev->pd, &attr)) {
		/* Some devices cannot inline: ask again without. */
		attr.cap.max_inline_data = 0;
		if (rdma_create_qp(c->id, c->dev->pd, &attr))
			return conn_rdma_log_errno("%s: rdma_create_qp",
						   c->base.peer);
	}
	c->has_qp = true;
	c->qp = c->id->qp;
	c->max_inline = attr.cap.max_inline_data;
	return 0;
}

static int make_fds(struct rdma_conn *c)
{
	int fds[3];

	c->shut_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (c->shut_fd < 0 || c->kick_fd < 0 || c->ep_fd < 0)
		goto err_log;
	fds[0] = c->rx_ch->fd;
	fds[1] = c->cm_ch->fd;
	fds[2] = c->shut_fd;
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		struct epoll_event ev = {.events = EPOLLIN};

		if (epoll_ctl(c->ep_fd, EPOLL_CTL_ADD, fds[i], &ev))
			goto err_log;
	}
	return 0;

err_log:
	return conn_rdma_log_errno("%s: event fds", c->base.peer);
}

/*
 * Everything a connection needs on c->id before it is authenticated, so
 * the data path never allocates: the device's shared PD, two CQs with
 * their channels (receives are what conn_fd() watches), the RC QP, the
 * small registered buffers, the posted small receives. A stranger that
 * connects costs this much and no more (RDMA_SMALL_BYTES registered).
 */
int conn_rdma_setup(struct rdma_conn *c)
{
	int ret;

	c->dev = conn_rdma_dev_get(c->id->verbs, c->base.peer);
	if (!c->dev)
		return errno ? -errno : -EIO;
	c->rd_atom = c->dev->rd_atom;
	c->init_rd_atom = c->dev->init_rd_atom;
	ret = make_cq(c, &c->rx_ch, &c->rx_cq, RDMA_RX_SLOTS, 1);
	if (ret)
		return ret;
	ret = make_cq(c, &c->tx_ch, &c->tx_cq, RDMA_SQ_DEPTH, 0);
	if (ret)
		return ret;
	ret = make_qp(c);
	if (ret)
		return ret;
	ret = reg_buffer(c, &c->rx_small,
			 (size_t)RDMA_SMALL_RX_DEPTH * RDMA_SMALL_BUF_SIZE,
			 "receive", false);
	if (ret)
		return ret;
	ret = reg_buffer(c, &c->tx_small,
			 (size_t)RDMA_SMALL_TX_DEPTH * RDMA_SMALL_BUF_SIZE +
				 RDMA_CTRL_AREA,
			 "send", false);
	if (ret)
		return ret;
	ret = make_fds(c);
	if (ret)
		return ret;
	return conn_rdma_post_small_ring(c);
}

/*
 * After the cluster handshake: the data path's buffers (RDMA_BIG_BYTES
 * registered), announced to the peer with GROW. Called once, by the thread
 * that ran the handshake; a failure leaves the connection on its small
 * buffers, and the caller closes it.
 */
int conn_rdma_authenticated(struct conn *base)
{
	struct rdma_conn *c = (struct rdma_conn *)base;
	struct rdma_buf rx = {0}, tx = {0}, stage = {0};
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = c->grown ? -EALREADY : c->error;
	pthread_mutex_unlock(&c->lock);
	if (ret)
		return ret == -EALREADY ? 0 : ret;
	ret = reg_buffer(c, &rx, (size_t)RDMA_RX_DEPTH * RDMA_BUF_SIZE,
			 "receive", false);
	if (!ret)
		ret = reg_buffer(c, &tx, (size_t)RDMA_TX_DEPTH * RDMA_BUF_SIZE,
				 "send", false);
	if (!ret)
		ret = reg_buffer(c, &stage, RDMA_STAGE_SIZE, "staging", true);
	if (ret)
		goto err_free;
	pthread_mutex_lock(&c->lock);
	c->rx_big = rx;
	c->tx_big = tx;
	c->stage = stage;
	ret = c->error ? c->error : conn_rdma_grow_locked(c);
	pthread_mutex_unlock(&c->lock);
	/* On failure the buffers are c's now: conn_rdma_free() frees them. */
	if (!ret)
		conn_rdma_dev_authenticated(c->dev);
	return ret;

err_free:
	free_buffer(&stage);
	free_buffer(&tx);
	free_buffer(&rx);
	return ret;
}

void conn_rdma_free(struct rdma_conn *c)
{
	if (!c)
		return;
	if (c->connected && c->id)
		rdma_disconnect(c->id);
	if (c->has_qp)
		rdma_destroy_qp(c->id);
	conn_rdma_windows_free(c);
	if (c->rx_cq)
		ibv_destroy_cq(c->rx_cq);
	if (c->tx_cq)
		ibv_destroy_cq(c->tx_cq);
	if (c->rx_ch)
		ibv_destroy_comp_channel(c->rx_ch);
	if (c->tx_ch)
		ibv_destroy_comp_channel(c->tx_ch);
	free_buffer(&c->stage);
	free_buffer(&c->tx_big);
	free_buffer(&c->rx_big);
	free_buffer(&c->tx_small);
	free_buffer(&c->rx_small);
	conn_rdma_dev_put(c->dev);
	if (c->id)
		rdma_destroy_id(c->id);
	if (c->cm_ch)
		rdma_destroy_event_channel(c->cm_ch);
	if (c->ep_fd >= 0)
		close(c->ep_fd);
	if (c->shut_fd >= 0)
		close(c->shut_fd);
	if (c->kick_fd >= 0)
		close(c->kick_fd);
	pthread_mutex_destroy(&c->mw_lock);
	pthread_mutex_destroy(&c->rma_lock);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
