// SPDX-License-Identifier: MIT
/* The fake cluster of fake-cluster.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cmp/util.h"
#include "fake-cluster.h"

struct fake_cluster *fake_cluster_create(uint32_t block_size, uint32_t nblocks)
{
	struct fake_cluster *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->block_size = block_size;
	f->nblocks = nblocks;
	f->mem = calloc(nblocks, block_size);
	f->used = calloc(nblocks, sizeof(*f->used));
	assert_non_null(f->mem);
	assert_non_null(f->used);
	pthread_mutex_init(&f->lock, NULL);
	return f;
}

void fake_cluster_destroy(struct fake_cluster *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->lock);
	free(f->mem);
	free(f->used);
	free(f);
}

uint64_t fake_cluster_get(struct fake_cluster *f, const uint64_t *field)
{
	uint64_t v;

	pthread_mutex_lock(&f->lock);
	v = *field;
	pthread_mutex_unlock(&f->lock);
	return v;
}

uint32_t fake_cluster_get32(struct fake_cluster *f, const uint32_t *field)
{
	uint32_t v;

	pthread_mutex_lock(&f->lock);
	v = *field;
	pthread_mutex_unlock(&f->lock);
	return v;
}

static int borrow_many(void *ctx, uint32_t n, struct pool_ref *out,
		       uint32_t *got)
{
	struct fake_cluster *f = ctx;

	pthread_mutex_lock(&f->lock);
	*got = 0;
	for (uint32_t i = 0; i < f->nblocks && *got < n; i++) {
		if (f->used[i])
			continue;
		f->used[i] = true;
		memset(f->mem + (size_t)i * f->block_size, 0, f->block_size);
		out[(*got)++] = (struct pool_ref){
			.node = FAKE_NODE, .block = i, .epoch = 1};
	}
	f->max_borrow = MAX(f->max_borrow, n);
	pthread_mutex_unlock(&f->lock);
	return *got ? 0 : -ENOSPC;
}

static int borrow(void *ctx, const uint32_t *avoid, uint32_t navoid,
		  struct pool_ref *out)
{
	uint32_t got;

	return borrow_many(ctx, 1, out, &got);
}

static void release(void *ctx, const struct pool_ref *r, uint32_t n)
{
	struct fake_cluster *f = ctx;

	pthread_mutex_lock(&f->lock);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(r[i].node, FAKE_NODE);
		assert_true(f->used[r[i].block]);
		f->used[r[i].block] = false;
	}
	pthread_mutex_unlock(&f->lock);
}

/* n blocks of one call in flight, for delay_us. */
static void fly(struct fake_cluster *f, uint32_t n)
{
	struct timespec ts = {0, 0};

	pthread_mutex_lock(&f->lock);
	f->flying += n;
	f->max_flying = MAX(f->max_flying, f->flying);
	ts.tv_nsec = (long)f->delay_us * 1000;
	pthread_mutex_unlock(&f->lock);
	if (ts.tv_nsec)
		nanosleep(&ts, NULL);
}

static void land(struct fake_cluster *f, uint32_t n)
{
	pthread_mutex_lock(&f->lock);
	f->flying -= n;
	pthread_mutex_unlock(&f->lock);
}

/* One range, copied under the lock. */
static int copy_range(struct fake_cluster *f, const struct pool_ref *r,
		      uint32_t off, void *buf, uint32_t len, bool write)
{
	uint8_t *at;

	pthread_mutex_lock(&f->lock);
	assert_int_equal(r->node, FAKE_NODE);
	assert_true(r->block < f->nblocks && f->used[r->block]);
	assert_true(off + len <= f->block_size);
	at = f->mem + (size_t)r->block * f->block_size + off;
	if (write) {
		memcpy(at, buf, len);
		f->bytes_written += len;
		f->blocks_written += len == f->block_size;
	} else {
		memcpy(buf, at, len);
		f->bytes_read += len;
		f->blocks_read += len == f->block_size;
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int read_one(void *ctx, const struct pool_ref *r, uint32_t off,
		    void *dst, uint32_t len, struct pool_ref *moved)
{
	(void)moved;
	fly(ctx, 1);
	copy_range(ctx, r, off, dst, len, false);
	land(ctx, 1);
	return 0;
}

static int write_one(void *ctx, const struct pool_ref *r, uint32_t off,
		     const void *src, uint32_t len, struct pool_ref *moved)
{
	(void)moved;
	fly(ctx, 1);
	copy_range(ctx, r, off, (void *)src, len, true);
	land(ctx, 1);
	return 0;
}

static void rw_many(struct fake_cluster *f, const struct pool_ref *refs,
		    uint32_t n, uint32_t off, void *const *bufs, uint32_t len,
		    int *rets, bool write)
{
	bool fail;

	pthread_mutex_lock(&f->lock);
	f->max_batch = MAX(f->max_batch, n);
	fail = f->fail_many;
	pthread_mutex_unlock(&f->lock);
	fly(f, n);
	for (uint32_t i = 0; i < n; i++)
		rets[i] = fail && !i ? -EIO
				     : copy_range(f, &refs[i], off, bufs[i],
						  len, write);
	land(f, n);
}

static void read_many(void *ctx, const struct pool_ref *refs, uint32_t n,
		      uint32_t off, void *const *dst, uint32_t len, int *rets)
{
	rw_many(ctx, refs, n, off, dst, len, rets, false);
}

static void write_many(void *ctx, const struct pool_ref *refs, uint32_t n,
		       uint32_t off, void *const *src, uint32_t len, int *rets)
{
	rw_many(ctx, refs, n, off, src, len, rets, true);
}

static const struct pool_cluster_ops ops_many = {
	.borrow = borrow,
	.borrow_many = borrow_many,
	.release = release,
	.read = read_one,
	.write = write_one,
	.read_many = read_many,
	.write_many = write_many,
};

static const struct pool_cluster_ops ops_one = {
	.borrow = borrow,
	.release = release,
	.read = read_one,
	.write = write_one,
};

const struct pool_cluster_ops *fake_cluster_ops(bool many)
{
	return many ? &ops_many : &ops_one;
}
