// SPDX-License-Identifier: MIT
/*
 * The manager's registry, driven by a fake clock: tier order, exclusion,
 * death by missed heartbeats and by closed connections, re-registration
 * after a manager restart, duplicate ids.
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

static struct registry *new_registry(void)
{
	struct registry_config cfg = {.heartbeat_ms = 1000, .dead_after = 3};
	struct registry *r = registry_create(&cfg);

	assert_non_null(r);
	return r;
}

static int reg(struct registry *r, uint32_t id, unsigned int kind,
	       uint64_t free, uint64_t now, bool *was_dead)
{
	struct proto_mgr_register m = {
		.node = id,
		.kind = (uint8_t)kind,
		.block_size = BS,
		.capacity = 1000,
		.free = free,
	};
	bool dummy;

	snprintf(m.addr, sizeof(m.addr), "mem://node-%u", id);
	return registry_register(r, &m, CONN(id), now,
				 was_dead ? was_dead : &dummy);
}

static int beat(struct registry *r, uint32_t id, uint64_t free, uint64_t now)
{
	struct proto_mgr_heartbeat hb = {.node = id, .counts = {.free = free}};

	return registry_heartbeat(r, &hb, now);
}

static size_t find(struct registry *r, uint32_t asker, uint32_t want,
		   struct mgr_free_entry *e)
{
	struct proto_mgr_find_free q = {.node = asker, .want = want};

	return registry_find_free(r, &q, e, PROTO_MGR_MAX_FREE);
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

static void find_free_never_offers_the_asker_dead_or_full_nodes(void **state)
{
	struct registry *r = new_registry();
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];

	reg(r, 1, MGR_KIND_COMPUTE, 100, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 200, 0, NULL);
	reg(r, 3, MGR_KIND_COMPUTE, 0, 0, NULL);
	reg(r, 4, MGR_KIND_MEMSERVER, 300, 0, NULL);
	assert_int_equal(registry_kill(r, 4, CONN(4)), 0);

	assert_int_equal(find(r, 2, 5, e), 1);
	assert_int_equal(e[0].node, 1);
	assert_int_equal(find(r, 1, 5, e), 1);
	assert_int_equal(e[0].node, 2);
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

static void node_dies_after_missed_heartbeats(void **state)
{
	struct registry *r = new_registry();
	struct registry_death d[4];
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(beat(r, 1, 10, 1000 * MS), 0);
	assert_int_equal(beat(r, 2, 10, 1000 * MS), 0);
	assert_int_equal(beat(r, 2, 10, 3500 * MS), 0);

	/* 3 intervals of 1000 ms after the last heartbeat, not before */
	assert_int_equal(registry_expire(r, 4000 * MS, d, 4), 0);
	assert_int_equal(registry_expire(r, 4001 * MS, d, 4), 1);
	assert_int_equal(d[0].node, 1);
	assert_ptr_equal(d[0].conn, CONN(1));
	assert_int_equal(registry_expire(r, 4002 * MS, d, 4), 0);
	assert_int_equal(registry_live_count(r), 1);
	assert_int_equal(find(r, 0, 1, e), 1);
	assert_int_equal(e[0].node, 2);
	/* a dead node's heartbeat asks it to register again */
	assert_int_equal(beat(r, 1, 10, 4100 * MS), -ENOENT);
	assert_int_equal(registry_expire(r, 6501 * MS, d, 4), 1);
	assert_int_equal(d[0].node, 2);
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
	struct mgr_node_info n[4];
	bool was_dead = true;

	reg(r, 5, MGR_KIND_COMPUTE, 10, 0, NULL);
	registry_destroy(r);

	/* the new manager knows nothing: the node comes back unharmed */
	r = new_registry();
	assert_int_equal(reg(r, 5, MGR_KIND_COMPUTE, 10, 50 * MS, &was_dead),
			 0);
	assert_false(was_dead);
	assert_int_equal(registry_nodes(r, 50 * MS, n, 4), 1);
	assert_true(n[0].alive);
	assert_int_equal(n[0].node, 5);
	registry_destroy(r);
}

