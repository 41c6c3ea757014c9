// SPDX-License-Identifier: MIT
/*
 * Loans with a provider (remote.h): borrowing (ALLOC), giving back (FREE),
 * agreeing on which loans still stand after a reconnect (RECONCILE),
 * leaving (GOODBYE) and keeping the provider's lease on us alive (PING).
 * Byte ranges of the loans are in remote-rw.c.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "remote-internal.h"

/* One ALLOC, asking for windows when rc is the node's RMA connection. */
struct alloc_call {
	struct call cl; /* first: remote_with_conn() reads it */
	uint32_t n;
	struct proto_block_ref *refs;
	struct proto_block_alloc_rep out;
	int decoded; /* the decoder's verdict on the reply */
	uint8_t req[PROTO_BLOCK_ALLOC_REQ_SIZE];
	uint8_t rep[PROTO_BLOCK_MAX_IDX_MSG];
	uint32_t rkeys[PROTO_BLOCK_MAX_IDX];
	struct iovec qiov, piov;
};

static int do_alloc(struct remote *r, struct rconn *rc, void *arg)
{
	struct alloc_call *a = arg;
	bool want = remote_rma_want(r, rc, a->n);
	int ret;

	proto_block_alloc_req_encode(a->n, want ? PROTO_BLOCK_ALLOC_WINDOWS : 0,
				     a->req, sizeof(a->req));
	ret = remote_transact(r, rc, &a->cl);
	if (ret < 0)
		return ret;
	/* windows only where we asked: anything else is a bad reply */
	a->decoded = proto_block_alloc_rep_decode(
		a->rep, a->cl.got, r->block_size, &a->out, a->refs,
		want ? a->rkeys : NULL, a->n);
	if (!a->decoded && want)
		remote_rma_learn(r, rc, &a->out, a->refs, a->rkeys);
	return 0;
}

int remote_alloc(struct remote *r, uint32_t node, uint32_t n,
		 struct proto_block_ref *refs, uint32_t *got)
{
	/* 16 KiB on the stack: no allocation on a request path */
	struct alloc_call call, *a = &call;
	int ret;

	*got = 0;
	n = MIN(n, PROTO_BLOCK_MAX_IDX);
	if (!n)
		return -EINVAL;
	a->decoded = 0;
	a->n = n;
	a->refs = refs;
	a->qiov = (struct iovec){a->req, sizeof(a->req)};
	a->piov = (struct iovec){a->rep, sizeof(a->rep)};
	a->cl = (struct call){
		.op = WIRE_OP_ALLOC,
		.req = &a->qiov,
		.nreq = 1,
		.rep = &a->piov,
		.nrep = 1,
		.rep_len = sizeof(a->rep),
	};
	/* before sending: a lost reply may leave loans there to reconcile */
	remote_note_lender(r, node);
	ret = remote_with_conn(r, node, false, do_alloc, a);
	if (ret == 0 && (a->decoded < 0 || !a->out.count)) {
		log_warn_rl("remote: node %u sent a bad ALLOC reply", node);
		atomic_fetch_add(&r->errors, 1);
		ret = -EIO;
	}
	if (ret == 0)
		*got = a->out.count;
	return ret;
}

/*
 * One FREE or RECONCILE exchange of up to PROTO_BLOCK_MAX_IDX refs, on rc
 * when given (the keeper's), else on a connection checked out for it.
 */
static int list_call(struct remote *r, struct rconn *rc, uint32_t node,
		     uint8_t op, uint32_t flags,
		     const struct proto_block_ref *refs, uint32_t n,
		     uint8_t *rep, size_t rep_cap, size_t *got)
{
	uint8_t req[PROTO_BLOCK_MAX_IDX_MSG];
	struct iovec qiov = {req, 0}, piov = {rep, rep_cap};
	struct call cl = {
		.op = op,
		.req = &qiov,
		.nreq = 1,
		.rep = &piov,
		.nrep = 1,
		.rep_len = rep_cap,
		.quiet = rc != NULL,
	};
	int ret;

	ret = proto_block_list_encode(flags, refs, n, req, sizeof(req));
	if (ret < 0)
		return ret;
	qiov.iov_len = (size_t)ret;
	/* a FREE or a reconciliation may be repeated: it is idempotent */
	if (rc)
		ret = remote_transact(r, rc, &cl);
	else
		ret = remote_with_conn(r, node, true, remote_do_call, &cl);
	*got = cl.got;
	return ret;
}

int remote_free(struct remote *r, uint32_t node,
		const struct proto_block_ref *refs, uint32_t n)
{
	uint8_t rep[PROTO_BLOCK_COUNT_SIZE];
	uint32_t done = 0, chunk, freed;
	size_t got;
	int ret;

	/* no one-sided access of ours reaches them from now on */
	remote_rma_forget(r, node, refs, n);
	while (done < n) {
		chunk = MIN(n - done, PROTO_BLOCK_MAX_IDX);
		ret = list_call(r, NULL, node, WIRE_OP_FREE, 0, refs + done,
				chunk, rep, sizeof(rep), &got);
		if (ret < 0)
			return ret;
		if (proto_block_count_decode(rep, got, &freed) < 0)
			return -EIO;
		done += chunk;
	}
	return 0;
}

