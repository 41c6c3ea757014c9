// SPDX-License-Identifier: MIT
/*
 * cmp-rdma-selftest: checks the RDMA connector on real hardware (or
 * soft-RoCE) between two hosts, or one device to itself. It connects,
 * checks byte ranges written and read one-sided against a known pattern
 * (the server verifies what landed in its memory), and reports latency
 * (p50/p99) and bandwidth. Exits 77 when the machine has no RDMA device, so
 * test harnesses report a skip.
 *
 *   cmp-rdma-selftest --server rdma://ADDR:PORT
 *   cmp-rdma-selftest --client rdma://ADDR:PORT
 *   cmp-rdma-selftest --loopback [rdma://ADDR:PORT]
 *
 * Without an address, loopback uses the first IPv4 address an RDMA device
 * serves (soft-RoCE does not serve 127.0.0.1), on a free port. Without RDMA
 * hardware, soft-RoCE gives a device on any Ethernet interface:
 *
 *   modprobe rdma_rxe && rdma link add rxe0 type rxe netdev eth0
 *
 * The tool talks to the transport through conn_rdma_transport and its ops,
 * so it tests exactly the RDMA code, whatever conn.c dispatches.
 *
 * Its own little protocol on the stream, little-endian:
 *
 *   client                               server
 *                <----------- st_hello {region addr, len, rkey}
 *   RMA READ/WRITE ranges ------------> (no server CPU)
 *   st_cmd VERIFY {off, len, seed} ---> compares its region
 *                <----------- st_reply {status}
 *   st_cmd PING + payload ------------> echoes the payload
 *   st_cmd STREAM {bytes} + bytes ----> checks the pattern, st_reply
 *   st_cmd DONE ----------------------> exits
 */
#include <errno.h>
#include <ifaddrs.h>
#include <infiniband/verbs.h>
#include <net/if.h>
#include <pthread.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <endian.h>
#include <arpa/inet.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp-config.h"
#include "conn-internal.h"

#define ST_MAGIC 0x54534d43u /* "CMST" */
#define ST_EXIT_SKIP 77

enum st_op { ST_PING = 1, ST_STREAM, ST_VERIFY, ST_DONE };

struct st_hello {
	uint32_t magic;
	uint32_t rkey;
	uint64_t addr;
	uint64_t len;
};
_Static_assert(sizeof(struct st_hello) == 24, "wire struct");

struct st_cmd {
	uint32_t op;
	uint32_t arg; /* seed, or ping payload size */
	uint64_t a;   /* offset, or stream bytes */
	uint64_t b;   /* length */
};
_Static_assert(sizeof(struct st_cmd) == 24, "wire struct");

struct st_reply {
	uint32_t status; /* 0 ok, else the first bad offset follows */
	uint32_t pad;
	uint64_t value;
};
_Static_assert(sizeof(struct st_reply) == 16, "wire struct");

static struct {
	const char *server, *client, *loopback;
	bool mode_loopback; /* loopback may be NULL: pick an address */
	uint64_t region;    /* bytes the server exposes */
	uint64_t bulk;	    /* bytes per bandwidth run */
	unsigned int iters;
	unsigned int msg; /* ping / small RMA size */
} opt = {
	.region = 16 << 20,
	.bulk = 256 << 20,
	.iters = 10000,
	.msg = 512,
};

static uint8_t pattern(uint64_t off, uint32_t seed)
{
	uint64_t x =
		(off + 1) * 0x9e3779b97f4a7c15ull ^ seed * 0x100000001b3ull;

	return (uint8_t)(x >> 29 ^ x >> 7);
}

static void fill(uint8_t *p, uint64_t off, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(off + i, seed);
}

/* Returns the index of the first mismatch, or len. */
static size_t check(const uint8_t *p, uint64_t off, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(off + i, seed))
			return i;
	return len;
}

static int st_write(struct conn *c, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return c->ops->writev(c, &iov, 1);
}

static int st_read(struct conn *c, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return c->ops->readv(c, &iov, 1);
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
	r->value = le64toh(r->value);
	return ret;
}

/* --- server --------------------------------------------------------- */

/*
 * The stream repeats one 1 MiB pattern so checking it is a memcmp(): the
 * bandwidth measured is the transport's, not the pattern generator's.
 */
static int serve_stream(struct conn *c, uint64_t bytes, uint8_t *buf,
			struct st_reply *r)
{
	const size_t chunk = 1 << 20;
	uint8_t *ref = malloc(chunk);
	int ret = 0;

