// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of fuzz-peer: request streams as an owner sends
 * them after the handshake, built with the real encoders and checksums.
 * Run by hand from the source root: build/tests/fuzz/gen-corpus-peer
 * tests/fuzz/corpus/fuzz-peer
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/wire.h"
#include "proto_block.h"

#define OWNER 9u
#define BS 4096u

static uint8_t stream[1 << 16];
static size_t len;
static uint64_t next_id;

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

static void alloc(uint32_t owner, uint32_t n)
{
	struct proto_block_alloc_req r = {owner, n};
	uint8_t b[PROTO_BLOCK_ALLOC_REQ_SIZE];

	proto_block_alloc_req_encode(&r, b, sizeof(b));
	frame(WIRE_OP_ALLOC, b, sizeof(b), 0);
}

static void rw(uint8_t op, uint32_t block, uint32_t off, uint32_t n, int bad)
{
	struct proto_block_rw r = {OWNER, block, off, n};
	uint8_t b[PROTO_BLOCK_RW_SIZE + BS];

	proto_block_rw_encode(&r, b, sizeof(b));
	memset(b + PROTO_BLOCK_RW_SIZE, 'd', n);
	frame(op, b, PROTO_BLOCK_RW_SIZE + (op == WIRE_OP_WRITE ? n : 0), bad);
}

static void batch(uint8_t op, const struct proto_block_extent *e, uint32_t n)
{
	uint8_t b[PROTO_BLOCK_MAX_BATCH_HDR + 4 * BS];
	int hl = proto_block_batch_encode(OWNER, e, n, b, sizeof(b));
	size_t data = 0;

	for (uint32_t i = 0; i < n; i++)
		data += e[i].len;
	memset(b + hl, 'b', data);
	frame(op, b, hl + (op == WIRE_OP_WRITE_BATCH ? data : 0), 0);
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

int main(int argc, char **argv)
{
	const struct proto_block_extent two[2] = {{0, 0, 100}, {1, 4000, 96}};
	const struct proto_block_extent big[2] = {{0, 0, BS}, {1, 0, 2000}};
	const struct proto_block_extent stranger[1] = {{7, 0, 64}};
	const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus/fuzz-peer";
	uint32_t idx[2] = {0, 1};
	uint8_t b[64];
	int n;

	alloc(OWNER, 2);
	rw(WIRE_OP_WRITE, 0, 10, 100, 0);
	rw(WIRE_OP_READ, 0, 0, 200, 0);
	save(dir, "alloc-write-read");

	alloc(OWNER, 2);
	rw(WIRE_OP_WRITE, 1, 0, BS, 0); /* a whole block */
	rw(WIRE_OP_READ, 1, 0, BS, 0);
	save(dir, "whole-block");

	alloc(OWNER, 2);
	batch(WIRE_OP_WRITE_BATCH, two, 2);
	batch(WIRE_OP_READ_BATCH, two, 2);
	save(dir, "batches");

	alloc(OWNER, 2);
	batch(WIRE_OP_WRITE_BATCH, big, 2);
	save(dir, "big-batch");

	alloc(OWNER, 2);
	n = proto_block_free_req_encode(OWNER, idx, 2, b, sizeof(b));
	frame(WIRE_OP_FREE, b, n, 0);
	rw(WIRE_OP_READ, 0, 0, 8, 0);
	save(dir, "alloc-free-read");

	frame(WIRE_OP_STATUS, NULL, 0, 0);
	frame(WIRE_OP_PING, "x", 1, 0);
	save(dir, "status-ping");

	rw(WIRE_OP_READ, 3, 0, 8, 0);
	rw(WIRE_OP_WRITE, 3, 0, 8, 0);
	batch(WIRE_OP_WRITE_BATCH, stranger, 1);
	save(dir, "not-owned");

	alloc(OWNER, 1);
	rw(WIRE_OP_WRITE, 0, 0, 64, 1);
	save(dir, "bad-checksum");

	alloc(OWNER, 1);
	rw(WIRE_OP_WRITE, 0, 0, 3000, 1);
	save(dir, "bad-checksum-in-place");

	alloc(OWNER, 1);
	alloc(OWNER + 1, 1);
	save(dir, "owner-switch");

	rw(WIRE_OP_READ, 0, BS - 4, 8, 0);
	save(dir, "range-past-end");

	frame(WIRE_OP_REGISTER, "abcd", 4, 0);
	save(dir, "manager-op");

	memset(stream, 0x5a, 100);
	len = 100;
	save(dir, "garbage");

	alloc(OWNER, 2);
	rw(WIRE_OP_WRITE, 0, 0, 100, 0);
	len -= 50; /* cut off in the middle of the data */
	save(dir, "truncated");
	return 0;
}
