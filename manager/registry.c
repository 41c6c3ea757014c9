// SPDX-License-Identifier: MIT
/*
 * The manager's registry (registry.h): a small table of nodes, scanned
 * linearly (a cluster has at most PROTO_MGR_MAX_NODES entries and the
 * manager is not on the data path). SUSPECT and LEFT nodes stay listed for
 * a while, so status shows them and a returning node simply becomes ALIVE
 * again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/util.h"
#include "registry.h"

#define MS 1000000ull

struct node {
	uint32_t id;
	uint8_t kind;
	uint8_t state;	 /* enum mgr_node_state */
	uint8_t wpolicy; /* a compute node's write policy (cmpctl status) */
	uint32_t block_size;
	uint64_t capacity;
	struct proto_mgr_counts counts;
	struct proto_mgr_traffic traffic;
	uint64_t promised; /* handed out by FIND_FREE since the heartbeat */
	uint64_t incarnation;
	uint64_t last_ns;  /* last registration or heartbeat */
	uint64_t state_ns; /* when it entered its state */
	/* adopted and not registered here yet: SUSPECT after; else 0 */
	uint64_t rejoin_by_ns;
	/* registration connection while open: ALIVE, or SUSPECT by silence */
	void *conn;
	char addr[PROTO_MGR_ADDR_LEN];
};

struct registry {
	struct registry_config cfg;
	uint32_t block_size;
	size_t count;
	struct node *nodes; /* [0, count) used, cfg.max_nodes allocated */
};

struct registry *registry_create(const struct registry_config *cfg)
{
	struct registry *r;

	if (!cfg->heartbeat_ms || !cfg->suspect_after) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cfg = *cfg;
	if (!r->cfg.max_nodes || r->cfg.max_nodes > PROTO_MGR_MAX_NODES)
		r->cfg.max_nodes = PROTO_MGR_MAX_NODES;
	if (!r->cfg.forget_after_ms)
		r->cfg.forget_after_ms = REGISTRY_FORGET_AFTER_MS;
	if (!r->cfg.left_keep_ms)
		r->cfg.left_keep_ms = REGISTRY_LEFT_KEEP_MS;
	r->nodes = calloc(r->cfg.max_nodes, sizeof(*r->nodes));
	if (!r->nodes) {
		free(r);
		return NULL;
	}
	return r;
}

void registry_destroy(struct registry *r)
{
	if (!r)
		return;
	free(r->nodes);
	free(r);
}

static struct node *find(const struct registry *r, uint32_t id)
{
	size_t i;

	for (i = 0; i < r->count; i++)
		if (r->nodes[i].id == id)
			return &r->nodes[i];
	return NULL;
}

/* Which of two gone nodes to drop first: LEFT ones, then the oldest. */
static bool drop_before(const struct node *a, const struct node *b)
{
	if (a->state != b->state)
		return a->state == MGR_NODE_LEFT;
	return a->state_ns < b->state_ns;
}

/* A slot for a new id: a free one, else the gone node to drop first. */
static struct node *new_slot(struct registry *r)
{
	struct node *victim = NULL;
	size_t i;

	if (r->count < r->cfg.max_nodes)
		return &r->nodes[r->count++];
	for (i = 0; i < r->count; i++) {
		struct node *n = &r->nodes[i];

		if (n->state != MGR_NODE_ALIVE &&
		    (!victim || drop_before(n, victim)))
			victim = n;
	}
	return victim;
}

static void set_state(struct node *n, uint8_t state, uint64_t now_ns)
{
	if (n->state != state)
		n->state_ns = now_ns;
	n->state = state;
}

/* What is under reg's id, and whether it may be taken over (0). */
static int look_back(struct node *n, const struct proto_mgr_register *reg,
		     const void *conn, struct registry_prior *prior)
{
	prior->state = n->state;
	prior->same_process = n->incarnation == reg->incarnation;
	prior->adopted = n->rejoin_by_ns != 0;
	if (!n->conn || n->conn == conn)
		return 0;
	/* another process claims a live id: a duplicate, or a restart */
	if (n->state == MGR_NODE_ALIVE && !prior->same_process)
		return -EBUSY;
	prior->stale_conn = n->conn;
	return 0;
}

int registry_register(struct registry *r, const struct proto_mgr_register *reg,
		      void *conn, uint64_t now_ns, struct registry_prior *prior)
{
	struct node *n = find(r, reg->node);
	uint64_t state_ns = now_ns;
	int ret;

	memset(prior, 0, sizeof(*prior));
	if (n) {
		ret = look_back(n, reg, conn, prior);
		if (ret < 0) {
			memset(prior, 0, sizeof(*prior));
			return ret;
		}
		if (n->state == MGR_NODE_ALIVE)
			state_ns = n->state_ns;
	}
	if (r->block_size && reg->block_size != r->block_size) {
		memset(prior, 0, sizeof(*prior));
		return -EINVAL;
	}
	if (!n) {
		n = new_slot(r);
		if (!n)
			return -ENOSPC;
	}
	r->block_size = reg->block_size;
	memset(n, 0, sizeof(*n));
	n->id = reg->node;
	n->kind = reg->kind;
	n->wpolicy = reg->wpolicy;
	n->state = MGR_NODE_ALIVE;
	n->state_ns = state_ns;
	n->block_size = reg->block_size;
	n->capacity = reg->capacity;
	n->counts.free = reg->free;
	n->incarnation = reg->incarnation;
	n->last_ns = now_ns;
	n->conn = conn;
	memcpy(n->addr, reg->addr, sizeof(n->addr));
	return 0;
}

