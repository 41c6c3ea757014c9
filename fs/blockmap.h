/* SPDX-License-Identifier: MIT */
/*
 * A file's block table: file block number -> pool handle (0 = hole). Two
 * levels: a directory of chunks of 1024 handles, allocated as they are first
 * needed, so holes cost nothing and a sparse 1 TiB file costs one small
 * directory. Not thread-safe: the owning inode's lock protects it.
 */
#ifndef CMP_BLOCKMAP_H
#define CMP_BLOCKMAP_H

#include <stdint.h>

struct pool;

struct blockmap {
	uint32_t **chunks; /* chunk i maps blocks [i*1024, (i+1)*1024) */
	uint64_t nchunks;  /* length of chunks[] */
	uint64_t nblocks;  /* allocated (non-hole) blocks */
};

#define BLOCKMAP_CHUNK 1024u
/* Largest block number a map accepts (2^32 blocks). */
#define BLOCKMAP_MAX_BLOCKS (1ull << 32)

void blockmap_init(struct blockmap *m);
/* Frees every block through the pool and the table itself. */
void blockmap_finish(struct blockmap *m, struct pool *p);

static inline uint32_t blockmap_get(const struct blockmap *m, uint64_t bno)
{
	uint64_t c = bno / BLOCKMAP_CHUNK;

	if (c >= m->nchunks || !m->chunks[c])
		return 0;
	return m->chunks[c][bno % BLOCKMAP_CHUNK];
}

/* Maps bno to handle (nonzero). -ENOMEM, -EFBIG beyond the limit. */
int blockmap_set(struct blockmap *m, uint64_t bno, uint32_t handle);
/* Makes bno a hole again and returns what was there (0 if a hole). */
uint32_t blockmap_clear(struct blockmap *m, uint64_t bno);
/* Frees every block numbered >= first through the pool. */
void blockmap_truncate(struct blockmap *m, struct pool *p, uint64_t first);
/*
 * 0 when every block can be read and written now, -EIO when one is lost
 * or on an unreachable provider (pool_check_handles(), a chunk at a time).
 */
int blockmap_check(const struct blockmap *m, struct pool *p);
/* The map's blocks lost, and unreachable now (pool_count_unhealthy()). */
void blockmap_count_unhealthy(const struct blockmap *m, struct pool *p,
			      uint64_t *lost, uint64_t *unreachable);

#endif
