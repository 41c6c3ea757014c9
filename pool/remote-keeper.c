// SPDX-License-Identifier: MIT
/*
 * The keeper (remote.h): the one thread that connects. Request threads
 * never do: they check out connections the keeper opened, so no
 * handshake, allocation or connect deadline ever sits on a request path.
 * The keeper keeps a few connections open to every node we may borrow
 * from or that holds our loans, one more whenever callers wait or have to
 * share one; brings suspect nodes back (reconnect with backoff, then
 * incarnation check or reconciliation, then UP); and PINGs idle providers
 * so their lease on us never runs out. It works on one node at a time
 * without the lock, marked keeper_busy so that nothing else starts on that
 * node meanwhile.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "remote-internal.h"

#define MS (1000000ull)
/* Stepped mode: jobs per remote_keeper_step(), the rest at the next. */
#define STEP_JOBS 256u

enum job {
	JOB_NONE,
	JOB_CONNECT,   /* open one more connection (or reconnect) */
	JOB_RECONCILE, /* an UP node we may hold unclaimed loans on */
	JOB_PING,      /* keep its lease on us */
};

void remote_kick_keeper_locked(struct remote *r)
{
	r->keeper_kick = true;
	pthread_cond_signal(&r->keeper_wake);
}

void remote_probe(struct remote *r, uint32_t node)
{
	struct remote_node *n;

	pthread_mutex_lock(&r->lock);
	n = remote_find_node_locked(r, node);
	if (n && n->state == REMOTE_UP) {
		/* the keeper's next PING to it is due now */
		n->last_traffic_ns = 0;
		remote_kick_keeper_locked(r);
	}
	pthread_mutex_unlock(&r->lock);
}

static bool wanted_locked(const struct remote_node *n)
{
	return n->candidate || n->lent_to_us || n->waiters;
}

static unsigned int target_conns_locked(const struct remote_node *n)
{
	if (n->waiters > n->nidle || n->crowded)
		return MIN(n->nconns + 1, REMOTE_MAX_CONNS);
	/* one more to be its RMA connection, when the last one went */
	if (n->rma_capable && !n->rma)
		return MIN(MAX(n->nconns + 1, REMOTE_MIN_CONNS),
			   REMOTE_MAX_CONNS);
	return REMOTE_MIN_CONNS;
}

static uint64_t ping_ns_locked(const struct remote_node *n)
{
	uint32_t ms = n->lease_ms ? n->lease_ms / 4 : REMOTE_PING_MAX_MS;

	return (uint64_t)MAX(MIN(ms, REMOTE_PING_MAX_MS), 10u) * MS;
}

/* What n needs now, or JOB_NONE and *due lowered to when it will. */
static enum job node_job_locked(struct remote_node *n, uint64_t now,
				uint64_t *due)
{
	uint64_t ping_at;

	if (n->keeper_busy || n->state == REMOTE_GONE)
		return JOB_NONE;
	if (n->state == REMOTE_SUSPECT) {
		if (now >= n->next_try_ns)
			return JOB_CONNECT;
		*due = MIN(*due, n->next_try_ns);
		return JOB_NONE;
	}
	if (n->reconcile_wanted && n->nidle)
		return JOB_RECONCILE;
	if (wanted_locked(n) && n->nconns < target_conns_locked(n)) {
		if (now >= n->next_try_ns)
			return JOB_CONNECT;
		*due = MIN(*due, n->next_try_ns);
	}
	if (n->lent_to_us && n->nidle) {
		ping_at = n->last_traffic_ns + ping_ns_locked(n);
		if (now >= ping_at)
			return JOB_PING;
		*due = MIN(*due, ping_at);
	}
	return JOB_NONE;
}

static enum job next_job_locked(struct remote *r, uint64_t now,
				struct remote_node **out, uint64_t *due)
{
	for (unsigned int b = 0; b < REMOTE_BUCKETS; b++) {
		for (struct remote_node *n = r->buckets[b]; n; n = n->hnext) {
			enum job j = node_job_locked(n, now, due);

			if (j != JOB_NONE) {
				*out = n;
				return j;
			}
		}
	}
	return JOB_NONE;
}

/*
 * Closes n's reconciliation gate: no ALLOC starts, and every borrow that
 * began has recorded its loans (or given up), so a scan of the owner's
 * loans misses none the provider holds.
 */
