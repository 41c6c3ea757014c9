// SPDX-License-Identifier: MIT
/*
 * cmpctl stats's summary and JSON (tools/cmpctl-stats.c) over fixed
 * counter lists in the format of user.cmpfs.stats: only non-zero counters,
 * grouped, sizes with units, lines within 80 columns, and a counter the
 * summary has never heard of still shown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmpctl-stats.h"

static char *out_buf;
static size_t out_len;

/* The summary of text, as one string (freed by the next call). */
static const char *summary(const char *text)
{
	FILE *f;

	free(out_buf);
	f = open_memstream(&out_buf, &out_len);
	assert_non_null(f);
	cmpctl_stats_summary(f, "/cmp", text);
	assert_int_equal(fclose(f), 0);
	return out_buf;
}

static const char *json(const char *text)
{
	FILE *f;

	free(out_buf);
	f = open_memstream(&out_buf, &out_len);
	assert_non_null(f);
	cmpctl_stats_json(f, text);
	assert_int_equal(fclose(f), 0);
	return out_buf;
}

static const char busy[] = "req_lookup 3\nreq_forget 0\nreq_getattr 12\n"
			   "req_read 6\nreq_write 5\nreq_fallocate 0\n"
			   "read_bytes 5242880\nwrite_bytes 3221225472\n"
			   "read_remote_bytes 0\nwrite_remote_bytes 0\n"
			   "last_write_size 1048576\nenospc 0\n"
			   "block_size 1048576\nlocal_blocks 64\n"
			   "blocks_free 59\nblocks_LLL 5\nblocks_LRL 0\n"
			   "blocks_RLL 0\nblocks_RRL 0\n"
			   "pool_free_bytes 61865984\nblocks_lost 0\n"
			   "evictions 7\nhomecomings 0\ninodes 2\n";

static void summary_names_the_pool_and_its_block_size(void **state)
{
	const char *s = summary(busy);

	assert_non_null(
		strstr(s, "/cmp: 64 blocks of 1.0 MiB here (64.0 MiB)\n"));
}

static void summary_names_the_node_in_a_cluster(void **state)
{
	const char *s = summary("node_id 769259442\nblock_size 1048576\n"
				"local_blocks 4\nblocks_free 4\n");

	assert_non_null(strstr(s, "/cmp: node 769259442, 4 blocks of 1.0 MiB "
				  "here (4.0 MiB)\n"));
	assert_null(strstr(s, "other"));
}

static void summary_shows_block_lists_with_their_sizes(void **state)
{
	const char *s = summary(busy);

	assert_non_null(
		strstr(s, "  blocks    free 59 (59.0 MiB), LLL 5 (5.0 MiB)\n"));
	assert_null(strstr(s, "LRL"));
	assert_null(strstr(s, "lost"));
}

static void summary_gives_bytes_in_units(void **state)
{
	const char *s = summary(busy);

	assert_non_null(strstr(s, "  data      read 5.0 MiB, write 3.0 GiB, "
				  "last_write_size 1.0 MiB\n"));
	/* the mount's free memory is this node's, and says so */
	assert_non_null(strstr(s, "  pool      free on this node 59.0 MiB\n"));
	assert_null(strstr(s, "remote"));
	assert_null(strstr(s, "other nodes"));
	s = summary("read_remote_bytes 512\nwrite_remote_bytes 1024\n");
	assert_non_null(strstr(s, "  data      read from other nodes 512 B, "
				  "written to other nodes 1.0 KiB\n"));
}

static void summary_leaves_out_zero_counters(void **state)
{
	const char *s = summary(busy);

	assert_non_null(strstr(s, "  requests  lookup 3, getattr 12, read 6, "
				  "write 5\n"));
	assert_non_null(strstr(s, "  other     evictions 7, inodes 2\n"));
	assert_null(strstr(s, "forget"));
	assert_null(strstr(s, "fallocate"));
	assert_null(strstr(s, "enospc"));
	assert_null(strstr(s, "homecomings"));
}

static void summary_groups_the_copies_of_a_replicated_mount(void **state)
{
	const char *s = summary("block_size 1048576\nlocal_blocks 4\n"
				"blocks_free 0\nreplicas 2\n"
				"replica_copies 16\nreplica_blocks_short 0\n"
				"replica_rebuilt 8\n"
				"replica_rebuild_bytes 8388608\n"
				"replica_stale 3\n");

	assert_non_null(strstr(s, "  copies    replicas 2, copies 16, "
				  "rebuilt 8, rebuild 8.0 MiB, stale 3\n"));
	assert_null(strstr(s, "other"));
}

static void summary_shows_free_blocks_even_when_none_are_left(void **state)
{
	const char *s = summary("block_size 4096\nlocal_blocks 2\n"
				"blocks_free 0\nblocks_LLL 2\n");

	assert_non_null(
		strstr(s, "  blocks    free 0 (0 B), LLL 2 (8.0 KiB)\n"));
}

static void summary_wraps_long_groups_within_80_columns(void **state)
{
	char text[4096] = "";
	const char *s, *line;
	int lines = 0;

	for (int i = 0; i < 40; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "req_op%d %d\n", i, 1000 + i);
	s = summary(text);
	for (line = s; *line; lines++) {
		const char *nl = strchr(line, '\n');

		assert_non_null(nl);
		assert_true(nl - line <= 80);
		line = nl + 1;
	}
	assert_true(lines > 4);
	assert_non_null(strstr(s, "op0 1000, "));
	assert_non_null(strstr(s, "op39 1039\n"));
}

static void summary_shows_a_counter_it_does_not_know(void **state)
{
	const char *s = summary("block_size 1048576\nlocal_blocks 1\n"
				"blocks_free 1\nbrand_new_counter 42\n"
				"moved_out_bytes 2048\n");

	assert_non_null(strstr(s, "  other     brand_new_counter 42\n"));
	assert_non_null(strstr(s, "  data      moved_out 2.0 KiB\n"));
}

static void summary_of_a_quiet_mount_is_short(void **state)
{
	const char *s = summary("req_lookup 0\nreq_getattr 1\nread_bytes 0\n"
				"block_size 1048576\nlocal_blocks 64\n"
				"blocks_free 64\nblocks_LLL 0\n"
				"pool_free_bytes 67108864\ninodes 1\n");
	int lines = 0;

	for (const char *p = s; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 6);
}

static void json_keeps_every_counter_in_order(void **state)
{
	assert_string_equal(json("req_lookup 0\nread_bytes 5\ninodes 2\n"),
			    "{\"req_lookup\": 0, \"read_bytes\": 5, "
			    "\"inodes\": 2}\n");
	assert_string_equal(json(""), "{}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(summary_names_the_pool_and_its_block_size),
		cmocka_unit_test(summary_names_the_node_in_a_cluster),
		cmocka_unit_test(summary_shows_block_lists_with_their_sizes),
		cmocka_unit_test(summary_gives_bytes_in_units),
		cmocka_unit_test(summary_leaves_out_zero_counters),
		cmocka_unit_test(
			summary_shows_free_blocks_even_when_none_are_left),
		cmocka_unit_test(
			summary_groups_the_copies_of_a_replicated_mount),
		cmocka_unit_test(summary_wraps_long_groups_within_80_columns),
		cmocka_unit_test(summary_shows_a_counter_it_does_not_know),
		cmocka_unit_test(summary_of_a_quiet_mount_is_short),
		cmocka_unit_test(json_keeps_every_counter_in_order),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	free(out_buf);
	return ret;
}
