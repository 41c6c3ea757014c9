// SPDX-License-Identifier: MIT
/*
 * One-sided access, the owner's side (remote.h): which of our loans have
 * a memory window, and on which connection. A provider binds a window
 * per loan only on the connection whose ALLOC asked for it, so per
 * provider we designate one connection for that (node->rma: ALLOCs prefer
 * it, other requests avoid it) and keep its windows in a table by block:
 * (block, epoch, rkey). Windows live and die with that connection; loans
 * do not: when it goes, its table goes with it and those loans are
 * reached with messages, which always work.
 *
 * The table is sized when the connection is made (at most
 * REMOTE_RMA_MAX_WINDOWS, or the provider's block count), never on a
 * request path; an ALLOC asks for windows only while the table has room
 * for all it may get. Lookups and updates run under remote.lock: open
 * addressing with linear probing, so each is a few probes.
 *
 * A window the provider revoked (the loan ended: FREE, GOODBYE, lease,
 * reconciliation) makes the NIC refuse our access, which breaks that
 * connection. We then retire it and ask again with a message: the
 * provider answers with the data, or with STALE for a loan that ended.
 * A refused access never returns bytes.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "remote-internal.h"

struct rma_win {
	uint32_t block;
	uint32_t epoch; /* 0: an empty slot (no loan has epoch 0) */
	uint32_t rkey;
};

struct rma_map {
	uint64_t base, len; /* the provider's store, from ALLOC replies */
	uint32_t cap, count;
	uint32_t mask; /* slots - 1, a power of two >= 2 * cap */
	bool none;     /* the provider grants no windows: stop asking */
	struct rma_win slot[];
};

struct rma_map *remote_rma_map_create(uint32_t cap)
{
	uint32_t slots = 16;
	struct rma_map *m;

	if (!cap)
		return NULL;
	while (slots < 2 * cap)
		slots <<= 1;
	m = calloc(1, sizeof(*m) + (size_t)slots * sizeof(m->slot[0]));
	if (!m)
		return NULL;
	m->cap = cap;
	m->mask = slots - 1;
	return m;
}

void remote_rma_map_destroy(struct rma_map *m)
{
	free(m);
}

static uint32_t home(const struct rma_map *m, uint32_t block)
{
	return (block * 2654435761u) & m->mask;
}

/* The slot of block, or of the empty slot where it would go. */
static uint32_t find(const struct rma_map *m, uint32_t block)
{
	uint32_t i = home(m, block);

	while (m->slot[i].epoch && m->slot[i].block != block)
		i = (i + 1) & m->mask;
	return i;
}

static void put(struct rma_map *m, uint32_t block, uint32_t epoch,
		uint32_t rkey)
{
	uint32_t i = find(m, block);

	if (!m->slot[i].epoch) {
		if (m->count == m->cap)
			return; /* the ALLOC asked only while there was room */
		m->count++;
	}
	m->slot[i] = (struct rma_win){block, epoch, rkey};
}

/* Linear probing's deletion: later entries of the run move up. */
static void del(struct rma_map *m, uint32_t block, uint32_t epoch)
{
	uint32_t i = find(m, block), j;

	if (!m->slot[i].epoch || m->slot[i].epoch != epoch)
		return;
	m->slot[i].epoch = 0;
	m->count--;
	for (j = (i + 1) & m->mask; m->slot[j].epoch; j = (j + 1) & m->mask) {
		uint32_t h = home(m, m->slot[j].block);

		/* moves up unless its home lies cyclically in (i, j] */
		if (((j - h) & m->mask) >= ((j - i) & m->mask)) {
			m->slot[i] = m->slot[j];
			m->slot[j].epoch = 0;
			i = j;
		}
	}
}

bool remote_rma_want(struct remote *r, struct rconn *rc, uint32_t n)
{
	struct rma_map *m;
	bool want;

	pthread_mutex_lock(&r->lock);
	m = rc->windows;
	want = m && !m->none && rc->node->rma == rc && m->count + n <= m->cap;
	pthread_mutex_unlock(&r->lock);
	return want;
}

