/* SPDX-License-Identifier: MIT */
/*
 * Private layout of struct remote, shared by remote.c (the provider table,
 * node states, checking connections out and in, one request and its
 * reply), remote-keeper.c (the thread that opens connections, reconnects,
 * reconciles and pings), remote-loans.c and remote-rw.c (the calls).
 *
 * Lock order: remote.notify_lock -> remote.lock. remote.lock protects the
 * node table, every node's state and connection list; nothing blocks under
 * it except conn_shutdown(), which does not wait for the network. The
 * owner ops (struct remote_owner_ops) are called with no remote lock held
 * (health() under notify_lock only, so its news arrive in order).
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
/* Connections the keeper keeps open to a node we use, and at most. */
#define REMOTE_MIN_CONNS 2u
#define REMOTE_MAX_CONNS 8u
/* Reconnect backoff of a suspect node. */
#define REMOTE_BACKOFF_MIN_MS 100u
#define REMOTE_BACKOFF_MAX_MS 2000u
/* A refused connect to a node that is up: retried this often first. */
#define REMOTE_QUICK_RETRIES 3u
#define REMOTE_QUICK_RETRY_MS 20u
/* Longest deadline of the keeper's connects (handshake included). */
#define REMOTE_PROBE_MS 2000
/* Keepalive: at most every lease / 4, and at least this often. */
#define REMOTE_PING_MAX_MS 30000u

enum remote_state {
	REMOTE_UP,	/* usable (connections may still be opening) */
	REMOTE_SUSPECT, /* a transport error: EIO until reconnected */
	REMOTE_GONE,	/* it left: EIO until it is added again */
};

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

/*
 * A provider. Never freed before remote_destroy(), so pointers to it stay
 * valid. Every field but id is under remote.lock.
 */
struct remote_node {
	uint32_t id;
	char addr[PROTO_BLOCK_ADDR_LEN];
	enum remote_state state;
	int why;	      /* SUSPECT: the -errno that made it so */
	uint64_t since_ns;    /* SUSPECT or GONE since (cmp_now_ns) */
	uint64_t gen;	      /* bumped whenever its connections are dropped */
	uint64_t incarnation; /* of the process we last reached; 0: never */
	uint32_t lease_ms;    /* its lease on us (STATUS); 0: not asked yet */
	bool candidate;	      /* we may borrow there: keep connections */
	bool lent_to_us;      /* an ALLOC there succeeded */
	bool reconcile_wanted;
	bool keeper_busy; /* the keeper works on it without the lock */
	/* reconciliation gate: no ALLOC starts while closed */
	bool gate;
	unsigned int borrowing; /* remote_borrow_begin() without end */
	unsigned int nconns, nidle, waiters;
	unsigned int quick_retries;
	uint32_t backoff_ms;
	uint64_t next_try_ns;	  /* the keeper's next connect */
	uint64_t last_traffic_ns; /* last answered request */
	pthread_cond_t cond;	  /* a connection came idle, state, gate */
	struct rconn *conns;	  /* all of them, idle or busy */
	struct remote_node *hnext;
};

/* The keeper's scratch space for one reconciliation (keeper thread only). */
struct remote_rec_buf {
	struct proto_block_ref refs[2][PROTO_BLOCK_MAX_IDX];
	uint32_t tags[2][PROTO_BLOCK_MAX_IDX];
	struct proto_block_ref missing[PROTO_BLOCK_MAX_IDX];
	uint32_t missing_tags[PROTO_BLOCK_MAX_IDX];
};

