// SPDX-License-Identifier: MIT
/*
 * The generic request server (connector/server.c) over mem://, with a bare
 * echo service: a peer that never shakes hands is dropped in time, a push
 * from another thread interleaves with replies, a handler error closes only
 * its own connection, and pushing to a closed connection fails cleanly.
 * Every wait polls a condition against a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "wait-for.h"

#define DEADLINE_MS 5000

static unsigned int seq;
static char addr[64];

static void next_addr(void)
{
	snprintf(addr, sizeof(addr), "mem://server-%d-%u", getpid(), ++seq);
}

/* A bare server: PING echoes, STATUS fails in the handler. */
struct echo {
	pthread_mutex_t lock;
	int opens, closes;
	struct server_conn *last; /* referenced */
};

static int echo_handle(void *ctx, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	uint8_t buf[256];
	struct iovec iov = {.iov_base = buf, .iov_len = h->len};
	int ret;

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

static struct server *start_echo(struct echo *e, int handshake_ms)
{
	struct server_config cfg = {.listen_addr = addr,
				    .name = "echo",
				    .handle = echo_handle,
				    .on_open = echo_open,
				    .on_close = echo_close,
				    .ctx = e,
				    .handshake_timeout_ms = handshake_ms};
	struct server *s;

	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	next_addr();
	s = server_create(&cfg);
	assert_non_null(s);
	assert_string_equal(server_addr(s), addr);
	return s;
}

static void stop_echo(struct server *s, struct echo *e)
{
	server_destroy(s);
	server_conn_put(e->last);
	pthread_mutex_destroy(&e->lock);
}

static struct conn *dial_raw(void)
{
	struct conn *c;

	assert_int_equal(conn_connect(addr, 1000, &c), 0);
	assert_int_equal(auth_client(c, NULL, 0, 0, 1000), 0);
	assert_int_equal(conn_set_timeout(c, DEADLINE_MS), 0);
	return c;
}

static void ping(struct conn *c, uint64_t id)
{
	char msg[] = "hello";
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
	struct wire_hdr h = {.op = WIRE_OP_PING, .id = id};
	char back[sizeof(msg)];

	iov.iov_base = msg;
	assert_int_equal(wire_send(c, &h, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(c, &h), 0);
	assert_int_equal(h.id, id);
	assert_int_equal(h.flags, WIRE_F_REPLY);
	iov = (struct iovec){.iov_base = back, .iov_len = sizeof(back)};
	assert_int_equal(wire_recv_payload(c, &h, &iov, 1), 0);
	assert_string_equal(back, "hello");
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

	assert_int_equal(server_push(e.last, WIRE_OP_NODE_DEAD, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(a, &h), 0);
	assert_int_equal(h.op, WIRE_OP_NODE_DEAD);
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
	assert_int_equal(server_push(e.last, WIRE_OP_NODE_DEAD, &iov, 1),
			 -ECONNRESET);

	conn_destroy(b);
	stop_echo(s, &e);
	assert_int_equal(e.closes, 2);
	assert_int_equal(wire_recv_hdr(a, &h), -ECONNRESET);
	conn_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(server_drops_a_peer_that_never_shakes_hands),
		cmocka_unit_test(
			server_pushes_from_another_thread_between_replies),
	};

	log_init("test-server", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
