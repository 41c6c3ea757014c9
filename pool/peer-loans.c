// SPDX-License-Identifier: MIT
/*
 * The peer service's loans outside the request handlers: the loan table
 * (loans.h) with its lease thread, and the memory windows (grants.h) that
 * mirror the loans for one-sided access. Every block whose loan ended
 * comes back through peer_release_blocks(), which revokes its window
 * before the store can lend the block again: so FREE, GOODBYE, a lease
 * that expired and a reconciliation all end one-sided access the same
 * way, and a block still pinned by a copy in flight is released (and its
 * window revoked) by the last unpin. A loan that leaves without coming
 * back to the store (moved on to another node, handed over to another
 * owner: peer-move.c) has its window revoked by peer_revoke_window().
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "grants.h"
#include "loans.h"
#include "peer-internal.h"

#define LEASE_TICK_MS 1000
#define EXPIRED_PER_PASS 16

void peer_release_blocks(void *ctx, const uint32_t *idx, uint32_t n)
{
	uint32_t keep[LOANS_RELEASE_CHUNK];
	struct peer *p = ctx;

	for (uint32_t i = 0; i < n; i++)
		peer_csum_reset(p->csum, idx[i], false);
	if (!p->grants) {
		p->ops->free(p->ctx, idx, n);
		return;
	}
	for (uint32_t done = 0; done < n;) {
		uint32_t chunk = MIN(n - done, LOANS_RELEASE_CHUNK);
		uint32_t k = grants_revoke(p->grants, idx + done, chunk, keep);

		if (k)
			p->ops->free(p->ctx, keep, k);
		done += chunk;
	}
}

int peer_revoke_window(struct peer *p, uint32_t idx)
{
	/* the block stays out of the store: only its window ends here */
	return grants_end(p->grants, idx) < 0 ? -EIO : 0;
}

size_t peer_expire_leases(struct peer *p)
{
	struct loans_expired e[EXPIRED_PER_PASS];
	size_t n = loans_expire(p->loans, cmp_now_ns(), e, EXPIRED_PER_PASS);

	for (size_t i = 0; i < MIN(n, (size_t)EXPIRED_PER_PASS); i++)
		log_warn(
			"peer: owner node %u silent for %.1f s (lease %.1f s): "
			"its %u blocks here are freed",
			e[i].owner, (double)e[i].silent_ns / 1e9,
			p->lease_ms / 1e3, e[i].blocks);
	if (n > EXPIRED_PER_PASS)
		log_warn("peer: %zu more owners' leases expired",
			 n - EXPIRED_PER_PASS);
	return n;
}

static void *lease_main(void *arg)
{
	struct peer *p = arg;
	struct timespec at;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += LEASE_TICK_MS / 1000;
		pthread_cond_timedwait(&p->wake, &p->lock, &at);
		if (p->stopping)
			break;
		pthread_mutex_unlock(&p->lock);
		peer_expire_leases(p);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/*
 * One-sided access, for an RDMA listener whose store is one mapping;
 * without it (TCP, a file store, registration refused) every byte
 * travels as messages.
 */
static void start_grants(struct peer *p, const char *listen_addr)
{
	uint32_t total, nfree;
	size_t len = 0;
	void *base;

	if (strncmp(listen_addr, "rdma://", 7) || !p->ops->region)
		return;
	base = p->ops->region(p->ctx, &len);
	if (!base)
		return;
	p->ops->counts(p->ctx, &total, &nfree);
	p->grants = grants_create(base, len, total, p->block_size);
}

/* The loan table's journal: the store's, for a store that keeps loans. */
static void journal_loan(void *ctx, uint32_t idx, uint32_t owner,
			 uint32_t epoch, bool handed)
{
	struct peer *p = ctx;

	p->ops->journal(p->ctx, &(struct peer_kept_loan){
					.owner = owner,
					.block = idx,
					.epoch = epoch,
					.flags = handed ? PEER_KEPT_HANDED : 0,
				});
}

/*
 * One kept loan the table cannot take. The owner table is full: the block
 * is nobody's, back to the store. Anything else (an index out of range, a
 * block already lent again, owner or epoch 0) is the store's bug: the
 * block is left alone.
 */
static void not_kept(struct peer *p, const struct peer_kept_loan *k, int err)
{
	log_warn("peer: block %u kept for owner %u (epoch %u) cannot be lent "
		 "again: %s%s",
		 k->block, k->owner, k->epoch, strerror(-err),
		 err == -ENOSPC ? "; it is freed" : "");
	if (err != -ENOSPC)
		return;
	p->ops->journal(p->ctx, &(struct peer_kept_loan){.block = k->block});
	p->ops->free(p->ctx, &k->block, 1);
}

/* The loans the store kept from its last run, lent again as they were. */
static void restore_kept(struct peer *p)
{
	struct peer_kept_loan k[64];
	uint64_t now = cmp_now_ns();
	uint32_t pos = 0, n;
	int ret;

	while ((n = p->ops->kept(p->ctx, &pos, k, ARRAY_SIZE(k)))) {
		for (uint32_t i = 0; i < n; i++) {
			ret = loans_restore(p->loans, k[i].owner, k[i].block,
					    k[i].epoch,
					    k[i].flags & PEER_KEPT_HANDED, now);
			if (ret < 0)
				not_kept(p, &k[i], ret);
		}
	}
}

int peer_loans_start(struct peer *p, const char *listen_addr)
{
	uint32_t total, nfree;
	int ret;

	start_grants(p, listen_addr);
	p->ops->counts(p->ctx, &total, &nfree);
	p->loans = loans_create(&(struct loans_config){
		/* a store that may grow has loans up to its most */
		.nblocks = MAX(total, p->max_blocks),
		.lease_ns = (uint64_t)p->lease_ms * 1000000ull,
		.release = peer_release_blocks,
		.journal = p->ops->journal ? journal_loan : NULL,
		.ctx = p,
	});
	if (!p->loans) {
		ret = -errno;
		goto err_destroy_grants;
	}
	if (p->ops->kept)
		restore_kept(p);
	pthread_mutex_init(&p->lock, NULL);
	cmp_cond_init_monotonic(&p->wake);
	p->stepped = cmp_stepped();
	ret = p->stepped
		      ? 0
		      : -pthread_create(&p->lease_thread, NULL, lease_main, p);
	if (ret)
		goto err_destroy_loans;
	return 0;

err_destroy_loans:
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	loans_destroy(p->loans);
err_destroy_grants:
	grants_destroy(p->grants);
	p->grants = NULL;
	return ret;
}

void peer_loans_stop(struct peer *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	if (!p->stepped)
		pthread_join(p->lease_thread, NULL);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	loans_destroy(p->loans);
	grants_destroy(p->grants);
}
