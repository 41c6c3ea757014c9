// SPDX-License-Identifier: MIT
/*
 * Unit tests of the connector API (connector/conn.c, tcp.c, mem.c, fdio.c).
 * The stream tests run once over TCP on 127.0.0.1 and once over mem://, so
 * both transports keep the same promises. Waiting is always bounded: threads
 * are joined with a deadline and timeouts are checked against the clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cmp-config.h"
#include "cmp/conn.h"
#include "cmp/util.h"
#include "conn-internal.h"

#define BIG_LEN (8u << 20)

struct transport_case {
	const char *listen; /* an address that picks a free name/port */
};

static struct transport_case tcp_case = {"tcp://127.0.0.1:0"};
static struct transport_case mem_case = {"mem://"};

struct pair {
	struct conn_listener *l;
	struct conn *client;
	struct conn *server;
};

static const char *listen_addr(void **state)
{
	return ((const struct transport_case *)*state)->listen;
}

static void pair_open(struct pair *p, const char *addr)
{
	assert_int_equal(conn_listen(addr, &p->l), 0);
	assert_int_equal(
		conn_connect(conn_listener_addr(p->l), 2000, &p->client), 0);
	assert_int_equal(conn_accept(p->l, &p->server), 0);
}

static void pair_close(struct pair *p)
{
	conn_destroy(p->client);
	conn_destroy(p->server);
	conn_listener_destroy(p->l);
}

static uint64_t elapsed_ms(uint64_t start_ns)
{
	return (cmp_now_ns() - start_ns) / 1000000;
}

