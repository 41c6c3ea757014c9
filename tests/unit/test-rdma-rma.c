// SPDX-License-Identifier: MIT
/*
 * Unit tests of the RDMA transport's one-sided access with verbs and CM
 * mocked (fake-rdma.c, as in test-rdma.c): regions registered without
 * remote rights, memory windows granted per block on one connection and
 * revoked, the device enforcing rkey, range and QP on every RDMA
 * READ/WRITE, and the fallback when a device has no memory windows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"
#include "fake-rdma.h"
#include "rdma-pair.h"

#define BLOCK (64 * 1024)
#define NBLOCKS 64

/* A provider's store: registered, pattern-filled. */
static uint8_t *make_store(void)
{
	uint8_t *s = aligned_alloc(4096, (size_t)NBLOCKS * BLOCK);

	assert_non_null(s);
	for (size_t i = 0; i < (size_t)NBLOCKS * BLOCK; i++)
		s[i] = pat(i);
	reg_region(s, (size_t)NBLOCKS * BLOCK);
	return s;
}

static int grant(struct conn *c, uint8_t *store, unsigned int blk,
		 struct conn_region *r)
{
	return c->ops->rma_grant(c, store + (size_t)blk * BLOCK, BLOCK, r);
}

static void grant_then_read_and_write_reach_exactly_the_block(void **state)
{
	uint8_t *store, *local = aligned_alloc(4096, 4 * BLOCK), plain[700];
	struct conn_region r;
	struct pair p = {0};

	assert_non_null(local);
	/* Registered before any connection: taken on at authentication. */
	store = make_store();
	reg_region(local, 4 * BLOCK);
	connect_pair(&p);
	assert_int_equal(grant(p.srv, store, 5, &r), 0);
	assert_int_equal(r.addr, (uintptr_t)(store + 5 * BLOCK));
	assert_int_equal(r.len, BLOCK);
	assert_int_equal(F.binds, 1);

	/* Unregistered destination: through the bounce buffer. */
	assert_int_equal(p.cli->ops->rma_read(p.cli, plain, 512, &r, 1234), 0);
	assert_memory_equal(plain, store + 5 * BLOCK + 1234, 512);
	assert_ptr_equal(F.last_rma_local, rc(p.cli)->stage.mem);
	/* Registered destination: straight into it. */
	assert_int_equal(p.cli->ops->rma_read(p.cli, local + 7, BLOCK, &r, 0),
			 0);
	assert_memory_equal(local + 7, store + 5 * BLOCK, BLOCK);
	assert_ptr_equal(F.last_rma_local, local + 7);

	/* Writes land in that block and nowhere else. */
	memset(plain, 0xab, sizeof(plain));
	assert_int_equal(p.cli->ops->rma_write(p.cli, plain, sizeof(plain), &r,
					       BLOCK - sizeof(plain)),
			 0);
	for (size_t i = 4 * BLOCK; i < 7 * BLOCK; i++)
		assert_int_equal(store[i],
				 i >= 6 * BLOCK - sizeof(plain) && i < 6 * BLOCK
					 ? 0xab
					 : pat(i));
	assert_false(p.srv->ops->pending(p.srv)); /* no server CPU, no bytes */
	assert_int_equal(p.srv->ops->rma_revoke(p.srv, &r), 0);
	destroy_pair(&p);
	free(local);
	free(store);
}

static void access_beyond_the_window_is_refused(void **state)
{
	struct conn_region r, forged;
	struct pair p = {0};
	uint8_t *store, buf[16];

	connect_pair(&p);
	store = make_store(); /* registered after authentication: at once */
	assert_int_equal(grant(p.srv, store, 3, &r), 0);
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, BLOCK - 8),
			 -EINVAL);
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, BLOCK - 16),
			 0);
	/* A peer that lies about the length meets the device's check. */
	forged = r;
	forged.len = 2 * BLOCK;
	assert_int_equal(
		p.cli->ops->rma_read(p.cli, buf, 16, &forged, BLOCK + 16),
		-EACCES);
	destroy_pair(&p);
	free(store);
}

static void a_revoked_window_refuses_access(void **state)
{
	struct conn_region r, again;
	struct pair p = {0};
	uint8_t *store, buf[16];

	connect_pair(&p);
	store = make_store();
	assert_int_equal(grant(p.srv, store, 9, &r), 0);
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 0), 0);
	assert_int_equal(p.srv->ops->rma_revoke(p.srv, &r), 0);
	assert_int_equal(F.invalidations, 1);
	pthread_mutex_lock(&fab);
	assert_int_equal(fake_bound_windows(), 0);
	pthread_mutex_unlock(&fab);
	assert_int_equal(p.srv->ops->rma_revoke(p.srv, &r), -ENOENT);
	/* The block lent again: the same window, another rkey. */
	assert_int_equal(grant(p.srv, store, 9, &again), 0);
	assert_int_not_equal(again.rkey, r.rkey);
	assert_int_equal(p.srv->ops->rma_revoke(p.srv, &again), 0);
	/* The old owner's key opens nothing, and costs it the connection. */
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 0), -EACCES);
	assert_int_equal(wr(p.cli, "x", 1), -EACCES);
	destroy_pair(&p);
	free(store);
}

