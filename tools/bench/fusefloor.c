// SPDX-License-Identifier: MIT
/*
 * fusefloor: the FUSE floor for the benchmark harness. A trivial
 * memory-backed file system on libfuse's low-level API: one flat directory,
 * direct_io on every open, one malloc'd buffer per file, a single lock.
 * The harness runs it with -s: single-threaded it answers a 512-byte read
 * in ~7-10 us here, libfuse 3.14's multi-threaded loop in ~30-40 us.
 * Whatever cmpfs costs above this is cmpfs's own; what this costs is what
 * any FUSE file system costs on this machine.
 *
 *   fusefloor MOUNTPOINT [-f] [-s] [-o OPTIONS]
 *
 * It reports st_blksize = 1 MiB like cmpfs (cp and dd size buffers from
 * it), clears auto_inval_data and asks for no readahead. No mmap (direct_io
 * without the INIT patch refuses MAP_SHARED), no copy_file_range.
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAXFILES 256
#define BLKSIZE (1u << 20)

struct ffile {
	int used;
	unsigned long nlookup;
	int unlinked;
	char name[256];
	mode_t mode;
	char *data;
	size_t size, cap;
	struct timespec mtime;
};

static struct ffile files[MAXFILES]; /* inode = index + 2; 1 is the root */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static struct ffile *get(fuse_ino_t ino)
{
	if (ino < 2 || ino >= MAXFILES + 2 || !files[ino - 2].used)
		return NULL;
	return &files[ino - 2];
}

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_blksize = BLKSIZE;
	st->st_uid = getuid();
	st->st_gid = getgid();
	if (ino == 1) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return;
	}
	struct ffile *f = get(ino);
	st->st_mode = S_IFREG | (f->mode & 07777);
	st->st_nlink = f->unlinked ? 0 : 1;
	st->st_size = (off_t)f->size;
	st->st_blocks = (blkcnt_t)((f->cap + 511) / 512);
	st->st_mtim = f->mtime;
	st->st_ctim = f->mtime;
	st->st_atim = f->mtime;
}

static void maybe_free(struct ffile *f)
{
	if (f->unlinked && f->nlookup == 0) {
		free(f->data);
		memset(f, 0, sizeof(*f));
	}
}

/* Grow to at least n bytes; the caller holds the write lock. */
static int reserve(struct ffile *f, size_t n)
{
	size_t cap;
	char *p;

	if (n <= f->cap)
		return 0;
	cap = f->cap ? f->cap : BLKSIZE;
	while (cap < n)
		cap *= 2;
	p = realloc(f->data, cap);
	if (!p)
		return -ENOMEM;
	f->data = p;
	f->cap = cap;
	return 0;
}

static void ff_init(void *ud, struct fuse_conn_info *conn)
{
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->max_readahead = 0;
	if (conn->max_write < BLKSIZE)
		conn->max_write = BLKSIZE;
	(void)ud;
}

static void ff_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = {0};

	if (parent != 1) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	pthread_rwlock_wrlock(&lock);
	for (int i = 0; i < MAXFILES; i++) {
		if (files[i].used && !files[i].unlinked &&
		    !strcmp(files[i].name, name)) {
			files[i].nlookup++;
			e.ino = (fuse_ino_t)i + 2;
			fill_stat(e.ino, &e.attr);
			pthread_rwlock_unlock(&lock);
			e.attr_timeout = e.entry_timeout = 1.0;
			fuse_reply_entry(req, &e);
			return;
		}
	}
	pthread_rwlock_unlock(&lock);
	fuse_reply_err(req, ENOENT);
}

static void ff_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	pthread_rwlock_wrlock(&lock);
	struct ffile *f = get(ino);
	if (f) {
		f->nlookup = f->nlookup > n ? f->nlookup - n : 0;
		maybe_free(f);
	}
	pthread_rwlock_unlock(&lock);
	fuse_reply_none(req);
}

static void ff_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;

	pthread_rwlock_rdlock(&lock);
	if (ino != 1 && !get(ino)) {
		pthread_rwlock_unlock(&lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_stat(ino, &st);
	pthread_rwlock_unlock(&lock);
	fuse_reply_attr(req, &st, 1.0);
	(void)fi;
}

static void ff_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct stat st;
	struct ffile *f;

	pthread_rwlock_wrlock(&lock);
	f = get(ino);
	if (!f) {
		pthread_rwlock_unlock(&lock);
		fuse_reply_err(req, ino == 1 ? EPERM : ENOENT);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		size_t n = (size_t)attr->st_size;
		if (n > f->size) {
			if (reserve(f, n)) {
				pthread_rwlock_unlock(&lock);
				fuse_reply_err(req, ENOSPC);
				return;
			}
			memset(f->data + f->size, 0, n - f->size);
		}
		f->size = n;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		f->mode = attr->st_mode;
	clock_gettime(CLOCK_REALTIME, &f->mtime);
	fill_stat(ino, &st);
	pthread_rwlock_unlock(&lock);
	fuse_reply_attr(req, &st, 1.0);
	(void)fi;
}

static void ff_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e = {0};
	int slot = -1;

	if (parent != 1 || strlen(name) >= sizeof(files[0].name)) {
		fuse_reply_err(req, parent != 1 ? ENOENT : ENAMETOOLONG);
		return;
	}
	pthread_rwlock_wrlock(&lock);
	for (int i = 0; i < MAXFILES; i++) {
		if (files[i].used && !files[i].unlinked &&
		    !strcmp(files[i].name, name)) {
			pthread_rwlock_unlock(&lock);
			fuse_reply_err(req, EEXIST);
			return;
		}
		if (!files[i].used && slot < 0)
			slot = i;
	}
	if (slot < 0) {
		pthread_rwlock_unlock(&lock);
		fuse_reply_err(req, ENOSPC);
		return;
	}
	struct ffile *f = &files[slot];
	memset(f, 0, sizeof(*f));
	f->used = 1;
	f->nlookup = 1;
	f->mode = mode;
	snprintf(f->name, sizeof(f->name), "%s", name);
	clock_gettime(CLOCK_REALTIME, &f->mtime);
	e.ino = (fuse_ino_t)slot + 2;
	fill_stat(e.ino, &e.attr);
	pthread_rwlock_unlock(&lock);
	e.attr_timeout = e.entry_timeout = 1.0;
	fi->direct_io = 1;
	fuse_reply_create(req, &e, fi);
}

