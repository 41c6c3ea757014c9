// SPDX-License-Identifier: MIT
/*
 * The block data path end to end over mem://: the peer service serving a
 * RAM store (memserver/store.c) and the owner-side client (pool/remote.c).
 * Byte ranges, batches, owner checks, MOVED, dead and hung peers, bytes on
 * the wire, and garbage that must close only its own connection; the data
 * path again over sealed connections, and a man in the middle who flips
 * bits in sealed WRITEs or replays them: no block byte may change.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/peer.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "remote.h"
#include "store.h"

#define BS (64u << 10)
#define NBLOCKS 32u
#define PROVIDER 7u
#define OWNER 100u

struct fixture {
	struct ms_store *store;
	struct peer *peer;
	struct remote *r;
};

static int setup_with(void **state, const struct peer_store_ops *ops,
		      struct auth_keyring *pkey, struct auth_keyring *rkey)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct peer_config cfg = {
		.listen_addr = "mem://",
		.keyring = pkey,
		.node_id = PROVIDER,
		.block_size = BS,
		.ops = ops,
	};

	assert_non_null(f);
	assert_int_equal(ms_store_create(NULL, NBLOCKS * BS, BS, &f->store), 0);
	cfg.ctx = f->store;
	f->peer = peer_create(&cfg);
	assert_non_null(f->peer);
	f->r = remote_create(rkey, OWNER, BS);
	assert_non_null(f->r);
	remote_set_timeout(f->r, 2000);
	assert_int_equal(
		remote_add_node(f->r, PROVIDER, peer_listen_addr(f->peer)), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, &ms_store_ops, NULL, NULL);
}

static struct auth_keyring *keyring_of(uint8_t byte)
{
	struct auth_keyring *kr;
	struct auth_key k;

	memset(&k, byte, sizeof(k));
	kr = auth_keyring_create(&k, 1);
	assert_non_null(kr);
	return kr;
}

/* Both ends hold the same key: every frame is sealed. */
static struct auth_keyring *sealed_keyring;

static int setup_sealed(void **state)
{
	sealed_keyring = keyring_of(0x33);
	return setup_with(state, &ms_store_ops, sealed_keyring, sealed_keyring);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	remote_destroy(f->r);
	peer_destroy(f->peer);
	ms_store_destroy(f->store);
	free(f);
	auth_keyring_destroy(sealed_keyring);
	sealed_keyring = NULL;
	return 0;
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static uint32_t alloc_one(struct fixture *f)
{
	uint32_t idx, got;

	assert_int_equal(remote_alloc(f->r, PROVIDER, 1, &idx, &got), 0);
	assert_int_equal(got, 1);
	return idx;
}

static void alloc_lends_distinct_blocks_until_full(void **state)
{
	struct fixture *f = *state;
	uint32_t idx[NBLOCKS + 4], got, more;
	struct proto_block_status st;

	assert_int_equal(remote_alloc(f->r, PROVIDER, 10, idx, &got), 0);
	assert_int_equal(got, 10);
	assert_int_equal(remote_alloc(f->r, PROVIDER, NBLOCKS, idx + 10, &more),
			 0);
	assert_int_equal(more, NBLOCKS - 10);
	for (uint32_t i = 0; i < NBLOCKS; i++) {
		assert_true(idx[i] < NBLOCKS);
		for (uint32_t j = 0; j < i; j++)
			assert_int_not_equal(idx[i], idx[j]);
	}
	assert_int_equal(remote_alloc(f->r, PROVIDER, 1, idx, &got), -ENOSPC);
	assert_int_equal(got, 0);
	assert_int_equal(remote_status(f->r, PROVIDER, &st), 0);
	assert_int_equal(st.node, PROVIDER);
	assert_int_equal(st.block_size, BS);
	assert_int_equal(st.total, NBLOCKS);
	assert_int_equal(st.free, 0);
}

static void read_returns_what_write_stored_at_any_offset(void **state)
{
	static const struct {
		uint32_t off, len;
	} ranges[] = {{0, 1},  {BS - 1, 1},    {1000, 512},    {4095, 4097},
		      {0, BS}, {12345, 20000}, {BS - 700, 700}};
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	static uint8_t in[BS], out[BS], zero[BS];

	/* a freshly lent block reads as zeros */
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, out, BS, NULL), 0);
	assert_memory_equal(out, zero, BS);
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		uint32_t off = ranges[i].off, len = ranges[i].len;

		fill(in, len, i);
		assert_int_equal(
			remote_write(f->r, PROVIDER, idx, off, in, len, NULL),
			0);
		memset(out, 0xee, len);
		assert_int_equal(
			remote_read(f->r, PROVIDER, idx, off, out, len, NULL),
			0);
		assert_memory_equal(in, out, len);
	}
}

