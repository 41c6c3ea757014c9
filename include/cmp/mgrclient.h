/* SPDX-License-Identifier: MIT */
/*
 * The manager client, used by cmpfs nodes and cmp-memserver: registers this
 * node with cmp-manager, sends heartbeats with its list counts from its own
 * thread, receives NODE_DEAD pushes, and answers "where are free blocks?"
 * and "which nodes are there?" for any thread.
 *
 * When the manager goes away the client logs it once, keeps retrying with
 * backoff (100 ms doubling to 2 s), and registers again with the same node
 * id when the manager is back; nothing else changes, no data is disturbed.
 *
 * Threads: mgr_client_find_free() and mgr_client_nodes() are thread-safe;
 * each call checks a connection out of a small cache (or opens one), so
 * concurrent callers never share a connection, and each call is bounded by
 * the configured deadline. The counts and node_dead callbacks run on the
 * client's own thread; they must not call mgr_client_destroy().
 *
 * node_dead(ctx, id) with id != own node: node id died; providers free the
 * blocks they hold for it, owners mark their blocks on it lost.
 * node_dead(ctx, own node): the manager had declared THIS node dead (its
 * registration connection closed or went silent, and the others were
 * told): whatever it lent or borrowed before must be treated as gone. The
 * client is registered again by then. A manager restart is no death.
 *
 * Memory: the configuration is copied (strings included); the keyring is
 * borrowed.
 */
#ifndef CMP_MGRCLIENT_H
#define CMP_MGRCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/proto_mgr.h"

struct auth_keyring;
struct mgr_client;

struct mgr_client_config {
	const char *manager_addr; /* "tcp://10.0.0.1:7000" */
	/* NULL: insecure mode; borrowed, must outlive the client */
	struct auth_keyring *keyring;
	uint32_t node;		 /* nonzero, kept for the process lifetime */
	unsigned int kind;	 /* enum mgr_kind */
	const char *listen_addr; /* what other nodes connect to */
	uint32_t block_size;	 /* the cluster's block size */
	uint64_t capacity;	 /* blocks contributed */
	/* 0: as the manager says; else at most this often */
	uint32_t heartbeat_ms;
	int timeout_ms; /* per request and per connect; <= 0: 2000 */
	/* sampled before each heartbeat (and registration); may be NULL */
	void (*counts)(void *ctx, struct proto_mgr_counts *out);
	void (*node_dead)(void *ctx, uint32_t node); /* may be NULL */
	void *ctx;
};

/*
 * Validates cfg and starts the client thread, which registers in the
 * background. Returns the client, or NULL with errno EINVAL (bad config,
 * logged) or ENOMEM.
 */
struct mgr_client *mgr_client_create(const struct mgr_client_config *cfg);
/*
 * Stops the thread, closes every connection, frees c. No other call on c
 * may be in progress or follow. NULL is ok. The manager then sees the
 * registration connection close and announces this node dead.
 */
void mgr_client_destroy(struct mgr_client *c);

/*
 * Waits up to timeout_ms for the client to be registered. 0 when it is;
 * else the last registration failure (-EHOSTUNREACH no manager, -EBUSY id
 * alive on another connection, -ETIMEDOUT) once the time is up, or at once
 * -EACCES (wrong key or secure/insecure mismatch) or -EINVAL (block size
 * differs from the cluster's). The client keeps retrying in any case.
 */
int mgr_client_wait_registered(struct mgr_client *c, int timeout_ms);
bool mgr_client_registered(struct mgr_client *c);

/*
 * Asks the manager where to find n free blocks: up to max entries in tier
 * order (other compute nodes' idle memory first, memservers last, never
 * this node), stored in out[0..*count). -EHOSTUNREACH or -ETIMEDOUT when
 * no manager answers, -EINVAL for n == 0.
 */
int mgr_client_find_free(struct mgr_client *c, uint32_t n,
			 struct mgr_free_entry *out, size_t max, size_t *count);
/* Every node the manager knows (up to max), for status. */
int mgr_client_nodes(struct mgr_client *c, struct mgr_node_info *out,
		     size_t max, size_t *count);

/*
 * One-shot NODES query without registering (cmpctl status): connects,
 * authenticates, asks, closes. Same errors as mgr_client_nodes().
 */
int mgr_query_nodes(const char *manager_addr, struct auth_keyring *keyring,
		    int timeout_ms, struct mgr_node_info *out, size_t max,
		    size_t *count);

#endif
