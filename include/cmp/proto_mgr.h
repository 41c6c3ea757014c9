/* SPDX-License-Identifier: MIT */
/*
 * The manager messages: payload layouts of REGISTER, HEARTBEAT, FIND_FREE,
 * NODES and NODE_DEAD (opcodes in include/cmp/wire.h), with encoders into
 * caller buffers and pure decoders for bytes from the network. Shared by
 * cmp-manager, cmpfs nodes, cmp-memserver and cmpctl.
 *
 *   node N                         manager M
 *     |-- REGISTER (id, kind, ...) -->|   reply: heartbeat ms, flags
 *     |-- HEARTBEAT (counts) -------->|   every heartbeat ms; reply: empty,
 *     |                               |   NOENT = not registered (again)
 *     |-- FIND_FREE (not N, want) --->|   reply: entries in tier order
 *     |-- NODES --------------------->|   reply: every known node
 *     |<------ NODE_DEAD (id) --------|   pushed, no reply
 *
 * Every payload is little-endian with fixed-width fields; the wire layouts
 * are private to proto_mgr.c and _Static_assert'ed there. The structs below
 * are the host-order views. Decoders take (buffer, length) and fill a
 * struct; they touch nothing else, validate every field, count and length
 * against the buffer and the limits here, and return 0 or -EBADMSG.
 * Encoders return the number of bytes written, or -EMSGSIZE when the
 * buffer is too small, or -EINVAL when the struct cannot be represented.
 * All functions are pure and thread-safe.
 */
#ifndef CMP_PROTO_MGR_H
#define CMP_PROTO_MGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	uint64_t rrl;  /* forwarding records */
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

#endif