static void join_within(pthread_t t, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	assert_int_equal(pthread_timedjoin_np(t, NULL, &ts), 0);
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

/* ---- one thread writing while the test reads ---- */

struct writer {
	pthread_t thread;
	struct conn *c;
	const struct iovec *iov;
	int iovcnt;
	int ret;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	w->ret = conn_writev(w->c, w->iov, w->iovcnt);
	return NULL;
}

static void writer_start(struct writer *w)
{
	assert_int_equal(pthread_create(&w->thread, NULL, writer_main, w), 0);
}

/* ---- tests ---- */

static void listen_on_port_zero_reports_the_bound_port(void **state)
{
	struct conn_listener *l;
	const char *addr;
	unsigned int port;

	assert_int_equal(conn_listen("tcp://127.0.0.1:0", &l), 0);
	addr = conn_listener_addr(l);
	assert_int_equal(sscanf(addr, "tcp://127.0.0.1:%u", &port), 1);
	assert_true(port > 0 && port < 65536);
	conn_listener_destroy(l);
}

static void mem_listen_without_name_picks_a_unique_one(void **state)
{
	struct conn_listener *a;
	struct conn_listener *b;

	assert_int_equal(conn_listen("mem://", &a), 0);
	assert_int_equal(conn_listen("mem://", &b), 0);
	assert_true(!strncmp(conn_listener_addr(a), "mem://", 6));
	assert_true(strlen(conn_listener_addr(a)) > 6);
	assert_string_not_equal(conn_listener_addr(a), conn_listener_addr(b));
	conn_listener_destroy(a);
	conn_listener_destroy(b);
}

static void listen_on_a_taken_address_is_eaddrinuse(void **state)
{
	struct conn_listener *a;
	struct conn_listener *b;

	assert_int_equal(conn_listen(listen_addr(state), &a), 0);
	assert_int_equal(conn_listen(conn_listener_addr(a), &b), -EADDRINUSE);
	conn_listener_destroy(a);
}

static void connected_pair_exchanges_bytes_both_ways(void **state)
{
	struct pair p;
	struct iovec iov[2] = {{"hel", 3}, {"lo", 2}};
	char buf[8] = {0};

	pair_open(&p, listen_addr(state));
	assert_int_equal(conn_writev(p.client, iov, 2), 0);
	assert_int_equal(conn_read(p.server, buf, 5), 0);
	assert_memory_equal(buf, "hello", 5);
	iov[0] = (struct iovec){"world", 5};
	assert_int_equal(conn_writev(p.server, iov, 1), 0);
	assert_int_equal(conn_read(p.client, buf, 5), 0);
	assert_memory_equal(buf, "world", 5);
	assert_false(conn_pending(p.client));
	pair_close(&p);
}

static void writev_of_8mib_in_many_iovecs_arrives_intact(void **state)
{
	uint8_t *src = malloc(BIG_LEN);
	uint8_t *dst = calloc(1, BIG_LEN);
	struct iovec *iov = calloc(3000, sizeof(*iov));
	struct iovec rd[3];
	struct writer w = {0};
	struct pair p;
	size_t off = 0;
	int n = 0;

	assert_non_null(src);
	assert_non_null(dst);
	assert_non_null(iov);
	fill_pattern(src, BIG_LEN, 42);
	/* Uneven pieces, some empty, more than IOV_MAX of them. */
	while (off < BIG_LEN) {
		size_t len = MIN((size_t)(n % 5 == 4 ? 0 : 1 + n * 37 % 7919),
				 BIG_LEN - off);

		if (n == 2999)
			len = BIG_LEN - off;
		iov[n++] = (struct iovec){src + off, len};
		off += len;
	}
	assert_true(n > 1024);

	pair_open(&p, listen_addr(state));
	w = (struct writer){.c = p.client, .iov = iov, .iovcnt = n};
	writer_start(&w);
	rd[0] = (struct iovec){dst, 1};
	rd[1] = (struct iovec){dst + 1, BIG_LEN / 2};
	rd[2] = (struct iovec){dst + 1 + BIG_LEN / 2, BIG_LEN / 2 - 1};
	assert_int_equal(conn_readv(p.server, rd, 3), 0);
	join_within(w.thread, 10000);
	assert_int_equal(w.ret, 0);
	assert_memory_equal(src, dst, BIG_LEN);
	pair_close(&p);
	free(iov);
	free(dst);
	free(src);
}

static void read_returns_exactly_the_bytes_asked_for(void **state)
{
	struct iovec a = {"abcdef", 6};
	struct iovec b = {"ghij", 4};
	char buf[16] = {0};
	struct pair p;

	pair_open(&p, listen_addr(state));
	assert_int_equal(conn_writev(p.client, &a, 1), 0);
	assert_int_equal(conn_writev(p.client, &b, 1), 0);
	assert_int_equal(conn_read(p.server, buf, 3), 0);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(conn_read(p.server, buf, 7), 0);
	assert_memory_equal(buf, "defghij", 7);
	/* Nothing is left: a short deadline finds the stream empty. */
	assert_int_equal(conn_set_timeout(p.server, 50), 0);
	assert_int_equal(conn_read(p.server, buf, 1), -ETIMEDOUT);
	pair_close(&p);
}

static void read_returns_econnreset_when_peer_closes(void **state)
{
	struct iovec part = {"12345", 5};
	char buf[10];
	struct pair p;

	pair_open(&p, listen_addr(state));
	assert_int_equal(conn_writev(p.client, &part, 1), 0);
	conn_destroy(p.client);
	p.client = NULL;
	/* Five bytes arrived, then end of stream: the read fails whole. */
	assert_int_equal(conn_read(p.server, buf, sizeof(buf)), -ECONNRESET);
	assert_int_equal(conn_read(p.server, buf, 1), -ECONNRESET);
	pair_close(&p);
}

static void write_returns_econnreset_when_peer_is_gone(void **state)
{
	uint8_t buf[65536] = {0};
	struct iovec iov = {buf, sizeof(buf)};
	struct pair p;
	int ret = 0;
	int i;

	pair_open(&p, listen_addr(state));
	conn_destroy(p.server);
	p.server = NULL;
	/* The first writes may still be buffered; SIGPIPE must not fire. */
	for (i = 0; i < 64 && !ret; i++)
		ret = conn_writev(p.client, &iov, 1);
	assert_int_equal(ret, -ECONNRESET);
	pair_close(&p);
}

static void read_times_out_when_peer_is_silent(void **state)
{
	char buf[4];
	uint64_t start;
	struct pair p;

	pair_open(&p, listen_addr(state));
	assert_int_equal(conn_set_timeout(p.server, 100), 0);
	assert_int_equal(conn_get_timeout(p.server), 100);
	start = cmp_now_ns();
	assert_int_equal(conn_read(p.server, buf, sizeof(buf)), -ETIMEDOUT);
	assert_true(elapsed_ms(start) >= 95);
	assert_true(elapsed_ms(start) < 3000);
	/* The connection is unusable afterwards, for both ends. */
	assert_int_not_equal(conn_read(p.server, buf, 1), 0);
	assert_int_equal(conn_read(p.client, buf, 1), -ECONNRESET);
	pair_close(&p);
}

static void write_times_out_when_peer_does_not_read(void **state)
{
	size_t len = 64u << 20;
	uint8_t *buf = calloc(1, len);
	struct iovec iov = {buf, len};
	uint64_t start;
	struct pair p;

	assert_non_null(buf);
	pair_open(&p, listen_addr(state));
	assert_int_equal(conn_set_timeout(p.client, 200), 0);
	start = cmp_now_ns();
	assert_int_equal(conn_writev(p.client, &iov, 1), -ETIMEDOUT);
	assert_true(elapsed_ms(start) >= 195);
	assert_true(elapsed_ms(start) < 5000);
	pair_close(&p);
	free(buf);
}

static void negative_timeout_is_einval(void **state)
{
	struct pair p;

	pair_open(&p, listen_addr(state));
	assert_int_equal(conn_set_timeout(p.client, -1), -EINVAL);
	assert_int_equal(conn_get_timeout(p.client), 0);
	pair_close(&p);
}

static void connect_to_a_closed_port_is_refused(void **state)
{
	struct conn_listener *l;
	struct conn *c;
	char addr[80];

	assert_int_equal(conn_listen("tcp://127.0.0.1:0", &l), 0);
	snprintf(addr, sizeof(addr), "%s", conn_listener_addr(l));
	conn_listener_destroy(l);
	assert_int_equal(conn_connect(addr, 2000, &c), -ECONNREFUSED);
	assert_null(c);
}

static void connect_to_an_unknown_mem_name_is_refused(void **state)
{
	struct conn *c;

	assert_int_equal(conn_connect("mem://nobody-listens-here", 0, &c),
			 -ECONNREFUSED);
	assert_null(c);
}

static void mem_listener_destroy_resets_unaccepted_connections(void **state)
{
	struct conn_listener *l;
	struct conn *c;
	char buf[1];

	assert_int_equal(conn_listen("mem://", &l), 0);
	assert_int_equal(conn_connect(conn_listener_addr(l), 0, &c), 0);
	conn_listener_destroy(l);
	assert_int_equal(conn_read(c, buf, 1), -ECONNRESET);
	conn_destroy(c);
}

static void malformed_addresses_are_einval(void **state)
{
	static const char *const bad_connect[] = {
		"tcp://127.0.0.1",
		"tcp://127.0.0.1:",
		"tcp://127.0.0.1:x",
		"tcp://1.2.3.4:65536",
		"tcp://1.2.3.4:123456",
		"tcp://[::1:80",
		"tcp://::1:80",
		"tcp://[]:80",
		"tcp://:80",
		"tcp://a b:80",
		"tcp://host:80/path",
		"127.0.0.1:80",
		"tcp:/127.0.0.1:80",
		"",
		"mem://",
		"mem://with space",
	};
	static const char *const bad_listen[] = {
		"tcp://127.0.0.1", "tcp://[::1]", "tcp://x:-1",
		"mem://a b",	   "nothing",
	};
	struct conn_listener *l;
	struct conn *c;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad_connect); i++) {
		print_message("connect %s\n", bad_connect[i]);
		assert_int_equal(conn_connect(bad_connect[i], 100, &c),
				 -EINVAL);
		assert_null(c);
	}
	for (i = 0; i < ARRAY_SIZE(bad_listen); i++) {
		print_message("listen %s\n", bad_listen[i]);
		assert_int_equal(conn_listen(bad_listen[i], &l), -EINVAL);
		assert_null(l);
	}
}

