// SPDX-License-Identifier: MIT
/*
 * rdma://host:port behind the connector API: connection management with
 * librdmacm (resolve address and route, connect/accept, disconnect and
 * device-removal events) and the per-connection verbs resources. The data
 * path lives in rdma-io.c. Every verbs/CM failure is turned into -errno here,
 * with one log line naming the call.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <endian.h>
#include <arpa/inet.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"

struct rdma_listener {
	struct conn_listener base; /* first: conn.c casts */
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
};

/*
 * A private copy of conn_split_hostport() until conn.c provides it; named
 * differently so the two never clash at link time.
 */
static int split_hostport(const char *rest, char *host, size_t hostlen,
			  char *port, size_t portlen)
{
	const char *colon, *h = rest;
	size_t n;

	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = rest + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(rest, ':');
		if (!colon || memchr(rest, ':', (size_t)(colon - rest)))
			return -EINVAL;
		n = (size_t)(colon - rest);
	}
	if (n >= hostlen || strlen(colon + 1) >= portlen || !colon[1])
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static void format_url(char *out, size_t len, const char *host,
		       unsigned int port)
{
	if (strchr(host, ':'))
		snprintf(out, len, "rdma://[%s]:%u", host, port);
	else
		snprintf(out, len, "rdma://%s:%u", host, port);
}

static void format_sockaddr(char *out, size_t len, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	format_url(out, len, host, port);
}

/*
 * rdma:// on a machine without RDMA must fail with one line that says so,
 * not with whatever the first CM call happens to report.
 */
static int check_device(const char *rest)
{
	struct ibv_device **list;
	int n = 0;

	errno = 0;
	list = ibv_get_device_list(&n);
	if (list)
		ibv_free_device_list(list);
	if (list && n > 0)
		return 0;
	log_error("rdma://%s: no RDMA device found (ibv_get_device_list)",
		  rest);
	return -ENODEV;
}

static int resolve(const char *rest, bool passive, struct sockaddr_storage *ss,
		   char *host, size_t hostlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	char port[16];
	int ret;

	if (split_hostport(rest, host, hostlen, port, sizeof(port))) {
		log_error("rdma://%s: malformed address (want host:port)",
			  rest);
		return -EINVAL;
	}
	if (passive)
		hints.ai_flags = AI_PASSIVE;
	ret = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (ret) {
		log_error("rdma://%s: getaddrinfo: %s", rest,
			  gai_strerror(ret));
		return ret == EAI_SYSTEM ? -errno : -EINVAL;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!host[0])
		strcpy(host, passive ? "0.0.0.0" : "localhost");
	return 0;
}

static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = cmp_now_ns();

	if (now >= deadline_ns)
		return 0;
	return (int)MIN((deadline_ns - now + 999999) / 1000000, 60000);
}

static int cm_event_errno(enum rdma_cm_event_type type)
{
	switch (type) {
	case RDMA_CM_EVENT_REJECTED:
		return -ECONNREFUSED;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		return -EHOSTUNREACH;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return -ENODEV;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	default:
		return -ECONNRESET;
	}
}

/*
 * Waits for one CM event on a handshake channel and acks it. Returns 0 when
 * it is `want` (its private data copied to *hello when asked), else -errno
 * with one log line naming what went wrong.
 */
static int wait_cm_event(struct rdma_event_channel *ch,
			 enum rdma_cm_event_type want, uint64_t deadline_ns,
			 const char *url, struct rdma_hello *hello)
{
	struct pollfd pfd = {.fd = ch->fd, .events = POLLIN};
	struct rdma_cm_event *ev;
	int ret;

	for (;;) {
		ret = poll(&pfd, 1, remaining_ms(deadline_ns));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0) {
			ret = -errno;
			log_error("%s: poll: %s", url, strerror(-ret));
			return ret;
		}
		if (ret == 0) {
			log_error("%s: timed out waiting for %s", url,
				  rdma_event_str(want));
			return -ETIMEDOUT;
		}
		if (rdma_get_cm_event(ch, &ev) == 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			ret = -errno;
			log_error("%s: rdma_get_cm_event: %s", url,
				  strerror(-ret));
			return ret;
		}
	}
	if (ev->event != want) {
		ret = cm_event_errno(ev->event);
		log_error("%s: %s while waiting for %s (status %d)", url,
			  rdma_event_str(ev->event), rdma_event_str(want),
			  ev->status);
	} else if (hello) {
		memset(hello, 0, sizeof(*hello));
		memcpy(hello, ev->param.conn.private_data,
		       MIN(sizeof(*hello), ev->param.conn.private_data_len));
		ret = 0;
	} else {
		ret = 0;
	}
	rdma_ack_cm_event(ev);
	return ret;
}

