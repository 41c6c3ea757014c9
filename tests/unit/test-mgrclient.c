// SPDX-License-Identifier: MIT
/*
 * The manager and its clients end to end over mem:// (real server threads,
 * real handshakes, real frames): registration, heartbeats, FIND_FREE,
 * manager restarts, wrong keys, duplicate ids, the real errno when there
 * is no manager and how often that is logged, garbage on one connection,
 * and cmpctl status. The node states are tested in test-mgrstate.c, the
 * server loop in test-server.c.
 * Every wait polls a condition against a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/auth.h"
#include "cmpctl-cluster.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "catch-output.h"
#include "manager.h"
#include "mgr-nodes.h"
#include "wait-for.h"

static void clients_register_and_heartbeats_update_counts(void **state)
{
	struct manager *m;
	struct node a, s;
	struct mgr_node_info o;
	struct expect e;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 11, MGR_KIND_COMPUTE, 500, NULL);
	start_client(&s, 12, MGR_KIND_MEMSERVER, 90000, NULL);
	assert_int_equal(mgr_client_wait_registered(a.c, DEADLINE_MS), 0);
	assert_int_equal(mgr_client_wait_registered(s.c, DEADLINE_MS), 0);

	assert_true(lookup(a.c, 12, &o));
	assert_int_equal(o.state, MGR_NODE_ALIVE);
	assert_int_equal(o.kind, MGR_KIND_MEMSERVER);
	assert_int_equal(o.block_size, BS);
	assert_int_equal(o.capacity, 100000);
	assert_string_equal(o.addr, "mem://node-12");

	set_counts(&a, &(struct proto_mgr_counts){400, 77, 3, 20, 1});
	e = (struct expect){
		.via = s.c, .id = 11, .state = MGR_NODE_ALIVE, .lll = 77};
	assert_true(wait_for(node_is, &e, DEADLINE_MS));
	assert_true(lookup(s.c, 11, &o));
	assert_int_equal(o.counts.free, 400);
	assert_int_equal(o.counts.lrl, 3);
	assert_int_equal(o.counts.rll, 20);
	assert_int_equal(o.counts.rrl, 1);

	stop_client(&a);
	stop_client(&s);
	manager_destroy(m);
}

static void find_free_answers_in_tier_order_without_the_asker(void **state)
{
	struct mgr_free_entry f[PROTO_MGR_MAX_FREE];
	struct node a, b, c, s;
	struct manager *m;
	size_t n;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 21, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&b, 22, MGR_KIND_COMPUTE, 50, NULL);
	start_client(&c, 23, MGR_KIND_COMPUTE, 30, NULL);
	start_client(&s, 24, MGR_KIND_MEMSERVER, 90000, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS) &&
		    wait_for(registered, b.c, DEADLINE_MS) &&
		    wait_for(registered, c.c, DEADLINE_MS) &&
		    wait_for(registered, s.c, DEADLINE_MS));

	assert_int_equal(mgr_client_find_free(a.c, 1, f, ARRAY_SIZE(f), &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(f[0].node, 22);
	assert_int_equal(f[1].node, 23);
	assert_int_equal(f[2].node, 24);
	assert_int_equal(f[2].kind, MGR_KIND_MEMSERVER);
	assert_string_equal(f[0].addr, "mem://node-22");
	assert_int_equal(mgr_client_find_free(a.c, 1, f, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mgr_client_find_free(a.c, 0, f, 1, &n), -EINVAL);

	stop_client(&a);
	stop_client(&b);
	stop_client(&c);
	stop_client(&s);
	manager_destroy(m);
}

static bool both_back(void *arg)
{
	struct node **n = arg;
	struct mgr_node_info o;

	return lookup(n[0]->c, n[1]->id, &o) && o.state == MGR_NODE_ALIVE &&
	       lookup(n[1]->c, n[0]->id, &o) && o.state == MGR_NODE_ALIVE;
}

static void clients_register_again_after_a_manager_restart(void **state)
{
	struct node a, s, *both[2] = {&a, &s};
	struct mgr_node_info o;
	struct manager *m;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 51, MGR_KIND_COMPUTE, 10, NULL);
	start_client(&s, 52, MGR_KIND_MEMSERVER, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS) &&
		    wait_for(registered, s.c, DEADLINE_MS));

	manager_destroy(m);
	assert_false(lookup(a.c, 52, &o));
	m = start_manager(NULL);
	assert_true(wait_for(both_back, both, DEADLINE_MS));
	/* a restart announces nothing but registrations, disturbs nothing */
	assert_int_equal(heard_count(&a, 52, MGR_NODE_SUSPECT), 0);
	assert_int_equal(heard_count(&a, 52, MGR_NODE_LEFT), 0);
	assert_int_equal(heard_count(&s, 51, MGR_NODE_SUSPECT), 0);
	assert_int_equal(heard_count(&s, 51, MGR_NODE_LEFT), 0);

	stop_client(&a);
	stop_client(&s);
	manager_destroy(m);
}

