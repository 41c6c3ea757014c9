// SPDX-License-Identifier: MIT
/*
 * Requests in flight on an owner's connections (remote-internal.h). Many
 * callers share a connection: each request carries a fresh id, and the
 * replies, in whatever order they come, are matched by id. Nobody sits in
 * a receiver thread: the first caller that waits reads (it leads) and puts
 * every reply straight where its caller wants it (the caller's buffer, a
 * pool block: no copy in between), waking that caller; once its own reply
 * is in, the leader wakes one waiting caller to read on (leader/follower).
 * A caller alone on its connection, the usual case, reads its own reply on
 * its own thread: no hand-off, no wake-up.
 *
 * Any failure of the stream (reset, a deadline, a frame that fails
 * verification, a reply to no request in flight) fails every request in
 * flight on that connection at once, and the connection for good
 * (rconn.err); the calls then make the node suspect (remote_with_conn()).
 * Every request has a deadline: the leader reads no longer than its own,
 * and a waiter whose deadline passes fails the connection. A caller that
 * comes to wait only near or after it gets a little more (allow_late()).
 *
 * A caller with several requests in flight (remote_call_pieces()) never
 * waits for a chance to send while its earlier ones wait unread: a
 * provider that cannot get its replies out stops reading requests, and a
 * sender stuck behind it would hold up its own replies' reader.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "remote-internal.h"

void remote_flights_init(struct rconn *rc)
{
	pthread_mutex_init(&rc->send_lock, NULL);
	pthread_mutex_init(&rc->mu, NULL);
	rc->tail = &rc->pending;
}

void remote_flights_finish(struct rconn *rc)
{
	pthread_mutex_destroy(&rc->send_lock);
	pthread_mutex_destroy(&rc->mu);
}

/* ---- one reply ---- */

/*
 * Reads a reply's payload, in place (the caller's buffers are its own
 * until its call returns), but for the first in_place bytes of iov[0],
 * there already; one line when it fails verification.
 */
static int recv_reply(struct rconn *rc, const struct wire_hdr *rh,
		      const struct iovec *iov, int iovcnt, size_t in_place)
{
	struct iovec rest = {(uint8_t *)iov[0].iov_base + in_place,
			     iov[0].iov_len - in_place};
	int ret = in_place ? wire_recv_payload_private(rc->c, rh, &rest, 1)
			   : wire_recv_payload_private(rc->c, rh, iov, iovcnt);

	if (ret == -EBADMSG)
		log_warn_rl("remote: node %u at %s: %s reply id %llu failed "
			    "verification; closing the connection",
			    rc->node->id, conn_peer(rc->c),
			    wire_op_name(rh->op), (unsigned long long)rh->id);
	return ret;
}

/*
 * A status other than OK: MOVED's payload, or the status as -errno. The
 * call is answered once the whole reply is in: a stream that breaks in
 * the middle of it is the transport's failure, not the provider's word.
 */
static int recv_refusal(struct rconn *rc, struct call *cl,
			const struct wire_hdr *rh)
{
	uint8_t mbuf[PROTO_BLOCK_MOVED_SIZE];
	struct iovec miov = {mbuf, sizeof(mbuf)};
	struct proto_block_moved mv;
	int ret;

	if (rh->status == WIRE_S_MOVED) {
		if (rh->len != sizeof(mbuf))
			return -EPROTO;
		ret = recv_reply(rc, rh, &miov, 1, 0);
		if (ret < 0)
			return ret;
		if (proto_block_moved_decode(mbuf, rh->len, &mv) < 0)
			return -EPROTO;
		if (cl->moved)
			*cl->moved = mv;
		cl->answered = true;
		return -EREMCHG;
	}
	ret = wire_skip_payload(rc->c, rh);
	if (ret < 0)
		return ret;
	cl->answered = true;
	ret = wire_status_to_errno(rh->status);
	return ret > 0 ? -ret : (ret ? ret : -EIO);
}

/* Does rh answer cl, with data that fits? */
static bool fits(const struct call *cl, const struct wire_hdr *rh)
{
	return (rh->flags & WIRE_F_REPLY) && rh->op == cl->op &&
	       rh->status == WIRE_S_OK &&
	       (cl->rep_exact ? rh->len == cl->rep_len
			      : rh->len <= cl->rep_len);
}

