// SPDX-License-Identifier: MIT
/*
 * cmp-rdma-selftest's client (protocol in cmp-rdma-selftest.h): grants and
 * revokes a memory window per block as the block server does per loan,
 * checks byte ranges read and written one-sided through the windows on
 * both ends, checks on a second connection that a revoked window refuses
 * access, and measures latency and bandwidth. Without memory windows it
 * says so (blocks then travel as messages) and measures the stream only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>

#include "cmp/util.h"
#include "cmp-rdma-selftest.h"

struct ctx {
	struct conn *c;
	uint64_t block, nblocks;
	struct conn_region *win; /* per block, once granted */
	bool mw;
	uint8_t *local; /* registered: RMA goes zero copy */
	uint8_t *plain; /* not registered: RMA goes through the bounce */
	uint64_t *lat;
	int failures;
};

static void fail(struct ctx *x, const char *what, uint64_t off, size_t len,
		 int err)
{
	x->failures++;
	printf("FAIL  %-34s offset %llu len %zu: %s\n", what,
	       (unsigned long long)off, len,
	       err ? strerror(-err) : "contents differ");
}

static void ok(const char *what, uint64_t off, size_t len)
{
	printf("ok    %-34s offset %llu len %zu\n", what,
	       (unsigned long long)off, len);
}

static int st_call(struct conn *c, const struct st_cmd *cmd, struct st_reply *r)
{
	struct st_cmd le = {
		.op = htole32(cmd->op),
		.arg = htole32(cmd->arg),
		.a = htole64(cmd->a),
		.b = htole64(cmd->b),
	};
	int ret = st_write(c, &le, sizeof(le));

	if (!ret)
		ret = st_read(c, r, sizeof(*r));
	r->status = le32toh(r->status);
	r->rkey = le32toh(r->rkey);
	r->value = le64toh(r->value);
	r->addr = le64toh(r->addr);
	r->len = le64toh(r->len);
	return ret;
}

/* GRANT or REVOKE of block blk; *ns: what it took on the server. */
static int grant_op(struct ctx *x, enum st_op op, uint32_t blk, uint64_t *ns)
{
	struct st_cmd cmd = {.op = op, .arg = blk};
	struct st_reply r;
	int ret = st_call(x->c, &cmd, &r);

	if (ret)
		return ret;
	if (r.status)
		return -(int)r.status;
	if (op == ST_GRANT)
		x->win[blk] = (struct conn_region){r.addr, r.len, r.rkey};
	*ns = r.value;
	return 0;
}

static void check_read(struct ctx *x, uint8_t *dst, uint32_t blk, uint64_t off,
		       size_t len, uint32_t seed, const char *what)
{
	uint64_t at = blk * x->block + off;
	int ret = x->c->ops->rma_read(x->c, dst, len, &x->win[blk], off);

	if (ret)
		fail(x, what, at, len, ret);
	else if (st_check(dst, at, len, seed) != len)
		fail(x, what, at, len, 0);
	else
		ok(what, at, len);
}

static void check_remote(struct ctx *x, uint64_t at, size_t len, uint32_t seed,
			 const char *what)
{
	struct st_cmd cmd = {.op = ST_VERIFY, .arg = seed, .a = at, .b = len};
	struct st_reply r;
	int ret = st_call(x->c, &cmd, &r);

	if (ret || r.status)
		fail(x, what, ret ? at : r.value, len, ret);
	else
		ok(what, at, len);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report_latency(uint64_t *lat, size_t n, const char *what)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("latency %-28s p50 %8.2f us   p99 %8.2f us\n", what,
	       lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3);
}

/*
 * Every block granted, revoked, granted again: each grant must work, and
 * a re-granted block must get a new rkey (the block server's epoch).
 */
static void grants(struct ctx *x)
{
	uint64_t n = x->nblocks, *gns = calloc(2 * n, sizeof(*gns));
	uint32_t *first = calloc(n, sizeof(*first));
	int before = x->failures, ret = 0;

	if (!gns || !first) {
		fail(x, "grant/revoke per block", 0, 0, -ENOMEM);
		goto out;
	}
	for (uint32_t b = 0; b < n && !ret; b++) {
		ret = grant_op(x, ST_GRANT, b, &gns[b]);
		first[b] = x->win[b].rkey;
	}
	for (uint32_t b = 0; b < n && !ret; b++)
		ret = grant_op(x, ST_REVOKE, b, &gns[n + b]);
	if (!ret) {
		report_latency(gns, n, "grant (bind), on server");
		report_latency(gns + n, n, "revoke (invalidate), server");
	}
	for (uint32_t b = 0; b < n && !ret; b++) {
		ret = grant_op(x, ST_GRANT, b, &gns[b]);
		if (!ret && x->win[b].rkey == first[b])
			fail(x, "re-granted block: rkey not new", b * x->block,
			     x->block, 0);
	}
	if (ret)
		fail(x, "grant/revoke per block", 0, x->block, ret);
	else if (x->failures == before)
		printf("ok    grant/revoke per block: %llu blocks of %llu "
		       "bytes, every re-grant a new rkey\n",
		       (unsigned long long)n, (unsigned long long)x->block);
out:
	free(first);
	free(gns);
}