static void unknown_scheme_is_eprotonosupport(void **state)
{
	struct conn_listener *l;
	struct conn *c;

	assert_int_equal(conn_connect("udp://127.0.0.1:9", 100, &c),
			 -EPROTONOSUPPORT);
	assert_int_equal(conn_listen("foo://bar", &l), -EPROTONOSUPPORT);
}

static void rdma_without_rdma_support_is_eprotonosupport(void **state)
{
	struct conn *c;

#if CMP_HAVE_RDMA && CMP_CONN_RDMA_LINKED
	skip();
#endif
	assert_int_equal(conn_connect("rdma://127.0.0.1:9", 100, &c),
			 -EPROTONOSUPPORT);
}

/* ---- many clients at once ---- */

#define CLIENTS 8

struct client {
	pthread_t thread;
	const char *addr;
	uint32_t id;
	int ret;
};

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct iovec iov = {&cl->id, sizeof(cl->id)};
	struct conn *c;
	char byte;

	cl->ret = conn_connect(cl->addr, 2000, &c);
	if (cl->ret)
		return NULL;
	cl->ret = conn_writev(c, &iov, 1);
	/* Wait for the server's goodbye so the stream is read first. */
	if (!cl->ret)
		cl->ret = conn_read(c, &byte, 1);
	conn_destroy(c);
	return NULL;
}

