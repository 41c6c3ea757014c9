/* SPDX-License-Identifier: MIT */
/*
 * cmpctl stats: a mount's counters (the "NAME VALUE" lines of the
 * user.cmpfs.stats attribute of its root) as a short summary for people,
 * or as JSON. The summary groups counters by their names (blocks_*,
 * pool_*, *_bytes and *_size, req_*, the rest), so a counter cmpfs adds
 * lands in a group without a change here. Pure functions of the text they
 * are given; they print to out and keep no state, so they are thread-safe.
 */
#ifndef CMP_CMPCTL_STATS_H
#define CMP_CMPCTL_STATS_H

#include <stdio.h>

/*
 * Prints the summary of the counters in text (NUL-terminated) of the
 * mount mnt: the pool's size and block size, then one line per group with
 * only the non-zero counters, sizes with units, block counts with their
 * size. Lines are at most 80 columns (the first holds mnt, however long).
 */
void cmpctl_stats_summary(FILE *out, const char *mnt, const char *text);

/* Prints every counter in text as one JSON object, in their order. */
void cmpctl_stats_json(FILE *out, const char *text);

#endif
