// SPDX-License-Identifier: MIT
/*
 * The metrics server (connector/metrics.c, include/cmp/metrics.h) over TCP
 * loopback, with a raw HTTP client: GET /metrics is the exposition format
 * (one HELP and TYPE per family, labels escaped, the server's own answer
 * counter last); another path is 404, another method or garbage 400, a
 * request head over 4 KiB 400; a silent connection is closed at the
 * handshake deadline; idle connections from other addresses never keep a
 * scrape out. The decoder of request heads on its own (connector/http.c).
 * Every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/log.h"
#include "cmp/metrics.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "http.h"

#define DEADLINE_MS 5000

static char resp[1 << 16];

static void collect(void *ctx, struct metrics_out *out)
{
	static const struct metrics_label l1[] = {{"list", "LLL"}},
					  l2[] = {{"list", "free"}},
					  odd[] = {{"path", "a\"b\\c\nd"},
						   {"x", "y"}};
	int *calls = ctx;

	__atomic_add_fetch(calls, 1, __ATOMIC_RELAXED);
	metrics_add(out, METRICS_GAUGE, "t_blocks", "blocks per list", l1, 1,
		    5);
	metrics_add(out, METRICS_GAUGE, "t_blocks", "", l2, 1, 59);
	metrics_add(out, METRICS_COUNTER, "t_reads_total",
		    "reads\\with a backslash", NULL, 0,
		    18446744073709551615ull);
	metrics_add_float(out, METRICS_GAUGE, "t_age_seconds", "an age", odd, 2,
			  0.25);
}

static struct metrics_server *start(int *calls, const struct server_limits *lim)
{
	struct metrics_config cfg = {.listen_addr = "tcp://127.0.0.1:0",
				     .prefix = "t",
				     .collect = collect,
				     .ctx = calls,
				     .limits = lim};
	struct metrics_server *m = metrics_server_create(&cfg);

	assert_non_null(m);
	return m;
}

/* A TCP connection from src (any 127.x.y.z) to the server. */
static int dial(struct metrics_server *m, const char *src)
{
	struct sockaddr_in from = {.sin_family = AF_INET};
	struct sockaddr_in to = {.sin_family = AF_INET};
	const char *port = strrchr(metrics_server_addr(m), ':');
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0 && port);
	assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &to.sin_addr), 1);
	to.sin_port = htons((uint16_t)atoi(port + 1));
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	return fd;
}