/*
 * The reply rh to cl: its payload where cl wants it (in_place bytes there
 * already), or its refusal.
 */
static int recv_answer(struct rconn *rc, struct call *cl,
		       const struct wire_hdr *rh, size_t in_place)
{
	int ret;

	if (rh->status != WIRE_S_OK)
		return recv_refusal(rc, cl, rh);
	if (!fits(cl, rh))
		return -EPROTO;
	cl->got = rh->len;
	ret = rh->len ? recv_reply(rc, rh, cl->rep, cl->nrep, in_place) : 0;
	if (ret == 0)
		cl->answered = true;
	return ret;
}

/* ---- flights ---- */

static void complete_locked(struct flight *f, int ret)
{
	f->ret = ret;
	f->done = true;
	if (f->sleeping)
		pthread_cond_signal(&f->cond);
}

static void complete(struct rconn *rc, struct flight *f, int ret)
{
	pthread_mutex_lock(&rc->mu);
	complete_locked(f, ret);
	pthread_mutex_unlock(&rc->mu);
}

/* Takes the flight with this id off rc's list; NULL when none has it. */
static struct flight *take_locked(struct rconn *rc, uint64_t id)
{
	struct flight **pp = &rc->pending, *f;

	while ((f = *pp) && f->id != id)
		pp = &f->next;
	if (!f)
		return NULL;
	*pp = f->next;
	if (rc->tail == &f->next)
		rc->tail = pp;
	f->next = NULL;
	return f;
}

/*
 * The stream of rc failed: every request in flight fails with the first
 * error, and so does every later one; the connection is retired and shut
 * down, so that no caller takes it again and a blocked send or read
 * returns.
 */
static void fail_conn(struct remote *r, struct rconn *rc, int err)
{
	struct flight *f;

	pthread_mutex_lock(&rc->mu);
	if (!rc->err)
		rc->err = err;
	while ((f = rc->pending)) {
		rc->pending = f->next;
		f->next = NULL;
		complete_locked(f, rc->err);
	}
	rc->tail = &rc->pending;
	pthread_mutex_unlock(&rc->mu);
	conn_shutdown(rc->c);
	pthread_mutex_lock(&r->lock);
	if (!rc->retired)
		remote_retire_locked(r, rc);
	pthread_mutex_unlock(&r->lock);
}

/* The flight a reply answers, claimed as soon as its header is read. */
struct claim {
	struct rconn *rc;
	struct flight *f;
	bool asked;
};

/*
 * wire_recv_hdr_into()'s question, where the payload of h goes: the
 * flight of h's id comes off the list at once (so that nothing else
 * completes it while its buffer fills), and a reply that fits goes
 * straight into its one buffer.
 */
static const struct iovec *claim_dest(void *ctx, const struct wire_hdr *h)
{
	struct claim *cm = ctx;
	struct flight *f;

	pthread_mutex_lock(&cm->rc->mu);
	f = cm->f = take_locked(cm->rc, h->id);
	pthread_mutex_unlock(&cm->rc->mu);
	cm->asked = true;
	return f && f->cl->nrep == 1 && fits(f->cl, h) ? f->cl->rep : NULL;
}

/*
 * The next reply's header, by deadline_ns (the connection's own timeout
 * unless less time is left), its flight claimed, and sealed, its first
 * record in place when it can.
 */
static int recv_hdr_by(struct rconn *rc, uint64_t deadline_ns,
		       struct wire_hdr *h, struct claim *cm, size_t *in_place)
{
	int timeout = atomic_load(&rc->timeout_ms), ret;
	uint64_t now = cmp_now_ns(), left;

	if (now >= deadline_ns) {
		log_warn_rl("remote: node %u at %s: no reply in time; closing "
			    "the connection",
			    rc->node->id, conn_peer(rc->c));
		return -ETIMEDOUT;
	}
	left = (deadline_ns - now + 999999) / 1000000;
	if (left < (uint64_t)timeout)
		conn_set_timeout(rc->c, (int)left);
	ret = wire_recv_hdr_into(rc->c, h, claim_dest, cm, in_place);
	if (left < (uint64_t)timeout)
		conn_set_timeout(rc->c, timeout);
	if (!cm->asked && !ret) {
		pthread_mutex_lock(&rc->mu);
		cm->f = take_locked(rc, h->id);
		pthread_mutex_unlock(&rc->mu);
	}
	return ret;
}

