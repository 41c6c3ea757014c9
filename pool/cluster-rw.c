// SPDX-License-Identifier: MIT
/*
 * The pool's byte-range ops on the block client (cluster.c has the rest
 * of the glue): a read or write of one loan, asked again while its
 * provider is moving the block (BUSY) and answered MOVED with the new
 * place learnt (principle 5); the copies of a block written together;
 * and whole blocks of several loans at once (the evictor's batches, the
 * prefetch of a sequential reader), their pieces in flight together over
 * the provider's connections (remote_rw_blocks()), so that the provider
 * serves them on several threads and the wire stays busy while each end
 * seals and opens. What does not go through at once (a block busy or
 * moved on, a failure) is the pool's to do again alone with the single
 * ops, which wait out busy blocks, follow moves and say what failed.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cluster-internal.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "remote.h"

static int remote_error(const struct pool_ref *r, const char *what, int ret)
{
	/*
	 * the pool judges STALE (moved meanwhile, or lost: it says so) and
	 * CORRUPT (that copy's bytes changed: it reads another)
	 */
	if (ret == -ESTALE || ret == -EUCLEAN)
		return ret;
	log_error_rl("cluster: %s block %u (epoch %u) on node %u: %s", what,
		     r->block, r->epoch, r->node, strerror(-ret));
	return -EIO;
}

/*
 * The provider's answer ret to an access of r: MOVED is -EREMCHG with
 * *moved set, the new place's address learnt.
 */
static int rw_answer(struct cluster *c, const struct pool_ref *r, int ret,
		     const struct proto_block_moved *mv, bool write,
		     struct pool_ref *moved)
{
	if (ret == -EREMCHG) {
		cluster_learn_node(c, mv->node, mv->addr);
		*moved = (struct pool_ref){mv->node, mv->block, mv->epoch};
		return ret;
	}
	return ret ? remote_error(r, write ? "writing" : "reading", ret) : 0;
}

/* Longest pause between two tries of a block being moved (BUSY). */
#define BUSY_PAUSE_MAX_NS 20000000ull

/*
 * One byte range of loan r. A block its provider is moving right now is
 * asked for again until the move is done (then it answers MOVED) or the
 * request deadline passes; MOVED is -EREMCHG with *moved set, the new
 * place's address learnt.
 */
static int rw_block(struct cluster *c, const struct pool_ref *r, uint32_t off,
		    void *buf, uint32_t len, bool write, struct pool_ref *moved)
{
	uint64_t end = cmp_now_ns() + (uint64_t)c->timeout_ms * 1000000ull;
	struct proto_block_ref ref = {r->block, r->epoch};
	struct timespec pause = {0, 500000};
	struct proto_block_moved mv;
	int ret;

	for (;;) {
		ret = write ? remote_write(c->remote, r->node, ref, off, buf,
					   len, &mv)
			    : remote_read(c->remote, r->node, ref, off, buf,
					  len, &mv);
		if (ret != -EBUSY || cmp_now_ns() > end)
			break;
		nanosleep(&pause, NULL);
		if ((uint64_t)pause.tv_nsec * 2 <= BUSY_PAUSE_MAX_NS)
			pause.tv_nsec *= 2;
	}
	return rw_answer(c, r, ret, &mv, write, moved);
}

int cluster_op_read(void *ctx, const struct pool_ref *r, uint32_t off,
		    void *dst, uint32_t len, struct pool_ref *moved)
{
	return rw_block(ctx, r, off, dst, len, false, moved);
}

int cluster_op_write(void *ctx, const struct pool_ref *r, uint32_t off,
		     const void *src, uint32_t len, struct pool_ref *moved)
{
	return rw_block(ctx, r, off, (void *)src, len, true, moved);
}

/*
 * The copies of a block: their writes out together, then their answers
 * (remote_write_many()); a copy its provider is moving right now (BUSY)
 * is written again alone until the move is done.
 */
void cluster_op_write_copies(void *ctx, const struct pool_ref *refs, uint32_t n,
			     uint32_t off, const void *src, uint32_t len,
			     int *rets, struct pool_ref *moved)
{
	struct proto_block_moved mv[REMOTE_MAX_MANY];
	struct proto_block_ref br[REMOTE_MAX_MANY] = {{0}};
	uint32_t nodes[REMOTE_MAX_MANY] = {0};
	struct cluster *c = ctx;

	/* (the pool has no more copies than that) */
	n = MIN(n, REMOTE_MAX_MANY);
	for (uint32_t i = 0; i < n; i++) {
		nodes[i] = refs[i].node;
		br[i] = (struct proto_block_ref){refs[i].block, refs[i].epoch};
	}
	remote_write_many(c->remote, nodes, br, n, off, src, len, rets, mv);
	for (uint32_t i = 0; i < n; i++)
		rets[i] = rets[i] == -EBUSY
				  ? rw_block(c, &refs[i], off, (void *)src, len,
					     true, &moved[i])
				  : rw_answer(c, &refs[i], rets[i], &mv[i],
					      true, &moved[i]);
}

/* Loans per remote_rw_blocks() call (it splits them further in rounds). */
#define MANY_MAX 16u

static void rw_many(struct cluster *c, bool write, const struct pool_ref *refs,
		    uint32_t n, uint32_t off, void *const *bufs, uint32_t len,
		    int *rets)
{
	struct proto_block_ref ref[MANY_MAX];

	for (uint32_t done = 0; done < n;) {
		uint32_t k = MIN(n - done, MANY_MAX);

		for (uint32_t i = 0; i < k; i++)
			ref[i] = (struct proto_block_ref){refs[done + i].block,
							  refs[done + i].epoch};
		remote_rw_blocks(c->remote, refs[done].node, write, ref, k, off,
				 bufs + done, len, rets + done);
		done += k;
	}
}

void cluster_read_many(void *ctx, const struct pool_ref *refs, uint32_t n,
		       uint32_t off, void *const *dst, uint32_t len, int *rets)
{
	rw_many(ctx, false, refs, n, off, dst, len, rets);
}

void cluster_write_many(void *ctx, const struct pool_ref *refs, uint32_t n,
			uint32_t off, void *const *src, uint32_t len, int *rets)
{
	rw_many(ctx, true, refs, n, off, src, len, rets);
}