static void a_window_granted_on_one_connection_fails_on_another(void **state)
{
	struct conn *cli2 = NULL, *srv2 = NULL;
	struct pair p = {0};
	struct conn_region r;
	uint8_t *store, buf[16];

	connect_pair(&p);
	accept_one(&p, &cli2, &srv2);
	assert_int_equal(cli2->ops->authenticated(cli2), 0);
	assert_int_equal(srv2->ops->authenticated(srv2), 0);
	store = make_store();
	assert_int_equal(grant(p.srv, store, 1, &r), 0);
	/* Same device, same PD, same rkey: the window is bound to A's QP. */
	assert_int_equal(cli2->ops->rma_read(cli2, buf, 16, &r, 0), -EACCES);
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 0), 0);
	assert_memory_equal(buf, store + BLOCK, 16);
	cli2->ops->destroy(cli2);
	srv2->ops->destroy(srv2);
	destroy_pair(&p);
	free(store);
}

static void the_registered_region_itself_gives_no_remote_access(void **state)
{
	struct conn_region r = {0};
	struct pair p = {0};
	uint8_t *store, buf[16];

	connect_pair(&p);
	store = make_store();
	pthread_mutex_lock(&fab);
	for (struct fake_mr *m = F.mrs; m; m = m->next)
		if (m->mr.addr == store)
			r = (struct conn_region){(uintptr_t)store,
						 (uint64_t)NBLOCKS * BLOCK,
						 m->mr.rkey};
	pthread_mutex_unlock(&fab);
	assert_int_not_equal(r.rkey, 0);
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 0), -EACCES);
	destroy_pair(&p);
	free(store);
}

static void
a_device_without_memory_windows_falls_back_and_says_so_once(void **state)
{
	struct conn_region r;
	struct pair p = {0};
	uint8_t *store;
	char out[1024];
	int saved;
	char *path;

	F.no_mw = true;
	connect_pair(&p);
	store = make_store();
	path = capture_stderr_begin(&saved);
	assert_int_equal(grant(p.srv, store, 0, &r), -EOPNOTSUPP);
	assert_int_equal(grant(p.srv, store, 1, &r), -EOPNOTSUPP);
	capture_stderr_end(saved, path, out, sizeof(out));
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "no type 2 memory windows"));
	/* Two-sided messages still work. */
	assert_int_equal(wr(p.srv, "ok", 2), 0);
	destroy_pair(&p);
	free(store);
}

static void grant_needs_authentication_and_a_registered_region(void **state)
{
	struct conn_region r;
	struct pair p = {0};
	uint8_t *store, other[64];

	connect_pair_small(&p);
	store = make_store();
	assert_int_equal(grant(p.srv, store, 0, &r), -EPERM);
	assert_int_equal(p.cli->ops->rma_read(p.cli, other, 8, &r, 0), -EPERM);
	grow_pair(&p);
	assert_int_equal(p.srv->ops->rma_grant(p.srv, other, 64, &r), -EINVAL);
	/* Straddling the region's end. */
	assert_int_equal(p.srv->ops->rma_grant(p.srv,
					       store + (NBLOCKS - 1) * BLOCK,
					       2 * BLOCK, &r),
			 -EINVAL);
	assert_int_equal(grant(p.srv, store, 0, &r), 0);
	destroy_pair(&p);
	free(store);
}

static void region_registration_failure_makes_grants_eopnotsupp(void **state)
{
	uint8_t *store = aligned_alloc(4096, BLOCK);
	struct conn_region r;
	struct pair p = {0};

	assert_non_null(store);
	connect_pair(&p);
	F.fail_reg_mr_at = F.reg_mr_calls + 1;
	reg_region(store, BLOCK); /* registration on the device fails */
	assert_int_equal(p.srv->ops->rma_grant(p.srv, store, BLOCK, &r),
			 -EOPNOTSUPP);
	/* The connection itself is fine. */
	assert_int_equal(wr(p.srv, "ok", 2), 0);
	destroy_pair(&p);
	free(store);
}

