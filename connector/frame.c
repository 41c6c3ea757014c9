// SPDX-License-Identifier: MIT
/*
 * Frames (include/cmp/wire.h): the header codec, the opcode and status
 * tables, the payload checksum, and sending/receiving whole frames over a
 * connection. wire_hdr_decode() is the pure decoder every received header
 * goes through and the fuzz target tests/fuzz/fuzz-frame.c. Nothing here
 * allocates: headers and iovec windows live on the stack, and a frame goes
 * out as one conn_writev().
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"

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

/* Stack window for a scatter list that ends inside an iovec. */
#define RECV_WINDOW 64
/* Stack buffer wire_skip_payload() reads through. */
#define SKIP_BUF 4096

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
	if (le32toh(le.magic) != WIRE_MAGIC || le.version != WIRE_VERSION)
		return -EPROTO;
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

/* XXH3-64 of the first len bytes of the iovecs. */
static uint64_t csum_prefix(const struct iovec *iov, int iovcnt, size_t len)
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
	return csum_prefix(iov, iovcnt, cmp_iov_total(iov, iovcnt));
}

int wire_send(struct conn *c, struct wire_hdr *h, const struct iovec *payload,
	      int iovcnt)
{
	struct iovec iov[WIRE_SEND_MAX_IOV + 1];
	uint8_t hdr[WIRE_HDR_SIZE];
	size_t len;

	if (iovcnt < 0 || iovcnt > WIRE_SEND_MAX_IOV || !wire_op_valid(h->op) ||
	    (h->flags & ~WIRE_F_MASK))
		return -EINVAL;
	len = cmp_iov_total(payload, iovcnt);
	if (len > WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	h->len = (uint32_t)len;
	h->csum = csum_prefix(payload, iovcnt, len);
	wire_hdr_encode(h, hdr);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	if (iovcnt)
		memcpy(&iov[1], payload, (size_t)iovcnt * sizeof(*payload));
	return conn_writev(c, iov, iovcnt + 1);
}

static unsigned int get_le(const uint8_t *p, int bytes)
{
	unsigned int v = 0;

	while (bytes--)
		v = (v << 8) | p[bytes];
	return v;
}

int wire_recv_hdr(struct conn *c, struct wire_hdr *h)
{
	uint8_t buf[WIRE_HDR_SIZE];
	int ret;

	ret = conn_read(c, buf, sizeof(buf));
	if (ret)
		return ret;
	ret = wire_hdr_decode(buf, h);
	if (ret)
		log_warn("%s: bad frame header (magic %#x, version %u, op %u, "
			 "flags %#x, len %u): %s",
			 conn_peer(c), get_le(buf, 4), buf[4], buf[5],
			 get_le(buf + 6, 2), get_le(buf + 12, 4),
			 strerror(-ret));
	return ret;
}

/* Reads exactly len bytes into the front of iov (total >= len). */
static int readv_prefix(struct conn *c, const struct iovec *iov, int iovcnt,
			size_t len)
{
	struct iovec win[RECV_WINDOW];
	size_t rem = len;
	int n = 0;
	int ret;

	/* n whole iovecs, then rem bytes of iov[n] */
	while (n < iovcnt && iov[n].iov_len <= rem)
		rem -= iov[n++].iov_len;
	if (!rem)
		return conn_readv(c, iov, n);
	if (n < RECV_WINDOW) {
		memcpy(win, iov, (size_t)n * sizeof(*iov));
		win[n].iov_base = iov[n].iov_base;
		win[n].iov_len = rem;
		return conn_readv(c, win, n + 1);
	}
	ret = conn_readv(c, iov, n);
	if (ret)
		return ret;
	return conn_read(c, iov[n].iov_base, rem);
}

int wire_recv_payload(struct conn *c, const struct wire_hdr *h,
		      const struct iovec *iov, int iovcnt)
{
	int ret;

	if (iovcnt < 0)
		return -EINVAL;
	if (cmp_iov_total(iov, iovcnt) < h->len)
		return -EMSGSIZE;
	ret = readv_prefix(c, iov, iovcnt, h->len);
	if (ret)
		return ret;
	/* Logged by the caller, who knows what the payload was for. */
	if (csum_prefix(iov, iovcnt, h->len) != h->csum)
		return -EBADMSG;
	return 0;
}

int wire_skip_payload(struct conn *c, const struct wire_hdr *h)
{
	uint8_t buf[SKIP_BUF];
	size_t left = h->len;
	int ret;

	while (left) {
		size_t n = MIN(left, sizeof(buf));

		ret = conn_read(c, buf, n);
		if (ret)
			return ret;
		left -= n;
	}
	return 0;
}
