// SPDX-License-Identifier: MIT
/*
 * The block data path over sealed connections, end to end over mem://: the
 * peer service serving a RAM store and the owner-side client, both holding
 * the cluster key, and a man in the middle between them who flips a bit
 * anywhere in a sealed WRITE (header, data, tag, first or later record) or
 * replays an old WRITE after a newer one. The provider must refuse, close
 * the connection, and change no block byte the tampered record carried; in
 * insecure mode the same replay goes through, which is why sealing exists.
 */
#include <errno.h>
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

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/peer.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "proto_block.h"
#include "remote.h"
#include "store.h"

#define BS (64u << 10)
#define NBLOCKS 8u
#define PROVIDER 7u
#define VIA_MITM 8u /* the same provider, reached through the relay */
#define OWNER 100u
/* the owner's handshake frames: HELLO, and AUTH when keyed */
#define HANDSHAKE_FRAMES(sealed) ((sealed) ? 2 : 1)

struct fixture {
	struct auth_keyring *kr;
	struct ms_store *store;
	struct peer *peer;
	struct remote *r;
};

static int setup_keyed(void **state, bool sealed)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct auth_key k;
	struct peer_config cfg = {
		.listen_addr = "mem://",
		.node_id = PROVIDER,
		.block_size = BS,
		.ops = &ms_store_ops,
	};

	assert_non_null(f);
	memset(&k, 0x5c, sizeof(k));
	if (sealed) {
		f->kr = auth_keyring_create(&k, 1);
		assert_non_null(f->kr);
	}
	assert_int_equal(ms_store_create(NULL, NBLOCKS * BS, BS, &f->store), 0);
	cfg.ctx = f->store;
	cfg.keyring = f->kr;
	f->peer = peer_create(&cfg);
	assert_non_null(f->peer);
	f->r = remote_create(f->kr, OWNER, BS);
	assert_non_null(f->r);
	remote_set_timeout(f->r, 2000);
	assert_int_equal(
		remote_add_node(f->r, PROVIDER, peer_listen_addr(f->peer)), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_keyed(state, true);
}

