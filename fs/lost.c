// SPDX-License-Identifier: MIT
/*
 * Which files lost blocks, or cannot reach them now. A block is lost when
 * its provider lost it (with copies: every copy), and reads of it give
 * EIO from then on; it is unreachable while every copy is on a provider
 * we cannot reach (EIO until one comes back). The pool only knows
 * handles, so whenever that changes (pool_wait_health()) a thread here
 * walks the namespace, logs one line per file with such blocks (its path
 * and how many), and keeps the list for the root's extended attribute
 * user.cmpfs.lost (cmpctl lost MOUNTPOINT) and the counts for the stats
 * (files_with_lost_blocks, files_with_unreachable_blocks). A file whose
 * data lock is held for long (a write to a slow provider) is looked at
 * again a second later rather than waited for under the namespace lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

/* Files listed at most (the count covers them all). */
#define LOST_LIST_MAX 64
#define LOST_PATH_MAX 512
/* A scan that skipped a busy file is done again after this long. */
#define LOST_RETRY_MS 1000

struct lost_file {
	const struct inode *inode;
	uint64_t ino, lost, unreachable, blocks;
	char path[LOST_PATH_MAX];
};

/* What a scan found. */
struct scan {
	uint64_t files_lost, files_unreachable; /* all of them */
	uint64_t lost, unreachable;		/* blocks, in the list */
	bool busy; /* a file could not be looked at now */
};

/* The entry of dir within its parent, or NULL (ns_lock). */
static const struct dentry *entry_of_locked(const struct inode *dir)
{
	if (!dir->parent)
		return NULL;
	for (const struct dentry *e = dir->parent->first; e; e = e->next)
		if (e->inode == dir)
			return e;
	return NULL;
}

/* d's path from the root (ns_lock); "..." in front when too deep. */
static void path_of_locked(const struct dentry *d, char *buf, size_t len)
{
	size_t at = len - 1;

	buf[at] = '\0';
	for (; d; d = entry_of_locked(d->dir)) {
		size_t n = strlen(d->name);

		if (n + 1 > at) {
			memcpy(buf, "...", 4);
			memmove(buf + 3, buf + at, len - at);
			return;
		}
		at -= n;
		memcpy(buf + at, d->name, n);
		buf[--at] = '/';
	}
	memmove(buf, buf + at, len - at);
}

static bool listed(const struct lost_file *l, size_t n, const struct inode *i)
{
	for (size_t k = 0; k < n; k++)
		if (l[k].inode == i)
			return true;
	return false;
}

/* One file (ns_lock held): its counts into *f; false if busy. */
static bool look_locked(struct fs *fs, struct inode *inode, struct lost_file *f)
{
	if (pthread_rwlock_tryrdlock(&inode->data_lock))
		return false;
	*f = (struct lost_file){.inode = inode,
				.ino = inode->st_ino,
				.blocks = inode->map.nblocks};
	blockmap_count_unhealthy(&inode->map, fs->pool, &f->lost,
				 &f->unreachable);
	pthread_rwlock_unlock(&inode->data_lock);
	return true;
}

/*
 * Every regular file with blocks lost or unreachable, up to max in out[]
 * (ns_lock held). Returns how many are listed.
 */
static size_t scan_locked(struct fs *fs, struct lost_file *out, size_t max,
			  struct scan *sc)
{
	struct lost_file f;
	size_t n = 0;

	*sc = (struct scan){0};
	for (uint64_t b = 0; b < fs->hsize; b++) {
		for (const struct dentry *d = fs->htab[b]; d; d = d->hnext) {
			if (!S_ISREG(d->inode->mode) ||
			    listed(out, n, d->inode))
				continue;
			if (!look_locked(fs, d->inode, &f)) {
				sc->busy = true;
				continue;
			}
			sc->files_lost += f.lost > 0;
			sc->files_unreachable += f.unreachable > 0;
			if ((!f.lost && !f.unreachable) || n == max)
				continue;
			sc->lost += f.lost;
			sc->unreachable += f.unreachable;
			out[n] = f;
			path_of_locked(d, out[n++].path, LOST_PATH_MAX);
		}
	}
	return n;
}

/* The list as user.cmpfs.lost shows it (lost_lock held). */
static void keep_report_locked(struct fs *fs, const struct lost_file *l,
			       size_t n, uint64_t files)
{
	size_t cap = (n + 1) * (LOST_PATH_MAX + 64), at = 0;
	char *text = malloc(cap);

	if (!text)
		return;
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(
			text + at, cap - at, "%llu %llu %llu %llu %s\n",
			(unsigned long long)l[i].ino,
			(unsigned long long)l[i].lost,
			(unsigned long long)l[i].unreachable,
			(unsigned long long)l[i].blocks, l[i].path);
	if (files > n)
		snprintf(text + at, cap - at, "... %llu more files\n",
			 (unsigned long long)(files - n));
	free(fs->lost_report);
	fs->lost_report = text;
}

