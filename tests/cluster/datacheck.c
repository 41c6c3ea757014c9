// SPDX-License-Identifier: MIT
/*
 * datacheck: the data tool of the fault tests. It writes a file in 1 MiB
 * chunks whose contents follow from (seed, chunk, generation), keeps a
 * record of which writes were acknowledged, and verifies a file against
 * that record chunk by chunk, so that "nothing acknowledged was lost" and
 * "no byte came from anywhere else" are checks, not hopes.
 *
 *   datacheck write FILE RECORD [options]
 *       -n CHUNKS        chunks per pass (default 16), from --first C
 *       --seed S         pattern seed (default 1; a record keeps its own)
 *       --passes P       passes over the chunks (default 1), or
 *       --until FILE     passes until FILE exists (checked between writes)
 *       --sync chunk|end fsync after every chunk (default) or once at the
 *                        end, then close; both results are printed
 *       --min-pass-ms MS a pass takes at least MS (paces a loop)
 *       --wait-at C --wait-file F
 *                        in the first pass, before chunk C, wait (up to
 *                        120 s) until F exists
 *       --events FILE    one line per write: "ev START END CHUNK GEN
 *                        WRITE FSYNC MS" (realtime seconds; results are
 *                        "ok", an errno name, or "-" for no fsync)
 *   datacheck verify FILE RECORD [--allow-eio] [--strict] [-v]
 *                        [--rounds N | --until FILE]
 *       reads every chunk of the record and prints "chunk N: differs ..."
 *       or "chunk N: EIO ..." lines and a summary; exit 1 when a chunk
 *       differs, on EIO unless --allow-eio, and with --strict when a chunk
 *       has unacknowledged writes. With --rounds/--until it repeats and
 *       prints each round's time.
 *
 * A chunk's generation g is acknowledged when its write returned the whole
 * chunk and the fsync after it returned 0 (--sync end: the one fsync after
 * its last write). Word i of chunk c in generation g is
 * base(seed, c, i) + g * ODD (mod 2^64), generation 0 is zeros (a hole),
 * so any word can be decoded back to the one generation it belongs to:
 * an acknowledged chunk must decode to its generation everywhere; a chunk
 * with unacknowledged writes may hold, word by word, its acknowledged
 * generation or any generation written since (a torn write), but nothing
 * else: a flipped bit, another chunk's bytes or a replayed older write all
 * decode to a generation that is not allowed.
 *
 * Record file: "datacheck 1 seed S", then one line per chunk:
 * "C ACKED [PENDING...]". Rewritten (tmp + rename) after every write.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define WORDS (CHUNK / 8)
#define PIECE (64u << 10) /* read granularity after an EIO */
#define MAX_CHUNKS 4096
#define ODD 0x9e3779b97f4a7c15ull
#define WAIT_SECS 120

struct chunk_rec {
	uint64_t acked;	   /* 0: never acknowledged */
	uint64_t *pending; /* generations written since, unacknowledged */
	unsigned int npending, cap;
	uint64_t last_ok; /* --sync end: generation last written in full */
};

struct record {
	const char *path;
	uint64_t seed;
	unsigned int nchunks; /* chunks 0..nchunks-1 are described */
	struct chunk_rec c[MAX_CHUNKS];
};

struct opts {
	unsigned int n, first, passes, min_pass_ms, wait_at, rounds;
	uint64_t seed;
	bool seed_set, sync_end, allow_eio, strict, verbose;
	const char *until, *wait_file, *events;
};

static volatile sig_atomic_t stop;
static uint64_t inv_odd;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *errname(int e)
{
	static char buf[32];

	switch (e) {
	case 0:
		return "ok";
	case EIO:
		return "EIO";
	case ENOSPC:
		return "ENOSPC";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case ENOTCONN:
		return "ENOTCONN";
	case EAGAIN:
		return "EAGAIN";
	case ESTALE:
		return "ESTALE";
	case EINTR:
		return "EINTR";
	default:
		snprintf(buf, sizeof(buf), "errno%d", e);
		return buf;
	}
}

