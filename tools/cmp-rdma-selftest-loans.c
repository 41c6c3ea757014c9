// SPDX-License-Identifier: MIT
/*
 * cmp-rdma-selftest's block server check (loopback mode): the real peer
 * service (pool/peer.c) lends a small RAM store on the device, and owner
 * connections made with the real handshake (insecure: the tool trusts
 * itself) borrow from it as cmpfs does. On hardware this shows what the
 * unit tests show on the fake fabric: a loan's memory window lets its
 * owner read and write exactly that block one-sided, another owner's
 * connection is refused, and once the loan ends (FREE, GOODBYE) the NIC
 * refuses the old rkey. Without memory windows it checks that loans still
 * travel as messages (and fails with --require-mw).
 *
 *   owner A                       block server (in this process)
 *   ALLOC {2, WINDOWS} -------->  binds a window per loan to A's QP
 *   RDMA WRITE/READ loan 0 ---->  lands in the store (checked in memory)
 *   owner B: RDMA READ, A's rkey  refused (the window is A's QP's)
 *   FREE loan 0 --------------->  window invalidated, block cleared
 *   RDMA READ loan 0 ---------->  refused (A's connection ends: by design)
 *   owner A': ALLOC, GOODBYE --> RDMA READ refused
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/peer.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "cmp-rdma-selftest.h"
#include "proto_block.h"

#define LOAN_BS (64u << 10)
#define LOAN_BLOCKS 16u
#define PROVIDER_NODE 1u
#define OWNER_A 2u
#define OWNER_B 3u
#define CALL_MS 5000

/* A RAM store, as cmp-memserver's: free blocks read as zeros. */
struct store {
	pthread_mutex_t lock;
	uint8_t *base;
	uint32_t nfree;
	uint32_t free_stack[LOAN_BLOCKS];
};

static int store_alloc(void *ctx, uint32_t owner, uint32_t n, uint32_t *idx)
{
	struct store *s = ctx;
	uint32_t got;

	pthread_mutex_lock(&s->lock);
	got = MIN(n, s->nfree);
	for (uint32_t i = 0; i < got; i++)
		idx[i] = s->free_stack[--s->nfree];
	pthread_mutex_unlock(&s->lock);
	return got ? (int)got : -ENOSPC;
}

static void store_free(void *ctx, const uint32_t *idx, uint32_t n)
{
	struct store *s = ctx;

	for (uint32_t i = 0; i < n; i++)
		memset(s->base + (size_t)idx[i] * LOAN_BS, 0, LOAN_BS);
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < n; i++)
		s->free_stack[s->nfree++] = idx[i];
	pthread_mutex_unlock(&s->lock);
}

static void *store_ptr(void *ctx, uint32_t idx)
{
	return ((struct store *)ctx)->base + (size_t)idx * LOAN_BS;
}

static void store_counts(void *ctx, uint32_t *total, uint32_t *nfree)
{
	struct store *s = ctx;

	*total = LOAN_BLOCKS;
	pthread_mutex_lock(&s->lock);
	*nfree = s->nfree;
	pthread_mutex_unlock(&s->lock);
}

static void *store_region(void *ctx, size_t *len)
{
	*len = (size_t)LOAN_BLOCKS * LOAN_BS;
	return ((struct store *)ctx)->base;
}

static const struct peer_store_ops store_ops = {
	.alloc = store_alloc,
	.free = store_free,
	.ptr = store_ptr,
	.counts = store_counts,
	.region = store_region,
};

struct check {
	struct peer *peer;
	struct store *store;
	int failures;
};

static void result(struct check *k, bool good, const char *what, int err)
{
	if (good) {
		printf("ok    block server: %s\n", what);
		return;
	}
	k->failures++;
	printf("FAIL  block server: %s%s%s\n", what, err ? ": " : "",
	       err ? strerror(-err) : "");
}

/* An owner's authenticated connection to the block server. */
static int owner_connect(struct check *k, uint32_t node, struct conn **out)
{
	int ret = conn_connect(peer_listen_addr(k->peer), CALL_MS, out);

	if (!ret)
		ret = conn_set_timeout(*out, CALL_MS);
	if (!ret)
		ret = auth_client(*out, NULL, node, cmp_incarnation(), CALL_MS);
	if (ret && *out) {
		conn_destroy(*out);
		*out = NULL;
	}
	return ret;
}