void remote_rma_learn(struct remote *r, struct rconn *rc,
		      const struct proto_block_alloc_rep *rep,
		      const struct proto_block_ref *refs, const uint32_t *rkeys)
{
	struct rma_map *m;

	pthread_mutex_lock(&r->lock);
	m = rc->node->rma == rc ? rc->windows : NULL;
	if (m && !(rep->flags & PROTO_BLOCK_ALLOC_WINDOWS)) {
		m->none = true;
		log_info("remote: node %u at %s grants no memory windows: our "
			 "blocks there travel as messages",
			 rc->node->id, conn_peer(rc->c));
	} else if (m) {
		m->base = rep->base;
		m->len = rep->len;
		for (uint32_t i = 0; i < rep->count; i++)
			if (rkeys[i])
				put(m, refs[i].block, refs[i].epoch, rkeys[i]);
	}
	pthread_mutex_unlock(&r->lock);
}

/* The window of (block, epoch), or false (lock held). */
static bool window_locked(struct remote *r, const struct rma_map *m,
			  uint32_t block, uint32_t epoch,
			  struct conn_region *win)
{
	uint32_t i = find(m, block);

	if (!m->slot[i].epoch || m->slot[i].epoch != epoch)
		return false;
	*win = (struct conn_region){
		.addr = m->base + (uint64_t)block * r->block_size,
		.len = r->block_size,
		.rkey = m->slot[i].rkey,
	};
	return true;
}

int remote_rma_get(struct remote *r, uint32_t node,
		   const struct proto_block_ref *refs,
		   const struct proto_block_extent *ext, uint32_t n,
		   struct rconn **rc, struct conn_region *win)
{
	struct remote_node *nd;
	struct rconn *c;
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	nd = remote_find_node_locked(r, node);
	c = nd && nd->state == REMOTE_UP ? nd->rma : NULL;
	if (!c || c->gen != nd->gen || !c->windows || !c->windows->count)
		ret = -ENOENT;
	for (uint32_t i = 0; i < n && !ret; i++)
		if (!window_locked(
			    r, c->windows, refs ? refs[i].block : ext[i].block,
			    refs ? refs[i].epoch : ext[i].epoch, &win[i]))
			ret = -ENOENT;
	if (!ret) {
		c->rma_users++;
		*rc = c;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void remote_rma_put(struct remote *r, struct rconn *rc)
{
	bool unused;

	pthread_mutex_lock(&r->lock);
	unused = !--rc->rma_users && !rc->linked;
	pthread_mutex_unlock(&r->lock);
	if (unused)
		remote_rconn_free(rc);
}

int remote_rma_failed(struct remote *r, struct rconn *rc, int err)
{
	struct remote_node *n = rc->node;

	if (err == -ETIMEDOUT) {
		remote_suspect(r, n, rc->gen, err, true);
		atomic_fetch_add(&r->errors, 1);
		return -EIO;
	}
	pthread_mutex_lock(&r->lock);
	remote_retire_locked(r, rc);
	pthread_mutex_unlock(&r->lock);
	conn_shutdown(rc->c);
	log_warn_rl("remote: node %u at %s: one-sided access refused or "
		    "broken (%s); that connection is closed, the request "
		    "goes as a message",
		    n->id, conn_peer(rc->c), strerror(-err));
	return 1;
}

static struct rma_map *map_of_locked(struct remote *r, uint32_t node)
{
	struct remote_node *n = remote_find_node_locked(r, node);

	return n && n->rma ? n->rma->windows : NULL;
}

void remote_rma_forget(struct remote *r, uint32_t node,
		       const struct proto_block_ref *refs, uint32_t n)
{
	struct rma_map *m;

	pthread_mutex_lock(&r->lock);
	m = map_of_locked(r, node);
	for (uint32_t i = 0; m && m->count && i < n; i++)
		del(m, refs[i].block, refs[i].epoch);
	pthread_mutex_unlock(&r->lock);
}

void remote_rma_forget_all(struct remote *r, uint32_t node)
{
	struct rma_map *m;

	pthread_mutex_lock(&r->lock);
	m = map_of_locked(r, node);
	if (m) {
		memset(m->slot, 0, ((size_t)m->mask + 1) * sizeof(m->slot[0]));
		m->count = 0;
	}
	pthread_mutex_unlock(&r->lock);
}
