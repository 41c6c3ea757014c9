// SPDX-License-Identifier: MIT
/*
 * The manager client's queries (include/cmp/mgr.h): FIND_FREE and NODES
 * from any thread, each on a connection checked out of a small cache (or
 * opened), so concurrent callers never share one and never wait behind the
 * registration thread (client.c); and the one-shot NODES and ROLE of
 * cmpctl and of the managers watching each other. A question goes to the
 * manager the client is registered with, then to the others in list
 * order when that one cannot be reached or is a standby. Transport errors
 * are returned as the system gave them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/util.h"
#include "cmp/wire.h"

int mgr_dial(const char *addr, struct auth_keyring *kr, uint32_t node,
	     uint64_t incarnation, int timeout_ms, struct conn **out)
{
	struct conn *conn;
	int ret;

	ret = conn_connect(addr, timeout_ms, &conn);
	if (ret < 0)
		return ret;
	ret = auth_client(conn, kr, node, incarnation, timeout_ms);
	if (ret < 0)
		goto err_destroy_conn;
	ret = conn_set_timeout(conn, timeout_ms);
	if (ret < 0)
		goto err_destroy_conn;
	*out = conn;
	return 0;

err_destroy_conn:
	conn_destroy(conn);
	return ret;
}

/*
 * Sends one request and reads its reply into rep (cap bytes). Returns the
 * transport's -errno (the connection is then unusable), or 0 with the
 * reply's wire status in *status and its length in *replen.
 */
static int transact(struct conn *conn, unsigned int op, uint64_t id,
		    const void *req, size_t reqlen, void *rep, size_t cap,
		    size_t *replen, uint32_t *status)
{
	struct wire_hdr h = {.op = (uint8_t)op, .id = id};
	struct iovec iov = {.iov_base = (void *)req, .iov_len = reqlen};
	int ret;

	ret = wire_send(conn, &h, &iov, reqlen ? 1 : 0);
	if (ret < 0)
		return ret;
	ret = wire_recv_hdr(conn, &h);
	if (ret < 0)
		return ret;
	/* query connections get no pushes: anything else is garbage */
	if (!(h.flags & WIRE_F_REPLY) || h.op != op || h.id != id)
		return -EPROTO;
	if (h.len > cap)
		return -EMSGSIZE;
	iov = (struct iovec){.iov_base = rep, .iov_len = cap};
	ret = wire_recv_payload(conn, &h, &iov, 1);
	if (ret < 0)
		return ret;
	*replen = h.len;
	*status = h.status;
	return 0;
}

/* A cached connection to manager mgr, or NULL. */
static struct conn *checkout(struct mgr_client *c, size_t mgr)
{
	struct conn *conn = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = c->nidle; i-- > 0;) {
		if (c->idle[i].mgr != mgr)
			continue;
		conn = c->idle[i].conn;
		c->idle[i] = c->idle[--c->nidle];
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return conn;
}

