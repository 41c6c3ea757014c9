/* SPDX-License-Identifier: MIT */
/*
 * The manager service's state (manager.h), shared by manager.c (requests,
 * state changes, liveness), snapshot.c (NODES, and the snapshots cmpctl
 * asks for), peers.c (the other managers: active or standby) and
 * metrics.c (its counters for Prometheus). Private to them.
 *
 * Lock order: manager.lock, then nothing: a connection's write mutex is
 * never taken under it (pushes happen after unlocking, on references
 * taken under it), nor is any network call made under it.
 */
#ifndef CMP_MANAGER_MANAGER_INTERNAL_H
#define CMP_MANAGER_MANAGER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp/mgr.h"
#include "cmp/server.h"
#include "cmp/wire.h"

struct auth_keyring;

/* Another manager of the list, as the watcher (peers.c) last saw it. */
struct manager_peer {
	char addr[MGR_MANAGER_ADDR_LEN];
	unsigned int rank;
	uint64_t answered_ns; /* its last answer to ROLE; 0: none yet */
	uint8_t role;	      /* what it said then */
	int err;	      /* its last poll's error, 0: it answered */
};

struct manager {
	struct server *srv;
	struct auth_keyring *keyring; /* borrowed, for asking the peers */
	uint32_t heartbeat_ms;
	uint32_t suspect_after;
	uint64_t forget_after_ms;
	uint64_t epoch;
	pthread_t ticker;
	bool stepped;	  /* no ticker thread: manager_step() ticks */
	uint64_t tick_at; /* stepped: the next tick */

	/* the other managers (peers.c); set at create, then the watcher's */
	unsigned int rank;
	size_t npeers;
	struct manager_peer peers[MGR_MAX_MANAGERS];
	uint32_t takeover_ms;
	pthread_t watcher;
	bool watching; /* the watcher thread runs */
	/*
	 * The watcher's copy of the active peer's list; nmirror and
	 * mirror_ns (when it was taken) are written under lock, as ROLE
	 * reads them.
	 */
	struct mgr_node_info *mirror;
	size_t nmirror;
	uint64_t mirror_ns;

	pthread_mutex_t lock; /* protects reg, stopping, and the role below */
	pthread_cond_t stop_cond;
	/* a heartbeat came, or stopping (monotonic): snapshots wait on it */
	pthread_cond_t heard;
	bool stopping;
	struct registry *reg;
	uint8_t role;	    /* enum mgr_role */
	uint64_t role_ns;   /* since when */
	uint32_t takeovers; /* times a standby of it became active */
	bool decided;	    /* the watcher's first round is over */
	char defers_to[MGR_MANAGER_ADDR_LEN]; /* a standby: who, else "" */
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

/*
 * The other managers (peers.c). manager_peers_init() finds this one's
 * rank in the list (0 and no peers without a list; -EINVAL, logged, when
 * the list is bad or does not hold listen_addr) and sets the role it
 * starts in: active when alone, else standby until the watcher's first
 * round. manager_peers_start() starts the watcher when there are peers;
 * manager_peers_stop() joins it (m->stopping must be set and stop_cond
 * broadcast first). ROLE is answered by manager_op_role(), in any role.
 */
int manager_peers_init(struct manager *m, const char *list,
		       const char *listen_addr, uint32_t takeover_ms);
int manager_peers_start(struct manager *m);
void manager_peers_stop(struct manager *m);
void manager_peers_finish(struct manager *m);
int manager_op_role(struct manager *m, struct server_conn *sc,
		    const struct wire_hdr *h);
/* Under m->lock: whether this manager is a standby now. */
bool manager_standby_locked(const struct manager *m);

#endif
