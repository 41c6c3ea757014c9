// SPDX-License-Identifier: MIT
/*
 * Unit tests of sealed frames: the record AEAD (connector/seal.c) and
 * sealed sending and receiving with the payload cursor
 * (connector/wire-io.c), for both ciphers. Frames are sealed over one
 * mem:// pair and read off the wire raw, so a test can tamper with them,
 * replay, reorder or cut records, and hand the result to a sealed receiver
 * over a second pair: every such frame must fail with -EBADMSG and leave
 * the destination bytes of the failing record and everything after them
 * unchanged (before them lie only verified bytes of the same frame); a
 * private read (opened in place) leaves the failing record zeroed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/conn.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "wire-internal.h"

#define REC WIRE_RECORD_SIZE
#define TAG WIRE_TAG_SIZE
#define POISON 0xee

static const enum seal_cipher ciphers[] = {SEAL_AES256GCM,
					   SEAL_CHACHA20POLY1305};

static bool usable(enum seal_cipher c)
{
	return c != SEAL_AES256GCM || seal_aes_available();
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static size_t records(size_t len)
{
	return len ? (len + REC - 1) / REC : 1;
}

static size_t wire_len(size_t len)
{
	return WIRE_HDR_SIZE + len + records(len) * TAG;
}

/* ---- the record AEAD ---- */

static void records_round_trip_in_place_and_out_of_place(void **state)
{
	static const size_t sizes[] = {0, 1, 16, 1000, REC - 1, REC};
	static uint8_t in[REC], out[REC + 1];
	uint8_t raw[SEAL_KEY_BYTES], tag[TAG], ad[WIRE_HDR_SIZE] = {1, 2, 3};
	struct seal_key k;

	memset(raw, 7, sizeof(raw));
	for (size_t c = 0; c < ARRAY_SIZE(ciphers); c++) {
		if (!usable(ciphers[c]))
			continue;
		assert_int_equal(seal_key_init(&k, ciphers[c], raw), 0);
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
			size_t n = sizes[i];

			fill(in, n, (unsigned int)i);
			out[n] = 0x55;
			seal_record(&k, i, ad, sizeof(ad), in, n, out, tag);
			if (n >= 16)
				assert_memory_not_equal(in, out, 16);
			assert_int_equal(out[n], 0x55);
			assert_int_equal(
				seal_open(&k, i, ad, sizeof(ad), out, n, tag),
				0);
			assert_memory_equal(in, out, n);
			/* in place, as the send path does when gathering */
			seal_record(&k, i, NULL, 0, out, n, out, tag);
			assert_int_equal(seal_open(&k, i, NULL, 0, out, n, tag),
					 0);
			assert_memory_equal(in, out, n);
		}
		seal_key_wipe(&k);
	}
}