static uint64_t ago(uint64_t now_ns, uint64_t ms)
{
	return now_ns > ms * MS ? now_ns - ms * MS : 0;
}

/* One node of another manager's list, as it was there. */
static void adopt_one(struct registry *r, struct node *n,
		      const struct mgr_node_info *in, uint64_t now_ns,
		      uint64_t rejoin_by_ns)
{
	memset(n, 0, sizeof(*n));
	n->id = in->node;
	n->kind = in->kind;
	n->wpolicy = in->wpolicy;
	n->state = in->state;
	n->block_size = in->block_size;
	n->capacity = in->capacity;
	n->counts = in->counts;
	n->traffic = in->traffic;
	n->last_ns = ago(now_ns, in->age_ms);
	n->state_ns = ago(now_ns, in->since_ms);
	if (n->state == MGR_NODE_ALIVE)
		n->rejoin_by_ns = MAX(rejoin_by_ns, 1);
	memcpy(n->addr, in->addr, sizeof(n->addr));
	if (!r->block_size)
		r->block_size = in->block_size;
}

size_t registry_adopt(struct registry *r, const struct mgr_node_info *info,
		      size_t n, uint64_t now_ns, uint64_t rejoin_by_ns)
{
	size_t added = 0;

	for (size_t i = 0; i < n; i++) {
		struct node *slot;

		if (find(r, info[i].node) || r->count >= r->cfg.max_nodes)
			continue;
		slot = &r->nodes[r->count++];
		adopt_one(r, slot, &info[i], now_ns, rejoin_by_ns);
		added++;
	}
	return added;
}

size_t registry_clear(struct registry *r, void **conns, size_t max)
{
	size_t i, k = 0;

	for (i = 0; i < r->count; i++)
		if (r->nodes[i].conn && k < max)
			conns[k++] = r->nodes[i].conn;
	r->count = 0;
	r->block_size = 0;
	return k;
}

int registry_heartbeat(struct registry *r, const struct proto_mgr_heartbeat *hb,
		       const void *conn, uint64_t now_ns, bool *revived)
{
	struct node *n = find(r, hb->node);

	*revived = false;
	if (!n || !conn || n->conn != conn)
		return -ENOENT;
	if (hb->counts.free > n->capacity)
		return -EINVAL;
	*revived = n->state == MGR_NODE_SUSPECT;
	set_state(n, MGR_NODE_ALIVE, now_ns);
	n->counts = hb->counts;
	n->traffic = hb->traffic;
	n->promised = 0;
	n->last_ns = now_ns;
	return 0;
}

int registry_leave(struct registry *r, uint32_t node, const void *conn,
		   uint64_t now_ns)
{
	struct node *n = find(r, node);

	if (!n || !conn || n->conn != conn)
		return -ENOENT;
	set_state(n, MGR_NODE_LEFT, now_ns);
	n->conn = NULL;
	n->promised = 0;
	return 0;
}

int registry_conn_closed(struct registry *r, uint32_t node, const void *conn,
			 uint64_t now_ns)
{
	struct node *n = find(r, node);

	if (!n || !conn || n->conn != conn)
		return -ENOENT;
	n->conn = NULL;
	if (n->state != MGR_NODE_ALIVE)
		return -ENOENT;
	set_state(n, MGR_NODE_SUSPECT, now_ns);
	return 0;
}

static uint64_t since(uint64_t then_ns, uint64_t now_ns)
{
	return now_ns > then_ns ? now_ns - then_ns : 0;
}

/* Whether n has been gone long enough to leave the table. */
static bool forgotten(const struct registry *r, const struct node *n,
		      uint64_t now_ns)
{
	uint64_t gone = since(n->state_ns, now_ns);

	if (n->state == MGR_NODE_SUSPECT)
		return gone > r->cfg.forget_after_ms * MS;
	return n->state == MGR_NODE_LEFT && gone > r->cfg.left_keep_ms * MS;
}

static void note(struct registry_change *out, size_t max, size_t k,
		 const struct node *n, uint8_t state, uint64_t now_ns)
{
	if (k >= max)
		return;
	out[k] = (struct registry_change){
		.node = n->id,
		.state = state,
		.old_state = n->state,
		.silent_ms = since(n->last_ns, now_ns) / MS,
		.adopted = n->rejoin_by_ns != 0,
	};
}

/* ALIVE and silent too long, or adopted and not back by its deadline. */
static bool silent(const struct node *n, uint64_t limit, uint64_t now_ns)
{
	if (n->state != MGR_NODE_ALIVE)
		return false;
	if (n->rejoin_by_ns)
		return now_ns > n->rejoin_by_ns;
	return since(n->last_ns, now_ns) > limit;
}