static void checkin(struct mgr_client *c, struct conn *conn, size_t mgr)
{
	pthread_mutex_lock(&c->lock);
	if (c->nidle < QUERY_CACHE && !c->stopping) {
		c->idle[c->nidle++] = (struct idle_conn){conn, mgr};
		conn = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (conn)
		conn_destroy(conn);
}

/*
 * One request to manager i on a cached connection, or a fresh one when the
 * cache has none or its connection went stale (the manager restarted).
 * *transport: the error is the connection's, not the manager's answer.
 */
static int query_at(struct mgr_client *c, size_t i, unsigned int op,
		    const void *req, size_t reqlen, void *rep, size_t cap,
		    size_t *replen, bool *transport)
{
	uint32_t status;
	struct conn *conn;
	bool cached;
	int ret;

	*transport = true;
	for (;;) {
		conn = checkout(c, i);
		cached = conn != NULL;
		if (!conn) {
			ret = mgr_dial(c->mgrs[i], c->cfg.keyring, c->cfg.node,
				       c->incarnation, c->cfg.timeout_ms,
				       &conn);
			if (ret < 0)
				return ret;
		}
		ret = transact(conn, op, atomic_fetch_add(&c->next_id, 1), req,
			       reqlen, rep, cap, replen, &status);
		if (ret == 0) {
			checkin(c, conn, i);
			*transport = false;
			return wire_status_to_errno(status);
		}
		conn_destroy(conn);
		if (!cached)
			return ret;
	}
}

/*
 * The request to the manager we are registered with, then to the others
 * in list order while one cannot be reached or is a standby. The error
 * kept is the first that was no standby's.
 */
static int query(struct mgr_client *c, unsigned int op, const void *req,
		 size_t reqlen, void *rep, size_t cap, size_t *replen)
{
	size_t first = mgr_client_current(c);
	bool transport;
	int ret, err = 0;

	for (size_t k = 0; k < c->nmgrs; k++) {
		size_t i = k == 0 ? first : k - (k <= first);

		ret = query_at(c, i, op, req, reqlen, rep, cap, replen,
			       &transport);
		if (!transport && ret != -EREMOTE)
			return ret;
		if (!err || err == -EREMOTE)
			err = ret;
	}
	return err;
}

int mgr_client_find_free(struct mgr_client *c, uint32_t n,
			 struct mgr_free_entry *out, size_t max, size_t *count)
{
	struct proto_mgr_find_free q = {.node = c->cfg.node, .want = n};
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];
	uint8_t req[PROTO_MGR_FIND_FREE_SIZE];
	uint8_t rep[PROTO_MGR_FREE_REPLY_MAX];
	size_t len = 0, got;
	int ret;

	*count = 0;
	if (!n)
		return -EINVAL;
	proto_mgr_find_free_encode(&q, req, sizeof(req));
	ret = query(c, WIRE_OP_FIND_FREE, req, sizeof(req), rep, sizeof(rep),
		    &len);
	if (ret < 0)
		return ret;
	ret = proto_mgr_free_list_decode(rep, len, e, ARRAY_SIZE(e), &got);
	if (ret < 0) {
		log_warn("manager %s: malformed FIND_FREE reply",
			 c->manager_addr);
		return ret;
	}
	*count = MIN(got, max);
	memcpy(out, e, *count * sizeof(*out));
	return 0;
}

/* Decodes a NODES reply, keeping the first max entries. */
static int nodes_decode(const void *rep, size_t len, struct mgr_node_info *out,
			size_t max, size_t *count)
{
	struct mgr_node_info *all;
	size_t got;
	int ret;

	all = calloc(PROTO_MGR_MAX_NODES, sizeof(*all));
	if (!all)
		return -ENOMEM;
	ret = proto_mgr_nodes_decode(rep, len, all, PROTO_MGR_MAX_NODES, &got);
	if (ret == 0) {
		*count = MIN(got, max);
		memcpy(out, all, *count * sizeof(*out));
	}
	free(all);
	return ret;
}

int mgr_client_nodes(struct mgr_client *c, struct mgr_node_info *out,
		     size_t max, size_t *count)
{
	size_t len = 0;
	uint8_t *rep;
	int ret;

	*count = 0;
	rep = malloc(PROTO_MGR_NODES_REPLY_MAX);
	if (!rep)
		return -ENOMEM;
	ret = query(c, WIRE_OP_NODES, NULL, 0, rep, PROTO_MGR_NODES_REPLY_MAX,
		    &len);
	if (ret == 0)
		ret = nodes_decode(rep, len, out, max, count);
	free(rep);
	return ret;
}

/*
 * NODES on a connection of its own to one manager, with req (NULL: none).
 * *transport as for query_at().
 */
