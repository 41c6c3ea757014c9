/* SPDX-License-Identifier: MIT */
/*
 * The manager's library: the codec of its messages and the client that
 * cmpfs nodes, cmp-memserver and cmpctl link to talk to cmp-manager. The
 * daemon itself (manager/manager.c, registry.c) uses the codec only.
 *
 *   node N                         manager M
 *     |-- REGISTER (id, kind, ...) -->|   reply: heartbeat ms, epoch
 *     |-- HEARTBEAT (counts) -------->|   every heartbeat ms; reply: empty,
 *     |                               |   NOENT = not registered (again)
 *     |-- FIND_FREE (not N, want) --->|   reply: entries in tier order
 *     |-- NODES [snapshot] ---------->|   reply: every known node
 *     |<-- NODE_STATE (id, state) ----|   pushed, no reply: information
 *     |<-- SNAPSHOT ------------------|   pushed: send a HEARTBEAT now
 *     |-- LEAVE (id) ---------------->|   clean shutdown; reply: empty
 *
 * A NODES request that asks for a snapshot (cmpctl status, cmpctl top)
 * makes the manager push SNAPSHOT to every ALIVE node and wait, up to the
 * time the request allows, for each one's next HEARTBEAT; the reply then
 * holds counts all sampled within milliseconds of each other, each
 * node's marked fresh, so that owners' LRL and providers' RLL add up
 * instead of mixing heartbeats of different ages. A node that did not
 * answer in time keeps its last counts, not marked fresh, with their age.
 *
 * A node's state at the manager (enum mgr_node_state): ALIVE while it
 * heartbeats; SUSPECT when it missed its heartbeats for suspect_after
 * intervals or its registration connection closed without LEAVE; LEFT once
 * it sent LEAVE. A SUSPECT or LEFT node that registers again with its id is
 * ALIVE again, with nothing forgotten. Every change is pushed to the other
 * ALIVE nodes as NODE_STATE. The states are information only: the manager's
 * word never frees or loses a block; only a provider's own lease on an
 * owner, or the owner's goodbye to that provider, ends a loan. FIND_FREE
 * offers ALIVE nodes only. SUSPECT nodes stay listed for the manager's
 * --forget-after (default 10 min), LEFT ones for a minute.
 *
 * Several managers (soft state, no coordination service): a cluster may
 * run a list of managers, each told the whole list in the same order; a
 * manager's place in it is its rank. A manager is active while no manager
 * ranked before it answers its ROLE question (it asks each of them a few
 * times per takeover time); otherwise it is a standby and answers
 * REGISTER, HEARTBEAT, FIND_FREE, NODES and LEAVE with status STANDBY
 * (-EREMOTE). A standby keeps a copy of the active manager's node list;
 * when no manager ranked before it has answered for its takeover time it
 * becomes active with those nodes listed as they were, and a node of the
 * copy that does not register again within the rejoin time is made
 * SUSPECT and announced as usual: a death during the switch is still
 * told. An active manager that hears a manager ranked before it again
 * steps down: it forgets its registry, quietly (a standby announces
 * nothing), and closes its registration connections, whose nodes then
 * register with the first manager that takes them; a manager that starts
 * while another one is active copies that one's list first. Two managers
 * may be active for a moment (while one learns of the other): nothing is
 * lost, since no manager frees anything, and a node follows only one.
 *
 * The codec (proto_mgr_*, opcodes in include/cmp/wire.h): every payload is
 * little-endian with fixed-width fields; the wire layouts are private to
 * manager/proto.c and _Static_assert'ed there. The structs below are the
 * host-order views. Decoders take (buffer, length) and fill a struct; they
 * touch nothing else, validate every field, count and length against the
 * buffer and the limits here, and return 0 or -EBADMSG. Encoders return the
 * number of bytes written, or -EMSGSIZE when the buffer is too small, or
 * -EINVAL when the struct cannot be represented. Pure and thread-safe.
 *
 * The client (mgr_client_*): registers this node with cmp-manager, sends
 * heartbeats with its list counts from its own thread, receives NODE_STATE
 * pushes, and answers "where are free blocks?" and "which nodes are
 * there?" for any thread. Given several managers, it tries them in list
 * order and registers with the first one that takes it (a standby
 * refuses); when it loses that one (closed, silent, or it became a
 * standby) it starts again from the first. Queries go to the manager it
 * registered with, then to the others in order. When no manager can be
 * reached the client says so once (with the real reason of each), then at
 * most once a minute, keeps retrying with backoff (100 ms doubling to
 * MGR_RETRY_MS; at most MGR_STANDBY_RETRY_MS while a standby answers, as
 * it is about to take over), and registers again with the same node id
 * when a manager takes it; nothing else changes, no data is disturbed. At a
 * clean shutdown the owner calls mgr_client_leave() before
 * mgr_client_destroy(); a client destroyed without it (or a process that died)
 * leaves its node SUSPECT.
 *
 * Threads: mgr_client_find_free() and mgr_client_nodes() are thread-safe;
 * each call checks a connection out of a small cache (or opens one), so
 * concurrent callers never share a connection, and each call is bounded by
 * the configured deadline. The counts and node_state callbacks run on the
 * client's own thread; they must not call mgr_client_leave() or
 * mgr_client_destroy().
 *
 * node_state(ctx, id, state, addr): node id (never this node) is now in
 * state, serving at addr (valid during the call). Owners may refresh the
 * node's address on ALIVE and mark their blocks on it lost on LEFT (it said
 * it is gone for good); nobody frees what it holds for others on any of
 * them. A manager restart announces nothing but ALIVE registrations.
 *
 * Memory: the codec writes into caller buffers and keeps nothing; the
 * client copies its configuration (strings included; the keyring is
 * borrowed); callers own every output array.
 */
