// SPDX-License-Identifier: MIT
/*
 * The generic request server (connector/server.c) over mem:// and
 * tcp://127.0.0.1, with a bare echo service: pushes interleave with
 * replies, a handler error closes only its own connection, and the limits
 * of include/cmp/server.h hold: the unauthenticated caps (in all and per
 * source address) close the next connection at once and start no thread
 * for the silent ones, the authenticated caps are apart, a half HELLO is
 * closed at the handshake deadline, a stalled or trickled frame at the
 * frame deadline, an idle authenticated connection never, a flood writes a
 * bounded number of log lines, and an authenticated client is served
 * while a flood and a stalled frame sit there. Deadlines are small ones
 * configured here; every wait polls a condition against a deadline.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "catch-output.h"
#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "wait-for.h"

#define DEADLINE_MS 5000
/* the deadlines a test sets, and how late one may fire on a busy box */
#define SHORT_MS 300
#define SLACK_MS 1500
/* a handshake deadline that never fires within a test */
#define LONG_MS 20000

static const struct auth_key key = {{9, 8, 7, 6, 5, 4, 3, 2, 1}};
static unsigned int seq;
static char addr[80];

/* A bare server: PING echoes, STATUS fails in the handler, WRITE sinks. */
struct echo {
	pthread_mutex_t lock;
	int opens, closes, sinks;
	int sink_ret; /* what the last WRITE's payload read returned */
	struct server_conn *last; /* referenced */
};

static int sink(struct echo *e, struct server_conn *sc,
		const struct wire_hdr *h)
{
	struct conn *c = server_conn_conn(sc);
	size_t size = 64u << 10, left;
	uint8_t *buf = malloc(size);
	int ret = buf ? 0 : -ENOMEM;

	while (!ret && (left = wire_payload_left(c)))
		ret = wire_read(c, buf, MIN(left, size));
	free(buf);
	pthread_mutex_lock(&e->lock);
	e->sinks++;
	e->sink_ret = ret;
	pthread_mutex_unlock(&e->lock);
	return ret ? ret : server_reply(sc, h, WIRE_S_OK, NULL, 0);
}

