// SPDX-License-Identifier: MIT
/*
 * The node states end to end over mem:// (a real manager, real clients):
 * a node that crashes or goes silent is SUSPECT to the others and ALIVE
 * again when it comes back, with nothing forgotten; a node that leaves is
 * LEFT; a connection that still looks open is replaced by the same process
 * and only by it; FIND_FREE skips SUSPECT and LEFT nodes; cmpctl status
 * shows the states; the long suspect are forgotten.
 * Every wait polls a condition against a deadline.
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

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "catch-output.h"
#include "cmpctl-cluster.h"
#include "manager.h"
#include "mgr-nodes.h"
#include "wait-for.h"

static void wait_heard(struct node *n, uint32_t id, uint8_t state)
{
	struct hear h = {.n = n, .id = id, .state = state};

	assert_true(wait_for(has_heard, &h, DEADLINE_MS));
}

static void wait_state(struct mgr_client *via, uint32_t id, uint8_t state)
{
	struct expect e = {.via = via, .id = id, .state = state};

	assert_true(wait_for(node_is, &e, DEADLINE_MS));
}

static void
a_node_destroyed_without_leave_is_suspect_to_the_others(void **state)
{
	struct node a, b, s;
	struct manager *m;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 31, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&b, 32, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&s, 33, MGR_KIND_MEMSERVER, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS) &&
		    wait_for(registered, b.c, DEADLINE_MS) &&
		    wait_for(registered, s.c, DEADLINE_MS));

	stop_client(&b); /* a crash, as far as the manager can tell */
	wait_heard(&a, 32, MGR_NODE_SUSPECT);
	wait_heard(&s, 32, MGR_NODE_SUSPECT);
	wait_state(a.c, 32, MGR_NODE_SUSPECT);
	assert_int_equal(heard_count(&a, 32, MGR_NODE_SUSPECT), 1);
	assert_int_equal(heard_count(&a, 32, MGR_NODE_LEFT), 0);

	stop_client(&a);
	stop_client(&s);
	manager_destroy(m);
}

static void a_node_that_leaves_is_left_to_the_others(void **state)
{
	struct node a, b, d;
	struct manager *m;
	struct mgr_node_info o;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 41, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&b, 42, MGR_KIND_MEMSERVER, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS) &&
		    wait_for(registered, b.c, DEADLINE_MS));

	assert_int_equal(mgr_client_leave(b.c), 0);
	assert_false(mgr_client_registered(b.c));
	assert_int_equal(mgr_client_leave(b.c), -ENOTCONN);
	wait_heard(&a, 42, MGR_NODE_LEFT);
	wait_state(a.c, 42, MGR_NODE_LEFT);
	stop_client(&b);
	/* a later crash elsewhere is told after b's connection closed */
	start_client(&d, 43, MGR_KIND_COMPUTE, 10, NULL);
	assert_true(wait_for(registered, d.c, DEADLINE_MS));
	stop_client(&d);
	wait_heard(&a, 43, MGR_NODE_SUSPECT);
	/* b's closing connection made it no suspect */
	assert_true(lookup(a.c, 42, &o));
	assert_int_equal(o.state, MGR_NODE_LEFT);
	assert_int_equal(heard_count(&a, 42, MGR_NODE_SUSPECT), 0);
	assert_int_equal(heard_count(&a, 42, MGR_NODE_LEFT), 1);

	stop_client(&a);
	manager_destroy(m);
}

static void leaving_without_a_manager_says_not_connected(void **state)
{
	struct node a;
	uint64_t t0;

	next_addr(); /* nothing listens there */
	start_client(&a, 44, MGR_KIND_COMPUTE, 10, NULL);
	t0 = cmp_now_ns();
	assert_int_equal(leave_client(&a), -ENOTCONN);
	assert_true(cmp_now_ns() - t0 < 2000 * 1000000ull);
}

static void
a_silent_node_is_suspect_then_alive_with_nothing_forgotten(void **state)
{
	struct manager *m;
	struct node a, b;

	next_addr();
	m = start_manager_quick();
	start_client(&a, 51, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&b, 52, MGR_KIND_COMPUTE, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS) &&
		    wait_for(registered, b.c, DEADLINE_MS));

	/* b's heartbeat thread stalls inside its counts callback */
	hold_node(&b, true);
	wait_heard(&a, 52, MGR_NODE_SUSPECT);
	wait_state(a.c, 52, MGR_NODE_SUSPECT);

	/* b wakes up, beats or registers again: alive, and told so */
	hold_node(&b, false);
	wait_heard(&a, 52, MGR_NODE_ALIVE);
	wait_state(a.c, 52, MGR_NODE_ALIVE);
	assert_true(wait_for(registered, b.c, DEADLINE_MS));
	/* nobody told b anything about itself: nothing to forget */
	assert_int_equal(heard_count(&b, 52, 0), 0);
	assert_int_equal(heard_count(&a, 52, MGR_NODE_LEFT), 0);

	stop_client(&a);
	stop_client(&b);
	manager_destroy(m);
}

