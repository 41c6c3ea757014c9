// SPDX-License-Identifier: MIT
/*
 * The connection server behind include/cmp/server.h: one accept thread and
 * one thread per connection that has started its handshake, so a request
 * is read, served and answered on the thread that received it (waking
 * another CPU costs 60-120 us here).
 *
 * A new connection is counted against the unauthenticated caps
 * (server-admit.c; over them the accept thread closes it at once), then
 * waits in the accept thread's poll set until its first bytes arrive or its
 * handshake deadline passes: a flood of idle connections costs sockets and
 * a little memory, no threads. The connection's thread runs the handshake
 * in the time left, moves the connection from the unauthenticated counts
 * to the authenticated ones (or is refused when over those caps), and
 * serves its frames: between them the connection's idle timeout applies,
 * during each the frame timeout (to the rest of the request, through the
 * wire layer, and to each write of the reply).
 *
 * Lock order: server.lock, then server_conn.wlock. Connection threads end
 * on their own; they mark themselves done and poke the accept thread
 * through a pipe, which joins them and drops the list's reference.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "server-internal.h"

#define SERVER_PUSH_ID_BIT (1ull << 63)
/*
 * Connection threads run on small stacks: under mlockall() every stack is
 * locked as it is touched, and the default 8 MiB per connection adds up.
 */
#define SERVER_STACK_SIZE (512u << 10)
/* How long accepting pauses after it failed (EMFILE and friends). */
#define ACCEPT_PAUSE_MS 100

static void poke(struct server *s)
{
	char c = 1;
	ssize_t n;

	do {
		n = write(s->wake[1], &c, 1);
	} while (n < 0 && errno == EINTR);
	/* EAGAIN: a wake-up is already pending, which is all we need */
}

static void drain(struct server *s)
{
	char buf[64];

	while (read(s->wake[0], buf, sizeof(buf)) > 0)
		;
}

void server_conn_get(struct server_conn *sc)
{
	atomic_fetch_add(&sc->refs, 1);
}

void server_conn_put(struct server_conn *sc)
{
	if (!sc || atomic_fetch_sub(&sc->refs, 1) != 1)
		return;
	conn_destroy(sc->conn);
	pthread_mutex_destroy(&sc->wlock);
	free(sc);
}

struct conn *server_conn_conn(struct server_conn *sc)
{
	return sc->conn;
}

const char *server_conn_peer(const struct server_conn *sc)
{
	return conn_peer(sc->conn);
}

void server_conn_set_data(struct server_conn *sc, void *data)
{
	sc->data = data;
}

void *server_conn_data(const struct server_conn *sc)
{
	return sc->data;
}

int server_read_payload(struct server_conn *sc, const struct wire_hdr *h,
			void *buf, size_t cap)
{
	struct iovec iov = {.iov_base = buf, .iov_len = cap};

	return wire_recv_payload(sc->conn, h, &iov, 1);
}

int server_skip_payload(struct server_conn *sc, const struct wire_hdr *h)
{
	return wire_skip_payload(sc->conn, h);
}

static int send_locked(struct server_conn *sc, struct wire_hdr *h,
		       const struct iovec *iov, int iovcnt)
{
	int ret;

	if (sc->closed)
		return -ECONNRESET;
	ret = wire_send(sc->conn, h, iov, iovcnt);
	if (ret == 0)
		atomic_fetch_add_explicit(&sc->srv->tx_bytes,
					  WIRE_HDR_SIZE +
						  cmp_iov_total(iov, iovcnt),
					  memory_order_relaxed);
	return ret;
}

int server_reply(struct server_conn *sc, const struct wire_hdr *req,
		 uint32_t status, const struct iovec *iov, int iovcnt)
{
	struct wire_hdr h = {
		.op = req->op,
		.flags = WIRE_F_REPLY,
		.status = status,
		.id = req->id,
	};
	int ret;

	pthread_mutex_lock(&sc->wlock);
	ret = send_locked(sc, &h, iov, iovcnt);
	pthread_mutex_unlock(&sc->wlock);
	return ret;
}

