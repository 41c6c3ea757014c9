// SPDX-License-Identifier: MIT
/*
 * mmap-tp: mmap as memory. Maps SIZE bytes of FILE MAP_SHARED (the file is
 * created and truncated to SIZE) and measures
 *   first_touch: writing every byte of the fresh mapping, then msync
 *   rewrite:     writing every byte again, then msync
 *   read:        reading every byte back after dropping the pages
 *                (munmap, POSIX_FADV_DONTNEED, mmap again)
 * Prints: first_touch_MBps=X rewrite_MBps=Y read_MBps=Z
 *
 * With a third argument, one of the phases, it stops itself (SIGSTOP)
 * before that phase's clock starts and after it stops, so that whoever
 * watches it (the harness's profiler) can act between the phases and then
 * continue it (SIGCONT).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
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

static const char *stop_at; /* the phase to stop around, or NULL */

/* A phase begins: stop first if asked to, then read the clock. */
static double phase_begin(const char *phase)
{
	if (stop_at && !strcmp(stop_at, phase))
		raise(SIGSTOP);
	return now();
}

/* A phase ends: read the clock, then stop if asked to. */
static double phase_end(const char *phase)
{
	double t = now();

	if (stop_at && !strcmp(stop_at, phase))
		raise(SIGSTOP);
	return t;
}

int main(int argc, char **argv)
{
	char *end;
	uint64_t bytes;
	int fd;
	char *p;
	double t0, t1, t1b, t2, t3, t4;
	volatile uint64_t sum = 0;

	if (argc != 3 && argc != 4) {
		fprintf(stderr,
			"usage: %s FILE SIZE_MIB [first_touch|rewrite|read]\n",
			argv[0]);
		return 2;
	}
	stop_at = argc == 4 ? argv[3] : NULL;
	bytes = strtoull(argv[2], &end, 0) << 20;
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)bytes)) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "mmap %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	t0 = phase_begin("first_touch");
	memset(p, 0x5a, bytes);
	if (msync(p, bytes, MS_SYNC)) {
		fprintf(stderr, "msync: %s\n", strerror(errno));
		return 1;
	}
	t1 = phase_end("first_touch");
	t1b = phase_begin("rewrite");
	memset(p, 0xa5, bytes);
	if (msync(p, bytes, MS_SYNC)) {
		fprintf(stderr, "msync: %s\n", strerror(errno));
		return 1;
	}
	t2 = phase_end("rewrite");
	munmap(p, bytes);
	posix_fadvise(fd, 0, (off_t)bytes, POSIX_FADV_DONTNEED);
	p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "mmap %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	t3 = phase_begin("read");
	for (uint64_t i = 0; i < bytes; i += 8)
		sum += *(uint64_t *)(p + i);
	t4 = phase_end("read");
	(void)sum; /* volatile: the loads above are not optimized away */
	if (p[bytes - 1] != (char)0xa5) {
		fprintf(stderr, "read back wrong data\n");
		return 1;
	}
	printf("first_touch_MBps=%.1f rewrite_MBps=%.1f read_MBps=%.1f\n",
	       (double)bytes / 1e6 / (t1 - t0),
	       (double)bytes / 1e6 / (t2 - t1b),
	       (double)bytes / 1e6 / (t4 - t3));
	munmap(p, bytes);
	close(fd);
	return 0;
}
