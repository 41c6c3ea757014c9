// SPDX-License-Identifier: MIT
/*
 * memhog: allocates MiB of anonymous memory, fills it with a pattern that
 * differs per word, page and pass (incompressible, so zswap cannot keep it
 * off the swap device), then reads every word back and checks it. Run in
 * a memory cgroup smaller than MiB it forces the kernel to swap, so a clean
 * exit means every swapped page came back intact.
 *
 *   memhog MIB [PASSES]
 *
 * Exit 0 when all pages verified, 1 on the first bad page (named).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096u

static uint64_t word(uint64_t page, uint64_t i, uint64_t pass)
{
	uint64_t x = page * 0x9e3779b97f4a7c15ull ^ (i << 52) ^ pass;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t mib, passes, pages;
	uint64_t *mem;
	double t0 = now();

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: memhog MIB [PASSES]\n");
		return 2;
	}
	mib = strtoull(argv[1], NULL, 0);
	passes = argc == 3 ? strtoull(argv[2], NULL, 0) : 1;
	pages = mib * (1u << 20) / PAGE;
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "memhog: mmap %" PRIu64 " MiB: %s\n", mib,
			strerror(errno));
		return 1;
	}
	/* No huge pages: swap works on 4 KiB pages here. */
	madvise(mem, pages * PAGE, MADV_NOHUGEPAGE);
	for (uint64_t pass = 0; pass < passes; pass++) {
		for (uint64_t p = 0; p < pages; p++) {
			uint64_t *w = mem + p * (PAGE / 8);

			for (uint64_t i = 0; i < PAGE / 8; i++)
				w[i] = word(p, i, pass);
		}
		for (uint64_t p = 0; p < pages; p++) {
			uint64_t *w = mem + p * (PAGE / 8);

			for (uint64_t i = 0; i < PAGE / 8; i++) {
				if (w[i] == word(p, i, pass))
					continue;
				fprintf(stderr,
					"memhog: pass %" PRIu64
					": page %" PRIu64 " word %" PRIu64
					" is %#" PRIx64 ", want %#" PRIx64 "\n",
					pass, p, i, w[i], word(p, i, pass));
				return 1;
			}
		}
		printf("memhog: pass %" PRIu64 ": %" PRIu64 " MiB written and "
		       "verified (%.1f s)\n",
		       pass, mib, now() - t0);
		fflush(stdout);
	}
	return 0;
}