int server_push(struct server_conn *sc, unsigned int op,
		const struct iovec *iov, int iovcnt)
{
	struct wire_hdr h = {.op = (uint8_t)op};
	int ret;

	pthread_mutex_lock(&sc->wlock);
	h.id = SERVER_PUSH_ID_BIT | ++sc->push_id;
	ret = send_locked(sc, &h, iov, iovcnt);
	pthread_mutex_unlock(&sc->wlock);
	return ret;
}

void server_conn_close(struct server_conn *sc)
{
	conn_shutdown(sc->conn);
}

/*
 * Shuts down self's node's other connections (only the one named session,
 * when nonzero), counting them in *n; true while one of them still runs, or
 * while a connection from self's address accepted before the fence began
 * (hs_due < due_before) is still in its handshake. Such a one may be the
 * node's: its handshake can be over on the node's side while its thread
 * here has not settled yet (it does not know its node, and serves what it
 * received once it has), so the fence waits for it to settle or end,
 * within handshake_ms of its accept. (Strangers elsewhere cannot make a
 * fence wait.)
 */
static bool fence_locked(struct server *s, struct server_conn *self,
			 uint64_t session, uint64_t due_before, unsigned int *n)
{
	bool running = false;

	for (struct server_conn *sc = s->conns; sc; sc = sc->next) {
		if (sc == self || sc->done)
			continue;
		if (!sc->authed) {
			running |= sc->hs_due < due_before &&
				   !strcmp(sc->addr, self->addr);
			continue;
		}
		if (sc->node != self->node ||
		    (session && conn_session_id(sc->conn) != session))
			continue;
		if (!sc->fenced) {
			sc->fenced = true;
			conn_shutdown(sc->conn);
			atomic_fetch_add(&s->fenced, 1);
			(*n)++;
		}
		running = true;
	}
	return running;
}

/* Fences and waits; *n: how many of the node's connections it ended. */
static int fence(struct server_conn *self, uint64_t session, int timeout_ms,
		 unsigned int *n)
{
	struct server *s = self->srv;
	uint64_t due_before =
		cmp_now_ns() + (uint64_t)s->cfg.limits.handshake_ms * 1000000u;
	struct timespec dl;
	int ret = 0;

	*n = 0;
	if (!self->node) /* not a node: nothing to fence */
		return 0;
	if (s->stepped)
		return server_step_fence(self);
	cmp_deadline_ms(&dl, (uint64_t)MAX(timeout_ms, 0));
	pthread_mutex_lock(&s->lock);
	if (fence_locked(s, self, session, due_before, n)) {
		s->nfencing++;
		do
			ret = pthread_cond_timedwait(&s->ended, &s->lock, &dl);
		while (!ret && fence_locked(s, self, session, due_before, n));
		s->nfencing--;
	}
	pthread_mutex_unlock(&s->lock);
	return ret ? -ETIMEDOUT : 0;
}

int server_fence_node(struct server_conn *self, int timeout_ms)
{
	unsigned int n;
	int ret = fence(self, 0, timeout_ms, &n);

	if (n)
		log_info("%s: peer %s fenced %u older connection%s of node "
			 "%u%s",
			 self->srv->name, conn_peer(self->conn), n,
			 n == 1 ? "" : "s", self->node,
			 ret ? ": one did not end in time" : "");
	return ret;
}

int server_fence_conn(struct server_conn *self, uint64_t session,
		      int timeout_ms)
{
	unsigned int n;
	int ret;

	if (!session)
		return -EINVAL;
	ret = fence(self, session, timeout_ms, &n);
	if (n)
		log_info_rl("%s: peer %s fenced its connection %016llx (node "
			    "%u)%s",
			    self->srv->name, conn_peer(self->conn),
			    (unsigned long long)session, self->node,
			    ret ? ": it did not end in time" : "");
	return ret;
}

