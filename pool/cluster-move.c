// SPDX-License-Identifier: MIT
/*
 * Principles 3 and 5 in the cluster glue. A node that needs its memory
 * back while it lends moves a lent block on: the peer service stops
 * accesses to it (they get BUSY, the ones in flight finish), we borrow a
 * block on a third node in tier order (never the owner's, never ours),
 * copy the content there, hand that loan to the owner (HANDOVER), and the
 * old loan becomes a forwarding record (RRL). The owner learns where its
 * block went from our notice, or from the MOVED answer to its next
 * request; the notifier thread sends the notices (at once after a move,
 * again later when the owner did not take one) and drops the record once
 * the owner answered. As an owner, we take notices here: the pool updates
 * the handle that names the old loan.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "cluster-internal.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "remote.h"

/* Notices sent per pass of the notifier. */
#define NOTICE_BATCH 32
/* While records wait for their owners, the notifier looks this often. */
#define NOTICE_POLL_MS 250

/* Tells the notifier there is work. */
static void kick_notifier(struct cluster *c)
{
	pthread_mutex_lock(&c->nlock);
	c->nkick = true;
	pthread_cond_signal(&c->nwake);
	pthread_mutex_unlock(&c->nlock);
}

/*
 * Copies lent block idx into our loan to on another node and hands it to
 * owner there: 0 and its new epoch, or -errno (the loan on `to` is then
 * given back, unless the handover may have happened).
 */
static int copy_and_hand_over(struct cluster *c, uint32_t idx, uint32_t owner,
			      const struct pool_ref *to, uint32_t *epoch)
{
	struct proto_block_ref ref = {to->block, to->epoch};
	int ret;

	ret = remote_write(c->remote, to->node, ref, 0,
			   pool_block_addr(c->pool, idx),
			   pool_block_size(c->pool), NULL);
	/* the owner let go of it while we copied: nothing to hand over */
	if (!ret && !peer_move_wanted(c->peer, idx))
		ret = -ESTALE;
	if (!ret)
		ret = remote_handover(c->remote, to->node, ref, owner, epoch);
	if (ret && ret != -EIO && ret != -ETIMEDOUT)
		remote_free(c->remote, to->node, &ref, 1);
	return ret;
}

int cluster_move_lent(void *ctx, uint32_t idx)
{
	struct cluster *c = ctx;
	uint32_t owner, epoch, new_epoch;
	struct pool_ref to;
	int ret;

	ret = peer_move_begin(c->peer, idx, c->timeout_ms, &owner, &epoch);
	if (ret < 0)
		return ret;
	ret = cluster_borrow(c, &owner, 1, &to);
	if (ret < 0)
		goto err_unmove;
	ret = copy_and_hand_over(c, idx, owner, &to, &new_epoch);
	remote_borrow_end(c->remote, to.node);
	if (ret < 0) {
		log_warn_rl("cluster: moving block %u of node %u on to node "
			    "%u: %s; it stays here",
			    idx, owner, to.node, strerror(-ret));
		goto err_unmove;
	}
	/* a record (or, the owner gone meanwhile, none): the block is ours */
	peer_move_end(c->peer, idx,
		      &(struct peer_loan){to.node, to.block, new_epoch});
	log_debug("cluster: block %u of node %u moved on to node %u block %u",
		  idx, owner, to.node, to.block);
	kick_notifier(c);
	return 0;

err_unmove:
	peer_move_end(c->peer, idx, NULL);
	/* a failed copy is no full cluster: another block, another node */
	return ret == -ENOSPC ? -ENOSPC : ret == -ESTALE ? -ESTALE : -EIO;
}

uint64_t cluster_forwarding(void *ctx)
{
	struct cluster *c = ctx;

	return peer_forwarding(c->peer);
}

int cluster_node_addr(void *ctx, uint32_t node, char *addr)
{
	struct cluster *c = ctx;

	return remote_node_addr(c->remote, node, addr);
}

