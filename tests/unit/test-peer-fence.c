// SPDX-License-Identifier: MIT
/*
 * A write whose connection broke (issue 9). The owner's block client sends
 * an idempotent call once more on another connection when its own broke
 * (reset, closed); but the provider may still hold part of the old WRITE
 * (in a socket buffer, or half copied by that connection's thread), and
 * that part, copied late, lands on the write sent again or on a newer
 * one: acknowledged data replaced by older data. So before a write goes
 * again the owner sends FENCE naming the broken connection (its
 * conn_session_id(), the same on both ends), and the provider ends that
 * connection and waits for its thread before it answers. Writes
 * themselves never wait.
 *
 * Over mem:// against the peer fixture: hand-made frames on raw
 * connections for the provider's side; for the owner's side, its client
 * with every frame send wrapped (-Wl,--wrap=conn_writev): an armed cut
 * sends only the header and half the payload of the next request of a
 * given opcode and reports the connection reset, while a duplicate of the
 * socket keeps the provider's end open, so the test delivers the rest of
 * the frame when it likes, as a late socket buffer or a descheduled
 * thread would. The provider's handshakes can be held before they settle
 * (-Wl,--wrap=server_settle), as a descheduled thread would hold them.
 * Every wait polls a condition with a deadline.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/log.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "peer-fixture.h"
#include "wait-for.h"

#define NBLOCKS 16u
#define DEADLINE_MS 10000
#define MAX_FRAME (WIRE_HDR_SIZE + PROTO_BLOCK_MAX_BATCH_HDR + 2 * BS)
#define MAX_CUTS 2
#define MAX_SENT 16

/* ---- the owner's sends, wrapped ---- */

static struct {
	pthread_mutex_t lock;	  /* everything here */
	uint8_t cut_op[MAX_CUTS]; /* cut these, in turn; 0: no more */
	unsigned int ncut;
	int fd[MAX_CUTS]; /* duplicates of the cut connections' sockets */
	uint8_t frame[MAX_CUTS][MAX_FRAME];
	size_t half[MAX_CUTS], len[MAX_CUTS];
	uint8_t sent[MAX_SENT]; /* data path requests sent, in order */
	unsigned int nsent;
} wrap = {.lock = PTHREAD_MUTEX_INITIALIZER};

int __real_conn_writev(struct conn *c, const struct iovec *iov, int iovcnt);
int __wrap_conn_writev(struct conn *c, const struct iovec *iov, int iovcnt);

static bool data_path(uint8_t op)
{
	return op == WIRE_OP_READ || op == WIRE_OP_WRITE ||
	       op == WIRE_OP_WRITE_BATCH || op == WIRE_OP_FENCE;
}

/* Sends the header and half the payload of the frame; keeps the rest. */
static int cut_locked(struct conn *c, const struct iovec *iov, int iovcnt)
{
	unsigned int k = wrap.ncut++;
	struct iovec first;
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++) {
		assert_true(len + iov[i].iov_len <= MAX_FRAME);
		memcpy(wrap.frame[k] + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	wrap.len[k] = len;
	wrap.half[k] = WIRE_HDR_SIZE + (len - WIRE_HDR_SIZE) / 2;
	wrap.fd[k] = dup(conn_fd(c));
	assert_true(wrap.fd[k] >= 0);
	first = (struct iovec){wrap.frame[k], wrap.half[k]};
	assert_int_equal(__real_conn_writev(c, &first, 1), 0);
	return -ECONNRESET;
}

int __wrap_conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct wire_hdr h;
	int ret = 1;

	if (iovcnt < 1 || iov[0].iov_len != WIRE_HDR_SIZE ||
	    wire_hdr_decode(iov[0].iov_base, &h) || (h.flags & WIRE_F_REPLY) ||
	    !data_path(h.op))
		return __real_conn_writev(c, iov, iovcnt);
	pthread_mutex_lock(&wrap.lock);
	if (wrap.nsent < MAX_SENT)
		wrap.sent[wrap.nsent++] = h.op;
	if (wrap.ncut < MAX_CUTS && wrap.cut_op[wrap.ncut] == h.op)
		ret = cut_locked(c, iov, iovcnt);
	pthread_mutex_unlock(&wrap.lock);
	return ret == 1 ? __real_conn_writev(c, iov, iovcnt) : ret;
}