/*
 * Leads on rc: reads replies for every request in flight until me's is in
 * (or the stream failed, failing them all). Without rc->mu.
 */
static void lead(struct remote *r, struct rconn *rc, struct flight *me)
{
	struct flight *f;
	struct wire_hdr h;
	size_t in_place;
	bool in_step;
	int ret;

	do {
		struct claim cm = {.rc = rc};

		ret = recv_hdr_by(rc, me->deadline_ns, &h, &cm, &in_place);
		f = cm.f;
		if (ret < 0) {
			if (f)
				complete(rc, f, ret);
			break;
		}
		if (!f || !(h.flags & WIRE_F_REPLY) || h.op != f->cl->op) {
			log_warn_rl("remote: node %u at %s: a %s frame (id "
				    "%llu) answers no request of ours; "
				    "closing the connection",
				    rc->node->id, conn_peer(rc->c),
				    wire_op_name(h.op),
				    (unsigned long long)h.id);
			ret = -EPROTO;
			if (f)
				complete(rc, f, ret);
			break;
		}
		if (!f->cl->quiet)
			atomic_fetch_add(&r->received,
					 WIRE_HDR_SIZE + (uint64_t)h.len);
		ret = recv_answer(rc, f->cl, &h, in_place);
		/* not the provider's word, or a broken one: out of step */
		in_step = f->cl->answered && ret != -EPROTO;
		/* f's caller may return at once: f is not touched after */
		complete(rc, f, ret);
		if (!in_step)
			break;
		ret = 0;
	} while (f != me);
	if (ret < 0)
		fail_conn(r, rc, ret);
}

/* Whoever waits first on rc reads next (rc->mu held). */
static void wake_next_locked(struct rconn *rc)
{
	for (struct flight *f = rc->pending; f; f = f->next) {
		if (f->sleeping) {
			pthread_cond_signal(&f->cond);
			return;
		}
	}
}

int remote_flight_send(struct remote *r, struct rconn *rc, struct flight *f,
		       bool wait)
{
	struct call *cl = f->cl;
	struct wire_hdr h = {.op = cl->op};
	int ret;

	if (!wait && pthread_mutex_trylock(&rc->send_lock))
		return -EAGAIN;
	if (wait)
		pthread_mutex_lock(&rc->send_lock);
	f->done = f->sleeping = false;
	f->next = NULL;
	f->deadline_ns =
		cmp_now_ns() + (uint64_t)atomic_load(&r->timeout_ms) * 1000000u;
	cmp_cond_init_monotonic(&f->cond);
	pthread_mutex_lock(&rc->mu);
	ret = rc->err;
	if (ret) {
		complete_locked(f, ret); /* never in flight */
	} else {
		h.id = f->id = ++rc->next_id;
		*rc->tail = f;
		rc->tail = &f->next;
	}
	pthread_mutex_unlock(&rc->mu);
	if (!ret)
		ret = wire_send(rc->c, &h, cl->req, cl->nreq);
	pthread_mutex_unlock(&rc->send_lock);
	if (ret < 0) {
		fail_conn(r, rc, ret); /* f with the others */
		return ret;
	}
	if (!cl->quiet) {
		atomic_fetch_add(&r->requests, 1);
		atomic_fetch_add(&r->sent, WIRE_HDR_SIZE + (uint64_t)h.len);
	}
	return 0;
}

/*
 * A caller that comes to wait for f late (it waited for another node's
 * reply first, remote_write_many(), or for an earlier piece) gets a
 * quarter of the request deadline more: a reply the provider sent in time
 * sits unread, and must not fail its connection and make its node
 * suspect. A hung provider costs that much more, not a second deadline.
 */
static void allow_late(struct remote *r, struct flight *f)
{
	uint64_t late = cmp_now_ns() +
			(uint64_t)atomic_load(&r->timeout_ms) * (1000000u / 4);

	if (f->deadline_ns < late)
		f->deadline_ns = late;
}

