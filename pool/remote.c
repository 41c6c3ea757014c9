// SPDX-License-Identifier: MIT
/*
 * The owner-side block client behind remote.h: the table of provider nodes
 * and their states, and checking connections out and in. Requests and
 * their replies, many in flight per connection, are remote-flight.c's;
 * connecting, reconnecting, reconciling and keepalives the keeper's
 * (remote-keeper.c); byte ranges are in remote-rw.c, loans in
 * remote-loans.c.
 *
 * A connection is shared by the callers that checked it out (at most
 * REMOTE_MAX_SHARE); an idle one goes to the next caller first, so that
 * callers spread over the connections and each reads its own replies. A
 * node turning suspect or gone shuts its connections down underneath
 * their callers (waking their blocked reads), and the last of them
 * destroys each at check-in because the node's generation moved on. Lock
 * order: remote-internal.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	n->nconns--;
	rc->prev = rc->next = NULL;
	rc->linked = false;
	if (n->rma == rc)
		n->rma = NULL;
}

void remote_link_idle_locked(struct rconn *rc)
{
	struct remote_node *n = rc->node;

	rc->prev = NULL;
	rc->next = n->conns;
	if (n->conns)
		n->conns->prev = rc;
	n->conns = rc;
	n->nconns++;
	rc->linked = true;
	rc->idle = true;
	n->nidle++;
	/* every caller waiting for a connection may share this one */
	pthread_cond_broadcast(&n->cond);
}

/* Is a better pick than best for one more caller? (lock held) */
static bool better_locked(const struct rconn *rc, const struct rconn *best)
{
	if (rc->retired || rc->users >= REMOTE_MAX_SHARE)
		return false;
	if (!best)
		return true;
	if (!rc->users != !best->users)
		return !rc->users; /* an idle one first */
	if (!rc->users)
		return best == rc->node->rma; /* another before the RMA one */
	return rc->users < best->users;
}

struct rconn *remote_take_conn_locked(struct remote_node *n, bool borrow)
{
	struct rconn *rc = NULL;

	if (borrow && n->rma && better_locked(n->rma, NULL))
		rc = n->rma;
	else
		for (struct rconn *c = n->conns; c; c = c->next)
			if (better_locked(c, rc))
				rc = c;
	if (!rc)
		return NULL;
	if (rc->idle) {
		rc->idle = false;
		n->nidle--;
	} else if (n->nconns < REMOTE_MAX_CONNS) {
		/* callers share: the keeper opens one more */
		n->crowded = true;
	}
	rc->users++;
	return rc;
}

void remote_drop_conns_locked(struct remote_node *n, struct rconn **dead)
{
	struct rconn *rc = n->conns, *next;

	n->gen++;
	n->rma = NULL;
	for (; rc; rc = next) {
		next = rc->next;
		if (rc->idle) {
			unlink_conn_locked(rc);
			if (rc->rma_users) {
				/* the last one-sided access frees it */
				conn_shutdown(rc->c);
				continue;
			}
			rc->next = *dead;
			*dead = rc;
		} else {
			rc->retired = true;
			conn_shutdown(rc->c);
		}
	}
}

void remote_retire_locked(struct remote *r, struct rconn *rc)
{
	struct remote_node *n = rc->node;

	rc->retired = true;
	if (n->rma == rc)
		n->rma = NULL;
	if (rc->linked && rc->idle)
		unlink_conn_locked(rc);
	remote_kick_keeper_locked(r);
}

void remote_rconn_free(struct rconn *rc)
{
	conn_destroy(rc->c);
	remote_rma_map_destroy(rc->windows);
	remote_flights_finish(rc);
	free(rc);
}

void remote_destroy_chain(struct rconn *rc)
{
	while (rc) {
		struct rconn *next = rc->next;

		remote_rconn_free(rc);
		rc = next;
	}
}

void remote_notify_health(struct remote *r, struct remote_node *n)
{
	bool up;

	if (!r->owner || !r->owner->health)
		return;
	pthread_mutex_lock(&r->notify_lock);
	pthread_mutex_lock(&r->lock);
	up = n->state == REMOTE_UP;
	pthread_mutex_unlock(&r->lock);
	r->owner->health(r->owner_ctx, n->id, up);
	pthread_mutex_unlock(&r->notify_lock);
}

