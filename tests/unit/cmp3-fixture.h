/* SPDX-License-Identifier: MIT */
/*
 * The CMP paper's three nodes for the tests of the collaborative pool
 * (test-cmp3.c, test-collab.c): nodes A, B and C each contribute four
 * 4 KiB blocks through a real pool and cluster and join an in-process
 * manager over mem://. Each node's blocks hold patterns made from seeds,
 * so every read checks data byte for byte; the list counts of every node
 * can be checked at once or waited for. Every wait polls a condition
 * against a deadline. Everything asserts (cmocka). Exchange is off in
 * every pool (pool_set_exchange()) unless a test turns it on.
 */
#ifndef CMP_TEST_CMP3_FIXTURE_H
#define CMP_TEST_CMP3_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/pool.h"

#define BS 4096u
#define NBLOCKS 4u
#define MAX_NBLOCKS 8u /* what a node may grow to */
#define HB_MS 50
#define SUSPECT_AFTER 40 /* 2 s of silence: never on a busy CI machine */
#define DEADLINE_MS 10000
#define MAXH 16

enum { A, B, C, NNODES };

struct cmp3 {
	struct manager *mgr;
	const char *mgr_addr;
	struct pool *pool[NNODES];
	struct cluster *cl[NNODES];
	char addr[NNODES][64]; /* where each node's block service listens */
	/* handles each node holds, in allocation order, and their seeds */
	uint32_t h[NNODES][MAXH];
	uint32_t seed[NNODES][MAXH];
	size_t nh[NNODES];
	uint32_t next_seed;
};

extern const char node_name[NNODES];
extern const uint32_t node_id[NNODES];

struct lists {
	uint64_t free, lll, lrl, rll;
};

#define L(f, lll, lrl, rll) ((struct lists){f, lll, lrl, rll})

uint64_t deadline(void);
void pause_a_bit(void);
/* cmocka setup/teardown: the manager and the three nodes. */
int setup(void **state);
int teardown(void **state);
/* A block's pattern from its seed. */
void fill(uint8_t *buf, uint32_t seed);
/* Allocates one block on node n and writes its pattern. 0 or -errno. */
int alloc_on(struct cmp3 *t, int n);
void free_on(struct cmp3 *t, int n, size_t i);
/* Block i of node n reads back byte for byte (whole, then in pieces). */
void check_block(struct cmp3 *t, int n, size_t i);
/* Every block of node n in allocation order (this also sets LRU order). */
void check_all(struct cmp3 *t, int n);
bool is_remote(struct cmp3 *t, int n, size_t i);
bool lists_are(struct cmp3 *t, int n, struct lists w);
void fail_lists(struct cmp3 *t, int n, struct lists w, const char *step);
/* The lists of A, B and C now (RRL empty), or once the helpers moved. */
void expect(struct cmp3 *t, const char *step, struct lists a, struct lists b,
	    struct lists c);
void expect_soon(struct cmp3 *t, const char *step, struct lists a,
		 struct lists b, struct lists c);
void expect_moves(struct cmp3 *t, int n, uint64_t evictions,
		  uint64_t homecomings, uint64_t lost);
/* Waits until the manager reports the pools' counts. */
void sync_manager(struct cmp3 *t);
void stop_node(struct cmp3 *t, int n);
void wait_lost(struct cmp3 *t, int n, uint64_t lost);
/* Waits until node n's forwarding records (RRL) number want. */
void wait_rrl(struct cmp3 *t, int n, uint64_t want);

#endif
