// SPDX-License-Identifier: MIT
/*
 * cmpfs's counters for Prometheus (-o metrics=ADDR, include/cmp/metrics.h)
 * and for the manager's heartbeats (the file bytes cmpctl top shows).
 *
 * A scrape reads the same "NAME VALUE" lines as `cmpctl stats --all`
 * (fs_stats_format()), so both always show the same counters; the table
 * below gives each its Prometheus name, type and help, block counts become
 * bytes, and a counter the table does not know yet is still exported, as
 * cmpfs_NAME, untyped.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/metrics.h"
#include "cmp/util.h"
#include "fs.h"

#define STATS_MAX 16384

enum unit { AS_IS, BLOCKS };

/*
 * name: the stats line (a trailing '_' matches a prefix, whose rest goes
 * into the label); metric, type, help; what the value counts.
 */
static const struct row {
	const char *name, *metric;
	enum metrics_type type;
	const char *help, *label;
	enum unit unit;
} rows[] = {
	{"req_", "cmpfs_requests_total", METRICS_COUNTER,
	 "FUSE requests served, by operation", "op", AS_IS},
	{"read_bytes", "cmpfs_read_bytes_total", METRICS_COUNTER,
	 "file bytes read", NULL, AS_IS},
	{"write_bytes", "cmpfs_write_bytes_total", METRICS_COUNTER,
	 "file bytes written", NULL, AS_IS},
	{"read_remote_bytes", "cmpfs_read_remote_bytes_total", METRICS_COUNTER,
	 "bytes read from blocks on other nodes", NULL, AS_IS},
	{"write_remote_bytes", "cmpfs_write_remote_bytes_total",
	 METRICS_COUNTER, "bytes written to blocks on other nodes", NULL,
	 AS_IS},
	{"last_read_size", "cmpfs_last_read_size_bytes", METRICS_GAUGE,
	 "size of the last read request", NULL, AS_IS},
	{"last_write_size", "cmpfs_last_write_size_bytes", METRICS_GAUGE,
	 "size of the last write request", NULL, AS_IS},
	{"psi_samples", "cmpfs_psi_samples_total", METRICS_COUNTER,
	 "samples of the host's memory pressure taken (-o psi=)", NULL, AS_IS},
	{"enospc", "cmpfs_enospc_total", METRICS_COUNTER,
	 "writes refused for lack of space anywhere in the cluster", NULL,
	 AS_IS},
	{"block_size", "cmpfs_block_size_bytes", METRICS_GAUGE,
	 "the pool's block size", NULL, AS_IS},
	{"local_blocks", "cmpfs_local_bytes", METRICS_GAUGE,
	 "memory this node gives the pool", NULL, BLOCKS},
	{"blocks_lost", "cmpfs_lost_bytes", METRICS_GAUGE,
	 "our data that providers lost (reads give EIO)", NULL, BLOCKS},
	{"blocks_", "cmpfs_list_bytes", METRICS_GAUGE,
	 "this node's lists: free (its own memory, unused), LLL (our data "
	 "here), LRL (our data on other nodes), RLL (other nodes' data "
	 "here), RRL (lent blocks moved on)",
	 "list", BLOCKS},
	{"pool_free_bytes", "cmpfs_node_free_bytes", METRICS_GAUGE,
	 "free memory of this node's own (not the cluster's: see "
	 "cmp_manager_node_blocks_bytes)",
	 NULL, AS_IS},
	{"evictions", "cmpfs_evictions_total", METRICS_COUNTER,
	 "blocks of ours moved to other nodes to make room", NULL, AS_IS},
	{"homecomings", "cmpfs_homecomings_total", METRICS_COUNTER,
	 "blocks of ours brought back from other nodes", NULL, AS_IS},
	{"exchanges", "cmpfs_exchanges_total", METRICS_COUNTER,
	 "of the homecomings, blocks that came home for being read often, "
	 "our least recently used block going out in their place",
	 NULL, AS_IS},
	{"exchange_skipped", "cmpfs_exchange_skipped_total", METRICS_COUNTER,
	 "blocks elsewhere read often, but not enough more than our least "
	 "recently used block to be worth an exchange",
	 NULL, AS_IS},
	{"borrow_capped", "cmpfs_borrow_capped_total", METRICS_COUNTER,
	 "blocks that did not move out because this node borrows its "
	 "borrow_max already",
	 NULL, AS_IS},
	{"prefetched", "cmpfs_prefetched_total", METRICS_COUNTER,
	 "blocks of ours brought home from other nodes ahead of a "
	 "sequential reader",
	 NULL, AS_IS},
	{"prefetch_copies", "cmpfs_prefetch_copies", METRICS_GAUGE,
	 "blocks here that came home (by prefetch, or any way with hash "
	 "compare) and keep their loans elsewhere (they go out again for "
	 "nothing when unchanged; also counted in the LRL list)",
	 NULL, AS_IS},
	{"prefetch_queued", "cmpfs_prefetch_queued", METRICS_GAUGE,
	 "blocks named by sequential readers, waiting for room here", NULL,
	 AS_IS},
	{"prefetch_hits", "cmpfs_prefetch_hits_total", METRICS_COUNTER,
	 "prefetched blocks then read here", NULL, AS_IS},
	{"prefetch_wasted", "cmpfs_prefetch_wasted_total", METRICS_COUNTER,
	 "prefetched blocks that went again before anyone read them", NULL,
	 AS_IS},
	{"evict_unchanged", "cmpfs_evict_unchanged_total", METRICS_COUNTER,
	 "blocks that came home and went out again unchanged: nothing sent, "
	 "their kept loans are their places again (hash compare)",
	 NULL, AS_IS},
	{"evict_partial", "cmpfs_evict_partial_total", METRICS_COUNTER,
	 "blocks that came home and went out again written: only their "
	 "dirty 4 KiB pages sent to their kept loans",
	 NULL, AS_IS},
	{"evict_pages_sent", "cmpfs_evict_pages_sent_total", METRICS_COUNTER,
	 "dirty 4 KiB pages those partial evictions sent", NULL, AS_IS},
	{"evict_bytes_saved", "cmpfs_evict_saved_bytes_total", METRICS_COUNTER,
	 "bytes evictions did not send thanks to hash compare", NULL, AS_IS},
	{"lent_moved", "cmpfs_lent_moved_total", METRICS_COUNTER,
	 "blocks this node lent that moved on to a third node (to take the "
	 "memory back, or leaving, draining, shrinking)",
	 NULL, AS_IS},
	{"followed", "cmpfs_followed_total", METRICS_COUNTER,
	 "blocks of ours found at a new place after their provider moved "
	 "them on",
	 NULL, AS_IS},
	{"inodes", "cmpfs_inodes", METRICS_GAUGE, "files and directories", NULL,
	 AS_IS},
	{"files_with_lost_blocks", "cmpfs_files_with_lost_blocks",
	 METRICS_GAUGE,
	 "files with blocks whose every copy was lost (cmpctl lost)", NULL,
	 AS_IS},
	{"files_with_unreachable_blocks", "cmpfs_files_with_unreachable_blocks",
	 METRICS_GAUGE,
	 "files with blocks whose every copy is on an unreachable provider",
	 NULL, AS_IS},
	{"replicas", "cmpfs_replicas", METRICS_GAUGE,
	 "copies kept of each block elsewhere (-o replicas)", NULL, AS_IS},
	{"replica_copies", "cmpfs_replica_copies_bytes", METRICS_GAUGE,
	 "memory our copies take on other nodes", NULL, BLOCKS},
	{"replica_blocks_short", "cmpfs_replica_short_bytes", METRICS_GAUGE,
	 "our data short of copies (at the last re-replication pass)", NULL,
	 BLOCKS},
	{"replica_rebuilt", "cmpfs_replica_rebuilt_total", METRICS_COUNTER,
	 "copies made again from a surviving one", NULL, AS_IS},
	{"replica_rebuild_bytes", "cmpfs_replica_rebuild_bytes_total",
	 METRICS_COUNTER, "bytes copied to make copies again", NULL, AS_IS},
	{"replica_rebuild_failures", "cmpfs_replica_rebuild_failures_total",
	 METRICS_COUNTER, "copies that could not be made (retried)", NULL,
	 AS_IS},
	{"replica_rebuild_passes", "cmpfs_replica_rebuild_passes_total",
	 METRICS_COUNTER, "re-replication passes over our blocks", NULL, AS_IS},
	{"replica_stale", "cmpfs_replica_stale_total", METRICS_COUNTER,
	 "copies dropped because they missed a write", NULL, AS_IS},
	{"replica_lost", "cmpfs_replica_lost_total", METRICS_COUNTER,
	 "copies a node lost while the block lived on in others", NULL, AS_IS},
	{"replica_reads_fastest", "cmpfs_replica_reads_fastest_total",
	 METRICS_COUNTER, "reads served by the cheapest copy", NULL, AS_IS},
	{"replica_read_probes", "cmpfs_replica_read_probes_total",
	 METRICS_COUNTER, "reads sent to another copy to measure it", NULL,
	 AS_IS},
	{"replica_read_fallbacks", "cmpfs_replica_read_fallbacks_total",
	 METRICS_COUNTER, "reads served by another copy after one failed", NULL,
	 AS_IS},
	{"replica_repaired", "cmpfs_replica_repaired_total", METRICS_COUNTER,
	 "copies found corrupt (checksum), dropped and made again", NULL,
	 AS_IS},
	{"replica_scrubbed", "cmpfs_replica_scrubbed_total", METRICS_COUNTER,
	 "copies read whole by scrubs", NULL, AS_IS},
	{"wp_policy", "cmpfs_writepolicy", METRICS_GAUGE,
	 "memserver write policy (-o writepolicy): 1 through, 2 back", NULL,
	 AS_IS},
	{"wp_memserver_copies", "cmpfs_writepolicy_memserver_copies_bytes",
	 METRICS_GAUGE, "memory our copies take on memservers", NULL, BLOCKS},
	{"wp_memserver_writes", "cmpfs_writepolicy_memserver_writes_total",
	 METRICS_COUNTER, "writes a memserver copy took", NULL, AS_IS},
	{"wp_memserver_write_bytes",
	 "cmpfs_writepolicy_memserver_written_bytes_total", METRICS_COUNTER,
	 "bytes written to memserver copies", NULL, AS_IS},
	{"wp_memserver_reads", "cmpfs_writepolicy_memserver_reads_total",
	 METRICS_COUNTER, "reads served by a memserver copy", NULL, AS_IS},
	{"wp_pending", "cmpfs_writepolicy_pending_blocks", METRICS_GAUGE,
	 "blocks whose memserver copy is behind or missing", NULL, AS_IS},
	{"wp_pending_bytes", "cmpfs_writepolicy_pending_bytes", METRICS_GAUGE,
	 "our data whose memserver copy is behind or missing", NULL, AS_IS},
	{"wp_flushes", "cmpfs_writepolicy_flushes_total", METRICS_COUNTER,
	 "memserver copies made or brought up to date in the background", NULL,
	 AS_IS},
	{"wp_flush_failures", "cmpfs_writepolicy_flush_failures_total",
	 METRICS_COUNTER,
	 "tries to bring a memserver copy up to date that "
	 "failed (tried again)",
	 NULL, AS_IS},
	{"node_id", "cmpfs_node_id", METRICS_GAUGE,
	 "this node's id in the cluster", NULL, AS_IS},
	{"net_requests", "cmpfs_net_requests_total", METRICS_COUNTER,
	 "requests to other nodes' block servers", NULL, AS_IS},
	{"net_bytes_sent", "cmpfs_net_sent_bytes_total", METRICS_COUNTER,
	 "block protocol bytes sent, as owner", NULL, AS_IS},
	{"net_bytes_received", "cmpfs_net_received_bytes_total",
	 METRICS_COUNTER, "block protocol bytes received, as owner", NULL,
	 AS_IS},
	{"net_errors", "cmpfs_net_errors_total", METRICS_COUNTER,
	 "failed requests to other nodes", NULL, AS_IS},
	{"net_suspects", "cmpfs_net_suspects_total", METRICS_COUNTER,
	 "times a provider became unreachable", NULL, AS_IS},
	{"net_reconciles", "cmpfs_net_reconciles_total", METRICS_COUNTER,
	 "agreements with a provider on our loans", NULL, AS_IS},
	{"peer_checksum_errors", "cmpfs_peer_checksum_errors_total",
	 METRICS_COUNTER,
	 "reads of blocks we lend refused: their bytes changed (checksum)",
	 NULL, AS_IS},
};

