// SPDX-License-Identifier: MIT
/*
 * The TCP transport: tcp://HOST:PORT. This file only sets sockets up
 * (resolve, listen, accept, connect with a deadline); the byte stream itself
 * is fdio.c, shared with the in-memory transport. Connections use
 * TCP_NODELAY because the frames above are request/response and small
 * requests must not wait for Nagle, keepalive and TCP_USER_TIMEOUT so a
 * vanished peer ends even a read without deadline, and block-sized socket
 * buffers where the kernel grants them (tune_socket(), size_buffers()).
 *
 * Name resolution uses getaddrinfo(), which may block on DNS regardless of
 * the connect timeout; cluster addresses are expected to be literal or in
 * /etc/hosts.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "conn-internal.h"
#include "fdio.h"

#define TCP_CONNECT_TIMEOUT_MS 5000

struct tcp_listener {
	struct conn_listener base;
	int fd;
};

static int gai_to_errno(int gai)
{
	switch (gai) {
	case EAI_NONAME:
	case EAI_NODATA:
	case EAI_FAIL:
		return -EHOSTUNREACH;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EINVAL;
	}
}

/* Resolves "host:port"; passive (listening) allows an empty host. */
static int resolve(const char *rest, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	char host[256];
	char port[8];
	int ret;

	if (conn_split_hostport(rest, host, sizeof(host), port, sizeof(port)) ||
	    (!passive && !host[0])) {
		log_error("tcp://%s: malformed address (want host:port or "
			  "[v6]:port)",
			  rest);
		return -EINVAL;
	}
	ret = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
	if (ret) {
		int err = gai_to_errno(ret);

		log_error("tcp://%s: cannot resolve: %s", rest,
			  gai_strerror(ret));
		return err;
	}
	return 0;
}

/* "tcp://1.2.3.4:5678" or "tcp://[::1]:5678"; v4-mapped shown as v4. */
static void format_sockaddr(const struct sockaddr_storage *ss, char *buf,
			    size_t len)
{
	char host[INET6_ADDRSTRLEN + 16];
	struct sockaddr_in v4;
	const struct sockaddr *sa = (const struct sockaddr *)ss;
	socklen_t salen = sizeof(*ss);
	unsigned int port;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
			memset(&v4, 0, sizeof(v4));
			v4.sin_family = AF_INET;
			v4.sin_port = v6->sin6_port;
			memcpy(&v4.sin_addr, &v6->sin6_addr.s6_addr[12], 4);
			sa = (const struct sockaddr *)&v4;
			salen = sizeof(v4);
		}
	}
	if (getnameinfo(sa, salen, host, sizeof(host), NULL, 0,
			NI_NUMERICHOST)) {
		snprintf(buf, len, "tcp://?");
		return;
	}
	port = ntohs(sa->sa_family == AF_INET
			     ? ((const struct sockaddr_in *)sa)->sin_port
			     : ((const struct sockaddr_in6 *)sa)->sin6_port);
	if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "tcp://[%s]:%u", host, port);
	else
		snprintf(buf, len, "tcp://%s:%u", host, port);
}

/*
 * Socket options of every connection: no Nagle delay for small requests, and
 * a dead peer (power loss, cable, partition) noticed within about 30 s even
 * by a reader without a deadline: keepalive probes when idle, and a limit on
 * how long sent data may stay unacknowledged.
 */
#define TCP_KEEPIDLE_S 10
#define TCP_KEEPINTVL_S 5
#define TCP_KEEPCNT_N 3
#define TCP_USER_TIMEOUT_MS 30000