void remote_suspect(struct remote *r, struct remote_node *n, uint64_t gen,
		    int why, bool retry_now)
{
	char addr[PROTO_BLOCK_ADDR_LEN];
	struct rconn *dead = NULL;

	pthread_mutex_lock(&r->lock);
	if (n->state != REMOTE_UP || n->gen != gen) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	n->state = REMOTE_SUSPECT;
	n->why = why;
	n->since_ns = cmp_now_ns();
	/* after a broken connection, the first reconnect at once */
	n->backoff_ms = REMOTE_BACKOFF_MIN_MS;
	n->next_try_ns = n->since_ns;
	if (!retry_now) {
		n->next_try_ns += (uint64_t)n->backoff_ms * 1000000ull;
		n->backoff_ms *= 2;
	}
	remote_drop_conns_locked(n, &dead);
	pthread_cond_broadcast(&n->cond);
	remote_kick_keeper_locked(r);
	strcpy(addr, n->addr);
	pthread_mutex_unlock(&r->lock);
	atomic_fetch_add(&r->suspects, 1);
	log_warn_rl("remote: node %u (%s) is suspect: %s; its blocks give EIO "
		    "until it is reached again",
		    n->id, addr, strerror(-why));
	remote_destroy_chain(dead);
	remote_notify_health(r, n);
}

struct remote *remote_create(struct auth_keyring *keyring, uint32_t self_node,
			     uint32_t block_size)
{
	struct remote *r;
	int err;

	if (!self_node || !proto_block_size_valid(block_size)) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->rec = calloc(1, sizeof(*r->rec));
	if (!r->rec)
		goto err_free_r;
	r->keyring = keyring;
	r->self = self_node;
	r->block_size = block_size;
	atomic_init(&r->timeout_ms, REMOTE_DEFAULT_TIMEOUT_MS);
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->notify_lock, NULL);
	cmp_cond_init_monotonic(&r->keeper_wake);
	r->stepped = cmp_stepped();
	err = r->stepped ? 0 : remote_keeper_start(r);
	if (err)
		goto err_destroy_locks;
	return r;

err_destroy_locks:
	pthread_cond_destroy(&r->keeper_wake);
	pthread_mutex_destroy(&r->notify_lock);
	pthread_mutex_destroy(&r->lock);
	free(r->rec);
err_free_r:
	free(r);
	errno = ENOMEM;
	return NULL;
}

void remote_set_timeout(struct remote *r, int timeout_ms)
{
	if (timeout_ms > 0)
		atomic_store(&r->timeout_ms, timeout_ms);
}

void remote_set_owner(struct remote *r, const struct remote_owner_ops *ops,
		      void *ctx)
{
	pthread_mutex_lock(&r->lock);
	r->owner = ops;
	r->owner_ctx = ctx;
	pthread_mutex_unlock(&r->lock);
}

static struct remote_node *new_node_locked(struct remote *r, uint32_t id)
{
	struct remote_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->id = id;
	n->state = REMOTE_UP;
	cmp_cond_init_monotonic(&n->cond);
	n->hnext = r->buckets[id % REMOTE_BUCKETS];
	r->buckets[id % REMOTE_BUCKETS] = n;
	return n;
}

int remote_add_node(struct remote *r, uint32_t node, const char *addr)
{
	struct rconn *dead = NULL;
	struct remote_node *n;
	bool revived = false;

	if (!node || !addr || strlen(addr) >= PROTO_BLOCK_ADDR_LEN)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (!n) {
		n = new_node_locked(r, node);
		if (!n) {
			pthread_mutex_unlock(&r->lock);
			return -ENOMEM;
		}
	} else if (strcmp(n->addr, addr)) {
		remote_drop_conns_locked(n, &dead);
		n->next_try_ns = 0; /* a new address: try it now */
	}
	strcpy(n->addr, addr);
	if (n->state == REMOTE_GONE) {
		n->state = REMOTE_UP;
		n->quick_retries = 0;
		n->next_try_ns = 0;
		revived = true;
	}
	remote_kick_keeper_locked(r);
	pthread_mutex_unlock(&r->lock);
	remote_destroy_chain(dead);
	if (revived)
		remote_notify_health(r, n);
	return 0;
}

void remote_set_candidate(struct remote *r, uint32_t node, bool candidate)
{
	struct remote_node *n;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (n && n->candidate != candidate) {
		n->candidate = candidate;
		remote_kick_keeper_locked(r);
	}
	pthread_mutex_unlock(&r->lock);
}

