/* SPDX-License-Identifier: MIT */
/*
 * Private layout of struct remote, shared by remote.c (the provider table,
 * the connection cache, one request and its reply) and remote-rw.c (byte
 * ranges and batches, as messages or one-sided). Lock order: see remote.c.
 */
#ifndef CMP_REMOTE_INTERNAL_H
#define CMP_REMOTE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "remote.h"

#define REMOTE_BUCKETS 64

struct rconn {
	struct conn *c;
	struct remote_node *node;
	uint64_t gen;		   /* node->gen when connected */
	int timeout_ms;		   /* deadline set on c */
	bool idle;		   /* under remote.lock */
	bool rma;		   /* region valid for one-sided access */
	struct conn_region region; /* provider's store on this connection */
	uint64_t next_id;	   /* owner thread only */
	struct rconn *prev, *next; /* node->conns, under remote.lock */
};

/* Never freed before remote_destroy(), so pointers to it stay valid. */
struct remote_node {
	uint32_t id;
	char addr[PROTO_BLOCK_ADDR_LEN]; /* under remote.lock */
	bool dead;			 /* under remote.lock */
	bool lent_to_us;		 /* an ALLOC there succeeded; lock */
	uint64_t gen;			 /* bumped on death / new address */
	uint64_t down_until;		 /* cmp_now_ns(): fail fast before */
	unsigned int nidle;		 /* under remote.lock */
	struct rconn *conns;		 /* all of them, idle or busy */
	struct remote_node *hnext;
};

struct remote {
	struct auth_keyring *keyring; /* NULL: insecure */
	uint32_t self;
	uint32_t block_size;
	atomic_int timeout_ms;
	pthread_mutex_t lock; /* protects nodes and all their connections */
	struct remote_node *buckets[REMOTE_BUCKETS];
	atomic_uint_fast64_t requests, sent, received, errors, connects;
};

/*
 * One request's shape: what goes out, where the reply payload goes. Every
 * exchange's argument starts with one, so remote_with_conn() can tell a
 * provider's answer from a broken connection.
 */
struct call {
	uint8_t op;
	const struct iovec *req; /* payload iovecs */
	int nreq;
	const struct iovec *rep; /* reply payload destination */
	int nrep;
	size_t rep_len; /* exact reply length expected */
	bool rep_exact; /* false: any length up to the iovecs */
	size_t got;	/* reply payload length received */
	struct proto_block_moved *moved;
	bool answered; /* a matching reply header arrived */
};

/* The node's entry, or NULL (remote.lock held). */
struct remote_node *remote_find_node_locked(struct remote *r, uint32_t id);

/* Sends one request and receives its reply; the heart of every call. */
int remote_transact(struct remote *r, struct rconn *rc, struct call *cl);

/*
 * One exchange on a connection checked out for this thread; arg starts
 * with a struct call.
 */
typedef int (*remote_exchange_fn)(struct remote *r, struct rconn *rc,
				  void *arg);
/*
 * Runs fn against node on a cached or fresh connection, once more on a
 * fresh one when a cached one turns out closed (idempotent calls only).
 * Returns fn's result when the provider answered, else -EIO (counted), or
 * -EHOSTUNREACH for a node never added.
 */
int remote_with_conn(struct remote *r, uint32_t node, bool idempotent,
		     remote_exchange_fn fn, void *arg);
/* The plain exchange: remote_transact() of the struct call arg. */
int remote_do_call(struct remote *r, struct rconn *rc, void *arg);

#endif