static void tune_socket(int fd, const char *peer)
{
	static const struct {
		int level, name, value;
		const char *what;
	} opts[] = {
		{IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY"},
		{SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
		{IPPROTO_TCP, TCP_KEEPIDLE, TCP_KEEPIDLE_S, "TCP_KEEPIDLE"},
		{IPPROTO_TCP, TCP_KEEPINTVL, TCP_KEEPINTVL_S, "TCP_KEEPINTVL"},
		{IPPROTO_TCP, TCP_KEEPCNT, TCP_KEEPCNT_N, "TCP_KEEPCNT"},
		{IPPROTO_TCP, TCP_USER_TIMEOUT, TCP_USER_TIMEOUT_MS,
		 "TCP_USER_TIMEOUT"},
	};
	size_t i;

	/* Failing costs latency or failure detection, not correctness. */
	for (i = 0; i < ARRAY_SIZE(opts); i++)
		if (setsockopt(fd, opts[i].level, opts[i].name, &opts[i].value,
			       sizeof(opts[i].value)))
			log_warn_flood("%s: %s: %s", peer, opts[i].what,
				       strerror(errno));
}

/*
 * Buffers that hold a whole block (up to 4 MiB) let a sender write it in one
 * go and the receiver wake once or twice, instead of both ping-ponging
 * through small autotuned buffers (1 MiB remote reads on loopback: 390 ->
 * 600-880 MB/s). A fixed size switches autotuning off, so it is only set
 * when the kernel grants all of it: always to privileged daemons
 * (SO_*BUFFORCE), otherwise when net.core.[rw]mem_max allows it. Set on the
 * socket before connect() or listen() so the window scale fits, and
 * inherited by accepted sockets.
 */
#define TCP_SOCKET_BUFFER (4 << 20)

static pthread_once_t buffer_limits_once = PTHREAD_ONCE_INIT;
static long rmem_max;
static long wmem_max;

static long read_sysctl(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void load_buffer_limits(void)
{
	rmem_max = read_sysctl("/proc/sys/net/core/rmem_max");
	wmem_max = read_sysctl("/proc/sys/net/core/wmem_max");
}

static void size_buffer(int fd, int force_opt, int opt, long max)
{
	int size = TCP_SOCKET_BUFFER;

	if (!setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)))
		return;
	if (max >= size)
		setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

static void size_buffers(int fd)
{
	pthread_once(&buffer_limits_once, load_buffer_limits);
	size_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, wmem_max);
	size_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rmem_max);
}

static struct tcp_listener *to_tcp_listener(const struct conn_listener *l)
{
	return (struct tcp_listener *)l;
}

static int tcp_listener_fd(const struct conn_listener *l)
{
	return to_tcp_listener(l)->fd;
}

