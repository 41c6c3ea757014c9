// SPDX-License-Identifier: MIT
/*
 * What cmp-sim measures, and the invariants it checks.
 *
 * A sample adds up every live node's lists and counters (the pools' own,
 * the manager's requests by type, the bookkeeping's bytes). The CSV has
 * one row per sample; the per-allocation and per-interval columns are
 * over the interval since the previous row:
 *   mgr_per_alloc       requests the manager served / blocks allocated
 *   find_free_per_alloc FIND_FREE requests / blocks allocated
 *   could_be_local      placement against the ideal: blocks of a node's
 *                       data elsewhere (LRL) while its own memory is free
 *                       or lent out (min(LRL, free + RLL), summed)
 *   debt_nodes          nodes lending (RLL > 0) while they borrow (LRL > 0)
 *   meta_per_block      the nodes' bookkeeping bytes (pool, loan table,
 *                       providers' table) / blocks of capacity; then by
 *                       part: meta_pool_, meta_loans_, meta_providers_
 *   heap_per_block      the process heap in use / blocks of capacity: all
 *                       of it, connections and the simulator included
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmp.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "manager.h"
#include "sim.h"
#include "store.h"

static void sample_compute(struct sim_node *n, struct sim_sample *s)
{
	struct cluster_stats cs;
	struct pool_counts pc;
	uint64_t lrl, rll;

	pool_get_counts(n->pool, &pc);
	cluster_get_stats(n->cl, &cs);
	lrl = pc.blocks[POOL_LRL];
	rll = pc.blocks[POOL_RLL];
	s->compute++;
	s->capacity += pc.local_blocks;
	s->data += pc.handles;
	s->lll += pc.blocks[POOL_LLL];
	s->lrl += lrl;
	s->rll += rll;
	s->free += pc.blocks[POOL_FREE];
	s->rrl += pc.blocks[POOL_RRL];
	s->could_be_local += MIN(lrl, pc.blocks[POOL_FREE] + rll);
	s->debt_nodes += lrl && rll;
	s->evictions += pc.evictions;
	s->homecomings += pc.homecomings;
	s->lent_moved += pc.lent_moved;
	s->followed += pc.followed;
	s->lost += pc.lost;
	s->meta_bytes += cs.meta_bytes;
	s->meta_pool += pool_meta_bytes(n->pool);
	s->meta_loans += peer_meta_bytes(n->peer);
	s->meta_remote += cs.meta_bytes - pool_meta_bytes(n->pool) -
			  peer_meta_bytes(n->peer);
	s->conns += cs.provider_conns;
}

static void sample_memserver(struct sim_node *n, struct sim_sample *s)
{
	uint32_t total = ms_store_total(n->store);

	s->memservers++;
	s->capacity += total;
	s->ms_lent += total - ms_store_free_count(n->store);
	s->rrl += peer_forwarding(n->peer);
	s->meta_bytes += peer_meta_bytes(n->peer);
	s->meta_loans += peer_meta_bytes(n->peer);
}

void sim_sample(struct sim_world *w, double wall_s, struct sim_sample *s)
{
	uint64_t req[WIRE_OP_MAX];

	memset(s, 0, sizeof(*s));
	s->t_s = (double)w->now_ns / 1e9;
	s->wall_s = wall_s;
	for (uint32_t i = 0; i < w->nnodes; i++) {
		struct sim_node *n = &w->node[i];

		if (n->state != NODE_ALIVE && n->state != NODE_LEAVING)
			continue;
		if (n->memserver)
			sample_memserver(n, s);
		else
			sample_compute(n, s);
	}
	s->evictions += w->retired.evictions;
	s->homecomings += w->retired.homecomings;
	s->lent_moved += w->retired.lent_moved;
	s->followed += w->retired.followed;
	s->allocs = w->tot.allocs;
	s->alloc_fail = w->tot.alloc_fail;
	manager_requests(w->mgr, req);
	for (unsigned int op = 0; op < WIRE_OP_MAX; op++)
		s->mgr_msgs += req[op];
	s->find_free = req[WIRE_OP_FIND_FREE];
	s->heartbeats = req[WIRE_OP_HEARTBEAT];
	s->registers = req[WIRE_OP_REGISTER];
	s->nodes_queries = req[WIRE_OP_NODES];
	s->heap_bytes = mallinfo2().uordblks;
}

void sim_csv_header(FILE *f)
{
	fprintf(f, "t_s,wall_s,compute,memservers,capacity,data,lll,lrl,rll,"
		   "ms_lent,free,rrl,allocs,alloc_fail,mgr_msgs,find_free,"
		   "heartbeats,mgr_per_alloc,find_free_per_alloc,"
		   "could_be_local,remote_pct,evictions,homecomings,"
		   "lent_moved,followed,lost,debt_nodes,meta_per_block,"
		   "heap_per_block,conns,meta_pool_per_block,"
		   "meta_loans_per_block,meta_providers_per_block\n");
}

static double per(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0;
}

void sim_csv_row(FILE *f, const struct sim_sample *s,
		 const struct sim_sample *prev)
{
	static const struct sim_sample zero;
	const struct sim_sample *p = prev ? prev : &zero;
	uint64_t allocs = s->allocs - p->allocs;

	fprintf(f,
		"%.2f,%.2f,%u,%u,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,"
		"%llu,%llu,%llu,%llu,%llu,%.4f,%.4f,%llu,%.2f,%llu,%llu,%llu,"
		"%llu,%llu,%u,%.1f,%.1f,%llu,%.1f,%.1f,%.1f\n",
		s->t_s, s->wall_s, s->compute, s->memservers,
		(unsigned long long)s->capacity, (unsigned long long)s->data,
		(unsigned long long)s->lll, (unsigned long long)s->lrl,
		(unsigned long long)s->rll, (unsigned long long)s->ms_lent,
		(unsigned long long)s->free, (unsigned long long)s->rrl,
		(unsigned long long)s->allocs,
		(unsigned long long)s->alloc_fail,
		(unsigned long long)s->mgr_msgs,
		(unsigned long long)s->find_free,
		(unsigned long long)s->heartbeats,
		per(s->mgr_msgs - p->mgr_msgs, allocs),
		per(s->find_free - p->find_free, allocs),
		(unsigned long long)s->could_be_local,
		100.0 * per(s->lrl, s->data), (unsigned long long)s->evictions,
		(unsigned long long)s->homecomings,
		(unsigned long long)s->lent_moved,
		(unsigned long long)s->followed, (unsigned long long)s->lost,
		s->debt_nodes, per(s->meta_bytes, s->capacity),
		per(s->heap_bytes, s->capacity), (unsigned long long)s->conns,
		per(s->meta_pool, s->capacity), per(s->meta_loans, s->capacity),
		per(s->meta_remote, s->capacity));
}

/* ---- the invariants ---- */