/* The next requests of these opcodes (then none) go out cut. */
static void arm_cuts(uint8_t first, uint8_t second)
{
	pthread_mutex_lock(&wrap.lock);
	wrap.cut_op[0] = first;
	wrap.cut_op[1] = second;
	wrap.ncut = 0;
	wrap.nsent = 0;
	pthread_mutex_unlock(&wrap.lock);
}

static unsigned int cuts(void)
{
	unsigned int n;

	pthread_mutex_lock(&wrap.lock);
	n = wrap.ncut;
	pthread_mutex_unlock(&wrap.lock);
	return n;
}

/* The data path requests sent since arm_cuts() are exactly ops[0..n). */
static void expect_sent(const uint8_t *ops, unsigned int n)
{
	pthread_mutex_lock(&wrap.lock);
	assert_int_equal(wrap.nsent, n);
	assert_memory_equal(wrap.sent, ops, n);
	pthread_mutex_unlock(&wrap.lock);
}

/*
 * The rest of cut frame k reaches the provider now, if its end is still
 * open. True when the provider then served the frame (its reply came),
 * false when it had closed that connection.
 */
static bool deliver_rest(unsigned int k)
{
	struct pollfd pfd = {.fd = wrap.fd[k], .events = POLLIN};
	uint8_t hdr[WIRE_HDR_SIZE];
	size_t got = 0;
	ssize_t n;

	(void)send(wrap.fd[k], wrap.frame[k] + wrap.half[k],
		   wrap.len[k] - wrap.half[k], MSG_NOSIGNAL);
	while (got < sizeof(hdr)) {
		assert_int_equal(poll(&pfd, 1, DEADLINE_MS), 1);
		n = read(wrap.fd[k], hdr + got, sizeof(hdr) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(wrap.fd[k]);
	return got == sizeof(hdr);
}

/*
 * Handshakes settling late (-Wl,--wrap=server_settle): when held, the next
 * connection the provider accepts has finished its handshake (the client
 * has its answer) but its thread waits, before it knows its node, until
 * the test releases it.
 */
struct server;
struct server_conn;
int __real_server_settle(struct server *s, struct server_conn *sc, int ret);
int __wrap_server_settle(struct server *s, struct server_conn *sc, int ret);

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool hold, held;
} settle = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

int __wrap_server_settle(struct server *s, struct server_conn *sc, int ret)
{
	pthread_mutex_lock(&settle.lock);
	if (settle.hold) {
		settle.held = true;
		while (settle.hold)
			pthread_cond_wait(&settle.cond, &settle.lock);
		settle.held = false;
	}
	pthread_mutex_unlock(&settle.lock);
	return __real_server_settle(s, sc, ret);
}

static void hold_settle(bool hold)
{
	pthread_mutex_lock(&settle.lock);
	settle.hold = hold;
	pthread_cond_broadcast(&settle.cond);
	pthread_mutex_unlock(&settle.lock);
}

static bool settle_held(void *arg)
{
	bool held;

	(void)arg;
	pthread_mutex_lock(&settle.lock);
	held = settle.held;
	pthread_mutex_unlock(&settle.lock);
	return held;
}

/* ---- the fixture ---- */

static int setup(void **state)
{
	*state = fixture_create(&(struct fixture_config){.nblocks = NBLOCKS});
	arm_cuts(0, 0);
	return 0;
}

static int teardown(void **state)
{
	hold_settle(false); /* a failed test may have left one held */
	fixture_destroy(*state);
	return 0;
}

static bool two_connections(void *arg)
{
	struct remote_stats st;

	remote_stats(arg, &st);
	return st.connects >= 2;
}

/* A loan, and a second idle connection to send a call again on. */
static struct proto_block_ref borrow_with_spare(struct fixture *f)
{
	struct proto_block_ref ref = borrow_one(f->r);

	assert_true(wait_for(two_connections, f->r, DEADLINE_MS));
	return ref;
}

static uint64_t fenced(struct fixture *f)
{
	struct server_stats st;

	peer_get_server_stats(f->peer, &st);
	return st.fenced;
}

struct settled {
	struct fixture *f;
	uint32_t authed;
};

static bool all_settled(void *arg)
{
	struct settled *want = arg;
	struct server_stats st;

	peer_get_server_stats(want->f->peer, &st);
	return st.authed == want->authed && !st.unauth;
}

static bool a_fence_waits(void *arg)
{
	struct fixture *f = arg;
	struct server_stats st;

	peer_get_server_stats(f->peer, &st);
	return st.fencing == 1;
}

/* ---- raw frames ---- */

/* A WRITE of [off, off + len) of ref from pattern seed, into pl. */
static size_t write_range_req(uint8_t *pl, struct proto_block_ref ref,
			      uint32_t off, uint32_t len, unsigned int seed)
{
	struct proto_block_rw rw = {ref.block, ref.epoch, off, len};

	proto_block_rw_encode(&rw, pl, PROTO_BLOCK_RW_SIZE);
	fill(pl + PROTO_BLOCK_RW_SIZE, len, seed);
	return PROTO_BLOCK_RW_SIZE + len;
}

/* The same of the whole of ref. */
static size_t write_req(uint8_t *pl, struct proto_block_ref ref,
			unsigned int seed)
{
	return write_range_req(pl, ref, 0, BS, seed);
}

/* A WRITE_BATCH of the whole of a and b from patterns seed, seed + 1. */
static size_t batch_req(uint8_t *pl, struct proto_block_ref a,
			struct proto_block_ref b, unsigned int seed)
{
	struct proto_block_extent ext[2] = {{a.block, a.epoch, 0, BS},
					    {b.block, b.epoch, 0, BS}};
	int n = proto_block_batch_encode(ext, 2, pl, PROTO_BLOCK_MAX_BATCH_HDR);

	assert_true(n > 0);
	fill(pl + n, BS, seed);
	fill(pl + n + BS, BS, seed + 1);
	return (size_t)n + 2 * BS;
}

/* A request frame sent half way on c; the rest is pl[at..len). */
struct half {
	struct conn *c;
	const uint8_t *pl;
	size_t at, len;
};

/* Sends the header and the first half of the payload. */
static struct half send_half(struct conn *c, uint8_t op, const uint8_t *pl,
			     size_t len)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	struct wire_hdr h = {.op = op, .id = 9, .len = len};
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)pl, len / 2}};

	h.csum = wire_csum(&(struct iovec){(void *)pl, len}, 1);
	wire_hdr_encode(&h, hdr);
	assert_int_equal(conn_writev(c, iov, 2), 0);
	return (struct half){c, pl, len / 2, len};
}