static void ranges_outside_a_block_are_refused_before_sending(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	struct remote_stats before, after;
	uint8_t buf[16];

	remote_stats(f->r, &before);
	assert_int_equal(
		remote_read(f->r, PROVIDER, idx, BS - 8, buf, 16, NULL),
		-EINVAL);
	assert_int_equal(remote_write(f->r, PROVIDER, idx, BS, buf, 1, NULL),
			 -EINVAL);
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, buf, 0, NULL),
			 -EINVAL);
	remote_stats(f->r, &after);
	assert_int_equal(after.requests, before.requests);
}

static void batches_move_many_ranges_in_one_request(void **state)
{
	struct fixture *f = *state;
	uint32_t a = alloc_one(f), b = alloc_one(f);
	struct proto_block_extent ext[3] = {
		{a, 0, 4096}, {b, 100, 5000}, {a, BS - 10, 10}};
	static uint8_t in[9106], out[9106];
	struct iovec win[2] = {{in, 3000}, {in + 3000, 6106}};
	struct iovec wout[3] = {
		{out, 4096}, {out + 4096, 1}, {out + 4097, 5009}};
	struct remote_stats before, after;
	uint8_t one[10];

	fill(in, sizeof(in), 3);
	remote_stats(f->r, &before);
	assert_int_equal(
		remote_write_batch(f->r, PROVIDER, ext, 3, win, 2, NULL), 0);
	assert_int_equal(
		remote_read_batch(f->r, PROVIDER, ext, 3, wout, 3, NULL), 0);
	remote_stats(f->r, &after);
	assert_int_equal(after.requests - before.requests, 2);
	assert_memory_equal(in, out, sizeof(in));
	/* the same bytes are there for a plain read too */
	assert_int_equal(remote_read(f->r, PROVIDER, a, BS - 10, one, 10, NULL),
			 0);
	assert_memory_equal(one, in + 4096 + 5000, 10);
	/* data and extents must add up */
	win[1].iov_len--;
	assert_int_equal(
		remote_write_batch(f->r, PROVIDER, ext, 3, win, 2, NULL),
		-EINVAL);
}

static void free_gives_blocks_back_and_later_access_is_refused(void **state)
{
	struct fixture *f = *state;
	uint32_t idx[4], got;
	struct proto_block_status st;
	uint8_t buf[8] = "abcdefg";

	assert_int_equal(remote_alloc(f->r, PROVIDER, 4, idx, &got), 0);
	assert_int_equal(remote_write(f->r, PROVIDER, idx[1], 0, buf, 8, NULL),
			 0);
	assert_int_equal(remote_free(f->r, PROVIDER, idx, 4), 0);
	assert_int_equal(remote_status(f->r, PROVIDER, &st), 0);
	assert_int_equal(st.free, NBLOCKS);
	assert_int_equal(remote_read(f->r, PROVIDER, idx[1], 0, buf, 8, NULL),
			 -ENOENT);
	assert_int_equal(remote_write(f->r, PROVIDER, idx[1], 0, buf, 8, NULL),
			 -ENOENT);
	assert_int_equal(remote_free(f->r, PROVIDER, idx, 1), -ENOENT);
	/* refusals keep the connection: the next call reuses it */
	{
		struct remote_stats s;

		remote_stats(f->r, &s);
		assert_int_equal(s.connects, 1);
		assert_int_equal(s.errors, 0);
	}
}