int cluster_notice(void *ctx, uint32_t from_node,
		   const struct proto_block_moved *mv)
{
	struct cluster *c = ctx;
	struct pool_ref old = {from_node, mv->from, mv->from_epoch};
	struct pool_ref now = {mv->node, mv->block, mv->epoch};
	int ret;

	cluster_learn_node(c, mv->node, mv->addr);
	/* before the pool names it: the keeper keeps its lease on us */
	remote_note_lender(c->remote, mv->node);
	ret = pool_loan_moved(c->pool, &old, &now,
			      mv->flags & PROTO_BLOCK_MOVED_FREED);
	log_debug("cluster: node %u moved our block %u on to node %u block "
		  "%u: %s",
		  from_node, mv->from, mv->node, mv->block,
		  ret ? "not ours (yet)" : "noted");
	return ret;
}

void cluster_notices_due(void *ctx)
{
	kick_notifier(ctx);
}

/* One notice; an owner we cannot reach yet is looked up once. */
static int send_notice(struct cluster *c, const struct peer_notice *n)
{
	int ret = remote_notice(c->remote, n->owner, &n->mv);

	if (ret == -EHOSTUNREACH) {
		cluster_learn_node(c, n->owner, NULL);
		ret = remote_notice(c->remote, n->owner, &n->mv);
	}
	if (ret < 0 && ret != -ENOENT)
		log_debug("cluster: telling node %u where its block %u went: "
			  "%s",
			  n->owner, n->mv.from, strerror(-ret));
	return ret;
}

/* Sends what is due; true when anything was. */
static bool notify_pass(struct cluster *c)
{
	struct peer_notice due[NOTICE_BATCH];
	size_t n = peer_notices_due(c->peer, due, NOTICE_BATCH);

	for (size_t i = 0; i < n; i++)
		peer_notice_done(c->peer, &due[i], send_notice(c, &due[i]));
	return n > 0;
}

static void *notifier_main(void *arg)
{
	struct cluster *c = arg;
	struct timespec dl;

	pthread_mutex_lock(&c->nlock);
	while (!c->nstop) {
		if (!c->nkick) {
			cmp_deadline_ms(&dl, NOTICE_POLL_MS);
			pthread_cond_timedwait(&c->nwake, &c->nlock, &dl);
		}
		c->nkick = false;
		if (c->nstop)
			break;
		pthread_mutex_unlock(&c->nlock);
		while (notify_pass(c))
			;
		pthread_mutex_lock(&c->nlock);
	}
	pthread_mutex_unlock(&c->nlock);
	return NULL;
}

void cluster_notifier_step(struct cluster *c)
{
	uint64_t now = cmp_now_ns();
	bool due;

	pthread_mutex_lock(&c->nlock);
	due = c->nstepped && (c->nkick || now >= c->nnext);
	if (due) {
		c->nkick = false;
		c->nnext = now + NOTICE_POLL_MS * 1000000ull;
	}
	pthread_mutex_unlock(&c->nlock);
	while (due && notify_pass(c))
		;
}

int cluster_notifier_start(struct cluster *c)
{
	int ret;

	pthread_mutex_init(&c->nlock, NULL);
	cmp_cond_init_monotonic(&c->nwake);
	c->nstop = false;
	c->nstepped = cmp_stepped();
	if (c->nstepped)
		return 0;
	ret = -pthread_create(&c->notifier, NULL, notifier_main, c);
	if (ret) {
		log_error("cluster: cannot start the notifier: %s",
			  strerror(-ret));
		pthread_cond_destroy(&c->nwake);
		pthread_mutex_destroy(&c->nlock);
		return ret;
	}
	c->notifier_running = true;
	return 0;
}

void cluster_notifier_stop(struct cluster *c)
{
	if (c->nstepped) {
		c->nstepped = false;
		pthread_cond_destroy(&c->nwake);
		pthread_mutex_destroy(&c->nlock);
		return;
	}
	if (!c->notifier_running)
		return;
	pthread_mutex_lock(&c->nlock);
	c->nstop = true;
	pthread_cond_signal(&c->nwake);
	pthread_mutex_unlock(&c->nlock);
	pthread_join(c->notifier, NULL);
	pthread_cond_destroy(&c->nwake);
	pthread_mutex_destroy(&c->nlock);
	c->notifier_running = false;
}
