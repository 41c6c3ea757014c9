// SPDX-License-Identifier: MIT
/*
 * The metrics server (include/cmp/metrics.h): the connection server in
 * its plain mode, one HTTP GET per connection, and the text exposition
 * format written into a buffer that grows per scrape. Nothing is kept
 * between scrapes but four counters of answers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/metrics.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "http.h"

#define METRICS_PATH "/metrics"
#define MAX_BODY (16u << 20)
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* after the answer: what a client may still send before it closes */
#define LINGER_MS 500
#define LINGER_BYTES (64u << 10)

struct metrics_out {
	char *buf;
	size_t len, cap;
	bool full; /* over MAX_BODY or out of memory: answered 500 */
	char family[128];
};

/* The answers given, by status (index in codes[]). */
static const int codes[] = {200, 400, 404, 500};

struct metrics_server {
	struct server *srv;
	char prefix[64];
	void (*collect)(void *ctx, struct metrics_out *out);
	void *ctx;
	atomic_uint_fast64_t answers[ARRAY_SIZE(codes)];
};

/* ---- the exposition format ---- */

static bool grow(struct metrics_out *o, size_t need)
{
	size_t cap = o->cap ? o->cap : 4096;
	char *b;

	while (cap < o->len + need)
		cap *= 2;
	if (cap > MAX_BODY)
		return false;
	b = realloc(o->buf, cap);
	if (!b)
		return false;
	o->buf = b;
	o->cap = cap;
	return true;
}

static void __attribute__((format(printf, 2, 3)))
put(struct metrics_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(o, (size_t)n + 1)) {
		o->full = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

/* Text with backslash, newline (and, in label values, '"') escaped. */
static void put_escaped(struct metrics_out *o, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(o, "\\\\");
		else if (*s == '\n')
			put(o, "\\n");
		else if (*s == '"' && quote)
			put(o, "\\\"");
		else
			put(o, "%c", *s);
	}
}

static void family(struct metrics_out *o, enum metrics_type type,
		   const char *name, const char *help)
{
	static const char *const type_name[] = {
		[METRICS_COUNTER] = "counter",
		[METRICS_GAUGE] = "gauge",
		[METRICS_UNTYPED] = "untyped",
	};

	if (!strcmp(o->family, name))
		return;
	snprintf(o->family, sizeof(o->family), "%s", name);
	put(o, "# HELP %s ", name);
	put_escaped(o, help, false);
	put(o, "\n# TYPE %s %s\n", name, type_name[type]);
}

static void sample(struct metrics_out *o, const char *name,
		   const struct metrics_label *l, size_t n, const char *value)
{
	put(o, "%s", name);
	for (size_t i = 0; i < n; i++) {
		put(o, "%s%s=\"", i ? "," : "{", l[i].name);
		put_escaped(o, l[i].value, true);
		put(o, "\"");
	}
	put(o, "%s %s\n", n ? "}" : "", value);
}

void metrics_add(struct metrics_out *out, enum metrics_type type,
		 const char *name, const char *help,
		 const struct metrics_label *labels, size_t nlabels,
		 uint64_t value)
{
	char v[24];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
	family(out, type, name, help);
	sample(out, name, labels, nlabels, v);
}

void metrics_add_float(struct metrics_out *out, enum metrics_type type,
		       const char *name, const char *help,
		       const struct metrics_label *labels, size_t nlabels,
		       double value)
{
	char v[32];

	snprintf(v, sizeof(v), "%.9g", value);
	family(out, type, name, help);
	sample(out, name, labels, nlabels, v);
}

void metrics_add_server(struct metrics_out *out, const char *prefix,
			const struct server_stats *st)
{
	static const struct metrics_label hs = {"state", "handshake"},
					  au = {"state", "authenticated"};
	static const struct {
		const char *suffix, *help;
		size_t offset;
	} totals[] = {
		{"connections_accepted_total", "connections accepted",
		 offsetof(struct server_stats, accepted)},
		{"connections_refused_total",
		 "connections closed by a connection cap",
		 offsetof(struct server_stats, refused)},
		{"handshake_failures_total",
		 "connections whose handshake (or request) failed: a wrong "
		 "key, "
		 "too slow, garbage",
		 offsetof(struct server_stats, hs_failed)},
		{"connections_fenced_total",
		 "connections of a node shut down at that node's word (it "
		 "reconnected, or saw the connection break)",
		 offsetof(struct server_stats, fenced)},
		{"requests_total", "requests (frames) served",
		 offsetof(struct server_stats, requests)},
		{"received_bytes_total", "request frame bytes received",
		 offsetof(struct server_stats, rx_bytes)},
		{"sent_bytes_total", "reply frame bytes sent",
		 offsetof(struct server_stats, tx_bytes)},
	};
	char name[128];

	snprintf(name, sizeof(name), "%s_connections", prefix);
	metrics_add(out, METRICS_GAUGE, name,
		    "connections open now, in the handshake or authenticated",
		    &hs, 1, st->unauth);
	metrics_add(out, METRICS_GAUGE, name, "", &au, 1, st->authed);
	for (size_t i = 0; i < ARRAY_SIZE(totals); i++) {
		snprintf(name, sizeof(name), "%s_%s", prefix, totals[i].suffix);
		metrics_add(out, METRICS_COUNTER, name, totals[i].help, NULL, 0,
			    *(const uint64_t *)((const char *)st +
						totals[i].offset));
	}
}