static void another_owner_cannot_touch_my_blocks(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	struct remote *thief = remote_create(NULL, OWNER + 1, BS);
	struct proto_block_extent ext = {idx, 0, 8};
	uint8_t buf[8] = "secret!";
	struct iovec iov = {buf, 8};

	assert_non_null(thief);
	assert_int_equal(
		remote_add_node(thief, PROVIDER, peer_listen_addr(f->peer)), 0);
	assert_int_equal(remote_write(f->r, PROVIDER, idx, 0, buf, 8, NULL), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(remote_read(thief, PROVIDER, idx, 0, buf, 8, NULL),
			 -ENOENT);
	assert_int_equal(remote_write(thief, PROVIDER, idx, 0, buf, 8, NULL),
			 -ENOENT);
	assert_int_equal(
		remote_read_batch(thief, PROVIDER, &ext, 1, &iov, 1, NULL),
		-ENOENT);
	assert_int_equal(remote_free(thief, PROVIDER, &idx, 1), -ENOENT);
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, buf, 8, NULL), 0);
	assert_string_equal((char *)buf, "secret!");
	/* a block index beyond the store is nobody's */
	assert_int_equal(
		remote_read(f->r, PROVIDER, NBLOCKS + 5, 0, buf, 8, NULL),
		-ENOENT);
	remote_destroy(thief);
}

static void dead_owner_loses_its_blocks(void **state)
{
	struct fixture *f = *state;
	uint32_t idx[3], got;
	uint8_t buf[4];

	assert_int_equal(remote_alloc(f->r, PROVIDER, 3, idx, &got), 0);
	assert_int_equal(peer_owner_dead(f->peer, OWNER), 3);
	assert_int_equal(ms_store_free_count(f->store), NBLOCKS);
	assert_int_equal(remote_read(f->r, PROVIDER, idx[0], 0, buf, 4, NULL),
			 -ENOENT);
	assert_int_equal(peer_owner_dead(f->peer, OWNER), 0);
}

static void dead_peer_gives_eio_within_the_deadline(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	uint8_t buf[64];
	uint64_t t0;

	remote_set_timeout(f->r, 500);
	peer_destroy(f->peer);
	f->peer = NULL;
	t0 = cmp_now_ns();
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, buf, 64, NULL),
			 -EIO);
	assert_true(cmp_now_ns() - t0 < 1500ull * 1000 * 1000);
	/* and the next caller does not even try to connect again */
	t0 = cmp_now_ns();
	assert_int_equal(remote_write(f->r, PROVIDER, idx, 0, buf, 64, NULL),
			 -EIO);
	assert_true(cmp_now_ns() - t0 < 50ull * 1000 * 1000);
}

static void node_announced_dead_fails_at_once_until_added_again(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	uint8_t buf[64];
	uint64_t t0;

	remote_node_dead(f->r, PROVIDER);
	t0 = cmp_now_ns();
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, buf, 64, NULL),
			 -EIO);
	assert_true(cmp_now_ns() - t0 < 100ull * 1000 * 1000);
	assert_int_equal(
		remote_add_node(f->r, PROVIDER, peer_listen_addr(f->peer)), 0);
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, buf, 64, NULL), 0);
	/* never heard of */
	assert_int_equal(remote_read(f->r, 9999, idx, 0, buf, 64, NULL),
			 -EHOSTUNREACH);
}

static void hung_peer_times_out_instead_of_hanging(void **state)
{
	struct fixture *f = *state;
	struct conn_listener *l;
	uint8_t buf[64];
	uint64_t t0, ms;

	/* listens, never accepts nor answers */
	assert_int_equal(conn_listen("mem://", &l), 0);
	assert_int_equal(remote_add_node(f->r, 55, conn_listener_addr(l)), 0);
	remote_set_timeout(f->r, 300);
	t0 = cmp_now_ns();
	assert_int_equal(remote_read(f->r, 55, 0, 0, buf, 64, NULL), -EIO);
	ms = (cmp_now_ns() - t0) / 1000000;
	assert_true(ms >= 250 && ms < 1500);
	conn_listener_destroy(l);
}

