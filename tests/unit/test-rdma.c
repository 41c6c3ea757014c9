// SPDX-License-Identifier: MIT
/*
 * Unit tests of the RDMA transport with verbs and CM mocked: the real entry
 * points are wrapped (-Wl,--wrap=, listed in tests/unit/meson.build)
 * and the inline ones (ibv_post_send/recv, ibv_poll_cq, ibv_req_notify_cq)
 * reach the fake fabric of fake-rdma.c through its fake ibv_context. So the
 * transport's state machines, credits, completions and its poll() loop run
 * for real against a peer in the same process; any SEND that finds no
 * posted receive (an RNR: a flow-control bug) is counted. Connection
 * management, streams, and the growth after authentication here; one-sided
 * access in test-rdma-rma.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>
#include <arpa/inet.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"
#include "fake-rdma.h"
#include "rdma-pair.h"

/* --- helpers ---------------------------------------------------------- */

struct io_job {
	struct conn *c;
	uint8_t *buf;
	size_t len;
	int ret;
};

static void *writer_main(void *arg)
{
	struct io_job *j = arg;

	j->ret = wr(j->c, j->buf, j->len);
	return NULL;
}

static void *reader_main(void *arg)
{
	struct io_job *j = arg;

	j->ret = rd(j->c, j->buf, j->len);
	return NULL;
}

/* --- tests: connection management ------------------------------------- */

static void
connect_without_rdma_device_fails_with_enodev_and_one_line(void **state)
{
	struct conn *c = NULL;
	char out[1024];
	int saved, ret;
	char *path;

	F.devices = 0;
	path = capture_stderr_begin(&saved);
	ret = conn_rdma_transport.connect("10.0.0.1:7000", 100, &c);
	capture_stderr_end(saved, path, out, sizeof(out));
	assert_int_equal(ret, -ENODEV);
	assert_null(c);
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "rdma://10.0.0.1:7000: no RDMA device "
				    "found (ibv_get_device_list)"));
	assert_int_equal(F.live, 0);
}

static void listen_without_rdma_device_fails_with_enodev(void **state)
{
	struct conn_listener *l = NULL;
	char out[1024];
	int saved, ret;
	char *path;

	F.devices = 0;
	path = capture_stderr_begin(&saved);
	ret = conn_rdma_transport.listen("0.0.0.0:7000", &l);
	capture_stderr_end(saved, path, out, sizeof(out));
	assert_int_equal(ret, -ENODEV);
	assert_int_equal(count_lines(out), 1);
	assert_int_equal(F.live, 0);
}

static void malformed_address_is_einval(void **state)
{
	static const char *const bad[] = {
		"no-port", "[::1",  "host:99999", "ho st:1",
		"[]:1",	   "host:", "host:7x",
	};
	struct conn *c = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(conn_rdma_transport.connect(bad[i], 100, &c),
				 -EINVAL);
	assert_null(c);
	assert_int_equal(F.live, 0);
}

static void connect_and_accept_post_receives_before_connecting(void **state)
{
	struct pair p = {0};

	connect_pair_small(&p);
	/* No SEND may arrive before the whole (small) ring is posted. */
	assert_int_equal(F.rq_at_connect, RDMA_SMALL_RX_DEPTH);
	assert_int_equal(F.rq_at_accept, RDMA_SMALL_RX_DEPTH);
	assert_string_equal(p.cli->peer, "rdma://127.0.0.1:7000");
	assert_string_equal(p.srv->peer, "rdma://127.0.0.1:5555");
	assert_true(rc(p.cli)->connected && rc(p.srv)->connected);
	assert_int_equal(rc(p.cli)->tx_credits, RDMA_SMALL_RX_DEPTH);
	assert_true(p.cli->ops->fd(p.cli) >= 0);
	destroy_pair(&p);
}

