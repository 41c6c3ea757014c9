// SPDX-License-Identifier: MIT
/*
 * File offset -> block handle, two levels so that holes and sparse files
 * cost nothing (see blockmap.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "cmp/pool.h"

void blockmap_init(struct blockmap *m)
{
	memset(m, 0, sizeof(*m));
}

static int grow_dir(struct blockmap *m, uint64_t need)
{
	uint64_t n = m->nchunks ? m->nchunks : 4;
	uint32_t **d;

	while (n < need)
		n *= 2;
	d = realloc(m->chunks, n * sizeof(*d));
	if (!d)
		return -ENOMEM;
	memset(d + m->nchunks, 0, (n - m->nchunks) * sizeof(*d));
	m->chunks = d;
	m->nchunks = n;
	return 0;
}

int blockmap_set(struct blockmap *m, uint64_t bno, uint32_t handle)
{
	uint64_t c = bno / BLOCKMAP_CHUNK;
	uint32_t *slot;

	if (bno >= BLOCKMAP_MAX_BLOCKS)
		return -EFBIG;
	if (c >= m->nchunks && grow_dir(m, c + 1))
		return -ENOMEM;
	if (!m->chunks[c]) {
		m->chunks[c] = calloc(BLOCKMAP_CHUNK, sizeof(uint32_t));
		if (!m->chunks[c])
			return -ENOMEM;
	}
	slot = &m->chunks[c][bno % BLOCKMAP_CHUNK];
	if (!*slot)
		m->nblocks++;
	*slot = handle;
	return 0;
}

uint32_t blockmap_clear(struct blockmap *m, uint64_t bno)
{
	uint64_t c = bno / BLOCKMAP_CHUNK;
	uint32_t h;

	if (c >= m->nchunks || !m->chunks[c])
		return 0;
	h = m->chunks[c][bno % BLOCKMAP_CHUNK];
	if (h) {
		m->chunks[c][bno % BLOCKMAP_CHUNK] = 0;
		m->nblocks--;
	}
	return h;
}

static bool chunk_empty(const uint32_t *chunk)
{
	for (unsigned int i = 0; i < BLOCKMAP_CHUNK; i++)
		if (chunk[i])
			return false;
	return true;
}

void blockmap_truncate(struct blockmap *m, struct pool *p, uint64_t first)
{
	for (uint64_t c = first / BLOCKMAP_CHUNK; c < m->nchunks; c++) {
		uint32_t *chunk = m->chunks[c];
		uint64_t i = c == first / BLOCKMAP_CHUNK
				     ? first % BLOCKMAP_CHUNK
				     : 0;

		if (!chunk)
			continue;
		for (; i < BLOCKMAP_CHUNK; i++) {
			if (chunk[i]) {
				pool_free(p, chunk[i]);
				chunk[i] = 0;
				m->nblocks--;
			}
		}
		if (chunk_empty(chunk)) {
			free(chunk);
			m->chunks[c] = NULL;
		}
	}
}

void blockmap_finish(struct blockmap *m, struct pool *p)
{
	blockmap_truncate(m, p, 0);
	free(m->chunks);
	memset(m, 0, sizeof(*m));
}

void blockmap_count_unhealthy(const struct blockmap *m, struct pool *p,
			      uint64_t *lost, uint64_t *unreachable)
{
	*lost = *unreachable = 0;
	for (uint64_t c = 0; c < m->nchunks; c++)
		if (m->chunks[c])
			pool_count_unhealthy(p, m->chunks[c], BLOCKMAP_CHUNK,
					     lost, unreachable);
}

int blockmap_check(const struct blockmap *m, struct pool *p)
{
	int ret = 0;

	for (uint64_t c = 0; c < m->nchunks && !ret; c++)
		if (m->chunks[c])
			ret = pool_check_handles(p, m->chunks[c],
						 BLOCKMAP_CHUNK);
	return ret;
}
