// SPDX-License-Identifier: MIT
/*
 * The memserver's block store (memserver/store.h): a mapping and a stack
 * of free block indexes (a kept store's index is store-kept.c). Kept apart
 * from main.c so the unit tests can serve it over mem:// without a
 * process.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/util.h"
#include "store-internal.h"

int ms_store_open_emptied(struct ms_store *s, const char *path)
{
	int ret;

	s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		ret = -errno;
		log_error("store: cannot open %s: %s", path, strerror(-ret));
		return ret;
	}
	if (ftruncate(s->fd, 0) < 0 ||
	    ftruncate(s->fd, (off_t)s->map_len) < 0) {
		ret = -errno;
		log_error("store: cannot size %s to %zu bytes: %s", path,
			  s->map_len, strerror(-ret));
		close(s->fd);
		s->fd = -1;
		return ret;
	}
	return 0;
}

int ms_store_map(struct ms_store *s, const char *path)
{
	int ret;

	if (s->fd >= 0)
		s->base = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE,
			       MAP_SHARED, s->fd, 0);
	else
		s->base = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
	if (s->base == MAP_FAILED) {
		ret = -errno;
		s->base = NULL;
		log_error("store: cannot map %zu bytes%s%s: %s", s->map_len,
			  path ? " of " : "", path ? path : "", strerror(-ret));
		return ret;
	}
	/*
	 * RAM lent to the pool must not be swapped out behind the owners'
	 * backs; lock pages as they are first touched (a file store is the
	 * page cache's to manage).
	 */
	if (s->fd < 0 && mlock2(s->base, s->map_len, MLOCK_ONFAULT) < 0)
		log_warn("store: cannot lock %zu bytes of RAM (%s); it may be "
			 "swapped out",
			 s->map_len, strerror(errno));
	/* the daemon locks all its memory (mlockall): not the page cache */
	if (s->fd >= 0)
		munlock(s->base, s->map_len);
	return 0;
}

struct ms_store *ms_store_alloc(uint64_t size, uint32_t block_size)
{
	struct ms_store *s;
	uint64_t nblocks;

	if (!proto_block_size_valid(block_size)) {
		errno = EINVAL;
		return NULL;
	}
	nblocks = size / block_size;
	if (!nblocks || nblocks > UINT32_MAX - 1) {
		log_error("store: %llu bytes is not 1..2^32-2 blocks of %u",
			  (unsigned long long)size, block_size);
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fd = -1;
	s->block_size = block_size;
	s->nblocks = nblocks;
	s->map_len = nblocks * block_size;
	s->free_stack = malloc(nblocks * sizeof(*s->free_stack));
	if (!s->free_stack) {
		log_error("store: no memory for the table of %u blocks",
			  s->nblocks);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void ms_store_fill_free(struct ms_store *s)
{
	uint32_t k = s->nkept;

	/* lowest indexes on top, so allocation fills the store from 0 */
	s->nfree = 0;
	for (uint32_t i = s->nblocks; i-- > 0;) {
		if (k && s->kept[k - 1].block == i) {
			k--;
			continue;
		}
		s->free_stack[s->nfree++] = i;
	}
}

int ms_store_create(const char *path, uint64_t size, uint32_t block_size,
		    struct ms_store **out)
{
	struct ms_store *s = ms_store_alloc(size, block_size);
	int ret;

	if (!s)
		return -errno;
	ret = path ? ms_store_open_emptied(s, path) : 0;
	if (!ret)
		ret = ms_store_map(s, path);
	if (ret < 0) {
		ms_store_destroy(s);
		return ret;
	}
	ms_store_fill_free(s);
	*out = s;
	return 0;
}

void ms_store_destroy(struct ms_store *s)
{
	if (!s)
		return;
	if (s->base)
		munmap(s->base, s->map_len);
	if (s->fd >= 0)
		close(s->fd);
	ms_index_close(s->ix);
	pthread_mutex_destroy(&s->lock);
	free(s->kept);
	free(s->free_stack);
	free(s);
}

uint32_t ms_store_total(struct ms_store *s)
{
	return s->nblocks;
}

uint32_t ms_store_free_count(struct ms_store *s)
{
	uint32_t n;

	pthread_mutex_lock(&s->lock);
	n = s->nfree;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/*
 * Leaves a freed block reading as zeros, so no owner sees another's data.
 * A file gives the disk space back (hole punch). RAM is zeroed in place
 * rather than dropped with MADV_DONTNEED: with RDMA the store is registered
 * memory, and replacing its pages behind the NIC would break the region.
 * The block is nobody's while this runs (its loan ended), so no lock.
 */
static void clear_block(struct ms_store *s, uint32_t idx)
{
	uint8_t *p = s->base + (size_t)idx * s->block_size;

	if (s->fd < 0 ||
	    fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)idx * s->block_size, s->block_size) < 0)
		memset(p, 0, s->block_size);
}

/* Free blocks are always clear: alloc hands them out as they are. */
static int store_alloc(void *ctx, uint32_t owner, uint32_t n, uint32_t *idx)
{
	struct ms_store *s = ctx;
	uint32_t got;

	pthread_mutex_lock(&s->lock);
	got = MIN(n, s->nfree);
	for (uint32_t i = 0; i < got; i++)
		idx[i] = s->free_stack[--s->nfree];
	pthread_mutex_unlock(&s->lock);
	return got ? (int)got : -ENOSPC;
}

/* The peer's loan table gives back only blocks whose loans ended. */
static void store_free(void *ctx, const uint32_t *idx, uint32_t n)
{
	struct ms_store *s = ctx;

	for (uint32_t i = 0; i < n; i++)
		clear_block(s, idx[i]);
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < n; i++)
		s->free_stack[s->nfree++] = idx[i];
	pthread_mutex_unlock(&s->lock);
}

static void *store_ptr(void *ctx, uint32_t idx)
{
	struct ms_store *s = ctx;

	return s->base + (size_t)idx * s->block_size;
}

static void store_counts(void *ctx, uint32_t *total, uint32_t *nfree)
{
	struct ms_store *s = ctx;

	*total = s->nblocks;
	*nfree = ms_store_free_count(s);
}

/*
 * Only a RAM store is offered for one-sided access: registering memory
 * with an RDMA device pins all of it, which for a file store would pull
 * the whole file into the page cache and keep it there.
 */
static void *store_region(void *ctx, size_t *len)
{
	struct ms_store *s = ctx;

	*len = s->map_len;
	return s->fd < 0 ? s->base : NULL;
}

const struct peer_store_ops ms_store_ops = {
	.alloc = store_alloc,
	.free = store_free,
	.ptr = store_ptr,
	.counts = store_counts,
	.region = store_region,
	.journal = ms_store_journal,
	.kept = ms_store_kept,
};

void ms_store_mgr_counts(struct ms_store *s, struct proto_mgr_counts *out)
{
	uint32_t total = ms_store_total(s);
	uint32_t nfree = ms_store_free_count(s);

	memset(out, 0, sizeof(*out));
	out->free = nfree;
	out->rll = total - nfree;
}
