// SPDX-License-Identifier: MIT
/*
 * The glue between a pool and the cluster (see include/cmp/pool.h): the
 * pool's borrow/release/read/write ops on top of the manager client and
 * the remote client, and the peer service's store on top of the pool's
 * lending calls.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cmp.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "remote.h"

#define CANDIDATES 16
#define CANDIDATE_TTL_NS 500000000ull /* re-ask the manager after 0.5 s */
#define FREE_TTL_NS 1000000000ull

struct cluster {
	struct pool *pool;
	uint32_t node;
	struct peer *peer;
	struct remote *remote;
	struct mgr_client *mgr;

	pthread_mutex_t lock;
	/* lock: where to borrow next, in the manager's tier order */
	struct mgr_free_entry cand[CANDIDATES];
	size_t ncand;
	uint64_t cand_time;
	uint64_t free_hint, free_time;
};

/* ---- the pool's cluster ops ---- */

static int refresh_candidates_locked(struct cluster *c)
{
	size_t n = 0;
	int ret;

	ret = mgr_client_find_free(c->mgr, 1, c->cand, CANDIDATES, &n);
	c->ncand = ret ? 0 : n;
	c->cand_time = cmp_now_ns();
	c->free_hint = 0;
	for (size_t i = 0; i < c->ncand; i++)
		c->free_hint += c->cand[i].free_hint;
	c->free_time = c->cand_time;
	if (ret)
		log_warn("cluster: no answer from the manager: %s",
			 strerror(-ret));
	return ret;
}

static int try_candidate(struct cluster *c, const struct mgr_free_entry *e,
			 struct pool_ref *out)
{
	struct proto_block_ref ref;
	uint32_t got = 0;
	int ret = remote_add_node(c->remote, e->node, e->addr);

	if (!ret)
		ret = remote_alloc(c->remote, e->node, 1, &ref, &got);
	if (!ret && got == 1) {
		*out = (struct pool_ref){.node = e->node,
					 .block = ref.block,
					 .epoch = ref.epoch};
		return 0;
	}
	return ret ? ret : -ENOSPC;
}

/*
 * The best candidate now: compute nodes before memservers, most free first
 * by our running estimate (the manager's hint less what we took since), so
 * consecutive borrows spread over the nodes with the most idle memory.
 */
static ssize_t best_candidate_locked(struct cluster *c)
{
	ssize_t best = -1;

	for (size_t i = 0; i < c->ncand; i++) {
		const struct mgr_free_entry *e = &c->cand[i], *b;

		if (!e->free_hint)
			continue;
		b = best >= 0 ? &c->cand[best] : NULL;
		if (!b ||
		    (e->kind == MGR_KIND_COMPUTE) >
			    (b->kind == MGR_KIND_COMPUTE) ||
		    ((e->kind == MGR_KIND_COMPUTE) ==
			     (b->kind == MGR_KIND_COMPUTE) &&
		     e->free_hint > b->free_hint))
			best = (ssize_t)i;
	}
	return best;
}

static int op_borrow(void *ctx, struct pool_ref *out)
{
	struct cluster *c = ctx;
	bool refreshed = false;
	struct mgr_free_entry e;
	ssize_t i;
	int ret;

	for (;;) {
		pthread_mutex_lock(&c->lock);
		i = cmp_now_ns() - c->cand_time > CANDIDATE_TTL_NS
			    ? -1
			    : best_candidate_locked(c);
		if (i < 0) {
			if (refreshed) {
				pthread_mutex_unlock(&c->lock);
				return -ENOSPC;
			}
			refresh_candidates_locked(c);
			refreshed = true;
			i = best_candidate_locked(c);
			if (i < 0) {
				pthread_mutex_unlock(&c->lock);
				return -ENOSPC;
			}
		}
		e = c->cand[i];
		pthread_mutex_unlock(&c->lock);

		ret = try_candidate(c, &e, out);
		pthread_mutex_lock(&c->lock);
		/* Taken one, or full or gone: update our estimate. */
		for (size_t k = 0; k < c->ncand; k++) {
			if (c->cand[k].node != e.node)
				continue;
			c->cand[k].free_hint =
				ret ? 0 : c->cand[k].free_hint - 1;
		}
		pthread_mutex_unlock(&c->lock);
		if (!ret)
			return 0;
		if (ret != -ENOSPC)
			log_warn("cluster: borrowing from node %u (%s): %s",
				 e.node, e.addr, strerror(-ret));
	}
}

