// SPDX-License-Identifier: MIT
/*
 * File data: the hot path. Reads reply with an iovec that points straight
 * into pool memory (pinned blocks; holes point at a shared zero page run),
 * so a local read is one copy, made by the kernel. Writes copy once from
 * libfuse's request buffer into the block. Nothing here allocates on the
 * data path except block-table chunks when a file grows: blocks that are
 * not in local memory are staged in buffers made at mount (bounce.c).
 *
 * A write that fails to reach its block (-EIO) also leaves a sticky error
 * on the file, which the next flush or fsync reports, as a disk's write
 * error would be; a file with a lost block, or one on an unreachable
 * provider, fails them every time until the block is back or gone.
 */
#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

#define MAX_IO FS_MAX_IO
/* A request spans at most this many blocks (1 MiB / 4 KiB + 1). */
#define MAX_SEGS (MAX_IO / POOL_MIN_BLOCK + 1)

/* Holes read as zeros from here; never written. */
static uint8_t zeros[MAX_IO];

/* A copy into the file failed: the next flush or fsync says so. */
static void set_sticky(struct inode *inode, int err)
{
	if (err == -EIO)
		atomic_store(&inode->err, -EIO);
}

/*
 * One line a second at most for data errors: a dead provider can fail
 * thousands of reads, and the first line says what happened.
 */
static bool data_error_logworthy(unsigned long long *suppressed)
{
	static _Atomic uint64_t last_ns, dropped;
	uint64_t now = cmp_now_ns(), last = atomic_load(&last_ns);

	if (now - last < 1000000000ull ||
	    !atomic_compare_exchange_strong(&last_ns, &last, now)) {
		atomic_fetch_add(&dropped, 1);
		return false;
	}
	*suppressed = atomic_exchange(&dropped, 0);
	return true;
}

#define STAT_ADD(fs, field, n) \
	atomic_fetch_add_explicit(&(fs)->stats.field, (n), memory_order_relaxed)

/* How far a sequential reader is read ahead: 4 MiB, in 2..64 blocks. */
#define RA_BYTES (4u << 20)
#define RA_MIN_BLOCKS 2u
#define RA_MAX_BLOCKS 64u

/*
 * A read of [off, end) that starts where the last one ended is a stream:
 * the pool is asked to prefetch the blocks of the next RA_BYTES it was not
 * asked for yet (those elsewhere come home ahead of the reader). Caller
 * holds data_lock.
 */
