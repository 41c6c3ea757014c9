/* SPDX-License-Identifier: MIT */
/*
 * cmpctl drain NODE: the node moves every block it holds for other nodes
 * on to other nodes or memservers while it keeps running, and lends
 * nothing more (--undo: it lends again). Prints how far it is; with a
 * wait, until nothing is left. Returns 0 or -errno (said on stderr once).
 * Not thread-safe (a whole command).
 */
#ifndef CMP_CMPCTL_DRAIN_H
#define CMP_CMPCTL_DRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * key_path NULL: no key (insecure). wait_ms 0: ask once; else until
 * drained or wait_ms passed (-ETIMEDOUT).
 */
int cmpctl_drain(const char *manager, const char *key_path, uint32_t node,
		 bool on, uint32_t wait_ms, FILE *out);

#endif
