// SPDX-License-Identifier: MIT
/*
 * The manager's registry, driven by a fake clock: tier order, exclusion,
 * the node states (suspect by missed heartbeats and by closed connections,
 * left by LEAVE, alive again by registering), replacement of a connection
 * that still looks open, duplicate ids, forgetting the long gone, and a
 * manager taking over another one's list (adopt) or giving up its own
 * (clear).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "registry.h"

#define MS 1000000ull
#define BS 65536

/* Fake connections: distinct addresses are all the registry needs. */
static char conns[16];
#define CONN(i) ((void *)&conns[i])

#define INC(id) (0x1000ull + (id)) /* a node's incarnation in these tests */

static struct registry *new_registry(void)
{
	struct registry_config cfg = {.heartbeat_ms = 1000, .suspect_after = 3};
	struct registry *r = registry_create(&cfg);

	assert_non_null(r);
	return r;
}

static struct proto_mgr_register reg_msg(uint32_t id, unsigned int kind,
					 uint64_t free, uint64_t incarnation)
{
	struct proto_mgr_register m = {
		.node = id,
		.kind = (uint8_t)kind,
		.block_size = BS,
		.capacity = 1000,
		.free = free,
		.incarnation = incarnation,
	};

	snprintf(m.addr, sizeof(m.addr), "mem://node-%u", id);
	return m;
}

/* Registers id on CONN(id) as its usual process. */
static int reg(struct registry *r, uint32_t id, unsigned int kind,
	       uint64_t free, uint64_t now, struct registry_prior *prior)
{
	struct proto_mgr_register m = reg_msg(id, kind, free, INC(id));
	struct registry_prior dummy;

	return registry_register(r, &m, CONN(id), now, prior ? prior : &dummy);
}

/* Registers id on connection conn as the process of incarnation inc. */
static int reg_on(struct registry *r, uint32_t id, void *conn, uint64_t inc,
		  uint64_t now, struct registry_prior *prior)
{
	struct proto_mgr_register m = reg_msg(id, MGR_KIND_COMPUTE, 10, inc);

	return registry_register(r, &m, conn, now, prior);
}

static int beat_on(struct registry *r, uint32_t id, void *conn, uint64_t free,
		   uint64_t now, bool *revived)
{
	struct proto_mgr_heartbeat hb = {.node = id, .counts = {.free = free}};
	bool dummy;

	return registry_heartbeat(r, &hb, conn, now,
				  revived ? revived : &dummy);
}

static int beat(struct registry *r, uint32_t id, uint64_t free, uint64_t now)
{
	return beat_on(r, id, CONN(id), free, now, NULL);
}

static size_t find(struct registry *r, uint32_t asker, uint32_t want,
		   struct mgr_free_entry *e)
{
	struct proto_mgr_find_free q = {.node = asker, .want = want};

	return registry_find_free(r, &q, e, PROTO_MGR_MAX_FREE);
}

/* The registry's view of one node; fails the test if it is not listed. */
static struct mgr_node_info info(struct registry *r, uint32_t id, uint64_t now)
{
	struct mgr_node_info o;

	assert_true(registry_node(r, id, now, &o));
	return o;
}

static uint8_t state_of(struct registry *r, uint32_t id, uint64_t now)
{
	return info(r, id, now).state;
}

