// SPDX-License-Identifier: MIT
/*
 * Unit tests of the handshake, wire version 2 (connector/auth.c).
 * Handshakes run over mem:// with the server end in a thread; fake peers
 * are written frame by frame to show what a real peer must never get away
 * with. Key files and keyrings: test-keyring.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "catch-output.h"

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
#include "wire-internal.h"

static char tmpdir[] = "/tmp/test-auth-XXXXXX";

static const struct auth_key key_a = {{1, 2, 3, 4, 5, 6, 7, 8}};
static const struct auth_key key_b = {{8, 7, 6, 5, 4, 3, 2, 1}};

/* A keyring of n keys (the first preferred); freed by the caller. */
static struct auth_keyring *ring(unsigned int n, const struct auth_key *k0,
				 const struct auth_key *k1)
{
	struct auth_key keys[2] = {*k0, k1 ? *k1 : *k0};
	struct auth_keyring *kr = auth_keyring_create(keys, n);

	assert_non_null(kr);
	return kr;
}

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
	struct auth_keyring *kr;
	uint32_t node;
	uint64_t incarnation;
	int ret;
};

static void *server_main(void *arg)
{
	struct server *s = arg;

	s->ret = auth_server(s->c, s->kr, s->node, s->incarnation, 2000);
	return NULL;
}

static void server_start(struct server *s, struct pair *p,
			 struct auth_keyring *kr)
{
	s->c = p->server;
	s->kr = kr;
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

/* Runs both ends; leaves the pair open for the caller to use. */
static void handshake_on(struct pair *p, struct auth_keyring *ckr,
			 struct auth_keyring *skr, int *cret, int *sret)
{
	struct server s = {.node = 9, .incarnation = 0x9999};

