// SPDX-License-Identifier: MIT
/*
 * The in-memory namespace: inodes, directory entries in one hash table keyed
 * by (directory, name), and each directory's entries in creation order with
 * stable cookies so readdir can resume after entries were removed (rm -rf
 * deletes while it reads). All under fs->ns_lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp/pool.h"
#include "fs.h"

static uint32_t name_hash(const struct inode *dir, const char *name)
{
	/* FNV-1a over the name, mixed with the directory. */
	uint64_t h = 1469598103934665603ull ^ (uintptr_t)dir;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32));
}

static void ts_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

void fs_touch(struct inode *inode, bool atime, bool mtime, bool ctime)
{
	struct timespec now;

	ts_now(&now);
	pthread_mutex_lock(&inode->attr_lock);
	if (atime)
		inode->atime = now;
	if (mtime)
		inode->mtime = now;
	if (ctime)
		inode->ctime = now;
	pthread_mutex_unlock(&inode->attr_lock);
}

struct inode *fs_inode_new_locked(struct fs *fs, mode_t mode, uid_t uid,
				  gid_t gid, dev_t rdev)
{
	struct inode *inode = calloc(1, sizeof(*inode));

	if (!inode)
		return NULL;
	inode->fuse_ino = (fuse_ino_t)(uintptr_t)inode;
	inode->st_ino = ++fs->next_ino;
	inode->mode = mode;
	inode->uid = uid;
	inode->gid = gid;
	inode->rdev = rdev;
	ts_now(&inode->atime);
	inode->mtime = inode->ctime = inode->atime;
	pthread_mutex_init(&inode->attr_lock, NULL);
	pthread_rwlock_init(&inode->data_lock, NULL);
	blockmap_init(&inode->map);
	inode->next_cookie = 3; /* 1 and 2 are "." and ".." */
	fs->inodes++;
	return inode;
}

static void inode_destroy(struct fs *fs, struct inode *inode)
{
	if (S_ISREG(inode->mode))
		fs_data_free(fs, inode);
	free(inode->target);
	pthread_mutex_destroy(&inode->attr_lock);
	pthread_rwlock_destroy(&inode->data_lock);
	fs->inodes--;
	free(inode);
}

void fs_inode_maybe_free_locked(struct fs *fs, struct inode *inode)
{
	if (inode != fs->root && !inode->nlink && !inode->nlookup &&
	    !inode->nopen)
		inode_destroy(fs, inode);
}

struct inode *fs_inode(struct fs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return fs->root;
	return (struct inode *)(uintptr_t)ino;
}

struct dentry *fs_dentry_lookup_locked(struct fs *fs, struct inode *dir,
				       const char *name)
{
	uint32_t h = name_hash(dir, name);
	struct dentry *d;

	for (d = fs->htab[h & (fs->hsize - 1)]; d; d = d->hnext)
		if (d->hash == h && d->dir == dir && !strcmp(d->name, name))
			return d;
	return NULL;
}

static int grow_htab(struct fs *fs)
{
	uint64_t nsize = fs->hsize * 2;
	struct dentry **n = calloc(nsize, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (uint64_t i = 0; i < fs->hsize; i++) {
		struct dentry *d = fs->htab[i], *next;

		for (; d; d = next) {
			next = d->hnext;
			d->hnext = n[d->hash & (nsize - 1)];
			n[d->hash & (nsize - 1)] = d;
		}
	}
	free(fs->htab);
	fs->htab = n;
	fs->hsize = nsize;
	return 0;
}

int fs_dentry_add_locked(struct fs *fs, struct inode *dir, const char *name,
			 struct inode *inode)
{
	size_t len = strlen(name);
	struct dentry *d;
	uint64_t slot;

	if (len > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (fs->hcount >= fs->hsize && grow_htab(fs))
		return -ENOMEM;
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return -ENOMEM;
	memcpy(d->name, name, len + 1);
	d->hash = name_hash(dir, name);
	d->dir = dir;
	d->inode = inode;
	d->cookie = dir->next_cookie++;
	slot = d->hash & (fs->hsize - 1);
	d->hnext = fs->htab[slot];
	fs->htab[slot] = d;
	fs->hcount++;
	/* Append: cookies increase along the list. */
	d->next = NULL;
	d->prev = dir->last;
	if (dir->last)
		dir->last->next = d;
	else
		dir->first = d;
	dir->last = d;
	dir->nchildren++;
	return 0;
}

void fs_dentry_remove_locked(struct fs *fs, struct dentry *d)
{
	struct dentry **pp = &fs->htab[d->hash & (fs->hsize - 1)];
	struct inode *dir = d->dir;

	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	fs->hcount--;
	if (d->prev)
		d->prev->next = d->next;
	else
		dir->first = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		dir->last = d->prev;
	dir->nchildren--;
	free(d);
}

void fs_inode_fill_stat(struct fs *fs, struct inode *inode, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = inode->st_ino;
	st->st_blksize = 1 << 20;
	pthread_rwlock_rdlock(&inode->data_lock);
	if (S_ISREG(inode->mode)) {
		st->st_size = (off_t)inode->size;
		st->st_blocks =
			(blkcnt_t)((inode->map.nblocks << fs->block_shift) >>
				   9);
	} else if (S_ISLNK(inode->mode)) {
		st->st_size = (off_t)strlen(inode->target);
	} else if (S_ISDIR(inode->mode)) {
		st->st_size = 4096;
	}
	pthread_rwlock_unlock(&inode->data_lock);
	/* nlink is read without ns_lock: a torn read is impossible (u32). */
	st->st_nlink = __atomic_load_n(&inode->nlink, __ATOMIC_RELAXED);
	pthread_mutex_lock(&inode->attr_lock);
	st->st_mode = inode->mode;
	st->st_uid = inode->uid;
	st->st_gid = inode->gid;
	st->st_rdev = inode->rdev;
	st->st_atim = inode->atime;
	st->st_mtim = inode->mtime;
	st->st_ctim = inode->ctime;
	pthread_mutex_unlock(&inode->attr_lock);
}

int fs_ns_init(struct fs *fs)
{
	pthread_mutex_init(&fs->ns_lock, NULL);
	fs->hsize = 1024;
	fs->htab = calloc(fs->hsize, sizeof(*fs->htab));
	if (!fs->htab)
		return -ENOMEM;
	fs->root = fs_inode_new_locked(fs, S_IFDIR | 0755, 0, 0, 0);
	if (!fs->root) {
		free(fs->htab);
		return -ENOMEM;
	}
	fs->root->fuse_ino = FUSE_ROOT_ID;
	fs->root->nlink = 2;
	fs->root->parent = fs->root;
	return 0;
}

static void free_tree(struct fs *fs, struct inode *dir)
{
	while (dir->first) {
		struct dentry *d = dir->first;
		struct inode *child = d->inode;

		fs_dentry_remove_locked(fs, d);
		if (S_ISDIR(child->mode))
			free_tree(fs, child);
		if (--child->nlink == 0 || S_ISDIR(child->mode)) {
			child->nlink = 0;
			child->nlookup = 0;
			child->nopen = 0;
			inode_destroy(fs, child);
		}
	}
}

void fs_ns_finish(struct fs *fs)
{
	/* At unmount: the kernel has forgotten everything. */
	free_tree(fs, fs->root);
	inode_destroy(fs, fs->root);
	free(fs->htab);
	pthread_mutex_destroy(&fs->ns_lock);
}
