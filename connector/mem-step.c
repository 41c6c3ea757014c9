// SPDX-License-Identifier: MIT
/*
 * mem:// in stepped mode (include/cmp/util.h): the simulator runs a
 * thousand nodes on one thread, where the socketpairs and connection
 * threads of mem.c would cost two fds and a thread per connection. Here a
 * connection is a pair of byte queues in memory, and a server serves on
 * the writer's thread: each write to a served end runs the server's
 * serve() before it returns (conn-internal.h), so the reply is queued when
 * the caller reads it. Nothing ever waits: a read finds its bytes or
 * fails. A queue's buffer is freed whenever it runs empty, so the many
 * idle connections of a big simulation cost their structs only.
 *
 * Locking: registry_lock protects the listener list; each pair's lock
 * protects its queues and shut flags. serve() runs with no lock held.
 * The serving and zombie flags of an end belong to the thread that runs
 * its serve() (stepped mode has one).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "conn-internal.h"

/* Bytes waiting for one end: buf[off .. off + len). */
struct mq_queue {
	uint8_t *buf;
	size_t off, len, cap;
};

struct mq_conn;

/* Both ends of one connection: 0 connected, 1 accepted. */
struct mq_pair {
	pthread_mutex_t lock;
	struct mq_queue to[2]; /* bytes for end i */
	bool shut[2];	       /* end i shut down or gone */
	struct mq_conn *end[2];
	int ends; /* ends not destroyed yet */
};

struct mq_conn {
	struct conn base;
	struct mq_pair *pair;
	int side;
	void (*serve)(void *ctx);
	void *serve_ctx;
	bool serving; /* serve() runs: a write meanwhile sets again */
	bool again;
	bool zombie; /* destroyed during serve(): freed when it returns */
};

struct mq_listener {
	struct conn_listener base;
	const char *name; /* points into base.addr */
	void (*accepted)(void *ctx, struct conn *c);
	void *ctx;
	struct mq_listener *next; /* registry_lock */
};

/* Listeners by name: a simulation has a thousand and connects often. */
#define REGISTRY_BUCKETS 1024u

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mq_listener *registry[REGISTRY_BUCKETS];
static unsigned long anon_seq, conn_seq;

static const struct conn_ops mq_conn_ops;
static const struct conn_listener_ops mq_listener_ops;

static struct mq_conn *to_mq(const struct conn *c)
{
	return (struct mq_conn *)c;
}

/* ---- queues (pair lock held) ---- */

static int queue_put(struct mq_queue *q, const struct iovec *iov, int iovcnt)
{
	size_t n = cmp_iov_total(iov, iovcnt);

	if (q->off + q->len + n > q->cap) {
		if (q->off) {
			memmove(q->buf, q->buf + q->off, q->len);
			q->off = 0;
		}
		if (q->len + n > q->cap) {
			size_t cap = q->cap ? q->cap : 4096;
			uint8_t *b;

			while (cap < q->len + n)
				cap *= 2;
			b = realloc(q->buf, cap);
			if (!b)
				return -ENOMEM;
			q->buf = b;
			q->cap = cap;
		}
	}
	for (int i = 0; i < iovcnt; i++) {
		memcpy(q->buf + q->off + q->len, iov[i].iov_base,
		       iov[i].iov_len);
		q->len += iov[i].iov_len;
	}
	return 0;
}

/* Takes n bytes (q->len >= n) into iov, or just drops them (iov NULL). */
static void queue_take(struct mq_queue *q, const struct iovec *iov, int iovcnt,
		       size_t n)
{
	for (int i = 0; iov && i < iovcnt && n; i++) {
		size_t k = MIN(n, iov[i].iov_len);

		memcpy(iov[i].iov_base, q->buf + q->off, k);
		q->off += k;
		q->len -= k;
		n -= k;
	}
	if (!q->len) {
		/* idle connections keep no buffer */
		free(q->buf);
		*q = (struct mq_queue){0};
	}
}

/* ---- serving ---- */

/* Runs m's server for what came (no lock held); m may be gone after. */
static void run_serve(struct mq_conn *m)
{
	if (!m || !m->serve)
		return;
	if (m->serving) {
		m->again = true;
		return;
	}
	m->serving = true;
	do {
		m->again = false;
		m->serve(m->serve_ctx);
	} while (m->again && !m->zombie);
	m->serving = false;
	if (m->zombie)
		free(m);
}

