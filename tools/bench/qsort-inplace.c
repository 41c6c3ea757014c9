// SPDX-License-Identifier: MIT
/*
 * qsort-inplace: the CMP paper's Figure 10 workload. Fills an array of
 * random 64-bit integers and sorts it with an in-place quicksort (not glibc
 * qsort, which is a merge sort with a scratch buffer as large as the array).
 *
 *   qsort-inplace SIZE [FILE]
 *
 * SIZE in bytes (suffixes K, M, G). Without FILE the array is anonymous
 * memory; with FILE it is a MAP_SHARED mapping of FILE (created and sized;
 * the 'mapper' set-up). Prints one line:
 *   fill_s=F sort_s=S total_s=T n=N sorted=1
 * and exits 0 only when the result is sorted.
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

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'g':
	case 'G':
		v <<= 10; /* fall through */
	case 'm':
	case 'M':
		v <<= 10; /* fall through */
	case 'k':
	case 'K':
		v <<= 10;
		break;
	default:
		break;
	}
	return v;
}

static inline void swap64(uint64_t *a, uint64_t *b)
{
	uint64_t t = *a;
	*a = *b;
	*b = t;
}

static void insertion(uint64_t *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t v = a[i];
		size_t j = i;
		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

/* Hoare partition around a median of three; recurse on the smaller side. */
static void quicksort(uint64_t *a, size_t n)
{
	while (n > 24) {
		size_t m = n / 2, i, j;
		if (a[m] < a[0])
			swap64(&a[m], &a[0]);
		if (a[n - 1] < a[0])
			swap64(&a[n - 1], &a[0]);
		if (a[n - 1] < a[m])
			swap64(&a[n - 1], &a[m]);
		uint64_t p = a[m];
		i = 0;
		j = n - 1;
		for (;;) {
			while (a[i] < p)
				i++;
			while (a[j] > p)
				j--;
			if (i >= j)
				break;
			swap64(&a[i], &a[j]);
			i++;
			j--;
		}
		/* [0, j] <= p <= [j + 1, n) */
		size_t left = j + 1, right = n - left;
		if (left < right) {
			quicksort(a, left);
			a += left;
			n = right;
		} else {
			quicksort(a + left, right);
			n = left;
		}
	}
	insertion(a, n);
}

int main(int argc, char **argv)
{
	uint64_t bytes, *a, x = 0x9e3779b97f4a7c15ull;
	size_t n;
	double t0, t1, t2;
	int fd = -1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SIZE [FILE]\n", argv[0]);
		return 2;
	}
	bytes = parse_size(argv[1]);
	n = bytes / sizeof(uint64_t);
	bytes = n * sizeof(uint64_t);
	if (!n) {
		fprintf(stderr, "bad size\n");
		return 2;
	}
	if (argc == 3) {
		fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)bytes)) {
			fprintf(stderr, "%s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 0);
	} else {
		a = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (a == MAP_FAILED) {
		fprintf(stderr, "mmap: %s\n", strerror(errno));
		return 1;
	}
	t0 = now();
	for (size_t i = 0; i < n; i++) { /* xorshift64* */
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		a[i] = x * 0x2545f4914f6cdd1dull;
	}
	t1 = now();
	quicksort(a, n);
	t2 = now();
	for (size_t i = 1; i < n; i++) {
		if (a[i - 1] > a[i]) {
			fprintf(stderr, "not sorted at %zu\n", i);
			return 1;
		}
	}
	printf("fill_s=%.3f sort_s=%.3f total_s=%.3f n=%zu sorted=1\n", t1 - t0,
	       t2 - t1, t2 - t0, n);
	if (fd >= 0)
		close(fd);
	return 0;
}
