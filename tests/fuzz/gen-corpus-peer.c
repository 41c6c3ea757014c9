// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of fuzz-peer (wire version 2): a node id byte,
 * then request streams as that node sends them after the handshake, built
 * with the real encoders and checksums. The loans they name are real: a
 * small model of the target's fresh store and peer (fuzz-peer.h) tells
 * which (block, epoch) each ALLOC gets, with the neighbour's loans first.
 * Run by hand from the source root: build/tests/fuzz/gen-corpus-peer
 * tests/fuzz/corpus/fuzz-peer
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/wire.h"
#include "fuzz-peer.h"
#include "proto_block.h"

#define OWNER 9u
#define TOOL 0u
#define BS FUZZ_PEER_BS

static uint8_t stream[1 << 16];
static size_t len;
static uint64_t next_id;

/* ---- the model: store.c's free stack and the loan table's epochs ---- */

static struct {
	uint32_t stack[FUZZ_PEER_BLOCKS];
	uint32_t nfree;
	uint32_t loans; /* made so far: the next epoch */
	uint32_t epoch[FUZZ_PEER_BLOCKS];
	bool lent[FUZZ_PEER_BLOCKS];
} m;

/* A fresh peer, after the neighbour borrowed its blocks. */
static void model_reset(void)
{
	memset(&m, 0, sizeof(m));
	for (uint32_t i = 0; i < FUZZ_PEER_BLOCKS; i++)
		m.stack[i] = FUZZ_PEER_BLOCKS - 1 - i;
	m.nfree = FUZZ_PEER_BLOCKS - FUZZ_PEER_NEIGHBOUR_BLOCKS;
	m.loans = FUZZ_PEER_NEIGHBOUR_BLOCKS;
}

static uint32_t model_alloc(uint32_t n, struct proto_block_ref *refs)
{
	uint32_t got = n < m.nfree ? n : m.nfree;

	for (uint32_t i = 0; i < got; i++) {
		uint32_t b = m.stack[--m.nfree];

		m.lent[b] = true;
		m.epoch[b] = FUZZ_PEER_EPOCH(m.loans++);
		refs[i] = (struct proto_block_ref){b, m.epoch[b]};
	}
	return got;
}

static void model_free(struct proto_block_ref r)
{
	if (r.block < FUZZ_PEER_BLOCKS && m.lent[r.block] &&
	    m.epoch[r.block] == r.epoch) {
		m.lent[r.block] = false;
		m.stack[m.nfree++] = r.block;
	}
}

/* ---- frames ---- */

/* Starts a stream for node. */
static void as(uint32_t node)
{
	stream[0] = (uint8_t)node;
	len = 1;
	model_reset();
}

/* Appends one frame; bad_csum flips the checksum. */
static void frame(uint8_t op, const void *pl, size_t n, int bad_csum)
{
	struct iovec iov = {(void *)pl, n};
	struct wire_hdr h = {
		.op = op,
		.id = ++next_id,
		.len = n,
		.csum = wire_csum(&iov, 1) ^ (bad_csum ? 1 : 0),
	};

	wire_hdr_encode(&h, stream + len);
	memcpy(stream + len + WIRE_HDR_SIZE, pl, n);
	len += WIRE_HDR_SIZE + n;
}

/*
 * ALLOC n with flags; the loans the peer will make go to refs (room for
 * n). A mem:// connection has no one-sided access: asked for windows, the
 * peer lends without any.
 */
static void alloc_flags(uint32_t n, uint32_t flags,
			struct proto_block_ref *refs)
{
	uint8_t b[PROTO_BLOCK_ALLOC_REQ_SIZE];

	proto_block_alloc_req_encode(n, flags, b, sizeof(b));
	frame(WIRE_OP_ALLOC, b, sizeof(b), 0);
	if (refs)
		model_alloc(n, refs);
}

static void alloc(uint32_t n, struct proto_block_ref *refs)
{
	alloc_flags(n, 0, refs);
}

static void rw(uint8_t op, struct proto_block_ref r, uint32_t off, uint32_t n,
	       int bad)
{
	struct proto_block_rw hdr = {r.block, r.epoch, off, n};
	uint8_t b[PROTO_BLOCK_RW_SIZE + BS];

	proto_block_rw_encode(&hdr, b, sizeof(b));
	memset(b + PROTO_BLOCK_RW_SIZE, 'd', n);
	frame(op, b, PROTO_BLOCK_RW_SIZE + (op == WIRE_OP_WRITE ? n : 0), bad);
}

static void batch(uint8_t op, const struct proto_block_extent *e, uint32_t n)
{
	static uint8_t b[PROTO_BLOCK_MAX_BATCH_HDR + 4 * BS];
	int hl = proto_block_batch_encode(e, n, b, sizeof(b));
	size_t data = 0;

	for (uint32_t i = 0; i < n; i++)
		data += e[i].len;
	memset(b + hl, 'b', data);
	frame(op, b, hl + (op == WIRE_OP_WRITE_BATCH ? data : 0), 0);
}

