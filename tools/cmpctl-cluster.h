/* SPDX-License-Identifier: MIT */
/*
 * The cluster commands of cmpctl, kept in a library of their own so the
 * lead's tools/cmpctl.c only wires them to subcommands:
 *
 *   cmpctl status [--json]   nodes, kind, state (alive, suspect, left and
 *                            since when), capacity, and the
 *                            free/LLL/LRL/RLL/RRL counts of every node,
 *                            as the active manager sees them; and the
 *                            role of every manager of the list
 *   cmpctl keygen FILE       a new cluster key (mode 0600)
 *
 * Both print their results to out (status) or stdout (keygen); errors go
 * to stderr once, where they are detected (the key and connector code
 * logs its own), with a hint of what to do. They return 0 or -errno.
 * Not thread-safe (they are whole commands).
 */
#ifndef CMP_CMPCTL_CLUSTER_H
#define CMP_CMPCTL_CLUSTER_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Asks every manager of manager_addr (one address, or a comma-separated
 * list) for its role, then the active one for every node, and prints a
 * table of the nodes and one of the managers, or JSON when json is set.
 * key_path is the cluster key file; NULL: no key (insecure). Fails (one
 * line on stderr) when no manager is active.
 */
int cmpctl_cluster_status(const char *manager_addr, const char *key_path,
			  bool json, FILE *out);

/* What a person can do about a failure to reach the manager, or "". */
const char *cmpctl_error_hint(int err);

/* Writes a new random cluster key to path; refuses to overwrite one. */
int cmpctl_keygen(const char *path);

#endif
