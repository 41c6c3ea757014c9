// SPDX-License-Identifier: MIT
/*
 * The peer (block) service behind include/cmp/peer.h. It rides on the
 * generic connection server (connector/server.c): one thread per connection
 * reads a request, serves it from the store's memory and replies on the
 * same thread. This file is only the per-opcode handlers and the checks
 * that stand between network bytes and the store.
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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/peer.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "proto_block.h"

struct peer {
	struct server *srv;
	const struct peer_store_ops *ops;
	void *ctx;
	uint32_t node_id;
	uint32_t block_size;
};

/* Per-connection state; only its connection thread touches it. */
struct peer_conn {
	uint32_t owner; /* bound by the first request; 0 until */
	uint8_t msg[PROTO_BLOCK_MAX_IDX_MSG];
	uint32_t idx[PROTO_BLOCK_MAX_IDX];
	struct proto_block_extent ext[PROTO_BLOCK_MAX_BATCH];
	struct iovec iov[PROTO_BLOCK_MAX_BATCH + 1];
};

_Static_assert(PROTO_BLOCK_MAX_IDX_MSG >= PROTO_BLOCK_MAX_BATCH_HDR,
	       "msg holds a batch prefix");

typedef int (*peer_handler_fn)(struct peer *p, struct server_conn *sc,
			       const struct wire_hdr *h);

/*
 * A payload the decoder refused: the stream may be out of step, so answer
 * with the reason (the owner gets a clean errno) and close the connection;
 * the server logs the one line naming the peer.
 */
