// SPDX-License-Identifier: MIT
/*
 * rdma://host:port behind the connector API: connection management with
 * librdmacm (resolve address and route, connect/accept, disconnect and
 * device-removal events). The per-connection resources live in
 * rdma-setup.c, the data path in rdma-io.c and rdma-ctrl.c. Every verbs/CM
 * failure is turned into -errno here, with one log line naming the call.
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

	if (conn_split_hostport(rest, host, hostlen, port, sizeof(port))) {
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

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = cmp_now_ns();

	if (now >= deadline_ns)
		return 0;
	/* Rounded up: a wait that has time left never becomes a poll. */
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

/* IB pads private data; a short or missing one reads as zeros (refused). */
static void copy_hello(struct rdma_hello *h, const struct rdma_conn_param *p)
{
	memset(h, 0, sizeof(*h));
	if (p->private_data)
		memcpy(h, p->private_data,
		       MIN(sizeof(*h), (size_t)p->private_data_len));
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
			log_error_rl("%s: poll: %s", url, strerror(-ret));
			return ret;
		}
		if (ret == 0) {
			log_error_rl("%s: timed out waiting for %s", url,
				     rdma_event_str(want));
			return -ETIMEDOUT;
		}
		if (rdma_get_cm_event(ch, &ev) == 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			ret = -errno;
			log_error_rl("%s: rdma_get_cm_event: %s", url,
				     strerror(-ret));
			return ret;
		}
	}
	if (ev->event != want) {
		ret = cm_event_errno(ev->event);
		log_error_rl("%s: %s (%s while waiting for %s, status %d)", url,
			     strerror(-ret), rdma_event_str(ev->event),
			     rdma_event_str(want), ev->status);
	} else {
		if (hello)
			copy_hello(hello, &ev->param.conn);
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
		.rx_depth = htole16(RDMA_SMALL_RX_DEPTH),
		.buf_size = htole32(RDMA_SMALL_BUF_SIZE),
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
		log_error_rl("%s: peer is not a cmpfs RDMA endpoint "
			     "(magic %#x version %u depth %u size %u)",
			     url, le32toh(h->magic), le16toh(h->version), depth,
			     size);
		return -EPROTO;
	}
	c->tx_credits = depth;
	c->peer_depth = depth;
	c->peer_small_size = MIN(size, (uint32_t)RDMA_BUF_SIZE);
	return 0;
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

static int make_cm_channel(struct rdma_event_channel **ch, const char *url)
{
	*ch = rdma_create_event_channel();
	if (!*ch)
		return conn_rdma_log_errno("%s: rdma_create_event_channel",
					   url);
	return 0;
}

static int connect_steps(struct rdma_conn *c, struct sockaddr *dst,
			 uint64_t deadline)
{
	const char *url = c->base.peer;
	struct rdma_conn_param param;
	struct rdma_hello mine, theirs;
	int ret;

	if (rdma_resolve_addr(c->id, NULL, dst, MAX(remaining_ms(deadline), 1)))
		return conn_rdma_log_errno("%s: rdma_resolve_addr", url);
	ret = wait_cm_event(c->cm_ch, RDMA_CM_EVENT_ADDR_RESOLVED, deadline,
			    url, NULL);
	if (ret)
		return ret;
	if (rdma_resolve_route(c->id, MAX(remaining_ms(deadline), 1)))
		return conn_rdma_log_errno("%s: rdma_resolve_route", url);
	ret = wait_cm_event(c->cm_ch, RDMA_CM_EVENT_ROUTE_RESOLVED, deadline,
			    url, NULL);
	if (ret)
		return ret;
	ret = conn_rdma_setup(c);
	if (ret)
		return ret;
	make_hello(&mine);
	conn_param(c, &param, &mine);
	if (rdma_connect(c->id, &param))
		return conn_rdma_log_errno("%s: rdma_connect", url);
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

	c = conn_rdma_alloc();
	if (!c)
		return -ENOMEM;
	snprintf(c->base.peer, sizeof(c->base.peer), "rdma://%s", rest);
	ret = make_cm_channel(&c->cm_ch, c->base.peer);
	if (ret)
		goto err_free;
	if (rdma_create_id(c->cm_ch, &c->id, c, RDMA_PS_TCP)) {
		ret = -errno;
		log_error_rl("%s: rdma_create_id: %s", c->base.peer,
			     strerror(-ret));
		goto err_free;
	}
	ret = connect_steps(c, (struct sockaddr *)&ss, deadline);
	if (ret)
		goto err_free;
	ret = conn_rdma_set_nonblock(c->cm_ch->fd);
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

	c = conn_rdma_alloc();
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
	ret = make_cm_channel(&c->cm_ch, c->base.peer);
	if (ret)
		goto err_reject;
	if (rdma_migrate_id(id, c->cm_ch)) {
		ret = -errno;
		log_error_rl("%s: rdma_migrate_id: %s", c->base.peer,
			     strerror(-ret));
		goto err_reject;
	}
	ret = conn_rdma_setup(c);
	if (ret)
		goto err_reject;
	/* Never more READs than the requester can take, nor it of ours. */
	c->rd_atom = MIN(c->rd_atom, req->initiator_depth);
	c->init_rd_atom = MIN(c->init_rd_atom, req->responder_resources);
	make_hello(&mine);
	conn_param(c, &param, &mine);
	if (rdma_accept(id, &param)) {
		ret = -errno;
		log_error_rl("%s: rdma_accept: %s", c->base.peer,
			     strerror(-ret));
		goto err_free;
	}
	deadline = cmp_now_ns() + RDMA_DEFAULT_TIMEOUT_MS * 1000000ull;
	ret = wait_cm_event(c->cm_ch, RDMA_CM_EVENT_ESTABLISHED, deadline,
			    c->base.peer, NULL);
	if (ret)
		goto err_free;
	c->connected = true;
	ret = conn_rdma_set_nonblock(c->cm_ch->fd);
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
			log_error_rl("%s: rdma_get_cm_event: %s", l->base.addr,
				     strerror(-ret));
			return ret;
		}
		if (ev->event == RDMA_CM_EVENT_DEVICE_REMOVAL) {
			log_error_rl("%s: RDMA device removed", l->base.addr);
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
		copy_hello(&hello, &ev->param.conn);
		/* rdma_migrate_id() waits for this ack. */
		rdma_ack_cm_event(ev);
		ret = accept_request(l, id, &hello, &req, out);
		/*
		 * A peer that failed its handshake must not stop the server;
		 * running out of memory, fds or the device must.
		 */
		if (!ret || ret == -ENOMEM || ret == -ENODEV ||
		    ret == -EMFILE || ret == -ENFILE)
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
	ret = make_cm_channel(&l->ch, url);
	if (ret)
		goto err_free;
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
			log_error_rl("%s: RDMA device removed", c->base.peer);
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
	.rma_register = conn_rdma_rma_register,
	.rma_unregister = conn_rdma_rma_unregister,
};