static void open_refuses_every_change(void **state)
{
	uint8_t raw[SEAL_KEY_BYTES], tag[TAG], ad[8] = "header!", in[100];
	uint8_t buf[100];
	struct seal_key k, other;

	memset(raw, 9, sizeof(raw));
	fill(in, sizeof(in), 1);
	for (size_t c = 0; c < ARRAY_SIZE(ciphers); c++) {
		if (!usable(ciphers[c]))
			continue;
		assert_int_equal(seal_key_init(&k, ciphers[c], raw), 0);
		raw[0] ^= 1;
		assert_int_equal(seal_key_init(&other, ciphers[c], raw), 0);
		raw[0] ^= 1;
#define SEALED() \
	(seal_record(&k, 5, ad, sizeof(ad), in, sizeof(in), buf, tag), buf)
		SEALED()[0] ^= 1; /* a ciphertext bit */
		assert_int_equal(seal_open(&k, 5, ad, 8, buf, 100, tag),
				 -EBADMSG);
		SEALED();
		tag[15] ^= 0x80;
		assert_int_equal(seal_open(&k, 5, ad, 8, buf, 100, tag),
				 -EBADMSG);
		SEALED();
		ad[3] ^= 1; /* the header it was sealed with */
		assert_int_equal(seal_open(&k, 5, ad, 8, buf, 100, tag),
				 -EBADMSG);
		ad[3] ^= 1;
		SEALED();
		assert_int_equal(seal_open(&k, 5, ad, 7, buf, 100, tag),
				 -EBADMSG);
		SEALED(); /* another record number: replay, reorder */
		assert_int_equal(seal_open(&k, 6, ad, 8, buf, 100, tag),
				 -EBADMSG);
		SEALED(); /* a shorter record: truncation */
		assert_int_equal(seal_open(&k, 5, ad, 8, buf, 99, tag),
				 -EBADMSG);
		SEALED(); /* another key */
		assert_int_equal(seal_open(&other, 5, ad, 8, buf, 100, tag),
				 -EBADMSG);
		SEALED();
		assert_int_equal(seal_open(&k, 5, ad, 8, buf, 100, tag), 0);
		assert_memory_equal(buf, in, sizeof(in));
#undef SEALED
		seal_key_wipe(&k);
		seal_key_wipe(&other);
	}
	assert_int_equal(seal_key_init(&k, SEAL_NONE, raw), -EINVAL);
}

/* ---- sealed frames ---- */

/*
 * tx -> tap: what the sender puts on the wire, read raw. inject -> rx:
 * raw bytes to a sealed receiver with the matching key.
 */
struct link {
	struct conn_listener *l;
	struct conn *tx, *tap, *inject, *rx;
};

static void link_open(struct link *k, enum seal_cipher cipher)
{
	uint8_t key[SEAL_KEY_BYTES], other[SEAL_KEY_BYTES];

	memset(key, 0x21, sizeof(key));
	memset(other, 0x43, sizeof(other));
	assert_int_equal(conn_listen("mem://", &k->l), 0);
	assert_int_equal(conn_connect(conn_listener_addr(k->l), 0, &k->tx), 0);
	assert_int_equal(conn_accept(k->l, &k->tap), 0);
	assert_int_equal(conn_connect(conn_listener_addr(k->l), 0, &k->inject),
			 0);
	assert_int_equal(conn_accept(k->l, &k->rx), 0);
	assert_int_equal(wire_seal_start(k->tx, cipher, key, other), 0);
	assert_int_equal(wire_seal_start(k->rx, cipher, other, key), 0);
	assert_int_equal(wire_cipher(k->rx), cipher);
	conn_set_timeout(k->rx, 5000);
	conn_set_timeout(k->tap, 5000);
}

static void link_close(struct link *k)
{
	conn_destroy(k->tx);
	conn_destroy(k->tap);
	conn_destroy(k->inject);
	conn_destroy(k->rx);
	conn_listener_destroy(k->l);
}

/* Sends from a thread: frames larger than the socket buffers. */
struct sender {
	pthread_t thread;
	struct conn *c;
	struct wire_hdr h;
	struct iovec iov[3];
	int iovcnt;
	int ret;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	s->ret = wire_send(s->c, &s->h, s->iov, s->iovcnt);
	return NULL;
}

static void send_async(struct sender *s, struct conn *c, uint8_t op,
		       uint64_t id, const uint8_t *p, size_t len)
{
	/* three iovecs that cut records in odd places */
	size_t a = MIN(len, (size_t)1000), b = MIN(len - a, (size_t)REC + 5);

	*s = (struct sender){.c = c, .h = {.op = op, .id = id}, .iovcnt = 3};
	s->iov[0] = (struct iovec){(void *)p, a};
	s->iov[1] = (struct iovec){(void *)(p + a), b};
	s->iov[2] = (struct iovec){(void *)(p + a + b), len - a - b};
	assert_int_equal(pthread_create(&s->thread, NULL, sender_main, s), 0);
}