static void many_clients_connect_at_once(void **state)
{
	struct client cl[CLIENTS];
	struct conn *server[CLIENTS];
	struct conn_listener *l;
	struct iovec bye = {"!", 1};
	unsigned int seen = 0;
	uint32_t id;
	int i;

	assert_int_equal(conn_listen(listen_addr(state), &l), 0);
	for (i = 0; i < CLIENTS; i++) {
		cl[i] = (struct client){.addr = conn_listener_addr(l), .id = i};
		assert_int_equal(pthread_create(&cl[i].thread, NULL,
						client_main, &cl[i]),
				 0);
	}
	for (i = 0; i < CLIENTS; i++) {
		assert_int_equal(conn_accept(l, &server[i]), 0);
		assert_int_equal(conn_set_timeout(server[i], 5000), 0);
		assert_int_equal(conn_read(server[i], &id, sizeof(id)), 0);
		assert_true(id < CLIENTS);
		seen |= 1u << id;
		assert_int_equal(conn_writev(server[i], &bye, 1), 0);
	}
	assert_int_equal(seen, (1u << CLIENTS) - 1);
	for (i = 0; i < CLIENTS; i++) {
		join_within(cl[i].thread, 5000);
		assert_int_equal(cl[i].ret, 0);
		conn_destroy(server[i]);
	}
	conn_listener_destroy(l);
}

static void empty_and_invalid_iovec_lists(void **state)
{
	struct iovec empty[2] = {{NULL, 0}, {NULL, 0}};
	struct pair p;

	pair_open(&p, listen_addr(state));
	assert_int_equal(conn_writev(p.client, NULL, 0), 0);
	assert_int_equal(conn_writev(p.client, empty, 2), 0);
	assert_int_equal(conn_readv(p.server, empty, 2), 0);
	assert_int_equal(conn_read(p.server, NULL, 0), 0);
	assert_int_equal(conn_writev(p.client, empty, -1), -EINVAL);
	assert_int_equal(conn_readv(p.server, NULL, 1), -EINVAL);
	pair_close(&p);
}

/* ---- shutdown while another thread reads ---- */

struct reader {
	pthread_t thread;
	struct conn *c;
	atomic_bool started;
	int ret;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	char buf[16];

	atomic_store(&r->started, true);
	r->ret = conn_read(r->c, buf, sizeof(buf));
	return NULL;
}

static void shutdown_wakes_reader(void **state, int timeout_ms)
{
	struct reader r = {.ret = 1};
	uint64_t start = cmp_now_ns();
	struct pair p;

	pair_open(&p, listen_addr(state));
	assert_int_equal(conn_set_timeout(p.server, timeout_ms), 0);
	r.c = p.server;
	assert_int_equal(pthread_create(&r.thread, NULL, reader_main, &r), 0);
	/* Shutdown before or during the read: either way the read ends. */
	while (!atomic_load(&r.started) && elapsed_ms(start) < 5000)
		sched_yield();
	conn_shutdown(p.server);
	join_within(r.thread, 5000);
	assert_int_equal(r.ret, -ECONNRESET);
	pair_close(&p);
}

static void shutdown_wakes_a_blocked_reader(void **state)
{
	shutdown_wakes_reader(state, 0);
}

static void shutdown_wakes_a_reader_waiting_for_its_deadline(void **state)
{
	shutdown_wakes_reader(state, 30000);
}

