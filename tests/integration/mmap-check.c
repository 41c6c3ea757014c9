// SPDX-License-Identifier: MIT
/*
 * mmap-check: MAP_SHARED checks on a cmpfs file, driven by test-mmap.sh.
 * Files are direct_io, so reads and writes bypass the page cache while a
 * mapping lives in it; these checks pin down that the two stay coherent
 * (pwrite invalidates mapped pages, mapped stores are written back before
 * a pread or on msync/munmap) and that mapped data lands in the right block
 * when a mapping spans many blocks.
 *
 *   mmap-check write FILE SIZE SEED    fill FILE through one mapping
 *   mmap-check verify FILE SIZE SEED   check it by pread and by mapping
 *   mmap-check mix FILE BLOCKSIZE      pwrite/pread mixed with a mapping
 *   mmap-check enospc FILE SIZE        mapped stores on a full pool must
 *                                      report an error (msync or close)
 *   mmap-check keep FILE SIZE          an open (and close) of a mapped
 *                                      file leaves its cached pages, clean
 *                                      and dirty, in place and true
 *   mmap-check pressure FILE SIZE SEED ROUNDS
 *                                      rewrite every page ROUNDS times
 *                                      through one mapping, checking each
 *                                      page before it is rewritten; run in
 *                                      a memory cgroup smaller than SIZE,
 *                                      so pages are written back, evicted
 *                                      and read back from the daemon
 *
 * Exit 0 when every check held, 1 with a message naming the offset and
 * the bytes otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096u

static const char *file;

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mmap-check: %s: ", file);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The byte at file offset off of the pattern for seed. */
static uint8_t pat(uint64_t seed, uint64_t off)
{
	return (uint8_t)(mix64(seed * 0x100000001b3ull ^ (off >> 3)) >>
			 ((off & 7) * 8));
}

static void fill(uint8_t *p, uint64_t off, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pat(seed, off + i);
}

static void *map(int fd, size_t len, off_t off, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);

	if (p == MAP_FAILED)
		die("mmap of %zu bytes at %lld: %s", len, (long long)off,
		    strerror(errno));
	return p;
}

static void xpread(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done,
				  off + (off_t)done);
		if (n < 0)
			die("pread of %zu at %lld: %s", len - done,
			    (long long)(off + (off_t)done), strerror(errno));
		if (n == 0)
			die("pread at %lld: unexpected end of file",
			    (long long)(off + (off_t)done));
		done += (size_t)n;
	}
}

static void xpwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);

	if (n < 0 || (size_t)n != len)
		die("pwrite of %zu at %lld: %s", len, (long long)off,
		    n < 0 ? strerror(errno) : "short write");
}

static void xmsync(void *p, size_t len)
{
	if (msync(p, len, MS_SYNC))
		die("msync: %s", strerror(errno));
}

/* Compare got (at file offset off) with want; name what was compared. */
static void same(const char *what, const uint8_t *got, const uint8_t *want,
		 size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i])
			die("%s: byte at offset %" PRIu64 " is 0x%02x, want "
			    "0x%02x",
			    what, off + i, got[i], want[i]);
}

static int open_file(int flags)
{
	int fd = open(file, flags, 0644);

	if (fd < 0)
		die("open: %s", strerror(errno));
	return fd;
}

static int cmd_write(uint64_t size, uint64_t seed)
{
	int fd = open_file(O_RDWR | O_CREAT | O_TRUNC);
	uint8_t *p;

	if (ftruncate(fd, (off_t)size))
		die("ftruncate to %" PRIu64 ": %s", size, strerror(errno));
	p = map(fd, size, 0, PROT_READ | PROT_WRITE);
	for (uint64_t i = 0; i < size; i++)
		if (p[i])
			die("fresh file not zero at %" PRIu64, i);
	fill(p, 0, size, seed);
	xmsync(p, size);
	if (munmap(p, size) || close(fd))
		die("munmap/close: %s", strerror(errno));
	return 0;
}

static int cmd_verify(uint64_t size, uint64_t seed)
{
	int fd = open_file(O_RDONLY);
	size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk), *want = malloc(chunk), *p;
	struct stat st;

	if (!buf || !want)
		die("out of memory");
	if (fstat(fd, &st) || (uint64_t)st.st_size != size)
		die("size is %lld, want %" PRIu64, (long long)st.st_size, size);
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = (size_t)(size - off < chunk ? size - off : chunk);

		xpread(fd, buf, n, (off_t)off);
		fill(want, off, n, seed);
		same("pread", buf, want, n, off);
	}
	p = map(fd, size, 0, PROT_READ);
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = (size_t)(size - off < chunk ? size - off : chunk);

		fill(want, off, n, seed);
		same("mapping", p + off, want, n, off);
	}
	/* The rest of the last page, past EOF, reads as zeros. */
	for (uint64_t off = size; off % PAGE; off++)
		if (p[off])
			die("mapping: byte past EOF at %" PRIu64 " is 0x%02x",
			    off, p[off]);
	munmap(p, size);
	close(fd);
	free(buf);
	free(want);
	return 0;
}

