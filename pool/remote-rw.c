// SPDX-License-Identifier: MIT
/*
 * Byte ranges of blocks on a provider (remote.h): READ and WRITE of one
 * range, READ_BATCH and WRITE_BATCH of many in one burst. A loan with a
 * memory window on the provider's RMA connection (remote-rma.c) is read
 * and written one-sided, RDMA READ/WRITE straight into its block; the
 * others, and every access a window refused, go as messages, whose
 * answer is the provider's. A write whose connection broke is sent again
 * only after a FENCE of that connection (remote_fence_on()).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "remote-internal.h"

/* Not one-sided after all: ask with a message. */
#define USE_MESSAGES 1

static void count_rma(struct remote *r, bool write, uint64_t bytes)
{
	atomic_fetch_add(&r->requests, 1);
	atomic_fetch_add(write ? &r->sent : &r->received, bytes);
}

/* One range one-sided: 0, -errno, or USE_MESSAGES. */
static int rw_rma(struct remote *r, uint32_t node, bool write,
		  struct proto_block_ref ref, uint32_t off, void *buf,
		  uint32_t len)
{
	struct conn_region win;
	struct rconn *rc;
	int ret;

	if (remote_rma_get(r, node, &ref, NULL, 1, &rc, &win) < 0)
		return USE_MESSAGES;
	ret = write ? conn_rma_write(rc->c, buf, len, &win, off)
		    : conn_rma_read(rc->c, buf, len, &win, off);
	if (ret == 0)
		count_rma(r, write, len);
	else
		ret = remote_rma_failed(r, rc, ret);
	remote_rma_put(r, rc);
	return ret;
}

static int rw_args_valid(struct remote *r, uint32_t off, uint32_t len)
{
	if (!len || off >= r->block_size || len > r->block_size - off)
		return -EINVAL;
	return 0;
}

_Static_assert(PROTO_BLOCK_MAX_SIZE / REMOTE_PIECE <= REMOTE_MAX_PIECES,
	       "a block in pieces");

/* One READ or WRITE message: its header, and its data after it. */
struct rw_msg {
	uint8_t req[PROTO_BLOCK_RW_SIZE];
	/* a WRITE sends the bytes after the header; a READ receives them */
	struct iovec iov[2];
};

static void rw_call(struct call *cl, struct rw_msg *m, bool write,
		    struct proto_block_ref ref, uint32_t off, uint8_t *buf,
		    uint32_t len, struct proto_block_moved *moved)
{
	struct proto_block_rw hdr = {
		.block = ref.block, .epoch = ref.epoch, .off = off, .len = len};

	proto_block_rw_encode(&hdr, m->req, sizeof(m->req));
	m->iov[0] = (struct iovec){m->req, sizeof(m->req)};
	m->iov[1] = (struct iovec){buf, len};
	*cl = (struct call){
		.op = write ? WIRE_OP_WRITE : WIRE_OP_READ,
		.req = m->iov,
		.nreq = write ? 2 : 1,
		.rep = write ? NULL : &m->iov[1],
		.nrep = write ? 0 : 1,
		.rep_len = write ? 0 : len,
		.rep_exact = true,
		.moved = moved,
	};
}

/*
 * One byte range of one loan, read into or written from buf: a long one
 * as pieces of about REMOTE_PIECE bytes (4 KiB multiples), in flight at
 * once, so that the provider serves them on several threads and the
 * transfer of one overlaps the sealing and opening of the next.
 */
static int rw(struct remote *r, uint32_t node, bool write,
	      struct proto_block_ref ref, uint32_t off, void *buf, uint32_t len,
	      struct proto_block_moved *moved)
{
	struct rw_msg m[REMOTE_MAX_PIECES];
	struct call cl[REMOTE_MAX_PIECES];
	uint32_t step, at = 0;
	unsigned int k = 0;
	int ret = rw_args_valid(r, off, len);

	if (ret < 0)
		return ret;
	ret = rw_rma(r, node, write, ref, off, buf, len);
	if (ret != USE_MESSAGES)
		return ret;
	k = (len + REMOTE_PIECE - 1) / REMOTE_PIECE;
	step = ((len + k - 1) / k + 4095) & ~4095u;
	for (k = 0; at < len; k++, at += step)
		rw_call(&cl[k], &m[k], write, ref, off + at,
			(uint8_t *)buf + at, MIN(step, len - at), moved);
	return remote_call_pieces(r, node, cl, k, NULL);
}