/* ---- descriptors, names, optional features ---- */

static bool poll_in(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

static void listener_fd_polls_readable_when_a_peer_connects(void **state)
{
	struct conn_listener *l;
	struct conn *client;
	struct conn *server;

	assert_int_equal(conn_listen(listen_addr(state), &l), 0);
	assert_false(poll_in(conn_listener_fd(l), 0));
	assert_int_equal(conn_connect(conn_listener_addr(l), 2000, &client), 0);
	assert_true(poll_in(conn_listener_fd(l), 2000));
	assert_int_equal(conn_accept(l, &server), 0);
	assert_false(poll_in(conn_listener_fd(l), 0));
	conn_destroy(client);
	conn_destroy(server);
	conn_listener_destroy(l);
}

static void conn_fd_polls_readable_when_bytes_arrive(void **state)
{
	struct iovec iov = {"x", 1};
	struct pair p;

	pair_open(&p, listen_addr(state));
	assert_false(poll_in(conn_fd(p.server), 0));
	assert_int_equal(conn_writev(p.client, &iov, 1), 0);
	assert_true(poll_in(conn_fd(p.server), 2000));
	pair_close(&p);
}

static void peers_are_named_by_address(void **state)
{
	const char *addr;
	struct pair p;

	pair_open(&p, listen_addr(state));
	addr = conn_listener_addr(p.l);
	assert_string_equal(conn_peer(p.client), addr);
	if (!strncmp(addr, "tcp://", 6))
		assert_true(
			!strncmp(conn_peer(p.server), "tcp://127.0.0.1:", 16));
	else
		assert_true(!strncmp(conn_peer(p.server), addr, strlen(addr)));
	pair_close(&p);
}

static void rma_is_eopnotsupp_without_rdma(void **state)
{
	struct conn_region r = {0};
	char buf[8];
	struct pair p;

	pair_open(&p, listen_addr(state));
	assert_false(conn_has_rma(p.client));
	assert_int_equal(conn_rma_grant(p.server, buf, sizeof(buf), &r),
			 -EOPNOTSUPP);
	assert_int_equal(conn_rma_revoke(p.server, &r), -EOPNOTSUPP);
	assert_int_equal(conn_rma_read(p.client, buf, 8, &r, 0), -EOPNOTSUPP);
	assert_int_equal(conn_rma_write(p.client, buf, 8, &r, 0), -EOPNOTSUPP);
	pair_close(&p);
}

static int sockopt(int fd, int level, int name)
{
	socklen_t len = sizeof(int);
	int v = -1;

	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void tcp_connections_use_nodelay_and_notice_dead_peers(void **state)
{
	struct pair p;
	struct conn *ends[2];
	int i;

	pair_open(&p, "tcp://127.0.0.1:0");
	ends[0] = p.client;
	ends[1] = p.server;
	for (i = 0; i < 2; i++) {
		int fd = conn_fd(ends[i]);

		assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 1);
		assert_int_equal(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
		assert_true(sockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT) > 0);
		/* tcp.c's, not the kernel's 7200/75/9; accepted: inherited */
		assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 10);
		assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL), 5);
		assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
	}
	pair_close(&p);
}

static void ipv6_loopback_works_when_available(void **state)
{
	struct conn_listener *l;
	struct pair p;
	int ret;

	ret = conn_listen("tcp://[::1]:0", &l);
	if (ret == -EADDRNOTAVAIL || ret == -EAFNOSUPPORT)
		skip();
	assert_int_equal(ret, 0);
	assert_true(!strncmp(conn_listener_addr(l), "tcp://[::1]:", 12));
	conn_listener_destroy(l);
	pair_open(&p, "tcp://[::1]:0");
	pair_close(&p);
}

static void listening_on_every_address_takes_ipv4_and_ipv6(void **state)
{
	static const char *const hosts[] = {"127.0.0.1", "[::1]"};
	struct conn_listener *l;
	struct conn *client;
	struct conn *server;
	char addr[80];
	size_t i;

	assert_int_equal(conn_listen("tcp://:0", &l), 0);
	for (i = 0; i < ARRAY_SIZE(hosts); i++) {
		snprintf(addr, sizeof(addr), "tcp://%s%s", hosts[i],
			 strrchr(conn_listener_addr(l), ':'));
		/* Without IPv6 on this host only IPv4 has to work. */
		if (i == 1 &&
		    !strncmp(conn_listener_addr(l), "tcp://0.0.0.0", 13))
			break;
		assert_int_equal(conn_connect(addr, 2000, &client), 0);
		assert_int_equal(conn_accept(l, &server), 0);
		conn_destroy(client);
		conn_destroy(server);
	}
	conn_listener_destroy(l);
}