void server_conn_set_idle_timeout(struct server_conn *sc, int timeout_ms)
{
	sc->idle_ms = timeout_ms > 0 ? timeout_ms : 0;
}

/* ---- a connection's thread ---- */

int server_frame(struct server *s, struct server_conn *sc,
		 const struct wire_hdr *h)
{
	const char *peer = conn_peer(sc->conn);
	int ret;

	/* the reply's writes are bounded like the request's reads */
	conn_set_timeout(sc->conn, (int)s->cfg.limits.frame_ms);
	atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->rx_bytes, WIRE_HDR_SIZE + h->len,
				  memory_order_relaxed);
	ret = s->cfg.handle(s->cfg.ctx, sc, h);
	if (ret == -ECONNRESET) {
		log_debug("%s: peer %s went away during %s", s->name, peer,
			  wire_op_name(h->op));
		return ret;
	}
	if (ret < 0)
		log_warn_rl("%s: peer %s: %s request id %llu: %s; closing",
			    s->name, peer, wire_op_name(h->op),
			    (unsigned long long)h->id, strerror(-ret));
	return ret;
}

/* Reads and dispatches frames until the peer leaves or misbehaves. */
static void serve_frames(struct server *s, struct server_conn *sc)
{
	struct conn *c = sc->conn;
	const char *peer = conn_peer(c);
	struct wire_hdr h;
	int ret;

	wire_set_frame_timeout(c, (int)s->cfg.limits.frame_ms);
	for (;;) {
		/* between frames, as long as the connection's user says */
		conn_set_timeout(c, sc->idle_ms);
		ret = wire_recv_hdr(c, &h);
		if (ret == -ECONNRESET) {
			log_debug("%s: peer %s closed the connection", s->name,
				  peer);
			return;
		}
		if (ret < 0) {
			/* the connector logged the header or I/O failure */
			log_debug("%s: peer %s: closing after %s", s->name,
				  peer, strerror(-ret));
			return;
		}
		if (server_frame(s, sc, &h) < 0)
			return;
	}
}

/* The handshake, in what is left of the time since the accept. */
static int handshake(struct server *s, struct server_conn *sc)
{
	uint64_t now = cmp_now_ns();
	int ret = -ETIMEDOUT;

	if (now < sc->hs_due)
		ret = auth_server(sc->conn, s->cfg.keyring, s->cfg.node_id,
				  s->cfg.incarnation,
				  (int)((sc->hs_due - now + 999999) / 1000000));
	return server_settle(s, sc, ret);
}

/* One request of a plain protocol and its answer (server_plain). */
static void serve_plain(struct server *s, struct server_conn *sc)
{
	uint64_t now = cmp_now_ns();
	int ret = -ETIMEDOUT;

	if (now < sc->hs_due &&
	    !conn_set_timeout(sc->conn,
			      (int)((sc->hs_due - now + 999999) / 1000000)))
		ret = s->cfg.plain->request(s->cfg.ctx, sc);
	if (server_settle(s, sc, ret) < 0)
		return;
	conn_set_timeout(sc->conn, (int)s->cfg.limits.frame_ms);
	s->cfg.plain->reply(s->cfg.ctx, sc);
}

int server_conn_start(struct server *s, struct server_conn *sc)
{
	int ret = handshake(s, sc);

	if (ret < 0 || !s->cfg.on_open)
		return ret;
	ret = s->cfg.on_open(s->cfg.ctx, sc);
	if (ret < 0)
		log_warn_flood("%s: peer %s refused: %s", s->name,
			       conn_peer(sc->conn), strerror(-ret));
	return ret;
}

