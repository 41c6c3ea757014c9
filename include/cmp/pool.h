/* SPDX-License-Identifier: MIT */
/*
 * The pool: the memory this node contributes to the cluster (one mlock'd,
 * pre-faulted region carved into equal blocks) and the bookkeeping of CMP's
 * five lists:
 *
 *   free  contributed, unused              (this node's memory)
 *   LLL   our data in our memory, LRU order (this node's memory)
 *   LRL   our data in another node's memory
 *   RLL   another node's data in our memory (we lend)
 *   RRL   forwarding record: a block we lent was moved on to a third node
 *         (principle 3), until its owner knows where (principle 5)
 *
 * Callers that own data (the file system) see blocks only through handles:
 * a handle (nonzero u32) names one block of this node's data wherever it
 * lives, so a block can move (evicted to a remote node, pulled home) without
 * the caller knowing. Handle 0 is never valid.
 *
 * Local data may be accessed in place: pool_pin() returns a pointer into the
 * region and keeps the block from moving until pool_unpin(). Otherwise
 * pool_read()/pool_write() copy byte ranges wherever the block is.
 *
 * Joining the cluster (cluster_*): runs the peer service that lends our
 * free blocks to other nodes (RLL), the manager client that registers us
 * and heartbeats our list counts, and the block client through which the
 * pool borrows (LRL), reads and writes byte ranges of blocks elsewhere
 * (remote.h: a provider we cannot reach is suspect, its blocks give EIO
 * until it is back and reconciled). Borrowing goes on from the providers
 * we know while the manager is down. It takes the manager's NODE_STATE
 * news as information: a node that LEFT takes our blocks there with it
 * (lost), a SUSPECT one is not borrowed from; nothing we hold for others
 * is freed on the manager's word. A node that needs memory while it lends
 * moves lent blocks on to a third node (principle 3); a block of ours
 * that moved is followed there (principle 5). cluster_leave() moves
 * everything we hold for others elsewhere first; cluster_destroy() says
 * GOODBYE to our providers and LEAVE to the manager (a clean shutdown).
 *
 * Threads: every pool function is thread-safe (one internal mutex, held
 * only for list updates, never across copies or network I/O).
 * cluster_create/destroy from one thread; the other cluster calls are
 * thread-safe. Memory: the pool owns its region; pointers from pool_pin()
 * are valid until the matching unpin. The pool must outlive its cluster.
 */
#ifndef CMP_POOL_H
#define CMP_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;

#define POOL_MAX_REPLICAS 3u
#define POOL_DEFAULT_REBUILD_AFTER_MS 5000u
#define POOL_DEFAULT_WB_DELAY_MS 100u

/*
 * Memserver write policies (pool_config.wpolicy), per mount:
 *   NONE     our blocks elsewhere have their `replicas` copies only;
 *   THROUGH  every block elsewhere also has a copy on a memserver,
 *            written with the others (a write returns once it has the
 *            bytes too): losing every compute provider loses nothing;
 *   BACK     the memserver copy is written when the block goes out of
 *            this node and, after writes to a block already elsewhere,
 *            by a background flush within wb_delay_ms (and before the
 *            node says goodbye): losing every compute provider loses
 *            only what was written since the last flush.
 * A memserver copy that is missing or behind is made (again) in the
 * background from a compute copy; until then it is never read.
 */
enum pool_wpolicy {
	POOL_WP_NONE,
	POOL_WP_THROUGH,
	POOL_WP_BACK,
};

struct pool_config {
	uint64_t local_bytes; /* this node's contribution (rounded down) */
	uint32_t block_size;  /* power of two, 4 KiB .. 4 MiB */
	bool lock_memory;     /* mlock the region (needs root / RLIMIT) */
	uint32_t max_handles; /* 0: enough for local blocks plus borrowing */
	/* the most pool_resize() may grow it to; below local_bytes: that */
	uint64_t max_bytes;
	/*
	 * Copies of every block elsewhere, each on its own provider
	 * (0 or 1: one; at most POOL_MAX_REPLICAS). With more than one, a
	 * copy whose provider has been unreachable for rebuild_after_ms
	 * (0: POOL_DEFAULT_REBUILD_AFTER_MS) no longer counts and is made
	 * again elsewhere, at most rebuild_rate bytes a second (0: no
	 * limit).
	 */
	uint32_t replicas;
	uint32_t rebuild_after_ms;
	uint64_t rebuild_rate;
	/* memserver copies (see enum pool_wpolicy); 0 ms: the default */
	enum pool_wpolicy wpolicy;
	uint32_t wb_delay_ms;
	/*
	 * Keep no block contents (the simulator, tools/cmp-sim): the region
	 * is one block that every block shares, so the lists, handles and
	 * moves are the real ones while data is neither kept nor checked.
	 */
	bool no_contents;
};