/* The rest, if anyone still reads it. */
static void send_rest(const struct half *hf)
{
	struct iovec iov = {(void *)(hf->pl + hf->at), hf->len - hf->at};

	(void)conn_writev(hf->c, &iov, 1);
}

static uint32_t raw_fence(struct conn *c, uint64_t session)
{
	uint8_t pl[PROTO_BLOCK_FENCE_SIZE];

	memset(pl, 0, sizeof(pl));
	if (session)
		proto_block_fence_encode(session, pl, sizeof(pl));
	return raw_call(c, WIRE_OP_FENCE, pl, sizeof(pl), NULL, 0, NULL);
}

/*
 * READ of [off, off + len) of ref on c: 1 when it holds pattern seed (as
 * write_range_req() wrote it), 0 when not, -EBADMSG when the reply's
 * checksum tore (a write into that range in progress: plain frames
 * checksum a block being copied into).
 */
static int range_is(struct conn *c, struct proto_block_ref ref, uint32_t off,
		    uint32_t len, unsigned int seed)
{
	static uint8_t want[BS], out[BS];
	struct proto_block_rw rw = {ref.block, ref.epoch, off, len};
	uint8_t pl[PROTO_BLOCK_RW_SIZE];
	struct iovec q = {pl, sizeof(pl)}, r = {out, len};
	struct wire_hdr h = {.op = WIRE_OP_READ, .id = 3};
	int ret;

	proto_block_rw_encode(&rw, pl, sizeof(pl));
	assert_int_equal(wire_send(c, &h, &q, 1), 0);
	assert_int_equal(wire_recv_hdr(c, &h), 0);
	assert_int_equal(h.status, WIRE_S_OK);
	assert_int_equal(h.len, len);
	ret = wire_recv_payload(c, &h, &r, 1);
	if (ret == -EBADMSG)
		return ret;
	assert_int_equal(ret, 0);
	fill(want, BS, seed);
	return !memcmp(out, want, len);
}