static int echo_handle(void *ctx, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	uint8_t buf[256];
	struct iovec iov = {.iov_base = buf, .iov_len = h->len};
	int ret;

	if (h->op == WIRE_OP_WRITE)
		return sink(ctx, sc, h);
	ret = server_read_payload(sc, h, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	if (h->op == WIRE_OP_STATUS)
		return -EIO;
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

static int echo_open(void *ctx, struct server_conn *sc)
{
	struct echo *e = ctx;

	pthread_mutex_lock(&e->lock);
	e->opens++;
	if (e->last)
		server_conn_put(e->last);
	server_conn_get(sc);
	e->last = sc;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

static void echo_close(void *ctx, struct server_conn *sc)
{
	struct echo *e = ctx;

	pthread_mutex_lock(&e->lock);
	e->closes++;
	pthread_mutex_unlock(&e->lock);
}

/* Starts the echo server on listen ("mem" or "tcp"); addr says where. */
static struct server *start(struct echo *e, const char *listen,
			    struct auth_keyring *kr,
			    const struct server_limits *lim)
{
	char want[80];
	struct server_config cfg = {.keyring = kr,
				    .name = "echo",
				    .handle = echo_handle,
				    .on_open = echo_open,
				    .on_close = echo_close,
				    .ctx = e,
				    .limits = *lim};
	struct server *s;

	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	if (!strcmp(listen, "mem"))
		snprintf(want, sizeof(want), "mem://server-%d-%u", getpid(),
			 ++seq);
	else
		snprintf(want, sizeof(want), "tcp://127.0.0.1:0");
	cfg.listen_addr = want;
	s = server_create(&cfg);
	assert_non_null(s);
	snprintf(addr, sizeof(addr), "%s", server_addr(s));
	return s;
}

static struct server *start_echo(struct echo *e, int handshake_ms)
{
	struct server_limits lim = {.handshake_ms = (uint32_t)handshake_ms};

	return start(e, "mem", NULL, &lim);
}

static void stop_echo(struct server *s, struct echo *e)
{
	server_destroy(s);
	server_conn_put(e->last);
	pthread_mutex_destroy(&e->lock);
}

/* A client that shook hands (as node), or NULL when refused. */
static struct conn *try_dial(struct auth_keyring *kr, uint32_t node)
{
	struct conn *c;

	if (conn_connect(addr, 1000, &c))
		return NULL;
	if (auth_client(c, kr, node, 1, 1000)) {
		conn_destroy(c);
		return NULL;
	}
	assert_int_equal(conn_set_timeout(c, DEADLINE_MS), 0);
	return c;
}

static struct conn *dial_raw(void)
{
	struct conn *c = try_dial(NULL, 0);

	assert_non_null(c);
	return c;
}

/* One PING round trip; false when the connection is gone. */
static bool pinged(struct conn *c, uint64_t id)
{
	char msg[] = "hello";
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
	struct wire_hdr h = {.op = WIRE_OP_PING, .id = id};
	char back[sizeof(msg)];

	if (wire_send(c, &h, &iov, 1) || wire_recv_hdr(c, &h))
		return false;
	assert_int_equal(h.id, id);
	assert_int_equal(h.flags, WIRE_F_REPLY);
	iov = (struct iovec){.iov_base = back, .iov_len = sizeof(back)};
	assert_int_equal(wire_recv_payload(c, &h, &iov, 1), 0);
	assert_string_equal(back, "hello");
	return true;
}

static void ping(struct conn *c, uint64_t id)
{
	assert_true(pinged(c, id));
}

static int counter(struct echo *e, int *field)
{
	int v;

	pthread_mutex_lock(&e->lock);
	v = *field;
	pthread_mutex_unlock(&e->lock);
	return v;
}

struct count_is {
	struct echo *e;
	int *field;
	int want;
};

static bool count_is(void *arg)
{
	struct count_is *c = arg;

	return counter(c->e, c->field) == c->want;
}

/*
 * Ms until the server closed fd (end of stream or reset), -1 when it was
 * still open after max_ms. Nothing else is expected to arrive.
 */
static int closed_after(int fd, int max_ms)
{
	uint64_t t0 = cmp_now_ns();
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char b;
	ssize_t n;
	int ret;

	do
		ret = poll(&p, 1, max_ms);
	while (ret < 0 && errno == EINTR);
	if (ret == 0)
		return -1;
	n = recv(fd, &b, 1, MSG_DONTWAIT);
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
	return (int)((cmp_now_ns() - t0) / 1000000);
}

static bool still_open(int fd)
{
	return closed_after(fd, 0) < 0;
}

/* A silent TCP connection to addr from src (any 127.x.y.z is ours). */
static int raw_tcp(const char *src)
{
	struct sockaddr_in from = {.sin_family = AF_INET};
	struct sockaddr_in to = {.sin_family = AF_INET};
	const char *port = strrchr(addr, ':');
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0 && port);
	assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &to.sin_addr), 1);
	to.sin_port = htons((uint16_t)atoi(port + 1));
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	return fd;
}

/* Threads of this process. */
static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Sends the first bytes of a frame header (a HELLO); false if closed. */
static bool sent_half_header(int fd)
{
	struct wire_hdr h = {.op = WIRE_OP_HELLO, .len = 54, .id = 1};
	uint8_t buf[WIRE_HDR_SIZE];

	wire_hdr_encode(&h, buf);
	return send(fd, buf, 10, MSG_NOSIGNAL) == 10;
}

static void send_half_header(int fd)
{
	assert_true(sent_half_header(fd));
}

/* Sends a WRITE header announcing len bytes (plain: csum of nothing). */
static void send_write_header(struct conn *c, uint32_t len)
{
	struct wire_hdr h = {.op = WIRE_OP_WRITE, .len = len, .id = 9};
	uint8_t buf[WIRE_HDR_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};

	wire_hdr_encode(&h, buf);
	assert_int_equal(conn_writev(c, &iov, 1), 0);
}

/* ---- what the server did before the limits ---- */

static void server_drops_a_peer_that_never_shakes_hands(void **state)
{
	struct server *s;
	struct echo e;
	struct conn *c;
	uint8_t byte;
	uint64_t t0;
	int ret, i;

	s = start_echo(&e, 100);
	assert_int_equal(conn_connect(addr, 1000, &c), 0);
	assert_int_equal(conn_set_timeout(c, DEADLINE_MS), 0);
	t0 = cmp_now_ns();
	for (i = 0; i < 4096; i++) {
		ret = conn_read(c, &byte, 1);
		if (ret < 0)
			break;
	}
	assert_int_equal(ret, -ECONNRESET);
	assert_true(cmp_now_ns() - t0 < (DEADLINE_MS / 2) * 1000000ull);
	assert_int_equal(counter(&e, &e.opens), 0);
	conn_destroy(c);
	stop_echo(s, &e);
}