static uint64_t splitmix(uint64_t x)
{
	x += ODD;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t base_word(uint64_t seed, uint64_t chunk, uint64_t i)
{
	return splitmix(splitmix(seed ^ (chunk << 32)) ^ i);
}

static uint64_t word_of(uint64_t seed, uint64_t chunk, uint64_t i, uint64_t gen)
{
	return gen ? base_word(seed, chunk, i) + gen * ODD : 0;
}

/* The generation word w of chunk c decodes to (0 for zeros). */
static uint64_t gen_of(uint64_t seed, uint64_t chunk, uint64_t i, uint64_t w)
{
	return w ? (w - base_word(seed, chunk, i)) * inv_odd : 0;
}

static void fill(uint64_t *buf, uint64_t seed, uint64_t chunk, uint64_t gen)
{
	for (uint64_t i = 0; i < WORDS; i++)
		buf[i] = word_of(seed, chunk, i, gen);
}

/* ---- the record ---- */

static int pending_add(struct chunk_rec *cr, uint64_t gen)
{
	if (cr->npending && cr->pending[cr->npending - 1] == gen)
		return 0;
	if (cr->npending == cr->cap) {
		unsigned int cap = cr->cap ? cr->cap * 2 : 8;
		uint64_t *p = realloc(cr->pending, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		cr->pending = p;
		cr->cap = cap;
	}
	cr->pending[cr->npending++] = gen;
	return 0;
}

static bool gen_allowed(const struct chunk_rec *cr, uint64_t gen)
{
	if (gen == cr->acked)
		return true;
	for (unsigned int i = 0; i < cr->npending; i++)
		if (cr->pending[i] == gen)
			return true;
	return false;
}

static uint64_t newest_gen(const struct record *r)
{
	uint64_t g = 0;

	for (unsigned int c = 0; c < r->nchunks; c++) {
		const struct chunk_rec *cr = &r->c[c];

		if (cr->acked > g)
			g = cr->acked;
		for (unsigned int i = 0; i < cr->npending; i++)
			if (cr->pending[i] > g)
				g = cr->pending[i];
	}
	return g;
}

static int record_load(struct record *r, const char *path, bool must)
{
	char line[8192];
	FILE *f = fopen(path, "r");
	int ret = 0;

	r->path = path;
	if (!f) {
		if (must || errno != ENOENT) {
			fprintf(stderr, "datacheck: %s: %s\n", path,
				strerror(errno));
			return -1;
		}
		return 0;
	}
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "datacheck 1 seed %lu", &r->seed) != 1) {
		fprintf(stderr, "datacheck: %s: not a record\n", path);
		fclose(f);
		return -1;
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		unsigned long c = strtoul(p, &end, 10);
		struct chunk_rec *cr;

		if (end == p || c >= MAX_CHUNKS) {
			ret = -1;
			break;
		}
		cr = &r->c[c];
		p = end;
		cr->acked = strtoull(p, &end, 10);
		for (p = end;; p = end) {
			uint64_t g = strtoull(p, &end, 10);

			if (end == p)
				break;
			if (pending_add(cr, g) < 0)
				ret = -1;
		}
		if (c + 1 > r->nchunks)
			r->nchunks = c + 1;
	}
	fclose(f);
	if (ret)
		fprintf(stderr, "datacheck: %s: malformed line\n", path);
	return ret;
}

static int record_save(const struct record *r)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", r->path);
	f = fopen(tmp, "w");
	if (!f)
		goto err;
	fprintf(f, "datacheck 1 seed %lu\n", r->seed);
	for (unsigned int c = 0; c < r->nchunks; c++) {
		const struct chunk_rec *cr = &r->c[c];

		fprintf(f, "%u %lu", c, cr->acked);
		for (unsigned int i = 0; i < cr->npending; i++)
			fprintf(f, " %lu", cr->pending[i]);
		fputc('\n', f);
	}
	if (fclose(f) || rename(tmp, r->path))
		goto err;
	return 0;
err:
	fprintf(stderr, "datacheck: saving %s: %s\n", r->path, strerror(errno));
	return -1;
}

/* ---- write ---- */

static bool file_exists(const char *path)
{
	return path && access(path, F_OK) == 0;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR && !stop)
		;
}

static int wait_for_file(const char *path, FILE *ev)
{
	double end = now() + WAIT_SECS;

	if (ev)
		fprintf(ev, "wait %.6f %s\n", now(), path);
	while (!file_exists(path)) {
		if (stop || now() > end) {
			fprintf(stderr, "datacheck: %s did not appear\n", path);
			return -1;
		}
		sleep_ms(20);
	}
	return 0;
}