struct tally {
	uint32_t *count;   /* [nnodes]: the owner's loans on each provider */
	uint64_t *claimed; /* [nnodes]: loans owners claim on each provider */
	uint32_t *touched; /* providers with count != 0 */
	size_t ntouched;
	uint64_t on_dead, on_left, mismatch;
	int failed;
};

static bool live(const struct sim_node *n)
{
	return n->state == NODE_ALIVE || n->state == NODE_LEAVING;
}

static void fail(struct tally *t, FILE *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct tally *t, FILE *out, const char *fmt, ...)
{
	va_list ap;

	if (t->failed++ < 20) {
		va_start(ap, fmt);
		fputs("cmp-sim: invariant: ", out);
		vfprintf(out, fmt, ap);
		fputc('\n', out);
		va_end(ap);
	}
}

/* A node's lists add up, and it holds every block it was given. */
static void check_lists(struct sim_node *n, struct tally *t, FILE *out)
{
	struct pool_counts pc;

	pool_get_counts(n->pool, &pc);
	if (pc.blocks[POOL_FREE] + pc.blocks[POOL_LLL] + pc.blocks[POOL_RLL] !=
	    pc.local_blocks)
		fail(t, out, "node %u: free %llu + LLL %llu + RLL %llu != %llu",
		     n->id, (unsigned long long)pc.blocks[POOL_FREE],
		     (unsigned long long)pc.blocks[POOL_LLL],
		     (unsigned long long)pc.blocks[POOL_RLL],
		     (unsigned long long)pc.local_blocks);
	if (pc.handles != pc.blocks[POOL_LLL] + pc.blocks[POOL_LRL] + pc.lost ||
	    pc.handles != n->nh)
		fail(t, out,
		     "node %u: %zu blocks of data, %llu handles, LLL %llu "
		     "LRL %llu lost %llu",
		     n->id, n->nh, (unsigned long long)pc.handles,
		     (unsigned long long)pc.blocks[POOL_LLL],
		     (unsigned long long)pc.blocks[POOL_LRL],
		     (unsigned long long)pc.lost);
	if (pc.lost)
		fail(t, out, "node %u lost %llu blocks", n->id,
		     (unsigned long long)pc.lost);
	if (pc.blocks[POOL_LRL] && pc.blocks[POOL_RLL])
		fail(t, out, "node %u lends %llu blocks while it borrows %llu",
		     n->id, (unsigned long long)pc.blocks[POOL_RLL],
		     (unsigned long long)pc.blocks[POOL_LRL]);
}