/* The ranges of remote_rw_blocks() gathered into one round of pieces. */
struct blocks_round {
	struct rw_msg m[REMOTE_MAX_PIECES];
	struct call cl[REMOTE_MAX_PIECES];
	int ret[REMOTE_MAX_PIECES];
	uint32_t of[REMOTE_MAX_PIECES]; /* the range each piece is of */
	unsigned int k;
};

/* The pieces gathered so far, in flight together; each range's result. */
static void blocks_fly(struct remote *r, uint32_t node, struct blocks_round *b,
		       int *rets)
{
	if (!b->k)
		return;
	remote_call_pieces(r, node, b->cl, b->k, b->ret);
	for (unsigned int i = 0; i < b->k; i++)
		if (b->ret[i] && !rets[b->of[i]])
			rets[b->of[i]] = b->ret[i];
	b->k = 0;
}

int remote_rw_blocks(struct remote *r, uint32_t node, bool write,
		     const struct proto_block_ref *refs, uint32_t n,
		     uint32_t off, void *const *bufs, uint32_t len, int *rets)
{
	struct blocks_round round, *b = &round;
	uint32_t per, step;
	int ret = rw_args_valid(r, off, len);

	for (uint32_t i = 0; i < n; i++)
		rets[i] = ret;
	if (ret < 0)
		return ret;
	b->k = 0;
	per = (len + REMOTE_PIECE - 1) / REMOTE_PIECE;
	step = ((len + per - 1) / per + 4095) & ~4095u;
	for (uint32_t i = 0; i < n; i++) {
		/* one-sided when it has a window */
		rets[i] = rw_rma(r, node, write, refs[i], off, bufs[i], len);
		if (rets[i] != USE_MESSAGES)
			continue;
		rets[i] = 0;
		if (b->k + per > REMOTE_MAX_PIECES)
			blocks_fly(r, node, b, rets);
		for (uint32_t at = 0; at < len; at += step, b->k++) {
			rw_call(&b->cl[b->k], &b->m[b->k], write, refs[i],
				off + at, (uint8_t *)bufs[i] + at,
				MIN(step, len - at), NULL);
			b->of[b->k] = i;
		}
	}
	blocks_fly(r, node, b, rets);
	for (uint32_t i = 0; i < n; i++)
		if (rets[i])
			return rets[i];
	return 0;
}

int remote_fence_on(struct remote *r, struct rconn *rc, uint64_t session)
{
	uint8_t buf[PROTO_BLOCK_FENCE_SIZE];
	struct iovec iov = {buf, sizeof(buf)};
	struct call cl = {.op = WIRE_OP_FENCE, .req = &iov, .nreq = 1};
	int ret = proto_block_fence_encode(session, buf, sizeof(buf));

	if (ret >= 0)
		ret = remote_transact(r, rc, &cl);
	if (ret < 0)
		log_warn_rl("remote: node %u: a write on a connection that "
			    "broke may still land (fence: %s); not sent again",
			    rc->node->id, strerror(-ret));
	return ret;
}

int remote_read(struct remote *r, uint32_t node, struct proto_block_ref ref,
		uint32_t off, void *dst, uint32_t len,
		struct proto_block_moved *moved)
{
	return rw(r, node, false, ref, off, dst, len, moved);
}

int remote_write(struct remote *r, uint32_t node, struct proto_block_ref ref,
		 uint32_t off, const void *src, uint32_t len,
		 struct proto_block_moved *moved)
{
	return rw(r, node, true, ref, off, (void *)src, len, moved);
}

/* One WRITE of remote_write_many(), in flight on a connection of its own. */
struct out_write {
	struct rw_msg m;
	struct call cl;
	struct flight f;
	struct rconn *rc;
	uint64_t broken; /* its connection broke under it: fence it first */
};

#define ALONE 2 /* remote_write_many(): written alone afterwards */

/*
 * Puts the WRITE of ref on node in flight on a connection usable now:
 * 0 (in flight: land_write() follows), or ALONE (none usable without
 * waiting: never wait while another node's is in flight).
 */