static void reregistration_after_death_says_so(void **state)
{
	struct registry *r = new_registry();
	struct registry_death d[2];
	bool was_dead = false;

	reg(r, 5, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(registry_expire(r, 5000 * MS, d, 2), 1);
	assert_int_equal(reg(r, 5, MGR_KIND_COMPUTE, 10, 5100 * MS, &was_dead),
			 0);
	assert_true(was_dead);
	assert_int_equal(beat(r, 5, 10, 5200 * MS), 0);
	assert_int_equal(reg(r, 5, MGR_KIND_COMPUTE, 10, 5300 * MS, &was_dead),
			 0);
	assert_false(was_dead); /* again on the same live connection */
	registry_destroy(r);
}

static void duplicate_id_with_a_live_connection_is_refused(void **state)
{
	struct registry *r = new_registry();
	struct proto_mgr_register m = {.node = 3,
				       .kind = MGR_KIND_COMPUTE,
				       .block_size = BS,
				       .capacity = 10,
				       .addr = "mem://impostor"};
	struct mgr_node_info n[2];
	bool was_dead;

	reg(r, 3, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(registry_register(r, &m, CONN(9), 0, &was_dead),
			 -EBUSY);
	assert_int_equal(registry_nodes(r, 0, n, 2), 1);
	assert_string_equal(n[0].addr, "mem://node-3");
	/* once the first connection closes, the id is free again */
	assert_int_equal(registry_kill(r, 3, CONN(3)), 0);
	assert_int_equal(registry_register(r, &m, CONN(9), 0, &was_dead), 0);
	assert_true(was_dead);
	registry_destroy(r);
}

static void closing_a_stale_connection_kills_no_one(void **state)
{
	struct registry *r = new_registry();
	struct registry_death d[2];
	struct proto_mgr_register m = {.node = 3,
				       .kind = MGR_KIND_COMPUTE,
				       .block_size = BS,
				       .capacity = 10,
				       .addr = "mem://node-3"};
	bool was_dead;

	reg(r, 3, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(registry_expire(r, 5000 * MS, d, 2), 1);
	assert_int_equal(
		registry_register(r, &m, CONN(10), 5000 * MS, &was_dead), 0);
	/* the old connection's close arrives late */
	assert_int_equal(registry_kill(r, 3, CONN(3)), -ENOENT);
	assert_int_equal(registry_live_count(r), 1);
	assert_int_equal(registry_kill(r, 3, CONN(10)), 0);
	assert_int_equal(registry_kill(r, 3, CONN(10)), -ENOENT);
	assert_int_equal(registry_kill(r, 99, CONN(10)), -ENOENT);
	registry_destroy(r);
}

static void block_size_must_match_the_first_registrant(void **state)
{
	struct registry *r = new_registry();
	struct proto_mgr_register m = {.node = 2,
				       .kind = MGR_KIND_MEMSERVER,
				       .block_size = BS * 2,
				       .capacity = 10,
				       .addr = "mem://x"};
	bool was_dead;

	assert_int_equal(registry_block_size(r), 0);
	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	assert_int_equal(registry_block_size(r), BS);
	assert_int_equal(registry_register(r, &m, CONN(2), 0, &was_dead),
			 -EINVAL);
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

static void nodes_lists_living_and_dead_by_id(void **state)
{
	struct registry *r = new_registry();
	struct proto_mgr_heartbeat hb = {.node = 2, .counts = {5, 6, 7, 8, 9}};
	struct mgr_node_info n[8];

	reg(r, 9, MGR_KIND_MEMSERVER, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 4, MGR_KIND_COMPUTE, 10, 0, NULL);
	registry_kill(r, 4, CONN(4));
	assert_int_equal(registry_heartbeat(r, &hb, 100 * MS), 0);

	assert_int_equal(registry_nodes(r, 300 * MS, n, 8), 3);
	assert_int_equal(n[0].node, 2);
	assert_int_equal(n[1].node, 4);
	assert_int_equal(n[2].node, 9);
	assert_true(n[0].alive);
	assert_false(n[1].alive);
	assert_int_equal(n[0].counts.rrl, 9);
	assert_int_equal(n[0].counts.lll, 6);
	assert_int_equal(n[0].capacity, 1000);
	assert_int_equal(n[0].block_size, BS);
	assert_int_equal(n[0].age_ms, 200);
	assert_int_equal(n[2].kind, MGR_KIND_MEMSERVER);
	registry_destroy(r);
}

static void live_connections_exclude_the_dead_node(void **state)
{
	struct registry *r = new_registry();
	void *out[4];
	size_t n;

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 3, MGR_KIND_MEMSERVER, 10, 0, NULL);
	registry_kill(r, 2, CONN(2));
	n = registry_live_conns(r, 2, out, 4);
	assert_int_equal(n, 2);
	assert_ptr_equal(out[0], CONN(1));
	assert_ptr_equal(out[1], CONN(3));
	registry_destroy(r);
}

static void a_full_table_recycles_the_longest_dead(void **state)
{
	struct registry_config cfg = {
		.heartbeat_ms = 1000, .dead_after = 3, .max_nodes = 3};
	struct registry *r = registry_create(&cfg);
	struct mgr_node_info n[4];

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 10 * MS, NULL);
	reg(r, 3, MGR_KIND_COMPUTE, 10, 20 * MS, NULL);
	assert_int_equal(reg(r, 4, MGR_KIND_COMPUTE, 10, 30 * MS, NULL),
			 -ENOSPC);
	registry_kill(r, 2, CONN(2));
	registry_kill(r, 1, CONN(1));
	assert_int_equal(reg(r, 4, MGR_KIND_COMPUTE, 10, 30 * MS, NULL), 0);
	assert_int_equal(registry_nodes(r, 30 * MS, n, 4), 3);
	assert_int_equal(n[0].node, 2); /* node 1 was older and went first */
	assert_int_equal(n[1].node, 3);
	assert_int_equal(n[2].node, 4);
	registry_destroy(r);
}

static void the_long_dead_are_forgotten(void **state)
{
	struct registry_config cfg = {
		.heartbeat_ms = 1000, .dead_after = 3, .dead_keep_ms = 60000};
	struct registry *r = registry_create(&cfg);
	struct registry_death d[4];
	struct mgr_node_info n[4];
	bool was_dead = true;

	reg(r, 1, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 2, MGR_KIND_COMPUTE, 10, 0, NULL);
	reg(r, 3, MGR_KIND_COMPUTE, 10, 0, NULL);
	registry_kill(r, 1, CONN(1));
	registry_kill(r, 2, CONN(2));
	assert_int_equal(beat(r, 3, 10, 59000 * MS), 0);
	assert_int_equal(registry_expire(r, 60000 * MS, d, 4), 0);
	assert_int_equal(registry_nodes(r, 60000 * MS, n, 4), 3);
	/* a minute after their last word, 1 and 2 are gone; 3 lives on */
	assert_int_equal(registry_expire(r, 60001 * MS, d, 4), 0);
	assert_int_equal(registry_nodes(r, 60001 * MS, n, 4), 1);
	assert_int_equal(n[0].node, 3);
	assert_true(n[0].alive);
	/* a forgotten id comes back as new */
	assert_int_equal(reg(r, 1, MGR_KIND_COMPUTE, 10, 60002 * MS, &was_dead),
			 0);
	assert_false(was_dead);
	registry_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			find_free_offers_compute_nodes_first_then_memservers),
		cmocka_unit_test(
			find_free_never_offers_the_asker_dead_or_full_nodes),
		cmocka_unit_test(
			find_free_holds_back_promised_blocks_until_heartbeat),
		cmocka_unit_test(node_dies_after_missed_heartbeats),
		cmocka_unit_test(unknown_node_heartbeat_asks_for_registration),
		cmocka_unit_test(
			restarted_manager_takes_reregistrations_as_they_are),
		cmocka_unit_test(reregistration_after_death_says_so),
		cmocka_unit_test(
			duplicate_id_with_a_live_connection_is_refused),
		cmocka_unit_test(closing_a_stale_connection_kills_no_one),
		cmocka_unit_test(block_size_must_match_the_first_registrant),
		cmocka_unit_test(heartbeat_beyond_capacity_is_refused),
		cmocka_unit_test(nodes_lists_living_and_dead_by_id),
		cmocka_unit_test(live_connections_exclude_the_dead_node),
		cmocka_unit_test(a_full_table_recycles_the_longest_dead),
		cmocka_unit_test(the_long_dead_are_forgotten),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
