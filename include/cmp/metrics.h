/* SPDX-License-Identifier: MIT */
/*
 * Counters for Prometheus: each daemon may serve its counters in the text
 * exposition format (version 0.0.4) on an address of its own, opt-in
 * (cmpfs -o metrics=ADDR, cmp-manager and cmp-memserver --metrics ADDR).
 *
 * The server is the connector's connection server (include/cmp/server.h)
 * in its plain mode, so the daemon's connection limits apply to it as to
 * its cluster port: a request must arrive within handshake_ms of the
 * accept, at most max_unauth connections wait for theirs (max_unauth_per_
 * addr from one address; a newcomer from another address takes the place
 * of the oldest of the busiest one), each answer is written within
 * frame_ms, and an idle connection costs no thread. It speaks just enough
 * HTTP/1.x: `GET /metrics` (a query string is ignored) is answered 200
 * with the counters, a GET of any other path 404, anything else 400 (other
 * methods, malformed requests, a request head over 4 KiB); every answer
 * closes its connection. No keys, no TLS: bind it to loopback (a bare
 * port means 127.0.0.1) or to a network only the monitoring can reach.
 *
 * Collecting: for each scrape the server calls collect(ctx, out), which
 * adds samples with metrics_add*(); samples of one metric (one name) must
 * be added one after another, and the first one's help and type are the
 * family's. collect() may run on several connection threads at once and
 * must read its counters in a thread-safe way. The server adds its own
 * PREFIX_metrics_requests_total{code="..."} after them.
 *
 * Memory: the output buffer is the server's, grown as needed up to 16 MiB
 * (beyond it the scrape is answered 500); strings passed in are copied.
 */
#ifndef CMP_METRICS_H
#define CMP_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics_out;
struct metrics_server;
struct server_limits;
struct server_stats;

enum metrics_type {
	METRICS_COUNTER, /* only ever grows (name ends in _total) */
	METRICS_GAUGE,	 /* goes up and down */
	METRICS_UNTYPED, /* unknown to the exporter */
};

struct metrics_label {
	const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]* */
	const char *value; /* any text; escaped on output */
};

/* One sample of metric name (help: one line of text, for the family). */
void metrics_add(struct metrics_out *out, enum metrics_type type,
		 const char *name, const char *help,
		 const struct metrics_label *labels, size_t nlabels,
		 uint64_t value);
/* The same with a fractional value (seconds). */
void metrics_add_float(struct metrics_out *out, enum metrics_type type,
		       const char *name, const char *help,
		       const struct metrics_label *labels, size_t nlabels,
		       double value);
/*
 * A connection server's counters as PREFIX_connections{state=...},
 * PREFIX_connections_accepted_total, ..._refused_total,
 * ..._handshake_failures_total, ..._fenced_total, PREFIX_requests_total and
 * PREFIX_received_bytes_total / PREFIX_sent_bytes_total.
 */
void metrics_add_server(struct metrics_out *out, const char *prefix,
			const struct server_stats *st);

struct metrics_config {
	/* tcp://HOST:PORT (port 0 picks one); mem://NAME for tests */
	const char *listen_addr;
	/* metric names' prefix ("cmpfs"), for the server's own counter */
	const char *prefix;
	void (*collect)(void *ctx, struct metrics_out *out);
	void *ctx;
	/* connection limits (include/cmp/server.h); NULL: the defaults */
	const struct server_limits *limits;
};

/*
 * Starts serving. Returns the server, or NULL with errno set (EINVAL,
 * EADDRINUSE, ...); the failure is logged once.
 */
struct metrics_server *metrics_server_create(const struct metrics_config *cfg);
/* The bound address ("tcp://127.0.0.1:9464"), owned by m. */
const char *metrics_server_addr(const struct metrics_server *m);
/* Stops serving and frees m (no collect() runs after). NULL is ok. */
void metrics_server_destroy(struct metrics_server *m);

#endif