static void find_free_offers_compute_nodes_first_then_memservers(void **state)
{
	struct registry *r = new_registry();
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];

	assert_int_equal(reg(r, 1, MGR_KIND_MEMSERVER, 900, 0, NULL), 0);
	assert_int_equal(reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL), 0);
	assert_int_equal(reg(r, 3, MGR_KIND_COMPUTE, 50, 0, NULL), 0);
	assert_int_equal(reg(r, 4, MGR_KIND_MEMSERVER, 950, 0, NULL), 0);
	assert_int_equal(reg(r, 5, MGR_KIND_COMPUTE, 30, 0, NULL), 0);

	assert_int_equal(find(r, 0, 1, e), 5);
	assert_int_equal(e[0].node, 3); /* compute, most free */
	assert_int_equal(e[1].node, 5);
	assert_int_equal(e[2].node, 2);
	assert_int_equal(e[3].node, 4); /* memservers last, most free */
	assert_int_equal(e[4].node, 1);
	assert_int_equal(e[0].kind, MGR_KIND_COMPUTE);
	assert_int_equal(e[3].kind, MGR_KIND_MEMSERVER);
	assert_int_equal(e[0].free_hint, 50);
	assert_string_equal(e[0].addr, "mem://node-3");
	registry_destroy(r);
}

static void
find_free_never_offers_the_asker_full_suspect_or_left_nodes(void **state)
{
	struct registry *r = new_registry();
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];

	reg(r, 1, MGR_KIND_COMPUTE, 100, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 200, 0, NULL);
	reg(r, 3, MGR_KIND_COMPUTE, 0, 0, NULL);
	reg(r, 4, MGR_KIND_MEMSERVER, 300, 0, NULL);
	reg(r, 5, MGR_KIND_MEMSERVER, 400, 0, NULL);
	assert_int_equal(registry_conn_closed(r, 4, CONN(4), 0), 0);
	assert_int_equal(registry_leave(r, 5, CONN(5), 0), 0);

	assert_int_equal(find(r, 2, 5, e), 1);
	assert_int_equal(e[0].node, 1);
	assert_int_equal(find(r, 1, 5, e), 1);
	assert_int_equal(e[0].node, 2);
	/* back again, each is offered again */
	assert_int_equal(reg(r, 4, MGR_KIND_MEMSERVER, 300, 0, NULL), 0);
	assert_int_equal(reg(r, 5, MGR_KIND_MEMSERVER, 400, 0, NULL), 0);
	assert_int_equal(find(r, 1, 5, e), 3);
	registry_destroy(r);
}

static void find_free_holds_back_promised_blocks_until_heartbeat(void **state)
{
	struct registry *r = new_registry();
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];

	reg(r, 1, MGR_KIND_COMPUTE, 100, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 80, 0, NULL);

	assert_int_equal(find(r, 9, 30, e), 2);
	assert_int_equal(e[0].node, 1);
	assert_int_equal(e[0].free_hint, 100);
	/* node 1 was pointed at for 30: the next asker sees 70 there */
	assert_int_equal(find(r, 9, 1, e), 2);
	assert_int_equal(e[0].node, 2);
	assert_int_equal(e[0].free_hint, 80);
	assert_int_equal(e[1].free_hint, 70);
	/* a heartbeat says what is really free */
	assert_int_equal(beat(r, 1, 100, 10 * MS), 0);
	assert_int_equal(find(r, 9, 1, e), 2);
	assert_int_equal(e[0].node, 1);
	registry_destroy(r);
}

static void
a_silent_node_is_suspect_and_a_late_heartbeat_revives_it(void **state)
{
	struct registry *r = new_registry();
	struct registry_change c[4];
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];
	bool revived = true;

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(beat(r, 1, 10, 1000 * MS), 0);
	assert_int_equal(beat(r, 2, 10, 1000 * MS), 0);
	assert_int_equal(beat(r, 2, 10, 3500 * MS), 0);

	/* 3 intervals of 1000 ms after the last heartbeat, not before */
	assert_int_equal(registry_expire(r, 4000 * MS, c, 4), 0);
	assert_int_equal(registry_expire(r, 4001 * MS, c, 4), 1);
	assert_int_equal(c[0].node, 1);
	assert_int_equal(c[0].state, MGR_NODE_SUSPECT);
	assert_int_equal(c[0].silent_ms, 3001);
	assert_int_equal(registry_expire(r, 4002 * MS, c, 4), 0);
	assert_int_equal(state_of(r, 1, 4002 * MS), MGR_NODE_SUSPECT);
	assert_int_equal(registry_live_count(r), 1);
	assert_int_equal(find(r, 0, 1, e), 1);
	assert_int_equal(e[0].node, 2);

	/* its connection is still registered: a heartbeat there revives it */
	assert_int_equal(beat_on(r, 1, CONN(1), 10, 4100 * MS, &revived), 0);
	assert_true(revived);
	assert_int_equal(state_of(r, 1, 4100 * MS), MGR_NODE_ALIVE);
	assert_int_equal(beat_on(r, 1, CONN(1), 10, 4200 * MS, &revived), 0);
	assert_false(revived);
	/* but never on another connection */
	assert_int_equal(beat_on(r, 2, CONN(9), 10, 4200 * MS, NULL), -ENOENT);
	registry_destroy(r);
}

