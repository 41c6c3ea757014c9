/* SPDX-License-Identifier: MIT */
/*
 * The cmp-manager service: the registry (registry.h) behind a connection
 * server (include/cmp/server.h), plus a liveness thread that marks nodes
 * SUSPECT when they miss heartbeats and forgets the long gone. Every state
 * change (include/cmp/mgr.h) is pushed as NODE_STATE to every other ALIVE
 * node, as information only. One of several managers also watches the
 * others and is active or a standby (include/cmp/mgr.h, "Several
 * managers"). Kept apart from main.c so tests run real managers
 * in-process over mem:// addresses.
 *
 * Threads: manager_create() starts the server's threads and the liveness
 * thread; manager_destroy() stops and joins them all. The registry is
 * guarded by one mutex inside; nothing here is called concurrently by the
 * caller.
 */
#ifndef CMP_MANAGER_MANAGER_H
#define CMP_MANAGER_MANAGER_H

#include <stdint.h>

struct auth_keyring;
struct manager;
struct server_limits;

#define MANAGER_DEFAULT_HEARTBEAT_MS 1000
#define MANAGER_DEFAULT_SUSPECT_AFTER 3
#define MANAGER_DEFAULT_FORGET_AFTER_MS 600000 /* 10 min */

struct manager_config {
	const char *listen_addr;
	/* NULL: insecure; borrowed, must outlive the manager */
	struct auth_keyring *keyring;
	uint32_t heartbeat_ms;	/* 0: MANAGER_DEFAULT_HEARTBEAT_MS */
	uint32_t suspect_after; /* 0: MANAGER_DEFAULT_SUSPECT_AFTER */
	/* SUSPECT this long: dropped; 0: MANAGER_DEFAULT_FORGET_AFTER_MS */
	uint64_t forget_after_ms;
	/* connection limits (include/cmp/server.h); NULL: the defaults */
	const struct server_limits *limits;
	/*
	 * Every manager of the cluster in rank order, separated by commas,
	 * listen_addr among them spelled the same; NULL: the only one.
	 */
	const char *managers;
	/*
	 * With managers: how long no manager ranked before this one may
	 * stay silent before it becomes active; 0: twice heartbeat_ms.
	 */
	uint32_t takeover_ms;
};

/*
 * Starts the manager (a standby, with a list, until its watcher has asked
 * the others); NULL with errno set (the cause is logged).
 */
struct manager *manager_create(const struct manager_config *cfg);
/* The bound listen address; owned by m. */
const char *manager_addr(const struct manager *m);
struct metrics_out;
/*
 * Adds m's counters to a scrape (include/cmp/metrics.h: the collect()
 * of a metrics server whose ctx is m). Any thread.
 */
void manager_collect_metrics(void *ctx, struct metrics_out *out);
void manager_destroy(struct manager *m);

/*
 * For the simulator (tools/cmp-sim). manager_step(): in stepped mode
 * (include/cmp/util.h) manager_create() starts no liveness thread, and
 * this does its work when it is due (every heartbeat/4): nodes silent
 * too long become SUSPECT and the others are told. manager_requests():
 * requests served so far, by opcode (counts[WIRE_OP_MAX], wire.h).
 */
void manager_step(struct manager *m);
void manager_requests(struct manager *m, uint64_t *counts);

#endif