static void server_pushes_from_another_thread_between_replies(void **state)
{
	uint8_t buf[8] = {5}; /* any payload: the server does not look */
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct count_is closed;
	struct wire_hdr h;
	struct server *s;
	struct conn *a, *b;
	struct echo e;

	s = start_echo(&e, 0);
	a = dial_raw();
	ping(a, 1);
	assert_int_equal(counter(&e, &e.opens), 1);

	assert_int_equal(server_push(e.last, WIRE_OP_NODE_STATE, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(a, &h), 0);
	assert_int_equal(h.op, WIRE_OP_NODE_STATE);
	assert_int_equal(h.flags, 0);
	assert_true(h.id >> 63);
	assert_int_equal(wire_skip_payload(a, &h), 0);
	ping(a, 2);

	/* a handler error closes that connection only */
	b = dial_raw();
	h = (struct wire_hdr){.op = WIRE_OP_STATUS, .id = 3};
	assert_int_equal(wire_send(b, &h, NULL, 0), 0);
	assert_int_equal(wire_recv_hdr(b, &h), -ECONNRESET);
	closed = (struct count_is){&e, &e.closes, 1};
	assert_true(wait_for(count_is, &closed, DEADLINE_MS));
	ping(a, 4);
	/* pushing to a closed connection fails cleanly */
	assert_int_equal(server_push(e.last, WIRE_OP_NODE_STATE, &iov, 1),
			 -ECONNRESET);

	conn_destroy(b);
	stop_echo(s, &e);
	assert_int_equal(e.closes, 2);
	assert_int_equal(wire_recv_hdr(a, &h), -ECONNRESET);
	conn_destroy(a);
}

/* ---- limits ---- */

/* A mem:// connection that says nothing: its fd, the conn in *c. */
static int silent_mem(struct conn **c)
{
	assert_int_equal(conn_connect(addr, 1000, c), 0);
	return conn_fd(*c);
}

static bool dialed(void *arg)
{
	struct conn **c = arg;

	*c = try_dial(NULL, 0);
	return *c != NULL;
}

static void the_handshake_cap_closes_the_next_connection_at_once(void **st)
{
	struct server_limits lim = {.handshake_ms = LONG_MS, .max_unauth = 4};
	struct conn *a, *b = NULL, *quiet[5];
	struct server *s;
	struct echo e;
	int before, i;

	s = start(&e, "mem", NULL, &lim);
	a = dial_raw();
	ping(a, 1);
	before = threads();
	for (i = 0; i < 4; i++)
		silent_mem(&quiet[i]);
	/* the fifth is closed at once, long before any deadline */
	i = closed_after(silent_mem(&quiet[4]), DEADLINE_MS);
	assert_true(i >= 0 && i < SLACK_MS);
	for (i = 0; i < 4; i++)
		assert_true(still_open(conn_fd(quiet[i])));
	/* no thread for a connection that said nothing */
	assert_int_equal(threads(), before);
	/* the authenticated one is served; a new one waits for a slot */
	ping(a, 2);
	assert_null(try_dial(NULL, 0));
	conn_destroy(quiet[0]);
	/* the slot frees once the server has seen that close */
	assert_true(wait_for(dialed, &b, DEADLINE_MS));
	ping(b, 3);

	conn_destroy(a);
	conn_destroy(b);
	for (i = 1; i < 5; i++)
		conn_destroy(quiet[i]);
	stop_echo(s, &e);
}

/* The first of fd[0..n) found closed within max_ms, or -1. */
static int first_closed(const int *fd, int n, int max_ms)
{
	uint64_t end = cmp_now_ns() + (uint64_t)max_ms * 1000000u;

	do
		for (int i = 0; i < n; i++)
			if (!still_open(fd[i]))
				return i;
	while (cmp_now_ns() < end);
	return -1;
}

static void the_caps_per_address_and_in_all_hold_over_tcp(void **state)
{
	struct server_limits lim = {.handshake_ms = LONG_MS};
	int fd[SERVER_DEFAULT_MAX_UNAUTH], n = 0, late, i;
	char src[32];
	struct server *s;
	struct conn *a, *b;
	struct echo e;

	s = start(&e, "tcp", NULL, &lim);
	a = dial_raw(); /* from 127.0.0.1 */
	ping(a, 1);
	/* per address: the 9th from 127.0.0.2 is closed at once */
	while (n < SERVER_DEFAULT_MAX_UNAUTH_PER_ADDR)
		fd[n++] = raw_tcp("127.0.0.2");
	late = raw_tcp("127.0.0.2");
	i = closed_after(late, DEADLINE_MS);
	assert_true(i >= 0 && i < SLACK_MS);
	close(late);
	/* in all: 7 more from each of 127.0.0.3-10 fill the 64 places */
	while (n < SERVER_DEFAULT_MAX_UNAUTH) {
		snprintf(src, sizeof(src), "127.0.0.%d", 3 + (n - 8) / 7);
		fd[n++] = raw_tcp(src);
	}
	/* the 65th, from an address that has some, is closed at once */
	late = raw_tcp("127.0.0.3");
	i = closed_after(late, DEADLINE_MS);
	assert_true(i >= 0 && i < SLACK_MS);
	close(late);
	/*
	 * A newcomer's address takes the place of the busiest address's
	 * oldest: a new client gets in however full the handshake is.
	 */
	b = dial_raw();
	ping(b, 2);
	assert_int_equal(first_closed(fd, n, DEADLINE_MS), 0);
	/* the authenticated are served; the rest still wait */
	ping(a, 3);
	ping(b, 4);
	for (i = 0; i < n; i++) {
		assert_true(i == 0 || still_open(fd[i]));
		close(fd[i]);
	}
	conn_destroy(a);
	conn_destroy(b);
	stop_echo(s, &e);
}

/* A client (node) that got in and is served; the echo counts its open. */
static struct conn *dial_in(struct echo *e, struct auth_keyring *kr,
			    uint32_t node)
{
	struct count_is opened = {e, &e->opens, counter(e, &e->opens) + 1};
	struct conn *c = try_dial(kr, node);

	assert_non_null(c);
	assert_true(wait_for(count_is, &opened, DEADLINE_MS));
	return c;
}

/* node gets through the handshake, then the server closes it. */
static void refused_after_handshake(struct echo *e, struct auth_keyring *kr,
				    uint32_t node)
{
	int opens = counter(e, &e->opens);
	struct conn *d = try_dial(kr, node);

	assert_non_null(d);
	assert_false(pinged(d, 99));
	conn_destroy(d);
	assert_int_equal(counter(e, &e->opens), opens);
}

static void authenticated_caps_are_apart_and_per_node(void **state)
{
	struct server_limits lim = {
		.max_unauth = 1, .max_conns = 3, .max_conns_per_node = 2};
	struct auth_keyring *kr = auth_keyring_create(&key, 1);
	struct count_is closed;
	struct conn *c[4];
	struct server *s;
	struct echo e;
	int i;

	s = start(&e, "mem", kr, &lim);
	/* one place in the handshake is enough, one at a time */
	c[0] = dial_in(&e, kr, 7);
	c[1] = dial_in(&e, kr, 7);
	refused_after_handshake(&e, kr, 7); /* two per node */
	c[2] = dial_in(&e, kr, 8);
	refused_after_handshake(&e, kr, 9); /* three in all */
	for (i = 0; i < 3; i++)
		ping(c[i], 10 + i);
	/* a place freed is a place taken */
	conn_destroy(c[0]);
	closed = (struct count_is){&e, &e.closes, 1};
	assert_true(wait_for(count_is, &closed, DEADLINE_MS));
	c[3] = dial_in(&e, kr, 9);
	for (i = 1; i < 4; i++) {
		ping(c[i], 20 + i);
		conn_destroy(c[i]);
	}
	stop_echo(s, &e);
	auth_keyring_destroy(kr);
}

static void half_a_hello_is_closed_at_the_deadline(const char *transport)
{
	struct server_limits lim = {.handshake_ms = SHORT_MS};
	struct server *s;
	struct conn *c;
	struct echo e;
	uint64_t t0;
	int fd, ms;

	s = start(&e, transport, NULL, &lim);
	t0 = cmp_now_ns(); /* before the accept, where the deadline starts */
	fd = strcmp(transport, "mem") ? raw_tcp("127.0.0.1") : silent_mem(&c);
	send_half_header(fd);
	assert_true(closed_after(fd, DEADLINE_MS) >= 0);
	ms = (int)((cmp_now_ns() - t0) / 1000000);
	print_message("%s: half a HELLO closed after %d ms\n", transport, ms);
	assert_true(ms >= SHORT_MS - 5 && ms < SHORT_MS + SLACK_MS);
	if (strcmp(transport, "mem"))
		close(fd);
	else
		conn_destroy(c);
	stop_echo(s, &e);
	assert_int_equal(e.opens, 0);
}

static void half_a_hello_is_closed_at_the_deadline_mem(void **state)
{
	half_a_hello_is_closed_at_the_deadline("mem");
}

static void half_a_hello_is_closed_at_the_deadline_tcp(void **state)
{
	half_a_hello_is_closed_at_the_deadline("tcp");
}

/* A WRITE of 16 MiB whose first `sent` bytes come, in pieces. */
static int stall_frame(struct conn *c, size_t sent, size_t piece, int gap_ms)
{
	static uint8_t data[4096];
	struct timespec gap = {0, gap_ms * 1000000l};
	uint64_t t0 = cmp_now_ns();
	int ms;

	send_write_header(c, WIRE_MAX_PAYLOAD);
	for (size_t done = 0; done < sent; done += piece) {
		if (send(conn_fd(c), data, MIN(piece, sizeof(data)),
			 MSG_NOSIGNAL) < 0)
			break;
		nanosleep(&gap, NULL); /* the trickle's pace, not a wait */
	}
	ms = closed_after(conn_fd(c), DEADLINE_MS);
	assert_true(ms >= 0);
	return (int)((cmp_now_ns() - t0) / 1000000);
}

static void stalled_frame(size_t sent, size_t piece, int gap_ms)
{
	struct server_limits lim = {.frame_ms = SHORT_MS};
	struct count_is sunk;
	struct server *s;
	struct conn *c, *a;
	struct echo e;
	int ms;

	s = start(&e, "mem", NULL, &lim);
	a = dial_raw();
	c = dial_raw();
	ms = stall_frame(c, sent, piece, gap_ms);
	print_message("frame of %zu of 16 MiB in %zu-byte pieces: closed "
		      "after %d ms\n",
		      sent, piece, ms);
	assert_true(ms >= SHORT_MS - 5 && ms < SHORT_MS + SLACK_MS);
	sunk = (struct count_is){&e, &e.sinks, 1};
	assert_true(wait_for(count_is, &sunk, DEADLINE_MS));
	assert_int_equal(counter(&e, &e.sink_ret), -ETIMEDOUT);
	ping(a, 1); /* only that connection closed */
	conn_destroy(c);
	conn_destroy(a);
	stop_echo(s, &e);
}

static void a_stalled_frame_body_is_closed_at_its_deadline(void **state)
{
	stalled_frame(4096, 4096, 0);
}

/* Bytes keep coming, too slowly: the deadline is the frame's, not a read's */
static void a_trickled_frame_is_closed_at_its_deadline(void **state)
{
	stalled_frame(4u << 20, 512, SHORT_MS / 6);
}

static void a_sealed_header_without_its_record_is_closed_in_time(void **st)
{
	struct server_limits lim = {.frame_ms = SHORT_MS};
	struct auth_keyring *kr = auth_keyring_create(&key, 1);
	struct server *s;
	struct conn *c;
	struct echo e;
	uint64_t t0;
	int ms;

	s = start(&e, "mem", kr, &lim);
	c = try_dial(kr, 5);
	assert_non_null(c);
	t0 = cmp_now_ns();
	send_write_header(c, WIRE_MAX_PAYLOAD);
	assert_true(closed_after(conn_fd(c), DEADLINE_MS) >= 0);
	ms = (int)((cmp_now_ns() - t0) / 1000000);
	assert_true(ms >= SHORT_MS - 5 && ms < SHORT_MS + SLACK_MS);
	/* the header was never acted on */
	assert_int_equal(counter(&e, &e.sinks), 0);
	conn_destroy(c);
	stop_echo(s, &e);
	auth_keyring_destroy(kr);
}

static bool closed_now(void *arg)
{
	return !still_open(conn_fd(arg));
}

static void an_idle_authenticated_connection_stays_open(void **state)
{
	struct server_limits lim = {.handshake_ms = 100, .frame_ms = 100};
	struct server *s;
	struct conn *c;
	struct echo e;

	s = start(&e, "mem", NULL, &lim);
	c = dial_raw();
	ping(c, 1);
	/* ten times both deadlines: nothing closes it */
	assert_false(wait_for(closed_now, c, 1000));
	ping(c, 2);
	conn_destroy(c);
	stop_echo(s, &e);
}

/* A new mem:// connection that sent half a HELLO, in *arg; or false. */
static bool half_hello_sent(void *arg)
{
	struct conn **c = arg;

	if (sent_half_header(silent_mem(c)))
		return true;
	conn_destroy(*c);
	return false;
}

static void a_flood_writes_a_bounded_number_of_lines(void **state)
{
	struct server_limits lim = {.handshake_ms = 50, .max_unauth = 4};
	struct conn *c[300];
	int closed = 0, lines = 0, i;
	const char *out;
	struct server *s;
	struct echo e;

	s = start(&e, "mem", NULL, &lim);
	catch_stderr();
	/* 300 connections: all but 4 refused at once, those 4 dropped */
	for (i = 0; i < 300; i++)
		silent_mem(&c[i]);
	for (i = 0; i < 300; i++) {
		closed += closed_after(conn_fd(c[i]), DEADLINE_MS) >= 0;
		conn_destroy(c[i]);
	}
	/* 40 half HELLOs, 4 at a time, each closed at the deadline */
	for (i = 0; i < 40; i++) {
		/*
		 * A slot frees just after the server closed its connection:
		 * a connection refused for that is closed at once, and the
		 * next one gets in.
		 */
		assert_true(wait_for(half_hello_sent, &c[i % 4], DEADLINE_MS));
		if (i % 4 < 3)
			continue;
		for (int j = 0; j < 4; j++) {
			assert_true(closed_after(conn_fd(c[j]), DEADLINE_MS) >=
				    0);
			conn_destroy(c[j]);
		}
	}
	stop_echo(s, &e);
	out = caught();
	for (const char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	print_message("%d connections refused or dropped, 40 half HELLOs "
		      "timed out: %d log lines\n",
		      closed, lines);
	assert_int_equal(closed, 300);
	/* a few call sites, LOG_LIMIT_BURST lines each */
	assert_true(lines > 0 && lines <= 6 * LOG_LIMIT_BURST);
}

static void a_client_is_served_during_a_flood_and_a_stall(void **state)
{
	struct server_limits lim = {.handshake_ms = LONG_MS,
				    .frame_ms = LONG_MS,
				    .max_unauth = 1024,
				    .max_unauth_per_addr = 1024};
	static struct conn *flood[1000];
	uint64_t quiet, flooded, t0;
	struct conn *a, *stall;
	struct server *s;
	struct echo e;
	int before, i;

	s = start(&e, "mem", NULL, &lim);
	a = dial_raw();
	stall = dial_raw();
	t0 = cmp_now_ns();
	for (i = 0; i < 1000; i++)
		ping(a, i);
	quiet = cmp_now_ns() - t0;
	before = threads();
	for (i = 0; i < 1000; i++)
		silent_mem(&flood[i]);
	send_write_header(stall, WIRE_MAX_PAYLOAD);
	t0 = cmp_now_ns();
	for (i = 0; i < 1000; i++)
		ping(a, 1000 + i);
	flooded = cmp_now_ns() - t0;
	print_message("a PING round trip: %.1f us quiet, %.1f us with 1000 "
		      "idle connections and a stalled frame\n",
		      quiet / 1e6, flooded / 1e6);
	/* the flood costs no thread; the stalled frame holds its own */
	assert_int_equal(threads(), before);
	for (i = 0; i < 1000; i++) {
		assert_true(still_open(conn_fd(flood[i])));
		conn_destroy(flood[i]);
	}
	conn_destroy(stall);
	conn_destroy(a);
	stop_echo(s, &e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: the log limiters are per process */
		cmocka_unit_test(a_flood_writes_a_bounded_number_of_lines),
		cmocka_unit_test(server_drops_a_peer_that_never_shakes_hands),
		cmocka_unit_test(
			server_pushes_from_another_thread_between_replies),
		cmocka_unit_test(
			the_handshake_cap_closes_the_next_connection_at_once),
		cmocka_unit_test(the_caps_per_address_and_in_all_hold_over_tcp),
		cmocka_unit_test(authenticated_caps_are_apart_and_per_node),
		cmocka_unit_test(half_a_hello_is_closed_at_the_deadline_mem),
		cmocka_unit_test(half_a_hello_is_closed_at_the_deadline_tcp),
		cmocka_unit_test(
			a_stalled_frame_body_is_closed_at_its_deadline),
		cmocka_unit_test(a_trickled_frame_is_closed_at_its_deadline),
		cmocka_unit_test(
			a_sealed_header_without_its_record_is_closed_in_time),
		cmocka_unit_test(an_idle_authenticated_connection_stays_open),
		cmocka_unit_test(a_client_is_served_during_a_flood_and_a_stall),
	};

	log_init("test-server", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