void server_conn_end(struct server *s, struct server_conn *sc, bool opened)
{
	pthread_mutex_lock(&sc->wlock);
	sc->closed = true;
	pthread_mutex_unlock(&sc->wlock);
	conn_shutdown(sc->conn);
	if (opened && s->cfg.on_close)
		s->cfg.on_close(s->cfg.ctx, sc);
	pthread_mutex_lock(&s->lock);
	if (sc->authed)
		s->nauth--;
	sc->authed = false;
	sc->done = true;
	pthread_cond_broadcast(&s->ended);
	pthread_mutex_unlock(&s->lock);
}

static void *conn_thread(void *arg)
{
	struct server_conn *sc = arg;
	struct server *s = sc->srv;
	bool opened = false;

	if (s->cfg.plain) {
		serve_plain(s, sc);
	} else if (server_conn_start(s, sc) == 0) {
		opened = true;
		serve_frames(s, sc);
	}
	server_conn_end(s, sc, opened);
	poke(s);
	return NULL;
}

/* ---- the accept thread ---- */

/* Joins finished connection threads and drops the list's reference. */
static void reap(struct server *s, bool all)
{
	struct server_conn **pp, *sc, *dead = NULL;

	pthread_mutex_lock(&s->lock);
	pp = &s->conns;
	while ((sc = *pp)) {
		if (sc->done || all) {
			*pp = sc->next;
			sc->next = dead;
			dead = sc;
		} else {
			pp = &sc->next;
		}
	}
	pthread_mutex_unlock(&s->lock);

	while ((sc = dead)) {
		dead = sc->next;
		pthread_join(sc->thread, NULL);
		server_conn_put(sc);
	}
}

/* Ends a connection that never got a thread. */
static void drop_waiting(struct server *s, struct server_conn *sc)
{
	pthread_mutex_lock(&s->lock);
	server_unauth_remove_locked(s, sc);
	pthread_mutex_unlock(&s->lock);
	server_conn_put(sc);
}

static void start_thread(struct server *s, struct server_conn *sc)
{
	int ret;

	/* listed before the thread runs so that destroy always finds it */
	pthread_mutex_lock(&s->lock);
	ret = -pthread_create(&sc->thread, &s->attr, conn_thread, sc);
	if (ret == 0) {
		sc->has_thread = true;
		sc->next = s->conns;
		s->conns = sc;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret == 0)
		return;
	log_error_flood("%s: peer %s dropped: cannot start its thread: %s",
			s->name, conn_peer(sc->conn), strerror(-ret));
	drop_waiting(s, sc);
}

/*
 * Fills the poll set (the listener unless accepting is paused, the wake-up
 * pipe, the connections that said nothing yet) and returns the poll
 * timeout: until the first handshake deadline or the end of the pause.
 */
static int poll_set(struct server *s, nfds_t *n)
{
	uint64_t now = cmp_now_ns(), due = s->accept_paused_until;
	bool paused = now < due;
	unsigned int i;

	s->pfd[0] = (struct pollfd){.fd = conn_listener_fd(s->listener),
				    .events = paused ? 0 : POLLIN};
	s->pfd[1] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
	if (!paused)
		due = UINT64_MAX;
	for (i = 0; i < s->nwaiting; i++) {
		s->pfd[2 + i] = (struct pollfd){
			.fd = conn_fd(s->waiting[i]->conn), .events = POLLIN};
		due = MIN(due, s->waiting[i]->hs_due);
	}
	*n = 2 + i;
	if (due == UINT64_MAX)
		return -1;
	return due <= now ? 0
			  : (int)MIN((due - now + 999999) / 1000000,
				     (uint64_t)INT32_MAX);
}

/* Starts a thread for each waiting connection that spoke; drops the late. */
static void serve_waiting(struct server *s)
{
	uint64_t now = cmp_now_ns();
	unsigned int i, kept = 0;

	for (i = 0; i < s->nwaiting; i++) {
		struct server_conn *sc = s->waiting[i];

		if (s->pfd[2 + i].revents || conn_pending(sc->conn)) {
			start_thread(s, sc);
		} else if (now >= sc->hs_due) {
			log_warn_flood("%s: peer %s dropped: said nothing "
				       "within %u ms",
				       s->name, conn_peer(sc->conn),
				       s->cfg.limits.handshake_ms);
			drop_waiting(s, sc);
		} else {
			s->waiting[kept++] = sc;
		}
	}
	s->nwaiting = kept;
}

