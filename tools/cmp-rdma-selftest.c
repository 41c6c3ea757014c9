// SPDX-License-Identifier: MIT
/*
 * cmp-rdma-selftest: checks the RDMA connector on real hardware (or
 * soft-RoCE) between two hosts, or one device to itself. It tells whether
 * the device has memory windows (whether lent blocks are protected
 * one-sided or travel as messages), grants and revokes a window per block
 * as the block server does per loan, checks byte ranges written and read
 * one-sided through the windows against a known pattern (the server
 * verifies what landed in its memory), checks that a revoked window
 * refuses access, and reports latency (p50/p99) and bandwidth. In
 * loopback mode it then runs the block server itself on the device and
 * checks, with real owners' connections, that a loan's window reaches its
 * block from its owner's connection only and that the NIC refuses it once
 * the loan ended (FREE, GOODBYE). Exits 77 when the machine has no RDMA
 * device, so test harnesses report a skip.
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
 * so it tests exactly the RDMA code, whatever conn.c dispatches (the block
 * server check goes through the whole connector, as cmpfs does). Its
 * protocol is drawn in cmp-rdma-selftest.h; this file is the server, the
 * options and main, cmp-rdma-selftest-client.c the client's checks.
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
#include "cmp-rdma-selftest.h"

struct st_opts opt = {
	.region = 16 << 20,
	.block = 1 << 20,
	.bulk = 256 << 20,
	.iters = 10000,
	.msg = 512,
};

uint8_t st_pattern(uint64_t off, uint32_t seed)
{
	uint64_t x =
		(off + 1) * 0x9e3779b97f4a7c15ull ^ seed * 0x100000001b3ull;

	return (uint8_t)(x >> 29 ^ x >> 7);
}

void st_fill(uint8_t *p, uint64_t off, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = st_pattern(off + i, seed);
}

size_t st_check(const uint8_t *p, uint64_t off, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != st_pattern(off + i, seed))
			return i;
	return len;
}

int st_write(struct conn *c, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return c->ops->writev(c, &iov, 1);
}

int st_read(struct conn *c, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return c->ops->readv(c, &iov, 1);
}

/*
 * cmpfs grows a connection's buffers after its cluster handshake; the
 * tool trusts its peer and grows at once.
 */
static int st_grow(struct conn *c, int ret, struct conn **out)
{
	if (!ret)
		ret = c->ops->authenticated(c);
	if (ret && c)
		c->ops->destroy(c);
	*out = ret ? NULL : c;
	return ret;
}

int st_connect(const char *url, struct conn **out)
{
	struct conn *c = NULL;
	int ret;

	ret = conn_rdma_transport.connect(url + strlen("rdma://"), 0, &c);
	return st_grow(c, ret, out);
}

int st_accept(struct conn_listener *l, struct conn **out)
{
	struct conn *c = NULL;
	int ret;

	ret = l->ops->accept(l, &c);
	return st_grow(c, ret, out);
}

/* --- server --------------------------------------------------------- */

struct server {
	uint8_t *region;
	uint8_t *buf;
	uint64_t nblocks;
	struct conn_region *win; /* per block, valid when granted */
	bool *granted;
	bool mw;
};

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
	st_fill(ref, 0, chunk, 3);
	for (uint64_t done = 0; done < bytes && !ret;) {
		size_t n = MIN(bytes - done, (uint64_t)chunk);

		ret = st_read(c, buf, n);
		if (!ret && memcmp(buf, ref, n) && !r->status) {
			r->status = 1;
			r->value = done + st_check(buf, 0, n, 3);
		}
		done += n;
	}
	free(ref);
	return ret;
}

/* What the block server does when it lends block `blk` to c's owner. */
static void serve_grant(struct server *s, struct conn *c, uint32_t blk,
			struct st_reply *r)
{
	uint64_t t = cmp_now_ns();
	int ret;