static void read_ahead(struct fs *fs, struct inode *inode, uint64_t off,
		       uint64_t end)
{
	uint32_t h[RA_MAX_BLOCKS], n = 0;
	uint64_t first, last, ahead;

	if (atomic_exchange(&inode->ra_next, end) != off || !off) {
		atomic_store(&inode->ra_until, 0); /* a new stream, if any */
		return;
	}
	ahead = MIN(MAX(RA_BYTES >> fs->block_shift, RA_MIN_BLOCKS),
		    RA_MAX_BLOCKS);
	first = ((end - 1) >> fs->block_shift) + 1;
	first = MAX(first, atomic_load(&inode->ra_until));
	last = MIN(((end - 1) >> fs->block_shift) + ahead,
		   (inode->size - 1) >> fs->block_shift);
	for (uint64_t b = first; b <= last; b++)
		h[n++] = blockmap_get(&inode->map, b);
	if (!n)
		return;
	atomic_store(&inode->ra_until, last + 1);
	pool_prefetch(fs->pool, h, n);
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);
	struct iovec iov[MAX_SEGS];
	uint32_t pinned[MAX_SEGS];
	uint32_t bs = fs->block_size;
	uint64_t pos, end;
	uint8_t *bounce = NULL;
	size_t staged = 0;
	int n = 0, npinned = 0, ret = 0;

	STAT_ADD(fs, ops[FS_OP_read], 1);
	atomic_store_explicit(&fs->stats.last_read_size, size,
			      memory_order_relaxed);
	if (size > MAX_IO)
		size = MAX_IO;
	pthread_rwlock_rdlock(&inode->data_lock);
	pos = (uint64_t)off;
	end = MIN(pos + size, inode->size);
	while (pos < end) {
		uint64_t bno = pos >> fs->block_shift;
		uint32_t boff = (uint32_t)(pos & (bs - 1));
		uint32_t len = (uint32_t)MIN((uint64_t)(bs - boff), end - pos);
		uint32_t h = blockmap_get(&inode->map, bno);
		void *base;

		if (!h) {
			iov[n].iov_base = zeros;
		} else if ((ret = pool_pin_read(fs->pool, h, boff, len,
						&base)) == 0) {
			pinned[npinned++] = h;
			iov[n].iov_base = (uint8_t *)base + boff;
		} else if (ret == -EREMOTE) {
			fs_loop_may_block(); /* a round trip to another node */
			if (!bounce)
				bounce = fs_bounce_get(fs->bounce);
			ret = pool_read(fs->pool, h, boff, bounce + staged,
					len);
			if (ret)
				break;
			iov[n].iov_base = bounce + staged;
			staged += len;
			STAT_ADD(fs, read_remote_bytes, len);
		} else {
			break;
		}
		iov[n++].iov_len = len;
		pos += len;
	}
	if (ret) {
		unsigned long long more;

		if (data_error_logworthy(&more))
			log_error("read of inode %llu at %lld: %s (%llu more "
				  "data errors since the last line)",
				  (unsigned long long)inode->st_ino,
				  (long long)off, strerror(-ret), more);
		fuse_reply_err(req, -ret);
	} else {
		STAT_ADD(fs, read_bytes, pos > (uint64_t)off ? pos - off : 0);
		fuse_reply_iov(req, iov, n);
		/* (the blocks stay while data_lock is held) */
		if (pos > (uint64_t)off)
			read_ahead(fs, inode, (uint64_t)off, pos);
	}
	for (int i = 0; i < npinned; i++)
		pool_unpin(fs->pool, pinned[i]);
	pthread_rwlock_unlock(&inode->data_lock);
	fs_bounce_put(fs->bounce, bounce);
	(void)fi;
}

/* Are all blocks of [pos, end) present and inside the file? */
static bool write_in_place(struct fs *fs, struct inode *inode, uint64_t pos,
			   uint64_t end)
{
	if (end > inode->size)
		return false;
	for (uint64_t b = pos >> fs->block_shift;
	     b <= (end - 1) >> fs->block_shift; b++)
		if (!blockmap_get(&inode->map, b))
			return false;
	return true;
}

/*
 * Copies src (or zeros when src is NULL) into [pos, pos+len) of the file,
 * allocating blocks for holes (a NULL src leaves holes alone). Caller holds
 * data_lock (exclusively if blocks may be allocated). Returns bytes copied
 * (short on -ENOSPC after some progress) or -errno.
 */
static ssize_t copy_in(struct fs *fs, struct inode *inode, uint64_t pos,
		       const uint8_t *src, size_t len)
{
	uint32_t bs = fs->block_size;
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		uint64_t bno = pos >> fs->block_shift;
		uint32_t boff = (uint32_t)(pos & (bs - 1));
		uint32_t n = (uint32_t)MIN((size_t)(bs - boff), len - done);
		uint32_t h = blockmap_get(&inode->map, bno);

		if (!h) {
			if (!src)
				goto next;
			/* A whole-block write needs no zeroing first. */
			ret = pool_alloc(fs->pool, n != bs, &h);
			if (ret)
				break;
			ret = blockmap_set(&inode->map, bno, h);
			if (ret) {
				pool_free(fs->pool, h);
				break;
			}
		}
		ret = src ? pool_write(fs->pool, h, boff, src + done, n)
			  : pool_zero(fs->pool, h, boff, n);
		if (ret)
			break;
	next:
		done += n;
		pos += n;
	}
	if (ret == -ENOSPC)
		STAT_ADD(fs, enospc, 1);
	set_sticky(inode, ret);
	if (done)
		return (ssize_t)done;
	return ret;
}