static int refuse_and_close(struct server_conn *sc, const struct wire_hdr *h,
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
static int read_failed(struct server_conn *sc, const struct wire_hdr *h,
		       int err)
{
	if (err == -EBADMSG)
		return refuse_and_close(sc, h, err);
	return err;
}

/* Reads the next len bytes of h's payload (the rest follows later). */
static int read_prefix(struct server_conn *sc, const struct wire_hdr *h,
		       void *buf, size_t len)
{
	struct conn *c = server_conn_conn(sc);
	int ret;

	if (wire_payload_left(c) < len)
		return -EBADMSG;
	ret = wire_read(c, buf, len);
	return ret < 0 ? read_failed(sc, h, ret) : 0;
}

static const char *status_text(uint32_t st)
{
	switch (st) {
	case WIRE_S_PERM:
		return "owner does not match the connection";
	case WIRE_S_MOVED:
		return "moved on";
	default:
		return "not its block";
	}
}

/*
 * May `owner` touch `block` on this connection? Returns a wire status;
 * fills *mv for WIRE_S_MOVED. The first owner id seen binds the connection.
 */
static uint32_t check_block(struct peer *p, struct peer_conn *pc,
			    uint32_t owner, uint32_t block,
			    struct proto_block_moved *mv)
{
	if (!pc->owner)
		pc->owner = owner;
	if (pc->owner != owner)
		return WIRE_S_PERM;
	if (p->ops->owns(p->ctx, block, owner))
		return WIRE_S_OK;
	if (p->ops->moved && p->ops->moved(p->ctx, block, owner, mv) == 0) {
		mv->from = block;
		return WIRE_S_MOVED;
	}
	return WIRE_S_NOENT;
}

/* Answers a refused block access; logged once here with the numbers. */
static int reply_refused(struct server_conn *sc, const struct wire_hdr *h,
			 uint32_t st, uint32_t owner, uint32_t block,
			 const struct proto_block_moved *mv)
{
	uint8_t buf[PROTO_BLOCK_MOVED_SIZE];
	struct iovec iov = {buf, 0};
	int n;

	if (st == WIRE_S_MOVED) {
		n = proto_block_moved_encode(mv, buf, sizeof(buf));
		if (n < 0) {
			log_error("peer: block %u of owner %u moved to a bad "
				  "address; answering NOENT",
				  block, owner);
			st = WIRE_S_NOENT;
		} else {
			iov.iov_len = n;
		}
	}
	if (st == WIRE_S_MOVED)
		log_info("peer: %s: %s block %u of owner %u: moved to node %u "
			 "block %u",
			 server_conn_peer(sc), wire_op_name(h->op), block,
			 owner, mv->node, mv->block);
	else
		log_warn("peer: %s: %s block %u by owner %u refused: %s",
			 server_conn_peer(sc), wire_op_name(h->op), block,
			 owner, status_text(st));
	return server_reply(sc, h, st, &iov, iov.iov_len ? 1 : 0);
}

static int handle_ping(struct peer *p, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	int ret = server_skip_payload(sc, h);

	if (ret < 0)
		return ret;
	return server_reply(sc, h, WIRE_S_OK, NULL, 0);
}

static int handle_status(struct peer *p, struct server_conn *sc,
			 const struct wire_hdr *h)
{
	/*
	 * No region: one-sided access is granted per loan (conn_rma_grant),
	 * never to the whole store; until then owners use messages.
	 */
	struct proto_block_status st = {
		.node = p->node_id,
		.block_size = p->block_size,
	};
	uint8_t buf[PROTO_BLOCK_STATUS_REP_SIZE];
	struct iovec iov = {buf, sizeof(buf)};
	int ret;

	ret = server_skip_payload(sc, h);
	if (ret < 0)
		return ret;
	if (h->len)
		return refuse_and_close(sc, h, -EMSGSIZE);
	p->ops->counts(p->ctx, &st.total, &st.free);
	proto_block_status_encode(&st, buf, sizeof(buf));
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

static int handle_alloc(struct peer *p, struct server_conn *sc,
			const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_alloc_req req;
	struct proto_block_alloc_rep rep = {0}; /* no region: see STATUS */
	struct iovec iov = {pc->msg, 0};
	int ret;

	ret = server_read_payload(sc, h, pc->msg, PROTO_BLOCK_ALLOC_REQ_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_alloc_req_decode(pc->msg, h->len, &req);
	if (ret < 0)
		return refuse_and_close(sc, h, ret);
	if (!pc->owner)
		pc->owner = req.owner;
	if (pc->owner != req.owner)
		return reply_refused(sc, h, WIRE_S_PERM, req.owner, 0, NULL);
	ret = p->ops->alloc(p->ctx, req.owner, req.n, pc->idx);
	if (ret < 0) {
		log_debug("peer: %s: owner %u wanted %u blocks: %s",
			  server_conn_peer(sc), req.owner, req.n,
			  strerror(-ret));
		return server_reply(sc, h, wire_status_from_errno(ret), NULL,
				    0);
	}
	rep.count = ret;
	ret = proto_block_alloc_rep_encode(&rep, pc->idx, pc->msg,
					   sizeof(pc->msg));
	if (ret < 0)
		return ret;
	iov.iov_len = ret;
	log_debug("peer: %s: lent %u blocks to owner %u", server_conn_peer(sc),
		  rep.count, req.owner);
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

static int handle_free(struct peer *p, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_moved mv;
	uint32_t owner, n, st;
	int ret;

	ret = server_read_payload(sc, h, pc->msg, sizeof(pc->msg));
	if (ret < 0)
		return ret;
	ret = proto_block_free_req_decode(pc->msg, h->len, &owner, pc->idx,
					  PROTO_BLOCK_MAX_IDX, &n);
	if (ret < 0)
		return refuse_and_close(sc, h, ret);
	/* all or nothing: refuse the whole request on the first stranger */
	for (uint32_t i = 0; i < n; i++) {
		st = check_block(p, pc, owner, pc->idx[i], &mv);
		if (st != WIRE_S_OK)
			return reply_refused(sc, h, st, owner, pc->idx[i], &mv);
	}
	p->ops->free(p->ctx, owner, pc->idx, n);
	return server_reply(sc, h, WIRE_S_OK, NULL, 0);
}

static int handle_read(struct peer *p, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_moved mv;
	struct proto_block_rw rw;
	struct iovec iov;
	uint32_t st;
	int ret;

	ret = server_read_payload(sc, h, pc->msg, PROTO_BLOCK_RW_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_rw_decode(pc->msg, h->len, h->len, false,
				    p->block_size, &rw);
	if (ret < 0)
		return refuse_and_close(sc, h, ret);
	st = check_block(p, pc, rw.owner, rw.block, &mv);
	if (st != WIRE_S_OK)
		return reply_refused(sc, h, st, rw.owner, rw.block, &mv);
	/* header and the bytes straight from the block: one writev */
	iov.iov_base = (uint8_t *)p->ops->ptr(p->ctx, rw.block) + rw.off;
	iov.iov_len = rw.len;
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

/* Receives the data of one or more ranges into dst (see the top). */
static int recv_data(struct server_conn *sc, const struct wire_hdr *h,
		     const struct iovec *dst, int ndst)
{
	int ret = wire_readv(server_conn_conn(sc), dst, ndst);

	return ret < 0 ? read_failed(sc, h, ret) : 0;
}

static int handle_write(struct peer *p, struct server_conn *sc,
			const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_moved mv;
	struct proto_block_rw rw;
	struct iovec dst;
	uint32_t st;
	int ret;

	ret = read_prefix(sc, h, pc->msg, PROTO_BLOCK_RW_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_rw_decode(pc->msg, PROTO_BLOCK_RW_SIZE, h->len, true,
				    p->block_size, &rw);
	if (ret < 0)
		return refuse_and_close(sc, h, ret);
	st = check_block(p, pc, rw.owner, rw.block, &mv);
	if (st != WIRE_S_OK) {
		ret = server_skip_payload(sc, h);
		if (ret < 0)
			return read_failed(sc, h, ret);
		return reply_refused(sc, h, st, rw.owner, rw.block, &mv);
	}
	dst.iov_base = (uint8_t *)p->ops->ptr(p->ctx, rw.block) + rw.off;
	dst.iov_len = rw.len;
	ret = recv_data(sc, h, &dst, 1);
	if (ret < 0)
		return ret;
	return server_reply(sc, h, WIRE_S_OK, NULL, 0);
}

static int handle_batch(struct peer *p, struct server_conn *sc,
			const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	bool write = h->op == WIRE_OP_WRITE_BATCH;
	struct proto_block_moved mv;
	struct proto_block_batch b;
	int hdr_len, ret;
	uint32_t st = WIRE_S_OK, bad = 0;

	ret = read_prefix(sc, h, pc->msg, PROTO_BLOCK_BATCH_SIZE);
	if (ret < 0)
		return ret;
	hdr_len = proto_block_batch_prefix(pc->msg, PROTO_BLOCK_BATCH_SIZE);
	if (hdr_len < 0)
		return refuse_and_close(sc, h, hdr_len);
	if (h->len < (uint32_t)hdr_len)
		return refuse_and_close(sc, h, -EMSGSIZE);
	/* a READ_BATCH payload is verified as this read completes it */
	ret = read_prefix(sc, h, pc->msg + PROTO_BLOCK_BATCH_SIZE,
			  hdr_len - PROTO_BLOCK_BATCH_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_batch_decode(pc->msg, hdr_len, h->len, write,
				       p->block_size, &b, pc->ext,
				       PROTO_BLOCK_MAX_BATCH);
	if (ret < 0)
		return refuse_and_close(sc, h, ret);
	for (uint32_t i = 0; i < b.n; i++) {
		bad = pc->ext[i].block;
		st = check_block(p, pc, b.owner, bad, &mv);
		if (st != WIRE_S_OK)
			break;
		pc->iov[i].iov_base =
			(uint8_t *)p->ops->ptr(p->ctx, bad) + pc->ext[i].off;
		pc->iov[i].iov_len = pc->ext[i].len;
	}
	if (st != WIRE_S_OK) {
		ret = server_skip_payload(sc, h);
		if (ret < 0)
			return read_failed(sc, h, ret);
		return reply_refused(sc, h, st, b.owner, bad, &mv);
	}
	if (!write)
		return server_reply(sc, h, WIRE_S_OK, pc->iov, b.n);
	ret = recv_data(sc, h, pc->iov, b.n);
	if (ret < 0)
		return ret;
	return server_reply(sc, h, WIRE_S_OK, NULL, 0);
}

/* Known opcodes this service does not serve (manager messages). */
static int handle_other(struct peer *p, struct server_conn *sc,
			const struct wire_hdr *h)
{
	int ret = server_skip_payload(sc, h);

	if (ret < 0)
		return ret;
	return refuse_and_close(sc, h, -EOPNOTSUPP);
}

/* The requests this service answers, defined once: X(opcode, handler). */
#define PEER_OPS(X)                 \
	X(PING, handle_ping)        \
	X(STATUS, handle_status)    \
	X(ALLOC, handle_alloc)      \
	X(FREE, handle_free)        \
	X(READ, handle_read)        \
	X(WRITE, handle_write)      \
	X(READ_BATCH, handle_batch) \
	X(WRITE_BATCH, handle_batch)

static const peer_handler_fn handlers[WIRE_OP_MAX] = {
#define PEER_OP_ENTRY(op, fn) [WIRE_OP_##op] = fn,
	PEER_OPS(PEER_OP_ENTRY)
#undef PEER_OP_ENTRY
};

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
	return fn(p, sc, h);
}

static int peer_open(void *ctx, struct server_conn *sc)
{
	struct peer_conn *pc;

	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	server_conn_set_data(sc, pc);
	return 0;
}

static void peer_close(void *ctx, struct server_conn *sc)
{
	struct peer_conn *pc = server_conn_data(sc);

	server_conn_set_data(sc, NULL);
	free(pc);
}

struct peer *peer_create(const struct peer_config *cfg)
{
	struct server_config scfg = {
		.listen_addr = cfg ? cfg->listen_addr : NULL,
		.keyring = cfg ? cfg->keyring : NULL,
		.node_id = cfg ? cfg->node_id : 0,
		.incarnation = cmp_incarnation(),
		.name = "peer",
		.handle = peer_handle,
		.on_open = peer_open,
		.on_close = peer_close,
	};
	const struct peer_store_ops *ops = cfg ? cfg->ops : NULL;
	struct peer *p;

	if (!cfg || !cfg->listen_addr || !cfg->node_id ||
	    !proto_block_size_valid(cfg->block_size) || !ops || !ops->alloc ||
	    !ops->free || !ops->ptr || !ops->owns || !ops->release_owner ||
	    !ops->counts) {
		log_error("peer: invalid configuration");
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->ops = ops;
	p->ctx = cfg->ctx;
	p->node_id = cfg->node_id;
	p->block_size = cfg->block_size;
	scfg.ctx = p;
	if (cfg->limits)
		scfg.limits = *cfg->limits;
	p->srv = server_create(&scfg);
	if (!p->srv) {
		int err = errno;

		free(p);
		errno = err;
		return NULL;
	}
	return p;
}

const char *peer_listen_addr(const struct peer *p)
{
	return server_addr(p->srv);
}

uint32_t peer_owner_dead(struct peer *p, uint32_t owner)
{
	uint32_t n = p->ops->release_owner(p->ctx, owner);

	log_info("peer: owner node %u is dead: freed its %u blocks", owner, n);
	return n;
}

void peer_destroy(struct peer *p)
{
	if (!p)
		return;
	server_destroy(p->srv);
	free(p);
}
