// SPDX-License-Identifier: MIT
/*
 * Fuzz target for opening sealed frames (connector/wire-io.c): the input is
 * what a peer sends on a sealed session whose keys the target knows
 * (FUZZ_SEAL_KEY in both directions, as tests/fuzz/gen-corpus.c seals its
 * seeds), after two bytes: the cipher (bit 0: AES-256-GCM, else
 * ChaCha20-Poly1305) and how payloads are taken (0: wire_recv_payload() in
 * one call, 1: skipped, else wire_read() in pieces of that many bytes). A
 * thread feeds the stream, so frames of several records fit.
 *
 * Besides "no crash, no sanitizer report", it checks the cursor's promises
 * on whatever arrives: a frame that opens hands out exactly len bytes; a
 * failure is -EBADMSG (or the stream's end), and is sticky.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "wire-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SEAL_KEY 0x5a
#define FUZZ_SEAL_MAX_INPUT (512u << 10)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

struct feeder {
	struct conn *peer;
	const uint8_t *data;
	size_t size;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	struct iovec iov = {(void *)f->data, f->size};

	/* the reader may stop early: a failed write is fine */
	if (f->size)
		conn_writev(f->peer, &iov, 1);
	shutdown(conn_fd(f->peer), SHUT_WR);
	return NULL;
}

/* Takes one frame's payload as mode says; 0 or the cursor's error. */
static int take_payload(struct conn *c, const struct wire_hdr *h, uint8_t mode,
			uint8_t *buf)
{
	struct iovec iov = {buf, WIRE_MAX_PAYLOAD};
	size_t left;
	int ret;

	if (mode == 0)
		return wire_recv_payload(c, h, &iov, 1);
	if (mode == 1)
		return wire_skip_payload(c, h);
	while ((left = wire_payload_left(c))) {
		size_t n = MIN(left, (size_t)mode);

		ret = wire_read(c, buf, n);
		if (ret)
			return ret;
		buf += n;
	}
	return 0;
}

static void receive(struct conn *us, uint8_t mode)
{
	static uint8_t buf[WIRE_MAX_PAYLOAD];
	struct wire_hdr h;
	int ret;

	for (;;) {
		ret = wire_recv_hdr(us, &h);
		if (ret)
			break;
		if (h.csum || wire_payload_left(us) != h.len)
			abort();
		ret = take_payload(us, &h, mode, buf);
		if (ret)
			break;
		if (wire_payload_left(us))
			abort();
	}
	if (ret == -EBADMSG && (wire_recv_hdr(us, &h) != -EBADMSG ||
				wire_read(us, buf, 1) != -EBADMSG))
		abort(); /* failures are sticky */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conn_listener *listener;
	uint8_t key[SEAL_KEY_BYTES];
	struct feeder f;
	enum seal_cipher cipher;
	struct conn *us;
	pthread_t t;

	if (size < 2 || size > FUZZ_SEAL_MAX_INPUT)
		return 0;
	cipher = data[0] & 1 ? SEAL_AES256GCM : SEAL_CHACHA20POLY1305;
	if (cipher == SEAL_AES256GCM && !seal_aes_available())
		return 0;
	if (!listener && conn_listen("mem://", &listener))
		abort();
	if (conn_connect(conn_listener_addr(listener), 0, &f.peer) ||
	    conn_accept(listener, &us))
		abort();
	memset(key, FUZZ_SEAL_KEY, sizeof(key));
	if (wire_seal_start(us, cipher, key, key))
		abort();
	f.data = data + 2;
	f.size = size - 2;
	if (pthread_create(&t, NULL, feed, &f))
		abort();
	receive(us, data[1]);
	/* unblocks a feeder still writing */
	conn_shutdown(us);
	pthread_join(t, NULL);
	conn_destroy(f.peer);
	conn_destroy(us);
	return 0;
}