/* A keyring of one made-up key. */
static struct auth_keyring *random_key(uint8_t seed)
{
	struct auth_keyring *kr;
	struct auth_key k;
	size_t i;

	for (i = 0; i < sizeof(k.bytes); i++)
		k.bytes[i] = (uint8_t)(seed * 31 + i * 7);
	kr = auth_keyring_create(&k, 1);
	assert_non_null(kr);
	return kr;
}

static void a_wrong_key_or_no_key_is_refused(void **state)
{
	struct auth_keyring *k1 = random_key(1), *k2 = random_key(2);
	struct mgr_node_info o[4];
	struct node a, b, c;
	struct manager *m;
	size_t n;

	next_addr();
	m = start_manager(k1);
	start_client(&a, 61, MGR_KIND_COMPUTE, 10, k1);
	start_client(&b, 62, MGR_KIND_COMPUTE, 10, k2);
	start_client(&c, 63, MGR_KIND_COMPUTE, 10, NULL);
	assert_int_equal(mgr_client_wait_registered(a.c, DEADLINE_MS), 0);
	assert_int_equal(mgr_client_wait_registered(b.c, 300), -EACCES);
	assert_int_equal(mgr_client_wait_registered(c.c, 300), -EACCES);
	assert_int_equal(mgr_query_nodes(mgr_addr, k2, 1000, o, 4, &n),
			 -EACCES);
	assert_int_equal(mgr_query_nodes(mgr_addr, k1, 1000, o, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(o[0].node, 61);

	stop_client(&a);
	stop_client(&b);
	stop_client(&c);
	manager_destroy(m);
	auth_keyring_destroy(k1);
	auth_keyring_destroy(k2);
}

static void a_duplicate_live_id_is_refused(void **state)
{
	struct manager *m;
	struct node a, b;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 71, MGR_KIND_COMPUTE, 10, NULL);
	assert_int_equal(mgr_client_wait_registered(a.c, DEADLINE_MS), 0);
	start_client(&b, 71, MGR_KIND_COMPUTE, 10, NULL);
	/* another process (another incarnation) while the first one lives */
	assert_int_equal(mgr_client_wait_registered(b.c, 300), -EBUSY);
	assert_true(mgr_client_registered(a.c));
	/* the first one dies; the second takes the id over */
	stop_client(&a);
	assert_int_equal(mgr_client_wait_registered(b.c, DEADLINE_MS), 0);
	stop_client(&b);
	manager_destroy(m);
}

static void
queries_without_a_manager_fail_in_time_with_the_real_errno(void **state)
{
	struct mgr_free_entry f[4];
	struct node a;
	uint64_t t0;
	size_t n;

	next_addr(); /* nothing listens there */
	start_client(&a, 81, MGR_KIND_COMPUTE, 10, NULL);
	t0 = cmp_now_ns();
	assert_int_equal(mgr_client_find_free(a.c, 4, f, 4, &n), -ECONNREFUSED);
	assert_true(cmp_now_ns() - t0 < 3000 * 1000000ull);
	assert_int_equal(mgr_client_wait_registered(a.c, 200), -ECONNREFUSED);
	stop_client(&a);
}

static void a_refused_tcp_connect_says_connection_refused(void **state)
{
	struct manager_config cfg = {.listen_addr = "tcp://127.0.0.1:0"};
	struct mgr_node_info o[2];
	struct manager *m;
	struct node a;
	size_t n;

	/* a port that was just closed: nothing listens, the kernel refuses */
	m = manager_create(&cfg);
	assert_non_null(m);
	snprintf(mgr_addr, sizeof(mgr_addr), "%s", manager_addr(m));
	manager_destroy(m);
	start_client(&a, 82, MGR_KIND_COMPUTE, 10, NULL);
	assert_int_equal(mgr_client_wait_registered(a.c, 300), -ECONNREFUSED);
	assert_int_equal(mgr_query_nodes(mgr_addr, NULL, 1000, o, 2, &n),
			 -ECONNREFUSED);
	stop_client(&a);
}

/* A "manager" that hangs up on every node after the handshake. */
static int hang_up(void *ctx, struct server_conn *sc)
{
	atomic_int *tries = ctx;

	atomic_fetch_add(tries, 1);
	return -ECONNRESET;
}

static int no_frames(void *ctx, struct server_conn *sc,
		     const struct wire_hdr *h)
{
	return -EPROTO;
}

static bool tried_four_times(void *arg)
{
	return atomic_load((atomic_int *)arg) >= 4;
}

static size_t occurrences(const char *text, const char *what)
{
	size_t k = 0;

	for (; (text = strstr(text, what)); text++)
		k++;
	return k;
}

static void an_unreachable_manager_is_logged_once_not_per_retry(void **state)
{
	atomic_int tries = 0;
	struct server_config cfg = {.name = "hang-up",
				    .handle = no_frames,
				    .on_open = hang_up,
				    .ctx = &tries};
	struct server *s;
	const char *out;
	struct node a;

	next_addr();
	cfg.listen_addr = mgr_addr;
	s = server_create(&cfg);
	assert_non_null(s);
	catch_stderr();
	start_client(&a, 83, MGR_KIND_COMPUTE, 10, NULL);
	assert_true(wait_for(tried_four_times, &tries, DEADLINE_MS));
	stop_client(&a);
	out = caught();
	server_destroy(s);
	assert_int_equal(occurrences(out, "cannot reach the manager at "), 1);
	assert_non_null(strstr(out, "retrying every 2 s"));
	assert_null(strstr(out, "No route to host"));
	assert_int_equal(occurrences(out, "still no manager"), 0);
}

/*
 * A daemon starting waits for its registration and says in one line what
 * the failure means for it (caller_reports_start): the client adds no
 * line of its own, however early its first attempt fails, and none per
 * retry afterwards.
 */
static void a_failure_at_start_is_left_to_the_caller(void **state)
{
	atomic_int tries = 0;
	struct server_config cfg = {.name = "hang-up",
				    .handle = no_frames,
				    .on_open = hang_up,
				    .ctx = &tries};
	struct mgr_client_config ccfg = {.kind = MGR_KIND_COMPUTE,
					 .node = 84,
					 .listen_addr = "mem://node-84",
					 .block_size = BS,
					 .capacity = 10,
					 .caller_reports_start = true};
	struct mgr_client *c;
	struct server *s;
	const char *out;
	int ret;

	next_addr();
	cfg.listen_addr = mgr_addr;
	ccfg.manager_addr = mgr_addr;
	s = server_create(&cfg);
	assert_non_null(s);
	catch_stderr();
	c = mgr_client_create(&ccfg);
	assert_non_null(c);
	assert_true(wait_for(tried_four_times, &tries, DEADLINE_MS));
	ret = mgr_client_wait_registered(c, 10);
	mgr_client_destroy(c);
	out = caught();
	server_destroy(s);
	assert_true(ret < 0);
	assert_null(mgr_refusal_text(ret));
	assert_int_equal(occurrences(out, "the manager"), 0);
}

static void garbage_closes_only_that_connection(void **state)
{
	static const uint8_t junk[64] = "this is not a cmp frame at all....";
	struct iovec iov = {.iov_base = (void *)junk, .iov_len = sizeof(junk)};
	struct mgr_node_info o;
	struct manager *m;
	struct conn *raw;
	struct node a;
	uint8_t byte;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 91, MGR_KIND_COMPUTE, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS));

	assert_int_equal(conn_connect(mgr_addr, 1000, &raw), 0);
	assert_int_equal(auth_client(raw, NULL, 0, 0, 1000), 0);
	assert_int_equal(conn_set_timeout(raw, DEADLINE_MS), 0);
	assert_int_equal(conn_writev(raw, &iov, 1), 0);
	assert_int_equal(conn_read(raw, &byte, 1), -ECONNRESET);
	conn_destroy(raw);

	assert_true(lookup(a.c, 91, &o));
	assert_int_equal(o.state, MGR_NODE_ALIVE);
	assert_true(mgr_client_registered(a.c));
	assert_int_equal(a.nheard, 0);
	stop_client(&a);
	manager_destroy(m);
}

