// SPDX-License-Identifier: MIT
/*
 * The peer (block) service behind include/cmp/peer.h. It rides on the
 * generic connection server (connector/server.c): one thread per
 * connection reads a request, serves it from the store's memory and
 * replies on the same thread. This file is the per-opcode handlers and the
 * one checkpoint that stands between network bytes and the store: every
 * block access goes through loans_pin() (owner from the handshake, block,
 * epoch) and holds the block until its copy is done, so nothing that ends
 * a loan can give the block to someone else in the middle of the copy.
 *
 * Payloads are read through the connector's payload cursor
 * (include/cmp/wire.h), straight into their destination, WRITE data into
 * the block. Sealed mode (a cluster key) verifies every record of a frame
 * in the connection's staging buffer before any of its bytes reach the
 * block, and the frame's header and range header are verified before
 * anything acts on them: a tampered, replayed or truncated frame changes no
 * block byte, and closes the connection. Insecure mode (a trusted network)
 * verifies the payload's XXH3 at the end: on a mismatch the range written
 * holds the corrupted bytes. The owner is told (WIRE_S_BADMSG), the
 * connection is closed, and the owner must treat that range as lost until
 * it rewrites it, exactly as after a failed write to a disk. (There, the
 * range header is acted on before the checksum covering it is known: the
 * price of a trusted network's single pass over the data.)
 *
 * On RDMA, an ALLOC may ask for a memory window per loan on its own
 * connection (grants.h): the owner then reads and writes that block
 * one-sided, and the window is revoked before the block goes back to the
 * store (peer-loans.c), so one-sided access ends with the loan too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/peer.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "grants.h"
#include "peer-internal.h"

/* How long a fence waits for the owner's old connection(s) to end. */
#define PEER_FENCE_MS 3000

/*
 * A payload the decoder refused: the stream may be out of step, so answer
 * with the reason (the owner gets a clean errno) and close the connection;
 * the server logs the one line naming the peer.
 */
int peer_refuse_and_close(struct server_conn *sc, const struct wire_hdr *h,
			  int err)
{
	/* a payload of the wrong size is an invalid request too */
	uint32_t st =
		err == -EMSGSIZE ? WIRE_S_INVAL : wire_status_from_errno(err);

	server_reply(sc, h, st, NULL, 0);
	return err;
}

/*
 * A payload read failed: a payload that failed verification is answered
 * (the owner gets a clean errno) before the connection closes; anything
 * else (the connection broke) just closes it.
 */
int peer_read_failed(struct server_conn *sc, const struct wire_hdr *h, int err)
{
	if (err == -EBADMSG)
		return peer_refuse_and_close(sc, h, err);
	return err;
}

/* Reads a whole small payload (at most cap bytes) into buf. */
int peer_read_all(struct server_conn *sc, const struct wire_hdr *h, void *buf,
		  size_t cap)
{
	int ret = server_read_payload(sc, h, buf, cap);

	if (ret == -EMSGSIZE)
		return peer_refuse_and_close(sc, h, ret);
	return ret < 0 ? peer_read_failed(sc, h, ret) : 0;
}

int peer_reply_refused(struct server_conn *sc, const struct wire_hdr *h,
		       uint32_t st, uint32_t owner, uint32_t block,
		       const struct proto_block_moved *mv)
{
	uint8_t buf[PROTO_BLOCK_MOVED_SIZE];
	struct iovec iov = {buf, 0};
	int n;

	if (st == WIRE_S_MOVED) {
		n = proto_block_moved_encode(mv, buf, sizeof(buf));
		if (n < 0) {
			log_error_rl("peer: block %u of owner %u moved to a "
				     "bad address; answering STALE",
				     block, owner);
			st = WIRE_S_STALE;
		} else {
			iov.iov_len = n;
		}
	}
	if (st == WIRE_S_MOVED)
		log_info_rl("peer: %s: %s block %u of owner %u: moved to node "
			    "%u block %u",
			    server_conn_peer(sc), wire_op_name(h->op), block,
			    owner, mv->node, mv->block);
	else if (st == WIRE_S_BUSY)
		log_debug("peer: %s: %s block %u of owner %u: being moved",
			  server_conn_peer(sc), wire_op_name(h->op), block,
			  owner);
	else
		log_warn_rl("peer: %s: %s block %u by owner %u refused: %s",
			    server_conn_peer(sc), wire_op_name(h->op), block,
			    owner, wire_status_name(st));
	return server_reply(sc, h, st, &iov, iov.iov_len ? 1 : 0);
}