static void send_join(struct sender *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	assert_int_equal(pthread_timedjoin_np(s->thread, NULL, &ts), 0);
	assert_int_equal(s->ret, 0);
}

/* Seals one frame and returns its wire bytes (malloc'ed, *n long). */
static uint8_t *seal_frame(struct link *k, uint8_t op, uint64_t id,
			   const uint8_t *p, size_t len, size_t *n)
{
	uint8_t *wire = malloc(wire_len(len));
	struct sender s;

	assert_non_null(wire);
	send_async(&s, k->tx, op, id, p, len);
	assert_int_equal(conn_read(k->tap, wire, wire_len(len)), 0);
	send_join(&s);
	*n = wire_len(len);
	return wire;
}

/* Hands raw bytes to the sealed receiver, from a thread. */
struct injector {
	pthread_t thread;
	struct conn *c;
	const uint8_t *p;
	size_t len;
	bool close;
};

static void *injector_main(void *arg)
{
	struct injector *j = arg;
	struct iovec iov = {(void *)j->p, j->len};

	conn_writev(j->c, &iov, 1);
	if (j->close)
		conn_shutdown(j->c);
	return NULL;
}

static void inject(struct injector *j, struct link *k, const uint8_t *p,
		   size_t len, bool close)
{
	*j = (struct injector){
		.c = k->inject, .p = p, .len = len, .close = close};
	assert_int_equal(pthread_create(&j->thread, NULL, injector_main, j), 0);
}

static void frames_of_every_size_edge_round_trip(void **state)
{
	static const size_t sizes[] = {
		0, 1, REC - 1, REC, REC + 1, 3 * REC + 17, WIRE_MAX_PAYLOAD};
	uint8_t *src = malloc(WIRE_MAX_PAYLOAD + 1);
	uint8_t *dst = malloc(WIRE_MAX_PAYLOAD + 1);
	uint8_t key[SEAL_KEY_BYTES], other[SEAL_KEY_BYTES];

	assert_non_null(src);
	assert_non_null(dst);
	fill(src, WIRE_MAX_PAYLOAD, 5);
	memset(key, 0x21, sizeof(key));
	memset(other, 0x43, sizeof(other));
	for (size_t c = 0; c < ARRAY_SIZE(ciphers); c++) {
		struct link k;

		if (!usable(ciphers[c]))
			continue;
		link_open(&k, ciphers[c]);
		/* the tap end becomes the sender's sealed peer */
		assert_int_equal(wire_seal_start(k.tap, ciphers[c], other, key),
				 0);
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
			struct wire_hdr h;
			struct sender s;

			memset(dst, POISON, sizes[i] + 1);
			send_async(&s, k.tx, WIRE_OP_WRITE, i + 1, src,
				   sizes[i]);
			assert_int_equal(wire_recv_hdr(k.tap, &h), 0);
			assert_int_equal(h.len, sizes[i]);
			assert_int_equal(h.id, i + 1);
			assert_int_equal(h.csum, 0);
			assert_int_equal(wire_read(k.tap, dst, sizes[i]), 0);
			assert_memory_equal(dst, src, sizes[i]);
			assert_int_equal(dst[sizes[i]], POISON);
			assert_int_equal(wire_payload_left(k.tap), 0);
			send_join(&s);
		}
		link_close(&k);
	}
	free(src);
	free(dst);
}

static void sealed_frame_is_ciphertext_plus_a_tag_per_record(void **state)
{
	static uint8_t src[2 * REC + 100];
	struct link k;
	uint8_t *wire;
	size_t n;

	fill(src, sizeof(src), 2);
	for (size_t c = 0; c < ARRAY_SIZE(ciphers); c++) {
		if (!usable(ciphers[c]))
			continue;
		link_open(&k, ciphers[c]);
		wire = seal_frame(&k, WIRE_OP_WRITE, 1, src, sizeof(src), &n);
		assert_int_equal(n, WIRE_HDR_SIZE + sizeof(src) + 3 * TAG);
		/* nothing more went out */
		assert_false(conn_pending(k.tap));
		/* the header is in clear, csum 0; the data is not */
		assert_int_equal(wire[4], WIRE_VERSION);
		for (int i = 24; i < 32; i++)
			assert_int_equal(wire[i], 0);
		assert_null(memmem(wire, n, src + 5000, 32));
		assert_null(memmem(wire, n, src + REC + 50, 32));
		free(wire);
		link_close(&k);
	}
}