static void
a_closed_registration_connection_makes_the_node_suspect(void **state)
{
	struct registry *r = new_registry();
	struct registry_change c[4];

	reg(r, 3, MGR_KIND_COMPUTE, 10, 0, NULL);
	/* a query connection closing is none of the node's business */
	assert_int_equal(registry_conn_closed(r, 3, CONN(9), 5 * MS), -ENOENT);
	assert_int_equal(state_of(r, 3, 5 * MS), MGR_NODE_ALIVE);
	assert_int_equal(registry_conn_closed(r, 3, CONN(3), 10 * MS), 0);
	assert_int_equal(state_of(r, 3, 10 * MS), MGR_NODE_SUSPECT);
	assert_int_equal(info(r, 3, 2010 * MS).since_ms, 2000);
	/* once: no second announcement, and silence adds none either */
	assert_int_equal(registry_conn_closed(r, 3, CONN(3), 20 * MS), -ENOENT);
	assert_int_equal(registry_expire(r, 9000 * MS, c, 4), 0);
	/* its heartbeats must come with a registration now */
	assert_int_equal(beat(r, 3, 10, 30 * MS), -ENOENT);
	assert_int_equal(registry_conn_closed(r, 99, CONN(3), 0), -ENOENT);
	registry_destroy(r);
}

static void unknown_node_heartbeat_asks_for_registration(void **state)
{
	struct registry *r = new_registry();

	assert_int_equal(beat(r, 7, 1, 0), -ENOENT);
	registry_destroy(r);
}

static void restarted_manager_takes_reregistrations_as_they_are(void **state)
{
	struct registry *r = new_registry();
	struct registry_prior prior;
	struct mgr_node_info n[4];

	reg(r, 5, MGR_KIND_COMPUTE, 10, 0, NULL);
	registry_destroy(r);

	/* the new manager knows nothing: the node comes back unharmed */
	r = new_registry();
	assert_int_equal(reg(r, 5, MGR_KIND_COMPUTE, 10, 50 * MS, &prior), 0);
	assert_int_equal(prior.state, 0);
	assert_null(prior.stale_conn);
	assert_int_equal(registry_nodes(r, 50 * MS, n, 4), 1);
	assert_int_equal(n[0].state, MGR_NODE_ALIVE);
	assert_int_equal(n[0].node, 5);
	registry_destroy(r);
}

