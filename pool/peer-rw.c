// SPDX-License-Identifier: MIT
/*
 * The peer service's data path (peer.c has the rest): READ, WRITE,
 * READ_BATCH and WRITE_BATCH, straight from and into the store's memory,
 * each block pinned (loans_pin()) for exactly the time the request
 * touches it. Every page a write touches gets its checksum again, every
 * page a read touches is verified against its own (peer-csum.c): a block
 * whose bytes changed in our memory is answered CORRUPT, never served.
 */
#include <errno.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/peer.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "peer-internal.h"

/* Reads the next len bytes of h's payload (the rest follows later). */
static int read_prefix(struct server_conn *sc, const struct wire_hdr *h,
		       void *buf, size_t len)
{
	struct conn *c = server_conn_conn(sc);
	int ret;

	if (wire_payload_left(c) < len)
		return peer_refuse_and_close(sc, h, -EMSGSIZE);
	ret = wire_read(c, buf, len);
	return ret < 0 ? peer_read_failed(sc, h, ret) : 0;
}

/*
 * The wire status for a refused pin: a loan that moved on (principle 5)
 * is MOVED with *mv filled from its forwarding record; any other loan that
 * is not the owner's any more is STALE, one being moved right now BUSY.
 */
static uint32_t refused_status(struct peer *p, int err,
			       struct proto_block_ref r,
			       const struct peer_loan *to,
			       struct proto_block_moved *mv)
{
	if (err != -EREMCHG)
		return wire_status_from_errno(err);
	*mv = (struct proto_block_moved){
		.from = r.block,
		.from_epoch = r.epoch,
		.node = to->node,
		.block = to->block,
		.epoch = to->epoch,
	};
	peer_node_addr(p, to->node, mv->addr);
	return WIRE_S_MOVED;
}

