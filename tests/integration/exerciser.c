// SPDX-License-Identifier: MIT
/*
 * exerciser: random file operations on two files in a cmpfs mount and the
 * same operations on two reference files on tmpfs, compared as it goes.
 * Operations: pwrite and pread at random offsets and sizes (often straddling
 * block boundaries), truncate up and down, fallocate (mode 0, KEEP_SIZE,
 * PUNCH_HOLE), holes, MAP_SHARED stores and loads of ranges (with and
 * without msync), copy_file_range within and between files, and a
 * SEEK_DATA/SEEK_HOLE consistency check. Every read is compared with the
 * reference, sizes after every operation, whole files every 256 operations
 * and at the end.
 *
 *   exerciser MOUNTDIR REFDIR SEED NOPS MAXSIZE BLOCKSIZE
 *
 * The run is a function of SEED alone: a failure prints the seed, the
 * failing operation and the ones before it, so `exerciser ... SEED ...`
 * replays it. Exit 0 on success, 1 on a mismatch or unexpected error.
 *
 * EXERCISER_CORRUPT_AT=N flips one byte of the reference after operation
 * N: the test uses it to show that a difference is caught and reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096u
#define NFILES 2
#define HISTORY 24
#define FULL_CHECK_EVERY 256

static uint64_t seed, rng_state, opno;
static uint64_t maxsize, bs, maxio;
static int cfd[NFILES], rfd[NFILES]; /* cmpfs, reference */
static uint8_t *buf, *buf2;
static char history[HISTORY][160];

static void dump_history(void)
{
	fprintf(stderr, "exerciser: last operations (newest last):\n");
	for (uint64_t i = opno >= HISTORY ? opno - HISTORY + 1 : 0; i <= opno;
	     i++)
		fprintf(stderr, "    #%" PRIu64 " %s\n", i,
			history[i % HISTORY]);
}

static void fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "exerciser: seed %" PRIu64 " op #%" PRIu64 ": ", seed,
		opno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	dump_history();
	fprintf(stderr, "exerciser: FAILED with seed %" PRIu64 "\n", seed);
	exit(1);
}

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(history[opno % HISTORY], sizeof(history[0]), fmt, ap);
	va_end(ap);
}

static uint64_t rnd(void)
{
	uint64_t x = (rng_state += 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t range(uint64_t lo, uint64_t hi)
{
	return lo + rnd() % (hi - lo + 1);
}

static void random_bytes(uint8_t *p, size_t len)
{
	uint64_t v = 0;

	for (size_t i = 0; i < len; i++) {
		if (!(i & 7))
			v = rnd();
		p[i] = (uint8_t)(v >> ((i & 7) * 8));
	}
}

static uint64_t fsize(int fd, const char *which)
{
	struct stat st;

	if (fstat(fd, &st))
		fail("fstat %s: %s", which, strerror(errno));
	return (uint64_t)st.st_size;
}

/* An offset in [0, limit], often at or around a block boundary or EOF. */
static uint64_t pick_off(uint64_t limit, uint64_t eof)
{
	uint64_t o;

	switch (rnd() % 4) {
	case 0:
		o = range(0, limit / bs) * bs;
		o += range(0, 128);
		o = o > 64 ? o - 64 : 0;
		break;
	case 1:
		o = eof + range(0, 2 * bs);
		o = o > bs ? o - bs : 0;
		break;
	default:
		o = range(0, limit);
	}
	return o > limit ? limit : o;
}

static uint64_t pick_len(void)
{
	switch (rnd() % 3) {
	case 0:
		return range(1, 1024);
	case 1:
		return range(1, 2 * bs < maxio ? 2 * bs : maxio);
	default:
		return range(1, maxio);
	}
}

/* Picks [off, off+len) inside [0, maxsize]; len may come out 0. */
static void pick_range(int f, uint64_t *off, uint64_t *len)
{
	*off = pick_off(maxsize - 1, fsize(rfd[f], "ref"));
	*len = pick_len();
	if (*off + *len > maxsize)
		*len = maxsize - *off;
}

static void read_full(int fd, uint8_t *p, uint64_t len, uint64_t off,
		      const char *which)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n =
			pread(fd, p + done, len - done, (off_t)(off + done));

		if (n < 0)
			fail("pread %s of %" PRIu64 " at %" PRIu64 ": %s",
			     which, len - done, off + done, strerror(errno));
		if (n == 0)
			break;
		done += (uint64_t)n;
	}
	if (done != len)
		fail("pread %s of %" PRIu64 " at %" PRIu64 " returned %" PRIu64,
		     which, len, off, done);
}

