/* SPDX-License-Identifier: MIT */
/*
 * A provider for the owner-side tests (test-owner-liveness.c,
 * test-replicas-cluster.c): a memserver's store behind a peer service in
 * this process, reached by owners through a relay the test controls
 * (relay.h), and a manager client that registers it as a memserver at
 * the relay's address with its counts. The store can be stopped and
 * started again (loans gone) while the rest stays. Include after
 * <cmocka.h>; everything asserts.
 */
#ifndef CMP_TEST_MEMPROV_H
#define CMP_TEST_MEMPROV_H

#include <pthread.h>
#include <stdint.h>

#include "relay.h"

struct memprov {
	uint32_t id, blocks, block_size;
	char addr[64];	      /* where its peer service listens */
	pthread_mutex_t lock; /* store: the manager client reads it */
	struct ms_store *store;
	struct peer *peer;
	struct relay relay; /* owners reach it here (the test starts it) */
	struct mgr_client *mgr;
};

/* Node id, the mem:// address to serve at, blocks of block_size bytes. */
void memprov_init(struct memprov *v, uint32_t id, const char *addr,
		  uint32_t blocks, uint32_t block_size);
void memprov_finish(struct memprov *v);
/* An empty store served at v->addr (lease_ms 0: the peer's default). */
void memprov_start(struct memprov *v, uint32_t lease_ms);
/* The peer service and the store (every loan) go. */
void memprov_stop(struct memprov *v);
/* Registers it with the manager at mgr_addr (v->mgr; not waited for). */
void memprov_register(struct memprov *v, const char *mgr_addr);

#endif