#ifndef CMP_MGR_H
#define CMP_MGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Messages (the codec) ---- */

#define PROTO_MGR_ADDR_LEN 64 /* including the NUL */
#define PROTO_MGR_MIN_BLOCK (4u << 10)
#define PROTO_MGR_MAX_BLOCK (4u << 20)
/* A block index is a u32, so a node holds at most 2^32 blocks. */
#define PROTO_MGR_MAX_BLOCKS (1ull << 32)
#define PROTO_MGR_MAX_FREE 16	 /* entries in one FIND_FREE reply */
#define PROTO_MGR_MAX_NODES 1024 /* entries in one NODES reply */

enum mgr_kind {
	MGR_KIND_COMPUTE = 1,	/* a cmpfs node lending its idle memory */
	MGR_KIND_MEMSERVER = 2, /* the lowest tier */
};

/* "compute", "memserver", or "?" */
const char *mgr_kind_name(unsigned int kind);
/*
 * A compute node's memserver write policy, for cmpctl status: the numbers
 * of include/cmp/pool.h's enum pool_wpolicy (0 none, 1 through, 2 back);
 * a memserver's is 0. The name: "none", "through", "back" ("?" beyond).
 */
#define MGR_WPOLICY_MAX 2u
const char *mgr_wpolicy_name(unsigned int wpolicy);

/* A node's state at the manager (NODES, NODE_STATE). */
enum mgr_node_state {
	MGR_NODE_ALIVE = 1,   /* registered, heartbeats on time */
	MGR_NODE_SUSPECT = 2, /* silent, or its connection closed: no LEAVE */
	MGR_NODE_LEFT = 3,    /* sent LEAVE at a clean shutdown */
};

/* "alive", "suspect", "left", or "?" */
const char *mgr_node_state_name(unsigned int state);

/* A manager's role (ROLE; see "Several managers" above). */
enum mgr_role {
	MGR_ROLE_ACTIVE = 1,  /* takes registrations, answers FIND_FREE */
	MGR_ROLE_STANDBY = 2, /* a manager ranked before it answers */
};

/* "active", "standby", or "?" */
const char *mgr_role_name(unsigned int role);

/* Managers in one list (a cluster's managers, in rank order). */
#define MGR_MAX_MANAGERS 8
#define MGR_MANAGER_ADDR_LEN 128 /* one manager address, with its NUL */