/*
 * One file, one mapping of all of it, and a model of what the file should
 * hold; every step changes the file one way and checks it the other way.
 */
struct mix {
	int fd;
	uint8_t *map;
	uint8_t *model;
	uint8_t *buf;
	size_t size;
};

static void mix_pwrite(struct mix *m, size_t off, size_t len, uint64_t seed)
{
	fill(m->buf, off, len, seed);
	xpwrite(m->fd, m->buf, len, (off_t)off);
	memcpy(m->model + off, m->buf, len);
}

static void mix_store(struct mix *m, size_t off, size_t len, uint64_t seed)
{
	fill(m->map + off, off, len, seed);
	fill(m->model + off, off, len, seed);
}

static void mix_check_pread(struct mix *m, const char *what, size_t off,
			    size_t len)
{
	xpread(m->fd, m->buf, len, (off_t)off);
	same(what, m->buf, m->model + off, len, off);
}

static int cmd_mix(uint64_t bs)
{
	struct mix m = {0};
	size_t size = (size_t)(3 * bs > (256u << 10) ? 3 * bs : 256u << 10);
	size_t a, b;
	uint8_t *p2;

	size += 1234; /* a partial last page */
	m.fd = open_file(O_RDWR | O_CREAT | O_TRUNC);
	m.model = calloc(1, size);
	m.buf = malloc(size);
	if (!m.model || !m.buf)
		die("out of memory");
	if (ftruncate(m.fd, (off_t)size))
		die("ftruncate: %s", strerror(errno));
	m.size = size;
	m.map = map(m.fd, size, 0, PROT_READ | PROT_WRITE);

	/* A fresh (sparse) file maps as zeros. */
	same("fresh mapping", m.map, m.model, size, 0);

	/* 1. pwrite across a block boundary is seen by the live mapping. */
	a = bs - 1000;
	mix_pwrite(&m, a, 2000, 1);
	same("mapping after pwrite", m.map, m.model, size, 0);

	/* 2. Mapped stores across a boundary reach pread after msync. */
	b = 2 * bs - 3000;
	mix_store(&m, b, 8000, 2);
	xmsync(m.map, size);
	mix_check_pread(&m, "pread after msync", 0, size);

	/* 3. pwrite into a dirty mapped page: the pwrite wins where it
	 *    wrote, the stores stay elsewhere. */
	mix_store(&m, a + 100, 300, 3);
	mix_pwrite(&m, a + 200, 50, 4);
	same("mapping after pwrite over dirty page", m.map, m.model, size, 0);
	mix_check_pread(&m, "pread after pwrite over dirty page", 0, size);

	/* 4. Mapped stores without msync: a direct pread writes them back
	 *    first (DIRECT_IO_ALLOW_MMAP semantics). */
	mix_store(&m, bs + 4096 * 3 + 17, 5000, 5);
	mix_check_pread(&m, "pread of unsynced stores", 0, size);

	/* 5. A second mapping at a block-aligned offset sees the same
	 *    pages, and its stores land at the right file offset. */
	p2 = map(m.fd, size - bs, (off_t)bs, PROT_READ | PROT_WRITE);
	same("second mapping", p2, m.model + bs, size - bs, bs);
	fill(p2 + 10, bs + 10, 100, 6);
	fill(m.model + bs + 10, bs + 10, 100, 6);
	same("first mapping sees second", m.map, m.model, size, 0);
	xmsync(p2, size - bs);
	mix_check_pread(&m, "pread after second mapping", 0, size);
	munmap(p2, size - bs);

	/* 6. The last page past EOF maps as zeros. */
	for (size_t off = size; off % PAGE; off++)
		if (m.map[off])
			die("byte past EOF at %zu is 0x%02x", off, m.map[off]);

	/* 7. Stores then munmap + close (no msync): data survives reopen. */
	mix_store(&m, size - 3000, 3000, 7);
	mix_store(&m, 0, 100, 8);
	if (munmap(m.map, size) || close(m.fd))
		die("munmap/close: %s", strerror(errno));
	m.fd = open_file(O_RDONLY);
	mix_check_pread(&m, "pread after reopen", 0, size);
	close(m.fd);
	free(m.model);
	free(m.buf);
	return 0;
}

static int cmd_enospc(uint64_t size)
{
	int fd = open_file(O_RDWR | O_CREAT | O_TRUNC);
	uint8_t *p;
	int err = 0;

	if (ftruncate(fd, (off_t)size))
		die("ftruncate: %s", strerror(errno));
	p = map(fd, size, 0, PROT_READ | PROT_WRITE);
	memset(p, 0xa5, size);
	if (msync(p, size, MS_SYNC)) {
		err = errno;
		printf("msync: %s\n", strerror(err));
	}
	munmap(p, size);
	if (fsync(fd) && !err) {
		err = errno;
		printf("fsync: %s\n", strerror(err));
	}
	if (close(fd) && !err) {
		err = errno;
		printf("close: %s\n", strerror(err));
	}
	if (!err)
		die("%" PRIu64 " mapped bytes on a full pool: no error "
		    "reported",
		    size);
	return 0;
}

