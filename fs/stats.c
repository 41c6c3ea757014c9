// SPDX-License-Identifier: MIT
/*
 * The mount's counters: formatted as "name value" lines and served as the
 * root's extended attribute user.cmpfs.stats (cmpctl stats reads it), the
 * one attribute cmpfs has.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

#define STATS_XATTR "user.cmpfs.stats"
#define LOST_XATTR "user.cmpfs.lost"
#define LOST_XATTR_MAX 65536

size_t fs_stats_format(struct fs *fs, char *buf, size_t cap)
{
	static const char *const names[] = {
#define FS_OP_NAME(n) #n,
		FS_OPS(FS_OP_NAME)
#undef FS_OP_NAME
	};
	struct fs_stats *s = &fs->stats;
	struct pool_counts pc;
	size_t n = 0;

#define EMIT(...)                                                 \
	do {                                                      \
		int r_ = snprintf(buf + n, cap - n, __VA_ARGS__); \
		if (r_ > 0)                                       \
			n = MIN(n + (size_t)r_, cap - 1);         \
	} while (0)
#define LOAD(x) ((unsigned long long)atomic_load(&(x)))
	for (int i = 0; i < FS_OP_COUNT; i++)
		EMIT("req_%s %llu\n", names[i], LOAD(s->ops[i]));
	EMIT("read_bytes %llu\n", LOAD(s->read_bytes));
	EMIT("write_bytes %llu\n", LOAD(s->write_bytes));
	EMIT("read_remote_bytes %llu\n", LOAD(s->read_remote_bytes));
	/* the pool sees every write to a block elsewhere (mmap's too) */
	pool_get_counts(fs->pool, &pc);
	EMIT("write_remote_bytes %llu\n",
	     (unsigned long long)pc.remote_write_bytes);
	EMIT("last_read_size %llu\n", LOAD(s->last_read_size));
	EMIT("last_write_size %llu\n", LOAD(s->last_write_size));
	EMIT("psi_samples %llu\n", LOAD(s->psi_samples));
	EMIT("enospc %llu\n", LOAD(s->enospc));
	EMIT("block_size %u\n", fs->block_size);
	EMIT("local_blocks %llu\n", (unsigned long long)pc.local_blocks);
	for (int i = 0; i < POOL_NLISTS; i++)
		EMIT("blocks_%s %llu\n", pool_list_name(i),
		     (unsigned long long)pc.blocks[i]);
	EMIT("pool_free_bytes %llu\n",
	     (unsigned long long)pc.blocks[POOL_FREE] * fs->block_size);
	EMIT("blocks_lost %llu\n", (unsigned long long)pc.lost);
	EMIT("evictions %llu\n", (unsigned long long)pc.evictions);
	EMIT("homecomings %llu\n", (unsigned long long)pc.homecomings);
	EMIT("exchanges %llu\n", (unsigned long long)pc.exchanges);
	EMIT("exchange_skipped %llu\n",
	     (unsigned long long)pc.exchange_skipped);
	EMIT("borrow_capped %llu\n", (unsigned long long)pc.borrow_capped);
	EMIT("prefetched %llu\n", (unsigned long long)pc.prefetched);
	EMIT("prefetch_copies %llu\n", (unsigned long long)pc.copies);
	EMIT("prefetch_queued %llu\n", (unsigned long long)pc.prefetch_queued);
	EMIT("prefetch_hits %llu\n", (unsigned long long)pc.prefetch_hits);
	EMIT("prefetch_wasted %llu\n", (unsigned long long)pc.prefetch_wasted);
	EMIT("evict_unchanged %llu\n", (unsigned long long)pc.evict_unchanged);
	EMIT("evict_partial %llu\n", (unsigned long long)pc.evict_partial);
	EMIT("evict_pages_sent %llu\n",
	     (unsigned long long)pc.evict_pages_sent);
	EMIT("evict_bytes_saved %llu\n",
	     (unsigned long long)pc.evict_bytes_saved);
	EMIT("lent_moved %llu\n", (unsigned long long)pc.lent_moved);
	EMIT("followed %llu\n", (unsigned long long)pc.followed);
	EMIT("inodes %llu\n", (unsigned long long)fs->inodes);
	EMIT("files_with_lost_blocks %llu\n", LOAD(s->files_lost));
	EMIT("files_with_unreachable_blocks %llu\n",
	     LOAD(s->files_unreachable));
	if (pc.replicas > 1 || pc.wpolicy != POOL_WP_NONE) {
		const struct pool_replica_counts *r = &pc.rc;

		EMIT("replicas %u\n", pc.replicas);
		EMIT("replica_copies %llu\n", (unsigned long long)r->copies);
		EMIT("replica_blocks_short %llu\n",
		     (unsigned long long)r->degraded);
		EMIT("replica_rebuilt %llu\n", (unsigned long long)r->rebuilt);
		EMIT("replica_rebuild_bytes %llu\n",
		     (unsigned long long)r->rebuild_bytes);
		EMIT("replica_rebuild_failures %llu\n",
		     (unsigned long long)r->rebuild_failures);
		EMIT("replica_rebuild_passes %llu\n",
		     (unsigned long long)r->rebuild_passes);
		EMIT("replica_stale %llu\n", (unsigned long long)r->stale);
		EMIT("replica_lost %llu\n", (unsigned long long)r->lost);
		EMIT("replica_reads_fastest %llu\n",
		     (unsigned long long)r->reads_fastest);
		EMIT("replica_read_probes %llu\n",
		     (unsigned long long)r->read_probes);
		EMIT("replica_read_fallbacks %llu\n",
		     (unsigned long long)r->read_fallbacks);
		EMIT("replica_repaired %llu\n",
		     (unsigned long long)r->repaired);
		EMIT("replica_scrubbed %llu\n",
		     (unsigned long long)r->scrubbed);
	}
	if (pc.wpolicy != POOL_WP_NONE) {
		const struct pool_wp_counts *w = &pc.wp;

		/* the policy's number: 1 through, 2 back (cmpctl stats) */
		EMIT("wp_policy %u\n", (unsigned)pc.wpolicy);
		EMIT("wp_memserver_copies %llu\n",
		     (unsigned long long)w->ms_copies);
		EMIT("wp_memserver_writes %llu\n",
		     (unsigned long long)w->ms_writes);
		EMIT("wp_memserver_write_bytes %llu\n",
		     (unsigned long long)w->ms_write_bytes);
		EMIT("wp_memserver_reads %llu\n",
		     (unsigned long long)w->ms_reads);
		EMIT("wp_pending %llu\n", (unsigned long long)w->pending);
		EMIT("wp_pending_bytes %llu\n",
		     (unsigned long long)w->pending * fs->block_size);
		EMIT("wp_flushes %llu\n", (unsigned long long)w->flushes);
		EMIT("wp_flush_failures %llu\n",
		     (unsigned long long)w->flush_failures);
	}
	if (fs->cluster) {
		struct cluster_stats cs;

		cluster_get_stats(fs->cluster, &cs);
		EMIT("node_id %u\n", cs.node_id);
		EMIT("net_requests %llu\n", (unsigned long long)cs.requests);
		EMIT("net_bytes_sent %llu\n",
		     (unsigned long long)cs.bytes_sent);
		EMIT("net_bytes_received %llu\n",
		     (unsigned long long)cs.bytes_received);
		EMIT("net_errors %llu\n", (unsigned long long)cs.errors);
		EMIT("net_suspects %llu\n", (unsigned long long)cs.suspects);
		EMIT("net_reconciles %llu\n",
		     (unsigned long long)cs.reconciles);
		EMIT("peer_checksum_errors %llu\n",
		     (unsigned long long)peer_checksum_errors(
			     cluster_peer(fs->cluster)));
	}
#undef LOAD
#undef EMIT
	return n;
}

/* The counters: getfattr -n user.cmpfs.stats MOUNTPOINT (cmpctl stats). */
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size)
{
	struct fs *fs = fs_from_req(req);
	static char lost[LOST_XATTR_MAX]; /* under the lock below */
	static pthread_mutex_t lost_lock = PTHREAD_MUTEX_INITIALIZER;
	char buf[4096];
	size_t n;

	fs_count(fs, FS_OP_getxattr);
	if (ino == FUSE_ROOT_ID && !strcmp(name, LOST_XATTR)) {
		/* the files that lost blocks (cmpctl lost) */
		pthread_mutex_lock(&lost_lock);
		n = fs_lost_format(fs, lost, sizeof(lost));
		if (!size)
			fuse_reply_xattr(req, n);
		else if (size < n)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, lost, n);
		pthread_mutex_unlock(&lost_lock);
		return;
	}
	if (ino != FUSE_ROOT_ID || strcmp(name, STATS_XATTR)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	n = fs_stats_format(fs, buf, sizeof(buf));
	if (!size)
		fuse_reply_xattr(req, n);
	else if (size < n)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, n);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (size)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_xattr(req, 0);
	(void)ino;
}
