// SPDX-License-Identifier: MIT
/*
 * ms-store-bench: what a memserver store that keeps its loans (issue 11,
 * memserver/store-kept.c) costs. Run by hand (numbers in README.md):
 *
 *   ms-store-bench alloc-free [ROUNDS]
 *       an owner borrows 64 blocks and frees them, ROUNDS times (default
 *       200), over mem:// from a peer serving a RAM store, a file store
 *       that keeps nothing, and a kept store; then the loan table alone
 *       (loans_lend + loans_free of 64 blocks, in process, 20 times the
 *       rounds) without and with the kept store's journal. 15 trials of
 *       each, interleaved; prints the median blocks per second of each.
 *   ms-store-bench restart DIR SIZE BLOCK [--data]
 *       makes a kept store of SIZE in DIR, lends every block (16 owners;
 *       --data: and writes every block), drops it as a kill -9 would, and
 *       times the start on it: the store (index checked, loans found,
 *       free blocks cleared) and the peer (loans lent again).
 *   ms-store-bench fill PATH SIZE BLOCK NODE [--data]
 *       leaves a kept store at PATH full of loans (16 owners) for node
 *       NODE, as a killed cmp-memserver would, to time the daemon's start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/peer.h"
#include "cmp/util.h"
#include "loans.h"
#include "remote.h"
#include "store.h"

#define BS_NET (64u << 10)
#define NET_BLOCKS 4096u
#define BATCH 64u
#define OWNERS 16u
#define PROV 7u

static double secs(uint64_t t0)
{
	return (double)(cmp_now_ns() - t0) / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "ms-store-bench: %s: %s\n", what, strerror(-err));
	exit(1);
}

/* A peer serving a store over mem://, and an owner that knows it. */
struct served {
	struct peer *p;
	struct remote *r;
};

static void serve(struct served *sv, struct ms_store *s, uint64_t inc)
{
	int ret;

	sv->p = peer_create(&(struct peer_config){
		.listen_addr = "mem://",
		.node_id = PROV,
		.block_size = BS_NET,
		.ops = &ms_store_ops,
		.ctx = s,
		.incarnation = inc,
	});
	sv->r = remote_create(NULL, 100, BS_NET);
	if (!sv->p || !sv->r)
		die("peer or owner", -errno);
	ret = remote_add_node(sv->r, PROV, peer_listen_addr(sv->p));
	if (ret)
		die("remote_add_node", ret);
}