static void log_file(const struct lost_file *f)
{
	if (f->lost)
		log_warn("file %s (inode %llu): %llu of its %llu blocks are "
			 "lost: reads there give EIO",
			 f->path, (unsigned long long)f->ino,
			 (unsigned long long)f->lost,
			 (unsigned long long)f->blocks);
	if (f->unreachable)
		log_warn("file %s (inode %llu): %llu of its %llu blocks are "
			 "on providers we cannot reach now: EIO until one "
			 "comes back",
			 f->path, (unsigned long long)f->ino,
			 (unsigned long long)f->unreachable,
			 (unsigned long long)f->blocks);
}

/*
 * One scan: logs the files with blocks lost or unreachable when that
 * changed since the last one (*last). false: look again later.
 */
static bool report(struct fs *fs, struct lost_file *l, struct scan *last)
{
	uint64_t files;
	struct scan sc;
	size_t n;

	pthread_mutex_lock(&fs->ns_lock);
	n = scan_locked(fs, l, LOST_LIST_MAX, &sc);
	pthread_mutex_unlock(&fs->ns_lock);
	files = MAX(sc.files_lost, sc.files_unreachable);
	if (sc.lost != last->lost || sc.unreachable != last->unreachable) {
		for (size_t i = 0; i < n; i++)
			log_file(&l[i]);
		if (files > n)
			log_warn("... and more files (cmpctl lost): %llu with "
				 "lost blocks, %llu with unreachable ones",
				 (unsigned long long)sc.files_lost,
				 (unsigned long long)sc.files_unreachable);
		if (!n && (last->lost || last->unreachable))
			log_info("every block of every file can be read again");
	}
	*last = sc;
	atomic_store(&fs->stats.files_lost, sc.files_lost);
	atomic_store(&fs->stats.files_unreachable, sc.files_unreachable);
	pthread_mutex_lock(&fs->lost_lock);
	keep_report_locked(fs, l, n, files);
	pthread_mutex_unlock(&fs->lost_lock);
	return !sc.busy;
}

static void *lost_main(void *arg)
{
	struct fs *fs = arg;
	struct lost_file *l = calloc(LOST_LIST_MAX, sizeof(*l));
	struct scan last = {0};
	uint64_t gen = 0;
	bool done = true;

	if (!l) {
		log_error("cannot keep the list of files with lost blocks: %s",
			  strerror(ENOMEM));
		return NULL;
	}
	while (!atomic_load(&fs->lost_stop)) {
		uint64_t now = pool_wait_health(fs->pool, gen, &fs->lost_stop,
						done ? -1 : LOST_RETRY_MS);

		if (atomic_load(&fs->lost_stop))
			break;
		if (now == gen && done)
			continue;
		gen = now;
		done = report(fs, l, &last);
	}
	free(l);
	return NULL;
}

int fs_lost_start(struct fs *fs)
{
	int ret;

	pthread_mutex_init(&fs->lost_lock, NULL);
	atomic_store(&fs->lost_stop, false);
	ret = -pthread_create(&fs->lost_thread, NULL, lost_main, fs);
	if (ret) {
		log_error("cannot start the lost-files thread: %s",
			  strerror(-ret));
		pthread_mutex_destroy(&fs->lost_lock);
		return ret;
	}
	fs->lost_running = true;
	return 0;
}

void fs_lost_stop(struct fs *fs)
{
	if (!fs->lost_running)
		return;
	atomic_store(&fs->lost_stop, true);
	pool_wake_health(fs->pool);
	pthread_join(fs->lost_thread, NULL);
	fs->lost_running = false;
	free(fs->lost_report);
	fs->lost_report = NULL;
	pthread_mutex_destroy(&fs->lost_lock);
}

size_t fs_lost_format(struct fs *fs, char *buf, size_t cap)
{
	size_t n = 0;

	if (!fs->lost_running)
		return 0;
	pthread_mutex_lock(&fs->lost_lock);
	if (fs->lost_report) {
		n = MIN(strlen(fs->lost_report), cap);
		memcpy(buf, fs->lost_report, n);
	}
	pthread_mutex_unlock(&fs->lost_lock);
	return n;
}