static void unknown_requests_get_not_supported(void **state)
{
	struct wire_hdr h = {.op = WIRE_OP_READ, .id = 5};
	struct manager *m;
	struct conn *raw;

	next_addr();
	m = start_manager(NULL);
	assert_int_equal(conn_connect(mgr_addr, 1000, &raw), 0);
	assert_int_equal(auth_client(raw, NULL, 0, 0, 1000), 0);
	assert_int_equal(conn_set_timeout(raw, DEADLINE_MS), 0);
	assert_int_equal(wire_send(raw, &h, NULL, 0), 0);
	assert_int_equal(wire_recv_hdr(raw, &h), 0);
	assert_true(h.flags & WIRE_F_REPLY);
	assert_int_equal(h.id, 5);
	assert_int_equal(h.status, WIRE_S_NOTSUP);
	/* the connection still serves */
	h = (struct wire_hdr){.op = WIRE_OP_NODES, .id = 6};
	assert_int_equal(wire_send(raw, &h, NULL, 0), 0);
	assert_int_equal(wire_recv_hdr(raw, &h), 0);
	assert_int_equal(h.status, WIRE_S_OK);
	assert_int_equal(h.id, 6);
	assert_int_equal(wire_skip_payload(raw, &h), 0);
	conn_destroy(raw);
	manager_destroy(m);
}

