// SPDX-License-Identifier: MIT
/*
 * The simulator's hooks in the libraries (include/cmp/util.h): the
 * injectable clock, stepped mode (mem:// streams in memory, a server
 * serving on the writer's thread, no threads started by a server, a
 * pool's cluster, a remote client, the manager or its client; each loop
 * run by its step function) and the pool that keeps no block contents.
 * The process runs in stepped mode on the test's clock from main() on;
 * every test checks that no library started a thread.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster-internal.h"
#include "cmp.h"
#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "manager.h"
#include "remote.h"

#define BS 4096u
#define MS 1000000ull

static uint64_t vnow = 1000 * MS;

static uint64_t test_clock(void *ctx)
{
	return *(uint64_t *)ctx;
}

/* Threads of this process (/proc/self/status). */
static int threads(void)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "r");
	int n = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void clock_hook_drives_cmp_now_ns(void **state)
{
	uint64_t t;

	vnow = 5 * MS;
	assert_int_equal(cmp_now_ns(), 5 * MS);
	vnow += 7;
	assert_int_equal(cmp_now_ns(), 5 * MS + 7);
	/* back on the monotonic clock, then on ours again */
	cmp_set_clock(NULL, NULL);
	t = cmp_now_ns();
	assert_true(t > 0 && t != 5 * MS + 7);
	assert_true(cmp_now_ns() >= t);
	cmp_set_clock(test_clock, &vnow);
	assert_int_equal(cmp_now_ns(), 5 * MS + 7);
	vnow = 1000 * MS;
}

/* ---- a server served on the writer's thread ---- */

struct echo {
	pthread_t caller;
	int frames, opened, closed;
	bool same_thread;
};