static void a_crashed_node_that_returns_is_alive_at_its_address(void **state)
{
	struct manager *m;
	struct node a, b;
	size_t i;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 61, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&b, 62, MGR_KIND_COMPUTE, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS) &&
		    wait_for(registered, b.c, DEADLINE_MS));
	stop_client(&b);
	wait_state(a.c, 62, MGR_NODE_SUSPECT);
	start_client(&b, 62, MGR_KIND_COMPUTE, 10, NULL);
	assert_int_equal(mgr_client_wait_registered(b.c, DEADLINE_MS), 0);
	wait_state(a.c, 62, MGR_NODE_ALIVE);
	wait_heard(&a, 62, MGR_NODE_ALIVE);
	pthread_mutex_lock(&a.lock);
	for (i = 0; i < a.nheard; i++)
		if (a.heard[i].node == 62 && a.heard[i].state == MGR_NODE_ALIVE)
			assert_string_equal(a.heard[i].addr, "mem://node-62");
	pthread_mutex_unlock(&a.lock);

	stop_client(&a);
	stop_client(&b);
	manager_destroy(m);
}

/* A registration on a raw connection; returns the reply's errno. */
static int raw_register(struct conn **conn, uint32_t id, uint64_t inc)
{
	struct proto_mgr_register reg = {.node = id,
					 .kind = MGR_KIND_COMPUTE,
					 .block_size = BS,
					 .capacity = 10,
					 .incarnation = inc,
					 .addr = "mem://raw"};
	uint8_t buf[PROTO_MGR_REGISTER_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct wire_hdr h = {.op = WIRE_OP_REGISTER, .id = 1};

	assert_int_equal(conn_connect(mgr_addr, 1000, conn), 0);
	assert_int_equal(auth_client(*conn, NULL, 0, 0, 1000), 0);
	assert_int_equal(conn_set_timeout(*conn, DEADLINE_MS), 0);
	proto_mgr_register_encode(&reg, buf, sizeof(buf));
	assert_int_equal(wire_send(*conn, &h, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(*conn, &h), 0);
	assert_true(h.flags & WIRE_F_REPLY);
	assert_int_equal(wire_skip_payload(*conn, &h), 0);
	return wire_status_to_errno(h.status);
}

/* LEAVE for id on conn; returns the reply's errno. */
static int raw_leave(struct conn *conn, uint32_t id)
{
	struct proto_mgr_leave lv = {.node = id};
	uint8_t buf[PROTO_MGR_LEAVE_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct wire_hdr h = {.op = WIRE_OP_LEAVE, .id = 2};

	proto_mgr_leave_encode(&lv, buf, sizeof(buf));
	assert_int_equal(wire_send(conn, &h, &iov, 1), 0);
	do {
		assert_int_equal(wire_recv_hdr(conn, &h), 0);
		assert_int_equal(wire_skip_payload(conn, &h), 0);
	} while (!(h.flags & WIRE_F_REPLY)); /* pushes of others' states */
	assert_int_equal(h.op, WIRE_OP_LEAVE);
	return wire_status_to_errno(h.status);
}

static void only_the_same_process_replaces_a_connection_still_open(void **state)
{
	struct conn *r1, *r2, *r3;
	struct wire_hdr h;
	struct manager *m;
	struct node a;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 71, MGR_KIND_COMPUTE, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS));
	assert_int_equal(raw_register(&r1, 77, 0xabc), 0);
	wait_heard(&a, 77, MGR_NODE_ALIVE);

	/* the same process again, as after a reset the manager never saw */
	assert_int_equal(raw_register(&r2, 77, 0xabc), 0);
	assert_int_equal(wire_recv_hdr(r1, &h), -ECONNRESET); /* closed */
	wait_state(a.c, 77, MGR_NODE_ALIVE);
	/* another process with that id while it lives: refused */
	assert_int_equal(raw_register(&r3, 77, 0xdef), -EBUSY);
	assert_int_equal(heard_count(&a, 77, MGR_NODE_SUSPECT), 0);
	/* only the registration connection may say LEAVE, for its own id */
	assert_int_equal(raw_leave(r3, 77), -ENOENT);
	assert_int_equal(raw_leave(r2, 78), -ENOENT);
	wait_state(a.c, 77, MGR_NODE_ALIVE);
	assert_int_equal(raw_leave(r2, 77), 0);
	wait_heard(&a, 77, MGR_NODE_LEFT);

	conn_destroy(r1);
	conn_destroy(r2);
	conn_destroy(r3);
	stop_client(&a);
	manager_destroy(m);
}

static void find_free_skips_suspect_and_left_nodes(void **state)
{
	struct mgr_free_entry f[PROTO_MGR_MAX_FREE];
	struct node a, b, c, d;
	struct manager *m;
	size_t n;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 81, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&b, 82, MGR_KIND_COMPUTE, 500, NULL);
	start_client(&c, 83, MGR_KIND_MEMSERVER, 900, NULL);
	start_client(&d, 84, MGR_KIND_COMPUTE, 20, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS) &&
		    wait_for(registered, b.c, DEADLINE_MS) &&
		    wait_for(registered, c.c, DEADLINE_MS) &&
		    wait_for(registered, d.c, DEADLINE_MS));
	assert_int_equal(mgr_client_find_free(a.c, 1, f, ARRAY_SIZE(f), &n), 0);
	assert_int_equal(n, 3);

	stop_client(&b);
	assert_int_equal(leave_client(&c), 0);
	wait_state(a.c, 82, MGR_NODE_SUSPECT);
	wait_state(a.c, 83, MGR_NODE_LEFT);
	assert_int_equal(mgr_client_find_free(a.c, 1, f, ARRAY_SIZE(f), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(f[0].node, 84);

	stop_client(&a);
	stop_client(&d);
	manager_destroy(m);
}

static void cmpctl_status_shows_suspect_and_left_nodes(void **state)
{
	char path[] = "/tmp/cmp-test-states-XXXXXX";
	struct node a, b, c;
	struct manager *m;
	char text[8192];
	size_t len;
	FILE *f;
	int fd;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 91, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&b, 92, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&c, 93, MGR_KIND_MEMSERVER, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS) &&
		    wait_for(registered, b.c, DEADLINE_MS) &&
		    wait_for(registered, c.c, DEADLINE_MS));
	stop_client(&b);
	assert_int_equal(leave_client(&c), 0);
	wait_state(a.c, 92, MGR_NODE_SUSPECT);
	wait_state(a.c, 93, MGR_NODE_LEFT);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w+");
	assert_non_null(f);
	assert_int_equal(cmpctl_cluster_status(mgr_addr, NULL, false, f), 0);
	assert_int_equal(cmpctl_cluster_status(mgr_addr, NULL, true, f), 0);
	rewind(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = 0;
	fclose(f);
	unlink(path);
	assert_non_null(strstr(text, "suspect since "));
	assert_non_null(strstr(text, "s ago "));
	/* a node that is not alive shows no lists: its counts are stale */
	assert_non_null(strstr(text, "          -          -          -"));
	assert_true(count_lines(text, "          -          -          -",
				NULL) == 2);
	assert_non_null(strstr(text, "3 nodes (1 alive, 1 suspect, 1 left)"));
	assert_non_null(strstr(text,
			       "\"id\": 92, \"kind\": \"compute\", "
			       "\"alive\": false, \"state\": \"suspect\", "
			       "\"since_s\": "));
	assert_non_null(strstr(text, "\"id\": 93, \"kind\": \"memserver\", "
				     "\"alive\": false, \"state\": \"left\""));
	assert_non_null(strstr(text, "\"id\": 91, \"kind\": \"compute\", "
				     "\"alive\": true, \"state\": \"alive\""));

	stop_client(&a);
	manager_destroy(m);
}