static void compare(const uint8_t *got, const uint8_t *want, uint64_t len,
		    uint64_t off, int f, const char *what)
{
	if (!memcmp(got, want, len))
		return;
	for (uint64_t i = 0; i < len; i++)
		if (got[i] != want[i])
			fail("%s: file %d differs at offset %" PRIu64
			     " (block %" PRIu64 " + %" PRIu64 "): cmpfs 0x%02x,"
			     " reference 0x%02x",
			     what, f, off + i, (off + i) / bs, (off + i) % bs,
			     got[i], want[i]);
}

static void check_sizes(void)
{
	for (int f = 0; f < NFILES; f++) {
		uint64_t c = fsize(cfd[f], "cmpfs"), r = fsize(rfd[f], "ref");

		if (c != r)
			fail("file %d size is %" PRIu64 ", reference %" PRIu64,
			     f, c, r);
	}
}

static void full_check(void)
{
	check_sizes();
	for (int f = 0; f < NFILES; f++) {
		uint64_t size = fsize(rfd[f], "ref");

		for (uint64_t off = 0; off < size; off += maxio) {
			uint64_t n = size - off < maxio ? size - off : maxio;

			read_full(cfd[f], buf, n, off, "cmpfs");
			read_full(rfd[f], buf2, n, off, "ref");
			compare(buf, buf2, n, off, f, "full check");
		}
	}
}

static void op_pwrite(int f)
{
	uint64_t off, len;
	ssize_t c, r;

	pick_range(f, &off, &len);
	if (!len)
		return;
	note("pwrite f%d off %" PRIu64 " len %" PRIu64, f, off, len);
	random_bytes(buf, len);
	c = pwrite(cfd[f], buf, len, (off_t)off);
	r = pwrite(rfd[f], buf, len, (off_t)off);
	if (c != (ssize_t)len || r != (ssize_t)len)
		fail("pwrite returned %zd (%s), reference %zd", c,
		     c < 0 ? strerror(errno) : "-", r);
}

static void op_pread(int f)
{
	uint64_t off = pick_off(maxsize, fsize(rfd[f], "ref"));
	uint64_t len = pick_len();
	ssize_t c, r;

	note("pread f%d off %" PRIu64 " len %" PRIu64, f, off, len);
	c = pread(cfd[f], buf, len, (off_t)off);
	if (c < 0)
		fail("pread: %s", strerror(errno));
	r = pread(rfd[f], buf2, len, (off_t)off);
	if (c != r)
		fail("pread of %" PRIu64 " at %" PRIu64 " returned %zd, "
		     "reference %zd",
		     len, off, c, r);
	compare(buf, buf2, (uint64_t)c, off, f, "pread");
}

static void op_truncate(int f)
{
	uint64_t size = pick_off(maxsize, fsize(rfd[f], "ref"));

	if (rnd() % 8 == 0)
		size = 0;
	note("ftruncate f%d to %" PRIu64, f, size);
	if (ftruncate(cfd[f], (off_t)size))
		fail("ftruncate to %" PRIu64 ": %s", size, strerror(errno));
	if (ftruncate(rfd[f], (off_t)size))
		fail("reference ftruncate: %s", strerror(errno));
}

static void op_fallocate(int f)
{
	static const int modes[] = {0, FALLOC_FL_KEEP_SIZE,
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE};
	int mode = modes[rnd() % 4];
	uint64_t off, len;

	pick_range(f, &off, &len);
	if (!len)
		return;
	/* Punch whole blocks often, so that blocks really get freed. */
	if ((mode & FALLOC_FL_PUNCH_HOLE) && rnd() % 2) {
		off -= off % bs;
		len = (len + bs - 1) / bs * bs;
		if (off + len > maxsize)
			len = maxsize - off;
	}
	note("fallocate f%d mode %#x off %" PRIu64 " len %" PRIu64, f, mode,
	     off, len);
	if (fallocate(cfd[f], mode, (off_t)off, (off_t)len))
		fail("fallocate mode %#x: %s", mode, strerror(errno));
	if (fallocate(rfd[f], mode, (off_t)off, (off_t)len))
		fail("reference fallocate: %s", strerror(errno));
}