int peer_handle_read(struct peer *p, struct server_conn *sc,
		     const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_moved mv;
	struct proto_block_rw rw;
	struct peer_loan to;
	struct iovec iov;
	uint8_t *data;
	int ret;

	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = peer_read_all(sc, h, pc->msg, PROTO_BLOCK_RW_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_rw_decode(pc->msg, h->len, h->len, false,
				    p->block_size, &rw);
	if (ret < 0)
		return peer_refuse_and_close(sc, h, ret);
	ret = loans_pin(p->loans, pc->owner,
			(struct proto_block_ref){rw.block, rw.epoch},
			cmp_now_ns(), &to);
	if (ret < 0)
		return peer_reply_refused(
			sc, h,
			refused_status(
				p, ret,
				(struct proto_block_ref){rw.block, rw.epoch},
				&to, &mv),
			pc->owner, rw.block, &mv);
	/* header and the bytes straight from the block, held meanwhile */
	data = p->ops->ptr(p->ctx, rw.block);
	if (peer_csum_verify(p->csum, rw.block, rw.off, rw.len, data)) {
		loans_unpin(p->loans, rw.block);
		return server_reply(sc, h, WIRE_S_CORRUPT, NULL, 0);
	}
	iov.iov_base = data + rw.off;
	iov.iov_len = rw.len;
	ret = server_reply(sc, h, WIRE_S_OK, &iov, 1);
	loans_unpin(p->loans, rw.block);
	return ret;
}

int peer_handle_write(struct peer *p, struct server_conn *sc,
		      const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_moved mv;
	struct proto_block_rw rw;
	struct peer_loan to;
	struct iovec dst;
	uint32_t st, token;
	uint8_t *data;
	int ret;

	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = read_prefix(sc, h, pc->msg, PROTO_BLOCK_RW_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_rw_decode(pc->msg, PROTO_BLOCK_RW_SIZE, h->len, true,
				    p->block_size, &rw);
	if (ret < 0)
		return peer_refuse_and_close(sc, h, ret);
	ret = loans_pin(p->loans, pc->owner,
			(struct proto_block_ref){rw.block, rw.epoch},
			cmp_now_ns(), &to);
	if (ret < 0) {
		st = refused_status(
			p, ret, (struct proto_block_ref){rw.block, rw.epoch},
			&to, &mv);
		ret = server_skip_payload(sc, h);
		if (ret < 0)
			return peer_read_failed(sc, h, ret);
		return peer_reply_refused(sc, h, st, pc->owner, rw.block, &mv);
	}
	data = p->ops->ptr(p->ctx, rw.block);
	dst.iov_base = data + rw.off;
	dst.iov_len = rw.len;
	token = peer_csum_write_begin(p->csum, rw.block, rw.off, rw.len);
	ret = wire_readv(server_conn_conn(sc), &dst, 1);
	peer_csum_write_end(p->csum, rw.block, rw.off, rw.len, token, data);
	/* a loan that ended meanwhile did not keep what was written */
	st = loans_unpin(p->loans, rw.block) ? WIRE_S_STALE : WIRE_S_OK;
	if (ret < 0)
		return peer_read_failed(sc, h, ret);
	return server_reply(sc, h, st, NULL, 0);
}

/* Reads and decodes a batch's header and extents into pc->ext. */
static int read_batch_hdr(struct peer *p, struct server_conn *sc,
			  const struct wire_hdr *h, bool write,
			  struct proto_block_batch *b)
{
	struct peer_conn *pc = server_conn_data(sc);
	int hdr_len, ret;

	ret = read_prefix(sc, h, pc->msg, PROTO_BLOCK_BATCH_SIZE);
	if (ret < 0)
		return ret;
	hdr_len = proto_block_batch_prefix(pc->msg, PROTO_BLOCK_BATCH_SIZE);
	if (hdr_len < 0)
		return peer_refuse_and_close(sc, h, hdr_len);
	/* a READ_BATCH payload is verified as this read completes it */
	ret = read_prefix(sc, h, pc->msg + PROTO_BLOCK_BATCH_SIZE,
			  (size_t)hdr_len - PROTO_BLOCK_BATCH_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_batch_decode(pc->msg, (size_t)hdr_len, h->len, write,
				       p->block_size, b, pc->ext,
				       PROTO_BLOCK_MAX_BATCH);
	return ret < 0 ? peer_refuse_and_close(sc, h, ret) : 0;
}

/* The extents of a READ_BATCH, pinned: verified, then sent; unpinned. */
static int batch_read(struct peer *p, struct server_conn *sc,
		      const struct wire_hdr *h,
		      const struct proto_block_batch *b)
{
	struct peer_conn *pc = server_conn_data(sc);
	uint32_t st = WIRE_S_OK;
	int ret;

	for (uint32_t i = 0; i < b->n && st == WIRE_S_OK; i++)
		if (peer_csum_verify(p->csum, pc->ext[i].block, pc->ext[i].off,
				     pc->ext[i].len,
				     p->ops->ptr(p->ctx, pc->ext[i].block)))
			st = WIRE_S_CORRUPT;
	ret = server_reply(sc, h, st, pc->iov, st ? 0 : (int)b->n);
	loans_unpin_many(p->loans, pc->pinned, b->n);
	return ret;
}

int peer_handle_batch(struct peer *p, struct server_conn *sc,
		      const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	bool write = h->op == WIRE_OP_WRITE_BATCH;
	struct proto_block_moved mv;
	struct proto_block_batch b;
	struct peer_loan to;
	uint32_t bad = 0, st;
	int ret;

	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = read_batch_hdr(p, sc, h, write, &b);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < b.n; i++)
		pc->pinned[i] = (struct proto_block_ref){pc->ext[i].block,
							 pc->ext[i].epoch};
	ret = loans_pin_many(p->loans, pc->owner, pc->pinned, b.n, cmp_now_ns(),
			     &bad, &to);
	if (ret < 0) {
		st = refused_status(p, ret, pc->pinned[bad], &to, &mv);
		bad = pc->ext[bad].block;
		ret = server_skip_payload(sc, h);
		if (ret < 0)
			return peer_read_failed(sc, h, ret);
		return peer_reply_refused(sc, h, st, pc->owner, bad, &mv);
	}
	for (uint32_t i = 0; i < b.n; i++) {
		pc->iov[i].iov_base =
			(uint8_t *)p->ops->ptr(p->ctx, pc->ext[i].block) +
			pc->ext[i].off;
		pc->iov[i].iov_len = pc->ext[i].len;
	}
	if (!write)
		return batch_read(p, sc, h, &b);
	for (uint32_t i = 0; i < b.n; i++)
		pc->csum_token[i] =
			peer_csum_write_begin(p->csum, pc->ext[i].block,
					      pc->ext[i].off, pc->ext[i].len);
	ret = wire_readv(server_conn_conn(sc), pc->iov, (int)b.n);
	for (uint32_t i = 0; i < b.n; i++)
		peer_csum_write_end(p->csum, pc->ext[i].block, pc->ext[i].off,
				    pc->ext[i].len, pc->csum_token[i],
				    p->ops->ptr(p->ctx, pc->ext[i].block));
	st = loans_unpin_many(p->loans, pc->pinned, b.n) ? WIRE_S_STALE
							 : WIRE_S_OK;
	if (ret < 0)
		return peer_read_failed(sc, h, ret);
	return server_reply(sc, h, st, NULL, 0);
}
