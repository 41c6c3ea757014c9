// SPDX-License-Identifier: MIT
/*
 * The index of a kept store (memserver/index.h): its pure encoders and
 * decoders, which every byte read from disk goes through, and the file
 * (made, opened, mapped, its header rewritten, synced). What a start does
 * with what the index says is the store's business (memserver/store.c).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "index.h"

/* Header field offsets (index.h draws the layout). */
enum {
	H_MAGIC = 0,
	H_VERSION = 8,
	H_ENTRIES_OFF = 12,
	H_BLOCK_SIZE = 16,
	H_NBLOCKS = 20,
	H_NODE = 24,
	H_STATE = 28,
	H_INCARNATION = 32,
	H_SEED = 40,
	H_STORE_INO = 48,
	H_BOOT = 56,
	H_END = 64, /* zeros up to the check */
	H_CHECK = MS_INDEX_HDR_SIZE - 8,
};

_Static_assert(sizeof(MS_INDEX_MAGIC) - 1 == 8, "an 8-byte magic");
_Static_assert(MS_INDEX_HDR_SIZE <= MS_INDEX_ENTRIES_OFF, "room");

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* Where block's entry starts (and the length of an index of block blocks). */
static uint64_t entry_off(uint32_t block)
{
	return MS_INDEX_ENTRIES_OFF + (uint64_t)block * MS_INDEX_ENTRY_SIZE;
}

uint64_t ms_index_file_size(uint32_t nblocks)
{
	return entry_off(nblocks);
}

void ms_index_hdr_encode(const struct ms_index_hdr *h, uint8_t *buf)
{
	memset(buf, 0, MS_INDEX_HDR_SIZE);
	memcpy(buf + H_MAGIC, MS_INDEX_MAGIC, 8);
	put32(buf + H_VERSION, MS_INDEX_VERSION);
	put32(buf + H_ENTRIES_OFF, MS_INDEX_ENTRIES_OFF);
	put32(buf + H_BLOCK_SIZE, h->block_size);
	put32(buf + H_NBLOCKS, h->nblocks);
	put32(buf + H_NODE, h->node_id);
	put32(buf + H_STATE, h->state);
	put64(buf + H_INCARNATION, h->incarnation);
	put64(buf + H_SEED, h->seed);
	put64(buf + H_STORE_INO, h->store_ino);
	put64(buf + H_BOOT, h->boot);
	put64(buf + H_CHECK, XXH3_64bits(buf, H_CHECK));
}

/* The fields' own rules, once the bytes are known to be a header. */
static const char *hdr_invalid(const struct ms_index_hdr *h)
{
	if (!proto_block_size_valid(h->block_size))
		return "its block size is not one of a cluster";
	if (!h->nblocks || h->nblocks == UINT32_MAX)
		return "its block count is out of range";
	if (!h->node_id)
		return "its node id is 0";
	if (h->state != MS_INDEX_RUNNING && h->state != MS_INDEX_CLEAN)
		return "its state is unknown";
	if (!h->incarnation)
		return "its incarnation is 0";
	return NULL;
}

int ms_index_hdr_decode(const uint8_t *buf, size_t len,
			struct ms_index_hdr *out, const char **why)
{
	static const uint8_t zeros[H_CHECK - H_END];

	*why = NULL;
	if (len < MS_INDEX_HDR_SIZE || memcmp(buf, MS_INDEX_MAGIC, 8))
		*why = "not a store index (no header)";
	else if (get32(buf + H_VERSION) != MS_INDEX_VERSION)
		*why = "an index of another version";
	else if (get64(buf + H_CHECK) != XXH3_64bits(buf, H_CHECK))
		*why = "its header is damaged (checksum)";
	else if (get32(buf + H_ENTRIES_OFF) != MS_INDEX_ENTRIES_OFF ||
		 memcmp(buf + H_END, zeros, sizeof(zeros)))
		*why = "its header has fields this version does not know";
	if (*why)
		return -EBADMSG;
	*out = (struct ms_index_hdr){
		.block_size = get32(buf + H_BLOCK_SIZE),
		.nblocks = get32(buf + H_NBLOCKS),
		.node_id = get32(buf + H_NODE),
		.state = get32(buf + H_STATE),
		.incarnation = get64(buf + H_INCARNATION),
		.seed = get64(buf + H_SEED),
		.store_ino = get64(buf + H_STORE_INO),
		.boot = get64(buf + H_BOOT),
	};
	*why = hdr_invalid(out);
	return *why ? -EBADMSG : 0;
}

