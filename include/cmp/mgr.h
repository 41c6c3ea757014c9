/* SPDX-License-Identifier: MIT */
/*
 * The manager's library: the codec of its messages and the client that
 * cmpfs nodes, cmp-memserver and cmpctl link to talk to cmp-manager. The
 * daemon itself (manager/manager.c, registry.c) uses the codec only.
 *
 *   node N                         manager M
 *     |-- REGISTER (id, kind, ...) -->|   reply: heartbeat ms, flags
 *     |-- HEARTBEAT (counts) -------->|   every heartbeat ms; reply: empty,
 *     |                               |   NOENT = not registered (again)
 *     |-- FIND_FREE (not N, want) --->|   reply: entries in tier order
 *     |-- NODES --------------------->|   reply: every known node
 *     |<------ NODE_DEAD (id) --------|   pushed, no reply
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
 * heartbeats with its list counts from its own thread, receives NODE_DEAD
 * pushes, and answers "where are free blocks?" and "which nodes are
 * there?" for any thread. When the manager goes away the client logs it
 * once, keeps retrying with backoff (100 ms doubling to 2 s), and registers
 * again with the same node id when the manager is back; nothing else
 * changes, no data is disturbed.
 *
 * Threads: mgr_client_find_free() and mgr_client_nodes() are thread-safe;
 * each call checks a connection out of a small cache (or opens one), so
 * concurrent callers never share a connection, and each call is bounded by
 * the configured deadline. The counts and node_dead callbacks run on the
 * client's own thread; they must not call mgr_client_destroy().
 *
 * node_dead(ctx, id) with id != own node: node id died; providers free the
 * blocks they hold for it, owners mark their blocks on it lost.
 * node_dead(ctx, own node): the manager had declared THIS node dead (its
 * registration connection closed or went silent, and the others were
 * told): whatever it lent or borrowed before must be treated as gone. The
 * client is registered again by then. A manager restart is no death.
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

/* REGISTER reply flags. */
enum mgr_reg_flags {
	/*
	 * The manager had declared this node dead (missed heartbeats or a
	 * closed registration connection) and told the others: whatever it
	 * lent or borrowed before is gone.
	 */
	MGR_REG_F_WAS_DEAD = 1 << 0,
	MGR_REG_F_MASK = MGR_REG_F_WAS_DEAD,
};

/* A node's five CMP lists, in blocks. */
struct proto_mgr_counts {
	uint64_t free; /* contributed, unused */
	uint64_t lll;  /* our data, our memory */
	uint64_t lrl;  /* our data, elsewhere */
	uint64_t rll;  /* others' data, our memory */
	uint64_t rrl;  /* forwarding records; 0 until principle 3 is built */
};

struct proto_mgr_register {
	uint32_t node;		       /* nonzero */
	uint8_t kind;		       /* enum mgr_kind */
	uint32_t block_size;	       /* power of two, 4 KiB .. 4 MiB */
	uint64_t capacity;	       /* blocks, <= PROTO_MGR_MAX_BLOCKS */
	uint64_t free;		       /* blocks, <= capacity */
	char addr[PROTO_MGR_ADDR_LEN]; /* where peers connect; non-empty */
};

struct proto_mgr_register_reply {
	uint32_t heartbeat_ms; /* 1 .. 3600000 */
	uint32_t dead_after;   /* missed heartbeats before death, >= 1 */
	uint32_t flags;	       /* enum mgr_reg_flags */
	uint64_t epoch;	       /* random per manager start, nonzero */
};

struct proto_mgr_heartbeat {
	uint32_t node;
	struct proto_mgr_counts counts; /* each <= PROTO_MGR_MAX_BLOCKS */
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
	bool alive;
	uint32_t block_size;
	uint64_t capacity;
	struct proto_mgr_counts counts;
	uint64_t age_ms; /* since the last registration or heartbeat */
	char addr[PROTO_MGR_ADDR_LEN];
};

