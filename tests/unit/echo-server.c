// SPDX-License-Identifier: MIT
/* The echo server and the probes of the server tests: echo-server.h. */
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
#include "echo-server.h"
#include "wait-for.h"

const struct auth_key echo_key = {{9, 8, 7, 6, 5, 4, 3, 2, 1}};
char echo_addr[80];
static unsigned int seq;

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

/* Starts the echo server on listen ("mem" or "tcp"); echo_addr says where. */
struct server *start(struct echo *e, const char *listen,
		     struct auth_keyring *kr, const struct server_limits *lim)
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
	snprintf(echo_addr, sizeof(echo_addr), "%s", server_addr(s));
	return s;
}

struct server *start_echo(struct echo *e, int handshake_ms)
{
	struct server_limits lim = {.handshake_ms = (uint32_t)handshake_ms};

	return start(e, "mem", NULL, &lim);
}

void stop_echo(struct server *s, struct echo *e)
{
	server_destroy(s);
	server_conn_put(e->last);
	pthread_mutex_destroy(&e->lock);
}

/* A client that shook hands (as node), or NULL when refused. */
struct conn *try_dial(struct auth_keyring *kr, uint32_t node)
{
	struct conn *c;

	if (conn_connect(echo_addr, 1000, &c))
		return NULL;
	if (auth_client(c, kr, node, 1, 1000)) {
		conn_destroy(c);
		return NULL;
	}
	assert_int_equal(conn_set_timeout(c, DEADLINE_MS), 0);
	return c;
}

struct conn *dial_raw(void)
{
	struct conn *c = try_dial(NULL, 0);

	assert_non_null(c);
	return c;
}

/* One PING round trip; false when the connection is gone. */
bool pinged(struct conn *c, uint64_t id)
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

void ping(struct conn *c, uint64_t id)
{
	assert_true(pinged(c, id));
}

int counter(struct echo *e, int *field)
{
	int v;

	pthread_mutex_lock(&e->lock);
	v = *field;
	pthread_mutex_unlock(&e->lock);
	return v;
}

bool count_is(void *arg)
{
	struct count_is *c = arg;

	return counter(c->e, c->field) == c->want;
}

/*
 * Ms until the server closed fd (end of stream or reset), -1 when it was
 * still open after max_ms. Nothing else is expected to arrive.
 */
int closed_after(int fd, int max_ms)
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

bool still_open(int fd)
{
	return closed_after(fd, 0) < 0;
}

/* A silent TCP connection to echo_addr from src (any 127.x.y.z is ours). */
int raw_tcp(const char *src)
{
	struct sockaddr_in from = {.sin_family = AF_INET};
	struct sockaddr_in to = {.sin_family = AF_INET};
	const char *port = strrchr(echo_addr, ':');
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
int threads(void)
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
bool sent_half_header(int fd)
{
	struct wire_hdr h = {.op = WIRE_OP_HELLO, .len = 54, .id = 1};
	uint8_t buf[WIRE_HDR_SIZE];

	wire_hdr_encode(&h, buf);
	return send(fd, buf, 10, MSG_NOSIGNAL) == 10;
}

void send_half_header(int fd)
{
	assert_true(sent_half_header(fd));
}

/* Sends a WRITE header announcing len bytes (plain: csum of nothing). */
void send_write_header(struct conn *c, uint32_t len)
{
	struct wire_hdr h = {.op = WIRE_OP_WRITE, .len = len, .id = 9};
	uint8_t buf[WIRE_HDR_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};

	wire_hdr_encode(&h, buf);
	assert_int_equal(conn_writev(c, &iov, 1), 0);
}

/* A mem:// connection that says nothing: its fd, the conn in *c. */
int silent_mem(struct conn **c)
{
	assert_int_equal(conn_connect(echo_addr, 1000, c), 0);
	return conn_fd(*c);
}

bool dialed(void *arg)
{
	struct conn **c = arg;

	*c = try_dial(NULL, 0);
	return *c != NULL;
}

/* A client (node) that got in and is served; the echo counts its open. */
struct conn *dial_in(struct echo *e, struct auth_keyring *kr, uint32_t node)
{
	struct count_is opened = {e, &e->opens, counter(e, &e->opens) + 1};
	struct conn *c = try_dial(kr, node);

	assert_non_null(c);
	assert_true(wait_for(count_is, &opened, DEADLINE_MS));
	return c;
}

bool closed_now(void *arg)
{
	return !still_open(conn_fd(arg));
}

/* A new mem:// connection that sent half a HELLO, in *arg; or false. */
bool half_hello_sent(void *arg)
{
	struct conn **c = arg;

	if (sent_half_header(silent_mem(c)))
		return true;
	conn_destroy(*c);
	return false;
}