/* Takes a waiting connection out of the accept thread's poll set. */
static void unwait(struct server *s, struct server_conn *sc)
{
	for (unsigned int i = 0; i < s->nwaiting; i++) {
		if (s->waiting[i] == sc) {
			s->waiting[i] = s->waiting[--s->nwaiting];
			return;
		}
	}
}

static void accept_one(struct server *s)
{
	struct server_conn *sc, *evicted;
	struct conn *c;
	int ret;

	ret = conn_accept(s->listener, &c);
	if (ret == 0)
		atomic_fetch_add_explicit(&s->accepted, 1,
					  memory_order_relaxed);
	if (ret < 0) {
		/* EMFILE and friends: say so, pause, retry */
		log_warn_flood("%s: accept on %s: %s", s->name,
			       s->cfg.listen_addr, strerror(-ret));
		s->accept_paused_until =
			cmp_now_ns() + ACCEPT_PAUSE_MS * 1000000ull;
		return;
	}
	sc = server_admit(s, c, &evicted);
	if (evicted) { /* out of the counts already */
		unwait(s, evicted);
		server_conn_put(evicted);
	}
	if (sc) /* waiting is within unauth, which has room for it */
		s->waiting[s->nwaiting++] = sc;
}

static bool stopping(struct server *s)
{
	bool ret;

	pthread_mutex_lock(&s->lock);
	ret = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static void *accept_thread(void *arg)
{
	struct server *s = arg;
	int timeout, ret;
	nfds_t n;

	for (;;) {
		timeout = poll_set(s, &n);
		ret = poll(s->pfd, n, timeout);
		if (ret < 0 && errno != EINTR) {
			log_error("%s: poll: %s", s->name, strerror(errno));
			break;
		}
		if (ret < 0)
			continue;
		if (s->pfd[1].revents) {
			drain(s);
			reap(s, false);
		}
		if (stopping(s))
			break;
		serve_waiting(s);
		if (s->pfd[0].revents & (POLLIN | POLLERR | POLLHUP))
			accept_one(s);
	}
	while (s->nwaiting)
		drop_waiting(s, s->waiting[--s->nwaiting]);
	return NULL;
}

/* ---- the server ---- */

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

/* Keeps what the server needs of cfg, defaults filled in. */
static void copy_config(struct server *s, const struct server_config *cfg)
{
	struct server_limits *lim = &s->cfg.limits;

	s->cfg = *cfg;
	s->cfg.listen_addr = NULL;
	snprintf(s->name, sizeof(s->name), "%s",
		 cfg->name ? cfg->name : "server");
	lim->handshake_ms =
		or_default(lim->handshake_ms, SERVER_DEFAULT_HANDSHAKE_MS);
	lim->frame_ms = or_default(lim->frame_ms, SERVER_DEFAULT_FRAME_MS);
	lim->max_unauth =
		or_default(lim->max_unauth, SERVER_DEFAULT_MAX_UNAUTH);
	lim->max_unauth_per_addr = or_default(
		lim->max_unauth_per_addr, SERVER_DEFAULT_MAX_UNAUTH_PER_ADDR);
	lim->max_conns = or_default(lim->max_conns, SERVER_DEFAULT_MAX_CONNS);
	lim->max_conns_per_node = or_default(lim->max_conns_per_node,
					     SERVER_DEFAULT_MAX_CONNS_PER_NODE);
	/* the timeouts are ints further down */
	lim->handshake_ms = MIN(lim->handshake_ms, (uint32_t)INT32_MAX);
	lim->frame_ms = MIN(lim->frame_ms, (uint32_t)INT32_MAX);
}

/* The accept thread's tables, sized by the unauthenticated cap. */
static int alloc_tables(struct server *s)
{
	size_t n = s->cfg.limits.max_unauth;

	s->unauth = calloc(n, sizeof(*s->unauth));
	s->waiting = calloc(n, sizeof(*s->waiting));
	s->pfd = calloc(n + 2, sizeof(*s->pfd));
	return s->unauth && s->waiting && s->pfd ? 0 : -ENOMEM;
}

static void free_tables(struct server *s)
{
	free(s->pfd);
	free(s->waiting);
	free(s->unauth);
}

struct server *server_create(const struct server_config *cfg)
{
	struct server *s;
	int ret;

	if (!cfg || !cfg->listen_addr || (!cfg->handle && !cfg->plain) ||
	    (cfg->plain && (!cfg->plain->request || !cfg->plain->reply))) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	copy_config(s, cfg);
	pthread_mutex_init(&s->lock, NULL);
	cmp_cond_init_monotonic(&s->ended);
	pthread_attr_init(&s->attr);
	pthread_attr_setstacksize(&s->attr, SERVER_STACK_SIZE);
	ret = alloc_tables(s);
	if (ret < 0)
		goto err_free;

	if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = -errno;
		log_error("%s: pipe: %s", s->name, strerror(-ret));
		goto err_free;
	}
	ret = conn_listen(cfg->listen_addr, &s->listener);
	if (ret < 0) {
		/* the connector logged why */
		log_debug("%s: cannot listen on %s: %s", s->name,
			  cfg->listen_addr, strerror(-ret));
		goto err_close_pipe;
	}
	s->cfg.listen_addr = conn_listener_addr(s->listener);
	if (cmp_stepped() && !cfg->plain && server_step_start(s) == 0) {
		s->stepped = true;
		return s;
	}
	ret = -pthread_create(&s->accept_thread, &s->attr, accept_thread, s);
	if (ret < 0) {
		log_error("%s: cannot start the accept thread: %s", s->name,
			  strerror(-ret));
		goto err_destroy_listener;
	}
	return s;

err_destroy_listener:
	conn_listener_destroy(s->listener);
err_close_pipe:
	close(s->wake[0]);
	close(s->wake[1]);
err_free:
	free_tables(s);
	pthread_attr_destroy(&s->attr);
	pthread_cond_destroy(&s->ended);
	pthread_mutex_destroy(&s->lock);
	free(s);
	errno = -ret;
	return NULL;
}

