// SPDX-License-Identifier: MIT
/*
 * NODES (include/cmp/mgr.h): every node the manager knows, with its
 * counts. Heartbeats arrive at their own pace, so the counts of two nodes
 * can be a heartbeat apart and contradict each other (an owner's LRL
 * already counts a block its provider's RLL does not yet). A NODES request
 * that asks for a snapshot makes every ALIVE node send its heartbeat now
 * (a SNAPSHOT push) and answers once each one has, or once the request's
 * wait is over: the counts are then all sampled within milliseconds, and
 * each node that answered is marked fresh.
 *
 * The wait runs on the asking connection's own thread (the server gives
 * every connection one), under the manager's lock only while it sleeps
 * on the heartbeat condition.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "manager-internal.h"
#include "registry.h"

/*
 * Asks every ALIVE node for its counts now and waits until each one has
 * heartbeat since since_ns, or wait_ms passed. Returns the nodes that did
 * not answer in time.
 */
static size_t ask_nodes(struct manager *m, uint64_t since_ns, uint32_t wait_ms)
{
	struct server_conn **to;
	struct timespec dl;
	size_t i, n, left;

	pthread_mutex_lock(&m->lock);
	n = manager_collect_locked(m, 0, &to);
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < n; i++) {
		int ret = server_push(to[i], WIRE_OP_SNAPSHOT, NULL, 0);

		if (ret < 0)
			log_debug("manager: SNAPSHOT to %s: %s",
				  server_conn_peer(to[i]), strerror(-ret));
		server_conn_put(to[i]);
	}
	free(to);

	cmp_deadline_ms(&dl, wait_ms);
	pthread_mutex_lock(&m->lock);
	while ((left = registry_unheard(m->reg, since_ns)) && !m->stopping &&
	       pthread_cond_timedwait(&m->heard, &m->lock, &dl) == 0)
		;
	pthread_mutex_unlock(&m->lock);
	return left;
}

/* The request: empty (the counts as they are) or a snapshot's. */
static int read_request(struct server_conn *sc, const struct wire_hdr *h,
			struct proto_mgr_nodes_req *req)
{
	uint8_t buf[PROTO_MGR_NODES_REQ_SIZE];
	int ret;

	memset(req, 0, sizeof(*req));
	if (!h->len)
		return server_skip_payload(sc, h);
	if (h->len != sizeof(buf))
		return -EBADMSG;
	ret = server_read_payload(sc, h, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	return proto_mgr_nodes_req_decode(buf, h->len, req);
}

int manager_op_nodes(struct manager *m, struct server_conn *sc,
		     const struct wire_hdr *h)
{
	struct proto_mgr_nodes_req req;
	struct mgr_node_info *info;
	uint64_t since = 0;
	uint8_t *out;
	size_t n;
	int ret;

	ret = read_request(sc, h, &req);
	if (ret < 0)
		return ret;
	if (req.flags & PROTO_MGR_NODES_SNAPSHOT) {
		since = cmp_now_ns();
		atomic_fetch_add(&m->snapshots, 1);
		if (ask_nodes(m, since, req.wait_ms))
			atomic_fetch_add(&m->snapshots_incomplete, 1);
	}
	info = calloc(PROTO_MGR_MAX_NODES, sizeof(*info));
	out = malloc(PROTO_MGR_NODES_REPLY_MAX);
	if (!info || !out) {
		ret = manager_reply_status(sc, h, -ENOMEM);
		goto out_free;
	}
	pthread_mutex_lock(&m->lock);
	n = registry_nodes_since(m->reg, cmp_now_ns(), since, info,
				 PROTO_MGR_MAX_NODES);
	pthread_mutex_unlock(&m->lock);
	ret = proto_mgr_nodes_encode(info, n, out, PROTO_MGR_NODES_REPLY_MAX);
	if (ret < 0) {
		ret = manager_reply_status(sc, h, ret);
	} else {
		struct iovec iov = {.iov_base = out, .iov_len = (size_t)ret};

		ret = server_reply(sc, h, WIRE_S_OK, &iov, 1);
	}
out_free:
	free(out);
	free(info);
	return ret;
}
