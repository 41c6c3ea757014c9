/* SPDX-License-Identifier: MIT */
/*
 * Private layout of struct remote, shared by remote.c (the provider table,
 * node states, checking connections out and in), remote-flight.c (requests
 * in flight on a shared connection, replies matched by id, and the calls
 * made of them), remote-keeper.c (the thread that opens connections,
 * reconnects, reconciles and pings), remote-loans.c and remote-rw.c (the
 * calls), and remote-rma.c (the memory windows our loans have on RDMA
 * connections).
 *
 * Lock order: remote.notify_lock -> remote.lock -> rconn.mu, and
 * rconn.send_lock -> rconn.mu; send_lock (held across a send) is never
 * taken with remote.lock held, nor remote.lock with rconn.mu held.
 * remote.lock protects the node table, every node's state and connection
 * list; nothing blocks under it or under rconn.mu except conn_shutdown(),
 * which does not wait for the network. The owner ops (struct
 * remote_owner_ops) are called with no remote lock held (health() under
 * notify_lock only, so its news arrive in order).
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
/* Callers sharing one connection at most (each with requests in flight). */
#define REMOTE_MAX_SHARE 16u
/*
 * A READ or WRITE longer than this goes as pieces of about this size, in
 * flight at once over the node's connections; at most this many pieces.
 */
#define REMOTE_PIECE (256u << 10)
#define REMOTE_MAX_PIECES 16u
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
/*
 * Most windows we keep per provider (its RMA connection's table, 12 bytes
 * a loan, twice over for hashing); loans beyond use messages.
 */
#define REMOTE_RMA_MAX_WINDOWS 65536u

struct rma_map;

enum remote_state {
	REMOTE_UP,	/* usable (connections may still be opening) */
	REMOTE_SUSPECT, /* a transport error: EIO until reconnected */
	REMOTE_GONE,	/* it left: EIO until it is added again */
};

struct call;

/*
 * One request in flight on a connection (remote-flight.c): on its caller's
 * stack from remote_flight_send() until remote_flight_wait() returned.
 */
struct flight {
	struct call *cl;
	uint64_t id;
	uint64_t deadline_ns; /* cmp_now_ns() by which the reply is due */
	int ret;	      /* the call's result, once done */
	bool done;	      /* under rconn.mu */
	bool sleeping;	      /* its caller waits on cond; under rconn.mu */
	pthread_cond_t cond;
	struct flight *next; /* rconn.pending; under rconn.mu */
};

/*
 * A connection to a provider, shared by up to REMOTE_MAX_SHARE callers
 * (users), each with requests in flight: one sends at a time (send_lock),
 * and the one that waits first reads the replies for all (leading; see
 * remote-flight.c). A connection no caller uses is idle (counted in
 * node->nidle). At most one per node is its RMA connection (node->rma):
 * our ALLOCs there ask for a memory window per loan, and windows is the
 * table of those we got. One-sided accesses use it beside the stream,
 * each counted in rma_users: a connection unlinked while they run is
 * freed by the last of them (remote_rma_put()).
 */