static void a_suspect_node_registering_again_is_simply_alive(void **state)
{
	struct registry *r = new_registry();
	struct registry_change c[2];
	struct registry_prior prior;
	struct mgr_node_info o;

	reg(r, 5, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(registry_expire(r, 5000 * MS, c, 2), 1);
	/* its old connection closed meanwhile: nothing to replace */
	assert_int_equal(registry_conn_closed(r, 5, CONN(5), 5050 * MS),
			 -ENOENT);
	assert_int_equal(reg_on(r, 5, CONN(11), INC(5), 5100 * MS, &prior), 0);
	assert_int_equal(prior.state, MGR_NODE_SUSPECT);
	assert_null(prior.stale_conn);
	o = info(r, 5, 5100 * MS);
	assert_int_equal(o.state, MGR_NODE_ALIVE);
	assert_int_equal(o.since_ms, 0);
	assert_string_equal(o.addr, "mem://node-5");
	assert_int_equal(beat_on(r, 5, CONN(11), 10, 5200 * MS, NULL), 0);
	/* again on the same live connection: nothing changes */
	assert_int_equal(reg_on(r, 5, CONN(11), INC(5), 5300 * MS, &prior), 0);
	assert_int_equal(prior.state, MGR_NODE_ALIVE);
	assert_null(prior.stale_conn);
	assert_int_equal(info(r, 5, 5300 * MS).since_ms, 200);
	registry_destroy(r);
}

static void
the_same_process_replaces_a_connection_that_still_looks_open(void **state)
{
	struct registry *r = new_registry();
	struct registry_prior prior;

	reg(r, 3, MGR_KIND_COMPUTE, 10, 0, NULL);
	/* a partition or a reset the manager never saw: CONN(3) looks open */
	assert_int_equal(reg_on(r, 3, CONN(10), INC(3), 100 * MS, &prior), 0);
	assert_ptr_equal(prior.stale_conn, CONN(3));
	assert_true(prior.same_process);
	assert_int_equal(prior.state, MGR_NODE_ALIVE);
	assert_int_equal(state_of(r, 3, 100 * MS), MGR_NODE_ALIVE);
	/* the old connection's close, when it comes, changes nothing */
	assert_int_equal(registry_conn_closed(r, 3, CONN(3), 200 * MS),
			 -ENOENT);
	assert_int_equal(state_of(r, 3, 200 * MS), MGR_NODE_ALIVE);
	assert_int_equal(beat(r, 3, 10, 300 * MS), -ENOENT);
	assert_int_equal(beat_on(r, 3, CONN(10), 10, 300 * MS, NULL), 0);
	assert_int_equal(registry_leave(r, 3, CONN(3), 400 * MS), -ENOENT);
	registry_destroy(r);
}

static void another_process_cannot_take_a_live_id(void **state)
{
	struct registry *r = new_registry();
	struct registry_change c[2];
	struct registry_prior prior;
	struct mgr_node_info n[2];

	reg(r, 3, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(reg_on(r, 3, CONN(9), 77, 0, &prior), -EBUSY);
	assert_null(prior.stale_conn);
	assert_int_equal(registry_nodes(r, 0, n, 2), 1);
	assert_ptr_equal(registry_live_count(r), 1);
	/* once the first one is silent, a restarted process may take over */
	assert_int_equal(registry_expire(r, 3001 * MS, c, 2), 1);
	assert_int_equal(reg_on(r, 3, CONN(9), 77, 3002 * MS, &prior), 0);
	assert_ptr_equal(prior.stale_conn, CONN(3));
	assert_false(prior.same_process);
	assert_int_equal(prior.state, MGR_NODE_SUSPECT);
	assert_int_equal(beat_on(r, 3, CONN(9), 10, 3003 * MS, NULL), 0);
	registry_destroy(r);
}

static void leave_makes_a_node_left_until_it_registers_again(void **state)
{
	struct registry *r = new_registry();
	struct registry_change c[2];
	struct registry_prior prior;
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];

	reg(r, 6, MGR_KIND_MEMSERVER, 10, 0, NULL);
	/* only its registration connection speaks for it */
	assert_int_equal(registry_leave(r, 6, CONN(9), 10 * MS), -ENOENT);
	assert_int_equal(registry_leave(r, 7, CONN(6), 10 * MS), -ENOENT);
	assert_int_equal(registry_leave(r, 6, CONN(6), 10 * MS), 0);
	assert_int_equal(state_of(r, 6, 10 * MS), MGR_NODE_LEFT);
	assert_int_equal(registry_leave(r, 6, CONN(6), 20 * MS), -ENOENT);
	/* its connection closing afterwards makes it no suspect */
	assert_int_equal(registry_conn_closed(r, 6, CONN(6), 30 * MS), -ENOENT);
	assert_int_equal(registry_expire(r, 50000 * MS, c, 2), 0);
	assert_int_equal(state_of(r, 6, 50000 * MS), MGR_NODE_LEFT);
	assert_int_equal(beat(r, 6, 10, 50000 * MS), -ENOENT);
	assert_int_equal(find(r, 1, 1, e), 0);
	assert_int_equal(registry_live_count(r), 0);
	assert_int_equal(reg(r, 6, MGR_KIND_MEMSERVER, 10, 51000 * MS, &prior),
			 0);
	assert_int_equal(prior.state, MGR_NODE_LEFT);
	assert_int_equal(find(r, 1, 1, e), 1);
	registry_destroy(r);
}

static void block_size_must_match_the_first_registrant(void **state)
{
	struct registry *r = new_registry();
	struct proto_mgr_register m = reg_msg(2, MGR_KIND_MEMSERVER, 10, 5);
	struct registry_prior prior;

	m.block_size = BS * 2;
	assert_int_equal(registry_block_size(r), 0);
	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(registry_block_size(r), BS);
	assert_int_equal(registry_register(r, &m, CONN(2), 0, &prior), -EINVAL);
	assert_int_equal(registry_live_count(r), 1);
	registry_destroy(r);
}

static void heartbeat_beyond_capacity_is_refused(void **state)
{
	struct registry *r = new_registry();

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(beat(r, 1, 1001, 0), -EINVAL);
	assert_int_equal(beat(r, 1, 1000, 0), 0);
	registry_destroy(r);
}

static void nodes_lists_every_state_by_id(void **state)
{
	struct registry *r = new_registry();
	struct proto_mgr_heartbeat hb = {.node = 2, .counts = {5, 6, 7, 8, 9}};
	struct mgr_node_info n[8];
	bool revived;

	reg(r, 9, MGR_KIND_MEMSERVER, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 4, MGR_KIND_COMPUTE, 10, 0, NULL);
	registry_conn_closed(r, 4, CONN(4), 50 * MS);
	registry_leave(r, 9, CONN(9), 80 * MS);
	assert_int_equal(
		registry_heartbeat(r, &hb, CONN(2), 100 * MS, &revived), 0);

	assert_int_equal(registry_nodes(r, 300 * MS, n, 8), 3);
	assert_int_equal(n[0].node, 2);
	assert_int_equal(n[1].node, 4);
	assert_int_equal(n[2].node, 9);
	assert_int_equal(n[0].state, MGR_NODE_ALIVE);
	assert_int_equal(n[1].state, MGR_NODE_SUSPECT);
	assert_int_equal(n[2].state, MGR_NODE_LEFT);
	assert_int_equal(n[0].since_ms, 300); /* alive since it registered */
	assert_int_equal(n[1].since_ms, 250);
	assert_int_equal(n[2].since_ms, 220);
	assert_int_equal(n[0].counts.rrl, 9);
	assert_int_equal(n[0].counts.lll, 6);
	assert_int_equal(n[0].capacity, 1000);
	assert_int_equal(n[0].block_size, BS);
	assert_int_equal(n[0].age_ms, 200);
	assert_int_equal(n[2].kind, MGR_KIND_MEMSERVER);
	assert_false(registry_node(r, 77, 0, &n[0]));
	registry_destroy(r);
}

static void live_connections_are_those_of_alive_nodes(void **state)
{
	struct registry *r = new_registry();
	struct registry_change c[4];
	void *out[4];
	size_t n;

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 3, MGR_KIND_MEMSERVER, 10, 0, NULL);
	reg(r, 4, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 5, MGR_KIND_COMPUTE, 10, 0, NULL);
	registry_conn_closed(r, 2, CONN(2), 0);
	registry_leave(r, 4, CONN(4), 0);
	beat(r, 1, 10, 2000 * MS);
	beat(r, 3, 10, 2000 * MS);
	assert_int_equal(registry_expire(r, 3500 * MS, c, 4), 1); /* 5 */
	n = registry_live_conns(r, 3, out, 4);
	assert_int_equal(n, 1);
	assert_ptr_equal(out[0], CONN(1));
	assert_int_equal(registry_live_conns(r, 0, out, 4), 2);
	registry_destroy(r);
}