static void op_release(void *ctx, const struct pool_ref *r)
{
	struct cluster *c = ctx;
	struct proto_block_ref ref = {r->block, r->epoch};
	int ret = remote_free(c->remote, r->node, &ref, 1);

	if (ret && ret != -EIO)
		log_warn("cluster: freeing block %u on node %u: %s", r->block,
			 r->node, strerror(-ret));
}

static int remote_error(const struct pool_ref *r, const char *what, int ret)
{
	if (ret == -EREMCHG) /* MOVED: we never move lent blocks on (yet) */
		ret = -EIO;
	log_error_rl("cluster: %s block %u (epoch %u) on node %u: %s", what,
		     r->block, r->epoch, r->node, strerror(-ret));
	return -EIO;
}

static int op_read(void *ctx, const struct pool_ref *r, uint32_t off, void *dst,
		   uint32_t len)
{
	struct cluster *c = ctx;
	struct proto_block_moved moved;
	int ret = remote_read(c->remote, r->node,
			      (struct proto_block_ref){r->block, r->epoch}, off,
			      dst, len, &moved);

	return ret ? remote_error(r, "reading", ret) : 0;
}

static int op_write(void *ctx, const struct pool_ref *r, uint32_t off,
		    const void *src, uint32_t len)
{
	struct cluster *c = ctx;
	struct proto_block_moved moved;
	int ret = remote_write(c->remote, r->node,
			       (struct proto_block_ref){r->block, r->epoch},
			       off, src, len, &moved);

	return ret ? remote_error(r, "writing", ret) : 0;
}

static uint64_t op_remote_free(void *ctx)
{
	struct cluster *c = ctx;
	uint64_t n;

	pthread_mutex_lock(&c->lock);
	if (cmp_now_ns() - c->free_time > FREE_TTL_NS &&
	    mgr_client_registered(c->mgr))
		refresh_candidates_locked(c);
	n = c->free_hint;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static const struct pool_cluster_ops pool_ops = {
	.borrow = op_borrow,
	.release = op_release,
	.read = op_read,
	.write = op_write,
	.remote_free = op_remote_free,
};

/* ---- the peer service's store: our free blocks, lent ---- */

static int st_alloc(void *ctx, uint32_t owner, uint32_t n, uint32_t *idx)
{
	struct cluster *c = ctx;
	uint32_t got = pool_lend(c->pool, owner, n, idx);

	return got ? (int)got : -ENOSPC;
}

static void st_free(void *ctx, const uint32_t *idx, uint32_t n)
{
	struct cluster *c = ctx;

	pool_unlend(c->pool, idx, n);
}

static void *st_ptr(void *ctx, uint32_t idx)
{
	struct cluster *c = ctx;

	return pool_block_addr(c->pool, idx);
}

static void st_counts(void *ctx, uint32_t *total, uint32_t *free)
{
	struct cluster *c = ctx;
	struct pool_counts pc;

	pool_get_counts(c->pool, &pc);
	*total = (uint32_t)pc.local_blocks;
	*free = (uint32_t)pc.blocks[POOL_FREE];
}

static void *st_region(void *ctx, size_t *len)
{
	struct cluster *c = ctx;

	*len = (size_t)pool_local_blocks(c->pool) * pool_block_size(c->pool);
	return pool_block_addr(c->pool, 0);
}

static const struct peer_store_ops store_ops = {
	.alloc = st_alloc,
	.free = st_free,
	.ptr = st_ptr,
	.counts = st_counts,
	.region = st_region,
};

/* ---- the manager client's callbacks ---- */

static void mgr_counts(void *ctx, struct proto_mgr_counts *out)
{
	struct cluster *c = ctx;
	struct pool_counts pc;

	pool_get_counts(c->pool, &pc);
	out->free = pc.blocks[POOL_FREE];
	out->lll = pc.blocks[POOL_LLL];
	out->lrl = pc.blocks[POOL_LRL];
	out->rll = pc.blocks[POOL_RLL];
	out->rrl = pc.blocks[POOL_RRL];
}

/* Stops borrowing from node until the manager offers it again. */
static void drop_candidate(struct cluster *c, uint32_t node)
{
	pthread_mutex_lock(&c->lock);
	for (size_t k = 0; k < c->ncand; k++)
		if (c->cand[k].node == node)
			c->cand[k].free_hint = 0;
	pthread_mutex_unlock(&c->lock);
}

/*
 * The manager's news of another node: information, never a reason to free
 * what we hold for it (only its goodbye or our lease on it ends a loan).
 */
static void mgr_node_state(void *ctx, uint32_t node, enum mgr_node_state state,
			   const char *addr)
{
	struct cluster *c = ctx;
	uint32_t lost;
	int ret;

	switch (state) {
	case MGR_NODE_ALIVE:
		ret = remote_add_node(c->remote, node, addr);
		if (ret)
			log_warn("cluster: node %u at %s: %s", node, addr,
				 strerror(-ret));
		break;
	case MGR_NODE_SUSPECT:
		log_info("cluster: the manager finds node %u suspect; its "
			 "blocks and ours stay as they are",
			 node);
		drop_candidate(c, node);
		break;
	case MGR_NODE_LEFT:
		/* it said it is gone for good: our blocks there went too */
		drop_candidate(c, node);
		remote_node_dead(c->remote, node);
		lost = pool_provider_dead(c->pool, node);
		if (lost)
			log_warn("cluster: node %u left the cluster: %u of our "
				 "blocks there are lost",
				 node, lost);
		else
			log_info("cluster: node %u left the cluster", node);
		break;
	}
}

static uint32_t random_node_id(void)
{
	uint32_t id = 0;

	while (!id)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint32_t)cmp_now_ns();
	return id;
}