struct remote {
	struct auth_keyring *keyring; /* NULL: insecure */
	uint32_t self;
	uint32_t block_size;
	atomic_int timeout_ms;
	pthread_mutex_t lock; /* nodes, their state and connections */
	struct remote_node *buckets[REMOTE_BUCKETS];
	/* the owner's view of its loans (set once, before it is needed) */
	const struct remote_owner_ops *owner;
	void *owner_ctx;
	pthread_mutex_t notify_lock; /* orders health() news */
	/* the keeper */
	pthread_t keeper;
	pthread_cond_t keeper_wake; /* under lock */
	bool keeper_stop, keeper_kick;
	struct remote_rec_buf *rec;
	atomic_uint_fast64_t requests, sent, received, errors, connects;
	atomic_uint_fast64_t suspects, reconciles, lost_by_reconcile;
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
	bool answered; /* the whole reply arrived (data or a status) */
	bool quiet;    /* the keeper's own: not in the request counters */
};

/* ---- remote.c ---- */

/* The node's entry, or NULL (remote.lock held). */
struct remote_node *remote_find_node_locked(struct remote *r, uint32_t id);
/* Sends one request and receives its reply; the heart of every call. */
int remote_transact(struct remote *r, struct rconn *rc, struct call *cl);
/* Answers a provider gives that leave the connection in step. */
bool remote_conn_reusable(int ret);

/*
 * One exchange on a connection checked out for this thread; arg starts
 * with a struct call.
 */
typedef int (*remote_exchange_fn)(struct remote *r, struct rconn *rc,
				  void *arg);
/*
 * Runs fn against node on an idle connection (waiting for one the keeper
 * opens, up to the request deadline). A transport error makes the node
 * SUSPECT (after one more try on another idle connection, idempotent
 * calls only). Returns fn's result when the provider answered, else -EIO
 * (counted), or -EHOSTUNREACH for a node never added.
 */
int remote_with_conn(struct remote *r, uint32_t node, bool idempotent,
		     remote_exchange_fn fn, void *arg);
/* The plain exchange: remote_transact() of the struct call arg. */
int remote_do_call(struct remote *r, struct rconn *rc, void *arg);

/* Connections: a fresh authenticated one (no lock held). */
int remote_connect_node(struct remote *r, struct remote_node *n,
			const char *addr, uint64_t gen, int timeout_ms,
			struct rconn **out);
/* Puts a new connection on n's list, idle (lock held). */
void remote_link_idle_locked(struct rconn *rc);
/* Takes an idle connection of n now, or NULL (lock held). */
struct rconn *remote_take_idle_locked(struct remote_node *n);
/* Gives rc back: idle when ok and still current, else destroyed. */
void remote_checkin(struct remote *r, struct rconn *rc, bool ok);
/*
 * Marks every connection of n stale. Idle ones are unlinked and chained on
 * *dead for remote_destroy_chain() outside the lock; busy ones are shut
 * down so their owner's blocked call returns now.
 */
void remote_drop_conns_locked(struct remote_node *n, struct rconn **dead);
void remote_destroy_chain(struct rconn *rc);
/*
 * n becomes SUSPECT (from UP, when gen is still n's): one log line. The
 * keeper tries it again at once (retry_now), or after the first backoff.
 */
void remote_suspect(struct remote *r, struct remote_node *n, uint64_t gen,
		    int why, bool retry_now);
/* Tells the owner ops whether n is usable now (its latest state). */
void remote_notify_health(struct remote *r, struct remote_node *n);
/* A STATUS exchange on rc. */
int remote_status_on(struct remote *r, struct rconn *rc,
		     struct proto_block_status *out);

/* ---- remote-keeper.c ---- */

int remote_keeper_start(struct remote *r);
void remote_keeper_stop(struct remote *r);
/* Wakes the keeper (lock held). */
void remote_kick_keeper_locked(struct remote *r);

/* ---- remote-loans.c ---- */

/* One RECONCILE exchange on a connection the caller holds. */
int remote_reconcile_on(struct remote *r, struct rconn *rc, uint32_t flags,
			const struct proto_block_ref *refs, uint32_t n,
			struct proto_block_ref *missing, uint32_t *nmissing);
/* A PING on a connection the caller holds. */
int remote_ping_on(struct remote *r, struct rconn *rc);

#endif
