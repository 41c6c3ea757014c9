/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the memserver's store (store.h), shared by store.c
 * (the mapping, the free list, the peer's ops) and store-kept.c (a store
 * that keeps its loans in an index beside its file).
 */
#ifndef CMP_MEMSERVER_STORE_INTERNAL_H
#define CMP_MEMSERVER_STORE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "store.h"

struct ms_store {
	uint8_t *base;
	size_t map_len;
	int fd; /* -1 for RAM */
	uint32_t block_size;
	uint32_t nblocks;
	pthread_mutex_t lock; /* protects free_stack, nfree */
	uint32_t *free_stack;
	uint32_t nfree;
	/*
	 * A kept store (store-kept.c); NULL and zeros for the others. Set
	 * at creation, then read only; the index's entries are written by
	 * the journal op, which the loan table's lock serializes.
	 */
	struct ms_index *ix;
	struct ms_index_hdr hdr;
	struct peer_kept_loan *kept; /* the loans found, in block order */
	uint32_t nkept, nowners;
};

/* store.c */
/*
 * A store of size / block_size blocks, nothing mapped, nothing free.
 * NULL + errno (EINVAL: not 1..2^32-2 blocks, logged; ENOMEM).
 */
struct ms_store *ms_store_alloc(uint64_t size, uint32_t block_size);
/* Opens (or makes) the file and empties it: 0 or -errno (logged). */
int ms_store_open_emptied(struct ms_store *s, const char *path);
/* Maps s->fd (open, sized), or anonymous RAM when -1: 0 or -errno (logged). */
int ms_store_map(struct ms_store *s, const char *path);
/* Every block not in s->kept is free, lowest indexes on top. */
void ms_store_fill_free(struct ms_store *s);

/* store-kept.c: the ops that are only a kept store's business. */
void ms_store_journal(void *ctx, const struct peer_kept_loan *ln);
uint32_t ms_store_kept(void *ctx, uint32_t *pos, struct peer_kept_loan *out,
		       uint32_t max);

#endif