static void cmpctl_status_prints_a_table_and_json(void **state)
{
	char path[] = "/tmp/cmp-test-status-XXXXXX";
	char text[4096];
	struct manager *m;
	struct node a;
	size_t len;
	FILE *f;
	int fd;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 101, MGR_KIND_COMPUTE, 10, NULL);
	assert_true(wait_for(registered, a.c, DEADLINE_MS));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w+");
	assert_non_null(f);

	assert_int_equal(cmpctl_cluster_status(mgr_addr, NULL, false, f), 0);
	assert_int_equal(cmpctl_cluster_status(mgr_addr, NULL, true, f), 0);
	rewind(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = 0;
	assert_non_null(strstr(text, "RRL"));
	assert_non_null(strstr(text, "mem://node-101"));
	assert_non_null(strstr(text, "1 nodes (1 alive)"));
	/* sizes in units: 100000 blocks of 64 KiB, 10 free; a fresh age */
	assert_non_null(strstr(text, "  64.0 KiB    6.1 GiB  640.0 KiB"));
	assert_non_null(strstr(text, " ms\n"));
	assert_null(strstr(text, "did not answer"));
	assert_non_null(strstr(text, "\"fresh\": true"));
	assert_non_null(strstr(text, "\"id\": 101, \"kind\": \"compute\""));
	assert_non_null(strstr(text, "\"alive\": true"));
	assert_non_null(strstr(text, "\"state\": \"alive\", \"since_s\": "));
	fclose(f);
	unlink(path);

	stop_client(&a);
	manager_destroy(m);
	assert_int_equal(cmpctl_cluster_status(mgr_addr, NULL, false, stdout),
			 -ECONNREFUSED);
}