static void
a_full_table_drops_left_nodes_first_then_the_longest_suspect(void **state)
{
	struct registry_config cfg = {
		.heartbeat_ms = 1000, .suspect_after = 3, .max_nodes = 3};
	struct registry *r = registry_create(&cfg);
	struct mgr_node_info n[4];

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 10 * MS, NULL);
	reg(r, 3, MGR_KIND_COMPUTE, 10, 20 * MS, NULL);
	assert_int_equal(reg(r, 4, MGR_KIND_COMPUTE, 10, 30 * MS, NULL),
			 -ENOSPC);
	registry_conn_closed(r, 2, CONN(2), 30 * MS);
	registry_conn_closed(r, 1, CONN(1), 40 * MS);
	registry_leave(r, 3, CONN(3), 50 * MS);
	assert_int_equal(reg(r, 4, MGR_KIND_COMPUTE, 10, 60 * MS, NULL), 0);
	assert_int_equal(reg(r, 5, MGR_KIND_COMPUTE, 10, 70 * MS, NULL), 0);
	assert_int_equal(registry_nodes(r, 70 * MS, n, 4), 3);
	assert_int_equal(n[0].node, 1); /* 3 left, then 2 was suspect longer */
	assert_int_equal(n[1].node, 4);
	assert_int_equal(n[2].node, 5);
	registry_destroy(r);
}

