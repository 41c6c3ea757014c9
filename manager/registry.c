// SPDX-License-Identifier: MIT
/*
 * The manager's registry (registry.h): a small table of nodes, scanned
 * linearly (a cluster has at most PROTO_MGR_MAX_NODES entries and the
 * manager is not on the data path). Dead nodes stay listed, so status shows
 * them and a returning node learns it had been declared dead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/util.h"
#include "registry.h"

struct node {
	uint32_t id;
	uint8_t kind;
	bool alive;
	uint32_t block_size;
	uint64_t capacity;
	struct proto_mgr_counts counts;
	uint64_t promised; /* handed out by FIND_FREE since the heartbeat */
	uint64_t last_ns;
	void *conn; /* registration connection while alive */
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

	if (!cfg->heartbeat_ms || !cfg->dead_after) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cfg = *cfg;
	if (!r->cfg.max_nodes || r->cfg.max_nodes > PROTO_MGR_MAX_NODES)
		r->cfg.max_nodes = PROTO_MGR_MAX_NODES;
	if (!r->cfg.dead_keep_ms)
		r->cfg.dead_keep_ms = REGISTRY_DEAD_KEEP_MS;
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

/* A slot for a new id: a free one, else the longest-dead one. */
static struct node *new_slot(struct registry *r)
{
	struct node *victim = NULL;
	size_t i;

	if (r->count < r->cfg.max_nodes)
		return &r->nodes[r->count++];
	for (i = 0; i < r->count; i++) {
		struct node *n = &r->nodes[i];

		if (!n->alive && (!victim || n->last_ns < victim->last_ns))
			victim = n;
	}
	return victim;
}

int registry_register(struct registry *r, const struct proto_mgr_register *reg,
		      void *conn, uint64_t now_ns, bool *was_dead)
{
	struct node *n = find(r, reg->node);

	if (n && n->alive && n->conn != conn)
		return -EBUSY;
	if (r->block_size && reg->block_size != r->block_size)
		return -EINVAL;
	*was_dead = n && !n->alive;
	if (!n) {
		n = new_slot(r);
		if (!n)
			return -ENOSPC;
	}
	r->block_size = reg->block_size;
	memset(n, 0, sizeof(*n));
	n->id = reg->node;
	n->kind = reg->kind;
	n->alive = true;
	n->block_size = reg->block_size;
	n->capacity = reg->capacity;
	n->counts.free = reg->free;
	n->last_ns = now_ns;
	n->conn = conn;
	memcpy(n->addr, reg->addr, sizeof(n->addr));
	return 0;
}

int registry_heartbeat(struct registry *r, const struct proto_mgr_heartbeat *hb,
		       uint64_t now_ns)
{
	struct node *n = find(r, hb->node);

	if (!n || !n->alive)
		return -ENOENT;
	if (hb->counts.free > n->capacity)
		return -EINVAL;
	n->counts = hb->counts;
	n->promised = 0;
	n->last_ns = now_ns;
	return 0;
}

static void bury(struct node *n)
{
	n->alive = false;
	n->conn = NULL;
}

int registry_kill(struct registry *r, uint32_t node, const void *conn)
{
	struct node *n = find(r, node);

	if (!n || !n->alive || n->conn != conn)
		return -ENOENT;
	bury(n);
	return 0;
}

size_t registry_expire(struct registry *r, uint64_t now_ns,
		       struct registry_death *out, size_t max)
{
	uint64_t limit =
		(uint64_t)r->cfg.dead_after * r->cfg.heartbeat_ms * 1000000ull;
	uint64_t keep = r->cfg.dead_keep_ms * 1000000ull;
	size_t i, dead = 0;

	for (i = 0; i < r->count; i++) {
		struct node *n = &r->nodes[i];

		/* long dead: drop it, moving the last entry into its slot */
		while (!n->alive && now_ns > n->last_ns &&
		       now_ns - n->last_ns > keep) {
			*n = r->nodes[--r->count];
			if (i == r->count)
				return dead;
		}
		if (!n->alive || now_ns < n->last_ns ||
		    now_ns - n->last_ns <= limit)
			continue;
		if (dead < max) {
			out[dead].node = n->id;
			out[dead].conn = n->conn;
		}
		dead++;
		bury(n);
	}
	return dead;
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

		if (nd->alive && nd->id != q->node && hint(nd))
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

size_t registry_nodes(const struct registry *r, uint64_t now_ns,
		      struct mgr_node_info *out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < r->count && n < max; i++) {
		const struct node *nd = &r->nodes[i];
		struct mgr_node_info *o = &out[n++];

		o->node = nd->id;
		o->kind = nd->kind;
		o->alive = nd->alive;
		o->block_size = nd->block_size;
		o->capacity = nd->capacity;
		o->counts = nd->counts;
		o->age_ms = now_ns > nd->last_ns
				    ? (now_ns - nd->last_ns) / 1000000ull
				    : 0;
		memcpy(o->addr, nd->addr, sizeof(o->addr));
	}
	qsort(out, n, sizeof(*out), id_cmp);
	return n;
}

size_t registry_live_conns(const struct registry *r, uint32_t except,
			   void **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < r->count && n < max; i++)
		if (r->nodes[i].alive && r->nodes[i].id != except)
			out[n++] = r->nodes[i].conn;
	return n;
}

size_t registry_live_count(const struct registry *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->count; i++)
		n += r->nodes[i].alive;
	return n;
}

uint32_t registry_block_size(const struct registry *r)
{
	return r->block_size;
}