enum pool_list {
	POOL_FREE,
	POOL_LLL,
	POOL_LRL,
	POOL_RLL,
	POOL_RRL,
	POOL_NLISTS
};

/* The copies of our blocks elsewhere (all 0 but copies with one). */
struct pool_replica_counts {
	uint64_t copies;   /* loans held for our blocks elsewhere */
	uint64_t degraded; /* blocks short of good copies (last pass) */
	uint64_t rebuilt;  /* copies made again from a surviving one */
	uint64_t rebuild_bytes, rebuild_failures, rebuild_passes;
	uint64_t stale; /* copies dropped at once: they missed a write */
	uint64_t lost;	/* copies their provider lost (the block lived) */
	uint64_t reads_fastest;	 /* reads served by the cheapest copy */
	uint64_t read_probes;	 /* reads sent to another to measure it */
	uint64_t read_fallbacks; /* reads served after a copy failed */
	/* copies found corrupt (checksum), dropped and made again */
	uint64_t repaired;
	uint64_t scrubbed; /* copies read whole by scrubs (pool_scrub) */
};

/* The memserver copies of a write policy (all 0 with none). */
struct pool_wp_counts {
	uint64_t ms_copies;	 /* memserver copies held */
	uint64_t ms_writes;	 /* writes a memserver copy took */
	uint64_t ms_write_bytes; /* their bytes */
	uint64_t ms_reads;	 /* reads served by a memserver copy */
	uint64_t pending; /* blocks whose memserver copy is behind/missing */
	uint64_t flushes; /* memserver copies brought up to date */
	uint64_t flush_failures; /* tries that failed (retried) */
};

struct pool_counts {
	/*
	 * per-list block counts; a block that came home and keeps its loan
	 * (a copy: hash compare, pool_set_hash_compare(); a prefetched
	 * block) counts in LRL, as our block elsewhere (its provider counts
	 * the loan in its RLL), and in copies: the local blocks copies take
	 * are neither free nor LLL
	 */
	uint64_t blocks[POOL_NLISTS];
	uint64_t copies;
	uint64_t local_blocks; /* blocks this node contributes */
	uint64_t handles;      /* live data handles */
	/* bytes read from and written (or zeroed) to blocks elsewhere */
	uint64_t remote_read_bytes, remote_write_bytes;
	uint64_t lost;	      /* our blocks whose every copy was lost */
	uint64_t evictions;   /* LLL blocks moved out (principle 2) */
	uint64_t homecomings; /* LRL blocks pulled home (principle 4) */
	uint64_t lent_moved;  /* RLL blocks moved on to take them back (3) */
	uint64_t followed;    /* our LRL blocks found at a new place (5) */
	uint32_t replicas;    /* copies wanted per block elsewhere */
	struct pool_replica_counts rc;
	enum pool_wpolicy wpolicy;
	struct pool_wp_counts wp;
	/*
	 * of the homecomings, those that sent our coldest local block out in
	 * their place (exchange, figure 8), and the hot blocks elsewhere not
	 * hot enough, against the coldest, to be worth one
	 */
	uint64_t exchanges, exchange_skipped;
	uint64_t borrow_capped; /* evictions refused by the borrow cap */
	/*
	 * blocks elsewhere brought home ahead of a sequential reader
	 * (pool_prefetch()), those then read, and those that went again
	 * (moved out, freed) before anyone read them
	 */
	uint64_t prefetched, prefetch_hits, prefetch_wasted;
	uint64_t prefetch_queued; /* named, waiting for room (for 0.5 s) */
	/*
	 * hash compare: blocks that came home keep their loans (copies);
	 * copies that went out again unchanged, sending nothing; those that
	 * sent only their dirty 4 KiB pages, and the pages; the bytes not
	 * sent by both (a whole block's less the pages sent)
	 */
	uint64_t evict_unchanged, evict_partial, evict_pages_sent;
	uint64_t evict_bytes_saved;
};

#define POOL_MIN_BLOCK (4u << 10)
#define POOL_MAX_BLOCK (4u << 20)

