// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the manager message decoders (manager/proto.c): the
 * manager decodes what nodes send, nodes decode what the manager sends.
 * Input: one selector byte (which decoder, modulo their number), then the
 * payload. Besides "does not crash or over-read", it checks what must hold
 * for anything a decoder accepts: it encodes back to the very same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/mgr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[PROTO_MGR_NODES_REPLY_MAX];
static struct mgr_node_info nodes[PROTO_MGR_MAX_NODES];

static void same(const uint8_t *p, size_t len, int enc)
{
	if (enc < 0 || (size_t)enc != len || memcmp(out, p, len))
		abort();
}

static void fuzz_register(const uint8_t *p, size_t len)
{
	struct proto_mgr_register m;

	if (!proto_mgr_register_decode(p, len, &m))
		same(p, len, proto_mgr_register_encode(&m, out, sizeof(out)));
}

static void fuzz_register_reply(const uint8_t *p, size_t len)
{
	struct proto_mgr_register_reply m;

	if (!proto_mgr_register_reply_decode(p, len, &m))
		same(p, len,
		     proto_mgr_register_reply_encode(&m, out, sizeof(out)));
}

static void fuzz_heartbeat(const uint8_t *p, size_t len)
{
	struct proto_mgr_heartbeat m;

	if (!proto_mgr_heartbeat_decode(p, len, &m))
		same(p, len, proto_mgr_heartbeat_encode(&m, out, sizeof(out)));
}

static void fuzz_find_free(const uint8_t *p, size_t len)
{
	struct proto_mgr_find_free m;

	if (!proto_mgr_find_free_decode(p, len, &m))
		same(p, len, proto_mgr_find_free_encode(&m, out, sizeof(out)));
}

static void fuzz_free_list(const uint8_t *p, size_t len)
{
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];
	size_t n;

	if (!proto_mgr_free_list_decode(p, len, e, PROTO_MGR_MAX_FREE, &n))
		same(p, len,
		     proto_mgr_free_list_encode(e, n, out, sizeof(out)));
	/* a caller with room for fewer entries must be refused, not overrun */
	if (!proto_mgr_free_list_decode(p, len, e, 1, &n) && n > 1)
		abort();
}

static void fuzz_nodes(const uint8_t *p, size_t len)
{
	size_t n;

	if (!proto_mgr_nodes_decode(p, len, nodes, PROTO_MGR_MAX_NODES, &n))
		same(p, len,
		     proto_mgr_nodes_encode(nodes, n, out, sizeof(out)));
}

static void fuzz_node_state(const uint8_t *p, size_t len)
{
	struct proto_mgr_node_state m;

	if (!proto_mgr_node_state_decode(p, len, &m))
		same(p, len, proto_mgr_node_state_encode(&m, out, sizeof(out)));
}

static void fuzz_leave(const uint8_t *p, size_t len)
{
	struct proto_mgr_leave m;

	if (!proto_mgr_leave_decode(p, len, &m))
		same(p, len, proto_mgr_leave_encode(&m, out, sizeof(out)));
}

static void fuzz_nodes_req(const uint8_t *p, size_t len)
{
	struct proto_mgr_nodes_req m;

	if (!proto_mgr_nodes_req_decode(p, len, &m))
		same(p, len, proto_mgr_nodes_req_encode(&m, out, sizeof(out)));
}

static void fuzz_role(const uint8_t *p, size_t len)
{
	struct proto_mgr_role m;

	if (!proto_mgr_role_decode(p, len, &m))
		same(p, len, proto_mgr_role_encode(&m, out, sizeof(out)));
}

/* The selector byte picks one, modulo their number: append, never insert. */
static void (*const decoders[])(const uint8_t *p, size_t len) = {
	fuzz_register,	fuzz_register_reply, fuzz_heartbeat,  fuzz_find_free,
	fuzz_free_list, fuzz_nodes,	     fuzz_node_state, fuzz_leave,
	fuzz_nodes_req, fuzz_role,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = sizeof(decoders) / sizeof(decoders[0]);

	if (size < 1)
		return 0;
	decoders[data[0] % n](data + 1, size - 1);
	return 0;
}