/* Everything until the server closes (or DEADLINE_MS), into resp. */
static size_t read_all(int fd)
{
	uint64_t end = cmp_now_ns() + DEADLINE_MS * 1000000ull;
	size_t len = 0;

	while (len < sizeof(resp) - 1 && cmp_now_ns() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, resp + len, sizeof(resp) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	resp[len] = '\0';
	return len;
}

/* Sends req from src, returns the answer's status, the answer in resp. */
static int ask(struct metrics_server *m, const char *src, const char *req,
	       size_t len)
{
	int fd = dial(m, src), status = 0;

	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	read_all(fd);
	close(fd);
	if (sscanf(resp, "HTTP/1.1 %d ", &status) != 1)
		return -1;
	return status;
}

#define ASK(m, req) ask(m, "127.0.0.1", req, strlen(req))

static const char *body(void)
{
	const char *b = strstr(resp, "\r\n\r\n");

	assert_non_null(b);
	return b + 4;
}

static void get_metrics_is_the_exposition_format(void **state)
{
	int calls = 0;
	struct metrics_server *m = start(&calls, NULL);

	assert_int_equal(ASK(m, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
				"Accept: */*\r\n\r\n"),
			 200);
	assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; "
				     "version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
	assert_string_equal(
		body(),
		"# HELP t_blocks blocks per list\n"
		"# TYPE t_blocks gauge\n"
		"t_blocks{list=\"LLL\"} 5\n"
		"t_blocks{list=\"free\"} 59\n"
		"# HELP t_reads_total reads\\\\with a backslash\n"
		"# TYPE t_reads_total counter\n"
		"t_reads_total 18446744073709551615\n"
		"# HELP t_age_seconds an age\n"
		"# TYPE t_age_seconds gauge\n"
		"t_age_seconds{path=\"a\\\"b\\\\c\\nd\",x=\"y\"} 0.25\n"
		"# HELP t_metrics_requests_total HTTP requests to this metrics "
		"server, by the status of the answer\n"
		"# TYPE t_metrics_requests_total counter\n"
		"t_metrics_requests_total{code=\"200\"} 1\n"
		"t_metrics_requests_total{code=\"400\"} 0\n"
		"t_metrics_requests_total{code=\"404\"} 0\n"
		"t_metrics_requests_total{code=\"500\"} 0\n");
	/* HTTP/1.0, a query string, LF-only lines: the same answer */
	assert_int_equal(ASK(m, "GET /metrics?x=1 HTTP/1.0\n\n"), 200);
	assert_non_null(
		strstr(resp, "t_metrics_requests_total{code=\"200\"} 2"));
	assert_int_equal(calls, 2);
	metrics_server_destroy(m);
}

static void anything_but_get_metrics_is_refused(void **state)
{
	static char big[HTTP_MAX_REQUEST + 100];
	int calls = 0;
	struct metrics_server *m = start(&calls, NULL);

	assert_int_equal(ASK(m, "GET / HTTP/1.1\r\n\r\n"), 404);
	assert_string_equal(body(), "this address serves GET /metrics only\n");
	assert_int_equal(ASK(m, "GET /metricsx HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(ASK(m, "POST /metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(ASK(m, "HEAD /metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(ASK(m, "GET /metrics HTTP/2.0\r\n\r\n"), 400);
	assert_int_equal(ASK(m, "GET /metrics HTTP/1.1\r\nbad header\r\n\r\n"),
			 400);
	assert_int_equal(ask(m, "127.0.0.1", "\x31\x50\x4d\x43\x02\x02", 6),
			 400);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	assert_int_equal(ask(m, "127.0.0.1", big, sizeof(big)), 400);
	assert_int_equal(calls, 0);
	assert_int_equal(ASK(m, "GET /metrics HTTP/1.1\r\n\r\n"), 200);
	assert_non_null(strstr(resp, "{code=\"400\"} 6\n"));
	assert_non_null(strstr(resp, "{code=\"404\"} 2\n"));
	metrics_server_destroy(m);
}

static void a_silent_connection_is_closed_at_the_deadline(void **state)
{
	struct server_limits lim = {.handshake_ms = 200};
	int calls = 0;
	struct metrics_server *m = start(&calls, &lim);
	int fd = dial(m, "127.0.0.1");
	uint64_t t0 = cmp_now_ns();

	/* half a request, then nothing: closed without an answer */
	assert_int_equal(send(fd, "GET /met", 8, MSG_NOSIGNAL), 8);
	assert_int_equal(read_all(fd), 0);
	assert_true(cmp_now_ns() - t0 < (DEADLINE_MS - 1000) * 1000000ull);
	close(fd);
	metrics_server_destroy(m);
}

/*
 * The connection caps hold: 12 idle connections from 127.0.0.2 (8 may
 * wait per address) and as many from 127.0.0.3, reopened, fill the 16
 * places; a scrape from 127.0.0.1 still gets in at once, every time.
 */
static void idle_connections_do_not_keep_a_scrape_out(void **state)
{
	struct server_limits lim = {.handshake_ms = 20000,
				    .max_unauth = 16,
				    .max_unauth_per_addr = 8};
	int calls = 0, fds[24], extra;
	struct metrics_server *m = start(&calls, &lim);
	uint64_t t0;

	for (int i = 0; i < 24; i++)
		fds[i] = dial(m, i % 2 ? "127.0.0.2" : "127.0.0.3");
	for (int round = 0; round < 5; round++) {
		t0 = cmp_now_ns();
		assert_int_equal(ASK(m, "GET /metrics HTTP/1.1\r\n\r\n"), 200);
		assert_true(cmp_now_ns() - t0 < 2000 * 1000000ull);
	}
	assert_int_equal(calls, 5);
	/* the cap per address holds: one more from .2 is closed at once */
	extra = dial(m, "127.0.0.2");
	t0 = cmp_now_ns();
	assert_int_equal(read_all(extra), 0);
	assert_true(cmp_now_ns() - t0 < 2000 * 1000000ull);
	close(extra);
	for (int i = 0; i < 24; i++)
		close(fds[i]);
	metrics_server_destroy(m);
}

/* ---- the decoder alone ---- */

#define JUDGE(s) http_judge_request(s, strlen(s), "/metrics", &head)

static void request_heads_are_judged_strictly(void **state)
{
	char big[HTTP_MAX_REQUEST];
	size_t head;

	assert_int_equal(JUDGE("GET /metrics HTTP/1.1\r\n\r\n"), 200);
	assert_int_equal(head, 25);
	assert_int_equal(JUDGE("GET /metrics HTTP/1.1\r\n\r\nextra"), 200);
	assert_int_equal(head, 25);
	/* what follows the head is not this request's: not judged */
	assert_int_equal(http_judge_request("GET /metrics HTTP/1.1\n\n\0\x80",
					    25, "/metrics", &head),
			 200);
	assert_int_equal(head, 23);
	assert_int_equal(JUDGE("GET /metrics HTTP/1.1\r\n"), -EAGAIN);
	assert_int_equal(head, 0);
	assert_int_equal(JUDGE("GET /metr"), -EAGAIN);
	assert_int_equal(JUDGE(""), -EAGAIN);
	assert_int_equal(JUDGE("GET /metrics HTTP/1.1\r\nA: b\r\nC:\r\n\r\n"),
			 200);
	assert_int_equal(JUDGE("GET /metrics?a=b HTTP/1.0\r\n\r\n"), 200);
	assert_int_equal(JUDGE("GET /other HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(JUDGE("GET /metrics/ HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(JUDGE("GET http://h/metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(JUDGE("GET  /metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(JUDGE("GET /metrics HTTP/1.1 \r\n\r\n"), 400);
	assert_int_equal(JUDGE("GET /metrics\r\n\r\n"), 400);
	assert_int_equal(JUDGE("get /metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(JUDGE("PUT /metrics HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(JUDGE("GET /metrics HTTP/1.1\r\n: x\r\n\r\n"), 400);
	assert_int_equal(JUDGE("GET /metrics HTTP/1.1\r\n folded\r\n\r\n"),
			 400);
	assert_int_equal(JUDGE("GET /metrics HTTP/1.1\r\nA\rB: c\r\n\r\n"),
			 400);
	/* a byte no request has: refused before the head is complete */
	assert_int_equal(http_judge_request("GET /\0", 6, "/metrics", &head),
			 400);
	assert_int_equal(JUDGE("GET /\x80"), 400);
	memset(big, 'a', sizeof(big));
	assert_int_equal(
		http_judge_request(big, sizeof(big) - 1, "/metrics", &head),
		-EAGAIN);
	assert_int_equal(
		http_judge_request(big, sizeof(big), "/metrics", &head), 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_metrics_is_the_exposition_format),
		cmocka_unit_test(anything_but_get_metrics_is_refused),
		cmocka_unit_test(a_silent_connection_is_closed_at_the_deadline),
		cmocka_unit_test(idle_connections_do_not_keep_a_scrape_out),
		cmocka_unit_test(request_heads_are_judged_strictly),
	};

	log_init("test-metrics", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
