// SPDX-License-Identifier: MIT
/*
 * The FUSE low-level operations on the namespace (lookup, create, rename,
 * link, setattr, readdir, statfs, ...). File data lives in data.c. Every
 * reply of an error goes through reply_err(), the one place where our
 * -errno becomes FUSE's positive errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

/* We are the only writer of this namespace: the kernel may cache long. */
#define ENTRY_TIMEOUT 86400.0

#define COUNT(fs, op) fs_count((fs), FS_OP_##op)

static void reply_err(fuse_req_t req, int neg)
{
	fuse_reply_err(req, -neg);
}

/*
 * A name longer than NAME_MAX is ENAMETOOLONG from every call that takes
 * one: the kernel lets names up to its FUSE limit through, and a lookup
 * that said ENOENT (cached as a negative entry) would lie.
 */
static bool name_too_long(const char *name)
{
	return strnlen(name, FS_NAME_MAX + 1) > FS_NAME_MAX;
}

static void fill_entry(struct fs *fs, struct inode *inode,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = inode->fuse_ino;
	e->generation = 1;
	e->attr_timeout = ENTRY_TIMEOUT;
	e->entry_timeout = ENTRY_TIMEOUT;
	fs_inode_fill_stat(fs, inode, &e->attr);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	/*
	 * read() is direct I/O and ignores readahead; this only sizes the
	 * kernel's reads for mmap faults (0: page-granular paging).
	 */
	conn->max_readahead = (unsigned int)fs->opts->readahead;
	conn->max_write = 1u << 20;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want &= ~FUSE_CAP_SPLICE_WRITE;
	fs->direct_io = fs_compat_direct_io_mmap();
	if (!fs->direct_io)
		log_warn("kernel cannot mmap direct_io files: using the page "
			 "cache (reads are page-granular)");
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_from_req(req);
	struct fuse_entry_param e;
	struct dentry *d;

	COUNT(fs, lookup);
	if (name_too_long(name)) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	d = fs_dentry_lookup_locked(fs, fs_inode(fs, parent), name);
	if (!d) {
		pthread_mutex_unlock(&fs->ns_lock);
		/* Cache the negative entry too. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = ENTRY_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	d->inode->nlookup++;
	fill_entry(fs, d->inode, &e);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_entry(req, &e);
}

static void forget_one(struct fs *fs, fuse_ino_t ino, uint64_t n)
{
	struct inode *inode = fs_inode(fs, ino);

	if (inode->nlookup < n) {
		log_error("forget of %llu lookups on inode %llu with %llu",
			  (unsigned long long)n,
			  (unsigned long long)inode->st_ino,
			  (unsigned long long)inode->nlookup);
		n = inode->nlookup;
	}
	inode->nlookup -= n;
	fs_inode_maybe_free_locked(fs, inode);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fs_from_req(req);

	COUNT(fs, forget);
	pthread_mutex_lock(&fs->ns_lock);
	forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_from_req(req);

	COUNT(fs, forget);
	pthread_mutex_lock(&fs->ns_lock);
	for (size_t i = 0; i < count; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct stat st;

	COUNT(fs, getattr);
	fs_inode_fill_stat(fs, fs_inode(fs, ino), &st);
	fuse_reply_attr(req, &st, ENTRY_TIMEOUT);
	(void)fi;
}

static void set_time(struct timespec *ts, const struct timespec *val, bool now)
{
	if (now)
		clock_gettime(CLOCK_REALTIME, ts);
	else
		*ts = *val;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);
	struct stat st;
	int ret = 0;

	COUNT(fs, setattr);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(inode->mode)) {
			reply_err(req,
				  S_ISDIR(inode->mode) ? -EISDIR : -EINVAL);
			return;
		}
		fs_may_wait_remote(fs); /* zeroing a kept tail block */
		pthread_rwlock_wrlock(&inode->data_lock);
		ret = fs_set_size_locked(fs, inode, (uint64_t)attr->st_size);
		pthread_rwlock_unlock(&inode->data_lock);
		if (ret) {
			reply_err(req, ret);
			return;
		}
		fs_touch(inode, false, true, true);
	}
	/* The kernel checked permissions (default_permissions). */
	pthread_mutex_lock(&inode->attr_lock);
	if (to_set & FUSE_SET_ATTR_MODE)
		inode->mode = (inode->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		inode->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		inode->gid = attr->st_gid;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		set_time(&inode->atime, &attr->st_atim,
			 to_set & FUSE_SET_ATTR_ATIME_NOW);
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
		set_time(&inode->mtime, &attr->st_mtim,
			 to_set & FUSE_SET_ATTR_MTIME_NOW);
	if (to_set & FUSE_SET_ATTR_CTIME)
		inode->ctime = attr->st_ctim;
	else if (to_set)
		clock_gettime(CLOCK_REALTIME, &inode->ctime);
	pthread_mutex_unlock(&inode->attr_lock);
	fs_inode_fill_stat(fs, inode, &st);
	fuse_reply_attr(req, &st, ENTRY_TIMEOUT);
	(void)fi;
}

/*
 * How the kernel moves an open file's data: direct I/O (byte-range, no
 * page cache) unless the kernel cannot mmap direct_io files; with -o
 * cached_reads a read-only open goes through the page cache. Cached pages
 * (a mapping's, or cached reads') stay true to the file: every change to
 * the data comes through the kernel, which drops the pages a direct write
 * covers (Linux 6.6 on, with FUSE_DIRECT_IO_ALLOW_MMAP, as mmap relies on
 * too), a truncate (O_TRUNC too), a hole punched or a copy_file_range()
 * into the file. So every open keeps them: without keep_cache an open of a
 * mapped file (a cat, a cmp, a backup) would unmap and drop all its pages,
 * and the mapper would pay a READ per page to get them back. fi->fh is 1
 * when the open may write (its close reports errors).
 */
static void set_open_mode(struct fs *fs, struct fuse_file_info *fi)
{
	bool rdonly = (fi->flags & O_ACCMODE) == O_RDONLY;
	bool cached = !fs->direct_io || (fs->opts->cached_reads && rdonly);

	fi->direct_io = !cached;
	fi->keep_cache = 1;
	fi->fh = !rdonly;
}

/* Creates a name in parent for a new inode and replies with its entry. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *target,
		      struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct inode *dir = fs_inode(fs, parent), *inode;
	struct fuse_entry_param e;
	gid_t gid = ctx->gid;
	int ret;

	if (name_too_long(name)) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	if (fs_dentry_lookup_locked(fs, dir, name)) {
		ret = -EEXIST;
		goto err_unlock;
	}
	/* setgid directories hand their group down (and to subdirs). */
	if (dir->mode & S_ISGID) {
		gid = dir->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	ret = -ENOMEM;
	inode = fs_inode_new_locked(fs, mode, ctx->uid, gid, rdev);
	if (!inode)
		goto err_unlock;
	if (target && !(inode->target = strdup(target)))
		goto err_free;
	ret = fs_dentry_add_locked(fs, dir, name, inode);
	if (ret)
		goto err_free;
	inode->nlink = S_ISDIR(mode) ? 2 : 1;
	inode->parent = dir;
	inode->nlookup = 1;
	if (S_ISDIR(mode))
		__atomic_add_fetch(&dir->nlink, 1, __ATOMIC_RELAXED);
	if (fi)
		inode->nopen++;
	fill_entry(fs, inode, &e);
	pthread_mutex_unlock(&fs->ns_lock);
	fs_touch(dir, false, true, true);
	if (fi) {
		set_open_mode(fs, fi);
		fuse_reply_create(req, &e, fi);
	} else {
		fuse_reply_entry(req, &e);
	}
	return;

err_free:
	inode->nlink = 0;
	fs_inode_maybe_free_locked(fs, inode);
err_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	reply_err(req, ret);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	COUNT(fs_from_req(req), mknod);
	make_node(req, parent, name, mode, rdev, NULL, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	COUNT(fs_from_req(req), mkdir);
	make_node(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	COUNT(fs_from_req(req), symlink);
	make_node(req, parent, name, S_IFLNK | 0777, 0, link, NULL);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	COUNT(fs_from_req(req), create);
	make_node(req, parent, name, S_IFREG | (mode & 07777), 0, NULL, fi);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);

	COUNT(fs, readlink);
	if (!S_ISLNK(inode->mode))
		reply_err(req, -EINVAL);
	else
		fuse_reply_readlink(req, inode->target);
}

/* Drops one name of inode (caller holds ns_lock). */
static void drop_link_locked(struct fs *fs, struct inode *inode)
{
	if (S_ISDIR(inode->mode)) {
		__atomic_sub_fetch(&inode->parent->nlink, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&inode->nlink, 0, __ATOMIC_RELAXED);
	} else {
		__atomic_sub_fetch(&inode->nlink, 1, __ATOMIC_RELAXED);
	}
	fs_touch(inode, false, false, true);
	fs_inode_maybe_free_locked(fs, inode);
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name,
			bool dir)
{
	struct fs *fs = fs_from_req(req);
	struct inode *pdir = fs_inode(fs, parent), *inode;
	struct dentry *d;
	int ret = 0;

	if (name_too_long(name)) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	d = fs_dentry_lookup_locked(fs, pdir, name);
	if (!d) {
		ret = -ENOENT;
		goto out;
	}
	inode = d->inode;
	if (dir && !S_ISDIR(inode->mode))
		ret = -ENOTDIR;
	else if (!dir && S_ISDIR(inode->mode))
		ret = -EISDIR;
	else if (dir && inode->nchildren)
		ret = -ENOTEMPTY;
	if (ret)
		goto out;
	fs_dentry_remove_locked(fs, d);
	drop_link_locked(fs, inode);
	fs_touch(pdir, false, true, true);
out:
	pthread_mutex_unlock(&fs->ns_lock);
	reply_err(req, ret);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	COUNT(fs_from_req(req), unlink);
	remove_name(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	COUNT(fs_from_req(req), rmdir);
	remove_name(req, parent, name, true);
}

/* Is a an ancestor of (or equal to) b? Caller holds ns_lock. */
static bool is_ancestor_locked(struct fs *fs, struct inode *a, struct inode *b)
{
	for (;;) {
		if (a == b)
			return true;
		if (b == fs->root)
			return false;
		b = b->parent;
	}
}

/* Re-points d at a new inode in place (keeps its cookie). */
static void dentry_set_inode(struct dentry *d, struct inode *inode)
{
	d->inode = inode;
	inode->parent = d->dir;
}

static int rename_exchange_locked(struct fs *fs, struct dentry *a,
				  struct dentry *b)
{
	struct inode *ia = a->inode, *ib = b->inode;

	if (a->dir != b->dir) {
		if ((S_ISDIR(ia->mode) && is_ancestor_locked(fs, ia, b->dir)) ||
		    (S_ISDIR(ib->mode) && is_ancestor_locked(fs, ib, a->dir)))
			return -EINVAL;
		if (S_ISDIR(ia->mode) != S_ISDIR(ib->mode)) {
			int da = S_ISDIR(ia->mode) ? 1 : -1;

			__atomic_sub_fetch(&a->dir->nlink, da,
					   __ATOMIC_RELAXED);
			__atomic_add_fetch(&b->dir->nlink, da,
					   __ATOMIC_RELAXED);
		}
	}
	dentry_set_inode(a, ib);
	dentry_set_inode(b, ia);
	fs_touch(ia, false, false, true);
	fs_touch(ib, false, false, true);
	return 0;
}

static int rename_locked(struct fs *fs, struct inode *odir, const char *oname,
			 struct inode *ndir, const char *nname,
			 unsigned int flags)
{
	struct dentry *od = fs_dentry_lookup_locked(fs, odir, oname);
	struct dentry *nd = fs_dentry_lookup_locked(fs, ndir, nname);
	struct inode *inode, *victim;
	int ret;

	if (!od)
		return -ENOENT;
	if (flags & RENAME_EXCHANGE)
		return nd ? rename_exchange_locked(fs, od, nd) : -ENOENT;
	if (nd && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	inode = od->inode;
	if (od == nd)
		return 0;
	if (S_ISDIR(inode->mode) && is_ancestor_locked(fs, inode, ndir))
		return -EINVAL;
	if (nd) {
		victim = nd->inode;
		if (victim == inode) /* two links to one file: no-op */
			return 0;
		if (S_ISDIR(inode->mode) && !S_ISDIR(victim->mode))
			return -ENOTDIR;
		if (!S_ISDIR(inode->mode) && S_ISDIR(victim->mode))
			return -EISDIR;
		if (S_ISDIR(victim->mode) && victim->nchildren)
			return -ENOTEMPTY;
		fs_dentry_remove_locked(fs, nd);
		drop_link_locked(fs, victim);
	}
	ret = fs_dentry_add_locked(fs, ndir, nname, inode);
	if (ret)
		return ret; /* only -ENOMEM; the victim is gone already */
	fs_dentry_remove_locked(fs, od);
	if (S_ISDIR(inode->mode) && odir != ndir) {
		__atomic_sub_fetch(&odir->nlink, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&ndir->nlink, 1, __ATOMIC_RELAXED);
	}
	inode->parent = ndir;
	fs_touch(inode, false, false, true); /* as ext4 and tmpfs do */
	return 0;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct fs *fs = fs_from_req(req);
	struct inode *odir = fs_inode(fs, parent), *ndir;
	int ret;

	COUNT(fs, rename);
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		reply_err(req, -EINVAL);
		return;
	}
	if (name_too_long(name) || name_too_long(newname)) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	ndir = fs_inode(fs, newparent);
	pthread_mutex_lock(&fs->ns_lock);
	ret = rename_locked(fs, odir, name, ndir, newname, flags);
	pthread_mutex_unlock(&fs->ns_lock);
	if (!ret) {
		fs_touch(odir, false, true, true);
		if (ndir != odir)
			fs_touch(ndir, false, true, true);
	}
	reply_err(req, ret);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct fs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);
	struct inode *dir = fs_inode(fs, newparent);
	struct fuse_entry_param e;
	int ret;

	COUNT(fs, link);
	if (name_too_long(newname)) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	if (fs_dentry_lookup_locked(fs, dir, newname))
		ret = -EEXIST;
	else if (!inode->nlink)
		ret = -ENOENT;
	else
		ret = fs_dentry_add_locked(fs, dir, newname, inode);
	if (!ret) {
		__atomic_add_fetch(&inode->nlink, 1, __ATOMIC_RELAXED);
		inode->nlookup++;
		/*
		 * The new ctime goes in the reply: the kernel keeps these
		 * attributes (for a day) and stat() shows them.
		 */
		fs_touch(inode, false, false, true);
		fill_entry(fs, inode, &e);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (ret) {
		reply_err(req, ret);
		return;
	}
	fs_touch(dir, false, true, true);
	fuse_reply_entry(req, &e);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);

	COUNT(fs, open);
	/*
	 * libfuse negotiates FUSE_CAP_ATOMIC_O_TRUNC by default: the kernel
	 * then sends no SETATTR for open(O_TRUNC) and expects us to truncate.
	 */
	if (fi->flags & O_TRUNC) {
		if (!S_ISREG(inode->mode)) {
			reply_err(req, -EINVAL);
			return;
		}
		pthread_rwlock_wrlock(&inode->data_lock);
		fs_set_size_locked(fs, inode, 0); /* cannot fail for size 0 */
		pthread_rwlock_unlock(&inode->data_lock);
		fs_touch(inode, false, true, true);
		/* the kernel's ATTR_KILL_S*ID is lost with atomic O_TRUNC */
		fs_drop_privs(req, inode);
	}
	pthread_mutex_lock(&fs->ns_lock);
	inode->nopen++;
	pthread_mutex_unlock(&fs->ns_lock);
	set_open_mode(fs, fi);
	fuse_reply_open(req, fi);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);

	COUNT(fs, release);
	pthread_mutex_lock(&fs->ns_lock);
	inode->nopen--;
	fs_inode_maybe_free_locked(fs, inode);
	pthread_mutex_unlock(&fs->ns_lock);
	reply_err(req, 0);
	(void)fi;
}

/*
 * close() and fsync(): data is in the pool as soon as write() returns, so
 * there is nothing to write back; what they report is whether it is all
 * still there (a failed write, a lost block, a provider out of reach).
 * The close of a descriptor opened read-only reports nothing (its reads
 * did), and leaves the sticky error for a writer.
 */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);

	COUNT(fs, flush);
	reply_err(req, fi->fh ? fs_data_check(fs, fs_inode(fs, ino)) : 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);

	COUNT(fs, fsync);
	reply_err(req, fs_data_check(fs, fs_inode(fs, ino)));
	(void)datasync;
	(void)fi;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	COUNT(fs_from_req(req), opendir);
	fuse_reply_open(req, fi);
	(void)ino;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct inode *dir = fs_inode(fs, ino);
	char *buf = malloc(size);
	size_t used = 0;
	struct stat st = {0};

	COUNT(fs, readdir);
	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	/* Offsets are cookies: 1 ".", 2 "..", then entries' cookies. */
	if (off < 1) {
		st.st_ino = dir->st_ino;
		st.st_mode = S_IFDIR;
		used += fuse_add_direntry(req, buf + used, size - used, ".",
					  &st, 1);
	}
	if (off < 2 && used <= size) {
		st.st_ino = dir->parent->st_ino;
		st.st_mode = S_IFDIR;
		used += fuse_add_direntry(req, buf + used, size - used, "..",
					  &st, 2);
	}
	for (struct dentry *d = dir->first; d && used <= size; d = d->next) {
		size_t n;

		if (d->cookie <= (uint64_t)off)
			continue;
		st.st_ino = d->inode->st_ino;
		st.st_mode = d->inode->mode & S_IFMT;
		n = fuse_add_direntry(req, buf + used, size - used, d->name,
				      &st, (off_t)d->cookie);
		if (n > size - used)
			break;
		used += n;
	}
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_buf(req, buf, MIN(used, size));
	free(buf);
	(void)fi;
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	COUNT(fs_from_req(req), releasedir);
	reply_err(req, 0);
	(void)ino;
	(void)fi;
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_from_req(req);
	struct statvfs sv = {0};

	COUNT(fs, statfs);
	sv.f_bsize = fs->block_size;
	sv.f_frsize = fs->block_size;
	sv.f_blocks = pool_capacity_blocks(fs->pool);
	sv.f_bfree = sv.f_bavail = pool_avail_blocks(fs->pool);
	sv.f_files = UINT32_MAX;
	sv.f_ffree = sv.f_favail = UINT32_MAX - fs->inodes;
	sv.f_namemax = FS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
	(void)ino;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = fs_op_read,
	.write = fs_op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.getxattr = fs_op_getxattr,
	.setxattr = fs_op_setxattr,
	.listxattr = fs_op_listxattr,
	.create = op_create,
	.fallocate = fs_op_fallocate,
	.copy_file_range = fs_op_copy_file_range,
	.lseek = fs_op_lseek,
};