enum attack {
	FLIP_HEADER,
	FLIP_FIRST_RECORD,
	FLIP_FIRST_TAG,
	FLIP_LATER_RECORD,
	FLIP_LATER_TAG,
	REPLAY_RECORD,	 /* record 1 sent again in place of record 2 */
	REORDER_RECORDS, /* records 1 and 2 swapped */
	TRUNCATE,	 /* the stream ends inside the last record */
	DROP_RECORD,	 /* the last record left out, the next frame follows */
};

/*
 * The frame is 3 * REC payload bytes: records 0, 1 and 2, all full.
 * Returns the index of the first record that cannot verify.
 */
static size_t spoil(enum attack a, uint8_t *w, size_t *n, const uint8_t *next,
		    size_t next_len)
{
	const size_t r1 = WIRE_HDR_SIZE + REC + TAG, r2 = r1 + REC + TAG;
	static uint8_t tmp[REC + TAG];

	switch (a) {
	case FLIP_HEADER:
		w[16] ^= 0x01; /* the id: the header is authenticated */
		return 0;
	case FLIP_FIRST_RECORD:
		w[WIRE_HDR_SIZE + 100] ^= 0x20;
		return 0;
	case FLIP_FIRST_TAG:
		w[r1 - 1] ^= 0x01;
		return 0;
	case FLIP_LATER_RECORD:
		w[r2 + 999] ^= 0x04;
		return 2;
	case FLIP_LATER_TAG:
		w[r2 - 5] ^= 0x01; /* record 1's */
		return 1;
	case REPLAY_RECORD:
		memcpy(w + r2, w + r1, REC + TAG);
		return 2;
	case REORDER_RECORDS:
		memcpy(tmp, w + r1, REC + TAG);
		memcpy(w + r1, w + r2, REC + TAG);
		memcpy(w + r2, tmp, REC + TAG);
		return 1;
	case TRUNCATE:
		*n -= 7;
		return 2;
	case DROP_RECORD:
		memcpy(w + r2, next, next_len);
		*n = r2 + next_len;
		return 2;
	}
	return 0;
}

/* wire_recv_hdr_into()'s choice: the iovec ctx points at. */
static const struct iovec *dest_of(void *ctx, const struct wire_hdr *h)
{
	(void)h;
	return ctx;
}

/*
 * private: the frame goes whole into dst with wire_recv_hdr_into() and
 * wire_recv_payload_private(), which open records in place: the failing
 * record is left zeroed instead of untouched.
 */