static int echo_handle(void *ctx, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	struct echo *e = ctx;
	uint8_t buf[64];
	struct iovec iov = {buf, h->len};
	int ret;

	e->frames++;
	e->same_thread = pthread_equal(pthread_self(), e->caller);
	ret = server_read_payload(sc, h, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	/* PING is answered; STATUS is left unanswered */
	if (h->op == WIRE_OP_STATUS)
		return 0;
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

static int echo_open(void *ctx, struct server_conn *sc)
{
	((struct echo *)ctx)->opened++;
	return 0;
}

static void echo_close(void *ctx, struct server_conn *sc)
{
	((struct echo *)ctx)->closed++;
}

static void stepped_server_answers_before_the_write_returns(void **state)
{
	struct echo e = {.caller = pthread_self()};
	int before = threads();
	struct server *s = server_create(&(struct server_config){
		.listen_addr = "mem://step-echo",
		.name = "echo",
		.handle = echo_handle,
		.on_open = echo_open,
		.on_close = echo_close,
		.ctx = &e,
	});
	struct wire_hdr h = {.op = WIRE_OP_PING, .id = 7}, rh;
	struct iovec iov = {"hello", 5};
	struct conn *c;
	char got[8] = "";

	assert_non_null(s);
	assert_int_equal(conn_connect("mem://step-echo", 1000, &c), 0);
	assert_int_equal(auth_client(c, NULL, 9, 99, 1000), 0);
	assert_int_equal(e.opened, 1);
	assert_int_equal(wire_send(c, &h, &iov, 1), 0);
	/* served on this thread, before the send returned */
	assert_int_equal(e.frames, 1);
	assert_true(e.same_thread);
	assert_true(conn_pending(c));
	assert_int_equal(wire_recv_hdr(c, &rh), 0);
	assert_int_equal(rh.id, 7);
	assert_true(rh.flags & WIRE_F_REPLY);
	assert_int_equal(wire_recv_payload(c, &rh, &(struct iovec){got, 5}, 1),
			 0);
	assert_memory_equal(got, "hello", 5);
	/* a request left unanswered: the read fails at once, never waits */
	h.op = WIRE_OP_STATUS;
	assert_int_equal(wire_send(c, &h, &iov, 1), 0);
	assert_false(conn_pending(c));
	assert_int_equal(wire_recv_hdr(c, &rh), -EAGAIN);
	/* the client goes: the server ends its connection at once */
	conn_destroy(c);
	assert_int_equal(e.closed, 1);
	/* a second client, still open when the server goes */
	assert_int_equal(conn_connect("mem://step-echo", 1000, &c), 0);
	assert_int_equal(auth_client(c, NULL, 9, 99, 1000), 0);
	assert_int_equal(threads(), before);
	server_destroy(s);
	assert_int_equal(e.closed, 2);
	assert_int_equal(wire_recv_hdr(c, &rh), -ECONNRESET);
	conn_destroy(c);
	assert_int_equal(conn_connect("mem://step-echo", 1000, &c),
			 -ECONNREFUSED);
}

/* ---- the pool without contents ---- */

static void pool_without_contents_shares_one_block(void **state)
{
	struct pool *p = pool_create(&(struct pool_config){
		.local_bytes = 64 * BS,
		.block_size = BS,
		.no_contents = true,
	});
	struct pool_counts pc;
	uint32_t h[64];
	char buf[16];

	assert_non_null(p);
	assert_int_equal(pool_local_blocks(p), 64);
	/* every block is the one block the region has */
	assert_ptr_equal(pool_block_addr(p, 0), pool_block_addr(p, 63));
	for (int i = 0; i < 64; i++)
		assert_int_equal(pool_alloc(p, true, &h[i]), 0);
	assert_int_equal(pool_alloc(p, true, &(uint32_t){0}), -ENOSPC);
	assert_int_equal(pool_write(p, h[5], 100, "abc", 3), 0);
	assert_int_equal(pool_read(p, h[5], 100, buf, 3), 0);
	pool_get_counts(p, &pc);
	assert_int_equal(pc.blocks[POOL_LLL], 64);
	assert_int_equal(pc.blocks[POOL_FREE], 0);
	for (int i = 0; i < 64; i++)
		pool_free(p, h[i]);
	pool_get_counts(p, &pc);
	assert_int_equal(pc.blocks[POOL_FREE], 64);
	assert_true(pool_meta_bytes(p) > 64 * 16);
	pool_destroy(p);
}

/* ---- a small cluster, stepped ---- */

#define NODES 2
#define LOCAL 16u

struct world {
	struct manager *mgr;
	struct pool *pool[NODES];
	struct cluster *cl[NODES];
};

/* A tick of 10 ms: the manager, then every node. */
static void tick(struct world *w, int n)
{
	while (n--) {
		vnow += 10 * MS;
		manager_step(w->mgr);
		for (int i = 0; i < NODES; i++)
			if (w->cl[i])
				cluster_step(w->cl[i]);
	}
}

static struct pool_counts counts(struct world *w, int i)
{
	struct pool_counts pc;

	pool_get_counts(w->pool[i], &pc);
	return pc;
}

static void world_start(struct world *w, uint32_t local)
{
	char addr[32];

	w->mgr = manager_create(&(struct manager_config){
		.listen_addr = "mem://step-mgr",
		.heartbeat_ms = 100,
	});
	assert_non_null(w->mgr);
	for (int i = 0; i < NODES; i++) {
		w->pool[i] = pool_create(&(struct pool_config){
			.local_bytes = local * BS,
			.block_size = BS,
			.no_contents = true,
		});
		assert_non_null(w->pool[i]);
		snprintf(addr, sizeof(addr), "mem://step-node-%d", i);
		w->cl[i] = cluster_create(&(struct cluster_config){
			.pool = w->pool[i],
			.manager_addr = "mem://step-mgr",
			.listen_addr = addr,
			.node_id = 100 + (uint32_t)i,
			.lease_ms = 10000,
		});
		assert_non_null(w->cl[i]);
	}
	tick(w, 1);
	for (int i = 0; i < NODES; i++)
		assert_int_equal(cluster_wait_registered(w->cl[i], 0), 0);
}

static void world_stop(struct world *w)
{
	for (int i = 0; i < NODES; i++)
		cluster_destroy(w->cl[i]);
	manager_destroy(w->mgr);
	for (int i = 0; i < NODES; i++)
		pool_destroy(w->pool[i]);
}

static void
stepped_cluster_borrows_pulls_home_and_hears_of_a_death(void **state)
{
	struct mgr_node_info info[4];
	int before = threads();
	struct world w = {0};
	uint32_t h[LOCAL + 4];
	size_t n;

	world_start(&w, LOCAL);
	tick(&w, 20); /* the heartbeats tell the manager what is free */
	/* node 0 fills its memory and four more: they go to node 1 */
	for (unsigned int i = 0; i < LOCAL + 4; i++)
		assert_int_equal(pool_alloc(w.pool[0], false, &h[i]), 0);
	tick(&w, 5);
	assert_int_equal(counts(&w, 0).blocks[POOL_LLL] +
				 counts(&w, 0).blocks[POOL_LRL],
			 LOCAL + 4);
	assert_true(counts(&w, 0).blocks[POOL_LRL] >= 4);
	assert_int_equal(counts(&w, 1).blocks[POOL_RLL],
			 counts(&w, 0).blocks[POOL_LRL]);
	/* in debt: it offers nothing (it would lend nothing) */
	assert_int_equal(pool_lendable(w.pool[0]), 0);
	/*
	 * Freeing the newest (local) blocks: the borrowed ones (the oldest,
	 * moved out as the coldest) come home at the next steps.
	 */
	for (unsigned int i = LOCAL - 4; i < LOCAL + 4; i++)
		pool_free(w.pool[0], h[i]);
	tick(&w, 5);
	assert_int_equal(counts(&w, 0).blocks[POOL_LRL], 0);
	assert_int_equal(counts(&w, 1).blocks[POOL_RLL], 0);
	assert_true(counts(&w, 0).homecomings >= 4);
	assert_int_equal(threads(), before);

	/* node 1 dies: the manager finds it suspect once it is silent */
	cluster_abandon(w.cl[1]);
	w.cl[1] = NULL;
	tick(&w, 60);
	assert_int_equal(
		mgr_query_nodes("mem://step-mgr", NULL, 1000, info, 4, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(info[i].state, info[i].node == 101
							? MGR_NODE_SUSPECT
							: MGR_NODE_ALIVE);
	cluster_destroy(w.cl[0]);
	manager_destroy(w.mgr);
	for (int i = 0; i < NODES; i++)
		pool_destroy(w.pool[i]);
	assert_int_equal(threads(), before);
}

/*
 * A node that lends and has a free block or more, but fewer than its
 * evictor keeps ahead: the evictor's step ends (it once took the free
 * block and put it back, for ever).
 */
static void evictor_ahead_ends_while_lending(void **state)
{
	const uint32_t local = 128; /* works ahead below 2, up to 4 free */
	struct world w = {0};
	uint32_t h;

	world_start(&w, local);
	tick(&w, 20);
	/* node 0 borrows from node 1 */
	for (unsigned int i = 0; i < local + 8; i++)
		assert_int_equal(pool_alloc(w.pool[0], false, &h), 0);
	tick(&w, 5);
	assert_true(counts(&w, 1).blocks[POOL_RLL] >= 8);
	/* node 1 uses its memory down to one free block: its evictor runs */
	while (counts(&w, 1).blocks[POOL_FREE] > 1)
		assert_int_equal(pool_alloc(w.pool[1], false, &h), 0);
	tick(&w, 5);
	assert_true(counts(&w, 1).blocks[POOL_FREE] >= 1);
	world_stop(&w);
}

/* What a node offers the cluster is what it would lend. */
static void lendable_keeps_the_reserve(void **state)
{
	struct pool *p = pool_create(&(struct pool_config){
		.local_bytes = 64 * BS,
		.block_size = BS,
		.no_contents = true,
	});
	uint32_t h;

	assert_non_null(p);
	assert_int_equal(pool_lendable(p), 64);
	/* using memory itself, it keeps 64/32 blocks for its own use */
	assert_int_equal(pool_alloc(p, false, &h), 0);
	assert_int_equal(pool_lendable(p), 63 - 2);
	pool_set_lending(p, false);
	assert_int_equal(pool_lendable(p), 0);
	pool_destroy(p);
}

/*
 * A node learns where another serves from the manager's list of every
 * node: beyond the first 64 too (it once looked at 64 only, so notices
 * to later owners never left).
 */
static void node_learns_addresses_beyond_the_first_64(void **state)
{
	enum { MANY = 70 };
	struct manager *m = manager_create(&(struct manager_config){
		.listen_addr = "mem://step-mgr-many",
	});
	struct pool *p[MANY];
	struct cluster *c[MANY];
	char addr[PROTO_BLOCK_ADDR_LEN];

	assert_non_null(m);
	for (int i = 0; i < MANY; i++) {
		p[i] = pool_create(&(struct pool_config){
			.local_bytes = 4 * BS,
			.block_size = BS,
			.no_contents = true,
		});
		snprintf(addr, sizeof(addr), "mem://step-many-%d", i);
		c[i] = cluster_create(&(struct cluster_config){
			.pool = p[i],
			.manager_addr = "mem://step-mgr-many",
			.listen_addr = addr,
			.node_id = 1000 + (uint32_t)i,
		});
		assert_non_null(c[i]);
		/* registered before the next one: nobody tells it of them */
		cluster_step(c[i]);
		assert_true(mgr_client_registered(c[i]->mgr));
	}
	/* the last one learns of the 68th, 67th in the manager's list */
	assert_int_equal(remote_node_addr(c[MANY - 1]->remote, 1000 + 67, addr),
			 -ENOENT);
	cluster_learn_node(c[MANY - 1], 1000 + 67, NULL);
	assert_int_equal(remote_node_addr(c[MANY - 1]->remote, 1000 + 67, addr),
			 0);
	assert_string_equal(addr, "mem://step-many-67");
	for (int i = 0; i < MANY; i++) {
		cluster_destroy(c[i]);
		pool_destroy(p[i]);
	}
	manager_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clock_hook_drives_cmp_now_ns),
		cmocka_unit_test(
			stepped_server_answers_before_the_write_returns),
		cmocka_unit_test(pool_without_contents_shares_one_block),
		cmocka_unit_test(
			stepped_cluster_borrows_pulls_home_and_hears_of_a_death),
		cmocka_unit_test(evictor_ahead_ends_while_lending),
		cmocka_unit_test(lendable_keeps_the_reserve),
		cmocka_unit_test(node_learns_addresses_beyond_the_first_64),
	};

	log_init("test-stepped", LOG_LVL_WARN);
	/* nothing waits in stepped mode: a step that does not end is a bug */
	alarm(30);
	cmp_set_clock(test_clock, &vnow);
	cmp_set_stepped(true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
