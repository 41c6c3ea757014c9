// SPDX-License-Identifier: MIT
/*
 * Byte ranges of blocks on a provider (remote.h): READ and WRITE of one
 * range, READ_BATCH and WRITE_BATCH of many in one burst. On a connection
 * with one-sided access (RDMA) the bytes go straight to or from the
 * region the provider offered instead of as messages (none is offered
 * today: see proto_block.h).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "remote-internal.h"

/* One READ or WRITE, with the one-sided path when the connection has it. */
struct rw_call {
	struct call cl;
	bool write;
	uint64_t region_off;
	void *buf;
	uint32_t len;
};

static int do_rw(struct remote *r, struct rconn *rc, void *arg)
{
	struct rw_call *rw = arg;
	int ret;

	if (rc->rma && rw->region_off + rw->len <= rc->region.len) {
		if (rw->write)
			ret = conn_rma_write(rc->c, rw->buf, rw->len,
					     &rc->region, rw->region_off);
		else
			ret = conn_rma_read(rc->c, rw->buf, rw->len,
					    &rc->region, rw->region_off);
		if (ret == 0) {
			atomic_fetch_add(&r->requests, 1);
			atomic_fetch_add(rw->write ? &r->sent : &r->received,
					 rw->len);
		}
		return ret;
	}
	return remote_transact(r, rc, &rw->cl);
}

static int rw_args_valid(struct remote *r, uint32_t off, uint32_t len)
{
	if (!len || off >= r->block_size || len > r->block_size - off)
		return -EINVAL;
	return 0;
}

/* One byte range of one loan, read into or written from buf. */
static int rw(struct remote *r, uint32_t node, bool write,
	      struct proto_block_ref ref, uint32_t off, void *buf, uint32_t len,
	      struct proto_block_moved *moved)
{
	struct proto_block_rw hdr = {
		.block = ref.block, .epoch = ref.epoch, .off = off, .len = len};
	uint8_t req[PROTO_BLOCK_RW_SIZE];
	/* a WRITE sends the bytes after the header; a READ receives them */
	struct iovec iov[2] = {{req, sizeof(req)}, {buf, len}};
	struct rw_call call = {
		.cl =
			{
				.op = write ? WIRE_OP_WRITE : WIRE_OP_READ,
				.req = iov,
				.nreq = write ? 2 : 1,
				.rep = write ? NULL : &iov[1],
				.nrep = write ? 0 : 1,
				.rep_len = write ? 0 : len,
				.rep_exact = true,
				.moved = moved,
			},
		.write = write,
		.region_off = (uint64_t)ref.block * r->block_size + off,
		.buf = buf,
		.len = len,
	};
	int ret = rw_args_valid(r, off, len);

	if (ret < 0)
		return ret;
	proto_block_rw_encode(&hdr, req, sizeof(req));
	return remote_with_conn(r, node, true, do_rw, &call);
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

struct batch_call {
	struct call cl;
	bool write;
	const struct proto_block_extent *ext;
	uint32_t n;
	const struct iovec *iov;
	int iovcnt;
};

/*
 * The one-sided form of a batch: walks extents and iovecs together, one
 * RMA operation per piece where an extent and an iovec overlap.
 */
static int batch_rma(struct remote *r, struct rconn *rc, struct batch_call *b)
{
	size_t io_off = 0;
	int i = 0, ret;

	for (uint32_t e = 0; e < b->n; e++) {
		uint64_t at = (uint64_t)b->ext[e].block * r->block_size +
			      b->ext[e].off;
		uint32_t left = b->ext[e].len;

		while (left) {
			size_t piece;
			uint8_t *p;

			while (i < b->iovcnt && io_off == b->iov[i].iov_len) {
				i++;
				io_off = 0;
			}
			if (i == b->iovcnt)
				return -EINVAL;
			piece = MIN((size_t)left, b->iov[i].iov_len - io_off);
			p = (uint8_t *)b->iov[i].iov_base + io_off;
			ret = b->write ? conn_rma_write(rc->c, p, piece,
							&rc->region, at)
				       : conn_rma_read(rc->c, p, piece,
						       &rc->region, at);
			if (ret < 0)
				return ret;
			at += piece;
			left -= piece;
			io_off += piece;
		}
	}
	atomic_fetch_add(&r->requests, 1);
	atomic_fetch_add(b->write ? &r->sent : &r->received, b->cl.rep_len);
	return 0;
}

static bool batch_in_region(struct remote *r, struct rconn *rc,
			    const struct batch_call *b)
{
	if (!rc->rma)
		return false;
	for (uint32_t e = 0; e < b->n; e++)
		if ((uint64_t)b->ext[e].block * r->block_size + b->ext[e].off +
			    b->ext[e].len >
		    rc->region.len)
			return false;
	return true;
}

static int do_batch(struct remote *r, struct rconn *rc, void *arg)
{
	struct batch_call *b = arg;

	if (batch_in_region(r, rc, b))
		return batch_rma(r, rc, b);
	return remote_transact(r, rc, &b->cl);
}

static int batch(struct remote *r, uint32_t node, bool write,
		 const struct proto_block_extent *ext, uint32_t n,
		 const struct iovec *iov, int iovcnt,
		 struct proto_block_moved *moved)
{
	uint8_t hdr[PROTO_BLOCK_MAX_BATCH_HDR];
	struct iovec qiov[PROTO_BLOCK_MAX_BATCH + 1];
	struct batch_call b = {
		.cl =
			{
				.op = write ? WIRE_OP_WRITE_BATCH
					    : WIRE_OP_READ_BATCH,
				.req = qiov,
				.nreq = 1,
				.rep_exact = true,
				.moved = moved,
			},
		.write = write,
		.ext = ext,
		.n = n,
		.iov = iov,
		.iovcnt = iovcnt,
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
	if (write) {
		memcpy(qiov + 1, iov, iovcnt * sizeof(*iov));
		b.cl.nreq = 1 + iovcnt;
		b.cl.rep_len = 0;
	} else {
		b.cl.rep = iov;
		b.cl.nrep = iovcnt;
		b.cl.rep_len = want;
	}
	ret = remote_with_conn(r, node, true, do_batch, &b);
	return ret;
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