static void make_hello(struct rdma_hello *h)
{
	*h = (struct rdma_hello){
		.magic = htole32(RDMA_HELLO_MAGIC),
		.version = htole16(RDMA_HELLO_VERSION),
		.rx_depth = htole16(RDMA_RX_DEPTH),
		.buf_size = htole32(RDMA_BUF_SIZE),
	};
}

/* Takes the peer's hello; a peer that is not cmpfs is refused. */
static int accept_hello(struct rdma_conn *c, const struct rdma_hello *h,
			const char *url)
{
	unsigned int depth = le16toh(h->rx_depth);
	uint32_t size = le32toh(h->buf_size);

	if (le32toh(h->magic) != RDMA_HELLO_MAGIC ||
	    le16toh(h->version) != RDMA_HELLO_VERSION || depth < 2 ||
	    size < 64) {
		log_error("%s: peer is not a cmpfs RDMA endpoint "
			  "(magic %#x version %u depth %u size %u)",
			  url, le32toh(h->magic), le16toh(h->version), depth,
			  size);
		return -EPROTO;
	}
	c->tx_credits = depth;
	c->peer_depth = depth;
	c->peer_buf_size = MIN(size, (uint32_t)RDMA_BUF_SIZE);
	return 0;
}

static struct rdma_conn *conn_alloc(void)
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

static struct ibv_mr *reg_buffer(struct rdma_conn *c, char **buf, size_t len,
				 const char *what)
{
	struct ibv_mr *mr;

	*buf = aligned_alloc(4096, len);
	if (!*buf) {
		log_error("%s: %s buffer (%zu bytes): out of memory",
			  c->base.peer, what, len);
		errno = ENOMEM;
		return NULL;
	}
	mr = ibv_reg_mr(c->pd, *buf, len, IBV_ACCESS_LOCAL_WRITE);
	if (!mr)
		log_error("%s: ibv_reg_mr(%s, %zu bytes): %s", c->base.peer,
			  what, len, strerror(errno));
	return mr;
}

static struct ibv_cq *make_cq(struct rdma_conn *c, struct ibv_comp_channel **ch,
			      int depth)
{
	struct ibv_cq *cq;
	int ret;

	*ch = ibv_create_comp_channel(c->id->verbs);
	if (!*ch) {
		log_error("%s: ibv_create_comp_channel: %s", c->base.peer,
			  strerror(errno));
		return NULL;
	}
	ret = set_nonblock((*ch)->fd);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	cq = ibv_create_cq(c->id->verbs, depth, c, *ch, 0);
	if (!cq) {
		log_error("%s: ibv_create_cq(%d): %s", c->base.peer, depth,
			  strerror(errno));
		return NULL;
	}
	/* Armed from the start: conn_fd() must see the first arrival. */
	ret = ibv_req_notify_cq(cq, 0);
	if (ret) {
		log_error("%s: ibv_req_notify_cq: %s", c->base.peer,
			  strerror(ret));
		errno = ret;
	}
	return cq;
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
		int ret = -errno;

		/* Some devices cannot inline: ask again without. */
		attr.cap.max_inline_data = 0;
		if (rdma_create_qp(c->id, c->pd, &attr)) {
			log_error("%s: rdma_create_qp: %s", c->base.peer,
				  strerror(errno));
			return errno ? -errno : ret;
		}
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
	log_error("%s: event fds: %s", c->base.peer, strerror(errno));
	return -errno;
}

/*
 * Everything a connection needs on c->id, allocated once so the data path
 * never allocates: PD, two CQs with their channels (receives are what
 * conn_fd() watches), the RC QP, the registered rings, the posted receives.
 */