/* ---- one request, one answer ---- */

static int on_request(void *ctx, struct server_conn *sc)
{
	char buf[HTTP_MAX_REQUEST];
	size_t len = 0;
	int status = -EAGAIN;

	(void)ctx;
	while (status == -EAGAIN) {
		ssize_t n = conn_read_some(server_conn_conn(sc), buf + len,
					   sizeof(buf) - len);

		if (n < 0)
			return (int)n;
		len += (size_t)n;
		status = http_judge_request(buf, len, METRICS_PATH, NULL);
	}
	server_conn_set_data(sc, (void *)(intptr_t)status);
	return 0;
}

static void count_answer(struct metrics_server *m, int status)
{
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
		if (codes[i] == status)
			atomic_fetch_add(&m->answers[i], 1);
}

/* The server's own counter, after the daemon's. */
static void add_answers(struct metrics_server *m, struct metrics_out *o)
{
	char name[96], code[8];

	snprintf(name, sizeof(name), "%s_metrics_requests_total", m->prefix);
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		struct metrics_label l = {"code", code};

		snprintf(code, sizeof(code), "%d", codes[i]);
		metrics_add(o, METRICS_COUNTER, name,
			    "HTTP requests to this metrics server, by the "
			    "status of the answer",
			    &l, 1, atomic_load(&m->answers[i]));
	}
}

/*
 * Closing with unread bytes would reset the connection, and the client
 * could lose the answer (a request head over the limit, a body): say we
 * are done, then read what still comes until the client closes, for a
 * little while and a little data only.
 */
static void linger(struct conn *c)
{
	char sink[4096];
	size_t total = 0;
	ssize_t n;

	if (shutdown(conn_fd(c), SHUT_WR) < 0 ||
	    conn_set_timeout(c, LINGER_MS) < 0)
		return;
	do {
		n = conn_read_some(c, sink, sizeof(sink));
		total += n > 0 ? (size_t)n : 0;
	} while (n > 0 && total < LINGER_BYTES);
}

static void on_reply(void *ctx, struct server_conn *sc)
{
	static const char refusal[] = "this address serves GET /metrics only\n";
	struct metrics_server *m = ctx;
	int status = (int)(intptr_t)server_conn_data(sc);
	struct metrics_out out = {0};
	struct iovec iov[2];
	char head[256];
	int n, ret;

	count_answer(m, status);
	if (status == 200) {
		m->collect(m->ctx, &out);
		add_answers(m, &out);
		if (out.full) {
			log_warn_rl("metrics: the answer would exceed %u MiB",
				    MAX_BODY >> 20);
			status = 500;
			count_answer(m, status);
		}
	}
	iov[1] = status == 200
			 ? (struct iovec){out.buf, out.len}
			 : (struct iovec){(void *)refusal, sizeof(refusal) - 1};
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     status, http_reason(status),
		     status == 200 ? CONTENT_TYPE : "text/plain; charset=utf-8",
		     iov[1].iov_len);
	iov[0] = (struct iovec){head, (size_t)n};
	ret = conn_writev(server_conn_conn(sc), iov, 2);
	if (ret < 0)
		log_debug("metrics: answering %s: %s", server_conn_peer(sc),
			  strerror(-ret));
	free(out.buf);
	if (ret == 0)
		linger(server_conn_conn(sc));
}

static const struct server_plain http = {
	.request = on_request,
	.reply = on_reply,
};

struct metrics_server *metrics_server_create(const struct metrics_config *cfg)
{
	struct server_config sc = {
		.listen_addr = cfg->listen_addr,
		.name = "metrics",
		.plain = &http,
	};
	struct metrics_server *m;

	if (!cfg->listen_addr || !cfg->collect || !cfg->prefix) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	snprintf(m->prefix, sizeof(m->prefix), "%s", cfg->prefix);
	m->collect = cfg->collect;
	m->ctx = cfg->ctx;
	sc.ctx = m;
	if (cfg->limits)
		sc.limits = *cfg->limits;
	m->srv = server_create(&sc);
	if (!m->srv) {
		int err = errno;

		log_error("metrics: cannot serve on %s: %s", cfg->listen_addr,
			  strerror(err));
		free(m);
		errno = err;
		return NULL;
	}
	return m;
}

const char *metrics_server_addr(const struct metrics_server *m)
{
	return server_addr(m->srv);
}

void metrics_server_destroy(struct metrics_server *m)
{
	if (!m)
		return;
	server_destroy(m->srv);
	free(m);
}