/* One request; its reply payload into rep. The wire status, or -errno. */
static int call(struct conn *c, uint8_t op, const void *pl, size_t len,
		void *rep, size_t cap, size_t *got)
{
	struct iovec qiov = {(void *)pl, len}, piov = {rep, cap};
	struct wire_hdr h = {.op = op, .id = 1};
	int ret = wire_send(c, &h, &qiov, len ? 1 : 0);

	if (!ret)
		ret = wire_recv_hdr(c, &h);
	if (ret)
		return ret;
	if (h.len > cap)
		return -EPROTO;
	if (h.len)
		ret = wire_recv_payload(c, &h, &piov, 1);
	if (got)
		*got = h.len;
	return ret ? ret : (int)h.status;
}

struct loans {
	struct proto_block_alloc_rep rep;
	struct proto_block_ref ref[LOAN_BLOCKS];
	uint32_t rkey[LOAN_BLOCKS];
};

/* ALLOC n asking for windows: 0, and l->rep.flags says whether it got them. */
static int borrow(struct conn *c, uint32_t n, struct loans *l)
{
	uint8_t req[PROTO_BLOCK_ALLOC_REQ_SIZE];
	static uint8_t rep[PROTO_BLOCK_MAX_IDX_MSG];
	size_t got;
	int ret;

	proto_block_alloc_req_encode(n, PROTO_BLOCK_ALLOC_WINDOWS, req,
				     sizeof(req));
	ret = call(c, WIRE_OP_ALLOC, req, sizeof(req), rep, sizeof(rep), &got);
	if (ret)
		return ret > 0 ? -EPROTO : ret;
	ret = proto_block_alloc_rep_decode(rep, got, LOAN_BS, &l->rep, l->ref,
					   l->rkey, n);
	return ret ? ret : l->rep.count == n ? 0 : -ENOSPC;
}

static struct conn_region window(const struct loans *l, uint32_t i)
{
	return (struct conn_region){
		.addr = l->rep.base + (uint64_t)l->ref[i].block * LOAN_BS,
		.len = LOAN_BS,
		.rkey = l->rkey[i],
	};
}

static int end_loans(struct conn *c, uint8_t op, const struct loans *l,
		     uint32_t n)
{
	uint8_t pl[PROTO_BLOCK_LIST_SIZE + PROTO_BLOCK_REF_SIZE * LOAN_BLOCKS];
	uint8_t rep[PROTO_BLOCK_COUNT_SIZE];
	int len = 0, ret;

	if (op == WIRE_OP_FREE)
		len = proto_block_list_encode(0, l->ref, n, pl, sizeof(pl));
	if (len < 0)
		return len;
	ret = call(c, op, pl, (size_t)len, rep, sizeof(rep), NULL);
	return ret > 0 ? -EPROTO : ret;
}

/* A READ through window w must fail: the NIC refuses a dead window. */
static void refused(struct check *k, struct conn *c, const struct loans *l,
		    uint32_t i, const char *what)
{
	struct conn_region w = window(l, i);
	uint8_t buf[64];
	int ret = conn_rma_read(c, buf, sizeof(buf), &w, 0);

	result(k, ret < 0, what, 0);
	if (ret < 0)
		printf("      (the device answered: %s)\n", strerror(-ret));
}

/* Two-sided: a READ message of loan 0 works (no windows here). */
static void messages_work(struct check *k, struct conn *c,
			  const struct loans *l)
{
	struct proto_block_rw rw = {l->ref[0].block, l->ref[0].epoch, 0, 64};
	uint8_t pl[PROTO_BLOCK_RW_SIZE], out[64];

	proto_block_rw_encode(&rw, pl, sizeof(pl));
	result(k,
	       call(c, WIRE_OP_READ, pl, sizeof(pl), out, sizeof(out), NULL) ==
		       WIRE_S_OK,
	       "no memory windows: loans travel as READ/WRITE messages", 0);
}