	if (!ref)
		return -ENOMEM;
	fill(ref, 0, chunk, 3);
	for (uint64_t done = 0; done < bytes && !ret;) {
		size_t n = MIN(bytes - done, (uint64_t)chunk);

		ret = st_read(c, buf, n);
		if (!ret && memcmp(buf, ref, n) && !r->status) {
			r->status = 1;
			r->value = done + check(buf, 0, n, 3);
		}
		done += n;
	}
	free(ref);
	return ret;
}

static int serve_one(struct conn *c, uint8_t *region, uint8_t *buf)
{
	for (;;) {
		struct st_reply r = {0};
		struct st_cmd cmd;
		size_t bad;
		int ret = st_read(c, &cmd, sizeof(cmd));

		if (ret)
			return ret;
		switch (le32toh(cmd.op)) {
		case ST_PING:
			if (le32toh(cmd.arg) > (1u << 20))
				return -EPROTO;
			ret = st_read(c, buf, le32toh(cmd.arg));
			if (!ret)
				ret = st_write(c, buf, le32toh(cmd.arg));
			if (ret)
				return ret;
			continue;
		case ST_STREAM:
			ret = serve_stream(c, le64toh(cmd.a), buf, &r);
			break;
		case ST_VERIFY:
			if (le64toh(cmd.a) > opt.region ||
			    le64toh(cmd.b) > opt.region - le64toh(cmd.a))
				return -EPROTO;
			bad = check(region + le64toh(cmd.a), le64toh(cmd.a),
				    le64toh(cmd.b), le32toh(cmd.arg));
			if (bad < le64toh(cmd.b)) {
				r.status = 1;
				r.value = le64toh(cmd.a) + bad;
			}
			break;
		case ST_DONE:
			return 0;
		default:
			return -EPROTO;
		}
		if (ret)
			return ret;
		r.status = htole32(r.status);
		r.value = htole64(r.value);
		ret = st_write(c, &r, sizeof(r));
		if (ret)
			return ret;
	}
}