/* FREE (flags 0) or RECONCILE (flags FIRST/LAST) of refs. */
static void list(uint8_t op, uint32_t flags, const struct proto_block_ref *r,
		 uint32_t n)
{
	static uint8_t b[PROTO_BLOCK_MAX_IDX_MSG];
	int hl = proto_block_list_encode(flags, r, n, b, sizeof(b));

	if (hl < 0)
		abort();
	frame(op, b, hl, 0);
	for (uint32_t i = 0; op == WIRE_OP_FREE && i < n; i++)
		model_free(r[i]);
}

static struct proto_block_extent ext(struct proto_block_ref r, uint32_t off,
				     uint32_t n)
{
	return (struct proto_block_extent){r.block, r.epoch, off, n};
}

static void save(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(stream, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
	len = 0;
	next_id = 0;
}

/* The neighbour's first loan, as a stranger would name it. */
static const struct proto_block_ref neighbours = {0, FUZZ_PEER_EPOCH(0)};

static void data_path_seeds(const char *dir)
{
	struct proto_block_ref r[4];
	struct proto_block_extent e[2];

	as(OWNER);
	alloc(2, r);
	rw(WIRE_OP_WRITE, r[0], 10, 100, 0);
	rw(WIRE_OP_READ, r[0], 0, 200, 0);
	save(dir, "alloc-write-read");

	as(OWNER);
	alloc(2, r);
	rw(WIRE_OP_WRITE, r[1], 0, BS, 0); /* a whole block */
	rw(WIRE_OP_READ, r[1], 0, BS, 0);
	save(dir, "whole-block");

	as(OWNER);
	alloc(2, r);
	e[0] = ext(r[0], 0, 100);
	e[1] = ext(r[1], 4000, 96);
	batch(WIRE_OP_WRITE_BATCH, e, 2);
	batch(WIRE_OP_READ_BATCH, e, 2);
	save(dir, "batches");

	as(OWNER);
	alloc(2, r);
	e[0] = ext(r[0], 0, BS);
	e[1] = ext(r[1], 0, 2000);
	batch(WIRE_OP_WRITE_BATCH, e, 2);
	save(dir, "big-batch");

	as(OWNER);
	alloc(2, r);
	list(WIRE_OP_FREE, 0, r, 2);
	rw(WIRE_OP_READ, r[0], 0, 8, 0); /* STALE */
	list(WIRE_OP_FREE, 0, r, 2);	 /* again: nothing to free */
	save(dir, "alloc-free-read");

	as(OWNER);
	alloc_flags(2, PROTO_BLOCK_ALLOC_WINDOWS, r);
	rw(WIRE_OP_WRITE, r[1], 0, 64, 0);
	rw(WIRE_OP_READ, r[1], 0, 64, 0);
	save(dir, "alloc-windows-on-messages");

	as(OWNER);
	frame(WIRE_OP_STATUS, NULL, 0, 0);
	frame(WIRE_OP_PING, "x", 1, 0);
	save(dir, "status-ping");

	as(OWNER);
	alloc(1, r);
	rw(WIRE_OP_WRITE, r[0], 0, 64, 1);
	save(dir, "bad-checksum");

	as(OWNER);
	alloc(1, r);
	rw(WIRE_OP_WRITE, r[0], 0, 3000, 1);
	save(dir, "bad-checksum-in-place");

	as(OWNER);
	alloc(1, r);
	rw(WIRE_OP_READ, r[0], BS - 4, 8, 0);
	save(dir, "range-past-end");

	as(OWNER);
	alloc(2, r);
	rw(WIRE_OP_WRITE, r[0], 0, 100, 0);
	len -= 50; /* cut off in the middle of the data */
	save(dir, "truncated");
}

/* Loans that are not, or no longer, the requester's. */
static void stale_seeds(const char *dir)
{
	struct proto_block_ref r[2], old, never = {9, 12345};
	struct proto_block_extent e[2];
	uint8_t zero[PROTO_BLOCK_RW_SIZE] = {2, 0, 0, 0, 0, 0, 0, 0,
					     0, 0, 0, 0, 8, 0, 0, 0};

	as(OWNER);
	rw(WIRE_OP_READ, never, 0, 8, 0);
	rw(WIRE_OP_WRITE, never, 0, 8, 0);
	e[0] = ext(never, 0, 64);
	batch(WIRE_OP_WRITE_BATCH, e, 1);
	save(dir, "not-lent");

	/* the neighbour's blocks, by a node that guessed their epochs */
	as(OWNER);
	rw(WIRE_OP_READ, neighbours, 0, 8, 0);
	rw(WIRE_OP_WRITE, neighbours, 0, BS, 0);
	e[0] = ext(neighbours, 0, 64);
	e[1] = ext((struct proto_block_ref){1, FUZZ_PEER_EPOCH(1)}, 8, 8);
	batch(WIRE_OP_WRITE_BATCH, e, 2);
	list(WIRE_OP_FREE, 0, &neighbours, 1);
	list(WIRE_OP_RECONCILE,
	     PROTO_BLOCK_RECONCILE_FIRST | PROTO_BLOCK_RECONCILE_LAST,
	     &neighbours, 1);
	save(dir, "another-owners-loans");

	/* a freed block lent again: the old epoch is stale */
	as(OWNER);
	alloc(1, r);
	old = r[0];
	rw(WIRE_OP_WRITE, old, 0, 16, 0);
	list(WIRE_OP_FREE, 0, &old, 1);
	alloc(1, r); /* the same block, the next epoch */
	rw(WIRE_OP_WRITE, old, 0, 16, 0);
	rw(WIRE_OP_READ, old, 0, 16, 0);
	rw(WIRE_OP_READ, r[0], 0, 16, 0);
	old.epoch++;
	rw(WIRE_OP_READ, old, 0, 16, 0); /* a future epoch: the live one */
	save(dir, "stale-epoch");

	/* epoch 0 is nobody's: an invalid request, the connection closes */
	as(OWNER);
	alloc(1, r);
	frame(WIRE_OP_READ, zero, sizeof(zero), 0);
	save(dir, "zero-epoch");
}

static void loan_seeds(const char *dir)
{
	static struct proto_block_ref many[PROTO_BLOCK_MAX_IDX];
	struct proto_block_ref r[4], claim[2], late;
	uint8_t junk[8] = {1};

	/* claim 0 and a loan it never had, then 1; borrow; end: 2 freed */
	as(OWNER);
	alloc(3, r);
	claim[0] = r[0];
	claim[1] = (struct proto_block_ref){5, 77};
	list(WIRE_OP_RECONCILE, PROTO_BLOCK_RECONCILE_FIRST, claim, 2);
	list(WIRE_OP_RECONCILE, 0, &r[1], 1);
	alloc(1, &late);
	list(WIRE_OP_RECONCILE, PROTO_BLOCK_RECONCILE_LAST, NULL, 0);
	rw(WIRE_OP_READ, r[2], 0, 8, 0); /* freed by LAST */
	rw(WIRE_OP_READ, late, 0, 8, 0); /* made after FIRST: kept */
	save(dir, "reconcile");

	as(OWNER);
	alloc(1, r);
	list(WIRE_OP_RECONCILE, PROTO_BLOCK_RECONCILE_LAST, r, 1);
	rw(WIRE_OP_READ, r[0], 0, 8, 0);
	save(dir, "reconcile-last-only");

	as(OWNER);
	for (uint32_t i = 0; i < PROTO_BLOCK_MAX_IDX; i++)
		many[i] = (struct proto_block_ref){i, FUZZ_PEER_EPOCH(i)};
	list(WIRE_OP_RECONCILE,
	     PROTO_BLOCK_RECONCILE_FIRST | PROTO_BLOCK_RECONCILE_LAST, many,
	     PROTO_BLOCK_MAX_IDX);
	save(dir, "reconcile-max");

	as(OWNER);
	alloc(4, r);
	rw(WIRE_OP_WRITE, r[3], 0, 32, 0);
	frame(WIRE_OP_GOODBYE, NULL, 0, 0);
	rw(WIRE_OP_READ, r[3], 0, 32, 0); /* STALE */
	alloc(2, r);
	frame(WIRE_OP_GOODBYE, NULL, 0, 0);
	save(dir, "goodbye");

	as(OWNER);
	frame(WIRE_OP_GOODBYE, junk, sizeof(junk), 0);
	save(dir, "goodbye-with-payload");

	as(OWNER);
	alloc(1, r);
	list(WIRE_OP_FREE, PROTO_BLOCK_RECONCILE_FIRST, r, 1);
	save(dir, "free-with-flags");
}

/* A tool (node 0): STATUS and PING only; every loan request is PERM. */
static void tool_seeds(const char *dir)
{
	struct proto_block_ref r = {2, FUZZ_PEER_EPOCH(2)};
	struct proto_block_extent e = ext(r, 0, 64);

	as(TOOL);
	frame(WIRE_OP_STATUS, NULL, 0, 0);
	frame(WIRE_OP_PING, NULL, 0, 0);
	alloc(1, NULL);
	rw(WIRE_OP_READ, neighbours, 0, 8, 0);
	rw(WIRE_OP_WRITE, neighbours, 0, BS, 0);
	batch(WIRE_OP_WRITE_BATCH, &e, 1);
	batch(WIRE_OP_READ_BATCH, &e, 1);
	list(WIRE_OP_FREE, 0, &neighbours, 1);
	list(WIRE_OP_RECONCILE, PROTO_BLOCK_RECONCILE_FIRST, &neighbours, 1);
	frame(WIRE_OP_GOODBYE, NULL, 0, 0);
	frame(WIRE_OP_STATUS, NULL, 0, 0);
	save(dir, "tool");
}

/* HANDOVER of a loan to another node; the handover takes an epoch. */
static void handover(struct proto_block_ref r, uint32_t to, bool ours)
{
	struct proto_block_handover ho = {.ref = r, .to = to};
	uint8_t b[PROTO_BLOCK_HANDOVER_SIZE];

	proto_block_handover_encode(&ho, b, sizeof(b));
	frame(WIRE_OP_HANDOVER, b, sizeof(b), 0);
	if (ours)
		m.loans++;
}

/* Moving blocks on: HANDOVER, MOVE_NOTICE, DRAIN (the store has no
 * notice or drain: they are refused, the connection stays). */
static void move_seeds(const char *dir)
{
	struct proto_block_moved mv = {.from = 1,
				       .from_epoch = 5,
				       .node = 3,
				       .block = 4,
				       .epoch = 6,
				       .addr = "tcp://10.0.0.3:7100"};
	uint8_t b[PROTO_BLOCK_MOVED_SIZE], d[PROTO_BLOCK_DRAIN_SIZE];
	struct proto_block_ref r[2];

	/* to another node: the old name is stale, the new owner's is not */
	as(OWNER);
	alloc(2, r);
	rw(WIRE_OP_WRITE, r[0], 0, 64, 0);
	handover(r[0], 77, true);
	rw(WIRE_OP_READ, r[0], 0, 8, 0);
	handover(r[1], OWNER, false); /* to itself: refused */
	handover(neighbours, 77, false);
	save(dir, "handover");

	as(OWNER);
	proto_block_moved_encode(&mv, b, sizeof(b));
	frame(WIRE_OP_MOVE_NOTICE, b, sizeof(b), 0);
	mv.flags = PROTO_BLOCK_MOVED_FREED;
	mv.addr[0] = '\0';
	proto_block_moved_encode(&mv, b, sizeof(b));
	frame(WIRE_OP_MOVE_NOTICE, b, sizeof(b), 0);
	frame(WIRE_OP_MOVE_NOTICE, b, 8, 0); /* short: closes */
	save(dir, "move-notice");

	as(TOOL);
	proto_block_drain_encode(PROTO_BLOCK_DRAIN_ON, d, sizeof(d));
	frame(WIRE_OP_DRAIN, d, sizeof(d), 0);
	proto_block_drain_encode(0, d, sizeof(d));
	frame(WIRE_OP_DRAIN, d, sizeof(d), 0);
	d[0] = 6; /* unknown flags: closes */
	frame(WIRE_OP_DRAIN, d, sizeof(d), 0);
	save(dir, "drain");
}

/* FENCE of a connection that broke: none runs here, so OK at once. */
static void fence_seeds(const char *dir)
{
	uint8_t b[PROTO_BLOCK_FENCE_SIZE], zero[PROTO_BLOCK_FENCE_SIZE] = {0};
	struct proto_block_ref r[1];

	proto_block_fence_encode(0x9e3779b97f4a7c15ull, b, sizeof(b));
	as(OWNER);
	alloc(1, r);
	frame(WIRE_OP_FENCE, b, sizeof(b), 0);
	rw(WIRE_OP_WRITE, r[0], 0, 64, 0);
	rw(WIRE_OP_READ, r[0], 0, 64, 0);
	save(dir, "fence-then-write");

	as(OWNER);
	frame(WIRE_OP_FENCE, zero, sizeof(zero), 0);
	save(dir, "fence-zero-session");

	as(OWNER);
	frame(WIRE_OP_FENCE, b, 4, 0);
	save(dir, "fence-short");

	as(TOOL);
	frame(WIRE_OP_FENCE, b, sizeof(b), 0);
	frame(WIRE_OP_STATUS, NULL, 0, 0);
	save(dir, "fence-by-a-tool");
}

static void garbage_seeds(const char *dir)
{
	as(OWNER);
	frame(WIRE_OP_REGISTER, "abcd", 4, 0);
	save(dir, "manager-op");

	as(OWNER);
	memset(stream + 1, 0x5a, 100);
	len = 101;
	save(dir, "garbage");
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus/fuzz-peer";

	data_path_seeds(dir);
	stale_seeds(dir);
	loan_seeds(dir);
	tool_seeds(dir);
	move_seeds(dir);
	fence_seeds(dir);
	garbage_seeds(dir);
	return 0;
}
