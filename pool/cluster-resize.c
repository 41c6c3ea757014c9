// SPDX-License-Identifier: MIT
/*
 * Resizing a node of the cluster (include/cmp/pool.h): the pool does the
 * moves (resize.c, with the cluster's ops for what has to go elsewhere);
 * the manager is then told the node's new capacity, so that it offers the
 * new blocks at once, or stops counting the old ones.
 */
#include <errno.h>
#include <string.h>

#include "cluster-internal.h"
#include "cmp/log.h"
#include "cmp/util.h"

int cluster_resize(struct cluster *c, uint32_t nblocks, int timeout_ms)
{
	uint32_t before = pool_local_blocks(c->pool);
	int ret = pool_resize(c->pool, nblocks, timeout_ms);

	if (ret) {
		log_error("cluster: cannot resize from %u to %u blocks: %s%s",
			  before, nblocks, strerror(-ret),
			  ret == -ENOSPC ? " (no other node or memserver has "
					   "room for what has to move): this "
					   "node keeps its size and serves on"
					 : "");
		return ret;
	}
	if (nblocks != before && c->mgr)
		mgr_client_set_capacity(c->mgr, nblocks);
	return 0;
}