/* A node's five CMP lists, in blocks. */
struct proto_mgr_counts {
	uint64_t free; /* contributed, unused */
	uint64_t lll;  /* our data, our memory */
	uint64_t lrl;  /* our data, elsewhere */
	uint64_t rll;  /* others' data, our memory */
	uint64_t rrl;  /* forwarding records; 0 until principle 3 is built */
};

/*
 * What a node moved since it started (totals; rates come from two
 * samples): file data through its mount, and the bytes of the block
 * protocol's frames it received and sent, as owner and as provider.
 */
struct proto_mgr_traffic {
	uint64_t read_bytes;
	uint64_t write_bytes;
	uint64_t net_rx_bytes;
	uint64_t net_tx_bytes;
};

struct proto_mgr_register {
	uint32_t node;		       /* nonzero */
	uint8_t kind;		       /* enum mgr_kind */
	uint32_t block_size;	       /* power of two, 4 KiB .. 4 MiB */
	uint64_t capacity;	       /* blocks, <= PROTO_MGR_MAX_BLOCKS */
	uint64_t free;		       /* blocks, <= capacity */
	char addr[PROTO_MGR_ADDR_LEN]; /* where peers connect; non-empty */
	/*
	 * Random per process start, nonzero: a registration with the same id
	 * and incarnation is the same process on a new connection.
	 */
	uint64_t incarnation;
	uint8_t wpolicy; /* <= MGR_WPOLICY_MAX */
};

struct proto_mgr_register_reply {
	uint32_t heartbeat_ms;	/* 1 .. 3600000 */
	uint32_t suspect_after; /* missed heartbeats before SUSPECT, >= 1 */
	uint64_t epoch;		/* random per manager start, nonzero */
};

struct proto_mgr_heartbeat {
	uint32_t node;
	struct proto_mgr_counts counts; /* each <= PROTO_MGR_MAX_BLOCKS */
	struct proto_mgr_traffic traffic;
};

/* NODES request (an empty payload: the counts as they are). */
#define PROTO_MGR_NODES_SNAPSHOT 0x1 /* ask every ALIVE node first */
#define PROTO_MGR_SNAPSHOT_MAX_WAIT_MS 5000
struct proto_mgr_nodes_req {
	uint32_t flags;	  /* PROTO_MGR_NODES_* */
	uint32_t wait_ms; /* snapshot: the longest wait, 1 .. MAX_WAIT_MS */
};

struct proto_mgr_find_free {
	uint32_t node; /* requester, never returned; 0 = none */
	uint32_t want; /* blocks wanted, >= 1 */
};

struct mgr_free_entry {
	uint32_t node;
	uint8_t kind;
	uint64_t free_hint; /* free blocks as last reported */
	char addr[PROTO_MGR_ADDR_LEN];
};

struct mgr_node_info {
	uint32_t node;
	uint8_t kind;
	uint8_t state; /* enum mgr_node_state */
	uint32_t block_size;
	uint64_t capacity;
	struct proto_mgr_counts counts;
	uint64_t age_ms; /* since the last registration or heartbeat */
	char addr[PROTO_MGR_ADDR_LEN];
	uint64_t since_ms; /* in this state for */
	struct proto_mgr_traffic traffic;
	bool fresh;	 /* its counts answered this request's snapshot */
	uint8_t wpolicy; /* <= MGR_WPOLICY_MAX */
};

/* Pushed by the manager: node is now in state (and serves at addr). */
struct proto_mgr_node_state {
	uint32_t node; /* nonzero */
	uint8_t state; /* enum mgr_node_state */
	uint8_t kind;  /* enum mgr_kind */
	char addr[PROTO_MGR_ADDR_LEN];
};

/* A manager about itself: the reply to ROLE (an empty request). */
struct proto_mgr_role {
	uint8_t role;	    /* enum mgr_role */
	uint8_t rank;	    /* its place in the manager list, < MAX_MANAGERS */
	uint32_t alive;	    /* ALIVE nodes it lists */
	uint32_t takeovers; /* times it went from standby to active */
	uint64_t epoch;	    /* random per manager start, nonzero */
	uint64_t since_ms;  /* in this role for */
	/* a standby: the manager ranked before it that answers; else "" */
	char defers_to[PROTO_MGR_ADDR_LEN];
	/* the nodes of its copy of the active manager's list, and its age */
	uint32_t copied;
	uint64_t copied_ms; /* 0 with copied 0 */
};