struct prefix {
	struct fixture *f;
	struct proto_block_ref ref;
	unsigned int seed;
	uint32_t len;
};

/* One look, on a connection of its own (a torn reply closes it). */
static bool holds_prefix(void *arg)
{
	struct prefix *p = arg;
	struct conn *c = raw_connect(p->f, OWNER);
	int ret = range_is(c, p->ref, 0, p->len, p->seed);

	conn_destroy(c);
	return ret == 1;
}

/*
 * Waits until the first len bytes of ref are pattern seed's: the write
 * carrying them is (at least) that far.
 */
static void wait_copied(struct fixture *f, struct proto_block_ref ref,
			unsigned int seed, uint32_t len)
{
	struct prefix p = {f, ref, seed, len};

	assert_true(wait_for(holds_prefix, &p, DEADLINE_MS));
}

/* [off, off + len) of ref holds pattern seed (no write into it now). */
static bool raw_range_is(struct conn *c, struct proto_block_ref ref,
			 uint32_t off, uint32_t len, unsigned int seed)
{
	int ret = range_is(c, ref, off, len, seed);

	assert_true(ret >= 0);
	return ret;
}

static bool raw_block_is(struct conn *c, struct proto_block_ref ref,
			 unsigned int seed)
{
	return raw_range_is(c, ref, 0, BS, seed);
}

static void raw_write_block(struct conn *c, struct proto_block_ref ref,
			    unsigned int seed)
{
	static uint8_t pl[PROTO_BLOCK_RW_SIZE + BS];
	size_t len = write_req(pl, ref, seed);

	assert_int_equal(raw_call(c, WIRE_OP_WRITE, pl, len, NULL, 0, NULL),
			 WIRE_S_OK);
}

/*
 * A FENCE of old was answered OK: old is over, so a write of pattern seed
 * on fresh stays, whatever old still had to deliver. Closes both.
 */
static void fenced_then_written(struct fixture *f, struct half *old,
				struct conn *fresh, struct proto_block_ref ref,
				unsigned int seed)
{
	assert_int_equal(fenced(f), 1);
	assert_true(closed_by_peer(old->c));
	raw_write_block(fresh, ref, seed);
	send_rest(old);
	assert_true(raw_block_is(fresh, ref, seed));
	conn_destroy(old->c);
	conn_destroy(fresh);
}

/* ---- the provider's side ---- */

/*
 * An owner's WRITE stops half way on its old connection, whose thread has
 * copied half of it into the block and waits for the rest. The owner
 * fences that connection from a fresh one: by the answer the old one is
 * over, so the write sent again, and anything after it, stays.
 */
static void
a_fence_ends_the_broken_connection_before_its_write_lands(void **state)
{
	static uint8_t pl[PROTO_BLOCK_RW_SIZE + BS];
	struct fixture *f = *state;
	struct proto_block_ref mine = borrow_one(f->r);
	struct conn *fresh = raw_connect(f, OWNER);
	struct half old = send_half(raw_connect(f, OWNER), WIRE_OP_WRITE, pl,
				    write_req(pl, mine, 50));

	/* the old thread holds the block, half of the bytes in it */
	wait_copied(f, mine, 50, old.at - PROTO_BLOCK_RW_SIZE);
	assert_int_equal(raw_fence(fresh, conn_session_id(old.c)), WIRE_S_OK);
	fenced_then_written(f, &old, fresh, mine, 51);
}

