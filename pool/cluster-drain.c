// SPDX-License-Identifier: MIT
/*
 * Leaving without loss (include/cmp/pool.h): a node that goes away, or
 * that an operator drains (cmpctl drain), first moves every block it holds
 * for others on to other nodes or memservers, the way principle 3 moves
 * one (cluster-move.c), lending nothing meanwhile, and then waits until
 * every owner knows where its blocks went (no forwarding record is left):
 * after it is gone, an owner that still named it would take its blocks
 * for lost. When there is nowhere to put them, the node keeps serving
 * them and says so; it never drops them.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "cluster-internal.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "proto_block.h"

#define DRAIN_BATCH 256u
/* A progress line at most this often. */
#define DRAIN_LOG_NS 1000000000ull
/* Passes over the blocks still lent before a drain gives up for now. */
#define DRAIN_PASSES 16
/* cluster_leave(): a drain that could not finish is tried again after. */
#define LEAVE_RETRY_MS 5000
#define LEAVE_DRAIN_MS 30000

struct progress {
	const char *what; /* "leaving" or "draining" */
	uint32_t total, moved;
	uint64_t t0, logged;
};

static uint64_t held(struct cluster *c)
{
	struct pool_counts pc;

	pool_get_counts(c->pool, &pc);
	return pc.blocks[POOL_RLL];
}

static double secs_since(uint64_t t0)
{
	return (double)(cmp_now_ns() - t0) / 1e9;
}

static void log_progress(struct progress *pr, bool force)
{
	uint64_t now = cmp_now_ns();

	if (!force && now - pr->logged < DRAIN_LOG_NS)
		return;
	pr->logged = now;
	log_info("cluster: %s: %u of %u blocks held for other nodes moved "
		 "elsewhere (%.1f s)",
		 pr->what, pr->moved, pr->total, secs_since(pr->t0));
}

/* Should a background drain stop (cmpctl drain off, or the end)? */
static bool drain_stopped(struct cluster *c)
{
	bool stop;

	pthread_mutex_lock(&c->dlock);
	stop = c->dstop;
	pthread_mutex_unlock(&c->dlock);
	return stop;
}

/*
 * Moves what we lend, pass after pass: 0 when nothing is left, -ENOSPC
 * when a block had nowhere to go, -EAGAIN when some stayed (busy, a node
 * failed us) after every pass, -EINTR when told to stop.
 */
static int move_all(struct cluster *c, struct progress *pr)
{
	uint32_t idx[DRAIN_BATCH], n;
	int ret = 0;

	for (int pass = 0; pass < DRAIN_PASSES; pass++) {
		n = pool_lent_blocks(c->pool, idx, DRAIN_BATCH);
		if (!n)
			return 0;
		for (uint32_t i = 0; i < n; i++) {
			if (drain_stopped(c))
				return -EINTR;
			ret = pool_move_lent_block(c->pool, idx[i]);
			if (ret == -ENOSPC)
				return ret;
			if (!ret)
				pr->moved++;
			log_progress(pr, false);
		}
	}
	return held(c) ? -EAGAIN : 0;
}

