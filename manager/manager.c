// SPDX-License-Identifier: MIT
/*
 * The manager service (manager.h): decodes requests, asks the registry,
 * replies, and spreads the news of state changes. A node becomes SUSPECT
 * when its registration connection closes without LEAVE (on_close) or it
 * misses heartbeats (the liveness thread), LEFT when it sends LEAVE, ALIVE
 * again when it registers or a late heartbeat arrives. Each change goes to
 * every other ALIVE node as a NODE_STATE push: information only, nobody
 * frees anything on the manager's word. A standby (peers.c) answers only
 * ROLE; everything else a node asks gets status STANDBY.
 *
 * Lock order: manager.lock, then a connection's write mutex is never taken
 * under it: pushes happen after unlocking, on references taken under it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "manager-internal.h"
#include "manager.h"
#include "registry.h"

#define MAX_CHANGES_PER_TICK 64

/* One state change to push, and to whom (references taken). */
struct news {
	struct proto_mgr_node_state ns;
	struct server_conn **to;
	size_t nto;
	size_t live; /* ALIVE nodes when it happened */
};

typedef int (*op_fn)(struct manager *m, struct server_conn *sc,
		     const struct wire_hdr *h);

/* The node id registered on a connection, 0 for query connections. */
static uint32_t conn_node(const struct server_conn *sc)
{
	return (uint32_t)(uintptr_t)server_conn_data(sc);
}

/* Reads a request payload of at most cap bytes; longer is garbage. */
static int read_req(struct server_conn *sc, const struct wire_hdr *h, void *buf,
		    size_t cap)
{
	if (h->len > cap)
		return -EMSGSIZE;
	return server_read_payload(sc, h, buf, cap);
}

int manager_reply_status(struct server_conn *sc, const struct wire_hdr *h,
			 int err)
{
	return server_reply(sc, h, wire_status_from_errno(err), NULL, 0);
}

