// SPDX-License-Identifier: MIT
/*
 * What cmpctl status and cmpctl top read (issue 13, defect 8): a NODES
 * snapshot asks every alive node for its counts at once, so they are
 * fresh and add up even when heartbeats are a minute apart; a node that
 * cannot answer in time keeps its last counts, marked not fresh, and the
 * reply comes when the wait is over; each node's traffic totals come with
 * its counts. Over mem://, a real manager and real clients; every wait
 * polls a condition against a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/util.h"
#include "manager.h"
#include "mgr-nodes.h"
#include "wait-for.h"

#define WAIT_MS 2000

/* The snapshot's entry for id (fails the test when it has none). */
static struct mgr_node_info *entry(struct mgr_node_info *all, size_t n,
				   uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (all[i].node == id)
			return &all[i];
	fail_msg("node %u not in the snapshot", id);
	return NULL;
}

static void
a_snapshot_has_every_node_count_now_not_a_heartbeat_ago(void **state)
{
	struct mgr_node_info all[8], *a_info, *b_info, plain[8];
	struct node a, b;
	struct manager *m;
	size_t n;

	next_addr();
	m = start_manager_slow(); /* heartbeats a minute apart */
	start_client(&a, 501, MGR_KIND_COMPUTE, 100, NULL);
	start_client(&b, 502, MGR_KIND_COMPUTE, 100, NULL);
	assert_int_equal(mgr_client_wait_registered(a.c, DEADLINE_MS), 0);
	assert_int_equal(mgr_client_wait_registered(b.c, DEADLINE_MS), 0);

	/* a lent 7 blocks to b: a's RLL and b's LRL move together */
	set_counts(&a, &(struct proto_mgr_counts){93, 0, 0, 7, 0});
	set_counts(&b, &(struct proto_mgr_counts){0, 100, 7, 0, 0});
	set_traffic(&b, &(struct proto_mgr_traffic){1, 2, 3, 4});

	/* the plain query still has the registrations' counts */
	assert_int_equal(mgr_query_nodes(mgr_addr, NULL, 1000, plain, 8, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(entry(plain, n, 501)->counts.rll, 0);
	assert_false(entry(plain, n, 501)->fresh);

	assert_int_equal(
		mgr_query_snapshot(mgr_addr, NULL, 1000, WAIT_MS, all, 8, &n),
		0);
	assert_int_equal(n, 2);
	a_info = entry(all, n, 501);
	b_info = entry(all, n, 502);
	assert_true(a_info->fresh);
	assert_true(b_info->fresh);
	assert_int_equal(a_info->counts.rll, 7);
	assert_int_equal(b_info->counts.lrl, 7);
	assert_int_equal(a_info->counts.rll, b_info->counts.lrl);
	assert_true(a_info->age_ms < WAIT_MS);
	assert_int_equal(b_info->traffic.read_bytes, 1);
	assert_int_equal(b_info->traffic.write_bytes, 2);
	assert_int_equal(b_info->traffic.net_rx_bytes, 3);
	assert_int_equal(b_info->traffic.net_tx_bytes, 4);

	stop_client(&a);
	stop_client(&b);
	manager_destroy(m);
}

static void
a_node_that_cannot_answer_keeps_its_last_counts_not_fresh(void **state)
{
	struct mgr_node_info all[8];
	struct node a, b;
	struct manager *m;
	uint64_t t0, took_ms;
	size_t n;

	next_addr();
	m = start_manager_slow();
	start_client(&a, 511, MGR_KIND_COMPUTE, 100, NULL);
	start_client(&b, 512, MGR_KIND_MEMSERVER, 100, NULL);
	assert_int_equal(mgr_client_wait_registered(a.c, DEADLINE_MS), 0);
	assert_int_equal(mgr_client_wait_registered(b.c, DEADLINE_MS), 0);
	set_counts(&b, &(struct proto_mgr_counts){50, 0, 0, 50, 0});
	hold_node(&b, true); /* b's client thread stalls in its counts */

	t0 = cmp_now_ns();
	assert_int_equal(
		mgr_query_snapshot(mgr_addr, NULL, 1000, 300, all, 8, &n), 0);
	took_ms = (cmp_now_ns() - t0) / 1000000;
	assert_int_equal(n, 2);
	assert_true(entry(all, n, 511)->fresh);
	assert_false(entry(all, n, 512)->fresh);
	assert_int_equal(entry(all, n, 512)->counts.rll, 0); /* its last */
	assert_int_equal(entry(all, n, 512)->state, MGR_NODE_ALIVE);
	/* the reply waited for b as long as asked, and not much longer */
	assert_true(took_ms >= 300);
	assert_true(took_ms < 300 + DEADLINE_MS);

	hold_node(&b, false);
	stop_client(&a);
	stop_client(&b);
	manager_destroy(m);
}

static void a_snapshot_without_nodes_answers_at_once(void **state)
{
	struct mgr_node_info all[2];
	struct manager *m;
	uint64_t t0;
	size_t n = 9;

	next_addr();
	m = start_manager_slow();
	t0 = cmp_now_ns();
	assert_int_equal(
		mgr_query_snapshot(mgr_addr, NULL, 1000, 4000, all, 2, &n), 0);
	assert_int_equal(n, 0);
	assert_true(cmp_now_ns() - t0 < 2000 * 1000000ull);
	manager_destroy(m);
	assert_int_equal(
		mgr_query_snapshot(mgr_addr, NULL, 1000, 100, all, 2, &n),
		-ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			a_snapshot_has_every_node_count_now_not_a_heartbeat_ago),
		cmocka_unit_test(
			a_node_that_cannot_answer_keeps_its_last_counts_not_fresh),
		cmocka_unit_test(a_snapshot_without_nodes_answers_at_once),
	};

	log_init("test-mgrsnapshot", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
