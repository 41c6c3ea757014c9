// SPDX-License-Identifier: MIT
/*
 * Requests in flight on the owner's connections (pool/remote-flight.c),
 * against a provider the test scripts frame by frame over mem://: it runs
 * the real handshake (insecure, or sealed), answers STATUS and PING, keeps
 * a block the owner writes and reads, and holds READs back until the test
 * answers them in the order it chooses, with an id nobody sent, or by
 * resetting every connection; or never answers.
 *
 * What must hold: each reply reaches the caller that asked, whatever the
 * order (also a large read whose pieces the leader receives for itself);
 * a reply to no request in flight is a broken protocol: every call in
 * flight fails with EIO and the node is suspect; a reset with many
 * requests in flight fails them all with EIO at once, not after a
 * deadline; a provider that never answers costs each caller its deadline,
 * no more, and makes the node suspect. Every wait polls with a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "remote.h"
#include "wait-for.h"

/*
 * A block read whole goes as 16 pieces, more than the 8 connections an
 * owner opens at most: some go on the same connection.
 */
#define BS (4u << 20)
#define PIECES 16u
#define PROV 7u
#define OTHER 8u /* a second provider */
#define OWNER 9u
#define MAXC 16 /* connections the fake keeps */
#define MAXQ 64 /* READs it holds back */
#define DEADLINE_MS 10000

enum mode {
	ECHO, /* answer READs at once */
	HOLD, /* keep READs until the test answers them */
	MUTE, /* take WRITEs, answer none */
};

/* A READ held back: its connection (a reference) and request. */
struct held {
	struct server_conn *sc;
	struct wire_hdr h;
	uint32_t off, len;
};

struct fake {
	struct server *srv;
	uint32_t node;
	pthread_mutex_t lock; /* everything below */
	struct server_conn *conns[MAXC];
	unsigned int nconns;
	enum mode mode;
	bool refuse; /* turn new connections away */
	struct held q[MAXQ];
	unsigned int nq;
	unsigned int reordered; /* connections answered newest first */
	uint8_t *block;		/* the one block's bytes */
};

/* The byte a fresh block holds at off. */
static uint8_t pattern(uint32_t off)
{
	return (uint8_t)(off * 7 + (off >> 9));
}

