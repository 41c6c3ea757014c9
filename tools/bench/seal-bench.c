// SPDX-License-Identifier: MIT
/*
 * seal-bench: what sealing frames costs. Pushes a volume of frames (default
 * 1 GiB in 1 MiB frames) through one connection, over mem:// and TCP
 * loopback, plain (insecure mode: XXH3) and sealed with each AEAD, and
 * receives them as the peer service does: header, then the payload through
 * the cursor into a destination buffer (a block). Then 512-byte requests
 * answered by 512-byte replies, one at a time, for the round-trip latency.
 * Prints GB/s, the ratio to plain, and p50/p99 round trips.
 *
 *   build/tools/bench/seal-bench [--size 1G] [--frame 1M] [--rounds 2000]
 *                                [--transport mem,tcp]
 *
 * The sessions are sealed directly with fixed keys (connector-internal
 * wire_seal_start()), not by a handshake, so that both ciphers can be
 * measured on a machine where the handshake would always pick AES-GCM.
 * Sender and receiver are two threads of this process: on a machine with
 * two cores both are busy, as on two hosts each end would be.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "wire-internal.h"

struct opts {
	uint64_t size;
	uint64_t frame;
	unsigned int rounds;
	bool mem, tcp;
};

struct link {
	struct conn_listener *l;
	struct conn *a, *b;
};

static int link_open(struct link *k, const char *addr, enum seal_cipher c)
{
	uint8_t k1[SEAL_KEY_BYTES], k2[SEAL_KEY_BYTES];
	int ret;

	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	ret = conn_listen(addr, &k->l);
	if (!ret)
		ret = conn_connect(conn_listener_addr(k->l), 0, &k->a);
	if (!ret)
		ret = conn_accept(k->l, &k->b);
	if (!ret && c != SEAL_NONE)
		ret = wire_seal_start(k->a, c, k1, k2);
	if (!ret && c != SEAL_NONE)
		ret = wire_seal_start(k->b, c, k2, k1);
	return ret;
}

static void link_close(struct link *k)
{
	conn_destroy(k->a);
	conn_destroy(k->b);
	conn_listener_destroy(k->l);
}

struct flow {
	struct conn *c;
	const struct opts *o;
	uint8_t *buf;
	int ret;
};

static void *sender(void *arg)
{
	struct flow *f = arg;
	struct iovec iov = {f->buf, f->o->frame};
	uint64_t n = f->o->size / f->o->frame;

	for (uint64_t i = 0; i < n && !f->ret; i++) {
		struct wire_hdr h = {.op = WIRE_OP_WRITE, .id = i};

		f->ret = wire_send(f->c, &h, &iov, 1);
	}
	return NULL;
}

/* Seconds to move o->size bytes from a to b. */
static double throughput(struct link *k, const struct opts *o, uint8_t *src,
			 uint8_t *dst)
{
	struct flow f = {.c = k->a, .o = o, .buf = src};
	uint64_t n = o->size / o->frame, t0 = cmp_now_ns();
	struct wire_hdr h;
	pthread_t t;
	int ret = 0;

	if (pthread_create(&t, NULL, sender, &f))
		return -1;
	for (uint64_t i = 0; i < n && !ret; i++) {
		ret = wire_recv_hdr(k->b, &h);
		if (!ret)
			ret = wire_read(k->b, dst, h.len);
	}
	pthread_join(t, NULL);
	if (ret || f.ret) {
		fprintf(stderr, "seal-bench: transfer failed: %s\n",
			strerror(-(ret ? ret : f.ret)));
		return -1;
	}
	return (double)(cmp_now_ns() - t0) / 1e9;
}