static void a_fence_ends_a_half_sent_write_batch(void **state)
{
	static uint8_t pl[PROTO_BLOCK_MAX_BATCH_HDR + 2 * BS],
		again[sizeof(pl)];
	struct fixture *f = *state;
	struct proto_block_ref a = borrow_one(f->r), b = borrow_one(f->r);
	struct conn *fresh = raw_connect(f, OWNER);
	struct half old = send_half(raw_connect(f, OWNER), WIRE_OP_WRITE_BATCH,
				    pl, batch_req(pl, a, b, 52));

	wait_copied(f, a, 52, old.at - (old.len - 2 * BS));
	assert_int_equal(raw_fence(fresh, conn_session_id(old.c)), WIRE_S_OK);
	assert_int_equal(fenced(f), 1);
	assert_true(closed_by_peer(old.c));
	assert_int_equal(batch_req(again, a, b, 54), old.len);
	assert_int_equal(raw_call(fresh, WIRE_OP_WRITE_BATCH, again, old.len,
				  NULL, 0, NULL),
			 WIRE_S_OK);
	send_rest(&old);
	assert_true(raw_block_is(fresh, a, 54));
	assert_true(raw_block_is(fresh, b, 55));
	conn_destroy(old.c);
	conn_destroy(fresh);
}

/*
 * A fence ends the one connection it names, of its own node only: the
 * owner's other connection in the middle of a write finishes it, another
 * node's connection lives on, and a name nobody has is answered at once.
 */
static void a_fence_ends_only_the_connection_it_names(void **state)
{
	static uint8_t pl[PROTO_BLOCK_RW_SIZE + BS], busy_pl[sizeof(pl)];
	struct fixture *f = *state;
	struct proto_block_ref a = borrow_one(f->r), b = borrow_one(f->r);
	struct conn *theirs = raw_connect(f, OTHER);
	struct conn *fresh = raw_connect(f, OWNER);
	struct half old = send_half(raw_connect(f, OWNER), WIRE_OP_WRITE, pl,
				    write_req(pl, a, 60));
	struct half busy = send_half(raw_connect(f, OWNER), WIRE_OP_WRITE,
				     busy_pl, write_req(busy_pl, b, 61));
	struct wire_hdr h;

	wait_copied(f, b, 61, busy.at - PROTO_BLOCK_RW_SIZE);
	assert_int_equal(raw_fence(fresh, conn_session_id(theirs)), WIRE_S_OK);
	assert_int_equal(raw_fence(fresh, 0x5eed5eed5eedull), WIRE_S_OK);
	assert_int_equal(fenced(f), 0);
	assert_int_equal(raw_fence(fresh, conn_session_id(old.c)), WIRE_S_OK);
	assert_int_equal(fenced(f), 1);
	assert_true(closed_by_peer(old.c));
	/* the others never noticed */
	send_rest(&busy);
	assert_int_equal(wire_recv_hdr(busy.c, &h), 0);
	assert_int_equal(h.status, WIRE_S_OK);
	assert_true(raw_block_is(fresh, b, 61));
	assert_int_equal(raw_call(theirs, WIRE_OP_PING, NULL, 0, NULL, 0, NULL),
			 WIRE_S_OK);
	send_rest(&old);
	conn_destroy(old.c);
	conn_destroy(busy.c);
	conn_destroy(theirs);
	conn_destroy(fresh);
}

/*
 * The owner's connection broke so soon after its handshake that the
 * provider's thread for it has not settled yet: it does not know its node,
 * and the half WRITE waits in its socket. The fence waits for it to
 * settle, then ends it.
 */
static void a_fence_waits_for_a_handshake_that_has_not_settled(void **state)
{
	static uint8_t pl[PROTO_BLOCK_RW_SIZE + BS];
	struct fixture *f = *state;
	struct proto_block_ref mine = borrow_with_spare(f);
	struct conn *fresh = raw_connect(f, OWNER);
	uint8_t fence[PROTO_BLOCK_FENCE_SIZE];
	struct iovec iov = {fence, sizeof(fence)};
	struct wire_hdr h = {.op = WIRE_OP_FENCE, .id = 4};
	struct settled others = {f, 3}; /* the owner's two, and fresh */
	struct half old;

	/* so that the one held is old's */
	assert_true(wait_for(all_settled, &others, DEADLINE_MS));
	hold_settle(true);
	old.c = raw_connect(f, OWNER);
	assert_true(wait_for(settle_held, NULL, DEADLINE_MS));
	old = send_half(old.c, WIRE_OP_WRITE, pl, write_req(pl, mine, 56));
	proto_block_fence_encode(conn_session_id(old.c), fence, sizeof(fence));
	assert_int_equal(wire_send(fresh, &h, &iov, 1), 0);
	assert_true(wait_for(a_fence_waits, f, DEADLINE_MS));
	hold_settle(false);
	assert_int_equal(wire_recv_hdr(fresh, &h), 0);
	assert_int_equal(h.status, WIRE_S_OK);
	fenced_then_written(f, &old, fresh, mine, 57);
}