/* Each step of the active side's state machine, failing in turn. */
static void cm_failures_at_each_connect_step_map_to_errno(void **state)
{
	enum {
		ADDR = RDMA_CM_EVENT_ADDR_RESOLVED,
		ROUTE = RDMA_CM_EVENT_ROUTE_RESOLVED,
	};
	static const struct {
		int ev[3];
		int n, err;
	} cases[] = {
		{{RDMA_CM_EVENT_ADDR_ERROR}, 1, -EHOSTUNREACH},
		{{ADDR, RDMA_CM_EVENT_ROUTE_ERROR}, 2, -EHOSTUNREACH},
		{{ADDR, RDMA_CM_EVENT_DEVICE_REMOVAL}, 2, -ENODEV},
		{{ADDR, ROUTE, RDMA_CM_EVENT_UNREACHABLE}, 3, -EHOSTUNREACH},
		{{ADDR, ROUTE, RDMA_CM_EVENT_REJECTED}, 3, -ECONNREFUSED},
		{{ADDR, ROUTE, RDMA_CM_EVENT_CONNECT_ERROR}, 3, -ECONNRESET},
		{{ADDR, ROUTE, RDMA_CM_EVENT_DISCONNECTED}, 3, -ECONNRESET},
		/* established, but the peer sent no hello: not cmpfs */
		{{ADDR, ROUTE, RDMA_CM_EVENT_ESTABLISHED}, 3, -EPROTO},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct conn *c = NULL;

		memset(&F, 0, sizeof(F));
		F.devices = 1;
		F.scripted = true;
		for (int k = 0; k < cases[i].n; k++)
			will_return(scripted, cases[i].ev[k]);
		assert_int_equal(
			conn_rdma_transport.connect("127.0.0.1:7000", 1000, &c),
			cases[i].err);
		assert_null(c);
		assert_int_equal(F.live, 0);
	}
}

static void connect_times_out_when_nobody_answers(void **state)
{
	struct conn *c = NULL;
	uint64_t t = cmp_now_ns();

	assert_int_equal(conn_rdma_transport.connect("127.0.0.1:7000", 100, &c),
			 -ETIMEDOUT);
	assert_true(cmp_now_ns() - t < 1000000000ull);
	assert_int_equal(F.live, 0);
}

static void *accept_srv_main(void *arg)
{
	struct pair *p = arg;

	p->accept_ret = p->l->ops->accept(p->l, &p->srv);
	return NULL;
}

static void server_refuses_a_foreign_peer_and_keeps_accepting(void **state)
{
	struct pair p = {0};
	struct conn *bad = NULL;
	pthread_t t;

	start_listener(&p);
	assert_int_equal(pthread_create(&t, NULL, accept_srv_main, &p), 0);
	F.bad_hello = true;
	assert_int_equal(
		conn_rdma_transport.connect("127.0.0.1:7000", 1000, &bad),
		-ECONNREFUSED);
	F.bad_hello = false;
	assert_int_equal(
		conn_rdma_transport.connect("127.0.0.1:7000", 1000, &p.cli), 0);
	pthread_join(t, NULL);
	assert_int_equal(p.accept_ret, 0);
	destroy_pair(&p);
}

/* --- tests: stream ------------------------------------------------------ */

static void bytes_arrive_in_order_both_ways(void **state)
{
	struct pair p = {0};
	char a[] = "hello", b[] = ", ", c[] = "world";
	struct iovec iov[4] = {{a, 5}, {b, 0}, {b, 2}, {c, 5}};
	char got[13] = {0}, x[2], y[10];
	struct iovec riov[2] = {{x, 2}, {y, 10}};

	connect_pair(&p);
	assert_int_equal(p.cli->ops->writev(p.cli, iov, 4), 0);
	assert_int_equal(rd(p.srv, got, 3), 0);
	assert_int_equal(rd(p.srv, got + 3, 9), 0);
	assert_string_equal(got, "hello, world");
	assert_int_equal(wr(p.srv, "0123456789AB", 12), 0);
	assert_int_equal(p.cli->ops->readv(p.cli, riov, 2), 0);
	assert_memory_equal(x, "01", 2);
	assert_memory_equal(y, "23456789AB", 10);
	destroy_pair(&p);
}

