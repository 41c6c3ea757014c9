// SPDX-License-Identifier: MIT
/*
 * cmp-alloc-example [MIB]: a program that chooses what lives in the cmpfs
 * pool. Its big table (MIB MiB, default 64) comes from cmp_malloc(), so
 * its pages live in pool blocks (this node's memory, another node's, or a
 * memserver's) while its small bookkeeping stays on the ordinary heap.
 * The table is grown with cmp_realloc() and checked after each step.
 *
 *   CMP_DIR=/cmp cmp-alloc-example 256
 *   cc prog.c -lcmp        (include <cmp/libcmp.h>)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/libcmp.h"

static uint64_t value(size_t i)
{
	return (uint64_t)i * 0x9e3779b97f4a7c15ull;
}

static void fill(uint64_t *t, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		t[i] = value(i);
}

/* The first index that holds the wrong value, or n. */
static size_t check(const uint64_t *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] != value(i))
			return i;
	return n;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	size_t n = (mib << 20) / sizeof(uint64_t), bad;
	uint64_t *t, *t2;
	int ret;

	if (!mib) {
		fprintf(stderr, "usage: cmp-alloc-example [MIB]\n");
		return 2;
	}
	ret = cmp_init(NULL); /* CMP_DIR, else /cmp; says why it cannot */
	if (ret)
		return 1;
	t = cmp_malloc(n * sizeof(*t));
	if (!t) {
		fprintf(stderr, "cmp_malloc(%zu MiB): %s\n", mib,
			strerror(errno));
		return 1;
	}
	fill(t, 0, n);
	t2 = cmp_realloc(t, 2 * n * sizeof(*t));
	if (!t2) {
		fprintf(stderr, "cmp_realloc(%zu MiB): %s\n", 2 * mib,
			strerror(errno));
		cmp_free(t);
		return 1;
	}
	t = t2;
	fill(t, n, 2 * n);
	bad = check(t, 2 * n);
	if (bad != 2 * n) {
		fprintf(stderr, "word %zu: %#" PRIx64 ", want %#" PRIx64 "\n",
			bad, t[bad], value(bad));
		cmp_free(t);
		return 1;
	}
	printf("%zu MiB in the pool (%zu usable bytes at %p): verified\n",
	       2 * mib, cmp_usable_size(t), (void *)t);
	cmp_free(t);
	return 0;
}