/* Is the caller of req in group gid (its own, or a supplementary one)? */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[64];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	/* from /proc/PID/task/TID/status; unknown counts as "not in it" */
	n = fuse_req_getgroups(req, (int)ARRAY_SIZE(groups), groups);
	for (int i = 0; i < MIN(n, (int)ARRAY_SIZE(groups)); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

void fs_drop_privs(fuse_req_t req, struct inode *inode)
{
	struct fs *fs = fs_from_req(req);
	mode_t mode, kill = 0;
	gid_t gid;

	if (!fuse_req_ctx(req)->uid)
		return;
	pthread_mutex_lock(&inode->attr_lock);
	mode = inode->mode;
	gid = inode->gid;
	pthread_mutex_unlock(&inode->attr_lock);
	if (!S_ISREG(mode) || !(mode & (S_ISUID | S_ISGID)))
		return;
	if (mode & S_ISUID)
		kill |= S_ISUID;
	if ((mode & S_ISGID) &&
	    ((mode & S_IXGRP) || !caller_in_group(req, gid)))
		kill |= S_ISGID;
	if (!kill)
		return;
	pthread_mutex_lock(&inode->attr_lock);
	inode->mode &= ~kill;
	clock_gettime(CLOCK_REALTIME, &inode->ctime);
	pthread_mutex_unlock(&inode->attr_lock);
	/*
	 * The kernel's cached mode goes too: a write invalidates only its
	 * cached size and times, and permission checks use the cached mode.
	 */
	fuse_lowlevel_notify_inval_inode(fs->se, inode->fuse_ino, -1, 0);
}

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);
	uint64_t pos = (uint64_t)off, end = pos + size;
	ssize_t done;

	STAT_ADD(fs, ops[FS_OP_write], 1);
	atomic_store_explicit(&fs->stats.last_write_size, size,
			      memory_order_relaxed);
	if (off < 0 || end > (BLOCKMAP_MAX_BLOCKS << fs->block_shift) ||
	    end > (uint64_t)LLONG_MAX) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	if (!size) {
		fuse_reply_write(req, 0);
		return;
	}
	fs_may_wait_remote(fs);
	/* Overwrites inside the file share the lock; growth takes it alone. */
	pthread_rwlock_rdlock(&inode->data_lock);
	if (!write_in_place(fs, inode, pos, end)) {
		pthread_rwlock_unlock(&inode->data_lock);
		pthread_rwlock_wrlock(&inode->data_lock);
	}
	done = copy_in(fs, inode, pos, (const uint8_t *)buf, size);
	if (done > 0 && pos + (uint64_t)done > inode->size)
		inode->size = pos + (uint64_t)done;
	pthread_rwlock_unlock(&inode->data_lock);

	if (done < 0) {
		unsigned long long more;

		if (done != -ENOSPC && data_error_logworthy(&more))
			log_error("write of inode %llu at %lld: %s (%llu more "
				  "data errors since the last line)",
				  (unsigned long long)inode->st_ino,
				  (long long)off, strerror((int)-done), more);
		fuse_reply_err(req, (int)-done);
		return;
	}
	STAT_ADD(fs, write_bytes, (uint64_t)done);
	fs_touch(inode, false, true, true);
	fs_drop_privs(req, inode);
	fuse_reply_write(req, (size_t)done);
	(void)fi;
}