/* A provider that answers every request with someone else's reply id. */
static void *liar_main(void *arg)
{
	struct conn_listener *l = arg;
	struct wire_hdr h;
	struct conn *c;

	if (conn_accept(l, &c))
		return NULL;
	conn_set_timeout(c, 2000);
	if (auth_server(c, NULL, PROVIDER, 0, 1000) == 0 &&
	    wire_recv_hdr(c, &h) == 0 && wire_skip_payload(c, &h) == 0) {
		h.flags = WIRE_F_REPLY;
		h.id++;
		h.status = WIRE_S_OK;
		wire_send(c, &h, NULL, 0);
	}
	conn_destroy(c);
	return NULL;
}

static void provider_breaking_the_protocol_gives_eio(void **state)
{
	struct fixture *f = *state;
	struct conn_listener *l;
	struct remote_stats s;
	uint8_t buf[64];
	pthread_t t;

	assert_int_equal(conn_listen("mem://", &l), 0);
	assert_int_equal(pthread_create(&t, NULL, liar_main, l), 0);
	assert_int_equal(remote_add_node(f->r, 66, conn_listener_addr(l)), 0);
	assert_int_equal(remote_read(f->r, 66, 0, 0, buf, 64, NULL), -EIO);
	remote_stats(f->r, &s);
	assert_int_equal(s.errors, 1);
	pthread_join(t, NULL);
	conn_listener_destroy(l);
}

static void small_read_moves_about_its_size_on_the_wire(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	struct remote_stats a, b;
	uint8_t buf[512];

	/* warm the connection first: the handshake is not the read's cost */
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, buf, 512, NULL),
			 0);
	remote_stats(f->r, &a);
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 4096, buf, 512, NULL),
			 0);
	remote_stats(f->r, &b);
	assert_int_equal(b.requests - a.requests, 1);
	/* request: header + 16-byte range; reply: header + the 512 bytes */
	assert_int_equal(b.bytes_sent - a.bytes_sent, WIRE_HDR_SIZE + 16);
	assert_int_equal(b.bytes_received - a.bytes_received,
			 WIRE_HDR_SIZE + 512);
	assert_true((b.bytes_sent - a.bytes_sent) +
			    (b.bytes_received - a.bytes_received) <
		    512 + 128);
}

/* A raw authenticated connection to the peer, for hand-made frames. */
static struct conn *raw_connect(struct fixture *f)
{
	struct conn *c;

	assert_int_equal(conn_connect(peer_listen_addr(f->peer), 1000, &c), 0);
	assert_int_equal(conn_set_timeout(c, 2000), 0);
	assert_int_equal(auth_client(c, NULL, OWNER, 0, 1000), 0);
	return c;
}

/* Reads until the peer closes; true when it did within the deadline. */
static bool closed_by_peer(struct conn *c)
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

static void garbage_closes_only_that_connection(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	uint8_t junk[WIRE_HDR_SIZE * 2], buf[8] = "still ok";
	struct iovec iov = {junk, sizeof(junk)};
	struct conn *bad;

	memset(junk, 0x5a, sizeof(junk));
	bad = raw_connect(f);
	assert_int_equal(conn_writev(bad, &iov, 1), 0);
	assert_true(closed_by_peer(bad));
	conn_destroy(bad);
	/* the owner's connection never noticed */
	assert_int_equal(remote_write(f->r, PROVIDER, idx, 0, buf, 8, NULL), 0);
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, buf, 8, NULL), 0);
	assert_memory_equal(buf, "still ok", 8);
}

