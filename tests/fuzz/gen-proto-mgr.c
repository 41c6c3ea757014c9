// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of fuzz-proto-mgr: valid messages of every kind
 * (selector byte + payload, as the target reads them) and a few near
 * misses. Run by hand when the messages change:
 *   build/tests/fuzz/gen-proto-mgr tests/fuzz/corpus/fuzz-proto-mgr
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/mgr.h"

enum {
	SEL_REG,
	SEL_REG_REPLY,
	SEL_HB,
	SEL_FIND,
	SEL_FREE,
	SEL_NODES,
	SEL_STATE,
	SEL_LEAVE,
	SEL_NODES_REQ,
	SEL_ROLE
};

static const char *dir;
static uint8_t buf[1 + PROTO_MGR_FREE_REPLY_MAX + 4096];

static void put(const char *name, unsigned int sel, int len)
{
	char path[4096];
	FILE *f;

	if (len < 0) {
		fprintf(stderr, "%s: encode failed: %d\n", name, len);
		exit(1);
	}
	buf[0] = (uint8_t)sel;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, (size_t)len + 1, f) != (size_t)len + 1 ||
	    fclose(f)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct proto_mgr_register reg = {.node = 7,
					 .kind = MGR_KIND_COMPUTE,
					 .block_size = 65536,
					 .capacity = 4096,
					 .free = 1000,
					 .addr = "tcp://10.1.0.2:7100",
					 .incarnation = 0x1122334455667788ull};
	struct proto_mgr_register_reply rr = {.heartbeat_ms = 1000,
					      .suspect_after = 3,
					      .epoch = 0xfeedfacecafebeefull};
	struct proto_mgr_heartbeat hb = {
		.node = 7,
		.counts = {10, 20, 30, 40, 5},
		.traffic = {1u << 20, 4096, 1234567, 89}};
	struct proto_mgr_nodes_req nq = {.flags = PROTO_MGR_NODES_SNAPSHOT,
					 .wait_ms = 500};
	struct proto_mgr_find_free ff = {.node = 7, .want = 64};
	struct proto_mgr_node_state ns = {.node = 9,
					  .state = MGR_NODE_SUSPECT,
					  .kind = MGR_KIND_MEMSERVER,
					  .addr = "tcp://10.1.0.9:7200"};
	struct proto_mgr_leave lv = {.node = 7};
	struct proto_mgr_role ro = {.role = MGR_ROLE_STANDBY,
				    .rank = 1,
				    .alive = 0,
				    .takeovers = 2,
				    .epoch = 0x0123456789abcdefull,
				    .since_ms = 1500,
				    .copied = 3,
				    .copied_ms = 420,
				    .defers_to = "tcp://10.1.0.1:7000"};
	struct mgr_free_entry fe[3] = {
		{2, MGR_KIND_COMPUTE, 500, "tcp://10.1.0.3:7100"},
		{3, MGR_KIND_COMPUTE, 20, "rdma://10.1.0.4:7100"},
		{9, MGR_KIND_MEMSERVER, 1u << 20, "mem://ms"},
	};
	struct mgr_node_info ni[2] = {
		{2,
		 MGR_KIND_COMPUTE,
		 MGR_NODE_ALIVE,
		 65536,
		 4096,
		 {1, 2, 3, 4, 5},
		 250,
		 "tcp://10.1.0.3:7100",
		 3600000,
		 {1u << 30, 1u << 20, 5000, 6000},
		 true},
		{9,
		 MGR_KIND_MEMSERVER,
		 MGR_NODE_LEFT,
		 65536,
		 1u << 20,
		 {1u << 19, 0, 0, 100, 0},
		 90000,
		 "tcp://10.1.0.9:7200",
		 12000,
		 {0, 0, 1ull << 40, 1ull << 41},
		 false},
	};
	uint8_t *p = buf + 1;
	size_t cap = sizeof(buf) - 1;
	int len;

	if (argc != 2) {
		fprintf(stderr, "usage: gen-proto-mgr DIR\n");
		return 2;
	}
	dir = argv[1];

	put("register", SEL_REG, proto_mgr_register_encode(&reg, p, cap));
	reg.kind = MGR_KIND_MEMSERVER;
	reg.block_size = 4096;
	reg.capacity = reg.free = 1ull << 32;
	snprintf(reg.addr, sizeof(reg.addr), "%s",
		 "tcp://[fd00:1234:5678:9abc:def0:1234:5678:9abc]:65535");
	put("register-memserver-max", SEL_REG,
	    proto_mgr_register_encode(&reg, p, cap));
	len = proto_mgr_register_encode(&reg, p, cap);
	p[8] = 0x01; /* block size 4097: a near miss */
	put("register-bad-block-size", SEL_REG, len);

	put("register-reply", SEL_REG_REPLY,
	    proto_mgr_register_reply_encode(&rr, p, cap));
	put("heartbeat", SEL_HB, proto_mgr_heartbeat_encode(&hb, p, cap));
	hb.counts.free = 1ull << 32;
	hb.counts.lll = 0;
	hb.counts.rll = 0;
	put("heartbeat-full", SEL_HB, proto_mgr_heartbeat_encode(&hb, p, cap));
	put("find-free", SEL_FIND, proto_mgr_find_free_encode(&ff, p, cap));
	put("free-list-empty", SEL_FREE,
	    proto_mgr_free_list_encode(fe, 0, p, cap));
	put("free-list-3", SEL_FREE, proto_mgr_free_list_encode(fe, 3, p, cap));
	len = proto_mgr_free_list_encode(fe, 3, p, cap);
	p[0] = 4; /* count beyond the bytes */
	put("free-list-short", SEL_FREE, len);
	put("nodes-empty", SEL_NODES, proto_mgr_nodes_encode(ni, 0, p, cap));
	put("nodes-2", SEL_NODES, proto_mgr_nodes_encode(ni, 2, p, cap));
	len = proto_mgr_nodes_encode(ni, 2, p, cap);
	p[8 + 5] = 4; /* state must be alive, suspect or left */
	put("nodes-bad-state", SEL_NODES, len);
	put("node-state", SEL_STATE, proto_mgr_node_state_encode(&ns, p, cap));
	ns.state = MGR_NODE_ALIVE;
	ns.kind = MGR_KIND_COMPUTE;
	put("node-state-alive", SEL_STATE,
	    proto_mgr_node_state_encode(&ns, p, cap));
	len = proto_mgr_node_state_encode(&ns, p, cap);
	p[4] = 0; /* no state: a near miss */
	put("node-state-bad", SEL_STATE, len);
	put("leave", SEL_LEAVE, proto_mgr_leave_encode(&lv, p, cap));
	len = proto_mgr_leave_encode(&lv, p, cap);
	p[4] = 1; /* reserved */
	put("leave-reserved", SEL_LEAVE, len);
	put("nodes-req-snapshot", SEL_NODES_REQ,
	    proto_mgr_nodes_req_encode(&nq, p, cap));
	len = proto_mgr_nodes_req_encode(&nq, p, cap);
	p[4] = p[5] = 0; /* a snapshot without a wait: a near miss */
	put("nodes-req-no-wait", SEL_NODES_REQ, len);
	put("role-standby", SEL_ROLE, proto_mgr_role_encode(&ro, p, cap));
	ro.role = MGR_ROLE_ACTIVE;
	ro.rank = 0;
	ro.alive = 1000;
	ro.defers_to[0] = '\0';
	put("role-active", SEL_ROLE, proto_mgr_role_encode(&ro, p, cap));
	len = proto_mgr_role_encode(&ro, p, cap);
	p[1] = MGR_MAX_MANAGERS; /* a rank beyond the list: a near miss */
	put("role-bad-rank", SEL_ROLE, len);
	put("empty", SEL_REG, 0);
	return 0;
}