/* Exposes a pattern-filled region to one client and serves it. */
static int run_server(struct conn_listener *l)
{
	struct conn_region reg;
	struct st_hello h;
	uint8_t *region = NULL, *buf = NULL;
	struct conn *c = NULL;
	int ret;

	region = aligned_alloc(4096, opt.region);
	buf = malloc(1 << 20);
	if (!region || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	fill(region, 0, opt.region, 1);
	ret = l->ops->accept(l, &c);
	if (ret)
		goto out;
	printf("server: client %s connected\n", c->peer);
	ret = c->ops->expose(c, region, opt.region, &reg);
	if (ret)
		goto out;
	h = (struct st_hello){
		.magic = htole32(ST_MAGIC),
		.rkey = htole32(reg.rkey),
		.addr = htole64(reg.addr),
		.len = htole64(reg.len),
	};
	ret = st_write(c, &h, sizeof(h));
	if (!ret)
		ret = serve_one(c, region, buf);
	if (!ret)
		printf("server: client done\n");
out:
	if (ret)
		fprintf(stderr, "server: %s\n", strerror(-ret));
	if (c)
		c->ops->destroy(c);
	free(buf);
	free(region);
	return ret;
}

/* --- client --------------------------------------------------------- */

struct ctx {
	struct conn *c;
	struct conn_region remote;
	uint8_t *local; /* exposed on c: RMA goes zero copy */
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

static void check_read(struct ctx *x, uint8_t *dst, uint64_t off, size_t len,
		       uint32_t seed, const char *what)
{
	int ret = x->c->ops->rma_read(x->c, dst, len, &x->remote, off);

	if (ret)
		fail(x, what, off, len, ret);
	else if (check(dst, off, len, seed) != len)
		fail(x, what, off, len, 0);
	else
		printf("ok    %-34s offset %llu len %zu\n", what,
		       (unsigned long long)off, len);
}

static void check_remote(struct ctx *x, uint64_t off, size_t len, uint32_t seed,
			 const char *what)
{
	struct st_cmd cmd = {.op = ST_VERIFY, .arg = seed, .a = off, .b = len};
	struct st_reply r;
	int ret = st_call(x->c, &cmd, &r);

	if (ret || r.status)
		fail(x, what, ret ? off : r.value, len, ret);
	else
		printf("ok    %-34s offset %llu len %zu\n", what,
		       (unsigned long long)off, len);
}

/* Byte ranges read and written one-sided, checked on both ends. */
static void correctness(struct ctx *x)
{
	const uint64_t n = x->remote.len;
	const struct {
		uint64_t off, len;
	} reads[] = {
		{0, 512},
		{12345, 512},
		{4095, 2},
		{n - 777, 777},
		{3 * 65536 + 5, 200000},
		{0, n},
	};
	const struct {
		uint64_t off, len;
	} writes[] = {
		{100, 512},
		{(1 << 20) + 3, 70000},
		{n - 4096, 4096},
	};

	for (size_t i = 0; i < ARRAY_SIZE(reads); i++) {
		check_read(x, x->plain, reads[i].off, reads[i].len, 1,
			   "RDMA READ (bounce buffer)");
		check_read(x, x->local, reads[i].off, reads[i].len, 1,
			   "RDMA READ (zero copy)");
	}
	for (size_t i = 0; i < ARRAY_SIZE(writes); i++) {
		uint64_t off = writes[i].off, len = writes[i].len;
		uint8_t *src = i % 2 ? x->local : x->plain;
		int ret;

		fill(src, off, len, 2);
		ret = x->c->ops->rma_write(x->c, src, len, &x->remote, off);
		if (ret) {
			fail(x, "RDMA WRITE", off, len, ret);
			continue;
		}
		check_remote(x, off, len, 2, "RDMA WRITE landed (server)");
		check_remote(x, off - 64, 64, 1, "bytes before untouched");
		if (off + len < n)
			check_remote(x, off + len, MIN(64, n - off - len), 1,
				     "bytes after untouched");
		check_read(x, x->plain, off, len, 2, "RDMA READ of written");
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report_latency(struct ctx *x, const char *what)
{
	qsort(x->lat, opt.iters, sizeof(*x->lat), cmp_u64);
	printf("latency %-28s p50 %8.2f us   p99 %8.2f us\n", what,
	       x->lat[opt.iters / 2] / 1e3,
	       x->lat[(uint64_t)opt.iters * 99 / 100] / 1e3);
}

static int latency(struct ctx *x)
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
	if (ret)
		return ret;
	report_latency(x, "send/recv 64 B round trip");
	for (unsigned int i = 0; i < opt.iters && !ret; i++) {
		uint64_t t = cmp_now_ns();

		ret = x->c->ops->rma_read(x->c, x->local, opt.msg, &x->remote,
					  (i * 4096ull) %
						  (x->remote.len - 4096));
		x->lat[i] = cmp_now_ns() - t;
	}
	if (ret)
		return ret;
	report_latency(x, "RDMA READ 512 B");
	for (unsigned int i = 0; i < opt.iters && !ret; i++) {
		uint64_t t = cmp_now_ns();

		ret = x->c->ops->rma_write(x->c, x->local, opt.msg, &x->remote,
					   (i * 4096ull) %
						   (x->remote.len - 4096));
		x->lat[i] = cmp_now_ns() - t;
	}
	if (!ret)
		report_latency(x, "RDMA WRITE 512 B");
	return ret;
}

static void report_bw(const char *what, uint64_t bytes, uint64_t ns)
{
	printf("bandwidth %-26s %8.1f MiB/s (%llu MiB in %.3f s)\n", what,
	       bytes / (ns / 1e9) / (1 << 20),
	       (unsigned long long)(bytes >> 20), ns / 1e9);
}

static int bandwidth(struct ctx *x)
{
	const size_t chunk = 1 << 20;
	struct st_cmd le = {.op = htole32(ST_STREAM), .a = htole64(opt.bulk)};
	struct st_reply r;
	uint64_t t, remote_len = x->remote.len;
	int ret;

	fill(x->plain, 0, chunk, 3);
	t = cmp_now_ns();
	ret = st_write(x->c, &le, sizeof(le));
	for (uint64_t done = 0; done < opt.bulk && !ret; done += chunk)
		ret = st_write(x->c, x->plain, MIN(chunk, opt.bulk - done));
	if (!ret)
		ret = st_read(x->c, &r, sizeof(r));
	if (ret)
		return ret;
	if (r.status) {
		fail(x, "stream contents (server)", le64toh(r.value), 0, 0);
		return 0;
	}
	/* Includes the server's check of every byte (memcmp). */
	report_bw("send/recv stream", opt.bulk, cmp_now_ns() - t);
	for (int write = 0; write < 2; write++) {
		t = cmp_now_ns();
		for (uint64_t done = 0; done < opt.bulk && !ret;
		     done += chunk) {
			uint64_t off = done % (remote_len - chunk + 1);

			ret = write ? x->c->ops->rma_write(x->c, x->local,
							   chunk, &x->remote,
							   off)
				    : x->c->ops->rma_read(x->c, x->local, chunk,
							  &x->remote, off);
		}
		if (ret)
			return ret;
		report_bw(write ? "RDMA WRITE 1 MiB" : "RDMA READ 1 MiB",
			  opt.bulk, cmp_now_ns() - t);
	}
	return 0;
}

static int run_client(const char *url)
{
	struct ctx x = {0};
	struct conn_region mine;
	struct st_hello h;
	struct st_cmd done = {.op = htole32(ST_DONE)};
	int ret;

	ret = conn_rdma_transport.connect(url + strlen("rdma://"), 0, &x.c);
	if (ret)
		return ret;
	printf("client: connected to %s\n", x.c->peer);
	ret = st_read(x.c, &h, sizeof(h));
	if (ret)
		goto out;
	x.remote = (struct conn_region){
		.addr = le64toh(h.addr),
		.len = le64toh(h.len),
		.rkey = le32toh(h.rkey),
	};
	if (le32toh(h.magic) != ST_MAGIC || x.remote.len < (2 << 20)) {
		fprintf(stderr, "client: %s is not a selftest server\n", url);
		ret = -EPROTO;
		goto out;
	}
	x.local = aligned_alloc(4096, x.remote.len);
	x.plain = malloc(x.remote.len);
	x.lat = calloc(opt.iters, sizeof(*x.lat));
	if (!x.local || !x.plain || !x.lat) {
		ret = -ENOMEM;
		goto out;
	}
	ret = x.c->ops->expose(x.c, x.local, x.remote.len, &mine);
	if (ret)
		goto out;
	correctness(&x);
	ret = latency(&x);
	if (!ret)
		ret = bandwidth(&x);
	if (!ret)
		ret = st_write(x.c, &done, sizeof(done));
out:
	if (ret)
		fprintf(stderr, "client: %s\n", strerror(-ret));
	x.c->ops->destroy(x.c);
	free(x.lat);
	free(x.plain);
	free(x.local);
	if (!ret && x.failures) {
		printf("%d check(s) FAILED\n", x.failures);
		return -EIO;
	}
	return ret;
}

/* --- main ------------------------------------------------------------ */

static void *server_thread(void *arg)
{
	return (void *)(intptr_t)run_server(arg);
}

static int listen_on(const char *url, struct conn_listener **l)
{
	if (strncmp(url, "rdma://", 7)) {
		fprintf(stderr, "%s: not an rdma:// address\n", url);
		return -EINVAL;
	}
	return conn_rdma_transport.listen(url + 7, l);
}

/*
 * An IPv4 address of this host that an RDMA device serves: rdma_bind_addr()
 * to a specific address succeeds only then. Loopback (127.0.0.1) is the
 * last resort: soft-RoCE does not serve it.
 */
static void find_rdma_ip(char *ip, size_t len)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct ifaddrs *ifa, *i;

	snprintf(ip, len, "127.0.0.1");
	if (!ch)
		return;
	if (getifaddrs(&ifa)) {
		rdma_destroy_event_channel(ch);
		return;
	}
	for (i = ifa; i; i = i->ifa_next) {
		struct rdma_cm_id *id;
		bool ok;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    (i->ifa_flags & IFF_LOOPBACK) ||
		    rdma_create_id(ch, &id, NULL, RDMA_PS_TCP))
			continue;
		ok = rdma_bind_addr(id, i->ifa_addr) == 0;
		rdma_destroy_id(id);
		if (ok) {
			inet_ntop(
				AF_INET,
				&((struct sockaddr_in *)i->ifa_addr)->sin_addr,
				ip, (socklen_t)len);
			break;
		}
	}
	freeifaddrs(ifa);
	rdma_destroy_event_channel(ch);
}

static int run_loopback(const char *url)
{
	struct conn_listener *l;
	char client_url[96], ip[INET_ADDRSTRLEN], auto_url[64];
	pthread_t tid;
	void *sret;
	int ret;

	if (!url) {
		find_rdma_ip(ip, sizeof(ip));
		snprintf(auto_url, sizeof(auto_url), "rdma://%s:0", ip);
		url = auto_url;
	}
	ret = listen_on(url, &l);
	if (ret)
		return ret;
	snprintf(client_url, sizeof(client_url), "%s", l->addr);
	printf("loopback: server on %s, client to %s\n", l->addr, client_url);
	ret = -pthread_create(&tid, NULL, server_thread, l);
	if (ret)
		goto out;
	ret = run_client(client_url);
	if (ret)
		pthread_cancel(tid);
	pthread_join(tid, &sret);
	if (!ret && sret != PTHREAD_CANCELED)
		ret = (int)(intptr_t)sret;
out:
	l->ops->destroy(l);
	return ret;
}

static bool have_device(void)
{
	struct ibv_device **list;
	int n = 0;

	list = ibv_get_device_list(&n);
	if (list)
		ibv_free_device_list(list);
	return list && n > 0;
}

static int set_size(const char *v, uint64_t *out, uint64_t min)
{
	return cmp_parse_size(v, out) || *out < min ? -EINVAL : 0;
}

static int opt_server(const char *v)
{
	opt.server = v;
	return 0;
}

static int opt_client(const char *v)
{
	opt.client = v;
	return 0;
}

static int opt_loopback(const char *v)
{
	opt.loopback = v;
	opt.mode_loopback = true;
	return 0;
}

static int opt_region(const char *v)
{
	return set_size(v, &opt.region, 4 << 20);
}

static int opt_bulk(const char *v)
{
	return set_size(v, &opt.bulk, 1 << 20);
}

static int opt_iters(const char *v)
{
	uint64_t n;

	if (cmp_parse_size(v, &n) || n < 1 || n > 10000000)
		return -EINVAL;
	opt.iters = (unsigned int)n;
	return 0;
}

static const struct {
	const char *name;
	bool arg, optional;
	int (*set)(const char *v);
	const char *help;
} options[] = {
	{"--server", true, false, opt_server, "rdma://ADDR:PORT  serve"},
	{"--client", true, false, opt_client, "rdma://ADDR:PORT  test"},
	{"--loopback", true, true, opt_loopback,
	 "[rdma://ADDR:PORT] both, one device to itself"},
	{"--region", true, false, opt_region,
	 "SIZE  bytes the server exposes (16M)"},
	{"--bulk", true, false, opt_bulk,
	 "SIZE  bytes per bandwidth run (256M)"},
	{"--iters", true, false, opt_iters, "N  latency samples (10000)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cmp-rdma-selftest --server URL | --client URL | "
		   "--loopback [URL] [options]\n");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		fprintf(f, "  %-11s %s\n", options[i].name, options[i].help);
}

static int parse(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		size_t k;
		const char *v = NULL;

		for (k = 0; k < ARRAY_SIZE(options); k++)
			if (!strcmp(argv[i], options[k].name))
				break;
		if (k == ARRAY_SIZE(options))
			return -EINVAL;
		if (i + 1 < argc &&
		    (!options[k].optional || strncmp(argv[i + 1], "--", 2)))
			v = argv[++i];
		else if (!options[k].optional)
			return -EINVAL;
		if (options[k].set(v)) {
			fprintf(stderr, "bad value for %s\n", options[k].name);
			return -EINVAL;
		}
	}
	return !!opt.server + !!opt.client + opt.mode_loopback == 1 ? 0
								    : -EINVAL;
}

