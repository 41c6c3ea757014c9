// SPDX-License-Identifier: MIT
/*
 * Frames (include/cmp/wire.h): the header codec, the opcode and status
 * tables and the payload checksum of insecure mode. wire_hdr_decode() is
 * the pure decoder every received header goes through and the fuzz target
 * tests/fuzz/fuzz-frame.c. Sending and receiving, plain and sealed, live in
 * wire-io.c.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "cmp/util.h"
#include "wire-internal.h"

/* The header as it sits on the wire; fields little-endian. */
struct wire_hdr_le {
	uint32_t magic;
	uint8_t version;
	uint8_t op;
	uint16_t flags;
	uint32_t status;
	uint32_t len;
	uint64_t id;
	uint64_t csum;
};

_Static_assert(sizeof(struct wire_hdr_le) == WIRE_HDR_SIZE,
	       "wire header is 32 bytes");
_Static_assert(offsetof(struct wire_hdr_le, version) == 4, "version at 4");
_Static_assert(offsetof(struct wire_hdr_le, op) == 5, "op at 5");
_Static_assert(offsetof(struct wire_hdr_le, flags) == 6, "flags at 6");
_Static_assert(offsetof(struct wire_hdr_le, status) == 8, "status at 8");
_Static_assert(offsetof(struct wire_hdr_le, len) == 12, "len at 12");
_Static_assert(offsetof(struct wire_hdr_le, id) == 16, "id at 16");
_Static_assert(offsetof(struct wire_hdr_le, csum) == 24, "csum at 24");
_Static_assert(WIRE_OP_MAX <= 256, "opcodes fit the 8-bit field");

static const char *const op_names[WIRE_OP_MAX] = {
#define WIRE_OP_NAME(name, val) [val] = #name,
	WIRE_OPS(WIRE_OP_NAME)
#undef WIRE_OP_NAME
};

const char *wire_op_name(unsigned int op)
{
	return op < WIRE_OP_MAX ? op_names[op] : NULL;
}

bool wire_op_valid(unsigned int op)
{
	return wire_op_name(op) != NULL;
}

const char *wire_status_name(uint32_t status)
{
	switch (status) {
#define WIRE_STATUS_NAME(name, val, err) \
	case val:                        \
		return #name;
		WIRE_STATUSES(WIRE_STATUS_NAME)
#undef WIRE_STATUS_NAME
	}
	return NULL;
}

uint32_t wire_status_from_errno(int neg_errno)
{
	int err = neg_errno < 0 ? -neg_errno : neg_errno;

	switch (err) {
#define WIRE_STATUS_FROM(name, val, e) \
	case e:                        \
		return WIRE_S_##name;
		WIRE_STATUSES(WIRE_STATUS_FROM)
#undef WIRE_STATUS_FROM
	}
	return WIRE_S_IO;
}

int wire_status_to_errno(uint32_t status)
{
	switch (status) {
#define WIRE_STATUS_TO(name, val, err) \
	case val:                      \
		return -(err);
		WIRE_STATUSES(WIRE_STATUS_TO)
#undef WIRE_STATUS_TO
	}
	return -EIO;
}

void wire_hdr_encode(const struct wire_hdr *h, uint8_t out[WIRE_HDR_SIZE])
{
	struct wire_hdr_le le = {
		.magic = htole32(WIRE_MAGIC),
		.version = WIRE_VERSION,
		.op = h->op,
		.flags = htole16(h->flags),
		.status = htole32(h->status),
		.len = htole32(h->len),
		.id = htole64(h->id),
		.csum = htole64(h->csum),
	};

	memcpy(out, &le, sizeof(le));
}

int wire_hdr_decode(const uint8_t in[WIRE_HDR_SIZE], struct wire_hdr *h)
{
	struct wire_hdr_le le;

	memcpy(&le, in, sizeof(le));
	if (le32toh(le.magic) != WIRE_MAGIC)
		return -EPROTO;
	h->version = le.version;
	if (le.version != WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if (!wire_op_valid(le.op) || (le16toh(le.flags) & ~WIRE_F_MASK))
		return -EBADMSG;
	if (le32toh(le.len) > WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	h->op = le.op;
	h->flags = le16toh(le.flags);
	h->status = le32toh(le.status);
	h->len = le32toh(le.len);
	h->id = le64toh(le.id);
	h->csum = le64toh(le.csum);
	return 0;
}

uint64_t wire_csum_prefix(const struct iovec *iov, int iovcnt, size_t len)
{
	XXH3_state_t st;
	int i;

	if (iovcnt == 1 || len == 0)
		return XXH3_64bits(iovcnt ? iov[0].iov_base : NULL, len);
	XXH3_64bits_reset(&st);
	for (i = 0; i < iovcnt && len; i++) {
		size_t n = MIN(len, iov[i].iov_len);

		XXH3_64bits_update(&st, iov[i].iov_base, n);
		len -= n;
	}
	return XXH3_64bits_digest(&st);
}

uint64_t wire_csum(const struct iovec *iov, int iovcnt)
{
	return wire_csum_prefix(iov, iovcnt, cmp_iov_total(iov, iovcnt));
}