static void the_long_gone_are_forgotten(void **state)
{
	struct registry *r = new_registry(); /* the defaults: 10 min, 1 min */
	struct registry_change c[4];
	struct registry_prior prior;
	struct mgr_node_info n[4];
	const uint64_t t0 = 1000 * MS, min = 60000 * MS;

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 3, MGR_KIND_COMPUTE, 10, 0, NULL);
	registry_conn_closed(r, 1, CONN(1), t0);
	registry_leave(r, 2, CONN(2), t0);
	/* node 3 keeps beating */
	for (uint64_t t = t0; t <= t0 + 11 * min; t += 2000 * MS)
		assert_int_equal(beat(r, 3, 10, t), 0);

	/* a minute after it left, node 2 is gone from the list */
	assert_int_equal(registry_expire(r, t0 + min, c, 4), 0);
	assert_int_equal(registry_expire(r, t0 + min + MS, c, 4), 1);
	assert_int_equal(c[0].node, 2);
	assert_int_equal(c[0].state, 0);
	assert_int_equal(c[0].old_state, MGR_NODE_LEFT);
	assert_int_equal(registry_nodes(r, t0 + min + MS, n, 4), 2);
	/* node 1, suspect, is kept for forget_after (10 min by default) */
	assert_int_equal(registry_expire(r, t0 + 10 * min, c, 4), 0);
	assert_int_equal(registry_expire(r, t0 + 10 * min + MS, c, 4), 1);
	assert_int_equal(c[0].node, 1);
	assert_int_equal(c[0].old_state, MGR_NODE_SUSPECT);
	assert_int_equal(registry_nodes(r, t0 + 10 * min + MS, n, 4), 1);
	assert_int_equal(n[0].node, 3);
	assert_int_equal(n[0].state, MGR_NODE_ALIVE);
	/* a forgotten id comes back as new */
	assert_int_equal(reg(r, 1, MGR_KIND_COMPUTE, 10, t0 + 11 * min, &prior),
			 0);
	assert_int_equal(prior.state, 0);
	registry_destroy(r);
}

