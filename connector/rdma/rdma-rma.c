// SPDX-License-Identifier: MIT
/*
 * One-sided access the RDMA way, the owner's side: conn_rma_read() and
 * conn_rma_write() are RDMA READ/WRITE into a block the provider granted
 * this connection (rdma-mw.c), with no CPU of the provider on the data
 * path. The local side goes zero copy when it lies in a registered region,
 * else through the connection's registered staging buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"

static bool rma_can_post(const struct rdma_conn *c)
{
	return c->sq_free && c->rma_inflight < RDMA_RMA_DEPTH;
}

static bool rma_idle(const struct rdma_conn *c)
{
	return c->rma_inflight == 0;
}

/*
 * Local memory inside a registered region lets the NIC use it directly
 * (the region's MR has local write, which an RDMA READ sink needs, except
 * on iWARP, where it would need remote write too: staged there).
 */
static uint32_t local_lkey(const struct rdma_conn *c, enum ibv_wr_opcode op,
			   const char *p, size_t len)
{
	struct ibv_mr *mr;

	if (op == IBV_WR_RDMA_READ && c->dev->iwarp)
		return 0;
	if (conn_rdma_dev_region(c->dev, p, len, &mr))
		return 0;
	return mr->lkey;
}

static int rma_post_locked(struct rdma_conn *c, enum ibv_wr_opcode op,
			   char *local, uint32_t lkey, size_t len,
			   uint64_t raddr, uint32_t rkey, uint64_t deadline)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)local,
		.length = (uint32_t)len,
		.lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = rdma_wr_id(RDMA_WR_RMA, 0),
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.wr.rdma = {.remote_addr = raddr, .rkey = rkey},
	};
	int ret;

	ret = conn_rdma_wait_locked(c, rma_can_post, deadline);
	if (!ret && c->error)
		ret = c->error;
	if (!ret)
		ret = conn_rdma_post_send_locked(c, &wr);
	if (!ret)
		c->rma_inflight++;
	return ret;
}

/* Waits for every WR of this RMA; the first failed one decides. */
static int rma_finish_locked(struct rdma_conn *c, int ret, uint64_t deadline)
{
	int wret = conn_rdma_wait_locked(c, rma_idle, deadline);

	if (c->rma_error)
		return c->rma_error;
	return ret ? ret : wret;
}

/*
 * Zero copy: the local side is inside a registered region, which by
 * contract outlives the connection, so even a WR still in flight after a
 * timeout lands in valid memory.
 */
static int rma_direct_locked(struct rdma_conn *c, enum ibv_wr_opcode op,
			     char *local, uint32_t lkey, size_t len,
			     uint64_t raddr, uint32_t rkey, uint64_t deadline)
{
	int ret = 0;

	for (size_t done = 0; done < len && !ret;) {
		size_t n = MIN(len - done, (size_t)RDMA_RMA_CHUNK);

		ret = rma_post_locked(c, op, local + done, lkey, n,
				      raddr + done, rkey, deadline);
		done += n;
	}
	return rma_finish_locked(c, ret, deadline);
}

/* Through the registered bounce buffer, for other caller memory. */
static int rma_staged_locked(struct rdma_conn *c, enum ibv_wr_opcode op,
			     char *local, size_t len, uint64_t raddr,
			     uint32_t rkey, uint64_t deadline)
{
	int ret = 0;

	for (size_t done = 0; done < len && !ret;) {
		size_t n = MIN(len - done, (size_t)RDMA_STAGE_SIZE);

		/* rma_lock makes stage ours: copy unlocked. */
		if (op == IBV_WR_RDMA_WRITE) {
			pthread_mutex_unlock(&c->lock);
			memcpy(c->stage.mem, local + done, n);
			pthread_mutex_lock(&c->lock);
		}
		ret = rma_post_locked(c, op, c->stage.mem, c->stage.mr->lkey, n,
				      raddr + done, rkey, deadline);
		ret = rma_finish_locked(c, ret, deadline);
		if (!ret && op == IBV_WR_RDMA_READ) {
			pthread_mutex_unlock(&c->lock);
			memcpy(local + done, c->stage.mem, n);
			pthread_mutex_lock(&c->lock);
		}
		done += n;
	}
	return ret;
}

static int rma(struct conn *base, enum ibv_wr_opcode op, char *local,
	       size_t len, const struct conn_region *r, uint64_t offset)
{
	struct rdma_conn *c = (struct rdma_conn *)base;
	uint64_t deadline;
	uint32_t lkey;
	int ret;

	if (offset > r->len || len > r->len - offset) {
		log_error_rl("%s: %zu bytes at offset %llu are outside the "
			     "region of %llu bytes",
			     c->base.peer, len, (unsigned long long)offset,
			     (unsigned long long)r->len);
		return -EINVAL;
	}
	if (!len)
		return 0;
	lkey = local_lkey(c, op, local, len);
	pthread_mutex_lock(&c->rma_lock);
	pthread_mutex_lock(&c->lock);
	deadline = conn_rdma_deadline(c);
	c->rma_error = 0;
	/* The staging buffer comes with authentication. */
	ret = c->error ? c->error : c->grown ? 0 : -EPERM;
	if (!ret && lkey)
		ret = rma_direct_locked(c, op, local, lkey, len,
					r->addr + offset, r->rkey, deadline);
	else if (!ret)
		ret = rma_staged_locked(c, op, local, len, r->addr + offset,
					r->rkey, deadline);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&c->rma_lock);
	return ret;
}

int conn_rdma_rma_read(struct conn *c, void *dst, size_t len,
		       const struct conn_region *r, uint64_t offset)
{
	return rma(c, IBV_WR_RDMA_READ, dst, len, r, offset);
}

int conn_rdma_rma_write(struct conn *c, const void *src, size_t len,
			const struct conn_region *r, uint64_t offset)
{
	/* The NIC only reads src for a WRITE; the cast drops no promise. */
	return rma(c, IBV_WR_RDMA_WRITE, (char *)src, len, r, offset);
}