static void the_same_works_over_tcp_loopback(void **state)
{
	struct manager_config cfg = {.listen_addr = "tcp://127.0.0.1:0",
				     .heartbeat_ms = HB_MS,
				     .suspect_after = SUSPECT_AFTER};
	struct hear suspect = {.id = 112, .state = MGR_NODE_SUSPECT};
	struct mgr_free_entry f[4];
	struct auth_keyring *k = random_key(3);
	struct node a, b;
	struct manager *m;
	size_t n;

	cfg.keyring = k;
	m = manager_create(&cfg);
	assert_non_null(m);
	snprintf(mgr_addr, sizeof(mgr_addr), "%s", manager_addr(m));
	assert_non_null(strstr(mgr_addr, "tcp://127.0.0.1:"));
	start_client(&a, 111, MGR_KIND_COMPUTE, 10, k);
	start_client(&b, 112, MGR_KIND_MEMSERVER, 99, k);
	assert_int_equal(mgr_client_wait_registered(a.c, DEADLINE_MS), 0);
	assert_int_equal(mgr_client_wait_registered(b.c, DEADLINE_MS), 0);
	assert_int_equal(mgr_client_find_free(a.c, 8, f, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(f[0].node, 112);
	stop_client(&b);
	suspect.n = &a;
	assert_true(wait_for(has_heard, &suspect, DEADLINE_MS));
	stop_client(&a);
	manager_destroy(m);
	auth_keyring_destroy(k);
}

static void a_different_block_size_is_refused_at_once(void **state)
{
	struct mgr_client_config cfg = {.kind = MGR_KIND_COMPUTE,
					.node = 121,
					.listen_addr = "mem://node-121",
					.block_size = 4096,
					.capacity = 10,
					.caller_reports_start = true};
	struct mgr_client *c;
	struct manager *m;
	struct node a;
	uint64_t t0;

	next_addr();
	m = start_manager(NULL);
	start_client(&a, 120, MGR_KIND_COMPUTE, 10, NULL);
	assert_int_equal(mgr_client_wait_registered(a.c, DEADLINE_MS), 0);
	cfg.manager_addr = mgr_addr;
	catch_stderr();
	c = mgr_client_create(&cfg);
	assert_non_null(c);
	t0 = cmp_now_ns();
	assert_int_equal(mgr_client_wait_registered(c, DEADLINE_MS), -EINVAL);
	assert_true(cmp_now_ns() - t0 < (DEADLINE_MS / 2) * 1000000ull);
	mgr_client_destroy(c);
	/* the caller says it in one line and exits: no "retrying" */
	assert_null(strstr(caught(), "retrying"));
	assert_string_equal(mgr_refusal_text(-EINVAL),
			    "block size differs from the cluster's");
	stop_client(&a);
	manager_destroy(m);
}

/* A manager that takes registrations and then never answers again. */
struct mute {
	pthread_mutex_t lock;
	int registrations;
};

static int mute_handle(void *ctx, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	struct proto_mgr_register_reply rep = {
		.heartbeat_ms = 20, .suspect_after = 1, .epoch = 1};
	uint8_t buf[PROTO_MGR_REGISTER_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct mute *m = ctx;
	int ret;

	ret = server_read_payload(sc, h, buf, sizeof(buf));
	if (ret < 0 || h->op != WIRE_OP_REGISTER)
		return ret;
	pthread_mutex_lock(&m->lock);
	m->registrations++;
	pthread_mutex_unlock(&m->lock);
	iov.iov_len = PROTO_MGR_REGISTER_REPLY_SIZE;
	proto_mgr_register_reply_encode(&rep, buf, sizeof(buf));
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

static bool registered_twice(void *arg)
{
	struct mute *m = arg;
	bool twice;

	pthread_mutex_lock(&m->lock);
	twice = m->registrations >= 2;
	pthread_mutex_unlock(&m->lock);
	return twice;
}

static void a_manager_that_stops_answering_is_left_and_retried(void **state)
{
	struct server_config cfg = {.name = "mute", .handle = mute_handle};
	struct mute mute = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct server *s;
	struct node a;

	next_addr();
	cfg.listen_addr = mgr_addr;
	cfg.ctx = &mute;
	s = server_create(&cfg);
	assert_non_null(s);
	start_client(&a, 131, MGR_KIND_COMPUTE, 10, NULL);
	assert_int_equal(mgr_client_wait_registered(a.c, DEADLINE_MS), 0);
	/* heartbeats go unanswered: the client hangs up and registers anew */
	assert_true(wait_for(registered_twice, &mute, DEADLINE_MS));
	stop_client(&a);
	server_destroy(s);
	pthread_mutex_destroy(&mute.lock);
}

#define MANY 32
#define ASKERS 4
#define ASKS 50

static struct node many[MANY];

static void *asker(void *arg)
{
	struct mgr_free_entry f[PROTO_MGR_MAX_FREE];
	uintptr_t k = (uintptr_t)arg;
	size_t n, i, bad = 0;

	for (i = 0; i < ASKS; i++) {
		/* several threads share each client: one connection each */
		if (mgr_client_find_free(many[(k + i) % MANY].c, 1, f,
					 ARRAY_SIZE(f), &n) < 0 ||
		    n != PROTO_MGR_MAX_FREE)
			bad++;
	}
	return (void *)bad;
}

static bool all_alive(void *arg)
{
	static struct mgr_node_info all[MANY + 1];
	size_t n, i, alive = 0;

	if (mgr_client_nodes(arg, all, ARRAY_SIZE(all), &n) < 0)
		return false;
	for (i = 0; i < n; i++)
		alive += all[i].state == MGR_NODE_ALIVE;
	return alive == MANY;
}

static void many_nodes_register_and_ask_at_once(void **state)
{
	pthread_t t[ASKERS];
	struct manager *m;
	void *bad;
	size_t i;

	next_addr();
	m = start_manager(NULL);
	for (i = 0; i < MANY; i++)
		start_client(&many[i], 1000 + (uint32_t)i, MGR_KIND_COMPUTE,
			     100 + i, NULL);
	assert_true(wait_for(all_alive, many[0].c, DEADLINE_MS));
	for (i = 0; i < ASKERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, asker,
						(void *)(uintptr_t)(i * 7)),
				 0);
	for (i = 0; i < ASKERS; i++) {
		pthread_join(t[i], &bad);
		assert_int_equal((uintptr_t)bad, 0);
	}
	for (i = 0; i < MANY; i++)
		stop_client(&many[i]);
	manager_destroy(m);
}

static void cmpctl_keygen_writes_once(void **state)
{
	char dir[] = "/tmp/cmp-test-key-XXXXXX", path[128];
	struct auth_keyring *kr;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cluster.key", dir);
	assert_int_equal(cmpctl_keygen(path), 0);
	kr = auth_keyring_load(path);
	assert_non_null(kr);
	assert_int_equal(auth_keyring_count(kr), 1);
	auth_keyring_destroy(kr);
	assert_int_equal(cmpctl_keygen(path), -EEXIST);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clients_register_and_heartbeats_update_counts),
		cmocka_unit_test(
			find_free_answers_in_tier_order_without_the_asker),
		cmocka_unit_test(
			clients_register_again_after_a_manager_restart),
		cmocka_unit_test(a_wrong_key_or_no_key_is_refused),
		cmocka_unit_test(a_duplicate_live_id_is_refused),
		cmocka_unit_test(
			queries_without_a_manager_fail_in_time_with_the_real_errno),
		cmocka_unit_test(a_refused_tcp_connect_says_connection_refused),
		cmocka_unit_test(
			an_unreachable_manager_is_logged_once_not_per_retry),
		cmocka_unit_test(a_failure_at_start_is_left_to_the_caller),
		cmocka_unit_test(garbage_closes_only_that_connection),
		cmocka_unit_test(unknown_requests_get_not_supported),
		cmocka_unit_test(cmpctl_status_prints_a_table_and_json),
		cmocka_unit_test(the_same_works_over_tcp_loopback),
		cmocka_unit_test(a_different_block_size_is_refused_at_once),
		cmocka_unit_test(
			a_manager_that_stops_answering_is_left_and_retried),
		cmocka_unit_test(many_nodes_register_and_ask_at_once),
		cmocka_unit_test(cmpctl_keygen_writes_once),
	};

	log_init("test-mgrclient", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