/*
 * Registration pins memory; the soft limit is often 8 MiB, less than the
 * regions here. Take what the hard limit allows; failures name the limit.
 */
static void raise_memlock(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
}

int main(int argc, char **argv)
{
	struct conn_listener *l;
	int ret;

	log_init("cmp-rdma-selftest", LOG_LVL_INFO);
	if (parse(argc, argv)) {
		usage(stderr);
		return 2;
	}
	raise_memlock();
	if (!have_device()) {
		printf("SKIP: no RDMA device found (ibv_get_device_list); "
		       "needs RDMA hardware or soft-RoCE (modprobe rdma_rxe; "
		       "rdma link add rxe0 type rxe netdev IFACE)\n");
		return ST_EXIT_SKIP;
	}
	if (opt.server) {
		ret = listen_on(opt.server, &l);
		if (!ret) {
			printf("server: listening on %s\n", l->addr);
			fflush(stdout);
			ret = run_server(l);
			l->ops->destroy(l);
		}
	} else if (opt.client) {
		ret = strncmp(opt.client, "rdma://", 7)
			      ? -EINVAL
			      : run_client(opt.client);
	} else {
		ret = run_loopback(opt.loopback);
	}
	if (ret == -ENODEV)
		return ST_EXIT_SKIP;
	printf("%s\n", ret ? "FAILED" : "PASS");
	return ret ? 1 : 0;
}
