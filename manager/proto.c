// SPDX-License-Identifier: MIT
/*
 * Manager message codecs (include/cmp/mgr.h). The wire layouts live
 * here only; byte order is converted in these functions and nowhere else.
 * Decoders are pure and strict (reserved bytes zero, addresses NUL-padded)
 * so that a decoded message encodes back to the very same bytes: the fuzz
 * target checks exactly that.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "cmp/mgr.h"

#define HEARTBEAT_MS_MAX 3600000u
#define SUSPECT_AFTER_MAX 1000u

struct wire_counts {
	uint64_t free, lll, lrl, rll, rrl;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_counts) == 40, "wire_counts");

struct wire_traffic {
	uint64_t read_bytes, write_bytes, net_rx_bytes, net_tx_bytes;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_traffic) == 32, "wire_traffic");

struct wire_register {
	uint32_t node;
	uint8_t kind;
	uint8_t wpolicy;
	uint8_t pad[2];
	uint32_t block_size;
	uint32_t reserved;
	uint64_t capacity;
	uint64_t free;
	char addr[PROTO_MGR_ADDR_LEN];
	uint64_t incarnation;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_register) == PROTO_MGR_REGISTER_SIZE,
	       "wire_register");

struct wire_register_reply {
	uint32_t heartbeat_ms;
	uint32_t suspect_after;
	uint32_t flags; /* none defined: 0 (1 was "declared dead") */
	uint32_t reserved;
	uint64_t epoch;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_register_reply) ==
		       PROTO_MGR_REGISTER_REPLY_SIZE,
	       "wire_register_reply");

struct wire_heartbeat {
	uint32_t node;
	uint32_t reserved;
	struct wire_counts counts;
	struct wire_traffic traffic;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_heartbeat) == PROTO_MGR_HEARTBEAT_SIZE,
	       "wire_heartbeat");

struct wire_nodes_req {
	uint32_t flags;
	uint32_t wait_ms;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_nodes_req) == PROTO_MGR_NODES_REQ_SIZE,
	       "wire_nodes_req");

struct wire_find_free {
	uint32_t node;
	uint32_t want;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_find_free) == PROTO_MGR_FIND_FREE_SIZE,
	       "wire_find_free");

struct wire_list_hdr {
	uint32_t count;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_list_hdr) == PROTO_MGR_LIST_HDR_SIZE,
	       "wire_list_hdr");

struct wire_free_entry {
	uint32_t node;
	uint8_t kind;
	uint8_t pad[3];
	uint64_t free_hint;
	char addr[PROTO_MGR_ADDR_LEN];
} __attribute__((packed));
_Static_assert(sizeof(struct wire_free_entry) == PROTO_MGR_FREE_ENTRY_SIZE,
	       "wire_free_entry");

#define NODE_INFO_FRESH 0x1 /* wire_node_info.flags */

struct wire_node_info {
	uint32_t node;
	uint8_t kind;
	uint8_t state;
	uint16_t flags; /* NODE_INFO_* */
	uint32_t block_size;
	uint8_t wpolicy;
	uint8_t reserved[3];
	uint64_t capacity;
	struct wire_counts counts;
	uint64_t age_ms;
	char addr[PROTO_MGR_ADDR_LEN];
	uint64_t since_ms;
	struct wire_traffic traffic;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_node_info) == PROTO_MGR_NODE_INFO_SIZE,
	       "wire_node_info");

struct wire_node_state {
	uint32_t node;
	uint8_t state;
	uint8_t kind;
	uint16_t pad;
	char addr[PROTO_MGR_ADDR_LEN];
} __attribute__((packed));
_Static_assert(sizeof(struct wire_node_state) == PROTO_MGR_NODE_STATE_SIZE,
	       "wire_node_state");

struct wire_leave {
	uint32_t node;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_leave) == PROTO_MGR_LEAVE_SIZE, "wire_leave");

struct wire_role {
	uint8_t role;
	uint8_t rank;
	uint16_t pad;
	uint32_t alive;
	uint32_t takeovers;
	uint32_t copied;
	uint64_t epoch;
	uint64_t since_ms;
	char defers_to[PROTO_MGR_ADDR_LEN]; /* all zero: none */
	uint64_t copied_ms;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_role) == PROTO_MGR_ROLE_SIZE, "wire_role");