int remote_flight_wait(struct remote *r, struct rconn *rc, struct flight *f)
{
	struct timespec dl;

	allow_late(r, f);
	dl.tv_sec = (time_t)(f->deadline_ns / 1000000000u);
	dl.tv_nsec = (long)(f->deadline_ns % 1000000000u);
	pthread_mutex_lock(&rc->mu);
	while (!f->done) {
		if (!rc->leading) {
			rc->leading = true;
			pthread_mutex_unlock(&rc->mu);
			lead(r, rc, f);
			pthread_mutex_lock(&rc->mu);
			rc->leading = false;
			wake_next_locked(rc);
			continue;
		}
		f->sleeping = true;
		if (rc->err) {
			/* the leader's read fails at once: it fails us all */
			pthread_cond_wait(&f->cond, &rc->mu);
		} else if (pthread_cond_timedwait(&f->cond, &rc->mu, &dl) ==
				   ETIMEDOUT &&
			   !f->done && !rc->err) {
			log_warn_rl("remote: node %u at %s: no reply to %s id "
				    "%llu in time; closing the connection",
				    rc->node->id, conn_peer(rc->c),
				    wire_op_name(f->cl->op),
				    (unsigned long long)f->id);
			rc->err = -ETIMEDOUT;
			conn_shutdown(rc->c);
		}
		f->sleeping = false;
	}
	pthread_mutex_unlock(&rc->mu);
	pthread_cond_destroy(&f->cond);
	return f->ret;
}

int remote_transact(struct remote *r, struct rconn *rc, struct call *cl)
{
	struct flight f = {.cl = cl};
	int ret = remote_flight_send(r, rc, &f, true);

	(void)ret; /* a failed send failed f: the wait returns its error */
	return remote_flight_wait(r, rc, &f);
}

/* ---- calls ---- */

/*
 * After a transport error: may the call go once more, on another
 * connection usable now? One connection may break alone (reset, closed
 * while idle); never after a timeout (a hung provider must not cost two
 * deadlines) or a broken protocol.
 */
static bool worth_retry(int attempt, bool idempotent, int ret)
{
	return !attempt && idempotent && ret != -ETIMEDOUT && ret != -EPROTO;
}

/* The provider's word (-EPROTO: it broke the protocol), not the stream's. */
static bool answered(const struct call *cl, int ret)
{
	return ret == 0 || (cl->answered && ret != -EPROTO);
}

/*
 * A write whose connection broke may still land from the provider's
 * socket buffer: it is sent again only after a FENCE of that connection.
 */
static bool call_writes(const struct call *cl)
{
	return cl->op == WIRE_OP_WRITE || cl->op == WIRE_OP_WRITE_BATCH;
}