/* Insecure mode: the checksum catches accidents, and the owner hears it. */
static void write_with_a_bad_checksum_is_refused(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	struct proto_block_rw rw = {
		.owner = OWNER, .block = idx, .off = 0, .len = 8};
	uint8_t hdr[WIRE_HDR_SIZE], pl[PROTO_BLOCK_RW_SIZE + 8];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {pl, sizeof(pl)}};
	struct wire_hdr h = {.op = WIRE_OP_WRITE, .id = 1, .len = sizeof(pl)};
	struct conn *c = raw_connect(f);
	uint8_t out[8];

	proto_block_rw_encode(&rw, pl, sizeof(pl));
	memcpy(pl + PROTO_BLOCK_RW_SIZE, "CORRUPT!", 8);
	h.csum = wire_csum(&iov[1], 1) ^ 1;
	wire_hdr_encode(&h, hdr);
	assert_int_equal(conn_writev(c, iov, 2), 0);
	assert_int_equal(wire_recv_hdr(c, &h), 0);
	assert_true(h.flags & WIRE_F_REPLY);
	assert_int_equal(h.status, WIRE_S_BADMSG);
	assert_true(closed_by_peer(c));
	conn_destroy(c);
	/* the block keeps serving; the owner rewrites the lost range */
	assert_int_equal(
		remote_write(f->r, PROVIDER, idx, 0, "rewrite!", 8, NULL), 0);
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, out, 8, NULL), 0);
	assert_memory_equal(out, "rewrite!", 8);
}

/* Sends one hand-made request frame; payload checksum good unless bad. */
static void send_raw(struct conn *c, uint8_t op, const void *pl, size_t len,
		     bool bad_csum)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)pl, len}};
	struct wire_hdr h = {.op = op, .id = 1, .len = len};

	h.csum = wire_csum(&iov[1], 1) ^ (bad_csum ? 1 : 0);
	wire_hdr_encode(&h, hdr);
	assert_int_equal(conn_writev(c, iov, 2), 0);
}

static void corrupted_large_write_is_refused_and_closes(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	static uint8_t pl[PROTO_BLOCK_RW_SIZE + 32768];
	struct proto_block_rw rw = {OWNER, idx, 0, 32768};
	struct conn *c = raw_connect(f);
	struct wire_hdr h;
	uint8_t out[4];

	proto_block_rw_encode(&rw, pl, sizeof(pl));
	send_raw(c, WIRE_OP_WRITE, pl, sizeof(pl), true);
	assert_int_equal(wire_recv_hdr(c, &h), 0);
	assert_int_equal(h.status, WIRE_S_BADMSG);
	assert_true(closed_by_peer(c));
	conn_destroy(c);
	/* the block keeps serving; the owner rewrites the lost range */
	assert_int_equal(remote_write(f->r, PROVIDER, idx, 0, "good", 4, NULL),
			 0);
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, out, 4, NULL), 0);
	assert_memory_equal(out, "good", 4);
}

static void invalid_payloads_are_answered_and_close_the_connection(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	struct proto_block_rw rw = {OWNER, idx, BS - 4, 8}; /* past the end */
	struct proto_block_alloc_req ar = {OWNER, PROTO_BLOCK_MAX_IDX + 1};
	uint8_t pl[PROTO_BLOCK_RW_SIZE + 8] = {0};
	uint8_t batch[PROTO_BLOCK_BATCH_SIZE] = {100, 0, 0, 0, 0xff, 0xff};
	struct {
		uint8_t op;
		const void *pl;
		size_t len;
		uint32_t status;
	} cases[] = {
		{WIRE_OP_READ, pl, PROTO_BLOCK_RW_SIZE, WIRE_S_INVAL},
		{WIRE_OP_WRITE, pl, sizeof(pl), WIRE_S_INVAL},
		{WIRE_OP_ALLOC, pl, PROTO_BLOCK_ALLOC_REQ_SIZE, WIRE_S_INVAL},
		{WIRE_OP_READ_BATCH, batch, sizeof(batch), WIRE_S_INVAL},
		{WIRE_OP_STATUS, pl, 4, WIRE_S_INVAL},
		{WIRE_OP_REGISTER, pl, 4, WIRE_S_NOTSUP},
	};
	struct wire_hdr h;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct conn *c = raw_connect(f);

		if (cases[i].op == WIRE_OP_ALLOC)
			proto_block_alloc_req_encode(&ar, pl, sizeof(pl));
		else
			proto_block_rw_encode(&rw, pl, sizeof(pl));
		send_raw(c, cases[i].op, cases[i].pl, cases[i].len, false);
		assert_int_equal(wire_recv_hdr(c, &h), 0);
		assert_int_equal(h.status, cases[i].status);
		assert_true(closed_by_peer(c));
		conn_destroy(c);
	}
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, pl, 8, NULL), 0);
}