static int tcp_accept(struct conn_listener *l, struct conn **out)
{
	struct tcp_listener *tl = to_tcp_listener(l);
	struct sockaddr_storage ss;
	socklen_t len;
	char peer[sizeof(((struct conn *)0)->peer)];
	int err;
	int fd;

	for (;;) {
		len = sizeof(ss);
		fd = accept4(tl->fd, (struct sockaddr *)&ss, &len,
			     SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		/* A peer that gave up before we got to it is not our error. */
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		err = -errno;
		log_error_flood("%s: accept failed: %s", l->addr,
				strerror(errno));
		return err;
	}
	/* the listener's options came with it (tcp_listen()) */
	format_sockaddr(&ss, peer, sizeof(peer));
	*out = fdio_conn_create(fd, peer);
	if (!*out) {
		log_error_flood("%s: no memory for a connection from %s",
				l->addr, peer);
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

static void tcp_listener_destroy(struct conn_listener *l)
{
	struct tcp_listener *tl = to_tcp_listener(l);

	close(tl->fd);
	free(tl);
}

static const struct conn_listener_ops tcp_listener_ops = {
	.fd = tcp_listener_fd,
	.accept = tcp_accept,
	.destroy = tcp_listener_destroy,
};

/* A listening socket on one address, or -errno. */
static int bind_one(const struct addrinfo *ai, int *fdp)
{
	int zero = 0;
	int one = 1;
	int ret;
	int fd;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	size_buffers(fd);
	/* The IPv6 wildcard takes IPv4 clients too, whatever the sysctl. */
	if ((ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*fdp = fd;
	return 0;
}

/*
 * Listens on the first address that works, IPv6 first when the host is
 * empty so "every address" includes IPv6 clients (a dual-stack socket);
 * without IPv6 the IPv4 wildcard serves.
 */
static int bind_first(const struct addrinfo *res, bool any, int *fdp)
{
	const struct addrinfo *ai;
	int err = -EADDRNOTAVAIL;
	int pass;

	/* pass 0: the IPv6 wildcard (any only); pass 1: the rest, in order */
	for (pass = any ? 0 : 1; pass < 2; pass++) {
		for (ai = res; ai; ai = ai->ai_next) {
			if (any && (pass == 0) != (ai->ai_family == AF_INET6))
				continue;
			err = bind_one(ai, fdp);
			if (!err)
				return 0;
		}
	}
	return err;
}

static int tcp_listen(const char *rest, struct conn_listener **out)
{
	struct tcp_listener *tl;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct addrinfo *res;
	int fd = -1;
	int ret;

	ret = resolve(rest, true, &res);
	if (ret)
		return ret;
	/* "tcp://:PORT": the host part is empty */
	ret = bind_first(res, rest[0] == ':', &fd);
	freeaddrinfo(res);
	if (ret) {
		log_error("tcp://%s: cannot listen: %s", rest, strerror(-ret));
		return ret;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len)) {
		ret = -errno;
		log_error("tcp://%s: getsockname: %s", rest, strerror(errno));
		goto err_close_fd;
	}
	tl = calloc(1, sizeof(*tl));
	if (!tl) {
		ret = -ENOMEM;
		goto err_close_fd;
	}
	tl->base.ops = &tcp_listener_ops;
	tl->fd = fd;
	format_sockaddr(&ss, tl->base.addr, sizeof(tl->base.addr));
	/*
	 * Linux copies these options to every socket accepted from the
	 * listener (all six checked with getsockopt() on 6.x), so an accept
	 * costs no setsockopt(): six of them were a fifth of the accept
	 * thread's time in a flood of refused connections.
	 */
	tune_socket(fd, tl->base.addr);
	*out = &tl->base;
	return 0;

err_close_fd:
	close(fd);
	return ret;
}

/* Connects fd to one address by the deadline, then makes it blocking. */
static int connect_one(const struct addrinfo *ai, uint64_t deadline, int *fdp)
{
	socklen_t len = sizeof(int);
	int soerr = 0;
	int flags;
	int ret;
	int fd;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	size_buffers(fd);
	/* EINTR leaves a non-blocking connect running, like EINPROGRESS. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS &&
	    errno != EINTR) {
		ret = -errno;
		goto err_close_fd;
	}
	ret = fdio_wait(fd, POLLOUT, deadline);
	if (ret)
		goto err_close_fd;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len)) {
		ret = -errno;
		goto err_close_fd;
	}
	if (soerr) {
		ret = -soerr;
		goto err_close_fd;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)) {
		ret = -errno;
		goto err_close_fd;
	}
	*fdp = fd;
	return 0;

err_close_fd:
	close(fd);
	return ret;
}

static int tcp_connect(const char *rest, int timeout_ms, struct conn **out)
{
	uint64_t deadline = fdio_deadline(
		timeout_ms > 0 ? timeout_ms : TCP_CONNECT_TIMEOUT_MS);
	const struct addrinfo *ai;
	struct addrinfo *res;
	struct sockaddr_storage ss;
	char peer[sizeof(((struct conn *)0)->peer)];
	int fd = -1;
	int ret;

	ret = resolve(rest, false, &res);
	if (ret)
		return ret;
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		ret = connect_one(ai, deadline, &fd);
		if (!ret || ret == -ETIMEDOUT)
			break;
	}
	if (!ret) {
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	}
	freeaddrinfo(res);
	if (ret) {
		/* callers retry and say it once, with what they were doing */
		log_debug("tcp://%s: cannot connect: %s", rest, strerror(-ret));
		return ret;
	}
	format_sockaddr(&ss, peer, sizeof(peer));
	tune_socket(fd, peer);
	*out = fdio_conn_create(fd, peer);
	if (!*out) {
		log_error("%s: no memory for a connection", peer);
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

const struct conn_transport conn_tcp_transport = {
	.scheme = "tcp",
	.listen = tcp_listen,
	.connect = tcp_connect,
};
