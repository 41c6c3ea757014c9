/* SPDX-License-Identifier: MIT */
/*
 * The manager's registry of nodes and memservers: who is registered, their
 * addresses, capacity and list counts, who is alive, and where free blocks
 * are, in tier order. No network and no clock of its own: callers pass the
 * time in (nanoseconds, any monotonic origin), so tests drive it with a fake
 * clock. Each registration carries an opaque connection pointer that the
 * registry only stores and hands back, so the caller can tell the
 * registration connection from others and reach it on death.
 *
 * Not thread-safe: the manager serializes calls with its own lock.
 * Memory: the registry owns its entries; out arrays belong to the caller.
 */
#ifndef CMP_MANAGER_REGISTRY_H
#define CMP_MANAGER_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/mgr.h"

struct registry;

struct registry_config {
	uint32_t heartbeat_ms; /* interval the nodes are told to use */
	uint32_t dead_after;   /* missed intervals before a node is dead */
	size_t max_nodes;      /* 0: PROTO_MGR_MAX_NODES */
	/* how long the dead stay listed; 0: REGISTRY_DEAD_KEEP_MS */
	uint64_t dead_keep_ms;
};

#define REGISTRY_DEAD_KEEP_MS (10 * 60 * 1000)

/* A node that just died, and the connection it had registered on. */
struct registry_death {
	uint32_t node;
	void *conn;
};

struct registry *registry_create(const struct registry_config *cfg);
void registry_destroy(struct registry *r);

/*
 * Registers (or re-registers) reg->node on connection conn. A node unknown
 * to the registry (first start, or the manager restarted) is taken as is.
 * *was_dead tells whether the registry had declared this id dead.
 * Returns 0, -EBUSY when the id is alive on another connection, -EINVAL
 * when the block size differs from the first registrant's, -ENOSPC when
 * the table is full of live nodes.
 */
int registry_register(struct registry *r, const struct proto_mgr_register *reg,
		      void *conn, uint64_t now_ns, bool *was_dead);
/*
 * Records a heartbeat. -ENOENT when the node is unknown or dead (it must
 * register again), -EINVAL when the counts exceed its capacity.
 */
int registry_heartbeat(struct registry *r, const struct proto_mgr_heartbeat *hb,
		       uint64_t now_ns);
/*
 * Declares node dead because its registration connection conn closed.
 * Returns 0 if it was alive on that connection, -ENOENT otherwise (unknown,
 * already dead, or registered again on a newer connection).
 */
int registry_kill(struct registry *r, uint32_t node, const void *conn);
/*
 * Declares dead every live node whose last heartbeat is older than
 * dead_after * heartbeat_ms; stores up to max of them in out. Returns the
 * number of nodes that died (may exceed max: the rest die unreported).
 * Also forgets nodes dead for longer than dead_keep_ms (a node that comes
 * back after that learns it was dead from the manager's unchanged epoch).
 */
size_t registry_expire(struct registry *r, uint64_t now_ns,
		       struct registry_death *out, size_t max);
/*
 * Where to find q->want free blocks: live nodes other than q->node with
 * free blocks, compute nodes first, memservers last, most free first
 * within a tier. Blocks pointed at are held back from later answers until
 * the provider's next heartbeat, so concurrent requesters spread out.
 * Returns the number of entries stored (<= max).
 */
size_t registry_find_free(struct registry *r,
			  const struct proto_mgr_find_free *q,
			  struct mgr_free_entry *out, size_t max);
/* Every known node, dead ones included, by node id. Returns the count. */
size_t registry_nodes(const struct registry *r, uint64_t now_ns,
		      struct mgr_node_info *out, size_t max);
/* The connections of live nodes other than except; returns the count. */
size_t registry_live_conns(const struct registry *r, uint32_t except,
			   void **out, size_t max);
/* Live nodes now. */
size_t registry_live_count(const struct registry *r);
/* The cluster's block size; 0 before the first registration. */
uint32_t registry_block_size(const struct registry *r);

#endif