	if (blk >= s->nblocks || s->granted[blk]) {
		r->status = blk >= s->nblocks ? EINVAL : EBUSY;
		return;
	}
	ret = c->ops->rma_grant(c, s->region + blk * opt.block, opt.block,
				&s->win[blk]);
	r->value = cmp_now_ns() - t;
	if (ret) {
		r->status = (uint32_t)-ret;
		return;
	}
	s->granted[blk] = true;
	r->rkey = s->win[blk].rkey;
	r->addr = s->win[blk].addr;
	r->len = s->win[blk].len;
}

/* And when the loan ends. */
static void serve_revoke(struct server *s, struct conn *c, uint32_t blk,
			 struct st_reply *r)
{
	uint64_t t = cmp_now_ns();
	int ret;

	if (blk >= s->nblocks || !s->granted[blk]) {
		r->status = ENOENT;
		return;
	}
	ret = c->ops->rma_revoke(c, &s->win[blk]);
	r->value = cmp_now_ns() - t;
	s->granted[blk] = false;
	r->status = (uint32_t)-ret;
}

static int serve_verify(const struct st_cmd *cmd, const uint8_t *region,
			struct st_reply *r)
{
	uint64_t off = le64toh(cmd->a), len = le64toh(cmd->b);
	size_t bad;

	if (off > opt.region || len > opt.region - off)
		return -EPROTO;
	bad = st_check(region + off, off, len, le32toh(cmd->arg));
	if (bad < len) {
		r->status = 1;
		r->value = off + bad;
	}
	return 0;
}

static int serve_ping(struct conn *c, const struct st_cmd *cmd, uint8_t *buf)
{
	uint32_t n = le32toh(cmd->arg);
	int ret;

	if (n > (1u << 20))
		return -EPROTO;
	ret = st_read(c, buf, n);
	return ret ? ret : st_write(c, buf, n);
}

static int send_reply(struct conn *c, struct st_reply *r)
{
	*r = (struct st_reply){
		.status = htole32(r->status),
		.rkey = htole32(r->rkey),
		.value = htole64(r->value),
		.addr = htole64(r->addr),
		.len = htole64(r->len),
	};
	return st_write(c, r, sizeof(*r));
}

static int serve_one(struct server *s, struct conn *c)
{
	for (;;) {
		struct st_reply r = {0};
		struct st_cmd cmd;
		int ret = st_read(c, &cmd, sizeof(cmd));

		if (ret)
			return ret;
		switch (le32toh(cmd.op)) {
		case ST_PING:
			ret = serve_ping(c, &cmd, s->buf);
			if (ret)
				return ret;
			continue;
		case ST_STREAM:
			ret = serve_stream(c, le64toh(cmd.a), s->buf, &r);
			break;
		case ST_VERIFY:
			ret = serve_verify(&cmd, s->region, &r);
			break;
		case ST_GRANT:
			serve_grant(s, c, le32toh(cmd.arg), &r);
			break;
		case ST_REVOKE:
			serve_revoke(s, c, le32toh(cmd.arg), &r);
			break;
		case ST_DONE:
			return 0;
		default:
			return -EPROTO;
		}
		if (!ret)
			ret = send_reply(c, &r);
		if (ret)
			return ret;
	}
}

/* Probes the device once, says what it means for loans. */
static void probe_windows(struct server *s, struct conn *c)
{
	struct st_reply r = {0};

	serve_grant(s, c, 0, &r);
	s->mw = !r.status;
	if (s->mw)
		serve_revoke(s, c, 0, &r);
	printf("server: memory windows: %s\n",
	       s->mw ? "yes: loans are protected one-sided, per block"
		     : "NO: lent blocks travel as two-sided messages");
}

/*
 * One client connection: hello, then its commands. second: the client
 * checks that a revoked window refuses access, which ends that connection
 * with an error by design.
 */