void remote_node_dead(struct remote *r, uint32_t node)
{
	struct rconn *dead = NULL;
	struct remote_node *n;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (n && n->state != REMOTE_GONE) {
		n->state = REMOTE_GONE;
		n->since_ns = cmp_now_ns();
		remote_drop_conns_locked(n, &dead);
		pthread_cond_broadcast(&n->cond);
	} else {
		n = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	remote_destroy_chain(dead);
	if (n)
		remote_notify_health(r, n);
}

bool remote_node_usable(struct remote *r, uint32_t node)
{
	struct remote_node *n;
	bool up;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	up = n && n->state == REMOTE_UP;
	pthread_mutex_unlock(&r->lock);
	return up;
}

int remote_node_addr(struct remote *r, uint32_t node, char *addr)
{
	struct remote_node *n;
	int ret = -ENOENT;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (n && n->addr[0]) {
		strcpy(addr, n->addr);
		ret = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void remote_note_lender(struct remote *r, uint32_t node)
{
	struct remote_node *n;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (n && !n->lent_to_us) {
		n->lent_to_us = true;
		remote_kick_keeper_locked(r);
	}
	pthread_mutex_unlock(&r->lock);
}

size_t remote_lenders(struct remote *r, uint32_t *ids, size_t max)
{
	size_t k = 0;

	pthread_mutex_lock(&r->lock);
	for (unsigned int b = 0; b < REMOTE_BUCKETS; b++)
		for (struct remote_node *n = r->buckets[b]; n; n = n->hnext)
			if (n->lent_to_us && n->state != REMOTE_GONE && k < max)
				ids[k++] = n->id;
	pthread_mutex_unlock(&r->lock);
	return k;
}

void remote_want_reconcile(struct remote *r, uint32_t node)
{
	struct remote_node *n;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (n && n->state != REMOTE_GONE) {
		n->reconcile_wanted = true;
		remote_kick_keeper_locked(r);
	}
	pthread_mutex_unlock(&r->lock);
}

int remote_borrow_begin(struct remote *r, uint32_t node)
{
	int timeout = atomic_load(&r->timeout_ms), ret = 0;
	struct remote_node *n;
	struct timespec dl;

	cmp_deadline_ms(&dl, (uint64_t)timeout);
	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	while (n && n->state == REMOTE_UP && n->gate && !ret)
		ret = -pthread_cond_timedwait(&n->cond, &r->lock, &dl);
	if (!n)
		ret = -EHOSTUNREACH;
	else if (ret || n->state != REMOTE_UP)
		ret = -EIO;
	else
		n->borrowing++;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void remote_borrow_more(struct remote *r, uint32_t node, uint32_t extra)
{
	struct remote_node *n;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (n && n->borrowing)
		n->borrowing += extra;
	pthread_mutex_unlock(&r->lock);
}

void remote_borrow_end(struct remote *r, uint32_t node)
{
	struct remote_node *n;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (n && n->borrowing && !--n->borrowing)
		pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&r->lock);
}

bool remote_conn_reusable(int ret)
{
	return ret == 0 || ret == -ENOENT || ret == -ENOSPC || ret == -EACCES ||
	       ret == -ESTALE || ret == -EREMCHG || ret == -EBUSY ||
	       ret == -EUCLEAN;
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

int remote_status_on(struct remote *r, struct rconn *rc,
		     struct proto_block_status *out)
{
	struct status_call sc;
	int ret;

	status_call_init(&sc);
	sc.cl.quiet = true;
	ret = remote_transact(r, rc, &sc.cl);
	if (ret < 0)
		return ret;
	if (proto_block_status_decode(sc.buf, sizeof(sc.buf), out) < 0)
		return -EPROTO;
	return 0;
}

int remote_connect_node(struct remote *r, struct remote_node *n,
			const char *addr, uint64_t gen, int timeout_ms,
			bool want_rma, struct rconn **out)
{
	int timeout = atomic_load(&r->timeout_ms);
	struct proto_block_status st;
	struct rconn *rc;
	int ret;

	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->node = n;
	rc->gen = gen;
	remote_flights_init(rc);
	ret = conn_connect(addr, timeout_ms, &rc->c);
	if (ret < 0)
		goto err_free_rc;
	ret = conn_set_timeout(rc->c, timeout_ms);
	if (ret < 0)
		goto err_destroy_conn;
	ret = auth_client(rc->c, r->keyring, r->self, cmp_incarnation(),
			  timeout_ms);
	if (ret < 0)
		goto err_destroy_conn;
	if (want_rma && conn_has_rma(rc->c)) {
		/* a table for as many windows as it could grant us */
		ret = remote_status_on(r, rc, &st);
		if (ret < 0)
			goto err_destroy_conn;
		rc->windows = remote_rma_map_create(
			MIN(st.total, REMOTE_RMA_MAX_WINDOWS));
	}
	/* requests then run on the request deadline */
	ret = conn_set_timeout(rc->c, timeout);
	if (ret < 0)
		goto err_destroy_conn;
	atomic_store(&rc->timeout_ms, timeout);
	atomic_fetch_add(&r->connects, 1);
	*out = rc;
	return 0;

err_destroy_conn:
	conn_destroy(rc->c);
err_free_rc:
	log_debug("remote: node %u at %s: connect: %s", n->id, addr,
		  strerror(-ret));
	remote_flights_finish(rc);
	free(rc);
	return ret;
}

/*
 * Waits for a connection of n to come idle (lock held). In stepped mode
 * nobody else opens one: this thread does, once, and waits no more.
 */
static int wait_conn_locked(struct remote *r, struct remote_node *n,
			    const struct timespec *dl)
{
	if (!r->stepped)
		return pthread_cond_timedwait(&n->cond, &r->lock, dl);
	pthread_mutex_unlock(&r->lock);
	remote_keeper_connect(r, n);
	pthread_mutex_lock(&r->lock);
	return ETIMEDOUT;
}

int remote_checkout(struct remote *r, uint32_t node, bool wait, bool borrow,
		    struct rconn **out)
{
	int timeout = atomic_load(&r->timeout_ms), ret = 0;
	struct remote_node *n;
	struct rconn *rc = NULL;
	struct timespec dl;
	bool crowded;

	cmp_deadline_ms(&dl, (uint64_t)timeout);
	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (!n) {
		pthread_mutex_unlock(&r->lock);
		return -EHOSTUNREACH;
	}
	crowded = n->crowded;
	while (n->state == REMOTE_UP && !(borrow && n->gate) &&
	       !(rc = remote_take_conn_locked(n, borrow))) {
		if (!wait || ret)
			break;
		n->waiters++;
		remote_kick_keeper_locked(r);
		ret = wait_conn_locked(r, n, &dl);
		n->waiters--;
	}
	if (n->crowded && !crowded)
		remote_kick_keeper_locked(r);
	if (rc && atomic_load(&rc->timeout_ms) != timeout &&
	    conn_set_timeout(rc->c, timeout) == 0)
		atomic_store(&rc->timeout_ms, timeout);
	pthread_mutex_unlock(&r->lock);
	if (!rc)
		return -EIO;
	*out = rc;
	return 0;
}

void remote_checkin(struct remote *r, struct rconn *rc, bool ok)
{
	struct remote_node *n = rc->node;
	bool unused;

	pthread_mutex_lock(&r->lock);
	if (ok)
		n->last_traffic_ns = cmp_now_ns();
	if (!rc->retired && (!ok || n->state != REMOTE_UP || rc->gen != n->gen))
		remote_retire_locked(r, rc);
	if (--rc->users) {
		if (!rc->retired)
			pthread_cond_signal(&n->cond); /* room for one more */
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (!rc->retired) {
		rc->idle = true;
		n->nidle++;
		pthread_cond_signal(&n->cond);
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (rc->linked)
		unlink_conn_locked(rc);
	remote_kick_keeper_locked(r);
	/* else the last one-sided access on it frees it */
	unused = !rc->rma_users;
	pthread_mutex_unlock(&r->lock);
	if (unused)
		remote_rconn_free(rc);
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
		log_warn_rl("remote: node %u sent a bad STATUS reply", node);
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
	out->suspects = atomic_load(&r->suspects);
	out->reconciles = atomic_load(&r->reconciles);
	out->lost = atomic_load(&r->lost_by_reconcile);
}

uint64_t remote_meta_bytes(struct remote *r, uint32_t *conns)
{
	uint64_t n = sizeof(*r) + sizeof(*r->rec);
	uint32_t k = 0;

	pthread_mutex_lock(&r->lock);
	for (unsigned int b = 0; b < REMOTE_BUCKETS; b++)
		for (struct remote_node *x = r->buckets[b]; x; x = x->hnext) {
			n += sizeof(*x);
			k += x->nconns;
		}
	pthread_mutex_unlock(&r->lock);
	*conns = k;
	return n + (uint64_t)k * sizeof(struct rconn);
}

void remote_destroy(struct remote *r)
{
	if (!r)
		return;
	if (!r->stepped)
		remote_keeper_stop(r);
	for (unsigned int b = 0; b < REMOTE_BUCKETS; b++) {
		struct remote_node *n = r->buckets[b], *next;

		for (; n; n = next) {
			next = n->hnext;
			remote_destroy_chain(n->conns);
			pthread_cond_destroy(&n->cond);
			free(n);
		}
	}
	pthread_cond_destroy(&r->keeper_wake);
	pthread_mutex_destroy(&r->notify_lock);
	pthread_mutex_destroy(&r->lock);
	free(r->rec);
	free(r);
}
