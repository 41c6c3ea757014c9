// SPDX-License-Identifier: MIT
/*
 * The block server fixture of peer-fixture.h, shared by the test-peer*.c
 * files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/wire.h"
#include "peer-fixture.h"

struct fixture *fixture_create(const struct fixture_config *cfg)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct peer_config pcfg = {
		.listen_addr = cfg->listen_addr ? cfg->listen_addr : "mem://",
		.keyring = cfg->peer_key,
		.node_id = PROVIDER,
		.block_size = BS,
		.ops = cfg->ops ? cfg->ops : &ms_store_ops,
		.lease_ms = cfg->lease_ms,
	};

	assert_non_null(f);
	assert_int_equal(ms_store_create(NULL, (uint64_t)cfg->nblocks * BS, BS,
					 &f->store),
			 0);
	pcfg.ctx = f->store;
	f->peer = peer_create(&pcfg);
	assert_non_null(f->peer);
	f->owner_key = cfg->owner_key;
	f->r = owner_create(f, OWNER);
	return f;
}

void fixture_destroy(struct fixture *f)
{
	if (!f)
		return;
	remote_destroy(f->r);
	peer_destroy(f->peer);
	ms_store_destroy(f->store);
	free(f);
}

struct remote *owner_create(struct fixture *f, uint32_t node)
{
	struct remote *r = remote_create(f->owner_key, node, BS);

	assert_non_null(r);
	remote_set_timeout(r, 2000);
	assert_int_equal(
		remote_add_node(r, PROVIDER, peer_listen_addr(f->peer)), 0);
	return r;
}

struct proto_block_ref borrow_one(struct remote *r)
{
	struct proto_block_ref ref;
	uint32_t got;

	assert_int_equal(remote_alloc(r, PROVIDER, 1, &ref, &got), 0);
	assert_int_equal(got, 1);
	assert_int_not_equal(ref.epoch, 0);
	return ref;
}

void fill(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8) + 1);
}

bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

struct conn *raw_connect(struct fixture *f, uint32_t node)
{
	struct conn *c;

	assert_int_equal(conn_connect(peer_listen_addr(f->peer), 1000, &c), 0);
	assert_int_equal(conn_set_timeout(c, 2000), 0);
	assert_int_equal(auth_client(c, f->owner_key, node, 0, 1000), 0);
	assert_int_equal(conn_peer_node(c), PROVIDER);
	return c;
}

void send_raw(struct conn *c, uint8_t op, const void *pl, size_t len,
	      bool bad_csum)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)pl, len}};
	struct wire_hdr h = {.op = op, .id = 1, .len = len};

	h.csum = wire_csum(&iov[1], 1) ^ (bad_csum ? 1 : 0);
	wire_hdr_encode(&h, hdr);
	assert_int_equal(conn_writev(c, iov, 2), 0);
}

uint32_t raw_call(struct conn *c, uint8_t op, const void *pl, size_t len,
		  void *rep, size_t cap, size_t *got)
{
	struct iovec qiov = {(void *)pl, len}, piov = {rep, cap};
	struct wire_hdr h = {.op = op, .id = 77};

	assert_int_equal(wire_send(c, &h, &qiov, len ? 1 : 0), 0);
	assert_int_equal(wire_recv_hdr(c, &h), 0);
	assert_true(h.flags & WIRE_F_REPLY);
	assert_int_equal(h.op, op);
	assert_int_equal(h.id, 77);
	assert_true(h.len <= cap);
	if (h.len)
		assert_int_equal(wire_recv_payload(c, &h, &piov, 1), 0);
	if (got)
		*got = h.len;
	return h.status;
}

bool closed_by_peer(struct conn *c)
{
	uint8_t buf[64];
	int ret;

	for (int i = 0; i < 100; i++) {
		ret = conn_read(c, buf, 1);
		if (ret < 0)
			return ret == -ECONNRESET;
	}
	return false;
}
