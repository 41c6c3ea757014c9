/* SPDX-License-Identifier: MIT */
/*
 * The connection server's state (include/cmp/server.h), shared by
 * server.c (threads, frames, the accept loop) and server-admit.c (who may
 * connect and stay: the caps on unauthenticated and authenticated
 * connections).
 *
 * Lock order: server.lock, then server_conn.wlock.
 */
#ifndef CMP_SERVER_INTERNAL_H
#define CMP_SERVER_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp/server.h"
#include "cmp/wire.h"

/* A source address without its port: "tcp://[v6 address]" fits. */
#define SERVER_ADDR_KEY_LEN 64

struct server_conn {
	struct server *srv;
	struct conn *conn;
	pthread_t thread;
	atomic_int refs;
	void *data;	       /* owned by the caller */
	pthread_mutex_t wlock; /* serializes writes; protects closed, push_id */
	bool closed;
	uint64_t push_id;
	/* set before the connection's thread starts, then read-only */
	uint64_t hs_due;		/* handshake deadline, cmp_now_ns() */
	char addr[SERVER_ADDR_KEY_LEN]; /* source address, for the caps */
	/* under srv->lock */
	int unauth_slot;	  /* index in srv->unauth; -1: not there */
	bool has_thread;	  /* listed in srv->conns */
	bool authed;		  /* counted in srv->nauth */
	uint32_t node;		  /* the authenticated peer node */
	bool done;		  /* thread finished */
	bool fenced;		  /* shut down by a fence */
	struct server_conn *next; /* srv->conns: the ones with a thread */
	/* connection thread only (stepped mode: whoever runs serve) */
	int idle_ms;
	bool opened; /* stepped: handshake and on_open() done */
};

struct server {
	struct server_config cfg; /* limits: defaults filled in */
	char name[32];
	struct conn_listener *listener;
	pthread_t accept_thread;
	pthread_attr_t attr;  /* small stacks for every thread we start */
	int wake[2];	      /* self-pipe: destroy and finished connections */
	pthread_mutex_t lock; /* protects the fields down to stopping */
	/* a connection's thread finished, or its handshake settled */
	pthread_cond_t ended;	     /* monotonic */
	struct server_conn *conns;   /* every connection with a thread */
	struct server_conn **unauth; /* not authenticated: max_unauth slots */
	unsigned int nunauth;
	unsigned int nauth;
	unsigned int nfencing; /* fences waiting */
	bool stopping;
	/* counters (any thread; server_get_stats()) */
	atomic_uint_fast64_t accepted, refused, hs_failed, requests;
	atomic_uint_fast64_t rx_bytes, tx_bytes, fenced;
	/* accept thread only */
	struct server_conn **waiting; /* said nothing yet, no thread */
	unsigned int nwaiting;
	struct pollfd *pfd; /* listener, wake[0], then waiting's */
	uint64_t accept_paused_until;
	/* stepped mode (server-step.c): no threads; set once at create */
	bool stepped;
};

/*
 * A connection just accepted: counted as unauthenticated and returned when
 * the caps allow it, else closed (conn_destroy()) with a rate-limited line
 * saying why, and NULL. When it takes the place of an older connection
 * (the cap in all is full), that one is out of the counts on return: shut
 * down if it has a thread, else handed back in *evicted, still in
 * srv->waiting, for the caller to drop. Accept thread.
 */
struct server_conn *server_admit(struct server *s, struct conn *c,
				 struct server_conn **evicted);
/*
 * The handshake of sc ended with ret: sc leaves the unauthenticated counts
 * and, when ret is 0, joins the authenticated ones if the caps allow.
 * Returns 0, ret, or -EUSERS (over a cap); logs why it refuses.
 * Connection thread.
 */
int server_settle(struct server *s, struct server_conn *sc, int ret);
void server_unauth_remove_locked(struct server *s, struct server_conn *sc);

/*
 * server.c, a connection's life in steps (its thread, or in stepped mode
 * whoever serves it): the handshake and on_open() (0, or -errno: not
 * opened); one received frame dispatched (< 0: close the connection);
 * the end (on_close() when it was opened).
 */
int server_conn_start(struct server *s, struct server_conn *sc);
int server_frame(struct server *s, struct server_conn *sc,
		 const struct wire_hdr *h);
void server_conn_end(struct server *s, struct server_conn *sc, bool opened);

/*
 * server-step.c, stepped mode (include/cmp/util.h): the listener hands
 * every connection over on the connecting thread, and each is served on
 * the thread that writes to it. start: 0, or -EOPNOTSUPP when the
 * listener cannot (then the accept thread serves as usual). fence: as
 * server_fence_node(), at once. stop: ends every connection (on_close()
 * for each) and drops them.
 */
int server_step_start(struct server *s);
int server_step_fence(struct server_conn *self);
void server_step_stop(struct server *s);

#endif