/* The end across from m (pair lock held). */
static struct mq_conn *other_locked(struct mq_conn *m)
{
	return m->pair->end[!m->side];
}

static int mq_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct mq_conn *m = to_mq(c), *peer;
	struct mq_pair *p = m->pair;
	int ret;

	pthread_mutex_lock(&p->lock);
	if (p->shut[0] || p->shut[1]) {
		pthread_mutex_unlock(&p->lock);
		return -ECONNRESET;
	}
	ret = queue_put(&p->to[!m->side], iov, iovcnt);
	peer = other_locked(m);
	pthread_mutex_unlock(&p->lock);
	if (!ret)
		run_serve(peer);
	return ret;
}

/* What a read finds missing: the end of the stream, or nothing yet. */
static int missing_locked(const struct mq_conn *m)
{
	return m->pair->shut[0] || m->pair->shut[1] ? -ECONNRESET : -EAGAIN;
}

static int mq_readv(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct mq_conn *m = to_mq(c);
	struct mq_pair *p = m->pair;
	struct mq_queue *q = &p->to[m->side];
	size_t n = cmp_iov_total(iov, iovcnt);
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	if (p->shut[m->side])
		ret = -ECONNRESET;
	else if (q->len < n)
		ret = missing_locked(m);
	else
		queue_take(q, iov, iovcnt, n);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static ssize_t mq_read_some(struct conn *c, void *buf, size_t len)
{
	struct mq_conn *m = to_mq(c);
	struct mq_pair *p = m->pair;
	struct mq_queue *q = &p->to[m->side];
	struct iovec iov = {.iov_base = buf};
	ssize_t ret;

	pthread_mutex_lock(&p->lock);
	if (p->shut[m->side] || !q->len) {
		ret = p->shut[m->side] ? -ECONNRESET : missing_locked(m);
	} else {
		iov.iov_len = MIN(len, q->len);
		queue_take(q, &iov, 1, iov.iov_len);
		ret = (ssize_t)iov.iov_len;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static int mq_set_timeout(struct conn *c, int timeout_ms)
{
	return 0; /* nothing waits */
}

static int mq_fd(const struct conn *c)
{
	return -1;
}

static bool mq_pending(const struct conn *c)
{
	struct mq_conn *m = to_mq(c);
	bool any;

	pthread_mutex_lock(&m->pair->lock);
	any = m->pair->to[m->side].len > 0;
	pthread_mutex_unlock(&m->pair->lock);
	return any;
}

/* m's end is shut: its server across sees the end of the stream. */
static void shut(struct mq_conn *m, bool gone)
{
	struct mq_pair *p = m->pair;
	struct mq_conn *peer;
	bool was;

	pthread_mutex_lock(&p->lock);
	was = p->shut[m->side];
	p->shut[m->side] = true;
	if (gone)
		p->end[m->side] = NULL;
	peer = other_locked(m);
	pthread_mutex_unlock(&p->lock);
	if (was)
		return;
	run_serve(peer);
	/* a server that shut its own end (or was shut) ends it */
	if (!gone)
		run_serve(m);
}

static void mq_shutdown(struct conn *c)
{
	shut(to_mq(c), false);
}

static void mq_destroy(struct conn *c)
{
	struct mq_conn *m = to_mq(c);
	struct mq_pair *p = m->pair;
	bool last;

	shut(m, true);
	pthread_mutex_lock(&p->lock);
	last = --p->ends == 0;
	pthread_mutex_unlock(&p->lock);
	if (last) {
		free(p->to[0].buf);
		free(p->to[1].buf);
		pthread_mutex_destroy(&p->lock);
		free(p);
	}
	if (m->serving)
		m->zombie = true; /* run_serve() frees it */
	else
		free(m);
}

static const struct conn_ops mq_conn_ops = {
	.writev = mq_writev,
	.readv = mq_readv,
	.read_some = mq_read_some,
	.set_timeout = mq_set_timeout,
	.fd = mq_fd,
	.pending = mq_pending,
	.shutdown = mq_shutdown,
	.destroy = mq_destroy,
};

int conn_set_inline_serve(struct conn *c, void (*serve)(void *ctx), void *ctx)
{
	struct mq_conn *m = to_mq(c);

	if (c->ops != &mq_conn_ops)
		return -EOPNOTSUPP;
	m->serve = serve;
	m->serve_ctx = ctx;
	return 0;
}

/* ---- listeners ---- */

static struct mq_listener **bucket(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*name)
		h = (h ^ (uint8_t)*name++) * 16777619u;
	return &registry[h % REGISTRY_BUCKETS];
}

static struct mq_listener *find_locked(const char *name)
{
	for (struct mq_listener *ml = *bucket(name); ml; ml = ml->next)
		if (!strcmp(ml->name, name))
			return ml;
	return NULL;
}

static int mq_listener_fd(const struct conn_listener *l)
{
	return -1;
}

/* Connections go to the inline server at once: nothing to accept. */
static int mq_accept(struct conn_listener *l, struct conn **out)
{
	return -EOPNOTSUPP;
}

static void mq_listener_destroy(struct conn_listener *l)
{
	struct mq_listener **pp;

	pthread_mutex_lock(&registry_lock);
	for (pp = bucket(((struct mq_listener *)l)->name); *pp;
	     pp = &(*pp)->next) {
		if (&(*pp)->base == l) {
			*pp = (*pp)->next;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	free(l);
}

static const struct conn_listener_ops mq_listener_ops = {
	.fd = mq_listener_fd,
	.accept = mq_accept,
	.destroy = mq_listener_destroy,
};

int conn_listener_set_inline(struct conn_listener *l,
			     void (*accepted)(void *ctx, struct conn *c),
			     void *ctx)
{
	struct mq_listener *ml = (struct mq_listener *)l;

	if (l->ops != &mq_listener_ops)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&registry_lock);
	ml->accepted = accepted;
	ml->ctx = ctx;
	pthread_mutex_unlock(&registry_lock);
	return 0;
}

int mem_step_listen(const char *rest, struct conn_listener **out)
{
	struct mq_listener *ml = calloc(1, sizeof(*ml));
	int ret = 0;

	if (!ml)
		return -ENOMEM;
	ml->base.ops = &mq_listener_ops;
	pthread_mutex_lock(&registry_lock);
	if (*rest && find_locked(rest))
		ret = -EADDRINUSE;
	else if (*rest)
		snprintf(ml->base.addr, sizeof(ml->base.addr), "mem://%s",
			 rest);
	else
		snprintf(ml->base.addr, sizeof(ml->base.addr), "mem://step-%lu",
			 ++anon_seq);
	ml->name = ml->base.addr + strlen("mem://");
	if (!ret) {
		ml->next = *bucket(ml->name);
		*bucket(ml->name) = ml;
	}
	pthread_mutex_unlock(&registry_lock);
	if (ret) {
		log_error("mem://%s: address already in use", rest);
		free(ml);
		return ret;
	}
	*out = &ml->base;
	return 0;
}

static struct mq_conn *end_create(struct mq_pair *p, int side)
{
	struct mq_conn *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->base.ops = &mq_conn_ops;
	m->pair = p;
	m->side = side;
	p->end[side] = m;
	p->ends++;
	return m;
}

/* A new pair; *server is its accepted end, set up. */
static int pair_create(const char *name, unsigned long seq,
		       struct mq_conn **client, struct conn **server)
{
	struct mq_pair *p = calloc(1, sizeof(*p));
	struct mq_conn *c, *s;

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	c = end_create(p, 0);
	s = c ? end_create(p, 1) : NULL;
	if (!s) {
		free(c);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return -ENOMEM;
	}
	snprintf(c->base.peer, sizeof(c->base.peer), "mem://%s", name);
	snprintf(s->base.peer, sizeof(s->base.peer), "mem://%s#%lu", name, seq);
	*server = &s->base;
	/* on failure conn_setup() destroyed it: the client end sees EOF */
	if (conn_setup(server) < 0)
		*server = NULL;
	*client = c;
	return 0;
}

int mem_step_connect(const char *rest, struct conn **out)
{
	void (*accepted)(void *ctx, struct conn *c) = NULL;
	struct mq_listener *ml;
	struct conn *server;
	struct mq_conn *c;
	unsigned long seq;
	void *ctx = NULL;
	int ret;

	pthread_mutex_lock(&registry_lock);
	ml = find_locked(rest);
	if (ml) {
		accepted = ml->accepted;
		ctx = ml->ctx;
	}
	seq = ++conn_seq;
	pthread_mutex_unlock(&registry_lock);
	if (!accepted) {
		log_debug("mem://%s: cannot connect: %s", rest,
			  strerror(ECONNREFUSED));
		return -ECONNREFUSED;
	}
	ret = pair_create(rest, seq, &c, &server);
	if (ret)
		return ret;
	if (server)
		accepted(ctx, server);
	*out = &c->base;
	return 0;
}
