// SPDX-License-Identifier: MIT
/*
 * The resources of one RDMA connection, allocated once at connect/accept so
 * the data path never allocates (PD, CQs and their channels, the RC QP, the
 * registered rings, the fds behind conn_fd()), and their release in reverse.
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
	pthread_condattr_t attr;

	if (!c)
		return NULL;
	c->base.ops = &conn_rdma_ops;
	c->ep_fd = c->shut_fd = c->kick_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	/* Deadlines come from cmp_now_ns(), the monotonic clock. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&c->rma_lock, NULL);
	c->tx_free = RDMA_TX_DEPTH;
	c->sq_free = RDMA_SQ_DEPTH;
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
	log_error("%s: %s", what, strerror(err));
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
 * WRITE, so the buffer needs remote write access there; its rkey is never
 * handed to the peer. The access flags stay literal at each call: with a
 * variable, <infiniband/verbs.h> routes ibv_reg_mr() to ibv_reg_mr_iova2().
 */
static int reg_buffer(struct rdma_conn *c, char **buf, struct ibv_mr **mr,
		      size_t len, const char *what, bool sink)
{
	*buf = aligned_alloc(4096, len);
	if (!*buf) {
		log_error("%s: %s buffer (%zu bytes): out of memory",
			  c->base.peer, what, len);
		return -ENOMEM;
	}
	if (sink)
		*mr = ibv_reg_mr(c->pd, *buf, len,
				 IBV_ACCESS_LOCAL_WRITE |
					 IBV_ACCESS_REMOTE_WRITE);
	else
		*mr = ibv_reg_mr(c->pd, *buf, len, IBV_ACCESS_LOCAL_WRITE);
	if (!*mr) {
		int ret = errno ? -errno : -EIO;

		log_error("%s: ibv_reg_mr(%s, %zu bytes): %s%s", c->base.peer,
			  what, len, strerror(-ret),
			  conn_rdma_memlock_hint(-ret));
		return ret;
	}
	return 0;
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
		log_error("%s: completion channel: %s", c->base.peer,
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
		log_error("%s: ibv_req_notify_cq: %s", c->base.peer,
			  strerror(ret));
		return -ret;
	}
	return 0;
}

static int make_qp(struct rdma_conn *c)
{
	struct ibv_qp_init_attr attr = {
		.send_cq = c->tx_cq,
		.recv_cq = c->rx_cq,
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};

	attr.cap.max_send_wr = RDMA_SQ_DEPTH;
	attr.cap.max_recv_wr = RDMA_RX_DEPTH;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	attr.cap.max_inline_data = RDMA_INLINE;

	if (rdma_create_qp(c->id, c->pd, &attr)) {
		/* Some devices cannot inline: ask again without. */
		attr.cap.max_inline_data = 0;
		if (rdma_create_qp(c->id, c->pd, &attr))
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
 * Everything a connection needs on c->id, allocated once so the data path
 * never allocates: PD, two CQs with their channels (receives are what
 * conn_fd() watches), the RC QP, the registered rings, the posted receives.
 */
int conn_rdma_setup(struct rdma_conn *c)
{
	struct ibv_device_attr dev;
	int ret;

	c->pd = ibv_alloc_pd(c->id->verbs);
	if (!c->pd) {
		return conn_rdma_log_errno("%s: ibv_alloc_pd", c->base.peer);
	}
	ret = make_cq(c, &c->rx_ch, &c->rx_cq, RDMA_RX_DEPTH, 1);
	if (ret)
		return ret;
	ret = make_cq(c, &c->tx_ch, &c->tx_cq, RDMA_SQ_DEPTH, 0);
	if (ret)
		return ret;
	ret = make_qp(c);
	if (ret)
		return ret;
	ret = reg_buffer(c, &c->rx_buf, &c->rx_mr,
			 (size_t)RDMA_RX_DEPTH * RDMA_BUF_SIZE, "receive",
			 false);
	if (ret)
		return ret;
	ret = reg_buffer(c, &c->tx_buf, &c->tx_mr,
			 (size_t)RDMA_TX_DEPTH * RDMA_BUF_SIZE, "send", false);
	if (ret)
		return ret;
	ret = reg_buffer(c, &c->stage, &c->stage_mr, RDMA_STAGE_SIZE, "staging",
			 true);
	if (ret)
		return ret;
	ret = ibv_query_device(c->id->verbs, &dev);
	if (ret) {
		log_error("%s: ibv_query_device: %s", c->base.peer,
			  strerror(ret));
		return -ret;
	}
	c->rd_atom = (uint8_t)MIN(RDMA_RD_ATOMIC, dev.max_qp_rd_atom);
	c->init_rd_atom = (uint8_t)MIN(RDMA_RD_ATOMIC, dev.max_qp_init_rd_atom);
	ret = make_fds(c);
	if (ret)
		return ret;
	return conn_rdma_post_ring(c);
}

void conn_rdma_free(struct rdma_conn *c)
{
	if (!c)
		return;
	if (c->connected && c->id)
		rdma_disconnect(c->id);
	for (size_t i = 0; i < c->n_exposed; i++)
		ibv_dereg_mr(c->exposed[i]);
	free(c->exposed);
	if (c->has_qp)
		rdma_destroy_qp(c->id);
	if (c->rx_cq)
		ibv_destroy_cq(c->rx_cq);
	if (c->tx_cq)
		ibv_destroy_cq(c->tx_cq);
	if (c->rx_ch)
		ibv_destroy_comp_channel(c->rx_ch);
	if (c->tx_ch)
		ibv_destroy_comp_channel(c->tx_ch);
	if (c->stage_mr)
		ibv_dereg_mr(c->stage_mr);
	if (c->tx_mr)
		ibv_dereg_mr(c->tx_mr);
	if (c->rx_mr)
		ibv_dereg_mr(c->rx_mr);
	free(c->stage);
	free(c->tx_buf);
	free(c->rx_buf);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
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
	pthread_mutex_destroy(&c->rma_lock);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
