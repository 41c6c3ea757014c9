// SPDX-License-Identifier: MIT
/*
 * The owner-side block client behind remote.h: a table of provider nodes, a
 * small cache of authenticated connections per node, and one synchronous
 * request/reply per call on the caller's thread. Byte ranges and batches
 * are in remote-rw.c.
 *
 * Lock order: remote.lock only (one lock; nothing blocks under it except
 * conn_shutdown(), which does not wait for the network). A connection is
 * owned by the thread that checked it out; remote_node_dead() may shut it
 * down underneath that thread (waking its blocked read), and the thread
 * then destroys it at check-in because the node's generation moved on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "remote-internal.h"

struct remote_node *remote_find_node_locked(struct remote *r, uint32_t id)
{
	struct remote_node *n = r->buckets[id % REMOTE_BUCKETS];

	while (n && n->id != id)
		n = n->hnext;
	return n;
}

static void unlink_conn_locked(struct rconn *rc)
{
	struct remote_node *n = rc->node;

	if (rc->prev)
		rc->prev->next = rc->next;
	else
		n->conns = rc->next;
	if (rc->next)
		rc->next->prev = rc->prev;
	if (rc->idle)
		n->nidle--;
	rc->prev = rc->next = NULL;
}

static void link_conn_locked(struct rconn *rc)
{
	struct remote_node *n = rc->node;

	rc->prev = NULL;
	rc->next = n->conns;
	if (n->conns)
		n->conns->prev = rc;
	n->conns = rc;
}

/*
 * Marks every connection of n stale. Idle ones are unlinked and chained on
 * *dead for the caller to destroy outside the lock; busy ones are shut
 * down so their owner's blocked call returns now.
 */
static void drop_conns_locked(struct remote_node *n, struct rconn **dead)
{
	struct rconn *rc = n->conns, *next;

	n->gen++;
	for (; rc; rc = next) {
		next = rc->next;
		if (rc->idle) {
			unlink_conn_locked(rc);
			rc->next = *dead;
			*dead = rc;
		} else {
			conn_shutdown(rc->c);
		}
	}
}

static void destroy_chain(struct rconn *rc)
{
	while (rc) {
		struct rconn *next = rc->next;

		conn_destroy(rc->c);
		free(rc);
		rc = next;
	}
}

struct remote *remote_create(struct auth_keyring *keyring, uint32_t self_node,
			     uint32_t block_size)
{
	struct remote *r;

	if (!self_node || !proto_block_size_valid(block_size)) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->keyring = keyring;
	r->self = self_node;
	r->block_size = block_size;
	atomic_init(&r->timeout_ms, REMOTE_DEFAULT_TIMEOUT_MS);
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

void remote_set_timeout(struct remote *r, int timeout_ms)
{
	if (timeout_ms > 0)
		atomic_store(&r->timeout_ms, timeout_ms);
}

int remote_add_node(struct remote *r, uint32_t node, const char *addr)
{
	struct rconn *dead = NULL;
	struct remote_node *n;

	if (!node || !addr || strlen(addr) >= PROTO_BLOCK_ADDR_LEN)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&r->lock);
			return -ENOMEM;
		}
		n->id = node;
		n->hnext = r->buckets[node % REMOTE_BUCKETS];
		r->buckets[node % REMOTE_BUCKETS] = n;
	} else if (strcmp(n->addr, addr)) {
		drop_conns_locked(n, &dead);
	}
	strcpy(n->addr, addr);
	n->dead = false;
	n->down_until = 0;
	pthread_mutex_unlock(&r->lock);
	destroy_chain(dead);
	return 0;
}

void remote_node_dead(struct remote *r, uint32_t node)
{
	struct rconn *dead = NULL;
	struct remote_node *n;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (n) {
		n->dead = true;
		drop_conns_locked(n, &dead);
	}
	pthread_mutex_unlock(&r->lock);
	destroy_chain(dead);
}

/* Reads a reply's payload; one line when it fails verification. */
static int recv_reply(struct rconn *rc, const struct wire_hdr *rh,
		      const struct iovec *iov, int iovcnt)
{
	int ret = wire_recv_payload(rc->c, rh, iov, iovcnt);

	if (ret == -EBADMSG)
		log_warn("remote: node %u at %s: %s reply id %llu failed "
			 "verification; closing the connection",
			 rc->node->id, conn_peer(rc->c), wire_op_name(rh->op),
			 (unsigned long long)rh->id);
	return ret;
}