static void gate_close(struct remote *r, struct remote_node *n)
{
	struct timespec dl;
	int ret = 0;

	cmp_deadline_ms(&dl, (uint64_t)atomic_load(&r->timeout_ms));
	pthread_mutex_lock(&r->lock);
	n->gate = true;
	/* a borrow waiting for a connection gives up */
	pthread_cond_broadcast(&n->cond);
	while (n->borrowing && !ret)
		ret = pthread_cond_timedwait(&n->cond, &r->lock, &dl);
	pthread_mutex_unlock(&r->lock);
	if (ret)
		log_warn("remote: node %u: a borrow did not settle in time; "
			 "reconciling anyway",
			 n->id);
}

static void gate_open(struct remote *r, struct remote_node *n)
{
	pthread_mutex_lock(&r->lock);
	n->gate = false;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&r->lock);
}

/* Fills slot with the next loans the owner holds on n (0: none left). */
static uint32_t scan(struct remote *r, struct remote_node *n, uint32_t *cursor,
		     int slot)
{
	struct remote_rec_buf *b = r->rec;
	uint32_t got = 0;

	while (!got && *cursor != UINT32_MAX)
		got = r->owner->loans(r->owner_ctx, n->id, cursor,
				      b->refs[slot], b->tags[slot],
				      PROTO_BLOCK_MAX_IDX);
	return got;
}

/* The owner's tags of the refs the provider reported missing. */
static void report_missing(struct remote *r, struct remote_node *n, int slot,
			   uint32_t count, uint32_t nmissing)
{
	struct remote_rec_buf *b = r->rec;
	uint32_t k = 0;

	for (uint32_t m = 0; m < nmissing; m++) {
		for (uint32_t i = 0; i < count; i++) {
			if (b->refs[slot][i].block == b->missing[m].block &&
			    b->refs[slot][i].epoch == b->missing[m].epoch) {
				b->missing[k] = b->missing[m];
				b->missing_tags[k++] = b->tags[slot][i];
				break;
			}
		}
	}
	if (!k)
		return;
	remote_rma_forget(r, n->id, b->missing, k);
	atomic_fetch_add(&r->lost_by_reconcile, k);
	r->owner->lost(r->owner_ctx, n->id, b->missing, b->missing_tags, k);
}

/*
 * RECONCILE with n on rc: every loan the owner holds there, in chunks,
 * FIRST to LAST (the provider frees the loans we did not claim), and
 * lost() for those the provider no longer holds. With fence, the provider
 * first ends our older connections (see PROTO_BLOCK_RECONCILE_FENCE).
 * 0 or the transport's -errno.
 */
static int reconcile(struct remote *r, struct remote_node *n, struct rconn *rc,
		     bool fence)
{
	struct remote_rec_buf *b = r->rec;
	uint32_t cursor = 0, count[2], flags = PROTO_BLOCK_RECONCILE_FIRST;
	uint32_t nmissing, claimed = 0;
	int cur = 0, ret;

	if (fence)
		flags |= PROTO_BLOCK_RECONCILE_FENCE;
	gate_close(r, n);
	count[0] = scan(r, n, &cursor, 0);
	for (;;) {
		count[!cur] = scan(r, n, &cursor, !cur);
		if (!count[!cur])
			flags |= PROTO_BLOCK_RECONCILE_LAST;
		ret = remote_reconcile_on(r, rc, flags, b->refs[cur],
					  count[cur], b->missing, &nmissing);
		if (ret < 0)
			break;
		claimed += count[cur];
		report_missing(r, n, cur, count[cur], nmissing);
		if (flags & PROTO_BLOCK_RECONCILE_LAST)
			break;
		flags = 0;
		cur = !cur;
	}
	gate_open(r, n);
	if (ret == 0) {
		atomic_fetch_add(&r->reconciles, 1);
		log_debug("remote: node %u: reconciled %u loans", n->id,
			  claimed);
	}
	return ret;
}

/* n restarted: its old connections and every loan we had there are gone. */
static void restarted(struct remote *r, struct remote_node *n, struct rconn *rc,
		      uint64_t incarnation, const char *addr)
{
	struct rconn *dead = NULL;

	gate_close(r, n);
	pthread_mutex_lock(&r->lock);
	remote_drop_conns_locked(n, &dead);
	rc->gen = n->gen;
	n->incarnation = incarnation;
	pthread_mutex_unlock(&r->lock);
	remote_destroy_chain(dead);
	log_warn("remote: node %u (%s) restarted: every block we had there "
		 "is lost",
		 n->id, addr);
	if (r->owner && r->owner->restarted)
		r->owner->restarted(r->owner_ctx, n->id);
	gate_open(r, n);
}