static int setup_resources(struct rdma_conn *c)
{
	struct ibv_device_attr dev;
	int ret;

	c->pd = ibv_alloc_pd(c->id->verbs);
	if (!c->pd) {
		log_error("%s: ibv_alloc_pd: %s", c->base.peer,
			  strerror(errno));
		return -errno;
	}
	c->rx_cq = make_cq(c, &c->rx_ch, RDMA_RX_DEPTH);
	if (!c->rx_cq)
		return -errno;
	c->tx_cq = make_cq(c, &c->tx_ch, RDMA_SQ_DEPTH);
	if (!c->tx_cq)
		return -errno;
	ret = make_qp(c);
	if (ret)
		return ret;
	c->rx_mr = reg_buffer(c, &c->rx_buf,
			      (size_t)RDMA_RX_DEPTH * RDMA_BUF_SIZE, "receive");
	if (!c->rx_mr)
		return -errno;
	c->tx_mr = reg_buffer(c, &c->tx_buf,
			      (size_t)RDMA_TX_DEPTH * RDMA_BUF_SIZE, "send");
	if (!c->tx_mr)
		return -errno;
	c->stage_mr = reg_buffer(c, &c->stage, RDMA_STAGE_SIZE, "staging");
	if (!c->stage_mr)
		return -errno;
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

/*
 * RDMA READ needs responder resources and initiator depth on both sides;
 * the device's limits (and, when accepting, the requester's) cap them.
 */
static void conn_param(struct rdma_conn *c, struct rdma_conn_param *p,
		       const struct rdma_hello *hello)
{
	*p = (struct rdma_conn_param){
		.private_data = hello,
		.private_data_len = sizeof(*hello),
		.responder_resources = c->rd_atom,
		.initiator_depth = c->init_rd_atom,
		.retry_count = 7,
		.rnr_retry_count = 7, /* credits prevent RNR; never give up */
	};
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

static struct rdma_event_channel *make_cm_channel(const char *url)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();

	if (!ch)
		log_error("%s: rdma_create_event_channel: %s", url,
			  strerror(errno));
	return ch;
}

static int connect_steps(struct rdma_conn *c, struct sockaddr *dst,
			 uint64_t deadline)
{
	const char *url = c->base.peer;
	struct rdma_conn_param param;
	struct rdma_hello mine, theirs;
	int ret;

	if (rdma_resolve_addr(c->id, NULL, dst, remaining_ms(deadline))) {
		log_error("%s: rdma_resolve_addr: %s", url, strerror(errno));
		return -errno;
	}
	ret = wait_cm_event(c->cm_ch, RDMA_CM_EVENT_ADDR_RESOLVED, deadline,
			    url, NULL);
	if (ret)
		return ret;
	if (rdma_resolve_route(c->id, remaining_ms(deadline))) {
		log_error("%s: rdma_resolve_route: %s", url, strerror(errno));
		return -errno;
	}
	ret = wait_cm_event(c->cm_ch, RDMA_CM_EVENT_ROUTE_RESOLVED, deadline,
			    url, NULL);
	if (ret)
		return ret;
	ret = setup_resources(c);
	if (ret)
		return ret;
	make_hello(&mine);
	conn_param(c, &param, &mine);
	if (rdma_connect(c->id, &param)) {
		log_error("%s: rdma_connect: %s", url, strerror(errno));
		return -errno;
	}
	ret = wait_cm_event(c->cm_ch, RDMA_CM_EVENT_ESTABLISHED, deadline, url,
			    &theirs);
	if (ret)
		return ret;
	c->connected = true;
	return accept_hello(c, &theirs, url);
}

static int transport_connect(const char *rest, int timeout_ms,
			     struct conn **out)
{
	struct sockaddr_storage ss;
	struct rdma_conn *c;
	char host[64];
	uint64_t deadline;
	int ret;

	ret = check_device(rest);
	if (ret)
		return ret;
	ret = resolve(rest, false, &ss, host, sizeof(host));
	if (ret)
		return ret;
	if (timeout_ms <= 0)
		timeout_ms = RDMA_DEFAULT_TIMEOUT_MS;
	deadline = cmp_now_ns() + (uint64_t)timeout_ms * 1000000;

	c = conn_alloc();
	if (!c)
		return -ENOMEM;
	snprintf(c->base.peer, sizeof(c->base.peer), "rdma://%s", rest);
	c->cm_ch = make_cm_channel(c->base.peer);
	if (!c->cm_ch) {
		ret = -errno;
		goto err_free;
	}
	if (rdma_create_id(c->cm_ch, &c->id, c, RDMA_PS_TCP)) {
		ret = -errno;
		log_error("%s: rdma_create_id: %s", c->base.peer,
			  strerror(-ret));
		goto err_free;
	}
	ret = connect_steps(c, (struct sockaddr *)&ss, deadline);
	if (ret)
		goto err_free;
	ret = set_nonblock(c->cm_ch->fd);
	if (ret)
		goto err_free;
	log_debug("%s: connected", c->base.peer);
	*out = &c->base;
	return 0;

err_free:
	conn_rdma_free(c);
	return ret;
}

/* The peer's hello arrived with the request; answer it or refuse. */
static int accept_request(struct rdma_listener *l, struct rdma_cm_id *id,
			  const struct rdma_hello *theirs,
			  const struct rdma_conn_param *req, struct conn **out)
{
	struct rdma_conn_param param;
	struct rdma_hello mine;
	struct rdma_conn *c;
	uint64_t deadline;
	int ret;

	c = conn_alloc();
	if (!c) {
		rdma_reject(id, NULL, 0);
		rdma_destroy_id(id);
		return -ENOMEM;
	}
	c->id = id;
	id->context = c;
	format_sockaddr(c->base.peer, sizeof(c->base.peer),
			rdma_get_peer_addr(id));
	ret = accept_hello(c, theirs, c->base.peer);
	if (ret)
		goto err_reject;
	/* Its own channel: its events must not wake the listener. */
	c->cm_ch = make_cm_channel(c->base.peer);
	if (!c->cm_ch) {
		ret = -errno;
		goto err_reject;
	}
	if (rdma_migrate_id(id, c->cm_ch)) {
		ret = -errno;
		log_error("%s: rdma_migrate_id: %s", c->base.peer,
			  strerror(-ret));
		goto err_reject;
	}
	ret = setup_resources(c);
	if (ret)
		goto err_reject;
	/* Never more READs than the requester can take, nor it of ours. */
	c->rd_atom = MIN(c->rd_atom, req->initiator_depth);
	c->init_rd_atom = MIN(c->init_rd_atom, req->responder_resources);
	make_hello(&mine);
	conn_param(c, &param, &mine);
	if (rdma_accept(id, &param)) {
		ret = -errno;
		log_error("%s: rdma_accept: %s", c->base.peer, strerror(-ret));
		goto err_free;
	}
	deadline = cmp_now_ns() + RDMA_DEFAULT_TIMEOUT_MS * 1000000ull;
	ret = wait_cm_event(c->cm_ch, RDMA_CM_EVENT_ESTABLISHED, deadline,
			    c->base.peer, NULL);
	if (ret)
		goto err_free;
	c->connected = true;
	ret = set_nonblock(c->cm_ch->fd);
	if (ret)
		goto err_free;
	log_debug("%s: accepted on %s", c->base.peer, l->base.addr);
	*out = &c->base;
	return 0;

err_reject:
	rdma_reject(id, NULL, 0);
err_free:
	conn_rdma_free(c);
	return ret;
}

static int listener_accept(struct conn_listener *base, struct conn **out)
{
	struct rdma_listener *l = (struct rdma_listener *)base;
	struct rdma_conn_param req;
	struct rdma_cm_event *ev;
	struct rdma_hello hello;
	struct rdma_cm_id *id;
	int ret;

	for (;;) {
		if (rdma_get_cm_event(l->ch, &ev)) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			log_error("%s: rdma_get_cm_event: %s", l->base.addr,
				  strerror(-ret));
			return ret;
		}
		if (ev->event == RDMA_CM_EVENT_DEVICE_REMOVAL) {
			log_error("%s: RDMA device removed", l->base.addr);
			rdma_ack_cm_event(ev);
			return -ENODEV;
		}
		if (ev->event != RDMA_CM_EVENT_CONNECT_REQUEST) {
			log_debug("%s: ignoring %s", l->base.addr,
				  rdma_event_str(ev->event));
			rdma_ack_cm_event(ev);
			continue;
		}
		id = ev->id;
		req = ev->param.conn;
		memset(&hello, 0, sizeof(hello));
		memcpy(&hello, ev->param.conn.private_data,
		       MIN(sizeof(hello), ev->param.conn.private_data_len));
		/* rdma_migrate_id() waits for this ack. */
		rdma_ack_cm_event(ev);
		ret = accept_request(l, id, &hello, &req, out);
		/* A peer that failed its handshake must not stop the server. */
		if (ret != -EPROTO && ret != -ETIMEDOUT && ret != -ECONNRESET)
			return ret;
	}
}

