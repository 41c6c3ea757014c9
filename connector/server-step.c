// SPDX-License-Identifier: MIT
/*
 * The connection server in stepped mode (include/cmp/util.h): no accept
 * thread, no thread per connection. A stepped mem:// listener hands each
 * new connection over on the connecting thread (connector/mem-step.c);
 * it is admitted under the same caps, and from then on every write of
 * its client runs serve() below on the writer's thread: the handshake
 * once the HELLO is there, then each frame that came, dispatched to the
 * handler exactly as a connection thread would (server_frame()). When
 * the client shuts down or goes, serve() sees the end of the stream and
 * ends the connection (on_close()). Requests are served in order, one at
 * a time, so a reply is queued before the request's write returns.
 *
 * Every connection is on srv->conns from its admission until it ended;
 * the list holds one reference, dropped when it ends. Nothing here is
 * called with srv->lock held, and serve() never takes it across a
 * handler.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "conn-internal.h"
#include "server-internal.h"

/* Ends sc (once): on_close() if it opened, off the list, unreferenced. */
static void finish(struct server_conn *sc)
{
	struct server *s = sc->srv;
	struct server_conn **pp;
	bool listed = false;

	pthread_mutex_lock(&s->lock);
	if (sc->done) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	server_unauth_remove_locked(s, sc);
	pthread_mutex_unlock(&s->lock);
	server_conn_end(s, sc, sc->opened);
	pthread_mutex_lock(&s->lock);
	for (pp = &s->conns; *pp; pp = &(*pp)->next) {
		if (*pp == sc) {
			*pp = sc->next;
			listed = true;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (listed)
		server_conn_put(sc);
}

/* Serves what sc's client sent: the handshake first, then its frames. */
static void serve(void *ctx)
{
	struct server_conn *sc = ctx;
	struct server *s = sc->srv;
	struct wire_hdr h;
	int ret;

	if (sc->done)
		return;
	if (!sc->opened) {
		/* nothing yet: a client that connects writes its HELLO next */
		if (!conn_pending(sc->conn)) {
			if (conn_read_some(sc->conn, &h, 1) != -EAGAIN)
				finish(sc); /* it went before saying a word */
			return;
		}
		if (server_conn_start(s, sc) < 0) {
			finish(sc);
			return;
		}
		sc->opened = true;
	}
	for (;;) {
		ret = wire_recv_hdr(sc->conn, &h);
		if (ret == -EAGAIN)
			return;
		if (ret < 0 || server_frame(s, sc, &h) < 0)
			break;
	}
	if (ret < 0 && ret != -ECONNRESET)
		log_debug("%s: peer %s: closing after %s", s->name,
			  conn_peer(sc->conn), strerror(-ret));
	finish(sc);
}

static void accepted(void *ctx, struct conn *c)
{
	struct server *s = ctx;
	struct server_conn *sc, *evicted;

	atomic_fetch_add_explicit(&s->accepted, 1, memory_order_relaxed);
	sc = server_admit(s, c, &evicted);
	if (evicted) /* out of the counts already; never served */
		finish(evicted);
	if (!sc)
		return;
	pthread_mutex_lock(&s->lock);
	sc->next = s->conns;
	s->conns = sc;
	pthread_mutex_unlock(&s->lock);
	conn_set_inline_serve(c, serve, sc);
}

int server_step_start(struct server *s)
{
	return conn_listener_set_inline(s->listener, accepted, s);
}

/* The first connection of the list that is not self and matches. */
static struct server_conn *pick(struct server *s, struct server_conn *self,
				uint32_t node, bool any)
{
	struct server_conn *sc;

	pthread_mutex_lock(&s->lock);
	for (sc = s->conns; sc; sc = sc->next)
		if (sc != self && !sc->done && (any || sc->node == node))
			break;
	if (sc)
		server_conn_get(sc);
	pthread_mutex_unlock(&s->lock);
	return sc;
}

/* Shuts sc down: its serve() runs on this thread and ends it. */
static void end_one(struct server_conn *sc)
{
	if (!sc->fenced) {
		sc->fenced = true;
		conn_shutdown(sc->conn);
	}
	/* shut already (by its client): nothing left to serve */
	finish(sc);
	server_conn_put(sc);
}

int server_step_fence(struct server_conn *self)
{
	struct server *s = self->srv;
	struct server_conn *sc;
	unsigned int n = 0;

	while ((sc = pick(s, self, self->node, false))) {
		end_one(sc);
		n++;
	}
	if (n)
		log_info("%s: peer %s fenced %u older connection%s of node %u",
			 s->name, conn_peer(self->conn), n, n == 1 ? "" : "s",
			 self->node);
	return 0;
}

void server_step_stop(struct server *s)
{
	struct server_conn *sc;

	while ((sc = pick(s, NULL, 0, true)))
		end_one(sc);
}