static void run_attack(enum seal_cipher cipher, enum attack a, bool private)
{
	struct iovec whole;
	const size_t len = 3 * REC;
	uint8_t *src = malloc(len), *dst = malloc(len), *w, *next;
	struct injector j;
	struct wire_hdr h;
	size_t n, next_n, bad;
	struct link k;
	int ret;

	assert_non_null(src);
	assert_non_null(dst);
	fill(src, len, a);
	memset(dst, POISON, len);
	link_open(&k, cipher);
	w = seal_frame(&k, WIRE_OP_WRITE, 7, src, len, &n);
	next = seal_frame(&k, WIRE_OP_PING, 8, NULL, 0, &next_n);
	w = realloc(w, n + next_n);
	assert_non_null(w);
	bad = spoil(a, w, &n, next, next_n);
	inject(&j, &k, w, n, true);
	whole = (struct iovec){dst, len};
	if (private) {
		size_t in_place = 1;

		ret = wire_recv_hdr_into(k.rx, &h, dest_of, &whole, &in_place);
		if (!ret) {
			/* record 0 came with the header, in place */
			assert_int_equal(in_place, REC);
			whole = (struct iovec){dst + REC, len - REC};
			ret = wire_recv_payload_private(k.rx, &h, &whole, 1);
		}
		assert_int_equal(ret, -EBADMSG);
		assert_memory_equal(dst, src, bad * REC);
		assert_true(all_zero(dst + bad * REC, REC));
		bad++;
	} else if ((ret = wire_recv_hdr(k.rx, &h)) != 0 || bad == 0) {
		/* the header, or the first record that vouches for it */
		assert_int_equal(ret, -EBADMSG);
		assert_int_equal(bad, 0);
	} else {
		/* in pieces that straddle records, as a server reads */
		ret = wire_read(k.rx, dst, 16);
		if (!ret)
			ret = wire_read(k.rx, dst + 16, len - 16);
		assert_int_equal(ret, -EBADMSG);
		/* what came before the failing record is the sender's */
		assert_memory_equal(dst, src, bad * REC);
	}
	/* the failing record (unless private) and all after it: untouched */
	for (size_t i = bad * REC; i < len; i++)
		if (dst[i] != POISON)
			fail_msg("attack %d: byte %zu changed", a, i);
	/* and the connection is done for */
	assert_int_equal(wire_recv_hdr(k.rx, &h), -EBADMSG);
	assert_int_equal(wire_read(k.rx, dst, 1), -EBADMSG);
	conn_shutdown(k.rx); /* the injector may still be writing */
	pthread_join(j.thread, NULL);
	free(w);
	free(next);
	free(src);
	free(dst);
	link_close(&k);
}

static void tampering_replay_reordering_truncation_are_ebadmsg(void **state)
{
	static const enum attack attacks[] = {
		FLIP_HEADER,	   FLIP_FIRST_RECORD, FLIP_FIRST_TAG,
		FLIP_LATER_RECORD, FLIP_LATER_TAG,    REPLAY_RECORD,
		REORDER_RECORDS,   TRUNCATE,	      DROP_RECORD,
	};

	for (size_t c = 0; c < ARRAY_SIZE(ciphers); c++) {
		if (!usable(ciphers[c]))
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(attacks); i++) {
			run_attack(ciphers[c], attacks[i], false);
			run_attack(ciphers[c], attacks[i], true);
		}
	}
}

static void replayed_or_reordered_frames_are_ebadmsg(void **state)
{
	uint8_t a[100], b[100], got[100];
	struct link k;

	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	for (int order = 0; order < 2; order++) {
		uint8_t *fa, *fb, *all;
		struct injector j;
		struct wire_hdr h;
		size_t na, nb;

		link_open(&k, SEAL_CHACHA20POLY1305);
		fa = seal_frame(&k, WIRE_OP_WRITE, 1, a, sizeof(a), &na);
		fb = seal_frame(&k, WIRE_OP_WRITE, 2, b, sizeof(b), &nb);
		all = malloc(na + nb + na);
		assert_non_null(all);
		if (order == 0) { /* A, B, then A again */
			memcpy(all, fa, na);
			memcpy(all + na, fb, nb);
			memcpy(all + na + nb, fa, na);
		} else { /* B before A */
			memcpy(all, fb, nb);
			memcpy(all + nb, fa, na);
		}
		inject(&j, &k, all, order ? na + nb : 2 * na + nb, true);
		if (order == 0) {
			assert_int_equal(wire_recv_hdr(k.rx, &h), 0);
			assert_int_equal(wire_read(k.rx, got, 100), 0);
			assert_int_equal(wire_recv_hdr(k.rx, &h), 0);
			assert_int_equal(wire_read(k.rx, got, 100), 0);
			assert_memory_equal(got, b, 100);
		}
		memset(got, POISON, sizeof(got));
		assert_int_equal(wire_recv_hdr(k.rx, &h), -EBADMSG);
		assert_int_equal(wire_read(k.rx, got, 100), -EBADMSG);
		assert_int_equal(got[0], POISON);
		pthread_join(j.thread, NULL);
		free(fa);
		free(fb);
		free(all);
		link_close(&k);
	}
}