/* Sent by a node at a clean shutdown, on its registration connection. */
struct proto_mgr_leave {
	uint32_t node; /* nonzero, the registered id */
};

/* Fixed payload sizes, for buffers. */
#define PROTO_MGR_REGISTER_SIZE 104
#define PROTO_MGR_REGISTER_REPLY_SIZE 24
#define PROTO_MGR_HEARTBEAT_SIZE 80
#define PROTO_MGR_NODES_REQ_SIZE 8
#define PROTO_MGR_FIND_FREE_SIZE 8
#define PROTO_MGR_NODE_STATE_SIZE 72
#define PROTO_MGR_LEAVE_SIZE 8
#define PROTO_MGR_ROLE_SIZE 104
#define PROTO_MGR_LIST_HDR_SIZE 8
#define PROTO_MGR_FREE_ENTRY_SIZE 80
#define PROTO_MGR_NODE_INFO_SIZE 176
#define PROTO_MGR_FREE_REPLY_MAX   \
	(PROTO_MGR_LIST_HDR_SIZE + \
	 PROTO_MGR_MAX_FREE * PROTO_MGR_FREE_ENTRY_SIZE)
#define PROTO_MGR_NODES_REPLY_MAX  \
	(PROTO_MGR_LIST_HDR_SIZE + \
	 PROTO_MGR_MAX_NODES * PROTO_MGR_NODE_INFO_SIZE)

/* True when addr is non-empty, fits with its NUL, and is printable ASCII. */
bool proto_mgr_addr_valid(const char *addr, size_t cap);

int proto_mgr_register_encode(const struct proto_mgr_register *in, void *buf,
			      size_t cap);
int proto_mgr_register_decode(const void *buf, size_t len,
			      struct proto_mgr_register *out);

int proto_mgr_register_reply_encode(const struct proto_mgr_register_reply *in,
				    void *buf, size_t cap);
int proto_mgr_register_reply_decode(const void *buf, size_t len,
				    struct proto_mgr_register_reply *out);

int proto_mgr_heartbeat_encode(const struct proto_mgr_heartbeat *in, void *buf,
			       size_t cap);
int proto_mgr_heartbeat_decode(const void *buf, size_t len,
			       struct proto_mgr_heartbeat *out);

int proto_mgr_nodes_req_encode(const struct proto_mgr_nodes_req *in, void *buf,
			       size_t cap);
int proto_mgr_nodes_req_decode(const void *buf, size_t len,
			       struct proto_mgr_nodes_req *out);

int proto_mgr_find_free_encode(const struct proto_mgr_find_free *in, void *buf,
			       size_t cap);
int proto_mgr_find_free_decode(const void *buf, size_t len,
			       struct proto_mgr_find_free *out);

/* FIND_FREE reply: count <= PROTO_MGR_MAX_FREE entries. */
int proto_mgr_free_list_encode(const struct mgr_free_entry *in, size_t count,
			       void *buf, size_t cap);
/* Fills out[0..*count) with *count <= max (else -EBADMSG). */
int proto_mgr_free_list_decode(const void *buf, size_t len,
			       struct mgr_free_entry *out, size_t max,
			       size_t *count);

/* NODES reply: count <= PROTO_MGR_MAX_NODES entries. */
int proto_mgr_nodes_encode(const struct mgr_node_info *in, size_t count,
			   void *buf, size_t cap);
int proto_mgr_nodes_decode(const void *buf, size_t len,
			   struct mgr_node_info *out, size_t max,
			   size_t *count);

int proto_mgr_node_state_encode(const struct proto_mgr_node_state *in,
				void *buf, size_t cap);
int proto_mgr_node_state_decode(const void *buf, size_t len,
				struct proto_mgr_node_state *out);

int proto_mgr_leave_encode(const struct proto_mgr_leave *in, void *buf,
			   size_t cap);
int proto_mgr_leave_decode(const void *buf, size_t len,
			   struct proto_mgr_leave *out);

int proto_mgr_role_encode(const struct proto_mgr_role *in, void *buf,
			  size_t cap);