/* A range inside the file for mmap; returns false if the file is empty. */
static bool pick_mapped(int f, uint64_t *off, uint64_t *len)
{
	uint64_t size = fsize(rfd[f], "ref");

	if (!size)
		return false;
	*off = pick_off(size - 1, size);
	*len = pick_len();
	if (*off + *len > size)
		*len = size - *off;
	return true;
}

static void op_mmap(int f, bool store)
{
	uint64_t off, len, start, mlen;
	bool sync = rnd() % 2;
	uint8_t *p;

	if (!pick_mapped(f, &off, &len))
		return;
	start = off & ~(uint64_t)(PAGE - 1);
	mlen = off + len - start;
	note("mmap %s f%d off %" PRIu64 " len %" PRIu64 "%s",
	     store ? "store" : "load", f, off, len,
	     store && sync ? " msync" : "");
	p = mmap(NULL, mlen, PROT_READ | (store ? PROT_WRITE : 0), MAP_SHARED,
		 cfd[f], (off_t)start);
	if (p == MAP_FAILED)
		fail("mmap of %" PRIu64 " at %" PRIu64 ": %s", mlen, start,
		     strerror(errno));
	if (store) {
		random_bytes(buf, len);
		memcpy(p + (off - start), buf, len);
		if (sync && msync(p, mlen, MS_SYNC))
			fail("msync: %s", strerror(errno));
		if (pwrite(rfd[f], buf, len, (off_t)off) != (ssize_t)len)
			fail("reference pwrite: %s", strerror(errno));
	} else {
		read_full(rfd[f], buf2, len, off, "ref");
		compare(p + (off - start), buf2, len, off, f, "mmap load");
	}
	if (munmap(p, mlen))
		fail("munmap: %s", strerror(errno));
}

static void op_copy_range(void)
{
	int a = (int)(rnd() % NFILES), b = (int)(rnd() % NFILES);
	uint64_t asize = fsize(rfd[a], "ref");
	uint64_t in = pick_off(maxsize - 1, asize), out, len, want;
	loff_t cin, cout;
	ssize_t n;

	pick_range(b, &out, &len);
	if (!len)
		return;
	if (a == b && in < out + len && out < in + len)
		return; /* overlapping copies within a file are EINVAL */
	want = in >= asize ? 0 : (asize - in < len ? asize - in : len);
	note("copy_file_range f%d off %" PRIu64 " -> f%d off %" PRIu64
	     " len %" PRIu64,
	     a, in, b, out, len);
	cin = (loff_t)in;
	cout = (loff_t)out;
	n = copy_file_range(cfd[a], &cin, cfd[b], &cout, len, 0);
	if (n < 0)
		fail("copy_file_range: %s", strerror(errno));
	if ((uint64_t)n != want)
		fail("copy_file_range copied %zd bytes, want %" PRIu64, n,
		     want);
	if ((uint64_t)cin != in + (uint64_t)n ||
	    (uint64_t)cout != out + (uint64_t)n)
		fail("copy_file_range left offsets at %lld, %lld",
		     (long long)cin, (long long)cout);
	if (!n)
		return;
	read_full(rfd[a], buf2, (uint64_t)n, in, "ref");
	if (pwrite(rfd[b], buf2, (size_t)n, (off_t)out) != n)
		fail("reference pwrite: %s", strerror(errno));
}

/* Everything SEEK_DATA/SEEK_HOLE call a hole must read as zeros. */
static void op_seek(int f)
{
	uint64_t size = fsize(rfd[f], "ref"), off, end;
	off_t d, h;

	if (!size)
		return;
	off = pick_off(size - 1, size);
	note("seek f%d off %" PRIu64, f, off);
	d = lseek(cfd[f], (off_t)off, SEEK_DATA);
	if (d < 0 && errno != ENXIO)
		fail("SEEK_DATA at %" PRIu64 ": %s", off, strerror(errno));
	h = lseek(cfd[f], (off_t)off, SEEK_HOLE);
	if (h < 0)
		fail("SEEK_HOLE at %" PRIu64 ": %s", off, strerror(errno));
	if ((uint64_t)h < off || (uint64_t)h > size)
		fail("SEEK_HOLE at %" PRIu64 " gave %lld (size %" PRIu64 ")",
		     off, (long long)h, size);
	if (d >= 0 && ((uint64_t)d < off || (uint64_t)d >= size))
		fail("SEEK_DATA at %" PRIu64 " gave %lld (size %" PRIu64 ")",
		     off, (long long)d, size);
	if (d >= 0 && (uint64_t)h == off && (uint64_t)d == off)
		fail("offset %" PRIu64 " is both data and hole", off);
	end = d < 0 ? size : (uint64_t)d;
	for (uint64_t o = off; o < end; o += maxio) {
		uint64_t n = end - o < maxio ? end - o : maxio;

		read_full(rfd[f], buf2, n, o, "ref");
		for (uint64_t i = 0; i < n; i++)
			if (buf2[i])
				fail("SEEK_DATA at %" PRIu64 " skipped data at "
				     "%" PRIu64,
				     off, o + i);
	}
}

