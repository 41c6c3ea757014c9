/* SPDX-License-Identifier: MIT */
/*
 * The echo server of the generic request server's tests (test-server*.c):
 * a bare service over connector/server.c (PING echoes, STATUS fails in the
 * handler, WRITE sinks its payload), clients that dial it raw or as a
 * node, and the probes the tests use (closed_after(), threads(), half a
 * HELLO, a WRITE header). Everything asserts (cmocka). One server at a
 * time: echo_addr says where it listens.
 */
#ifndef CMP_TEST_ECHO_SERVER_H
#define CMP_TEST_ECHO_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/server.h"

#define DEADLINE_MS 5000
/* the deadlines a test sets, and how late one may fire on a busy box */
#define SHORT_MS 300
#define SLACK_MS 1500
/* a handshake deadline that never fires within a test */
#define LONG_MS 20000

extern const struct auth_key echo_key;
extern char echo_addr[80];

/* A bare server: PING echoes, STATUS fails in the handler, WRITE sinks. */
struct echo {
	pthread_mutex_t lock;
	int opens, closes, sinks;
	int sink_ret; /* what the last WRITE's payload read returned */
	struct server_conn *last; /* referenced */
};

/* Starts the echo server on listen ("mem" or "tcp"); addr says where. */
struct server *start(struct echo *e, const char *listen,
		     struct auth_keyring *kr, const struct server_limits *lim);

struct server *start_echo(struct echo *e, int handshake_ms);

void stop_echo(struct server *s, struct echo *e);

/* A client that shook hands (as node), or NULL when refused. */
struct conn *try_dial(struct auth_keyring *kr, uint32_t node);

struct conn *dial_raw(void);

/* One PING round trip; false when the connection is gone. */
bool pinged(struct conn *c, uint64_t id);

void ping(struct conn *c, uint64_t id);

int counter(struct echo *e, int *field);

struct count_is {
	struct echo *e;
	int *field;
	int want;
};

bool count_is(void *arg);

/*
 * Ms until the server closed fd (end of stream or reset), -1 when it was
 * still open after max_ms. Nothing else is expected to arrive.
 */
int closed_after(int fd, int max_ms);

bool still_open(int fd);

/* A silent TCP connection to addr from src (any 127.x.y.z is ours). */
int raw_tcp(const char *src);

/* Threads of this process. */
int threads(void);

/* Sends the first bytes of a frame header (a HELLO); false if closed. */
bool sent_half_header(int fd);

void send_half_header(int fd);

/* Sends a WRITE header announcing len bytes (plain: csum of nothing). */
void send_write_header(struct conn *c, uint32_t len);

/* A mem:// connection that says nothing: its fd, the conn in *c. */
int silent_mem(struct conn **c);

bool dialed(void *arg);

/* A client (node) that got in and is served; the echo counts its open. */
struct conn *dial_in(struct echo *e, struct auth_keyring *kr, uint32_t node);

bool closed_now(void *arg);

/* A new mem:// connection that sent half a HELLO, in *arg; or false. */
bool half_hello_sent(void *arg);

#endif
