/* SPDX-License-Identifier: MIT */
/*
 * What the parts of the manager client share (include/cmp/mgr.h):
 * client.c runs the registration thread, client-register.c makes its
 * REGISTER frames, client-query.c runs the queries on cached connections.
 * Private to them.
 */
#ifndef CMP_MANAGER_CLIENT_INTERNAL_H
#define CMP_MANAGER_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmp/auth.h"
#include "cmp/mgr.h"

#define MGR_DEFAULT_TIMEOUT_MS 2000 /* per request and connect */
#define QUERY_CACHE 4
/* the list as given: MGR_MAX_MANAGERS addresses and their commas */
#define MANAGER_LIST_LEN (MGR_MAX_MANAGERS * MGR_MANAGER_ADDR_LEN)

struct conn;
struct proto_mgr_counts;

/* A cached query connection, and the manager (index) it goes to. */
struct idle_conn {
	struct conn *conn;
	size_t mgr;
};

struct mgr_client {
	struct mgr_client_config cfg; /* strings point into the copies below */
	char manager_addr[MANAGER_LIST_LEN];
	char listen_addr[PROTO_MGR_ADDR_LEN];
	/* the managers, in the cluster's order (set at create) */
	char mgrs[MGR_MAX_MANAGERS][MGR_MANAGER_ADDR_LEN];
	size_t nmgrs;
	uint64_t incarnation; /* random, for this client's lifetime */
	atomic_uint_fast64_t next_id;
	pthread_t thread;
	int wake[2]; /* self-pipe: leave and destroy wake the client thread */

	pthread_mutex_t lock; /* protects the fields below */
	pthread_cond_t cond;  /* registered or reg_err changed */
	bool stopping;
	bool joined; /* the client thread was joined: reg is the caller's */
	bool registered;
	int reg_err;
	bool capacity_news; /* cfg.capacity (also lock) changed: register */
	/* the manager registered with, or last registered with: asked first */
	size_t cur;
	struct idle_conn idle[QUERY_CACHE];
	size_t nidle;

	/* stepped mode (no thread): mgr_client_step() does its work */
	bool stepped;

	/* the client thread's own (in stepped mode, the step's) */
	struct conn *reg;
	int backoff_ms;	   /* before the next registration round */
	uint64_t retry_at; /* stepped: the next registration round */
	uint32_t hb_ms;
	uint64_t epoch;
	uint64_t silent_ns; /* no heartbeat reply for this long: gone */
	uint64_t heard_ns;  /* last heartbeat reply (or registration) */
	uint64_t next_hb_ns;
	bool ever_registered;
	/* the current run of failed registrations, for a few log lines */
	uint64_t down_ns; /* when it began; 0: none */
	uint64_t next_summary_ns;
	unsigned int attempts;
	int logged_err;
	/* what each manager said to the last registration round (0: none) */
	int round_err[MGR_MAX_MANAGERS];
};

/* The index of the manager asked first (the one registered with). */
size_t mgr_client_current(struct mgr_client *c);

/*
 * Connects to addr, runs the handshake as node (0 and 0 for a tool) with
 * keyring kr (NULL: insecure) and sets timeout_ms on the connection. 0 and
 * *out, or the -errno of the step that failed.
 */
int mgr_dial(const char *addr, struct auth_keyring *kr, uint32_t node,
	     uint64_t incarnation, int timeout_ms, struct conn **out);

/* client.c: the node's counts for a heartbeat or a registration. */
void mgr_client_sample(struct mgr_client *c, struct proto_mgr_counts *counts);

/* client-register.c */
/* The capacity to register with (c->lock). */
uint64_t mgr_client_capacity(struct mgr_client *c);
/* Was the capacity changed since the last REGISTER? Clears the news. */
bool mgr_client_capacity_news(struct mgr_client *c);
/* REGISTER on c->reg (client thread); *id: its reply's, read apart. */
int mgr_client_send_register(struct mgr_client *c, uint64_t *id);

#endif