static bool listed(void *arg)
{
	struct expect *e = arg;
	struct mgr_node_info o;

	return lookup(e->via, e->id, &o);
}

static bool not_listed(void *arg)
{
	return !listed(arg);
}

static void the_manager_forgets_a_node_suspect_for_forget_after(void **state)
{
	struct manager_config cfg = {.heartbeat_ms = HB_MS,
				     .suspect_after = SUSPECT_AFTER,
				     .forget_after_ms = 300};
	struct expect gone = {.id = 102};
	struct manager *m;
	struct node a, b;

	next_addr();
	cfg.listen_addr = mgr_addr;
	m = manager_create(&cfg);
	assert_non_null(m);
	start_client(&a, 101, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&b, 102, MGR_KIND_COMPUTE, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS) &&
		    wait_for(registered, b.c, DEADLINE_MS));
	stop_client(&b);
	wait_state(a.c, 102, MGR_NODE_SUSPECT);
	gone.via = a.c;
	assert_true(wait_for(not_listed, &gone, DEADLINE_MS));
	wait_state(a.c, 101, MGR_NODE_ALIVE);
	/* and it is welcome back */
	start_client(&b, 102, MGR_KIND_COMPUTE, 10, NULL);
	assert_int_equal(mgr_client_wait_registered(b.c, DEADLINE_MS), 0);
	assert_true(wait_for(listed, &gone, DEADLINE_MS));

	stop_client(&a);
	stop_client(&b);
	manager_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			a_node_destroyed_without_leave_is_suspect_to_the_others),
		cmocka_unit_test(a_node_that_leaves_is_left_to_the_others),
		cmocka_unit_test(leaving_without_a_manager_says_not_connected),
		cmocka_unit_test(
			a_silent_node_is_suspect_then_alive_with_nothing_forgotten),
		cmocka_unit_test(
			a_crashed_node_that_returns_is_alive_at_its_address),
		cmocka_unit_test(
			only_the_same_process_replaces_a_connection_still_open),
		cmocka_unit_test(find_free_skips_suspect_and_left_nodes),
		cmocka_unit_test(cmpctl_status_shows_suspect_and_left_nodes),
		cmocka_unit_test(
			the_manager_forgets_a_node_suspect_for_forget_after),
	};

	log_init("test-mgrstate", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
