// SPDX-License-Identifier: MIT
/*
 * A store that keeps its loans (store.h, ms_store_create_kept()): what a
 * start does with the index beside the file (memserver/index.h), the
 * journal that keeps the index true while the peer lends, and the clean
 * stop. The rules, in the order a start applies them:
 *
 *   --fresh                      the index is dropped first: a new store
 *   no index                     a new store (the file's content dropped)
 *   damaged, or another store's  refused, one line (--fresh to start over)
 *   RUNNING in another boot      the machine went down while it ran: the
 *                                file may hold stale bytes; dropped, with
 *                                a warning, and a new store
 *   otherwise                    kept: loans, their blocks' bytes, node id
 *                                and incarnation; other blocks cleared
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "store-internal.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* This boot of the machine (0: unknown, which never matches). */
static uint64_t current_boot(void)
{
	char id[64];
	ssize_t n;
	int fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, id, sizeof(id));
	close(fd);
	return n > 0 ? XXH3_64bits(id, (size_t)n) | 1 : 0;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;

	while (!v)
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = cmp_now_ns() ^ ((uint64_t)getpid() << 32);
	return v;
}

/* One line that says why the index is refused, and what to do. */
static int __attribute__((format(printf, 2, 3)))
refuse(const char *ixpath, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_error("store: %s: %s; not starting (--fresh starts empty and "
		  "drops the loans it keeps)",
		  ixpath, why);
	return -EINVAL;
}

/* The index was made for this store as configured. */
static int check_hdr(const struct ms_store *s,
		     const struct ms_store_kept_config *cfg, const char *ixpath,
		     const struct ms_index_hdr *h)
{
	char a[32], b[32];

	if (h->block_size != s->block_size)
		return refuse(ixpath, "made for blocks of %s, not %s",
			      cmp_format_size(h->block_size, a, sizeof(a)),
			      cmp_format_size(s->block_size, b, sizeof(b)));
	if (h->nblocks != s->nblocks)
		return refuse(ixpath, "made for %u blocks, not %u (--size %s)",
			      h->nblocks, s->nblocks,
			      cmp_format_size(cfg->size, a, sizeof(a)));
	if (cfg->node_id && cfg->node_id != h->node_id)
		return refuse(ixpath, "node %u's, not node %u's (--node-id)",
			      h->node_id, cfg->node_id);
	return 0;
}

/* The store file the index was made with, as it was: opened. */
static int open_kept_file(struct ms_store *s, const char *path,
			  const char *ixpath, const struct ms_index_hdr *h,
			  uint32_t nloans)
{
	struct stat st;

	s->fd = open(path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return refuse(ixpath, "it keeps %u loans but %s: %s", nloans,
			      path, strerror(errno));
	if (fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != s->map_len ||
	    (uint64_t)st.st_ino != h->store_ino)
		return refuse(ixpath,
			      "it keeps %u loans but %s is not the store file "
			      "it was made with (replaced or resized)",
			      nloans, path);
	return 0;
}

static void found_loan(void *ctx, const struct peer_kept_loan *ln)
{
	struct ms_store *s = ctx;

	s->kept[s->nkept++] = *ln;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static uint32_t count_owners(const struct ms_store *s)
{
	uint32_t *o, n = 0;

	if (!s->nkept)
		return 0;
	o = malloc(s->nkept * sizeof(*o));
	if (!o)
		return 0;
	for (uint32_t i = 0; i < s->nkept; i++)
		o[i] = s->kept[i].owner;
	qsort(o, s->nkept, sizeof(*o), cmp_u32);
	for (uint32_t i = 0; i < s->nkept; i++)
		n += !i || o[i] != o[i - 1];
	free(o);
	return n;
}

/*
 * The index ix at ixpath, read: 0 (kept: s has its loans, file and
 * index), 1 (left RUNNING by another boot: to be dropped) or -errno
 * (refused, logged).
 */
static int start_kept(struct ms_store *s,
		      const struct ms_store_kept_config *cfg,
		      const char *ixpath, struct ms_index *ix, uint64_t boot)
{
	struct ms_index_scan scan;
	struct ms_index_hdr h;
	const uint8_t *img;
	const char *why;
	size_t len;
	int ret;

	img = ms_index_image(ix, &len);
	if (ms_index_hdr_decode(img, len, &h, &why) < 0)
		return refuse(ixpath, "%s", why);
	ret = check_hdr(s, cfg, ixpath, &h);
	if (ret < 0)
		return ret;
	if (h.state == MS_INDEX_RUNNING && (!boot || h.boot != boot))
		return 1;
	s->kept = malloc(s->nblocks * sizeof(*s->kept));
	if (!s->kept)
		return -ENOMEM;
	if (ms_index_scan(img, len, &h, found_loan, s, &scan, &why) < 0)
		return refuse(ixpath, "%s", why);
	ret = open_kept_file(s, cfg->path, ixpath, &h, scan.loans);
	if (ret < 0)
		return ret;
	if (scan.torn)
		log_warn("store: %s: %u entry torn by the last stop dropped "
			 "(a loan that was never acknowledged)",
			 ixpath, scan.torn);
	h.state = MS_INDEX_RUNNING;
	h.boot = boot;
	ret = ms_index_write_hdr(ix, &h);
	if (ret < 0)
		return ret;
	s->hdr = h;
	s->nowners = count_owners(s);
	return 0;
}

/* A new store: the file emptied, a new index (node id, incarnation). */
static int start_new(struct ms_store *s, const struct ms_store_kept_config *cfg,
		     const char *ixpath, uint64_t boot)
{
	struct ms_index_hdr h = {
		.block_size = s->block_size,
		.nblocks = s->nblocks,
		.node_id = cfg->node_id,
		.state = MS_INDEX_RUNNING,
		.incarnation = random_u64(),
		.seed = random_u64(),
		.boot = boot,
	};
	struct stat st;
	int ret;

	/* no index while the file is emptied: no loans kept by mistake */
	if (unlink(ixpath) < 0 && errno != ENOENT) {
		ret = -errno;
		log_error("store: cannot remove %s: %s", ixpath,
			  strerror(-ret));
		return ret;
	}
	ret = ms_store_open_emptied(s, cfg->path);
	if (ret < 0)
		return ret;
	if (fstat(s->fd, &st) < 0) {
		ret = -errno;
		log_error("store: %s: %s", cfg->path, strerror(-ret));
		return ret;
	}
	h.store_ino = (uint64_t)st.st_ino;
	while (!h.node_id)
		h.node_id = (uint32_t)random_u64();
	ret = ms_index_create(ixpath, &h, &s->ix);
	if (ret < 0)
		return ret;
	s->hdr = h;
	return 0;
}

/* The index at ixpath, if any, decides; s->ix set when it returns 0. */
static int open_index(struct ms_store *s,
		      const struct ms_store_kept_config *cfg,
		      const char *ixpath)
{
	uint64_t boot = current_boot();
	struct ms_index *ix = NULL;
	int ret;

	if (cfg->fresh && unlink(ixpath) == 0)
		log_info("store: %s removed (--fresh): its loans are dropped",
			 ixpath);
	ret = ms_index_open(ixpath, &ix);
	if (ret == -ENOENT)
		return start_new(s, cfg, ixpath, boot);
	if (ret < 0)
		return ret;
	ret = start_kept(s, cfg, ixpath, ix, boot);
	if (ret == 0) {
		s->ix = ix;
		return 0;
	}
	ms_index_close(ix);
	if (ret < 0)
		return ret;
	log_warn("store: %s: the machine went down while this store was in "
		 "use; its loans may hold stale bytes and are dropped, the "
		 "store starts empty",
		 ixpath);
	free(s->kept);
	s->kept = NULL;
	s->nkept = 0;
	return start_new(s, cfg, ixpath, boot);
}

/*
 * Blocks not lent read as zeros: a kill between a loan's end and its
 * block's clearing left bytes there. Runs of them get one hole each (or
 * zeros written, where the file system punches none).
 */
static void clear_free_runs(struct ms_store *s)
{
	uint32_t k = 0, start = 0, end;

	while (start < s->nblocks) {
		end = k < s->nkept ? s->kept[k].block : s->nblocks;
		if (end > start &&
		    fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)start * s->block_size,
			      (off_t)(end - start) * s->block_size) < 0)
			memset(s->base + (size_t)start * s->block_size, 0,
			       (size_t)(end - start) * s->block_size);
		start = end + 1;
		k++;
	}
}

