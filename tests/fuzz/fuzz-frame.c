// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the frame header decoder (connector/frame.c): every frame
 * a peer sends goes through wire_hdr_decode() before anything acts on it.
 * Input: a 32-byte header, then payload bytes. Besides "does not crash", it
 * checks what must hold for any header the decoder accepts: it re-encodes to
 * the same bytes, names a known opcode, and the payload checksum does not
 * depend on how the payload is split into iovecs.
 *
 * Then the same bytes are received as a stream of frames over a connection,
 * alternating wire_recv_payload() into a scatter list and
 * wire_skip_payload(), as a server does with requests it takes or refuses.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "stream.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Garbage from peers is logged as a warning: expected here. */
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

static void check_status(uint32_t status)
{
	int err = wire_status_to_errno(status);

	if (err > 0)
		abort();
	if (wire_status_name(status) && wire_status_from_errno(err) != status)
		abort();
}

static void receive_stream(const uint8_t *data, size_t size)
{
	static uint8_t a[100], b[1000], c[3000];
	const struct iovec iov[3] = {
		{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
	struct fuzz_stream s;
	struct wire_hdr h;
	unsigned int n = 0;
	int ret;

	if (!fuzz_stream_open(&s, data, size))
		return;
	while (!wire_recv_hdr(s.us, &h)) {
		ret = n++ % 2 ? wire_skip_payload(s.us, &h)
			      : wire_recv_payload(s.us, &h, iov, 3);
		if (ret == -EMSGSIZE)
			ret = wire_skip_payload(s.us, &h);
		if (ret && ret != -EBADMSG)
			break;
	}
	fuzz_stream_close(&s);
}

static void decode_header(const uint8_t *data, size_t size)
{
	uint8_t again[WIRE_HDR_SIZE];
	struct iovec whole;
	struct iovec parts[3];
	struct wire_hdr h;
	size_t len;
	size_t cut;

	if (size < WIRE_HDR_SIZE || wire_hdr_decode(data, &h))
		return;
	wire_hdr_encode(&h, again);
	if (memcmp(again, data, WIRE_HDR_SIZE) || !wire_op_name(h.op) ||
	    h.len > WIRE_MAX_PAYLOAD)
		abort();
	check_status(h.status);

	/* What a receiver of h.len bytes would checksum. */
	len = MIN(size - WIRE_HDR_SIZE, (size_t)h.len);
	whole.iov_base = (void *)(data + WIRE_HDR_SIZE);
	whole.iov_len = len;
	cut = len ? data[0] % (len + 1) : 0;
	parts[0].iov_base = whole.iov_base;
	parts[0].iov_len = cut;
	parts[1].iov_base = NULL;
	parts[1].iov_len = 0;
	parts[2].iov_base = (uint8_t *)whole.iov_base + cut;
	parts[2].iov_len = len - cut;
	if (wire_csum(&whole, 1) != wire_csum(parts, 3))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_header(data, size);
	receive_stream(data, size);
	return 0;
}