static void sealed_frame_with_a_checksum_is_ebadmsg(void **state)
{
	uint8_t p[10] = "0123456789", *w;
	struct injector j;
	struct wire_hdr h;
	struct link k;
	size_t n;

	link_open(&k, SEAL_CHACHA20POLY1305);
	w = seal_frame(&k, WIRE_OP_WRITE, 1, p, sizeof(p), &n);
	w[24] = 1; /* csum must be 0 when sealed */
	inject(&j, &k, w, n, false);
	assert_int_equal(wire_recv_hdr(k.rx, &h), -EBADMSG);
	pthread_join(j.thread, NULL);
	free(w);
	link_close(&k);
}

/* ---- the cursor over sealed payloads ---- */

static void cursor_reads_in_pieces_across_records(void **state)
{
	static const size_t pieces[] = {1, 7, 4096, REC - 3, REC + 1};
	const size_t len = 3 * REC + 123;
	uint8_t *src = malloc(len), *dst = malloc(len);
	struct link k;

	assert_non_null(src);
	assert_non_null(dst);
	fill(src, len, 9);
	link_open(&k, SEAL_CHACHA20POLY1305);
	for (size_t i = 0; i < ARRAY_SIZE(pieces); i++) {
		uint8_t *w;
		struct injector j;
		struct wire_hdr h;
		size_t n, done = 0;

		w = seal_frame(&k, WIRE_OP_WRITE, i, src, len, &n);
		inject(&j, &k, w, n, false);
		memset(dst, POISON, len);
		assert_int_equal(wire_recv_hdr(k.rx, &h), 0);
		while (done < len) {
			size_t step = MIN(pieces[i], len - done);

			assert_int_equal(wire_payload_left(k.rx), len - done);
			assert_int_equal(wire_read(k.rx, dst + done, step), 0);
			done += step;
		}
		assert_int_equal(wire_payload_left(k.rx), 0);
		assert_memory_equal(dst, src, len);
		/* nothing more to read in this frame */
		assert_int_equal(wire_read(k.rx, dst, 1), -EMSGSIZE);
		pthread_join(j.thread, NULL);
		free(w);
	}
	link_close(&k);
	free(src);
	free(dst);
}