static void revoke_after_the_peer_vanished_deallocates_the_window(void **state)
{
	struct conn_region r;
	struct pair p = {0};
	uint8_t *store, buf[1];

	connect_pair(&p);
	store = make_store();
	assert_int_equal(grant(p.srv, store, 2, &r), 0);
	p.cli->ops->destroy(p.cli);
	p.cli = NULL;
	assert_int_equal(rd(p.srv, buf, 1), -ECONNRESET);
	assert_int_equal(p.srv->ops->rma_revoke(p.srv, &r), 0);
	pthread_mutex_lock(&fab);
	assert_int_equal(fake_bound_windows(), 0);
	assert_null(F.mws); /* deallocated, not just left behind */
	pthread_mutex_unlock(&fab);
	destroy_pair(&p);
	free(store);
}

static void unregister_waits_for_every_window_to_be_gone(void **state)
{
	struct conn_region r;
	struct pair p = {0};
	uint8_t *store;

	connect_pair(&p);
	store = make_store();
	assert_int_equal(grant(p.srv, store, 4, &r), 0);
	assert_int_equal(conn_rdma_transport.rma_unregister(store), -EBUSY);
	assert_int_equal(p.srv->ops->rma_revoke(p.srv, &r), 0);
	destroy_pair(&p); /* unregisters */
	free(store);
}

/* Exercises the window table and its rkey hash (reuse, removal order). */
static void many_grants_and_revokes_keep_every_window_right(void **state)
{
	struct conn_region r[NBLOCKS];
	uint8_t *store, buf[8];
	struct pair p = {0};

	connect_pair(&p);
	store = make_store();
	for (int round = 0; round < 3; round++) {
		for (unsigned int b = 0; b < NBLOCKS; b++)
			assert_int_equal(grant(p.srv, store, b, &r[b]), 0);
		for (unsigned int b = 0; b < NBLOCKS; b++) {
			assert_int_equal(
				p.cli->ops->rma_read(p.cli, buf, 8, &r[b], 8),
				0);
			assert_memory_equal(buf, store + (size_t)b * BLOCK + 8,
					    8);
		}
		/* Odd blocks first, then even ones from the top. */
		for (unsigned int b = 1; b < NBLOCKS; b += 2)
			assert_int_equal(p.srv->ops->rma_revoke(p.srv, &r[b]),
					 0);
		for (int b = NBLOCKS - 2; b >= 0; b -= 2)
			assert_int_equal(p.srv->ops->rma_revoke(p.srv, &r[b]),
					 0);
	}
	assert_int_equal(rc(p.srv)->nwin, NBLOCKS);
	assert_int_equal(F.binds, 3 * NBLOCKS);
	destroy_pair(&p);
	free(store);
}

struct revoker {
	struct conn *c;
	struct conn_region *r;
	int n, ret;
};

static void *revoker_main(void *arg)
{
	struct revoker *v = arg;

	for (int i = 0; i < v->n && !v->ret; i++)
		v->ret = v->c->ops->rma_revoke(v->c, &v->r[i]);
	return NULL;
}

/* A FREE handled on another thread while this one streams. */
static void revoke_from_another_thread_during_stream_io(void **state)
{
	struct conn_region r[NBLOCKS];
	struct pair p = {0};
	struct revoker v;
	uint8_t *store, buf[1000];
	pthread_t t;

	connect_pair(&p);
	store = make_store();
	for (unsigned int b = 0; b < NBLOCKS; b++)
		assert_int_equal(grant(p.srv, store, b, &r[b]), 0);
	v = (struct revoker){.c = p.srv, .r = r, .n = NBLOCKS};
	assert_int_equal(pthread_create(&t, NULL, revoker_main, &v), 0);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(wr(p.cli, buf, sizeof(buf)), 0);
		assert_int_equal(rd(p.srv, buf, sizeof(buf)), 0);
		assert_int_equal(wr(p.srv, buf, sizeof(buf)), 0);
		assert_int_equal(rd(p.cli, buf, sizeof(buf)), 0);
	}
	pthread_join(t, NULL);
	assert_int_equal(v.ret, 0);
	assert_int_equal(F.invalidations, NBLOCKS);
	destroy_pair(&p);
	free(store);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, pair_setup)
	const struct CMUnitTest tests[] = {
		T(grant_then_read_and_write_reach_exactly_the_block),
		T(access_beyond_the_window_is_refused),
		T(a_revoked_window_refuses_access),
		T(a_window_granted_on_one_connection_fails_on_another),
		T(the_registered_region_itself_gives_no_remote_access),
		T(a_device_without_memory_windows_falls_back_and_says_so_once),
		T(grant_needs_authentication_and_a_registered_region),
		T(region_registration_failure_makes_grants_eopnotsupp),
		T(revoke_after_the_peer_vanished_deallocates_the_window),
		T(unregister_waits_for_every_window_to_be_gone),
		T(many_grants_and_revokes_keep_every_window_right),
		T(revoke_from_another_thread_during_stream_io),
	};
#undef T

	log_init("test-rdma-rma", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