const char *mgr_kind_name(unsigned int kind)
{
	switch (kind) {
	case MGR_KIND_COMPUTE:
		return "compute";
	case MGR_KIND_MEMSERVER:
		return "memserver";
	default:
		return "?";
	}
}

const char *mgr_wpolicy_name(unsigned int wpolicy)
{
	static const char *const names[] = {"none", "through", "back"};

	return wpolicy < sizeof(names) / sizeof(names[0]) ? names[wpolicy]
							  : "?";
}

const char *mgr_node_state_name(unsigned int state)
{
	switch (state) {
	case MGR_NODE_ALIVE:
		return "alive";
	case MGR_NODE_SUSPECT:
		return "suspect";
	case MGR_NODE_LEFT:
		return "left";
	default:
		return "?";
	}
}

const char *mgr_role_name(unsigned int role)
{
	switch (role) {
	case MGR_ROLE_ACTIVE:
		return "active";
	case MGR_ROLE_STANDBY:
		return "standby";
	default:
		return "?";
	}
}

int mgr_split_managers(const char *list, char (*out)[MGR_MANAGER_ADDR_LEN],
		       size_t max)
{
	size_t n = 0;

	if (!list || !*list)
		return -EINVAL;
	for (const char *s = list;; s++) {
		size_t len = strcspn(s, ",");

		if (!len || len >= MGR_MANAGER_ADDR_LEN || n == max)
			return -EINVAL;
		memcpy(out[n], s, len);
		out[n++][len] = '\0';
		s += len;
		if (!*s)
			return (int)n;
	}
}

static bool kind_valid(unsigned int kind)
{
	return kind == MGR_KIND_COMPUTE || kind == MGR_KIND_MEMSERVER;
}

static bool state_valid(unsigned int state)
{
	return state >= MGR_NODE_ALIVE && state <= MGR_NODE_LEFT;
}

static bool block_size_valid(uint32_t bs)
{
	return bs >= PROTO_MGR_MIN_BLOCK && bs <= PROTO_MGR_MAX_BLOCK &&
	       !(bs & (bs - 1));
}

static bool zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

bool proto_mgr_addr_valid(const char *addr, size_t cap)
{
	size_t i;

	for (i = 0; i < cap && addr[i]; i++)
		if (addr[i] <= ' ' || addr[i] > '~')
			return false;
	return i > 0 && i < cap;
}

/* A wire address: printable, NUL-terminated and NUL-padded. */
static bool wire_addr_valid(const char addr[PROTO_MGR_ADDR_LEN])
{
	size_t n = strnlen(addr, PROTO_MGR_ADDR_LEN);

	return proto_mgr_addr_valid(addr, PROTO_MGR_ADDR_LEN) &&
	       zero(addr + n, PROTO_MGR_ADDR_LEN - n);
}

static int addr_put(char dst[PROTO_MGR_ADDR_LEN], const char *src)
{
	if (!proto_mgr_addr_valid(src, PROTO_MGR_ADDR_LEN))
		return -EINVAL;
	memset(dst, 0, PROTO_MGR_ADDR_LEN);
	memcpy(dst, src, strlen(src));
	return 0;
}

static void addr_get(char dst[PROTO_MGR_ADDR_LEN],
		     const char src[PROTO_MGR_ADDR_LEN])
{
	memcpy(dst, src, PROTO_MGR_ADDR_LEN);
}

static void counts_put(struct wire_counts *w, const struct proto_mgr_counts *c)
{
	w->free = htole64(c->free);
	w->lll = htole64(c->lll);
	w->lrl = htole64(c->lrl);
	w->rll = htole64(c->rll);
	w->rrl = htole64(c->rrl);
}