/* One chunk: pwrite, then (sync per chunk) fsync; updates the record. */
static int write_chunk(int fd, struct record *r, const struct opts *o,
		       uint64_t *buf, unsigned int c, uint64_t gen, FILE *ev)
{
	struct chunk_rec *cr = &r->c[c];
	int werr = 0, serr = -1;
	double t0 = now(), t1;
	ssize_t n;

	fill(buf, r->seed, c, gen);
	n = pwrite(fd, buf, CHUNK, (off_t)c * CHUNK);
	if (n < 0)
		werr = errno;
	else if (n != CHUNK)
		werr = EIO; /* a short write is a failed write */
	if (!o->sync_end)
		serr = fsync(fd) ? errno : 0;
	t1 = now();
	if (!werr && !serr) {
		cr->acked = gen;
		cr->npending = 0;
	} else if (pending_add(cr, gen) < 0) {
		return -1;
	}
	cr->last_ok = werr ? 0 : gen;
	if (c + 1 > r->nchunks)
		r->nchunks = c + 1;
	if (ev)
		fprintf(ev, "ev %.6f %.6f %u %lu %s %s %.1f\n", t0, t1, c, gen,
			errname(werr), serr < 0 ? "-" : errname(serr),
			(t1 - t0) * 1000);
	return record_save(r);
}

/* --sync end: one fsync acknowledges every chunk last written in full. */
static int finish_sync_end(int fd, struct record *r, const struct opts *o)
{
	int serr = fsync(fd) ? errno : 0;
	int cerr = close(fd) ? errno : 0;

	printf("fsync: %s\nclose: %s\n", errname(serr), errname(cerr));
	if (!serr && !cerr) {
		for (unsigned int c = o->first; c < o->first + o->n; c++) {
			struct chunk_rec *cr = &r->c[c];

			if (cr->last_ok && cr->npending &&
			    cr->pending[cr->npending - 1] == cr->last_ok) {
				cr->acked = cr->last_ok;
				cr->npending = 0;
			}
		}
	}
	return record_save(r);
}

static int cmd_write(const char *file, struct record *r, const struct opts *o)
{
	unsigned int pass, ok_ops, ops;
	uint64_t *buf = NULL, gen;
	FILE *ev = NULL;
	int fd, ret = 2;
	double t0;

	if (posix_memalign((void **)&buf, 4096, CHUNK))
		return 2;
	if (o->events) {
		ev = fopen(o->events, "a");
		if (!ev)
			goto out;
		setvbuf(ev, NULL, _IOLBF, 0);
	}
	fd = open(file, O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		fprintf(stderr, "datacheck: %s: %s\n", file, strerror(errno));
		goto out;
	}
	gen = newest_gen(r);
	for (pass = 0; !stop; pass++) {
		if (o->until ? file_exists(o->until) : pass >= o->passes)
			break;
		gen++;
		t0 = now();
		ok_ops = ops = 0;
		for (unsigned int c = o->first; c < o->first + o->n && !stop;
		     c++) {
			if (pass == 0 && o->wait_file && c == o->wait_at &&
			    wait_for_file(o->wait_file, ev) < 0)
				goto out_close;
			if (write_chunk(fd, r, o, buf, c, gen, ev) < 0)
				goto out_close;
			ops++;
			ok_ops += o->sync_end ? r->c[c].last_ok == gen
					      : r->c[c].acked == gen;
		}
		if (ev)
			fprintf(ev, "pass %.6f %lu %u/%u\n", now(), gen, ok_ops,
				ops);
		if (o->min_pass_ms && (now() - t0) * 1000 < o->min_pass_ms)
			sleep_ms(o->min_pass_ms -
				 (unsigned int)((now() - t0) * 1000));
	}
	printf("wrote %u passes, up to generation %lu\n", pass, gen);
	if (o->sync_end)
		ret = finish_sync_end(fd, r, o) < 0 ? 2 : 0;
	else
		ret = close(fd) ? 2 : 0;
	goto out;
out_close:
	close(fd);
out:
	if (ev)
		fclose(ev);
	free(buf);
	return ret;
}

/* ---- verify ---- */

enum verdict { V_OK, V_MIXED, V_DIFFERS, V_EIO };

struct scan {
	uint64_t bad, first_bad, bad_gen, seen[4];
	unsigned int nseen;
};

/* Checks len bytes read at byte off of chunk c (off, len multiples of 8). */
static void scan_words(const struct record *r, unsigned int c,
		       const uint64_t *w, size_t off, size_t len,
		       struct scan *s)
{
	const struct chunk_rec *cr = &r->c[c];