static int reply_buf(struct server_conn *sc, const struct wire_hdr *h,
		     void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

size_t manager_collect_locked(struct manager *m, uint32_t node,
			      struct server_conn ***out)
{
	void **conns;
	size_t i, n;

	n = registry_live_count(m->reg);
	conns = calloc(n ? n : 1, sizeof(*conns));
	if (!conns) {
		log_error("manager: out of memory telling of node %u", node);
		*out = NULL;
		return 0;
	}
	n = registry_live_conns(m->reg, node, conns, n);
	for (i = 0; i < n; i++)
		server_conn_get(conns[i]);
	*out = (struct server_conn **)conns;
	return n;
}

/* Under m->lock: node's state now, and who must hear of it. */
static void gather_locked(struct manager *m, uint32_t node, struct news *nw)
{
	struct mgr_node_info info;

	memset(nw, 0, sizeof(*nw));
	if (!registry_node(m->reg, node, cmp_now_ns(), &info))
		return;
	nw->ns.node = node;
	nw->ns.state = info.state;
	nw->ns.kind = info.kind;
	memcpy(nw->ns.addr, info.addr, sizeof(nw->ns.addr));
	nw->nto = manager_collect_locked(m, node, &nw->to);
	nw->live = registry_live_count(m->reg);
}

/* Pushes the news (outside the lock) and drops the references. */
static void tell(struct news *nw)
{
	uint8_t buf[PROTO_MGR_NODE_STATE_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	size_t i;
	int ret;

	if (nw->nto &&
	    proto_mgr_node_state_encode(&nw->ns, buf, sizeof(buf)) < 0) {
		log_error("manager: cannot encode the state of node %u",
			  nw->ns.node);
		nw->nto = 0;
	}
	for (i = 0; i < nw->nto; i++) {
		ret = server_push(nw->to[i], WIRE_OP_NODE_STATE, &iov, 1);
		if (ret < 0)
			log_debug("manager: NODE_STATE %u %s to %s: %s",
				  nw->ns.node,
				  mgr_node_state_name(nw->ns.state),
				  server_conn_peer(nw->to[i]), strerror(-ret));
		server_conn_put(nw->to[i]);
	}
	free(nw->to);
	nw->to = NULL;
	nw->nto = 0;
}

/* Why the registry refused reg (cluster_bs: the cluster's block size). */
static void log_refusal(struct server_conn *sc,
			const struct proto_mgr_register *reg, int err,
			uint32_t cluster_bs)
{
	if (err == -EBUSY)
		log_warn_rl("manager: node %u from %s refused: that id is "
			    "alive on another connection, of another process",
			    reg->node, server_conn_peer(sc));
	else if (err == -EINVAL)
		log_warn_rl("manager: node %u from %s refused: block size %u, "
			    "the cluster uses %u",
			    reg->node, server_conn_peer(sc), reg->block_size,
			    cluster_bs);
	else
		log_warn_rl("manager: node %u from %s refused: %s", reg->node,
			    server_conn_peer(sc), strerror(-err));
}

/* What the registry found under a new registration's id, for the log. */
static const char *prior_text(const struct registry_prior *p)
{
	if (p->adopted)
		return " (again, after the switch of managers)";
	if (p->stale_conn)
		return " (replacing its connection that still looked open)";
	if (p->state == MGR_NODE_SUSPECT)
		return " (was suspect)";
	if (p->state == MGR_NODE_LEFT)
		return " (had left)";
	return "";
}

/* A connection that still looked open gives way to a new registration. */
static void close_stale(uint32_t node, struct server_conn *stale,
			struct server_conn *sc, bool same_process)
{
	log_warn("manager: node %u registered from %s while its connection "
		 "from %s still looked open (%s): closing that one",
		 node, server_conn_peer(sc), server_conn_peer(stale),
		 same_process ? "same process" : "restarted");
	server_conn_close(stale);
	server_conn_put(stale);
}

/* Registers reg on sc under the lock; news is filled when others care. */
static int enter(struct manager *m, struct server_conn *sc,
		 const struct proto_mgr_register *reg,
		 struct registry_prior *prior, struct news *nw)
{
	uint32_t bs;
	int ret;

	memset(nw, 0, sizeof(*nw));
	memset(prior, 0, sizeof(*prior));
	pthread_mutex_lock(&m->lock);
	/* a standby now (it stepped down since handle() looked) */
	ret = manager_standby_locked(m)
		      ? -EREMOTE
		      : registry_register(m->reg, reg, sc, cmp_now_ns(), prior);
	bs = registry_block_size(m->reg);
	if (ret == 0 && prior->stale_conn)
		server_conn_get(prior->stale_conn);
	/* a new, returning or reconnected node: others refresh its address */
	if (ret == 0 && (prior->state != MGR_NODE_ALIVE || prior->stale_conn))
		gather_locked(m, reg->node, nw);
	nw->live = registry_live_count(m->reg);
	pthread_mutex_unlock(&m->lock);
	if (ret < 0 && ret != -EREMOTE)
		log_refusal(sc, reg, ret, bs);
	return ret;
}

static int op_register(struct manager *m, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	uint8_t buf[PROTO_MGR_REGISTER_SIZE],
		out[PROTO_MGR_REGISTER_REPLY_SIZE];
	struct proto_mgr_register reg;
	struct proto_mgr_register_reply rep = {
		.heartbeat_ms = m->heartbeat_ms,
		.suspect_after = m->suspect_after,
		.epoch = m->epoch,
	};
	struct registry_prior prior;
	struct news nw;
	int ret;

	ret = read_req(sc, h, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	ret = proto_mgr_register_decode(buf, h->len, &reg);
	if (ret < 0)
		return ret;
	if (conn_node(sc) && conn_node(sc) != reg.node) {
		log_warn_rl("manager: %s registered as node %u, now claims %u: "
			    "refused",
			    server_conn_peer(sc), conn_node(sc), reg.node);
		return manager_reply_status(sc, h, -EINVAL);
	}
	ret = enter(m, sc, &reg, &prior, &nw);
	if (ret < 0)
		return manager_reply_status(sc, h, ret);
	server_conn_set_data(sc, (void *)(uintptr_t)reg.node);
	/*
	 * A registered node speaks at least every heartbeat: a connection
	 * silent for twice the suspect delay is gone, and a push to a node
	 * that stopped reading cannot block the sender for longer.
	 */
	server_conn_set_idle_timeout(
		sc, (int)MIN(2ull * m->heartbeat_ms * m->suspect_after,
			     (unsigned long long)INT32_MAX));
	if (prior.stale_conn)
		close_stale(reg.node, prior.stale_conn, sc, prior.same_process);
	log_info("manager: node %u (%s) registered from %s: serves %s, "
		 "%llu blocks of %u bytes, %llu free%s; %zu alive",
		 reg.node, mgr_kind_name(reg.kind), server_conn_peer(sc),
		 reg.addr, (unsigned long long)reg.capacity, reg.block_size,
		 (unsigned long long)reg.free, prior_text(&prior), nw.live);
	proto_mgr_register_reply_encode(&rep, out, sizeof(out));
	ret = reply_buf(sc, h, out, sizeof(out));
	tell(&nw);
	return ret;
}

static int op_heartbeat(struct manager *m, struct server_conn *sc,
			const struct wire_hdr *h)
{
	uint8_t buf[PROTO_MGR_HEARTBEAT_SIZE];
	struct proto_mgr_heartbeat hb;
	struct news nw = {0};
	bool revived;
	int ret;

	ret = read_req(sc, h, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	ret = proto_mgr_heartbeat_decode(buf, h->len, &hb);
	if (ret < 0)
		return ret;
	/* only the registration connection speaks for a node */
	if (hb.node != conn_node(sc))
		return manager_reply_status(sc, h, -ENOENT);
	pthread_mutex_lock(&m->lock);
	ret = registry_heartbeat(m->reg, &hb, sc, cmp_now_ns(), &revived);
	if (revived)
		gather_locked(m, hb.node, &nw);
	pthread_cond_broadcast(&m->heard); /* a snapshot may wait for it */
	pthread_mutex_unlock(&m->lock);
	if (revived)
		log_info("manager: node %u alive again: a heartbeat came "
			 "after all; telling %zu nodes",
			 hb.node, nw.nto);
	ret = manager_reply_status(sc, h, ret);
	tell(&nw);
	return ret;
}

static int op_leave(struct manager *m, struct server_conn *sc,
		    const struct wire_hdr *h)
{
	uint8_t buf[PROTO_MGR_LEAVE_SIZE];
	struct proto_mgr_leave lv;
	struct news nw = {0};
	int ret;

	ret = read_req(sc, h, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	ret = proto_mgr_leave_decode(buf, h->len, &lv);
	if (ret < 0)
		return ret;
	if (lv.node != conn_node(sc))
		return manager_reply_status(sc, h, -ENOENT);
	pthread_mutex_lock(&m->lock);
	ret = registry_leave(m->reg, lv.node, sc, cmp_now_ns());
	if (ret == 0)
		gather_locked(m, lv.node, &nw);
	pthread_mutex_unlock(&m->lock);
	if (ret == 0)
		log_info("manager: node %u (%s) left: clean shutdown; telling "
			 "%zu nodes, %zu alive",
			 lv.node, mgr_kind_name(nw.ns.kind), nw.nto, nw.live);
	ret = manager_reply_status(sc, h, ret);
	tell(&nw);
	return ret;
}

static int op_find_free(struct manager *m, struct server_conn *sc,
			const struct wire_hdr *h)
{
	uint8_t buf[PROTO_MGR_FIND_FREE_SIZE], out[PROTO_MGR_FREE_REPLY_MAX];
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];
	struct proto_mgr_find_free q;
	size_t n;
	int ret;

	ret = read_req(sc, h, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	ret = proto_mgr_find_free_decode(buf, h->len, &q);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&m->lock);
	n = registry_find_free(m->reg, &q, e, ARRAY_SIZE(e));
	pthread_mutex_unlock(&m->lock);
	ret = proto_mgr_free_list_encode(e, n, out, sizeof(out));
	if (ret < 0)
		return manager_reply_status(sc, h, ret);
	return reply_buf(sc, h, out, (size_t)ret);
}

static const op_fn ops[WIRE_OP_MAX] = {
	[WIRE_OP_REGISTER] = op_register,   [WIRE_OP_HEARTBEAT] = op_heartbeat,
	[WIRE_OP_FIND_FREE] = op_find_free, [WIRE_OP_NODES] = manager_op_nodes,
	[WIRE_OP_LEAVE] = op_leave,	    [WIRE_OP_ROLE] = manager_op_role,
};

/* A standby answers ROLE only: the rest belongs to the active manager. */
static bool refused_as_standby(struct manager *m, unsigned int op)
{
	bool standby;

	if (op == WIRE_OP_ROLE)
		return false;
	pthread_mutex_lock(&m->lock);
	standby = manager_standby_locked(m);
	pthread_mutex_unlock(&m->lock);
	return standby;
}

static int handle(void *ctx, struct server_conn *sc, const struct wire_hdr *h)
{
	struct manager *m = ctx;
	int ret;

	if (h->flags & WIRE_F_REPLY)
		return -EPROTO; /* the manager asks nothing */
	if (h->op < WIRE_OP_MAX)
		atomic_fetch_add_explicit(&m->requests[h->op], 1,
					  memory_order_relaxed);
	if (h->op >= WIRE_OP_MAX || !ops[h->op] ||
	    refused_as_standby(m, h->op)) {
		ret = server_skip_payload(sc, h);
		if (ret < 0)
			return ret;
		return manager_reply_status(sc, h,
					    h->op < WIRE_OP_MAX && ops[h->op]
						    ? -EREMOTE
						    : -EOPNOTSUPP);
	}
	return ops[h->op](m, sc, h);
}

static void on_close(void *ctx, struct server_conn *sc)
{
	struct manager *m = ctx;
	uint32_t node = conn_node(sc);
	struct news nw = {0};
	int ret;

	if (!node)
		return;
	pthread_mutex_lock(&m->lock);
	/* a manager going down changes no one's state */
	ret = m->stopping
		      ? -ESHUTDOWN
		      : registry_conn_closed(m->reg, node, sc, cmp_now_ns());
	if (ret == 0)
		gather_locked(m, node, &nw);
	pthread_mutex_unlock(&m->lock);
	if (ret < 0)
		return;
	log_warn("manager: node %u suspect: its connection from %s closed "
		 "without LEAVE; telling %zu nodes, %zu alive",
		 node, server_conn_peer(sc), nw.nto, nw.live);
	tell(&nw);
}

static void log_change(const struct manager *m, const struct registry_change *c,
		       const struct news *nw)
{
	if (c->state == MGR_NODE_SUSPECT && c->adopted)
		log_warn("manager: node %u suspect: it did not register after "
			 "the switch of managers (no heartbeat for %llu ms); "
			 "telling %zu nodes, %zu alive",
			 c->node, (unsigned long long)c->silent_ms, nw->nto,
			 nw->live);
	else if (c->state == MGR_NODE_SUSPECT)
		log_warn("manager: node %u suspect: no heartbeat for %llu ms; "
			 "telling %zu nodes, %zu alive",
			 c->node, (unsigned long long)c->silent_ms, nw->nto,
			 nw->live);
	else
		log_info("manager: node %u forgotten: %s for longer than "
			 "%llu s",
			 c->node, mgr_node_state_name(c->old_state),
			 (unsigned long long)(c->old_state == MGR_NODE_LEFT
						      ? REGISTRY_LEFT_KEEP_MS
						      : m->forget_after_ms) /
				 1000);
}

/* Marks the silent nodes SUSPECT; returns false once stopping. */
static bool tick(struct manager *m)
{
	struct registry_change c[MAX_CHANGES_PER_TICK];
	struct news nw[MAX_CHANGES_PER_TICK];
	size_t i, n;

	pthread_mutex_lock(&m->lock);
	if (m->stopping) {
		pthread_mutex_unlock(&m->lock);
		return false;
	}
	n = registry_expire(m->reg, cmp_now_ns(), c, ARRAY_SIZE(c));
	n = MIN(n, ARRAY_SIZE(c));
	for (i = 0; i < n; i++) {
		memset(&nw[i], 0, sizeof(nw[i]));
		if (c[i].state == MGR_NODE_SUSPECT)
			gather_locked(m, c[i].node, &nw[i]);
	}
	pthread_mutex_unlock(&m->lock);

	for (i = 0; i < n; i++) {
		log_change(m, &c[i], &nw[i]);
		tell(&nw[i]);
	}
	return true;
}

/* The liveness thread's period. */
static uint32_t tick_ms(const struct manager *m)
{
	return MAX(m->heartbeat_ms / 4, 5u);
}

void manager_step(struct manager *m)
{
	uint64_t now = cmp_now_ns();

	if (!m->stepped || now < m->tick_at)
		return;
	m->tick_at = now + (uint64_t)tick_ms(m) * 1000000ull;
	tick(m);
}

void manager_requests(struct manager *m, uint64_t *counts)
{
	for (unsigned int op = 0; op < WIRE_OP_MAX; op++)
		counts[op] = atomic_load(&m->requests[op]);
}

static void *ticker(void *arg)
{
	struct manager *m = arg;
	uint32_t period = tick_ms(m);
	struct timespec ts;

	while (tick(m)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)(period % 1000) * 1000000l;
		ts.tv_sec += period / 1000 + ts.tv_nsec / 1000000000l;
		ts.tv_nsec %= 1000000000l;
		pthread_mutex_lock(&m->lock);
		if (!m->stopping)
			pthread_cond_timedwait(&m->stop_cond, &m->lock, &ts);
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

/* Stops and joins the liveness thread and the watcher of the peers. */
static void stop_threads(struct manager *m)
{
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_broadcast(&m->stop_cond);
	pthread_cond_broadcast(&m->heard);
	pthread_mutex_unlock(&m->lock);
	if (!m->stepped)
		pthread_join(m->ticker, NULL);
	manager_peers_stop(m);
}

/*
 * The liveness thread and the watcher of the peers; -errno, logged. In
 * stepped mode none: manager_step() ticks, and no other manager is
 * watched (the simulator runs one).
 */
static int start_threads(struct manager *m)
{
	int ret;

	m->stepped = cmp_stepped();
	if (m->stepped)
		return 0;
	ret = -pthread_create(&m->ticker, NULL, ticker, m);
	if (ret < 0) {
		log_error("manager: cannot start the liveness thread: %s",
			  strerror(-ret));
		return ret;
	}
	ret = manager_peers_start(m);
	if (ret < 0)
		stop_threads(m);
	return ret;
}

/* Heartbeat and suspect delays (defaults filled in), and this run's epoch. */
static void set_timing(struct manager *m, const struct manager_config *cfg)
{
	m->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms
					    : MANAGER_DEFAULT_HEARTBEAT_MS;
	m->suspect_after = cfg->suspect_after ? cfg->suspect_after
					      : MANAGER_DEFAULT_SUSPECT_AFTER;
	m->forget_after_ms = cfg->forget_after_ms
				     ? cfg->forget_after_ms
				     : MANAGER_DEFAULT_FORGET_AFTER_MS;
	while (!m->epoch)
		if (getrandom(&m->epoch, sizeof(m->epoch), 0) < 0)
			m->epoch = cmp_now_ns();
}

/* The ticker and the snapshots wait against the monotonic clock. */
static void init_conds(struct manager *m)
{
	cmp_cond_init_monotonic(&m->stop_cond);
	cmp_cond_init_monotonic(&m->heard);
}

struct manager *manager_create(const struct manager_config *cfg)
{
	struct registry_config rc;
	struct server_config sc = {
		.listen_addr = cfg->listen_addr,
		.keyring = cfg->keyring,
		.incarnation = cmp_incarnation(),
		.name = "manager",
		.handle = handle,
		.on_close = on_close,
	};
	struct manager *m;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->keyring = cfg->keyring;
	set_timing(m, cfg);
	rc = (struct registry_config){.heartbeat_ms = m->heartbeat_ms,
				      .suspect_after = m->suspect_after,
				      .forget_after_ms = m->forget_after_ms};
	m->reg = registry_create(&rc);
	if (!m->reg) {
		ret = -errno;
		log_error("manager: cannot create the registry: %s",
			  strerror(-ret));
		goto err_free;
	}
	pthread_mutex_init(&m->lock, NULL);
	init_conds(m);
	ret = manager_peers_init(m, cfg->managers, cfg->listen_addr,
				 cfg->takeover_ms);
	if (ret < 0)
		goto err_destroy_registry;
	sc.ctx = m;
	if (cfg->limits)
		sc.limits = *cfg->limits;
	m->srv = server_create(&sc);
	if (!m->srv) {
		ret = -errno; /* logged by the server */
		goto err_destroy_registry;
	}
	ret = start_threads(m);
	if (ret < 0)
		goto err_destroy_server;
	return m;

err_destroy_server:
	server_destroy(m->srv);
err_destroy_registry:
	manager_peers_finish(m);
	pthread_cond_destroy(&m->heard);
	pthread_cond_destroy(&m->stop_cond);
	pthread_mutex_destroy(&m->lock);
	registry_destroy(m->reg);
err_free:
	free(m);
	errno = -ret;
	return NULL;
}

const char *manager_addr(const struct manager *m)
{
	return server_addr(m->srv);
}

void manager_destroy(struct manager *m)
{
	if (!m)
		return;
	stop_threads(m);
	/* closing connections runs on_close, which still uses the registry */
	server_destroy(m->srv);
	manager_peers_finish(m);
	pthread_cond_destroy(&m->heard);
	pthread_cond_destroy(&m->stop_cond);
	pthread_mutex_destroy(&m->lock);
	registry_destroy(m->reg);
	free(m);
}
