/* SPDX-License-Identifier: MIT */
/*
 * A pool joins the cluster: this glue runs the peer service that lends our
 * free blocks to other nodes (RLL), the manager client that registers us
 * and heartbeats our list counts, and the remote client through which the
 * pool borrows (LRL), reads and writes byte ranges of blocks elsewhere. It
 * wires the manager's NODE_DEAD announcements to the pool (our blocks on
 * the dead node are lost; its blocks in our memory are freed).
 *
 * Threads: cluster_start/stop from one thread; the rest is thread-safe.
 * The pool must outlive the cluster.
 */
#ifndef CMP_CLUSTER_H
#define CMP_CLUSTER_H

#include <stdint.h>

struct pool;
struct auth_keyring;
struct cluster;

struct cluster_config {
	struct pool *pool;
	const char *manager_addr; /* tcp://HOST:PORT */
	const char *listen_addr;  /* where other nodes reach us */
	/* NULL: insecure mode; borrowed, must outlive the cluster */
	struct auth_keyring *keyring;
	uint32_t node_id; /* 0: random */
	int timeout_ms;	  /* per remote call; <= 0: 5000 */
};

struct cluster_stats {
	uint64_t requests, bytes_sent, bytes_received, errors;
	uint32_t node_id;
};

/* NULL + errno (EINVAL bad config, EADDRINUSE, ...), logged. */
struct cluster *cluster_start(const struct cluster_config *cfg);
/* Waits up to timeout_ms for the first registration. 0 or -errno. */
int cluster_wait_registered(struct cluster *c, int timeout_ms);
void cluster_get_stats(struct cluster *c, struct cluster_stats *out);
/* Detaches from the pool, stops serving, frees c. NULL is ok. */
void cluster_stop(struct cluster *c);

#endif