/* The check of a lent entry: binds it to its block and this index. */
static uint32_t entry_check(uint64_t seed, uint32_t block, uint32_t owner,
			    uint32_t epoch, uint32_t flags)
{
	uint8_t b[16];

	put32(b, block);
	put32(b + 4, owner);
	put32(b + 8, epoch);
	put32(b + 12, flags);
	return (uint32_t)XXH3_64bits_withSeed(b, sizeof(b), seed);
}

void ms_index_entry_encode(uint8_t *e, uint64_t seed,
			   const struct peer_kept_loan *ln)
{
	memset(e, 0, MS_INDEX_ENTRY_SIZE);
	if (!ln->owner)
		return;
	put32(e, ln->owner);
	put32(e + 4, ln->epoch);
	put32(e + 8, ln->flags);
	put32(e + 12,
	      entry_check(seed, ln->block, ln->owner, ln->epoch, ln->flags));
}

int ms_index_entry_decode(const uint8_t *e, uint64_t seed, uint32_t block,
			  struct peer_kept_loan *out)
{
	static const uint8_t zeros[MS_INDEX_ENTRY_SIZE];
	struct peer_kept_loan ln = {
		.owner = get32(e),
		.block = block,
		.epoch = get32(e + 4),
		.flags = get32(e + 8),
	};

	memset(out, 0, sizeof(*out));
	if (!memcmp(e, zeros, sizeof(zeros)))
		return 0;
	if (!ln.owner || !ln.epoch || (ln.flags & ~PEER_KEPT_MASK) ||
	    get32(e + 12) !=
		    entry_check(seed, block, ln.owner, ln.epoch, ln.flags))
		return -EBADMSG;
	*out = ln;
	return 1;
}

int ms_index_scan(const uint8_t *img, size_t len, struct ms_index_hdr *hdr,
		  void (*loan)(void *ctx, const struct peer_kept_loan *ln),
		  void *ctx, struct ms_index_scan *out, const char **why)
{
	struct peer_kept_loan ln;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = ms_index_hdr_decode(img, len, hdr, why);
	if (ret < 0)
		return ret;
	if (len != ms_index_file_size(hdr->nblocks)) {
		*why = "its length does not match its block count";
		return -EBADMSG;
	}
	for (uint32_t b = 0; b < hdr->nblocks; b++) {
		ret = ms_index_entry_decode(img + entry_off(b), hdr->seed, b,
					    &ln);
		if (ret < 0 && ++out->torn > MS_INDEX_TORN_MAX) {
			*why = "its entries are damaged (checksums)";
			return -EBADMSG;
		}
		if (ret <= 0)
			continue;
		out->loans++;
		if (loan)
			loan(ctx, &ln);
	}
	return 0;
}

/* ---- the file ---- */

struct ms_index {
	int fd;
	uint8_t *map;
	size_t len;
	uint32_t nblocks; /* entries we write: the adopted header's */
	uint64_t seed;
	char *path;
};

/* Maps the whole file (a header's worth at least, for the decoder). */
static int map_file(struct ms_index *ix, size_t len)
{
	ix->len = len;
	if (!len)
		return 0;
	ix->map =
		mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, ix->fd, 0);
	if (ix->map == MAP_FAILED) {
		ix->map = NULL;
		return -errno;
	}
	return 0;
}

static struct ms_index *index_alloc(const char *path)
{
	struct ms_index *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	ix->fd = -1;
	ix->path = strdup(path);
	if (!ix->path) {
		free(ix);
		return NULL;
	}
	return ix;
}

void ms_index_close(struct ms_index *ix)
{
	if (!ix)
		return;
	if (ix->map)
		munmap(ix->map, ix->len);
	if (ix->fd >= 0)
		close(ix->fd);
	free(ix->path);
	free(ix);
}

