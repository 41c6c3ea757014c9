// SPDX-License-Identifier: MIT
/*
 * Grants for one-sided access, the provider's side: a type 2 memory window
 * per lent block, bound to the owner's queue pair over the registered
 * region (which carries no remote rights itself), invalidated when the
 * loan ends. The device checks every incoming READ/WRITE against the
 * window: its rkey, its range, and the QP it was bound to, so a peer
 * reaches only the blocks granted on its own connection, and nothing once
 * they are revoked.
 *
 * Windows live in a per-connection table, allocated on first need and
 * reused in FIFO order after a revoke (each bind takes the next rkey of
 * its window, so a re-granted block always gets a new rkey, and one window
 * repeats an rkey only after 256 binds); bound windows are found by rkey
 * through a small open-addressing hash. Binds and invalidations go one at
 * a time per connection (mw_lock), posted on the send queue and waited for
 * like any other WR (see rdma-io.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"

#define WIN_NONE UINT32_MAX

static uint32_t hash_pos(uint32_t rkey, uint32_t cap)
{
	return (rkey * 2654435761u) & (cap - 1);
}

/* Index of the bound window with rkey, or WIN_NONE; mw_lock held. */
static uint32_t win_find(const struct rdma_conn *c, uint32_t rkey)
{
	if (!c->hash_cap)
		return WIN_NONE;
	for (uint32_t i = hash_pos(rkey, c->hash_cap);;
	     i = (i + 1) & (c->hash_cap - 1)) {
		uint32_t v = c->win_hash[i];

		if (!v)
			return WIN_NONE;
		if (c->win[v - 1].rkey == rkey)
			return v - 1;
	}
}

/* Capacity is reserved beforehand: never full. */
static void hash_insert(struct rdma_conn *c, uint32_t idx)
{
	uint32_t i = hash_pos(c->win[idx].rkey, c->hash_cap);

	while (c->win_hash[i])
		i = (i + 1) & (c->hash_cap - 1);
	c->win_hash[i] = idx + 1;
}

