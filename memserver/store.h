/* SPDX-License-Identifier: MIT */
/*
 * The memserver's block store: one mapping carved into equal blocks, with
 * a free list (who holds a lent block is the peer service's loan table). Backed
 * either by a file (ftruncate + MAP_SHARED: the page cache and the disk behind
 * it) or by anonymous RAM. Freed blocks are zeroed (a hole punched in the file
 * gives the disk space back), so a block always reads as zeros when lent out.
 *
 * A kept store (ms_store_create_kept(), cmp-memserver --store) also keeps
 * its loans: the peer's journal op writes every change of who holds a
 * block into an index beside the file (memserver/index.h), and a store
 * opened again on the same file and index hands those loans back to the
 * peer (the kept op) with their blocks' bytes, under the same node id and
 * peer incarnation, so owners that reconnect find their blocks. What that
 * survives: the process ending in any way (kill -9 included: the file's
 * pages are the kernel's page cache), and a reboot after a clean stop
 * (ms_store_stop_clean() writes everything to disk). Not a machine that
 * goes down while it runs: nothing is written to disk per write, so the
 * next start finds the index from another boot still RUNNING and drops
 * every loan (the owners then see a new incarnation: their blocks there
 * are lost, EIO, never stale bytes).
 *
 * ms_store_ops plugs it into the peer service (include/cmp/peer.h) with the
 * store as ctx. Threads: every function is thread-safe (one mutex, never
 * held across network I/O; the journal op is serialized by the loan
 * table's lock). The memory of a lent block stays mapped for the
 * store's lifetime, so the peer may read and write it without the lock.
 */
#ifndef CMP_MEMSERVER_STORE_H
#define CMP_MEMSERVER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "cmp/peer.h"

struct ms_store;

/*
 * path NULL: anonymous RAM. Otherwise the file is created (mode 0600) or
 * reused and sized to `size` bytes (its old content is not data: these
 * blocks do not outlive the store). size is rounded down to whole
 * blocks. Returns 0 and *out, or -errno (logged here with the path).
 */
int ms_store_create(const char *path, uint64_t size, uint32_t block_size,
		    struct ms_store **out);

struct ms_store_kept_config {
	const char *path; /* the store file; its index is path + ".idx" */
	uint64_t size;	  /* rounded down to whole blocks */
	uint32_t block_size;
	uint32_t node_id; /* 0: the index's, or a new random one */
	bool fresh;	  /* drop what the index keeps and start empty */
};

/*
 * A file store that keeps its loans. With no index beside the file (or
 * fresh), a new store: the file is created or reused and emptied, a new
 * index made (a random node id unless given, a new incarnation). With
 * one, the store as it was: the index must be sound and match (block
 * size, size, node id when given, the same store file); its loans are
 * kept for the peer's kept op and the other blocks cleared. An index that
 * does not match, or is damaged, is refused with one line naming what is
 * wrong (-EINVAL); one left RUNNING by another boot is dropped (warned).
 * Returns 0 and *out, or -errno (logged).
 */
int ms_store_create_kept(const struct ms_store_kept_config *cfg,
			 struct ms_store **out);
/*
 * A clean stop of a kept store, once its peer is destroyed: the blocks
 * and the index on disk, and the index marked CLEAN (a reboot then keeps
 * the loans too). 0 (also for a store that keeps nothing) or -errno
 * (logged).
 */
int ms_store_stop_clean(struct ms_store *s);
void ms_store_destroy(struct ms_store *s);

/* A kept store's node id and peer incarnation; 0 for the others. */
uint32_t ms_store_node_id(struct ms_store *s);
uint64_t ms_store_incarnation(struct ms_store *s);
/*
 * What a kept store found at its start: true when it kept an index (with
 * its loans and their owners), false for a new store or another kind.
 */
bool ms_store_kept_counts(struct ms_store *s, uint32_t *loans,
			  uint32_t *owners);

uint32_t ms_store_total(struct ms_store *s);
uint32_t ms_store_free_count(struct ms_store *s);
struct proto_mgr_counts;
/* What the memserver's heartbeats say: free blocks, and lent ones (RLL). */
void ms_store_mgr_counts(struct ms_store *s, struct proto_mgr_counts *out);

extern const struct peer_store_ops ms_store_ops;

#endif
