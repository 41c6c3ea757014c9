// SPDX-License-Identifier: MIT
/*
 * The RDMA transport behind the whole connector (conn.c, auth.c) over the
 * fake fabric (fake-rdma.c): the cluster handshake is what makes a
 * connection grow its registered buffers, on both ends, and a peer that
 * never completes it, or holds the wrong key, never makes this node
 * register more than the small handshake buffers before the deadline
 * closes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "rdma-internal.h"
#include "fake-rdma.h"

struct server_job {
	struct conn_listener *l;
	struct auth_keyring *kr;
	int timeout_ms;
	struct conn *c;
	int accept_ret, auth_ret;
};

static void *server_main(void *arg)
{
	struct server_job *j = arg;

	j->accept_ret = conn_accept(j->l, &j->c);
	if (!j->accept_ret)
		j->auth_ret = auth_server(j->c, j->kr, 1, 11, j->timeout_ms);
	return NULL;
}

static int setup(void **state)
{
	memset(&F, 0, sizeof(F));
	F.devices = 1;
	return 0;
}

/* The server side of one connection, its handshake run in a thread. */
static struct conn *serve_one(struct server_job *j, struct auth_keyring *kr,
			      int timeout_ms, pthread_t *t)
{
	struct conn *c = NULL;

	assert_int_equal(conn_listen("rdma://127.0.0.1:0", &j->l), 0);
	j->kr = kr;
	j->timeout_ms = timeout_ms;
	assert_int_equal(pthread_create(t, NULL, server_main, j), 0);
	assert_int_equal(conn_connect(conn_listener_addr(j->l), 2000, &c), 0);
	return c;
}

/* A keyring of one key, every byte b. */
static struct auth_keyring *keyring(uint8_t b)
{
	struct auth_key key;
	struct auth_keyring *kr;

	memset(key.bytes, b, sizeof(key.bytes));
	kr = auth_keyring_create(&key, 1);
	assert_non_null(kr);
	return kr;
}

static void finish(struct server_job *j, struct conn *c)
{
	auth_keyring_destroy(j->kr);
	conn_destroy(c);
	conn_destroy(j->c);
	conn_listener_destroy(j->l);
	pthread_mutex_lock(&fab);
	assert_int_equal(F.live, 0);
	assert_int_equal(F.reg_bytes, 0);
	pthread_mutex_unlock(&fab);
}

static void the_handshake_grows_both_ends(void **state)
{
	struct auth_keyring *kr = keyring(0x5a);
	struct server_job j = {0};
	static char buf[RDMA_BUF_SIZE];
	struct conn *c;
	pthread_t t;

	c = serve_one(&j, keyring(0x5a), 2000, &t);
	assert_int_equal(F.reg_bytes, 2 * RDMA_SMALL_BYTES);
	assert_int_equal(auth_client(c, kr, 2, 22, 2000), 0);
	auth_keyring_destroy(kr);
	pthread_join(t, NULL);
	assert_int_equal(j.accept_ret, 0);
	assert_int_equal(j.auth_ret, 0);
	assert_true(((struct rdma_conn *)c)->grown);
	assert_true(((struct rdma_conn *)j.c)->grown);
	assert_int_equal(F.reg_bytes, 2 * (RDMA_SMALL_BYTES + RDMA_BIG_BYTES));
	/* The stream carries on across the switch, both ways. */
	for (int i = 0; i < 2 * RDMA_SMALL_RX_DEPTH; i++) {
		assert_int_equal(
			conn_writev(c, &(struct iovec){buf, sizeof(buf)}, 1),
			0);
		assert_int_equal(conn_read(j.c, buf, sizeof(buf)), 0);
		assert_int_equal(conn_writev(j.c, &(struct iovec){buf, 100}, 1),
				 0);
		assert_int_equal(conn_read(c, buf, 100), 0);
	}
	assert_int_equal(F.max_send_len, RDMA_BUF_SIZE);
	assert_int_equal(F.rnr, 0);
	finish(&j, c);
}

static void
a_silent_peer_is_dropped_by_the_deadline_without_big_buffers(void **state)
{
	struct server_job j = {0};
	struct conn *c;
	char buf[1];
	pthread_t t;

	c = serve_one(&j, keyring(0x5a), 200, &t);
	/* Connected, then nothing: the server's handshake deadline ends it. */
	pthread_join(t, NULL);
	assert_int_equal(j.accept_ret, 0);
	assert_int_equal(j.auth_ret, -ETIMEDOUT);
	conn_destroy(j.c);
	j.c = NULL;
	assert_int_equal(conn_read(c, buf, 1), -ECONNRESET);
	assert_int_equal(F.max_reg_bytes, 2 * RDMA_SMALL_BYTES);
	finish(&j, c);
}

static void a_peer_without_the_key_never_gets_big_buffers(void **state)
{
	struct auth_keyring *wrong = keyring(0xa5);
	struct server_job j = {0};
	struct conn *c;
	pthread_t t;

	c = serve_one(&j, keyring(0x5a), 2000, &t);
	assert_int_equal(auth_client(c, wrong, 2, 22, 2000), -EACCES);
	auth_keyring_destroy(wrong);
	pthread_join(t, NULL);
	assert_int_equal(j.auth_ret, -EACCES);
	assert_int_equal(F.max_reg_bytes, 2 * RDMA_SMALL_BYTES);
	finish(&j, c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(the_handshake_grows_both_ends, setup),
		cmocka_unit_test_setup(
			a_silent_peer_is_dropped_by_the_deadline_without_big_buffers,
			setup),
		cmocka_unit_test_setup(
			a_peer_without_the_key_never_gets_big_buffers, setup),
	};

	log_init("test-rdma-auth", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
