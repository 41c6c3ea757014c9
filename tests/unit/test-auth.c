// SPDX-License-Identifier: MIT
/*
 * Unit tests of the cluster key file and the handshake (connector/auth.c).
 * Handshakes run over mem:// with the server end in a thread; fake peers are
 * written frame by frame to show what a real peer must never get away with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth-internal.h"
#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/util.h"
#include "cmp/wire.h"

static char tmpdir[] = "/tmp/test-auth-XXXXXX";

static struct auth_key key_a = {{1, 2, 3, 4, 5, 6, 7, 8}};
static struct auth_key key_b = {{8, 7, 6, 5, 4, 3, 2, 1}};

struct pair {
	struct conn_listener *l;
	struct conn *client;
	struct conn *server;
};

static void pair_open(struct pair *p)
{
	assert_int_equal(conn_listen("mem://", &p->l), 0);
	assert_int_equal(conn_connect(conn_listener_addr(p->l), 0, &p->client),
			 0);
	assert_int_equal(conn_accept(p->l, &p->server), 0);
}

static void pair_close(struct pair *p)
{
	conn_destroy(p->client);
	conn_destroy(p->server);
	conn_listener_destroy(p->l);
}

static void join_within(pthread_t t, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000 + 1;
	assert_int_equal(pthread_timedjoin_np(t, NULL, &ts), 0);
}

/* ---- a real server end in a thread ---- */

struct server {
	pthread_t thread;
	struct conn *c;
	const struct auth_key *key;
	int ret;
};

static void *server_main(void *arg)
{
	struct server *s = arg;

	s->ret = auth_server(s->c, s->key, 2000);
	return NULL;
}

static void handshake(const struct auth_key *ckey, const struct auth_key *skey,
		      int *cret, int *sret)
{
	struct pair p;
	struct server s = {.key = skey};

	pair_open(&p);
	s.c = p.server;
	assert_int_equal(pthread_create(&s.thread, NULL, server_main, &s), 0);
	*cret = auth_client(p.client, ckey, 2000);
	join_within(s.thread, 3000);
	*sret = s.ret;
	pair_close(&p);
}

static void same_key_passes_both_ends(void **state)
{
	int cret;
	int sret;

	handshake(&key_a, &key_a, &cret, &sret);
	assert_int_equal(cret, 0);
	assert_int_equal(sret, 0);
}

static void wrong_key_is_refused_on_both_ends(void **state)
{
	int cret;
	int sret;

	handshake(&key_a, &key_b, &cret, &sret);
	assert_int_equal(cret, -EACCES);
	assert_int_equal(sret, -EACCES);
}

static void insecure_peers_talk_to_each_other(void **state)
{
	int cret;
	int sret;

	handshake(NULL, NULL, &cret, &sret);
	assert_int_equal(cret, 0);
	assert_int_equal(sret, 0);
}

static void secure_and_insecure_are_refused_on_both_ends(void **state)
{
	int cret;
	int sret;

	handshake(&key_a, NULL, &cret, &sret);
	assert_int_equal(cret, -EACCES);
	assert_int_equal(sret, -EACCES);
	handshake(NULL, &key_a, &cret, &sret);
	assert_int_equal(cret, -EACCES);
	assert_int_equal(sret, -EACCES);
}

static void connection_carries_frames_after_the_handshake(void **state)
{
	struct server s = {.key = &key_a};
	struct wire_hdr h = {.op = WIRE_OP_PING, .id = 42};
	struct wire_hdr got;
	struct pair p;

	pair_open(&p);
	assert_int_equal(conn_set_timeout(p.client, 1234), 0);
	s.c = p.server;
	assert_int_equal(pthread_create(&s.thread, NULL, server_main, &s), 0);
	assert_int_equal(auth_client(p.client, &key_a, 2000), 0);
	join_within(s.thread, 3000);
	assert_int_equal(s.ret, 0);
	/* The caller's own timeout is back in place. */
	assert_int_equal(conn_get_timeout(p.client), 1234);
	assert_int_equal(wire_send(p.client, &h, NULL, 0), 0);
	assert_int_equal(wire_recv_hdr(p.server, &got), 0);
	assert_int_equal(got.id, 42);
	pair_close(&p);
}

