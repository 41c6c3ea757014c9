/* SPDX-License-Identifier: MIT */
/*
 * The manager's registry of nodes and memservers: who is registered, their
 * addresses, capacity and list counts, each node's state (ALIVE, SUSPECT,
 * LEFT: see include/cmp/mgr.h), and where free blocks are, in tier order.
 * No network and no clock of its own: callers pass the time in
 * (nanoseconds, any monotonic origin), so tests drive it with a fake clock.
 * Each registration carries an opaque connection pointer that the registry
 * only stores and hands back, so the caller can tell the registration
 * connection from others; the caller must report its close
 * (registry_conn_closed()) before the pointer becomes invalid.
 *
 * The states are bookkeeping only: nothing here frees or forgets anything
 * but the table entry of a node silent for forget_after (SUSPECT) or
 * left_keep (LEFT).
 *
 * A manager that takes over from another adopts that one's list
 * (registry_adopt()): its nodes are listed as they were, those ALIVE with
 * no connection yet. Such a node is offered to nobody until it registers
 * here, and becomes SUSPECT if it has not by its rejoin deadline.
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

#define REGISTRY_FORGET_AFTER_MS (10 * 60 * 1000)
#define REGISTRY_LEFT_KEEP_MS (60 * 1000)

struct registry_config {
	uint32_t heartbeat_ms;	/* interval the nodes are told to use */
	uint32_t suspect_after; /* missed intervals before SUSPECT */
	size_t max_nodes;	/* 0: PROTO_MGR_MAX_NODES */
	/* SUSPECT this long: dropped; 0: REGISTRY_FORGET_AFTER_MS */
	uint64_t forget_after_ms;
	/* LEFT this long: dropped; 0: REGISTRY_LEFT_KEEP_MS */
	uint64_t left_keep_ms;
};

/* What registry_expire() did to one node. */
struct registry_change {
	uint32_t node;
	uint8_t state;	    /* MGR_NODE_SUSPECT, or 0: dropped from the table */
	uint8_t old_state;  /* for a drop: SUSPECT or LEFT */
	uint64_t silent_ms; /* since its last registration or heartbeat */
	bool adopted;	    /* adopted, and did not register by its deadline */
};

/* What a registration found under its id. */
struct registry_prior {
	uint8_t state; /* 0: unknown id, else enum mgr_node_state */
	/*
	 * The id's registration connection that is still open and not this
	 * one: the caller closes it (the registry has let go of it already).
	 */
	void *stale_conn;
	bool same_process; /* same incarnation as before */
	bool adopted;	   /* listed by registry_adopt(), not registered yet */
};

struct registry *registry_create(const struct registry_config *cfg);
void registry_destroy(struct registry *r);

/*
 * Registers (or re-registers) reg->node on connection conn: it is ALIVE
 * afterwards, whatever it was (unknown, SUSPECT, LEFT, or ALIVE on a
 * connection that still looks open but was replaced by the same process).
 * *prior says what was there. Returns 0, -EBUSY when the id is ALIVE on
 * another connection of another process (another incarnation), -EINVAL
 * when the block size differs from the first registrant's, -ENOSPC when
 * the table is full of ALIVE nodes.
 */
int registry_register(struct registry *r, const struct proto_mgr_register *reg,
		      void *conn, uint64_t now_ns,
		      struct registry_prior *prior);
/*
 * Lists the nodes of another manager's list (info[0..n)) that are not
 * listed here, in the state they had there; the cluster's block size is
 * theirs when none is known yet. ALIVE ones wait for their registration
 * until rejoin_by_ns (registry_expire()). Returns how many were added
 * (the table may be full).
 */
size_t registry_adopt(struct registry *r, const struct mgr_node_info *info,
		      size_t n, uint64_t now_ns, uint64_t rejoin_by_ns);
/*
 * Forgets every node (a manager stepping down). Stores in conns (up to
 * max) the registration connections it held, which the caller closes;
 * returns how many there were.
 */
size_t registry_clear(struct registry *r, void **conns, size_t max);
/*
 * Records a heartbeat that came on connection conn. A SUSPECT node whose
 * registration connection that is becomes ALIVE again (*revived set).
 * -ENOENT when the node is unknown, LEFT, or registered on another (or no)
 * connection: it must register again; -EINVAL when the counts exceed its
 * capacity.
 */
int registry_heartbeat(struct registry *r, const struct proto_mgr_heartbeat *hb,
		       const void *conn, uint64_t now_ns, bool *revived);
/*
 * Node sent LEAVE on conn: LEFT, and the registry forgets conn. Returns 0,
 * or -ENOENT when conn is not node's registration connection.
 */
int registry_leave(struct registry *r, uint32_t node, const void *conn,
		   uint64_t now_ns);
/*
 * conn, node's registration connection, closed. Returns 0 when that made
 * an ALIVE node SUSPECT, -ENOENT otherwise (unknown, LEFT, already
 * SUSPECT, or registered again on a newer connection).
 */
int registry_conn_closed(struct registry *r, uint32_t node, const void *conn,
			 uint64_t now_ns);
/*
 * Marks SUSPECT every ALIVE node whose last heartbeat is older than
 * suspect_after * heartbeat_ms (its connection stays registered: a late
 * heartbeat there revives it) and every adopted one that did not register
 * by its rejoin deadline, and drops nodes SUSPECT for longer than
 * forget_after or LEFT for longer than left_keep. Stores up to max changes
 * in out and returns how many there were (may exceed max: the rest happen
 * unreported).
 */
size_t registry_expire(struct registry *r, uint64_t now_ns,
		       struct registry_change *out, size_t max);
/*
 * Where to find q->want free blocks: ALIVE nodes registered here other
 * than q->node with free blocks, compute nodes first, memservers last, most
 * free first within a tier. Blocks pointed at are held back from later answers
 * until the provider's next heartbeat, so concurrent requesters spread out.
 * Returns the number of entries stored (<= max).
 */
size_t registry_find_free(struct registry *r,
			  const struct proto_mgr_find_free *q,
			  struct mgr_free_entry *out, size_t max);
/* Every listed node, in any state, by node id. Returns the count. */
size_t registry_nodes(const struct registry *r, uint64_t now_ns,
		      struct mgr_node_info *out, size_t max);
/*
 * The same, each node that heartbeat (or registered) at or after since_ns
 * marked fresh: the answer to a snapshot that began then.
 */
size_t registry_nodes_since(const struct registry *r, uint64_t now_ns,
			    uint64_t since_ns, struct mgr_node_info *out,
			    size_t max);
/*
 * ALIVE nodes registered here not heard from since since_ns (a
 * snapshot's wait).
 */
size_t registry_unheard(const struct registry *r, uint64_t since_ns);
/* One node's entry; false when the id is not listed. */
bool registry_node(const struct registry *r, uint32_t node, uint64_t now_ns,
		   struct mgr_node_info *out);
/*
 * The connections of ALIVE nodes other than except (adopted ones have
 * none yet); returns the count.
 */
size_t registry_live_conns(const struct registry *r, uint32_t except,
			   void **out, size_t max);
/* ALIVE nodes now. */
size_t registry_live_count(const struct registry *r);
/* The cluster's block size; 0 before the first registration. */
uint32_t registry_block_size(const struct registry *r);

#endif