/* The rename of a new index is on disk too: fsync its directory. */
static int sync_dir_of(const char *path)
{
	char buf[PATH_MAX];
	int fd, ret = 0;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The new file at tmp: all blocks free, the header, on disk. */
static int write_new(struct ms_index *ix, const char *tmp,
		     const struct ms_index_hdr *h)
{
	uint8_t hdr[MS_INDEX_HDR_SIZE];
	off_t len = (off_t)ms_index_file_size(h->nblocks);
	int ret;

	ix->fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (ix->fd < 0)
		return -errno;
	/* allocated, not sparse: a write through the mapping never SIGBUSes */
	ret = -posix_fallocate(ix->fd, 0, len);
	if (ret == -EOPNOTSUPP || ret == -EINVAL)
		ret = ftruncate(ix->fd, len) < 0 ? -errno : 0;
	if (ret)
		return ret;
	ms_index_hdr_encode(h, hdr);
	if (pwrite(ix->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return errno ? -errno : -EIO;
	return fdatasync(ix->fd) < 0 ? -errno : 0;
}

int ms_index_create(const char *path, const struct ms_index_hdr *h,
		    struct ms_index **out)
{
	struct ms_index *ix = index_alloc(path);
	char tmp[PATH_MAX];
	int ret;

	if (!ix)
		return -ENOMEM;
	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp)) {
		ret = -ENAMETOOLONG;
		goto err_close;
	}
	ret = write_new(ix, tmp, h);
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (!ret)
		ret = sync_dir_of(path);
	if (!ret)
		ret = map_file(ix, (size_t)ms_index_file_size(h->nblocks));
	if (ret)
		goto err_unlink;
	ix->nblocks = h->nblocks;
	ix->seed = h->seed;
	*out = ix;
	return 0;

err_unlink:
	unlink(tmp);
	log_error("store: cannot make the index %s: %s", path, strerror(-ret));
err_close:
	ms_index_close(ix);
	return ret;
}

int ms_index_open(const char *path, struct ms_index **out)
{
	struct ms_index *ix;
	struct stat st;
	int ret;

	ix = index_alloc(path);
	if (!ix)
		return -ENOMEM;
	ix->fd = open(path, O_RDWR | O_CLOEXEC);
	if (ix->fd < 0) {
		ret = -errno;
		goto err_close;
	}
	ret = fstat(ix->fd, &st) < 0 ? -errno : 0;
	if (!ret && (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX))
		ret = -EINVAL;
	if (!ret)
		ret = map_file(ix, (size_t)st.st_size);
	if (ret)
		goto err_close;
	*out = ix;
	return 0;

err_close:
	if (ret != -ENOENT)
		log_error("store: cannot open the index %s: %s", path,
			  strerror(-ret));
	ms_index_close(ix);
	return ret;
}

const uint8_t *ms_index_image(const struct ms_index *ix, size_t *len)
{
	static const uint8_t none[1];

	*len = ix->len;
	return ix->map ? ix->map : none;
}

int ms_index_write_hdr(struct ms_index *ix, const struct ms_index_hdr *h)
{
	uint8_t hdr[MS_INDEX_HDR_SIZE];
	int ret = 0;

	if (ix->len != ms_index_file_size(h->nblocks))
		return -EINVAL;
	ms_index_hdr_encode(h, hdr);
	/* one write(2): a process killed meanwhile cannot tear it */
	if (pwrite(ix->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		ret = errno ? -errno : -EIO;
	if (!ret && fdatasync(ix->fd) < 0)
		ret = -errno;
	if (ret) {
		log_error("store: cannot write the header of %s: %s", ix->path,
			  strerror(-ret));
		return ret;
	}
	ix->nblocks = h->nblocks;
	ix->seed = h->seed;
	return 0;
}

void ms_index_set_entry(struct ms_index *ix, const struct peer_kept_loan *ln)
{
	uint8_t e[MS_INDEX_ENTRY_SIZE];

	if (ln->block >= ix->nblocks)
		return;
	ms_index_entry_encode(e, ix->seed, ln);
	memcpy(ix->map + entry_off(ln->block), e, sizeof(e));
}

int ms_index_sync(struct ms_index *ix)
{
	int ret;

	if (!ix->map || msync(ix->map, ix->len, MS_SYNC) == 0)
		return 0;
	ret = -errno;
	log_error("store: cannot write %s to disk: %s", ix->path,
		  strerror(-ret));
	return ret;
}