/* A connect to n failed: quick retries, growth backoff or SUSPECT. */
static void connect_failed(struct remote *r, struct remote_node *n,
			   uint64_t gen, int err)
{
	uint64_t now = cmp_now_ns();

	pthread_mutex_lock(&r->lock);
	if (n->gen != gen || n->state == REMOTE_GONE) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (n->state == REMOTE_UP && n->nconns) {
		/* it works, it just would not take one more now */
		n->next_try_ns = now + REMOTE_BACKOFF_MIN_MS * MS;
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (n->state == REMOTE_UP &&
	    (err == -ECONNREFUSED || err == -ECONNRESET) &&
	    n->quick_retries < REMOTE_QUICK_RETRIES) {
		/* a transient reset: one refused connect is not an outage */
		n->quick_retries++;
		n->next_try_ns = now + REMOTE_QUICK_RETRY_MS * MS;
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (n->state == REMOTE_SUSPECT) {
		n->next_try_ns = now + (uint64_t)n->backoff_ms * MS;
		n->backoff_ms = MIN(n->backoff_ms * 2, REMOTE_BACKOFF_MAX_MS);
		pthread_mutex_unlock(&r->lock);
		return;
	}
	pthread_mutex_unlock(&r->lock);
	/* it just refused: no point in trying again at once */
	remote_suspect(r, n, gen, err, false);
}

/*
 * A fresh connection to a node that was suspect, or whose incarnation we
 * do not know yet or saw change: settle that first. 0, or -errno when rc
 * must be dropped and the connect counted as failed.
 */
static int settle(struct remote *r, struct remote_node *n, struct rconn *rc,
		  bool was_suspect, const char *addr)
{
	uint64_t inc = conn_peer_incarnation(rc->c);
	struct proto_block_status st;
	bool lent, changed;
	int ret;

	pthread_mutex_lock(&r->lock);
	changed = n->incarnation && inc && inc != n->incarnation;
	lent = n->lent_to_us || n->reconcile_wanted;
	if (!n->incarnation)
		n->incarnation = inc;
	pthread_mutex_unlock(&r->lock);
	if (changed) {
		restarted(r, n, rc, inc, addr);
	} else if (was_suspect && lent && r->owner && r->owner->loans) {
		/*
		 * A request we gave up on may still sit in a socket buffer
		 * of an old connection: the fence makes sure it is never
		 * carried out after the writes that follow.
		 */
		ret = reconcile(r, n, rc, true);
		if (ret < 0)
			return ret;
		pthread_mutex_lock(&r->lock);
		n->reconcile_wanted = false;
		pthread_mutex_unlock(&r->lock);
	}
	if (!n->lease_ms || changed) {
		ret = remote_status_on(r, rc, &st);
		if (ret < 0)
			return ret;
		pthread_mutex_lock(&r->lock);
		n->lease_ms = st.lease_ms;
		pthread_mutex_unlock(&r->lock);
	}
	return 0;
}

/* rc joins n's idle connections; a suspect n is UP again. */
static void connected(struct remote *r, struct remote_node *n, struct rconn *rc,
		      const char *addr)
{
	bool back = false, keep;
	uint64_t away_ms = 0;

	pthread_mutex_lock(&r->lock);
	keep = rc->gen == n->gen && n->state != REMOTE_GONE;
	if (keep) {
		if (n->state == REMOTE_SUSPECT) {
			back = true;
			away_ms = (cmp_now_ns() - n->since_ns) / MS;
			n->state = REMOTE_UP;
			pthread_cond_broadcast(&n->cond);
		}
		n->quick_retries = 0;
		n->backoff_ms = REMOTE_BACKOFF_MIN_MS;
		n->last_traffic_ns = cmp_now_ns();
		n->rma_capable |= conn_has_rma(rc->c);
		if (rc->windows && !n->rma)
			n->rma = rc;
		n->crowded = false;
		if (n->rma != rc) {
			remote_rma_map_destroy(rc->windows);
			rc->windows = NULL;
		}
		remote_link_idle_locked(rc);
	}
	pthread_mutex_unlock(&r->lock);
	if (!keep) {
		remote_destroy_chain(rc);
		return;
	}
	if (back) {
		log_info("remote: node %u (%s) is back after %llu ms", n->id,
			 addr, (unsigned long long)away_ms);
		remote_notify_health(r, n);
	}
}

static void do_connect(struct remote *r, struct remote_node *n)
{
	int timeout = MIN(atomic_load(&r->timeout_ms), REMOTE_PROBE_MS);
	char addr[PROTO_BLOCK_ADDR_LEN];
	bool was_suspect, want_rma;
	struct rconn *rc;
	uint64_t gen;
	int ret;

	pthread_mutex_lock(&r->lock);
	strcpy(addr, n->addr);
	gen = n->gen;
	was_suspect = n->state == REMOTE_SUSPECT;
	want_rma = !n->rma;
	pthread_mutex_unlock(&r->lock);

	ret = remote_connect_node(r, n, addr, gen, timeout, want_rma, &rc);
	if (ret == 0) {
		ret = settle(r, n, rc, was_suspect, addr);
		if (ret < 0) {
			gen = rc->gen;
			remote_destroy_chain(rc);
		}
	}
	if (ret < 0) {
		connect_failed(r, n, gen, ret);
		return;
	}
	connected(r, n, rc, addr);
}

/* PING or RECONCILE on one of n's idle connections. */
static void do_on_idle(struct remote *r, struct remote_node *n, enum job job)
{
	struct rconn *rc;
	uint64_t gen;
	int ret;

	pthread_mutex_lock(&r->lock);
	rc = n->state == REMOTE_UP ? remote_take_conn_locked(n, false) : NULL;
	if (rc && job == JOB_RECONCILE)
		n->reconcile_wanted = false;
	pthread_mutex_unlock(&r->lock);
	if (!rc)
		return;
	gen = rc->gen;
	if (job == JOB_PING)
		ret = remote_ping_on(r, rc);
	else if (r->owner && r->owner->loans)
		ret = reconcile(r, n, rc, false);
	else
		ret = 0;
	remote_checkin(r, rc, ret == 0);
	if (ret < 0)
		remote_suspect(r, n, gen, ret, true);
}

/* Does job on n without the lock, marked keeper_busy meanwhile (lock). */
static void run_job_locked(struct remote *r, struct remote_node *n,
			   enum job job)
{
	n->keeper_busy = true;
	pthread_mutex_unlock(&r->lock);
	if (job == JOB_CONNECT)
		do_connect(r, n);
	else
		do_on_idle(r, n, job);
	pthread_mutex_lock(&r->lock);
	n->keeper_busy = false;
}

void remote_keeper_connect(struct remote *r, struct remote_node *n)
{
	uint64_t due = UINT64_MAX;
	bool go;

	pthread_mutex_lock(&r->lock);
	go = node_job_locked(n, cmp_now_ns(), &due) == JOB_CONNECT;
	if (go)
		run_job_locked(r, n, JOB_CONNECT);
	pthread_mutex_unlock(&r->lock);
}

void remote_keeper_step(struct remote *r)
{
	struct remote_node *n = NULL;
	uint64_t now = cmp_now_ns(), due;
	enum job job;

	pthread_mutex_lock(&r->lock);
	if (!r->keeper_kick && now < r->keeper_due) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	r->keeper_kick = false;
	for (unsigned int budget = STEP_JOBS;; budget--) {
		due = now + 1000 * MS;
		job = next_job_locked(r, now, &n, &due);
		if (job == JOB_NONE)
			break;
		if (!budget) { /* the rest at the next step */
			r->keeper_kick = true;
			break;
		}
		run_job_locked(r, n, job);
	}
	r->keeper_due = due;
	pthread_mutex_unlock(&r->lock);
}

static void *keeper_main(void *arg)
{
	struct remote *r = arg;
	struct remote_node *n = NULL;
	struct timespec ts;
	uint64_t now, due;
	enum job job;

	pthread_mutex_lock(&r->lock);
	while (!r->keeper_stop) {
		now = cmp_now_ns();
		due = now + 1000 * MS;
		r->keeper_kick = false;
		job = next_job_locked(r, now, &n, &due);
		if (job == JOB_NONE) {
			cmp_deadline_ms(&ts, (due - now + MS - 1) / MS);
			pthread_cond_timedwait(&r->keeper_wake, &r->lock, &ts);
			continue;
		}
		run_job_locked(r, n, job);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int remote_keeper_start(struct remote *r)
{
	int ret = -pthread_create(&r->keeper, NULL, keeper_main, r);

	if (ret)
		log_error("remote: cannot start the keeper thread: %s",
			  strerror(-ret));
	return ret;
}

void remote_keeper_stop(struct remote *r)
{
	pthread_mutex_lock(&r->lock);
	r->keeper_stop = true;
	pthread_cond_signal(&r->keeper_wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->keeper, NULL);
}