static int send_write(struct remote *r, uint32_t node, struct out_write *w,
		      struct proto_block_ref ref, uint32_t off, const void *src,
		      uint32_t len, struct proto_block_moved *moved)
{
	if (remote_checkout(r, node, false, false, &w->rc))
		return ALONE;
	rw_call(&w->cl, &w->m, true, ref, off, (uint8_t *)src, len, moved);
	w->f = (struct flight){.cl = &w->cl};
	if (remote_flight_send(r, w->rc, &w->f, false) == -EAGAIN) {
		remote_checkin(r, w->rc, true);
		w->rc = NULL;
		return ALONE;
	}
	return 0;
}

/*
 * Its answer: the provider's, or ALONE when the connection broke (the
 * write goes again, alone, once that connection is fenced), or -EIO and
 * the node suspect (a timeout or a broken protocol: no second deadline).
 */
static int land_write(struct remote *r, struct out_write *w)
{
	int ret = remote_flight_wait(r, w->rc, &w->f);
	bool answer = ret == 0 || (w->cl.answered && ret != -EPROTO);
	struct remote_node *n = w->rc->node;
	uint64_t gen = w->rc->gen;

	if (!answer)
		w->broken = conn_session_id(w->rc->c);
	remote_checkin(r, w->rc, answer && remote_conn_reusable(ret));
	w->rc = NULL;
	if (answer)
		return ret;
	if (ret != -ETIMEDOUT && ret != -EPROTO)
		return ALONE;
	remote_suspect(r, n, gen, ret, true);
	atomic_fetch_add(&r->errors, 1);
	return -EIO;
}

/*
 * A connection to node that broke under a write is fenced: 0, or -EIO
 * (counted) and the node suspect, as remote_with_conn() does: the write
 * may still land, so it is not sent again.
 */
static int fence(struct remote *r, uint32_t node, uint64_t session)
{
	struct remote_node *n;
	struct rconn *rc;
	uint64_t gen;
	int ret = remote_checkout(r, node, true, false, &rc);

	if (ret == 0) {
		n = rc->node;
		gen = rc->gen;
		ret = remote_fence_on(r, rc, session);
		remote_checkin(r, rc, ret == 0);
		if (ret)
			remote_suspect(r, n, gen, ret, true);
	}
	if (ret)
		atomic_fetch_add(&r->errors, 1);
	return ret ? -EIO : 0;
}

void remote_write_many(struct remote *r, const uint32_t *nodes,
		       const struct proto_block_ref *refs, uint32_t n,
		       uint32_t off, const void *src, uint32_t len, int *rets,
		       struct proto_block_moved *moved)
{
	struct out_write w[REMOTE_MAX_MANY];

	/* out together: one-sided ones at once, messages in flight */
	for (uint32_t i = 0; i < n; i++) {
		if (i < REMOTE_MAX_MANY)
			w[i] = (struct out_write){.rc = NULL};
		rets[i] = i < REMOTE_MAX_MANY ? rw_args_valid(r, off, len)
					      : ALONE;
		if (rets[i])
			continue;
		rets[i] = rw_rma(r, nodes[i], true, refs[i], off, (void *)src,
				 len);
		if (rets[i] == USE_MESSAGES)
			rets[i] = send_write(r, nodes[i], &w[i], refs[i], off,
					     src, len, &moved[i]);
	}
	/* then their answers, in turn */
	for (uint32_t i = 0; i < n && i < REMOTE_MAX_MANY; i++)
		if (w[i].rc)
			rets[i] = land_write(r, &w[i]);
	/* nothing in flight any more: the rest alone (a broken one fenced) */
	for (uint32_t i = 0; i < n; i++) {
		if (rets[i] != ALONE)
			continue;
		rets[i] = i < REMOTE_MAX_MANY && w[i].broken
				  ? fence(r, nodes[i], w[i].broken)
				  : 0;
		if (!rets[i])
			rets[i] = rw(r, nodes[i], true, refs[i], off,
				     (void *)src, len, &moved[i]);
	}
}