static int listener_fd(const struct conn_listener *base)
{
	const struct rdma_listener *l = (const struct rdma_listener *)base;

	return l->ch->fd;
}

static void listener_destroy(struct conn_listener *base)
{
	struct rdma_listener *l = (struct rdma_listener *)base;

	if (!l)
		return;
	rdma_destroy_id(l->id);
	rdma_destroy_event_channel(l->ch);
	free(l);
}

static const struct conn_listener_ops listener_ops = {
	.fd = listener_fd,
	.accept = listener_accept,
	.destroy = listener_destroy,
};

static int transport_listen(const char *rest, struct conn_listener **out)
{
	struct sockaddr_storage ss;
	struct rdma_listener *l;
	char host[64], url[96];
	int ret;

	ret = check_device(rest);
	if (ret)
		return ret;
	ret = resolve(rest, true, &ss, host, sizeof(host));
	if (ret)
		return ret;
	snprintf(url, sizeof(url), "rdma://%s", rest);
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->base.ops = &listener_ops;
	l->ch = make_cm_channel(url);
	if (!l->ch) {
		ret = -errno;
		goto err_free;
	}
	if (rdma_create_id(l->ch, &l->id, l, RDMA_PS_TCP)) {
		ret = -errno;
		log_error("%s: rdma_create_id: %s", url, strerror(-ret));
		goto err_destroy_channel;
	}
	if (rdma_bind_addr(l->id, (struct sockaddr *)&ss)) {
		ret = -errno;
		log_error("%s: rdma_bind_addr: %s", url, strerror(-ret));
		goto err_destroy_id;
	}
	if (rdma_listen(l->id, 64)) {
		ret = -errno;
		log_error("%s: rdma_listen: %s", url, strerror(-ret));
		goto err_destroy_id;
	}
	format_url(l->base.addr, sizeof(l->base.addr), host,
		   ntohs(rdma_get_src_port(l->id)));
	*out = &l->base;
	return 0;

err_destroy_id:
	rdma_destroy_id(l->id);
err_destroy_channel:
	rdma_destroy_event_channel(l->ch);
err_free:
	free(l);
	return ret;
}

void conn_rdma_cm_events_locked(struct rdma_conn *c)
{
	struct rdma_cm_event *ev;

	while (rdma_get_cm_event(c->cm_ch, &ev) == 0) {
		switch (ev->event) {
		case RDMA_CM_EVENT_DISCONNECTED:
			log_debug("%s: peer disconnected", c->base.peer);
			conn_rdma_fail_locked(c, -ECONNRESET);
			break;
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			log_error("%s: RDMA device removed", c->base.peer);
			conn_rdma_fail_locked(c, -ENODEV);
			break;
		default:
			log_debug("%s: ignoring %s", c->base.peer,
				  rdma_event_str(ev->event));
			break;
		}
		rdma_ack_cm_event(ev);
	}
	/*
	 * Our half of the disconnect moves the QP to error, which flushes
	 * every posted WR: that is what wakes a reader blocked in poll().
	 */
	if (c->error && c->connected) {
		c->connected = false;
		rdma_disconnect(c->id);
	}
}

const struct conn_transport conn_rdma_transport = {
	.scheme = "rdma",
	.listen = transport_listen,
	.connect = transport_connect,
};