/* Linear probing's deletion: later entries of the run move up. */
static void hash_remove(struct rdma_conn *c, uint32_t idx)
{
	uint32_t mask = c->hash_cap - 1, i, j;

	for (i = hash_pos(c->win[idx].rkey, c->hash_cap);
	     c->win_hash[i] != idx + 1; i = (i + 1) & mask)
		;
	c->win_hash[i] = 0;
	for (j = (i + 1) & mask; c->win_hash[j]; j = (j + 1) & mask) {
		uint32_t v = c->win_hash[j];
		uint32_t home = hash_pos(c->win[v - 1].rkey, c->hash_cap);

		/* Moves up unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			c->win_hash[i] = v;
			c->win_hash[j] = 0;
			i = j;
		}
	}
}

/* Room for one more window in the table and the hash; mw_lock held. */
static int win_reserve(struct rdma_conn *c)
{
	uint32_t cap = c->win_cap ? c->win_cap * 2 : 16;
	struct rdma_window *win;
	uint32_t *hash;

	if (c->nwin < c->win_cap)
		return 0;
	win = realloc(c->win, cap * sizeof(*win));
	if (!win)
		return -ENOMEM;
	c->win = win;
	hash = calloc((size_t)cap * 2, sizeof(*hash));
	if (!hash)
		return -ENOMEM;
	free(c->win_hash);
	c->win_hash = hash;
	c->win_cap = cap;
	c->hash_cap = cap * 2;
	for (uint32_t i = 0; i < c->nwin; i++)
		if (c->win[i].state == RDMA_WIN_BOUND)
			hash_insert(c, i);
	return 0;
}

/* A free window, the oldest revoked one first; mw_lock held. */
static int win_take(struct rdma_conn *c, uint32_t *idx)
{
	struct ibv_mw *mw;
	int ret;

	if (c->free_head != WIN_NONE) {
		*idx = c->free_head;
		c->free_head = c->win[*idx].next_free;
		if (c->free_head == WIN_NONE)
			c->free_tail = WIN_NONE;
		return 0;
	}
	ret = win_reserve(c);
	if (ret) {
		log_error_rl("%s: memory window table: out of memory",
			     c->base.peer);
		return ret;
	}
	errno = 0;
	mw = ibv_alloc_mw(c->dev->pd, IBV_MW_TYPE_2);
	/* A driver may refuse what the device attributes promised. */
	if (!mw && errno == EOPNOTSUPP)
		return conn_rdma_dev_no_mw(c->dev);
	if (!mw)
		return conn_rdma_log_errno("%s: ibv_alloc_mw", c->base.peer);
	*idx = c->nwin++;
	c->win[*idx] = (struct rdma_window){
		.mw = mw,
		.rkey = mw->rkey,
		.next_free = WIN_NONE,
		.state = RDMA_WIN_FREE,
	};
	return 0;
}

static void win_put_free(struct rdma_conn *c, uint32_t idx)
{
	c->win[idx].state = RDMA_WIN_FREE;
	c->win[idx].next_free = WIN_NONE;
	if (c->free_tail == WIN_NONE)
		c->free_head = idx;
	else
		c->win[c->free_tail].next_free = idx;
	c->free_tail = idx;
}

static bool mw_can_post(const struct rdma_conn *c)
{
	return c->sq_free && !c->mw_busy;
}

static bool mw_idle(const struct rdma_conn *c)
{
	return !c->mw_busy;
}

/*
 * Posts one bind or invalidation and waits for its completion. Local
 * operations complete at once or flush; one that takes longer than
 * RDMA_MW_TIMEOUT_MS fails the connection. mw_lock held.
 */
static int mw_post_wait(struct rdma_conn *c, struct ibv_send_wr *wr)
{
	uint64_t deadline = cmp_now_ns() + RDMA_MW_TIMEOUT_MS * 1000000ull;
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = conn_rdma_wait_locked(c, mw_can_post, deadline);
	if (!ret && c->error)
		ret = c->error;
	if (!ret) {
		c->mw_busy = true;
		c->mw_status = 0;
		ret = conn_rdma_post_send_locked(c, wr);
		if (ret)
			c->mw_busy = false;
	}
	if (!ret)
		ret = conn_rdma_wait_locked(c, mw_idle, deadline);
	if (!ret)
		ret = c->mw_status;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/*
 * The window's connection failed (or its WR did): make sure nothing can
 * reach it any more. The QP goes to the error state (an RC QP in error
 * serves no request) and the window is deallocated, which unbinds it.
 * mw_lock held.
 */
static int win_kill(struct rdma_conn *c, uint32_t idx, int why)
{
	struct rdma_window *w = &c->win[idx];
	int ret;

	pthread_mutex_lock(&c->lock);
	conn_rdma_fail_locked(c, why ? why : -EIO);
	if (c->connected) {
		c->connected = false;
		rdma_disconnect(c->id);
	}
	pthread_mutex_unlock(&c->lock);
	w->state = RDMA_WIN_DEAD;
	ret = ibv_dealloc_mw(w->mw);
	w->mw = NULL;
	if (ret) {
		log_error_rl("%s: ibv_dealloc_mw(rkey %#x): %s", c->base.peer,
			     w->rkey, strerror(ret));
		return -EIO;
	}
	return 0;
}

static int grant_check(struct rdma_conn *c)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = c->error ? c->error : c->grown ? 0 : -EPERM;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int conn_rdma_grant(struct conn *base, void *addr, size_t len,
		    struct conn_region *out)
{
	struct rdma_conn *c = (struct rdma_conn *)base;
	struct ibv_send_wr wr = {.opcode = IBV_WR_BIND_MW};
	struct ibv_mr *mr;
	uint32_t idx = WIN_NONE;
	int ret;

	if (!addr || !len)
		return -EINVAL;
	ret = grant_check(c);
	if (ret)
		return ret;
	if (!c->dev->mw)
		return conn_rdma_dev_no_mw(c->dev);
	ret = conn_rdma_dev_region(c->dev, addr, len, &mr);
	if (ret == -EINVAL)
		log_error_rl(
			"%s: grant of %zu bytes at %p: not in a registered "
			"region",
			c->base.peer, len, addr);
	if (ret)
		return ret;
	pthread_mutex_lock(&c->mw_lock);
	ret = grant_check(c);
	if (!ret)
		ret = win_take(c, &idx);
	if (ret)
		goto out_unlock;
	wr.wr_id = rdma_wr_id(RDMA_WR_MW, idx);
	wr.bind_mw.mw = c->win[idx].mw;
	wr.bind_mw.rkey = ibv_inc_rkey(c->win[idx].rkey);
	wr.bind_mw.bind_info = (struct ibv_mw_bind_info){
		.mr = mr,
		.addr = (uintptr_t)addr,
		.length = len,
		.mw_access_flags =
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE,
	};
	ret = mw_post_wait(c, &wr);
	if (ret) {
		win_kill(c, idx, ret);
		goto out_unlock;
	}
	c->win[idx].rkey = wr.bind_mw.rkey;
	c->win[idx].addr = (uintptr_t)addr;
	c->win[idx].len = len;
	c->win[idx].state = RDMA_WIN_BOUND;
	hash_insert(c, idx);
	*out = (struct conn_region){
		.addr = (uintptr_t)addr,
		.len = len,
		.rkey = wr.bind_mw.rkey,
	};
out_unlock:
	pthread_mutex_unlock(&c->mw_lock);
	return ret;
}

int conn_rdma_revoke(struct conn *base, const struct conn_region *r)
{
	struct rdma_conn *c = (struct rdma_conn *)base;
	struct ibv_send_wr wr = {.opcode = IBV_WR_LOCAL_INV};
	struct rdma_window *w;
	uint32_t idx;
	int ret;

	pthread_mutex_lock(&c->mw_lock);
	idx = win_find(c, r->rkey);
	w = idx == WIN_NONE ? NULL : &c->win[idx];
	if (!w || w->addr != r->addr || w->len != r->len) {
		pthread_mutex_unlock(&c->mw_lock);
		return -ENOENT;
	}
	hash_remove(c, idx);
	wr.wr_id = rdma_wr_id(RDMA_WR_MW, idx);
	wr.invalidate_rkey = w->rkey;
	ret = mw_post_wait(c, &wr);
	if (!ret)
		win_put_free(c, idx);
	else
		ret = win_kill(c, idx, ret);
	pthread_mutex_unlock(&c->mw_lock);
	return ret;
}

void conn_rdma_windows_free(struct rdma_conn *c)
{
	for (uint32_t i = 0; i < c->nwin; i++) {
		int ret;

		if (!c->win[i].mw)
			continue;
		ret = ibv_dealloc_mw(c->win[i].mw);
		if (ret)
			log_error_rl("%s: ibv_dealloc_mw: %s", c->base.peer,
				     strerror(ret));
	}
	free(c->win_hash);
	free(c->win);
}