static int query_once(const char *manager_addr, struct auth_keyring *keyring,
		      int timeout_ms, const struct proto_mgr_nodes_req *req,
		      struct mgr_node_info *out, size_t max, size_t *count,
		      bool *transport)
{
	uint8_t q[PROTO_MGR_NODES_REQ_SIZE];
	struct conn *conn;
	uint32_t status = 0;
	uint8_t *rep;
	size_t len = 0, qlen = 0;
	int ret;

	*count = 0;
	*transport = true;
	if (timeout_ms <= 0)
		timeout_ms = MGR_DEFAULT_TIMEOUT_MS;
	if (req) {
		ret = proto_mgr_nodes_req_encode(req, q, sizeof(q));
		if (ret < 0)
			return ret;
		qlen = (size_t)ret;
	}
	rep = malloc(PROTO_MGR_NODES_REPLY_MAX);
	if (!rep)
		return -ENOMEM;
	ret = mgr_dial(manager_addr, keyring, 0, 0, timeout_ms, &conn);
	if (ret < 0)
		goto out_free;
	/* the manager's wait for the nodes comes on top of the deadline */
	if (req)
		ret = conn_set_timeout(conn, timeout_ms + (int)req->wait_ms);
	if (ret == 0)
		ret = transact(conn, WIRE_OP_NODES, 1, q, qlen, rep,
			       PROTO_MGR_NODES_REPLY_MAX, &len, &status);
	conn_destroy(conn);
	if (ret < 0)
		goto out_free;
	*transport = false;
	ret = wire_status_to_errno(status);
	if (ret == 0)
		ret = nodes_decode(rep, len, out, max, count);
out_free:
	free(rep);
	return ret;
}

/* NODES from the first manager of the list that answers and is active. */
static int query_list(const char *list, struct auth_keyring *keyring,
		      int timeout_ms, const struct proto_mgr_nodes_req *req,
		      struct mgr_node_info *out, size_t max, size_t *count)
{
	char mgrs[MGR_MAX_MANAGERS][MGR_MANAGER_ADDR_LEN];
	int n = mgr_split_managers(list, mgrs, MGR_MAX_MANAGERS);
	bool transport;
	int ret, err = 0;

	*count = 0;
	if (n < 0)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		ret = query_once(mgrs[i], keyring, timeout_ms, req, out, max,
				 count, &transport);
		if (!transport && ret != -EREMOTE)
			return ret;
		if (!err || err == -EREMOTE)
			err = ret;
	}
	return err;
}

int mgr_query_nodes(const char *manager_addr, struct auth_keyring *keyring,
		    int timeout_ms, struct mgr_node_info *out, size_t max,
		    size_t *count)
{
	return query_list(manager_addr, keyring, timeout_ms, NULL, out, max,
			  count);
}

int mgr_query_snapshot(const char *manager_addr, struct auth_keyring *keyring,
		       int timeout_ms, uint32_t wait_ms,
		       struct mgr_node_info *out, size_t max, size_t *count)
{
	struct proto_mgr_nodes_req req = {
		.flags = PROTO_MGR_NODES_SNAPSHOT,
		.wait_ms =
			MAX(MIN(wait_ms, PROTO_MGR_SNAPSHOT_MAX_WAIT_MS), 1u),
	};

	return query_list(manager_addr, keyring, timeout_ms, &req, out, max,
			  count);
}

int mgr_query_role(const char *manager_addr, struct auth_keyring *keyring,
		   int timeout_ms, struct proto_mgr_role *out)
{
	uint8_t rep[PROTO_MGR_ROLE_SIZE];
	struct conn *conn;
	uint32_t status;
	size_t len;
	int ret;

	if (timeout_ms <= 0)
		timeout_ms = MGR_DEFAULT_TIMEOUT_MS;
	ret = mgr_dial(manager_addr, keyring, 0, 0, timeout_ms, &conn);
	if (ret < 0)
		return ret;
	ret = transact(conn, WIRE_OP_ROLE, 1, NULL, 0, rep, sizeof(rep), &len,
		       &status);
	conn_destroy(conn);
	if (ret < 0)
		return ret;
	ret = wire_status_to_errno(status);
	return ret ? ret : proto_mgr_role_decode(rep, len, out);
}
