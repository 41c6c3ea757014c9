// SPDX-License-Identifier: MIT
/*
 * The connection server behind include/cmp/server.h: one accept thread and
 * one thread per connection, so a request is read, served and answered on
 * the thread that received it (waking another CPU costs 60-120 us here).
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
#include "cmp/wire.h"

#define SERVER_DEFAULT_HANDSHAKE_MS 2000
#define SERVER_DEFAULT_MAX_CONNS 1024u
#define SERVER_PUSH_ID_BIT (1ull << 63)
/*
 * Connection threads run on small stacks: under mlockall() every stack is
 * locked whole, and the default 8 MiB per connection adds up.
 */
#define SERVER_STACK_SIZE (512u << 10)

struct server_conn {
	struct server *srv;
	struct conn *conn;
	pthread_t thread;
	atomic_int refs;
	void *data;	       /* owned by the caller */
	pthread_mutex_t wlock; /* serializes writes; protects closed, push_id */
	bool closed;
	uint64_t push_id;
	bool done;		  /* thread finished; under srv->lock */
	struct server_conn *next; /* under srv->lock */
};

struct server {
	struct server_config cfg;
	char name[32];
	struct conn_listener *listener;
	pthread_t accept_thread;
	pthread_attr_t attr;  /* small stacks for every thread we start */
	int wake[2];	      /* self-pipe: destroy and finished connections */
	pthread_mutex_t lock; /* protects conns, nconns, stopping */
	struct server_conn *conns;
	unsigned int nconns;
	bool stopping;
};

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
	if (sc->closed)
		return -ECONNRESET;
	return wire_send(sc->conn, h, iov, iovcnt);
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

/* Reads and dispatches frames until the peer leaves or misbehaves. */
static void serve_frames(struct server *s, struct server_conn *sc)
{
	const char *peer = conn_peer(sc->conn);
	struct wire_hdr h;
	int ret;

	for (;;) {
		ret = wire_recv_hdr(sc->conn, &h);
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
		ret = s->cfg.handle(s->cfg.ctx, sc, &h);
		if (ret == -ECONNRESET) {
			log_debug("%s: peer %s went away during %s", s->name,
				  peer, wire_op_name(h.op));
			return;
		}
		if (ret < 0) {
			log_warn("%s: peer %s: %s request id %llu: %s; closing",
				 s->name, peer, wire_op_name(h.op),
				 (unsigned long long)h.id, strerror(-ret));
			return;
		}
	}
}

static void *conn_thread(void *arg)
{
	struct server_conn *sc = arg;
	struct server *s = sc->srv;
	bool opened = false;
	int ret;

	ret = auth_server(sc->conn, s->cfg.keyring, s->cfg.node_id,
			  s->cfg.incarnation, s->cfg.handshake_timeout_ms);
	/* a version mismatch has had its one line, naming both versions */
	if (ret == -EPROTONOSUPPORT)
		goto out_done;
	if (ret < 0) {
		log_warn("%s: peer %s refused: handshake failed: %s", s->name,
			 conn_peer(sc->conn), strerror(-ret));
		goto out_done;
	}
	if (s->cfg.on_open) {
		ret = s->cfg.on_open(s->cfg.ctx, sc);
		if (ret < 0) {
			log_warn("%s: peer %s refused: %s", s->name,
				 conn_peer(sc->conn), strerror(-ret));
			goto out_done;
		}
	}
	opened = true;
	serve_frames(s, sc);

out_done:
	pthread_mutex_lock(&sc->wlock);
	sc->closed = true;
	pthread_mutex_unlock(&sc->wlock);
	conn_shutdown(sc->conn);
	if (opened && s->cfg.on_close)
		s->cfg.on_close(s->cfg.ctx, sc);
	pthread_mutex_lock(&s->lock);
	sc->done = true;
	pthread_mutex_unlock(&s->lock);
	poke(s);
	return NULL;
}

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
			s->nconns--;
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

