// SPDX-License-Identifier: MIT
/*
 * Leaving without loss, through the three-node fixture (cmp3-fixture.h)
 * over mem://: A's data lives partly on B and C; B leaves (cluster_leave,
 * then cluster_destroy: GOODBYE and LEAVE) and A reads every byte back.
 * A node with nowhere to put what it holds keeps serving it and says so,
 * and finishes once room appears. cmpctl drain's request (DRAIN, from a
 * tool connection) does the same while the node keeps running, and
 * --undo makes it lend again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "cmp3-fixture.h"
#include "proto_block.h"

static uint64_t count_of(struct cmp3 *t, int n, enum pool_list l)
{
	struct pool_counts pc;

	pool_get_counts(t->pool[n], &pc);
	return pc.blocks[l];
}

/* A fills its memory and four blocks on B and C. */
static void a_borrows_from_b_and_c(struct cmp3 *t)
{
	for (int i = 0; i < 8; i++) {
		sync_manager(t);
		assert_int_equal(alloc_on(t, A), 0);
	}
	assert_int_equal(count_of(t, A, POOL_LRL), 4);
	assert_int_equal(count_of(t, B, POOL_RLL) + count_of(t, C, POOL_RLL),
			 4);
	/* spread over both, most idle first */
	assert_true(count_of(t, B, POOL_RLL) >= 1);
	assert_true(count_of(t, C, POOL_RLL) >= 1);
}

static void a_node_that_leaves_moves_what_it_holds_first(void **state)
{
	struct cmp3 *t = *state;
	struct pool_counts pc;

	a_borrows_from_b_and_c(t);
	sync_manager(t);
	cluster_leave(t->cl[B]);
	assert_int_equal(count_of(t, B, POOL_RLL), 0);
	assert_int_equal(count_of(t, B, POOL_RRL), 0);
	assert_int_equal(count_of(t, C, POOL_RLL), 4);
	stop_node(t, B);
	/* nothing A had is lost, and every byte reads back */
	pool_get_counts(t->pool[A], &pc);
	assert_int_equal(pc.lost, 0);
	assert_int_equal(pc.blocks[POOL_LRL], 4);
	check_all(t, A);
	check_all(t, C);
}

static void a_node_with_nowhere_to_put_them_keeps_serving(void **state)
{
	struct cmp3 *t = *state;
	size_t on_b;

	a_borrows_from_b_and_c(t);
	/* C fills up (moving what it lends on to B): no room but on B */
	while (alloc_on(t, C) == 0)
		sync_manager(t);
	assert_int_equal(count_of(t, C, POOL_LLL), 4);
	on_b = count_of(t, B, POOL_RLL);
	assert_int_equal(on_b, 4);
	assert_int_equal(cluster_drain(t->cl[B], 2000), -ENOSPC);
	assert_int_equal(count_of(t, B, POOL_RLL), on_b);
	/* B still serves them, and lends nothing new meanwhile */
	check_all(t, A);
	/* room appears on C: the drain finishes */
	while (t->nh[C])
		free_on(t, C, 0);
	sync_manager(t);
	assert_int_equal(cluster_drain(t->cl[B], 5000), 0);
	assert_int_equal(count_of(t, B, POOL_RLL), 0);
	stop_node(t, B);
	assert_int_equal(count_of(t, A, POOL_LRL), 4);
	check_all(t, A);
}

/* One DRAIN from a tool connection to node n: its reply. */
static struct proto_block_drain_rep drain_request(struct cmp3 *t, int n,
						  bool on)
{
	uint8_t req[PROTO_BLOCK_DRAIN_SIZE], buf[PROTO_BLOCK_DRAIN_REP_SIZE];
	struct iovec qiov = {req, sizeof(req)}, piov = {buf, sizeof(buf)};
	struct wire_hdr h = {.op = WIRE_OP_DRAIN, .id = 1}, rh;
	struct proto_block_drain_rep rep;
	struct conn *c;

	assert_int_equal(conn_connect(t->addr[n], 2000, &c), 0);
	assert_int_equal(conn_set_timeout(c, 2000), 0);
	assert_int_equal(auth_client(c, NULL, 0, 0, 2000), 0);
	assert_int_equal(proto_block_drain_encode(on ? PROTO_BLOCK_DRAIN_ON : 0,
						  req, sizeof(req)),
			 sizeof(req));
	assert_int_equal(wire_send(c, &h, &qiov, 1), 0);
	assert_int_equal(wire_recv_hdr(c, &rh), 0);
	assert_int_equal(rh.status, WIRE_S_OK);
	assert_int_equal(rh.len, sizeof(buf));
	assert_int_equal(wire_recv_payload(c, &rh, &piov, 1), 0);
	assert_int_equal(proto_block_drain_rep_decode(buf, rh.len, &rep), 0);
	conn_destroy(c);
	return rep;
}

static void a_drained_node_keeps_running_and_lends_again_on_undo(void **state)
{
	struct cmp3 *t = *state;
	struct proto_block_drain_rep rep;
	uint64_t end;

	a_borrows_from_b_and_c(t);
	sync_manager(t);
	rep = drain_request(t, B, true);
	assert_int_equal(rep.flags, PROTO_BLOCK_DRAIN_ON);
	end = deadline();
	do {
		if (cmp_now_ns() > end)
			fail_msg("B still holds %u blocks, %u records",
				 rep.held, rep.forwarding);
		pause_a_bit();
		rep = drain_request(t, B, true);
	} while (rep.held || rep.forwarding);
	assert_int_equal(count_of(t, C, POOL_RLL), 4);
	check_all(t, A);
	/* B runs on, its own data too, but lends nothing */
	assert_int_equal(alloc_on(t, B), 0);
	check_all(t, B);
	sync_manager(t);
	assert_int_equal(alloc_on(t, A), -ENOSPC);
	assert_int_equal(count_of(t, B, POOL_RLL), 0);
	/* --undo: it lends again */
	rep = drain_request(t, B, false);
	assert_int_equal(rep.flags, 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, A), 0);
	assert_int_equal(count_of(t, B, POOL_RLL), 1);
	check_all(t, A);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_node_that_leaves_moves_what_it_holds_first, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_node_with_nowhere_to_put_them_keeps_serving, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_drained_node_keeps_running_and_lends_again_on_undo,
			setup, teardown),
	};

	log_init("test-leave", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
