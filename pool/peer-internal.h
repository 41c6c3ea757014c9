/* SPDX-License-Identifier: MIT */
/*
 * Private layout of struct peer (include/cmp/peer.h), shared by peer.c
 * (the request handlers and the connections) and peer-loans.c (the loan
 * table, its lease thread, and the memory windows that mirror its loans
 * for one-sided access).
 */
#ifndef CMP_PEER_INTERNAL_H
#define CMP_PEER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp/peer.h"

struct server;
struct loans;
struct grants;

struct peer {
	struct server *srv;
	const struct peer_store_ops *ops;
	void *ctx;
	struct loans *loans;
	struct grants *grants; /* NULL: no one-sided access */
	uint32_t node_id;
	uint32_t block_size;
	uint32_t lease_ms;
	uint64_t incarnation;

	pthread_t lease_thread;
	pthread_mutex_t lock; /* protects stopping */
	pthread_cond_t wake;
	bool stopping;
};

/*
 * The windows (on an rdma:// listener whose store has a region), the loan
 * table and its lease thread. 0 or -errno (nothing left behind).
 */
int peer_loans_start(struct peer *p, const char *listen_addr);
/* Once every connection closed: joins the lease thread, frees them. */
void peer_loans_stop(struct peer *p);
/*
 * Gives blocks whose loans ended (or never began) back to the store, each
 * window over them revoked first. The loan table's release callback; any
 * thread, no lock held.
 */
void peer_release_blocks(void *ctx, const uint32_t *idx, uint32_t n);

#endif
