// SPDX-License-Identifier: MIT
/*
 * cmpctl top's table (tools/cmpctl-top.c) from two made-up snapshots: a
 * rate is what a node moved between its two samples divided by the time
 * between them (as the node took them: the reply's time less the age of
 * its numbers); a node new in the second snapshot, one whose totals went
 * down (it restarted), or one without a newer sample has no rate ("-");
 * a node that is not alive shows no lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/mgr.h"
#include "cmpctl-top.h"

#define MIB (1ull << 20)
#define S 1000000000ull

static char *out_buf;

static struct mgr_node_info node(uint32_t id, uint8_t state,
				 struct proto_mgr_traffic t, uint64_t age_ms)
{
	return (struct mgr_node_info){
		.node = id,
		.kind = MGR_KIND_COMPUTE,
		.state = state,
		.block_size = 65536,
		.capacity = 64,
		.counts = {.free = 16, .lll = 32, .lrl = 16},
		.age_ms = age_ms,
		.traffic = t,
		.addr = "tcp://10.0.0.1:7200",
		.fresh = true,
	};
}

/* The table's line of node id. */
static const char *row(uint32_t id)
{
	char key[16];
	const char *l;

	snprintf(key, sizeof(key), "\n%-10u ", id);
	l = strstr(out_buf, key);
	assert_non_null(l);
	return l + 1;
}

static void print(struct mgr_node_info *p, size_t np, uint64_t p_ns,
		  struct mgr_node_info *c, size_t nc, uint64_t c_ns)
{
	struct top_sample prev = {p, np, p_ns}, cur = {c, nc, c_ns};
	size_t len;
	FILE *f;

	free(out_buf);
	f = open_memstream(&out_buf, &len);
	assert_non_null(f);
	cmpctl_top_print(f, "tcp://10.0.0.9:7000", &prev, &cur);
	assert_int_equal(fclose(f), 0);
}

static void rates_are_bytes_between_two_samples_per_second(void **state)
{
	struct mgr_node_info p[] = {
		node(11, MGR_NODE_ALIVE, (struct proto_mgr_traffic){0, 0, 0, 0},
		     0),
	};
	struct mgr_node_info c[] = {
		/* 2 s later by the reply, sampled 500 ms before it: 1.5 s */
		node(11, MGR_NODE_ALIVE,
		     (struct proto_mgr_traffic){3 * MIB, 6 * MIB, 1536, 0},
		     500),
	};

	print(p, 1, 10 * S, c, 1, 12 * S);
	assert_non_null(strstr(out_buf, "manager tcp://10.0.0.9:7000: 1 nodes, "
					"1 alive\n"));
	assert_non_null(strstr(out_buf, "NODE       KIND      STATE          "
					"READ       WRITE      NET IN"));
	assert_non_null(strstr(row(11), "alive     2.0 MiB/s   4.0 MiB/s "
					"  1.0 KiB/s       0 B/s"));
	/* the lists, in units */
	assert_non_null(strstr(row(11), "  1.0 MiB    2.0 MiB    1.0 MiB  "));
}

static void no_rate_without_two_samples_to_compare(void **state)
{
	struct mgr_node_info p[] = {
		node(21, MGR_NODE_ALIVE,
		     (struct proto_mgr_traffic){5 * MIB, 0, 0, 0}, 0),
		node(22, MGR_NODE_ALIVE,
		     (struct proto_mgr_traffic){1 * MIB, 0, 0, 0}, 0),
	};
	struct mgr_node_info c[] = {
		/* restarted: its totals start again from 0 */
		node(21, MGR_NODE_ALIVE,
		     (struct proto_mgr_traffic){1 * MIB, 0, 0, 0}, 0),
		/* did not answer: the same heartbeat, 1 s older */
		node(22, MGR_NODE_ALIVE,
		     (struct proto_mgr_traffic){1 * MIB, 0, 0, 0}, 1000),
		/* new */
		node(23, MGR_NODE_ALIVE,
		     (struct proto_mgr_traffic){9 * MIB, 0, 0, 0}, 0),
		node(24, MGR_NODE_SUSPECT,
		     (struct proto_mgr_traffic){0, 0, 0, 0}, 4000),
	};

	print(p, 2, 20 * S, c, 4, 21 * S);
	/* its read total went down; the others are still comparable */
	assert_non_null(strstr(row(21), "alive             -       0 B/s"));
	assert_non_null(strstr(row(22), "alive             -           -"));
	assert_non_null(strstr(row(23), "alive             -           -"));
	assert_non_null(strstr(row(24), "suspect           -"));
	assert_non_null(strstr(row(24), "          -          -          -"));
	assert_non_null(strstr(out_buf, ": 4 nodes, 3 alive\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			rates_are_bytes_between_two_samples_per_second),
		cmocka_unit_test(no_rate_without_two_samples_to_compare),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	free(out_buf);
	return ret;
}
