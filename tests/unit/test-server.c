// SPDX-License-Identifier: MIT
/*
 * The generic request server (connector/server.c) over mem:// and
 * tcp://127.0.0.1, with the bare echo service of echo-server.c: pushes
 * interleave with replies, a handler error closes only its own connection,
 * the unauthenticated caps (in all and per source address) close the next
 * connection at once and start no thread for the silent ones, the
 * authenticated caps are apart and per node, and a fence ends a node's
 * other connections (and no one else's) before it returns. Deadlines and
 * the log bounds: test-server-deadlines.c.
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
#include "echo-server.h"
#include "wait-for.h"

/* ---- limits ---- */

static void server_drops_a_peer_that_never_shakes_hands(void **state)
{
	struct server *s;
	struct echo e;
	struct conn *c;
	uint8_t byte;
	uint64_t t0;
	int ret, i;

	s = start_echo(&e, 100);
	assert_int_equal(conn_connect(echo_addr, 1000, &c), 0);
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
	struct auth_keyring *kr = auth_keyring_create(&echo_key, 1);
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

/* ---- fencing a node's older connections ---- */

static void a_fence_ends_that_nodes_other_connections_only(void **state)
{
	struct server_limits lim = {.handshake_ms = LONG_MS};
	struct auth_keyring *kr = auth_keyring_create(&echo_key, 1);
	struct conn *old[2], *other, *fresh;
	struct server *s;
	struct echo e;

	assert_non_null(kr);
	s = start(&e, "mem", kr, &lim);
	old[0] = dial_in(&e, kr, 5);
	old[1] = dial_in(&e, kr, 5);
	other = dial_in(&e, kr, 6);
	fresh = dial_in(&e, kr, 5); /* e.last */
	ping(old[0], 1);
	assert_int_equal(server_fence_node(e.last, DEADLINE_MS), 0);
	/* both ended, their on_close ran, before the fence returned */
	assert_int_equal(counter(&e, &e.closes), 2);
	assert_false(pinged(old[0], 2));
	assert_false(pinged(old[1], 3));
	ping(other, 4);
	ping(fresh, 5);
	/* nothing left to fence */
	assert_int_equal(server_fence_node(e.last, DEADLINE_MS), 0);
	assert_int_equal(counter(&e, &e.closes), 2);
	ping(other, 6);

	for (int i = 0; i < 2; i++)
		conn_destroy(old[i]);
	conn_destroy(other);
	conn_destroy(fresh);
	stop_echo(s, &e);
	auth_keyring_destroy(kr);
}

/* A reply is counted once sent: the client may have it a moment before. */
static bool sent_bytes_are(void *arg)
{
	struct server_stats st;
	struct server *s = ((void **)arg)[0];

	server_get_stats(s, &st);
	return st.tx_bytes == *(uint64_t *)((void **)arg)[1];
}

/* What the metrics and cmpctl top read: frames and connections counted. */
static void the_server_counts_frames_bytes_and_connections(void **state)
{
	uint64_t want = 2 * (32 + 6);
	struct server_stats st;
	struct server *s;
	struct echo e;
	struct conn *c;
	void *arg[2];

	s = start_echo(&e, LONG_MS);
	c = try_dial(NULL, 7);
	assert_non_null(c);
	ping(c, 1);
	ping(c, 2);
	arg[0] = s;
	arg[1] = &want;
	assert_true(wait_for(sent_bytes_are, arg, DEADLINE_MS));
	server_get_stats(s, &st);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.authed, 1);
	assert_int_equal(st.unauth, 0);
	assert_int_equal(st.requests, 2);
	/* two PINGs of 6 bytes each way, 32-byte headers */
	assert_int_equal(st.rx_bytes, 2 * (32 + 6));
	assert_int_equal(st.tx_bytes, 2 * (32 + 6));
	assert_int_equal(st.refused, 0);
	assert_int_equal(st.hs_failed, 0);
	conn_destroy(c);
	stop_echo(s, &e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(server_drops_a_peer_that_never_shakes_hands),
		cmocka_unit_test(
			server_pushes_from_another_thread_between_replies),
		cmocka_unit_test(
			the_handshake_cap_closes_the_next_connection_at_once),
		cmocka_unit_test(the_caps_per_address_and_in_all_hold_over_tcp),
		cmocka_unit_test(authenticated_caps_are_apart_and_per_node),
		cmocka_unit_test(
			a_fence_ends_that_nodes_other_connections_only),
		cmocka_unit_test(
			the_server_counts_frames_bytes_and_connections),
	};

	log_init("test-server", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
