// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the peer service's request handling (pool/peer.c): the
 * input is a node id (its first byte; 0 is a tool) and then everything a
 * client authenticated as that node sends after the handshake, fed over a
 * real mem:// connection to a real peer serving a small RAM store. This
 * reaches what the pure decoders cannot: the loan checks against the
 * session's owner, reading payloads in stages through the payload cursor,
 * skipping refused data, batches, RECONCILE and GOODBYE, replies, and
 * closing on garbage. A drain thread swallows the replies so neither end
 * can block the other; the peer ends the connection when the input ends.
 *
 * Each input gets a fresh store and peer, with fixed epochs (getrandom()
 * is wrapped, see fuzz-peer.h), so the seed corpus can name real loans and
 * a run does not depend on the inputs before it. Two promises are checked
 * after every input, and a broken one traps: a neighbour owner's blocks,
 * filled before the input, are unchanged (no request from another node
 * reaches them), and once the input's node and the neighbour said GOODBYE
 * no block is lent to either, and once the nodes the input handed loans
 * over to (HANDOVER) left too, every block is back in the store (no pin or
 * loan leaked).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/peer.h"
#include "cmp/wire.h"
#include "../../memserver/store.h"
#include "fuzz-peer.h"
#include "peer-internal.h"
#include "proto_block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags);

/* Largest input staged; the peer never sees frames beyond it. */
#define FUZZ_MAX_INPUT (256u << 10)
#define TIMEOUT_MS 10000

/* Fixed "random" words: the peer's epochs start at FUZZ_PEER_RANDOM + 1. */
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags)
{
	uint32_t w = FUZZ_PEER_RANDOM;
	uint8_t *p = buf;

	(void)flags;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(w >> (8 * (i % 4)));
	return (ssize_t)len;
}

static struct conn *connect_as(struct peer *peer, uint32_t node)
{
	struct conn *c;

	if (conn_connect(peer_listen_addr(peer), TIMEOUT_MS, &c) ||
	    conn_set_timeout(c, TIMEOUT_MS) ||
	    auth_client(c, NULL, node, 0, TIMEOUT_MS))
		abort();
	return c;
}

/* One request and its reply, which must be OK; the payload into rep. */
static void call(struct conn *c, uint8_t op, const void *req, size_t len,
		 void *rep, size_t cap)
{
	struct iovec qiov = {(void *)req, len}, piov = {rep, cap};
	struct wire_hdr h = {.op = op, .id = 1};

	if (wire_send(c, &h, &qiov, len ? 1 : 0) || wire_recv_hdr(c, &h) ||
	    h.status != WIRE_S_OK || h.len > cap ||
	    (h.len && wire_recv_payload(c, &h, &piov, 1)))
		abort();
}

/* The neighbour borrows the first blocks and fills them. */
static struct conn *neighbour_borrows(struct peer *peer)
{
	uint8_t req[PROTO_BLOCK_RW_SIZE + FUZZ_PEER_BS];
	uint8_t rep[PROTO_BLOCK_ALLOC_REP_SIZE +
		    FUZZ_PEER_NEIGHBOUR_BLOCKS * PROTO_BLOCK_REF_SIZE];
	struct proto_block_ref refs[FUZZ_PEER_NEIGHBOUR_BLOCKS];
	struct proto_block_alloc_rep ar;
	struct conn *c = connect_as(peer, FUZZ_PEER_NEIGHBOUR);

	proto_block_alloc_req_encode(FUZZ_PEER_NEIGHBOUR_BLOCKS, 0, req,
				     sizeof(req));
	call(c, WIRE_OP_ALLOC, req, PROTO_BLOCK_ALLOC_REQ_SIZE, rep,
	     sizeof(rep));
	if (proto_block_alloc_rep_decode(rep, sizeof(rep), FUZZ_PEER_BS, &ar,
					 refs, NULL,
					 FUZZ_PEER_NEIGHBOUR_BLOCKS))
		abort();
	memset(req + PROTO_BLOCK_RW_SIZE, FUZZ_PEER_NEIGHBOUR_BYTE,
	       FUZZ_PEER_BS);
	for (uint32_t i = 0; i < FUZZ_PEER_NEIGHBOUR_BLOCKS; i++) {
		struct proto_block_rw rw = {refs[i].block, refs[i].epoch, 0,
					    FUZZ_PEER_BS};

		if (refs[i].block != i || refs[i].epoch != FUZZ_PEER_EPOCH(i))
			abort(); /* the seeds' assumptions no longer hold */
		proto_block_rw_encode(&rw, req, sizeof(req));
		call(c, WIRE_OP_WRITE, req, sizeof(req), NULL, 0);
	}
	return c;
}