static int answer_status(struct fake *f, struct server_conn *sc,
			 const struct wire_hdr *h)
{
	struct proto_block_status st = {.node = f->node,
					.block_size = BS,
					.total = 1,
					.free = 1,
					.lease_ms = 60000,
					.incarnation = 1};
	uint8_t buf[PROTO_BLOCK_STATUS_REP_SIZE];
	struct iovec iov = {buf, sizeof(buf)};

	assert_true(proto_block_status_encode(&st, buf, sizeof(buf)) > 0);
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

static int answer_read(struct fake *f, struct server_conn *sc,
		       const struct wire_hdr *h, uint32_t off, uint32_t len)
{
	struct iovec iov = {f->block + off, len};

	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

/* A READ or WRITE of the one block. */
static int serve_rw(struct fake *f, struct server_conn *sc,
		    const struct wire_hdr *h)
{
	struct conn *c = server_conn_conn(sc);
	bool write = h->op == WIRE_OP_WRITE;
	uint8_t req[PROTO_BLOCK_RW_SIZE];
	struct proto_block_rw rw;
	int ret = wire_read(c, req, sizeof(req));

	if (ret < 0)
		return ret;
	if (proto_block_rw_decode(req, sizeof(req), h->len, write, BS, &rw) < 0)
		return -EPROTO;
	if (write) {
		/* pieces land in place, whatever their order */
		ret = wire_read(c, f->block + rw.off, rw.len);
		if (ret || f->mode == MUTE)
			return ret;
		return server_reply(sc, h, WIRE_S_OK, NULL, 0);
	}
	pthread_mutex_lock(&f->lock);
	if (f->mode == HOLD) {
		assert_true(f->nq < MAXQ);
		server_conn_get(sc);
		f->q[f->nq++] = (struct held){sc, *h, rw.off, rw.len};
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	pthread_mutex_unlock(&f->lock);
	return answer_read(f, sc, h, rw.off, rw.len);
}

static int fake_handle(void *ctx, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	int ret;

	if (h->op == WIRE_OP_READ || h->op == WIRE_OP_WRITE)
		return serve_rw(ctx, sc, h);
	ret = server_skip_payload(sc, h);
	if (ret < 0)
		return ret;
	if (h->op == WIRE_OP_STATUS)
		return answer_status(ctx, sc, h);
	return server_reply(sc, h, WIRE_S_OK, NULL, 0);
}

static int fake_open(void *ctx, struct server_conn *sc)
{
	struct fake *f = ctx;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	if (f->refuse || f->nconns == MAXC) {
		ret = -ECONNREFUSED;
	} else {
		server_conn_get(sc);
		f->conns[f->nconns++] = sc;
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static void fake_close(void *ctx, struct server_conn *sc)
{
	struct fake *f = ctx;

	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < f->nconns; i++) {
		if (f->conns[i] == sc) {
			f->conns[i] = f->conns[--f->nconns];
			server_conn_put(sc);
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
}

static struct fake *fake_create(struct auth_keyring *key, uint32_t node)
{
	static unsigned int seq;
	struct fake *f = calloc(1, sizeof(*f));
	char addr[64];

	assert_non_null(f);
	f->block = malloc(BS);
	assert_non_null(f->block);
	for (uint32_t i = 0; i < BS; i++)
		f->block[i] = pattern(i);
	pthread_mutex_init(&f->lock, NULL);
	f->node = node;
	snprintf(addr, sizeof(addr), "mem://flight-%d-%u", getpid(), ++seq);
	f->srv = server_create(&(struct server_config){
		.listen_addr = addr,
		.keyring = key,
		.node_id = node,
		.incarnation = 1,
		.name = "fake provider",
		.handle = fake_handle,
		.on_open = fake_open,
		.on_close = fake_close,
		.ctx = f,
	});
	assert_non_null(f->srv);
	return f;
}

/* The held READs of one connection, answered by a thread of their own. */
struct answerer {
	pthread_t thread;
	struct fake *f;
	struct held q[MAXQ];
	unsigned int n;
};

static void *answer_main(void *arg)
{
	struct answerer *a = arg;

	/* newest first: each overtakes the earlier ones */
	for (unsigned int k = a->n; k-- > 0;) {
		answer_read(a->f, a->q[k].sc, &a->q[k].h, a->q[k].off,
			    a->q[k].len);
		server_conn_put(a->q[k].sc);
	}
	return NULL;
}

/*
 * Answers the READs held back, each connection's newest first, on a
 * thread per connection: the owner reads its connections one at a time,
 * so a reply that waits for room on one must not hold up the others.
 * Counts the connections that carried more than one.
 */
static void release(struct fake *f)
{
	static struct answerer a[MAXC];
	unsigned int n, na = 0;
	struct held q[MAXQ];

	pthread_mutex_lock(&f->lock);
	n = f->nq;
	memcpy(q, f->q, n * sizeof(*q));
	f->nq = 0;
	f->mode = ECHO;
	pthread_mutex_unlock(&f->lock);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k = 0;

		while (k < na && a[k].q[0].sc != q[i].sc)
			k++;
		if (k == na)
			a[na++] = (struct answerer){.f = f};
		a[k].q[a[k].n++] = q[i];
	}
	for (unsigned int k = 0; k < na; k++) {
		f->reordered += a[k].n > 1;
		assert_int_equal(
			pthread_create(&a[k].thread, NULL, answer_main, &a[k]),
			0);
	}
	for (unsigned int k = 0; k < na; k++)
		pthread_join(a[k].thread, NULL);
}

/* Drops the held READs unanswered. */
static void forget(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < f->nq; i++)
		server_conn_put(f->q[i].sc);
	f->nq = 0;
	pthread_mutex_unlock(&f->lock);
}

static void fake_destroy(struct fake *f)
{
	if (!f)
		return;
	forget(f);
	server_destroy(f->srv);
	pthread_mutex_destroy(&f->lock);
	free(f->block);
	free(f);
}

struct held_count {
	struct fake *f;
	unsigned int n;
};

static bool holds(void *arg)
{
	struct held_count *hc = arg;
	bool ok;

	pthread_mutex_lock(&hc->f->lock);
	ok = hc->f->nq >= hc->n;
	pthread_mutex_unlock(&hc->f->lock);
	return ok;
}

/* Turns new connections away and closes every one the fake holds. */
static void reset_all(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	f->refuse = true;
	for (unsigned int i = 0; i < f->nconns; i++)
		server_conn_close(f->conns[i]);
	pthread_mutex_unlock(&f->lock);
}

/*
 * True once the fake holds n READs; else (a failing test) it resets
 * everything, so that the readers end and can be joined before the test
 * says so.
 */
static bool wait_held(struct fake *f, unsigned int n)
{
	struct held_count hc = {f, n};

	if (wait_for(holds, &hc, DEADLINE_MS))
		return true;
	reset_all(f);
	return false;
}

/* ---- the owner ---- */

struct fix {
	struct auth_keyring *key;
	struct fake *fake;
	struct fake *other; /* a second provider, OTHER, or NULL */
	struct remote *r;
};

static const struct proto_block_ref REF = {.block = 1, .epoch = 1};

static int setup_with(void **state, bool sealed)
{
	static const struct auth_key key = {{1, 2, 3, 4, 5, 6, 7, 8}};
	struct fix *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	if (sealed) {
		x->key = auth_keyring_create(&key, 1);
		assert_non_null(x->key);
	}
	x->fake = fake_create(x->key, PROV);
	x->r = remote_create(x->key, OWNER, BS);
	assert_non_null(x->r);
	assert_int_equal(remote_add_node(x->r, PROV, server_addr(x->fake->srv)),
			 0);
	remote_set_candidate(x->r, PROV, true);
	*state = x;
	return 0;
}

static int setup_insecure(void **state)
{
	return setup_with(state, false);
}

static int setup_sealed(void **state)
{
	return setup_with(state, true);
}

static int teardown(void **state)
{
	struct fix *x = *state;

	remote_destroy(x->r);
	fake_destroy(x->other);
	fake_destroy(x->fake);
	auth_keyring_destroy(x->key);
	free(x);
	return 0;
}

/* A read on a thread of its own. */
struct reader {
	pthread_t thread;
	struct remote *r;
	uint32_t off, len;
	uint8_t *buf;
	int ret;
	uint64_t ms; /* how long it took */
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	uint64_t t0 = cmp_now_ns();

	rd->ret =
		remote_read(rd->r, PROV, REF, rd->off, rd->buf, rd->len, NULL);
	rd->ms = (cmp_now_ns() - t0) / 1000000;
	return NULL;
}

static void start_read(struct reader *rd, struct remote *r, uint32_t off,
		       uint32_t len)
{
	*rd = (struct reader){.r = r, .off = off, .len = len};
	rd->buf = malloc(len);
	assert_non_null(rd->buf);
	memset(rd->buf, 0xee, len);
	assert_int_equal(pthread_create(&rd->thread, NULL, reader_main, rd), 0);
}

static void join_read(struct reader *rd)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += DEADLINE_MS / 1000;
	assert_int_equal(pthread_timedjoin_np(rd->thread, NULL, &ts), 0);
}

/* The reader got exactly the block's bytes of its range. */
static void assert_read_right(const struct reader *rd)
{
	assert_int_equal(rd->ret, 0);
	for (uint32_t i = 0; i < rd->len; i++)
		if (rd->buf[i] != pattern(rd->off + i))
			fail_msg("read at %u: byte %u wrong", rd->off, i);
}

#define NREADERS 4
#define NSHARING 12 /* more than the 8 connections of a node */

/*
 * Held back and answered newest first: more small reads at once than an
 * owner opens connections (so that some share one), then a whole block,
 * whose pieces its caller receives for itself (likewise more pieces than
 * connections): every caller gets its own bytes.
 */
static void replies_out_of_order_reach_their_callers(void **state)
{
	struct fix *x = *state;
	struct reader rd[NSHARING + 1];
	struct remote_stats st;
	unsigned int reordered;
	bool held[2];

	x->fake->mode = HOLD;
	for (int i = 0; i < NSHARING; i++)
		start_read(&rd[i], x->r, (uint32_t)i * 8192 + 100, 4000);
	held[0] = wait_held(x->fake, NSHARING);
	release(x->fake);
	for (int i = 0; i < NSHARING; i++)
		join_read(&rd[i]);
	reordered = x->fake->reordered;
	x->fake->mode = HOLD;
	start_read(&rd[NSHARING], x->r, 0, BS);
	held[1] = wait_held(x->fake, PIECES);
	release(x->fake);
	join_read(&rd[NSHARING]);
	assert_true(held[0] && held[1]);
	for (int i = 0; i <= NSHARING; i++) {
		assert_read_right(&rd[i]);
		free(rd[i].buf);
	}
	/* on a shared connection, answers overtook earlier requests */
	assert_true(reordered >= 1);
	assert_true(x->fake->reordered > reordered);
	remote_stats(x->r, &st);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.suspects, 0);
}

/* A whole block written in pieces and read back in pieces. */
static void a_block_goes_in_pieces_both_ways(void **state)
{
	struct fix *x = *state;
	uint8_t *src = malloc(BS), *dst = malloc(BS);
	struct remote_stats st0, st1;

	assert_non_null(src);
	assert_non_null(dst);
	for (uint32_t i = 0; i < BS; i++)
		src[i] = (uint8_t)(i * 13 + 5);
	remote_stats(x->r, &st0);
	assert_int_equal(remote_write(x->r, PROV, REF, 0, src, BS, NULL), 0);
	assert_memory_equal(x->fake->block, src, BS);
	memset(dst, 0, BS);
	assert_int_equal(remote_read(x->r, PROV, REF, 0, dst, BS, NULL), 0);
	assert_memory_equal(dst, src, BS);
	remote_stats(x->r, &st1);
	assert_int_equal(st1.requests - st0.requests, 2 * PIECES);
	free(src);
	free(dst);
}

/* remote_rw_blocks() of NBATCH ranges of a MiB on a thread of its own. */
#define NBATCH 4u
#define RANGE (1u << 20)

struct batch_reader {
	pthread_t thread;
	struct remote *r;
	uint8_t *buf[NBATCH];
	int rets[NBATCH], ret;
};

static void *batch_main(void *arg)
{
	struct batch_reader *b = arg;
	struct proto_block_ref refs[NBATCH];

	for (uint32_t i = 0; i < NBATCH; i++)
		refs[i] = (struct proto_block_ref){.block = 1 + i, .epoch = 1};
	b->ret = remote_rw_blocks(b->r, PROV, false, refs, NBATCH, 4096,
				  (void *const *)b->buf, RANGE, b->rets);
	return NULL;
}

/*
 * The pieces of several blocks are in flight together (the evictor's and
 * the prefetch's batches): a provider that holds its READs back holds
 * those of every block at once, and each block gets its own bytes.
 */
static void several_blocks_are_in_flight_at_once(void **state)
{
	struct fix *x = *state;
	struct batch_reader b = {.r = x->r};
	struct remote_stats st0, st1;
	struct timespec ts;
	bool held;

	for (uint32_t i = 0; i < NBATCH; i++) {
		b.buf[i] = malloc(RANGE);
		assert_non_null(b.buf[i]);
		memset(b.buf[i], 0xee, RANGE);
	}
	remote_stats(x->r, &st0);
	x->fake->mode = HOLD;
	assert_int_equal(pthread_create(&b.thread, NULL, batch_main, &b), 0);
	/* four pieces of each block: all of them held at once */
	held = wait_held(x->fake, NBATCH * (RANGE / (256u << 10)));
	release(x->fake);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += DEADLINE_MS / 1000;
	assert_int_equal(pthread_timedjoin_np(b.thread, NULL, &ts), 0);
	assert_true(held);
	assert_int_equal(b.ret, 0);
	for (uint32_t i = 0; i < NBATCH; i++) {
		assert_int_equal(b.rets[i], 0);
		for (uint32_t k = 0; k < RANGE; k++)
			if (b.buf[i][k] != pattern(4096 + k))
				fail_msg("block %u: byte %u wrong", i, k);
		free(b.buf[i]);
	}
	remote_stats(x->r, &st1);
	assert_int_equal(st1.requests - st0.requests,
			 NBATCH * (RANGE / (256u << 10)));
	assert_int_equal(st1.errors, 0);
}

/* Answers the newest held READ with an id nobody sent. */
static void answer_a_stranger(struct fake *f)
{
	struct held h;

	pthread_mutex_lock(&f->lock);
	f->refuse = true; /* nothing gets an answer on a new connection */
	h = f->q[--f->nq];
	pthread_mutex_unlock(&f->lock);
	h.h.id += 1000;
	answer_read(f, h.sc, &h.h, h.off, h.len);
	server_conn_put(h.sc);
}

static void assert_node_failed(struct fix *x, unsigned int calls)
{
	struct remote_stats st;

	remote_stats(x->r, &st);
	assert_true(st.suspects >= 1);
	assert_int_equal(st.errors, calls);
}

/*
 * A reply to no request in flight breaks the protocol: every call in
 * flight fails with EIO (none is retried) and the node is suspect.
 */
static void reply_to_no_request_fails_every_call_and_the_node(void **state)
{
	struct fix *x = *state;
	struct reader rd[NREADERS];

	bool held;

	x->fake->mode = HOLD;
	for (int i = 0; i < NREADERS; i++)
		start_read(&rd[i], x->r, (uint32_t)i * 4096, 512);
	held = wait_held(x->fake, NREADERS);
	if (held)
		answer_a_stranger(x->fake);
	for (int i = 0; i < NREADERS; i++)
		join_read(&rd[i]);
	assert_true(held);
	for (int i = 0; i < NREADERS; i++) {
		assert_int_equal(rd[i].ret, -EIO);
		free(rd[i].buf);
	}
	assert_node_failed(x, NREADERS);
}

/*
 * The provider resets every connection while reads (one of them a whole
 * block in pieces) are in flight: all fail with EIO at once, long before
 * their deadline, and the node is suspect.
 */
static void reset_fails_every_request_in_flight_at_once(void **state)
{
	struct fix *x = *state;
	struct reader rd[NREADERS + 1];
	uint64_t t0;
	bool held;

	remote_set_timeout(x->r, 5000);
	x->fake->mode = HOLD;
	for (int i = 0; i < NREADERS; i++)
		start_read(&rd[i], x->r, (uint32_t)i * 4096, 4096);
	start_read(&rd[NREADERS], x->r, 0, BS);
	/* the small ones and at least one piece of the block */
	held = wait_held(x->fake, NREADERS + 1);
	t0 = cmp_now_ns();
	reset_all(x->fake);
	for (int i = 0; i <= NREADERS; i++)
		join_read(&rd[i]);
	assert_true(held);
	/* a deadline would be 5 s; a loaded machine gets 2 */
	assert_true(cmp_now_ns() - t0 < 2000 * 1000000ull);
	for (int i = 0; i <= NREADERS; i++) {
		assert_int_equal(rd[i].ret, -EIO);
		free(rd[i].buf);
	}
	assert_node_failed(x, NREADERS + 1);
}

/*
 * A provider that takes requests and never answers: each call fails with
 * EIO by its deadline (plus the load's slack), those that came later on
 * a connection no later than theirs, and the node is suspect.
 */
static void silent_provider_costs_each_call_its_deadline(void **state)
{
	struct fix *x = *state;
	const int timeout = 400;
	struct reader rd[NREADERS];
	int started = 0;

	remote_set_timeout(x->r, timeout);
	x->fake->mode = HOLD;
	/* one after the other: each waits behind the earlier ones */
	do
		start_read(&rd[started], x->r, (uint32_t)started * 4096, 4096);
	while (++started < NREADERS && wait_held(x->fake, (unsigned)started));
	for (int i = 0; i < started; i++)
		join_read(&rd[i]);
	assert_int_equal(started, NREADERS);
	for (int i = 0; i < NREADERS; i++) {
		assert_int_equal(rd[i].ret, -EIO);
		if (rd[i].ms > (uint64_t)timeout + 2000)
			fail_msg("read %d failed after %llu ms", i,
				 (unsigned long long)rd[i].ms);
		free(rd[i].buf);
	}
	/* the first one waited for its whole deadline */
	assert_true(rd[0].ms >= (uint64_t)timeout - 10);
	assert_node_failed(x, NREADERS);
}

/*
 * A block's two copies, one on a provider that takes the write and never
 * answers: the write waits for that one's deadline first, then finds the
 * other's reply, in long since, and takes it. The other node stays
 * usable; only the silent one is suspect.
 */
static void a_silent_copy_costs_the_other_copy_nothing(void **state)
{
	struct fix *x = *state;
	const uint32_t nodes[2] = {PROV, OTHER};
	const struct proto_block_ref refs[2] = {REF, REF};
	struct proto_block_moved moved[2];
	struct remote_stats st;
	uint8_t src[4096];
	int rets[2];

	x->other = fake_create(x->key, OTHER);
	assert_int_equal(
		remote_add_node(x->r, OTHER, server_addr(x->other->srv)), 0);
	remote_set_candidate(x->r, OTHER, true);
	remote_set_timeout(x->r, 400);
	memset(src, 0x5a, sizeof(src));
	/* a connection to each, idle: the two go out together */
	for (int i = 0; i < 2; i++)
		assert_int_equal(remote_write(x->r, nodes[i], REF, 0, src,
					      sizeof(src), NULL),
				 0);
	x->fake->mode = MUTE;
	memset(src, 0xa5, sizeof(src));
	remote_write_many(x->r, nodes, refs, 2, 8192, src, sizeof(src), rets,
			  moved);
	assert_int_equal(rets[0], -EIO);
	assert_int_equal(rets[1], 0);
	assert_memory_equal(x->other->block + 8192, src, sizeof(src));
	remote_stats(x->r, &st);
	assert_int_equal(st.suspects, 1);
	assert_int_equal(st.errors, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			replies_out_of_order_reach_their_callers,
			setup_insecure, teardown),
		cmocka_unit_test_setup_teardown(
			replies_out_of_order_reach_their_callers, setup_sealed,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_block_goes_in_pieces_both_ways, setup_insecure,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_block_goes_in_pieces_both_ways, setup_sealed,
			teardown),
		cmocka_unit_test_setup_teardown(
			several_blocks_are_in_flight_at_once, setup_insecure,
			teardown),
		cmocka_unit_test_setup_teardown(
			several_blocks_are_in_flight_at_once, setup_sealed,
			teardown),
		cmocka_unit_test_setup_teardown(
			reply_to_no_request_fails_every_call_and_the_node,
			setup_insecure, teardown),
		cmocka_unit_test_setup_teardown(
			reset_fails_every_request_in_flight_at_once,
			setup_sealed, teardown),
		cmocka_unit_test_setup_teardown(
			silent_provider_costs_each_call_its_deadline,
			setup_insecure, teardown),
		cmocka_unit_test_setup_teardown(
			a_silent_copy_costs_the_other_copy_nothing,
			setup_insecure, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
