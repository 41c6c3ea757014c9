// SPDX-License-Identifier: MIT
/*
 * Unit tests of the frame layer (connector/frame.c, wire-io.c) in plain
 * (insecure) mode: the header codec and its validation, the opcode/status
 * tables, the checksum, whole frames sent and received over an in-memory
 * connection, and the payload cursor. Sealed frames: test-seal.c.
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

struct pair {
	struct conn_listener *l;
	struct conn *a;
	struct conn *b;
};

static int pair_setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));

	if (!p || conn_listen("mem://", &p->l) ||
	    conn_connect(conn_listener_addr(p->l), 0, &p->a) ||
	    conn_accept(p->l, &p->b))
		return -1;
	/* Nothing in these tests may wait long. */
	conn_set_timeout(p->a, 5000);
	conn_set_timeout(p->b, 5000);
	*state = p;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *p = *state;

	conn_destroy(p->a);
	conn_destroy(p->b);
	conn_listener_destroy(p->l);
	free(p);
	return 0;
}

static const struct wire_hdr sample = {
	.op = WIRE_OP_WRITE,
	.flags = WIRE_F_REPLY,
	.status = WIRE_S_MOVED,
	.len = 0x01020304,
	.id = 0x1122334455667788ull,
	.csum = 0x8877665544332211ull,
};

static void encoded(const struct wire_hdr *h, uint8_t out[WIRE_HDR_SIZE])
{
	wire_hdr_encode(h, out);
}

static void header_round_trips_through_encode_and_decode(void **state)
{
	struct wire_hdr small = sample;
	uint8_t buf[WIRE_HDR_SIZE];
	struct wire_hdr h;

	small.len = 4096;
	encoded(&small, buf);
	assert_int_equal(wire_hdr_decode(buf, &h), 0);
	assert_int_equal(h.op, small.op);
	assert_int_equal(h.flags, small.flags);
	assert_int_equal(h.status, small.status);
	assert_int_equal(h.len, small.len);
	assert_int_equal(h.id, small.id);
	assert_int_equal(h.csum, small.csum);
}

static void header_is_little_endian_on_the_wire(void **state)
{
	static const uint8_t want[WIRE_HDR_SIZE] = {
		'C',  'M',  'P',  '1',	2,    WIRE_OP_WRITE, 1,	   0,
		6,    0,    0,	  0,	0x04, 0x03,	     0x02, 0x01,
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33,	     0x22, 0x11,
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66,	     0x77, 0x88,
	};
	uint8_t buf[WIRE_HDR_SIZE];

	encoded(&sample, buf);
	assert_memory_equal(buf, want, WIRE_HDR_SIZE);
}

static void decode_rejects_bad_magic_with_eproto(void **state)
{
	struct wire_hdr h = {.op = WIRE_OP_PING};
	uint8_t buf[WIRE_HDR_SIZE];

	encoded(&h, buf);
	buf[3] = '2';
	assert_int_equal(wire_hdr_decode(buf, &h), -EPROTO);
}

static void decode_tells_another_version_by_its_number(void **state)
{
	struct wire_hdr h = {.op = WIRE_OP_PING};
	uint8_t buf[WIRE_HDR_SIZE];

	encoded(&h, buf);
	assert_int_equal(wire_hdr_decode(buf, &h), 0);
	assert_int_equal(h.version, WIRE_VERSION);
	buf[4] = WIRE_VERSION + 1;
	assert_int_equal(wire_hdr_decode(buf, &h), -EPROTONOSUPPORT);
	assert_int_equal(h.version, WIRE_VERSION + 1);
	buf[4] = 1;
	assert_int_equal(wire_hdr_decode(buf, &h), -EPROTONOSUPPORT);
	assert_int_equal(h.version, 1);
	/* another magic is not ours at all */
	buf[0] = 'X';
	assert_int_equal(wire_hdr_decode(buf, &h), -EPROTO);
}

static void decode_rejects_unknown_opcode_with_ebadmsg(void **state)
{
	static const uint8_t bad[] = {0, 4, 9, 26, 40, 63, 64, 200, 255};
	struct wire_hdr h = {.op = WIRE_OP_PING};
	uint8_t buf[WIRE_HDR_SIZE];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		encoded(&h, buf);
		buf[5] = bad[i];
		assert_int_equal(wire_hdr_decode(buf, &h), -EBADMSG);
	}
}