static void start_conn(struct server *s, struct conn *c)
{
	struct server_conn *sc;
	int ret;

	pthread_mutex_lock(&s->lock);
	if (s->nconns >= s->cfg.max_conns) {
		pthread_mutex_unlock(&s->lock);
		log_warn("%s: peer %s refused: %u connections already", s->name,
			 conn_peer(c), s->cfg.max_conns);
		conn_destroy(c);
		return;
	}
	s->nconns++;
	pthread_mutex_unlock(&s->lock);

	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		ret = -ENOMEM;
		goto err_uncount;
	}
	sc->srv = s;
	sc->conn = c;
	atomic_init(&sc->refs, 1);
	pthread_mutex_init(&sc->wlock, NULL);

	/* listed before the thread runs so that destroy always finds it */
	pthread_mutex_lock(&s->lock);
	ret = -pthread_create(&sc->thread, &s->attr, conn_thread, sc);
	if (ret == 0) {
		sc->next = s->conns;
		s->conns = sc;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		goto err_free_sc;
	return;

err_free_sc:
	pthread_mutex_destroy(&sc->wlock);
	free(sc);
err_uncount:
	pthread_mutex_lock(&s->lock);
	s->nconns--;
	pthread_mutex_unlock(&s->lock);
	log_error("%s: peer %s dropped: cannot start its thread: %s", s->name,
		  conn_peer(c), strerror(-ret));
	conn_destroy(c);
}

static void *accept_thread(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd[2] = {
		{.fd = conn_listener_fd(s->listener), .events = POLLIN},
		{.fd = s->wake[0], .events = POLLIN},
	};
	bool warned = false;
	struct conn *c;
	int ret;

	for (;;) {
		ret = poll(pfd, 2, warned ? 100 : -1);
		if (ret < 0 && errno != EINTR) {
			log_error("%s: poll: %s", s->name, strerror(errno));
			break;
		}
		if (pfd[1].revents) {
			drain(s);
			reap(s, false);
		}
		pthread_mutex_lock(&s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);
		if (!(pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
			continue;
		ret = conn_accept(s->listener, &c);
		if (ret < 0) {
			/* EMFILE and friends: say it once, retry gently */
			if (!warned)
				log_warn("%s: accept on %s: %s", s->name,
					 s->cfg.listen_addr, strerror(-ret));
			warned = true;
			continue;
		}
		warned = false;
		start_conn(s, c);
	}
	return NULL;
}

/* Keeps what the server needs of cfg, defaults filled in. */
static void copy_config(struct server *s, const struct server_config *cfg)
{
	s->cfg = *cfg;
	s->cfg.listen_addr = NULL;
	snprintf(s->name, sizeof(s->name), "%s",
		 cfg->name ? cfg->name : "server");
	if (s->cfg.handshake_timeout_ms <= 0)
		s->cfg.handshake_timeout_ms = SERVER_DEFAULT_HANDSHAKE_MS;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = SERVER_DEFAULT_MAX_CONNS;
}

struct server *server_create(const struct server_config *cfg)
{
	struct server *s;
	int ret;

	if (!cfg || !cfg->listen_addr || !cfg->handle) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	copy_config(s, cfg);
	pthread_mutex_init(&s->lock, NULL);
	pthread_attr_init(&s->attr);
	pthread_attr_setstacksize(&s->attr, SERVER_STACK_SIZE);

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
	pthread_attr_destroy(&s->attr);
	pthread_mutex_destroy(&s->lock);
	free(s);
	errno = -ret;
	return NULL;
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
	poke(s);
	pthread_join(s->accept_thread, NULL);
	conn_listener_destroy(s->listener);

	/* wake every reader; each thread runs on_close and finishes */
	pthread_mutex_lock(&s->lock);
	for (sc = s->conns; sc; sc = sc->next)
		conn_shutdown(sc->conn);
	pthread_mutex_unlock(&s->lock);
	reap(s, true);

	close(s->wake[0]);
	close(s->wake[1]);
	pthread_attr_destroy(&s->attr);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