static bool neighbour_intact(struct ms_store *store)
{
	for (uint32_t i = 0; i < FUZZ_PEER_NEIGHBOUR_BLOCKS; i++) {
		const uint8_t *p = ms_store_ops.ptr(store, i);

		for (uint32_t j = 0; j < FUZZ_PEER_BS; j++)
			if (p[j] != FUZZ_PEER_NEIGHBOUR_BYTE)
				return false;
	}
	return true;
}

static void goodbye(struct conn *c)
{
	uint8_t rep[PROTO_BLOCK_COUNT_SIZE];

	call(c, WIRE_OP_GOODBYE, NULL, 0, rep, sizeof(rep));
}

/*
 * The loans left once the input's node and the neighbour said goodbye
 * must be ones the input handed over to other nodes: those leave too.
 * False when one of the two still holds a loan.
 */
static bool others_leave(struct peer *peer, uint32_t node)
{
	uint32_t owner, epoch;

	for (uint32_t i = 0; i < FUZZ_PEER_BLOCKS; i++) {
		if (!loans_holder(peer->loans, i, &owner, &epoch))
			continue;
		if (owner == node || owner == FUZZ_PEER_NEIGHBOUR)
			return false;
		loans_free_owner(peer->loans, owner);
	}
	return !peer_lent(peer);
}

/* Reads replies until the peer closes the connection. */
static void *drain(void *arg)
{
	struct conn *c = arg;
	uint8_t buf[65536];

	while (recv(conn_fd(c), buf, sizeof(buf), 0) > 0)
		;
	return NULL;
}

/*
 * Sends the input and returns once the peer closed the connection, which
 * it does only after its handler for the last frame returned.
 */
static void feed(struct peer *peer, uint32_t node, const uint8_t *data,
		 size_t size)
{
	struct iovec iov = {(void *)data, size};
	struct conn *c = connect_as(peer, node);
	pthread_t t;

	if (pthread_create(&t, NULL, drain, c))
		abort();
	/* the peer may close early on garbage: a failed write is fine */
	if (size)
		conn_writev(c, &iov, 1);
	shutdown(conn_fd(c), SHUT_WR);
	pthread_join(t, NULL);
	conn_destroy(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer_config cfg = {
		.listen_addr = "mem://",
		.node_id = 1,
		.block_size = FUZZ_PEER_BS,
		.ops = &ms_store_ops,
	};
	struct ms_store *store;
	struct conn *nb, *c;
	struct peer *peer;
	uint32_t node;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	log_init("fuzz-peer", LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	if (ms_store_create(NULL, FUZZ_PEER_BLOCKS * FUZZ_PEER_BS, FUZZ_PEER_BS,
			    &store))
		abort();
	cfg.ctx = store;
	peer = peer_create(&cfg);
	if (!peer)
		abort();
	nb = neighbour_borrows(peer);

	node = data[0];
	feed(peer, node, data + 1, size - 1);

	if (!neighbour_intact(store))
		__builtin_trap(); /* another owner's data changed */
	if (node) {
		c = connect_as(peer, node);
		goodbye(c);
		conn_destroy(c);
	}
	goodbye(nb);
	conn_destroy(nb);
	if (!others_leave(peer, node) ||
	    ms_store_free_count(store) != FUZZ_PEER_BLOCKS)
		__builtin_trap(); /* a loan or a pin outlived everything */
	peer_destroy(peer);
	ms_store_destroy(store);
	return 0;
}