int fs_set_size_locked(struct fs *fs, struct inode *inode, uint64_t size)
{
	uint32_t bs = fs->block_size;

	if (size > (BLOCKMAP_MAX_BLOCKS << fs->block_shift) ||
	    size > (uint64_t)LLONG_MAX)
		return -EFBIG;
	if (size < inode->size) {
		uint64_t first = (size + bs - 1) >> fs->block_shift;
		uint32_t tail = (uint32_t)(size & (bs - 1));
		uint32_t h;

		blockmap_truncate(&inode->map, fs->pool, first);
		/* Bytes past EOF in a kept block must read as zero later. */
		if (tail) {
			h = blockmap_get(&inode->map, size >> fs->block_shift);
			if (h)
				set_sticky(inode, pool_zero(fs->pool, h, tail,
							    bs - tail));
		}
	}
	inode->size = size;
	return 0;
}

void fs_data_free(struct fs *fs, struct inode *inode)
{
	blockmap_finish(&inode->map, fs->pool);
}

int fs_data_check(struct fs *fs, struct inode *inode)
{
	uint64_t gen;
	int err = atomic_exchange(&inode->err, 0);

	if (err || !S_ISREG(inode->mode))
		return err;
	/* nothing lost since it was last fine, and every provider is up */
	gen = pool_lost_gen(fs->pool);
	if (gen == atomic_load(&inode->healthy_gen) &&
	    !pool_any_suspect(fs->pool))
		return 0;
	fs_may_wait_remote(fs);
	pthread_rwlock_rdlock(&inode->data_lock);
	err = blockmap_check(&inode->map, fs->pool);
	pthread_rwlock_unlock(&inode->data_lock);
	if (!err)
		atomic_store(&inode->healthy_gen, gen);
	return err;
}

/* Frees whole blocks inside [pos, end) and zeroes the partial ends. */
static void punch_hole(struct fs *fs, struct inode *inode, uint64_t pos,
		       uint64_t end)
{
	uint32_t bs = fs->block_size;

	end = MIN(end, inode->size);
	while (pos < end) {
		uint64_t bno = pos >> fs->block_shift;
		uint32_t boff = (uint32_t)(pos & (bs - 1));
		uint32_t n = (uint32_t)MIN((uint64_t)(bs - boff), end - pos);
		uint32_t h = blockmap_get(&inode->map, bno);

		if (h && n == bs)
			pool_free(fs->pool, blockmap_clear(&inode->map, bno));
		else if (h)
			set_sticky(inode, pool_zero(fs->pool, h, boff, n));
		pos += n;
	}
}

void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		     off_t len, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);
	uint64_t pos = (uint64_t)off, end = pos + (uint64_t)len;
	int ret = 0;

	STAT_ADD(fs, ops[FS_OP_fallocate], 1);
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (end > (BLOCKMAP_MAX_BLOCKS << fs->block_shift)) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	fs_may_wait_remote(fs);
	pthread_rwlock_wrlock(&inode->data_lock);
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		if (!(mode & FALLOC_FL_KEEP_SIZE))
			ret = -EOPNOTSUPP;
		else
			punch_hole(fs, inode, pos, end);
	} else {
		for (uint64_t b = pos >> fs->block_shift;
		     b <= (end - 1) >> fs->block_shift; b++) {
			uint32_t h;

			if (blockmap_get(&inode->map, b))
				continue;
			ret = pool_alloc(fs->pool, true, &h);
			if (!ret && (ret = blockmap_set(&inode->map, b, h)))
				pool_free(fs->pool, h);
			if (ret)
				break;
		}
		if (!ret && !(mode & FALLOC_FL_KEEP_SIZE) && end > inode->size)
			inode->size = end;
	}
	pthread_rwlock_unlock(&inode->data_lock);
	if (!ret)
		fs_touch(inode, false, true, true);
	fuse_reply_err(req, -ret);
	(void)fi;
}