static void *echo(void *arg)
{
	struct flow *f = arg;
	struct iovec iov = {f->buf, 512};
	struct wire_hdr h;

	for (unsigned int i = 0; i < f->o->rounds && !f->ret; i++) {
		f->ret = wire_recv_hdr(f->c, &h);
		if (!f->ret)
			f->ret = wire_read(f->c, f->buf, h.len);
		h.flags = WIRE_F_REPLY;
		if (!f->ret)
			f->ret = wire_send(f->c, &h, &iov, 1);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* p50 and p99 of 512-byte request/reply round trips, in microseconds. */
static int latency(struct link *k, const struct opts *o, uint8_t *buf,
		   double *p50, double *p99)
{
	uint64_t *us = calloc(o->rounds, sizeof(*us));
	struct flow f = {.c = k->b, .o = o, .buf = buf + 4096};
	struct iovec iov = {buf, 512};
	struct wire_hdr h;
	pthread_t t;
	int ret = 0;

	if (!us || pthread_create(&t, NULL, echo, &f)) {
		free(us);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < o->rounds && !ret; i++) {
		uint64_t t0 = cmp_now_ns();

		h = (struct wire_hdr){.op = WIRE_OP_READ, .id = i};
		ret = wire_send(k->a, &h, &iov, 1);
		if (!ret)
			ret = wire_recv_hdr(k->a, &h);
		if (!ret)
			ret = wire_read(k->a, buf, h.len);
		us[i] = cmp_now_ns() - t0;
	}
	pthread_join(t, NULL);
	if (!ret && !f.ret) {
		qsort(us, o->rounds, sizeof(*us), cmp_u64);
		*p50 = (double)us[o->rounds / 2] / 1000;
		*p99 = (double)us[o->rounds * 99 / 100] / 1000;
	}
	free(us);
	return ret ? ret : f.ret;
}

static void run(const char *transport, const char *addr, const struct opts *o,
		uint8_t *src, uint8_t *dst)
{
	static const enum seal_cipher modes[] = {
		SEAL_NONE, SEAL_CHACHA20POLY1305, SEAL_AES256GCM};
	double plain = 0;

	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		const char *name = modes[i] == SEAL_NONE
					   ? "insecure (XXH3)"
					   : seal_cipher_name(modes[i]);
		double s, gbs, p50 = 0, p99 = 0;
		struct link k = {0};

		if (modes[i] == SEAL_AES256GCM && !seal_aes_available()) {
			printf("%-5s %-20s no AES-NI on this CPU\n", transport,
			       name);
			continue;
		}
		if (link_open(&k, addr, modes[i])) {
			fprintf(stderr, "seal-bench: cannot open %s\n", addr);
			link_close(&k);
			continue;
		}
		s = throughput(&k, o, src, dst);
		if (s > 0 && latency(&k, o, src, &p50, &p99) == 0) {
			gbs = (double)o->size / s / 1e9;
			if (modes[i] == SEAL_NONE)
				plain = gbs;
			printf("%-5s %-20s %7.2f GB/s  %5.2fx   %7.1f us  "
			       "%7.1f us\n",
			       transport, name, gbs, plain ? gbs / plain : 0,
			       p50, p99);
		}
		link_close(&k);
	}
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"size", required_argument, NULL, 's'},
		{"frame", required_argument, NULL, 'f'},
		{"rounds", required_argument, NULL, 'r'},
		{"transport", required_argument, NULL, 't'},
		{0},
	};
	int c;

	*o = (struct opts){.size = 1ull << 30,
			   .frame = 1u << 20,
			   .rounds = 20000,
			   .mem = true,
			   .tcp = true};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 's' && !cmp_parse_size(optarg, &o->size))
			continue;
		if (c == 'f' && !cmp_parse_size(optarg, &o->frame))
			continue;
		if (c == 'r' && atoi(optarg) > 0) {
			o->rounds = (unsigned int)atoi(optarg);
			continue;
		}
		if (c == 't') {
			o->mem = strstr(optarg, "mem") != NULL;
			o->tcp = strstr(optarg, "tcp") != NULL;
			continue;
		}
		fprintf(stderr, "usage: seal-bench [--size 1G] [--frame 1M] "
				"[--rounds N] [--transport mem,tcp]\n");
		return -EINVAL;
	}
	if (!o->frame || o->frame > WIRE_MAX_PAYLOAD || o->size < o->frame) {
		fprintf(stderr, "seal-bench: --frame must be 1..16M and at "
				"most --size\n");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	uint8_t *src, *dst;
	char sz[32], fr[32];

	log_init("seal-bench", LOG_LVL_WARN);
	if (parse(argc, argv, &o))
		return 2;
	src = malloc(o.frame + 8192);
	dst = malloc(o.frame + 8192);
	if (!src || !dst || seal_crypto_init())
		return 1;
	for (uint64_t i = 0; i < o.frame + 8192; i++)
		src[i] = (uint8_t)(i * 131);
	memset(dst, 0, o.frame + 8192);
	printf("%s in %s frames, then %u round trips of 512 B\n",
	       cmp_format_size(o.size, sz, sizeof(sz)),
	       cmp_format_size(o.frame, fr, sizeof(fr)), o.rounds);
	printf("%-5s %-20s %12s %7s %10s %10s\n", "link", "mode", "throughput",
	       "ratio", "p50 RTT", "p99 RTT");
	if (o.mem)
		run("mem", "mem://", &o, src, dst);
	if (o.tcp)
		run("tcp", "tcp://127.0.0.1:0", &o, src, dst);
	free(src);
	free(dst);
	return 0;
}
