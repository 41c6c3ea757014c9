// SPDX-License-Identifier: MIT
/*
 * Unit tests of the RDMA transport's one-sided access (conn_expose,
 * conn_rma_read/write) with verbs and CM mocked, as in test-rdma.c: exact
 * byte ranges without the server's CPU, bounds, a bad rkey, and a failed
 * registration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"
#include "fake-rdma.h"
#include "rdma-pair.h"

static void rma_moves_exact_byte_ranges_without_the_server(void **state)
{
	const size_t n = 4 * 1024 * 1024;
	uint8_t *region = malloc(n), *plain = malloc(n), *local = malloc(n);
	struct conn_region r, mine;
	struct pair p = {0};

	assert_non_null(region);
	assert_non_null(plain);
	assert_non_null(local);
	for (size_t i = 0; i < n; i++)
		region[i] = pat(i);
	connect_pair(&p);
	assert_int_equal(p.srv->ops->expose(p.srv, region, n, &r), 0);
	assert_int_equal(r.addr, (uintptr_t)region);
	assert_int_equal(r.len, n);
	assert_int_equal(p.cli->ops->expose(p.cli, local, n, &mine), 0);

	/* Unregistered destination: through the bounce buffer. */
	memset(plain, 0, n);
	assert_int_equal(p.cli->ops->rma_read(p.cli, plain, 512, &r, 12345), 0);
	assert_memory_equal(plain, region + 12345, 512);
	assert_ptr_equal(F.last_rma_local, rc(p.cli)->stage);

	/* Exposed destination: straight into it, in 1 MiB pieces. */
	F.rma_ops = 0;
	assert_int_equal(p.cli->ops->rma_read(p.cli, local + 5, 3 << 20, &r, 7),
			 0);
	assert_memory_equal(local + 5, region + 7, 3 << 20);
	assert_int_equal(F.rma_ops, 3);
	assert_true(F.last_rma_local >= (void *)local &&
		    F.last_rma_local < (void *)(local + n));

	/* Writes land in the server's memory and nowhere else. */
	memset(plain, 0xab, 700);
	assert_int_equal(p.cli->ops->rma_write(p.cli, plain, 700, &r, 4095), 0);
	for (size_t i = 4000; i < 5000; i++)
		assert_int_equal(region[i],
				 i >= 4095 && i < 4795 ? 0xab : pat(i));
	assert_false(p.srv->ops->pending(p.srv)); /* no server CPU, no bytes */
	destroy_pair(&p);
	free(local);
	free(plain);
	free(region);
}

/* A connected pair whose server exposed [region, region + len) as *r. */
static void connect_exposing(struct pair *p, void *region, size_t len,
			     struct conn_region *r)
{
	connect_pair(p);
	assert_int_equal(p->srv->ops->expose(p->srv, region, len, r), 0);
}

static void rma_outside_the_region_is_einval(void **state)
{
	static uint8_t region[8192], buf[16];
	struct pair p = {0};
	struct conn_region r;

	connect_exposing(&p, region, sizeof(region), &r);
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 8190),
			 -EINVAL);
	assert_int_equal(p.cli->ops->rma_write(p.cli, buf, 16, &r, UINT64_MAX),
			 -EINVAL);
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 8176), 0);
	destroy_pair(&p);
}

static void rma_with_a_bad_rkey_fails_with_eacces(void **state)
{
	static uint8_t region[8192], buf[16];
	struct pair p = {0};
	struct conn_region r;

	connect_exposing(&p, region, sizeof(region), &r);
	r.rkey ^= 0x5555;
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 0), -EACCES);
	/* The QP is in error now: the connection is done. */
	assert_int_equal(wr(p.cli, "x", 1), -EACCES);
	destroy_pair(&p);
}

static void expose_registration_failure_returns_enomem(void **state)
{
	static uint8_t region[4096];
	struct pair p = {0};
	struct conn_region r;

	connect_pair(&p);
	F.fail_reg_mr_at = F.reg_mr_calls + 1;
	assert_int_equal(p.srv->ops->expose(p.srv, region, sizeof(region), &r),
			 -ENOMEM);
	/* The connection itself is fine. */
	assert_int_equal(wr(p.srv, "ok", 2), 0);
	destroy_pair(&p);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
	const struct CMUnitTest tests[] = {
		T(rma_moves_exact_byte_ranges_without_the_server),
		T(rma_outside_the_region_is_einval),
		T(rma_with_a_bad_rkey_fails_with_eacces),
		T(expose_registration_failure_returns_enomem),
	};
#undef T

	log_init("test-rdma-rma", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