int proto_mgr_role_decode(const void *buf, size_t len,
			  struct proto_mgr_role *out);

/*
 * Splits a manager list ("tcp://a:7000,tcp://b:7000"; one address is a
 * list of one) into out[0..max). Returns the count, or -EINVAL when the
 * list is empty, has an empty item or one too long, or more than max.
 * Pure; does not check the address syntax (the option parser did).
 */
int mgr_split_managers(const char *list, char (*out)[MGR_MANAGER_ADDR_LEN],
		       size_t max);

/* ---- The client ---- */

struct auth_keyring;
struct mgr_client;

/* The longest pause between two registration attempts. */
#define MGR_RETRY_MS 2000
/* ... while a standby answers (it takes over soon): at most this. */
#define MGR_STANDBY_RETRY_MS 250

struct mgr_client_config {
	/*
	 * "tcp://10.0.0.1:7000", or several managers in the cluster's
	 * order, separated by commas (at most MGR_MAX_MANAGERS)
	 */
	const char *manager_addr;
	/* NULL: insecure mode; borrowed, must outlive the client */
	struct auth_keyring *keyring;
	uint32_t node;		 /* nonzero, kept for the process lifetime */
	unsigned int kind;	 /* enum mgr_kind */
	unsigned int wpolicy;	 /* <= MGR_WPOLICY_MAX (cmpctl status) */
	const char *listen_addr; /* what other nodes connect to */
	uint32_t block_size;	 /* the cluster's block size */
	uint64_t capacity;	 /* blocks contributed */
	/* 0: as the manager says; else at most this often */
	uint32_t heartbeat_ms;
	int timeout_ms; /* per request and per connect; <= 0: 2000 */
	/* sampled before each heartbeat (and registration); may be NULL */
	void (*counts)(void *ctx, struct proto_mgr_counts *out);
	/* likewise, the node's totals moved so far; may be NULL (zeros) */
	void (*traffic)(void *ctx, struct proto_mgr_traffic *out);
	/*
	 * The creator waits for the first registration
	 * (mgr_client_wait_registered()) and says itself, in one line, what
	 * a failure means for it: until the first registration the client
	 * logs none of its own (only its summaries, a minute on).
	 */
	bool caller_reports_start;
	/* a NODE_STATE push (see the top of this file); may be NULL */
	void (*node_state)(void *ctx, uint32_t node, enum mgr_node_state state,
			   const char *addr);
	void *ctx;
};

/*
 * Validates cfg and starts the client thread, which registers in the
 * background. Returns the client, or NULL with errno EINVAL (bad config,
 * logged) or ENOMEM.
 */
struct mgr_client *mgr_client_create(const struct mgr_client_config *cfg);
/*
 * A clean shutdown: stops the client thread (no more heartbeats or
 * registrations) and sends LEAVE on the registration connection, waiting
 * for the reply at most the configured timeout; the manager then shows
 * this node as LEFT and tells the others. Returns 0 when the manager
 * acknowledged, -ENOTCONN when the client was not registered (nothing to
 * tell: the node stays as the manager last saw it), or the -errno of the
 * exchange. Queries keep working; only mgr_client_destroy() remains to be
 * called. Calling it twice returns -ENOTCONN. Not from a callback.
 */
int mgr_client_leave(struct mgr_client *c);
/*
 * The node's capacity changed (it resized): the client registers again
 * on its connection with the new capacity, soon, from its own thread;
 * heartbeats report at most that many free blocks from now on. Any
 * thread.
 */
void mgr_client_set_capacity(struct mgr_client *c, uint64_t capacity);
/*
 * What the node offers changed at once (it lends again after a drain, or
 * stopped lending): the client registers again with its counts now, soon,
 * rather than at the next heartbeat. Any thread.
 */
void mgr_client_counts_changed(struct mgr_client *c);
/*
 * Stops the thread, closes every connection, frees c. No other call on c
 * may be in progress or follow. NULL is ok. Without mgr_client_leave()
 * first, the manager sees the registration connection close and shows this
 * node as SUSPECT (as after a crash).
 */
void mgr_client_destroy(struct mgr_client *c);