int remote_transact(struct remote *r, struct rconn *rc, struct call *cl)
{
	uint8_t mbuf[PROTO_BLOCK_MOVED_SIZE];
	struct wire_hdr h = {.op = cl->op, .id = ++rc->next_id}, rh;
	struct iovec miov = {mbuf, sizeof(mbuf)};
	int ret;

	ret = wire_send(rc->c, &h, cl->req, cl->nreq);
	if (ret < 0)
		return ret;
	atomic_fetch_add(&r->requests, 1);
	atomic_fetch_add(&r->sent, WIRE_HDR_SIZE + (uint64_t)h.len);
	ret = wire_recv_hdr(rc->c, &rh);
	if (ret < 0)
		return ret;
	atomic_fetch_add(&r->received, WIRE_HDR_SIZE + (uint64_t)rh.len);
	if (!(rh.flags & WIRE_F_REPLY) || rh.op != h.op || rh.id != h.id) {
		log_debug("remote: %s: reply to %s id %llu does not match",
			  conn_peer(rc->c), wire_op_name(h.op),
			  (unsigned long long)h.id);
		return -EPROTO;
	}
	cl->answered = true;
	if (rh.status == WIRE_S_OK) {
		if (cl->rep_exact ? rh.len != cl->rep_len
				  : rh.len > cl->rep_len)
			return -EPROTO;
		cl->got = rh.len;
		if (!rh.len)
			return 0;
		return recv_reply(rc, &rh, cl->rep, cl->nrep);
	}
	if (rh.status == WIRE_S_MOVED) {
		struct proto_block_moved mv;

		if (rh.len != sizeof(mbuf))
			return -EPROTO;
		ret = recv_reply(rc, &rh, &miov, 1);
		if (ret < 0)
			return ret;
		if (proto_block_moved_decode(mbuf, rh.len, &mv) < 0)
			return -EPROTO;
		if (cl->moved)
			*cl->moved = mv;
		return -EREMCHG;
	}
	ret = wire_skip_payload(rc->c, &rh);
	if (ret < 0)
		return ret;
	ret = wire_status_to_errno(rh.status);
	return ret > 0 ? -ret : (ret ? ret : -EIO);
}

/* Answers the provider gives that leave the connection in step. */
static bool conn_reusable(int ret)
{
	return ret == 0 || ret == -ENOENT || ret == -ENOSPC || ret == -EACCES ||
	       ret == -ESTALE || ret == -EREMCHG || ret == -EBUSY;
}

/* A STATUS request: the provider's counts and its region on this connection. */
struct status_call {
	struct call cl;
	uint8_t buf[PROTO_BLOCK_STATUS_REP_SIZE];
	struct iovec iov;
};

static void status_call_init(struct status_call *sc)
{
	sc->iov = (struct iovec){sc->buf, sizeof(sc->buf)};
	sc->cl = (struct call){
		.op = WIRE_OP_STATUS,
		.rep = &sc->iov,
		.nrep = 1,
		.rep_len = sizeof(sc->buf),
		.rep_exact = true,
	};
}

static int fetch_region(struct remote *r, struct rconn *rc)
{
	struct proto_block_status st;
	struct status_call sc;
	int ret;

	status_call_init(&sc);
	ret = remote_transact(r, rc, &sc.cl);
	if (ret < 0)
		return ret;
	if (proto_block_status_decode(sc.buf, sizeof(sc.buf), &st) < 0)
		return -EPROTO;
	rc->region = st.region;
	rc->rma = st.region.len > 0;
	return 0;
}

/* A fresh authenticated connection to n (address copied under the lock). */
static int connect_node(struct remote *r, struct remote_node *n,
			const char *addr, uint64_t gen, struct rconn **out)
{
	int timeout = atomic_load(&r->timeout_ms);
	struct rconn *rc;
	int ret;

	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->node = n;
	rc->gen = gen;
	ret = conn_connect(addr, timeout, &rc->c);
	if (ret < 0)
		goto err_free_rc;
	ret = conn_set_timeout(rc->c, timeout);
	if (ret < 0)
		goto err_destroy_conn;
	rc->timeout_ms = timeout;
	ret = auth_client(rc->c, r->keyring, r->self, cmp_incarnation(),
			  timeout);
	if (ret < 0)
		goto err_destroy_conn;
	if (conn_has_rma(rc->c)) {
		ret = fetch_region(r, rc);
		if (ret < 0)
			goto err_destroy_conn;
	}
	atomic_fetch_add(&r->connects, 1);
	*out = rc;
	return 0;

err_destroy_conn:
	conn_destroy(rc->c);
err_free_rc:
	log_debug("remote: node %u at %s: connect: %s", n->id, addr,
		  strerror(-ret));
	free(rc);
	return ret;
}

/*
 * Takes a connection to node for this thread: a cached one (*fresh false)
 * or a new one. -EIO for a dead node, -EHOSTUNREACH for an unknown one.
 */
