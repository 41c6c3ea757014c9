// SPDX-License-Identifier: MIT
/*
 * Several managers and the client's failover (include/cmp/mgr.h, "Several
 * managers"; manager/client.c, manager/peers.c), end to end over mem://
 * with real managers, real clients and real frames: a standby refuses and
 * the client goes on down its list; the standby takes over when the
 * active manager is gone and the clients follow; a node that dies during
 * the switch is still announced; a manager that comes back takes its rank
 * back; queries go where the client is registered, then to the others.
 * Every wait polls a condition against a deadline.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catch-output.h"
#include "cmpctl-cluster.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/util.h"
#include "manager.h"
#include "mgr-nodes.h"
#include "wait-for.h"

/* A manager gone this long is replaced; four questions per period. */
#define TAKEOVER_MS 200

static char addr_a[32], addr_b[32];

/* The test's two managers, A before B: the nodes are given "A,B". */
static void next_pair(void)
{
	next_addr();
	snprintf(addr_a, sizeof(addr_a), "%.28s-a", mgr_addr);
	snprintf(addr_b, sizeof(addr_b), "%.28s-b", mgr_addr);
	snprintf(mgr_addr, sizeof(mgr_addr), "%s,%s", addr_a, addr_b);
}

static struct manager *start_ranked(const char *self, uint32_t suspect_after)
{
	struct manager_config cfg = {.listen_addr = self,
				     .heartbeat_ms = HB_MS,
				     .suspect_after = suspect_after,
				     .managers = mgr_addr,
				     .takeover_ms = TAKEOVER_MS};
	struct manager *m = manager_create(&cfg);

	assert_non_null(m);
	return m;
}

struct role_is {
	const char *addr;
	uint8_t role;
	uint32_t copied; /* at least this many nodes copied; 0: any */
};

static bool has_role(void *arg)
{
	struct role_is *w = arg;
	struct proto_mgr_role r;

	return mgr_query_role(w->addr, NULL, 1000, &r) == 0 &&
	       r.role == w->role && r.copied >= w->copied;
}

/* B names A as the manager it defers to (r: its last answer). */
static bool defers_to_a(void *arg)
{
	struct proto_mgr_role *r = arg;

	return mgr_query_role(addr_b, NULL, 1000, r) == 0 &&
	       !strcmp(r->defers_to, addr_a);
}

static void wait_role(const char *addr, uint8_t role, uint32_t copied)
{
	struct role_is w = {addr, role, copied};

	assert_true(wait_for(has_role, &w, DEADLINE_MS));
}

struct at {
	struct mgr_client *c;
	const char *addr;
};

/* The client is registered with the manager at addr. */
static bool registered_at(void *arg)
{
	struct at *a = arg;
	char buf[MGR_MANAGER_ADDR_LEN];

	return !strcmp(mgr_client_manager(a->c, buf, sizeof(buf)), a->addr);
}

static void wait_registered_at(struct node *n, const char *addr)
{
	struct at a = {n->c, addr};

	assert_true(wait_for(registered_at, &a, DEADLINE_MS));
}

/* A and B started, A active and B its standby. */
static void start_pair(struct manager **a, struct manager **b,
		       uint32_t suspect_after)
{
	struct proto_mgr_role r;

	next_pair();
	*a = start_ranked(addr_a, suspect_after);
	*b = start_ranked(addr_b, suspect_after);
	wait_role(addr_a, MGR_ROLE_ACTIVE, 0);
	/* B is a standby from its start: wait until it has heard A */
	assert_true(wait_for(defers_to_a, &r, DEADLINE_MS));
	assert_int_equal(r.role, MGR_ROLE_STANDBY);
}

/* Node id (of kind) registered with the manager at addr. */
static void join(struct node *n, uint32_t id, unsigned int kind,
		 const char *addr)
{
	start_client(n, id, kind, 10, NULL);
	wait_registered_at(n, addr);
}