/* ---- hostile or broken peers ---- */

static void send_raw(struct conn *c, const void *buf, size_t len)
{
	struct iovec iov = {(void *)buf, len};

	assert_int_equal(conn_writev(c, &iov, 1), 0);
}

static void send_frame(struct conn *c, uint8_t op, uint16_t flags,
		       const void *payload, size_t len)
{
	struct wire_hdr h = {.op = op, .flags = flags, .id = 1};
	struct iovec iov = {(void *)payload, len};

	assert_int_equal(wire_send(c, &h, &iov, len ? 1 : 0), 0);
}

static void garbage_hello_is_refused_with_eproto(void **state)
{
	static const char junk[] = "GET / HTTP/1.1\r\nHost: cmpfs\r\n\r\n\r\n";
	struct pair p;

	pair_open(&p);
	send_raw(p.client, junk, sizeof(junk));
	assert_int_equal(auth_server(p.server, &key_a, 2000), -EPROTO);
	pair_close(&p);
}

static void hello_of_the_wrong_length_is_refused_with_eproto(void **state)
{
	uint8_t payload[AUTH_HELLO_LEN - 1] = {0};
	struct pair p;

	pair_open(&p);
	send_frame(p.client, WIRE_OP_HELLO, 0, payload, sizeof(payload));
	assert_int_equal(auth_server(p.server, &key_a, 2000), -EPROTO);
	pair_close(&p);
}

static void hello_with_an_unknown_mode_is_refused_with_eproto(void **state)
{
	uint8_t payload[AUTH_HELLO_LEN] = {0};
	struct pair p;

	payload[AUTH_NONCE_BYTES] = 2;
	pair_open(&p);
	send_frame(p.client, WIRE_OP_HELLO, 0, payload, sizeof(payload));
	assert_int_equal(auth_server(p.server, NULL, 2000), -EPROTO);
	pair_close(&p);
}

static void server_answering_garbage_is_refused_with_eproto(void **state)
{
	uint8_t junk[WIRE_HDR_SIZE + AUTH_HELLO_LEN];
	struct pair p;

	memset(junk, 0x5a, sizeof(junk));
	pair_open(&p);
	send_raw(p.server, junk, sizeof(junk)); /* waits in the socket */
	assert_int_equal(auth_client(p.client, &key_a, 2000), -EPROTO);
	pair_close(&p);
}

static void silent_peer_times_out(void **state)
{
	uint64_t start = cmp_now_ns();
	struct pair p;

	pair_open(&p);
	assert_int_equal(auth_client(p.client, &key_a, 150), -ETIMEDOUT);
	assert_true(cmp_now_ns() - start >= 140 * 1000000ull);
	assert_true(cmp_now_ns() - start < 3000 * 1000000ull);
	pair_close(&p);
}

/* A fake server without the key reflects the client's own MAC back. */
struct reflector {
	pthread_t thread;
	struct conn *c;
};

static void *reflector_main(void *arg)
{
	struct reflector *r = arg;
	struct auth_hello hello = {.mode = AUTH_MODE_SECURE};
	uint8_t buf[64];
	struct iovec iov = {buf, sizeof(buf)};
	struct wire_hdr h;

	if (wire_recv_hdr(r->c, &h) || wire_recv_payload(r->c, &h, &iov, 1))
		return NULL;
	memset(hello.nonce, 0x77, sizeof(hello.nonce));
	auth_hello_encode(&hello, buf);
	h = (struct wire_hdr){
		.op = WIRE_OP_HELLO, .flags = WIRE_F_REPLY, .id = 1};
	iov.iov_len = AUTH_HELLO_LEN;
	if (wire_send(r->c, &h, &iov, 1))
		return NULL;
	iov.iov_len = sizeof(buf);
	if (wire_recv_hdr(r->c, &h) || wire_recv_payload(r->c, &h, &iov, 1))
		return NULL;
	h.flags = WIRE_F_REPLY;
	iov.iov_len = h.len;
	wire_send(r->c, &h, &iov, 1);
	return NULL;
}

