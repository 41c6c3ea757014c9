// SPDX-License-Identifier: MIT
/*
 * The manager message codecs: every message round-trips, sits at the
 * documented little-endian offsets, and every invalid field is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/mgr.h"

static const struct proto_mgr_register good_reg = {
	.node = 0x01020304,
	.kind = MGR_KIND_COMPUTE,
	.block_size = 64 << 10,
	.capacity = 1000,
	.free = 600,
	.addr = "tcp://10.0.0.7:7100",
	.incarnation = 0x0123456789abcdefull,
	.wpolicy = 2, /* back */
};

static void encode_reg(uint8_t *buf)
{
	assert_int_equal(proto_mgr_register_encode(&good_reg, buf,
						   PROTO_MGR_REGISTER_SIZE),
			 PROTO_MGR_REGISTER_SIZE);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static void register_round_trips_at_documented_offsets(void **state)
{
	uint8_t buf[PROTO_MGR_REGISTER_SIZE];
	struct proto_mgr_register out;

	encode_reg(buf);
	assert_int_equal(buf[0], 0x04); /* node, little-endian */
	assert_int_equal(buf[3], 0x01);
	assert_int_equal(buf[4], MGR_KIND_COMPUTE);
	assert_int_equal(buf[5], 2);	 /* the write policy */
	assert_int_equal(buf[8 + 2], 1); /* 64 KiB = 0x10000 */
	assert_int_equal(buf[16], 1000 & 0xff);
	assert_memory_equal(buf + 32, "tcp://10.0.0.7:7100", 19);
	assert_int_equal(buf[96], 0xef); /* incarnation, little-endian */
	assert_int_equal(buf[103], 0x01);
	assert_int_equal(proto_mgr_register_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.node, good_reg.node);
	assert_int_equal(out.kind, good_reg.kind);
	assert_int_equal(out.block_size, good_reg.block_size);
	assert_int_equal(out.capacity, good_reg.capacity);
	assert_int_equal(out.free, good_reg.free);
	assert_string_equal(out.addr, good_reg.addr);
	assert_int_equal(out.incarnation, good_reg.incarnation);
	assert_int_equal(out.wpolicy, good_reg.wpolicy);
}

/* Applies one corruption to a good REGISTER and expects a refusal. */
static void reg_refused(void (*spoil)(uint8_t *buf))
{
	uint8_t buf[PROTO_MGR_REGISTER_SIZE];
	struct proto_mgr_register out;

	encode_reg(buf);
	spoil(buf);
	assert_int_equal(proto_mgr_register_decode(buf, sizeof(buf), &out),
			 -EBADMSG);
}

static void node_zero(uint8_t *b)
{
	put32(b, 0);
}
static void kind_zero(uint8_t *b)
{
	b[4] = 0;
}
static void kind_three(uint8_t *b)
{
	b[4] = 3;
}
static void wpolicy_three(uint8_t *b)
{
	b[5] = MGR_WPOLICY_MAX + 1;
}
static void pad_set(uint8_t *b)
{
	b[6] = 1;
}
static void bs_not_pow2(uint8_t *b)
{
	put32(b + 8, 65537);
}
static void bs_small(uint8_t *b)
{
	put32(b + 8, 2048);
}
static void bs_large(uint8_t *b)
{
	put32(b + 8, 8u << 20);
}
static void reserved_set(uint8_t *b)
{
	put32(b + 12, 1);
}
static void cap_huge(uint8_t *b)
{
	put64(b + 16, PROTO_MGR_MAX_BLOCKS + 1);
	put64(b + 24, 0);
}
static void free_over_cap(uint8_t *b)
{
	put64(b + 24, 1001);
}
static void addr_empty(uint8_t *b)
{
	memset(b + 32, 0, 64);
}
static void addr_unterminated(uint8_t *b)
{
	memset(b + 32, 'a', 64);
}
static void addr_space(uint8_t *b)
{
	b[32 + 3] = ' ';
}
static void addr_control(uint8_t *b)
{
	b[32 + 3] = '\n';
}
static void addr_trailing_junk(uint8_t *b)
{
	b[32 + 60] = 'x';
}
static void addr_high_bit(uint8_t *b)
{
	b[32] = (uint8_t)0xc3;
}
static void incarnation_zero(uint8_t *b)
{
	put64(b + 96, 0);
}

static void register_rejects_every_invalid_field(void **state)
{
	uint8_t buf[PROTO_MGR_REGISTER_SIZE + 1];
	struct proto_mgr_register out;

	reg_refused(node_zero);
	reg_refused(kind_zero);
	reg_refused(kind_three);
	reg_refused(wpolicy_three);
	reg_refused(pad_set);
	reg_refused(bs_not_pow2);
	reg_refused(bs_small);
	reg_refused(bs_large);
	reg_refused(reserved_set);
	reg_refused(cap_huge);
	reg_refused(free_over_cap);
	reg_refused(addr_empty);
	reg_refused(addr_unterminated);
	reg_refused(addr_space);
	reg_refused(addr_control);
	reg_refused(addr_trailing_junk);
	reg_refused(addr_high_bit);
	reg_refused(incarnation_zero);

	encode_reg(buf);
	buf[PROTO_MGR_REGISTER_SIZE] = 0;
	assert_int_equal(proto_mgr_register_decode(buf, sizeof(buf), &out),
			 -EBADMSG);
	assert_int_equal(proto_mgr_register_decode(buf, sizeof(buf) - 2, &out),
			 -EBADMSG);
	assert_int_equal(proto_mgr_register_decode(buf, 0, &out), -EBADMSG);
}

static void register_encoder_checks_buffer_and_address(void **state)
{
	uint8_t buf[PROTO_MGR_REGISTER_SIZE];
	struct proto_mgr_register r = good_reg;

	assert_int_equal(proto_mgr_register_encode(&r, buf, sizeof(buf) - 1),
			 -EMSGSIZE);
	r.addr[0] = 0;
	assert_int_equal(proto_mgr_register_encode(&r, buf, sizeof(buf)),
			 -EINVAL);
	memset(r.addr, 'a', sizeof(r.addr));
	assert_int_equal(proto_mgr_register_encode(&r, buf, sizeof(buf)),
			 -EINVAL);
}

static void register_reply_round_trips_and_rejects_bad_fields(void **state)
{
	struct proto_mgr_register_reply in = {.heartbeat_ms = 1000,
					      .suspect_after = 3,
					      .epoch = 0x1122334455667788ull},
					out;
	uint8_t buf[PROTO_MGR_REGISTER_REPLY_SIZE], bad[sizeof(buf)];

	assert_int_equal(proto_mgr_register_reply_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(
		proto_mgr_register_reply_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.heartbeat_ms, 1000);
	assert_int_equal(out.suspect_after, 3);
	assert_int_equal(out.epoch, 0x1122334455667788ull);

	memcpy(bad, buf, sizeof(bad));
	put32(bad, 0); /* heartbeat 0 */
	assert_int_equal(
		proto_mgr_register_reply_decode(bad, sizeof(bad), &out),
		-EBADMSG);
	memcpy(bad, buf, sizeof(bad));
	put32(bad, 3600001);
	assert_int_equal(
		proto_mgr_register_reply_decode(bad, sizeof(bad), &out),
		-EBADMSG);
	memcpy(bad, buf, sizeof(bad));
	put32(bad + 4, 0); /* suspect_after */
	assert_int_equal(
		proto_mgr_register_reply_decode(bad, sizeof(bad), &out),
		-EBADMSG);
	memcpy(bad, buf, sizeof(bad));
	put32(bad + 4, 1001);
	assert_int_equal(
		proto_mgr_register_reply_decode(bad, sizeof(bad), &out),
		-EBADMSG);
	memcpy(bad, buf, sizeof(bad));
	put32(bad + 8, 1); /* flags: none defined ("was dead" is gone) */
	assert_int_equal(
		proto_mgr_register_reply_decode(bad, sizeof(bad), &out),
		-EBADMSG);
	memcpy(bad, buf, sizeof(bad));
	put32(bad + 12, 1); /* reserved */
	assert_int_equal(
		proto_mgr_register_reply_decode(bad, sizeof(bad), &out),
		-EBADMSG);
	memcpy(bad, buf, sizeof(bad));
	put64(bad + 16, 0); /* epoch */
	assert_int_equal(
		proto_mgr_register_reply_decode(bad, sizeof(bad), &out),
		-EBADMSG);
	assert_int_equal(
		proto_mgr_register_reply_decode(buf, sizeof(buf) - 1, &out),
		-EBADMSG);
}

static void heartbeat_round_trips_and_rejects_bad_counts(void **state)
{
	struct proto_mgr_heartbeat in = {.node = 9,
					 .counts = {1, 2, 3, 4, 5},
					 .traffic = {6, 7, 8, ~0ull}},
				   out;
	uint8_t buf[PROTO_MGR_HEARTBEAT_SIZE], bad[sizeof(buf)];
	int i;

	assert_int_equal(proto_mgr_heartbeat_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(buf[8], 1);  /* free right after node + reserved */
	assert_int_equal(buf[40], 5); /* rrl last */
	assert_int_equal(proto_mgr_heartbeat_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.node, 9);
	assert_memory_equal(&out.counts, &in.counts, sizeof(in.counts));
	/* the node's totals follow its counts: read, write, net rx, tx */
	assert_int_equal(buf[48], 6);
	assert_int_equal(buf[72], 0xff);
	assert_memory_equal(&out.traffic, &in.traffic, sizeof(in.traffic));
	/* a heartbeat of the release before (48 bytes) is refused */
	assert_int_equal(proto_mgr_heartbeat_decode(buf, 48, &out), -EBADMSG);

	memcpy(bad, buf, sizeof(bad));
	put32(bad, 0);
	assert_int_equal(proto_mgr_heartbeat_decode(bad, sizeof(bad), &out),
			 -EBADMSG);
	memcpy(bad, buf, sizeof(bad));
	put32(bad + 4, 7);
	assert_int_equal(proto_mgr_heartbeat_decode(bad, sizeof(bad), &out),
			 -EBADMSG);
	for (i = 0; i < 5; i++) {
		memcpy(bad, buf, sizeof(bad));
		put64(bad + 8 + 8 * i, PROTO_MGR_MAX_BLOCKS + 1);
		assert_int_equal(
			proto_mgr_heartbeat_decode(bad, sizeof(bad), &out),
			-EBADMSG);
	}
	/* free + LLL + RLL is this node's memory: at most 2^32 blocks */
	memcpy(bad, buf, sizeof(bad));
	put64(bad + 8, PROTO_MGR_MAX_BLOCKS);
	put64(bad + 16, 1);
	assert_int_equal(proto_mgr_heartbeat_decode(bad, sizeof(bad), &out),
			 -EBADMSG);
	assert_int_equal(
		proto_mgr_heartbeat_decode(buf, sizeof(buf) + 0 - 8, &out),
		-EBADMSG);
}

static void nodes_request_asks_for_a_snapshot_with_a_bounded_wait(void **state)
{
	struct proto_mgr_nodes_req in = {.flags = PROTO_MGR_NODES_SNAPSHOT,
					 .wait_ms = 500},
				   out;
	uint8_t buf[PROTO_MGR_NODES_REQ_SIZE], bad[sizeof(buf)];

	assert_int_equal(proto_mgr_nodes_req_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[4], 500 & 0xff);
	assert_int_equal(proto_mgr_nodes_req_decode(buf, sizeof(buf), &out), 0);
	assert_memory_equal(&in, &out, sizeof(in));

	memcpy(bad, buf, sizeof(bad));
	put32(bad, 3); /* an unknown flag */
	assert_int_equal(proto_mgr_nodes_req_decode(bad, sizeof(bad), &out),
			 -EBADMSG);
	put32(bad, 1);
	put32(bad + 4, 0); /* a snapshot without a wait */
	assert_int_equal(proto_mgr_nodes_req_decode(bad, sizeof(bad), &out),
			 -EBADMSG);
	put32(bad + 4, PROTO_MGR_SNAPSHOT_MAX_WAIT_MS + 1);
	assert_int_equal(proto_mgr_nodes_req_decode(bad, sizeof(bad), &out),
			 -EBADMSG);
	put32(bad, 0); /* a wait without a snapshot */
	put32(bad + 4, 10);
	assert_int_equal(proto_mgr_nodes_req_decode(bad, sizeof(bad), &out),
			 -EBADMSG);
	assert_int_equal(proto_mgr_nodes_req_decode(buf, 4, &out), -EBADMSG);
	in.wait_ms = 0;
	assert_int_equal(proto_mgr_nodes_req_encode(&in, buf, sizeof(buf)),
			 -EINVAL);
	in.wait_ms = 1;
	assert_int_equal(proto_mgr_nodes_req_encode(&in, buf, 4), -EMSGSIZE);
}

static void find_free_round_trips_and_needs_a_count(void **state)
{
	struct proto_mgr_find_free in = {.node = 3, .want = 17}, out;
	uint8_t buf[PROTO_MGR_FIND_FREE_SIZE];

	assert_int_equal(proto_mgr_find_free_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(proto_mgr_find_free_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.node, 3);
	assert_int_equal(out.want, 17);
	in.node = 0; /* an anonymous asker is fine */
	proto_mgr_find_free_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_mgr_find_free_decode(buf, sizeof(buf), &out), 0);
	in.want = 0;
	proto_mgr_find_free_encode(&in, buf, sizeof(buf));
	assert_int_equal(proto_mgr_find_free_decode(buf, sizeof(buf), &out),
			 -EBADMSG);
	assert_int_equal(proto_mgr_find_free_decode(buf, 7, &out), -EBADMSG);
}

static void fill_free(struct mgr_free_entry *e, size_t n)
{
	size_t i;

	memset(e, 0, n * sizeof(*e));
	for (i = 0; i < n; i++) {
		e[i].node = (uint32_t)i + 1;
		e[i].kind = i % 2 ? MGR_KIND_MEMSERVER : MGR_KIND_COMPUTE;
		e[i].free_hint = 100 * i;
		snprintf(e[i].addr, sizeof(e[i].addr), "tcp://10.0.0.%zu:7100",
			 i);
	}
}

static void free_list_round_trips_from_zero_to_max(void **state)
{
	struct mgr_free_entry in[PROTO_MGR_MAX_FREE], out[PROTO_MGR_MAX_FREE];
	uint8_t buf[PROTO_MGR_FREE_REPLY_MAX];
	size_t n, got;
	int len;

	fill_free(in, PROTO_MGR_MAX_FREE);
	memset(out, 0, sizeof(out));
	for (n = 0; n <= PROTO_MGR_MAX_FREE; n += 4) {
		len = proto_mgr_free_list_encode(in, n, buf, sizeof(buf));
		assert_int_equal(len, PROTO_MGR_LIST_HDR_SIZE +
					      n * PROTO_MGR_FREE_ENTRY_SIZE);
		assert_int_equal(
			proto_mgr_free_list_decode(buf, (size_t)len, out,
						   PROTO_MGR_MAX_FREE, &got),
			0);
		assert_int_equal(got, n);
		assert_memory_equal(in, out, n * sizeof(*in));
	}
	assert_int_equal(proto_mgr_free_list_encode(in, PROTO_MGR_MAX_FREE + 1,
						    buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(proto_mgr_free_list_encode(in, 2, buf, 100),
			 -EMSGSIZE);
}

static void free_list_rejects_bad_counts_and_entries(void **state)
{
	struct mgr_free_entry in[2], out[PROTO_MGR_MAX_FREE];
	uint8_t buf[PROTO_MGR_FREE_REPLY_MAX + 80], bad[sizeof(buf)];
	size_t got;
	int len;

	fill_free(in, 2);
	len = proto_mgr_free_list_encode(in, 2, buf, sizeof(buf));
	assert_true(len > 0);
#define REFUSED(b, l, max)                                                 \
	assert_int_equal(proto_mgr_free_list_decode(b, l, out, max, &got), \
			 -EBADMSG)
	REFUSED(buf, (size_t)len, 1); /* more than the caller can take */
	REFUSED(buf, (size_t)len - 1, 16);
	REFUSED(buf, (size_t)len + 1, 16);
	REFUSED(buf, 4, 16);
	memcpy(bad, buf, sizeof(bad));
	put32(bad, 3); /* count says 3, bytes hold 2 */
	REFUSED(bad, (size_t)len, 16);
	put32(bad, 0xffffffff);
	REFUSED(bad, (size_t)len, 16);
	memcpy(bad, buf, sizeof(bad));
	put32(bad, 17);
	REFUSED(bad, 8 + 17 * 80, 17);
	memcpy(bad, buf, sizeof(bad));
	put32(bad + 4, 1); /* reserved */
	REFUSED(bad, (size_t)len, 16);
	memcpy(bad, buf, sizeof(bad));
	put32(bad + 8 + 80, 0); /* second entry: node 0 */
	REFUSED(bad, (size_t)len, 16);
	memcpy(bad, buf, sizeof(bad));
	bad[8 + 4] = 7; /* kind */
	REFUSED(bad, (size_t)len, 16);
	memcpy(bad, buf, sizeof(bad));
	bad[8 + 5] = 1; /* pad */
	REFUSED(bad, (size_t)len, 16);
	memcpy(bad, buf, sizeof(bad));
	put64(bad + 8 + 8, PROTO_MGR_MAX_BLOCKS + 1); /* free hint */
	REFUSED(bad, (size_t)len, 16);
	memcpy(bad, buf, sizeof(bad));
	memset(bad + 8 + 16, 0, 64); /* empty address */
	REFUSED(bad, (size_t)len, 16);
#undef REFUSED
}

static void fill_nodes(struct mgr_node_info *n, size_t count)
{
	size_t i;

	memset(n, 0, count * sizeof(*n));
	for (i = 0; i < count; i++) {
		n[i].node = 1000 + (uint32_t)i;
		n[i].kind = MGR_KIND_COMPUTE;
		n[i].state = (uint8_t)(1 + i % 3);
		n[i].block_size = 4096;
		n[i].capacity = 5000 + i;
		n[i].counts = (struct proto_mgr_counts){i, 2 * i, 3, 4, 5};
		n[i].age_ms = 77 * i;
		n[i].since_ms = 1000000007ull * i;
		n[i].traffic = (struct proto_mgr_traffic){i, ~0ull - i, 7, 8};
		n[i].fresh = i % 2;
		n[i].wpolicy = (uint8_t)(i % (MGR_WPOLICY_MAX + 1));
		snprintf(n[i].addr, sizeof(n[i].addr), "mem://node-%zu", i);
	}
}

static void nodes_round_trip_and_reject_bad_entries(void **state)
{
	static struct mgr_node_info in[PROTO_MGR_MAX_NODES],
		out[PROTO_MGR_MAX_NODES];
	static uint8_t buf[PROTO_MGR_NODES_REPLY_MAX], bad[sizeof(buf)];
	size_t got;
	int len;

	fill_nodes(in, PROTO_MGR_MAX_NODES);
	len = proto_mgr_nodes_encode(in, PROTO_MGR_MAX_NODES, buf, sizeof(buf));
	assert_int_equal(len, PROTO_MGR_NODES_REPLY_MAX);
	assert_int_equal(proto_mgr_nodes_decode(buf, (size_t)len, out,
						PROTO_MGR_MAX_NODES, &got),
			 0);
	assert_int_equal(got, PROTO_MGR_MAX_NODES);
	assert_memory_equal(in, out, sizeof(in));

	len = proto_mgr_nodes_encode(in, 2, buf, sizeof(buf));
#define REFUSED(b)                                                          \
	assert_int_equal(proto_mgr_nodes_decode(b, (size_t)len, out,        \
						PROTO_MGR_MAX_NODES, &got), \
			 -EBADMSG)
	memcpy(bad, buf, (size_t)len);
	bad[8 + 5] = 0; /* state is alive, suspect or left */
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	bad[8 + 5] = 4;
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	bad[8 + 6] = 2; /* flags: only FRESH (1) is defined */
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	bad[8 + 7] = 1;
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	put32(bad + 8 + 8, 12345); /* block size */
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	put32(bad + 8 + 12, 1 << 8); /* reserved */
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	bad[8 + 12] = MGR_WPOLICY_MAX + 1; /* the write policy */
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	put64(bad + 8 + 16, PROTO_MGR_MAX_BLOCKS + 1); /* capacity */
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	put64(bad + 8 + 24 + 16, PROTO_MGR_MAX_BLOCKS + 1); /* LRL */
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	bad[8 + 72 + 3] = 0x7f; /* DEL in the address */
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	put32(bad + 176 + 8, 0); /* second node id */
	REFUSED(bad);
	memcpy(bad, buf, (size_t)len);
	bad[176 + 8 + 4] = 0; /* second kind */
	REFUSED(bad);
#undef REFUSED
	assert_int_equal(proto_mgr_nodes_decode(buf, (size_t)len, out, 1, &got),
			 -EBADMSG);
	assert_int_equal(proto_mgr_nodes_encode(in, PROTO_MGR_MAX_NODES + 1,
						buf, sizeof(buf)),
			 -EINVAL);
}

static void node_state_round_trips_at_documented_offsets(void **state)
{
	struct proto_mgr_node_state in = {.node = 0x0a0b0c0d,
					  .state = MGR_NODE_SUSPECT,
					  .kind = MGR_KIND_MEMSERVER,
					  .addr = "tcp://10.0.0.9:7200"},
				    out;
	uint8_t buf[PROTO_MGR_NODE_STATE_SIZE];

	assert_int_equal(proto_mgr_node_state_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(buf[0], 0x0d);
	assert_int_equal(buf[4], MGR_NODE_SUSPECT);
	assert_int_equal(buf[5], MGR_KIND_MEMSERVER);
	assert_memory_equal(buf + 8, "tcp://10.0.0.9:7200", 19);
	assert_int_equal(proto_mgr_node_state_decode(buf, sizeof(buf), &out),
			 0);
	assert_int_equal(out.node, in.node);
	assert_int_equal(out.state, MGR_NODE_SUSPECT);
	assert_int_equal(out.kind, MGR_KIND_MEMSERVER);
	assert_string_equal(out.addr, in.addr);
}

static void node_state_rejects_every_invalid_field(void **state)
{
	struct proto_mgr_node_state in = {.node = 42,
					  .state = MGR_NODE_LEFT,
					  .kind = MGR_KIND_COMPUTE,
					  .addr = "mem://n42"},
				    out;
	uint8_t buf[PROTO_MGR_NODE_STATE_SIZE], bad[sizeof(buf)];
#define SPOILED(what)                                                        \
	do {                                                                 \
		memcpy(bad, buf, sizeof(bad));                               \
		what;                                                        \
		assert_int_equal(                                            \
			proto_mgr_node_state_decode(bad, sizeof(bad), &out), \
			-EBADMSG);                                           \
	} while (0)

	assert_int_equal(proto_mgr_node_state_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	SPOILED(put32(bad, 0));		 /* node 0 */
	SPOILED(bad[4] = 0);		 /* no state */
	SPOILED(bad[4] = 4);		 /* unknown state */
	SPOILED(bad[5] = 3);		 /* unknown kind */
	SPOILED(bad[6] = 1);		 /* pad */
	SPOILED(memset(bad + 8, 0, 64)); /* empty address */
	SPOILED(bad[8 + 60] = 'x');	 /* junk after the NUL */
#undef SPOILED
	assert_int_equal(
		proto_mgr_node_state_decode(buf, sizeof(buf) - 1, &out),
		-EBADMSG);
	assert_int_equal(proto_mgr_node_state_encode(&in, buf, sizeof(buf) - 1),
			 -EMSGSIZE);
	in.state = 0;
	assert_int_equal(proto_mgr_node_state_encode(&in, buf, sizeof(buf)),
			 -EINVAL);
	in.state = MGR_NODE_ALIVE;
	in.addr[0] = 0;
	assert_int_equal(proto_mgr_node_state_encode(&in, buf, sizeof(buf)),
			 -EINVAL);
}

static void leave_round_trips_and_needs_an_id(void **state)
{
	struct proto_mgr_leave in = {.node = 42}, out;
	uint8_t buf[PROTO_MGR_LEAVE_SIZE];

	assert_int_equal(proto_mgr_leave_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(buf[0], 42);
	assert_int_equal(proto_mgr_leave_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.node, 42);
	put32(buf + 4, 1);
	assert_int_equal(proto_mgr_leave_decode(buf, sizeof(buf), &out),
			 -EBADMSG);
	put32(buf + 4, 0);
	put32(buf, 0);
	assert_int_equal(proto_mgr_leave_decode(buf, sizeof(buf), &out),
			 -EBADMSG);
	assert_int_equal(proto_mgr_leave_decode(buf, 4, &out), -EBADMSG);
	assert_int_equal(proto_mgr_leave_encode(&in, buf, 4), -EMSGSIZE);
}

static void role_round_trips_at_documented_offsets(void **state)
{
	struct proto_mgr_role in = {.role = MGR_ROLE_STANDBY,
				    .rank = 2,
				    .alive = 7,
				    .takeovers = 3,
				    .epoch = 0x1122334455667788ull,
				    .since_ms = 1500,
				    .defers_to = "tcp://10.0.0.1:7000",
				    .copied = 9,
				    .copied_ms = 250},
			      out;
	uint8_t buf[PROTO_MGR_ROLE_SIZE], again[PROTO_MGR_ROLE_SIZE];

	assert_int_equal(proto_mgr_role_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(buf[0], MGR_ROLE_STANDBY);
	assert_int_equal(buf[1], 2);
	assert_int_equal(buf[4], 7);
	assert_int_equal(buf[8], 3);
	assert_int_equal(buf[12], 9);
	assert_int_equal(buf[16], 0x88);
	assert_int_equal(buf[24], 1500 & 0xff);
	assert_memory_equal(buf + 32, "tcp://10.0.0.1:7000", 20);
	assert_int_equal(buf[96], 250);
	assert_int_equal(proto_mgr_role_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.role, MGR_ROLE_STANDBY);
	assert_int_equal(out.rank, 2);
	assert_int_equal(out.alive, 7);
	assert_int_equal(out.takeovers, 3);
	assert_int_equal(out.copied, 9);
	assert_int_equal(out.copied_ms, 250);
	assert_true(out.epoch == in.epoch);
	assert_int_equal(out.since_ms, 1500);
	assert_string_equal(out.defers_to, "tcp://10.0.0.1:7000");
	assert_int_equal(proto_mgr_role_encode(&out, again, sizeof(again)),
			 sizeof(again));
	assert_memory_equal(buf, again, sizeof(buf));
	/* an active manager defers to nobody: an all-zero address */
	in.role = MGR_ROLE_ACTIVE;
	in.defers_to[0] = '\0';
	assert_int_equal(proto_mgr_role_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(proto_mgr_role_decode(buf, sizeof(buf), &out), 0);
	assert_string_equal(out.defers_to, "");
	assert_int_equal(proto_mgr_role_encode(&in, buf, 8), -EMSGSIZE);
}

static void role_rejects_every_invalid_field(void **state)
{
	static const struct {
		size_t off;
		uint8_t val;
	} spoil[] = {
		{0, 0},		       /* no role */
		{0, 3},		       /* an unknown role */
		{1, MGR_MAX_MANAGERS}, /* a rank beyond any list */
		{2, 1},		       /* pad */
		{40, ' '},	       /* a space in the address */
		{95, 'x'},	       /* the address unterminated */
		{60, 'x'},	       /* junk after the address's NUL */
	};
	struct proto_mgr_role in = {.role = MGR_ROLE_ACTIVE,
				    .epoch = 1,
				    .defers_to = "tcp://10.0.0.1:7000"},
			      out;
	uint8_t buf[PROTO_MGR_ROLE_SIZE];

	for (size_t i = 0; i < sizeof(spoil) / sizeof(spoil[0]); i++) {
		assert_int_equal(proto_mgr_role_encode(&in, buf, sizeof(buf)),
				 sizeof(buf));
		buf[spoil[i].off] = spoil[i].val;
		assert_int_equal(proto_mgr_role_decode(buf, sizeof(buf), &out),
				 -EBADMSG);
	}
	assert_int_equal(proto_mgr_role_encode(&in, buf, sizeof(buf)),
			 sizeof(buf));
	memset(buf + 16, 0, 8); /* no epoch */
	assert_int_equal(proto_mgr_role_decode(buf, sizeof(buf), &out),
			 -EBADMSG);
	assert_int_equal(proto_mgr_role_decode(buf, sizeof(buf) - 1, &out),
			 -EBADMSG);
	/* an age without a copy is refused both ways */
	in.copied_ms = 5;
	assert_int_equal(proto_mgr_role_encode(&in, buf, sizeof(buf)), -EINVAL);
	in.copied_ms = 0;
	in.rank = MGR_MAX_MANAGERS;
	assert_int_equal(proto_mgr_role_encode(&in, buf, sizeof(buf)), -EINVAL);
}

static void manager_lists_split_on_commas(void **state)
{
	char m[MGR_MAX_MANAGERS][MGR_MANAGER_ADDR_LEN];
	char long_one[MGR_MANAGER_ADDR_LEN + 8];

	assert_int_equal(mgr_split_managers("tcp://a:1", m, MGR_MAX_MANAGERS),
			 1);
	assert_string_equal(m[0], "tcp://a:1");
	assert_int_equal(
		mgr_split_managers("tcp://a:1,mem://b", m, MGR_MAX_MANAGERS),
		2);
	assert_string_equal(m[0], "tcp://a:1");
	assert_string_equal(m[1], "mem://b");
	assert_int_equal(mgr_split_managers("", m, 8), -EINVAL);
	assert_int_equal(mgr_split_managers(NULL, m, 8), -EINVAL);
	assert_int_equal(mgr_split_managers("a,", m, 8), -EINVAL);
	assert_int_equal(mgr_split_managers(",a", m, 8), -EINVAL);
	assert_int_equal(mgr_split_managers("a,,b", m, 8), -EINVAL);
	assert_int_equal(mgr_split_managers("a,b,c", m, 2), -EINVAL);
	memset(long_one, 'x', sizeof(long_one) - 1);
	long_one[sizeof(long_one) - 1] = '\0';
	assert_int_equal(mgr_split_managers(long_one, m, 8), -EINVAL);
	assert_string_equal(mgr_role_name(MGR_ROLE_ACTIVE), "active");
	assert_string_equal(mgr_role_name(MGR_ROLE_STANDBY), "standby");
	assert_string_equal(mgr_role_name(0), "?");
}

static void kind_names_read_well(void **state)
{
	assert_string_equal(mgr_kind_name(MGR_KIND_COMPUTE), "compute");
	assert_string_equal(mgr_kind_name(MGR_KIND_MEMSERVER), "memserver");
	assert_string_equal(mgr_kind_name(0), "?");
	assert_string_equal(mgr_node_state_name(MGR_NODE_ALIVE), "alive");
	assert_string_equal(mgr_node_state_name(MGR_NODE_SUSPECT), "suspect");
	assert_string_equal(mgr_node_state_name(MGR_NODE_LEFT), "left");
	assert_string_equal(mgr_node_state_name(0), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(register_round_trips_at_documented_offsets),
		cmocka_unit_test(register_rejects_every_invalid_field),
		cmocka_unit_test(register_encoder_checks_buffer_and_address),
		cmocka_unit_test(
			register_reply_round_trips_and_rejects_bad_fields),
		cmocka_unit_test(heartbeat_round_trips_and_rejects_bad_counts),
		cmocka_unit_test(find_free_round_trips_and_needs_a_count),
		cmocka_unit_test(free_list_round_trips_from_zero_to_max),
		cmocka_unit_test(free_list_rejects_bad_counts_and_entries),
		cmocka_unit_test(nodes_round_trip_and_reject_bad_entries),
		cmocka_unit_test(
			nodes_request_asks_for_a_snapshot_with_a_bounded_wait),
		cmocka_unit_test(node_state_round_trips_at_documented_offsets),
		cmocka_unit_test(node_state_rejects_every_invalid_field),
		cmocka_unit_test(leave_round_trips_and_needs_an_id),
		cmocka_unit_test(role_round_trips_at_documented_offsets),
		cmocka_unit_test(role_rejects_every_invalid_field),
		cmocka_unit_test(manager_lists_split_on_commas),
		cmocka_unit_test(kind_names_read_well),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
