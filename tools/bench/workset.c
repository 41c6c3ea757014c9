// SPDX-License-Identifier: MIT
/*
 * workset: one node's demand in the collaborative benchmark (workload
 * "collab"): writes a working set of MIB MiB, then reads it back PASSES
 * times, checking every word. In a file (FILE given: 1 MiB pwrite()s,
 * fsync, 1 MiB pread()s; a write that fails is counted, not fatal: on
 * cmpfs that is ENOSPC when the cluster is full) or in anonymous memory
 * (no FILE: in a memory cgroup smaller than MIB the kernel swaps, and
 * the OOM killer may end it).
 *
 *   workset MIB [FILE] [--passes N]
 *
 * Prints one line: "write_s=S read_s=S enospc=N errors=N bad=N".
 * Exit 0 when everything was written and read back, 1 when a word was
 * wrong, 2 when writes failed, 3 on usage or set-up errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Word i of chunk c: differs per word and chunk, incompressible. */
static uint64_t word(uint64_t c, uint64_t i)
{
	uint64_t x = c * 0x9e3779b97f4a7c15ull ^ (i << 40) ^ 0x5bd1e995u;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

static void fill(uint64_t *p, uint64_t c)
{
	for (uint64_t i = 0; i < CHUNK / 8; i++)
		p[i] = word(c, i);
}

static int check(const uint64_t *p, uint64_t c)
{
	for (uint64_t i = 0; i < CHUNK / 8; i++)
		if (p[i] != word(c, i))
			return 1;
	return 0;
}

struct result {
	double write_s, read_s;
	unsigned long enospc, errors, bad;
};

static int run_file(const char *path, uint64_t n, int passes, struct result *r)
{
	uint64_t *buf = aligned_alloc(4096, CHUNK);
	uint8_t *ok = calloc(n, 1);
	double t0;
	int fd;

	if (!buf || !ok)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	t0 = now();
	for (uint64_t c = 0; c < n; c++) {
		fill(buf, c);
		if (pwrite(fd, buf, CHUNK, (off_t)(c * CHUNK)) == CHUNK)
			ok[c] = 1;
		else if (errno == ENOSPC)
			r->enospc++;
		else
			r->errors++;
	}
	if (fsync(fd))
		r->errors++;
	r->write_s = now() - t0;
	t0 = now();
	for (int p = 0; p < passes; p++)
		for (uint64_t c = 0; c < n; c++) {
			if (!ok[c])
				continue;
			if (pread(fd, buf, CHUNK, (off_t)(c * CHUNK)) != CHUNK)
				r->errors++;
			else
				r->bad += check(buf, c);
		}
	r->read_s = now() - t0;
	close(fd);
	free(ok);
	free(buf);
	return 0;
}

static int run_anon(uint64_t n, int passes, struct result *r)
{
	uint8_t *m = mmap(NULL, n * CHUNK, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t0;

	if (m == MAP_FAILED)
		return -1;
	t0 = now();
	for (uint64_t c = 0; c < n; c++)
		fill((uint64_t *)(m + c * CHUNK), c);
	r->write_s = now() - t0;
	t0 = now();
	for (int p = 0; p < passes; p++)
		for (uint64_t c = 0; c < n; c++)
			r->bad += check((uint64_t *)(m + c * CHUNK), c);
	r->read_s = now() - t0;
	munmap(m, n * CHUNK);
	return 0;
}

int main(int argc, char **argv)
{
	struct result r = {0};
	const char *path = NULL;
	int passes = 1, ret;
	uint64_t mib = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--passes") && i + 1 < argc)
			passes = atoi(argv[++i]);
		else if (!mib)
			mib = strtoull(argv[i], NULL, 10);
		else
			path = argv[i];
	}
	if (!mib || passes < 0) {
		fprintf(stderr, "usage: workset MIB [FILE] [--passes N]\n");
		return 3;
	}
	ret = path ? run_file(path, mib, passes, &r)
		   : run_anon(mib, passes, &r);
	if (ret) {
		fprintf(stderr, "workset: %s: %s\n", path ? path : "mmap",
			strerror(errno));
		return 3;
	}
	printf("write_s=%.3f read_s=%.3f enospc=%lu errors=%lu bad=%lu\n",
	       r.write_s, r.read_s, r.enospc, r.errors, r.bad);
	return r.bad ? 1 : r.enospc || r.errors ? 2 : 0;
}