/* NULL + errno (EINVAL for a bad config, ENOMEM, EPERM from mlock). */
struct pool *pool_create(const struct pool_config *cfg);
void pool_destroy(struct pool *p);

uint32_t pool_block_size(const struct pool *p);
/* The most blocks the pool may grow to (pool_config.max_bytes). */
uint32_t pool_max_blocks(const struct pool *p);

/*
 * Changes this node's contribution to nblocks blocks while it serves
 * (1 .. pool_max_blocks()). Growing locks and faults the new memory in
 * and offers it at once (borrowed blocks come home into it). Shrinking
 * gives back the blocks at the end of the region: blocks lent there move
 * on to other nodes (principle 3's move), our data there moves into free
 * blocks below, and when there are none, blocks we lend elsewhere in the
 * region move on and then our least recently used data moves to other
 * nodes, as an allocation would make room; then the memory goes back to
 * the system (munlock, MADV_DONTNEED). Returns 0; -EINVAL (out of range);
 * -EBUSY (another resize is under way); -ENOMEM (the new memory cannot be
 * locked); -ENOSPC (nowhere to put some block: nothing given back, the
 * pool keeps its size and serves on); -EIO (a node failed a move);
 * -ETIMEDOUT (blocks stayed in use or in flight for timeout_ms). Moves
 * made before a failure stay made. Blocks the caller until done.
 */
int pool_resize(struct pool *p, uint32_t nblocks, int timeout_ms);
/*
 * Exchange (on by default): a block of ours elsewhere that is accessed
 * often enough comes home and our coldest local block goes out in its
 * place, by a policy whose threshold and hysteresis keep a working set a
 * little larger than this node from moving back and forth
 * (pool/exchange.h). Off: such blocks come home only when memory is
 * freed.
 */
void pool_set_exchange(struct pool *p, bool on);
/*
 * Prefetch (on by default): pool_prefetch() names blocks a sequential
 * reader will want next; those elsewhere come home ahead of it, several
 * at once, on the pool's helper thread. A prefetched block keeps its loan
 * until it is written (a clean copy), so that it goes out again for
 * nothing when memory is short (with one copy per block; with replicas
 * > 1 it comes home as any block, its copies given back); one read to its
 * end goes to the cold end of LLL. Prefetch never sends our data out, itself or
 * through the evictor: it uses free blocks above the reserve the evictor keeps
 * and the copies already read, with at most three quarters of the node's blocks
 * unread at a time. Off: nothing is fetched ahead (pool_prefetch() queues
 * nothing, what it queued is dropped).
 */
void pool_set_prefetch(struct pool *p, bool on);
/*
 * The blocks behind h[0..n) (in the order they will be read) will be
 * read soon: those elsewhere are queued for the prefetch (the others, and
 * 0 entries, are skipped). Never waits. Returns how many were queued.
 */
uint32_t pool_prefetch(struct pool *p, const uint32_t *h, uint32_t n);
/*
 * Hash compare (default off here; cmpfs turns it on): every block that
 * comes home keeps its loan elsewhere as a copy, with the XXH3 of its
 * bytes, and writes mark the 4 KiB pages they touch; when it goes out
 * again unchanged nothing is sent (counts: evict_unchanged), when written
 * only its dirty pages (evict_partial), after a pool_pin() that may have
 * written anywhere as the XXH3 compare says. Off: only prefetched blocks
 * keep their loans, until their first write.
 */
void pool_set_hash_compare(struct pool *p, bool on);
/*
 * Caps, in blocks (0: none): this node lends at most lend_max blocks to
 * other nodes, and keeps at most borrow_max blocks of its data elsewhere
 * (beyond that its allocations fail with ENOSPC once its own memory is
 * full, as in a full cluster). Loans made before a cap was lowered stay.
 */
void pool_set_caps(struct pool *p, uint32_t lend_max, uint32_t borrow_max);
void pool_get_counts(struct pool *p, struct pool_counts *out);
/*
 * Scrub (replicas > 1): reads every copy of every block elsewhere, whole,
 * so that a copy gone bad (its provider answers CORRUPT: checksum
 * mismatch) is found before it is needed, not only when a read picks it;
 * each is dropped and made again from a good one (rc.repaired). Blocks
 * are scrubbed one at a time beside the traffic. *checked, *corrupt: the
 * copies read and those found bad. 0, or -EINVAL with one copy. Blocks;
 * any thread.
 */