static void hostnames_resolve(void **state)
{
	struct pair p;

	pair_open(&p, "tcp://localhost:0");
	pair_close(&p);
}

static void split_hostport_handles_names_ipv4_and_ipv6(void **state)
{
	static const struct {
		const char *in, *host, *port;
	} good[] = {
		{"127.0.0.1:80", "127.0.0.1", "80"},
		{"node-7.cluster:7000", "node-7.cluster", "7000"},
		{"[::1]:0", "::1", "0"},
		{"[fe80::1%eth0]:65535", "fe80::1%eth0", "65535"},
		{":5000", "", "5000"},
	};
	static const char *const bad[] = {
		"127.0.0.1", "::1:80", "[::1]80", "[::1]:",  "host:99999",
		"host:1a",   "[]:1",   "ho/st:1", "host:+1", "host: 1",
	};
	char host[64];
	char port[8];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(conn_split_hostport(good[i].in, host,
						     sizeof(host), port,
						     sizeof(port)),
				 0);
		assert_string_equal(host, good[i].host);
		assert_string_equal(port, good[i].port);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(conn_split_hostport(bad[i], host, sizeof(host),
						     port, sizeof(port)),
				 -EINVAL);
	/* A host that does not fit the caller's buffer is refused. */
	assert_int_equal(
		conn_split_hostport("abcdefgh:1", host, 8, port, sizeof(port)),
		-EINVAL);
}

/* The same test over each transport, named after it. */
/* clang-format off */
#define ON(f, t) { #f " (" #t ")", f, NULL, NULL, &t##_case }
/* clang-format on */
#define BOTH(f) ON(f, tcp), ON(f, mem)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(listen_on_port_zero_reports_the_bound_port),
		cmocka_unit_test(mem_listen_without_name_picks_a_unique_one),
		BOTH(listen_on_a_taken_address_is_eaddrinuse),
		BOTH(connected_pair_exchanges_bytes_both_ways),
		BOTH(writev_of_8mib_in_many_iovecs_arrives_intact),
		BOTH(read_returns_exactly_the_bytes_asked_for),
		BOTH(read_returns_econnreset_when_peer_closes),
		BOTH(write_returns_econnreset_when_peer_is_gone),
		BOTH(read_times_out_when_peer_is_silent),
		BOTH(write_times_out_when_peer_does_not_read),
		BOTH(negative_timeout_is_einval),
		cmocka_unit_test(connect_to_a_closed_port_is_refused),
		cmocka_unit_test(connect_to_an_unknown_mem_name_is_refused),
		cmocka_unit_test(
			mem_listener_destroy_resets_unaccepted_connections),
		cmocka_unit_test(malformed_addresses_are_einval),
		cmocka_unit_test(unknown_scheme_is_eprotonosupport),
		cmocka_unit_test(rdma_without_rdma_support_is_eprotonosupport),
		BOTH(many_clients_connect_at_once),
		BOTH(empty_and_invalid_iovec_lists),
		BOTH(shutdown_wakes_a_blocked_reader),
		BOTH(shutdown_wakes_a_reader_waiting_for_its_deadline),
		BOTH(listener_fd_polls_readable_when_a_peer_connects),
		BOTH(conn_fd_polls_readable_when_bytes_arrive),
		BOTH(peers_are_named_by_address),
		BOTH(rma_is_eopnotsupp_without_rdma),
		cmocka_unit_test(
			tcp_connections_use_nodelay_and_notice_dead_peers),
		cmocka_unit_test(ipv6_loopback_works_when_available),
		cmocka_unit_test(
			listening_on_every_address_takes_ipv4_and_ipv6),
		cmocka_unit_test(hostnames_resolve),
		cmocka_unit_test(split_hostport_handles_names_ipv4_and_ipv6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
