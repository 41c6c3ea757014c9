// SPDX-License-Identifier: MIT
/* The three-node fixture of cmp3-fixture.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "cmp.h"
#include "cmp3-fixture.h"
#include "manager.h"
#include "pattern.h"

const char node_name[NNODES] = {'A', 'B', 'C'};
const uint32_t node_id[NNODES] = {0xA, 0xB, 0xC};

static unsigned int seq;

uint64_t deadline(void)
{
	return cmp_now_ns() + DEADLINE_MS * 1000000ull;
}

void pause_a_bit(void)
{
	struct timespec ts = {0, 5000000};

	nanosleep(&ts, NULL);
}

/* ---- the nodes ---- */

int setup(void **state)
{
	struct cmp3 *t = calloc(1, sizeof(*t));
	char addr[64];

	assert_non_null(t);
	snprintf(addr, sizeof(addr), "mem://cmp3-mgr-%d-%u", getpid(), ++seq);
	t->mgr = manager_create(&(struct manager_config){
		.listen_addr = addr,
		.heartbeat_ms = HB_MS,
		.suspect_after = SUSPECT_AFTER,
	});
	assert_non_null(t->mgr);
	t->mgr_addr = manager_addr(t->mgr);
	for (int n = 0; n < NNODES; n++) {
		t->pool[n] = pool_create(&(struct pool_config){
			.local_bytes = NBLOCKS * BS,
			.block_size = BS,
			.max_bytes = MAX_NBLOCKS * BS, /* test-resize.c */
		});
		assert_non_null(t->pool[n]);
		/*
		 * The figures are the paper's LRU moves; the exchange
		 * (test-exchange.c turns it on) would add its own as the
		 * checks read blocks again and again.
		 */
		pool_set_exchange(t->pool[n], false);
		snprintf(t->addr[n], sizeof(t->addr[n]), "mem://cmp3-%c-%d-%u",
			 node_name[n], getpid(), seq);
		t->cl[n] = cluster_create(&(struct cluster_config){
			.pool = t->pool[n],
			.manager_addr = t->mgr_addr,
			.listen_addr = t->addr[n],
			.node_id = node_id[n],
			.timeout_ms = 2000,
		});
		assert_non_null(t->cl[n]);
	}
	for (int n = 0; n < NNODES; n++)
		assert_int_equal(cluster_wait_registered(t->cl[n], DEADLINE_MS),
				 0);
	t->next_seed = 1;
	*state = t;
	return 0;
}

int teardown(void **state)
{
	struct cmp3 *t = *state;

	for (int n = 0; n < NNODES; n++)
		cluster_destroy(t->cl[n]);
	manager_destroy(t->mgr);
	for (int n = 0; n < NNODES; n++)
		pool_destroy(t->pool[n]);
	free(t);
	return 0;
}

/* ---- data: every block holds a pattern made from its seed ---- */

void fill(uint8_t *buf, uint32_t seed)
{
	pattern_fill(buf, BS, seed);
}

/* Allocates one block on node n and writes its pattern. 0 or -errno. */
int alloc_on(struct cmp3 *t, int n)
{
	uint8_t buf[BS];
	uint32_t h;
	int ret = pool_alloc(t->pool[n], false, &h);

	if (ret)
		return ret;
	assert_true(t->nh[n] < MAXH);
	t->h[n][t->nh[n]] = h;
	t->seed[n][t->nh[n]] = t->next_seed++;
	fill(buf, t->seed[n][t->nh[n]]);
	assert_int_equal(pool_write(t->pool[n], h, 0, buf, BS), 0);
	t->nh[n]++;
	return 0;
}

void free_on(struct cmp3 *t, int n, size_t i)
{
	pool_free(t->pool[n], t->h[n][i]);
	memmove(&t->h[n][i], &t->h[n][i + 1],
		(t->nh[n] - i - 1) * sizeof(t->h[n][0]));
	memmove(&t->seed[n][i], &t->seed[n][i + 1],
		(t->nh[n] - i - 1) * sizeof(t->seed[n][0]));
	t->nh[n]--;
}

/* Block i of node n reads back byte for byte (whole, then in pieces). */
void check_block(struct cmp3 *t, int n, size_t i)
{
	uint8_t want[BS], got[BS];

	fill(want, t->seed[n][i]);
	memset(got, 0, sizeof(got));
	assert_int_equal(pool_read(t->pool[n], t->h[n][i], 0, got, BS), 0);
	if (memcmp(got, want, BS)) {
		fail_msg("node %c block %zu (handle %u): data differs",
			 node_name[n], i, t->h[n][i]);
	}
	/* a byte range at an odd offset */
	memset(got, 0, 512);
	assert_int_equal(pool_read(t->pool[n], t->h[n][i], 1001, got, 512), 0);
	assert_memory_equal(got, want + 1001, 512);
}

/* Every block of node n in allocation order (this also sets LRU order). */
void check_all(struct cmp3 *t, int n)
{
	for (size_t i = 0; i < t->nh[n]; i++)
		check_block(t, n, i);
}

bool is_remote(struct cmp3 *t, int n, size_t i)
{
	void *ptr;
	int ret = pool_pin(t->pool[n], t->h[n][i], &ptr);

	if (!ret) {
		pool_unpin(t->pool[n], t->h[n][i]);
		return false;
	}
	assert_int_equal(ret, -EREMOTE);
	return true;
}

/* ---- the lists ---- */

