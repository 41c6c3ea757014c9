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
#include <sys/types.h>

#include "cmp.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cluster-internal.h"
#include "proto_block.h"
#include "remote.h"

/* ---- borrowing: where, even while the manager is down ---- */

/*
 * Asks the manager for candidates when ours are older than the TTL
 * (force: whatever their age), one thread at a time, never holding the
 * lock across the question. When the manager does not answer, the cached
 * list stays and the manager is not asked again for a second. 0 when a
 * fresh list came, else -errno (-EAGAIN: not asked).
 */
static int refresh_candidates(struct cluster *c, bool force)
{
	struct mgr_free_entry fresh[CANDIDATES];
	uint64_t now = cmp_now_ns();
	size_t n = 0;
	int ret;

	pthread_mutex_lock(&c->lock);
	if (c->refreshing || now < c->mgr_retry_at ||
	    (!force && now - c->cand_time <= CANDIDATE_TTL_NS)) {
		pthread_mutex_unlock(&c->lock);
		return -EAGAIN;
	}
	c->refreshing = true;
	pthread_mutex_unlock(&c->lock);

	ret = mgr_client_find_free(c->mgr, 1, fresh, CANDIDATES, &n);

	pthread_mutex_lock(&c->lock);
	c->refreshing = false;
	if (ret) {
		if (!c->mgr_down)
			log_warn("cluster: no answer from the manager (%s): "
				 "borrowing from the providers we know",
				 strerror(-ret));
		c->mgr_down = true;
		c->mgr_retry_at = cmp_now_ns() + MGR_RETRY_NS;
	} else {
		memcpy(c->cand, fresh, n * sizeof(*fresh));
		c->ncand = n;
		c->cand_time = now;
		c->free_hint = 0;
		for (size_t i = 0; i < n; i++)
			c->free_hint += fresh[i].free_hint;
		c->mgr_down = false;
		c->mgr_retry_at = 0;
	}
	pthread_mutex_unlock(&c->lock);
	/* the keeper opens connections to them before we need one */
	for (size_t i = 0; !ret && i < n; i++)
		if (!remote_add_node(c->remote, fresh[i].node, fresh[i].addr))
			remote_set_candidate(c->remote, fresh[i].node, true);
	return ret;
}

/* Nodes asked during one borrow (and those it must avoid). */
struct borrow_try {
	uint32_t tried[CANDIDATES + LENDERS + POOL_MAX_REPLICAS + 2];
	size_t ntried;
	uint32_t lenders[LENDERS];
	size_t nlenders;
	bool unreachable;
	uint8_t kind; /* only providers of this kind; 0: any */
};

static bool was_tried(const struct borrow_try *t, uint32_t node)
{
	for (size_t i = 0; i < t->ntried; i++)
		if (t->tried[i] == node)
			return true;
	return false;
}

/*
 * The best candidate now: compute nodes before memservers, most free first
 * by our running estimate (the manager's hint less what we took since), so
 * consecutive borrows spread over the nodes with the most idle memory.
 */
