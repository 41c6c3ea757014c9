// SPDX-License-Identifier: MIT
/*
 * cmp-sim's cluster: the manager, the compute nodes (a pool without
 * contents joined to the cluster through the real glue, cluster.c) and
 * the memservers (cmp-memserver's wiring: its store, memserver/store.c,
 * behind the peer service, and a manager client of kind memserver), all
 * over mem:// in stepped mode. A memserver's store is a sparse file
 * that is never written (its blocks' memory is one shared scratch block,
 * as a pool's without contents), so its capacity costs nothing.
 *
 * Node i has id i + 1, serves at mem://sim-nID; the manager is at
 * mem://sim-mgr. Failures of the workload's calls (a full cluster, a
 * block on a node that died) are counted, never fatal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "manager.h"
#include "sim.h"
#include "store.h"

#define MGR_ADDR "mem://sim-mgr"
#define LEASE_CHECK_NS (1000 * SIM_MS)

/* Every block's memory, wherever it is: nothing is kept. */
static uint8_t scratch[SIM_BS];
static struct peer_store_ops ms_ops;

/* Room for what a big simulation opens; the daemons' --max-conns. */
static const struct server_limits limits = {.max_conns = 1u << 20};

static void *scratch_ptr(void *ctx, uint32_t idx)
{
	return scratch;
}

uint64_t sim_rand(struct sim_world *w)
{
	uint64_t x = w->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return w->rng = x;
}

int sim_world_init(struct sim_world *w, uint32_t nnodes, uint32_t lease_ms,
		   uint32_t heartbeat_ms, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	ms_ops = ms_store_ops;
	ms_ops.ptr = scratch_ptr;
	ms_ops.region = NULL;
	w->now_ns = 1000 * SIM_MS;
	w->lease_ms = lease_ms;
	w->heartbeat_ms = heartbeat_ms;
	w->rng = seed * 2654435761u + 88172645463325252ull;
	w->node = calloc(nnodes, sizeof(*w->node));
	if (!w->node)
		return -ENOMEM;
	w->nnodes = nnodes;
	for (uint32_t i = 0; i < nnodes; i++)
		w->node[i].id = i + 1;
	w->mgr = manager_create(&(struct manager_config){
		.listen_addr = MGR_ADDR,
		.heartbeat_ms = heartbeat_ms,
		.limits = &limits,
	});
	return w->mgr ? 0 : -errno;
}

/* ---- joining ---- */

static int join_compute(struct sim_world *w, struct sim_node *n,
			uint32_t blocks)
{
	char addr[32];

	n->pool = pool_create(&(struct pool_config){
		.local_bytes = (uint64_t)blocks * SIM_BS,
		.block_size = SIM_BS,
		.max_handles = blocks * 4 + 1024,
		.no_contents = true,
	});
	if (!n->pool)
		return -errno;
	snprintf(addr, sizeof(addr), "mem://sim-n%u", n->id);
	n->cl = cluster_create(&(struct cluster_config){
		.pool = n->pool,
		.manager_addr = MGR_ADDR,
		.listen_addr = addr,
		.node_id = n->id,
		.lease_ms = w->lease_ms,
		.limits = &limits,
	});
	if (!n->cl) {
		pool_destroy(n->pool);
		n->pool = NULL;
		return -errno;
	}
	n->peer = cluster_peer(n->cl);
	return 0;
}

/* What cmp-memserver's heartbeats say (memserver/main.c). */
static void ms_counts(void *ctx, struct proto_mgr_counts *out)
{
	struct sim_node *n = ctx;

	ms_store_mgr_counts(n->store, out);
}

/* A sparse file, unlinked at once: the store's blocks are never written. */
static int ms_store_open(uint32_t blocks, struct ms_store **out)
{
	const char *dir = getenv("TMPDIR");
	char path[256];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/cmp-sim-store-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	close(fd);
	ret = ms_store_create(path, (uint64_t)blocks * SIM_BS, SIM_BS, out);
	unlink(path);
	return ret;
}

static int join_memserver(struct sim_world *w, struct sim_node *n,
			  uint32_t blocks)
{
	char addr[32];
	int ret;

	ret = ms_store_open(blocks, &n->store);
	if (ret)
		return ret;
	snprintf(addr, sizeof(addr), "mem://sim-n%u", n->id);
	n->peer = peer_create(&(struct peer_config){
		.listen_addr = addr,
		.node_id = n->id,
		.block_size = SIM_BS,
		.ops = &ms_ops,
		.ctx = n->store,
		.limits = &limits,
		.lease_ms = w->lease_ms,
	});
	if (!n->peer)
		goto err_destroy_store;
	n->mgr = mgr_client_create(&(struct mgr_client_config){
		.manager_addr = MGR_ADDR,
		.node = n->id,
		.kind = MGR_KIND_MEMSERVER,
		.listen_addr = peer_listen_addr(n->peer),
		.block_size = SIM_BS,
		.capacity = ms_store_total(n->store),
		.counts = ms_counts,
		.ctx = n,
	});
	if (n->mgr)
		return 0;
	peer_destroy(n->peer);
	n->peer = NULL;
err_destroy_store:
	ret = errno ? -errno : -EINVAL;
	ms_store_destroy(n->store);
	n->store = NULL;
	return ret;
}

static void join(struct sim_world *w, struct sim_node *n, uint32_t blocks,
		 bool memserver)
{
	int ret;

	if (n->state != NODE_ABSENT || !blocks)
		return;
	n->memserver = memserver;
	n->local = blocks;
	ret = memserver ? join_memserver(w, n, blocks)
			: join_compute(w, n, blocks);
	if (ret) {
		fprintf(stderr, "cmp-sim: node %u cannot join: %s\n", n->id,
			strerror(-ret));
		return;
	}
	n->state = NODE_ALIVE;
	w->tot.joins++;
}

