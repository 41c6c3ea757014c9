// SPDX-License-Identifier: MIT
/*
 * Encoders and pure decoders for the block data path payloads
 * (proto_block.h). These are the only functions that see the
 * wire layout; everything above works on host-order structs. Every decoder
 * is a fuzz target (tests/fuzz/fuzz-proto-block.c).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "cmp/wire.h"
#include "proto_block.h"

/* Wire layouts: little-endian, naturally aligned, no implicit padding. */
struct alloc_req_wire {
	uint32_t owner;
	uint32_t n;
};
_Static_assert(sizeof(struct alloc_req_wire) == PROTO_BLOCK_ALLOC_REQ_SIZE,
	       "alloc request layout");

struct alloc_rep_wire {
	uint32_t count;
	uint32_t rkey;
	uint64_t addr;
	uint64_t len;
};
_Static_assert(sizeof(struct alloc_rep_wire) == PROTO_BLOCK_ALLOC_REP_SIZE,
	       "alloc reply layout");

struct free_req_wire {
	uint32_t owner;
	uint32_t n;
};
_Static_assert(sizeof(struct free_req_wire) == PROTO_BLOCK_FREE_REQ_SIZE,
	       "free request layout");

struct rw_wire {
	uint32_t owner;
	uint32_t block;
	uint32_t off;
	uint32_t len;
};
_Static_assert(sizeof(struct rw_wire) == PROTO_BLOCK_RW_SIZE, "rw layout");

struct batch_wire {
	uint32_t owner;
	uint32_t n;
};
_Static_assert(sizeof(struct batch_wire) == PROTO_BLOCK_BATCH_SIZE,
	       "batch layout");

struct extent_wire {
	uint32_t block;
	uint32_t off;
	uint32_t len;
	uint32_t reserved; /* zero */
};
_Static_assert(sizeof(struct extent_wire) == PROTO_BLOCK_EXTENT_SIZE,
	       "extent layout");

struct status_wire {
	uint32_t node;
	uint32_t block_size;
	uint32_t total;
	uint32_t free;
	uint64_t addr;
	uint64_t len;
	uint32_t rkey;
	uint32_t reserved;
};
_Static_assert(sizeof(struct status_wire) == PROTO_BLOCK_STATUS_REP_SIZE,
	       "status layout");

struct moved_wire {
	uint32_t from;
	uint32_t node;
	uint32_t block;
	uint32_t reserved;
	char addr[PROTO_BLOCK_ADDR_LEN];
};
_Static_assert(sizeof(struct moved_wire) == PROTO_BLOCK_MOVED_SIZE,
	       "moved layout");

bool proto_block_size_valid(uint64_t block_size)
{
	return block_size >= PROTO_BLOCK_MIN_SIZE &&
	       block_size <= PROTO_BLOCK_MAX_SIZE &&
	       !(block_size & (block_size - 1));
}

static bool range_valid(uint32_t off, uint32_t len, uint32_t block_size)
{
	return len > 0 && off < block_size && len <= block_size - off;
}

static void put_idx(uint8_t *buf, const uint32_t *idx, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = htole32(idx[i]);

		memcpy(buf + 4 * (size_t)i, &v, 4);
	}
}

static void get_idx(const uint8_t *buf, uint32_t *idx, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v;

		memcpy(&v, buf + 4 * (size_t)i, 4);
		idx[i] = le32toh(v);
	}
}