int pool_scrub(struct pool *p, uint64_t *checked, uint64_t *corrupt);
/* Blocks a new allocation could still get (local free plus remote). */
uint64_t pool_avail_blocks(struct pool *p);
/* Total blocks this node can hold data in (local plus borrowable). */
uint64_t pool_capacity_blocks(struct pool *p);

/*
 * Allocates a block for this node's data. zero: clear it first (skip when
 * the caller is about to overwrite all of it). Without a free block it
 * first takes back a block it lends (its content moves on to a third
 * node), and only when none can move evicts its own coldest block.
 * Returns 0 and the handle, -ENOSPC when neither this node nor any
 * provider of the cluster has a free block, or -EIO when room had to be
 * made elsewhere and a provider could not be reached.
 */
int pool_alloc(struct pool *p, bool zero, uint32_t *handle);
/*
 * Frees the block behind handle (wherever it lives). Never waits on the
 * network or on a block in flight: a remote block is given back later by
 * the pool's helper thread. Safe under any caller lock.
 */
void pool_free(struct pool *p, uint32_t handle);

/*
 * Pins a local block and returns its address, marking it most recently
 * used. Returns -EREMOTE when the block is not in local memory (use
 * pool_read/pool_write), -EINVAL for a bad handle. The caller may write
 * through the pointer.
 */
int pool_pin(struct pool *p, uint32_t handle, void **ptr);
/*
 * The same, for an access of len bytes of the block (what the exchange
 * policy counts: a few small accesses weigh less than a whole block's;
 * pool_pin() counts the whole block).
 */
int pool_pin_range(struct pool *p, uint32_t handle, uint32_t len, void **ptr);
/*
 * A pin for reading [off, off + len) only (the caller writes nothing
 * through the pointer): a prefetched block read this way stays a clean
 * copy (pool_set_prefetch()), and a read to its end sends it to the cold
 * end. -EINVAL for a range outside the block.
 */
int pool_pin_read(struct pool *p, uint32_t handle, uint32_t off, uint32_t len,
		  void **ptr);
void pool_unpin(struct pool *p, uint32_t handle);

/*
 * Byte-range copies; off + len <= block size. -EIO if the block is lost or
 * its provider cannot be reached.
 */
int pool_read(struct pool *p, uint32_t handle, uint32_t off, void *dst,
	      uint32_t len);
int pool_write(struct pool *p, uint32_t handle, uint32_t off, const void *src,
	       uint32_t len);
/* Zeroes [off, off+len) of the block. */
int pool_zero(struct pool *p, uint32_t handle, uint32_t off, uint32_t len);

/*
 * Health of our data elsewhere. pool_lost_gen() moves whenever a block of
 * ours becomes lost (its provider left, restarted or no longer holds it);
 * pool_any_suspect() tells whether some provider is unreachable now.
 * pool_check_handles() returns 0 when every handle of h[0..n) (0 entries
 * are skipped) can be read and written now, -EIO when one is lost or lives
 * on an unreachable provider; it takes the pool lock once.
 */
uint64_t pool_lost_gen(struct pool *p);
bool pool_any_suspect(struct pool *p);
int pool_check_handles(struct pool *p, const uint32_t *h, size_t n);
/*
 * Adds to *lost how many of h[0..n) (0 entries skipped) are lost, and to
 * *unreachable how many have every copy on providers unreachable now;
 * takes the lock once.
 */
void pool_count_unhealthy(struct pool *p, const uint32_t *h, size_t n,
			  uint64_t *lost, uint64_t *unreachable);
/*
 * A generation that moves whenever a block is lost or a provider becomes
 * suspect or reachable again: waits until it is no longer gen, *stop is
 * set (then pool_wake_health() wakes the waiter) or timeout_ms passed
 * (< 0: no limit); returns it (0 at first).
 */
uint64_t pool_wait_health(struct pool *p, uint64_t gen, const atomic_bool *stop,
			  int timeout_ms);
void pool_wake_health(struct pool *p);

/* "none", "through", "back"; parse: 0 or -EINVAL. */
const char *pool_wpolicy_name(enum pool_wpolicy w);
int pool_wpolicy_parse(const char *s, enum pool_wpolicy *out);
/* The pool's (pool_config.wpolicy); any thread. */
enum pool_wpolicy pool_get_wpolicy(const struct pool *p);
/*
 * Writes every memserver copy that is behind or missing now (write-back's
 * flush; a clean shutdown calls it before its goodbye): 0 when none is
 * left, -ETIMEDOUT when some still are after timeout_ms (a memserver
 * unreachable or full), -ENOTCONN outside a cluster. Any thread.
 */
