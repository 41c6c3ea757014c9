// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the frame header decoder (connector/frame.c): every frame
 * a peer sends goes through wire_hdr_decode() before anything acts on it.
 * Input: a 32-byte header, then payload bytes. Besides "does not crash", it
 * checks what must hold for any header the decoder accepts: it re-encodes to
 * the same bytes, names a known opcode, and the payload checksum does not
 * depend on how the payload is split into iovecs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "cmp/util.h"
#include "cmp/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_status(uint32_t status)
{
	int err = wire_status_to_errno(status);

	if (err > 0)
		abort();
	if (wire_status_name(status) && wire_status_from_errno(err) != status)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[WIRE_HDR_SIZE];
	struct iovec whole;
	struct iovec parts[3];
	struct wire_hdr h;
	size_t len;
	size_t cut;

	if (size < WIRE_HDR_SIZE || wire_hdr_decode(data, &h))
		return 0;
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
	return 0;
}