static int counts_get(struct proto_mgr_counts *c, const struct wire_counts *w)
{
	c->free = le64toh(w->free);
	c->lll = le64toh(w->lll);
	c->lrl = le64toh(w->lrl);
	c->rll = le64toh(w->rll);
	c->rrl = le64toh(w->rrl);
	if (c->free > PROTO_MGR_MAX_BLOCKS || c->lll > PROTO_MGR_MAX_BLOCKS ||
	    c->lrl > PROTO_MGR_MAX_BLOCKS || c->rll > PROTO_MGR_MAX_BLOCKS ||
	    c->rrl > PROTO_MGR_MAX_BLOCKS)
		return -EBADMSG;
	/* the blocks in this node's own memory */
	if (c->free + c->lll + c->rll > PROTO_MGR_MAX_BLOCKS)
		return -EBADMSG;
	return 0;
}

static void traffic_put(struct wire_traffic *w,
			const struct proto_mgr_traffic *t)
{
	w->read_bytes = htole64(t->read_bytes);
	w->write_bytes = htole64(t->write_bytes);
	w->net_rx_bytes = htole64(t->net_rx_bytes);
	w->net_tx_bytes = htole64(t->net_tx_bytes);
}

/* Any totals are valid: they only ever grow, and wrap in 2^64 bytes. */
static void traffic_get(struct proto_mgr_traffic *t,
			const struct wire_traffic *w)
{
	t->read_bytes = le64toh(w->read_bytes);
	t->write_bytes = le64toh(w->write_bytes);
	t->net_rx_bytes = le64toh(w->net_rx_bytes);
	t->net_tx_bytes = le64toh(w->net_tx_bytes);
}