/* Fencing is for owners, and names a connection. */
static void a_fence_needs_an_owner_and_a_session(void **state)
{
	struct fixture *f = *state;
	struct conn *tool = raw_connect(f, TOOL);
	struct conn *mine = raw_connect(f, OWNER);

	assert_int_equal(raw_fence(tool, conn_session_id(mine)), WIRE_S_PERM);
	assert_int_equal(raw_call(tool, WIRE_OP_PING, NULL, 0, NULL, 0, NULL),
			 WIRE_S_OK);
	assert_int_equal(raw_call(mine, WIRE_OP_PING, NULL, 0, NULL, 0, NULL),
			 WIRE_S_OK);
	assert_int_equal(raw_fence(mine, 0), WIRE_S_INVAL);
	assert_true(closed_by_peer(mine));
	assert_int_equal(fenced(f), 0);
	conn_destroy(tool);
	conn_destroy(mine);
}

/*
 * The normal path: a WRITE never waits for another one on its block (here
 * into the other half), and fences nothing.
 */
static void a_write_never_waits_for_another_on_its_block(void **state)
{
	static uint8_t pl[PROTO_BLOCK_RW_SIZE + BS], other[sizeof(pl)];
	struct fixture *f = *state;
	struct proto_block_ref mine = borrow_one(f->r);
	struct conn *fresh = raw_connect(f, OWNER);
	struct half old = send_half(raw_connect(f, OWNER), WIRE_OP_WRITE, pl,
				    write_range_req(pl, mine, 0, BS / 2, 70));
	size_t len = write_range_req(other, mine, BS / 2, BS / 2, 71);
	struct wire_hdr h;

	wait_copied(f, mine, 70, old.at - PROTO_BLOCK_RW_SIZE);
	assert_int_equal(
		raw_call(fresh, WIRE_OP_WRITE, other, len, NULL, 0, NULL),
		WIRE_S_OK);
	send_rest(&old);
	assert_int_equal(wire_recv_hdr(old.c, &h), 0);
	assert_int_equal(h.status, WIRE_S_OK);
	assert_int_equal(fenced(f), 0);
	assert_true(raw_range_is(fresh, mine, 0, BS / 2, 70));
	assert_true(raw_range_is(fresh, mine, BS / 2, BS / 2, 71));
	conn_destroy(old.c);
	conn_destroy(fresh);
}

/* ---- the owner's side ---- */

/*
 * The owner's WRITE breaks half sent; the client sends it again (after a
 * FENCE of the broken connection), then a newer write over it; then the
 * rest of the first frame reaches the provider. The newer data stays.
 */
static void
a_write_sent_again_cannot_be_overtaken_by_its_first_try(void **state)
{
	static uint8_t w1[BS], w2[BS], out[BS];
	static const uint8_t sent[] = {WIRE_OP_WRITE, WIRE_OP_FENCE,
				       WIRE_OP_WRITE, WIRE_OP_WRITE,
				       WIRE_OP_READ};
	struct fixture *f = *state;
	struct proto_block_ref mine = borrow_with_spare(f);
	bool late;

	fill(w1, BS, 80);
	fill(w2, BS, 81);
	arm_cuts(WIRE_OP_WRITE, 0);
	assert_int_equal(remote_write(f->r, PROVIDER, mine, 0, w1, BS, NULL),
			 0);
	assert_int_equal(cuts(), 1);
	assert_int_equal(remote_write(f->r, PROVIDER, mine, 0, w2, BS, NULL),
			 0);
	late = deliver_rest(0);
	assert_int_equal(remote_read(f->r, PROVIDER, mine, 0, out, BS, NULL),
			 0);
	assert_memory_equal(out, w2, BS);
	assert_false(late); /* the provider had ended that connection */
	expect_sent(sent, sizeof(sent));
	assert_true(remote_node_usable(f->r, PROVIDER));
}