size_t registry_expire(struct registry *r, uint64_t now_ns,
		       struct registry_change *out, size_t max)
{
	uint64_t limit =
		(uint64_t)r->cfg.suspect_after * r->cfg.heartbeat_ms * MS;
	size_t i = 0, k = 0;

	while (i < r->count) {
		struct node *n = &r->nodes[i];

		if (forgotten(r, n, now_ns)) {
			note(out, max, k++, n, 0, now_ns);
			/* the last entry moves into this slot: look again */
			*n = r->nodes[--r->count];
			continue;
		}
		if (silent(n, limit, now_ns)) {
			note(out, max, k++, n, MGR_NODE_SUSPECT, now_ns);
			set_state(n, MGR_NODE_SUSPECT, now_ns);
			n->promised = 0;
			n->rejoin_by_ns = 0;
		}
		i++;
	}
	return k;
}

static uint64_t hint(const struct node *n)
{
	return n->counts.free > n->promised ? n->counts.free - n->promised : 0;
}

/* Tier order: compute before memserver, then most free, then lowest id. */
static int tier_cmp(const void *a, const void *b)
{
	const struct node *x = *(const struct node *const *)a;
	const struct node *y = *(const struct node *const *)b;
	uint64_t hx = hint(x), hy = hint(y);

	if (x->kind != y->kind)
		return x->kind == MGR_KIND_COMPUTE ? -1 : 1;
	if (hx != hy)
		return hx > hy ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

size_t registry_find_free(struct registry *r,
			  const struct proto_mgr_find_free *q,
			  struct mgr_free_entry *out, size_t max)
{
	struct node *cand[PROTO_MGR_MAX_NODES];
	uint64_t want = q->want, take;
	size_t i, n = 0;

	for (i = 0; i < r->count; i++) {
		struct node *nd = &r->nodes[i];

		if (nd->state == MGR_NODE_ALIVE && nd->conn &&
		    nd->id != q->node && hint(nd))
			cand[n++] = nd;
	}
	qsort(cand, n, sizeof(cand[0]), tier_cmp);
	if (n > max)
		n = max;
	for (i = 0; i < n; i++) {
		out[i].node = cand[i]->id;
		out[i].kind = cand[i]->kind;
		out[i].free_hint = hint(cand[i]);
		memcpy(out[i].addr, cand[i]->addr, sizeof(out[i].addr));
		take = MIN(want, out[i].free_hint);
		cand[i]->promised += take;
		want -= take;
	}
	return n;
}

static int id_cmp(const void *a, const void *b)
{
	const struct mgr_node_info *x = a, *y = b;

	return x->node < y->node ? -1 : x->node > y->node;
}

static void info_of(const struct node *nd, uint64_t now_ns, uint64_t since_ns,
		    struct mgr_node_info *o)
{
	memset(o, 0, sizeof(*o));
	o->traffic = nd->traffic;
	o->fresh = since_ns && nd->last_ns >= since_ns;
	o->node = nd->id;
	o->kind = nd->kind;
	o->wpolicy = nd->wpolicy;
	o->state = nd->state;
	o->block_size = nd->block_size;
	o->capacity = nd->capacity;
	o->counts = nd->counts;
	o->age_ms = since(nd->last_ns, now_ns) / MS;
	o->since_ms = since(nd->state_ns, now_ns) / MS;
	memcpy(o->addr, nd->addr, sizeof(o->addr));
}

size_t registry_nodes_since(const struct registry *r, uint64_t now_ns,
			    uint64_t since_ns, struct mgr_node_info *out,
			    size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < r->count && n < max; i++)
		info_of(&r->nodes[i], now_ns, since_ns, &out[n++]);
	qsort(out, n, sizeof(*out), id_cmp);
	return n;
}

size_t registry_nodes(const struct registry *r, uint64_t now_ns,
		      struct mgr_node_info *out, size_t max)
{
	return registry_nodes_since(r, now_ns, 0, out, max);
}

size_t registry_unheard(const struct registry *r, uint64_t since_ns)
{
	size_t i, n = 0;

	for (i = 0; i < r->count; i++)
		n += r->nodes[i].state == MGR_NODE_ALIVE && r->nodes[i].conn &&
		     r->nodes[i].last_ns < since_ns;
	return n;
}

bool registry_node(const struct registry *r, uint32_t node, uint64_t now_ns,
		   struct mgr_node_info *out)
{
	const struct node *nd = find(r, node);

	if (nd)
		info_of(nd, now_ns, 0, out);
	return nd != NULL;
}

size_t registry_live_conns(const struct registry *r, uint32_t except,
			   void **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < r->count && n < max; i++)
		if (r->nodes[i].state == MGR_NODE_ALIVE && r->nodes[i].conn &&
		    r->nodes[i].id != except)
			out[n++] = r->nodes[i].conn;
	return n;
}

size_t registry_live_count(const struct registry *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->count; i++)
		n += r->nodes[i].state == MGR_NODE_ALIVE;
	return n;
}

uint32_t registry_block_size(const struct registry *r)
{
	return r->block_size;
}