static void large_write_is_chunked_into_buffer_sized_sends(void **state)
{
	const size_t len = 3 * 1024 * 1024 + 7;
	struct io_job w = {0};
	struct pair p = {0};
	uint8_t *out = malloc(len), *in = malloc(len);
	pthread_t t;

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		out[i] = pat(i);
	connect_pair(&p);
	w = (struct io_job){.c = p.cli, .buf = out, .len = len};
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	for (size_t done = 0; done < len;) {
		size_t n = MIN(len - done, (size_t)100003);

		assert_int_equal(rd(p.srv, in + done, n), 0);
		done += n;
	}
	pthread_join(t, NULL);
	assert_int_equal(w.ret, 0);
	assert_memory_equal(in, out, len);
	assert_int_equal(F.data_msgs,
			 (len + RDMA_BUF_SIZE - 1) / RDMA_BUF_SIZE);
	assert_int_equal(F.rnr, 0);
	destroy_pair(&p);
	free(in);
	free(out);
}

static void fast_sender_stops_at_the_receiver_ring_without_rnr(void **state)
{
	struct pair p = {0};
	int ret = 0, sent = 0, credits;

	connect_pair(&p);
	credits = (int)rc(p.cli)->tx_credits;
	assert_true(credits >= RDMA_RX_DEPTH / 2);
	p.cli->ops->set_timeout(p.cli, 100);
	while (sent < 2 * RDMA_RX_SLOTS) {
		ret = wr(p.cli, "x", 1);
		if (ret)
			break;
		sent++;
	}
	/* One receive stays free for a credit message. */
	assert_int_equal(ret, -ETIMEDOUT);
	assert_int_equal(sent, credits - 1);
	assert_int_equal(F.rnr, 0);
	/* A timed-out connection stays unusable. */
	assert_int_equal(wr(p.cli, "x", 1), -ETIMEDOUT);
	destroy_pair(&p);
}

static void credits_flow_back_so_a_long_stream_never_overruns(void **state)
{
	const size_t len = 16 * 1024 * 1024;
	struct pair p = {0};
	uint8_t *out = malloc(len), *in = malloc(1000);
	struct io_job w;
	pthread_t t;

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		out[i] = pat(i);
	connect_pair(&p);
	w = (struct io_job){.c = p.cli, .buf = out, .len = len};
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	for (size_t done = 0; done < len;) {
		size_t n = MIN(len - done, (size_t)777);

		assert_int_equal(rd(p.srv, in, n), 0);
		assert_memory_equal(in, out + done, n);
		done += n;
	}
	pthread_join(t, NULL);
	assert_int_equal(w.ret, 0);
	assert_int_equal(F.rnr, 0);
	/* One-way traffic: credits had to travel on their own. */
	assert_true(F.credit_msgs > 0);
	destroy_pair(&p);
	free(in);
	free(out);
}

static void credits_ride_on_replies_in_ping_pong(void **state)
{
	struct pair p = {0};
	char buf[64] = {0};

	connect_pair(&p);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(wr(p.cli, buf, sizeof(buf)), 0);
		assert_int_equal(rd(p.srv, buf, sizeof(buf)), 0);
		assert_int_equal(wr(p.srv, buf, sizeof(buf)), 0);
		assert_int_equal(rd(p.cli, buf, sizeof(buf)), 0);
	}
	assert_int_equal(F.credit_msgs, 0);
	assert_int_equal(F.rnr, 0);
	destroy_pair(&p);
}