static void decode_rejects_unknown_flags_with_ebadmsg(void **state)
{
	struct wire_hdr h = {.op = WIRE_OP_PING, .flags = 1 << 1};
	uint8_t buf[WIRE_HDR_SIZE];

	encoded(&h, buf);
	assert_int_equal(wire_hdr_decode(buf, &h), -EBADMSG);
	h.flags = 0x8000 | WIRE_F_REPLY;
	encoded(&h, buf);
	assert_int_equal(wire_hdr_decode(buf, &h), -EBADMSG);
}

static void decode_rejects_oversized_payload_with_emsgsize(void **state)
{
	struct wire_hdr h = {.op = WIRE_OP_READ, .len = WIRE_MAX_PAYLOAD};
	uint8_t buf[WIRE_HDR_SIZE];

	encoded(&h, buf);
	assert_int_equal(wire_hdr_decode(buf, &h), 0);
	h.len = WIRE_MAX_PAYLOAD + 1;
	encoded(&h, buf);
	assert_int_equal(wire_hdr_decode(buf, &h), -EMSGSIZE);
	h.len = UINT32_MAX;
	encoded(&h, buf);
	assert_int_equal(wire_hdr_decode(buf, &h), -EMSGSIZE);
}

static void op_names_come_from_the_table(void **state)
{
	assert_string_equal(wire_op_name(WIRE_OP_READ), "READ");
	assert_string_equal(wire_op_name(WIRE_OP_WRITE_BATCH), "WRITE_BATCH");
	assert_null(wire_op_name(0));
	assert_null(wire_op_name(WIRE_OP_MAX));
	assert_null(wire_op_name(1000));
#define CHECK_OP(name, val)              \
	assert_true(wire_op_valid(val)); \
	assert_string_equal(wire_op_name(val), #name);
	WIRE_OPS(CHECK_OP)
#undef CHECK_OP
	assert_false(wire_op_valid(4));
}

static void statuses_map_to_errno_and_back(void **state)
{
#define CHECK_STATUS(name, val, err)                                     \
	assert_int_equal(wire_status_to_errno(WIRE_S_##name), -(err));   \
	assert_int_equal(wire_status_from_errno(-(err)), WIRE_S_##name); \
	assert_string_equal(wire_status_name(WIRE_S_##name), #name);
	WIRE_STATUSES(CHECK_STATUS)
#undef CHECK_STATUS
	assert_int_equal(wire_status_from_errno(0), WIRE_S_OK);
	assert_int_equal(wire_status_from_errno(-ENOMEM), WIRE_S_IO);
	assert_int_equal(wire_status_from_errno(-EXDEV), WIRE_S_IO);
	assert_int_equal(wire_status_to_errno(999), -EIO);
	assert_null(wire_status_name(999));
}

static void csum_is_independent_of_iovec_split(void **state)
{
	uint8_t buf[1000];
	struct iovec whole = {buf, sizeof(buf)};
	struct iovec parts[4] = {
		{buf, 1}, {NULL, 0}, {buf + 1, 500}, {buf + 501, 499}};
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31);
	assert_int_equal(wire_csum(&whole, 1), wire_csum(parts, 4));
	buf[999] ^= 1;
	assert_int_not_equal(wire_csum(&whole, 1), wire_csum(parts, 3));
	assert_int_equal(wire_csum(NULL, 0),
			 wire_csum(&(struct iovec){buf, 0}, 1));
}

static void frame_round_trips_over_a_connection(void **state)
{
	struct pair *p = *state;
	struct iovec out[3] = {{"head", 4}, {"", 0}, {"-and-body", 9}};
	struct wire_hdr h = {.op = WIRE_OP_WRITE, .id = 77};
	struct wire_hdr got;
	char a[6] = {0};
	char b[32] = {0};
	struct iovec in[2] = {{a, 5}, {b, sizeof(b)}};

	assert_int_equal(wire_send(p->a, &h, out, 3), 0);
	assert_int_equal(h.len, 13);
	assert_int_equal(h.csum, wire_csum(out, 3));
	assert_int_equal(wire_recv_hdr(p->b, &got), 0);
	assert_int_equal(got.op, WIRE_OP_WRITE);
	assert_int_equal(got.id, 77);
	assert_int_equal(got.len, 13);
	assert_int_equal(got.flags, 0);
	assert_int_equal(wire_recv_payload(p->b, &got, in, 2), 0);
	assert_string_equal(a, "head-");
	assert_string_equal(b, "and-body");

	/* An empty reply, then the stream is clean for the next frame. */
	h = (struct wire_hdr){.op = WIRE_OP_WRITE,
			      .flags = WIRE_F_REPLY,
			      .status = WIRE_S_NOSPC,
			      .id = 77};
	assert_int_equal(wire_send(p->b, &h, NULL, 0), 0);
	assert_int_equal(wire_recv_hdr(p->a, &got), 0);
	assert_int_equal(got.len, 0);
	assert_int_equal(wire_status_to_errno(got.status), -ENOSPC);
	assert_int_equal(wire_recv_payload(p->a, &got, NULL, 0), 0);
}

static void recv_payload_rejects_a_corrupted_payload_with_ebadmsg(void **state)
{
	struct pair *p = *state;
	struct wire_hdr h = {.op = WIRE_OP_READ, .flags = WIRE_F_REPLY};
	uint8_t raw[WIRE_HDR_SIZE + 8];
	struct iovec iov = {raw, sizeof(raw)};
	struct iovec pay = {"12345678", 8};
	uint8_t buf[8];
	struct wire_hdr got;

	h.len = 8;
	h.csum = wire_csum(&pay, 1);
	wire_hdr_encode(&h, raw);
	memcpy(raw + WIRE_HDR_SIZE, "12345679", 8); /* one bit flipped */
	assert_int_equal(conn_writev(p->a, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(p->b, &got), 0);
	iov = (struct iovec){buf, sizeof(buf)};
	assert_int_equal(wire_recv_payload(p->b, &got, &iov, 1), -EBADMSG);
}

/* Sends frames from a thread: big payloads do not fit the socket buffer. */
struct sender {
	pthread_t thread;
	struct conn *c;
	struct wire_hdr h[2];
	struct iovec iov[2];
	int ret;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	int i;

	s->ret = 0;
	for (i = 0; i < 2 && !s->ret; i++)
		s->ret = wire_send(s->c, &s->h[i], &s->iov[i],
				   s->iov[i].iov_len ? 1 : 0);
	return NULL;
}

static void sender_start(struct sender *s)
{
	assert_int_equal(pthread_create(&s->thread, NULL, sender_main, s), 0);
}

static void sender_join(struct sender *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	assert_int_equal(pthread_timedjoin_np(s->thread, NULL, &ts), 0);
	assert_int_equal(s->ret, 0);
}

static void recv_payload_refuses_a_small_buffer_and_skip_drops_it(void **state)
{
	struct pair *p = *state;
	size_t len = 100000;
	uint8_t *big = malloc(len);
	struct sender s = {.c = p->a};
	struct wire_hdr got;
	uint8_t small[64];
	struct iovec in = {small, sizeof(small)};

	assert_non_null(big);
	memset(big, 0xab, len);
	s.h[0] = (struct wire_hdr){.op = WIRE_OP_READ_BATCH, .id = 1};
	s.iov[0] = (struct iovec){big, len};
	s.h[1] = (struct wire_hdr){.op = WIRE_OP_PING, .id = 9};
	sender_start(&s);
	assert_int_equal(wire_recv_hdr(p->b, &got), 0);
	assert_int_equal(got.len, len);
	assert_int_equal(wire_recv_payload(p->b, &got, &in, 1), -EMSGSIZE);
	assert_int_equal(wire_skip_payload(p->b, &got), 0);
	assert_int_equal(wire_recv_hdr(p->b, &got), 0);
	assert_int_equal(got.op, WIRE_OP_PING);
	assert_int_equal(got.id, 9);
	assert_int_equal(wire_recv_payload(p->b, &got, NULL, 0), 0);
	sender_join(&s);
	free(big);
}

static void recv_payload_scatters_into_many_iovecs(void **state)
{
	struct pair *p = *state;
	uint8_t src[1000];
	uint8_t dst[80][13];
	struct iovec in[80];
	struct sender s = {.c = p->a};
	struct wire_hdr got;
	size_t i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 3);
	for (i = 0; i < 80; i++)
		in[i] = (struct iovec){dst[i], sizeof(dst[i])};
	memset(dst, 0, sizeof(dst));
	s.h[0] = (struct wire_hdr){.op = WIRE_OP_WRITE_BATCH, .id = 5};
	s.iov[0] = (struct iovec){src, sizeof(src)};
	s.h[1] = (struct wire_hdr){.op = WIRE_OP_PING, .id = 6};
	sender_start(&s);
	/* 76 whole iovecs and 12 bytes of the 77th: more than one window. */
	assert_int_equal(wire_recv_hdr(p->b, &got), 0);
	assert_int_equal(wire_recv_payload(p->b, &got, in, 80), 0);
	assert_memory_equal(dst, src, sizeof(src));
	assert_int_equal(dst[76][12], 0);
	/* Not one byte too many was read. */
	assert_int_equal(wire_recv_hdr(p->b, &got), 0);
	assert_int_equal(got.id, 6);
	sender_join(&s);
}

static void send_refuses_oversized_payloads_and_bad_arguments(void **state)
{
	struct pair *p = *state;
	size_t len = WIRE_MAX_PAYLOAD + 1;
	uint8_t *big = calloc(1, len);
	struct iovec iov[63];
	struct wire_hdr h = {.op = WIRE_OP_WRITE};
	int i;

	assert_non_null(big);
	iov[0] = (struct iovec){big, len};
	assert_int_equal(wire_send(p->a, &h, iov, 1), -EMSGSIZE);
	for (i = 0; i < 63; i++)
		iov[i] = (struct iovec){big, 1};
	assert_int_equal(wire_send(p->a, &h, iov, 63), -EINVAL);
	assert_int_equal(wire_send(p->a, &h, iov, 62), 0);
	h.op = 4;
	assert_int_equal(wire_send(p->a, &h, iov, 1), -EINVAL);
	h = (struct wire_hdr){.op = WIRE_OP_PING, .flags = 2};
	assert_int_equal(wire_send(p->a, &h, NULL, 0), -EINVAL);
	free(big);
}

/* A hand-made plain frame; the payload's checksum spoiled if bad. */
static void send_plain(struct conn *c, const void *p, uint32_t len, bool bad)
{
	uint8_t raw[WIRE_HDR_SIZE];
	struct iovec pay = {(void *)p, len};
	struct iovec iov[2] = {{raw, sizeof(raw)}, pay};
	struct wire_hdr h = {.op = WIRE_OP_WRITE, .id = 3, .len = len};

	h.csum = wire_csum(&pay, 1) ^ (bad ? 1 : 0);
	wire_hdr_encode(&h, raw);
	assert_int_equal(conn_writev(c, iov, 2), 0);
}

static void cursor_reads_plain_payloads_in_pieces(void **state)
{
	struct pair *p = *state;
	uint8_t src[3000], dst[3000];
	struct iovec iov[2] = {{dst + 10, 90}, {dst + 100, 900}};
	struct wire_hdr h;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 13);
	send_plain(p->a, src, sizeof(src), false);
	assert_int_equal(wire_recv_hdr(p->b, &h), 0);
	assert_int_equal(wire_payload_left(p->b), 3000);
	assert_int_equal(wire_read(p->b, dst, 10), 0);
	assert_int_equal(wire_readv(p->b, iov, 2), 0);
	assert_int_equal(wire_payload_left(p->b), 2000);
	/* more than is left: refused, nothing read */
	assert_int_equal(wire_read(p->b, dst, 2001), -EMSGSIZE);
	assert_int_equal(wire_read(p->b, dst + 1000, 1999), 0);
	/* the read that completes the payload checked the XXH3 */
	assert_int_equal(wire_read(p->b, dst + 2999, 1), 0);
	assert_int_equal(wire_payload_left(p->b), 0);
	assert_memory_equal(dst, src, sizeof(src));
}

static void completing_read_of_a_corrupted_payload_is_ebadmsg(void **state)
{
	struct pair *p = *state;
	uint8_t src[500] = "payload", dst[500];
	struct wire_hdr h;

	send_plain(p->a, src, sizeof(src), true);
	assert_int_equal(wire_recv_hdr(p->b, &h), 0);
	/* the first pieces cannot know yet */
	assert_int_equal(wire_read(p->b, dst, 100), 0);
	assert_int_equal(wire_read(p->b, dst + 100, 399), 0);
	assert_int_equal(wire_read(p->b, dst + 499, 1), -EBADMSG);
	/* and the stream is done for */
	assert_int_equal(wire_recv_hdr(p->b, &h), -EBADMSG);
}

static void skipping_a_corrupted_payload_is_ebadmsg_too(void **state)
{
	struct pair *p = *state;
	uint8_t src[5000] = {1};
	struct wire_hdr h;

	send_plain(p->a, src, sizeof(src), true);
	assert_int_equal(wire_recv_hdr(p->b, &h), 0);
	assert_int_equal(wire_skip_payload(p->b, &h), -EBADMSG);
}

static void empty_payload_is_checked_with_its_header(void **state)
{
	struct pair *p = *state;
	struct wire_hdr h;

	send_plain(p->a, NULL, 0, true);
	assert_int_equal(wire_recv_hdr(p->b, &h), -EBADMSG);
}

static void next_header_waits_for_the_payload(void **state)
{
	struct pair *p = *state;
	uint8_t src[64] = {0}, dst[8];
	struct wire_hdr h;

	send_plain(p->a, src, sizeof(src), false);
	send_plain(p->a, src, sizeof(src), false);
	assert_int_equal(wire_recv_hdr(p->b, &h), 0);
	assert_int_equal(wire_read(p->b, dst, sizeof(dst)), 0);
	/* a caller that forgot the rest would read payload as a header */
	assert_int_equal(wire_recv_hdr(p->b, &h), -EPROTO);
}

static void recv_hdr_refuses_garbage_with_eproto(void **state)
{
	struct pair *p = *state;
	uint8_t junk[WIRE_HDR_SIZE];
	struct iovec iov = {junk, sizeof(junk)};
	struct wire_hdr got;

	memset(junk, 'G', sizeof(junk));
	assert_int_equal(conn_writev(p->a, &iov, 1), 0);
	assert_int_equal(wire_recv_hdr(p->b, &got), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_round_trips_through_encode_and_decode),
		cmocka_unit_test(header_is_little_endian_on_the_wire),
		cmocka_unit_test(decode_rejects_bad_magic_with_eproto),
		cmocka_unit_test(decode_tells_another_version_by_its_number),
		cmocka_unit_test(decode_rejects_unknown_opcode_with_ebadmsg),
		cmocka_unit_test(decode_rejects_unknown_flags_with_ebadmsg),
		cmocka_unit_test(
			decode_rejects_oversized_payload_with_emsgsize),
		cmocka_unit_test(op_names_come_from_the_table),
		cmocka_unit_test_setup_teardown(
			cursor_reads_plain_payloads_in_pieces, pair_setup,
			pair_teardown),
		cmocka_unit_test_setup_teardown(
			completing_read_of_a_corrupted_payload_is_ebadmsg,
			pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(
			skipping_a_corrupted_payload_is_ebadmsg_too, pair_setup,
			pair_teardown),
		cmocka_unit_test_setup_teardown(
			empty_payload_is_checked_with_its_header, pair_setup,
			pair_teardown),
		cmocka_unit_test_setup_teardown(
			next_header_waits_for_the_payload, pair_setup,
			pair_teardown),
		cmocka_unit_test(statuses_map_to_errno_and_back),
		cmocka_unit_test(csum_is_independent_of_iovec_split),
		cmocka_unit_test_setup_teardown(
			frame_round_trips_over_a_connection, pair_setup,
			pair_teardown),
		cmocka_unit_test_setup_teardown(
			recv_payload_rejects_a_corrupted_payload_with_ebadmsg,
			pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(
			recv_payload_refuses_a_small_buffer_and_skip_drops_it,
			pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(
			recv_payload_scatters_into_many_iovecs, pair_setup,
			pair_teardown),
		cmocka_unit_test_setup_teardown(
			send_refuses_oversized_payloads_and_bad_arguments,
			pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(
			recv_hdr_refuses_garbage_with_eproto, pair_setup,
			pair_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