static void reflected_mac_is_refused(void **state)
{
	struct reflector r;
	struct pair p;

	pair_open(&p);
	r.c = p.server;
	assert_int_equal(pthread_create(&r.thread, NULL, reflector_main, &r),
			 0);
	assert_int_equal(auth_client(p.client, &key_a, 2000), -EACCES);
	join_within(r.thread, 3000);
	pair_close(&p);
}

static void mac_binds_role_and_both_nonces(void **state)
{
	uint8_t cn[AUTH_NONCE_BYTES] = {1};
	uint8_t sn[AUTH_NONCE_BYTES] = {2};
	uint8_t mac[AUTH_MAC_BYTES];

	auth_mac_compute(&key_a, AUTH_ROLE_CLIENT, cn, sn, mac);
	assert_true(auth_mac_verify(&key_a, AUTH_ROLE_CLIENT, cn, sn, mac));
	assert_false(auth_mac_verify(&key_a, AUTH_ROLE_SERVER, cn, sn, mac));
	assert_false(auth_mac_verify(&key_a, AUTH_ROLE_CLIENT, sn, cn, mac));
	assert_false(auth_mac_verify(&key_b, AUTH_ROLE_CLIENT, cn, sn, mac));
}

static void decoders_check_every_field(void **state)
{
	uint8_t p[AUTH_HELLO_LEN + 1] = {0};
	struct wire_hdr h = {.op = WIRE_OP_HELLO, .len = AUTH_HELLO_LEN};
	struct auth_hello hello;
	uint8_t mac[AUTH_MAC_BYTES];

	p[0] = 0xaa;
	p[AUTH_NONCE_BYTES] = AUTH_MODE_SECURE;
	assert_int_equal(auth_hello_decode(&h, false, p, h.len, &hello), 0);
	assert_int_equal(hello.nonce[0], 0xaa);
	assert_int_equal(hello.mode, AUTH_MODE_SECURE);
	/* reply expected, request given */
	assert_int_equal(auth_hello_decode(&h, true, p, h.len, &hello),
			 -EPROTO);
	/* payload length differs from the header's */
	assert_int_equal(auth_hello_decode(&h, false, p, h.len - 1, &hello),
			 -EPROTO);
	h.len = AUTH_HELLO_LEN + 1;
	assert_int_equal(auth_hello_decode(&h, false, p, h.len, &hello),
			 -EPROTO);
	h = (struct wire_hdr){.op = WIRE_OP_HELLO,
			      .flags = WIRE_F_REPLY,
			      .status = WIRE_S_PERM};
	assert_int_equal(auth_hello_decode(&h, true, p, 0, &hello), -EACCES);
	h.status = WIRE_S_IO;
	assert_int_equal(auth_hello_decode(&h, true, p, 0, &hello), -EPROTO);

	h = (struct wire_hdr){.op = WIRE_OP_AUTH, .len = AUTH_MAC_BYTES};
	assert_int_equal(auth_mac_decode(&h, false, p, h.len, mac), 0);
	h.op = WIRE_OP_HELLO;
	assert_int_equal(auth_mac_decode(&h, false, p, h.len, mac), -EPROTO);
	h = (struct wire_hdr){.op = WIRE_OP_AUTH, .len = 16};
	assert_int_equal(auth_mac_decode(&h, false, p, h.len, mac), -EPROTO);
	/* a request cannot refuse */
	h = (struct wire_hdr){.op = WIRE_OP_AUTH, .status = WIRE_S_PERM};
	assert_int_equal(auth_mac_decode(&h, false, p, 0, mac), -EPROTO);
}

/* ---- key files ---- */