struct proto_mgr_node_dead {
	uint32_t node;
};

/* Fixed payload sizes, for buffers. */
#define PROTO_MGR_REGISTER_SIZE 96
#define PROTO_MGR_REGISTER_REPLY_SIZE 24
#define PROTO_MGR_HEARTBEAT_SIZE 48
#define PROTO_MGR_FIND_FREE_SIZE 8
#define PROTO_MGR_NODE_DEAD_SIZE 8
#define PROTO_MGR_LIST_HDR_SIZE 8
#define PROTO_MGR_FREE_ENTRY_SIZE 80
#define PROTO_MGR_NODE_INFO_SIZE 136
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

int proto_mgr_node_dead_encode(const struct proto_mgr_node_dead *in, void *buf,
			       size_t cap);
int proto_mgr_node_dead_decode(const void *buf, size_t len,
			       struct proto_mgr_node_dead *out);

/* ---- The client ---- */

struct auth_keyring;
struct mgr_client;

struct mgr_client_config {
	const char *manager_addr; /* "tcp://10.0.0.1:7000" */
	/* NULL: insecure mode; borrowed, must outlive the client */
	struct auth_keyring *keyring;
	uint32_t node;		 /* nonzero, kept for the process lifetime */
	unsigned int kind;	 /* enum mgr_kind */
	const char *listen_addr; /* what other nodes connect to */
	uint32_t block_size;	 /* the cluster's block size */
	uint64_t capacity;	 /* blocks contributed */
	/* 0: as the manager says; else at most this often */
	uint32_t heartbeat_ms;
	int timeout_ms; /* per request and per connect; <= 0: 2000 */
	/* sampled before each heartbeat (and registration); may be NULL */
	void (*counts)(void *ctx, struct proto_mgr_counts *out);
	void (*node_dead)(void *ctx, uint32_t node); /* may be NULL */
	void *ctx;
};

/*
 * Validates cfg and starts the client thread, which registers in the
 * background. Returns the client, or NULL with errno EINVAL (bad config,
 * logged) or ENOMEM.
 */
struct mgr_client *mgr_client_create(const struct mgr_client_config *cfg);
/*
 * Stops the thread, closes every connection, frees c. No other call on c
 * may be in progress or follow. NULL is ok. The manager then sees the
 * registration connection close and announces this node dead.
 */
void mgr_client_destroy(struct mgr_client *c);

/*
 * Waits up to timeout_ms for the client to be registered. 0 when it is;
 * else the last registration failure (-EHOSTUNREACH no manager, -EBUSY id
 * alive on another connection, -ETIMEDOUT) once the time is up, or at once
 * -EACCES (wrong key or secure/insecure mismatch) or -EINVAL (block size
 * differs from the cluster's). The client keeps retrying in any case.
 */
int mgr_client_wait_registered(struct mgr_client *c, int timeout_ms);
bool mgr_client_registered(struct mgr_client *c);

/*
 * Asks the manager where to find n free blocks: up to max entries in tier
 * order (other compute nodes' idle memory first, memservers last, never
 * this node), stored in out[0..*count). -EHOSTUNREACH or -ETIMEDOUT when
 * no manager answers, -EINVAL for n == 0.
 */
int mgr_client_find_free(struct mgr_client *c, uint32_t n,
			 struct mgr_free_entry *out, size_t max, size_t *count);
/* Every node the manager knows (up to max), for status. */
int mgr_client_nodes(struct mgr_client *c, struct mgr_node_info *out,
		     size_t max, size_t *count);

/*
 * One-shot NODES query without registering (cmpctl status): connects,
 * authenticates, asks, closes. Same errors as mgr_client_nodes().
 */
int mgr_query_nodes(const char *manager_addr, struct auth_keyring *keyring,
		    int timeout_ms, struct mgr_node_info *out, size_t max,
		    size_t *count);

#endif