/* Writer and reader threads on both ends at once share each CQ's poll. */
static void full_duplex_streams_with_four_threads(void **state)
{
	const size_t len = 8 * 1024 * 1024;
	uint8_t *out = malloc(len), *in[2] = {malloc(len), malloc(len)};
	struct io_job w[2], r[2];
	struct pair p = {0};
	pthread_t t[4];

	assert_non_null(out);
	assert_non_null(in[0]);
	assert_non_null(in[1]);
	for (size_t i = 0; i < len; i++)
		out[i] = pat(i);
	connect_pair(&p);
	w[0] = (struct io_job){.c = p.cli, .buf = out, .len = len};
	w[1] = (struct io_job){.c = p.srv, .buf = out, .len = len};
	r[0] = (struct io_job){.c = p.srv, .buf = in[0], .len = len};
	r[1] = (struct io_job){.c = p.cli, .buf = in[1], .len = len};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
			pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
		assert_int_equal(
			pthread_create(&t[2 + i], NULL, reader_main, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(w[i].ret, 0);
		assert_int_equal(r[i].ret, 0);
		assert_memory_equal(in[i], out, len);
	}
	assert_int_equal(F.rnr, 0);
	destroy_pair(&p);
	free(in[1]);
	free(in[0]);
	free(out);
}

static bool readable(struct conn *c)
{
	struct pollfd pfd = {.fd = c->ops->fd(c), .events = POLLIN};

	return poll(&pfd, 1, 0) == 1;
}

static void conn_fd_and_pending_follow_the_buffered_bytes(void **state)
{
	struct pair p = {0};
	char buf[10];

	connect_pair(&p);
	assert_false(readable(p.srv));
	assert_false(p.srv->ops->pending(p.srv));
	assert_int_equal(wr(p.cli, "0123456789", 10), 0);
	assert_true(readable(p.srv));
	assert_int_equal(rd(p.srv, buf, 4), 0);
	assert_true(p.srv->ops->pending(p.srv));
	assert_int_equal(rd(p.srv, buf, 6), 0);
	assert_false(p.srv->ops->pending(p.srv));
	assert_false(readable(p.srv));
	destroy_pair(&p);
}

static void credit_messages_do_not_wake_conn_fd(void **state)
{
	struct pair p = {0};
	char buf[40];

	connect_pair(&p);
	for (int i = 0; i < 40; i++)
		assert_int_equal(wr(p.cli, "x", 1), 0);
	assert_int_equal(rd(p.srv, buf, 40), 0);
	/* Half the ring was owed: credits went back on their own. */
	assert_int_equal(F.credit_msgs, 1);
	assert_false(readable(p.cli));
	assert_false(p.cli->ops->pending(p.cli));
	/* And the sender can use them. */
	for (int i = 0; i < 40; i++)
		assert_int_equal(wr(p.cli, "y", 1), 0);
	assert_int_equal(rd(p.srv, buf, 40), 0);
	assert_int_equal(F.rnr, 0);
	destroy_pair(&p);
}

static void read_times_out_and_leaves_the_connection_unusable(void **state)
{
	struct pair p = {0};
	char buf[4];

	connect_pair(&p);
	assert_int_equal(p.srv->ops->set_timeout(p.srv, 50), 0);
	assert_int_equal(rd(p.srv, buf, 4), -ETIMEDOUT);
	assert_int_equal(rd(p.srv, buf, 4), -ETIMEDOUT);
	destroy_pair(&p);
}

/* --- tests: failures ---------------------------------------------------- */

static void bytes_sent_before_disconnect_are_read_then_econnreset(void **state)
{
	struct pair p = {0};
	char buf[100];

	connect_pair(&p);
	assert_int_equal(wr(p.cli, buf, 100), 0);
	assert_int_equal(rd(p.srv, buf, 100), 0);
	assert_false(readable(p.srv));
	assert_int_equal(wr(p.cli, buf, 100), 0);
	p.cli->ops->destroy(p.cli);
	p.cli = NULL;
	/* An event loop learns of the disconnect through conn_fd(). */
	assert_true(readable(p.srv));
	assert_int_equal(rd(p.srv, buf, 100), 0);
	assert_int_equal(rd(p.srv, buf, 1), -ECONNRESET);
	assert_int_equal(wr(p.srv, buf, 1), -ECONNRESET);
	destroy_pair(&p);
}

static void disconnect_mid_transfer_wakes_the_blocked_reader(void **state)
{
	static uint8_t buf[200000];
	struct pair p = {0};
	struct io_job r;
	pthread_t t;

	connect_pair(&p);
	r = (struct io_job){.c = p.srv, .buf = buf, .len = sizeof(buf)};
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	assert_int_equal(wr(p.cli, buf, 70000), 0); /* part of it only */
	assert_true(eventually_polling(p.srv));
	p.cli->ops->destroy(p.cli);
	p.cli = NULL;
	pthread_join(t, NULL);
	assert_int_equal(r.ret, -ECONNRESET);
	destroy_pair(&p);
}

static void shutdown_wakes_the_blocked_reader(void **state)
{
	struct pair p = {0};
	uint8_t buf[8];
	struct io_job r;
	pthread_t t;

	connect_pair(&p);
	r = (struct io_job){.c = p.srv, .buf = buf, .len = sizeof(buf)};
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	assert_true(eventually_polling(p.srv));
	p.srv->ops->shutdown(p.srv);
	pthread_join(t, NULL);
	assert_int_equal(r.ret, -ECONNRESET);
	assert_true(readable(p.srv));
	destroy_pair(&p);
}

static void shutdown_wakes_a_writer_blocked_for_credits(void **state)
{
	struct pair p = {0};
	uint8_t x = 'x';
	struct io_job w;
	pthread_t t;

	connect_pair(&p);
	for (int i = (int)rc(p.cli)->tx_credits - 1; i > 0; i--)
		assert_int_equal(wr(p.cli, &x, 1), 0);
	w = (struct io_job){.c = p.cli, .buf = &x, .len = 1};
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	assert_true(eventually_polling(p.cli));
	p.cli->ops->shutdown(p.cli);
	pthread_join(t, NULL);
	assert_int_equal(w.ret, -ECONNRESET);
	assert_int_equal(F.rnr, 0);
	destroy_pair(&p);
}

static void flush_error_completions_fail_io_with_econnreset(void **state)
{
	struct pair p = {0};
	char buf[4];

	connect_pair(&p);
	pthread_mutex_lock(&fab);
	fake_qp_error((struct fake_qp *)rc(p.srv)->qp);
	pthread_mutex_unlock(&fab);
	assert_int_equal(rd(p.srv, buf, 4), -ECONNRESET);
	assert_int_equal(rc(p.srv)->rx_posted, 0);
	assert_int_equal(wr(p.srv, buf, 4), -ECONNRESET);
	destroy_pair(&p);
}

static void device_removal_fails_the_connection_with_enodev(void **state)
{
	struct pair p = {0};
	char buf[4];

	connect_pair(&p);
	pthread_mutex_lock(&fab);
	fake_push_event((struct fake_cm_ch *)rc(p.cli)->cm_ch,
			RDMA_CM_EVENT_DEVICE_REMOVAL,
			(struct fake_id *)rc(p.cli)->id, NULL, 0);
	pthread_mutex_unlock(&fab);
	assert_int_equal(rd(p.cli, buf, 4), -ENODEV);
	destroy_pair(&p);
}

static void registration_failure_at_connect_frees_everything(void **state)
{
	/* The small receive ring, the small send slots. */
	for (int at = 1; at <= 2; at++) {
		struct conn *c = NULL;

		memset(&F, 0, sizeof(F));
		F.devices = 1;
		F.fail_reg_mr_at = at;
		assert_int_equal(
			conn_rdma_transport.connect("127.0.0.1:7000", 1000, &c),
			-ENOMEM);
		assert_null(c);
		assert_int_equal(F.live, 0);
	}
}

static void post_send_failure_returns_negative_errno(void **state)
{
	struct pair p = {0};

	connect_pair(&p);
	F.post_send_err = ENOMEM;
	assert_int_equal(wr(p.cli, "x", 1), -ENOMEM);
	F.post_send_err = 0;
	assert_int_equal(wr(p.cli, "x", 1), -ENOMEM); /* sticky */
	destroy_pair(&p);
}

/* --- tests: growth after authentication -------------------------------- */

static void
a_connection_holds_only_small_buffers_until_authenticated(void **state)
{
	struct pair p = {0};
	static uint8_t big[RDMA_BUF_SIZE];
	char buf[100];

	connect_pair_small(&p);
	assert_int_equal(F.reg_bytes, 2 * RDMA_SMALL_BYTES);
	assert_null(rc(p.srv)->stage.mem);
	assert_null(rc(p.srv)->rx_big.mem);
	/* Handshake-sized traffic needs nothing more. */
	assert_int_equal(wr(p.cli, "hello", 6), 0);
	assert_int_equal(rd(p.srv, buf, 6), 0);
	assert_int_equal(wr(p.srv, "hi", 3), 0);
	assert_int_equal(rd(p.cli, buf, 3), 0);
	assert_int_equal(F.max_reg_bytes, 2 * RDMA_SMALL_BYTES);

	assert_int_equal(p.cli->ops->authenticated(p.cli), 0);
	assert_int_equal(F.reg_bytes, 2 * RDMA_SMALL_BYTES + RDMA_BIG_BYTES);
	assert_int_equal(p.srv->ops->authenticated(p.srv), 0);
	assert_int_equal(F.reg_bytes, 2 * (RDMA_SMALL_BYTES + RDMA_BIG_BYTES));
	grow_pair(&p); /* authenticates again: nothing more registered */
	assert_int_equal(F.reg_bytes, 2 * (RDMA_SMALL_BYTES + RDMA_BIG_BYTES));
	/* Both sides announced their big rings: 64 KiB SENDs now. */
	assert_int_equal(wr(p.cli, big, sizeof(big)), 0);
	assert_int_equal(rd(p.srv, big, sizeof(big)), 0);
	assert_int_equal(F.data_msgs, 1);
	assert_int_equal(F.max_send_len, RDMA_BUF_SIZE);
	destroy_pair(&p);
}

static void before_authentication_sends_fit_the_small_buffers(void **state)
{
	const size_t len = 100000;
	uint8_t *out = malloc(len), *in = malloc(len);
	struct pair p = {0};
	struct io_job w;
	pthread_t t;

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		out[i] = pat(i);
	connect_pair_small(&p);
	w = (struct io_job){.c = p.cli, .buf = out, .len = len};
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	assert_int_equal(rd(p.srv, in, len), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.ret, 0);
	assert_memory_equal(in, out, len);
	assert_int_equal(F.max_send_len, RDMA_SMALL_BUF_SIZE);
	assert_int_equal(F.rnr, 0);
	/* One-way on a ring of 8: credits had to travel on their own. */
	assert_true(F.credit_msgs > 0);
	assert_int_equal(F.max_reg_bytes, 2 * RDMA_SMALL_BYTES);
	destroy_pair(&p);
	free(in);
	free(out);
}

static void
a_peer_that_never_authenticates_is_dropped_without_big_buffers(void **state)
{
	struct pair p = {0};
	char buf[64];

	connect_pair_small(&p);
	/* A stranger sends a few bytes, never a handshake. */
	assert_int_equal(wr(p.cli, "GET / HTTP/1.0\r\n", 16), 0);
	/* The server's handshake deadline passes... */
	assert_int_equal(p.srv->ops->set_timeout(p.srv, 100), 0);
	assert_int_equal(rd(p.srv, buf, sizeof(buf)), -ETIMEDOUT);
	/* ...and it closes the connection, having pinned only 12 KiB. */
	p.srv->ops->destroy(p.srv);
	p.srv = NULL;
	assert_int_equal(F.max_reg_bytes, 2 * RDMA_SMALL_BYTES);
	assert_int_equal(rd(p.cli, buf, 1), -ECONNRESET);
	destroy_pair(&p);
}

/*
 * The receiver grows while the sender streams (its own buffers big
 * already): SENDs already under way keep landing in small receives, and
 * only those after the peer's last small one get big.
 */
static void stream_across_the_receivers_growth(struct conn *from,
					       struct conn *to)
{
	const size_t len = 2 * 1024 * 1024, first = 200000;
	uint8_t *out = malloc(len), *in = malloc(len);
	struct io_job w;
	pthread_t t;

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		out[i] = pat(i);
	assert_int_equal(from->ops->authenticated(from), 0);
	w = (struct io_job){.c = from, .buf = out, .len = len};
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	assert_int_equal(rd(to, in, first), 0);
	assert_int_equal(to->ops->authenticated(to), 0);
	assert_int_equal(rd(to, in + first, len - first), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.ret, 0);
	assert_memory_equal(in, out, len);
	assert_int_equal(F.rnr, 0);
	assert_int_equal(F.max_send_len, RDMA_BUF_SIZE);
	free(in);
	free(out);
}

static void growth_crosses_a_stream_in_flight_both_ways(void **state)
{
	struct pair p = {0};

	connect_pair_small(&p);
	stream_across_the_receivers_growth(p.cli, p.srv);
	destroy_pair(&p);
	pair_setup(state);
	memset(&p, 0, sizeof(p));
	connect_pair_small(&p);
	stream_across_the_receivers_growth(p.srv, p.cli);
	destroy_pair(&p);
}

static void growth_registration_failure_is_returned_and_freed(void **state)
{
	/* The big receive ring, the big send slots, the staging buffer. */
	for (int at = 1; at <= 3; at++) {
		struct pair p = {0};

		pair_setup(state);
		connect_pair_small(&p);
		F.fail_reg_mr_at = F.reg_mr_calls + at;
		assert_int_equal(p.cli->ops->authenticated(p.cli), -ENOMEM);
		assert_false(rc(p.cli)->grown);
		assert_int_equal(F.reg_bytes, 2 * RDMA_SMALL_BYTES);
		destroy_pair(&p);
	}
}

static void a_second_grow_is_a_protocol_error(void **state)
{
	struct rdma_ctrl m = {
		.type = htole16(RDMA_CTRL_GROW),
		.rx_depth = htole16(RDMA_RX_DEPTH),
		.buf_size = htole32(RDMA_BUF_SIZE),
		.small_total = htole32(RDMA_SMALL_RX_DEPTH),
	};
	struct pair p = {0};
	struct rdma_conn *c;
	struct ibv_sge sge;
	struct ibv_send_wr swr = {
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND_WITH_IMM,
		.imm_data = htonl(RDMA_IMM_CTRL),
	};
	char buf[1];

	connect_pair(&p);
	c = rc(p.cli);
	memcpy(c->tx_big.mem, &m, sizeof(m));
	sge = (struct ibv_sge){(uintptr_t)c->tx_big.mem, sizeof(m),
			       c->tx_big.mr->lkey};
	pthread_mutex_lock(&c->lock);
	assert_int_equal(conn_rdma_post_send_locked(c, &swr), 0);
	c->tx_credits--;
	c->tx_sends++;
	pthread_mutex_unlock(&c->lock);
	assert_int_equal(rd(p.srv, buf, 1), -EPROTO);
	destroy_pair(&p);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, pair_setup)
	const struct CMUnitTest tests[] = {
		T(connect_without_rdma_device_fails_with_enodev_and_one_line),
		T(listen_without_rdma_device_fails_with_enodev),
		T(malformed_address_is_einval),
		T(connect_and_accept_post_receives_before_connecting),
		T(cm_failures_at_each_connect_step_map_to_errno),
		T(connect_times_out_when_nobody_answers),
		T(server_refuses_a_foreign_peer_and_keeps_accepting),
		T(bytes_arrive_in_order_both_ways),
		T(large_write_is_chunked_into_buffer_sized_sends),
		T(fast_sender_stops_at_the_receiver_ring_without_rnr),
		T(credits_flow_back_so_a_long_stream_never_overruns),
		T(credits_ride_on_replies_in_ping_pong),
		T(full_duplex_streams_with_four_threads),
		T(conn_fd_and_pending_follow_the_buffered_bytes),
		T(credit_messages_do_not_wake_conn_fd),
		T(read_times_out_and_leaves_the_connection_unusable),
		T(bytes_sent_before_disconnect_are_read_then_econnreset),
		T(disconnect_mid_transfer_wakes_the_blocked_reader),
		T(shutdown_wakes_the_blocked_reader),
		T(shutdown_wakes_a_writer_blocked_for_credits),
		T(flush_error_completions_fail_io_with_econnreset),
		T(device_removal_fails_the_connection_with_enodev),
		T(registration_failure_at_connect_frees_everything),
		T(post_send_failure_returns_negative_errno),
		T(a_connection_holds_only_small_buffers_until_authenticated),
		T(before_authentication_sends_fit_the_small_buffers),
		T(a_peer_that_never_authenticates_is_dropped_without_big_buffers),
		T(growth_crosses_a_stream_in_flight_both_ways),
		T(growth_registration_failure_is_returned_and_freed),
		T(a_second_grow_is_a_protocol_error),
	};
#undef T

	log_init("test-rdma", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