/* Pieces where an extent and an iovec overlap, one RMA operation each. */
static int batch_pieces(struct rconn *rc, bool write,
			const struct proto_block_extent *ext, uint32_t n,
			const struct conn_region *win, const struct iovec *iov,
			int iovcnt)
{
	size_t io_off = 0;
	int i = 0, ret;

	for (uint32_t e = 0; e < n; e++) {
		uint64_t at = ext[e].off;
		uint32_t left = ext[e].len;

		while (left) {
			size_t piece;
			uint8_t *p;

			while (i < iovcnt && io_off == iov[i].iov_len) {
				i++;
				io_off = 0;
			}
			if (i == iovcnt)
				return -EINVAL;
			piece = MIN((size_t)left, iov[i].iov_len - io_off);
			p = (uint8_t *)iov[i].iov_base + io_off;
			ret = write ? conn_rma_write(rc->c, p, piece, &win[e],
						     at)
				    : conn_rma_read(rc->c, p, piece, &win[e],
						    at);
			if (ret < 0)
				return ret;
			at += piece;
			left -= piece;
			io_off += piece;
		}
	}
	return 0;
}

/*
 * A batch one-sided, when every extent has a window: 0, -errno, or
 * USE_MESSAGES (the iovecs' total equals the extents', checked before).
 */
static int batch_rma(struct remote *r, uint32_t node, bool write,
		     const struct proto_block_extent *ext, uint32_t n,
		     const struct iovec *iov, int iovcnt, uint64_t bytes)
{
	struct conn_region win[PROTO_BLOCK_MAX_BATCH];
	struct rconn *rc;
	int ret;

	if (n > PROTO_BLOCK_MAX_BATCH ||
	    remote_rma_get(r, node, NULL, ext, n, &rc, win) < 0)
		return USE_MESSAGES;
	ret = batch_pieces(rc, write, ext, n, win, iov, iovcnt);
	if (ret == 0)
		count_rma(r, write, bytes);
	else
		ret = remote_rma_failed(r, rc, ret);
	remote_rma_put(r, rc);
	return ret;
}

static int batch(struct remote *r, uint32_t node, bool write,
		 const struct proto_block_extent *ext, uint32_t n,
		 const struct iovec *iov, int iovcnt,
		 struct proto_block_moved *moved)
{
	uint8_t hdr[PROTO_BLOCK_MAX_BATCH_HDR];
	struct iovec qiov[PROTO_BLOCK_MAX_BATCH + 1];
	struct call cl = {
		.op = write ? WIRE_OP_WRITE_BATCH : WIRE_OP_READ_BATCH,
		.req = qiov,
		.nreq = 1,
		.rep_exact = true,
		.moved = moved,
	};
	uint64_t want = 0;
	int ret;

	if (iovcnt < 1 || iovcnt > (int)PROTO_BLOCK_MAX_BATCH)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		ret = rw_args_valid(r, ext[i].off, ext[i].len);
		if (ret < 0)
			return ret;
		want += ext[i].len;
	}
	if (want != cmp_iov_total(iov, iovcnt))
		return -EINVAL;
	ret = proto_block_batch_encode(ext, n, hdr, sizeof(hdr));
	if (ret < 0)
		return ret;
	qiov[0].iov_base = hdr;
	qiov[0].iov_len = ret;
	ret = batch_rma(r, node, write, ext, n, iov, iovcnt, want);
	if (ret != USE_MESSAGES)
		return ret;
	if (write) {
		memcpy(qiov + 1, iov, iovcnt * sizeof(*iov));
		cl.nreq = 1 + iovcnt;
		cl.rep_len = 0;
	} else {
		cl.rep = iov;
		cl.nrep = iovcnt;
		cl.rep_len = want;
	}
	return remote_with_conn(r, node, true, remote_do_call, &cl);
}

int remote_read_batch(struct remote *r, uint32_t node,
		      const struct proto_block_extent *ext, uint32_t n,
		      const struct iovec *iov, int iovcnt,
		      struct proto_block_moved *moved)
{
	return batch(r, node, false, ext, n, iov, iovcnt, moved);
}

int remote_write_batch(struct remote *r, uint32_t node,
		       const struct proto_block_extent *ext, uint32_t n,
		       const struct iovec *iov, int iovcnt,
		       struct proto_block_moved *moved)
{
	return batch(r, node, true, ext, n, iov, iovcnt, moved);
}
