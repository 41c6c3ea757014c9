// SPDX-License-Identifier: MIT
/*
 * cmpctl drain (cmpctl-drain.h): asks the manager where a node serves,
 * then asks that node's block service (DRAIN, as a tool: no node id) to
 * move every block it holds for other nodes elsewhere while it keeps
 * running, or to lend again; with --wait, asks again twice a second until
 * nothing is left, printing progress.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/mgr.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "cmpctl-cluster.h"
#include "cmpctl-drain.h"
#include "proto_block.h"

#define DRAIN_TIMEOUT_MS 3000
#define POLL_MS 500

/* Where node serves, from the manager. */
static int node_addr(const char *manager, struct auth_keyring *kr,
		     uint32_t node, char *addr, size_t cap)
{
	struct mgr_node_info *nodes =
		calloc(PROTO_MGR_MAX_NODES, sizeof(*nodes));
	size_t count = 0;
	int ret;

	if (!nodes)
		return -ENOMEM;
	ret = mgr_query_nodes(manager, kr, DRAIN_TIMEOUT_MS, nodes,
			      PROTO_MGR_MAX_NODES, &count);
	if (ret < 0) {
		fprintf(stderr, "cmpctl: manager %s: %s%s\n", manager,
			strerror(-ret), cmpctl_error_hint(ret));
		goto out_free;
	}
	ret = -ENOENT;
	for (size_t i = 0; i < count; i++) {
		if (nodes[i].node != node)
			continue;
		if (nodes[i].state != MGR_NODE_ALIVE) {
			fprintf(stderr, "cmpctl: node %u is %s\n", node,
				mgr_node_state_name(nodes[i].state));
			ret = -EHOSTDOWN;
			break;
		}
		snprintf(addr, cap, "%s", nodes[i].addr);
		ret = 0;
	}
	if (ret == -ENOENT)
		fprintf(stderr, "cmpctl: the manager knows no node %u\n", node);
out_free:
	free(nodes);
	return ret;
}

/* One DRAIN exchange on c. */
static int ask(struct conn *c, uint64_t id, bool on,
	       struct proto_block_drain_rep *rep)
{
	uint8_t req[PROTO_BLOCK_DRAIN_SIZE], buf[PROTO_BLOCK_DRAIN_REP_SIZE];
	struct iovec qiov = {req, sizeof(req)}, piov = {buf, sizeof(buf)};
	struct wire_hdr h = {.op = WIRE_OP_DRAIN, .id = id}, rh;
	int ret;

	proto_block_drain_encode(on ? PROTO_BLOCK_DRAIN_ON : 0, req,
				 sizeof(req));
	ret = wire_send(c, &h, &qiov, 1);
	if (!ret)
		ret = wire_recv_hdr(c, &rh);
	if (ret)
		return ret;
	if (rh.status != WIRE_S_OK) {
		wire_skip_payload(c, &rh);
		ret = wire_status_to_errno(rh.status);
		return ret > 0 ? -ret : -EIO;
	}
	if (rh.len != sizeof(buf))
		return -EPROTO;
	ret = wire_recv_payload(c, &rh, &piov, 1);
	if (ret < 0)
		return ret;
	return proto_block_drain_rep_decode(buf, rh.len, rep) < 0 ? -EPROTO : 0;
}

static void report(FILE *out, uint32_t node,
		   const struct proto_block_drain_rep *r)
{
	fprintf(out,
		"node %u: %s; %u blocks held for other nodes, %u owners not "
		"told yet\n",
		node, r->flags & PROTO_BLOCK_DRAIN_ON ? "draining" : "lending",
		r->held, r->forwarding);
	fflush(out);
}

/* Asks until the node holds nothing for others, or wait_ms passed. */
static int drain_on(struct conn *c, uint32_t node, bool on, uint32_t wait_ms,
		    FILE *out)
{
	uint64_t end = cmp_now_ns() + (uint64_t)wait_ms * 1000000ull;
	struct timespec ts = {0, POLL_MS * 1000000l};
	struct proto_block_drain_rep r, last = {UINT32_MAX, 0, 0};
	uint64_t id = 1;
	int ret;

	for (;;) {
		ret = ask(c, id++, on, &r);
		if (ret < 0) {
			fprintf(stderr, "cmpctl: node %u: %s%s\n", node,
				strerror(-ret),
				ret == -EOPNOTSUPP ? " (it lends no pool)"
						   : "");
			return ret;
		}
		if (memcmp(&r, &last, sizeof(r)) || !wait_ms || !on)
			report(out, node, &r);
		last = r;
		if (!wait_ms || !on || (!r.held && !r.forwarding))
			return 0;
		if (cmp_now_ns() > end) {
			fprintf(stderr,
				"cmpctl: node %u still holds %u blocks for "
				"others (%u owners not told) after %.0f s (it "
				"keeps draining)\n",
				node, r.held, r.forwarding, wait_ms / 1000.0);
			return -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
	}
}

int cmpctl_drain(const char *manager, const char *key_path, uint32_t node,
		 bool on, uint32_t wait_ms, FILE *out)
{
	char addr[PROTO_MGR_ADDR_LEN];
	struct auth_keyring *kr = NULL;
	struct conn *c = NULL;
	int ret;

	if (key_path) {
		/* auth_keyring_load() says what is wrong with the file */
		kr = auth_keyring_load(key_path);
		if (!kr)
			return -errno;
	}
	ret = node_addr(manager, kr, node, addr, sizeof(addr));
	if (ret < 0)
		goto out_keyring;
	ret = conn_connect(addr, DRAIN_TIMEOUT_MS, &c);
	if (!ret)
		ret = conn_set_timeout(c, DRAIN_TIMEOUT_MS);
	if (!ret)
		ret = auth_client(c, kr, 0, 0, DRAIN_TIMEOUT_MS);
	if (ret < 0) {
		fprintf(stderr, "cmpctl: node %u at %s: %s%s\n", node, addr,
			strerror(-ret), cmpctl_error_hint(ret));
		goto out_conn;
	}
	ret = drain_on(c, node, on, wait_ms, out);
out_conn:
	conn_destroy(c);
out_keyring:
	auth_keyring_destroy(kr);
	return ret;
}