static void forget_after_is_configurable(void **state)
{
	struct registry_config cfg = {.heartbeat_ms = 1000,
				      .suspect_after = 3,
				      .forget_after_ms = 5000,
				      .left_keep_ms = 2000};
	struct registry *r = registry_create(&cfg);
	struct registry_change c[4];

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL);
	registry_conn_closed(r, 1, CONN(1), 0);
	registry_leave(r, 2, CONN(2), 0);
	assert_int_equal(registry_expire(r, 2000 * MS, c, 4), 0);
	assert_int_equal(registry_expire(r, 2001 * MS, c, 4), 1);
	assert_int_equal(c[0].node, 2);
	assert_int_equal(registry_expire(r, 5000 * MS, c, 4), 0);
	assert_int_equal(registry_expire(r, 5001 * MS, c, 4), 1);
	assert_int_equal(c[0].node, 1);
	registry_destroy(r);
}

/* Another manager's list, as NODES gave it: 1 alive, 2 suspect, 3 left. */
static size_t other_list(struct mgr_node_info *o)
{
	struct registry *r = new_registry();
	size_t n;

	assert_int_equal(reg(r, 1, MGR_KIND_COMPUTE, 40, 0, NULL), 0);
	assert_int_equal(reg(r, 2, MGR_KIND_COMPUTE, 50, 0, NULL), 0);
	assert_int_equal(reg(r, 3, MGR_KIND_MEMSERVER, 60, 0, NULL), 0);
	assert_int_equal(registry_conn_closed(r, 2, CONN(2), 100 * MS), 0);
	assert_int_equal(registry_leave(r, 3, CONN(3), 200 * MS), 0);
	n = registry_nodes(r, 1000 * MS, o, 8);
	registry_destroy(r);
	assert_int_equal(n, 3);
	return n;
}

static void
adopted_nodes_are_listed_as_they_were_and_offered_once_back(void **state)
{
	struct mgr_free_entry e[4];
	struct proto_mgr_find_free q = {.node = 9, .want = 1};
	struct mgr_node_info o[8], got;
	struct registry *r = new_registry();
	struct registry_prior prior;
	size_t n = other_list(o);
	void *live[4];

	assert_int_equal(registry_adopt(r, o, n, 5000 * MS, 9000 * MS), 3);
	assert_int_equal(registry_block_size(r), BS);
	assert_true(registry_node(r, 1, 5000 * MS, &got));
	assert_int_equal(got.state, MGR_NODE_ALIVE);
	assert_int_equal(got.counts.free, 40);
	assert_string_equal(got.addr, "mem://node-1");
	assert_true(registry_node(r, 2, 5000 * MS, &got));
	assert_int_equal(got.state, MGR_NODE_SUSPECT);
	assert_int_equal(got.since_ms,
			 900); /* its time in that state goes on */
	assert_true(registry_node(r, 3, 5000 * MS, &got));
	assert_int_equal(got.state, MGR_NODE_LEFT);
	/* not offered, not pushed to, not waited for until it registers */
	assert_int_equal(registry_find_free(r, &q, e, 4), 0);
	assert_int_equal(registry_live_conns(r, 0, live, 4), 0);
	assert_int_equal(registry_unheard(r, 6000 * MS), 0);
	/* a node listed twice keeps its first entry */
	assert_int_equal(registry_adopt(r, o, n, 5000 * MS, 9000 * MS), 0);

	assert_int_equal(reg(r, 1, MGR_KIND_COMPUTE, 40, 6000 * MS, &prior), 0);
	assert_true(prior.adopted);
	assert_int_equal(prior.state, MGR_NODE_ALIVE);
	assert_int_equal(registry_find_free(r, &q, e, 4), 1);
	assert_int_equal(e[0].node, 1);
	assert_int_equal(registry_live_conns(r, 0, live, 4), 1);
	registry_destroy(r);
}