static ssize_t best_candidate_locked(struct cluster *c,
				     const struct borrow_try *t)
{
	ssize_t best = -1;

	for (size_t i = 0; i < c->ncand; i++) {
		const struct mgr_free_entry *e = &c->cand[i], *b;

		if (!e->free_hint || was_tried(t, e->node) ||
		    (t->kind && e->kind != t->kind))
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

/*
 * The next node to ask: the best candidate with room by our estimate; or,
 * with any (estimates say the cluster is full, or the manager is down and
 * they are old), every known candidate and every node that lent to us,
 * until each was asked once.
 */
static bool next_candidate(struct cluster *c, struct borrow_try *t, bool any,
			   struct mgr_free_entry *out)
{
	ssize_t i;

	pthread_mutex_lock(&c->lock);
	i = best_candidate_locked(c, t);
	for (size_t k = 0; i < 0 && any && k < c->ncand; k++)
		if (!was_tried(t, c->cand[k].node) &&
		    (!t->kind || c->cand[k].kind == t->kind))
			i = (ssize_t)k;
	if (i >= 0)
		*out = c->cand[i];
	pthread_mutex_unlock(&c->lock);
	if (i >= 0)
		return true;
	/* (a lender's kind is not known) */
	for (size_t k = 0; any && !t->kind && k < t->nlenders; k++) {
		if (was_tried(t, t->lenders[k]))
			continue;
		*out = (struct mgr_free_entry){.node = t->lenders[k]};
		return true;
	}
	return false;
}

static int try_candidate(struct cluster *c, const struct mgr_free_entry *e,
			 uint32_t n, struct pool_ref *out, uint32_t *got)
{
	struct proto_block_ref ref[POOL_BORROW_MAX];
	int ret = 0;

	if (e->addr[0]) {
		ret = remote_add_node(c->remote, e->node, e->addr);
		if (ret)
			return -EIO;
		remote_set_candidate(c->remote, e->node, true);
	}
	ret = remote_borrow_begin(c->remote, e->node);
	if (ret)
		return -EIO;
	*got = 0;
	ret = remote_alloc(c->remote, e->node, MIN(n, POOL_BORROW_MAX), ref,
			   got);
	if (!ret && *got) {
		/* one remote_borrow_end() each, once the pool recorded it */
		remote_borrow_more(c->remote, e->node, *got - 1);
		for (uint32_t i = 0; i < *got; i++)
			out[i] = (struct pool_ref){.node = e->node,
						   .block = ref[i].block,
						   .epoch = ref[i].epoch};
		return 0;
	}
	remote_borrow_end(c->remote, e->node);
	return ret ? ret : -ENOSPC;
}

/* Taken got, or full, or could not ask: update our estimate. */
static void note_answer(struct cluster *c, uint32_t node, int ret, uint32_t got)
{
	pthread_mutex_lock(&c->lock);
	for (size_t k = 0; k < c->ncand; k++)
		if (c->cand[k].node == node)
			c->cand[k].free_hint =
				ret ? 0
				    : c->cand[k].free_hint -
						MIN(got, c->cand[k].free_hint);
	pthread_mutex_unlock(&c->lock);
}

/*
 * Up to n blocks from the first provider of kind (0: any) that has room,
 * none of avoid[]: 0 and *got >= 1 loans in out[].
 */
static int borrow_kind_many(struct cluster *c, const uint32_t *avoid,
			    size_t navoid, uint8_t kind, uint32_t n,
			    struct pool_ref *out, uint32_t *got)
{
	struct borrow_try t = {.ntried = 0, .kind = kind};
	bool refreshed = false, any = false;
	struct mgr_free_entry e;
	size_t navoided;
	int ret;

	*got = 0;
	/* a node asked already is not asked again: nor are those avoided */
	for (size_t i = 0; i < navoid && i < POOL_MAX_REPLICAS + 2; i++)
		if (avoid[i])
			t.tried[t.ntried++] = avoid[i];
	navoided = t.ntried;
	refresh_candidates(c, false);
	for (;;) {
		if (!next_candidate(c, &t, any, &e)) {
			if (!refreshed) {
				refreshed = true;
				if (refresh_candidates(c, true) == 0)
					continue;
			}
			/* hints are no answer: ask the rest before ENOSPC */
			if (any)
				break;
			any = true;
			t.nlenders =
				remote_lenders(c->remote, t.lenders, LENDERS);
			continue;
		}
		if (t.ntried == ARRAY_SIZE(t.tried))
			break;
		t.tried[t.ntried++] = e.node;
		ret = try_candidate(c, &e, n, out, got);
		note_answer(c, e.node, ret, *got);
		if (!ret)
			return 0;
		if (ret == -ENOSPC)
			continue;
		t.unreachable = true;
		log_warn_rl("cluster: borrowing from node %u: %s", e.node,
			    strerror(-ret));
	}
	/* no manager and nobody to ask is a network failure too */
	pthread_mutex_lock(&c->lock);
	t.unreachable = t.unreachable || (c->mgr_down && t.ntried <= navoided);
	pthread_mutex_unlock(&c->lock);
	return t.unreachable ? -EIO : -ENOSPC;
}

static int borrow_kind(struct cluster *c, const uint32_t *avoid, size_t navoid,
		       uint8_t kind, struct pool_ref *out)
{
	uint32_t got;

	return borrow_kind_many(c, avoid, navoid, kind, 1, out, &got);
}

int cluster_borrow_many(struct cluster *c, const uint32_t *avoid, size_t navoid,
			uint32_t n, struct pool_ref *out, uint32_t *got)
{
	return borrow_kind_many(c, avoid, navoid, 0, n, out, got);
}

int cluster_borrow(struct cluster *c, const uint32_t *avoid, size_t navoid,
		   struct pool_ref *out)
{
	return borrow_kind(c, avoid, navoid, 0, out);
}

/*
 * One block elsewhere. -ENOSPC only when every provider we could ask said
 * it is full; -EIO when one could not be reached (a network failure is not
 * a full cluster).
 */
static int op_borrow(void *ctx, const uint32_t *avoid, uint32_t navoid,
		     struct pool_ref *out)
{
	return cluster_borrow(ctx, avoid, navoid, out);
}

static int op_borrow_many(void *ctx, uint32_t n, struct pool_ref *out,
			  uint32_t *got)
{
	return cluster_borrow_many(ctx, NULL, 0, n, out, got);
}

/* The same on a memserver: a write policy's copy (pool/wpolicy.c). */
static int op_borrow_memserver(void *ctx, const uint32_t *avoid,
			       uint32_t navoid, struct pool_ref *out)
{
	return borrow_kind(ctx, avoid, navoid, MGR_KIND_MEMSERVER, out);
}

void cluster_learn_node(struct cluster *c, uint32_t node, const char *addr)
{
	char known[PROTO_BLOCK_ADDR_LEN];
	struct mgr_node_info *info;
	size_t n = 0;

	if (addr && addr[0]) {
		if (remote_node_addr(c->remote, node, known) < 0 ||
		    strcmp(known, addr))
			remote_add_node(c->remote, node, addr);
		return;
	}
	if (remote_node_addr(c->remote, node, known) == 0)
		return;
	/* every node the manager lists (a cluster of more than 64 too) */
	info = calloc(PROTO_MGR_MAX_NODES, sizeof(*info));
	if (info && mgr_client_nodes(c->mgr, info, PROTO_MGR_MAX_NODES, &n) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++)
		if (info[i].node == node && info[i].addr[0])
			remote_add_node(c->remote, node, info[i].addr);
	free(info);
}

static void op_borrowed(void *ctx, const struct pool_ref *r)
{
	struct cluster *c = ctx;

	remote_borrow_end(c->remote, r->node);
}

/*
 * Gives loans on one node back, from the pool's helper thread. A FREE
 * that does not arrive is not retried: the reconciliation it asks for
 * frees everything we no longer claim.
 */
static void op_release(void *ctx, const struct pool_ref *refs, uint32_t n)
{
	struct proto_block_ref out[POOL_RELEASE_MAX];
	struct cluster *c = ctx;
	uint32_t node = refs[0].node;
	int ret = 0;

	for (uint32_t done = 0; !ret && done < n;) {
		uint32_t k = MIN(n - done, POOL_RELEASE_MAX);

		for (uint32_t i = 0; i < k; i++)
			out[i] = (struct proto_block_ref){refs[done + i].block,
							  refs[done + i].epoch};
		ret = remote_free(c->remote, node, out, k);
		done += k;
	}
	if (ret) {
		log_debug("cluster: giving %u blocks back to node %u: %s; "
			  "reconciling with it",
			  n, node, strerror(-ret));
		remote_want_reconcile(c->remote, node);
	}
}

static void op_reconcile(void *ctx, uint32_t node)
{
	struct cluster *c = ctx;
	uint32_t ids[LENDERS * 4];
	size_t n;

	if (node) {
		remote_want_reconcile(c->remote, node);
		return;
	}
	n = remote_lenders(c->remote, ids, ARRAY_SIZE(ids));
	for (size_t i = 0; i < n; i++)
		remote_want_reconcile(c->remote, ids[i]);
}

static uint64_t op_remote_free(void *ctx)
{
	struct cluster *c = ctx;
	uint64_t n;

	if (mgr_client_registered(c->mgr))
		refresh_candidates(c, false);
	pthread_mutex_lock(&c->lock);
	n = c->free_hint;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static const struct pool_cluster_ops pool_ops = {
	.borrow = op_borrow,
	.borrow_many = op_borrow_many,
	.borrow_memserver = op_borrow_memserver,
	.borrowed = op_borrowed,
	.release = op_release,
	.reconcile = op_reconcile,
	.read = cluster_op_read,
	.write = cluster_op_write,
	.read_many = cluster_read_many,
	.write_many = cluster_write_many,
	.write_copies = cluster_op_write_copies,
	.remote_free = op_remote_free,
	.move_lent = cluster_move_lent,
	.forwarding = cluster_forwarding,
};

/* ---- what the block client asks and tells of our loans ---- */

static uint32_t own_loans(void *ctx, uint32_t node, uint32_t *cursor,
			  struct proto_block_ref *refs, uint32_t *tags,
			  uint32_t max)
{
	struct pool_ref pr[POOL_RELEASE_MAX];
	struct cluster *c = ctx;
	uint32_t n;

	n = pool_loans_on(c->pool, node, cursor, pr, tags,
			  MIN(max, POOL_RELEASE_MAX));
	for (uint32_t i = 0; i < n; i++)
		refs[i] = (struct proto_block_ref){pr[i].block, pr[i].epoch};
	return n;
}

static void own_lost(void *ctx, uint32_t node,
		     const struct proto_block_ref *refs, const uint32_t *tags,
		     uint32_t n)
{
	struct pool_ref pr[POOL_RELEASE_MAX];
	struct cluster *c = ctx;
	uint32_t lost = 0, copies = 0, k_copies;

	for (uint32_t done = 0; done < n;) {
		uint32_t k = MIN(n - done, POOL_RELEASE_MAX);

		for (uint32_t i = 0; i < k; i++)
			pr[i] = (struct pool_ref){node, refs[done + i].block,
						  refs[done + i].epoch};
		lost += pool_loans_lost(c->pool, pr, tags + done, k, &k_copies);
		copies += k_copies;
		done += k;
	}
	cluster_report_losses(c, node, "no longer holds", copies, lost);
}

void cluster_report_losses(struct cluster *c, uint32_t node, const char *what,
			   uint32_t copies, uint32_t lost)
{
	if (lost)
		log_warn("cluster: node %u %s %u of our blocks' copies: %u "
			 "blocks had no other and are lost (EIO)",
			 node, what, copies, lost);
	else if (copies)
		log_warn("cluster: node %u %s %u of our blocks' copies; every "
			 "block has another, the missing copies are made again",
			 node, what, copies);
	(void)c;
}

static void own_restarted(void *ctx, uint32_t node)
{
	struct cluster *c = ctx;
	uint32_t copies, lost = pool_provider_dead(c->pool, node, &copies);

	cluster_report_losses(c, node, "restarted and lost", copies, lost);
}

static void own_health(void *ctx, uint32_t node, bool up)
{
	struct cluster *c = ctx;

	pool_set_node_suspect(c->pool, node, !up);
}

static const struct remote_owner_ops owner_ops = {
	.loans = own_loans,
	.lost = own_lost,
	.restarted = own_restarted,
	.health = own_health,
};

/* ---- the manager client's callbacks ---- */

static void mgr_counts(void *ctx, struct proto_mgr_counts *out)
{
	struct cluster *c = ctx;
	struct pool_counts pc;

	pool_get_counts(c->pool, &pc);
	/*
	 * What we offer is what we would lend: nothing while we drain, leave
	 * or borrow, never our reserve, no more than our
	 * lending cap. (Offering all free blocks made the
	 * manager name nodes that refuse, ahead of the memservers: with
	 * enough nodes, the memservers were never named and allocations
	 * failed while they were empty; cmp-sim.)
	 */
	out->free = pool_lendable(c->pool);
	out->lll = pc.blocks[POOL_LLL];
	out->lrl = pc.blocks[POOL_LRL];
	out->rll = pc.blocks[POOL_RLL];
	out->rrl = pc.blocks[POOL_RRL];
}

/* What we moved, for cmpctl top: file bytes, frame bytes both ways. */
static void mgr_traffic(void *ctx, struct proto_mgr_traffic *out)
{
	struct cluster *c = ctx;
	struct cluster_stats cs;

	cluster_get_stats(c, &cs);
	out->net_rx_bytes = cs.bytes_received + cs.served_received;
	out->net_tx_bytes = cs.bytes_sent + cs.served_sent;
	if (c->io_bytes)
		c->io_bytes(c->io_ctx, &out->read_bytes, &out->write_bytes);
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
	uint32_t lost, copies;
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
		/* our own look: a dead provider is suspect to us at once */
		remote_probe(c->remote, node);
		break;
	case MGR_NODE_LEFT:
		/* it said it is gone for good: our blocks there went too */
		drop_candidate(c, node);
		remote_node_dead(c->remote, node);
		lost = pool_provider_dead(c->pool, node, &copies);
		if (copies)
			cluster_report_losses(c, node, "left and took", copies,
					      lost);
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
		.ops = &cluster_store_ops,
		.ctx = c,
		.lease_ms = cfg->lease_ms,
		.limits = cfg->limits,
		.max_blocks = pool_max_blocks(c->pool),
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
		.wpolicy = pool_get_wpolicy(c->pool),
		.listen_addr = peer_listen_addr(c->peer),
		.block_size = pool_block_size(c->pool),
		.capacity = pool_local_blocks(c->pool),
		.counts = mgr_counts,
		.traffic = mgr_traffic,
		/* cmpfs says what a failure at start-up means (fs/main.c) */
		.caller_reports_start = true,
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
	cluster_drain_init(c);
	c->pool = cfg->pool;
	c->node = cfg->node_id ? cfg->node_id : random_node_id();
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms
					    : REMOTE_DEFAULT_TIMEOUT_MS;
	c->io_bytes = cfg->io_bytes;
	c->io_ctx = cfg->io_ctx;

	c->remote =
		remote_create(cfg->keyring, c->node, pool_block_size(c->pool));
	if (!c->remote)
		goto err_errno;
	remote_set_timeout(c->remote, c->timeout_ms);
	remote_set_owner(c->remote, &owner_ops, c);
	c->peer = create_peer(c, cfg);
	if (!c->peer)
		goto err_errno;
	c->mgr = create_mgr_client(c, cfg);
	if (!c->mgr)
		goto err_errno;
	err = -cluster_notifier_start(c);
	if (err)
		goto err_destroy_parts;
	err = -pool_set_cluster(cfg->pool, &pool_ops, c);
	if (err)
		goto err_stop_notifier;
	log_info("cluster: node %u serving at %s, manager %s", c->node,
		 peer_listen_addr(c->peer), cfg->manager_addr);
	return c;

err_errno:
	err = errno ? errno : EINVAL;
	goto err_destroy_parts;
err_stop_notifier:
	cluster_notifier_stop(c);
err_destroy_parts:
	mgr_client_destroy(c->mgr);
	peer_destroy(c->peer);
	remote_destroy(c->remote);
	cluster_drain_finish(c);
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
	struct server_stats ss;
	struct remote_stats rs;

	peer_get_server_stats(c->peer, &ss);
	out->served_received = ss.rx_bytes;
	out->served_sent = ss.tx_bytes;
	remote_stats(c->remote, &rs);
	out->requests = rs.requests;
	out->bytes_sent = rs.bytes_sent;
	out->bytes_received = rs.bytes_received;
	out->errors = rs.errors;
	out->suspects = rs.suspects;
	out->reconciles = rs.reconciles;
	out->node_id = c->node;
	out->meta_bytes = pool_meta_bytes(c->pool) + peer_meta_bytes(c->peer) +
			  remote_meta_bytes(c->remote, &out->provider_conns);
}

/* How often the peer's leases are looked at in stepped mode. */
#define LEASE_CHECK_NS 1000000000ull

void cluster_step(struct cluster *c)
{
	uint64_t now = cmp_now_ns();

	if (!cmp_stepped())
		return;
	mgr_client_step(c->mgr);
	remote_keeper_step(c->remote);
	cluster_notifier_step(c);
	pool_helper_step(c->pool);
	if (now >= c->lease_at) {
		c->lease_at = now + LEASE_CHECK_NS;
		peer_expire_leases(c->peer);
	}
}

struct peer *cluster_peer(struct cluster *c)
{
	return c->peer;
}

/* The end of c; goodbye: a clean shutdown, else as after a crash. */
static void teardown(struct cluster *c, bool goodbye)
{
	cluster_drain_stop(c, false);
	/* write-back: the memserver copies behind are written first */
	if (goodbye)
		cluster_flush_memserver(c);
	pool_stop_cluster(c->pool);
	cluster_notifier_stop(c);
	if (goodbye) {
		/* our providers end our loans now, not at lease end */
		remote_goodbye_all(c->remote);
		/* and the manager shows us as left, not suspect */
		mgr_client_leave(c->mgr);
	}
	mgr_client_destroy(c->mgr);
	peer_destroy(c->peer);
	remote_destroy(c->remote);
	cluster_drain_finish(c);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void cluster_destroy(struct cluster *c)
{
	if (c)
		teardown(c, true);
}

void cluster_abandon(struct cluster *c)
{
	if (c)
		teardown(c, false);
}