int remote_with_conn(struct remote *r, uint32_t node, bool idempotent,
		     remote_exchange_fn fn, void *arg)
{
	struct call *cl = arg;
	uint64_t gen, broken = 0;
	struct remote_node *n;
	struct rconn *rc;
	bool answer;
	int ret;

	ret = remote_checkout(r, node, true, !idempotent, &rc);
	for (int attempt = 0; ret == 0; attempt++) {
		cl->answered = false;
		ret = broken ? remote_fence_on(r, rc, broken) : 0;
		if (ret == 0)
			ret = fn(r, rc, arg);
		answer = answered(cl, ret);
		n = rc->node;
		gen = rc->gen;
		if (!answer && call_writes(cl))
			broken = conn_session_id(rc->c);
		remote_checkin(r, rc, answer && remote_conn_reusable(ret));
		if (answer)
			return ret;
		log_debug("remote: node %u: %s", node, strerror(-ret));
		if (worth_retry(attempt, idempotent, ret) &&
		    remote_checkout(r, node, false, false, &rc) == 0) {
			ret = 0;
			continue;
		}
		remote_suspect(r, n, gen, ret, true);
		ret = -EIO;
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

/* The calls of remote_call_pieces() and how they went. */
struct pieces {
	struct call *cl;
	int ret[REMOTE_MAX_PIECES];
	unsigned int todo[REMOTE_MAX_PIECES]; /* not answered yet */
	unsigned int ntodo;
	/* the first transport error, and the connection it broke */
	int err;
	struct remote_node *node;
	uint64_t gen;
	bool final; /* a timeout or a broken protocol: no second try */
	/* connections that broke under a write: fenced before a retry */
	uint64_t broken[REMOTE_MAX_PIECES];
	unsigned int nbroken;
};

static void note_broken(struct pieces *p, uint64_t session)
{
	for (unsigned int i = 0; i < p->nbroken; i++)
		if (p->broken[i] == session)
			return;
	p->broken[p->nbroken++] = session;
}

/* Waits for the in-flight call f on rc and gives rc back. */
static void land(struct remote *r, struct pieces *p, unsigned int i,
		 struct rconn *rc, struct flight *f)
{
	struct call *cl = &p->cl[i];
	int ret = remote_flight_wait(r, rc, f);
	bool answer = answered(cl, ret);

	p->ret[i] = ret;
	if (!answer && !p->err) {
		p->err = ret;
		p->node = rc->node;
		p->gen = rc->gen;
	}
	if (!answer && !worth_retry(0, true, ret))
		p->final = true;
	if (!answer && call_writes(cl))
		note_broken(p, conn_session_id(rc->c));
	remote_checkin(r, rc, answer && remote_conn_reusable(ret));
}

/* FENCEs every connection that broke under a write: 0 or -errno. */
static int fence_broken(struct remote *r, uint32_t node, struct pieces *p)
{
	struct rconn *rc;
	int ret = 0;

	if (!p->nbroken)
		return 0;
	ret = remote_checkout(r, node, true, false, &rc);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < p->nbroken && !ret; i++)
		ret = remote_fence_on(r, rc, p->broken[i]);
	remote_checkin(r, rc, !ret);
	p->nbroken = 0;
	return ret;
}

/*
 * One round of the calls p->todo[]: each sent as soon as a connection is
 * free to send on, but never waiting to send (or for a connection) while
 * one of ours is in flight. Returns 0, or the checkout's error when no
 * connection could be had with nothing of ours in flight (the calls not
 * sent are left with it).
 */
static int fly(struct remote *r, uint32_t node, struct pieces *p, bool wait)
{
	struct flight f[REMOTE_MAX_PIECES];
	struct rconn *rc[REMOTE_MAX_PIECES];
	unsigned int sent = 0, done = 0;
	int ret = 0;

	while (done < p->ntodo) {
		while (sent < p->ntodo) {
			bool alone = sent == done;
			struct call *cl = &p->cl[p->todo[sent]];

			ret = remote_checkout(r, node, alone && wait, false,
					      &rc[sent]);
			if (ret)
				break;
			f[sent] = (struct flight){.cl = cl};
			cl->answered = false;
			if (remote_flight_send(r, rc[sent], &f[sent], alone) ==
			    -EAGAIN) {
				remote_checkin(r, rc[sent], true);
				break;
			}
			sent++;
		}
		if (done == sent)
			break;
		land(r, p, p->todo[done], rc[done], &f[done]);
		done++;
	}
	for (unsigned int i = sent; i < p->ntodo; i++)
		p->ret[p->todo[i]] = ret;
	return done == p->ntodo ? 0 : ret;
}

int remote_call_pieces(struct remote *r, uint32_t node, struct call *cl,
		       unsigned int n, int *rets)
{
	struct pieces p = {.cl = cl, .ntodo = n};
	int ret;

	for (unsigned int i = 0; i < n; i++) {
		p.todo[i] = i;
		cl[i].answered = false;
	}
	for (int attempt = 0;; attempt++) {
		ret = fly(r, node, &p, !attempt);
		p.ntodo = 0;
		for (unsigned int i = 0; i < n; i++)
			if (!answered(&cl[i], p.ret[i]))
				p.todo[p.ntodo++] = i;
		if (!p.ntodo || ret || attempt || p.final)
			break;
		if (fence_broken(r, node, &p)) {
			p.final = true;
			break;
		}
		log_debug("remote: node %u: %s; %u of %u pieces again", node,
			  strerror(-p.err), p.ntodo, n);
	}
	if (rets)
		memcpy(rets, p.ret, n * sizeof(*rets));
	if (!p.ntodo) {
		for (unsigned int i = 0; i < n; i++)
			if (p.ret[i])
				return p.ret[i];
		return 0;
	}
	if (p.err)
		remote_suspect(r, p.node, p.gen, p.err, true);
	if (ret == -EHOSTUNREACH)
		return ret;
	atomic_fetch_add(&r->errors, 1);
	return -EIO;
}
