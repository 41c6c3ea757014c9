// SPDX-License-Identifier: MIT
/* The in-process memserver of memprov.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/mgr.h"
#include "cmp/peer.h"
#include "memprov.h"
#include "store.h"

void memprov_init(struct memprov *v, uint32_t id, const char *addr,
		  uint32_t blocks, uint32_t block_size)
{
	memset(v, 0, sizeof(*v));
	v->id = id;
	v->blocks = blocks;
	v->block_size = block_size;
	snprintf(v->addr, sizeof(v->addr), "%s", addr);
	pthread_mutex_init(&v->lock, NULL);
}

void memprov_finish(struct memprov *v)
{
	pthread_mutex_destroy(&v->lock);
}

static void counts(void *ctx, struct proto_mgr_counts *out)
{
	struct memprov *v = ctx;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&v->lock);
	if (v->store) {
		out->free = ms_store_free_count(v->store);
		out->rll = ms_store_total(v->store) - out->free;
	}
	pthread_mutex_unlock(&v->lock);
}

void memprov_start(struct memprov *v, uint32_t lease_ms)
{
	struct ms_store *store;

	assert_int_equal(ms_store_create(NULL,
					 (uint64_t)v->blocks * v->block_size,
					 v->block_size, &store),
			 0);
	v->peer = peer_create(&(struct peer_config){
		.listen_addr = v->addr,
		.node_id = v->id,
		.block_size = v->block_size,
		.ops = &ms_store_ops,
		.ctx = store,
		.lease_ms = lease_ms,
	});
	assert_non_null(v->peer);
	pthread_mutex_lock(&v->lock);
	v->store = store;
	pthread_mutex_unlock(&v->lock);
}

void memprov_stop(struct memprov *v)
{
	struct ms_store *store = v->store;

	pthread_mutex_lock(&v->lock);
	v->store = NULL;
	pthread_mutex_unlock(&v->lock);
	peer_destroy(v->peer);
	ms_store_destroy(store);
	v->peer = NULL;
}

void memprov_register(struct memprov *v, const char *mgr_addr)
{
	v->mgr = mgr_client_create(&(struct mgr_client_config){
		.manager_addr = mgr_addr,
		.node = v->id,
		.kind = MGR_KIND_MEMSERVER,
		.listen_addr = v->relay.addr,
		.block_size = v->block_size,
		.capacity = v->blocks,
		.counts = counts,
		.ctx = v,
	});
	assert_non_null(v->mgr);
}