/*
 * Waits up to timeout_ms for the client to be registered. 0 when it is;
 * else the last registration failure as the system gave it (-ECONNREFUSED,
 * -EHOSTUNREACH, -ENETUNREACH, -ETIMEDOUT, ..., or -EBUSY: the id is
 * alive on another connection of another process; with several managers,
 * a refusal if one refused, else the first manager's failure that was no
 * standby's, else -EREMOTE: every one is a standby) once the time is up,
 * -ETIMEDOUT when no attempt has finished yet, or at once -EACCES (wrong
 * key or secure/insecure mismatch) or -EINVAL (block size differs from the
 * cluster's). The client keeps retrying in any case. With
 * caller_reports_start, the caller says in one line what the failure
 * means for it (a daemon starting without a manager, or refused); the
 * client's "still no manager" summaries follow, at most one a minute,
 * until it registers.
 */
int mgr_client_wait_registered(struct mgr_client *c, int timeout_ms);
/*
 * Stepped mode (include/cmp/util.h): mgr_client_create() starts no
 * thread, and this does what the client thread would do now, without
 * waiting: register (again, after its backoff), take the replies and
 * NODE_STATE pushes that came, send the heartbeat when it is due.
 * mgr_client_wait_registered() then waits for nothing: it answers at
 * once. A no-op otherwise. Not from a callback.
 */
void mgr_client_step(struct mgr_client *c);
bool mgr_client_registered(struct mgr_client *c);
/*
 * The address of the manager the client is registered with, copied into
 * buf (len bytes); "" when it is not registered. Any thread.
 */
const char *mgr_client_manager(struct mgr_client *c, char *buf, size_t len);
/*
 * strerror() of a client error, with a word for the manager's own:
 * -EREMOTE is "standby (another manager is active)".
 */
const char *mgr_strerror(int err);
/*
 * What a refusal from mgr_client_wait_registered() means, for the one line
 * a daemon prints before it exits ("block size differs from the
 * cluster's"); NULL for an error that is no refusal (a manager that cannot
 * be reached: the client keeps trying).
 */
const char *mgr_refusal_text(int err);

/*
 * Asks the manager where to find n free blocks: up to max entries in tier
 * order (other compute nodes' idle memory first, memservers last, never
 * this node, never a SUSPECT or LEFT one), stored in out[0..*count). The
 * transport's -errno (-ECONNREFUSED, -ETIMEDOUT, ...) when no manager
 * answers (-EREMOTE: only standbys did), -EINVAL for n == 0.
 */
int mgr_client_find_free(struct mgr_client *c, uint32_t n,
			 struct mgr_free_entry *out, size_t max, size_t *count);
/* Every node the manager knows (up to max), for status. */
int mgr_client_nodes(struct mgr_client *c, struct mgr_node_info *out,
		     size_t max, size_t *count);

/*
 * One-shot NODES query without registering: connects, authenticates,
 * asks, closes. manager_addr may be a list: the first manager that
 * answers is asked (a standby passes the question on). Same errors as
 * mgr_client_nodes().
 */
int mgr_query_nodes(const char *manager_addr, struct auth_keyring *keyring,
		    int timeout_ms, struct mgr_node_info *out, size_t max,
		    size_t *count);
/*
 * The same as a snapshot (cmpctl status, cmpctl top): the manager asks
 * every ALIVE node for its counts and waits up to wait_ms (capped at
 * PROTO_MGR_SNAPSHOT_MAX_WAIT_MS) for them before it answers; fresh says
 * which nodes answered. timeout_ms bounds the connect and handshake; the
 * reply may take wait_ms longer.
 */
int mgr_query_snapshot(const char *manager_addr, struct auth_keyring *keyring,
		       int timeout_ms, uint32_t wait_ms,
		       struct mgr_node_info *out, size_t max, size_t *count);
/*
 * One-shot ROLE query of one manager (one address, not a list): its role,
 * rank and registry size. The transport's -errno, or -EOPNOTSUPP from a
 * manager older than ROLE (it knows no other: active).
 */
int mgr_query_role(const char *manager_addr, struct auth_keyring *keyring,
		   int timeout_ms, struct proto_mgr_role *out);

#endif
