// SPDX-License-Identifier: MIT
/*
 * Encoders and pure decoders for the block data path payloads
 * (pool/proto_block.h). These are the only functions that see the wire
 * layout; everything above works on host-order structs. Every decoder is a
 * fuzz target (tests/fuzz/fuzz-proto-block.c).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "cmp/wire.h"
#include "proto_block.h"

/* Wire layouts: little-endian, naturally aligned, no implicit padding. */
struct ref_wire {
	uint32_t block;
	uint32_t epoch;
};
_Static_assert(sizeof(struct ref_wire) == PROTO_BLOCK_REF_SIZE, "ref layout");

struct alloc_req_wire {
	uint32_t n;
	uint32_t flags; /* enum proto_block_alloc_flags */
};
_Static_assert(sizeof(struct alloc_req_wire) == PROTO_BLOCK_ALLOC_REQ_SIZE,
	       "alloc request layout");

struct alloc_rep_wire {
	uint32_t count;
	uint32_t flags; /* enum proto_block_alloc_flags */
	uint64_t base;	/* WINDOWS: the store's address; else 0 */
	uint64_t len;	/* WINDOWS: its length; else 0 */
};
_Static_assert(sizeof(struct alloc_rep_wire) == PROTO_BLOCK_ALLOC_REP_SIZE,
	       "alloc reply layout");

/* FREE, RECONCILE (request and reply) */
struct list_wire {
	uint32_t flags;
	uint32_t n;
};
_Static_assert(sizeof(struct list_wire) == PROTO_BLOCK_LIST_SIZE,
	       "list layout");

struct count_wire {
	uint32_t count;
	uint32_t reserved; /* zero */
};
_Static_assert(sizeof(struct count_wire) == PROTO_BLOCK_COUNT_SIZE,
	       "count layout");

struct rw_wire {
	uint32_t block;
	uint32_t epoch;
	uint32_t off;
	uint32_t len;
};
_Static_assert(sizeof(struct rw_wire) == PROTO_BLOCK_RW_SIZE, "rw layout");

struct batch_wire {
	uint32_t n;
	uint32_t reserved; /* zero */
	uint64_t data_len;
};
_Static_assert(sizeof(struct batch_wire) == PROTO_BLOCK_BATCH_SIZE,
	       "batch layout");
_Static_assert(sizeof(struct rw_wire) == PROTO_BLOCK_EXTENT_SIZE,
	       "an extent is laid out as a READ");

struct status_wire {
	uint32_t node;
	uint32_t block_size;
	uint32_t total;
	uint32_t free;
	uint64_t addr;
	uint64_t len;
	uint32_t rkey;
	uint32_t lease_ms;
	uint64_t incarnation;
};
_Static_assert(sizeof(struct status_wire) == PROTO_BLOCK_STATUS_REP_SIZE,
	       "status layout");

struct moved_wire {
	uint32_t from;
	uint32_t node;
	uint32_t block;
	uint32_t epoch;
	uint32_t from_epoch;
	uint32_t flags;
	char addr[PROTO_BLOCK_ADDR_LEN];
};
_Static_assert(sizeof(struct moved_wire) == PROTO_BLOCK_MOVED_SIZE,
	       "moved layout");

struct handover_wire {
	uint32_t block;
	uint32_t epoch;
	uint32_t to;
	uint32_t reserved; /* zero */
};
_Static_assert(sizeof(struct handover_wire) == PROTO_BLOCK_HANDOVER_SIZE,
	       "handover layout");

struct drain_rep_wire {
	uint32_t held;
	uint32_t forwarding;
	uint32_t flags;
	uint32_t reserved; /* zero */
};
_Static_assert(sizeof(struct drain_rep_wire) == PROTO_BLOCK_DRAIN_REP_SIZE,
	       "drain reply layout");
_Static_assert(sizeof(struct count_wire) == PROTO_BLOCK_DRAIN_SIZE,
	       "a drain request is laid out as a count");

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

