// SPDX-License-Identifier: MIT
/*
 * The generic request server's deadlines (include/cmp/server.h) with the
 * echo service of echo-server.c: a half HELLO is closed at the handshake
 * deadline, a stalled or trickled frame at the frame deadline, a sealed
 * header without its record in time, an idle authenticated connection
 * never; a flood writes a bounded number of log lines, and an
 * authenticated client is served while a flood and a stalled frame sit
 * there. Deadlines are small ones configured here; every wait polls a
 * condition against a deadline.
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
	struct auth_keyring *kr = auth_keyring_create(&echo_key, 1);
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

	log_init("test-server-deadlines", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