/* Both managers up: A active, B a standby that refuses and says why. */
static void a_standby_refuses_and_nodes_register_with_the_active_one(void **s)
{
	struct mgr_node_info o[4];
	struct proto_mgr_role r;
	struct manager *a, *b;
	struct node n;
	size_t count;

	start_pair(&a, &b, SUSPECT_AFTER);
	join(&n, 11, MGR_KIND_COMPUTE, addr_a);

	assert_int_equal(mgr_query_role(addr_b, NULL, 1000, &r), 0);
	assert_int_equal(r.rank, 1);
	assert_string_equal(r.defers_to, addr_a);
	assert_int_equal(r.alive, 0);
	assert_int_equal(mgr_query_role(addr_a, NULL, 1000, &r), 0);
	assert_int_equal(r.rank, 0);
	assert_string_equal(r.defers_to, "");
	/* the standby answers nothing else; a list finds the active one */
	assert_int_equal(mgr_query_nodes(addr_b, NULL, 1000, o, 4, &count),
			 -EREMOTE);
	assert_int_equal(mgr_query_nodes(mgr_addr, NULL, 1000, o, 4, &count),
			 0);
	assert_int_equal(count, 1);
	assert_int_equal(o[0].node, 11);
	assert_string_equal(mgr_strerror(-EREMOTE),
			    "standby (another manager is active)");

	stop_client(&n);
	manager_destroy(b);
	manager_destroy(a);
}

/* A node that starts while the first manager is down is not held up. */
static void a_node_skips_a_manager_that_is_not_there(void **state)
{
	struct manager *b;
	struct node n;

	next_pair();
	b = start_ranked(addr_b, SUSPECT_AFTER);
	wait_role(addr_b, MGR_ROLE_ACTIVE, 0);
	start_client(&n, 21, MGR_KIND_COMPUTE, 10, NULL);
	assert_int_equal(mgr_client_wait_registered(n.c, DEADLINE_MS), 0);
	wait_registered_at(&n, addr_b);
	stop_client(&n);
	manager_destroy(b);
}

/*
 * A gone: B takes over once A has been silent for TAKEOVER_MS, the nodes
 * register with it and borrow again; nobody hears a node suspect or
 * left, as no node died.
 */