static void connection_is_bound_to_its_first_owner(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = alloc_one(f);
	struct proto_block_rw rw = {
		.owner = OWNER + 1, .block = idx, .off = 0, .len = 8};
	uint8_t pl[PROTO_BLOCK_RW_SIZE], ar[PROTO_BLOCK_ALLOC_REQ_SIZE];
	struct proto_block_alloc_req req = {.owner = OWNER + 1, .n = 1};
	struct iovec iov = {ar, sizeof(ar)};
	struct wire_hdr h = {.op = WIRE_OP_ALLOC, .id = 1};
	struct conn *c = raw_connect(f);

	proto_block_alloc_req_encode(&req, ar, sizeof(ar));
	assert_int_equal(wire_send(c, &h, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(c, &h), 0);
	assert_int_equal(h.status, WIRE_S_OK);
	assert_int_equal(wire_skip_payload(c, &h), 0);
	/* same connection, now claiming to be OWNER */
	rw.owner = OWNER;
	proto_block_rw_encode(&rw, pl, sizeof(pl));
	iov.iov_base = pl;
	iov.iov_len = sizeof(pl);
	h = (struct wire_hdr){.op = WIRE_OP_READ, .id = 2};
	assert_int_equal(wire_send(c, &h, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(c, &h), 0);
	assert_int_equal(h.status, WIRE_S_PERM);
	assert_int_equal(h.len, 0);
	conn_destroy(c);
}

static void wrong_key_is_refused(void **state)
{
	struct auth_keyring *a = keyring_of(1), *b = keyring_of(2);
	struct fixture *f;
	uint8_t buf[8];

	setup_with(state, &ms_store_ops, a, b);
	f = *state;
	assert_int_equal(remote_read(f->r, PROVIDER, 0, 0, buf, 8, NULL), -EIO);
	teardown(state);
	setup_with(state, &ms_store_ops, a, a);
	f = *state;
	assert_int_equal(
		remote_read(f->r, PROVIDER, alloc_one(f), 0, buf, 8, NULL), 0);
	teardown(state);
	auth_keyring_destroy(a);
	auth_keyring_destroy(b);
}

/* A store whose blocks >= 16 "moved on" to node 9. */
static bool moving_owns(void *ctx, uint32_t idx, uint32_t owner)
{
	return idx < 16 && ms_store_ops.owns(ctx, idx, owner);
}

static int moving_moved(void *ctx, uint32_t idx, uint32_t owner,
			struct proto_block_moved *out)
{
	if (idx < 16)
		return -ENOENT;
	out->node = 9;
	out->block = idx + 1000;
	strcpy(out->addr, "tcp://10.9.9.9:7100");
	return 0;
}

static void moved_block_tells_where_it_went(void **state)
{
	struct peer_store_ops ops = ms_store_ops;
	struct proto_block_moved mv = {0};
	struct proto_block_extent ext[2] = {{3, 0, 8}, {20, 0, 8}};
	uint8_t buf[16];
	struct iovec iov = {buf, 16};
	struct fixture *f;
	uint32_t idx;

	ops.owns = moving_owns;
	ops.moved = moving_moved;
	setup_with(state, &ops, NULL, NULL);
	f = *state;
	idx = alloc_one(f);
	ext[0].block = idx;
	assert_int_equal(remote_read(f->r, PROVIDER, 20, 8, buf, 8, &mv),
			 -ESTALE);
	assert_int_equal(mv.from, 20);
	assert_int_equal(mv.node, 9);
	assert_int_equal(mv.block, 1020);
	assert_string_equal(mv.addr, "tcp://10.9.9.9:7100");
	memset(&mv, 0, sizeof(mv));
	assert_int_equal(
		remote_read_batch(f->r, PROVIDER, ext, 2, &iov, 1, &mv),
		-ESTALE);
	assert_int_equal(mv.from, 20);
	/* and without an out-parameter the caller still learns -ESTALE */
	assert_int_equal(remote_write(f->r, PROVIDER, 20, 0, buf, 8, NULL),
			 -ESTALE);
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, buf, 8, NULL), 0);
	teardown(state);
}