static int setup_insecure(void **state)
{
	return setup_keyed(state, false);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	remote_destroy(f->r);
	peer_destroy(f->peer);
	ms_store_destroy(f->store);
	auth_keyring_destroy(f->kr);
	free(f);
	return 0;
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static struct proto_block_ref alloc_one(struct fixture *f)
{
	struct proto_block_ref ref;
	uint32_t got;

	assert_int_equal(remote_alloc(f->r, PROVIDER, 1, &ref, &got), 0);
	assert_int_equal(got, 1);
	return ref;
}

/* ---- the man in the middle ---- */

/*
 * Relays one owner connection to the peer. Frames from the owner are
 * forwarded whole; the sealed one numbered `target` (0: the first after
 * the handshake) gets one bit flipped at byte flip_at of its wire bytes,
 * or is followed by the sealed frame numbered `replay` once more.
 */
struct mitm {
	struct conn_listener *l;
	const char *to;
	struct fixture *f;
	pthread_t c2s, s2c;
	struct conn *a, *b; /* the owner's side, the peer's side */
	bool sealed;
	unsigned int target;
	long flip_at; /* < 0: none */
	long replay;  /* < 0: none */
	uint8_t *saved;
	size_t saved_len;
};

static void *pump_s2c(void *arg)
{
	struct mitm *m = arg;
	uint8_t buf[16384];
	bool ok = true;
	ssize_t n;

	/*
	 * Until the peer closes, even when the owner is gone: once this
	 * ends, the peer has served every frame relayed to it.
	 */
	while ((n = read(conn_fd(m->b), buf, sizeof(buf))) > 0) {
		struct iovec iov = {buf, (size_t)n};

		if (ok)
			ok = conn_writev(m->a, &iov, 1) == 0;
	}
	conn_shutdown(m->a);
	return NULL;
}

/* One frame from the owner: header, payload or records. NULL at the end. */
static uint8_t *next_frame(struct mitm *m, bool sealed, size_t *n)
{
	uint8_t hdr[WIRE_HDR_SIZE], *frame;
	uint32_t len;
	size_t wire;

	if (conn_read(m->a, hdr, sizeof(hdr)))
		return NULL;
	memcpy(&len, hdr + 12, 4);
	wire = len;
	if (sealed)
		wire += (len ? (len + WIRE_RECORD_SIZE - 1) / WIRE_RECORD_SIZE
			     : 1) *
			WIRE_TAG_SIZE;
	frame = malloc(sizeof(hdr) + wire);
	assert_non_null(frame);
	memcpy(frame, hdr, sizeof(hdr));
	if (conn_read(m->a, frame + sizeof(hdr), wire)) {
		free(frame);
		return NULL;
	}
	*n = sizeof(hdr) + wire;
	return frame;
}

static void forward(struct mitm *m, const uint8_t *p, size_t n)
{
	struct iovec iov = {(void *)p, n};

	conn_writev(m->b, &iov, 1);
}

static void *relay_c2s(void *arg)
{
	struct mitm *m = arg;
	unsigned int i;
	uint8_t *frame;
	long k;
	size_t n;

	/*
	 * k counts the owner's WRITE frames after the handshake (the op is
	 * in the clear header): the frames the client sends on its own
	 * (STATUS on connect, PING) are relayed untouched.
	 */
	for (i = 0, k = -1;; i++) {
		bool after_hs = i >= HANDSHAKE_FRAMES(m->sealed);
		bool sealed = m->sealed && after_hs;

		frame = next_frame(m, sealed, &n);
		if (!frame)
			break;
		if (!after_hs || frame[5] != WIRE_OP_WRITE) {
			forward(m, frame, n);
			free(frame);
			continue;
		}
		k++;
		if (k == (long)m->target && m->flip_at >= 0)
			frame[m->flip_at] ^= 0x10;
		forward(m, frame, n);
		if (k == (long)m->target && m->saved)
			forward(m, m->saved, m->saved_len);
		if (k == m->replay) {
			m->saved = frame;
			m->saved_len = n;
		} else {
			free(frame);
		}
	}
	/*
	 * Half close: the peer reads every frame relayed, then closes, and
	 * only then does pump_s2c() see the end (a full shutdown here would
	 * end it at once, before the peer served the last frames).
	 */
	shutdown(conn_fd(m->b), SHUT_WR);
	return NULL;
}

static void *mitm_main(void *arg)
{
	struct mitm *m = arg;

	if (conn_accept(m->l, &m->a) || conn_connect(m->to, 1000, &m->b))
		return NULL;
	if (pthread_create(&m->s2c, NULL, pump_s2c, m))
		return NULL;
	relay_c2s(m);
	pthread_join(m->s2c, NULL);
	return NULL;
}

static void mitm_start(struct mitm *m, struct fixture *f)
{
	m->f = f;
	m->sealed = f->kr != NULL;
	m->to = peer_listen_addr(f->peer);
	assert_int_equal(conn_listen("mem://", &m->l), 0);
	assert_int_equal(pthread_create(&m->c2s, NULL, mitm_main, m), 0);
	assert_int_equal(
		remote_add_node(f->r, VIA_MITM, conn_listener_addr(m->l)), 0);
}

/* Returns once the peer has served all the relay gave it. */
static void mitm_stop(struct mitm *m)
{
	/* closes the owner's connections through the relay: it ends */
	remote_node_dead(m->f->r, VIA_MITM);
	pthread_join(m->c2s, NULL);
	conn_destroy(m->a);
	conn_destroy(m->b);
	conn_listener_destroy(m->l);
	free(m->saved);
}

/* ---- the tests ---- */

static void sealed_data_path_works(void **state)
{
	struct fixture *f = *state;
	static uint8_t in[BS], out[BS];
	struct proto_block_ref a = alloc_one(f), b = alloc_one(f);
	struct proto_block_extent ext[2] = {{a.block, a.epoch, 10, 5000},
					    {b.block, b.epoch, 0, BS}};
	struct iovec win = {in, 5000 + BS}, wout = {out, 5000 + BS};
	static uint8_t big[5000 + BS], bigout[5000 + BS];

	fill(in, BS, 1);
	assert_int_equal(remote_write(f->r, PROVIDER, a, 0, in, BS, NULL), 0);
	assert_int_equal(remote_read(f->r, PROVIDER, a, 0, out, BS, NULL), 0);
	assert_memory_equal(in, out, BS);
	fill(big, sizeof(big), 2);
	win.iov_base = big;
	wout.iov_base = bigout;
	assert_int_equal(
		remote_write_batch(f->r, PROVIDER, ext, 2, &win, 1, NULL), 0);
	assert_int_equal(
		remote_read_batch(f->r, PROVIDER, ext, 2, &wout, 1, NULL), 0);
	assert_memory_equal(big, bigout, sizeof(big));
}

/* A whole-block WRITE through the relay with one bit flipped at `at`. */
static void tampered_write(struct fixture *f, long at, size_t first_bad)
{
	static uint8_t old[BS], new[BS], out[BS];
	struct proto_block_ref idx = alloc_one(f);
	struct mitm m = {.target = 0, .flip_at = at, .replay = -1};
	int ret;

	fill(old, BS, 3);
	fill(new, BS, 4);
	assert_int_equal(remote_write(f->r, PROVIDER, idx, 0, old, BS, NULL),
			 0);
	mitm_start(&m, f);
	/* closed at once (-EIO), or refused after verified records */
	ret = remote_write(f->r, VIA_MITM, idx, 0, new, BS, NULL);
	assert_true(ret == -EIO || ret == -EBADMSG);
	mitm_stop(&m);
	assert_int_equal(remote_read(f->r, PROVIDER, idx, 0, out, BS, NULL), 0);
	/* verified records may have landed; nothing from the bad one on */
	assert_memory_equal(out, new, first_bad);
	assert_memory_equal(out + first_bad, old + first_bad, BS - first_bad);
}

static void tampered_sealed_write_changes_no_block_byte(void **state)
{
	struct fixture *f = *state;
	/* the payload: 16-byte range header + BS data = two records */
	const long rec1 = WIRE_HDR_SIZE + WIRE_RECORD_SIZE + WIRE_TAG_SIZE;
	const size_t rec1_data = WIRE_RECORD_SIZE - PROTO_BLOCK_RW_SIZE;

	tampered_write(f, 16, 0);		      /* header: the id */
	tampered_write(f, 12, 0);		      /* header: the length */
	tampered_write(f, WIRE_HDR_SIZE + 4, 0);      /* the range header */
	tampered_write(f, WIRE_HDR_SIZE + 5000, 0);   /* data, record 0 */
	tampered_write(f, rec1 - 3, 0);		      /* record 0's tag */
	tampered_write(f, rec1 + 2, rec1_data);	      /* data, record 1 */
	tampered_write(f, rec1 + 16 + 10, rec1_data); /* record 1's tag */
}

/* A write of A, then of B, then A's frame again: what does the block hold? */
static void replay_old_write(struct fixture *f, uint8_t *out)
{
	static uint8_t a[4096], b[4096];
	struct proto_block_ref idx = alloc_one(f);
	struct mitm m = {.target = 1, .flip_at = -1, .replay = 0};

	fill(a, sizeof(a), 5);
	fill(b, sizeof(b), 6);
	mitm_start(&m, f);
	assert_int_equal(
		remote_write(f->r, VIA_MITM, idx, 0, a, sizeof(a), NULL), 0);
	assert_int_equal(
		remote_write(f->r, VIA_MITM, idx, 0, b, sizeof(b), NULL), 0);
	mitm_stop(&m);
	assert_int_equal(
		remote_read(f->r, PROVIDER, idx, 0, out, sizeof(a), NULL), 0);
}

static void replayed_sealed_write_is_refused(void **state)
{
	static uint8_t b[4096], out[4096];

	fill(b, sizeof(b), 6);
	replay_old_write(*state, out);
	assert_memory_equal(out, b, sizeof(b));
}

/* Without a key the same replay overwrites the newer data: a control. */
static void replayed_insecure_write_goes_through(void **state)
{
	static uint8_t a[4096], out[4096];

	fill(a, sizeof(a), 5);
	replay_old_write(*state, out);
	assert_memory_equal(out, a, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sealed_data_path_works, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			tampered_sealed_write_changes_no_block_byte, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			replayed_sealed_write_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			replayed_insecure_write_goes_through, setup_insecure,
			teardown),
	};

	log_init("test-peer-sealed", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