int proto_block_alloc_req_encode(const struct proto_block_alloc_req *r,
				 uint8_t *buf, size_t cap)
{
	struct alloc_req_wire w = {
		.owner = htole32(r->owner),
		.n = htole32(r->n),
	};

	if (cap < sizeof(w))
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_block_alloc_req_decode(const uint8_t *buf, size_t len,
				 struct proto_block_alloc_req *out)
{
	struct alloc_req_wire w;

	if (len != sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	out->owner = le32toh(w.owner);
	out->n = le32toh(w.n);
	if (!out->owner || !out->n || out->n > PROTO_BLOCK_MAX_IDX)
		return -EINVAL;
	return 0;
}

int proto_block_alloc_rep_encode(const struct proto_block_alloc_rep *r,
				 const uint32_t *idx, uint8_t *buf, size_t cap)
{
	struct alloc_rep_wire w = {
		.count = htole32(r->count),
		.rkey = htole32(r->region.rkey),
		.addr = htole64(r->region.addr),
		.len = htole64(r->region.len),
	};
	size_t need = sizeof(w) + 4 * (size_t)r->count;

	if (r->count > PROTO_BLOCK_MAX_IDX)
		return -EINVAL;
	if (cap < need)
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	put_idx(buf + sizeof(w), idx, r->count);
	return need;
}

int proto_block_alloc_rep_decode(const uint8_t *buf, size_t len,
				 struct proto_block_alloc_rep *out,
				 uint32_t *idx, size_t max_idx)
{
	struct alloc_rep_wire w;

	if (len < sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	out->count = le32toh(w.count);
	out->region.rkey = le32toh(w.rkey);
	out->region.addr = le64toh(w.addr);
	out->region.len = le64toh(w.len);
	if (out->count > PROTO_BLOCK_MAX_IDX || out->count > max_idx)
		return -EINVAL;
	if (len != sizeof(w) + 4 * (size_t)out->count)
		return -EMSGSIZE;
	get_idx(buf + sizeof(w), idx, out->count);
	return 0;
}

int proto_block_free_req_encode(uint32_t owner, const uint32_t *idx, uint32_t n,
				uint8_t *buf, size_t cap)
{
	struct free_req_wire w = {
		.owner = htole32(owner),
		.n = htole32(n),
	};
	size_t need = sizeof(w) + 4 * (size_t)n;

	if (!n || n > PROTO_BLOCK_MAX_IDX)
		return -EINVAL;
	if (cap < need)
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	put_idx(buf + sizeof(w), idx, n);
	return need;
}

int proto_block_free_req_decode(const uint8_t *buf, size_t len, uint32_t *owner,
				uint32_t *idx, size_t max_idx, uint32_t *n)
{
	struct free_req_wire w;
	uint32_t count;

	if (len < sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	count = le32toh(w.n);
	if (!le32toh(w.owner) || !count || count > PROTO_BLOCK_MAX_IDX ||
	    count > max_idx)
		return -EINVAL;
	if (len != sizeof(w) + 4 * (size_t)count)
		return -EMSGSIZE;
	*owner = le32toh(w.owner);
	*n = count;
	get_idx(buf + sizeof(w), idx, count);
	return 0;
}

int proto_block_rw_encode(const struct proto_block_rw *r, uint8_t *buf,
			  size_t cap)
{
	struct rw_wire w = {
		.owner = htole32(r->owner),
		.block = htole32(r->block),
		.off = htole32(r->off),
		.len = htole32(r->len),
	};

	if (cap < sizeof(w))
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_block_rw_decode(const uint8_t *buf, size_t len, uint64_t payload_len,
			  bool write, uint32_t block_size,
			  struct proto_block_rw *out)
{
	struct rw_wire w;
	uint64_t want;

	if (len < sizeof(w) || payload_len < sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	out->owner = le32toh(w.owner);
	out->block = le32toh(w.block);
	out->off = le32toh(w.off);
	out->len = le32toh(w.len);
	if (!out->owner || !range_valid(out->off, out->len, block_size))
		return -EINVAL;
	want = sizeof(w) + (write ? (uint64_t)out->len : 0);
	if (payload_len != want)
		return -EMSGSIZE;
	return 0;
}

int proto_block_batch_encode(uint32_t owner,
			     const struct proto_block_extent *ext, uint32_t n,
			     uint8_t *buf, size_t cap)
{
	struct batch_wire w = {
		.owner = htole32(owner),
		.n = htole32(n),
	};
	size_t need = sizeof(w) + (size_t)n * sizeof(struct extent_wire);

	if (!n || n > PROTO_BLOCK_MAX_BATCH)
		return -EINVAL;
	if (cap < need)
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	for (uint32_t i = 0; i < n; i++) {
		struct extent_wire e = {
			.block = htole32(ext[i].block),
			.off = htole32(ext[i].off),
			.len = htole32(ext[i].len),
		};

		memcpy(buf + sizeof(w) + i * sizeof(e), &e, sizeof(e));
	}
	return need;
}

int proto_block_batch_prefix(const uint8_t *buf, size_t len)
{
	struct batch_wire w;
	uint32_t n;

	if (len < sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	n = le32toh(w.n);
	if (!le32toh(w.owner) || !n || n > PROTO_BLOCK_MAX_BATCH)
		return -EINVAL;
	return sizeof(w) + n * sizeof(struct extent_wire);
}

int proto_block_batch_decode(const uint8_t *buf, size_t len,
			     uint64_t payload_len, bool write,
			     uint32_t block_size, struct proto_block_batch *out,
			     struct proto_block_extent *ext, size_t max_ext)
{
	struct batch_wire w;
	uint64_t total = 0;
	int hdr_len;

	hdr_len = proto_block_batch_prefix(buf, len);
	if (hdr_len < 0)
		return hdr_len;
	if (len < (size_t)hdr_len || payload_len < (uint64_t)hdr_len)
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	out->owner = le32toh(w.owner);
	out->n = le32toh(w.n);
	if (out->n > max_ext)
		return -EINVAL;
	for (uint32_t i = 0; i < out->n; i++) {
		struct extent_wire e;

		memcpy(&e, buf + sizeof(w) + i * sizeof(e), sizeof(e));
		ext[i].block = le32toh(e.block);
		ext[i].off = le32toh(e.off);
		ext[i].len = le32toh(e.len);
		if (e.reserved ||
		    !range_valid(ext[i].off, ext[i].len, block_size))
			return -EINVAL;
		total += ext[i].len;
	}
	if (total > WIRE_MAX_PAYLOAD - (uint64_t)hdr_len)
		return -EINVAL;
	out->data_len = total;
	if (payload_len != (uint64_t)hdr_len + (write ? total : 0))
		return -EMSGSIZE;
	return hdr_len;
}

int proto_block_status_encode(const struct proto_block_status *s, uint8_t *buf,
			      size_t cap)
{
	struct status_wire w = {
		.node = htole32(s->node),
		.block_size = htole32(s->block_size),
		.total = htole32(s->total),
		.free = htole32(s->free),
		.addr = htole64(s->region.addr),
		.len = htole64(s->region.len),
		.rkey = htole32(s->region.rkey),
	};

	if (cap < sizeof(w))
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_block_status_decode(const uint8_t *buf, size_t len,
			      struct proto_block_status *out)
{
	struct status_wire w;

	if (len != sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	out->node = le32toh(w.node);
	out->block_size = le32toh(w.block_size);
	out->total = le32toh(w.total);
	out->free = le32toh(w.free);
	out->region.addr = le64toh(w.addr);
	out->region.len = le64toh(w.len);
	out->region.rkey = le32toh(w.rkey);
	if (!out->node || !proto_block_size_valid(out->block_size) ||
	    out->free > out->total || w.reserved)
		return -EINVAL;
	return 0;
}

int proto_block_moved_encode(const struct proto_block_moved *m, uint8_t *buf,
			     size_t cap)
{
	struct moved_wire w = {
		.from = htole32(m->from),
		.node = htole32(m->node),
		.block = htole32(m->block),
	};
	size_t alen = strnlen(m->addr, sizeof(m->addr));

	if (alen >= sizeof(w.addr) || !m->node)
		return -EINVAL;
	if (cap < sizeof(w))
		return -ENOBUFS;
	memcpy(w.addr, m->addr, alen);
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_block_moved_decode(const uint8_t *buf, size_t len,
			     struct proto_block_moved *out)
{
	struct moved_wire w;

	if (len != sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	if (!memchr(w.addr, '\0', sizeof(w.addr)) || !w.node || w.reserved)
		return -EINVAL;
	out->from = le32toh(w.from);
	out->node = le32toh(w.node);
	out->block = le32toh(w.block);
	memcpy(out->addr, w.addr, sizeof(out->addr));
	return 0;
}