static void a_write_batch_sent_again_cannot_be_overtaken(void **state)
{
	static uint8_t w1[2 * BS], w2[2 * BS], out[2 * BS];
	struct fixture *f = *state;
	struct proto_block_ref a = borrow_one(f->r), b = borrow_with_spare(f);
	struct proto_block_extent ext[2] = {{a.block, a.epoch, 0, BS},
					    {b.block, b.epoch, 0, BS}};
	struct iovec v1 = {w1, sizeof(w1)}, v2 = {w2, sizeof(w2)};
	struct iovec vo = {out, sizeof(out)};
	bool late;

	fill(w1, sizeof(w1), 82);
	fill(w2, sizeof(w2), 83);
	arm_cuts(WIRE_OP_WRITE_BATCH, 0);
	assert_int_equal(
		remote_write_batch(f->r, PROVIDER, ext, 2, &v1, 1, NULL), 0);
	assert_int_equal(cuts(), 1);
	assert_int_equal(
		remote_write_batch(f->r, PROVIDER, ext, 2, &v2, 1, NULL), 0);
	late = deliver_rest(0);
	assert_int_equal(
		remote_read_batch(f->r, PROVIDER, ext, 2, &vo, 1, NULL), 0);
	assert_memory_equal(out, w2, sizeof(out));
	assert_false(late);
}

/* A late READ undoes nothing: it goes again without a fence. */
static void a_broken_read_is_sent_again_without_a_fence(void **state)
{
	static uint8_t in[BS], out[BS];
	static const uint8_t sent[] = {WIRE_OP_WRITE, WIRE_OP_READ,
				       WIRE_OP_READ};
	struct fixture *f = *state;
	struct proto_block_ref mine = borrow_with_spare(f);

	fill(in, BS, 84);
	arm_cuts(WIRE_OP_READ, 0);
	assert_int_equal(remote_write(f->r, PROVIDER, mine, 0, in, BS, NULL),
			 0);
	assert_int_equal(remote_read(f->r, PROVIDER, mine, 0, out, BS, NULL),
			 0);
	assert_memory_equal(out, in, BS);
	assert_int_equal(cuts(), 1);
	expect_sent(sent, sizeof(sent));
	close(wrap.fd[0]);
	assert_int_equal(fenced(f), 0);
}

/*
 * When the fence itself fails, the old write may still land: it is not
 * sent again, the call fails with EIO and the node is suspect (its
 * reconnect fences all the old connections).
 */
static void a_write_whose_fence_failed_is_not_sent_again(void **state)
{
	static uint8_t w1[BS];
	static const uint8_t sent[] = {WIRE_OP_WRITE, WIRE_OP_FENCE};
	struct fixture *f = *state;
	struct proto_block_ref mine = borrow_with_spare(f);
	struct remote_stats st;

	fill(w1, BS, 85);
	arm_cuts(WIRE_OP_WRITE, WIRE_OP_FENCE);
	assert_int_equal(remote_write(f->r, PROVIDER, mine, 0, w1, BS, NULL),
			 -EIO);
	assert_int_equal(cuts(), 2);
	expect_sent(sent, sizeof(sent));
	remote_stats(f->r, &st);
	assert_int_equal(st.suspects, 1);
	close(wrap.fd[0]);
	close(wrap.fd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(a_fence_ends_the_broken_connection_before_its_write_lands),
		T(a_fence_ends_a_half_sent_write_batch),
		T(a_fence_ends_only_the_connection_it_names),
		T(a_fence_waits_for_a_handshake_that_has_not_settled),
		T(a_fence_needs_an_owner_and_a_session),
		T(a_write_never_waits_for_another_on_its_block),
		T(a_write_sent_again_cannot_be_overtaken_by_its_first_try),
		T(a_write_batch_sent_again_cannot_be_overtaken),
		T(a_broken_read_is_sent_again_without_a_fence),
		T(a_write_whose_fence_failed_is_not_sent_again),
#undef T
	};

	log_init("test-peer-fence", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