static int reconcile(struct remote *r, struct rconn *rc, uint32_t node,
		     uint32_t flags, const struct proto_block_ref *refs,
		     uint32_t n, struct proto_block_ref *missing,
		     uint32_t *nmissing)
{
	uint8_t rep[PROTO_BLOCK_MAX_IDX_MSG];
	uint32_t rflags;
	size_t got;
	int ret;

	*nmissing = 0;
	if (n > PROTO_BLOCK_MAX_IDX)
		return -EINVAL;
	ret = list_call(r, rc, node, WIRE_OP_RECONCILE, flags, refs, n, rep,
			sizeof(rep), &got);
	if (ret < 0)
		return ret;
	if (proto_block_list_decode(rep, got, 0, &rflags, missing, n,
				    nmissing) < 0 ||
	    rflags) {
		log_warn_rl("remote: node %u sent a bad RECONCILE reply", node);
		return rc ? -EPROTO : -EIO;
	}
	return 0;
}

int remote_reconcile(struct remote *r, uint32_t node, uint32_t flags,
		     const struct proto_block_ref *refs, uint32_t n,
		     struct proto_block_ref *missing, uint32_t *nmissing)
{
	return reconcile(r, NULL, node, flags, refs, n, missing, nmissing);
}

int remote_reconcile_on(struct remote *r, struct rconn *rc, uint32_t flags,
			const struct proto_block_ref *refs, uint32_t n,
			struct proto_block_ref *missing, uint32_t *nmissing)
{
	return reconcile(r, rc, rc->node->id, flags, refs, n, missing,
			 nmissing);
}

int remote_handover(struct remote *r, uint32_t node, struct proto_block_ref ref,
		    uint32_t owner, uint32_t *epoch)
{
	struct proto_block_handover ho = {.ref = ref, .to = owner};
	uint8_t req[PROTO_BLOCK_HANDOVER_SIZE], rep[PROTO_BLOCK_REF_SIZE];
	struct iovec qiov = {req, sizeof(req)}, piov = {rep, sizeof(rep)};
	struct call cl = {
		.op = WIRE_OP_HANDOVER,
		.req = &qiov,
		.nreq = 1,
		.rep = &piov,
		.nrep = 1,
		.rep_len = sizeof(rep),
		.rep_exact = true,
	};
	struct proto_block_ref out;
	int ret;

	ret = proto_block_handover_encode(&ho, req, sizeof(req));
	if (ret < 0)
		return ret;
	/* the provider revokes our window first: no one-sided access to it */
	remote_rma_forget(r, node, &ref, 1);
	ret = remote_with_conn(r, node, false, remote_do_call, &cl);
	if (ret < 0)
		return ret;
	if (proto_block_ref_decode(rep, cl.got, &out) < 0 ||
	    out.block != ref.block) {
		log_warn_rl("remote: node %u sent a bad HANDOVER reply", node);
		atomic_fetch_add(&r->errors, 1);
		return -EIO;
	}
	*epoch = out.epoch;
	return 0;
}

int remote_notice(struct remote *r, uint32_t node,
		  const struct proto_block_moved *mv)
{
	uint8_t req[PROTO_BLOCK_MOVED_SIZE];
	struct iovec qiov = {req, sizeof(req)};
	struct call cl = {
		.op = WIRE_OP_MOVE_NOTICE,
		.req = &qiov,
		.nreq = 1,
		.rep_exact = true,
	};
	int ret = proto_block_moved_encode(mv, req, sizeof(req));

	if (ret < 0)
		return ret;
	/* telling twice is harmless: the owner checks which loan it holds */
	return remote_with_conn(r, node, true, remote_do_call, &cl);
}

/* An exchange with no request payload and a count (or nothing) back. */
static int simple_call(struct remote *r, uint32_t node, uint8_t op,
		       uint32_t *count)
{
	uint8_t rep[PROTO_BLOCK_COUNT_SIZE];
	struct iovec piov = {rep, sizeof(rep)};
	struct call cl = {
		.op = op,
		.rep = count ? &piov : NULL,
		.nrep = count ? 1 : 0,
		.rep_len = count ? sizeof(rep) : 0,
		.rep_exact = true,
	};
	int ret = remote_with_conn(r, node, true, remote_do_call, &cl);

	if (ret < 0 || !count)
		return ret;
	return proto_block_count_decode(rep, cl.got, count) < 0 ? -EIO : 0;
}

int remote_ping(struct remote *r, uint32_t node)
{
	return simple_call(r, node, WIRE_OP_PING, NULL);
}

int remote_ping_on(struct remote *r, struct rconn *rc)
{
	struct call cl = {.op = WIRE_OP_PING, .rep_exact = true, .quiet = true};

	return remote_transact(r, rc, &cl);
}

int remote_goodbye(struct remote *r, uint32_t node, uint32_t *freed)
{
	uint32_t n = 0;
	int ret;

	remote_rma_forget_all(r, node);
	ret = simple_call(r, node, WIRE_OP_GOODBYE, &n);
	if (freed)
		*freed = n;
	return ret;
}

unsigned int remote_goodbye_all(struct remote *r)
{
	uint32_t ids[256], freed;
	unsigned int n = 0, told = 0;

	pthread_mutex_lock(&r->lock);
	for (unsigned int b = 0; b < REMOTE_BUCKETS; b++)
		for (struct remote_node *rn = r->buckets[b]; rn; rn = rn->hnext)
			if (rn->lent_to_us && rn->state != REMOTE_GONE &&
			    n < ARRAY_SIZE(ids))
				ids[n++] = rn->id;
	pthread_mutex_unlock(&r->lock);
	for (unsigned int i = 0; i < n; i++) {
		int ret = remote_goodbye(r, ids[i], &freed);

		if (ret < 0) {
			log_warn("remote: goodbye to node %u: %s (its lease "
				 "on us frees our blocks there later)",
				 ids[i], strerror(-ret));
			continue;
		}
		log_info("remote: said goodbye to node %u: %u of our blocks "
			 "there freed",
			 ids[i], freed);
		told++;
	}
	return told;
}