/* Pages of [p, p+len) in the page cache (mincore). */
static size_t resident(void *p, size_t len)
{
	size_t pages = (len + PAGE - 1) / PAGE, n = 0;
	unsigned char *vec = malloc(pages);

	if (!vec)
		die("out of memory");
	if (mincore(p, len, vec))
		die("mincore: %s", strerror(errno));
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

/*
 * Another open of a mapped file must not drop its cached pages: the data
 * did not change, and a mapper would pay a READ per page to get them
 * back. Dirty pages must survive it too (written back or kept, never
 * lost), and a pread after it sees the stores.
 */
static int cmd_keep(uint64_t size)
{
	int fd = open_file(O_RDWR | O_CREAT | O_TRUNC), fd2;
	size_t pages = (size_t)((size + PAGE - 1) / PAGE), before, after;
	uint8_t *p, *buf = malloc(PAGE);
	volatile uint8_t sum = 0;

	if (!buf)
		die("out of memory");
	if (ftruncate(fd, (off_t)size))
		die("ftruncate: %s", strerror(errno));
	p = map(fd, size, 0, PROT_READ | PROT_WRITE);
	fill(p, 0, size, 11);
	xmsync(p, size);
	for (uint64_t off = 0; off < size; off += PAGE)
		sum += p[off];
	before = resident(p, size);
	if (before < pages)
		die("only %zu of %zu pages resident after reading them all",
		    before, pages);
	fill(p, 0, 100, 12); /* a dirty page */
	fd2 = open_file(O_RDONLY);
	close(fd2);
	after = resident(p, size);
	if (after < before)
		die("an open and close of the file dropped %zu of its %zu "
		    "cached pages",
		    before - after, before);
	xpread(fd, buf, 100, 0);
	fill(buf + 100, 0, 100, 12);
	same("pread of a dirty page after another open", buf, buf + 100, 100,
	     0);
	munmap(p, size);
	close(fd);
	free(buf);
	return 0;
}

/*
 * Round 0 fills the file with SEED's pattern, round r rewrites every page
 * with SEED+r's after checking it still holds SEED+r-1's; in a small memory
 * cgroup most pages were written back and evicted in between, so each check
 * reads what the daemon stored. A pread of every page checks the end.
 */
static int cmd_pressure(uint64_t size, uint64_t seed, uint64_t rounds)
{
	int fd = open_file(O_RDWR | O_CREAT | O_TRUNC);
	uint8_t *p, *want = malloc(PAGE), *buf = malloc(PAGE);

	if (!want || !buf)
		die("out of memory");
	if (ftruncate(fd, (off_t)size))
		die("ftruncate: %s", strerror(errno));
	p = map(fd, size, 0, PROT_READ | PROT_WRITE);
	for (uint64_t r = 0; r <= rounds; r++) {
		for (uint64_t off = 0; off < size; off += PAGE) {
			size_t n =
				(size_t)(size - off < PAGE ? size - off : PAGE);

			if (r) {
				fill(want, off, n, seed + r - 1);
				same("page before its rewrite", p + off, want,
				     n, off);
			}
			fill(p + off, off, n, seed + r);
		}
	}
	xmsync(p, size);
	munmap(p, size);
	for (uint64_t off = 0; off < size; off += PAGE) {
		size_t n = (size_t)(size - off < PAGE ? size - off : PAGE);

		xpread(fd, buf, n, (off_t)off);
		fill(want, off, n, seed + rounds);
		same("pread after the last round", buf, want, n, off);
	}
	close(fd);
	free(want);
	free(buf);
	return 0;
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "mmap-check: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		goto usage;
	file = argv[2];
	if (!strcmp(argv[1], "write") && argc == 5)
		return cmd_write(num(argv[3]), num(argv[4]));
	if (!strcmp(argv[1], "verify") && argc == 5)
		return cmd_verify(num(argv[3]), num(argv[4]));
	if (!strcmp(argv[1], "mix") && argc == 4)
		return cmd_mix(num(argv[3]));
	if (!strcmp(argv[1], "enospc") && argc == 4)
		return cmd_enospc(num(argv[3]));
	if (!strcmp(argv[1], "keep") && argc == 4)
		return cmd_keep(num(argv[3]));
	if (!strcmp(argv[1], "pressure") && argc == 6)
		return cmd_pressure(num(argv[3]), num(argv[4]), num(argv[5]));
usage:
	fprintf(stderr, "usage: mmap-check write|verify FILE SIZE SEED\n"
			"       mmap-check mix FILE BLOCKSIZE\n"
			"       mmap-check enospc|keep FILE SIZE\n"
			"       mmap-check pressure FILE SIZE SEED ROUNDS\n");
	return 2;
}