void peer_node_addr(struct peer *p, uint32_t node, char *addr)
{
	addr[0] = '\0';
	if (p->ops->node_addr && p->ops->node_addr(p->ctx, node, addr) < 0)
		addr[0] = '\0';
	addr[PROTO_BLOCK_ADDR_LEN - 1] = '\0';
}

/* Requests that make or use loans need an owner: tools have none. */
int peer_need_owner(struct server_conn *sc, const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	int ret;

	if (pc->owner)
		return 0;
	ret = server_skip_payload(sc, h);
	if (ret < 0)
		return peer_read_failed(sc, h, ret);
	log_warn_rl("peer: %s: %s from a connection without a node id refused",
		    server_conn_peer(sc), wire_op_name(h->op));
	server_reply(sc, h, WIRE_S_PERM, NULL, 0);
	return 1;
}

static int reply_count(struct server_conn *sc, const struct wire_hdr *h,
		       uint32_t count)
{
	uint8_t buf[PROTO_BLOCK_COUNT_SIZE];
	struct iovec iov = {buf, sizeof(buf)};

	proto_block_count_encode(count, buf, sizeof(buf));
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

static int handle_ping(struct peer *p, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	int ret = server_skip_payload(sc, h);

	if (ret < 0)
		return peer_read_failed(sc, h, ret);
	if (pc->owner)
		loans_touch(p->loans, pc->owner, cmp_now_ns());
	return server_reply(sc, h, WIRE_S_OK, NULL, 0);
}

static int handle_status(struct peer *p, struct server_conn *sc,
			 const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	/* No region: one-sided access is per loan (ALLOC), never the store. */
	struct proto_block_status st = {
		.node = p->node_id,
		.block_size = p->block_size,
		.lease_ms = p->lease_ms,
		.incarnation = p->incarnation,
	};
	uint8_t buf[PROTO_BLOCK_STATUS_REP_SIZE];
	struct iovec iov = {buf, sizeof(buf)};
	int ret;

	if (h->len)
		return peer_refuse_and_close(sc, h, -EMSGSIZE);
	ret = server_skip_payload(sc, h);
	if (ret < 0)
		return peer_read_failed(sc, h, ret);
	if (pc->owner)
		loans_touch(p->loans, pc->owner, cmp_now_ns());
	p->ops->counts(p->ctx, &st.total, &st.free);
	proto_block_status_encode(&st, buf, sizeof(buf));
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

/* The loans made: {count, flags, base, len} + refs [+ rkeys]. */
static int reply_lent(struct peer *p, struct server_conn *sc,
		      const struct wire_hdr *h, uint32_t got, uint32_t windows)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_alloc_rep rep = {.count = got};
	struct iovec iov = {pc->msg, 0};
	int ret;

	if (windows) {
		rep.flags = PROTO_BLOCK_ALLOC_WINDOWS;
		grants_store(p->grants, &rep.base, &rep.len);
	}
	for (uint32_t i = 0; i < got; i++)
		pc->refs[i] =
			(struct proto_block_ref){pc->idx[i], pc->epoch[i]};
	ret = proto_block_alloc_rep_encode(&rep, pc->refs, pc->rkey, pc->msg,
					   sizeof(pc->msg));
	if (ret < 0)
		return ret;
	iov.iov_len = (size_t)ret;
	log_debug("peer: %s: lent %u blocks to owner %u (%u windows)",
		  server_conn_peer(sc), got, pc->owner, windows);
	/*
	 * A reply lost on the way leaves loans the owner does not know of:
	 * its reconciliation after the reconnect, or its lease, ends them
	 * (and their windows).
	 */
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

static int handle_alloc(struct peer *p, struct server_conn *sc,
			const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	uint32_t n, flags, windows = 0;
	int ret, got;

	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = peer_read_all(sc, h, pc->msg, PROTO_BLOCK_ALLOC_REQ_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_alloc_req_decode(pc->msg, h->len, &n, &flags);
	if (ret < 0)
		return peer_refuse_and_close(sc, h, ret);
	got = p->ops->alloc(p->ctx, pc->owner, n, pc->idx);
	if (got < 0) {
		log_debug("peer: %s: owner %u wanted %u blocks: %s",
			  server_conn_peer(sc), pc->owner, n, strerror(-got));
		loans_touch(p->loans, pc->owner, cmp_now_ns());
		return server_reply(sc, h, wire_status_from_errno(got), NULL,
				    0);
	}
	/* windows before the loans: nothing can end a loan not yet made */
	if (flags & PROTO_BLOCK_ALLOC_WINDOWS)
		windows = grants_grant(p->grants, pc->gc, pc->idx,
				       (uint32_t)got, pc->rkey);
	/* a block written one-sided changes behind our back: not checked */
	for (int i = 0; i < got; i++)
		peer_csum_reset(p->csum, pc->idx[i], windows != 0);
	ret = loans_lend(p->loans, pc->owner, pc->idx, (uint32_t)got, pc->epoch,
			 cmp_now_ns());
	if (ret < 0) {
		/* the owner table is full: windows and blocks go back */
		peer_release_blocks(p, pc->idx, (uint32_t)got);
		log_warn_rl("peer: %s: cannot lend to owner %u: %s",
			    server_conn_peer(sc), pc->owner, strerror(-ret));
		return server_reply(sc, h, wire_status_from_errno(ret), NULL,
				    0);
	}
	return reply_lent(p, sc, h, (uint32_t)got, windows);
}

static int handle_free(struct peer *p, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	uint32_t flags, n, freed;
	int ret;

	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = peer_read_all(sc, h, pc->msg, sizeof(pc->msg));
	if (ret < 0)
		return ret;
	ret = proto_block_list_decode(pc->msg, h->len, 1, &flags, pc->refs,
				      PROTO_BLOCK_MAX_IDX, &n);
	if (ret < 0 || flags)
		return peer_refuse_and_close(sc, h, ret < 0 ? ret : -EINVAL);
	/* stale entries are skipped: a retried FREE is harmless */
	freed = loans_free(p->loans, pc->owner, pc->refs, n, cmp_now_ns());
	/* a FREE of a loan that moved on asks for one more notice */
	if (p->ops->notices_due && loans_forwarding_to(p->loans, pc->owner))
		p->ops->notices_due(p->ctx);
	return reply_count(sc, h, freed);
}

static int handle_reconcile(struct peer *p, struct server_conn *sc,
			    const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct iovec iov = {pc->msg, 0};
	uint32_t flags, n, nmissing, freed = 0;
	int ret;

	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = peer_read_all(sc, h, pc->msg, sizeof(pc->msg));
	if (ret < 0)
		return ret;
	ret = proto_block_list_decode(pc->msg, h->len, 0, &flags, pc->refs,
				      PROTO_BLOCK_MAX_IDX, &n);
	if (ret < 0)
		return peer_refuse_and_close(sc, h, ret);
	if ((flags & PROTO_BLOCK_RECONCILE_FENCE) &&
	    server_fence_node(sc, PEER_FENCE_MS) < 0)
		return server_reply(sc, h, WIRE_S_BUSY, NULL, 0);
	if (flags & PROTO_BLOCK_RECONCILE_FIRST)
		loans_reconcile_begin(p->loans, pc->owner, cmp_now_ns());
	nmissing = loans_reconcile_mark(p->loans, pc->owner, pc->refs, n,
					pc->missing, cmp_now_ns());
	if (flags & PROTO_BLOCK_RECONCILE_LAST) {
		freed = loans_reconcile_end(p->loans, pc->owner);
		log_info("peer: owner node %u reconciled: it holds %u blocks "
			 "here; %u it no longer claimed were freed",
			 pc->owner, loans_lent_to(p->loans, pc->owner), freed);
	}
	ret = proto_block_list_encode(0, pc->missing, nmissing, pc->msg,
				      sizeof(pc->msg));
	if (ret < 0)
		return ret;
	iov.iov_len = (size_t)ret;
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

static int handle_goodbye(struct peer *p, struct server_conn *sc,
			  const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	uint32_t freed;
	int ret;

	if (h->len)
		return peer_refuse_and_close(sc, h, -EMSGSIZE);
	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	freed = loans_free_owner(p->loans, pc->owner);
	log_info("peer: owner node %u left: its %u blocks here are freed",
		 pc->owner, freed);
	return reply_count(sc, h, freed);
}

/*
 * The owner saw one of its connections break with a WRITE in flight and
 * will send that write again on this one. Whatever of the old frame is
 * still on its way here (in a socket buffer, or half copied by that
 * connection's thread) must not reach the block after the new write: so
 * that connection ends, and its thread is done, before this answers OK.
 * Only a FENCE waits; writes never do.
 */
static int handle_fence(struct peer *p, struct server_conn *sc,
			const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	uint64_t session;
	int ret;

	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = peer_read_all(sc, h, pc->msg, PROTO_BLOCK_FENCE_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_fence_decode(pc->msg, h->len, &session);
	if (ret < 0)
		return peer_refuse_and_close(sc, h, ret);
	loans_touch(p->loans, pc->owner, cmp_now_ns());
	if (server_fence_conn(sc, session, PEER_FENCE_MS) < 0)
		return server_reply(sc, h, WIRE_S_BUSY, NULL, 0);
	return server_reply(sc, h, WIRE_S_OK, NULL, 0);
}

/* Known opcodes this service does not serve (manager messages). */
static int handle_other(struct peer *p, struct server_conn *sc,
			const struct wire_hdr *h)
{
	int ret = server_skip_payload(sc, h);

	if (ret < 0)
		return peer_read_failed(sc, h, ret);
	return peer_refuse_and_close(sc, h, -EOPNOTSUPP);
}

/* The requests this service answers, defined once: X(opcode, handler). */
#define PEER_OPS(X)                        \
	X(PING, handle_ping)               \
	X(STATUS, handle_status)           \
	X(ALLOC, handle_alloc)             \
	X(FREE, handle_free)               \
	X(READ, peer_handle_read)          \
	X(WRITE, peer_handle_write)        \
	X(READ_BATCH, peer_handle_batch)   \
	X(WRITE_BATCH, peer_handle_batch)  \
	X(RECONCILE, handle_reconcile)     \
	X(GOODBYE, handle_goodbye)         \
	X(HANDOVER, peer_handle_handover)  \
	X(MOVE_NOTICE, peer_handle_notice) \
	X(DRAIN, peer_handle_drain)        \
	X(FENCE, handle_fence)

static const peer_handler_fn handlers[WIRE_OP_MAX] = {
#define PEER_OP_ENTRY(op, fn) [WIRE_OP_##op] = fn,
	PEER_OPS(PEER_OP_ENTRY)
#undef PEER_OP_ENTRY
};

/* Stepped mode: the request gets the peer's staging, then gives it back. */
static int handle_stepped(struct peer *p, struct server_conn *sc,
			  const struct wire_hdr *h, peer_handler_fn fn)
{
	struct peer_conn_id *id = server_conn_data(sc);
	struct peer_conn *pc = p->staging;
	int ret;

	/* (no handler ends up in another one of the same peer; if one did) */
	if (p->staging_busy && !(pc = calloc(1, sizeof(*pc))))
		return -ENOMEM;
	if (pc == p->staging)
		p->staging_busy = true;
	pc->owner = id->owner;
	pc->gc = id->gc;
	server_conn_set_data(sc, pc);
	ret = fn(p, sc, h);
	server_conn_set_data(sc, id);
	if (pc == p->staging)
		p->staging_busy = false;
	else
		free(pc);
	return ret;
}

static int peer_handle(void *ctx, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	struct peer *p = ctx;
	peer_handler_fn fn;

	/* a reply or push has no business arriving at a server */
	if (h->flags & WIRE_F_REPLY)
		return -EBADMSG;
	fn = h->op < WIRE_OP_MAX ? handlers[h->op] : NULL;
	if (!fn)
		fn = handle_other;
	return p->stepped ? handle_stepped(p, sc, h, fn) : fn(p, sc, h);
}

static int peer_open(void *ctx, struct server_conn *sc)
{
	struct peer *p = ctx;
	struct peer_conn_id *id;
	struct peer_conn *pc;

	if (p->stepped) {
		id = calloc(1, sizeof(*id));
		if (!id)
			return -ENOMEM;
		id->owner = conn_peer_node(server_conn_conn(sc));
		if (id->owner)
			id->gc = grants_conn_open(p->grants,
						  server_conn_conn(sc));
		server_conn_set_data(sc, id);
		return 0;
	}
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->owner = conn_peer_node(server_conn_conn(sc));
	if (pc->owner)
		pc->gc = grants_conn_open(p->grants, server_conn_conn(sc));
	server_conn_set_data(sc, pc);
	return 0;
}

static void peer_close(void *ctx, struct server_conn *sc)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct peer *p = ctx;

	/* the loans stay; their windows on this connection end now */
	if (p->stepped) {
		struct peer_conn_id *id = server_conn_data(sc);

		grants_conn_close(p->grants, id->gc);
		server_conn_set_data(sc, NULL);
		free(id);
		return;
	}
	grants_conn_close(p->grants, pc->gc);
	server_conn_set_data(sc, NULL);
	free(pc);
}

static bool config_valid(const struct peer_config *cfg)
{
	const struct peer_store_ops *ops = cfg ? cfg->ops : NULL;

	return cfg && cfg->listen_addr && cfg->node_id &&
	       proto_block_size_valid(cfg->block_size) && ops && ops->alloc &&
	       ops->free && ops->ptr && ops->counts &&
	       !ops->journal == !ops->kept;
}

/* The blocks' checksums (peer-csum.c), as many as the loan table's. */
static int start_csum(struct peer *p)
{
	uint32_t total, nfree;

	p->ops->counts(p->ctx, &total, &nfree);
	p->csum = peer_csum_create(MAX(total, p->max_blocks), p->block_size);
	return p->csum ? 0 : -errno;
}

struct peer *peer_create(const struct peer_config *cfg)
{
	struct server_config scfg = {
		.listen_addr = cfg ? cfg->listen_addr : NULL,
		.keyring = cfg ? cfg->keyring : NULL,
		.node_id = cfg ? cfg->node_id : 0,
		.incarnation = cfg && cfg->incarnation ? cfg->incarnation
						       : cmp_incarnation(),
		.name = "peer",
		.handle = peer_handle,
		.on_open = peer_open,
		.on_close = peer_close,
	};
	struct peer *p;
	int err;

	if (!config_valid(cfg)) {
		log_error("peer: invalid configuration");
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->ops = cfg->ops;
	p->ctx = cfg->ctx;
	p->node_id = cfg->node_id;
	p->block_size = cfg->block_size;
	p->lease_ms = cfg->lease_ms ? cfg->lease_ms : PEER_DEFAULT_LEASE_MS;
	p->max_blocks = cfg->max_blocks;
	p->incarnation = scfg.incarnation;
	err = peer_loans_start(p, cfg->listen_addr);
	if (err)
		goto err_free_peer;
	err = start_csum(p);
	if (err)
		goto err_stop_loans;
	if (p->stepped && !(p->staging = calloc(1, sizeof(*p->staging)))) {
		err = -ENOMEM;
		goto err_stop_loans;
	}
	scfg.ctx = p;
	if (cfg->limits)
		scfg.limits = *cfg->limits;
	p->srv = server_create(&scfg);
	if (!p->srv) {
		err = -errno;
		goto err_stop_loans;
	}
	return p;

err_stop_loans:
	free(p->staging);
	peer_csum_destroy(p->csum);
	peer_loans_stop(p);
err_free_peer:
	free(p);
	errno = -err;
	return NULL;
}

const char *peer_listen_addr(const struct peer *p)
{
	return server_addr(p->srv);
}

uint32_t peer_lent(struct peer *p)
{
	return loans_lent(p->loans);
}

uint32_t peer_lent_to(struct peer *p, uint32_t owner)
{
	return loans_lent_to(p->loans, owner);
}

uint32_t peer_windows(struct peer *p)
{
	return grants_live(p->grants);
}

uint64_t peer_meta_bytes(struct peer *p)
{
	return sizeof(*p) + loans_meta_bytes(p->loans);
}

void peer_destroy(struct peer *p)
{
	if (!p)
		return;
	/* every connection closes first, revoking its windows */
	server_destroy(p->srv);
	peer_loans_stop(p);
	peer_csum_destroy(p->csum);
	free(p->staging);
	free(p);
}

/* For metrics and cmpctl top: what the block server moved. */
void peer_get_server_stats(struct peer *p, struct server_stats *out)
{
	server_get_stats(p->srv, out);
}

uint64_t peer_checksum_errors(struct peer *p)
{
	return peer_csum_mismatches(p->csum);
}

uint32_t peer_test_corrupt(struct peer *p, uint32_t max)
{
	uint32_t total, nfree, owner, epoch, n = 0;

	p->ops->counts(p->ctx, &total, &nfree);
	total = MAX(total, p->max_blocks);
	for (uint32_t b = 0; b < total && n < max; b++)
		if (loans_holder(p->loans, b, &owner, &epoch) &&
		    peer_csum_corrupt(p->csum, b, p->ops->ptr(p->ctx, b)))
			n++;
	log_warn("peer: test hook: flipped a byte in %u blocks held, "
		 "their checksums left as they were",
		 n);
	return n;
}
