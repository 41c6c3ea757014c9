/* SPDX-License-Identifier: MIT */
/*
 * cmpctl top: every node's rates, live. Each refresh asks the manager for
 * a snapshot (include/cmp/mgr.h: every alive node reports its counts and
 * traffic totals at once) and divides what each node moved since the
 * previous one by the time between the two samples, as the node took
 * them: file bytes read and written through its mount, block protocol
 * bytes in and out, and its lists now.
 *
 * cmpctl_top_print() is a pure function of two snapshots (tested on its
 * own); cmpctl_top() runs the loop. Not thread-safe (a whole command).
 */
#ifndef CMP_CMPCTL_TOP_H
#define CMP_CMPCTL_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmp/mgr.h"

/* One snapshot and when it came (cmp_now_ns()). */
struct top_sample {
	struct mgr_node_info *nodes;
	size_t count;
	uint64_t at_ns;
};

/*
 * Prints the table of cur's nodes with their rates since prev (a node
 * that was not in prev, restarted, or has no newer sample shows "-").
 */
void cmpctl_top_print(FILE *out, const char *manager_addr,
		      const struct top_sample *prev,
		      const struct top_sample *cur);

/*
 * Refreshes every interval_ms until interrupted, or prints once (after
 * two snapshots interval_ms apart) when once is set. key_path NULL: no
 * key (insecure). Returns 0, or -errno (said on stderr, one line).
 */
int cmpctl_top(const char *manager_addr, const char *key_path,
	       uint32_t interval_ms, bool once, FILE *out);

#endif