/* The peer service that lends our free blocks (RLL). */
static struct peer *create_peer(struct cluster *c,
				const struct cluster_config *cfg)
{
	return peer_create(&(struct peer_config){
		.listen_addr = cfg->listen_addr,
		.keyring = cfg->keyring,
		.node_id = c->node,
		.block_size = pool_block_size(c->pool),
		.ops = &store_ops,
		.ctx = c,
		.lease_ms = cfg->lease_ms,
		.limits = cfg->limits,
	});
}

/* Registers us, at the address the peer service listens on. */
static struct mgr_client *create_mgr_client(struct cluster *c,
					    const struct cluster_config *cfg)
{
	return mgr_client_create(&(struct mgr_client_config){
		.manager_addr = cfg->manager_addr,
		.keyring = cfg->keyring,
		.node = c->node,
		.kind = MGR_KIND_COMPUTE,
		.listen_addr = peer_listen_addr(c->peer),
		.block_size = pool_block_size(c->pool),
		.capacity = pool_local_blocks(c->pool),
		.counts = mgr_counts,
		.node_state = mgr_node_state,
		.ctx = c,
	});
}

struct cluster *cluster_create(const struct cluster_config *cfg)
{
	struct cluster *c = calloc(1, sizeof(*c));
	int err = ENOMEM;

	if (!c)
		goto err_out;
	pthread_mutex_init(&c->lock, NULL);
	c->pool = cfg->pool;
	c->node = cfg->node_id ? cfg->node_id : random_node_id();

	c->remote =
		remote_create(cfg->keyring, c->node, pool_block_size(c->pool));
	if (!c->remote)
		goto err_errno;
	if (cfg->timeout_ms > 0)
		remote_set_timeout(c->remote, cfg->timeout_ms);
	c->peer = create_peer(c, cfg);
	if (!c->peer)
		goto err_errno;
	c->mgr = create_mgr_client(c, cfg);
	if (!c->mgr)
		goto err_errno;
	err = -pool_set_cluster(cfg->pool, &pool_ops, c);
	if (err)
		goto err_destroy_parts;
	log_info("cluster: node %u serving at %s, manager %s", c->node,
		 peer_listen_addr(c->peer), cfg->manager_addr);
	return c;

err_errno:
	err = errno ? errno : EINVAL;
err_destroy_parts:
	mgr_client_destroy(c->mgr);
	peer_destroy(c->peer);
	remote_destroy(c->remote);
	pthread_mutex_destroy(&c->lock);
	free(c);
err_out:
	errno = err;
	return NULL;
}

int cluster_wait_registered(struct cluster *c, int timeout_ms)
{
	return mgr_client_wait_registered(c->mgr, timeout_ms);
}

void cluster_get_stats(struct cluster *c, struct cluster_stats *out)
{
	struct remote_stats rs;

	remote_stats(c->remote, &rs);
	out->requests = rs.requests;
	out->bytes_sent = rs.bytes_sent;
	out->bytes_received = rs.bytes_received;
	out->errors = rs.errors;
	out->node_id = c->node;
}

void cluster_destroy(struct cluster *c)
{
	if (!c)
		return;
	pool_stop_cluster(c->pool);
	/* a clean shutdown: our providers end our loans now, not at lease end
	 */
	remote_goodbye_all(c->remote);
	/* and the manager shows us as left, not suspect */
	mgr_client_leave(c->mgr);
	mgr_client_destroy(c->mgr);
	peer_destroy(c->peer);
	remote_destroy(c->remote);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