static void put_refs(uint8_t *buf, const struct proto_block_ref *refs,
		     uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct ref_wire w = {
			.block = htole32(refs[i].block),
			.epoch = htole32(refs[i].epoch),
		};

		memcpy(buf + sizeof(w) * (size_t)i, &w, sizeof(w));
	}
}

/* -EINVAL on a zero epoch: no loan has one. */
static int get_refs(const uint8_t *buf, struct proto_block_ref *refs,
		    uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct ref_wire w;

		memcpy(&w, buf + sizeof(w) * (size_t)i, sizeof(w));
		refs[i].block = le32toh(w.block);
		refs[i].epoch = le32toh(w.epoch);
		if (!refs[i].epoch)
			return -EINVAL;
	}
	return 0;
}

int proto_block_alloc_req_encode(uint32_t n, uint32_t flags, uint8_t *buf,
				 size_t cap)
{
	struct alloc_req_wire w = {.n = htole32(n), .flags = htole32(flags)};

	if (!n || n > PROTO_BLOCK_MAX_IDX || (flags & ~PROTO_BLOCK_ALLOC_MASK))
		return -EINVAL;
	if (cap < sizeof(w))
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_block_alloc_req_decode(const uint8_t *buf, size_t len, uint32_t *n,
				 uint32_t *flags)
{
	struct alloc_req_wire w;

	if (len != sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	*n = le32toh(w.n);
	*flags = le32toh(w.flags);
	if (!*n || *n > PROTO_BLOCK_MAX_IDX ||
	    (*flags & ~PROTO_BLOCK_ALLOC_MASK))
		return -EINVAL;
	return 0;
}

/* Bytes per loan in an ALLOC reply with these flags. */
static size_t alloc_rep_entry(uint32_t flags)
{
	return PROTO_BLOCK_REF_SIZE +
	       (flags & PROTO_BLOCK_ALLOC_WINDOWS ? PROTO_BLOCK_RKEY_SIZE : 0);
}

static bool alloc_rep_valid(const struct proto_block_alloc_rep *r)
{
	if (r->count > PROTO_BLOCK_MAX_IDX ||
	    (r->flags & ~PROTO_BLOCK_ALLOC_MASK))
		return false;
	if (!(r->flags & PROTO_BLOCK_ALLOC_WINDOWS))
		return !r->base && !r->len;
	return r->len && r->base + r->len > r->base;
}

int proto_block_alloc_rep_encode(const struct proto_block_alloc_rep *r,
				 const struct proto_block_ref *refs,
				 const uint32_t *rkeys, uint8_t *buf,
				 size_t cap)
{
	struct alloc_rep_wire w = {
		.count = htole32(r->count),
		.flags = htole32(r->flags),
		.base = htole64(r->base),
		.len = htole64(r->len),
	};
	size_t refs_len = PROTO_BLOCK_REF_SIZE * (size_t)r->count;
	size_t need = sizeof(w) + alloc_rep_entry(r->flags) * r->count;

	if (!alloc_rep_valid(r) ||
	    (!rkeys && (r->flags & PROTO_BLOCK_ALLOC_WINDOWS)))
		return -EINVAL;
	if (cap < need)
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	put_refs(buf + sizeof(w), refs, r->count);
	if (r->flags & PROTO_BLOCK_ALLOC_WINDOWS) {
		for (uint32_t i = 0; i < r->count; i++) {
			uint32_t k = htole32(rkeys[i]);

			memcpy(buf + sizeof(w) + refs_len +
				       PROTO_BLOCK_RKEY_SIZE * (size_t)i,
			       &k, sizeof(k));
		}
	}
	return need;
}

/* Every loan with a window lies inside [base, base + len). */
static int get_rkeys(const uint8_t *buf, const struct proto_block_alloc_rep *r,
		     uint32_t block_size, const struct proto_block_ref *refs,
		     uint32_t *rkeys)
{
	if (!rkeys || !proto_block_size_valid(block_size))
		return -EINVAL;
	for (uint32_t i = 0; i < r->count; i++) {
		uint32_t k;

		memcpy(&k, buf + PROTO_BLOCK_RKEY_SIZE * (size_t)i, sizeof(k));
		rkeys[i] = le32toh(k);
		if (rkeys[i] &&
		    ((uint64_t)refs[i].block + 1) * block_size > r->len)
			return -EINVAL;
	}
	return 0;
}

int proto_block_alloc_rep_decode(const uint8_t *buf, size_t len,
				 uint32_t block_size,
				 struct proto_block_alloc_rep *out,
				 struct proto_block_ref *refs, uint32_t *rkeys,
				 size_t max)
{
	struct alloc_rep_wire w;
	size_t refs_len;
	int ret;

	if (len < sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	out->count = le32toh(w.count);
	out->flags = le32toh(w.flags);
	out->base = le64toh(w.base);
	out->len = le64toh(w.len);
	if (!alloc_rep_valid(out) || out->count > max)
		return -EINVAL;
	if (len != sizeof(w) + alloc_rep_entry(out->flags) * out->count)
		return -EMSGSIZE;
	ret = get_refs(buf + sizeof(w), refs, out->count);
	if (ret || !(out->flags & PROTO_BLOCK_ALLOC_WINDOWS))
		return ret;
	refs_len = PROTO_BLOCK_REF_SIZE * (size_t)out->count;
	return get_rkeys(buf + sizeof(w) + refs_len, out, block_size, refs,
			 rkeys);
}

int proto_block_list_encode(uint32_t flags, const struct proto_block_ref *refs,
			    uint32_t n, uint8_t *buf, size_t cap)
{
	struct list_wire w = {.flags = htole32(flags), .n = htole32(n)};
	size_t need = sizeof(w) + PROTO_BLOCK_REF_SIZE * (size_t)n;

	if (n > PROTO_BLOCK_MAX_IDX || (flags & ~PROTO_BLOCK_RECONCILE_MASK))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!refs[i].epoch)
			return -EINVAL;
	if (cap < need)
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	put_refs(buf + sizeof(w), refs, n);
	return need;
}

int proto_block_list_decode(const uint8_t *buf, size_t len, uint32_t min_n,
			    uint32_t *flags, struct proto_block_ref *refs,
			    size_t max, uint32_t *n)
{
	struct list_wire w;
	uint32_t count;

	if (len < sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	count = le32toh(w.n);
	if (count < min_n || count > PROTO_BLOCK_MAX_IDX || count > max ||
	    (le32toh(w.flags) & ~PROTO_BLOCK_RECONCILE_MASK))
		return -EINVAL;
	if (len != sizeof(w) + PROTO_BLOCK_REF_SIZE * (size_t)count)
		return -EMSGSIZE;
	*flags = le32toh(w.flags);
	*n = count;
	return get_refs(buf + sizeof(w), refs, count);
}

int proto_block_count_encode(uint32_t count, uint8_t *buf, size_t cap)
{
	struct count_wire w = {.count = htole32(count)};

	if (cap < sizeof(w))
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_block_count_decode(const uint8_t *buf, size_t len, uint32_t *count)
{
	struct count_wire w;

	if (len != sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	if (w.reserved)
		return -EINVAL;
	*count = le32toh(w.count);
	return 0;
}

int proto_block_fence_encode(uint64_t session, uint8_t *buf, size_t cap)
{
	uint64_t w = htole64(session);

	if (!session)
		return -EINVAL;
	if (cap < PROTO_BLOCK_FENCE_SIZE)
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	return PROTO_BLOCK_FENCE_SIZE;
}

int proto_block_fence_decode(const uint8_t *buf, size_t len, uint64_t *session)
{
	uint64_t w;

	if (len != PROTO_BLOCK_FENCE_SIZE)
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	if (!w)
		return -EINVAL;
	*session = le64toh(w);
	return 0;
}

static void rw_put(uint8_t *buf, uint32_t block, uint32_t epoch, uint32_t off,
		   uint32_t len)
{
	struct rw_wire w = {
		.block = htole32(block),
		.epoch = htole32(epoch),
		.off = htole32(off),
		.len = htole32(len),
	};

	memcpy(buf, &w, sizeof(w));
}

/* One {block, epoch, off, len}: -EINVAL unless a nonzero epoch and a range
 * inside the block. */
static int rw_get(const uint8_t *buf, uint32_t block_size,
		  struct proto_block_rw *out)
{
	struct rw_wire w;

	memcpy(&w, buf, sizeof(w));
	out->block = le32toh(w.block);
	out->epoch = le32toh(w.epoch);
	out->off = le32toh(w.off);
	out->len = le32toh(w.len);
	if (!out->epoch || !range_valid(out->off, out->len, block_size))
		return -EINVAL;
	return 0;
}

int proto_block_rw_encode(const struct proto_block_rw *r, uint8_t *buf,
			  size_t cap)
{
	if (cap < PROTO_BLOCK_RW_SIZE)
		return -ENOBUFS;
	rw_put(buf, r->block, r->epoch, r->off, r->len);
	return PROTO_BLOCK_RW_SIZE;
}

int proto_block_rw_decode(const uint8_t *buf, size_t len, uint64_t payload_len,
			  bool write, uint32_t block_size,
			  struct proto_block_rw *out)
{
	uint64_t want;
	int ret;

	if (len < PROTO_BLOCK_RW_SIZE || payload_len < PROTO_BLOCK_RW_SIZE)
		return -EMSGSIZE;
	ret = rw_get(buf, block_size, out);
	if (ret)
		return ret;
	want = PROTO_BLOCK_RW_SIZE + (write ? (uint64_t)out->len : 0);
	if (payload_len != want)
		return -EMSGSIZE;
	return 0;
}

int proto_block_batch_encode(const struct proto_block_extent *ext, uint32_t n,
			     uint8_t *buf, size_t cap)
{
	struct batch_wire w = {.n = htole32(n)};
	size_t need = sizeof(w) + (size_t)n * PROTO_BLOCK_EXTENT_SIZE;
	uint64_t total = 0;

	if (!n || n > PROTO_BLOCK_MAX_BATCH)
		return -EINVAL;
	if (cap < need)
		return -ENOBUFS;
	for (uint32_t i = 0; i < n; i++) {
		rw_put(buf + sizeof(w) + i * PROTO_BLOCK_EXTENT_SIZE,
		       ext[i].block, ext[i].epoch, ext[i].off, ext[i].len);
		total += ext[i].len;
	}
	w.data_len = htole64(total);
	memcpy(buf, &w, sizeof(w));
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
	if (!n || n > PROTO_BLOCK_MAX_BATCH || w.reserved)
		return -EINVAL;
	return sizeof(w) + n * PROTO_BLOCK_EXTENT_SIZE;
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
	out->n = le32toh(w.n);
	out->data_len = le64toh(w.data_len);
	if (out->n > max_ext)
		return -EINVAL;
	for (uint32_t i = 0; i < out->n; i++) {
		struct proto_block_rw rw;

		if (rw_get(buf + sizeof(w) + i * PROTO_BLOCK_EXTENT_SIZE,
			   block_size, &rw))
			return -EINVAL;
		ext[i] = (struct proto_block_extent){
			.block = rw.block,
			.epoch = rw.epoch,
			.off = rw.off,
			.len = rw.len,
		};
		total += rw.len;
	}
	if (total != out->data_len ||
	    total > WIRE_MAX_PAYLOAD - (uint64_t)hdr_len)
		return -EINVAL;
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
		.lease_ms = htole32(s->lease_ms),
		.incarnation = htole64(s->incarnation),
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
	out->lease_ms = le32toh(w.lease_ms);
	out->incarnation = le64toh(w.incarnation);
	if (!out->node || !proto_block_size_valid(out->block_size) ||
	    out->free > out->total || !out->lease_ms)
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
		.epoch = htole32(m->epoch),
		.from_epoch = htole32(m->from_epoch),
		.flags = htole32(m->flags),
	};
	size_t alen = strnlen(m->addr, sizeof(m->addr));

	if (alen >= sizeof(w.addr) || !m->node || !m->epoch || !m->from_epoch ||
	    (m->flags & ~PROTO_BLOCK_MOVED_MASK))
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
	if (!memchr(w.addr, '\0', sizeof(w.addr)) || !w.node || !w.epoch ||
	    !w.from_epoch || (le32toh(w.flags) & ~PROTO_BLOCK_MOVED_MASK))
		return -EINVAL;
	out->from = le32toh(w.from);
	out->from_epoch = le32toh(w.from_epoch);
	out->node = le32toh(w.node);
	out->block = le32toh(w.block);
	out->epoch = le32toh(w.epoch);
	out->flags = le32toh(w.flags);
	memcpy(out->addr, w.addr, sizeof(out->addr));
	return 0;
}

int proto_block_handover_encode(const struct proto_block_handover *h,
				uint8_t *buf, size_t cap)
{
	struct handover_wire w = {
		.block = htole32(h->ref.block),
		.epoch = htole32(h->ref.epoch),
		.to = htole32(h->to),
	};

	if (!h->ref.epoch || !h->to)
		return -EINVAL;
	if (cap < sizeof(w))
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_block_handover_decode(const uint8_t *buf, size_t len,
				struct proto_block_handover *out)
{
	struct handover_wire w;

	if (len != sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	out->ref.block = le32toh(w.block);
	out->ref.epoch = le32toh(w.epoch);
	out->to = le32toh(w.to);
	if (!out->ref.epoch || !out->to || w.reserved)
		return -EINVAL;
	return 0;
}

int proto_block_ref_encode(struct proto_block_ref r, uint8_t *buf, size_t cap)
{
	if (!r.epoch)
		return -EINVAL;
	if (cap < PROTO_BLOCK_REF_SIZE)
		return -ENOBUFS;
	put_refs(buf, &r, 1);
	return PROTO_BLOCK_REF_SIZE;
}

int proto_block_ref_decode(const uint8_t *buf, size_t len,
			   struct proto_block_ref *out)
{
	if (len != PROTO_BLOCK_REF_SIZE)
		return -EMSGSIZE;
	return get_refs(buf, out, 1);
}

int proto_block_drain_encode(uint32_t flags, uint8_t *buf, size_t cap)
{
	if (flags & ~PROTO_BLOCK_DRAIN_MASK)
		return -EINVAL;
	return proto_block_count_encode(flags, buf, cap);
}

int proto_block_drain_decode(const uint8_t *buf, size_t len, uint32_t *flags)
{
	int ret = proto_block_count_decode(buf, len, flags);

	if (ret < 0)
		return ret;
	return (*flags & ~PROTO_BLOCK_DRAIN_MASK) ? -EINVAL : 0;
}

int proto_block_drain_rep_encode(const struct proto_block_drain_rep *r,
				 uint8_t *buf, size_t cap)
{
	struct drain_rep_wire w = {
		.held = htole32(r->held),
		.forwarding = htole32(r->forwarding),
		.flags = htole32(r->flags),
	};

	if (r->flags & ~PROTO_BLOCK_DRAIN_MASK)
		return -EINVAL;
	if (cap < sizeof(w))
		return -ENOBUFS;
	memcpy(buf, &w, sizeof(w));
	return sizeof(w);
}

int proto_block_drain_rep_decode(const uint8_t *buf, size_t len,
				 struct proto_block_drain_rep *out)
{
	struct drain_rep_wire w;

	if (len != sizeof(w))
		return -EMSGSIZE;
	memcpy(&w, buf, sizeof(w));
	out->held = le32toh(w.held);
	out->forwarding = le32toh(w.forwarding);
	out->flags = le32toh(w.flags);
	if ((out->flags & ~PROTO_BLOCK_DRAIN_MASK) || w.reserved)
		return -EINVAL;
	return 0;
}