int ms_store_create_kept(const struct ms_store_kept_config *cfg,
			 struct ms_store **out)
{
	struct ms_store *s;
	char *ixpath;
	int ret;

	if (asprintf(&ixpath, "%s.idx", cfg->path) < 0)
		return -ENOMEM;
	s = ms_store_alloc(cfg->size, cfg->block_size);
	if (!s) {
		ret = -errno;
		goto out_free_path;
	}
	ret = open_index(s, cfg, ixpath);
	if (!ret)
		ret = ms_store_map(s, cfg->path);
	if (ret < 0) {
		ms_store_destroy(s);
		goto out_free_path;
	}
	if (s->nkept)
		clear_free_runs(s);
	ms_store_fill_free(s);
	*out = s;
out_free_path:
	free(ixpath);
	return ret;
}

int ms_store_stop_clean(struct ms_store *s)
{
	struct ms_index_hdr h = s->hdr;
	int ret;

	if (!s->ix)
		return 0;
	if (fdatasync(s->fd) < 0) {
		ret = -errno;
		log_error("store: cannot write the blocks to disk: %s",
			  strerror(-ret));
		return ret;
	}
	ret = ms_index_sync(s->ix);
	if (ret < 0)
		return ret;
	h.state = MS_INDEX_CLEAN;
	return ms_index_write_hdr(s->ix, &h);
}

uint32_t ms_store_node_id(struct ms_store *s)
{
	return s->ix ? s->hdr.node_id : 0;
}

uint64_t ms_store_incarnation(struct ms_store *s)
{
	return s->ix ? s->hdr.incarnation : 0;
}

bool ms_store_kept_counts(struct ms_store *s, uint32_t *loans, uint32_t *owners)
{
	*loans = s->nkept;
	*owners = s->nowners;
	return s->kept != NULL;
}

void ms_store_journal(void *ctx, const struct peer_kept_loan *ln)
{
	struct ms_store *s = ctx;

	if (s->ix)
		ms_index_set_entry(s->ix, ln);
}

uint32_t ms_store_kept(void *ctx, uint32_t *pos, struct peer_kept_loan *out,
		       uint32_t max)
{
	struct ms_store *s = ctx;
	uint32_t n = *pos < s->nkept ? MIN(max, s->nkept - *pos) : 0;

	if (n)
		memcpy(out, s->kept + *pos, n * sizeof(*out));
	*pos += n;
	return n;
}