static void cursor_scatters_and_skips_the_rest(void **state)
{
	const size_t len = 2 * REC + 10;
	uint8_t *src = malloc(len), *big = malloc(len), a[10], b[REC], c[5];
	struct iovec iov[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
	uint8_t *w1, *w2;
	struct injector j;
	struct wire_hdr h;
	size_t n1, n2;
	struct link k;

	assert_non_null(src);
	assert_non_null(big);
	fill(src, len, 4);
	link_open(&k, SEAL_CHACHA20POLY1305);
	w1 = seal_frame(&k, WIRE_OP_WRITE, 1, src, len, &n1);
	w2 = seal_frame(&k, WIRE_OP_PING, 2, src, 100, &n2);
	w1 = realloc(w1, n1 + n2);
	assert_non_null(w1);
	memcpy(w1 + n1, w2, n2);
	inject(&j, &k, w1, n1 + n2, false);
	assert_int_equal(wire_recv_hdr(k.rx, &h), 0);
	assert_int_equal(wire_readv(k.rx, iov, 3), 0);
	assert_memory_equal(a, src, 10);
	assert_memory_equal(b, src + 10, REC);
	assert_memory_equal(c, src + 10 + REC, 5);
	/* asking for more than is left reads nothing */
	assert_int_equal(wire_read(k.rx, big, len - REC - 14), -EMSGSIZE);
	assert_int_equal(wire_payload_left(k.rx), len - REC - 15);
	/* the next header waits for the payload to be consumed */
	assert_int_equal(wire_skip_payload(k.rx, &h), 0);
	assert_int_equal(wire_recv_hdr(k.rx, &h), 0);
	assert_int_equal(h.id, 2);
	assert_int_equal(wire_recv_payload(k.rx, &h, &iov[1], 1), 0);
	assert_memory_equal(b, src, 100);
	pthread_join(j.thread, NULL);
	free(w1);
	free(w2);
	free(src);
	free(big);
	link_close(&k);
}

/*
 * A private read opens the records that lie whole in one iovec in place
 * (the first one with the header, when the first iovec holds it) and the
 * others through staging: either way the bytes are the sender's, wherever
 * the iovecs cut the records, and nothing past them is written.
 */
static void private_reads_round_trip_whatever_the_iovecs(void **state)
{
	static const size_t cuts[][3] = {
		{4 * REC + 9, 0, 0}, /* one iovec: records 1..4 in place */
		{REC + 1, 2 * REC, REC + 8}, /* record 1 cut, 2 and 3 whole */
		{7, REC - 7, 3 * REC + 9},   /* aligned after the first */
		{2 * REC + 5, 2 * REC + 4, 0},
	};
	const size_t len = 4 * REC + 9;
	uint8_t *src = malloc(len), *dst = malloc(len + 1);
	struct link k;

	assert_non_null(src);
	assert_non_null(dst);
	fill(src, len, 11);
	for (size_t c = 0; c < ARRAY_SIZE(ciphers); c++) {
		if (!usable(ciphers[c]))
			continue;
		link_open(&k, ciphers[c]);
		for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
			struct iovec iov[3];
			struct injector j;
			struct wire_hdr h;
			size_t n, at = 0, in_place;
			uint8_t *w;
			int cnt = 0;

			for (int v = 0; v < 3 && cuts[i][v]; v++) {
				iov[cnt++] =
					(struct iovec){dst + at, cuts[i][v]};
				at += cuts[i][v];
			}
			assert_int_equal(at, len);
			w = seal_frame(&k, WIRE_OP_READ, i, src, len, &n);
			inject(&j, &k, w, n, false);
			memset(dst, POISON, len + 1);
			assert_int_equal(wire_recv_hdr_into(k.rx, &h, dest_of,
							    &iov[0], &in_place),
					 0);
			/* the first record, when the first iovec holds it */
			assert_int_equal(in_place,
					 iov[0].iov_len >= REC ? REC : 0);
			iov[0].iov_base = (uint8_t *)iov[0].iov_base + in_place;
			iov[0].iov_len -= in_place;
			assert_int_equal(
				wire_recv_payload_private(k.rx, &h, iov, cnt),
				0);
			assert_memory_equal(dst, src, len);
			assert_int_equal(dst[len], POISON);
			assert_int_equal(wire_payload_left(k.rx), 0);
			pthread_join(j.thread, NULL);
			free(w);
		}
		link_close(&k);
	}
	free(src);
	free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(records_round_trip_in_place_and_out_of_place),
		cmocka_unit_test(open_refuses_every_change),
		cmocka_unit_test(frames_of_every_size_edge_round_trip),
		cmocka_unit_test(
			sealed_frame_is_ciphertext_plus_a_tag_per_record),
		cmocka_unit_test(
			tampering_replay_reordering_truncation_are_ebadmsg),
		cmocka_unit_test(replayed_or_reordered_frames_are_ebadmsg),
		cmocka_unit_test(sealed_frame_with_a_checksum_is_ebadmsg),
		cmocka_unit_test(cursor_reads_in_pieces_across_records),
		cmocka_unit_test(cursor_scatters_and_skips_the_rest),
		cmocka_unit_test(private_reads_round_trip_whatever_the_iovecs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