static void the_standby_takes_over_and_the_nodes_follow(void **state)
{
	struct mgr_free_entry f[PROTO_MGR_MAX_FREE];
	struct node n1, n2;
	struct manager *a, *b;
	struct proto_mgr_role r;
	uint64_t t0, took;
	size_t count;

	start_pair(&a, &b, SUSPECT_AFTER);
	join(&n1, 31, MGR_KIND_COMPUTE, addr_a);
	join(&n2, 32, MGR_KIND_COMPUTE, addr_a);
	wait_role(addr_b, MGR_ROLE_STANDBY, 2);

	manager_destroy(a);
	t0 = cmp_now_ns();
	/* until B is active, borrowing has nobody to ask */
	assert_int_not_equal(
		mgr_client_find_free(n1.c, 1, f, ARRAY_SIZE(f), &count), 0);
	wait_registered_at(&n1, addr_b);
	wait_registered_at(&n2, addr_b);
	took = (cmp_now_ns() - t0) / 1000000;
	assert_int_equal(
		mgr_client_find_free(n1.c, 1, f, ARRAY_SIZE(f), &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(f[0].node, 32);
	print_message("nodes registered with the standby %llu ms after the "
		      "active manager went (takeover after %d ms)\n",
		      (unsigned long long)took, TAKEOVER_MS);
	assert_true(took < 2000);
	assert_int_equal(mgr_query_role(addr_b, NULL, 1000, &r), 0);
	assert_int_equal(r.role, MGR_ROLE_ACTIVE);
	assert_int_equal(r.takeovers, 1);
	assert_int_equal(r.alive, 2);
	assert_int_equal(heard_count(&n1, 32, MGR_NODE_SUSPECT), 0);
	assert_int_equal(heard_count(&n2, 31, MGR_NODE_SUSPECT), 0);
	assert_int_equal(heard_count(&n1, 32, MGR_NODE_LEFT), 0);

	stop_client(&n1);
	stop_client(&n2);
	manager_destroy(b);
}

/*
 * A node that dies while the managers switch tells nobody: A is gone and
 * B not yet active. B took over A's list, so it announces the node
 * suspect once it has not registered in time; never left.
 */
static void a_node_that_dies_during_the_switch_is_announced(void **state)
{
	struct hear h;
	struct node n1, n2, n3;
	struct manager *a, *b;
	struct mgr_node_info o;

	/* the others have 2.1 s to register with B: plenty, even loaded */
	start_pair(&a, &b, 20);
	join(&n1, 41, MGR_KIND_COMPUTE, addr_a);
	join(&n2, 42, MGR_KIND_COMPUTE, addr_a);
	join(&n3, 43, MGR_KIND_COMPUTE, addr_a);
	wait_role(addr_b, MGR_ROLE_STANDBY, 3);

	manager_destroy(a);
	/* B is a standby for TAKEOVER_MS more: n3 cannot register there */
	stop_client(&n3);
	wait_registered_at(&n1, addr_b);
	h = (struct hear){&n1, 43, MGR_NODE_SUSPECT};
	assert_true(wait_for(has_heard, &h, DEADLINE_MS));
	h = (struct hear){&n2, 43, MGR_NODE_SUSPECT};
	assert_true(wait_for(has_heard, &h, DEADLINE_MS));
	assert_true(lookup(n1.c, 43, &o));
	assert_int_equal(o.state, MGR_NODE_SUSPECT);
	/* the ones that did register are not suspects, and nobody left */
	assert_int_equal(heard_count(&n1, 42, MGR_NODE_SUSPECT), 0);
	assert_int_equal(heard_count(&n2, 41, MGR_NODE_SUSPECT), 0);
	assert_int_equal(heard_count(&n1, 43, MGR_NODE_LEFT), 0);

	stop_client(&n1);
	stop_client(&n2);
	manager_destroy(b);
}

/*
 * A comes back while B is active: both are active for a moment, then B
 * steps down and the nodes go back to A, which took B's list over. No
 * node is announced suspect or left on the way.
 */
static void a_manager_that_comes_back_takes_its_rank_back(void **state)
{
	struct node n1, n2;
	struct manager *a, *b;
	struct proto_mgr_role r;

	next_pair();
	b = start_ranked(addr_b, SUSPECT_AFTER);
	wait_role(addr_b, MGR_ROLE_ACTIVE, 0);
	join(&n1, 51, MGR_KIND_COMPUTE, addr_b);
	join(&n2, 52, MGR_KIND_MEMSERVER, addr_b);

	a = start_ranked(addr_a, SUSPECT_AFTER);
	wait_registered_at(&n1, addr_a);
	wait_registered_at(&n2, addr_a);
	wait_role(addr_b, MGR_ROLE_STANDBY, 0);
	assert_int_equal(mgr_query_role(addr_a, NULL, 1000, &r), 0);
	assert_int_equal(r.role, MGR_ROLE_ACTIVE);
	assert_int_equal(r.alive, 2);
	assert_int_equal(mgr_query_role(addr_b, NULL, 1000, &r), 0);
	assert_int_equal(r.alive, 0); /* it forgot its registry */
	assert_int_equal(heard_count(&n1, 52, MGR_NODE_SUSPECT), 0);
	assert_int_equal(heard_count(&n2, 51, MGR_NODE_SUSPECT), 0);
	assert_int_equal(heard_count(&n1, 52, MGR_NODE_LEFT), 0);
	assert_int_equal(heard_count(&n2, 51, MGR_NODE_LEFT), 0);

	stop_client(&n1);
	stop_client(&n2);
	manager_destroy(a);
	manager_destroy(b);
}

/* The output of cmpctl status (json or a table) over the test's list. */
static const char *status_text(bool json, int *ret)
{
	static char text[16384];
	FILE *f = tmpfile();
	size_t len;

	assert_non_null(f);
	*ret = cmpctl_cluster_status(mgr_addr, NULL, json, f);
	rewind(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = '\0';
	fclose(f);
	return text;
}

/* What cmpctl status shall show: every string of want[] (NULL ends). */
struct shows {
	bool json;
	const char *const *want;
	const char *text;
	const char *missing; /* the first one not shown (last look) */
};

static bool status_shows(void *arg)
{
	struct shows *s = arg;
	int ret;

	s->text = status_text(s->json, &ret);
	s->missing = ret ? "(cmpctl status failed)" : NULL;
	for (const char *const *w = s->want; *w && !s->missing; w++)
		if (!strstr(s->text, *w))
			s->missing = *w;
	return !s->missing;
}

/*
 * Polled: on a loaded machine the standby may take over for a moment (A
 * slower than TAKEOVER_MS) and give the rank back; the output is what
 * the test says once the managers agree again. Returns the text.
 */
static const char *wait_status(bool json, const char *const *want)
{
	struct shows s = {json, want};

	if (!wait_for(status_shows, &s, DEADLINE_MS))
		fail_msg("cmpctl status does not show \"%s\":\n%s", s.missing,
			 s.text);
	return s.text;
}

/* The times the manager at addr took over, as the table's line says. */
static unsigned int takeovers_shown(const char *t, const char *addr)
{
	const char *line = strstr(t, "\nMANAGER "), *end, *at;
	unsigned int n = 0;

	assert_non_null(line);
	line = strstr(line, addr);
	assert_non_null(line);
	end = strchr(line, '\n');
	at = strstr(line, "took over ");
	if (at && (!end || at < end))
		assert_int_equal(sscanf(at, "took over %u time", &n), 1);
	return n;
}

static void cmpctl_status_shows_which_manager_is_active(void **state)
{
	const char *const both_table[] = {"1 nodes (1 alive) at manager ",
					  addr_a,
					  "\nMANAGER ",
					  "    0 active for ",
					  "1 nodes alive",
					  "    1 standby for ",
					  "holds a copy of 1 nodes",
					  NULL};
	const char *const both_json[] = {"\"role\": \"active\", \"rank\": 0",
					 "\"role\": \"standby\", \"rank\": 1",
					 "\"id\": 71", NULL};
	const char *const b_table[] = {
		"    0 not answering: Connection refused", "    1 active for ",
		NULL};
	const char *const b_json[] = {
		"\"role\": null, \"error\": \"Connection refused\"", NULL};
	struct manager *a, *b;
	const char *t, *err;
	unsigned int before;
	struct node n;
	int ret;

	start_pair(&a, &b, SUSPECT_AFTER);
	join(&n, 71, MGR_KIND_COMPUTE, addr_a);
	wait_role(addr_b, MGR_ROLE_STANDBY, 1);

	t = wait_status(false, both_table);
	before = takeovers_shown(t, addr_b);
	wait_status(true, both_json);

	/* B took over: A is shown as not answering, and why */
	manager_destroy(a);
	wait_role(addr_b, MGR_ROLE_ACTIVE, 0);
	wait_registered_at(&n, addr_b);
	t = wait_status(false, b_table);
	assert_true(takeovers_shown(t, addr_b) > before);
	wait_status(true, b_json);

	/* nobody active: one line on stderr, naming each */
	stop_client(&n);
	manager_destroy(b);
	catch_stderr();
	t = status_text(false, &ret);
	err = caught();
	assert_int_equal(ret, -ECONNREFUSED);
	assert_string_equal(t, "");
	assert_int_equal(count_lines(err, "cmpctl: no active manager (", NULL),
			 1);
}

/* What the client says when every manager of its list is gone. */
static void no_manager_at_all_is_said_once_naming_each(void **state)
{
	const char *out;
	struct node n;
	int ret;

	next_pair();
	catch_stderr();
	start_client(&n, 61, MGR_KIND_COMPUTE, 10, NULL);
	ret = mgr_client_wait_registered(n.c, 300);
	stop_client(&n);
	out = caught();
	assert_int_equal(ret, -ECONNREFUSED);
	assert_int_equal(count_lines(out, "cannot reach any manager (", NULL),
			 1);
	assert_int_equal(count_lines(out, addr_a, NULL), 1);
	assert_int_equal(count_lines(out, addr_b, NULL), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			a_standby_refuses_and_nodes_register_with_the_active_one),
		cmocka_unit_test(a_node_skips_a_manager_that_is_not_there),
		cmocka_unit_test(the_standby_takes_over_and_the_nodes_follow),
		cmocka_unit_test(
			a_node_that_dies_during_the_switch_is_announced),
		cmocka_unit_test(a_manager_that_comes_back_takes_its_rank_back),
		cmocka_unit_test(no_manager_at_all_is_said_once_naming_each),
		cmocka_unit_test(cmpctl_status_shows_which_manager_is_active),
	};

	log_init("test-mgrfailover", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