/* Waits until every owner confirmed where its blocks went. */
static int wait_confirmed(struct cluster *c, uint64_t end)
{
	struct timespec ts = {0, 20000000};

	peer_notices_all_due(c->peer);
	cluster_notices_due(c);
	if (cmp_stepped()) {
		/* nobody answers while we wait: send them, look once */
		cluster_notifier_step(c);
		return peer_forwarding(c->peer) ? -ETIMEDOUT : 0;
	}
	while (peer_forwarding(c->peer)) {
		if (cmp_now_ns() > end)
			return -ETIMEDOUT;
		if (drain_stopped(c))
			return -EINTR;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/*
 * One drain: what we lend moves elsewhere, then the owners confirm. Says
 * why it could not finish when loud (the callers repeat it).
 */
static int drain(struct cluster *c, const char *what, int timeout_ms, bool loud)
{
	uint64_t end = cmp_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct progress pr = {.what = what, .t0 = cmp_now_ns()};
	int ret;

	pool_set_lending(c->pool, false);
	pr.total = (uint32_t)held(c);
	if (pr.total)
		log_info("cluster: %s: moving the %u blocks held for other "
			 "nodes elsewhere",
			 what, pr.total);
	ret = move_all(c, &pr);
	/* the last ones had nowhere to go, but their loans ended meanwhile */
	if (ret == -ENOSPC && !held(c))
		ret = 0;
	if (pr.total)
		log_progress(&pr, true);
	if (ret == -ENOSPC && loud)
		log_error("cluster: %s: %llu blocks held for other nodes have "
			  "nowhere to go (no other node or memserver has "
			  "room): this node keeps serving them",
			  what, (unsigned long long)held(c));
	if (ret)
		return ret;
	ret = wait_confirmed(c, end);
	if (ret == -ETIMEDOUT && loud)
		log_error("cluster: %s: %u owners have not confirmed where "
			  "their blocks went: this node keeps answering for "
			  "them",
			  what, peer_forwarding(c->peer));
	if (!ret && pr.total)
		log_info("cluster: %s: all %u blocks held for other nodes "
			 "moved in %.2f s; their owners know where",
			 what, pr.total, secs_since(pr.t0));
	return ret;
}

int cluster_drain(struct cluster *c, int timeout_ms)
{
	return drain(c, "draining", timeout_ms, true);
}

/* Flushes the memserver copies behind; a failure is logged (once). */
void cluster_flush_memserver(struct cluster *c)
{
	int ret = pool_wp_flush(c->pool, 2 * c->timeout_ms);

	if (ret)
		log_warn("cluster: memserver copies still behind at leave: %s",
			 strerror(-ret));
}

void cluster_leave(struct cluster *c)
{
	struct timespec ts = {LEAVE_RETRY_MS / 1000, 0};

	if (!c)
		return;
	cluster_drain_stop(c, false);
	cluster_flush_memserver(c);
	while (drain(c, "leaving", LEAVE_DRAIN_MS, true) != 0) {
		log_error("cluster: NOT LEAVING YET: still serving %llu blocks "
			  "for other nodes and %u forwarding records; trying "
			  "again in %d s (SIGKILL would lose them)",
			  (unsigned long long)held(c), peer_forwarding(c->peer),
			  LEAVE_RETRY_MS / 1000);
		nanosleep(&ts, NULL);
	}
}

/* ---- cmpctl drain: in the background, while the node keeps running ---- */

/* A background drain that cannot finish says so once a minute. */
#define DRAIN_LOUD_EVERY 12

static void *drainer_main(void *arg)
{
	struct cluster *c = arg;
	struct timespec dl;
	unsigned int tries = 0;

	while (!drain_stopped(c) && drain(c, "draining", LEAVE_DRAIN_MS,
					  tries++ % DRAIN_LOUD_EVERY == 0)) {
		pthread_mutex_lock(&c->dlock);
		cmp_deadline_ms(&dl, LEAVE_RETRY_MS);
		if (!c->dstop)
			pthread_cond_timedwait(&c->dwake, &c->dlock, &dl);
		pthread_mutex_unlock(&c->dlock);
	}
	return NULL;
}

void cluster_drain_init(struct cluster *c)
{
	pthread_mutex_init(&c->dlock, NULL);
	cmp_cond_init_monotonic(&c->dwake);
}

void cluster_drain_stop(struct cluster *c, bool lend_again)
{
	bool running;

	pthread_mutex_lock(&c->dlock);
	running = c->drainer_running;
	c->dstop = true;
	pthread_cond_signal(&c->dwake);
	pthread_mutex_unlock(&c->dlock);
	if (running)
		pthread_join(c->drainer, NULL);
	pthread_mutex_lock(&c->dlock);
	c->drainer_running = false;
	c->dstop = false;
	pthread_mutex_unlock(&c->dlock);
	if (lend_again)
		pool_set_lending(c->pool, true);
}

void cluster_drain_finish(struct cluster *c)
{
	cluster_drain_stop(c, false);
	pthread_cond_destroy(&c->dwake);
	pthread_mutex_destroy(&c->dlock);
}

int cluster_st_drain(void *ctx, bool on, struct proto_block_drain_rep *rep)
{
	struct cluster *c = ctx;
	int ret = 0;

	if (!on) {
		cluster_drain_stop(c, true);
	} else {
		pthread_mutex_lock(&c->dlock);
		if (!c->drainer_running) {
			pool_set_lending(c->pool, false);
			ret = -pthread_create(&c->drainer, NULL, drainer_main,
					      c);
			c->drainer_running = ret == 0;
		}
		pthread_mutex_unlock(&c->dlock);
	}
	if (ret)
		return ret;
	/*
	 * what it offers changed: the manager hears it now, not a heartbeat
	 * later (a node that leaves at once would find no room otherwise)
	 */
	if (c->mgr)
		mgr_client_counts_changed(c->mgr);
	*rep = (struct proto_block_drain_rep){
		.held = (uint32_t)held(c),
		.forwarding = peer_forwarding(c->peer),
		.flags = pool_lending(c->pool) ? 0 : PROTO_BLOCK_DRAIN_ON,
	};
	return 0;
}