struct worker {
	struct fixture *f;
	uint32_t idx;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t in[3000], out[3000];

	for (unsigned int i = 0; i < 200; i++) {
		uint32_t off = (i * 977) % (BS - sizeof(in));

		fill(in, sizeof(in), i + w->idx);
		if (remote_write(w->f->r, PROVIDER, w->idx, off, in, sizeof(in),
				 NULL) ||
		    remote_read(w->f->r, PROVIDER, w->idx, off, out,
				sizeof(out), NULL) ||
		    memcmp(in, out, sizeof(in)))
			w->failures++;
	}
	return NULL;
}

static void threads_each_use_their_own_connection(void **state)
{
	struct fixture *f = *state;
	struct worker w[4];
	pthread_t t[4];
	struct remote_stats s;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.f = f, .idx = alloc_one(f)};
		assert_int_equal(
			pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	remote_stats(f->r, &s);
	assert_true(s.connects >= 1 && s.connects <= 5);
	assert_int_equal(s.errors, 0);
}

static void file_backed_store_serves_blocks(void **state)
{
	char path[] = "/tmp/cmp-test-store-XXXXXX";
	struct ms_store *s;
	uint32_t idx[9];
	uint8_t *p;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(ms_store_create(path, 4 * BS + 100, BS, &s), 0);
	assert_int_equal(ms_store_total(s), 4);
	assert_int_equal(ms_store_ops.alloc(s, 5, 2, idx), 2);
	assert_true(ms_store_ops.owns(s, idx[1], 5));
	assert_false(ms_store_ops.owns(s, idx[1], 6));
	p = ms_store_ops.ptr(s, idx[1]);
	memset(p, 0xab, BS);
	ms_store_ops.free(s, 5, &idx[1], 1);
	/* freed blocks read as zeros again (hole punched) */
	assert_int_equal(p[0], 0);
	assert_int_equal(p[BS - 1], 0);
	assert_int_equal(ms_store_free_count(s), 3);
	assert_int_equal(ms_store_release_all(s), 1);
	assert_int_equal(ms_store_ops.alloc(s, 5, 9, idx), 4);
	ms_store_destroy(s);
	unlink(path);
	assert_int_equal(ms_store_create(NULL, BS - 1, BS, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(alloc_lends_distinct_blocks_until_full),
		T(read_returns_what_write_stored_at_any_offset),
		T(ranges_outside_a_block_are_refused_before_sending),
		T(batches_move_many_ranges_in_one_request),
		T(free_gives_blocks_back_and_later_access_is_refused),
		T(another_owner_cannot_touch_my_blocks),
		T(dead_owner_loses_its_blocks),
		T(dead_peer_gives_eio_within_the_deadline),
		T(node_announced_dead_fails_at_once_until_added_again),
		T(hung_peer_times_out_instead_of_hanging),
		T(provider_breaking_the_protocol_gives_eio),
		T(small_read_moves_about_its_size_on_the_wire),
		T(garbage_closes_only_that_connection),
		T(write_with_a_bad_checksum_is_refused),
		T(corrupted_large_write_is_refused_and_closes),
		T(invalid_payloads_are_answered_and_close_the_connection),
		T(connection_is_bound_to_its_first_owner),
		T(threads_each_use_their_own_connection),
#undef T
#define T_SEALED(name) \
	cmocka_unit_test_setup_teardown(name, setup_sealed, teardown)
		T_SEALED(read_returns_what_write_stored_at_any_offset),
		T_SEALED(batches_move_many_ranges_in_one_request),
		T_SEALED(free_gives_blocks_back_and_later_access_is_refused),
		T_SEALED(threads_each_use_their_own_connection),
#undef T_SEALED
		cmocka_unit_test(wrong_key_is_refused),
		cmocka_unit_test(moved_block_tells_where_it_went),
		cmocka_unit_test(file_backed_store_serves_blocks),
	};

	log_init("test-peer", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