static void ff_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	pthread_rwlock_wrlock(&lock);
	struct ffile *f = get(ino);
	if (f && (fi->flags & O_TRUNC))
		f->size = 0;
	pthread_rwlock_unlock(&lock);
	if (!f) {
		fuse_reply_err(req, ino == 1 ? EISDIR : ENOENT);
		return;
	}
	fi->direct_io = 1;
	fuse_reply_open(req, fi);
}

static void ff_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	pthread_rwlock_rdlock(&lock);
	struct ffile *f = get(ino);
	if (!f) {
		pthread_rwlock_unlock(&lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	size_t n = (size_t)off >= f->size ? 0 : f->size - (size_t)off;
	if (n > size)
		n = size;
	/* Reply under the read lock: the buffer may move on a realloc. */
	fuse_reply_buf(req, n ? f->data + off : NULL, n);
	pthread_rwlock_unlock(&lock);
	(void)fi;
}

static void ff_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	size_t end = (size_t)off + size;

	pthread_rwlock_wrlock(&lock);
	struct ffile *f = get(ino);
	if (!f) {
		pthread_rwlock_unlock(&lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (reserve(f, end)) {
		pthread_rwlock_unlock(&lock);
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if ((size_t)off > f->size)
		memset(f->data + f->size, 0, (size_t)off - f->size);
	memcpy(f->data + off, buf, size);
	if (end > f->size)
		f->size = end;
	pthread_rwlock_unlock(&lock);
	fuse_reply_write(req, size);
	(void)fi;
}

static void ff_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	pthread_rwlock_wrlock(&lock);
	for (int i = 0; parent == 1 && i < MAXFILES; i++) {
		if (files[i].used && !files[i].unlinked &&
		    !strcmp(files[i].name, name)) {
			files[i].unlinked = 1;
			maybe_free(&files[i]);
			pthread_rwlock_unlock(&lock);
			fuse_reply_err(req, 0);
			return;
		}
	}
	pthread_rwlock_unlock(&lock);
	fuse_reply_err(req, ENOENT);
}

static void ff_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	char *buf = calloc(1, size);
	size_t n = 0;
	struct stat st = {0};

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_rdlock(&lock);
	/* off: 0 = ".", 1 = "..", 2 + i = files[i] */
	for (off_t o = off; o < MAXFILES + 2; o++) {
		const char *name;
		size_t len;

		if (o == 0) {
			name = ".";
			st.st_ino = 1;
			st.st_mode = S_IFDIR;
		} else if (o == 1) {
			name = "..";
			st.st_ino = 1;
			st.st_mode = S_IFDIR;
		} else {
			struct ffile *f = &files[o - 2];
			if (!f->used || f->unlinked)
				continue;
			name = f->name;
			st.st_ino = (ino_t)o;
			st.st_mode = S_IFREG;
		}
		len = fuse_add_direntry(req, buf + n, size - n, name, &st,
					o + 1);
		if (len > size - n)
			break;
		n += len;
	}
	pthread_rwlock_unlock(&lock);
	fuse_reply_buf(req, buf, n);
	free(buf);
	(void)ino;
	(void)fi;
}

static void ff_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv = {0};
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	sv.f_bsize = sv.f_frsize = BLKSIZE;
	sv.f_blocks = (fsblkcnt_t)pages * (fsblkcnt_t)psz / BLKSIZE;
	sv.f_bfree = sv.f_bavail = sv.f_blocks;
	sv.f_files = MAXFILES;
	sv.f_ffree = sv.f_favail = MAXFILES;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
	(void)ino;
}

static void ff_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
	(void)ino;
	(void)datasync;
	(void)fi;
}

static void ff_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
	(void)ino;
	(void)fi;
}

static const struct fuse_lowlevel_ops ops = {
	.init = ff_init,
	.lookup = ff_lookup,
	.forget = ff_forget,
	.getattr = ff_getattr,
	.setattr = ff_setattr,
	.create = ff_create,
	.open = ff_open,
	.read = ff_read,
	.write = ff_write,
	.unlink = ff_unlink,
	.readdir = ff_readdir,
	.statfs = ff_statfs,
	.fsync = ff_fsync,
	.flush = ff_flush,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co = {0};
	struct fuse_session *se;
	int ret = 1;

	if (fuse_parse_cmdline(&args, &co) != 0)
		return 1;
	if (co.show_help || !co.mountpoint) {
		printf("usage: %s MOUNTPOINT [-f] [-s] [-o OPTIONS]\n",
		       argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = co.show_help ? 0 : 1;
		goto out;
	}
	if (geteuid() == 0)
		fuse_opt_add_arg(&args, "-oallow_other");
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) ||
	    fuse_session_mount(se, co.mountpoint))
		goto out_se;
	fuse_daemonize(co.foreground);
	if (co.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		ret = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	fuse_session_unmount(se);
out_se:
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
out:
	free(co.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