/* Blocks per second the owner borrows and frees, rounds times BATCH. */
static double net_rounds(struct served *sv, unsigned int rounds)
{
	struct proto_block_ref refs[BATCH];
	uint64_t t0 = cmp_now_ns();
	uint32_t got;
	int ret;

	for (unsigned int i = 0; i < rounds; i++) {
		ret = remote_alloc(sv->r, PROV, BATCH, refs, &got);
		if (!ret)
			ret = remote_free(sv->r, PROV, refs, got);
		if (ret)
			die("alloc/free", ret);
	}
	return (double)rounds * BATCH / secs(t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void no_release(void *ctx, const uint32_t *idx, uint32_t n)
{
	(void)ctx;
	(void)idx;
	(void)n;
}

static void journal_to_store(void *ctx, uint32_t idx, uint32_t owner,
			     uint32_t epoch, bool handed)
{
	ms_store_ops.journal(ctx,
			     &(struct peer_kept_loan){
				     .owner = owner,
				     .block = idx,
				     .epoch = epoch,
				     .flags = handed ? PEER_KEPT_HANDED : 0,
			     });
}

/* Blocks per second the loan table lends and frees (journal or not). */
static double table_rounds(struct ms_store *kept, unsigned int rounds)
{
	struct loans *l = loans_create(&(struct loans_config){
		.nblocks = NET_BLOCKS,
		.release = no_release,
		.journal = kept ? journal_to_store : NULL,
		.ctx = kept,
	});
	struct proto_block_ref refs[BATCH];
	uint32_t idx[BATCH], ep[BATCH];
	uint64_t t0;

	if (!l)
		die("loans_create", -errno);
	t0 = cmp_now_ns();
	for (unsigned int i = 0; i < rounds; i++) {
		for (uint32_t k = 0; k < BATCH; k++)
			idx[k] = (i * BATCH + k) % NET_BLOCKS;
		if (loans_lend(l, 100, idx, BATCH, ep, 0))
			die("loans_lend", -EINVAL);
		for (uint32_t k = 0; k < BATCH; k++)
			refs[k] = (struct proto_block_ref){idx[k], ep[k]};
		if (loans_free(l, 100, refs, BATCH, 0) != BATCH)
			die("loans_free", -EINVAL);
	}
	loans_destroy(l);
	return (double)rounds * BATCH / secs(t0);
}

#define TRIALS 15

static int alloc_free(unsigned int rounds)
{
	static const char *const kind[] = {"RAM store", "file store",
					   "kept file store"};
	char dir[] = "/tmp/ms-store-bench-XXXXXX", file[64], kfile[64];
	double v[3][TRIALS], t[2][TRIALS];
	struct ms_store *st[3];
	struct served sv[3];
	int ret;

	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	snprintf(file, sizeof(file), "%s/plain", dir);
	snprintf(kfile, sizeof(kfile), "%s/kept", dir);
	ret = ms_store_create(NULL, NET_BLOCKS * BS_NET, BS_NET, &st[0]);
	if (!ret)
		ret = ms_store_create(file, NET_BLOCKS * BS_NET, BS_NET,
				      &st[1]);
	if (!ret)
		ret = ms_store_create_kept(
			&(struct ms_store_kept_config){
				.path = kfile,
				.size = NET_BLOCKS * BS_NET,
				.block_size = BS_NET,
			},
			&st[2]);
	if (ret)
		die("stores", ret);
	for (int k = 0; k < 3; k++)
		serve(&sv[k], st[k], ms_store_incarnation(st[k]));
	/* trials interleaved, medians: the machine is shared */
	for (int i = 0; i < TRIALS; i++) {
		for (int k = 0; k < 3; k++)
			v[k][i] = net_rounds(&sv[k], rounds);
		t[0][i] = table_rounds(NULL, rounds * 20);
		t[1][i] = table_rounds(st[2], rounds * 20);
	}
	printf("ALLOC+FREE of %u blocks of %u KiB over mem://, median of %d "
	       "trials of %u rounds\n",
	       BATCH, BS_NET >> 10, TRIALS, rounds);
	for (int k = 0; k < 3; k++)
		printf("  %-20s %10.0f blocks/s\n", kind[k],
		       median(v[k], TRIALS));
	printf("the loan table alone, lend+free of %u, %u rounds\n", BATCH,
	       rounds * 20);
	printf("  %-20s %10.0f blocks/s\n", "no journal", median(t[0], TRIALS));
	printf("  %-20s %10.0f blocks/s\n", "kept store's journal",
	       median(t[1], TRIALS));
	for (int k = 0; k < 3; k++) {
		remote_destroy(sv[k].r);
		peer_destroy(sv[k].p);
		ms_store_destroy(st[k]);
	}
	unlink(file);
	unlink(kfile);
	snprintf(kfile, sizeof(kfile), "%s/kept.idx", dir);
	unlink(kfile);
	rmdir(dir);
	return 0;
}

/* A kept store at path, every block lent to one of OWNERS owners. */
static void fill(const char *path, uint64_t size, uint32_t bs, uint32_t node,
		 bool data)
{
	struct ms_store *s;
	uint32_t idx, n = 0;
	int ret = ms_store_create_kept(
		&(struct ms_store_kept_config){
			.path = path,
			.size = size,
			.block_size = bs,
			.node_id = node,
			.fresh = true,
		},
		&s);

	if (ret)
		die(path, ret);
	while (ms_store_ops.alloc(s, 1, 1, &idx) == 1) {
		ms_store_ops.journal(s, &(struct peer_kept_loan){
						.owner = 1000 + n % OWNERS,
						.block = idx,
						.epoch = n + 1,
					});
		if (data)
			memset(ms_store_ops.ptr(s, idx), (int)(n | 1), bs);
		n++;
	}
	/* as a kill -9 leaves it: no clean stop */
	ms_store_destroy(s);
	printf("%s: %u loans of %u owners, %s\n", path, n, OWNERS,
	       data ? "every block written" : "blocks not written");
}

static int restart(const char *dir, uint64_t size, uint32_t bs, bool data)
{
	char path[512];
	struct ms_store *s;
	struct peer *p;
	uint32_t loans, owners;
	uint64_t t0;
	double t_store;
	int ret;

	snprintf(path, sizeof(path), "%s/ms-store-bench", dir);
	fill(path, size, bs, PROV, data);
	t0 = cmp_now_ns();
	ret = ms_store_create_kept(
		&(struct ms_store_kept_config){
			.path = path,
			.size = size,
			.block_size = bs,
		},
		&s);
	if (ret)
		die("restart", ret);
	t_store = secs(t0);
	p = peer_create(&(struct peer_config){
		.listen_addr = "mem://",
		.node_id = ms_store_node_id(s),
		.block_size = bs,
		.ops = &ms_store_ops,
		.ctx = s,
		.incarnation = ms_store_incarnation(s),
	});
	if (!p)
		die("peer", -errno);
	ms_store_kept_counts(s, &loans, &owners);
	printf("restart: %u loans of %u owners (%u lent): store %.1f ms, "
	       "store + peer %.1f ms\n",
	       loans, owners, peer_lent(p), t_store * 1e3, secs(t0) * 1e3);
	peer_destroy(p);
	ms_store_destroy(s);
	unlink(path);
	strncat(path, ".idx", sizeof(path) - strlen(path) - 1);
	unlink(path);
	return 0;
}

static uint64_t size_arg(const char *s)
{
	uint64_t v;

	if (cmp_parse_size(s, &v)) {
		fprintf(stderr, "ms-store-bench: '%s' is not a size\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	bool data = argc > 1 && !strcmp(argv[argc - 1], "--data");

	log_init("ms-store-bench", LOG_LVL_WARN);
	if (argc >= 2 && !strcmp(argv[1], "alloc-free"))
		return alloc_free(argc > 2 ? (unsigned int)atoi(argv[2]) : 200);
	if (argc >= 5 && !strcmp(argv[1], "restart"))
		return restart(argv[2], size_arg(argv[3]),
			       (uint32_t)size_arg(argv[4]), data);
	if (argc >= 6 && !strcmp(argv[1], "fill")) {
		fill(argv[2], size_arg(argv[3]), (uint32_t)size_arg(argv[4]),
		     (uint32_t)atoi(argv[5]), data);
		return 0;
	}
	fprintf(stderr,
		"usage: ms-store-bench alloc-free [ROUNDS]\n"
		"       ms-store-bench restart DIR SIZE BLOCK [--data]\n"
		"       ms-store-bench fill PATH SIZE BLOCK NODE "
		"[--data]\n");
	return 2;
}