static void an_adopted_node_not_back_by_its_deadline_is_suspect(void **state)
{
	struct registry_change c[4];
	struct mgr_node_info o[8];
	struct registry *r = new_registry();
	size_t n = other_list(o);

	registry_adopt(r, o, n, 5000 * MS, 9000 * MS);
	/* past the usual 3 s of silence but before its deadline: waiting */
	assert_int_equal(registry_expire(r, 8999 * MS, c, 4), 0);
	assert_int_equal(registry_expire(r, 9001 * MS, c, 4), 1);
	assert_int_equal(c[0].node, 1);
	assert_int_equal(c[0].state, MGR_NODE_SUSPECT);
	assert_true(c[0].adopted);
	/* announced once; it is welcome back as any suspect node */
	assert_int_equal(registry_expire(r, 9500 * MS, c, 4), 0);
	assert_int_equal(reg(r, 1, MGR_KIND_COMPUTE, 40, 9600 * MS, NULL), 0);
	assert_int_equal(registry_live_count(r), 1);
	registry_destroy(r);
}

static void clear_forgets_everything_and_hands_back_the_connections(void **s)
{
	struct registry *r = new_registry();
	struct mgr_node_info o[4];
	void *held[4];

	assert_int_equal(reg(r, 1, MGR_KIND_COMPUTE, 40, 0, NULL), 0);
	assert_int_equal(reg(r, 2, MGR_KIND_COMPUTE, 40, 0, NULL), 0);
	assert_int_equal(reg(r, 3, MGR_KIND_COMPUTE, 40, 0, NULL), 0);
	assert_int_equal(registry_leave(r, 3, CONN(3), 0), 0);
	assert_int_equal(registry_clear(r, held, 4), 2);
	assert_true(held[0] == CONN(1) || held[1] == CONN(1));
	assert_true(held[0] == CONN(2) || held[1] == CONN(2));
	assert_int_equal(registry_nodes(r, 0, o, 4), 0);
	assert_int_equal(registry_block_size(r), 0);
	/* their closes, reported later, change nothing */
	assert_int_equal(registry_conn_closed(r, 1, CONN(1), 0), -ENOENT);
	registry_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			find_free_offers_compute_nodes_first_then_memservers),
		cmocka_unit_test(
			find_free_never_offers_the_asker_full_suspect_or_left_nodes),
		cmocka_unit_test(
			find_free_holds_back_promised_blocks_until_heartbeat),
		cmocka_unit_test(
			a_silent_node_is_suspect_and_a_late_heartbeat_revives_it),
		cmocka_unit_test(
			a_closed_registration_connection_makes_the_node_suspect),
		cmocka_unit_test(unknown_node_heartbeat_asks_for_registration),
		cmocka_unit_test(
			restarted_manager_takes_reregistrations_as_they_are),
		cmocka_unit_test(
			a_suspect_node_registering_again_is_simply_alive),
		cmocka_unit_test(
			the_same_process_replaces_a_connection_that_still_looks_open),
		cmocka_unit_test(another_process_cannot_take_a_live_id),
		cmocka_unit_test(
			leave_makes_a_node_left_until_it_registers_again),
		cmocka_unit_test(block_size_must_match_the_first_registrant),
		cmocka_unit_test(heartbeat_beyond_capacity_is_refused),
		cmocka_unit_test(nodes_lists_every_state_by_id),
		cmocka_unit_test(live_connections_are_those_of_alive_nodes),
		cmocka_unit_test(
			a_full_table_drops_left_nodes_first_then_the_longest_suspect),
		cmocka_unit_test(the_long_gone_are_forgotten),
		cmocka_unit_test(forget_after_is_configurable),
		cmocka_unit_test(
			adopted_nodes_are_listed_as_they_were_and_offered_once_back),
		cmocka_unit_test(
			an_adopted_node_not_back_by_its_deadline_is_suspect),
		cmocka_unit_test(
			clear_forgets_everything_and_hands_back_the_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
