// SPDX-License-Identifier: MIT
/*
 * libcmp (include/cmp/libcmp.h) against a real cmpfs mount: run by
 * test-libcmp.sh with CMP_DIR set to a mount of 64 blocks of 1 MiB that
 * nothing else uses. Each test reads the mount's counters (the
 * user.cmpfs.stats attribute of CMP_DIR, the mount's root) to see the
 * blocks an allocation takes and gives back.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/libcmp.h"

#define MIB (1ul << 20)
#define POOL_BLOCKS 64
#define DEADLINE_MS 5000

static const char *dir;

/* One counter of the mount, or -1. */
static long long counter(const char *name)
{
	char buf[8192], *p;
	ssize_t n = getxattr(dir, "user.cmpfs.stats", buf, sizeof(buf) - 1);
	size_t len = strlen(name);

	assert_true(n > 0);
	buf[n] = '\0';
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, len) && p[len] == ' ')
			return atoll(p + len + 1);
	return -1;
}

static long long free_blocks(void)
{
	return counter("blocks_free");
}

/* Polls until the pool has want free blocks; blocks come back when the
 * kernel releases the unmapped file, a moment after munmap(). */
static bool free_blocks_become(long long want)
{
	for (int ms = 0; ms < DEADLINE_MS; ms += 10) {
		if (free_blocks() == want)
			return true;
		usleep(10000);
	}
	return false;
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i += 512)
		p[i] = (unsigned char)(seed + i / 512);
}

static bool holds(const unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i += 512)
		if (p[i] != (unsigned char)(seed + i / 512))
			return false;
	return true;
}

static void malloc_takes_pool_blocks_and_free_gives_them_back(void **state)
{
	long long before = free_blocks();
	unsigned char *p = cmp_malloc(8 * MIB);

	assert_non_null(p);
	assert_true(cmp_owns(p));
	assert_int_equal(cmp_usable_size(p), 8 * MIB);
	assert_int_equal(free_blocks(), before - 8);
	fill(p, 8 * MIB, 1);
	assert_true(holds(p, 8 * MIB, 1));
	cmp_free(p);
	assert_false(cmp_owns(p));
	assert_true(free_blocks_become(before));
}

static void calloc_memory_is_zero_even_on_reused_blocks(void **state)
{
	long long before = free_blocks();
	unsigned char *p = cmp_malloc(16 * MIB), *q;

	assert_non_null(p);
	memset(p, 0xa5, 16 * MIB);
	cmp_free(p);
	assert_true(free_blocks_become(before));
	q = cmp_calloc(16, MIB);
	assert_non_null(q);
	for (size_t i = 0; i < 16 * MIB; i += 8)
		if (*(uint64_t *)(q + i))
			fail_msg("byte %zu of calloc memory is not zero", i);
	cmp_free(q);
}

static void realloc_keeps_the_data_as_it_grows(void **state)
{
	unsigned char *p = cmp_malloc(3 * MIB), *q;

	assert_non_null(p);
	fill(p, 3 * MIB, 7);
	q = cmp_realloc(p, 3 * MIB - 4096); /* shrinks in place */
	assert_ptr_equal(q, p);
	q = cmp_realloc(p, 10 * MIB);
	assert_non_null(q);
	assert_true(holds(q, 3 * MIB - 4096, 7));
	assert_false(cmp_owns(p) && p != q);
	assert_int_equal(cmp_usable_size(q), 10 * MIB);
	assert_null(cmp_realloc(q, 0));
	assert_false(cmp_owns(q));
	p = cmp_realloc(NULL, MIB);
	assert_non_null(p);
	cmp_free(p);
}

static void a_full_pool_gives_null_and_enomem(void **state)
{
	long long before = free_blocks();
	void *p = cmp_malloc((size_t)(before + 1) * MIB), *q;

	assert_null(p);
	assert_int_equal(errno, ENOMEM);
	assert_true(free_blocks_become(before));
	q = cmp_malloc(MIB); /* and the pool still works */
	assert_non_null(q);
	cmp_free(q);
}

static void pointers_that_are_not_ours_are_refused(void **state)
{
	char *heap = malloc(64);
	char stack[16];

	assert_non_null(heap);
	assert_false(cmp_owns(heap));
	assert_false(cmp_owns(stack));
	assert_false(cmp_owns(NULL));
	assert_int_equal(cmp_usable_size(heap), 0);
	errno = 0;
	assert_null(cmp_realloc(heap, 128));
	assert_int_equal(errno, EINVAL);
	cmp_free(NULL);
	free(heap);
}

static void init_refuses_a_directory_that_is_not_cmpfs(void **state)
{
	assert_int_equal(cmp_init("/proc/self"), -ENOTSUP);
	assert_int_equal(cmp_init("/nonexistent-libcmp-dir"), -ENOENT);
	assert_int_equal(cmp_init(dir), 0);
}

static void *churn(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	for (int i = 0; i < 25; i++) {
		size_t len = (1 + (seed + i) % 3) * MIB;
		unsigned char *p = cmp_malloc(len);

		if (!p)
			return "cmp_malloc failed";
		fill(p, len, seed + i);
		if (!holds(p, len, seed + i))
			return "data changed under another thread";
		cmp_free(p);
	}
	return NULL;
}

static void threads_allocate_and_free_at_once(void **state)
{
	long long before = free_blocks();
	pthread_t t[4];
	void *err;

	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(
			pthread_create(&t[i], NULL, churn, (void *)(i * 40)),
			0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &err), 0);
		if (err)
			fail_msg("thread %d: %s", i, (char *)err);
	}
	assert_true(free_blocks_become(before));
}

/*
 * Before each test, every block is back: the kernel releases a file some
 * time after the munmap and unlink of the test before returned.
 */
static int all_blocks_free(void **state)
{
	return free_blocks_become(POOL_BLOCKS) ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(
			malloc_takes_pool_blocks_and_free_gives_them_back,
			all_blocks_free),
		cmocka_unit_test_setup(
			calloc_memory_is_zero_even_on_reused_blocks,
			all_blocks_free),
		cmocka_unit_test_setup(realloc_keeps_the_data_as_it_grows,
				       all_blocks_free),
		cmocka_unit_test_setup(a_full_pool_gives_null_and_enomem,
				       all_blocks_free),
		cmocka_unit_test_setup(pointers_that_are_not_ours_are_refused,
				       all_blocks_free),
		cmocka_unit_test_setup(
			init_refuses_a_directory_that_is_not_cmpfs,
			all_blocks_free),
		cmocka_unit_test_setup(threads_allocate_and_free_at_once,
				       all_blocks_free),
	};

	dir = getenv("CMP_DIR");
	if (!dir) {
		fprintf(stderr, "test-libcmp: set CMP_DIR to a cmpfs mount "
				"(test-libcmp.sh does)\n");
		return 77;
	}
	if (free_blocks() != POOL_BLOCKS) {
		fprintf(stderr,
			"test-libcmp: %s has %lld free blocks, want %d\n", dir,
			free_blocks(), POOL_BLOCKS);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
