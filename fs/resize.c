// SPDX-License-Identifier: MIT
/*
 * Resizing the mount's contribution while it serves: `cmpctl resize MNT
 * SIZE` sets the root's user.cmpfs.local attribute to SIZE, and the
 * request that carries it returns once the pool has that size, or with
 * the reason it does not (the pool then keeps its size and serves on).
 * Only root, or the user cmpfs runs as, may resize. The PSI watcher
 * (pressure.c) resizes through the same function.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

#define LOCAL_XATTR "user.cmpfs.local"
/* Blocks may stay in use (pinned, in flight) this long before a give-up. */
#define RESIZE_TIMEOUT_MS 120000

/* Can the machine back more bytes of pool (as at mount, limits.c)? */
static int check_growth(struct fs *fs, uint64_t more)
{
	char a[32], b[32], c[32];
	struct fs_mem_limit l;
	uint64_t room;

	fs_mem_limit_read(fs->opts->lock_memory, &l);
	if (l.bytes == UINT64_MAX)
		return 0;
	room = l.bytes - MIN(l.bytes, fs_pool_headroom(l.bytes));
	if (more <= room)
		return 0;
	log_error("growing the pool by %s is more than this machine can "
		  "back: %s is %s, and cmpfs keeps %s of it free",
		  cmp_format_size(more, a, sizeof(a)), l.what,
		  cmp_format_size(l.bytes, b, sizeof(b)),
		  cmp_format_size(l.bytes - room, c, sizeof(c)));
	return -ENOMEM;
}

int fs_resize(struct fs *fs, uint64_t bytes)
{
	uint64_t n = bytes >> fs->block_shift, now, max;
	struct pool_counts pc;
	char a[32], b[32];
	int ret;

	pool_get_counts(fs->pool, &pc);
	now = pc.local_blocks;
	max = pool_max_blocks(fs->pool);
	if (!n || n > max) {
		log_error(
			"resize to %s: not between one block and local_max "
			"(%s)",
			cmp_format_size(bytes, a, sizeof(a)),
			cmp_format_size(max << fs->block_shift, b, sizeof(b)));
		return -EINVAL;
	}
	if (n > now) {
		ret = check_growth(fs, (n - now) << fs->block_shift);
		if (ret)
			return ret;
	}
	/* (another resize under way: -EBUSY) */
	ret = fs->cluster
		      ? cluster_resize(fs->cluster, (uint32_t)n,
				       RESIZE_TIMEOUT_MS)
		      : pool_resize(fs->pool, (uint32_t)n, RESIZE_TIMEOUT_MS);
	if (!ret && n != now)
		log_info("resized from %s to %s",
			 cmp_format_size(now << fs->block_shift, a, sizeof(a)),
			 cmp_format_size(n << fs->block_shift, b, sizeof(b)));
	else if (ret && !fs->cluster)
		log_error("cannot resize to %s: %s",
			  cmp_format_size(bytes, a, sizeof(a)), strerror(-ret));
	return ret;
}

/* SIZE as text (not NUL-terminated), at most a few dozen bytes. */
static int parse_value(const char *value, size_t size, uint64_t *bytes)
{
	char buf[64];

	if (!size || size >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = '\0';
	return cmp_parse_size(buf, bytes) ? -EINVAL : 0;
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags)
{
	struct fs *fs = fs_from_req(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint64_t bytes;
	int ret;

	fs_count(fs, FS_OP_setxattr);
	if (ino != FUSE_ROOT_ID || strcmp(name, LOCAL_XATTR) ||
	    (flags & XATTR_CREATE)) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (ctx->uid != 0 && ctx->uid != geteuid()) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = parse_value(value, size, &bytes);
	if (!ret)
		ret = fs_resize(fs, bytes);
	fuse_reply_err(req, -ret);
}
