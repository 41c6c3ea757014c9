// SPDX-License-Identifier: MIT
/*
 * The one-sided (RDMA) paths of the block client and the peer, without an
 * RDMA device: conn_has_rma/rma_read/rma_write are wrapped at link time
 * (-Wl,--wrap) so that mem:// connections claim RMA and one-sided access
 * would be a memcpy, which lives in this very process. The provider no
 * longer exposes its whole store to a connection (one-sided access is to
 * be granted per loan with conn_rma_grant()), so ALLOC and STATUS carry no
 * region and the owner uses messages even on an RMA-capable connection.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/peer.h"
#include "cmp/util.h"
#include "remote.h"
#include "store.h"

#define BS (16u << 10)
#define NBLOCKS 8u
#define PROVIDER 3u
#define OWNER 40u
#define RKEY 0x5eedu

bool __wrap_conn_has_rma(const struct conn *c);
int __wrap_conn_rma_read(struct conn *c, void *dst, size_t len,
			 const struct conn_region *r, uint64_t offset);
int __wrap_conn_rma_write(struct conn *c, const void *src, size_t len,
			  const struct conn_region *r, uint64_t offset);

static unsigned int rma_ops;

bool __wrap_conn_has_rma(const struct conn *c)
{
	return true;
}

static uint8_t *target(const struct conn_region *r, uint64_t offset, size_t len)
{
	if (r->rkey != RKEY || offset > r->len || len > r->len - offset)
		return NULL;
	return (uint8_t *)(uintptr_t)r->addr + offset;
}

int __wrap_conn_rma_read(struct conn *c, void *dst, size_t len,
			 const struct conn_region *r, uint64_t offset)
{
	uint8_t *p = target(r, offset, len);

	if (!p)
		return -EFAULT;
	rma_ops++;
	memcpy(dst, p, len);
	return 0;
}

int __wrap_conn_rma_write(struct conn *c, const void *src, size_t len,
			  const struct conn_region *r, uint64_t offset)
{
	uint8_t *p = target(r, offset, len);

	if (!p)
		return -EFAULT;
	rma_ops++;
	memcpy(p, src, len);
	return 0;
}

struct fixture {
	struct ms_store *store;
	struct peer *peer;
	struct remote *r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct peer_config cfg = {
		.listen_addr = "mem://",
		.node_id = PROVIDER,
		.block_size = BS,
		.ops = &ms_store_ops,
	};

	assert_non_null(f);
	assert_int_equal(ms_store_create(NULL, NBLOCKS * BS, BS, &f->store), 0);
	cfg.ctx = f->store;
	f->peer = peer_create(&cfg);
	assert_non_null(f->peer);
	f->r = remote_create(NULL, OWNER, BS);
	assert_non_null(f->r);
	assert_int_equal(
		remote_add_node(f->r, PROVIDER, peer_listen_addr(f->peer)), 0);
	rma_ops = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	remote_destroy(f->r);
	peer_destroy(f->peer);
	ms_store_destroy(f->store);
	free(f);
	return 0;
}

static void
the_store_is_not_exposed_so_byte_ranges_travel_as_messages(void **state)
{
	struct fixture *f = *state;
	struct proto_block_status st;
	struct proto_block_ref idx[2];
	uint32_t got;
	uint8_t *blk;
	char out[6];

	assert_int_equal(remote_alloc(f->r, PROVIDER, 2, idx, &got), 0);
	assert_int_equal(remote_status(f->r, PROVIDER, &st), 0);
	assert_int_equal(st.region.rkey, 0);
	assert_int_equal(st.region.len, 0);
	assert_int_equal(
		remote_write(f->r, PROVIDER, idx[1], 100, "hello", 6, NULL), 0);
	/* the bytes are in the provider's block, at the right place */
	blk = ms_store_ops.ptr(f->store, idx[1].block);
	assert_string_equal((char *)blk + 100, "hello");
	assert_int_equal(remote_read(f->r, PROVIDER, idx[1], 100, out, 6, NULL),
			 0);
	assert_string_equal(out, "hello");
	assert_int_equal(rma_ops, 0);
}

static void batches_split_across_iovecs_land_in_order(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref idx[2];
	struct proto_block_extent ext[2];
	uint32_t got;
	static uint8_t in[BS + 10], out[BS + 10];
	struct iovec win[3] = {{in, 7}, {in + 7, BS - 7}, {in + BS, 10}};
	struct iovec wout[1] = {{out, BS + 10}};

	assert_int_equal(remote_alloc(f->r, PROVIDER, 2, idx, &got), 0);
	ext[0] = (struct proto_block_extent){idx[0].block, idx[0].epoch, 0, BS};
	ext[1] = (struct proto_block_extent){idx[1].block, idx[1].epoch,
					     BS - 10, 10};
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(
		remote_write_batch(f->r, PROVIDER, ext, 2, win, 3, NULL), 0);
	assert_int_equal(
		remote_read_batch(f->r, PROVIDER, ext, 2, wout, 1, NULL), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_memory_equal(
		(uint8_t *)ms_store_ops.ptr(f->store, idx[1].block) + BS - 10,
		in + BS, 10);
	assert_int_equal(rma_ops, 0);
}

static void a_block_beyond_the_store_is_refused_by_message(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref beyond = {NBLOCKS + 1, 1};
	uint8_t buf[8];

	/* beyond the region: a READ message, which the peer refuses */
	assert_int_equal(remote_read(f->r, PROVIDER, beyond, 0, buf, 8, NULL),
			 -ENOENT);
	assert_int_equal(rma_ops, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(the_store_is_not_exposed_so_byte_ranges_travel_as_messages),
		T(batches_split_across_iovecs_land_in_order),
		T(a_block_beyond_the_store_is_refused_by_message),
#undef T
	};

	log_init("test-remote-rma", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