void server_get_stats(struct server *s, struct server_stats *out)
{
	out->accepted = atomic_load(&s->accepted);
	out->refused = atomic_load(&s->refused);
	out->hs_failed = atomic_load(&s->hs_failed);
	out->fenced = atomic_load(&s->fenced);
	out->requests = atomic_load(&s->requests);
	out->rx_bytes = atomic_load(&s->rx_bytes);
	out->tx_bytes = atomic_load(&s->tx_bytes);
	pthread_mutex_lock(&s->lock);
	out->unauth = s->nunauth;
	out->authed = s->nauth;
	out->fencing = s->nfencing;
	pthread_mutex_unlock(&s->lock);
}

const char *server_addr(const struct server *s)
{
	return conn_listener_addr(s->listener);
}

void server_destroy(struct server *s)
{
	struct server_conn *sc;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	if (s->stepped) {
		conn_listener_destroy(s->listener);
		server_step_stop(s);
		goto out_free;
	}
	poke(s);
	pthread_join(s->accept_thread, NULL);
	conn_listener_destroy(s->listener);

	/* wake every reader; each thread runs on_close and finishes */
	pthread_mutex_lock(&s->lock);
	for (sc = s->conns; sc; sc = sc->next)
		conn_shutdown(sc->conn);
	pthread_mutex_unlock(&s->lock);
	reap(s, true);

out_free:
	close(s->wake[0]);
	close(s->wake[1]);
	free_tables(s);
	pthread_attr_destroy(&s->attr);
	pthread_cond_destroy(&s->ended);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
