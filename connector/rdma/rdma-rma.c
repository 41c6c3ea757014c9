// SPDX-License-Identifier: MIT
/*
 * One-sided access the RDMA way: conn_expose() registers a region once and
 * hands back what the peer needs (address, length, rkey); conn_rma_read()
 * and conn_rma_write() are RDMA READ/WRITE into it, with no CPU of the
 * provider on the data path. The local side goes zero copy when it lies in
 * a region exposed on this connection, else through the registered staging
 * buffer.
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

int conn_rdma_expose(struct conn *base, void *addr, size_t len,
		     struct conn_region *out)
{
	struct rdma_conn *c = (struct rdma_conn *)base;
	struct ibv_mr *mr, **grown;
	int ret;

	mr = ibv_reg_mr(c->pd, addr, len,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
				IBV_ACCESS_REMOTE_WRITE);
	if (!mr) {
		ret = -errno;
		log_error("%s: ibv_reg_mr(%zu bytes at %p): %s%s", c->base.peer,
			  len, addr, strerror(-ret),
			  conn_rdma_memlock_hint(-ret));
		return ret;
	}
	pthread_mutex_lock(&c->lock);
	grown = realloc(c->exposed, (c->n_exposed + 1) * sizeof(*grown));
	if (grown) {
		c->exposed = grown;
		c->exposed[c->n_exposed++] = mr;
	}
	pthread_mutex_unlock(&c->lock);
	if (!grown) {
		ibv_dereg_mr(mr);
		return -ENOMEM;
	}
	*out = (struct conn_region){
		.addr = (uintptr_t)addr,
		.len = len,
		.rkey = mr->rkey,
	};
	return 0;
}

/* An exposed region holding [p, p+len) lets the NIC use it directly. */
static const struct ibv_mr *find_mr_locked(const struct rdma_conn *c,
					   const char *p, size_t len)
{
	for (size_t i = 0; i < c->n_exposed; i++) {
		const char *start = c->exposed[i]->addr;

		if (p >= start && len <= c->exposed[i]->length &&
		    (size_t)(p - start) <= c->exposed[i]->length - len)
			return c->exposed[i];
	}
	return NULL;
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
 * Zero copy: the local side is inside an exposed region, which by contract
 * outlives the connection, so even a WR still in flight after a timeout
 * lands in valid memory.
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

/* Through the registered bounce buffer, for caller memory not exposed. */
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
			memcpy(c->stage, local + done, n);
			pthread_mutex_lock(&c->lock);
		}
		ret = rma_post_locked(c, op, c->stage, c->stage_mr->lkey, n,
				      raddr + done, rkey, deadline);
		ret = rma_finish_locked(c, ret, deadline);
		if (!ret && op == IBV_WR_RDMA_READ) {
			pthread_mutex_unlock(&c->lock);
			memcpy(local + done, c->stage, n);
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
	const struct ibv_mr *mr;
	uint64_t deadline;
	int ret;

	if (offset > r->len || len > r->len - offset) {
		log_error("%s: %zu bytes at offset %llu are outside the "
			  "region of %llu bytes",
			  c->base.peer, len, (unsigned long long)offset,
			  (unsigned long long)r->len);
		return -EINVAL;
	}
	if (!len)
		return 0;
	pthread_mutex_lock(&c->rma_lock);
	pthread_mutex_lock(&c->lock);
	deadline = conn_rdma_deadline(c);
	c->rma_error = 0;
	ret = c->error;
	mr = find_mr_locked(c, local, len);
	if (!ret && mr)
		ret = rma_direct_locked(c, op, local, mr->lkey, len,
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