int pool_wp_flush(struct pool *p, int timeout_ms);

/* Name of a list ("free", "LLL", ...). */
const char *pool_list_name(enum pool_list l);

/* ---- Joining the cluster ---- */

struct auth_keyring;
struct cluster;
struct server_limits;

struct cluster_config {
	struct pool *pool;
	const char *manager_addr; /* tcp://HOST:PORT */
	const char *listen_addr;  /* where other nodes reach us */
	/* NULL: insecure mode; borrowed, must outlive the cluster */
	struct auth_keyring *keyring;
	uint32_t node_id;  /* 0: random */
	int timeout_ms;	   /* per remote call; <= 0: 5000 */
	uint32_t lease_ms; /* lending: owners' lease; 0: the peer's default */
	/* of the block server (include/cmp/server.h); NULL: the defaults */
	const struct server_limits *limits;
	/*
	 * File bytes read and written through this node so far, sent with
	 * its heartbeats (cmpctl top's rates); NULL: none. Called from the
	 * manager client's thread, from cluster_create() on.
	 */
	void (*io_bytes)(void *ctx, uint64_t *read, uint64_t *written);
	void *io_ctx;
};

struct cluster_stats {
	/* the block client's: requests to providers, their frame bytes */
	uint64_t requests, bytes_sent, bytes_received, errors;
	/* the block server's (lending): frame bytes in and out */
	uint64_t served_received, served_sent;
	uint64_t suspects;   /* times a provider became unreachable */
	uint64_t reconciles; /* agreements with a provider on our loans */
	uint32_t node_id;
	/*
	 * The node's bookkeeping of blocks in bytes (the pool's records of
	 * its blocks and handles and its release queue, the loan table, the
	 * table of providers), and the connections it holds to providers.
	 */
	uint64_t meta_bytes;
	uint32_t provider_conns;
};

/* NULL + errno (EINVAL bad config, EADDRINUSE, ...), logged. */
struct cluster *cluster_create(const struct cluster_config *cfg);
/* Waits up to timeout_ms for the first registration. 0 or -errno. */
int cluster_wait_registered(struct cluster *c, int timeout_ms);
/*
 * Leaving without loss: moves every block this node holds for other nodes
 * on to other nodes or memservers (lending nothing from then on), logging
 * progress, and waits until their owners know where (no forwarding record
 * left). 0 when done; -ENOSPC when some block has nowhere to go, or
 * -ETIMEDOUT when an owner did not confirm within timeout_ms: the node
 * keeps serving them either way (call again).
 */
int cluster_drain(struct cluster *c, int timeout_ms);
/*
 * A clean shutdown's first step, before cluster_destroy(): cluster_drain()
 * until it succeeds, saying loudly every few seconds that the node keeps
 * serving what it could not move yet. Blocks until then. NULL is ok.
 */
void cluster_leave(struct cluster *c);
/*
 * pool_resize() for a node of the cluster: what has to go elsewhere goes
 * to other nodes or memservers, and the manager learns the new capacity
 * (its new blocks are offered at once). Same returns; a failure is logged
 * (-ENOSPC: the node keeps its size and serves on).
 */
int cluster_resize(struct cluster *c, uint32_t nblocks, int timeout_ms);
void cluster_get_stats(struct cluster *c, struct cluster_stats *out);
/* Detaches from the pool, stops serving, frees c. NULL is ok. */
void cluster_destroy(struct cluster *c);

/*
 * For the simulator (tools/cmp-sim). cluster_step(): in stepped mode
 * (include/cmp/util.h) runs what the node's threads would have done by
 * now: the manager client's registration, heartbeats and news, the
 * keeper's connections, reconciliations and keepalives, the notices to
 * owners, the pool's evictions ahead and homecomings, the expiry of its
 * borrowers' leases; call it often (the simulator: every tick). A no-op
 * otherwise. cluster_abandon(): cluster_destroy() as if the process died:
 * no GOODBYE to providers, no LEAVE to the manager (its registration
 * connection simply closes: SUSPECT); the loans it held elsewhere end
 * when their providers' leases on it run out. cluster_peer(): the node's
 * block server (include/cmp/peer.h), owned by c.
 */
void cluster_step(struct cluster *c);
void cluster_abandon(struct cluster *c);
struct peer *cluster_peer(struct cluster *c);

#endif