	server_start(&s, p, skr);
	*cret = auth_client(p->client, ckr, 5, 0x5555, 2000);
	join_within(s.thread, 3000);
	*sret = s.ret;
}

static void handshake(struct auth_keyring *ckr, struct auth_keyring *skr,
		      int *cret, int *sret)
{
	struct pair p;

	pair_open(&p);
	handshake_on(&p, ckr, skr, cret, sret);
	pair_close(&p);
}

/* A frame each way on a handshaken pair. */
static void frames_flow_both_ways(struct pair *p)
{
	struct wire_hdr h = {.op = WIRE_OP_PING, .id = 42};
	uint8_t data[100] = "sealed or not, it arrives", got[100];
	struct iovec iov = {data, sizeof(data)};

	assert_int_equal(wire_send(p->client, &h, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(p->server, &h), 0);
	assert_int_equal(h.id, 42);
	assert_int_equal(wire_read(p->server, got, sizeof(got)), 0);
	assert_memory_equal(got, data, sizeof(data));
	h = (struct wire_hdr){
		.op = WIRE_OP_PING, .flags = WIRE_F_REPLY, .id = 42};
	assert_int_equal(wire_send(p->server, &h, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(p->client, &h), 0);
	assert_int_equal(wire_read(p->client, got, sizeof(got)), 0);
	assert_memory_equal(got, data, sizeof(data));
}

static void same_key_passes_both_ends_and_seals_the_session(void **state)
{
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	enum seal_cipher want =
		seal_aes_available() ? SEAL_AES256GCM : SEAL_CHACHA20POLY1305;
	int cret, sret;
	struct pair p;

	pair_open(&p);
	handshake_on(&p, kr, kr, &cret, &sret);
	assert_int_equal(cret, 0);
	assert_int_equal(sret, 0);
	assert_int_equal(wire_cipher(p.client), want);
	assert_int_equal(wire_cipher(p.server), want);
	frames_flow_both_ways(&p);
	pair_close(&p);
	auth_keyring_destroy(kr);
}

static void both_ends_learn_who_the_other_is(void **state)
{
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	int cret, sret;
	struct pair p;

	/* secure: authenticated by the MACs over both HELLOs */
	pair_open(&p);
	assert_int_equal(conn_peer_node(p.client), 0);
	handshake_on(&p, kr, kr, &cret, &sret);
	assert_int_equal(cret, 0);
	assert_int_equal(sret, 0);
	assert_int_equal(conn_peer_node(p.server), 5);
	assert_int_equal(conn_peer_incarnation(p.server), 0x5555);
	assert_int_equal(conn_peer_node(p.client), 9);
	assert_int_equal(conn_peer_incarnation(p.client), 0x9999);
	pair_close(&p);
	/* insecure: taken on trust, the same fields */
	pair_open(&p);
	handshake_on(&p, NULL, NULL, &cret, &sret);
	assert_int_equal(cret, 0);
	assert_int_equal(conn_peer_node(p.server), 5);
	assert_int_equal(conn_peer_incarnation(p.client), 0x9999);
	pair_close(&p);
	auth_keyring_destroy(kr);
}

/* One name per connection, the same on both ends, in either mode. */
static void both_ends_name_the_connection_alike(void **state)
{
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	struct pair p[2];
	int cret, sret;

	for (int secure = 0; secure < 2; secure++) {
		for (int i = 0; i < 2; i++) {
			pair_open(&p[i]);
			assert_int_equal(conn_session_id(p[i].client), 0);
			handshake_on(&p[i], secure ? kr : NULL,
				     secure ? kr : NULL, &cret, &sret);
			assert_int_equal(cret, 0);
			assert_int_equal(sret, 0);
			assert_int_not_equal(conn_session_id(p[i].client), 0);
			assert_int_equal(conn_session_id(p[i].client),
					 conn_session_id(p[i].server));
		}
		assert_int_not_equal(conn_session_id(p[0].client),
				     conn_session_id(p[1].client));
		pair_close(&p[0]);
		pair_close(&p[1]);
	}
	auth_keyring_destroy(kr);
}

static void wrong_key_is_refused_on_both_ends(void **state)
{
	struct auth_keyring *a = ring(1, &key_a, NULL);
	struct auth_keyring *b = ring(1, &key_b, NULL);
	int cret, sret;

	handshake(a, b, &cret, &sret);
	assert_int_equal(cret, -EACCES);
	assert_int_equal(sret, -EACCES);
	auth_keyring_destroy(a);
	auth_keyring_destroy(b);
}

/*
 * Rotation: old key O, new key N. A node may hold both, in either order
 * (the first preferred); two nodes talk whenever they share one key.
 */
static void rotation_works_with_any_key_in_common(void **state)
{
	const struct auth_key *O = &key_a, *N = &key_b;
	struct {
		unsigned int cn, sn;
		const struct auth_key *c0, *c1, *s0, *s1;
		int want;
	} cases[] = {
		{2, 2, O, N, N, O, 0},		   /* old+new vs new+old */
		{2, 2, N, O, O, N, 0},		   /* new+old vs old+new */
		{2, 1, O, N, N, NULL, 0},	   /* old+new vs new only */
		{2, 1, N, O, O, NULL, 0},	   /* new+old vs old only */
		{1, 2, N, NULL, O, N, 0},	   /* new only vs old+new */
		{1, 2, O, NULL, N, O, 0},	   /* old only vs new+old */
		{1, 1, N, NULL, N, NULL, 0},	   /* rotation done */
		{1, 1, N, NULL, O, NULL, -EACCES}, /* new only vs old only */
		{1, 1, O, NULL, N, NULL, -EACCES}, /* old only vs new only */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct auth_keyring *c =
			ring(cases[i].cn, cases[i].c0, cases[i].c1);
		struct auth_keyring *s =
			ring(cases[i].sn, cases[i].s0, cases[i].s1);
		int cret, sret;
		struct pair p;

		pair_open(&p);
		handshake_on(&p, c, s, &cret, &sret);
		assert_int_equal(cret, cases[i].want);
		assert_int_equal(sret, cases[i].want);
		if (!cases[i].want)
			frames_flow_both_ways(&p);
		pair_close(&p);
		auth_keyring_destroy(c);
		auth_keyring_destroy(s);
	}
}

static void insecure_peers_talk_in_plain_frames(void **state)
{
	int cret, sret;
	struct pair p;

	pair_open(&p);
	handshake_on(&p, NULL, NULL, &cret, &sret);
	assert_int_equal(cret, 0);
	assert_int_equal(sret, 0);
	assert_int_equal(wire_cipher(p.client), SEAL_NONE);
	assert_int_equal(wire_cipher(p.server), SEAL_NONE);
	frames_flow_both_ways(&p);
	pair_close(&p);
}

static void secure_and_insecure_are_refused_on_both_ends(void **state)
{
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	int cret, sret;

	handshake(kr, NULL, &cret, &sret);
	assert_int_equal(cret, -EACCES);
	assert_int_equal(sret, -EACCES);
	handshake(NULL, kr, &cret, &sret);
	assert_int_equal(cret, -EACCES);
	assert_int_equal(sret, -EACCES);
	auth_keyring_destroy(kr);
}

static void handshake_restores_the_callers_timeout(void **state)
{
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	int cret, sret;
	struct pair p;

	pair_open(&p);
	assert_int_equal(conn_set_timeout(p.client, 1234), 0);
	handshake_on(&p, kr, kr, &cret, &sret);
	assert_int_equal(cret, 0);
	assert_int_equal(conn_get_timeout(p.client), 1234);
	/* and a sealed session is not handshaken twice */
	assert_int_equal(auth_client(p.client, kr, 5, 1, 100), -EALREADY);
	pair_close(&p);
	auth_keyring_destroy(kr);
}

/* ---- versions ---- */

/* A wire version 1 HELLO as a version 1 node sends it: 33 bytes. */
static void send_v1_hello(struct conn *c)
{
	uint8_t frame[WIRE_HDR_SIZE + 33] = {'C', 'M', 'P',
					     '1', 1,   WIRE_OP_HELLO};
	struct iovec iov = {frame, sizeof(frame)};
	uint32_t len = 33;

	memcpy(frame + 12, &len, 4);
	memset(frame + WIRE_HDR_SIZE, 0x11, 32);
	frame[WIRE_HDR_SIZE + 32] = 1;
	assert_int_equal(conn_writev(c, &iov, 1), 0);
}

static void version_1_peer_is_refused_with_one_line(void **state)
{
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	uint8_t hdr[WIRE_HDR_SIZE];
	struct wire_hdr h;
	struct pair p;
	int lines, all;

	pair_open(&p);
	send_v1_hello(p.client);
	catch_stderr();
	assert_int_equal(auth_server(p.server, kr, 9, 1, 2000),
			 -EPROTONOSUPPORT);
	lines = caught_lines("peer speaks wire version 1, this node speaks 2",
			     &all);
	assert_int_equal(lines, 1);
	assert_int_equal(all, 1);
	/* the old node hears a header of ours: it can name our version */
	assert_int_equal(conn_read(p.client, hdr, sizeof(hdr)), 0);
	assert_int_equal(hdr[4], WIRE_VERSION);
	assert_int_equal(wire_hdr_decode(hdr, &h), 0);
	assert_int_equal(h.op, WIRE_OP_HELLO);
	assert_true(h.flags & WIRE_F_REPLY);
	assert_int_equal(h.status, WIRE_S_NOTSUP);
	pair_close(&p);
	auth_keyring_destroy(kr);
}

static void newer_server_is_refused_with_one_line(void **state)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	struct iovec iov = {hdr, sizeof(hdr)};
	struct wire_hdr h = {.op = WIRE_OP_HELLO,
			     .flags = WIRE_F_REPLY,
			     .status = WIRE_S_NOTSUP,
			     .id = 1};
	struct pair p;
	int lines;

	pair_open(&p);
	wire_hdr_encode(&h, hdr);
	hdr[4] = 3;
	assert_int_equal(conn_writev(p.server, &iov, 1), 0);
	catch_stderr();
	assert_int_equal(auth_client(p.client, NULL, 0, 0, 2000),
			 -EPROTONOSUPPORT);
	lines = caught_lines("peer speaks wire version 3, this node speaks 2",
			     NULL);
	assert_int_equal(lines, 1);
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
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	struct pair p;

	pair_open(&p);
	send_raw(p.client, junk, sizeof(junk));
	assert_int_equal(auth_server(p.server, kr, 0, 0, 2000), -EPROTO);
	pair_close(&p);
	auth_keyring_destroy(kr);
}

static void hello_of_the_wrong_length_is_refused_with_eproto(void **state)
{
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	uint8_t payload[AUTH_HELLO_LEN - 1] = {0};
	struct pair p;

	pair_open(&p);
	send_frame(p.client, WIRE_OP_HELLO, 0, payload, sizeof(payload));
	assert_int_equal(auth_server(p.server, kr, 0, 0, 2000), -EPROTO);
	pair_close(&p);
	auth_keyring_destroy(kr);
}

static void hello_with_an_unknown_mode_is_refused_with_eproto(void **state)
{
	uint8_t payload[AUTH_HELLO_LEN] = {0};
	struct pair p;

	payload[AUTH_NONCE_BYTES] = 2;
	pair_open(&p);
	send_frame(p.client, WIRE_OP_HELLO, 0, payload, sizeof(payload));
	assert_int_equal(auth_server(p.server, NULL, 0, 0, 2000), -EPROTO);
	pair_close(&p);
}

static void server_answering_garbage_is_refused_with_eproto(void **state)
{
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	uint8_t junk[WIRE_HDR_SIZE + AUTH_HELLO_LEN];
	struct pair p;

	memset(junk, 0x5a, sizeof(junk));
	pair_open(&p);
	send_raw(p.server, junk, sizeof(junk)); /* waits in the socket */
	assert_int_equal(auth_client(p.client, kr, 0, 0, 2000), -EPROTO);
	pair_close(&p);
	auth_keyring_destroy(kr);
}

static void silent_peer_times_out(void **state)
{
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	uint64_t start = cmp_now_ns();
	struct pair p;

	pair_open(&p);
	assert_int_equal(auth_client(p.client, kr, 0, 0, 150), -ETIMEDOUT);
	assert_true(cmp_now_ns() - start >= 140 * 1000000ull);
	assert_true(cmp_now_ns() - start < 3000 * 1000000ull);
	pair_close(&p);
	auth_keyring_destroy(kr);
}

/*
 * A fake server without the key: names the client's key id, then reflects
 * the client's own MAC back.
 */
struct reflector {
	pthread_t thread;
	struct conn *c;
};

static void *reflector_main(void *arg)
{
	struct reflector *r = arg;
	struct auth_hello hello;
	uint8_t buf[64];
	struct iovec iov = {buf, sizeof(buf)};
	struct wire_hdr h;

	if (wire_recv_hdr(r->c, &h) || wire_recv_payload(r->c, &h, &iov, 1) ||
	    auth_hello_decode(&h, false, buf, h.len, &hello))
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
	struct auth_keyring *kr = ring(1, &key_a, NULL);
	struct reflector r;
	struct pair p;

	pair_open(&p);
	r.c = p.server;
	assert_int_equal(pthread_create(&r.thread, NULL, reflector_main, &r),
			 0);
	assert_int_equal(auth_client(p.client, kr, 0, 0, 2000), -EACCES);
	join_within(r.thread, 3000);
	pair_close(&p);
	auth_keyring_destroy(kr);
}

static void mac_binds_role_key_and_transcript(void **state)
{
	uint8_t ch[AUTH_HELLO_LEN] = {1}, sh[AUTH_HELLO_LEN] = {2};
	uint8_t t[AUTH_HASH_BYTES], t2[AUTH_HASH_BYTES];
	uint8_t mac[AUTH_MAC_BYTES];

	auth_transcript(ch, sh, t);
	auth_mac_compute(&key_a, AUTH_ROLE_CLIENT, t, mac);
	assert_true(auth_mac_verify(&key_a, AUTH_ROLE_CLIENT, t, mac));
	assert_false(auth_mac_verify(&key_a, AUTH_ROLE_SERVER, t, mac));
	assert_false(auth_mac_verify(&key_b, AUTH_ROLE_CLIENT, t, mac));
	/* the HELLOs swapped, or any byte of either changed: another T */
	auth_transcript(sh, ch, t2);
	assert_memory_not_equal(t, t2, sizeof(t));
	for (size_t i = 0; i < AUTH_HELLO_LEN; i++) {
		ch[i] ^= 0x40;
		auth_transcript(ch, sh, t2);
		assert_false(
			auth_mac_verify(&key_a, AUTH_ROLE_CLIENT, t2, mac));
		ch[i] ^= 0x40;
		sh[i] ^= 0x02;
		auth_transcript(ch, sh, t2);
		assert_false(
			auth_mac_verify(&key_a, AUTH_ROLE_CLIENT, t2, mac));
		sh[i] ^= 0x02;
	}
}

static void session_keys_differ_per_direction_and_session(void **state)
{
	uint8_t t1[AUTH_HASH_BYTES] = {1}, t2[AUTH_HASH_BYTES] = {2};
	uint8_t c2s[32], s2c[32], c2s2[32], s2c2[32];

	auth_session_keys(&key_a, t1, c2s, s2c);
	assert_memory_not_equal(c2s, s2c, 32);
	auth_session_keys(&key_a, t2, c2s2, s2c2);
	assert_memory_not_equal(c2s, c2s2, 32);
	auth_session_keys(&key_b, t1, c2s2, s2c2);
	assert_memory_not_equal(c2s, c2s2, 32);
	assert_memory_not_equal(s2c, s2c2, 32);
}

static void aes_only_when_both_ends_have_aes_ni(void **state)
{
	assert_int_equal(auth_cipher(AUTH_CAP_AESNI, AUTH_CAP_AESNI),
			 SEAL_AES256GCM);
	assert_int_equal(auth_cipher(AUTH_CAP_AESNI, 0), SEAL_CHACHA20POLY1305);
	assert_int_equal(auth_cipher(0, AUTH_CAP_AESNI), SEAL_CHACHA20POLY1305);
	assert_int_equal(auth_cipher(0, 0x80), SEAL_CHACHA20POLY1305);
}

static void decoders_check_every_field(void **state)
{
	struct auth_hello in = {
		.nonce = {0xaa},
		.mode = AUTH_MODE_SECURE,
		.caps = AUTH_CAP_AESNI | 0x80,
		.key_id = 0x0102030405060708ull,
		.node = 77,
		.incarnation = 0x1122334455667788ull,
	};
	uint8_t p[AUTH_HELLO_LEN + 1] = {0};
	struct wire_hdr h = {.op = WIRE_OP_HELLO, .len = AUTH_HELLO_LEN};
	struct auth_hello hello;
	uint8_t mac[AUTH_MAC_BYTES];

	auth_hello_encode(&in, p);
	assert_int_equal(p[AUTH_NONCE_BYTES + 2], 0x08); /* little-endian */
	assert_int_equal(auth_hello_decode(&h, false, p, h.len, &hello), 0);
	assert_memory_equal(&hello.nonce, &in.nonce, sizeof(in.nonce));
	assert_int_equal(hello.mode, in.mode);
	assert_int_equal(hello.caps, in.caps);
	assert_int_equal(hello.key_id, in.key_id);
	assert_int_equal(hello.node, in.node);
	assert_int_equal(hello.incarnation, in.incarnation);
	/* reply expected, request given */
	assert_int_equal(auth_hello_decode(&h, true, p, h.len, &hello),
			 -EPROTO);
	/* payload length differs from the header's */
	assert_int_equal(auth_hello_decode(&h, false, p, h.len - 1, &hello),
			 -EPROTO);
	h.len = AUTH_HELLO_LEN + 1;
	assert_int_equal(auth_hello_decode(&h, false, p, h.len, &hello),
			 -EPROTO);
	h.len = AUTH_HELLO_LEN;
	p[AUTH_NONCE_BYTES] = 2;
	assert_int_equal(auth_hello_decode(&h, false, p, h.len, &hello),
			 -EPROTO);
	h = (struct wire_hdr){.op = WIRE_OP_HELLO,
			      .flags = WIRE_F_REPLY,
			      .status = WIRE_S_PERM};
	assert_int_equal(auth_hello_decode(&h, true, p, 0, &hello), -EACCES);
	h.status = WIRE_S_IO;
	assert_int_equal(auth_hello_decode(&h, true, p, 0, &hello), -EPROTO);
	/* a client does not refuse in its HELLO */
	h = (struct wire_hdr){.op = WIRE_OP_HELLO, .status = WIRE_S_PERM};
	assert_int_equal(auth_hello_decode(&h, false, p, 0, &hello), -EPROTO);

	h = (struct wire_hdr){.op = WIRE_OP_AUTH, .len = AUTH_MAC_BYTES};
	assert_int_equal(auth_mac_decode(&h, false, p, h.len, mac), 0);
	h.op = WIRE_OP_HELLO;
	assert_int_equal(auth_mac_decode(&h, false, p, h.len, mac), -EPROTO);
	h = (struct wire_hdr){.op = WIRE_OP_AUTH, .len = 16};
	assert_int_equal(auth_mac_decode(&h, false, p, h.len, mac), -EPROTO);
	/* either side refuses in AUTH: no key in common, or a wrong MAC */
	h = (struct wire_hdr){.op = WIRE_OP_AUTH, .status = WIRE_S_PERM};
	assert_int_equal(auth_mac_decode(&h, false, p, 0, mac), -EACCES);
	h.flags = WIRE_F_REPLY;
	assert_int_equal(auth_mac_decode(&h, true, p, 0, mac), -EACCES);
	/* a refusal carries nothing */
	h.len = AUTH_MAC_BYTES;
	assert_int_equal(auth_mac_decode(&h, true, p, h.len, mac), -EPROTO);
}

static int tmpdir_setup(void **state)
{
	umask(022);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			same_key_passes_both_ends_and_seals_the_session),
		cmocka_unit_test(both_ends_learn_who_the_other_is),
		cmocka_unit_test(both_ends_name_the_connection_alike),
		cmocka_unit_test(wrong_key_is_refused_on_both_ends),
		cmocka_unit_test(rotation_works_with_any_key_in_common),
		cmocka_unit_test(insecure_peers_talk_in_plain_frames),
		cmocka_unit_test(secure_and_insecure_are_refused_on_both_ends),
		cmocka_unit_test(handshake_restores_the_callers_timeout),
		cmocka_unit_test(version_1_peer_is_refused_with_one_line),
		cmocka_unit_test(newer_server_is_refused_with_one_line),
		cmocka_unit_test(garbage_hello_is_refused_with_eproto),
		cmocka_unit_test(
			hello_of_the_wrong_length_is_refused_with_eproto),
		cmocka_unit_test(
			hello_with_an_unknown_mode_is_refused_with_eproto),
		cmocka_unit_test(
			server_answering_garbage_is_refused_with_eproto),
		cmocka_unit_test(silent_peer_times_out),
		cmocka_unit_test(reflected_mac_is_refused),
		cmocka_unit_test(mac_binds_role_key_and_transcript),
		cmocka_unit_test(session_keys_differ_per_direction_and_session),
		cmocka_unit_test(aes_only_when_both_ends_have_aes_ni),
		cmocka_unit_test(decoders_check_every_field),
	};

	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
