/* SPDX-License-Identifier: MIT */
/*
 * The memserver's block store: one mapping carved into equal blocks, with
 * a free list (who holds a lent block is the peer service's loan table). Backed
 * either by a file (ftruncate + MAP_SHARED: the page cache and the disk behind
 * it) or by anonymous RAM. Freed blocks are zeroed (a hole punched in the file
 * gives the disk space back), so a block always reads as zeros when lent out.
 *
 * ms_store_ops plugs it into the peer service (include/cmp/peer.h) with the
 * store as ctx. Threads: every function is thread-safe (one mutex, never
 * held across network I/O). The memory of a lent block stays mapped for the
 * store's lifetime, so the peer may read and write it without the lock.
 */
#ifndef CMP_MEMSERVER_STORE_H
#define CMP_MEMSERVER_STORE_H

#include <stdint.h>

#include "cmp/peer.h"

struct ms_store;

/*
 * path NULL: anonymous RAM. Otherwise the file is created (mode 0600) or
 * reused and sized to `size` bytes (its old content is not data: a
 * memserver's blocks do not outlive it). size is rounded down to whole
 * blocks. Returns 0 and *out, or -errno (logged here with the path).
 */
int ms_store_create(const char *path, uint64_t size, uint32_t block_size,
		    struct ms_store **out);
void ms_store_destroy(struct ms_store *s);

uint32_t ms_store_total(struct ms_store *s);
uint32_t ms_store_free_count(struct ms_store *s);
struct proto_mgr_counts;
/* What the memserver's heartbeats say: free blocks, and lent ones (RLL). */
void ms_store_mgr_counts(struct ms_store *s, struct proto_mgr_counts *out);

extern const struct peer_store_ops ms_store_ops;

#endif