/* Owner A's window reaches its block, and only from A's connection. */
static void window_reaches_its_block(struct check *k, struct conn *a,
				     const struct loans *l)
{
	static uint8_t in[LOAN_BS], out[LOAN_BS];
	uint8_t *blk = store_ptr(k->store, l->ref[0].block);
	struct conn_region w = window(l, 0);
	struct conn *b = NULL;
	int ret;

	st_fill(in, 0, LOAN_BS, 7);
	ret = conn_rma_write(a, in, LOAN_BS, &w, 0);
	result(k, !ret && !memcmp(blk, in, LOAN_BS),
	       "RDMA WRITE through a loan's window landed in its block", ret);
	ret = conn_rma_read(a, out, LOAN_BS, &w, 0);
	result(k, !ret && !memcmp(out, in, LOAN_BS),
	       "RDMA READ through the window", ret);
	ret = owner_connect(k, OWNER_B, &b);
	if (ret) {
		result(k, false, "another owner's connection", ret);
		return;
	}
	ret = conn_rma_write(b, "evil", 4, &w, 0);
	result(k, ret < 0 && !memcmp(blk, in, LOAN_BS),
	       "another owner's connection is refused that window", 0);
	conn_destroy(b);
}

/* A FREE and a GOODBYE each end the loans' windows for the NIC. */
static void ended_loans_are_refused(struct check *k, struct conn *a,
				    const struct loans *l)
{
	struct conn *again = NULL;
	struct loans l2;
	int ret;

	ret = end_loans(a, WIRE_OP_FREE, l, 1);
	result(k, !ret, "FREE of the loan", ret);
	refused(k, a, l, 0, "a freed loan's old rkey is refused");
	ret = owner_connect(k, OWNER_A, &again);
	if (!ret)
		ret = borrow(again, 1, &l2);
	if (!ret)
		ret = end_loans(again, WIRE_OP_GOODBYE, &l2, 0);
	result(k, !ret, "ALLOC, then GOODBYE, on a new connection", ret);
	if (!ret)
		refused(k, again, &l2, 0,
			"the old rkey is refused after GOODBYE");
	if (again)
		conn_destroy(again);
	result(k, peer_windows(k->peer) == 0,
	       "no window left bound once the loans ended", 0);
}

static int check_loans(struct check *k)
{
	struct conn *a = NULL;
	struct loans l;
	int ret = owner_connect(k, OWNER_A, &a);

	if (!ret)
		ret = borrow(a, 2, &l);
	if (ret) {
		result(k, false, "ALLOC on an owner's connection", ret);
		goto out;
	}
	if (!(l.rep.flags & PROTO_BLOCK_ALLOC_WINDOWS)) {
		printf("block server: memory windows: NO\n");
		messages_work(k, a, &l);
		if (opt.require_mw)
			result(k, false, "memory windows (--require-mw)", 0);
		goto out;
	}
	printf("block server: memory windows: yes, one per loan\n");
	window_reaches_its_block(k, a, &l);
	ended_loans_are_refused(k, a, &l);
out:
	if (a)
		conn_destroy(a);
	return ret;
}

int st_run_loans(const char *listen_url)
{
	struct store s = {.nfree = LOAN_BLOCKS};
	struct check k = {.store = &s};
	int ret;

	s.base = aligned_alloc(4096, (size_t)LOAN_BLOCKS * LOAN_BS);
	if (!s.base)
		return -ENOMEM;
	memset(s.base, 0, (size_t)LOAN_BLOCKS * LOAN_BS);
	pthread_mutex_init(&s.lock, NULL);
	for (uint32_t i = 0; i < LOAN_BLOCKS; i++)
		s.free_stack[i] = LOAN_BLOCKS - 1 - i;
	k.peer = peer_create(&(struct peer_config){
		.listen_addr = listen_url,
		.node_id = PROVIDER_NODE,
		.block_size = LOAN_BS,
		.ops = &store_ops,
		.ctx = &s,
	});
	if (!k.peer) {
		ret = -errno;
		fprintf(stderr, "block server on %s: %s\n", listen_url,
			strerror(-ret));
	} else {
		printf("block server: lending %u blocks of %u KiB on %s\n",
		       LOAN_BLOCKS, LOAN_BS >> 10, peer_listen_addr(k.peer));
		ret = check_loans(&k);
		peer_destroy(k.peer);
	}
	pthread_mutex_destroy(&s.lock);
	free(s.base);
	if (!ret && k.failures) {
		printf("%d block server check(s) FAILED\n", k.failures);
		return -EIO;
	}
	return ret;
}
