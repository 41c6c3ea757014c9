// SPDX-License-Identifier: MIT
/*
 * Staging buffers for blocks that live on another node: a read of a
 * remote block lands in one before the reply to the kernel points at it,
 * and copy_file_range goes through one. They are made once at mount, one
 * per FUSE worker thread (libfuse's max_threads) plus one, pre-faulted
 * (and locked with the rest of the daemon), so a request under memory
 * pressure never allocates. A thread holds at most one at a time, so
 * with as many buffers as threads fs_bounce_get() never waits; it would
 * only if libfuse ran more workers than it was told.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "fs.h"

struct fs_bounce {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	uint8_t *mem;
	size_t bytes;
	unsigned int nfree;
	uint8_t *free[]; /* nfree of them, under lock */
};

struct fs_bounce *fs_bounce_create(unsigned int n, size_t size)
{
	struct fs_bounce *b;

	if (!n || !size) {
		errno = EINVAL;
		return NULL;
	}
	b = calloc(1, sizeof(*b) + n * sizeof(b->free[0]));
	if (!b)
		return NULL;
	b->bytes = (size_t)n * size;
	b->mem = mmap(NULL, b->bytes, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (b->mem == MAP_FAILED) {
		free(b);
		return NULL;
	}
	for (unsigned int i = 0; i < n; i++)
		b->free[i] = b->mem + (size_t)i * size;
	b->nfree = n;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->freed, NULL);
	return b;
}

void fs_bounce_destroy(struct fs_bounce *b)
{
	if (!b)
		return;
	munmap(b->mem, b->bytes);
	pthread_cond_destroy(&b->freed);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

uint8_t *fs_bounce_get(struct fs_bounce *b)
{
	uint8_t *buf;

	pthread_mutex_lock(&b->lock);
	while (!b->nfree)
		pthread_cond_wait(&b->freed, &b->lock);
	buf = b->free[--b->nfree];
	pthread_mutex_unlock(&b->lock);
	return buf;
}

void fs_bounce_put(struct fs_bounce *b, uint8_t *buf)
{
	if (!buf)
		return;
	pthread_mutex_lock(&b->lock);
	b->free[b->nfree++] = buf;
	pthread_cond_signal(&b->freed);
	pthread_mutex_unlock(&b->lock);
}