/* Byte ranges read and written one-sided, checked on both ends. */
static void correctness(struct ctx *x)
{
	const uint64_t bs = x->block;
	const uint32_t last = (uint32_t)x->nblocks - 1;
	const struct {
		uint32_t blk;
		uint64_t off, len;
	} reads[] =
		{
			{0, 0, 512},	       {1, bs / 3, 512},   {0, 4095, 2},
			{last, bs - 777, 777}, {2, 5, bs / 2 - 5}, {2, 0, bs},
		},
	  writes[] = {
		  {0, 100, 512},
		  {1, bs / 2 + 3, bs / 4},
		  {last, bs - 4096, 4096},
	  };

	for (size_t i = 0; i < ARRAY_SIZE(reads); i++) {
		check_read(x, x->plain, reads[i].blk, reads[i].off,
			   reads[i].len, 1, "RDMA READ (bounce buffer)");
		check_read(x, x->local, reads[i].blk, reads[i].off,
			   reads[i].len, 1, "RDMA READ (zero copy)");
	}
	for (size_t i = 0; i < ARRAY_SIZE(writes); i++) {
		uint64_t off = writes[i].off, len = writes[i].len;
		uint64_t at = writes[i].blk * bs + off;
		uint8_t *src = i % 2 ? x->local : x->plain;
		int ret;

		st_fill(src, at, len, 2);
		ret = x->c->ops->rma_write(x->c, src, len,
					   &x->win[writes[i].blk], off);
		if (ret) {
			fail(x, "RDMA WRITE", at, len, ret);
			continue;
		}
		check_remote(x, at, len, 2, "RDMA WRITE landed (server)");
		check_remote(x, at - 64, 64, 1, "bytes before untouched");
		if (at + len < x->nblocks * bs)
			check_remote(x, at + len, 64, 1,
				     "bytes after untouched");
		check_read(x, x->plain, writes[i].blk, off, len, 2,
			   "RDMA READ of written");
	}
}

static int ping_latency(struct ctx *x)
{
	struct st_cmd ping = {.op = htole32(ST_PING), .arg = htole32(64)};
	uint8_t msg[64] = {0};
	struct iovec iov[2] = {{&ping, sizeof(ping)}, {msg, sizeof(msg)}};
	int ret = 0;

	for (unsigned int i = 0; i < opt.iters && !ret; i++) {
		uint64_t t = cmp_now_ns();

		ret = x->c->ops->writev(x->c, iov, 2);
		if (!ret)
			ret = st_read(x->c, msg, sizeof(msg));
		x->lat[i] = cmp_now_ns() - t;
	}
	if (!ret)
		report_latency(x->lat, opt.iters, "send/recv 64 B round trip");
	return ret;
}

static int rma_latency(struct ctx *x, bool write)
{
	int ret = 0;

	for (unsigned int i = 0; i < opt.iters && !ret; i++) {
		const struct conn_region *r = &x->win[i % x->nblocks];
		uint64_t off = (i * 4096ull) % (x->block - 4096);
		uint64_t t = cmp_now_ns();

		ret = write ? x->c->ops->rma_write(x->c, x->local, opt.msg, r,
						   off)
			    : x->c->ops->rma_read(x->c, x->local, opt.msg, r,
						  off);
		x->lat[i] = cmp_now_ns() - t;
	}
	if (!ret)
		report_latency(x->lat, opt.iters,
			       write ? "RDMA WRITE 512 B" : "RDMA READ 512 B");
	return ret;
}

static void report_bw(const char *what, uint64_t bytes, uint64_t ns)
{
	printf("bandwidth %-26s %8.1f MiB/s (%llu MiB in %.3f s)\n", what,
	       bytes / (ns / 1e9) / (1 << 20),
	       (unsigned long long)(bytes >> 20), ns / 1e9);
}

static int stream_bandwidth(struct ctx *x)
{
	const size_t chunk = MIN(x->block, (uint64_t)1 << 20);
	struct st_cmd le = {.op = htole32(ST_STREAM), .a = htole64(opt.bulk)};
	struct st_reply r;
	uint64_t t;
	int ret;

	/* The server checks each chunk against its 1 MiB pattern. */
	st_fill(x->plain, 0, chunk, 3);
	t = cmp_now_ns();
	ret = st_write(x->c, &le, sizeof(le));
	for (uint64_t done = 0; done < opt.bulk && !ret; done += chunk)
		ret = st_write(x->c, x->plain, MIN(chunk, opt.bulk - done));
	if (!ret)
		ret = st_read(x->c, &r, sizeof(r));
	if (ret)
		return ret;
	if (r.status)
		fail(x, "stream contents (server)", le64toh(r.value), 0, 0);
	else /* includes the server's check of every byte (memcmp) */
		report_bw("send/recv stream", opt.bulk, cmp_now_ns() - t);
	return 0;
}

