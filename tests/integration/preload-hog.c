// SPDX-License-Identifier: MIT
/*
 * preload-hog CHUNKS MIB: an ordinary program (it knows nothing of
 * libcmp) for test-libcmp.sh to run under LD_PRELOAD=libcmp-preload.so.
 * Two threads each malloc() CHUNKS/2 chunks of MIB MiB and fill them; one
 * calloc() and one posix_memalign() of MIB MiB and a realloc() that grows
 * a chunk to twice its size follow, and a thousand small allocations that
 * must stay on the C library's heap. Then it prints "allocated" and waits
 * for a line on stdin (the test looks at the pool meanwhile), checks every
 * byte pattern, frees everything, prints "freed" and waits for another
 * line before it exits. Exit status 1 on any wrong byte.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHUNKS 64
#define SMALL 1000

static size_t chunk_bytes;
static unsigned char *chunk[MAX_CHUNKS];
static int nchunks;

static unsigned char pattern(size_t chunk_no, size_t off)
{
	return (unsigned char)(chunk_no * 31 + off / 4096);
}

static void fill(unsigned char *p, size_t len, size_t no)
{
	for (size_t off = 0; off < len; off += 4096)
		memset(p + off, pattern(no, off), 4096);
}

static int check(const unsigned char *p, size_t len, size_t no)
{
	for (size_t off = 0; off < len; off++)
		if (p[off] != pattern(no, off)) {
			fprintf(stderr, "preload-hog: chunk %zu byte %zu: %u\n",
				no, off, p[off]);
			return 1;
		}
	return 0;
}

static void *allocate_half(void *arg)
{
	int first = (int)(intptr_t)arg;

	for (int i = first; i < nchunks; i += 2) {
		chunk[i] = malloc(chunk_bytes);
		if (!chunk[i])
			return "malloc failed";
		fill(chunk[i], chunk_bytes, (size_t)i);
	}
	return NULL;
}

static int wait_line(const char *say)
{
	char line[16];

	printf("%s\n", say);
	fflush(stdout);
	return fgets(line, sizeof(line), stdin) ? 0 : 1;
}

int main(int argc, char **argv)
{
	char *small[SMALL];
	unsigned char *zeros, *aligned, *grown;
	pthread_t t[2];
	void *err;
	int bad = 0;

	if (argc != 3 || (nchunks = atoi(argv[1])) < 1 ||
	    nchunks > MAX_CHUNKS || atoi(argv[2]) < 1) {
		fprintf(stderr, "usage: preload-hog CHUNKS MIB\n");
		return 2;
	}
	chunk_bytes = (size_t)atoi(argv[2]) << 20;
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, allocate_half, (void *)(intptr_t)i);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], &err);
		if (err) {
			fprintf(stderr, "preload-hog: %s\n", (char *)err);
			return 1;
		}
	}
	for (int i = 0; i < SMALL; i++) {
		small[i] = malloc((size_t)(16 + i * 61));
		memset(small[i], i & 0xff, (size_t)(16 + i * 61));
	}
	zeros = calloc(chunk_bytes, 1);
	if (!zeros || posix_memalign((void **)&aligned, 4096, chunk_bytes))
		return 1;
	fill(aligned, chunk_bytes, 1000);
	grown = realloc(chunk[0], 2 * chunk_bytes);
	if (!grown)
		return 1;
	chunk[0] = grown;
	fill(grown + chunk_bytes, chunk_bytes, 2000);
	if (wait_line("allocated"))
		return 1;

	for (int i = 0; i < nchunks; i++)
		bad |= check(chunk[i], chunk_bytes, (size_t)i);
	bad |= check(grown + chunk_bytes, chunk_bytes, 2000);
	bad |= check(aligned, chunk_bytes, 1000);
	for (size_t i = 0; i < chunk_bytes; i++)
		bad |= zeros[i] != 0;
	for (int i = 0; i < SMALL; i++) {
		for (int k = 0; k < 16 + i * 61; k++)
			bad |= (unsigned char)small[i][k] != (i & 0xff);
		free(small[i]);
	}
	for (int i = 0; i < nchunks; i++)
		free(chunk[i]);
	free(zeros);
	free(aligned);
	if (wait_line(bad ? "corrupt" : "freed"))
		return 1;
	return bad;
}