	for (size_t i = off / 8; i < (off + len) / 8; i++) {
		uint64_t g = gen_of(r->seed, c, i, w[i - off / 8]);
		unsigned int k;

		if (!gen_allowed(cr, g)) {
			if (!s->bad++) {
				s->first_bad = i * 8;
				s->bad_gen = g;
			}
			continue;
		}
		for (k = 0; k < s->nseen && s->seen[k] != g; k++)
			;
		if (k == s->nseen && k < 4)
			s->seen[s->nseen++] = g;
	}
}

/* Reads [off, off + len) of chunk c; a short read is zeros (a hole). */
static int read_range(int fd, unsigned int c, uint8_t *buf, size_t off,
		      size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done,
				  (off_t)c * CHUNK + off + done);

		if (n < 0)
			return -errno;
		if (n == 0) {
			memset(buf + done, 0, len - done);
			break;
		}
		done += n;
	}
	return 0;
}

static void describe_gen(const struct record *r, uint64_t g, char *out,
			 size_t cap)
{
	if (g == 0)
		snprintf(out, cap, "zeros");
	else if (g <= newest_gen(r))
		snprintf(out, cap, "generation %lu", g);
	else
		snprintf(out, cap, "bytes of no generation of this chunk");
}

static enum verdict verify_chunk(int fd, const struct record *r, unsigned int c,
				 uint8_t *buf, bool verbose)
{
	const struct chunk_rec *cr = &r->c[c];
	struct scan s = {0};
	unsigned int eio = 0;
	char what[64];
	int ret;

	ret = read_range(fd, c, buf, 0, CHUNK);
	if (ret == 0) {
		scan_words(r, c, (uint64_t *)buf, 0, CHUNK, &s);
	} else {
		/* find which pieces fail, and check the others */
		for (size_t off = 0; off < CHUNK; off += PIECE) {
			ret = read_range(fd, c, buf, off, PIECE);
			if (ret == -EIO) {
				eio++;
				continue;
			}
			if (ret < 0) {
				printf("chunk %u: read at byte %zu: %s\n", c,
				       off, strerror(-ret));
				return V_DIFFERS;
			}
			scan_words(r, c, (uint64_t *)buf, off, PIECE, &s);
		}
	}
	if (s.bad) {
		describe_gen(r, s.bad_gen, what, sizeof(what));
		printf("chunk %u: differs: %lu of %u words hold neither the "
		       "acknowledged generation %lu nor one written since "
		       "(first at byte %lu: %s)\n",
		       c, s.bad, WORDS, cr->acked, s.first_bad, what);
		return V_DIFFERS;
	}
	if (eio) {
		printf("chunk %u: EIO (%u of %u pieces of %u KiB)\n", c, eio,
		       CHUNK / PIECE, PIECE >> 10);
		return V_EIO;
	}
	if (cr->npending && (s.nseen != 1 || s.seen[0] != cr->acked)) {
		if (verbose)
			printf("chunk %u: holds %u generation(s) (%lu...) "
			       "after unacknowledged writes\n",
			       c, s.nseen, s.seen[0]);
		return V_MIXED;
	}
	return V_OK;
}

static int verify_round(const char *file, const struct record *r,
			const struct opts *o, uint8_t *buf)
{
	unsigned int n[4] = {0};
	int fd = open(file, O_RDONLY);
	int bad;

	if (fd < 0) {
		printf("verify: %s: %s\n", file, strerror(errno));
		return 1;
	}
	for (unsigned int c = 0; c < r->nchunks; c++)
		n[verify_chunk(fd, r, c, buf, o->verbose)]++;
	close(fd);
	printf("verify: %u chunks: %u ok, %u mixed (unacknowledged writes), "
	       "%u differ, %u EIO\n",
	       r->nchunks, n[V_OK], n[V_MIXED], n[V_DIFFERS], n[V_EIO]);
	bad = n[V_DIFFERS] || (n[V_EIO] && !o->allow_eio) ||
	      (n[V_MIXED] && o->strict);
	return bad ? 1 : 0;
}

