// SPDX-License-Identifier: MIT
/*
 * The mount's controls, attributes of its root that root (or the user
 * cmpfs runs as) sets while it serves, one handler each:
 *   user.cmpfs.local = SIZE   resizes the pool (`cmpctl resize MNT SIZE`);
 *                             the request returns once the pool has that
 *                             size, or with the reason it does not (the
 *                             pool then keeps its size and serves on);
 *   user.cmpfs.exchange = on|off
 *                             turns the exchange on or off, as -o exchange
 *                             and -o noexchange do at mount;
 *   user.cmpfs.prefetch = on|off
 *                             the prefetch of sequential readers, as -o
 *                             prefetch and -o noprefetch (blocks fetched
 *                             already stay);
 *   user.cmpfs.scrub = 1      reads every copy of every block elsewhere
 *                             (replicas > 1), a corrupt one made again
 *                             from a good one; returns when done;
 *   user.cmpfs.test_corrupt = N
 *                             a test hook, refused unless cmpfs was started
 *                             with CMP_TEST_HOOKS=1: flips a byte in up to
 *                             N blocks this node lends (their checksums
 *                             unchanged), so a test corrupts a copy.
 * The PSI watcher (pressure.c) resizes through fs_resize() too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

/* Blocks may stay in use (pinned, in flight) this long before a give-up. */
#define RESIZE_TIMEOUT_MS 120000

/* Can the machine back more bytes of pool (as at mount, limits.c)? */
static int check_growth(struct fs *fs, uint64_t more)
{
	char a[32], b[32], c[32];
	struct fs_mem_limit l;
	uint64_t room = fs_pool_room(fs->opts->lock_memory, &l);

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

/* An attribute's value as a string (it is not NUL-terminated). */
static int value_text(const char *value, size_t size, char *buf, size_t cap)
{
	if (!size || size >= cap)
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = '\0';
	return 0;
}

static int set_local(struct fs *fs, const char *text)
{
	uint64_t bytes;

	if (cmp_parse_size(text, &bytes))
		return -EINVAL;
	fs_loop_may_block(); /* moving blocks out may take a while */
	return fs_resize(fs, bytes);
}

static int set_exchange(struct fs *fs, const char *text)
{
	bool on = !strcmp(text, "on");

	if (!on && strcmp(text, "off"))
		return -EINVAL;
	pool_set_exchange(fs->pool, on);
	log_info("exchange %s", on ? "on" : "off");
	return 0;
}

static int set_prefetch(struct fs *fs, const char *text)
{
	bool on = !strcmp(text, "on");

	if (!on && strcmp(text, "off"))
		return -EINVAL;
	pool_set_prefetch(fs->pool, on);
	log_info("prefetch %s", on ? "on" : "off");
	return 0;
}

/*
 * Test hook, only when cmpfs was started with CMP_TEST_HOOKS=1 in its
 * environment: flips a byte in up to N of the blocks this node lends,
 * their checksums left as they were (peer_test_corrupt()).
 */
static int set_test_corrupt(struct fs *fs, const char *text)
{
	const char *on = getenv("CMP_TEST_HOOKS");
	char *end;
	unsigned long n = strtoul(text, &end, 10);

	if (!on || strcmp(on, "1") || !fs->cluster)
		return -ENOTSUP;
	if (*end || !n || n > UINT32_MAX)
		return -EINVAL;
	peer_test_corrupt(cluster_peer(fs->cluster), (uint32_t)n);
	return 0;
}

/* A scrub of every copy of our blocks elsewhere (pool_scrub()). */
static int set_scrub(struct fs *fs, const char *text)
{
	uint64_t checked, corrupt;

	if (strcmp(text, "1"))
		return -EINVAL;
	fs_loop_may_block(); /* reads every copy: may take a while */
	return pool_scrub(fs->pool, &checked, &corrupt);
}

static const struct control {
	const char *name;
	int (*set)(struct fs *fs, const char *text);
} controls[] = {
	{"user.cmpfs.local", set_local},
	{"user.cmpfs.exchange", set_exchange},
	{"user.cmpfs.prefetch", set_prefetch},
	{"user.cmpfs.scrub", set_scrub},
	{"user.cmpfs.test_corrupt", set_test_corrupt},
};

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags)
{
	struct fs *fs = fs_from_req(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct control *c = NULL;
	char text[64];
	int ret;

	fs_count(fs, FS_OP_setxattr);
	for (size_t i = 0; i < ARRAY_SIZE(controls); i++)
		if (!strcmp(name, controls[i].name))
			c = &controls[i];
	if (ino != FUSE_ROOT_ID || !c || (flags & XATTR_CREATE)) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (ctx->uid != 0 && ctx->uid != geteuid()) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = value_text(value, size, text, sizeof(text));
	if (!ret)
		ret = c->set(fs, text);
	fuse_reply_err(req, -ret);
}