static const struct row *find_row(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		size_t n = strlen(rows[i].name);

		if (rows[i].name[n - 1] == '_' ? !strncmp(name, rows[i].name, n)
					       : !strcmp(name, rows[i].name))
			return &rows[i];
	}
	return NULL;
}

/* A counter the table does not know: cmpfs_NAME, name made safe. */
static void add_unknown(struct metrics_out *out, const char *name, uint64_t v)
{
	char metric[80];
	size_t i = 0;

	i = (size_t)snprintf(metric, sizeof(metric), "cmpfs_");
	for (; *name && i < sizeof(metric) - 1; name++)
		metric[i++] = (*name >= 'a' && *name <= 'z') ||
					      (*name >= 'A' && *name <= 'Z') ||
					      (*name >= '0' && *name <= '9')
				      ? *name
				      : '_';
	metric[i] = '\0';
	metrics_add(out, METRICS_UNTYPED, metric,
		    "a counter of cmpctl stats --all", NULL, 0, v);
}

static void collect(void *ctx, struct metrics_out *out)
{
	struct fs *fs = ctx;
	char text[STATS_MAX];
	const char *p;
	char name[64];
	unsigned long long v;
	int used;

	text[fs_stats_format(fs, text, sizeof(text))] = '\0';
	for (p = text; sscanf(p, "%63s %llu%n", name, &v, &used) == 2;
	     p += used) {
		const struct row *r = find_row(name);
		uint64_t val = r && r->unit == BLOCKS ? v * fs->block_size : v;
		struct metrics_label l = {NULL, NULL};

		if (!r) {
			add_unknown(out, name, v);
			continue;
		}
		if (r->label)
			l = (struct metrics_label){r->label,
						   name + strlen(r->name)};
		metrics_add(out, r->type, r->metric, r->help,
			    r->label ? &l : NULL, r->label ? 1 : 0, val);
	}
}

int fs_metrics_start(struct fs *fs)
{
	if (!fs->opts->metrics)
		return 0;
	fs->metrics = metrics_server_create(&(struct metrics_config){
		.listen_addr = fs->opts->metrics,
		.prefix = "cmpfs",
		.collect = collect,
		.ctx = fs,
		.limits = &fs->opts->limits,
	});
	if (!fs->metrics)
		return -errno;
	log_info("metrics at http://%s/metrics",
		 metrics_server_addr(fs->metrics) + strlen("tcp://"));
	return 0;
}

void fs_metrics_stop(struct fs *fs)
{
	metrics_server_destroy(fs->metrics);
	fs->metrics = NULL;
}

void fs_io_bytes(void *ctx, uint64_t *read, uint64_t *written)
{
	struct fs *fs = ctx;

	*read = atomic_load(&fs->stats.read_bytes);
	*written = atomic_load(&fs->stats.write_bytes);
}
