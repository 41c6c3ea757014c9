/* SPDX-License-Identifier: MIT */
/*
 * The manager service's state (manager.h), shared by manager.c (requests,
 * state changes, liveness), snapshot.c (NODES, and the snapshots cmpctl
 * asks for) and metrics.c (its counters for Prometheus). Private to them.
 *
 * Lock order: manager.lock, then nothing: a connection's write mutex is
 * never taken under it (pushes happen after unlocking, on references
 * taken under it).
 */
#ifndef CMP_MANAGER_MANAGER_INTERNAL_H
#define CMP_MANAGER_MANAGER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp/server.h"
#include "cmp/wire.h"

struct manager {
	struct server *srv;
	uint32_t heartbeat_ms;
	uint32_t suspect_after;
	uint64_t forget_after_ms;
	uint64_t epoch;
	pthread_t ticker;
	bool stepped;	      /* no ticker thread: manager_step() ticks */
	uint64_t tick_at;     /* stepped: the next tick */
	pthread_mutex_t lock; /* protects reg, stopping */
	pthread_cond_t stop_cond;
	/* a heartbeat came, or stopping (monotonic): snapshots wait on it */
	pthread_cond_t heard;
	bool stopping;
	struct registry *reg;
	/* requests served, by opcode, and snapshots taken (any thread) */
	atomic_uint_fast64_t requests[WIRE_OP_MAX];
	atomic_uint_fast64_t snapshots, snapshots_incomplete;
};

/*
 * Under m->lock: references to the registration connections of every
 * ALIVE node but except (0: all), in a malloc()ed array; the count. The
 * caller drops each (server_conn_put()) and frees the array.
 */
size_t manager_collect_locked(struct manager *m, uint32_t except,
			      struct server_conn ***out);
/* Replies to h with err's wire status and no payload. */
int manager_reply_status(struct server_conn *sc, const struct wire_hdr *h,
			 int err);
/* NODES (snapshot.c). */
int manager_op_nodes(struct manager *m, struct server_conn *sc,
		     const struct wire_hdr *h);

#endif