/* ---- the workload's calls ---- */

static int keep_handle(struct sim_node *n, uint32_t h)
{
	if (n->nh == n->caph) {
		size_t cap = n->caph ? n->caph * 2 : 256;
		uint32_t *p = realloc(n->h, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		n->h = p;
		n->caph = cap;
	}
	n->h[n->nh++] = h;
	return 0;
}

static void alloc_blocks(struct sim_world *w, struct sim_node *n, uint32_t k)
{
	uint32_t h;

	while (k--) {
		if (pool_alloc(n->pool, false, &h)) {
			/* a full cluster: the rest of the batch would fail too
			 */
			w->tot.alloc_fail++;
			return;
		}
		if (keep_handle(n, h)) {
			pool_free(n->pool, h);
			w->tot.alloc_fail++;
			return;
		}
		w->tot.allocs++;
	}
}

static void free_blocks(struct sim_world *w, struct sim_node *n, uint32_t k)
{
	while (k-- && n->nh) {
		size_t i = sim_rand(w) % n->nh;

		pool_free(n->pool, n->h[i]);
		n->h[i] = n->h[--n->nh];
		w->tot.frees++;
	}
}

static void read_blocks(struct sim_world *w, struct sim_node *n, uint32_t k)
{
	static uint8_t buf[512];

	while (k-- && n->nh) {
		size_t i = sim_rand(w) % n->nh;

		w->tot.reads++;
		if (pool_read(n->pool, n->h[i], 0, buf, sizeof(buf)))
			w->tot.read_fail++;
	}
}

/* The node's own data goes with it (it left, or died). */
static void drop_data(struct sim_world *w, struct sim_node *n)
{
	w->tot.gone_with_owner += n->nh;
	free(n->h);
	n->h = NULL;
	n->nh = n->caph = 0;
}

static void destroy_node(struct sim_world *w, struct sim_node *n, bool clean)
{
	if (n->memserver) {
		if (clean)
			mgr_client_leave(n->mgr);
		mgr_client_destroy(n->mgr);
		peer_destroy(n->peer);
		ms_store_destroy(n->store);
		n->mgr = NULL;
		n->store = NULL;
	} else {
		struct pool_counts pc;

		pool_get_counts(n->pool, &pc);
		w->retired.evictions += pc.evictions;
		w->retired.homecomings += pc.homecomings;
		w->retired.lent_moved += pc.lent_moved;
		w->retired.followed += pc.followed;
		if (clean)
			cluster_destroy(n->cl);
		else
			cluster_abandon(n->cl);
		pool_destroy(n->pool);
		n->cl = NULL;
		n->pool = NULL;
	}
	n->peer = NULL;
	drop_data(w, n);
}

static void die(struct sim_world *w, struct sim_node *n)
{
	destroy_node(w, n, false);
	n->state = NODE_DEAD;
	w->tot.deaths++;
}

void sim_world_apply(struct sim_world *w, const struct sim_event *e)
{
	struct sim_node *n;

	if (e->node >= w->nnodes)
		return;
	n = &w->node[e->node];
	if (e->op == OP_JOIN || e->op == OP_JOIN_MS) {
		join(w, n, e->arg, e->op == OP_JOIN_MS);
		return;
	}
	if (n->state != NODE_ALIVE)
		return;
	if (e->op == OP_DIE) {
		die(w, n);
		return;
	}
	if (n->memserver)
		return; /* memservers own no data and stay */
	switch (e->op) {
	case OP_ALLOC:
		alloc_blocks(w, n, e->arg);
		break;
	case OP_FREE:
		free_blocks(w, n, e->arg);
		break;
	case OP_READ:
		read_blocks(w, n, e->arg);
		break;
	case OP_LEAVE:
		n->state = NODE_LEAVING;
		break;
	}
}

/* ---- time passing ---- */

/* Does n lend (RLL) while it borrows (LRL) after its step? */
static void watch_debt(struct sim_world *w, struct sim_node *n)
{
	struct pool_counts pc;
	bool now;

	pool_get_counts(n->pool, &pc);
	now = pc.blocks[POOL_LRL] && pc.blocks[POOL_RLL];
	w->tot.debt_incidents += now && !n->debt_lending;
	w->tot.debt_ticks += now;
	n->debt_lending = now;
}

/* A leaving node drains; once its owners know where, it says goodbye. */
static void leave_step(struct sim_world *w, struct sim_node *n)
{
	if (cluster_drain(n->cl, 0))
		return;
	destroy_node(w, n, true);
	n->state = NODE_LEFT;
	w->tot.leaves++;
}

void sim_world_step(struct sim_world *w)
{
	manager_step(w->mgr);
	for (uint32_t i = 0; i < w->nnodes; i++) {
		struct sim_node *n = &w->node[i];

		if (n->state != NODE_ALIVE && n->state != NODE_LEAVING)
			continue;
		if (!n->memserver) {
			cluster_step(n->cl);
			watch_debt(w, n);
			if (n->state == NODE_LEAVING)
				leave_step(w, n);
			continue;
		}
		mgr_client_step(n->mgr);
		if (w->now_ns >= n->lease_at) {
			n->lease_at = w->now_ns + LEASE_CHECK_NS;
			peer_expire_leases(n->peer);
		}
	}
}

void sim_world_finish(struct sim_world *w)
{
	for (uint32_t i = 0; i < w->nnodes; i++)
		if (w->node[i].state == NODE_ALIVE ||
		    w->node[i].state == NODE_LEAVING)
			destroy_node(w, &w->node[i], true);
	manager_destroy(w->mgr);
	free(w->node);
	memset(w, 0, sizeof(*w));
}