static int serve_conn(struct server *s, struct conn_listener *l, bool second)
{
	struct st_hello h;
	struct conn *c;
	int ret;

	ret = st_accept(l, &c);
	if (ret)
		return ret;
	printf("server: client %s connected\n", c->peer);
	if (!second)
		probe_windows(s, c);
	h = (struct st_hello){
		.magic = htole32(ST_MAGIC),
		.flags = htole32(s->mw ? ST_F_MW : 0),
		.block = htole64(opt.block),
		.nblocks = htole64(s->nblocks),
	};
	ret = st_write(c, &h, sizeof(h));
	if (!ret)
		ret = serve_one(s, c);
	if (second && (ret == -ECONNRESET || ret == -EACCES))
		ret = 0;
	/* Destroying c deallocates its windows: nothing stays granted. */
	c->ops->destroy(c);
	memset(s->granted, 0, s->nblocks * sizeof(*s->granted));
	return ret;
}

/* Lends a pattern-filled, registered region to one client. */
static int run_server(struct conn_listener *l)
{
	struct server s = {.nblocks = opt.region / opt.block};
	int ret;

	s.region = aligned_alloc(4096, opt.region);
	s.buf = malloc(1 << 20);
	s.win = calloc(s.nblocks, sizeof(*s.win));
	s.granted = calloc(s.nblocks, sizeof(*s.granted));
	if (!s.region || !s.buf || !s.win || !s.granted) {
		ret = -ENOMEM;
		goto out_free;
	}
	st_fill(s.region, 0, opt.region, 1);
	ret = conn_rdma_transport.rma_register(s.region, opt.region);
	if (ret)
		goto out_free;
	ret = serve_conn(&s, l, false);
	if (!ret && s.mw)
		ret = serve_conn(&s, l, true);
	if (!ret)
		printf("server: client done\n");
	conn_rdma_transport.rma_unregister(s.region);
out_free:
	if (ret)
		fprintf(stderr, "server: %s\n", strerror(-ret));
	free(s.granted);
	free(s.win);
	free(s.buf);
	free(s.region);
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

/* The block server's loans, on the same address and a free port. */
static int run_loans(const char *url)
{
	char loans_url[96];
	const char *port = strrchr(url, ':');

	snprintf(loans_url, sizeof(loans_url), "%.*s:0",
		 port ? (int)(port - url) : (int)strlen(url), url);
	return st_run_loans(loans_url);
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
	ret = st_run_client(client_url);
	if (ret)
		pthread_cancel(tid);
	pthread_join(tid, &sret);
	if (!ret && sret != PTHREAD_CANCELED)
		ret = (int)(intptr_t)sret;
out:
	l->ops->destroy(l);
	return ret ? ret : run_loans(client_url);
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

static int opt_require_mw(const char *v)
{
	opt.require_mw = true;
	return 0;
}

static int opt_block(const char *v)
{
	return set_size(v, &opt.block, 64 << 10);
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
	 "SIZE  bytes the server lends (16M)"},
	{"--block", true, false, opt_block,
	 "SIZE  bytes per grant, a divisor of the region (1M)"},
	{"--bulk", true, false, opt_bulk,
	 "SIZE  bytes per bandwidth run (256M)"},
	{"--iters", true, false, opt_iters, "N  latency samples (10000)"},
	{"--require-mw", false, false, opt_require_mw,
	 "  fail when the device has no memory windows"},
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
		if (!options[k].arg)
			v = NULL;
		else if (i + 1 < argc && (!options[k].optional ||
					  strncmp(argv[i + 1], "--", 2)))
			v = argv[++i];
		else if (!options[k].optional)
			return -EINVAL;
		if (options[k].set(v)) {
			fprintf(stderr, "bad value for %s\n", options[k].name);
			return -EINVAL;
		}
	}
	if (opt.region % opt.block || opt.region / opt.block < 4) {
		fprintf(stderr, "--block must divide --region into at least 4 "
				"blocks\n");
		return -EINVAL;
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
			      : st_run_client(opt.client);
	} else {
		ret = run_loopback(opt.loopback);
	}
	if (ret == -ENODEV)
		return ST_EXIT_SKIP;
	printf("%s\n", ret ? "FAILED" : "PASS");
	return ret ? 1 : 0;
}