static void one_op(void)
{
	int f = (int)(rnd() % NFILES);
	unsigned int r = (unsigned int)(rnd() % 100);

	note("(nothing)");
	if (r < 24)
		op_pwrite(f);
	else if (r < 44)
		op_pread(f);
	else if (r < 52)
		op_truncate(f);
	else if (r < 64)
		op_fallocate(f);
	else if (r < 72)
		op_mmap(f, true);
	else if (r < 79)
		op_mmap(f, false);
	else if (r < 90)
		op_copy_range();
	else
		op_seek(f);
}

/* Self-test: make the reference differ from cmpfs by one byte. */
static void corrupt_reference(void)
{
	uint64_t size = fsize(rfd[0], "ref"), off = size ? rnd() % size : 0;
	uint8_t b = 0;

	if (size && pread(rfd[0], &b, 1, (off_t)off) != 1)
		fail("reference pread: %s", strerror(errno));
	b ^= 0x40;
	if (pwrite(rfd[0], &b, 1, (off_t)off) != 1)
		fail("reference pwrite: %s", strerror(errno));
	fprintf(stderr,
		"exerciser: self-test: flipped reference byte %" PRIu64
		" after op #%" PRIu64 "\n",
		off, opno);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || s == end) {
		fprintf(stderr, "exerciser: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int open_pair(const char *dir, int i)
{
	char path[4096];
	int fd;

	/* A fresh file each run (not O_TRUNC: that is tested elsewhere). */
	snprintf(path, sizeof(path), "%s/exerciser-%d", dir, i);
	if (unlink(path) && errno != ENOENT) {
		fprintf(stderr, "exerciser: unlink %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		fprintf(stderr, "exerciser: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	uint64_t nops, corrupt_at = 0;
	const char *env = getenv("EXERCISER_CORRUPT_AT");

	if (argc != 7) {
		fprintf(stderr, "usage: exerciser MOUNTDIR REFDIR SEED NOPS "
				"MAXSIZE BLOCKSIZE\n");
		return 2;
	}
	seed = num(argv[3]);
	nops = num(argv[4]);
	maxsize = num(argv[5]);
	bs = num(argv[6]);
	if (!maxsize || !bs) {
		fprintf(stderr,
			"exerciser: MAXSIZE and BLOCKSIZE must be > 0\n");
		return 2;
	}
	maxio = 3 * bs > (1u << 20) ? 3 * bs : 1u << 20;
	if (maxio > maxsize)
		maxio = maxsize;
	if (env)
		corrupt_at = num(env);
	rng_state = seed;
	buf = malloc(maxio);
	buf2 = malloc(maxio);
	if (!buf || !buf2)
		return 1;
	for (int i = 0; i < NFILES; i++) {
		cfd[i] = open_pair(argv[1], i);
		rfd[i] = open_pair(argv[2], i);
	}
	printf("exerciser: seed %" PRIu64 ", %" PRIu64 " operations, files up "
	       "to %" PRIu64 " bytes, block %" PRIu64 "\n",
	       seed, nops, maxsize, bs);
	for (opno = 0; opno < nops; opno++) {
		one_op();
		if (corrupt_at && opno == corrupt_at - 1) {
			corrupt_reference();
			full_check(); /* before a later op can undo it */
		}
		check_sizes();
		if (opno % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1)
			full_check();
	}
	opno--;
	note("final full check");
	full_check();
	for (int i = 0; i < NFILES; i++) {
		if (close(cfd[i]))
			fail("close: %s", strerror(errno));
		close(rfd[i]);
	}
	printf("exerciser: seed %" PRIu64 ": %" PRIu64 " operations OK\n", seed,
	       nops);
	return 0;
}