static int cmd_verify(const char *file, const struct record *r,
		      const struct opts *o)
{
	unsigned int round, failed = 0;
	double t0, worst = 0, total = 0;
	uint8_t *buf;
	int ret = 0;

	if (posix_memalign((void **)&buf, 4096, CHUNK))
		return 2;
	if (!o->rounds && !o->until) {
		ret = verify_round(file, r, o, buf);
		free(buf);
		return ret;
	}
	for (round = 0; !stop; round++) {
		if (o->until ? file_exists(o->until) : round >= o->rounds)
			break;
		t0 = now();
		ret = verify_round(file, r, o, buf);
		t0 = (now() - t0) * 1000;
		failed += ret != 0;
		total += t0;
		if (t0 > worst)
			worst = t0;
		printf("round %u: %s in %.1f ms\n", round,
		       ret ? "FAILED" : "ok", t0);
		fflush(stdout);
	}
	printf("rounds: %u, failed %u, mean %.1f ms, slowest %.1f ms\n", round,
	       failed, round ? total / round : 0.0, worst);
	free(buf);
	return failed || !round ? 1 : 0;
}

/* ---- command line ---- */

static int usage(void)
{
	fprintf(stderr,
		"usage: datacheck write FILE RECORD [-n CHUNKS] [--first C] "
		"[--seed S]\n"
		"           [--passes P | --until FILE] [--sync chunk|end] "
		"[--min-pass-ms MS]\n"
		"           [--wait-at C --wait-file F] [--events FILE]\n"
		"       datacheck verify FILE RECORD [--allow-eio] [--strict] "
		"[-v]\n"
		"           [--rounds N | --until FILE]\n");
	return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{"first", 1, NULL, 'f'},   {"seed", 1, NULL, 's'},
		{"passes", 1, NULL, 'p'},  {"until", 1, NULL, 'u'},
		{"sync", 1, NULL, 'y'},	   {"min-pass-ms", 1, NULL, 'm'},
		{"wait-at", 1, NULL, 'a'}, {"wait-file", 1, NULL, 'w'},
		{"events", 1, NULL, 'e'},  {"allow-eio", 0, NULL, 'E'},
		{"strict", 0, NULL, 'S'},  {"rounds", 1, NULL, 'r'},
		{"verbose", 0, NULL, 'v'}, {NULL, 0, NULL, 0},
	};
	int ch;

	o->n = 16;
	o->passes = 1;
	o->seed = 1;
	while ((ch = getopt_long(argc, argv, "n:v", longs, NULL)) != -1) {
		switch (ch) {
		case 'n':
			o->n = strtoul(optarg, NULL, 0);
			break;
		case 'f':
			o->first = strtoul(optarg, NULL, 0);
			break;
		case 's':
			o->seed = strtoull(optarg, NULL, 0);
			o->seed_set = true;
			break;
		case 'p':
			o->passes = strtoul(optarg, NULL, 0);
			break;
		case 'u':
			o->until = optarg;
			break;
		case 'y':
			if (strcmp(optarg, "end") && strcmp(optarg, "chunk"))
				return -1;
			o->sync_end = !strcmp(optarg, "end");
			break;
		case 'm':
			o->min_pass_ms = strtoul(optarg, NULL, 0);
			break;
		case 'a':
			o->wait_at = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			o->wait_file = optarg;
			break;
		case 'e':
			o->events = optarg;
			break;
		case 'E':
			o->allow_eio = true;
			break;
		case 'S':
			o->strict = true;
			break;
		case 'r':
			o->rounds = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			o->verbose = true;
			break;
		default:
			return -1;
		}
	}
	if (!o->n || o->first + o->n > MAX_CHUNKS)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct record r;
	struct opts o = {0};
	struct sigaction sa = {.sa_handler = on_signal};
	const char *cmd, *file, *rec;
	bool verify;

	/* ODD's inverse mod 2^64: Newton's iteration doubles the bits */
	inv_odd = ODD;
	for (int i = 0; i < 5; i++)
		inv_odd *= 2 - ODD * inv_odd;
	if (argc < 4 || parse(argc - 3, argv + 3, &o) < 0 || optind != argc - 3)
		return usage();
	cmd = argv[1];
	file = argv[2];
	rec = argv[3];
	verify = !strcmp(cmd, "verify");
	if (!verify && strcmp(cmd, "write"))
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	r.seed = o.seed;
	if (record_load(&r, rec, verify) < 0)
		return 2;
	if (o.seed_set && o.seed != r.seed) {
		fprintf(stderr, "datacheck: %s has seed %lu, not %lu\n", rec,
			r.seed, o.seed);
		return 2;
	}
	return verify ? cmd_verify(file, &r, &o) : cmd_write(file, &r, &o);
}