struct rconn {
	struct conn *c;
	struct remote_node *node;
	uint64_t gen;		   /* node->gen when connected */
	atomic_int timeout_ms;	   /* deadline set on c */
	unsigned int users;	   /* under remote.lock */
	bool idle;		   /* in node->nidle; under remote.lock */
	bool linked;		   /* on node->conns; under remote.lock */
	bool retired;		   /* not to be reused; under remote.lock */
	unsigned int rma_users;	   /* under remote.lock */
	struct rma_map *windows;   /* under remote.lock; NULL: none */
	struct rconn *prev, *next; /* node->conns, under remote.lock */
	pthread_mutex_t send_lock; /* one sender; next_id */
	uint64_t next_id;
	pthread_mutex_t mu;	/* the receive side: */
	struct flight *pending; /* sent, not answered yet, oldest first */
	struct flight **tail;
	bool leading; /* a caller reads replies */
	int err;      /* sticky: the stream failed (-errno) */
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
	bool rma_capable;     /* a connection to it had one-sided access */
	struct rconn *rma;    /* our ALLOCs ask for windows there; or NULL */
	bool lent_to_us;      /* an ALLOC there succeeded */
	bool reconcile_wanted;
	bool keeper_busy; /* the keeper works on it without the lock */
	/* reconciliation gate: no ALLOC starts while closed */
	bool gate;
	unsigned int borrowing; /* remote_borrow_begin() without end */
	unsigned int nconns, nidle, waiters;
	bool crowded; /* callers had to share: the keeper opens one more */
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
	/* stepped mode: no keeper thread; remote_keeper_step() (under lock) */
	bool stepped;
	uint64_t keeper_due;
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
/*
 * Takes a connection to node for one more caller: the idle or least shared
 * one, or the next one the keeper opens or a caller gives back, until the
 * request deadline. -EIO for a node that is not UP (or no connection in
 * time), -EHOSTUNREACH for an unknown one. wait false: one usable now or
 * -EIO. A borrow (ALLOC, the one call that is not idempotent) prefers the
 * RMA connection and gives up when a reconciliation with node is about to
 * start: it waits for borrows.
 */
int remote_checkout(struct remote *r, uint32_t node, bool wait, bool borrow,
		    struct rconn **out);
/*
 * The caller is done with rc: it stays usable when ok and still current,
 * else it is retired and destroyed by its last user.
 */
void remote_checkin(struct remote *r, struct rconn *rc, bool ok);
/* Answers a provider gives that leave the connection in step. */
bool remote_conn_reusable(int ret);

/* ---- remote-flight.c ---- */

/* Sets up and tears down rc's sending and receiving halves. */
void remote_flights_init(struct rconn *rc);
void remote_flights_finish(struct rconn *rc);
/*
 * Puts f (f->cl set) in flight on rc: a fresh id, its deadline, and the
 * request sent. wait false: only when nobody else is sending on rc now,
 * else -EAGAIN and nothing was done. Any other failure (the stream's)
 * fails rc and every request in flight on it. Unless -EAGAIN,
 * remote_flight_wait() must follow.
 */
int remote_flight_send(struct remote *r, struct rconn *rc, struct flight *f,
		       bool wait);
/*
 * Until f is answered or failed: reads replies on rc for every caller when
 * nobody else does, else sleeps until its reply is in (or until its
 * deadline, which fails the connection). Returns the call's result
 * (f->cl->answered tells whether the provider gave it).
 */
int remote_flight_wait(struct remote *r, struct rconn *rc, struct flight *f);
/* Sends one request and waits for its reply; the heart of every call. */
int remote_transact(struct remote *r, struct rconn *rc, struct call *cl);

/*
 * One exchange on a connection checked out for this thread; arg starts
 * with a struct call.
 */
typedef int (*remote_exchange_fn)(struct remote *r, struct rconn *rc,
				  void *arg);
/*
 * Runs fn against node on a connection (waiting for one the keeper opens,
 * up to the request deadline). A transport error makes the node SUSPECT
 * (after one more try on another connection, idempotent calls only, not
 * after a timeout or a broken protocol; a write only after
 * remote_fence_on() of the connection that broke). Returns fn's result
 * when the provider answered, else -EIO (counted), or -EHOSTUNREACH for a
 * node never added.
 */
int remote_with_conn(struct remote *r, uint32_t node, bool idempotent,
		     remote_exchange_fn fn, void *arg);
/* The plain exchange: remote_transact() of the struct call arg. */
int remote_do_call(struct remote *r, struct rconn *rc, void *arg);
/*
 * The n (1..REMOTE_MAX_PIECES) idempotent calls cl[] against node at once,
 * spread over its connections: each sent as soon as a connection is free
 * to send on, all then waited for. As remote_with_conn() for each: the
 * first error in call order, the calls a transport error failed tried once
 * more, then -EIO and the node SUSPECT. rets (NULL: not wanted) gets each
 * call's own result (a transport error's for one that was not answered).
 */
int remote_call_pieces(struct remote *r, uint32_t node, struct call *cl,
		       unsigned int n, int *rets);

/*
 * Connections: a fresh authenticated one (no lock held). want_rma: it
 * may become n's RMA connection, so it gets a window table when it can do
 * one-sided access.
 */
int remote_connect_node(struct remote *r, struct remote_node *n,
			const char *addr, uint64_t gen, int timeout_ms,
			bool want_rma, struct rconn **out);
/*
 * rc is not to be used again: no longer n's RMA connection, unlinked when
 * idle, destroyed at check-in when busy (lock held; the caller holds rc
 * for one-sided access, and remote_rma_put() frees it).
 */
void remote_retire_locked(struct remote *r, struct rconn *rc);
/* Frees a connection no list and no one-sided access holds any more. */
void remote_rconn_free(struct rconn *rc);
/* Puts a new connection on n's list, idle (lock held). */
void remote_link_idle_locked(struct rconn *rc);
/*
 * A connection of n for one more caller now, or NULL (lock held): an idle
 * one first, another one before n's RMA connection, which ALLOCs prefer
 * (borrow); else the least shared one that is not full.
 */
struct rconn *remote_take_conn_locked(struct remote_node *n, bool borrow);
/*
 * Marks every connection of n stale. Idle ones are unlinked and chained on
 * *dead for remote_destroy_chain() outside the lock; busy ones are retired
 * and shut down so that their callers' blocked calls return now.
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

/* ---- remote-rw.c ---- */

/*
 * A WRITE or WRITE_BATCH whose connection broke may still be carried out
 * by the provider from what had reached it (a socket buffer, a thread
 * descheduled in the middle of its copy): after the same write sent again,
 * and even after a newer write over the same range, replacing acknowledged
 * data with older data. So before a write is sent again, this asks the
 * provider, on rc, to end the broken connection (named by its
 * conn_session_id()) and wait for its thread: 0 once that is done, else
 * -errno (logged; the write must not be sent again). A late read or FREE
 * undoes nothing, so only writes need it.
 */
int remote_fence_on(struct remote *r, struct rconn *rc, uint64_t session);

/* ---- remote-keeper.c ---- */

int remote_keeper_start(struct remote *r);
void remote_keeper_stop(struct remote *r);
/*
 * Stepped mode: a caller that needs a connection to n now opens one on
 * its own thread, as the keeper would (no lock held; nothing when the
 * keeper works on n, or n is not UP or not due for one).
 */
void remote_keeper_connect(struct remote *r, struct remote_node *n);
/* Wakes the keeper (lock held). */
void remote_kick_keeper_locked(struct remote *r);

/* ---- remote-loans.c ---- */

/* One RECONCILE exchange on a connection the caller holds. */
int remote_reconcile_on(struct remote *r, struct rconn *rc, uint32_t flags,
			const struct proto_block_ref *refs, uint32_t n,
			struct proto_block_ref *missing, uint32_t *nmissing);
/* A PING on a connection the caller holds. */
int remote_ping_on(struct remote *r, struct rconn *rc);

/* ---- remote-rma.c ---- */

/* A window table for up to cap loans; NULL when out of memory. */
struct rma_map *remote_rma_map_create(uint32_t cap);
void remote_rma_map_destroy(struct rma_map *m);
/* Shall an ALLOC of n on rc ask for windows? (rc checked out.) */
bool remote_rma_want(struct remote *r, struct rconn *rc, uint32_t n);
/* Records the windows an ALLOC reply on rc brought. */
void remote_rma_learn(struct remote *r, struct rconn *rc,
		      const struct proto_block_alloc_rep *rep,
		      const struct proto_block_ref *refs,
		      const uint32_t *rkeys);
/*
 * The windows of loans refs[0..n) (ext[] when refs is NULL: its block and
 * epoch) on node's RMA connection: 0 with *rc held for one-sided access
 * (remote_rma_put() after) and win[] filled, or -ENOENT when one of them
 * has none (then use messages).
 */
int remote_rma_get(struct remote *r, uint32_t node,
		   const struct proto_block_ref *refs,
		   const struct proto_block_extent *ext, uint32_t n,
		   struct rconn **rc, struct conn_region *win);
void remote_rma_put(struct remote *r, struct rconn *rc);
/*
 * A one-sided access on rc failed with err. A timeout makes the node
 * suspect (a WRITE may still be in flight; the reconnect fences it) and
 * returns -EIO. Anything else (the window refused: the loan ended or
 * moved on; the connection broke) retires rc as the RMA connection and
 * returns 1: ask with messages, whose answer is the provider's (ESTALE
 * for a loan that ended), never the bytes of a stale window.
 */
int remote_rma_failed(struct remote *r, struct rconn *rc, int err);
/* Our loans refs[0..n) on node end, or all of them: drop their windows. */
void remote_rma_forget(struct remote *r, uint32_t node,
		       const struct proto_block_ref *refs, uint32_t n);
void remote_rma_forget_all(struct remote *r, uint32_t node);

#endif