static const char *tmp_path(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	return path;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void keygen_writes_0600_and_refuses_to_overwrite(void **state)
{
	const char *path = tmp_path("key");
	struct auth_key k1;
	struct auth_key k2;
	struct stat st;

	assert_int_equal(auth_key_generate(path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65);
	assert_int_equal(auth_key_load(path, &k1), 0);
	assert_int_equal(auth_key_generate(path), -EEXIST);
	assert_int_equal(auth_key_load(path, &k2), 0);
	assert_memory_equal(&k1, &k2, sizeof(k1));
	/* A second key is a different key. */
	path = tmp_path("key2");
	assert_int_equal(auth_key_generate(path), 0);
	assert_int_equal(auth_key_load(path, &k2), 0);
	assert_memory_not_equal(&k1, &k2, sizeof(k1));
}

static void key_file_accessible_by_group_or_others_is_refused(void **state)
{
	static const mode_t bad[] = {0644, 0640, 0620, 0604, 0602};
	const char *path = tmp_path("key");
	struct auth_key k;
	size_t i;

	assert_int_equal(auth_key_generate(path), 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(chmod(path, bad[i]), 0);
		assert_int_equal(auth_key_load(path, &k), -EPERM);
	}
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(auth_key_load(path, &k), 0);
}

static void malformed_key_files_are_einval(void **state)
{
	static const char hex64[] = "00112233445566778899aabbccddeeff0011223344"
				    "5566778899aabbccddeeff";
	char text[160];
	const char *path;
	struct auth_key k;

	path = tmp_path("key");
	write_file(path, "", 0600);
	assert_int_equal(auth_key_load(path, &k), -EINVAL);
	snprintf(text, sizeof(text), "%.63s\n", hex64);
	write_file(path, text, 0600);
	assert_int_equal(auth_key_load(path, &k), -EINVAL);
	snprintf(text, sizeof(text), "%s0\n", hex64);
	write_file(path, text, 0600);
	assert_int_equal(auth_key_load(path, &k), -EINVAL);
	snprintf(text, sizeof(text), "%s\n\n", hex64);
	write_file(path, text, 0600);
	assert_int_equal(auth_key_load(path, &k), -EINVAL);
	snprintf(text, sizeof(text), "%.62sxy\n", hex64);
	write_file(path, text, 0600);
	assert_int_equal(auth_key_load(path, &k), -EINVAL);
	/* Well-formed, with and without the newline, upper case too. */
	snprintf(text, sizeof(text), "%s\n", hex64);
	write_file(path, text, 0600);
	assert_int_equal(auth_key_load(path, &k), 0);
	assert_int_equal(k.bytes[0], 0x00);
	assert_int_equal(k.bytes[5], 0x55);
	assert_int_equal(k.bytes[15], 0xff);
	write_file(path,
		   "00112233445566778899AABBCCDDEEFF"
		   "00112233445566778899AABBCCDDEEFF",
		   0600);
	assert_int_equal(auth_key_load(path, &k), 0);
	assert_int_equal(k.bytes[31], 0xff);
}

static void missing_key_file_is_enoent(void **state)
{
	struct auth_key k;

	assert_int_equal(auth_key_load(tmp_path("absent"), &k), -ENOENT);
}

static int tmpdir_setup(void **state)
{
	umask(022);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
	static const char *const names[] = {"key", "key2"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		unlink(tmp_path(names[i]));
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_key_passes_both_ends),
		cmocka_unit_test(wrong_key_is_refused_on_both_ends),
		cmocka_unit_test(insecure_peers_talk_to_each_other),
		cmocka_unit_test(secure_and_insecure_are_refused_on_both_ends),
		cmocka_unit_test(connection_carries_frames_after_the_handshake),
		cmocka_unit_test(garbage_hello_is_refused_with_eproto),
		cmocka_unit_test(
			hello_of_the_wrong_length_is_refused_with_eproto),
		cmocka_unit_test(
			hello_with_an_unknown_mode_is_refused_with_eproto),
		cmocka_unit_test(
			server_answering_garbage_is_refused_with_eproto),
		cmocka_unit_test(silent_peer_times_out),
		cmocka_unit_test(reflected_mac_is_refused),
		cmocka_unit_test(mac_binds_role_and_both_nonces),
		cmocka_unit_test(decoders_check_every_field),
		cmocka_unit_test(keygen_writes_0600_and_refuses_to_overwrite),
		cmocka_unit_test(
			key_file_accessible_by_group_or_others_is_refused),
		cmocka_unit_test(malformed_key_files_are_einval),
		cmocka_unit_test(missing_key_file_is_enoent),
	};

	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