bool lists_are(struct cmp3 *t, int n, struct lists w)
{
	struct pool_counts pc;

	pool_get_counts(t->pool[n], &pc);
	return pc.blocks[POOL_FREE] == w.free && pc.blocks[POOL_LLL] == w.lll &&
	       pc.blocks[POOL_LRL] == w.lrl && pc.blocks[POOL_RLL] == w.rll &&
	       pc.blocks[POOL_RRL] == 0 && pc.local_blocks == NBLOCKS;
}

void fail_lists(struct cmp3 *t, int n, struct lists w, const char *step)
{
	struct pool_counts pc;

	pool_get_counts(t->pool[n], &pc);
	fail_msg("%s: node %c has free %lu LLL %lu LRL %lu RLL %lu RRL %lu "
		 "(local %lu); want free %lu LLL %lu LRL %lu RLL %lu RRL 0 "
		 "(local %u)",
		 step, node_name[n], (unsigned long)pc.blocks[POOL_FREE],
		 (unsigned long)pc.blocks[POOL_LLL],
		 (unsigned long)pc.blocks[POOL_LRL],
		 (unsigned long)pc.blocks[POOL_RLL],
		 (unsigned long)pc.blocks[POOL_RRL],
		 (unsigned long)pc.local_blocks, (unsigned long)w.free,
		 (unsigned long)w.lll, (unsigned long)w.lrl,
		 (unsigned long)w.rll, NBLOCKS);
}

/* The lists of A, B and C now (the pools' counts are immediate). */
void expect(struct cmp3 *t, const char *step, struct lists a, struct lists b,
	    struct lists c)
{
	const struct lists w[NNODES] = {a, b, c};

	for (int n = 0; n < NNODES; n++)
		if (!lists_are(t, n, w[n]))
			fail_lists(t, n, w[n], step);
}

/* The same, once the helper threads have done their moves. */
void expect_soon(struct cmp3 *t, const char *step, struct lists a,
		 struct lists b, struct lists c)
{
	const struct lists w[NNODES] = {a, b, c};
	uint64_t end = deadline();

	for (;;) {
		int ok = 0;

		for (int n = 0; n < NNODES; n++)
			ok += lists_are(t, n, w[n]);
		if (ok == NNODES)
			return;
		if (cmp_now_ns() > end)
			break;
		pause_a_bit();
	}
	expect(t, step, a, b, c);
}

void expect_moves(struct cmp3 *t, int n, uint64_t evictions,
		  uint64_t homecomings, uint64_t lost)
{
	struct pool_counts pc;

	pool_get_counts(t->pool[n], &pc);
	if (pc.evictions != evictions || pc.homecomings != homecomings ||
	    pc.lost != lost)
		fail_msg("node %c: evictions %lu homecomings %lu lost %lu; "
			 "want %lu %lu %lu",
			 node_name[n], (unsigned long)pc.evictions,
			 (unsigned long)pc.homecomings, (unsigned long)pc.lost,
			 (unsigned long)evictions, (unsigned long)homecomings,
			 (unsigned long)lost);
}

/*
 * Waits until the manager reports, for every node that is not dead in
 * the test, the free count its pool has now (the heartbeats caught up).
 */
void sync_manager(struct cmp3 *t)
{
	struct mgr_node_info info[8];
	uint64_t end = deadline();

	for (;;) {
		size_t cnt = 0;
		int ok = 0, want = 0;

		if (!mgr_query_nodes(t->mgr_addr, NULL, 1000, info, 8, &cnt)) {
			for (int n = 0; n < NNODES; n++) {
				struct pool_counts pc;

				if (!t->cl[n])
					continue;
				want++;
				pool_get_counts(t->pool[n], &pc);
				/* a node offers what it would lend */
				pc.blocks[POOL_FREE] =
					pool_lendable(t->pool[n]);
				for (size_t i = 0; i < cnt; i++)
					ok += info[i].node == node_id[n] &&
					      info[i].state == MGR_NODE_ALIVE &&
					      info[i].counts.free ==
						      pc.blocks[POOL_FREE] &&
					      info[i].counts.lrl ==
						      pc.blocks[POOL_LRL] &&
					      info[i].counts.rll ==
						      pc.blocks[POOL_RLL];
			}
			if (ok == want)
				return;
		}
		if (cmp_now_ns() > end)
			fail_msg("the manager's counts did not catch up with "
				 "the pools' in %d ms",
				 DEADLINE_MS);
		pause_a_bit();
	}
}

void stop_node(struct cmp3 *t, int n)
{
	cluster_destroy(t->cl[n]);
	t->cl[n] = NULL;
}

void wait_lost(struct cmp3 *t, int n, uint64_t lost)
{
	uint64_t end = deadline();
	struct pool_counts pc;

	for (;;) {
		pool_get_counts(t->pool[n], &pc);
		if (pc.lost == lost)
			return;
		if (cmp_now_ns() > end)
			fail_msg("node %c: lost %lu, want %lu", node_name[n],
				 (unsigned long)pc.lost, (unsigned long)lost);
		pause_a_bit();
	}
}

/* Waits until node n's forwarding records (RRL) number want. */
void wait_rrl(struct cmp3 *t, int n, uint64_t want)
{
	uint64_t end = deadline();
	struct pool_counts pc;

	for (;;) {
		pool_get_counts(t->pool[n], &pc);
		if (pc.blocks[POOL_RRL] == want)
			return;
		if (cmp_now_ns() > end)
			fail_msg("node %c: RRL %lu, want %lu", node_name[n],
				 (unsigned long)pc.blocks[POOL_RRL],
				 (unsigned long)want);
		pause_a_bit();
	}
}