static int checkout(struct remote *r, uint32_t node, struct rconn **out,
		    bool *fresh)
{
	char addr[PROTO_BLOCK_ADDR_LEN];
	struct remote_node *n;
	struct rconn *rc;
	uint64_t gen;
	int ret, timeout = atomic_load(&r->timeout_ms);

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (!n || n->dead || (n->down_until && cmp_now_ns() < n->down_until)) {
		pthread_mutex_unlock(&r->lock);
		return n ? -EIO : -EHOSTUNREACH;
	}
	for (rc = n->conns; rc && !rc->idle; rc = rc->next)
		;
	if (rc) {
		rc->idle = false;
		n->nidle--;
		pthread_mutex_unlock(&r->lock);
		if (rc->timeout_ms != timeout &&
		    conn_set_timeout(rc->c, timeout) == 0)
			rc->timeout_ms = timeout;
		*out = rc;
		*fresh = false;
		return 0;
	}
	strcpy(addr, n->addr);
	gen = n->gen;
	pthread_mutex_unlock(&r->lock);

	ret = connect_node(r, n, addr, gen, &rc);
	pthread_mutex_lock(&r->lock);
	if (ret < 0) {
		/*
		 * Every caller would wait out its own connect deadline on a
		 * node that just failed one: spare them for a while.
		 */
		if (n->gen == gen)
			n->down_until =
				cmp_now_ns() + REMOTE_RETRY_MS * 1000000ull;
		pthread_mutex_unlock(&r->lock);
		return -EIO;
	}
	n->down_until = 0;
	link_conn_locked(rc);
	pthread_mutex_unlock(&r->lock);
	*out = rc;
	*fresh = true;
	return 0;
}

/* Gives the connection back, or destroys it when broken or stale. */
static void checkin(struct remote *r, struct rconn *rc, bool ok)
{
	struct remote_node *n = rc->node;

	pthread_mutex_lock(&r->lock);
	if (ok && !n->dead && rc->gen == n->gen && n->nidle < REMOTE_MAX_IDLE) {
		rc->idle = true;
		n->nidle++;
		pthread_mutex_unlock(&r->lock);
		return;
	}
	unlink_conn_locked(rc);
	pthread_mutex_unlock(&r->lock);
	conn_destroy(rc->c);
	free(rc);
}

int remote_with_conn(struct remote *r, uint32_t node, bool idempotent,
		     remote_exchange_fn fn, void *arg)
{
	struct call *cl = arg;
	struct rconn *rc;
	bool fresh, answer;
	int ret, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		ret = checkout(r, node, &rc, &fresh);
		if (ret < 0)
			break;
		cl->answered = false;
		ret = fn(r, rc, arg);
		/* a status the provider sent (-EPROTO: it broke the protocol)
		 */
		answer = ret == 0 || (cl->answered && ret != -EPROTO);
		checkin(r, rc, answer && conn_reusable(ret));
		if (answer)
			return ret;
		log_debug("remote: node %u: %s", node, strerror(-ret));
		/*
		 * A cached connection the provider closed while idle fails on
		 * first use: try once more on a fresh one. Never after a
		 * timeout: a hung provider must not cost two deadlines.
		 */
		if (fresh || !idempotent || ret == -ETIMEDOUT)
			break;
	}
	if (ret == -EHOSTUNREACH)
		return ret;
	atomic_fetch_add(&r->errors, 1);
	return -EIO;
}

int remote_do_call(struct remote *r, struct rconn *rc, void *arg)
{
	return remote_transact(r, rc, arg);
}

int remote_status(struct remote *r, uint32_t node,
		  struct proto_block_status *out)
{
	struct status_call sc;
	int ret;

	status_call_init(&sc);
	ret = remote_with_conn(r, node, true, remote_do_call, &sc.cl);
	if (ret < 0)
		return ret;
	if (proto_block_status_decode(sc.buf, sizeof(sc.buf), out) < 0) {
		log_warn("remote: node %u sent a bad STATUS reply", node);
		atomic_fetch_add(&r->errors, 1);
		return -EIO;
	}
	return 0;
}

void remote_stats(struct remote *r, struct remote_stats *out)
{
	out->requests = atomic_load(&r->requests);
	out->bytes_sent = atomic_load(&r->sent);
	out->bytes_received = atomic_load(&r->received);
	out->errors = atomic_load(&r->errors);
	out->connects = atomic_load(&r->connects);
}

void remote_destroy(struct remote *r)
{
	if (!r)
		return;
	for (unsigned int b = 0; b < REMOTE_BUCKETS; b++) {
		struct remote_node *n = r->buckets[b], *next;

		for (; n; n = next) {
			next = n->hnext;
			destroy_chain(n->conns);
			free(n);
		}
	}
	pthread_mutex_destroy(&r->lock);
	free(r);
}