/* Owner o's loans, provider by provider, against what each holds for o. */
static void check_owner(struct sim_world *w, struct sim_node *o,
			struct tally *t, FILE *out)
{
	static struct pool_ref refs[POOL_RELEASE_MAX];
	static uint32_t tags[POOL_RELEASE_MAX];
	uint32_t cursor = 0, n;

	t->ntouched = 0;
	while (cursor != UINT32_MAX) {
		n = pool_loans_on(o->pool, 0, &cursor, refs, tags,
				  POOL_RELEASE_MAX);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t p = refs[i].node - 1;

			if (p >= w->nnodes) {
				fail(t, out, "node %u names node %u", o->id,
				     refs[i].node);
				continue;
			}
			if (!t->count[p]++)
				t->touched[t->ntouched++] = p;
		}
	}
	for (size_t k = 0; k < t->ntouched; k++) {
		struct sim_node *p = &w->node[t->touched[k]];
		uint32_t c = t->count[t->touched[k]], held;

		t->count[t->touched[k]] = 0;
		if (p->state == NODE_DEAD) {
			t->on_dead += c;
			continue;
		}
		if (!live(p)) {
			t->on_left += c;
			fail(t, out,
			     "node %u names %u blocks on node %u, "
			     "which left",
			     o->id, c, p->id);
			continue;
		}
		t->claimed[p->id - 1] += c;
		held = peer_lent_to(p->peer, o->id);
		if (held != c) {
			t->mismatch++;
			fail(t, out,
			     "node %u holds %u loans on node %u, "
			     "which holds %u for it",
			     o->id, c, p->id, held);
		}
	}
}

static const char *const state_names[] = {
	[NODE_ABSENT] = "absent",   [NODE_ALIVE] = "alive",
	[NODE_LEAVING] = "leaving", [NODE_LEFT] = "left",
	[NODE_DEAD] = "dead",
};

/* Who provider p lends to that does not claim it (the first few). */
static void unclaimed(struct sim_world *w, struct sim_node *p, FILE *out)
{
	int shown = 0;

	for (uint32_t i = 0; i < w->nnodes && shown < 4; i++) {
		uint32_t held = peer_lent_to(p->peer, i + 1);

		if (!held || (live(&w->node[i]) && !w->node[i].memserver))
			continue;
		fprintf(out, "cmp-sim:   %u of them for node %u (%s)\n", held,
			i + 1, state_names[w->node[i].state]);
		shown++;
	}
}

/* Every loan a provider holds is claimed by a live owner. */
static void check_provider(struct sim_world *w, struct sim_node *p,
			   struct tally *t, FILE *out)
{
	uint64_t lent = peer_lent(p->peer);
	uint32_t fwd = peer_forwarding(p->peer);

	if (lent != t->claimed[p->id - 1]) {
		fail(t, out, "node %u lends %llu blocks; owners claim %llu",
		     p->id, (unsigned long long)lent,
		     (unsigned long long)t->claimed[p->id - 1]);
		if (t->failed < 20)
			unclaimed(w, p, out);
	}
	if (fwd)
		fail(t, out, "node %u keeps %u forwarding records", p->id, fwd);
	if (p->state == NODE_LEAVING)
		fail(t, out, "node %u is still leaving", p->id);
}

int sim_check(struct sim_world *w, FILE *out)
{
	struct tally t = {
		.count = calloc(w->nnodes, sizeof(*t.count)),
		.claimed = calloc(w->nnodes, sizeof(*t.claimed)),
		.touched = calloc(w->nnodes, sizeof(*t.touched)),
	};

	if (!t.count || !t.claimed || !t.touched) {
		fail(&t, out, "no memory to check");
		goto out_free;
	}
	for (uint32_t i = 0; i < w->nnodes; i++) {
		struct sim_node *n = &w->node[i];

		if (!live(n) || n->memserver)
			continue;
		check_lists(n, &t, out);
		check_owner(w, n, &t, out);
	}
	for (uint32_t i = 0; i < w->nnodes; i++)
		if (live(&w->node[i]))
			check_provider(w, &w->node[i], &t, out);
	fprintf(out,
		"cmp-sim: check: %d invariant%s failed; %llu blocks of live "
		"owners on nodes that died (unreachable, not lost)\n",
		t.failed, t.failed == 1 ? "" : "s",
		(unsigned long long)t.on_dead);
out_free:
	free(t.count);
	free(t.claimed);
	free(t.touched);
	return t.failed;
}
