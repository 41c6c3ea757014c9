// SPDX-License-Identifier: MIT
/*
 * cmp-manager's counters for Prometheus (manager.h, include/cmp/metrics.h):
 * the nodes by state, every listed node's capacity, lists, traffic totals
 * and the age of its numbers as of its last heartbeat (no snapshot is
 * taken for a scrape: a scrape every few seconds would make every node
 * heartbeat that often), the requests served by type, its role among
 * several managers, and the connection server's counters.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cmp/metrics.h"
#include "cmp/mgr.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "manager-internal.h"
#include "manager.h"
#include "registry.h"

#define P "cmp_manager_"

static void add_states(struct metrics_out *out, const struct mgr_node_info *n,
		       size_t count)
{
	uint64_t k[4] = {0};

	for (size_t i = 0; i < count; i++)
		k[n[i].state < 4 ? n[i].state : 0]++;
	for (unsigned int s = MGR_NODE_ALIVE; s <= MGR_NODE_LEFT; s++) {
		struct metrics_label l = {"state", mgr_node_state_name(s)};

		metrics_add(out, METRICS_GAUGE, P "nodes",
			    "nodes listed, by state (alive, suspect, left)", &l,
			    1, k[s]);
	}
}

/* One family with a value per node: get(n) of each. */
static void per_node(struct metrics_out *out, enum metrics_type type,
		     const char *name, const char *help,
		     const struct mgr_node_info *n, size_t count,
		     uint64_t (*get)(const struct mgr_node_info *))
{
	char id[16];
	struct metrics_label l = {"node", id};

	for (size_t i = 0; i < count; i++) {
		snprintf(id, sizeof(id), "%u", n[i].node);
		metrics_add(out, type, name, help, &l, 1, get(&n[i]));
	}
}

static uint64_t capacity(const struct mgr_node_info *n)
{
	return n->capacity * n->block_size;
}

static uint64_t rd(const struct mgr_node_info *n)
{
	return n->traffic.read_bytes;
}

static uint64_t wr(const struct mgr_node_info *n)
{
	return n->traffic.write_bytes;
}

static uint64_t rx(const struct mgr_node_info *n)
{
	return n->traffic.net_rx_bytes;
}

static uint64_t tx(const struct mgr_node_info *n)
{
	return n->traffic.net_tx_bytes;
}

static void add_nodes(struct metrics_out *out, const struct mgr_node_info *n,
		      size_t count)
{
	static const char *const list[] = {"free", "LLL", "LRL", "RLL", "RRL"};
	char id[16];
	struct metrics_label l[2] = {{"node", id}, {"kind", NULL}};

	for (size_t i = 0; i < count; i++) {
		snprintf(id, sizeof(id), "%u", n[i].node);
		l[1].value = mgr_kind_name(n[i].kind);
		metrics_add(out, METRICS_GAUGE, P "node_up",
			    "1 while the node is alive (0: suspect or left)", l,
			    2, n[i].state == MGR_NODE_ALIVE);
	}
	per_node(out, METRICS_GAUGE, P "node_capacity_bytes",
		 "memory the node gives the pool", n, count, capacity);
	for (size_t i = 0; i < count; i++) {
		const uint64_t v[] = {n[i].counts.free, n[i].counts.lll,
				      n[i].counts.lrl, n[i].counts.rll,
				      n[i].counts.rrl};

		snprintf(id, sizeof(id), "%u", n[i].node);
		for (size_t k = 0; k < ARRAY_SIZE(v); k++) {
			l[1] = (struct metrics_label){"list", list[k]};
			metrics_add(out, METRICS_GAUGE, P "node_blocks_bytes",
				    "the node's lists as of its last "
				    "heartbeat, in bytes",
				    l, 2, v[k] * n[i].block_size);
		}
	}
	for (size_t i = 0; i < count; i++) {
		snprintf(id, sizeof(id), "%u", n[i].node);
		metrics_add_float(out, METRICS_GAUGE, P "node_age_seconds",
				  "since the node's last heartbeat", l, 1,
				  (double)n[i].age_ms / 1000);
	}
	per_node(out, METRICS_COUNTER, P "node_read_bytes_total",
		 "file bytes read through the node's mount", n, count, rd);
	per_node(out, METRICS_COUNTER, P "node_write_bytes_total",
		 "file bytes written through the node's mount", n, count, wr);
	per_node(out, METRICS_COUNTER, P "node_net_received_bytes_total",
		 "block protocol bytes the node received", n, count, rx);
	per_node(out, METRICS_COUNTER, P "node_net_sent_bytes_total",
		 "block protocol bytes the node sent", n, count, tx);
}

static void add_requests(struct manager *m, struct metrics_out *out)
{
	for (unsigned int op = 0; op < WIRE_OP_MAX; op++) {
		struct metrics_label l = {"op", wire_op_name(op)};
		uint64_t v = atomic_load(&m->requests[op]);

		if (l.value && (v || op == WIRE_OP_HEARTBEAT))
			metrics_add(out, METRICS_COUNTER, P "requests_total",
				    "requests served, by type", &l, 1, v);
	}
	metrics_add(out, METRICS_COUNTER, P "snapshots_total",
		    "NODES snapshots taken (cmpctl status, cmpctl top)", NULL,
		    0, atomic_load(&m->snapshots));
	metrics_add(out, METRICS_COUNTER, P "snapshots_incomplete_total",
		    "snapshots some alive node did not answer in time", NULL, 0,
		    atomic_load(&m->snapshots_incomplete));
}

void manager_collect_metrics(void *ctx, struct metrics_out *out)
{
	struct manager *m = ctx;
	struct mgr_node_info *n = calloc(PROTO_MGR_MAX_NODES, sizeof(*n));
	struct server_stats st;
	uint32_t takeovers;
	size_t count = 0;
	bool active;

	pthread_mutex_lock(&m->lock);
	if (n)
		count = registry_nodes(m->reg, cmp_now_ns(), n,
				       PROTO_MGR_MAX_NODES);
	active = !manager_standby_locked(m);
	takeovers = m->takeovers;
	pthread_mutex_unlock(&m->lock);
	metrics_add(out, METRICS_GAUGE, P "active",
		    "1 while this manager is the active one (0: a standby)",
		    NULL, 0, active);
	metrics_add(out, METRICS_COUNTER, P "takeovers_total",
		    "times this manager went from standby to active", NULL, 0,
		    takeovers);
	add_states(out, n, count);
	add_nodes(out, n, count);
	free(n);
	add_requests(m, out);
	server_get_stats(m->srv, &st);
	metrics_add_server(out, "cmp_manager", &st);
}