/* Lock two inodes' data in address order (they may be the same). */
static void lock_pair(struct inode *a, struct inode *b)
{
	if (a == b) {
		pthread_rwlock_wrlock(&a->data_lock);
	} else if (a < b) {
		pthread_rwlock_wrlock(&a->data_lock);
		pthread_rwlock_wrlock(&b->data_lock);
	} else {
		pthread_rwlock_wrlock(&b->data_lock);
		pthread_rwlock_wrlock(&a->data_lock);
	}
}

static void unlock_pair(struct inode *a, struct inode *b)
{
	pthread_rwlock_unlock(&a->data_lock);
	if (a != b)
		pthread_rwlock_unlock(&b->data_lock);
}

/*
 * Copies inside the pool: block by block through the per-thread buffer,
 * holes stay holes. Without this, cp falls back to 4 KiB reads.
 */
void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			   off_t off_out, struct fuse_file_info *fi_out,
			   size_t len, int flags)
{
	struct fs *fs = fs_from_req(req);
	struct inode *in = fs_inode(fs, ino_in), *out = fs_inode(fs, ino_out);
	uint8_t *buf;
	uint64_t src = (uint64_t)off_in, dst = (uint64_t)off_out;
	uint32_t bs = fs->block_size;
	size_t done = 0;
	ssize_t ret = 0;

	STAT_ADD(fs, ops[FS_OP_copy_file_range], 1);
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fs_may_wait_remote(fs);
	buf = fs_bounce_get(fs->bounce);
	lock_pair(in, out);
	if (in == out && src < dst + len && dst < src + len) {
		ret = -EINVAL; /* overlapping ranges in one file */
		goto out;
	}
	len = src >= in->size ? 0 : MIN(len, in->size - src);
	if (dst + len > (BLOCKMAP_MAX_BLOCKS << fs->block_shift)) {
		ret = -EFBIG;
		goto out;
	}
	while (done < len) {
		uint32_t boff = (uint32_t)(src & (bs - 1));
		uint32_t n = (uint32_t)MIN((size_t)MIN(bs - boff, MAX_IO),
					   len - done);
		uint32_t h = blockmap_get(&in->map, src >> fs->block_shift);

		if (h) {
			ret = pool_read(fs->pool, h, boff, buf, n);
			if (!ret)
				ret = copy_in(fs, out, dst, buf, n);
		} else {
			ret = copy_in(fs, out, dst, NULL, n);
		}
		if (ret < 0)
			break;
		done += (size_t)ret;
		src += (uint64_t)ret;
		dst += (uint64_t)ret;
		if ((uint32_t)ret < n)
			break;
		ret = 0;
	}
	if (dst > out->size && done)
		out->size = dst;
out:
	unlock_pair(in, out);
	fs_bounce_put(fs->bounce, buf);
	if (done) {
		STAT_ADD(fs, write_bytes, done);
		fs_touch(out, false, true, true);
		fuse_reply_write(req, done);
	} else {
		fuse_reply_err(req, ret < 0 ? (int)-ret : 0);
	}
	(void)fi_in;
	(void)fi_out;
}

void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);
	uint64_t pos = (uint64_t)off;
	bool want_data = whence == SEEK_DATA;

	STAT_ADD(fs, ops[FS_OP_lseek], 1);
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_rwlock_rdlock(&inode->data_lock);
	if (off < 0 || pos >= inode->size) {
		pthread_rwlock_unlock(&inode->data_lock);
		fuse_reply_err(req, ENXIO);
		return;
	}
	while (pos < inode->size) {
		bool data = blockmap_get(&inode->map, pos >> fs->block_shift);

		if (data == want_data)
			break;
		pos = ((pos >> fs->block_shift) + 1) << fs->block_shift;
	}
	if (pos >= inode->size)
		pos = want_data ? UINT64_MAX : inode->size;
	pthread_rwlock_unlock(&inode->data_lock);
	if (pos == UINT64_MAX)
		fuse_reply_err(req, ENXIO);
	else
		fuse_reply_lseek(req, (off_t)MAX(pos, (uint64_t)off));
	(void)fi;
}