static int rma_bandwidth(struct ctx *x, bool write)
{
	const size_t chunk = MIN(x->block, (uint64_t)1 << 20);
	uint64_t t = cmp_now_ns(), i = 0;
	int ret = 0;

	for (uint64_t done = 0; done < opt.bulk && !ret; done += chunk, i++) {
		const struct conn_region *r = &x->win[i % x->nblocks];

		ret = write ? x->c->ops->rma_write(x->c, x->local, chunk, r, 0)
			    : x->c->ops->rma_read(x->c, x->local, chunk, r, 0);
	}
	if (!ret)
		report_bw(write ? "RDMA WRITE per block"
				: "RDMA READ per block",
			  opt.bulk, cmp_now_ns() - t);
	return ret;
}

static int measure(struct ctx *x)
{
	int ret = ping_latency(x);

	if (!ret && x->mw)
		ret = rma_latency(x, false);
	if (!ret && x->mw)
		ret = rma_latency(x, true);
	if (!ret)
		ret = stream_bandwidth(x);
	if (!ret && x->mw)
		ret = rma_bandwidth(x, false);
	if (!ret && x->mw)
		ret = rma_bandwidth(x, true);
	return ret;
}

static int read_hello(struct ctx *x, const char *url)
{
	struct st_hello h;
	int ret = st_read(x->c, &h, sizeof(h));

	if (ret)
		return ret;
	x->mw = le32toh(h.flags) & ST_F_MW;
	x->block = le64toh(h.block);
	x->nblocks = le64toh(h.nblocks);
	if (le32toh(h.magic) != ST_MAGIC || x->block < 8192 ||
	    x->block > (64u << 20) || x->nblocks < 4 ||
	    x->nblocks > (1u << 20)) {
		fprintf(stderr, "client: %s is not a selftest server\n", url);
		return -EPROTO;
	}
	return 0;
}

/*
 * A second connection, as the first one ends the hard way: the device
 * must refuse an RDMA READ through a revoked window.
 */
static void revoked_window_refuses_access(struct ctx *first, const char *url)
{
	struct ctx x = {.local = first->local, .plain = first->plain};
	uint64_t ns;
	int ret;

	ret = st_connect(url, &x.c);
	if (!ret)
		ret = read_hello(&x, url);
	if (!ret) {
		x.win = calloc(x.nblocks, sizeof(*x.win));
		ret = x.win ? 0 : -ENOMEM;
	}
	if (!ret)
		ret = grant_op(&x, ST_GRANT, 1, &ns);
	if (!ret)
		ret = x.c->ops->rma_read(x.c, x.plain, 64, &x.win[1], 0);
	if (!ret)
		ret = grant_op(&x, ST_REVOKE, 1, &ns);
	if (ret) {
		fail(first, "granted window before revoke", x.block, 64, ret);
	} else {
		ret = x.c->ops->rma_read(x.c, x.plain, 64, &x.win[1], 0);
		if (!ret)
			fail(first, "revoked window refuses access", x.block,
			     64, 0);
		else
			printf("ok    revoked window refuses access (%s)\n",
			       strerror(-ret));
	}
	if (x.c)
		x.c->ops->destroy(x.c);
	free(x.win);
}

static int client_checks(struct ctx *x, const char *url)
{
	struct st_cmd done = {.op = htole32(ST_DONE)};
	int ret;

	printf("client: memory windows: %s\n",
	       x->mw ? "yes: lent blocks are reachable one-sided, each only "
		       "by its owner's connection until the loan ends"
		     : "NO: lent blocks travel as two-sided messages; "
		       "one-sided checks skipped");
	if (x->mw) {
		grants(x);
		correctness(x);
	} else if (opt.require_mw) {
		fail(x, "memory windows (--require-mw)", 0, 0, -EOPNOTSUPP);
	}
	ret = measure(x);
	if (!ret)
		ret = st_write(x->c, &done, sizeof(done));
	return ret;
}

int st_run_client(const char *url)
{
	struct ctx x = {0};
	bool registered = false;
	int ret;

	ret = st_connect(url, &x.c);
	if (ret)
		return ret;
	printf("client: connected to %s\n", x.c->peer);
	ret = read_hello(&x, url);
	if (ret)
		goto out;
	x.win = calloc(x.nblocks, sizeof(*x.win));
	x.local = aligned_alloc(4096, x.block);
	x.plain = malloc(x.block);
	x.lat = calloc(opt.iters, sizeof(*x.lat));
	if (!x.win || !x.local || !x.plain || !x.lat) {
		ret = -ENOMEM;
		goto out;
	}
	ret = conn_rdma_transport.rma_register(x.local, x.block);
	registered = !ret;
	if (!ret)
		ret = client_checks(&x, url);
	x.c->ops->destroy(x.c);
	x.c = NULL;
	if (!ret && x.mw)
		revoked_window_refuses_access(&x, url);
out:
	if (ret)
		fprintf(stderr, "client: %s\n", strerror(-ret));
	if (x.c)
		x.c->ops->destroy(x.c);
	if (registered)
		conn_rdma_transport.rma_unregister(x.local);
	free(x.lat);
	free(x.plain);
	free(x.local);
	free(x.win);
	if (!ret && x.failures) {
		printf("%d check(s) FAILED\n", x.failures);
		return -EIO;
	}
	return ret;
}