int proto_mgr_register_encode(const struct proto_mgr_register *in, void *buf,
			      size_t cap)
{
	struct wire_register w = {0};

	if (cap < sizeof(w))
		return -EMSGSIZE;
	w.node = htole32(in->node);
	w.kind = in->kind;
	w.wpolicy = in->wpolicy;
	w.block_size = htole32(in->block_size);
	w.capacity = htole64(in->capacity);
	w.free = htole64(in->free);
	w.incarnation = htole64(in->incarnation);
	if (addr_put(w.addr, in->addr) < 0)
		return -EINVAL;
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_mgr_register_decode(const void *buf, size_t len,
			      struct proto_mgr_register *out)
{
	struct wire_register w;

	if (len != sizeof(w))
		return -EBADMSG;
	memcpy(&w, buf, sizeof(w));
	out->node = le32toh(w.node);
	out->kind = w.kind;
	out->wpolicy = w.wpolicy;
	out->block_size = le32toh(w.block_size);
	out->capacity = le64toh(w.capacity);
	out->free = le64toh(w.free);
	out->incarnation = le64toh(w.incarnation);
	if (!out->node || !kind_valid(out->kind) ||
	    out->wpolicy > MGR_WPOLICY_MAX || !zero(w.pad, sizeof(w.pad)) ||
	    !block_size_valid(out->block_size) || w.reserved ||
	    out->capacity > PROTO_MGR_MAX_BLOCKS || out->free > out->capacity ||
	    !wire_addr_valid(w.addr) || !out->incarnation)
		return -EBADMSG;
	addr_get(out->addr, w.addr);
	return 0;
}

int proto_mgr_register_reply_encode(const struct proto_mgr_register_reply *in,
				    void *buf, size_t cap)
{
	struct wire_register_reply w = {0};

	if (cap < sizeof(w))
		return -EMSGSIZE;
	w.heartbeat_ms = htole32(in->heartbeat_ms);
	w.suspect_after = htole32(in->suspect_after);
	w.epoch = htole64(in->epoch);
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_mgr_register_reply_decode(const void *buf, size_t len,
				    struct proto_mgr_register_reply *out)
{
	struct wire_register_reply w;

	if (len != sizeof(w))
		return -EBADMSG;
	memcpy(&w, buf, sizeof(w));
	out->heartbeat_ms = le32toh(w.heartbeat_ms);
	out->suspect_after = le32toh(w.suspect_after);
	out->epoch = le64toh(w.epoch);
	if (!out->heartbeat_ms || out->heartbeat_ms > HEARTBEAT_MS_MAX ||
	    !out->suspect_after || out->suspect_after > SUSPECT_AFTER_MAX ||
	    w.flags || w.reserved || !out->epoch)
		return -EBADMSG;
	return 0;
}

int proto_mgr_heartbeat_encode(const struct proto_mgr_heartbeat *in, void *buf,
			       size_t cap)
{
	struct wire_heartbeat w = {0};

	if (cap < sizeof(w))
		return -EMSGSIZE;
	w.node = htole32(in->node);
	counts_put(&w.counts, &in->counts);
	traffic_put(&w.traffic, &in->traffic);
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_mgr_heartbeat_decode(const void *buf, size_t len,
			       struct proto_mgr_heartbeat *out)
{
	struct wire_heartbeat w;

	if (len != sizeof(w))
		return -EBADMSG;
	memcpy(&w, buf, sizeof(w));
	out->node = le32toh(w.node);
	traffic_get(&out->traffic, &w.traffic);
	if (!out->node || w.reserved || counts_get(&out->counts, &w.counts))
		return -EBADMSG;
	return 0;
}

int proto_mgr_nodes_req_encode(const struct proto_mgr_nodes_req *in, void *buf,
			       size_t cap)
{
	struct wire_nodes_req w;

	if (cap < sizeof(w))
		return -EMSGSIZE;
	if (in->flags & ~PROTO_MGR_NODES_SNAPSHOT ||
	    in->wait_ms > PROTO_MGR_SNAPSHOT_MAX_WAIT_MS ||
	    !(in->flags & PROTO_MGR_NODES_SNAPSHOT) != !in->wait_ms)
		return -EINVAL;
	w.flags = htole32(in->flags);
	w.wait_ms = htole32(in->wait_ms);
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_mgr_nodes_req_decode(const void *buf, size_t len,
			       struct proto_mgr_nodes_req *out)
{
	struct wire_nodes_req w;

	if (len != sizeof(w))
		return -EBADMSG;
	memcpy(&w, buf, sizeof(w));
	out->flags = le32toh(w.flags);
	out->wait_ms = le32toh(w.wait_ms);
	/* a snapshot waits 1 .. MAX ms; without one, no wait is given */
	if (out->flags & ~PROTO_MGR_NODES_SNAPSHOT ||
	    out->wait_ms > PROTO_MGR_SNAPSHOT_MAX_WAIT_MS ||
	    !(out->flags & PROTO_MGR_NODES_SNAPSHOT) != !out->wait_ms)
		return -EBADMSG;
	return 0;
}

int proto_mgr_find_free_encode(const struct proto_mgr_find_free *in, void *buf,
			       size_t cap)
{
	struct wire_find_free w;

	if (cap < sizeof(w))
		return -EMSGSIZE;
	w.node = htole32(in->node);
	w.want = htole32(in->want);
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_mgr_find_free_decode(const void *buf, size_t len,
			       struct proto_mgr_find_free *out)
{
	struct wire_find_free w;

	if (len != sizeof(w))
		return -EBADMSG;
	memcpy(&w, buf, sizeof(w));
	out->node = le32toh(w.node);
	out->want = le32toh(w.want);
	if (!out->want)
		return -EBADMSG;
	return 0;
}

/* Checks a list header against the buffer: the one place counts enter. */
static int list_get(const void *buf, size_t len, size_t entry_size,
		    size_t limit, size_t max, size_t *count)
{
	struct wire_list_hdr w;
	size_t n;

	if (len < sizeof(w))
		return -EBADMSG;
	memcpy(&w, buf, sizeof(w));
	n = le32toh(w.count);
	if (w.reserved || n > limit || n > max ||
	    len != sizeof(w) + n * entry_size)
		return -EBADMSG;
	*count = n;
	return 0;
}

static void list_put(void *buf, size_t count)
{
	struct wire_list_hdr w = {.count = htole32((uint32_t)count)};

	memcpy(buf, &w, sizeof(w));
}

int proto_mgr_free_list_encode(const struct mgr_free_entry *in, size_t count,
			       void *buf, size_t cap)
{
	size_t need = sizeof(struct wire_list_hdr) +
		      count * sizeof(struct wire_free_entry);
	uint8_t *p = (uint8_t *)buf + sizeof(struct wire_list_hdr);
	size_t i;

	if (count > PROTO_MGR_MAX_FREE)
		return -EINVAL;
	if (cap < need)
		return -EMSGSIZE;
	for (i = 0; i < count; i++) {
		struct wire_free_entry w = {0};

		w.node = htole32(in[i].node);
		w.kind = in[i].kind;
		w.free_hint = htole64(in[i].free_hint);
		if (addr_put(w.addr, in[i].addr) < 0)
			return -EINVAL;
		memcpy(p + i * sizeof(w), &w, sizeof(w));
	}
	list_put(buf, count);
	return (int)need;
}

int proto_mgr_free_list_decode(const void *buf, size_t len,
			       struct mgr_free_entry *out, size_t max,
			       size_t *count)
{
	const uint8_t *p = (const uint8_t *)buf + sizeof(struct wire_list_hdr);
	size_t i, n;

	if (list_get(buf, len, sizeof(struct wire_free_entry),
		     PROTO_MGR_MAX_FREE, max, &n))
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		struct wire_free_entry w;

		memcpy(&w, p + i * sizeof(w), sizeof(w));
		out[i].node = le32toh(w.node);
		out[i].kind = w.kind;
		out[i].free_hint = le64toh(w.free_hint);
		if (!out[i].node || !kind_valid(w.kind) ||
		    !zero(w.pad, sizeof(w.pad)) ||
		    out[i].free_hint > PROTO_MGR_MAX_BLOCKS ||
		    !wire_addr_valid(w.addr))
			return -EBADMSG;
		addr_get(out[i].addr, w.addr);
	}
	*count = n;
	return 0;
}

int proto_mgr_nodes_encode(const struct mgr_node_info *in, size_t count,
			   void *buf, size_t cap)
{
	size_t need = sizeof(struct wire_list_hdr) +
		      count * sizeof(struct wire_node_info);
	uint8_t *p = (uint8_t *)buf + sizeof(struct wire_list_hdr);
	size_t i;

	if (count > PROTO_MGR_MAX_NODES)
		return -EINVAL;
	if (cap < need)
		return -EMSGSIZE;
	for (i = 0; i < count; i++) {
		struct wire_node_info w = {0};

		w.node = htole32(in[i].node);
		w.kind = in[i].kind;
		w.state = in[i].state;
		w.wpolicy = in[i].wpolicy;
		w.block_size = htole32(in[i].block_size);
		w.capacity = htole64(in[i].capacity);
		counts_put(&w.counts, &in[i].counts);
		traffic_put(&w.traffic, &in[i].traffic);
		w.flags = htole16(in[i].fresh ? NODE_INFO_FRESH : 0);
		w.age_ms = htole64(in[i].age_ms);
		w.since_ms = htole64(in[i].since_ms);
		if (!state_valid(w.state) || addr_put(w.addr, in[i].addr) < 0)
			return -EINVAL;
		memcpy(p + i * sizeof(w), &w, sizeof(w));
	}
	list_put(buf, count);
	return (int)need;
}

int proto_mgr_nodes_decode(const void *buf, size_t len,
			   struct mgr_node_info *out, size_t max, size_t *count)
{
	const uint8_t *p = (const uint8_t *)buf + sizeof(struct wire_list_hdr);
	size_t i, n;

	if (list_get(buf, len, sizeof(struct wire_node_info),
		     PROTO_MGR_MAX_NODES, max, &n))
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		struct wire_node_info w;

		memcpy(&w, p + i * sizeof(w), sizeof(w));
		out[i].node = le32toh(w.node);
		out[i].kind = w.kind;
		out[i].state = w.state;
		out[i].wpolicy = w.wpolicy;
		out[i].block_size = le32toh(w.block_size);
		out[i].capacity = le64toh(w.capacity);
		out[i].age_ms = le64toh(w.age_ms);
		out[i].since_ms = le64toh(w.since_ms);
		out[i].fresh = le16toh(w.flags) & NODE_INFO_FRESH;
		traffic_get(&out[i].traffic, &w.traffic);
		if (!out[i].node || !kind_valid(w.kind) ||
		    !state_valid(w.state) ||
		    le16toh(w.flags) & ~NODE_INFO_FRESH ||
		    w.wpolicy > MGR_WPOLICY_MAX ||
		    !zero(w.reserved, sizeof(w.reserved)) ||
		    !block_size_valid(out[i].block_size) ||
		    out[i].capacity > PROTO_MGR_MAX_BLOCKS ||
		    counts_get(&out[i].counts, &w.counts) ||
		    !wire_addr_valid(w.addr))
			return -EBADMSG;
		addr_get(out[i].addr, w.addr);
	}
	*count = n;
	return 0;
}

int proto_mgr_node_state_encode(const struct proto_mgr_node_state *in,
				void *buf, size_t cap)
{
	struct wire_node_state w = {0};

	if (cap < sizeof(w))
		return -EMSGSIZE;
	w.node = htole32(in->node);
	w.state = in->state;
	w.kind = in->kind;
	if (!state_valid(w.state) || addr_put(w.addr, in->addr) < 0)
		return -EINVAL;
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_mgr_node_state_decode(const void *buf, size_t len,
				struct proto_mgr_node_state *out)
{
	struct wire_node_state w;

	if (len != sizeof(w))
		return -EBADMSG;
	memcpy(&w, buf, sizeof(w));
	out->node = le32toh(w.node);
	out->state = w.state;
	out->kind = w.kind;
	if (!out->node || !state_valid(w.state) || !kind_valid(w.kind) ||
	    w.pad || !wire_addr_valid(w.addr))
		return -EBADMSG;
	addr_get(out->addr, w.addr);
	return 0;
}

int proto_mgr_leave_encode(const struct proto_mgr_leave *in, void *buf,
			   size_t cap)
{
	struct wire_leave w = {0};

	if (cap < sizeof(w))
		return -EMSGSIZE;
	w.node = htole32(in->node);
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_mgr_leave_decode(const void *buf, size_t len,
			   struct proto_mgr_leave *out)
{
	struct wire_leave w;

	if (len != sizeof(w))
		return -EBADMSG;
	memcpy(&w, buf, sizeof(w));
	out->node = le32toh(w.node);
	if (!out->node || w.reserved)
		return -EBADMSG;
	return 0;
}

int proto_mgr_role_encode(const struct proto_mgr_role *in, void *buf,
			  size_t cap)
{
	struct wire_role w = {0};

	if (cap < sizeof(w))
		return -EMSGSIZE;
	if ((in->role != MGR_ROLE_ACTIVE && in->role != MGR_ROLE_STANDBY) ||
	    in->rank >= MGR_MAX_MANAGERS || !in->epoch ||
	    (!in->copied && in->copied_ms) ||
	    (in->defers_to[0] && addr_put(w.defers_to, in->defers_to) < 0))
		return -EINVAL;
	w.role = in->role;
	w.rank = in->rank;
	w.alive = htole32(in->alive);
	w.takeovers = htole32(in->takeovers);
	w.copied = htole32(in->copied);
	w.copied_ms = htole64(in->copied_ms);
	w.epoch = htole64(in->epoch);
	w.since_ms = htole64(in->since_ms);
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_mgr_role_decode(const void *buf, size_t len,
			  struct proto_mgr_role *out)
{
	struct wire_role w;

	if (len != sizeof(w))
		return -EBADMSG;
	memcpy(&w, buf, sizeof(w));
	out->role = w.role;
	out->rank = w.rank;
	out->alive = le32toh(w.alive);
	out->takeovers = le32toh(w.takeovers);
	out->copied = le32toh(w.copied);
	out->copied_ms = le64toh(w.copied_ms);
	out->epoch = le64toh(w.epoch);
	out->since_ms = le64toh(w.since_ms);
	if ((w.role != MGR_ROLE_ACTIVE && w.role != MGR_ROLE_STANDBY) ||
	    w.rank >= MGR_MAX_MANAGERS || w.pad || !out->epoch ||
	    (!out->copied && out->copied_ms) ||
	    (!zero(w.defers_to, sizeof(w.defers_to)) &&
	     !wire_addr_valid(w.defers_to)))
		return -EBADMSG;
	addr_get(out->defers_to, w.defers_to);
	return 0;
}
